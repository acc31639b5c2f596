"""Fusion planner: working SRAM of fused schedules against per-layer execution and TFLM.

Run: python benchmarks/bench_fusion.py [--out benchmarks/results/fusion.json] [--models NAME ...]
     [--quick]

For every supported shared model, plus the zoo MobileNetV2 (width 0.35, 144x144, seed 0: the
model of msf-CNN's benchmark, generated into a temporary directory), the fusion planner
(ooc_sdk/plan/fusion/) is asked for the smallest working SRAM within k x the model's MACs at
k = 1.0, 1.3 and 1.7, and at k = 8.0 (the minimum-SRAM setting); --quick runs k = 1.3 only.
Each row reports:

- planner seconds (the search, layout included) and its MAC overhead;
- predicted working SRAM (the plan) and measured working SRAM (the host runtime's arena painted
  before the run, high-water below the outputs), DSP kernels, two random samples whose outputs
  must be bit-exact with tflite-micro's (a mismatch is reported and the exit status is 1);
- the channel-split chains the plan runs (a 1x1 expansion, depthwise and 1x1 projection made a
  group of expanded channels at a time) and the working SRAM and MACs of the plan searched
  without them (`--channel-split off`; planned, not run);
- per-layer working SRAM (the same definition, every operator's whole input and output live)
  and the per-layer arena `ooc codegen` allocates; TFLM's activation arena (the head of its
  arena, print_allocations); reduction = per-layer working SRAM / measured working SRAM.

Then the acceptance checks (measured working SRAM at k <= 1.3, the zoo model's reduction, the
planner's time on MobileNetV2-1.0 224x224). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_ooc import MODELS, SUPPORTED  # noqa: E402

from ooc_sdk.errors import OocError  # noqa: E402
from ooc_sdk.formats.tables import NODE_PEX  # noqa: E402
from ooc_sdk.model import load_model  # noqa: E402
from ooc_sdk.model.inputs import random_inputs  # noqa: E402
from ooc_sdk.model.zoo import Knobs, generate  # noqa: E402
from ooc_sdk.plan.fusion.search import FusionSearch  # noqa: E402
from ooc_sdk.run.golden import run_tflm_many  # noqa: E402
from ooc_sdk.run.host import run_host  # noqa: E402

KIB = 1024
ZOO = "zoo_mobilenet_v2_w0.35_r144"
ZOO_KNOBS = Knobs(width=0.35, resolution=144)
MBV2 = "mobilenet_v2_quantized_1x3x224x224"
SETTINGS = [("k1.0", 1.0), ("k1.3", 1.3), ("k1.7", 1.7), ("min", 8.0)]
SAMPLES = 2
# measured working SRAM at k <= 1.3 (bytes)
SRAM_GOALS = {
    "vww_96_int8": 12 * KIB,
    "person_detect": 12 * KIB,
    "kws_ref_model": 8 * KIB,
    "pretrainedResnet_quant": 24 * KIB,
    MBV2: 96 * KIB,
}
ZOO_REDUCTION_GOALS = {"k1.3": 9.0, "k1.7": 22.0}
MBV2_PLAN_SECONDS = 30.0


def _compare(got: list[list[np.ndarray]], ref: list[list[np.ndarray]]) -> list[str]:
    """Every output that differs from the reference, one line each."""
    bad = []
    for s, (outs, refs) in enumerate(zip(got, ref, strict=True)):
        if len(outs) != len(refs):
            bad.append(f"sample {s}: {len(outs)} outputs, reference has {len(refs)}")
            continue
        for o, (a, b) in enumerate(zip(outs, refs, strict=True)):
            if a.shape != b.shape or a.dtype != b.dtype:
                bad.append(f"sample {s} output {o}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
            elif a.tobytes() != b.tobytes():
                diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
                bad.append(
                    f"sample {s} output {o}: {int(np.count_nonzero(diff))} of {a.size} values "
                    f"differ, max |diff| {int(diff.max())}"
                )
    return bad


def bench_model(name: str, path: Path, settings: list[tuple[str, float]]) -> list[dict[str, Any]]:
    graph = load_model(path)
    samples = [random_inputs(graph, seed) for seed in range(SAMPLES)]
    golden = run_tflm_many(path.read_bytes(), samples)
    ref = [g.outputs for g in golden]
    tflm_head = max(g.arena_head_bytes for g in golden)
    rows = []
    search = FusionSearch(graph)  # candidates built once per model; plan_seconds includes it
    plain = FusionSearch(graph, channel_split="off")
    for label, k in settings:
        print(f"  {name} {label} ...", file=sys.stderr, flush=True)
        row: dict[str, Any] = {"model": name, "setting": label, "max_mac_overhead": k}
        row["macs"] = graph.macs
        row["tflm_arena_head_bytes"] = tflm_head
        try:
            plan = search.plan(max_mac_overhead=k)
            no_split = plain.plan(max_mac_overhead=k)
            t0 = time.perf_counter()
            host = run_host(graph, samples, fusion=plan, kernels="dsp")
            row["host_seconds"] = round(time.perf_counter() - t0, 2)
        except OocError as e:
            row["error"] = str(e)
            print(f"ERROR: {name} {label}: {e}", file=sys.stderr)
            rows.append(row)
            continue
        measured = host.working_high_water_bytes
        row.update(
            plan_seconds=round(plan.search_seconds, 3),
            mac_overhead=round(plan.mac_overhead, 4),
            working_sram_predicted_bytes=plan.working_sram_bytes,
            working_sram_measured_bytes=measured,
            arena_bytes=host.arena_bytes,
            per_layer_working_bytes=plan.per_layer_bytes,
            per_layer_arena_bytes=plan.per_layer_arena_bytes,
            reduction=round(plan.per_layer_bytes / max(1, measured), 2),
            reduction_predicted=round(plan.per_layer_bytes / max(1, plan.working_sram_bytes), 2),
            fused_blocks=sum(b.fused for b in plan.blocks),
            channel_split_chains=sum(nd.mode == NODE_PEX for b in plan.blocks for nd in b.nodes),
            no_split_working_sram_bytes=no_split.working_sram_bytes,
            no_split_mac_overhead=round(no_split.mac_overhead, 4),
            no_split_plan_seconds=round(no_split.search_seconds, 3),
            blocks=[[b.first, b.last, b.strips if b.fused else 0] for b in plan.blocks],
        )
        mismatches = _compare(host.outputs, ref)
        row["bit_exact"] = not mismatches
        for line in mismatches:
            print(f"MISMATCH: {name} {label}: {line}", file=sys.stderr)
        if measured > plan.working_sram_bytes:
            print(
                f"WARNING: {name} {label}: measured working SRAM {measured:,} B exceeds the "
                f"predicted {plan.working_sram_bytes:,} B",
                file=sys.stderr,
            )
        rows.append(row)
    return rows


def _kib(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / KIB:.2f}" if n < 10 * KIB else f"{n / KIB:.1f}"


def _checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ok_rows = [r for r in rows if "error" not in r]
    out: list[dict[str, Any]] = []
    for model, goal in SRAM_GOALS.items():
        got = [r for r in ok_rows if r["model"] == model and r["max_mac_overhead"] <= 1.3]
        best = min((r["working_sram_measured_bytes"] for r in got), default=None)
        out.append({
            "check": f"{model}: measured working SRAM at k <= 1.3 <= {goal // KIB} KiB",
            "value": None if best is None else f"{best / KIB:.2f} KiB",
            "passed": None if best is None else best <= goal,
        })  # fmt: skip
    for setting, goal in ZOO_REDUCTION_GOALS.items():
        got = [r for r in ok_rows if r["model"] == ZOO and r["setting"] == setting]
        value = got[0]["reduction"] if got else None
        out.append({
            "check": f"{ZOO}: reduction at {setting} >= {goal:g}x",
            "value": None if value is None else f"{value:.2f}x",
            "passed": None if value is None else value >= goal,
        })  # fmt: skip
    got = [r for r in ok_rows if r["model"] == MBV2]
    worst = max((r["plan_seconds"] for r in got), default=None)
    out.append({
        "check": f"{MBV2}: planner time <= {MBV2_PLAN_SECONDS:g} s (every setting)",
        "value": None if worst is None else f"{worst:.1f} s",
        "passed": None if worst is None else worst <= MBV2_PLAN_SECONDS,
    })  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fusion.json")
    ap.add_argument("--models", nargs="+", default=[*SUPPORTED, ZOO], choices=[*SUPPORTED, ZOO])
    ap.add_argument("--quick", action="store_true", help="Only k = 1.3.")
    args = ap.parse_args()
    settings = [s for s in SETTINGS if s[0] == "k1.3"] if args.quick else SETTINGS
    for name in args.models:
        if name != ZOO and not (MODELS / f"{name}.tflite").is_file():
            print(
                f"error: {MODELS / name}.tflite is missing (the benchmark needs ../shared/models)",
                file=sys.stderr,
            )
            return 2
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-fusion-") as tmp:
        for name in args.models:
            if name == ZOO:
                path = Path(tmp) / f"{ZOO}.tflite"
                path.write_bytes(generate("mobilenet-v2", ZOO_KNOBS, seed=0).data)
            else:
                path = MODELS / f"{name}.tflite"
            rows.extend(bench_model(name, path, settings))
    total = time.perf_counter() - t_start

    print("Fusion planner: working SRAM (KiB) of the fused schedule vs per-layer execution")
    print(f"{'model':<36}{'set':>5}{'plan s':>8}{'MACx':>7}{'pred':>8}{'meas':>8}{'per-lay':>9}"
          f"{'arena':>8}{'TFLM':>8}{'reduct':>8}{'fused':>6}{'CS':>4}{'noCS':>8}{'exact':>6}")  # fmt: skip
    for r in rows:
        if "error" in r:
            print(f"{r['model'][:35]:<36}{r['setting']:>5}  ERROR: {r['error']}")
            continue
        print(
            f"{r['model'][:35]:<36}{r['setting']:>5}{r['plan_seconds']:>8.2f}"
            f"{r['mac_overhead']:>7.3f}{_kib(r['working_sram_predicted_bytes']):>8}"
            f"{_kib(r['working_sram_measured_bytes']):>8}{_kib(r['per_layer_working_bytes']):>9}"
            f"{_kib(r['per_layer_arena_bytes']):>8}{_kib(r['tflm_arena_head_bytes']):>8}"
            f"{r['reduction']:>7.1f}x{r['fused_blocks']:>6}{r['channel_split_chains']:>4}"
            f"{_kib(r['no_split_working_sram_bytes']):>8}{'yes' if r['bit_exact'] else 'NO':>6}"
        )
    print("  (pred/meas: working SRAM predicted by the plan / measured on the host, DSP kernels;")
    print("   per-lay: per-layer working SRAM; arena: per-layer `ooc codegen` arena; TFLM: its")
    print("   activation arena; reduct = per-layer / measured; fused: fused blocks in the plan;")
    print("   CS: channel-split chains it runs; noCS: working SRAM of the plan searched without)")
    checks = _checks(rows)
    print()
    print("Acceptance")
    for c in checks:
        verdict = {True: "PASS", False: "FAIL", None: "skipped"}[c["passed"]]
        print(f"  {verdict:<8}{c['check']}: {c['value'] or 'not run'}")
    errors = [r for r in rows if "error" in r]
    mismatched = [r for r in rows if r.get("bit_exact") is False]
    result = {
        "benchmark": "fusion",
        "host": platform.platform(),
        "kernels": "dsp",
        "samples": SAMPLES,
        "zoo_model": {"arch": "mobilenet-v2", "width": 0.35, "resolution": 144, "seed": 0},
        "total_seconds": round(total, 1),
        "rows": rows,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out} ({total:.0f} s)")
    for r in mismatched:
        print(
            f"FAILED: {r['model']} {r['setting']}: outputs differ from tflite-micro",
            file=sys.stderr,
        )
    for r in errors:
        print(f"FAILED: {r['model']} {r['setting']}: {r['error']}", file=sys.stderr)
    return 1 if mismatched or errors else 0


if __name__ == "__main__":
    sys.exit(main())
