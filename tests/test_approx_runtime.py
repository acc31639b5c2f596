"""Approximate builds (issue 27): the skipping kernels (c_runtime/src/kernels/skip.c) bit-exact
with tflite-micro on the zeroed model, in core and out of core, on the host (under sanitizers)
and on the Cortex-M4; skipped weights absent from the image; the build's records; bad input."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import APPROX_JSON, BuildDir, BuildDirError
from ooc_sdk.cli import main
from ooc_sdk.codegen.emit import generate_c
from ooc_sdk.image.keys import DeviceKey, generate, write_key_file
from ooc_sdk.lower.skip import NOT_FUSED, approximate, even_config
from ooc_sdk.model import approx, load_model
from ooc_sdk.model.approx import ApproxConfigError
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import random_inputs, run_tflm_many
from ooc_sdk.run.host import run_build, run_host
from ooc_sdk.run.qemu import run_build_m4, run_model_m4
from ooc_sdk.targets import load_flash, load_mcu

KWS = "kws_ref_model.tflite"  # CONV_2D (10x4, one input channel), DEPTHWISE_CONV_2D, 1x1, FC
FLASH, M4 = load_flash("w25q128jv"), load_mcu("cortex-m4")


def random_config(graph, share: float, seed: int = 1) -> approx.ApproxConfig:  # type: ignore[no-untyped-def]
    """Every skippable layer with about ``share`` of its groups skipped at random: rows keep
    different numbers of groups, so the compacted filters carry padding; and a random bias
    correction on every layer that has a bias."""
    rng = np.random.default_rng(seed)
    layers = []
    for op, t in approx.skippable_layers(graph):
        shape = graph.tensor(t).shape
        n = approx.group_count(op.op_type, shape, 4)
        skip = [int(j) for j in np.nonzero(rng.random(n) < share)[0]]
        has_bias = approx.bias_tensor(graph, op) is not None and skip
        n_out = approx.out_channels(op.op_type, shape)
        bias = [int(v) for v in rng.integers(-3000, 3000, n_out)] if has_bias else []
        layers.append(approx.layer_skip(graph, t, skip, 4, bias))
    return approx.ApproxConfig(graph.sha256, tuple(layers))


@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """kws with a 45% random configuration: the model, its graph, the config (also on disk),
    the approximate graph, three inputs and tflite-micro's outputs on the zeroed model."""
    path = shared_model(KWS)
    graph = load_model(path)
    config = random_config(graph, 0.45)
    tmp = tmp_path_factory.mktemp("approx")
    approx.save(config, tmp / "config.json")
    samples = [random_inputs(graph, s) for s in range(3)]
    zeroed = approx.zeroed_tflite(path.read_bytes(), graph, config)
    want = [r.outputs for r in run_tflm_many(zeroed, samples)]
    return path, graph, config, tmp / "config.json", approximate(graph, config), samples, want


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("0a99" * 8), 32)


