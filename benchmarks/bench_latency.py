"""The latency model against the QEMU instruction timeline: estimate vs measured, per model.

Run: python benchmarks/bench_latency.py [--models NAME ...] [--out benchmarks/results/latency.json]
     python benchmarks/bench_latency.py --calibrate   (also rewrites the coefficients file)

For every shared model at two SRAM budgets (64 KiB or the smallest the planner accepts, and twice
that), `ooc build` (per-layer plan, the MCU profile's default tag) runs out of core on the
emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0, DSP kernels: what an M4 build uses),
bit-exact against tflite-micro. Its instructions per inference at one cycle per instruction are the
measured timeline. Runs are cached in benchmarks/results/latency_runs (--refresh re-runs them; the
bench refuses a cache whose plans the planner no longer makes). The estimate
is the planner's latency model (ooc_sdk/plan/latency.py) on that machine as profiles
(qemu_profiles(): the cortex-m4 profile at 1 GHz and CPI 1 with the crypto bench's instructions
per byte, the kernel, pager and crypto set-up coefficients of ooc_sdk/targets/costs/cortex-m4.json;
a flash whose reads cost nothing, since the emulated flash is read through semihosting, outside
the instruction count). The table shows
the estimate, the measurement, and their ratio per model and budget, and per-layer errors
(operator instructions with their chunks' crypto).

--calibrate fits the coefficients once over all runs (one set for every model: not per model)
from in-core per-layer instructions (kernels) and out-of-core totals (pager per step and per
chunk, crypto per byte and per chunk), and writes them with their source.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_m4 import bench_crypto  # noqa: E402
from bench_ooc import MODELS, SUPPORTED  # noqa: E402

from ooc_sdk.build import BuildRequest, build  # noqa: E402
from ooc_sdk.image.keys import generate  # noqa: E402
from ooc_sdk.model import load_model  # noqa: E402
from ooc_sdk.model.inputs import random_inputs  # noqa: E402
from ooc_sdk.model.ir import Graph  # noqa: E402
from ooc_sdk.plan.costs import (  # noqa: E402
    CLASSES,
    CostTable,
    costs_path,
    load_costs,
    op_class,
    op_elements,
)
from ooc_sdk.plan.latency import estimate  # noqa: E402
from ooc_sdk.plan.planner import plan  # noqa: E402
from ooc_sdk.plan.request import PlanRequest  # noqa: E402
from ooc_sdk.plan.schedule import BudgetError, Plan, run_crypto  # noqa: E402
from ooc_sdk.run.golden import run_tflm  # noqa: E402
from ooc_sdk.run.qemu import run_build_m4, run_model_m4  # noqa: E402
from ooc_sdk.targets import load_flash, load_mcu  # noqa: E402

BUDGET = 64 * 1024
CACHE = ROOT / "benchmarks" / "results" / "latency_runs"


def budgets(graph, flash, mcu) -> list[int]:  # type: ignore[no-untyped-def]
    """64 KiB or the smallest budget the planner accepts, and twice that."""
    try:
        plan(graph, PlanRequest(budget=BUDGET, flash=flash, mcu=mcu))
        b = BUDGET
    except BudgetError as exc:
        assert exc.minimum is not None
        b = exc.minimum
    return [b, 2 * b]


def plan_record(p: Plan) -> dict[str, Any]:
    """What the estimate needs of the plan that ran: its request, slots and steps."""
    return {
        "request": p.request.to_json(),
        "slots": p.slots,
        "steps": json.loads(json.dumps([dataclasses.asdict(s) for s in p.steps])),
    }


def replan(graph: Graph, rec: dict[str, Any]) -> Plan:
    """The recorded plan again (the planner is deterministic), checked against the record."""
    p = plan(graph, PlanRequest.from_json(rec["request"]))
    steps = json.loads(json.dumps([dataclasses.asdict(s) for s in p.steps]))
    if steps != rec["steps"] or p.slots != rec["slots"]:
        raise SystemExit("the planner now makes another plan than the one measured: --refresh")
    return p


def measure(name: str, refresh: bool = False) -> dict[str, Any]:
    """In-core and out-of-core (two budgets) runs of one model on the M4, DSP kernels, checked
    bit-exact against tflite-micro; cached in CACHE (the raw reports)."""
    cache = CACHE / f"{name}.json"
    if cache.is_file() and not refresh:
        return json.loads(cache.read_text())
    flash, mcu = load_flash("w25q128jv"), load_mcu("cortex-m4")
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    path = MODELS / f"{name}.tflite"
    graph = load_model(path)
    x = random_inputs(graph, 0)
    ref = run_tflm(path, x).outputs
    t0 = time.perf_counter()
    inc = run_model_m4(graph, [x], kernels="dsp")
    out: dict[str, Any] = {"model": name, "in_core": inc.report, "out_of_core": {}}
    exact = [inc.outputs[0]]
    for b in budgets(graph, flash, mcu):
        request = PlanRequest(budget=b, flash=flash, mcu=mcu)
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
            d = Path(tmp) / "b"
            build(graph, path.read_bytes(), d, device, BuildRequest(request))
            r = run_build_m4(d, graph, device, [x], kernels="dsp")
        out["out_of_core"][str(b)] = {**r.report, "plan": plan_record(plan(graph, request))}
        exact.append(r.outputs[0])
    out["bit_exact"] = all(
        all(a.tobytes() == b.tobytes() for a, b in zip(o, ref, strict=True)) for o in exact
    )
    out["qemu_seconds"] = round(time.perf_counter() - t0, 1)
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=1))
    return out


# -- calibration: one set of coefficients for every model ----------------------------------------


def _nnls(rows: list[list[float]], ys: list[float], relative: bool) -> list[float]:
    """Least squares with non-negative coefficients (a column whose coefficient comes out
    negative is dropped and the rest refitted); ``relative`` weighs each row by 1 / y."""
    import numpy as np

    a, y = np.array(rows, dtype=float), np.array(ys, dtype=float)
    if relative:
        w = 1.0 / np.maximum(y, 1.0)
        a, y = a * w[:, None], y * w
    keep = [j for j in range(a.shape[1]) if np.any(a[:, j])]
    while True:
        coef = np.linalg.lstsq(a[:, keep], y, rcond=None)[0] if keep else np.zeros(0)
        if not keep or coef.min() >= 0:
            break
        keep.pop(int(coef.argmin()))
    out = [0.0] * a.shape[1]
    for j, v in zip(keep, coef, strict=True):
        out[j] = float(v)
    return out


def fit_kernels(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per operator class: instructions = a MACs + b outputs + c inputs + e edge + d per call,
    over every
    layer of every model in core (DSP kernels) and every layer out of core (its steps' calls)."""
    rows: dict[str, tuple[list[list[float]], list[float]]] = {c: ([], []) for c in CLASSES}
    rows["other"] = ([], [])  # every MAC-free operator, for the types the models lack
    for run in runs:
        graph = load_model(MODELS / f"{run['model']}.tflite")
        reports = [(run["in_core"], None)] + [
            (r, r["plan"]) for r in run["out_of_core"].values() if "plan" in r
        ]
        for rep, rec in reports:
            for layer in rep["layers"]:
                op = graph.operators[layer["index"]]
                calls = max(1, layer["steps"]) if rec else 1
                if layer["steps"] == 0 and rec:
                    continue  # ran inside a fused block
                outs, ins, edge = op_elements(graph, op)
                cls = op_class(graph, op)
                for c in (cls, "other") if cls not in CLASSES else (cls,):
                    r, y = rows.setdefault(c, ([], []))
                    r.append([op.macs, outs, ins * calls, edge, calls])
                    y.append(layer["instructions"])
    return {c: _nnls(r, y, relative=True) if r else [0.0] * 5
            for c, (r, y) in rows.items()}  # fmt: skip


