"""Prepare SOFTMAX, int8 -> int8 (TFLM's CalculateSoftmaxParams, ahead of time).

The kernel scales ``x - max(row)`` by ``beta * input_scale`` into a fixed-point
value with 5 integer bits (Q5.26), so the multiplier is that real product times
``2^26``, capped at ``2^31 - 1`` and quantized with a non-negative left shift.
``diff_min`` is the most negative difference that still fits Q5 after scaling.
"""

from __future__ import annotations

from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.lower.prepare.common import f32, quantize_multiplier
from ooc_sdk.model.ir import Graph, Operator

SCALED_DIFF_INTEGER_BITS = 5  # the exp() input format is Q5.26
_TOTAL_SIGNED_BITS = 31


def _softmax_scaling(beta: float, input_scale: float) -> tuple[int, int]:
    """PreprocessSoftmaxScaling (double-rounding build): (multiplier, left shift)."""
    cap = float((1 << 31) - 1)
    real = min(beta * input_scale * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), cap)
    if real <= 1.0:
        raise UnsupportedModelError(
            f"SOFTMAX: beta * input scale ({beta * input_scale:g}) is too small for int8 softmax"
        )
    return quantize_multiplier(real)  # may give shift 31 (left shift), as TFLM's default build does


def _input_radius(left_shift: int) -> int:
    """CalculateInputRadius: floor((2^5 - 1) * 2^26 / 2^left_shift), exact in integers."""
    full = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) << (_TOTAL_SIGNED_BITS - SCALED_DIFF_INTEGER_BITS)
    return full >> left_shift


def prepare_softmax(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    assert x.quant is not None and y.quant is not None
    if f32(y.quant.scale[0]) != 1.0 / 256.0 or y.quant.zero_point[0] != -128:
        raise UnsupportedModelError(
            f"SOFTMAX output '{y.name}' must have scale 1/256 and zero point -128 "
            f"(has {y.quant.scale[0]:g}, {y.quant.zero_point[0]})"
        )
    # beta and the scale are float32 in the flatbuffer; TFLM widens both to double
    multiplier, left_shift = _softmax_scaling(f32(op.options["beta"]), f32(x.quant.scale[0]))
    depth = x.shape[-1] if x.shape else 1
    return "ooc_softmax_params_t", {
        "outer": x.size // depth if depth else 0,
        "depth": depth,
        "input_multiplier": multiplier,
        "input_left_shift": left_shift,
        "diff_min": -_input_radius(left_shift),
    }
