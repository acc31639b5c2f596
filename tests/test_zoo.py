"""The zoo: every architecture at two sizes is valid, calibrated and runs in tflite-micro."""

from __future__ import annotations

import numpy as np
import pytest

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model import parse_model
from ooc_sdk.model.zoo import ARCHITECTURES, Knobs, generate
from ooc_sdk.run.golden import run_tflm

SIZES = {
    "ds-cnn": [Knobs(width=8, depth=1), Knobs(width=64, depth=4)],
    "mobilenet-v1": [Knobs(width=0.1, resolution=32), Knobs(width=0.25, resolution=96)],
    "mobilenet-v2": [
        Knobs(width=0.1, resolution=32, depth=1, classes=10),
        Knobs(width=0.35, resolution=64, float_io=True),
    ],
    "resnet8": [Knobs(width=4, resolution=16), Knobs(width=16, resolution=32, float_io=True)],
    "autoencoder": [Knobs(width=16, depth=1), Knobs(width=128, depth=4)],
    "keras-flatten": [Knobs(width=4, resolution=32), Knobs(width=16, resolution=64, float_io=True)],
}


def test_every_architecture_is_covered() -> None:
    assert set(SIZES) == set(ARCHITECTURES)


@pytest.mark.parametrize(("arch", "size"), [(a, i) for a in SIZES for i in range(2)])
def test_runs_in_tflite_micro(arch: str, size: int) -> None:
    m = generate(arch, SIZES[arch][size], seed=11)
    graph = parse_model(m.data)
    assert graph.weight_bytes == m.weight_bytes
    assert graph.macs == m.macs
    result = run_tflm(m.data, seed=5)
    out_t = graph.tensor(graph.outputs[0])
    (out,) = result.outputs
    assert out.shape == out_t.shape
    assert result.arena_bytes > 0
    # calibrated: the output is neither constant nor pinned to the int8 limits
    if out.dtype == np.int8 and arch != "mobilenet-v2":
        assert len(np.unique(out)) > 1
        assert np.mean((out == -128) | (out == 127)) < 0.9


def test_architecture_mix_of_ops() -> None:
    ops = {
        arch: {op.op_type for op in parse_model(generate(arch, SIZES[arch][0]).data).operators}
        for arch in SIZES
    }
    assert "ADD" in ops["mobilenet-v2"] and "MEAN" in ops["mobilenet-v2"]
    assert "ADD" in ops["resnet8"] and "PAD" in ops["mobilenet-v1"]
    assert ops["autoencoder"] == {"FULLY_CONNECTED"}
    # the Keras flatten's SHAPE/STRIDED_SLICE/PACK are folded at ingest into its RESHAPE
    assert ops["keras-flatten"] == {"CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
    f = parse_model(generate("resnet8", SIZES["resnet8"][1]).data)
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.op_type for op in f.operators}


def test_defaults_reproduce_mlperf_tiny_shapes() -> None:
    """The default knobs give the MLPerf Tiny reference models' MACs and weight bytes."""
    expect = {
        "ds-cnn": (2_656_768, 24_376),
        "mobilenet-v1": (7_489_664, 219_200),
        "resnet8": (12_501_632, 78_752),
        "autoencoder": (264_192, 270_880),
    }
    for arch, (macs, weights) in expect.items():
        m = generate(arch)
        assert (m.macs, m.weight_bytes) == (macs, weights), arch


def test_deterministic() -> None:
    a = generate("mobilenet-v2", SIZES["mobilenet-v2"][0], seed=4).data
    b = generate("mobilenet-v2", SIZES["mobilenet-v2"][0], seed=4).data
    c = generate("mobilenet-v2", SIZES["mobilenet-v2"][0], seed=5).data
    assert a == b and a != c


def test_sizes_span_10k_to_16m() -> None:
    small = generate("ds-cnn", Knobs(width=16, depth=1))
    assert small.weight_bytes < 10 * 1024
    big = generate("autoencoder", weights=16 << 20)
    assert big.weight_bytes >= 16 << 20
    assert generate("autoencoder", Knobs(width=big.knobs.width - 1)).weight_bytes < 16 << 20
    result = run_tflm(big.data, seed=1)
    assert result.outputs[0].shape == (1, 640)


def test_weights_target_for_multiplier_width() -> None:
    m = generate("mobilenet-v1", Knobs(resolution=32), weights=1 << 20)
    assert m.weight_bytes >= 1 << 20
    assert m.weight_bytes < 1.05 * (1 << 20)


@pytest.mark.parametrize(
    ("arch", "knobs", "weights", "match"),
    [
        ("nope", Knobs(), None, "unknown architecture"),
        ("autoencoder", Knobs(resolution=32), None, "no `resolution`"),
        ("resnet8", Knobs(width=2.5), None, "whole channel count"),
        ("mobilenet-v1", Knobs(width=0.0), None, "`width` must be"),
        ("mobilenet-v2", Knobs(resolution=8), None, "`resolution` must be"),
        ("ds-cnn", Knobs(width=8), 1 << 20, "either `width` or `weights`"),
        ("ds-cnn", Knobs(), 1 << 40, "cannot reach"),
        ("resnet8", Knobs(classes=1), None, "`classes`"),
    ],
)
def test_bad_knobs(arch: str, knobs: Knobs, weights: int | None, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        generate(arch, knobs, weights=weights)
