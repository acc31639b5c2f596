"""Issue 8's fault acceptance through a whole spilling build (ResNet-8 at 12 KiB: two tensors
spilled), not the ring alone: ooc_sdk.run.campaign drives the runtime on the NOR emulator.

- Endurance: inferences over three boots; every output bit-exact; each inference's bytes
  programmed, page programs and erases equal the ring model's prediction from the position the
  mount left; the scratch sectors' erase counts even; no counter block of any boot's spill key
  encrypted twice (the nonce log). The CI run is 600 inferences; benchmarks/bench_spill.py runs
  the acceptance's 10,000.
- Tamper: 1,000 random bit flips and 100 replays of older records, put on the flash between a
  spill's write and its read-back, all refused with OOC_ERR_AUTH; no wrong output, no crash.
- Power loss at every program and erase of one inference: that inference fails, the mount
  recovers the ring, and the next inference is right."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conftest import shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.image.keys import DeviceKey, generate
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan import spill as ring
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run import campaign
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.targets import load_flash, load_mcu

KIB = 1024
FLASH = load_flash("w25q128jv")
SECTOR = 4096


@pytest.fixture(scope="module")
def spilling(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = shared_model("pretrainedResnet_quant.tflite")
    graph = load_model(path)
    device: DeviceKey = generate(bytes.fromhex("ca3ba165" * 4), 32)
    out = tmp_path_factory.mktemp("resnet-spill")
    p = build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(
            PlanRequest(budget=12 * KIB, flash=FLASH, mcu=load_mcu("cortex-m4"), fuse=True)
        ),
    ).plan
    assert p.fusion is not None and p.fusion.spills
    sample = random_inputs(graph, 5)
    ref = run_tflm(path.read_bytes(), sample).outputs
    return {"out": out, "graph": graph, "device": device, "plan": p, "sample": sample, "ref": ref}


def _args(s: dict[str, Any]) -> tuple:  # type: ignore[type-arg]
    return s["out"], s["graph"], s["device"], s["sample"], s["ref"]


def test_endurance_counters_wear_and_nonces(spilling: dict[str, Any]) -> None:
    n, boots = 600, 3
    got = campaign.endurance(*_args(spilling), inferences=n, boots=boots)
    rep = got.report
    assert rep["status"] == 0 and rep["inferences"] == n and rep["wrong_outputs"] == 0
    assert got.counters.shape == (n, 3)
    # each boot takes the next number; its inferences cost what the ring model says, from the
    # write position its mount left
    lens = spilling["plan"].fusion.spill_lens
    numbers = [b["boot"] for b in rep["boots"]]  # the campaign's first mount (sizes) took one
    assert numbers == list(range(numbers[0], numbers[0] + boots))
    firsts = [b["first_inference"] for b in rep["boots"]] + [n]
    for b, boot in enumerate(rep["boots"]):
        pos = boot["position"]
        for i in range(firsts[b], firsts[b + 1]):
            cost, pos = ring.predict(FLASH.page_bytes, SECTOR, pos, lens)
            assert tuple(got.counters[i]) == (
                cost.bytes_programmed,
                cost.page_programs,
                cost.erases,
            ), i
    # wear: the ring went round its sectors many times, evenly (the mounts' boot records and the
    # partial last trip make the only difference)
    counts = np.array(rep["scratch_erase_counts"])
    erases = int(got.counters[:, 2].sum())
    assert len(counts) >= spilling["plan"].spill.sectors_needed
    assert erases >= 10 * len(counts) and counts.sum() >= erases
    assert counts.max() - counts.min() <= 1 and counts.max() / counts.mean() <= 1.05
    # nonces: every spill write logged its counter blocks; none covered twice, all this run's
    assert len(got.nonces) == rep["nonce_entries"] > 0
    assert set(np.unique(got.nonces["boot"]).tolist()) == set(numbers)
    assert campaign.overlapping_keystream(got.nonces) == 0


def test_overlap_check_finds_a_reused_counter_block() -> None:
    """The nonce check itself: ranges starting inside a longer one of the same (boot, seq) are
    found; one right after it, and other seqs and boots, are not."""
    rows = [
        (1, 0, 2, 64),
        (1, 0, 3, 16),
        (1, 0, 5, 16),
        (1, 0, 6, 16),
        (1, 1, 2, 16),
        (2, 0, 2, 16),
    ]
    a = np.array(rows, dtype=campaign.NONCE_DTYPE)
    assert campaign.overlapping_keystream(a) == 2
    assert campaign.overlapping_keystream(a[[0, 3, 4, 5]]) == 0


def test_tamper_flips_and_replays_are_all_detected(spilling: dict[str, Any]) -> None:
    rep = campaign.tamper(*_args(spilling), flips=1000, replays=100, seed=8)
    assert rep["record_reads_per_inference"] > 1
    assert rep["not_injected"] == 0
    assert rep["flips"] == rep["flips_detected"] == 1000
    assert rep["replays"] == rep["replays_detected"] == 100
    for k in ("flips", "replays"):
        assert rep[f"{k}_missed_wrong_output"] == rep[f"{k}_missed_right_output"] == 0
        assert rep[f"{k}_other_error"] == 0
    assert rep["clean_after"] is True


def test_power_loss_at_every_program_and_erase(spilling: dict[str, Any]) -> None:
    rep = campaign.powercut(*_args(spilling))
    ops = rep["operations_per_inference"]
    assert ops > 50  # ResNet-8's spills: about 100 page programs and 4 erases per inference
    assert rep["trials"] == ops
    # every cut inference fails (it loses that inference only), and the next one, after a
    # reboot, is right every time. The ring's position moves from trial to trial, so the last
    # few k may lie past an inference's operations: no cut then
    assert rep["cut_inferences_failed"] == rep["cuts"] >= ops - 5
    assert rep["next_inferences_right"] == ops and rep["next_inferences_failed"] == 0
    assert rep["mounts_that_recovered"] > 0
