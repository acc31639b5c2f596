"""Prepare LOGISTIC and TANH, int8 -> int8: a 256-entry table, one output per input value.

tflite-micro computes both in 32-bit fixed point (reference_integer_ops::Logistic and ::Tanh):
the input, less its zero point, is clamped to a radius or scaled into Q4.27 by a multiplier
Prepare derives from the input scale, goes through gemmlowp's fixed-point logistic or tanh
(exp on negative values, then a Newton-Raphson reciprocal), and is rounded to the output,
which has scale 1/256 and zero point -128 (LOGISTIC) or 1/128 and 0 (TANH). An int8 input has
256 values, so the SDK runs that arithmetic here, bit for bit, on every one of them and the
runtime only looks the results up (``ooc_lut_params_t``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.lower.prepare.common import (
    INT8_MAX,
    INT8_MIN,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    sat_rounding_doubling_high_mul,
    tflite_round,
)
from ooc_sdk.model.ir import Graph, Operator

INPUT_INTEGER_BITS = 4  # the Q4.27 input of gemmlowp's logistic and tanh
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


def _wrap(x: int) -> int:
    """int32 two's complement wrap-around (gemmlowp's raw adds and negations)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _mul(a: int, b: int) -> int:
    return sat_rounding_doubling_high_mul(a, b)


def _mul_by_pot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT: a saturating left shift, or a rounding right shift."""
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return _INT32_MAX
    if x < -threshold:
        return _INT32_MIN
    return x << exponent


def _rounding_half_sum(a: int, b: int) -> int:
    s = a + b
    s += 1 if s >= 0 else -1
    return abs(s) // 2 * (1 if s >= 0 else -1)  # C division truncates toward zero


def _exp_near_zero(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31: a Taylor expansion around -1/8."""
    exp_minus_eighth, third = 1895147668, 715827883
    x = _wrap(a + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    tail = _mul_by_pot(_wrap(_mul(_wrap(_mul_by_pot(x4, -2) + x3), third) + x2), -1)
    return _wrap(exp_minus_eighth + _mul(exp_minus_eighth, _wrap(x + tail)))


# exp(-2^k) in Q0.31 for the bits of the input's magnitude above a quarter
_EXP_BITS = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
             (2, 39332535), (3, 720401), (4, 242))  # fmt: skip


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 with ``integer_bits`` integer bits, Q0.31."""
    assert integer_bits <= 5  # gemmlowp clamps wider inputs; LOGISTIC and TANH never have them
    fractional = 31 - integer_bits
    quarter = 1 << (fractional - 2)
    a_mod_quarter = _wrap((a & (quarter - 1)) - quarter)
    result = _exp_near_zero(_mul_by_pot(a_mod_quarter, integer_bits))
    remainder = _wrap(a_mod_quarter - a)
    for exponent, multiplier in _EXP_BITS:
        if integer_bits > exponent and remainder & (1 << (fractional + exponent)):
            result = _mul(result, multiplier)
    return _INT32_MAX if a == 0 else result


def _newton_reciprocal(a: int) -> int:
    """Three Newton-Raphson steps towards 1 / (1 + a) for a in (0, 1): Q2.29."""
    half_denominator = _rounding_half_sum(a, _INT32_MAX)
    x = _wrap(1515870810 + _mul(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = _wrap((1 << 29) - _mul(half_denominator, x))
        x = _wrap(x + _mul_by_pot(_mul(x, one_minus), 2))
    return x


def fixed_logistic(a: int) -> int:
    """gemmlowp logistic of a Q4.27 value, Q0.31."""
    if a == 0:
        return 1 << 30
    magnitude = a if a > 0 else _wrap(-a)
    e = _exp_on_negative_values(_wrap(-magnitude), INPUT_INTEGER_BITS)
    positive = _mul_by_pot(_newton_reciprocal(e), 1)  # 1 / (1 + e)
    return positive if a > 0 else _wrap(_INT32_MAX - positive)


def fixed_tanh(a: int) -> int:
    """gemmlowp tanh of a Q4.27 value, Q0.31: (1 - exp(-2|a|)) / (1 + exp(-2|a|))."""
    if a == 0:
        return 0
    negative = a if a < 0 else _wrap(-a)
    e = _exp_on_negative_values(negative, INPUT_INTEGER_BITS + 1)  # the same raw, doubled
    t = _mul_by_pot(_wrap(_newton_reciprocal(e) - (1 << 29)), 2)  # (1 - e) / (1 + e)
    return _wrap(-t) if a < 0 else t


def input_scaling(scale: float, what: str) -> tuple[int, int, int]:
    """TFLM's Prepare: (multiplier, left shift, range radius) taking ``input - zero point`` to
    Q4.27; inputs at or beyond the radius saturate the output."""
    q, shift = math.frexp(scale * float(1 << (31 - INPUT_INTEGER_BITS)))
    multiplier = tflite_round(q * (1 << 31))
    if shift < 0 or multiplier >= 1 << 31:
        raise UnsupportedModelError(f"{what}: input scale {scale:g} is out of range for int8")
    radius = (((1 << INPUT_INTEGER_BITS) - 1) << (31 - INPUT_INTEGER_BITS)) >> shift
    return multiplier, shift, radius


def _table(
    graph: Graph, op: Operator, f: Callable[[int], int], out_bits: int, out_zp: int
) -> list[int]:
    x = graph.tensor(op.inputs[0])
    assert x.quant is not None
    multiplier, shift, radius = input_scaling(x.quant.scale[0], f"{op.op_type} (op #{op.index})")
    table = []
    for v in range(INT8_MIN, INT8_MAX + 1):
        d = v - x.quant.zero_point[0]
        if d <= -radius:
            table.append(INT8_MIN)
        elif d >= radius:
            table.append(INT8_MAX)
        else:
            q0 = f(multiply_by_quantized_multiplier(d, multiplier, shift))
            out = rounding_divide_by_pot(q0, 31 - out_bits) + out_zp
            table.append(min(max(out, INT8_MIN), INT8_MAX))
    return table


def prepare_logistic(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    table = _table(graph, op, fixed_logistic, 8, -128)
    return "ooc_lut_params_t", {"count": graph.tensor(op.inputs[0]).size, "table": table}


def prepare_tanh(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    table = _table(graph, op, fixed_tanh, 7, 0)
    return "ooc_lut_params_t", {"count": graph.tensor(op.inputs[0]).size, "table": table}
