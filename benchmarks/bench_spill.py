"""Activation spill economy: bytes programmed per inference against a naive out-of-core plan.

For each (model, --sram) the planner can only meet by spilling activations to the flash scratch
ring, this builds the plan (`ooc build --fuse` with the out-of-core planner), runs one sample on
the host emulator (bit-exact check against tflite-micro, and the emulator's program and erase
counters against the plan's prediction), and compares the plan's spill traffic with the naive
approach of the swapping research prototypes: every operator's output written to the same ring
(whole tensors, split into records of at most a record's payload), at the same budget. Both
figures come from the same ring model (ooc_sdk/plan/spill.py: cycle averages from a blank
ring), so the ratio compares like with like. Also: the plan's lifetime at 1 inference per second
on its scratch partition, and the latency estimate.

Then the fault campaigns of issue 8 on ResNet-8 at 12 KiB through the whole runtime
(ooc_sdk/run/campaign.py): --inferences (10,000) inferences over three boots with every
inference's flash counters against the ring model, the scratch sectors' erase max/mean and the
nonce log's reused counter blocks; 1,000 bit flips and 100 replays between a spill's write and
its read-back; power cut at every program and erase of one inference. Prints two tables and
writes benchmarks/results/spill.json.

    python benchmarks/bench_spill.py [--cases mobilenet_v2_quantized_1x3x224x224.tflite:64,...]
                                     [--inferences 10000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.image.keys import generate
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan import spill as ring
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run import campaign as spill_campaign
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build
from ooc_sdk.targets import load_flash, load_mcu

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
DEFAULT = [
    ("mobilenet_v2_quantized_1x3x224x224.tflite", 64),
    ("mobilenet_v2_quantized_1x3x224x224.tflite", 32),
    ("pretrainedResnet_quant.tflite", 12),
]
FLASH = load_flash("w25q128jv")
MCU = load_mcu("cortex-m4")
SECONDS_PER_YEAR = 365.25 * 24 * 3600


def naive_lens(graph: Graph) -> list[int]:
    """Record payloads per inference when every operator's output goes to flash: each tensor
    whole, cut into records of at most a sector's payload (outputs and RESHAPE aliases stay)."""
    payload = ring.max_payload(FLASH.sector_bytes)
    lens: list[int] = []
    for op in graph.operators:
        t = op.outputs[0]
        if t in graph.outputs or op.op_type == "RESHAPE":
            continue
        n = graph.tensors[t].nbytes
        lens += [payload] * (n // payload) + ([n % payload] if n % payload else [])
    return lens


def measure(name: str, kib: int) -> dict[str, Any]:
    path = MODELS / name
    graph = load_model(path)
    device = generate(bytes.fromhex("be0cbe0c" * 4), 32)
    with tempfile.TemporaryDirectory(prefix="ooc-bench-spill-") as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        p = build(
            graph,
            path.read_bytes(),
            out,
            device,
            BuildRequest(PlanRequest(budget=kib * 1024, flash=FLASH, mcu=MCU, fuse=True)),
        ).plan
        build_s = time.perf_counter() - t0
        sp = p.spill  # None: the budget is met without spilling (then nothing is programmed)
        assert p.fusion is not None, f"{name} at {kib} KiB has no fused schedule"
        sample = [random_inputs(graph, 7)]
        (ref,) = run_tflm_many(path.read_bytes(), sample)
        got = run_build(out, graph, device, sample)
    exact = all(np.array_equal(a, b) for a, b in zip(ref.outputs, got.outputs[0], strict=True))
    # the runner reports its last inference, the second on a blank ring (the first sample runs
    # twice), predicted from the mount's first write position
    _, pos = ring.predict(FLASH.page_bytes, FLASH.sector_bytes, ring.FIRST_POSITION,
                          p.fusion.spill_lens)  # fmt: skip
    cost, _ = ring.predict(FLASH.page_bytes, FLASH.sector_bytes, pos, p.fusion.spill_lens)
    rep = got.report
    naive = ring.forecast(FLASH.page_bytes, FLASH.sector_bytes, naive_lens(graph))
    sectors = p.scratch_bytes // FLASH.sector_bytes
    life = sp.lifetime_inferences(sectors, FLASH.endurance_cycles) if sp else None
    programmed = sp.bytes_programmed if sp else 0.0
    return {
        "model": name,
        "sram_budget_bytes": kib * 1024,
        "sram_bytes": p.sram_bytes,
        "bit_exact": exact,
        "spilled_tensors": len(p.fusion.spills),
        "program_bytes_per_inference": programmed,
        "erases_per_inference": sp.erases if sp else 0.0,
        "worst_program_bytes": sp.worst.bytes_programmed if sp else 0,
        "measured_program_bytes": rep["flash_program_bytes"],
        "measured_erases": rep["erases"],
        "predicted_program_bytes": cost.bytes_programmed,
        "predicted_erases": cost.erases,
        "measured_equals_prediction": rep["flash_program_bytes"] == cost.bytes_programmed
        and rep["erases"] == cost.erases
        and rep["page_programs"] == cost.page_programs,
        "naive_program_bytes_per_inference": naive.bytes_programmed,
        "naive_erases_per_inference": naive.erases,
        # None: the plan programs nothing (no spill needed), the naive plan still would
        "ratio_program_bytes": naive.bytes_programmed / programmed if programmed else None,
        "scratch_bytes": p.scratch_bytes,
        "lifetime_inferences": life,  # None: unlimited by wear
        "lifetime_days_at_1hz": life / 86400 if life is not None else None,
        "flash_read_bytes_per_inference": p.flash_read_bytes_per_inference,
        "restream_bytes_per_inference": p.restream_bytes_per_inference,
        "estimated_latency_s": p.estimates["plan"].seconds,
        "latency_ratio": p.estimates["plan"].ratio,
        "build_seconds": round(build_s, 1),
    }


def campaigns(name: str, kib: int, inferences: int) -> dict[str, Any]:
    path = MODELS / name
    graph = load_model(path)
    device = generate(bytes.fromhex("ca3ba165" * 4), 32)
    with tempfile.TemporaryDirectory(prefix="ooc-bench-campaign-") as tmp:
        out = Path(tmp)
        p = build(
            graph,
            path.read_bytes(),
            out,
            device,
            BuildRequest(PlanRequest(budget=kib * 1024, flash=FLASH, mcu=MCU, fuse=True)),
        ).plan
        assert p.fusion is not None and p.spill is not None, f"{name} at {kib} KiB does not spill"
        sample = random_inputs(graph, 5)
        (ref,) = run_tflm_many(path.read_bytes(), [sample])
        args = (out, graph, device, sample, ref.outputs)
        t0 = time.perf_counter()
        end = spill_campaign.endurance(*args, inferences=inferences, boots=3)
        endurance_s = time.perf_counter() - t0
        tamper = spill_campaign.tamper(*args, flips=1000, replays=100, seed=8)
        cut = spill_campaign.powercut(*args)
    mismatched = 0
    for boot, first, last in zip(end.report["boots"],
                                 [b["first_inference"] for b in end.report["boots"]],
                                 [b["first_inference"] for b in end.report["boots"][1:]] + [inferences],
                                 strict=True):  # fmt: skip
        pos = boot["position"]
        for i in range(first, last):
            cost, pos = ring.predict(FLASH.page_bytes, FLASH.sector_bytes, pos, p.fusion.spill_lens)
            mismatched += tuple(end.counters[i]) != (cost.bytes_programmed, cost.page_programs,
                                                     cost.erases)  # fmt: skip
    counts = np.array(end.report["scratch_erase_counts"], dtype=float)
    return {
        "model": name,
        "sram_budget_bytes": kib * 1024,
        "inferences": end.report["inferences"],
        "boots": [b["boot"] for b in end.report["boots"]],
        "wrong_outputs": end.report["wrong_outputs"],
        "inferences_not_as_predicted": mismatched,
        "program_bytes_total": int(end.counters[:, 0].sum()),
        "erases_total": int(end.counters[:, 2].sum()),
        "scratch_sectors": len(counts),
        "erase_count_max_over_mean": float(counts.max() / counts.mean()),
        "erase_count_min_max": [int(counts.min()), int(counts.max())],
        "nonce_log_entries": len(end.nonces),
        "reused_counter_blocks": spill_campaign.overlapping_keystream(end.nonces),
        "endurance_seconds": round(endurance_s, 1),
        "tamper": tamper,
        "powercut": cut,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", help="comma-separated MODEL:KIB (default: MobileNetV2 at 64 and "
                    "32 KiB, ResNet-8 at 12 KiB)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "spill.json")
    ap.add_argument("--inferences", type=int, default=10_000,
                    help="inferences of the endurance campaign (0: no campaigns)")  # fmt: skip
    args = ap.parse_args()
    cases = DEFAULT
    if args.cases:
        cases = [(c.rsplit(":", 1)[0], int(c.rsplit(":", 1)[1])) for c in args.cases.split(",")]
    rows = []
    print(f"{'model':<42} {'KiB':>4} {'exact':>5} {'prog B/inf':>11} {'erases':>7} "
          f"{'naive B/inf':>12} {'ratio':>6} {'days@1Hz':>9} {'lat x':>6}")  # fmt: skip
    for name, kib in cases:
        r = measure(name, kib)
        rows.append(r)
        ratio = (
            f"{r['ratio_program_bytes']:>5.1f}x" if r["ratio_program_bytes"] else f"{'no spill':>6}"
        )
        days = (
            f"{r['lifetime_days_at_1hz']:>9.1f}"
            if r["lifetime_days_at_1hz"] is not None
            else f"{'no wear':>9}"
        )
        print(f"{name:<42} {kib:>4} {r['bit_exact']!s:>5} "
              f"{r['program_bytes_per_inference']:>11,.0f} {r['erases_per_inference']:>7.2f} "
              f"{r['naive_program_bytes_per_inference']:>12,.0f} {ratio} {days} "
              f"{r['latency_ratio']:>6.2f}", flush=True)  # fmt: skip
    camp = None
    if args.inferences > 0:
        camp = campaigns("pretrainedResnet_quant.tflite", 12, args.inferences)
        t, c = camp["tamper"], camp["powercut"]
        print(f"\ncampaigns, {camp['model']} at {camp['sram_budget_bytes'] // 1024} KiB:")
        print(
            f"  {camp['inferences']:,} inferences over boots {camp['boots']}: "
            f"{camp['wrong_outputs']} wrong, {camp['inferences_not_as_predicted']} not as "
            f"predicted, scratch erase max/mean {camp['erase_count_max_over_mean']:.4f} over "
            f"{camp['scratch_sectors']} sectors {camp['erase_count_min_max']}, "
            f"{camp['nonce_log_entries']:,} encryptions logged, "
            f"{camp['reused_counter_blocks']} reused counter blocks"
        )
        print(
            f"  tamper: {t['flips_detected']}/{t['flips']} flips and "
            f"{t['replays_detected']}/{t['replays']} replays detected, clean after: "
            f"{t['clean_after']}"
        )
        print(f"  power cut at each of {c['trials']} operations: {c['cut_inferences_failed']}/"
              f"{c['cuts']} cut inferences failed, {c['next_inferences_right']} next inferences "
              f"right, {c['mounts_that_recovered']} mounts recovered a cut write")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"flash": FLASH.name, "mcu": MCU.name, "cases": rows,
                                    "campaigns": camp}, indent=1) + "\n")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
