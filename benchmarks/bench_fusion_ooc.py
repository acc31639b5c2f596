"""Fused activations with paged weights (`ooc build --fuse`) against per-layer out-of-core plans.

Per model: the smallest SRAM budget each kind of plan meets (per layer: the planner's stated
minimum; fused: found by bisection over budgets), and at a common budget (the per-layer
minimum, where both run) the estimated latency ratio to all-weights-in-SRAM and the flash bytes
read per inference, plus the fused planner's time. Prints a table and writes
benchmarks/results/fusion_ooc.json.

    python benchmarks/bench_fusion_ooc.py [--models a.tflite,b.tflite]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ooc_sdk.model import load_model
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError, Plan
from ooc_sdk.targets import load_flash, load_mcu

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
DEFAULT = [
    "vww_96_int8.tflite",
    "person_detect.tflite",
    "kws_ref_model.tflite",
    "pretrainedResnet_quant.tflite",
    "ad01_int8.tflite",
]
FLASH = load_flash("w25q128jv")
MCU = load_mcu("cortex-m4")
GRANULE = 256  # bisection resolution (bytes)


def _per_layer_minimum(graph: Any) -> int:
    try:
        plan(graph, PlanRequest(budget=1024, flash=FLASH, mcu=MCU))
    except BudgetError as exc:
        assert exc.minimum is not None
        return exc.minimum
    return 1024


def _fits(graph: Any, budget: int) -> Plan | None:
    try:
        return plan(graph, PlanRequest(budget=budget, flash=FLASH, mcu=MCU, fuse=True))
    except BudgetError:
        return None


def _fused_minimum(graph: Any, hi: int) -> int:
    """The smallest budget (to GRANULE) the fused planner meets, at most ``hi``."""
    lo = 1024
    while hi - lo > GRANULE:
        mid = (lo + hi) // 2
        if _fits(graph, mid) is not None:
            hi = mid
        else:
            lo = mid
    return hi


def bench(name: str) -> dict[str, Any]:
    graph = load_model(MODELS / name)
    per_layer_min = _per_layer_minimum(graph)
    t0 = time.perf_counter()
    fused_at = _fits(graph, per_layer_min)
    seconds = time.perf_counter() - t0
    assert fused_at is not None, "a fused plan can always run per layer"
    per_layer_at = plan(graph, PlanRequest(budget=per_layer_min, flash=FLASH, mcu=MCU))
    fused_min = _fused_minimum(graph, per_layer_min)
    at_min = _fits(graph, fused_min)
    assert at_min is not None
    return {
        "model": name,
        "per_layer_min_sram_bytes": per_layer_min,
        "fused_min_sram_bytes": at_min.sram_bytes,
        "min_sram_reduction": round(per_layer_min / at_min.sram_bytes, 2),
        "fused_at_min": {
            "activation_bytes": at_min.activation_bytes,
            "slot_bytes": at_min.slot_bytes,
            "slots": at_min.slots,
            "fused_blocks": sum(1 for s in at_min.steps if s.block >= 0),
            "latency_ratio": round(at_min.estimates["plan"].ratio, 4),
            "flash_read_bytes_per_inference": at_min.flash_read_bytes_per_inference,
        },
        "at_per_layer_min": {
            "per_layer_latency_ratio": round(per_layer_at.estimates["plan"].ratio, 4),
            "fused_latency_ratio": round(fused_at.estimates["plan"].ratio, 4),
            "per_layer_flash_read_bytes": per_layer_at.flash_read_bytes_per_inference,
            "fused_flash_read_bytes": fused_at.flash_read_bytes_per_inference,
        },
        "fused_planner_seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT))
    args = ap.parse_args()
    rows = [bench(m) for m in args.models.split(",")]
    head = (
        f"{'model':<32} {'per-layer min':>13} {'fused min':>10} {'x':>5} {'act':>7} "
        f"{'slot':>7} {'lat@min':>8} {'lat@pl (pl/fused)':>18} {'plan s':>7}"
    )
    print(head)
    for r in rows:
        f, c = r["fused_at_min"], r["at_per_layer_min"]
        print(
            f"{r['model']:<32} {r['per_layer_min_sram_bytes']:>13,} "
            f"{r['fused_min_sram_bytes']:>10,} {r['min_sram_reduction']:>5.2f} "
            f"{f['activation_bytes']:>7,} {f['slots']}x{f['slot_bytes']:>5,} "
            f"{f['latency_ratio']:>8.3f} "
            f"{c['per_layer_latency_ratio']:>8.3f}/{c['fused_latency_ratio']:<9.3f} "
            f"{r['fused_planner_seconds']:>7.2f}"
        )
    out = ROOT / "benchmarks" / "results" / "fusion_ooc.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"flash": FLASH.name, "mcu": MCU.name, "models": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
