"""Out-of-core execution: estimated latency with and without prefetch, and measured flash traffic.

Run: python benchmarks/bench_ooc.py [--out benchmarks/results/ooc.json] [--no-run]

For every supported shared model and every budget of 256, 128 and 64 KiB that its activations
allow, plus the smallest feasible budget, the planner's schedule is costed on the W25Q128JV
quad-SPI profile with:

- cortex-m7 (STM32H7-class, hardware AES engine beside the CPU), reference-kernel and
  DSP-kernel compute speeds: out-of-core latency / all-weights-in-SRAM latency with prefetch
  (the best plan with two chunk slots within the budget), without prefetch (the best with one
  slot), and the two-slot schedule with software AES instead of the engine;
- cortex-m4 (STM32L432-class, software AES), reference kernels.

The peer in every ratio is the same model computed with all weights in SRAM on the same CPU
model (the denominator). The latency model is ooc_sdk/plan/latency.py; its inputs are the
profiles' sourced values, so these are estimates, not timings.

Then (unless --no-run) the 64 KiB (or smallest feasible) build of each model runs on the host
with its weights only in the emulated flash: measured flash bytes read per inference against
the plan and against the weight bytes (the overhead is the 64-byte table entry per chunk and
alignment gaps), and the measured SRAM high-water mark against the plan's figure. Prints a
table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ooc_sdk.build import BuildRequest, build  # noqa: E402
from ooc_sdk.image.keys import generate  # noqa: E402
from ooc_sdk.model import load_model  # noqa: E402
from ooc_sdk.model.inputs import random_inputs  # noqa: E402
from ooc_sdk.plan.planner import plan  # noqa: E402
from ooc_sdk.plan.request import PlanRequest  # noqa: E402
from ooc_sdk.plan.schedule import BudgetError  # noqa: E402
from ooc_sdk.run.golden import run_tflm  # noqa: E402
from ooc_sdk.run.host import run_build  # noqa: E402
from ooc_sdk.targets import load_flash, load_mcu  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"
SUPPORTED = [
    "vww_96_int8",
    "person_detect",
    "pretrainedResnet_quant",
    "kws_ref_model",
    "mobilenet_v2_quantized_1x3x224x224",
    "ad01_int8",
    "micro_speech_quantized",
    "hello_world_int8",
]
CONV = {"vww_96_int8", "person_detect", "pretrainedResnet_quant", "kws_ref_model",
        "mobilenet_v2_quantized_1x3x224x224"}  # fmt: skip
KIB = 1024
BUDGETS = [256 * KIB, 128 * KIB, 64 * KIB]


def _b(budget: int | None) -> str:
    return "none" if budget is None else f"{budget // KIB}Ki"


def _r(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def minimum(graph, flash, mcu) -> int:  # type: ignore[no-untyped-def]
    try:
        plan(graph, PlanRequest(budget=1, flash=flash, mcu=mcu))
    except BudgetError as e:
        assert e.minimum is not None
        return e.minimum
    raise AssertionError("a 1-byte budget was accepted")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ooc.json")
    ap.add_argument("--no-run", action="store_true", help="Only the estimates, no host runs.")
    args = ap.parse_args()
    flash = load_flash("w25q128jv")
    m7, m4 = load_mcu("cortex-m7"), load_mcu("cortex-m4")
    rows = []
    runs = []
    device = generate(bytes(range(16)), 32)
    for name in SUPPORTED:
        path = MODELS / f"{name}.tflite"
        if not path.exists():
            print(
                f"error: {path} is missing (the benchmark needs ../shared/models)", file=sys.stderr
            )
            return 2
        graph = load_model(path)
        low = minimum(graph, flash, m4)
        budgets: list[int | None] = [b for b in BUDGETS if b >= low] + [low, None]
        for budget in budgets:
            row: dict = {"model": name, "budget_bytes": budget, "conv": name in CONV}  # type: ignore[type-arg]
            t0 = time.perf_counter()
            for label, mcu, dsp in (
                ("m7_ref", m7, False),
                ("m7_dsp", m7, True),
                ("m4_ref", m4, False),
            ):
                free = plan(
                    graph,
                    PlanRequest(
                        budget=budget, flash=flash, mcu=mcu, kernels="dsp" if dsp else "ref"
                    ),
                ).to_json()
                # prefetch = the best plan with two slots; none = the best with one; both fit
                one = plan(
                    graph,
                    PlanRequest(
                        budget=budget,
                        flash=flash,
                        mcu=mcu,
                        kernels="dsp" if dsp else "ref",
                        slots=1,
                    ),
                ).to_json()
                try:
                    two = plan(
                        graph,
                        PlanRequest(
                            budget=budget,
                            flash=flash,
                            mcu=mcu,
                            kernels="dsp" if dsp else "ref",
                            slots=2,
                        ),
                    ).to_json()
                except BudgetError:  # the smallest budget has room for one slot only
                    two = {"latency_ratio": None, "sram_bytes": None}
                row[label] = {
                    "sram_bytes": free["sram_bytes"],
                    "slots": free["slots"],
                    "slot_bytes": free["slot_bytes"],
                    "steps": free["steps"],
                    "latency_s": free["estimated_latency_s"],
                    "in_sram_latency_s": free["in_sram_latency_s"],
                    "ratio_plan": free["latency_ratio"],
                    "ratio": two["latency_ratio"],
                    "sram_bytes_prefetch": two["sram_bytes"],
                    "ratio_no_prefetch": one["latency_ratio"],
                    "sram_bytes_no_prefetch": one["sram_bytes"],
                    "ratio_software_aes": two.get("latency_ratio_software_aes"),
                    "flash_read_bytes": free["flash_read_bytes_per_inference"],
                    "weight_bytes": free["weight_bytes"],
                }
            row["plan_seconds"] = (time.perf_counter() - t0) / 3
            rows.append(row)
        if args.no_run:
            continue
        budget = 64 * KIB if low <= 64 * KIB else low
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "b"
            res = build(
                graph,
                path.read_bytes(),
                out,
                device,
                BuildRequest(PlanRequest(budget=budget, flash=flash, mcu=m4)),
            )
            x = random_inputs(graph, 1)
            got = run_build(out, graph, device, [x])
            ref = run_tflm(path, x)
            exact = all(
                a.tobytes() == b.tobytes() for a, b in zip(got.outputs[0], ref.outputs, strict=True)
            )
            p = res.plan.to_json()
            r = got.report
            runs.append(
                {
                    "model": name,
                    "budget_bytes": budget,
                    "bit_exact": exact,
                    "plan_sram_bytes": p["sram_bytes"],
                    "sram_high_water_bytes": r["sram_high_water_bytes"],
                    "stack_high_water_bytes": r["stack_high_water_bytes"],
                    "weight_bytes": p["weight_bytes"],
                    "chunks": p["chunks"],
                    "plan_flash_read_bytes": p["flash_read_bytes_per_inference"],
                    "flash_read_bytes": r["flash_read_bytes"],
                    "overhead_bytes": r["flash_read_bytes"] - p["weight_bytes"],
                }
            )

    print("Estimated latency, out-of-core / all weights in SRAM (W25Q128JV quad SPI)")
    print(f"{'model':<36}{'budget':>9}{'SRAM':>9}  {'M7+AES engine, ref':>22}  {'M7+engine, DSP':>22}"
          f"  {'M7 DSP, SW AES':>14}  {'M4 (SW AES)':>20}")  # fmt: skip
    print(f"{'':<36}{'':>9}{'':>9}  {'prefetch / none':>22}  {'prefetch / none':>22}"
          f"  {'prefetch':>14}  {'prefetch / none':>20}")  # fmt: skip
    for r in rows:
        a, d, m = r["m7_ref"], r["m7_dsp"], r["m4_ref"]
        print(
            f"{r['model'][:35]:<36}{_b(r['budget_bytes']):>9}{d['sram_bytes'] / KIB:>8.1f}K"
            f"  {_r(a['ratio']):>10} / {_r(a['ratio_no_prefetch']):<9}"
            f"  {_r(d['ratio']):>10} / {_r(d['ratio_no_prefetch']):<9}"
            f"  {_r(d['ratio_software_aes']):>14}"
            f"  {_r(m['ratio']):>8} / {_r(m['ratio_no_prefetch']):<9}"
        )
    if runs:
        print()
        print("Host runs with weights only in the emulated flash (cortex-m4 plan)")
        print(f"{'model':<36}{'budget':>9}{'exact':>7}{'SRAM hw / plan':>20}{'weights':>10}"
              f"{'read':>10}{'overhead':>10}{'chunks':>8}")  # fmt: skip
        for r in runs:
            print(
                f"{r['model'][:35]:<36}{r['budget_bytes'] // KIB:>7}Ki{r['bit_exact']!s:>7}"
                f"{r['sram_high_water_bytes']:>10,} / {r['plan_sram_bytes']:<8,}"
                f"{r['weight_bytes']:>10,}{r['flash_read_bytes']:>10,}"
                f"{r['overhead_bytes'] / r['weight_bytes']:>9.1%}{r['chunks']:>8}"
            )
    result = {
        "benchmark": "ooc",
        "host": platform.platform(),
        "flash": "w25q128jv",
        "estimates": rows,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    bad = [
        r for r in runs if not r["bit_exact"] or r["flash_read_bytes"] != r["plan_flash_read_bytes"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
