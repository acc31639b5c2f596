"""``ooc approx`` (ooc_sdk/approx/): significance, the cost model, the exploration on the digits
CNN with a few inputs, and its refusals of bad input (one line, exit status 2)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ooc_cli
from ooc_sdk.approx import cost, data, estimate
from ooc_sdk.approx.search import STEPS, config_for, greedy_path
from ooc_sdk.approx.significance import bias_correction, significance
from ooc_sdk.lower.skip import approximate, layout
from ooc_sdk.model import approx, load_model, parse_model
from ooc_sdk.model.zoo import digits
from ooc_sdk.run.golden import run_tflm_many

N = 24  # inputs of the lean CLI run


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A briefly trained digits CNN (the benchmark trains it fully) and a DATA.npz of N
    held-out digits with their labels."""
    model, _ = digits.train(seed=0, epochs=3)
    d = tmp_path_factory.mktemp("digits")
    path = d / "digits_cnn.tflite"
    path.write_bytes(model)
    x, y = digits.evaluation_set()
    np.savez(d / "data.npz", x=x[:N], y=y[:N])
    return path, d / "data.npz"


def test_digits_cnn_runs_in_tflite_micro(digits_model: tuple[Path, Path]) -> None:
    path, _ = digits_model
    graph = load_model(path)
    assert [op.op_type for op in graph.operators] == ["CONV_2D"] * 3 + [
        "RESHAPE",
        "FULLY_CONNECTED",
    ]
    x, y = digits.evaluation_set()
    out = run_tflm_many(path, [[xi[None]] for xi in x[:100]], use_cache=False)
    accuracy = np.mean(
        [r.outputs[0].argmax() == label for r, label in zip(out, y[:100], strict=True)]
    )
    assert accuracy > 0.5  # three epochs already classify most digits


