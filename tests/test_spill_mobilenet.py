"""MobileNetV2 224 in 64 KiB and 32 KiB of SRAM (issue 8's acceptance, on the host emulator and
under QEMU): fused activations and weights paged and re-streamed inside fused blocks; at 32 KiB
activations spilled to the flash scratch ring too. (At 64 KiB the plan has needed no spill
since the arena placement reaches its lower bound: 65,536 bytes without one.) Bit-exact with
tflite-micro on both; the emulator's flash traffic (bytes programmed, page programs, erases,
bytes read, read commands) equal to the plan's prediction, and the same on the M4; SRAM
high-water within the plan. The plans take minutes to search, so each budget is built once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.image.keys import generate
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan import spill as ring
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu

KIB = 1024
FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
MODEL = "mobilenet_v2_quantized_1x3x224x224.tflite"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> tuple[Path, Any, list[Any]]:
    path = shared_model(MODEL)
    graph = load_model(path)
    samples = [random_inputs(graph, 21)]
    return path, graph, run_tflm_many(path.read_bytes(), samples)


@pytest.mark.parametrize("kib", [64, 32])
def test_mobilenet_v2_in_64_and_32_kib_is_bit_exact(
    kib: int, model: tuple[Path, Any, list[Any]], tmp_path: Path
) -> None:
    path, graph, ref = model
    device = generate(bytes.fromhex("0b11e7ed" * 4), 32)
    p = build(
        graph,
        path.read_bytes(),
        tmp_path,
        device,
        BuildRequest(PlanRequest(budget=kib * KIB, flash=FLASH, mcu=M4, fuse=True)),
    ).plan
    assert p.sram_bytes <= kib * KIB
    assert p.fusion is not None and p.restream_bytes_per_inference > 0
    # 64 KiB fits with fusion and re-streamed weights alone; 32 KiB must spill
    assert bool(p.fusion.spills) is (kib == 32)
    lens = p.fusion.spill_lens

    samples = [random_inputs(graph, 21)]
    blank = tmp_path / "flash-m4.bin"  # the host run leaves its ring in OUT/flash.bin
    shutil.copyfile(tmp_path / "flash.bin", blank)
    got = run_build(tmp_path, graph, device, samples)
    for a, b in zip(ref[0].outputs, got.outputs[0], strict=True):
        assert np.array_equal(a, b)

    rep = got.report
    # the runner reports its last inference, the second on a blank ring (the first sample runs
    # twice): the ring model from the mount's first write position predicts it exactly
    _, pos = ring.predict(FLASH.page_bytes, 4096, ring.FIRST_POSITION, lens)
    cost, _ = ring.predict(FLASH.page_bytes, 4096, pos, lens)
    assert (cost.bytes_programmed > 0) is (kib == 32)
    assert rep["flash_program_bytes"] == cost.bytes_programmed
    assert rep["page_programs"] == cost.page_programs
    assert rep["erases"] == cost.erases
    read_bytes, read_cmds = p.spill_read
    # weights (re-streamed ones once per row), the spills read back, two sector headers per
    # sector the ring opens
    assert rep["flash_read_bytes"] == (
        p.flash_read_bytes_per_inference + read_bytes + 64 * cost.erases
    )
    assert rep["flash_read_commands"] == (
        p.flash_read_commands_per_inference + read_cmds + 2 * cost.erases
    )
    assert rep["sram_high_water_bytes"] <= p.sram_bytes

    # the Cortex-M4 under QEMU (about 7 billion instructions, half a minute or so): the
    # firmware linked into the plan's SRAM, bit-exact, and the same flash traffic on a blank ring
    m4 = run_build_m4(tmp_path, graph, device, samples, flash_file=blank, timeout=900)
    for a, b in zip(ref[0].outputs, m4.outputs[0], strict=True):
        assert np.array_equal(a, b)
    counters = ("flash_program_bytes", "page_programs", "erases", "flash_read_bytes",
                "flash_read_commands")  # fmt: skip
    assert {k: m4.report[k] for k in counters} == {k: rep[k] for k in counters}
    assert m4.report["sram_budget_bytes"] == p.sram_bytes
    assert m4.report["sram_high_water_bytes"] <= p.sram_bytes
    assert m4.report["spill_boot"] == (1 if lens else 0)
