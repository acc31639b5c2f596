"""Activation spill in plans (issue 8): when fusion and paged weights cannot meet --sram, the
planner spills activations to the flash scratch ring (plan/fused.py, fusion/layout.py's
spill_layout), the runtime writes them from the producing block's sink and reads them back row by
row (c_runtime/src/fused.c), and the ring's flash traffic is the plan's prediction exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ooc_sdk.build as build_module
from conftest import shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import OocError
from ooc_sdk.image.keys import DeviceKey, generate
from ooc_sdk.model import load_model, parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.model.zoo import Knobs
from ooc_sdk.model.zoo import generate as zoo
from ooc_sdk.plan import spill as ring
from ooc_sdk.plan.fused import FusedPlanner
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.fusion.search import FusionSearch
from ooc_sdk.plan.fusion.spilling import least_spilling, peak_tensors
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import SPILL_STATE_BYTES, BudgetError, Plan, estimate_all
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build
from ooc_sdk.targets import load_flash, load_mcu

KIB = 1024
FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
MODEL = "pretrainedResnet_quant.tflite"
BUDGET = 12 * KIB  # below the 12,468 bytes fused activations with paged (and re-streamed)
# weights need alone


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("5b111ed0" * 4), 32)


def test_spilling_meets_a_budget_nothing_else_meets(device: DeviceKey, tmp_path: Path) -> None:
    path = shared_model(MODEL)
    graph = load_model(path)
    with pytest.raises(BudgetError) as no_spill:
        plan(graph, PlanRequest(budget=BUDGET, flash=FLASH, mcu=M4, fuse=True, spill=False))
    assert no_spill.value.minimum is not None and no_spill.value.minimum > BUDGET
    result = build(
        graph,
        path.read_bytes(),
        tmp_path,
        device,
        BuildRequest(PlanRequest(budget=BUDGET, flash=FLASH, mcu=M4, fuse=True)),
    )
    p = result.plan
    assert p.sram_bytes <= BUDGET and p.fusion is not None and p.fusion.spills
    sp = p.spill
    assert sp is not None and sp.records == len(p.fusion.spill_lens)
    assert all(n <= ring.max_payload(4096) for n in p.fusion.spill_lens)

    samples = [random_inputs(graph, seed) for seed in (11, 12, 13)]
    ref = run_tflm_many(path.read_bytes(), samples)
    got = run_build(tmp_path, graph, device, samples, sanitize=True)  # ASan/UBSan
    for r, g in zip(ref, got.outputs, strict=True):
        for a, b in zip(r.outputs, g, strict=True):
            assert np.array_equal(a, b)

    # The runner's last inference is the 4th on a blank ring (the first sample runs twice):
    # the ring model from the mount's write position predicts its traffic exactly.
    pos = ring.FIRST_POSITION
    for _ in range(len(samples)):
        _, pos = ring.predict(FLASH.page_bytes, 4096, pos, p.fusion.spill_lens)
    cost, _ = ring.predict(FLASH.page_bytes, 4096, pos, p.fusion.spill_lens)
    rep = got.report
    assert rep["flash_program_bytes"] == cost.bytes_programmed
    assert rep["page_programs"] == cost.page_programs
    assert rep["erases"] == cost.erases
    read_bytes, read_cmds = p.spill_read
    # every sector the ring opens reads two 32-byte sector headers
    assert (
        rep["flash_read_bytes"] == p.flash_read_bytes_per_inference + read_bytes + 64 * cost.erases
    )
    assert rep["flash_read_commands"] == (
        p.flash_read_commands_per_inference + read_cmds + 2 * cost.erases
    )
    # the scratch partition holds one inference's spills without wrapping onto them
    assert p.scratch_bytes // 4096 >= sp.sectors_needed >= cost.sectors_spanned


def test_ring_forecast_cycle_and_worst_case() -> None:
    # docs/spill.md's worked example: 1500, 1500, 700 and 333 bytes on 8 x 4 KiB, 256-byte pages
    lens = [1500, 1500, 700, 333]
    _, costs = ring.cycle(256, 4096, 4096, lens)
    assert sorted((c.bytes_programmed, c.page_programs, c.erases) for c in costs) == [
        (4265, 22, 1), (4265, 22, 1), (4305, 24, 2)
    ]  # fmt: skip
    f = ring.forecast(256, 4096, lens)
    assert (f.worst.bytes_programmed, f.worst.page_programs, f.worst.erases) == (4305, 24, 2)
    assert f.ring_bytes == 4240 and f.sectors_needed == 3
    with pytest.raises(ValueError, match="does not fit"):
        ring.predict(256, 4096, 32, [4017])


def test_spilling_build_stays_in_its_sram(device: DeviceKey, tmp_path: Path) -> None:
    """Measured without sanitizers (they grow the stack): arena written, stack, runtime, image
    and spill ring state, within the plan's SRAM."""
    path = shared_model(MODEL)
    graph = load_model(path)
    p = build(
        graph,
        path.read_bytes(),
        tmp_path,
        device,
        BuildRequest(PlanRequest(budget=BUDGET, flash=FLASH, mcu=M4, fuse=True)),
    ).plan
    got = run_build(tmp_path, graph, device, [random_inputs(graph, 21)])
    assert got.report["flash_program_bytes"] > 0
    assert got.report["sram_high_water_bytes"] <= p.sram_bytes <= BUDGET


