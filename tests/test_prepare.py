"""Ahead-of-time arithmetic: TFLM's QuantizeMultiplier and rounding rules."""

from __future__ import annotations

import pytest

from ooc_sdk.lower.prepare.common import (
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    tflite_round,
)
from ooc_sdk.model.ir import Activation, Quantization


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.25, (1 << 30, -1)),
        (2.0**-40, (0, 0)),  # below 2^-31: TFLM gives zero
        (2.0**30, (1 << 30, 31)),  # no cap at 30 in TFLM's default (double rounding) build
        (0.9999999999, (1 << 30, 1)),  # the rounded mantissa reaches 2^31 and is renormalised
    ],
)
def test_quantize_multiplier(real: float, expected: tuple[int, int]) -> None:
    assert quantize_multiplier(real) == expected


def test_round_half_away_from_zero() -> None:
    assert [tflite_round(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 0.49)] == [1, 2, 3, -1, -2, 0]


def test_requantize_model() -> None:
    m, s = quantize_multiplier(0.5)
    assert multiply_by_quantized_multiplier(7, m, s) == 4  # 3.5 rounds up
    assert multiply_by_quantized_multiplier(-7, m, s) == -3  # SRDHM rounds a negative tie up
    m, s = quantize_multiplier(3.0)
    assert multiply_by_quantized_multiplier(100, m, s) == 300


def test_activation_range() -> None:
    q = Quantization((6 / 255,), (-128,))
    assert activation_range(Activation.NONE, q) == (-128, 127)
    assert activation_range(Activation.RELU, q) == (-128, 127)
    assert activation_range(Activation.RELU6, Quantization((0.1,), (-10,))) == (-10, 50)
