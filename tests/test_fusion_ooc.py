"""Fused activations with paged weights (`ooc build --fuse`, plan/fused.py, the fused steps
of c_runtime/src/ooc.c): a fused block's weights are read once into a chunk slot and stay there
while its rows and strips compute. Bit-exact with tflite-micro on the host (one and two slots,
the two-slot cases under ASan/UBSan) and on the Cortex-M4 under QEMU; flash traffic equal to the
plan's; budgets that per-layer out-of-core execution cannot meet; tampering inside a fused
block's chunks refused."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import ooc_cli as _ooc
from conftest import shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import AuthenticationError
from ooc_sdk.image.keys import DeviceKey, generate
from ooc_sdk.model import load_model, parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm, run_tflm_many
from ooc_sdk.run.host import run_build
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu
from opmodels import branchy_model, float_io_model, se_model, two_scale_model

KIB = 1024
FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
# (model, --sram, slots): budgets below what per-layer out-of-core execution needs
CASES = [
    ("vww_96_int8.tflite", 24 * KIB, None),
    ("vww_96_int8.tflite", 32 * KIB, 2),
    ("person_detect.tflite", 24 * KIB, None),
    ("pretrainedResnet_quant.tflite", 48 * KIB, None),
    ("pretrainedResnet_quant.tflite", 52 * KIB, 2),
    # below what resident block weights allow: convolutions re-stream their weights per row
    ("vww_96_int8.tflite", 16 * KIB, None),
    ("vww_96_int8.tflite", 20 * KIB, 2),
]
STREAMING = 20 * KIB  # budgets at or below it stream weights inside fused blocks


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("00f05ed0" * 4), 32)


def _build(name: str, budget: int, slots: int | None, device: DeviceKey, out: Path):  # type: ignore[no-untyped-def]
    path = shared_model(name)
    graph = load_model(path)
    result = build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=budget, flash=FLASH, mcu=M4, fuse=True, slots=slots)),
    )
    return path, graph, result.plan


@pytest.mark.parametrize(("name", "budget", "slots"), CASES)
def test_fused_out_of_core_is_bit_exact_within_its_budget(
    name: str, budget: int, slots: int | None, device: DeviceKey, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path, graph, p = _build(name, budget, slots, device, tmp_path)
    assert p.fusion is not None and any(s.block >= 0 for s in p.steps)
    assert p.sram_bytes <= budget and (slots is None or p.slots == slots)
    streamed = [s for s in p.steps if s.repeats]
    assert bool(streamed) == (budget <= STREAMING)
    if streamed:  # each piece read once per row its node makes, every strip
        assert p.restream_bytes_per_inference > 0
        for s in streamed:
            b = p.fusion.blocks[s.block]
            nd = b.node_of(s.op)  # once per call: per row, or per row group
            assert s.repeats == (nd.loads or nd.computed) * b.strips > 1
    with pytest.raises(BudgetError) as per_layer:
        plan(
            graph, PlanRequest(budget=budget, flash=FLASH, mcu=M4)
        )  # per layer, this budget cannot be met
    assert per_layer.value.minimum is not None and per_layer.value.minimum > budget
    samples = [random_inputs(graph, seed) for seed in (1, 2)]
    ref = run_tflm_many(path.read_bytes(), samples)
    got = run_build(tmp_path, graph, device, samples, sanitize=slots == 2)  # ASan/UBSan: 2 slots
    for r, g in zip(ref, got.outputs, strict=True):
        for a, b in zip(r.outputs, g, strict=True):
            assert np.array_equal(a, b)
    rep = got.report
    assert rep["flash_read_bytes"] == p.flash_read_bytes_per_inference  # per inference
    assert rep["flash_read_commands"] == p.flash_read_commands_per_inference
    if slots != 2:  # ASan's stack redzones inflate the painted stack of the sanitized runs
        assert rep["sram_high_water_bytes"] <= p.sram_bytes


def test_fused_out_of_core_on_the_cortex_m4(device: DeviceKey, tmp_path: Path) -> None:
    path, graph, p = _build("vww_96_int8.tflite", 32 * KIB, 2, device, tmp_path)
    x = random_inputs(graph, 5)
    (ref,) = run_tflm_many(path.read_bytes(), [x])
    got = run_build_m4(tmp_path, graph, device, [x])
    for a, b in zip(ref.outputs, got.outputs[0], strict=True):
        assert np.array_equal(a, b)
    rep = got.report
    assert rep["sram_budget_bytes"] == p.sram_bytes  # linked into the plan's SRAM
    assert rep["sram_high_water_bytes"] <= p.sram_bytes
    assert rep["flash_read_bytes"] == p.flash_read_bytes_per_inference


@pytest.mark.parametrize("streamed", [False, True])
def test_a_bit_flipped_in_a_fused_blocks_weights_is_refused(
    streamed: bool, device: DeviceKey, tmp_path: Path
) -> None:
    budget = 16 * KIB if streamed else 24 * KIB
    _, graph, p = _build("vww_96_int8.tflite", budget, None, device, tmp_path)
    if streamed:  # the last piece of a streamed operator, read again for every row
        step = [s for s in p.steps if s.repeats][-1]
    else:
        step = next(s for s in p.steps if s.block >= 0 and len(s.pieces) > 1)
    manifest = json.loads((tmp_path / "image" / "manifest.json").read_text())
    chunk = manifest["chunks"][step.first_chunk + len(step.pieces) - 1]  # its last operator's
    flash = bytearray((tmp_path / "flash.bin").read_bytes())
    flash[chunk["flash_offset"] + chunk["length"] // 2] ^= 0x04
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(flash))
    good = tmp_path / "flash.bin"
    good.rename(tmp_path / "good.bin")
    bad.rename(good)
    with pytest.raises(AuthenticationError, match="refused at invoke"):
        run_build(tmp_path, graph, device, [random_inputs(graph, 0)])


def test_cli_plan_and_build_fused_out_of_core(device: DeviceKey, tmp_path: Path) -> None:
    model = str(shared_model("vww_96_int8.tflite"))
    r = _ooc("plan", model, "--sram", "24KiB", "--fuse", "--out-of-core", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["sram_bytes"] <= 24 * KIB and j["fused"]["blocks"] >= 1
    assert any(
        s["fused_block"] is not None and s["ops"][1] - s["ops"][0] > 1 for s in j["schedule"]
    )
    r = _ooc("plan", model, "--sram", "8KiB", "--fuse", "--out-of-core")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "needs" in lines[0] and "8.0 KiB" in lines[0]
    # one planner: no flag fuses where layer by layer does not fit, and says why
    r = _ooc("plan", model, "--sram", "24KiB")
    assert r.returncode == 0, r.stderr
    assert "techniques: " in r.stdout and "chosen because layer by layer needs" in r.stdout
    r = _ooc("plan", model, "--sram", "24KiB", "--no-fuse")
    assert r.returncode == 2 and "needs at least" in r.stderr
    r = _ooc("plan", model, "--sram", "24KiB", "--max-mac-overhead", "1.0", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fused"]["mac_overhead"] == 1.0
    (tmp_path / "dev.key").write_bytes(device.to_bytes())
    (tmp_path / "dev.key").chmod(0o600)
    r = _ooc("build", model, "--sram", "24KiB", "--fuse", "--device-key", str(tmp_path / "dev.key"),
             "-o", str(tmp_path / "out"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "fused activations:" in r.stdout
    assert json.loads((tmp_path / "out" / "build.json").read_text())["fused"] is True


def test_build_fuses_by_itself_when_per_layer_does_not_fit(
    device: DeviceKey, tmp_path: Path
) -> None:
    """No flag: layer by layer where it fits, fused where it does not; --no-fuse restricts."""
    model = shared_model("kws_ref_model.tflite")
    key = tmp_path / "dev.key"
    key.write_bytes(device.to_bytes())
    key.chmod(0o600)
    r = _ooc("build", str(model), "--sram", "12KiB", "--no-fuse", "--device-key", str(key),
             "-o", str(tmp_path / "no"))  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "needs at least 20.8 KiB" in lines[-1], r.stderr
    r = _ooc("build", str(model), "--sram", "12KiB", "--device-key", str(key),
             "-o", str(tmp_path / "auto"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "fused activations chosen" in r.stderr
    assert json.loads((tmp_path / "auto" / "build.json").read_text())["fused"] is True
    r = _ooc("build", str(model), "--sram", "64KiB", "--device-key", str(key),
             "-o", str(tmp_path / "fits"))  # fmt: skip
    assert r.returncode == 0 and "fused activations chosen" not in r.stderr, r.stderr
    assert json.loads((tmp_path / "fits" / "build.json").read_text())["fused"] is False
    graph = load_model(model)
    x = random_inputs(graph, 4)
    got = run_build(tmp_path / "auto", graph, device, [x])
    want = run_tflm(model, x)
    for a, b in zip(got.outputs[0], want.outputs, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_row_elementwise_operators_fused_out_of_core(device: DeviceKey, tmp_path: Path) -> None:
    """Binary operators with operands broadcast from constants in the image's chunks and from a
    gate made before the block, unary activations, a float32 input quantized a row at a time
    and float32 outputs written a row at a time: fused, out of core, bit-exact on the host
    under the sanitizers and on the Cortex-M4."""
    data = float_io_model(5)
    graph = parse_model(data, "float_io")
    with pytest.raises(BudgetError) as per_layer:
        plan(graph, PlanRequest(budget=1 * KIB, flash=FLASH, mcu=M4))
    assert per_layer.value.minimum is not None  # fused, below what per-layer needs:
    request = PlanRequest(budget=per_layer.value.minimum - 1, flash=FLASH, mcu=M4, fuse=True)
    p = plan(graph, request)
    assert p.fusion is not None
    fused = {
        graph.operators[j].op_type
        for b in p.fusion.blocks
        if b.fused
        for j in range(b.first, b.last)
    }
    assert {"QUANTIZE", "MUL", "SUB", "MAXIMUM", "RELU", "DEQUANTIZE"} <= fused, fused
    build(graph, data, tmp_path, device, BuildRequest(request))
    samples = [random_inputs(graph, seed) for seed in (1, 2)]
    ref = run_tflm_many(data, samples)
    got = run_build(tmp_path, graph, device, samples, sanitize=True)
    for r, g in zip(ref, got.outputs, strict=True):
        for a, b in zip(r.outputs, g, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert got.report["flash_read_bytes"] == p.flash_read_bytes_per_inference
    m4 = run_build_m4(tmp_path, graph, device, samples[:1])
    for a, b in zip(ref[0].outputs, m4.outputs[0], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert m4.report["sram_high_water_bytes"] <= p.sram_bytes


def test_a_squeeze_excitation_tensor_spills_and_the_floor_is_named(
    device: DeviceKey, tmp_path: Path
) -> None:
    """The gated tensor of a squeeze-and-excitation block is read twice (its MEAN, then the MUL
    that applies the gate): below what holding it whole needs, the search spills it to the
    flash ring and reads it back for each; bit-exact under the sanitizers. Below the floor,
    one line names the floor (which then fits) and the operator that sets it."""
    data = se_model(48)
    graph = parse_model(data, "se")
    gated_input = graph.tensors[graph.operators[7].inputs[0]]
    budget = 32 * KIB
    assert gated_input.nbytes > budget
    request = PlanRequest(budget=budget, flash=FLASH, mcu=M4)
    b = build(graph, data, tmp_path / "b", device, BuildRequest(request, auto_fuse=True))
    assert b.plan.fusion is not None
    assert [graph.tensors[sp.tensor].name for sp in b.plan.fusion.spills] == [gated_input.name]
    assert b.plan.per_layer_minimum is not None and b.plan.per_layer_minimum > budget
    assert b.plan.techniques()["spilled_tensors"] == 1
    with pytest.raises(BudgetError):  # --no-spill: held whole, it does not fit
        plan(graph, replace(request, fuse=True, spill=False))
    samples = [random_inputs(graph, seed) for seed in (1, 2)]
    ref = run_tflm_many(data, samples)
    got = run_build(tmp_path / "b", graph, device, samples, sanitize=True)
    for r, g in zip(ref, got.outputs, strict=True):
        assert np.array_equal(r.outputs[0], g[0])
    model = tmp_path / "se.tflite"
    model.write_bytes(data)
    key = tmp_path / "dev.key"
    key.write_bytes(device.to_bytes())
    key.chmod(0o600)
    r = _ooc("build", str(model), "--sram", "16KiB", "--device-key", str(key),
             "-o", str(tmp_path / "low"))  # fmt: skip
    last = r.stderr.strip().splitlines()[-1]  # after the progress lines
    assert r.returncode == 2 and last.startswith("ooc: error: ") and "Traceback" not in r.stderr
    floor = re.search(r"needs [\d.]+ KiB, (\d+) bytes, set by operator (\d+) \((\w+)", last)
    assert floor is not None, last
    assert not (tmp_path / "low").exists()
    fits = plan(graph, PlanRequest(budget=int(floor.group(1)), flash=FLASH, mcu=M4, fuse=True))
    assert fits.sram_bytes <= int(floor.group(1))


@pytest.mark.parametrize("which", ["branchy", "upsample"])
def test_branches_and_upsampling_fused_out_of_core(
    which: str, device: DeviceKey, tmp_path: Path
) -> None:
    """The inception-like block and the two-scale head out of core, below what layer by layer
    needs: branches, concatenations and nearest upsampling fused, the weights paged, every
    output bit-exact on the host."""
    data = branchy_model(32, 2) if which == "branchy" else two_scale_model(48, 2)
    graph = parse_model(data, which)
    with pytest.raises(BudgetError) as per_layer:
        plan(graph, PlanRequest(budget=1 * KIB, flash=FLASH, mcu=M4))
    assert per_layer.value.minimum is not None
    request = PlanRequest(budget=per_layer.value.minimum - 4 * KIB, flash=FLASH, mcu=M4)
    b = build(graph, data, tmp_path, device, BuildRequest(request, auto_fuse=True))
    assert b.plan.fusion is not None and b.plan.sram_bytes <= request.budget
    samples = [random_inputs(graph, seed) for seed in (1, 2)]
    ref = run_tflm_many(data, samples)
    got = run_build(tmp_path, graph, device, samples)
    for r, g in zip(ref, got.outputs, strict=True):
        for a, o in zip(r.outputs, g, strict=True):
            assert np.array_equal(a, o)
    assert got.report["sram_high_water_bytes"] <= b.plan.sram_bytes


def test_row_groups_read_streamed_pieces_once_per_group(device: DeviceKey, tmp_path: Path) -> None:
    """vww at 18 KiB re-streams convolutions inside fused blocks; where the arena has room, a
    streamed node makes several rows per read of its pieces (ooc_node_t.rows_per_load): fewer
    flash bytes than a row at a time, bit-exact on the host (ASan/UBSan) and on the M4."""
    budget = 18 * KIB
    path, graph, p = _build("vww_96_int8.tflite", budget, None, device, tmp_path)
    assert p.fusion is not None and p.sram_bytes <= budget and not p.fusion.spills
    grouped = [(b, nd) for b in p.fusion.blocks for nd in b.nodes if nd.rows_per_load > 1]
    assert grouped
    for b, nd in grouped:
        assert nd.op in b.streamed and nd.loads == -(-nd.computed // nd.rows_per_load)
        reads = [s.repeats for s in p.steps if s.repeats and s.op == nd.op]
        assert reads and all(r == nd.loads * b.strips < nd.computed * b.strips for r in reads)
    samples = [random_inputs(graph, seed) for seed in (3, 4)]
    ref = run_tflm_many(path.read_bytes(), samples)
    got = run_build(tmp_path, graph, device, samples, sanitize=True)
    m4 = run_build_m4(tmp_path, graph, device, samples[:1])
    for r, g in zip(ref, got.outputs, strict=True):
        for a, b in zip(r.outputs, g, strict=True):
            assert np.array_equal(a, b)
    for a, b in zip(ref[0].outputs, m4.outputs[0], strict=True):
        assert np.array_equal(a, b)
    for rep in (got.report, m4.report):
        assert rep["flash_read_bytes"] == p.flash_read_bytes_per_inference
        assert rep["flash_read_commands"] == p.flash_read_commands_per_inference


def test_row_groups_may_run_a_block_at_another_strip_count(
    device: DeviceKey, tmp_path: Path
) -> None:
    """vww at 20 KiB: a streaming block run at another of its strip counts leaves room for a
    larger row group (fusion/groups.py, the second pass), so the plan reads fewer flash bytes
    than the fastest plan it started from; bit-exact on the host, its flash bytes the plan's."""
    from ooc_sdk.plan.fused import FusedPlanner

    budget = 20 * KIB
    path = shared_model("vww_96_int8.tflite")
    graph = load_model(path)
    planner = FusedPlanner(graph, PlanRequest(budget=budget, flash=FLASH, mcu=M4, fuse=True))
    p = planner.run()
    assert p.fusion is not None and p.sram_bytes <= budget

    def grouped(b) -> bool:  # type: ignore[no-untyped-def]
        return any(nd.rows_per_load > 1 for nd in b.nodes)

    bases = [(sec, q) for sec, q in planner.found if q.fusion is not None
             and q.restream_bytes_per_inference
             and not any(grouped(b) for b in q.fusion.blocks)]  # fmt: skip
    base = min(bases, key=lambda sq: sq[0])[1]
    assert base.fusion is not None
    strips = {(b.first, b.last): b.strips for b in base.fusion.blocks if b.fused}
    changed = [b for b in p.fusion.blocks
               if (b.first, b.last) in strips and b.strips != strips[(b.first, b.last)]]  # fmt: skip
    assert changed and all(grouped(b) for b in changed)
    assert p.flash_read_bytes_per_inference < base.flash_read_bytes_per_inference
    _, _, built = _build("vww_96_int8.tflite", budget, None, device, tmp_path)
    assert built.plan_id == p.plan_id  # the same plan through build()
    samples = [random_inputs(graph, 5)]
    got = run_build(tmp_path, graph, device, samples)
    for a, b in zip(run_tflm(path.read_bytes(), samples[0]).outputs, got.outputs[0], strict=True):
        assert np.array_equal(a, b)
    assert got.report["flash_read_bytes"] == p.flash_read_bytes_per_inference