def test_significance_matches_a_direct_sum(digits_model: tuple[Path, Path]) -> None:
    """For the fully-connected layer the significance is the deviation of w . (x - zp) per
    group and ``mean`` its mean, checked here against a plain loop over the kept activations;
    the bias correction of skipped groups sums their means per output channel."""
    path, _ = digits_model
    model, graph = path.read_bytes(), load_model(path)
    x, _ = digits.evaluation_set()
    sig = significance(model, graph, x[:8].reshape(8, 1, 8, 8, 1), max_rows=10_000)
    fc = sig[-1]
    depth = fc.shape[1]
    assert fc.op == "FULLY_CONNECTED" and len(fc.significance) == 10 * depth // 4
    from ooc_sdk.approx.oracle import layer_inputs

    op = graph.operators[fc.op_index]
    acts = layer_inputs(model, graph, x[:8].reshape(8, 1, 8, 8, 1), [op.inputs[0]])[op.inputs[0]]
    zp = graph.tensor(op.inputs[0]).quant.zero_point[0]
    xs = acts.reshape(8, depth).astype(np.float64) - zp
    w = graph.tensor(fc.tensor).data.astype(np.float64)
    for group in (0, 7, depth // 4 * 3 + 5):
        oc, k = divmod(group, depth // 4)
        c = xs[:, 4 * k : 4 * k + 4] @ w[oc, 4 * k : 4 * k + 4]
        assert fc.significance[group] == pytest.approx(c.std(), rel=1e-4)
        assert fc.mean[group, 0] == pytest.approx(c.mean(), rel=1e-6, abs=1e-9)
    skip = np.array([0, 7, depth // 4 + 1])  # two groups of output channel 0, one of 1
    bias = bias_correction(fc, skip)
    assert len(bias) == 10 and not any(bias[2:])
    assert bias[0] == round(fc.mean[0, 0] + fc.mean[7, 0])
    assert bias[1] == round(fc.mean[depth // 4 + 1, 0])
    for layer in sig:  # the skip order is a permutation of the groups
        assert sorted(layer.order.tolist()) == list(range(len(layer.score)))
        assert (np.diff(layer.score[layer.order]) >= 0).all()
        # even rows: every row skips as many, so the compacted filter stores no padding
        even = layer.skipped(STEPS // 2, STEPS, True)
        s = approx.layer_skip(graph, layer.tensor, even.tolist())
        lay = layout(s, graph.tensor(layer.tensor).data)
        assert (lay.kept == lay.slots).all() and len(even) == len(layer.score) - lay.kept.sum()
        assert len(even) > 0


def test_cost_model_counts_kept_macs_and_weights(digits_model: tuple[Path, Path]) -> None:
    path, _ = digits_model
    graph = load_model(path)
    exact = estimate(graph)
    assert exact.flash_read_bytes == graph.weight_bytes
    source = cost.coefficients()["source"]
    assert source["target"] == "qemu-m4" and source["models"]
    sig = significance(path.read_bytes(), graph, digits.evaluation_set()[0][:4])
    half = config_for(graph, sig, [STEPS // 2] * len(sig))
    cut = estimate(graph, half)
    skipped = sum(cost.skipped_weights(half).values())
    # flash bytes: the compacted filters as the build stores them, padding included
    stored = approximate(graph, half)
    assert stored.approx is not None
    assert cut.flash_read_bytes == stored.weight_bytes
    assert 0 < exact.flash_read_bytes - cut.flash_read_bytes <= skipped
    # a layer that skips is costed at the skipping kernel's measured rates, the others at the
    # exact kernels'
    coef = cost.coefficients()
    want = 0.0
    for s in half.layers:
        op = next(o for o in graph.operators if len(o.inputs) > 1 and o.inputs[1] == s.tensor)
        frac = approx.group_mask(s.op, s.shape, s.group, s.skip).mean()
        kind = cost.layer_kind(graph, op)
        ex, sk = coef["layers"][kind], coef["skip_layers"][kind]
        outputs = graph.tensor(op.outputs[0]).size
        want += (ex["per_mac"] - sk["per_mac"] * (1 - frac)) * op.macs
        want += (ex["per_output"] - sk["per_output"]) * outputs + ex["per_call"] - sk["per_call"]
    assert exact.instructions - cut.instructions == pytest.approx(want, abs=2)


def test_greedy_path_prefers_cheap_loss() -> None:
    loss = np.array([np.linspace(0, 7, STEPS), np.linspace(0, 1, STEPS)])
    save = np.array([np.linspace(0, 10, STEPS), np.linspace(0, 10, STEPS)])
    path = greedy_path(loss, save)
    assert path[0] == (0, 0) and path[-1] == (STEPS - 1, STEPS - 1)
    assert path[1][1] > 0 and path[1][0] == 0  # the layer that loses less goes first
    first_layer0 = next(i for i, p in enumerate(path) if p[0] > 0)
    assert path[first_layer0 - 1][1] == STEPS - 1


def test_greedy_path_ranks_by_rate_beside_a_banned_layer() -> None:
    # a detour bans a layer with infinite losses: the others still go by savings per loss
    banned = np.full(STEPS, np.inf)
    banned[0] = 0.0
    loss = np.array([banned, np.linspace(0, 7, STEPS), np.linspace(0, 1, STEPS)])
    save = np.array([np.linspace(0, 10, STEPS)] * 3)
    path = greedy_path(loss, save)
    assert path[1] == (0, 0, 1)  # the layer that loses less goes first, not the lower index
    assert all(p[0] == 0 for p in path)  # the banned layer never moves
    assert path[-1] == (0, STEPS - 1, STEPS - 1)


def test_ooc_approx_on_digits(digits_model: tuple[Path, Path], tmp_path: Path) -> None:
    path, data_npz = digits_model
    out = tmp_path / "out"
    plot = tmp_path / "pareto.png"
    r = ooc_cli("approx", str(path), "--data", str(data_npz), "-o", str(out), "--json",
                "--plot", str(plot), "--max-accuracy-drop", "0.05")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "ooc approx:" in r.stderr  # progress goes to stderr
    doc = json.loads(r.stdout)
    exact, front, chosen = doc["exact"], doc["pareto"], doc["chosen"]
    assert set(exact) == {"instructions", "accuracy", "flash_read_bytes"}
    # the front starts at the exact model unless a cheaper point is at least as accurate
    assert front[0]["instructions"] <= exact["instructions"]
    assert front[0]["accuracy"] >= exact["accuracy"]
    for a, b in itertools.pairwise(front):  # a front: fewer instructions, lower accuracy
        assert b["instructions"] < a["instructions"] and b["accuracy"] < a["accuracy"]
    assert chosen["accuracy"] >= exact["accuracy"] - 0.05 - 1e-9
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "pareto.json").read_text())["pareto"] == front

    # the chosen configuration is the oracle's: its zeroed model scores what the search said
    graph = load_model(path)
    config = approx.load(out / "config.json")
    approx.validate(config, graph)
    assert config.skipped_groups == sum(len(s["skip"]) for s in chosen["config"]["layers"])
    zeroed = approx.zeroed_tflite(path.read_bytes(), graph, config)
    parse_model(zeroed)
    with np.load(data_npz) as z:
        x, y = z["x"], z["y"]
    outs = run_tflm_many(zeroed, [[xi[None]] for xi in x], use_cache=False)
    accuracy = np.mean([o.outputs[0].argmax() == label for o, label in zip(outs, y, strict=True)])
    assert accuracy == pytest.approx(chosen["accuracy"])
    assert estimate(graph, config).instructions == chosen["instructions"]

    # an existing, non-empty OUT is left alone without --force
    before = (out / "config.json").read_bytes()
    r = ooc_cli("approx", str(path), "--data", str(data_npz), "-o", str(out))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "not empty" in r.stderr and (out / "config.json").read_bytes() == before


def _bad(tmp_path: Path, name: str, **arrays: np.ndarray) -> Path:
    p = tmp_path / f"{name}.npz"
    np.savez(p, **arrays)
    return p


def test_ooc_approx_refuses_bad_data(digits_model: tuple[Path, Path], tmp_path: Path) -> None:
    path, _ = digits_model
    x, y = digits.evaluation_set()
    x, y = x[:4], y[:4]
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    cases = {
        _bad(tmp_path, "shape", x=x.reshape(4, 64)): "not N x [1, 8, 8, 1]",
        _bad(tmp_path, "dtype", x=x.astype(np.float32)): "x is float32",
        _bad(tmp_path, "nox", y=y): "no array x",
        _bad(tmp_path, "count", x=x, y=y[:3]): "one label per x",
        _bad(tmp_path, "float_labels", x=x, y=y.astype(np.float32)): "integer labels",
        _bad(tmp_path, "range", x=x, y=y + 10): "labels must be in 0..9",
        junk: "not a readable .npz",
        tmp_path / "missing.npz": "no such file",
    }
    for npz, message in cases.items():
        out = tmp_path / f"out-{npz.stem}"
        r = ooc_cli("approx", str(path), "--data", str(npz), "-o", str(out))
        assert r.returncode == 2, (npz, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (npz, r.stderr)
        assert not out.exists()


def test_data_accepts_inputs_without_the_batch_axis(digits_model: tuple[Path, Path]) -> None:
    graph = load_model(digits_model[0])
    x, y = digits.evaluation_set()
    d = data.check(graph, x[:5], y[:5])
    assert d.x.shape == (5, 1, 8, 8, 1) and d.y is not None and d.y.dtype == np.int64
    d = data.check(graph, x[:5].reshape(5, 1, 8, 8, 1), None)
    assert d.y is None


def test_natural_images_fit_the_input() -> None:
    imgs = data.natural_images((1, 12, 10, 1), 6, seed=3)
    assert imgs.shape == (6, 1, 12, 10, 1) and imgs.dtype == np.int8
    assert len({im.tobytes() for im in imgs}) == 6  # distinct crops
    assert imgs.std() > 10  # real pictures, not a flat fill
    again = data.natural_images((1, 12, 10, 1), 6, seed=3)
    assert (again == imgs).all()
    rgb = data.natural_images((1, 8, 8, 3), 2)
    assert rgb.shape == (2, 1, 8, 8, 3)


def test_stratified_keeps_a_tenth_of_each_class() -> None:
    top1 = np.array([0] * 40 + [1] * 3 + [2] * 30)
    picked = data.stratified(top1, 40)
    assert len(picked) == len(set(picked.tolist())) == 40
    counts = np.bincount(top1[picked], minlength=3)
    assert counts[1] == 3  # every one of the rare class (it has fewer than a tenth of 40)
    assert counts[2] == 4  # a tenth: the first 40 held none of class 2
    assert counts[0] == 33  # the rest in order
    assert len(data.stratified(top1, 100)) == len(top1)
