"""Generality: every zoo architecture, at its default and its larger size, against the planners.

Run: python benchmarks/bench_generality.py [--out benchmarks/results/generality.json]
     [--archs ARCH ...] [--quick] [--jobs N] [--run]

For each model (ooc_sdk.model.zoo, seed 0, the architecture's default knobs and its documented
larger size, ``Architecture.larger``; --quick: default sizes only) it reports:

- MACs and weight bytes;
- per-layer working SRAM (every operator's whole inputs and output live: what the model needs
  in core, layer by layer) and the per-layer arena `ooc codegen` allocates;
- the fusion planner's smallest working SRAM within 1.3x the model's MACs and at the
  minimum-SRAM setting (k = 8, as benchmarks/bench_fusion.py), with their MAC overheads, and the
  search's seconds (candidates built once, both plans);
- the same two settings with whole tensors spilled to the flash ring where that lowers the
  working SRAM (ooc_sdk.plan.fusion.spilling.least_spilling: up to 3 tensors, greedily; a
  spilling plan's working SRAM counts only SRAM, issue 23), the acceptance checks taking the
  smaller;
- `ooc build MODEL --sram B` for B = 256, 128, 64, 32 and 16 KiB, through the library
  (ooc_sdk.build.build with a throwaway device key, the CLI's defaults: w25q128jv flash,
  cortex-m4, per layer when that fits and fused otherwise): how it ran (layer: per layer;
  fused; spill: fused with activations spilled to flash) or, when it fails, the floor its
  BudgetError names. Budgets below a failed one are not built again: they are below the same
  floor (marked "inferred" in the JSON). The planner's seconds per budget are recorded (they
  are most of the run: 10 to 25 minutes for all models with --jobs 1 on this 2-core machine,
  depending on its load, most of it MobileNetV2's fused plans; timings are comparable only
  between runs with the same --jobs on an equally loaded machine).

With --run, every successful build also runs one random sample on the host with its weights only
in the emulated flash, compared bit for bit with tflite-micro, its SRAM high-water against the
plan (a compile per build: minutes more).

Then the issue's acceptance figures for these models (checks; a failed check is reported, not
an error). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ooc_sdk.build import BuildRequest, build  # noqa: E402
from ooc_sdk.errors import OocError  # noqa: E402
from ooc_sdk.image.keys import DeviceKey  # noqa: E402
from ooc_sdk.image.keys import generate as new_device_key  # noqa: E402
from ooc_sdk.model import parse_model  # noqa: E402
from ooc_sdk.model.inputs import random_inputs  # noqa: E402
from ooc_sdk.model.ir import Graph  # noqa: E402
from ooc_sdk.model.zoo import ARCHITECTURES, Knobs, generate  # noqa: E402
from ooc_sdk.plan.fusion.search import FusionSearch  # noqa: E402
from ooc_sdk.plan.fusion.spilling import least_spilling  # noqa: E402
from ooc_sdk.plan.request import PlanRequest  # noqa: E402
from ooc_sdk.plan.schedule import BudgetError  # noqa: E402
from ooc_sdk.run.golden import run_tflm  # noqa: E402
from ooc_sdk.run.host import run_build  # noqa: E402
from ooc_sdk.targets import load_flash, load_mcu  # noqa: E402

KIB = 1024
BUDGETS_KIB = (256, 128, 64, 32, 16)
SETTINGS = (("k1.3", 1.3), ("min", 8.0))
SIZES = ("default", "larger")
FLASH, MCU = "w25q128jv", "cortex-m4"
PLAN_SECONDS_GOAL = 30.0


def _knobs(arch: str, size: str) -> Knobs:
    return Knobs() if size == "default" else ARCHITECTURES[arch].larger


def _fusion(graph: Graph) -> dict[str, Any]:
    """Per-layer figures and the fusion planner's working SRAM at each setting."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {}
    try:
        sector = load_flash(FLASH).sector_bytes
        search = FusionSearch(graph, spill_sector_bytes=sector)
        for label, k in SETTINGS:
            plan = search.plan(max_mac_overhead=k)
            row["per_layer_working_bytes"] = plan.per_layer_bytes
            row["per_layer_arena_bytes"] = plan.per_layer_arena_bytes
            row[label] = {
                "working_sram_bytes": plan.working_sram_bytes,
                "mac_overhead": round(plan.mac_overhead, 4),
                "fused_blocks": sum(b.fused for b in plan.blocks),
            }
        row["fusion_seconds"] = round(time.perf_counter() - t0, 2)
        t1 = time.perf_counter()
        for label, k in SETTINGS:  # the same, whole tensors spilled where that lowers it
            plan, _ = least_spilling(search, k, sector)
            row[label]["spilling"] = {
                "working_sram_bytes": plan.working_sram_bytes,
                "mac_overhead": round(plan.mac_overhead, 4),
                "spilled_tensors": [sp.tensor for sp in plan.spills],
                "spill_bytes": sum(graph.tensors[sp.tensor].nbytes for sp in plan.spills),
            }
        row["spilling_seconds"] = round(time.perf_counter() - t1, 2)
    except OocError as e:
        row["fusion_error"] = f"{type(e).__name__}: {e}"
        row.setdefault("fusion_seconds", round(time.perf_counter() - t0, 2))
    return row


