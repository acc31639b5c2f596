"""Approximate inference by computation skipping (issue 27): Pareto fronts of `ooc approx`.

Run: python benchmarks/bench_approx.py [--out benchmarks/results/approx.json]
     [--plot benchmarks/results/approx_pareto.png] [--models NAME ...] [--jobs N] [--inputs N]

Models and data, none downloaded:

- digits_cnn: the CNN ooc_sdk/model/zoo/digits.py trains in numpy on scikit-learn's bundled
  8x8 digits (the first 1,200; seed 0), quantized to int8; accuracy is top-1 against the labels
  of the 597 held-out digits. The trained model is cached under $OOC_CACHE_DIR/approx.
- vww_96_int8, person_detect, pretrainedResnet_quant (../shared/models): accuracy is top-1
  agreement with the exact model over --inputs (default 500) crops of scikit-learn's two sample
  photographs scaled to the model's input, recoloured, and drawn from four times as many so
  that each of the exact model's classes has at least a tenth where the crops allow
  (ooc_sdk/approx/data.py).

Significance and the bias corrections are estimated on CALIBRATION inputs apart from those:
training digits (digits_cnn), or crops of the same photographs drawn with another seed.

For each, the exploration of ooc_sdk/approx/search.py (what `ooc approx` runs), timed, with the
instruction cost model of ooc_sdk/approx/m4_cost.json (calibrated on the QEMU Cortex-M4, DSP
kernels, in-core) and flash bytes read out of core (weights kept). Prints the Pareto table, the
configuration chosen at each accuracy bound, then the exact model and each chosen configuration
MEASURED on the emulated Cortex-M4 (ooc_sdk/run/approx_cost.measure_m4: DSP kernels, in core,
and out of core with no SRAM limit: instructions with paging and crypto, crypto instructions,
flash bytes read) beside the model's figure, and the issue's acceptance checks on the measured
instructions:

- digits_cnn: >= 21% fewer instructions at zero top-1 loss, >= 35% at <= 1 point;
- the three image models: >= 20% fewer at >= 99% agreement;
- vww_96_int8's exploration within 10 minutes.

Writes JSON (and a PNG of the fronts). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ooc_sdk.approx import Exploration, explore, natural_inputs  # noqa: E402
from ooc_sdk.model import load_model  # noqa: E402
from ooc_sdk.model.zoo import digits  # noqa: E402
from ooc_sdk.run.approx_cost import measure_m4  # noqa: E402
from ooc_sdk.toolchain import cache_root  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
IMAGE_MODELS = ["vww_96_int8", "person_detect", "pretrainedResnet_quant"]
# the digits CNN as the benchmark trains it (a group lasso on the operand groups) and, for
# comparison, trained without it
DIGITS = {"digits_cnn": digits.GROUP_LASSO, "digits_cnn_plain": 0.0}
MODELS = [*DIGITS, *IMAGE_MODELS]
# (model, accuracy drop bound, instructions saved at least)
TARGETS = [("digits_cnn", 0.0, 0.21), ("digits_cnn", 0.01, 0.35)] + [
    (m, 0.01, 0.20) for m in IMAGE_MODELS
]
VWW_SECONDS = 600.0
# significance and bias corrections come from inputs apart from the evaluation set: training
# digits, or natural crops drawn with another seed
CALIBRATION = 64


def digits_model(group_lasso: float) -> Path:
    """The trained digits CNN, cached by the trainer's source and the penalty."""
    src = (ROOT / "ooc_sdk" / "model" / "zoo" / "digits.py").read_bytes()
    key = hashlib.sha256(src + str(group_lasso).encode()).hexdigest()[:16]
    path = cache_root() / "approx" / f"digits_cnn-{key}.tflite"
    if not path.exists():
        print(f"training the digits CNN (numpy, group lasso {group_lasso:g}, a minute or two)...",
              flush=True)  # fmt: skip
        model, acc = digits.train(seed=0, group_lasso=group_lasso)
        print(f"  float accuracy on the held-out digits: {acc:.4f}", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model)
    return path


