"""Out-of-core flash traffic against issue 24's goals (software AES, cortex-m4 + w25q128jv).

Per case: the planner's flash bytes read per inference (`ooc plan MODEL --sram B`), the weights,
the re-read factor, the bytes the streamed operators re-read, the estimate over all-in-SRAM and
the planning seconds; with --m4, vww at 64 KiB built and run out of core on the emulated
Cortex-M4 (QEMU, DSP kernels) against its in-core run: instructions, crypto, the ratio
(goal <= 1.35), bit-exactness and the flash bytes read against the plan's. Prints a table and
writes benchmarks/results/flash_traffic.json.

    python benchmarks/bench_flash_traffic.py [--m4]
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
from ooc_sdk.plan.planner import plan_any
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.qemu import run_build_m4, run_model_m4
from ooc_sdk.targets import load_flash, load_mcu

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
FLASH, MCU = load_flash("w25q128jv"), load_mcu("cortex-m4")
KIB = 1024
# (model, budget, goal: flash bytes read per inference)
CASES = [
    ("mobilenet_v2_quantized_1x3x224x224.tflite", 64 * KIB, 15_000_000),
    ("pretrainedResnet_quant.tflite", 12 * KIB, 400_000),
]
M4_CASE = ("vww_96_int8.tflite", 64 * KIB, 1.35)  # goal: out-of-core / in-core instructions


def _model(name: str) -> Path:
    path = MODELS / name
    if not path.is_file():
        raise SystemExit(f"missing {path}: the shared models are needed")
    return path


def bench_plan(name: str, budget: int, goal: int) -> dict[str, Any]:
    """The planner's figures for one model and budget."""
    graph = load_model(_model(name))
    t0 = time.process_time()
    p = plan_any(graph, PlanRequest(budget, FLASH, MCU))
    seconds = time.process_time() - t0
    j = p.to_json()
    return {
        "model": graph.name,
        "budget_bytes": budget,
        "flash_read_bytes_per_inference": p.flash_read_bytes_per_inference,
        "weight_bytes": p.weight_bytes,
        "reread_factor": p.flash_read_bytes_per_inference / max(p.weight_bytes, 1),
        "restream_bytes_per_inference": p.restream_bytes_per_inference,
        "latency_ratio": j["latency_ratio"],
        "planner_cpu_seconds": seconds,
        "goal_bytes": goal,
        "met": p.flash_read_bytes_per_inference <= goal,
    }


def bench_m4(name: str, budget: int, goal: float) -> dict[str, Any]:
    """One model built at ``budget`` and run out of core on the M4 against its in-core run."""
    path = _model(name)
    graph = load_model(path)
    device = generate(bytes.fromhex("00f05ed0" * 4), 32)
    x = random_inputs(graph, 0)
    ref = run_tflm(path.read_bytes(), x)
    with tempfile.TemporaryDirectory(prefix="ooc-flash-") as tmp:
        out = Path(tmp) / "out"
        p = build(graph, path.read_bytes(), out, device,
                  BuildRequest(PlanRequest(budget, FLASH, MCU))).plan  # fmt: skip
        ooc = run_build_m4(out, graph, device, [x])
    inc = run_model_m4(graph, [x])
    exact = all(
        np.array_equal(a, b) and np.array_equal(a, c)
        for a, b, c in zip(ref.outputs, ooc.outputs[0], inc.outputs[0], strict=True)
    )
    o, i = ooc.report, inc.report
    return {
        "model": graph.name,
        "budget_bytes": budget,
        "in_core_instructions": i["instructions"],
        "out_of_core_instructions": o["instructions"],
        "crypto_instructions": o["crypto_instructions"],
        "ratio": o["instructions"] / i["instructions"],
        "ratio_without_crypto": (o["instructions"] - o["crypto_instructions"]) / i["instructions"],
        "crypto_instructions_per_byte": o["crypto_instructions"] / max(o["flash_read_bytes"], 1),
        "flash_read_bytes": o["flash_read_bytes"],
        "flash_read_bytes_planned": p.flash_read_bytes_per_inference,
        "bit_exact": exact,
        "goal_ratio": goal,
        "met": o["instructions"] / i["instructions"] <= goal,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m4", action="store_true", help="also run vww at 64 KiB on the M4 (QEMU)")
    args = ap.parse_args()
    rows = [bench_plan(*c) for c in CASES]
    print(f"{'model':<40}{'budget':>8}{'flash read':>13}{'weights':>11}{'x':>7}"
          f"{'goal':>12}{'met':>5}{'lat x':>7}{'plan s':>8}")  # fmt: skip
    for r in rows:
        print(f"{r['model']:<40}{r['budget_bytes'] // KIB:>6}Ki{r['flash_read_bytes_per_inference']:>13,}"
              f"{r['weight_bytes']:>11,}{r['reread_factor']:>7.1f}{r['goal_bytes']:>12,}"
              f"{'yes' if r['met'] else 'no':>5}{r['latency_ratio']:>7.2f}"
              f"{r['planner_cpu_seconds']:>8.1f}")  # fmt: skip
    m4 = bench_m4(*M4_CASE) if args.m4 else None
    if m4 is not None:
        print(f"{m4['model']} at {m4['budget_bytes'] // KIB} KiB on the M4: "
              f"{m4['out_of_core_instructions']:,} / {m4['in_core_instructions']:,} = "
              f"{m4['ratio']:.3f}x (goal {m4['goal_ratio']}; {m4['ratio_without_crypto']:.3f}x "
              f"without the crypto, {m4['crypto_instructions_per_byte']:.1f} per byte read); "
              f"flash read {m4['flash_read_bytes']:,} (plan {m4['flash_read_bytes_planned']:,}); "
              f"bit-exact {m4['bit_exact']}")  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "flash_traffic.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"flash": FLASH.name, "mcu": MCU.name, "plans": rows, "m4": m4}
    out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
