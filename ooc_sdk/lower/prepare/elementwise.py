"""Prepare for the int8 binary operators with broadcasting (ADD, MUL, SUB, MINIMUM,
MAXIMUM, SQUARED_DIFFERENCE): ``ooc_elementwise_params_t``.

Reproduces tflite-micro's ``CalculateOpDataAdd`` (add_common.cc),
``CalculateOpDataMul`` (mul_common.cc) and squared_difference.cc's
``PrepareQuantized``. Scales are float32 in the flatbuffer and are widened to double
before any arithmetic, which is what Python floats do. SUB takes ADD's parameters
exactly (its kernel subtracts the second scaled input instead of adding it): the
tflite-micro the oracle runs derives them in double, as ADD does, although some
sub_common.cc sources divide in float32 first; tests/test_runtime.py checks every
int8 pair at scales where the two differ. MINIMUM and MAXIMUM compare raw values and
need only the broadcast layout.

Broadcasting is resolved here: the output shape is walked in row-major order and
each input gets an element stride per output dimension (0 where it is broadcast).
Dimensions of size 1 are dropped and neighbouring dimensions that both inputs
traverse contiguously (or both broadcast) are merged, so the C kernel's inner loop
is as long as possible; a same-shape ADD becomes a single flat loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.formats import tables
from ooc_sdk.lower.prepare.common import (
    INT8_MAX,
    INT8_MIN,
    activation_range,
    quantize_multiplier,
)
from ooc_sdk.model.ir import Graph, Operator, Quantization, Tensor

OOC_MAX_DIMS = tables.MAX_DIMS
ADD_LEFT_SHIFT = 20  # TFLM's headroom for int8 ADD and SUB (15 for int16)
SQUARED_DIFFERENCE_LEFT_SHIFT = 7  # 255^2 * 2^(2*7) still fits int32


def _quant(t: Tensor) -> Quantization:
    if t.quant is None:
        raise UnsupportedModelError(f"tensor '{t.name}' has no quantization parameters")
    return t.quant


def _row_major_strides(shape: list[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def broadcast_layout(
    shape1: tuple[int, ...], shape2: tuple[int, ...], out_shape: tuple[int, ...]
) -> tuple[list[int], list[int], list[int]]:
    """Output dims and per-input element strides for a NumPy/TFLite broadcast.

    Returns ``(dims, strides1, strides2)`` of equal length (at least 1), with the
    dimensions of size 1 removed and mergeable neighbours fused.
    """
    rank = len(out_shape)
    ext1 = [1] * (rank - len(shape1)) + list(shape1)
    ext2 = [1] * (rank - len(shape2)) + list(shape2)
    full1 = _row_major_strides(ext1)
    full2 = _row_major_strides(ext2)
    # (dim, stride1, stride2) from innermost to outermost, size-1 dims dropped
    loops: list[list[int]] = []
    for d in range(rank - 1, -1, -1):
        n = out_shape[d]
        if n == 1:
            continue
        s1 = 0 if ext1[d] == 1 else full1[d]
        s2 = 0 if ext2[d] == 1 else full2[d]
        if loops:
            inner_n, inner_s1, inner_s2 = loops[-1]
            # fuse when this dimension continues the inner one's walk for both inputs
            if s1 == inner_s1 * inner_n and s2 == inner_s2 * inner_n:
                loops[-1][0] = inner_n * n
                continue
        loops.append([n, s1, s2])
    if not loops:
        loops = [[1, 0, 0]]
    loops.reverse()
    return [lp[0] for lp in loops], [lp[1] for lp in loops], [lp[2] for lp in loops]


def _pad(values: list[int], fill: int) -> list[int]:
    return values + [fill] * (OOC_MAX_DIMS - len(values))


def _layout_fields(graph: Graph, op: Operator) -> dict[str, Any]:
    a, b = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    y = graph.tensor(op.outputs[0])
    if len(y.shape) > 5:
        raise UnsupportedModelError(f"{op.op_type} broadcasting beyond 5 dimensions")
    dims, s1, s2 = broadcast_layout(a.shape, b.shape, y.shape)
    return {
        "rank": len(dims),
        "out_dims": _pad(dims, 1),
        "in1_strides": _pad(s1, 0),
        "in2_strides": _pad(s2, 0),
    }


def _smaller_than_one(real: float, what: str, op: Operator) -> tuple[int, int]:
    """TFLM QuantizeMultiplierSmallerThanOneExp: TFLM aborts outside (0, 1)."""
    if not 0.0 < real < 1.0:
        raise UnsupportedModelError(
            f"operator {op.index} ({op.op_type}): {what} {real!r} is not in (0, 1); "
            "tflite-micro refuses these scales"
        )
    return quantize_multiplier(real)


def prepare_add(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """ADD: inputs rescaled to a common scale with 20 bits of headroom, then summed."""
    qa = _quant(graph.tensor(op.inputs[0]))
    qb = _quant(graph.tensor(op.inputs[1]))
    qy = _quant(graph.tensor(op.outputs[0]))
    s1, s2, so = qa.scale[0], qb.scale[0], qy.scale[0]
    # all in double, in TFLM's order; max() of the two float32 scales is exact
    twice_max_input_scale = 2.0 * max(s1, s2)
    real_input1 = s1 / twice_max_input_scale
    real_input2 = s2 / twice_max_input_scale
    real_output = twice_max_input_scale / ((1 << ADD_LEFT_SHIFT) * so)
    m1, sh1 = _smaller_than_one(real_input1, "input 1 multiplier", op)
    m2, sh2 = _smaller_than_one(real_input2, "input 2 multiplier", op)
    mo, sho = _smaller_than_one(real_output, "output multiplier", op)
    act_min, act_max = activation_range(op.options["activation"], qy)
    fields = _layout_fields(graph, op)
    fields.update(
        {
            "input1_offset": -qa.zero_point[0],
            "input2_offset": -qb.zero_point[0],
            "output_offset": qy.zero_point[0],
            **_scalings(ADD_LEFT_SHIFT, (m1, sh1), (m2, sh2), (mo, sho)),
            "act_min": act_min,
            "act_max": act_max,
        }
    )
    return "ooc_elementwise_params_t", fields


def _scalings(
    left_shift: int, in1: tuple[int, int], in2: tuple[int, int], out: tuple[int, int]
) -> dict[str, int]:
    """The fields of a two-input recipe that scales both inputs up by ``left_shift`` bits, each
    by its (multiplier, shift), and the result by the output's."""
    return {
        "left_shift": left_shift,
        "input1_multiplier": in1[0],
        "input1_shift": in1[1],
        "input2_multiplier": in2[0],
        "input2_shift": in2[1],
        "output_multiplier": out[0],
        "output_shift": out[1],
    }


