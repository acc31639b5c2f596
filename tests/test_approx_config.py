"""The approximation configuration (ooc_sdk/model/approx.py): group numbering, validation, and
the zeroed-weights oracle tflite-micro runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.model import approx, load_model, parse_model
from ooc_sdk.run.golden import random_inputs, run_tflm

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


def _model(name: str) -> Path:
    path = SHARED / name
    assert path.is_file(), f"{path} is missing: tests need ../shared beside the checkout"
    return path


@pytest.mark.parametrize(
    "op, shape, group",
    [
        ("CONV_2D", (8, 3, 3, 3), 4),
        ("CONV_2D", (16, 1, 1, 10), 4),
        ("FULLY_CONNECTED", (5, 9), 2),
        ("DEPTHWISE_CONV_2D", (1, 3, 3, 6), 4),
    ],
)
def test_groups_partition_the_filter(op: str, shape: tuple[int, ...], group: int) -> None:
    n = approx.group_count(op, shape, group)
    covered = np.zeros(shape, dtype=np.int32)
    for g in range(n):
        m = approx.group_mask(op, shape, group, (g,))
        assert 1 <= m.sum() <= group  # a group is g channels (the last of a row may be shorter)
        covered += m
    assert (covered == 1).all()  # every weight in exactly one group
    channels = shape[-1]
    rows = 1 if op == "DEPTHWISE_CONV_2D" else shape[0]
    taps = math.prod(shape[1:-1]) if op != "FULLY_CONNECTED" else 1
    assert n == rows * taps * math.ceil(channels / group)


def test_conv_group_numbering_follows_the_filter_layout() -> None:
    # CONV [OC=2, KH=1, KW=2, IC=5], g=4: two groups per tap ({0-3}, {4}), so output channel 0
    # owns groups 0..3 and group 3 is its tap 1, channel 4
    m = approx.group_mask("CONV_2D", (2, 1, 2, 5), 4, (3,))
    assert np.argwhere(m).tolist() == [[0, 0, 1, 4]]
    m = approx.group_mask("DEPTHWISE_CONV_2D", (1, 2, 2, 6), 4, (3,))  # tap 1, channels 4-5
    assert np.argwhere(m).tolist() == [[0, 0, 1, 4], [0, 0, 1, 5]]


def test_zeroed_model_is_the_oracle_and_validation_refuses_others(tmp_path: Path) -> None:
    path = _model("kws_ref_model.tflite")
    data = path.read_bytes()
    graph = load_model(path)
    layers = approx.skippable_layers(graph)
    assert len(layers) >= 4
    op, tensor = layers[-2]  # a pointwise convolution
    n = approx.group_count(op.op_type, graph.tensor(tensor).shape, 4)
    half = approx.layer_skip(graph, tensor, list(range(0, n, 2)))
    config = approx.ApproxConfig(graph.sha256, (half,))
    approx.save(config, tmp_path / "config.json")
    loaded = approx.load(tmp_path / "config.json")
    assert loaded.layers == config.layers

    zeroed = approx.zeroed_tflite(data, graph, loaded)
    regraph = parse_model(zeroed)
    filt = regraph.tensor(tensor).data
    assert filt is not None
    assert not filt[approx.group_mask(half.op, half.shape, 4, half.skip)].any()
    kept = ~approx.group_mask(half.op, half.shape, 4, half.skip)
    original = graph.tensor(tensor).data
    assert original is not None
    assert (filt[kept] == original[kept]).all()

    inputs = random_inputs(graph, 3)
    exact = run_tflm(data, inputs, use_cache=False).outputs[0]
    empty = approx.zeroed_tflite(data, graph, approx.ApproxConfig(graph.sha256, ()))
    assert empty == data
    approx_out = run_tflm(zeroed, inputs, use_cache=False).outputs[0]
    assert approx_out.shape == exact.shape
    assert not np.array_equal(approx_out, exact)  # half a layer skipped changes the scores

    other = load_model(_model("ad01_int8.tflite"))
    with pytest.raises(approx.ApproxConfigError, match="another model"):
        approx.validate(loaded, other)
    bad = approx.ApproxConfig(
        graph.sha256, (approx.LayerSkip(tensor, "x", half.op, half.shape, 4, ()),)
    )
    with pytest.raises(approx.ApproxConfigError, match="does not match"):
        approx.validate(bad, graph)
    with pytest.raises(approx.ApproxConfigError, match="group indices"):
        approx.layer_skip(graph, tensor, [n])
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(approx.ApproxConfigError, match="not an approximation configuration"):
        approx.load(tmp_path / "junk.json")


def test_bias_correction_is_in_the_oracle_and_the_file(tmp_path: Path) -> None:
    """A layer's bias correction is added to its bias in the zeroed model; the file keeps it
    (version 2) and still reads version 1; a correction of the wrong length, one that
    overflows int32, or one on a layer that skips nothing is refused."""
    path = _model("kws_ref_model.tflite")
    graph = load_model(path)
    op, tensor = approx.skippable_layers(graph)[-2]
    b = approx.bias_tensor(graph, op)
    assert b is not None
    shape = graph.tensor(tensor).shape
    n = approx.group_count(op.op_type, shape, 4)
    delta = list(range(-shape[0] // 2, shape[0] - shape[0] // 2))
    layer = approx.layer_skip(graph, tensor, list(range(0, n, 3)), 4, delta)
    config = approx.ApproxConfig(graph.sha256, (layer,))
    approx.save(config, tmp_path / "config.json")
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["version"] == 2 and doc["layers"][0]["bias"] == delta
    assert approx.load(tmp_path / "config.json").layers == config.layers
    zeroed = parse_model(approx.zeroed_tflite(path.read_bytes(), graph, config))
    original = graph.tensor(b).data
    assert original is not None
    got = zeroed.tensor(b).data
    assert got is not None
    assert (got.astype(np.int64) - original == np.array(delta)).all()
    del doc["layers"][0]["bias"]
    doc["version"] = 1
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    assert approx.load(tmp_path / "v1.json").layers[0].bias == ()
    with pytest.raises(approx.ApproxConfigError, match="bias corrections for"):
        approx.layer_skip(graph, tensor, [0], 4, [1, 2])
    with pytest.raises(approx.ApproxConfigError, match="int32"):
        approx.layer_skip(graph, tensor, [0], 4, [1 << 31] * shape[0])
    with pytest.raises(approx.ApproxConfigError, match="without skipped groups"):
        approx.layer_skip(graph, tensor, [], 4, [1] * shape[0])
    doc["version"] = 3
    (tmp_path / "junk.json").write_text(json.dumps(doc))
    with pytest.raises(approx.ApproxConfigError, match="version"):
        approx.load(tmp_path / "junk.json")
