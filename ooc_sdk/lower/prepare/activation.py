"""Prepare for the standalone int8 activations: ``ooc_activation_params_t`` (RELU, RELU6,
RELU_N1_TO_1, LEAKY_RELU) and ``ooc_hard_swish_params_t`` (HARD_SWISH).

Each reproduces the Prepare of tflite-micro, including where it computes in float32 and where
in double (the two differ from operator to operator and the last bit of a multiplier depends on
it):

- RELU (``CalculateReluOpData``): the output is requantized by ``double(in_scale) /
  double(out_scale)`` and clamped to ``[zp_out + round(0 / out_scale), 127]``.
- RELU_N1_TO_1: tflite-micro does not register it; ooc runs it as TFLite does (its ``ReluX``):
  RELU's arithmetic with the real range [-1, 1].
- RELU6 (``Relu6Prepare``): no requantization at all; the input is clamped to ``[zp_in,
  quantize(6.0)]`` on the *input's* scale, and the output tensor's quantization is not read.
- LEAKY_RELU (``CalculateOpDataLeakyRelu``): two multipliers, ``in_scale / out_scale`` for
  inputs at or above the zero point and ``in_scale * alpha / out_scale`` below it, both
  computed in float32 and then widened.
- HARD_SWISH (``HardSwishPrepare``): a 16-bit fixed-point recipe with an output multiplier
  (``in_scale / 128 / out_scale``) and a "reluish" multiplier (``in_scale / 128 / (3 / 32768)``),
  both float32 ratios, each a Q31 multiplier rounded down to Q15.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.lower.prepare.common import (
    INT8_MAX,
    INT8_MIN,
    f32,
    quantize_multiplier,
    tflite_round,
)
from ooc_sdk.model.ir import Graph, Operator, Quantization, Tensor

INT16_MAX = (1 << 15) - 1
INT32_MAX = (1 << 31) - 1


def _quant(t: Tensor) -> Quantization:
    if t.quant is None or t.quant.per_channel:
        raise UnsupportedModelError(f"tensor '{t.name}' needs per-tensor quantization parameters")
    return t.quant


def _io(graph: Graph, op: Operator) -> tuple[Tensor, Quantization, Quantization]:
    x = graph.tensor(op.inputs[0])
    return x, _quant(x), _quant(graph.tensor(op.outputs[0]))


def _round_f32_quotient(value: float, scale: float) -> int:
    """``(int32)roundf(value / scale)`` with both operands float32."""
    q = float(np.float32(value) / np.float32(scale))
    return tflite_round(q)


def relu_range(real_min: float, real_max: float | None, qy: Quantization) -> tuple[int, int]:
    """CalculateReluOpData's clamp: ``zp + roundf(bound / scale)``, within int8."""
    zp, scale = qy.zero_point[0], qy.scale[0]
    lo = max(INT8_MIN, zp + _round_f32_quotient(real_min, scale))
    hi = INT8_MAX if real_max is None else min(INT8_MAX, zp + _round_f32_quotient(real_max, scale))
    return lo, hi


def _activation_fields(count: int, qx: Quantization, qy: Quantization) -> dict[str, Any]:
    return {
        "count": count,
        "input_zero_point": qx.zero_point[0],
        "output_zero_point": qy.zero_point[0],
        "act_min": INT8_MIN,
        "act_max": INT8_MAX,
        "multiplier": 0,
        "shift": 0,
        "alpha_multiplier": 0,
        "alpha_shift": 0,
    }


def prepare_relu(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """RELU and RELU_N1_TO_1: requantize, then clamp to the real range."""
    x, qx, qy = _io(graph, op)
    fields = _activation_fields(x.size, qx, qy)
    # double division of the two float32 scales
    fields["multiplier"], fields["shift"] = quantize_multiplier(qx.scale[0] / qy.scale[0])
    if op.op_type == "RELU_N1_TO_1":
        fields["act_min"], fields["act_max"] = relu_range(-1.0, 1.0, qy)
    else:
        fields["act_min"], fields["act_max"] = relu_range(0.0, None, qy)
    return "ooc_activation_params_t", fields


def prepare_relu6(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """RELU6: clamp to [zero, six] on the input's scale (FloatToQuantizedType)."""
    x, qx, qy = _io(graph, op)
    fields = _activation_fields(x.size, qx, qy)
    zp = qx.zero_point[0]
    six = min(INT8_MAX, max(INT8_MIN, zp + _round_f32_quotient(6.0, qx.scale[0])))
    fields["act_min"], fields["act_max"] = zp, six
    return "ooc_activation_params_t", fields


def prepare_leaky_relu(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """LEAKY_RELU: the identity multiplier at or above the zero point, alpha's below."""
    x, qx, qy = _io(graph, op)
    fields = _activation_fields(x.size, qx, qy)
    s_in, s_out = np.float32(qx.scale[0]), np.float32(qy.scale[0])
    alpha = np.float32(op.options["alpha"])
    with np.errstate(over="ignore"):
        alpha_real = float(np.float32(np.float32(s_in * alpha) / s_out))
    identity_real = float(np.float32(s_in / s_out))
    if not np.isfinite(alpha_real):
        raise UnsupportedModelError(
            f"operator {op.index} (LEAKY_RELU): alpha {float(alpha)!r} overflows its multiplier"
        )
    fields["multiplier"], fields["shift"] = quantize_multiplier(identity_real)
    fields["alpha_multiplier"], fields["alpha_shift"] = quantize_multiplier(alpha_real)
    return "ooc_activation_params_t", fields


def downscale_to_q15(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier: a Q31 multiplier rounded to Q15, saturating."""
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def prepare_hard_swish(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """HARD_SWISH: the output and reluish multipliers, Q15, with their exponents."""
    x, qx, qy = _io(graph, op)
    hires_input_scale = np.float32(np.float32(1.0 / 128.0) * np.float32(qx.scale[0]))
    reluish_scale = np.float32(3.0 / 32768.0)
    out_real = float(np.float32(hires_input_scale / np.float32(qy.scale[0])))
    reluish_real = float(np.float32(hires_input_scale / reluish_scale))
    out_m, out_e = quantize_multiplier(out_real)
    if out_e > 0:
        raise UnsupportedModelError(
            f"operator {op.index} (HARD_SWISH): input scale {f32(qx.scale[0])!r} is more than "
            f"128 times the output scale {f32(qy.scale[0])!r}; tflite-micro refuses it"
        )
    relu_m, relu_e = quantize_multiplier(reluish_real)
    fields = {
        "count": x.size,
        "input_zero_point": qx.zero_point[0],
        "output_zero_point": qy.zero_point[0],
        "output_multiplier": downscale_to_q15(out_m),
        "output_exponent": out_e,
        "reluish_multiplier": downscale_to_q15(relu_m),
        "reluish_exponent": relu_e,
    }
    return "ooc_hard_swish_params_t", fields
