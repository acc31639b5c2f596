"""Ahead-of-time arithmetic: TFLM's QuantizeMultiplier and rounding rules; biases folded for the tables."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_model
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


def test_pointwise_biases_are_folded_for_the_tables() -> None:
    """A 1x1 CONV_2D's tables hold bias - zero_point * sum(w) and input_offset 0; the bit-exact
    runs (test_fusion, test_qemu, test_pager) check that the kernels then give the same outputs."""
    from ooc_sdk.image.pack import tensor_bytes
    from ooc_sdk.lower.prepare.conv import folds_offset, offset_folds
    from ooc_sdk.model import load_model

    graph = load_model(shared_model("kws_ref_model.tflite"))
    folds = offset_folds(graph)
    pointwise = [
        op
        for op in graph.operators
        if op.op_type == "CONV_2D" and graph.tensor(op.inputs[1]).shape[1:3] == (1, 1)
    ]
    assert len(pointwise) == 4 and all(folds_offset(graph, op) for op in pointwise)
    assert set(folds) == {op.inputs[2] for op in pointwise}
    for op in pointwise:
        x, w, b = (graph.tensor(t) for t in op.inputs[:3])
        assert x.quant is not None and w.data is not None and b.data is not None
        zp = int(x.quant.zero_point[0])
        want = b.data.astype(np.int64) - zp * w.data.reshape(w.shape[0], -1).sum(
            axis=1, dtype=np.int64
        )
        assert np.array_equal(folds[op.inputs[2]], want.astype(np.int32))
        assert bytes(tensor_bytes(graph, op.inputs[2])) == want.astype("<i4").tobytes()
    assert not any(folds_offset(graph, op) for op in graph.operators if op not in pointwise)
