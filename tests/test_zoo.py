"""The zoo: every architecture at two sizes is valid, calibrated and runs in tflite-micro."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ooc_cli
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.lower.memplan import plan_memory
from ooc_sdk.model import parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Activation
from ooc_sdk.model.zoo import ARCHITECTURES, Knobs, generate
from ooc_sdk.run.golden import run_tflm, run_tflm_many
from ooc_sdk.run.host import run_host

LINEAR = Activation.NONE

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
    "mcunet": [
        Knobs(width=0.35, resolution=32, se="all", float_io=False),
        Knobs(width=0.5, resolution=64, se="early"),
    ],
    "detector": [Knobs(width=4, resolution=32, depth=2), Knobs(width=8, resolution=64)],
    "inception": [Knobs(width=4, resolution=32, depth=1), Knobs(width=8, float_io=True)],
}
NEW = ("mcunet", "detector", "inception")


def test_every_architecture_is_covered() -> None:
    assert set(SIZES) == set(ARCHITECTURES)


@pytest.mark.parametrize(("arch", "size"), [(a, i) for a in SIZES for i in range(2)])
def test_runs_in_tflite_micro(arch: str, size: int) -> None:
    m = generate(arch, SIZES[arch][size], seed=11)
    graph = parse_model(m.data)
    assert graph.weight_bytes == m.weight_bytes
    assert graph.macs == m.macs
    result = run_tflm(m.data, seed=5)
    assert len(result.outputs) == len(graph.outputs)
    assert result.arena_bytes > 0
    for out, t in zip(result.outputs, graph.outputs, strict=True):
        assert out.shape == graph.tensor(t).shape
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
    # squeeze-and-excitation: MEAN -> 1x1 convs -> LOGISTIC -> broadcast MUL
    assert {"MEAN", "LOGISTIC", "MUL", "ADD"} <= ops["mcunet"]
    assert {"RESIZE_NEAREST_NEIGHBOR", "CONCATENATION"} <= ops["detector"]
    assert {"CONCATENATION", "MAX_POOL_2D", "AVERAGE_POOL_2D"} <= ops["inception"]
    # the concatenations' inputs are written in their quantization: no requantizing QUANTIZE
    assert "QUANTIZE" not in ops["detector"] | ops["inception"]


def test_mcunet_structure() -> None:
    g = parse_model(generate("mcunet").data)
    dw = [op for op in g.operators if op.op_type == "DEPTHWISE_CONV_2D"]
    assert {g.tensor(op.inputs[1]).shape[1] for op in dw} == {3, 5, 7}
    assert g.tensor(g.inputs[0]).dtype.name == "FLOAT32"
    assert g.tensor(g.outputs[0]).dtype.name == "FLOAT32"
    for op in g.operators:
        if op.op_type == "MUL":  # the SE gate [1, 1, 1, C] broadcast over [1, H, W, C]
            x, gate = (g.tensor(t).shape for t in op.inputs)
            assert gate == (1, 1, 1, x[3]) and x[1] > 1

    # `se` places the blocks: early ones at the largest feature maps, late ones at the smallest
    def se_rows(se: str) -> set[int]:
        m = parse_model(generate("mcunet", Knobs(se=se)).data)
        return {m.tensor(op.outputs[0]).shape[1] for op in m.operators if op.op_type == "MUL"}

    assert se_rows("early") == {40, 20} and se_rows("late") == {5, 3}
    assert se_rows("none") == set() and se_rows("all") == {40, 20, 5, 3}


def test_detector_outputs() -> None:
    for scales, rows in ((3, [4, 8, 16]), (2, [4, 8])):
        g = parse_model(generate("detector", Knobs(depth=scales)).data)
        shapes = [g.tensor(t).shape for t in g.outputs]
        assert shapes == [(1, r, r, 21) for r in rows]
        assert all(g.tensor(t).dtype.name == "INT8" for t in g.outputs)


def test_cli_writes_and_inspects(tmp_path: Path) -> None:
    """`ooc zoo` takes the new knobs and `ooc inspect` reads every output."""
    model = tmp_path / "d.tflite"
    argv = ["zoo", "detector", "--width", "4", "--resolution", "64", "--float-io", "-o", str(model)]
    assert ooc_cli(*argv).returncode == 0
    info = json.loads(ooc_cli("inspect", str(model), "--json").stdout)
    assert [o["shape"] for o in info["outputs"]] == [[1, r, r, 21] for r in (2, 4, 8)]
    assert {o["dtype"] for o in info["outputs"]} == {"float32"}
    m2 = tmp_path / "m.tflite"
    proc = ooc_cli("zoo", "mcunet", "--se", "early", "--int8-io", "-o", str(m2), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["knobs"]["se"] == "early"
    g = parse_model(m2.read_bytes())
    assert g.tensor(g.inputs[0]).dtype.name == "INT8"
    bad = ooc_cli("zoo", "mcunet", "--se", "sideways", "-o", str(tmp_path / "x.tflite"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_concat_requantizes_a_shared_input() -> None:
    """A concatenated tensor that another operator also reads keeps its quantization: the
    concatenation reads it through an int8 QUANTIZE, which runs bit-exact."""
    from ooc_sdk.model.writer import write_tflite
    from ooc_sdk.model.zoo.net import Net

    net = Net(seed=3)
    x = net.input((1, 8, 8, 3))
    a = net.conv(x, 4, 3)
    b = net.conv(a, 4, 3, act=LINEAR)  # `a` has a reader besides the concatenation
    net.output(net.concat([a, b]))
    g = parse_model(write_tflite(net.model))
    assert [op.op_type for op in g.operators] == ["CONV_2D", "CONV_2D", "QUANTIZE", "CONCATENATION"]
    assert_bit_exact(write_tflite(net.model), 3)


def assert_bit_exact(data: bytes, n: int) -> None:
    graph = parse_model(data)
    samples = [random_inputs(graph, s) for s in range(n)]
    ours = run_host(graph, samples)
    gold = run_tflm_many(data, samples)
    for s, (mine, ref) in enumerate(zip(ours.outputs, gold, strict=True)):
        assert len(mine) == len(ref.outputs) == len(graph.outputs)
        for a, b in zip(mine, ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes(), f"sample {s}: {np.count_nonzero(a != b)} differ"


@pytest.mark.parametrize(("arch", "size"), [(a, s) for a in NEW for s in ("default", "larger")])
def test_new_architectures_bit_exact(arch: str, size: str) -> None:
    """The documented default and larger sizes run in core on the host exactly as in
    tflite-micro."""
    knobs = Knobs() if size == "default" else ARCHITECTURES[arch].larger
    assert_bit_exact(generate(arch, knobs, seed=21).data, 2)


def test_presets_reach_their_figures() -> None:
    """MACs, weight bytes and per-layer arena of the new architectures' documented sizes
    (docs/MODEL.md): mcunet at 80x80 is sized like MCUNet VWW (about 12 M MACs), at 224x224
    with SE in its first stages about 200 M MACs and a 2.4 MB per-layer arena."""
    expect = {
        ("mcunet", "default"): (12_604_696, 663_536, 166_400),
        ("mcunet", "larger"): (197_149_280, 789_104, 2_609_248),
        ("detector", "default"): (10_705_920, 184_748, 114_688),
        ("detector", "larger"): (147_775_488, 697_932, 720_896),
        ("inception", "default"): (11_028_352, 165_808, 45_056),
        ("inception", "larger"): (169_348_864, 649_264, 344_064),
    }
    for (arch, size), figures in expect.items():
        knobs = Knobs() if size == "default" else ARCHITECTURES[arch].larger
        m = generate(arch, knobs)
        arena = plan_memory(parse_model(m.data)).arena_bytes
        assert (m.macs, m.weight_bytes, arena) == figures, (arch, size)


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
        ("mcunet", Knobs(se="middle"), None, "`se` must be one of"),
        ("resnet8", Knobs(se="late"), None, "no `se`"),
        ("detector", Knobs(depth=1), None, "must be 2 or 3"),
        ("detector", Knobs(resolution=100), None, "multiple of 32"),
    ],
)
def test_bad_knobs(arch: str, knobs: Knobs, weights: int | None, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        generate(arch, knobs, weights=weights)