def _plan_counts(p: Plan) -> tuple[int, int]:
    """Reading steps and chunks per inference."""
    reading = [s for s in p.steps if s.pieces]
    return sum(s.reads for s in reading), sum(len(s.pieces) * s.reads for s in reading)


def fit_pager_and_crypto(runs: list[dict[str, Any]], per_byte: float) -> tuple[float, float, float]:
    """The pager's instructions per reading step and per chunk (out-of-core instructions outside
    the kernels and the crypto), and the crypto's per chunk beyond ``per_byte``."""
    pager_rows, pager_y, crypto_rows, crypto_y = [], [], [], []
    for run in runs:
        graph = load_model(MODELS / f"{run['model']}.tflite")
        for rep in run["out_of_core"].values():
            if "plan" not in rep:
                continue  # measured before plans were recorded
            steps, chunks = _plan_counts(replan(graph, rep["plan"]))
            kernels = sum(layer["instructions"] for layer in rep["layers"])
            pager_rows.append([steps, chunks])
            pager_y.append(rep["compute_instructions"] - kernels)
            crypto_rows.append([chunks])
            crypto_y.append(rep["crypto_instructions"] - per_byte * rep["flash_read_bytes"])
    if not pager_rows:
        return 0.0, 0.0, 0.0
    per_step, per_chunk = _nnls(pager_rows, pager_y, relative=True)
    (crypto_chunk,) = _nnls(crypto_rows, crypto_y, relative=False)
    return per_step, per_chunk, crypto_chunk