def run_model(
    name: str, inputs: int, jobs: int, measure: bool = True, ooc: bool = True, even: bool = False
) -> tuple[Exploration, dict[str, Any]]:
    if name in DIGITS:
        path = digits_model(DIGITS[name])
        x, y = digits.evaluation_set()
        calib = digits.calibration_set(CALIBRATION)
        bounds: tuple[float, ...] = (0.0, 0.01)
    else:
        path = SHARED / f"{name}.tflite"
        if not path.is_file():
            raise SystemExit(
                f"{path} is missing: the benchmark needs ../shared beside the checkout"
            )
        graph = load_model(path)
        x, y = natural_inputs(path.read_bytes(), graph, inputs, seed=0), None
        calib = natural_inputs(path.read_bytes(), graph, CALIBRATION, seed=1)
        bounds = (0.01,)
    graph = load_model(path)
    t0 = time.monotonic()
    result = explore(path.read_bytes(), graph, x, y, bounds=bounds, calibration=calib,
                     even_rows=even, jobs=jobs,
                     progress=lambda m: print(f"  [{time.monotonic() - t0:6.1f} s] {m}",
                                              flush=True))  # fmt: skip
    exact = result.exact
    row = {
        "model": name,
        "inputs": len(x),
        "calibration_inputs": len(calib),
        "even_rows": even,
        "accuracy": "top-1 against labels" if y is not None else "top-1 agreement with exact",
        "exact_top1_classes": result.classes,
        "seconds": round(result.seconds, 1),
        "cpu_seconds": round(result.cpu_seconds, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "candidates_run": result.evaluations,
        "exact": {
            "instructions": exact.instructions,
            "accuracy": exact.accuracy,
            "flash_read_bytes": exact.flash_read_bytes,
        },
        "pareto": [p.to_json(exact) for p in result.pareto],
        "chosen": {str(b): result.chosen(b).to_json(exact) for b in bounds},
    }
    if measure:
        row["measured"] = measured(path, graph, x, result, bounds, ooc)
    return result, row


def _m4(path: Path, config: Any, sample: list[np.ndarray], ooc: bool) -> dict[str, Any]:
    m = measure_m4(path, config, inputs=sample, out_of_core=ooc)
    return {"instructions": m.instructions, "ooc_instructions": m.ooc_instructions,
            "crypto_instructions": m.crypto_instructions,
            "flash_read_bytes": m.flash_read_bytes}  # fmt: skip


def measured(
    path: Path, graph: Any, x: np.ndarray, result: Exploration, bounds: tuple[float, ...],
    ooc: bool,
) -> dict[str, Any]:  # fmt: skip
    """The exact model and each bound's chosen configuration on the emulated Cortex-M4 (one of
    the evaluation inputs), with the cost model's instructions beside."""
    sample = [np.asarray(x[0]).reshape(graph.tensor(graph.inputs[0]).shape)]
    exact = _m4(path, None, sample, ooc)
    exact["model_instructions"] = result.exact.instructions
    out: dict[str, Any] = {"exact": exact}
    for b in bounds:
        point = result.chosen(b)
        m = _m4(path, point.config if point.config.layers else None, sample, ooc)
        m["model_instructions"] = point.instructions
        m["accuracy"] = point.accuracy
        for k in ("instructions", "ooc_instructions", "crypto_instructions", "flash_read_bytes"):
            if m[k] is not None and exact[k]:
                m[f"{k}_saved"] = round(1.0 - m[k] / exact[k], 4)
        m["model_error"] = round(point.instructions / m["instructions"] - 1.0, 4)
        out[str(b)] = m
    return out


def print_table(row: dict[str, Any]) -> None:
    e = row["exact"]
    print(f"\n{row['model']}: {row['inputs']} inputs, {row['accuracy']}; exploration "
          f"{row['seconds']} s ({row['cpu_seconds']} s of CPU, load average "
          f"{row['load_average'][0]} at the end), {row['candidates_run']} candidate models run")  # fmt: skip
    print(f"  inputs per exact top-1 class: {row['exact_top1_classes']}")
    print(f"  exact: {e['instructions']:,} M4 instructions (model), accuracy "
          f"{e['accuracy']:.4f}, {e['flash_read_bytes']:,} flash bytes read")  # fmt: skip
    print(f"  {'instructions':>13} {'saved':>7} {'accuracy':>9} {'drop':>7} {'flash read':>11} "
          f"{'saved':>7}")  # fmt: skip
    for p in row["pareto"]:
        print(f"  {p['instructions']:>13,} {p['instructions_saved']:>7.1%} {p['accuracy']:>9.4f} "
              f"{p['accuracy_drop']:>7.4f} {p['flash_read_bytes']:>11,} "
              f"{p['flash_read_saved']:>7.1%}")  # fmt: skip
    for bound, c in row["chosen"].items():
        print(f"  chosen at drop <= {float(bound):g}: {c['instructions_saved']:.1%} fewer "
              f"instructions, accuracy {c['accuracy']:.4f}, {c['flash_read_saved']:.1%} fewer "
              f"flash bytes")  # fmt: skip
    meas = row.get("measured")
    if meas:
        e = meas["exact"]
        print(f"  measured (QEMU Cortex-M4, DSP kernels): exact {e['instructions']:,} in core "
              f"(model {e['model_instructions']:,})"
              + (f", {e['ooc_instructions']:,} out of core, {e['crypto_instructions']:,} crypto, "
                 f"{e['flash_read_bytes']:,} flash bytes" if e["ooc_instructions"] else ""))  # fmt: skip
        for bound in row["chosen"]:
            m = meas[bound]
            line = (
                f"    drop <= {float(bound):g}: {m['instructions']:,} in core "
                f"({m.get('instructions_saved', 0.0):.1%} saved; model "
                f"{m['model_instructions']:,}, {m['model_error']:+.1%})"
            )
            if m["ooc_instructions"]:
                line += (
                    f"; out of core {m.get('ooc_instructions_saved', 0.0):.1%} fewer "
                    f"instructions, {m.get('crypto_instructions_saved', 0.0):.1%} fewer crypto, "
                    f"{m.get('flash_read_bytes_saved', 0.0):.1%} fewer flash bytes"
                )
            print(line)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.6), squeeze=False)
    for ax, row in zip(axes[0], rows, strict=True):
        xs = [100 * p["instructions_saved"] for p in row["pareto"]]
        ys = [100 * p["accuracy"] for p in row["pareto"]]
        ax.plot(xs, ys, "o-", ms=3)
        ax.set_title(row["model"], fontsize=10)
        ax.set_xlabel("M4 instructions saved (%)")
        ax.set_ylabel("top-1 (%)" if "labels" in row["accuracy"] else "agreement (%)")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["model"]: r for r in rows}
    out = []
    for model, bound, want in TARGETS:
        if model not in by:
            continue
        c = by[model]["chosen"][str(bound)]
        meas = by[model].get("measured")
        value = meas[str(bound)].get("instructions_saved", 0.0) if meas else c["instructions_saved"]
        what = "measured" if meas else "modelled"
        out.append({"check": f"{model}: >= {want:.0%} fewer instructions ({what}) at drop "
                    f"<= {bound:g}", "value": value, "ok": value >= want})  # fmt: skip
    if "vww_96_int8" in by:
        s = by["vww_96_int8"]["seconds"]
        out.append({"check": f"vww_96_int8 exploration <= {VWW_SECONDS:.0f} s", "value": s,
                    "ok": s <= VWW_SECONDS})  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "approx.json")
    ap.add_argument("--plot", type=Path,
                    default=ROOT / "benchmarks" / "results" / "approx_pareto.png")  # fmt: skip
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--jobs", type=int, default=1, help="tflite-micro processes side by side")
    ap.add_argument("--inputs", type=int, default=500, help="natural images per image model")
    ap.add_argument("--no-measure", action="store_true",
                    help="skip the QEMU measurements of the chosen configurations")  # fmt: skip
    ap.add_argument("--even-rows", nargs="*", default=[], choices=MODELS, metavar="MODEL",
                    help="models whose search skips as many groups in every row (ooc approx "
                         "--even-rows: out of core, flash bytes fall with the skipped weights)")  # fmt: skip
    ap.add_argument("--no-ooc", action="store_true",
                    help="measure in core only (no out-of-core builds)")  # fmt: skip
    args = ap.parse_args()
    rows = []
    for name in args.models:
        print(f"{name}:", flush=True)
        _, row = run_model(name, args.inputs, args.jobs, not args.no_measure, not args.no_ooc,
                           name in args.even_rows)  # fmt: skip
        rows.append(row)
        print_table(row)
    results = checks(rows)
    print("\nacceptance:")
    for c in results:
        print(f"  {'ok  ' if c['ok'] else 'MISS'} {c['check']}: {c['value']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": platform.platform(), "jobs": args.jobs, "rows": rows, "checks": results}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    plot(rows, args.plot)
    print(f"\nwrote {args.out} and {args.plot}")
    return 0 if all(c["ok"] for c in results) else 1


if __name__ == "__main__":
    np.set_printoptions(linewidth=120)
    sys.exit(main())