@pytest.fixture(scope="module")
def kws_build(kws, device: DeviceKey, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """An out-of-core build of the approximate kws at its smallest budget: its largest layers
    split into pieces."""
    path, _, _, _, agraph, _, _ = kws
    out = tmp_path_factory.mktemp("kws-build")
    with pytest.raises(BudgetError) as least:
        plan(agraph, PlanRequest(1024, FLASH, M4))
    assert least.value.minimum is not None
    build(agraph, path.read_bytes(), out, device,
          BuildRequest(PlanRequest(least.value.minimum, FLASH, M4)))  # fmt: skip
    return out


def _same(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> None:
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            assert np.array_equal(a.reshape(b.shape), b)


@pytest.mark.parametrize("kernels", ["ref", "dsp"])
def test_in_core_bit_exact_with_the_zeroed_model_under_sanitizers(kws, kernels: str) -> None:  # type: ignore[no-untyped-def]
    _, graph, config, _, agraph, samples, want = kws
    assert {s.op for s in config.layers} == set(approx.SKIPPABLE)  # every kind of layer skips
    info = agraph.approx.to_json()
    assert 0.3 < info["skipped_mac_fraction"] < 0.6
    assert info["stored_weight_bytes"] < info["weight_bytes"]
    _same(run_host(agraph, samples, sanitize=True, kernels=kernels).outputs, want)
    exact = run_host(graph, samples[:1], kernels=kernels).outputs
    assert not all(np.array_equal(a, b) for a, b in zip(exact[0], want[0], strict=True))


def test_exact_tables_have_no_skipping_kernels(kws) -> None:  # type: ignore[no-untyped-def]
    _, graph, _, _, agraph, _, _ = kws
    assert "_SKIP" not in generate_c(graph, "kws")[0]
    assert graph.approx is None and agraph.sha256 == graph.sha256
    assert agraph.cache_id != graph.cache_id  # no build cache mixes the two
    kinds = generate_c(agraph, "kws")[0]
    for kind in ("CONV_2D_SKIP", "DEPTHWISE_CONV_2D_SKIP", "FULLY_CONNECTED_SKIP"):
        assert f"OOC_OP_{kind}" in kinds


def test_out_of_core_on_the_host_and_the_records(kws, kws_build: Path, device: DeviceKey) -> None:  # type: ignore[no-untyped-def]
    _, graph, config, _, agraph, samples, want = kws
    bd = BuildDir.open(kws_build)
    assert bd.info.approx == agraph.approx.to_json()
    assert bd.plan_json()["approx"]["config_sha256"] == agraph.approx.config_sha256
    assert bd.plan_json()["split_ops"]  # partial execution too
    manifest = json.loads((kws_build / "image" / "manifest.json").read_text())
    assert manifest["approx"]["skipped_groups"] == config.skipped_groups
    reread = bd.graph()  # the model file + OUT/approx.json
    assert reread.approx is not None and reread.approx.config_sha256 == agraph.approx.config_sha256
    ran = run_build(kws_build, reread, device, samples, sanitize=True)
    _same(ran.outputs, want)
    assert ran.report["flash_read_bytes"] == bd.plan_json()["flash_read_bytes_per_inference"]
    with pytest.raises(Exception, match="does not match"):
        run_build(kws_build, graph, device, samples[:1])  # the exact model is not this build


def test_m4_in_core_and_out_of_core_bit_exact(kws, kws_build: Path, device: DeviceKey) -> None:  # type: ignore[no-untyped-def]
    _, _, _, _, agraph, samples, want = kws
    core = run_model_m4(agraph, samples[:2])
    _same(core.outputs, want[:2])
    paged = run_build_m4(kws_build, agraph, device, samples[:2])
    _same(paged.outputs, want[:2])


def test_fused_schedules_are_refused(kws) -> None:  # type: ignore[no-untyped-def]
    _, _, _, _, agraph, _, _ = kws
    with pytest.raises(ApproxConfigError, match="layer by layer"):
        plan(agraph, PlanRequest(None, FLASH, M4, fuse=True))
    assert "fused" in NOT_FUSED


def test_flash_bytes_read_fall_with_the_skipped_weights() -> None:
    """vww, half of every row's groups skipped: the bytes read per inference (the plan's, which
    the runtime reads: test_out_of_core_on_the_host_and_the_records) fall by the skipped
    weights' bytes, to within the chunk tables and alignment."""
    path = shared_model("vww_96_int8.tflite")
    graph = load_model(path)
    agraph = approximate(graph, even_config(graph, 0.5))
    skipped = sum(
        int(approx.group_mask(s.skip.op, s.skip.shape, s.skip.group, s.skip.skip).sum())
        for s in agraph.approx.layouts.values()
    )
    assert skipped > 0.45 * graph.weight_bytes
    request = PlanRequest(96 * 1024, FLASH, M4)
    read = [plan(g, request).flash_read_bytes_per_inference for g in (graph, agraph)]
    assert math.isclose(read[0] - read[1], skipped, rel_tol=0.02), (read, skipped)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_cli_builds_runs_and_refuses_bad_input(kws, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path, graph, config, config_file, _, _, want = kws
    key = tmp_path / "dev.key"
    dev = generate(bytes(16), 32)
    write_key_file(key, dev)
    out = tmp_path / "out"
    code, text = _cli(capsys, "build", str(path), "--approx", str(config_file), "--device-key",
                      str(key), "-o", str(out))  # fmt: skip
    assert code == 0, text
    assert (out / APPROX_JSON).is_file()
    for target in ([str(out), "--device-key", str(key)], [str(path), "--approx", str(config_file)]):
        code, text = _cli(capsys, "run", *target, "--json")  # sample: seed 0, as want[0]
        assert code == 0, text
        assert (
            json.loads(text)["outputs"][0]["sha256"]
            == hashlib.sha256(want[0][0].tobytes()).hexdigest()
        )
    code, text = _cli(capsys, "dumpinfo", str(out / "image" / "image.bin"))
    assert code == 0 and "APPROXIMATE" in text
    code, text = _cli(capsys, "dumpinfo", "--json", str(out / "image" / "image.bin"))
    assert json.loads(text)["approximate"] is True
    code, text = _cli(capsys, "codegen", str(path), "--approx", str(config_file), "-o",
                      str(tmp_path / "c"), "--json")  # fmt: skip
    assert code == 0 and json.loads(text)["approx"]["layers"] == len(config.layers)

    # bad input: one line, exit 2, nothing written
    other = approx.ApproxConfig("0" * 64, config.layers)
    approx.save(other, tmp_path / "other.json")
    (tmp_path / "junk.json").write_text("[1, 2")
    shape = approx.ApproxConfig(graph.sha256, (approx.LayerSkip(
        config.layers[0].tensor, config.layers[0].name, config.layers[0].op, (1, 2, 3, 4), 4, ()),))  # fmt: skip
    approx.save(shape, tmp_path / "shape.json")
    cases = [
        (["build", str(path), "--approx", str(tmp_path / "other.json"), "--device-key", str(key),
          "-o", str(tmp_path / "o1")], "another model"),
        (["codegen", str(path), "--approx", str(tmp_path / "junk.json"), "-o",
          str(tmp_path / "o2")], "not an approximation configuration"),
        (["run", str(path), "--approx", str(tmp_path / "shape.json")], "does not match"),
        (["build", str(path), "--approx", str(config_file), "--fuse", "--device-key", str(key),
          "-o", str(tmp_path / "o3")], "layer by layer"),
        (["run", str(path), "--approx", str(config_file), "--fuse"], "layer by layer"),
        (["run", str(out), "--device-key", str(key), "--approx", str(config_file)],
         "runs the approximation it was built with"),
    ]  # fmt: skip
    for argv, why in cases:
        code, text = _cli(capsys, *argv)
        assert code == 2 and why in text and "Traceback" not in text, (argv, text)
        assert len(text.strip().splitlines()) == 1, text
    assert not any((tmp_path / d).exists() for d in ("o1", "o2", "o3"))

    # a build whose configuration file was swapped is refused
    approx.save(even_config(graph, 0.25), out / APPROX_JSON)
    with pytest.raises(BuildDirError, match="not the configuration"):
        BuildDir.open(out).graph()