def _run(graph: Graph, data: bytes, out: Path, device: DeviceKey) -> dict[str, Any]:
    """One random sample through the build on the host (weights only in the emulated flash),
    against tflite-micro."""
    x = random_inputs(graph, 1)
    try:
        got = run_build(out, graph, device, [x])
    except OocError as e:
        return {"run_error": f"{type(e).__name__}: {e}"}
    ref = run_tflm(data, x)
    exact = all(
        a.tobytes() == b.tobytes() for a, b in zip(got.outputs[0], ref.outputs, strict=True)
    )
    return {"bit_exact": exact, "sram_high_water_bytes": got.report["sram_high_water_bytes"]}


def _build(graph: Graph, data: bytes, budget: int, tmp: Path, run: bool) -> dict[str, Any]:
    """``ooc build --sram budget`` as the CLI runs it, into a throwaway directory; with ``run``,
    a successful build is run on the host too."""
    request = BuildRequest(PlanRequest(budget, load_flash(FLASH), load_mcu(MCU)), auto_fuse=True)
    marks: dict[str, float] = {}

    cpu: dict[str, float] = {}

    def progress(msg: str) -> None:
        marks.setdefault(msg.split()[0], time.perf_counter())
        cpu.setdefault(msg.split()[0], time.process_time())

    t0, c0 = time.perf_counter(), time.process_time()
    out = tmp / f"build-{budget}"
    device = new_device_key()
    try:
        result = build(graph, data, out, device, request, progress=progress)
    except BudgetError as e:
        return {"ok": False, "floor_bytes": e.minimum, "message": str(e),
                "plan_seconds": round(time.perf_counter() - t0, 2),
                "plan_cpu_seconds": round(time.process_time() - c0, 2)}  # fmt: skip
    except OocError as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}",
                "plan_seconds": round(time.perf_counter() - t0, 2),
                "plan_cpu_seconds": round(time.process_time() - c0, 2)}  # fmt: skip
    p = result.plan
    mode = "layer" if p.fusion is None else ("spill" if p.spill is not None else "fused")
    row = {
        "ok": True,
        "mode": mode,
        "sram_bytes": p.sram_bytes,
        "plan_seconds": round(marks.get("planned", time.perf_counter()) - t0, 2),
        "plan_cpu_seconds": round(cpu.get("planned", time.process_time()) - c0, 2),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    return row | (_run(graph, data, out, device) if run else {})


def bench_model(arch: str, size: str, run: bool = False) -> dict[str, Any]:
    m = generate(arch, _knobs(arch, size), seed=0)
    graph = parse_model(m.data)
    knobs = {k: v for k, v in vars(m.knobs).items() if v is not None}
    row: dict[str, Any] = {"arch": arch, "size": size, "knobs": knobs, "macs": m.macs,
                           "weight_bytes": m.weight_bytes}  # fmt: skip
    print(f"  {arch} {size}: fusion search ...", file=sys.stderr, flush=True)
    row.update(_fusion(graph))
    builds: dict[str, Any] = {}
    floor: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-generality-") as tmp:
        for kib in BUDGETS_KIB:
            if floor is not None and floor.get("floor_bytes") is not None:
                builds[str(kib)] = {"ok": False, "floor_bytes": floor["floor_bytes"],
                                    "inferred": True}  # fmt: skip
                continue
            print(f"  {arch} {size}: build --sram {kib}KiB ...", file=sys.stderr, flush=True)
            b = _build(graph, m.data, kib * KIB, Path(tmp), run)
            builds[str(kib)] = b
            if not b["ok"]:
                floor = b
    row["builds"] = builds
    return row


def _kib(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / KIB:.2f}" if n < 10 * KIB else f"{n / KIB:.1f}"


def _cell(b: dict[str, Any]) -> str:
    if b["ok"]:
        mark = {True: "", False: "!", None: "?"}[b.get("bit_exact", True) if "run_error" not in b
                                                    else None]  # fmt: skip
        return b["mode"] + mark
    if b.get("floor_bytes") is not None:
        return f">{_kib(b['floor_bytes'])}"
    return "error"


def _setting(r: dict[str, Any], label: str, spilling: bool = False) -> str:
    s = r.get(label)
    if s is not None and spilling:
        s = s.get("spilling")
        if s is not None and not s["spilled_tensors"]:
            return "="
    return "-" if s is None else f"{_kib(s['working_sram_bytes'])}@{s['mac_overhead']:.2f}"


def _print_table(rows: list[dict[str, Any]]) -> None:
    print("Generality: zoo architectures (default and larger size) against the planners")
    print(f"{'arch':<14}{'size':<8}{'MACs':>13}{'weights':>10}{'per-lay':>9}{'arena':>9}"
          f"{'k<=1.3':>13}{'min':>13}{'k1.3 sp':>13}{'min sp':>13}{'srch s':>7}"
          + "".join(f"{f'{k}K':>9}" for k in BUDGETS_KIB) + f"{'plan s':>8}{'cpu s':>7}")  # fmt: skip
    for r in rows:
        plan_s = max((b.get("plan_seconds", 0.0) for b in r["builds"].values()), default=0.0)
        cpu_s = max((b.get("plan_cpu_seconds", 0.0) for b in r["builds"].values()), default=0.0)
        print(
            f"{r['arch']:<14}{r['size']:<8}{r['macs']:>13,}{_kib(r['weight_bytes']):>10}"
            f"{_kib(r.get('per_layer_working_bytes')):>9}{_kib(r.get('per_layer_arena_bytes')):>9}"
            f"{_setting(r, 'k1.3'):>13}{_setting(r, 'min'):>13}"
            f"{_setting(r, 'k1.3', True):>13}{_setting(r, 'min', True):>13}"
            f"{r['fusion_seconds']:>7.1f}"
            + "".join(f"{_cell(r['builds'][str(k)]):>9}" for k in BUDGETS_KIB)
            + f"{plan_s:>8.1f}{cpu_s:>7.1f}"
        )
    print("  (KiB; per-lay: per-layer working SRAM; arena: per-layer `ooc codegen` arena;")
    print("   k<=1.3 / min: the fusion planner's working SRAM @ MAC overhead within 1.3x / at the")
    print("   minimum-SRAM setting; k1.3 sp / min sp: the same with whole tensors spilled to the")
    print("   flash ring where that lowers it (fusion/spilling.py; = : spilling lowers nothing);")
    print("   srch s: the in-core search's seconds; 256K..16K: `ooc build --sram`:")
    print("   layer / fused / spill, or >F: fails, the floor it names is F KiB; plan s: the")
    print("   longest planning of those builds, wall; cpu s: the same in CPU seconds; with --run,")
    print("   ! marks a build whose host run differs from tflite-micro and ? one whose run failed)")
    for r in rows:
        if "fusion_error" in r:
            print(f"FUSION ERROR: {r['arch']} {r['size']}: {r['fusion_error']}")
        for kib, b in r["builds"].items():
            if "error" in b:
                print(f"BUILD ERROR: {r['arch']} {r['size']} --sram {kib}KiB: {b['error']}")
            if "run_error" in b:
                print(f"RUN ERROR: {r['arch']} {r['size']} --sram {kib}KiB: {b['run_error']}")
            elif b.get("bit_exact") is False:
                print(f"MISMATCH: {r['arch']} {r['size']} --sram {kib}KiB: outputs differ")
            hw = b.get("sram_high_water_bytes")
            if hw is not None and hw > b["sram_bytes"]:
                print(f"OVER PLAN: {r['arch']} {r['size']} --sram {kib}KiB: SRAM high-water "
                      f"{hw:,} B > planned {b['sram_bytes']:,} B")  # fmt: skip


def _row(rows: list[dict[str, Any]], arch: str, size: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["arch"] == arch and r["size"] == size), None)