def prepare_mul(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """MUL: one requantization of the product by in1_scale * in2_scale / out_scale."""
    qa = _quant(graph.tensor(op.inputs[0]))
    qb = _quant(graph.tensor(op.inputs[1]))
    qy = _quant(graph.tensor(op.outputs[0]))
    # double, left to right: (s1 * s2) / so
    real = qa.scale[0] * qb.scale[0] / qy.scale[0]
    mo, sho = quantize_multiplier(real)
    act_min, act_max = activation_range(op.options["activation"], qy)
    fields = _layout_fields(graph, op)
    fields.update(
        {
            "input1_offset": -qa.zero_point[0],
            "input2_offset": -qb.zero_point[0],
            "output_offset": qy.zero_point[0],
            "left_shift": 0,
            "input1_multiplier": 0,
            "input1_shift": 0,
            "input2_multiplier": 0,
            "input2_shift": 0,
            "output_multiplier": mo,
            "output_shift": sho,
            "act_min": act_min,
            "act_max": act_max,
        }
    )
    return "ooc_elementwise_params_t", fields


def _quant_fields(
    qa: Quantization, qb: Quantization, qy: Quantization, act: tuple[int, int]
) -> dict[str, Any]:
    return {
        "input1_offset": -qa.zero_point[0],
        "input2_offset": -qb.zero_point[0],
        "output_offset": qy.zero_point[0],
        "act_min": act[0],
        "act_max": act[1],
    }


def prepare_squared_difference(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """SQUARED_DIFFERENCE: both inputs widened by 2^7 and rescaled to twice the larger input
    scale (as ADD), their difference squared and requantized by
    (2 * max scale)^2 / (2^14 * output scale), which may exceed one."""
    qa = _quant(graph.tensor(op.inputs[0]))
    qb = _quant(graph.tensor(op.inputs[1]))
    qy = _quant(graph.tensor(op.outputs[0]))
    for q in (qa, qb, qy):
        if not INT8_MIN <= q.zero_point[0] <= INT8_MAX:
            raise UnsupportedModelError(
                f"operator {op.index} (SQUARED_DIFFERENCE): zero point {q.zero_point[0]} "
                "is outside the int8 range; tflite-micro refuses it"
            )
    shift = SQUARED_DIFFERENCE_LEFT_SHIFT
    # double, in TFLM's order; the denominator's product is float32 (exact: a power of two)
    twice_max_input_scale = 2.0 * max(qa.scale[0], qb.scale[0])
    real_input1 = qa.scale[0] / twice_max_input_scale
    real_input2 = qb.scale[0] / twice_max_input_scale
    denominator = float(np.float32(1 << (2 * shift)) * np.float32(qy.scale[0]))
    real_output = twice_max_input_scale * twice_max_input_scale / denominator
    m1, sh1 = _smaller_than_one(real_input1, "input 1 multiplier", op)
    m2, sh2 = _smaller_than_one(real_input2, "input 2 multiplier", op)
    mo, sho = quantize_multiplier(real_output)
    fields = _layout_fields(graph, op)
    fields.update(_quant_fields(qa, qb, qy, (INT8_MIN, INT8_MAX)))
    fields.update(_scalings(shift, (m1, sh1), (m2, sh2), (mo, sho)))
    return "ooc_elementwise_params_t", fields


def prepare_min_max(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """MINIMUM, MAXIMUM: raw int8 comparisons (the inputs and the output share one
    quantization, checked at ingest); only the broadcast layout matters."""
    fields = _layout_fields(graph, op)
    fields.update(
        {
            "input1_offset": 0,
            "input2_offset": 0,
            "output_offset": 0,
            "left_shift": 0,
            "input1_multiplier": 0,
            "input1_shift": 0,
            "input2_multiplier": 0,
            "input2_shift": 0,
            "output_multiplier": 0,
            "output_shift": 0,
            "act_min": INT8_MIN,
            "act_max": INT8_MAX,
        }
    )
    return "ooc_elementwise_params_t", fields