def calibrate(runs: list[dict[str, Any]], crypto: dict[str, float]) -> CostTable:
    tag_per_byte = crypto["poly1305"]  # the cortex-m4 profile's default tag
    per_byte = crypto["aes128_ctr"] + tag_per_byte
    per_step, per_chunk, crypto_chunk = fit_pager_and_crypto(runs, per_byte)
    kernels = fit_kernels(runs)
    when = time.strftime("%Y-%m-%d")
    src = (f"benchmarks/bench_latency.py --calibrate ({when}): QEMU mps2-an386 -icount shift=0, "
           f"DSP kernels, models {', '.join(r['model'] for r in runs)}")  # fmt: skip
    return CostTable(
        core="cortex-m4",
        kernels={"dsp": {c: tuple(v) for c, v in kernels.items()}},  # type: ignore[misc]
        pager_per_step=round(per_step, 1),
        pager_per_chunk=round(per_chunk, 1),
        crypto_per_chunk=round(crypto_chunk, 1),
        sources={
            "kernels": src + "; per operator class, a non-negative least-squares fit of "
            "instructions = per_mac * MACs + per_output * outputs + per_input * inputs + "
            "per_edge * output channels * (rows + columns) + per_call over every layer in core and out of core (relative errors weighed alike)",
            "pager": src + "; out-of-core instructions outside the kernels and the crypto, fit "
            "per reading step and per chunk",
            "crypto_per_chunk": src + f"; crypto instructions beyond {per_byte:.1f} per byte "
            "(AES-128-CTR + Poly1305, the crypto bench firmware), per chunk",
        },
    )


# -- estimate vs measured -------------------------------------------------------------------------


def qemu_profiles(crypto: dict[str, float]):  # type: ignore[no-untyped-def]
    """The emulated machine as profiles: one instruction per ns (-icount shift=0) at CPI 1, the
    crypto's measured instructions per byte, and a flash read through semihosting (outside the
    instruction count: free)."""
    mcu = dataclasses.replace(
        load_mcu("cortex-m4"), name="qemu-m4", clock_hz=1e9, cycles_per_instruction=1.0,
        aes_cycles_per_byte=crypto["aes128_ctr"], cmac_cycles_per_byte=crypto["cmac128"],
        poly1305_cycles_per_byte=crypto["poly1305"])  # fmt: skip
    flash = dataclasses.replace(load_flash("w25q128jv"), read_bytes_per_s=1e18, read_command_s=0.0)
    return flash, mcu


