"""Prepare for QUANTIZE and DEQUANTIZE: ``ooc_quantize_params_t``.

Reproduces tflite-micro's ``PrepareQuantizeReference`` (quantize_common.cc) and
``DequantizePrepare`` (dequantize_common.cc). Besides the struct fields, each dict
carries a ``"kernel"`` key naming the C entry point to call:

- float32 -> int8: ``ooc_quantize_f32_s8`` with the output's ``scale`` (float32)
  and ``zero_point``;
- int8 -> int8: ``ooc_requantize_s8`` with ``input_zero_point``, the output's
  ``zero_point``, and ``multiplier``/``shift`` from QuantizeMultiplier applied to
  ``double(input_scale) / double(output_scale)``;
- int8 -> float32: ``ooc_dequantize_s8_f32`` with the input's ``scale`` and
  ``zero_point``.
"""

from __future__ import annotations

from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.lower.prepare.common import f32, quantize_multiplier
from ooc_sdk.model.ir import DType, Graph, Operator, Quantization, Tensor

KERNEL_KEY = "kernel"  # not a struct field: the C function the params are for


def _quant(t: Tensor) -> Quantization:
    if t.quant is None or t.quant.per_channel:
        raise UnsupportedModelError(f"tensor '{t.name}' needs per-tensor quantization parameters")
    return t.quant


def prepare_quantize(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    y = graph.tensor(op.outputs[0])
    qy = _quant(y)
    if y.dtype is not DType.INT8:
        raise UnsupportedModelError(f"QUANTIZE to {y.dtype.label} is not supported")
    fields: dict[str, Any] = {
        "count": y.size,
        "scale": f32(qy.scale[0]),
        "zero_point": qy.zero_point[0],
        "input_zero_point": 0,
        "multiplier": 0,
        "shift": 0,
    }
    if x.dtype is DType.FLOAT32:
        fields[KERNEL_KEY] = "ooc_quantize_f32_s8"
    elif x.dtype is DType.INT8:
        qx = _quant(x)
        # double division of the two float32 scales, as TFLM's effective_scale
        multiplier, shift = quantize_multiplier(qx.scale[0] / qy.scale[0])
        fields.update(
            {
                "input_zero_point": qx.zero_point[0],
                "multiplier": multiplier,
                "shift": shift,
                KERNEL_KEY: "ooc_requantize_s8",
            }
        )
    else:
        raise UnsupportedModelError(f"QUANTIZE from {x.dtype.label} is not supported")
    return "ooc_quantize_params_t", fields


def prepare_dequantize(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    y = graph.tensor(op.outputs[0])
    if x.dtype is not DType.INT8 or y.dtype is not DType.FLOAT32:
        raise UnsupportedModelError(
            f"DEQUANTIZE from {x.dtype.label} to {y.dtype.label} is not supported"
        )
    qx = _quant(x)
    fields: dict[str, Any] = {
        "count": x.size,
        "scale": f32(qx.scale[0]),
        "zero_point": qx.zero_point[0],
        "input_zero_point": 0,
        "multiplier": 0,
        "shift": 0,
        KERNEL_KEY: "ooc_dequantize_s8_f32",
    }
    return "ooc_quantize_params_t", fields