def test_build_scratch_option_sizes_the_ring(
    device: DeviceKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ooc build --scratch SIZE` sets the scratch partition (the ring's life grows with it):
    the image's partition, plan.json and the lifetime follow it; a size below one inference's
    spills names the minimum, one that is not a sector multiple is refused, both exit 2."""
    import json

    from ooc_sdk.cli import main
    from ooc_sdk.formats import image as fmt
    from ooc_sdk.image.keys import write_key_file
    from ooc_sdk.image.reader import parse_image

    key = tmp_path / "dev.key"
    write_key_file(key, device)
    model = str(shared_model(MODEL))
    common = ["build", model, "--sram", "12KiB", "--fuse", "--device-key", str(key)]
    out = tmp_path / "big"
    assert main([*common, "-o", str(out), "--scratch", "1MiB"]) == 0
    capsys.readouterr()
    plan_json = json.loads((out / "plan.json").read_text())
    image = parse_image((out / "image" / "image.bin").read_bytes())
    scratch = [n for kind, _, n in image.partitions if kind == fmt.PART_SCRATCH]
    assert scratch == [1 << 20]
    sp = plan_json["spill"]
    assert sp["scratch_bytes"] == 1 << 20
    # 256 sectors at the ring's cycle average of erases per inference
    assert sp["lifetime_inferences"] == pytest.approx(
        256 * FLASH.endurance_cycles / sp["erases_per_inference"], rel=1e-3
    )

    code = main([*common, "-o", str(tmp_path / "small"), "--scratch", "8KiB"])
    err = capsys.readouterr().err
    assert code == 2 and "--scratch 8,192 bytes is too small" in err
    assert f"the minimum is {sp['scratch_sectors_needed'] * 4096:,} bytes" in err
    code = main([*common, "-o", str(tmp_path / "odd"), "--scratch", "24000"])
    err = capsys.readouterr().err
    assert code == 2 and "multiple of the 4.0 KiB erase sector" in err
    assert "Traceback" not in err


def test_the_spill_ring_takes_its_sector_from_the_flash_profile(
    device: DeviceKey, tmp_path: Path
) -> None:
    """A flash with 8 KiB erase sectors: the plan, its tables and the ring use 8 KiB sectors
    (nothing assumes 4 KiB), the build runs bit-exact, and a runner told another geometry than
    the image's is refused before anything runs."""
    import json

    profile = tmp_path / "w25q-8k.json"
    profile.write_text(json.dumps({"base": "w25q128jv", "sector_bytes": 8192}))
    flash8 = load_flash(str(profile))
    path = shared_model(MODEL)
    graph = load_model(path)
    out = tmp_path / "out"
    req = PlanRequest(budget=BUDGET, flash=flash8, mcu=M4, fuse=True)
    p = build(graph, path.read_bytes(), out, device, BuildRequest(req)).plan
    assert p.spill is not None and p.to_json()["spill"]["sector_bytes"] == 8192
    assert p.scratch_bytes % 8192 == 0 and p.scratch_minimum == p.spill.sectors_needed * 8192
    assert all(n <= ring.max_payload(8192) for n in p.fusion.spill_lens)
    tables = (out / "c" / f"ooc_model_{graph.name.lower()}.c").read_text()
    assert "spills" in tables and ", 8192u, spills" in tables
    sample = random_inputs(graph, 5)
    got = run_build(out, graph, device, [sample])
    assert (
        got.outputs[0][0].tobytes()
        == run_tflm_many(path.read_bytes(), [sample])[0].outputs[0].tobytes()
    )
    info = json.loads((out / "build.json").read_text())
    info["flash"]["sector_bytes"] = 4096  # the runner's flash no longer matches the image
    (out / "build.json").write_text(json.dumps(info))
    with pytest.raises(OocError, match="not the flash profile's size"):
        run_build(out, graph, device, [sample])


def test_each_spill_round_reuses_the_candidates_it_does_not_change() -> None:
    """The spill search adds one tensor a round; a search built on the previous round's keeps
    its candidate blocks away from that tensor and must equal a search built from scratch."""
    graph = parse_model(zoo("detector", Knobs()).data, name="detector")
    sector = FLASH.sector_bytes
    prev = FusionSearch(graph, spill_sector_bytes=sector)
    spillable = [t for t in graph.activation_tensors if prev.m.spillable(t)]
    assert len(spillable) >= 4
    spilled: frozenset[int] = frozenset()
    reused = 0
    for t in spillable[:: max(1, len(spillable) // 4)][:4]:
        spilled |= {t}
        fresh = FusionSearch(graph, spilled=spilled, spill_sector_bytes=sector)
        again = FusionSearch(graph, spilled=spilled, spill_sector_bytes=sector, reuse=prev)
        assert again.cands == fresh.cands
        reused += sum(again.cands[k] is prev.cands.get(k) for k in again.cands)
        prev = again
    assert reused > 0  # the reuse happened: equal because unchanged, not rebuilt


def _following(graph: Graph, request: PlanRequest, fp: FusionPlan) -> Plan:
    """The out-of-core plan that runs fused schedule ``fp`` (one slot holding its largest fused
    block's weights), with its estimates: what a build writes."""
    planner = FusedPlanner(graph, request)
    cap = max([planner.smallest_slot] + [planner.need(b.first, b.last) for b in fp.blocks])
    planner.add(fp, 1, cap, planner.fixed + (SPILL_STATE_BYTES if fp.spills else 0))
    p = min((p for _, p in planner.found), key=lambda p: p.sram_bytes)
    estimate_all(p)
    return p


def test_spilling_lowers_the_smallest_working_sram(
    device: DeviceKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fusion/spilling.py: the min-SRAM schedule within k, whole tensors spilled where that
    lowers the working SRAM (a small inception-like net: its 16x16 stage's tensors are large
    when whole, as in the zoo's default); the plan runs bit-exact under sanitizers, its
    working SRAM measured as predicted and its SRAM within the plan."""
    data = zoo("inception", Knobs(resolution=32, width=8)).data
    graph = parse_model(data, name="inception")
    sector = FLASH.sector_bytes
    search = FusionSearch(graph, spill_sector_bytes=sector)
    base = search.plan(max_mac_overhead=1.3)
    held = peak_tensors(search, base)
    fp, used = least_spilling(search, 1.3, sector, rounds=1)
    spilled = [sp.tensor for sp in fp.spills]
    assert fp.working_sram_bytes < base.working_sram_bytes and fp.mac_overhead <= 1.3
    assert len(spilled) == 1 and spilled[0] in held and used.spilled == frozenset(spilled)
    fresh = FusionSearch(graph, spilled=frozenset(spilled), spill_sector_bytes=sector)
    assert fresh.plan(max_mac_overhead=1.3).working_sram_bytes == fp.working_sram_bytes
    request = PlanRequest(budget=None, flash=FLASH, mcu=M4, fuse=True)
    p = _following(graph, request, fp)
    monkeypatch.setattr(build_module, "plan_any", lambda _g, _r: p)
    build(graph, data, tmp_path, device, BuildRequest(request, auto_fuse=True))
    xs = [random_inputs(graph, 5)]
    got = run_build(tmp_path, graph, device, xs, sanitize=True)
    ref = run_tflm_many(data, xs)
    for a, b in zip(got.outputs[0], ref[0].outputs, strict=True):
        assert np.array_equal(a, b)
    assert got.report["flash_program_bytes"] > 0
    # the arena written (activations, then the slot) is the plan's; the stack is measured
    # without sanitizers elsewhere (they grow it)
    assert got.report["arena_high_water_bytes"] <= p.arena_bytes