def compare(run: dict[str, Any], flash, mcu) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Per budget: the estimate (instructions) against the measured instructions, and the
    per-layer errors (kernel + the crypto of its chunks + its share of the pager)."""
    graph = load_model(MODELS / f"{run['model']}.tflite")
    rows = []
    for budget, rep in run["out_of_core"].items():
        if "plan" not in rep:
            continue
        p = replan(graph, rep["plan"])
        steps = p.latency_steps()
        est = estimate(steps, flash, mcu, run_crypto(p), slots=p.slots, dsp=True)
        # per operator: each step alone (no pipeline: every cost is the CPU's in QEMU)
        per_op: dict[int, float] = {}
        for s, st in zip(p.steps, steps, strict=True):
            one = estimate([st], flash, mcu, run_crypto(p), slots=1, dsp=True)
            per_op[s.op] = per_op.get(s.op, 0.0) + one.seconds * 1e9
        total = rep["instructions"]
        errors = []
        pager = rep["compute_instructions"] - sum(x["instructions"] for x in rep["layers"])
        for layer in rep["layers"]:
            if layer["index"] not in per_op:
                continue
            measured = layer["instructions"] + layer["crypto_instructions"]
            if measured >= 0.01 * total:  # the layers that matter to the total
                errors.append(per_op[layer["index"]] / measured - 1.0)
        rows.append({
            "model": run["model"], "budget_bytes": int(budget), "slots": p.slots,
            "steps": len(p.steps), "estimate": round(est.seconds * 1e9),
            "measured": total, "ratio": est.seconds * 1e9 / total,
            "measured_crypto": rep["crypto_instructions"], "measured_pager": pager,
            "layer_errors_max": max((abs(e) for e in errors), default=0.0),
            "layers_within_5pct": sum(abs(e) <= 0.05 for e in errors), "layers": len(errors),
            "bit_exact": run["bit_exact"],
        })  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", default=SUPPORTED, choices=SUPPORTED)
    ap.add_argument("--refresh", action="store_true", help="re-run QEMU (ignore the cache)")
    ap.add_argument("--calibrate", action="store_true", help="fit and write the coefficients")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latency.json")
    args = ap.parse_args()
    runs = []
    for name in args.models:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        runs.append(measure(name, args.refresh))
    crypto = bench_crypto()
    if args.calibrate:
        table = calibrate(runs, crypto)
        costs_path(table.core).write_text(json.dumps(table.to_json(), indent=2) + "\n")
        load_costs.cache_clear()
        print(f"wrote {costs_path(table.core)}", file=sys.stderr)
    flash, mcu = qemu_profiles(crypto)
    rows = [row for run in runs for row in compare(run, flash, mcu)]
    print("Latency model vs the QEMU instruction timeline (CPI 1, DSP kernels, software crypto)")
    print(f"{'model':<36}{'budget':>9}{'slots':>6}{'estimate':>15}{'measured':>15}{'ratio':>8}"
          f"{'layers <=5%':>12}{'worst layer':>12}{'exact':>6}")  # fmt: skip
    for r in rows:
        print(
            f"{r['model']:<36}{r['budget_bytes']:>9,}{r['slots']:>6}{r['estimate']:>15,}"
            f"{r['measured']:>15,}{r['ratio']:>8.3f}"
            f"{r['layers_within_5pct']:>6}/{r['layers']:<5}{r['layer_errors_max']:>+11.1%}"
            f"{'yes' if r['bit_exact'] else 'NO':>6}"
        )
    worst = max(abs(r["ratio"] - 1) for r in rows)
    print(f"worst model estimate: {worst:.1%} off (goal <= 5%)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"crypto_instructions_per_byte": crypto, "rows": rows,
                                    "costs": load_costs("cortex-m4").to_json()
                                    if load_costs("cortex-m4") else None}, indent=1))  # fmt: skip
    print(f"wrote {args.out}")
    return 0 if worst <= 0.05 and all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