def _check(name: str, value: str | None, passed: bool | None) -> dict[str, Any]:
    return {"check": name, "value": value, "passed": passed}


def _working(rows: list[dict[str, Any]], arch: str, size: str, label: str) -> int | None:
    """The smallest working SRAM at a setting, in core or spilling (issue 23, build 5: a
    spilling plan's working SRAM counts only SRAM)."""
    r = _row(rows, arch, size)
    if r is None or label not in r:
        return None
    s = r[label]
    return min(s["working_sram_bytes"], s.get("spilling", s)["working_sram_bytes"])


def _how(rows: list[dict[str, Any]], arch: str, size: str, label: str) -> str:
    """How a setting's smallest working SRAM runs: in core, or the tensors it spills."""
    r = _row(rows, arch, size)
    s = None if r is None else r.get(label, {}).get("spilling")
    if s is None or s["working_sram_bytes"] >= r[label]["working_sram_bytes"]:
        return "in core"
    return f"{len(s['spilled_tensors'])} spilled, {s['mac_overhead']:.2f}x MACs"


def _checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's acceptance figures that these rows measure."""
    out = []
    for arch, size, label, goal in (
        ("mcunet", "default", "k1.3", 20 * KIB),
        ("mcunet", "default", "min", 14 * KIB),
        ("mobilenet-v2", "larger", "min", 8 * KIB),
    ):
        got = _working(rows, arch, size, label)
        out.append(_check(
            f"{arch} {size}: working SRAM at {label} <= {goal // KIB} KiB",
            None if got is None else f"{_kib(got)} KiB ({_how(rows, arch, size, label)})",
            None if got is None else got <= goal,
        ))  # fmt: skip
    r = _row(rows, "inception", "default")
    got = _working(rows, "inception", "default", "k1.3")
    ratio = None if r is None or got is None else r["per_layer_working_bytes"] / max(1, got)
    out.append(_check(
        "inception default: working SRAM at k1.3 at least 3x below per-layer",
        None if ratio is None else f"{ratio:.2f}x ({_how(rows, 'inception', 'default', 'k1.3')})",
        None if ratio is None else ratio >= 3.0,
    ))  # fmt: skip
    r = _row(rows, "mcunet", "larger")
    for kib in (256, 128):
        b = None if r is None else r["builds"][str(kib)]
        out.append(_check(
            f"mcunet larger (224x224, SE early): ooc build --sram {kib}KiB succeeds",
            None if b is None else _cell(b), None if b is None else b["ok"],
        ))  # fmt: skip
    for r in rows:
        for kib, b in r["builds"].items():
            if b.get("floor_bytes") is not None and b["floor_bytes"] <= int(kib) * KIB:
                out.append(_check(
                    f"{r['arch']} {r['size']}: --sram {kib}KiB fails with a floor at or below it",
                    f"floor {_kib(b['floor_bytes'])} KiB", False,
                ))  # fmt: skip
    worst = max((b.get("plan_seconds", 0.0) for r in rows for b in r["builds"].values()),
                default=None)  # fmt: skip
    out.append(_check(
        f"planner time <= {PLAN_SECONDS_GOAL:g} s per model and budget",
        None if worst is None else f"{worst:.1f} s",
        None if worst is None else worst <= PLAN_SECONDS_GOAL,
    ))  # fmt: skip
    worst_cpu = max((b.get("plan_cpu_seconds", 0.0) for r in rows for b in r["builds"].values()),
                    default=None)  # fmt: skip
    out.append(_check(
        f"planner CPU time <= {PLAN_SECONDS_GOAL:g} s per model and budget",
        None if worst_cpu is None else f"{worst_cpu:.1f} s",
        None if worst_cpu is None else worst_cpu <= PLAN_SECONDS_GOAL,
    ))  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "generality.json")
    ap.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    ap.add_argument("--quick", action="store_true", help="Default sizes only.")
    ap.add_argument(
        "--jobs", type=int, default=1, help="Models benchmarked in parallel (processes)."
    )
    ap.add_argument(
        "--run",
        action="store_true",
        help="Run every successful build on the host (one sample, weights in the emulated "
        "flash) against tflite-micro: bit-exactness and SRAM high-water vs the plan.",
    )
    args = ap.parse_args()
    sizes = SIZES[:1] if args.quick else SIZES
    todo = [(arch, size) for arch in args.archs for size in sizes]
    t_start = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            archs, sizes_ = zip(*todo, strict=True)
            rows = list(pool.map(bench_model, archs, sizes_, [args.run] * len(todo)))
    else:
        rows = [bench_model(arch, size, args.run) for arch, size in todo]
    total = time.perf_counter() - t_start
    _print_table(rows)
    checks = _checks(rows)
    print()
    print("Acceptance (issue 23)")
    for c in checks:
        verdict = {True: "PASS", False: "FAIL", None: "skipped"}[c["passed"]]
        print(f"  {verdict:<8}{c['check']}: {c['value'] or 'not run'}")
    result = {
        "benchmark": "generality",
        "host": platform.platform(),
        "python": sys.version.split()[0],
        "flash": FLASH,
        "mcu": MCU,
        "budgets_kib": list(BUDGETS_KIB),
        "total_seconds": round(total, 1),
        "rows": rows,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
