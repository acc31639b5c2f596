"""Arithmetic shared by the per-op prepare functions: TFLM's Prepare, done at build time.

Every function here reproduces, bit for bit, the value tflite-micro computes at
run time, so the C kernels can take it from a const table. Scales are float32 in
the flatbuffer; TFLM widens them to double where it does, and we follow the same
order of operations (Python floats are doubles; ``np.float32`` where TFLM stays
in float).
"""

from __future__ import annotations

import math

import numpy as np

from ooc_sdk.model.ir import Activation, Padding, Quantization

INT8_MIN, INT8_MAX = -128, 127


def f32(x: float) -> float:
    """Round a Python float to the nearest float32 (as stored in the flatbuffer)."""
    return float(np.float32(x))


def tflite_round(x: float) -> int:
    """std::round: halves away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: ``real ~= multiplier * 2^(shift - 31)``, multiplier in Q31."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    # TFLM caps shift at 30 only in its TFLITE_SINGLE_ROUNDING build; the default build does not
    return q_fixed, shift


def quantize_value(q: Quantization, real: float) -> int:
    """TFLM's Quantize(): zero_point + round(real / scale), the division in float32."""
    scale = np.float32(q.scale[0])
    return q.zero_point[0] + tflite_round(float(np.float32(real) / scale))


def leading_pad(padding: Padding, in_size: int, k: int, stride: int, dilation: int = 1) -> int:
    """TFLM ComputePaddingHeightWidth: the output size follows from the padding mode
    (ComputeOutSize, not the output tensor), and the leading half of the total padding
    is applied before the input (the odd cell goes after)."""
    eff = (k - 1) * dilation + 1
    if padding is Padding.VALID:
        return 0
    out = (in_size + stride - 1) // stride
    return max((out - 1) * stride + eff - in_size, 0) // 2


def activation_range(act: Activation, out: Quantization) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 outputs."""
    lo, hi = INT8_MIN, INT8_MAX
    if act is Activation.RELU:
        lo = max(lo, quantize_value(out, 0.0))
    elif act is Activation.RELU6:
        lo = max(lo, quantize_value(out, 0.0))
        hi = min(hi, quantize_value(out, 6.0))
    return lo, hi


def sat_rounding_doubling_high_mul(a: int, b: int) -> int:
    """Python model of the C helper (for tests of the C fixed-point code)."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    total = ab + nudge
    quotient = abs(total) >> 31  # C integer division truncates toward zero
    return quotient if total >= 0 else -quotient


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(
        sat_rounding_doubling_high_mul(x * (1 << left), multiplier), right
    )
