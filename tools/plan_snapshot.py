"""Snapshot the plans of every supported shared model at the budgets the tests use.

A refactoring guard: run it before and after a change that must not change behaviour, then
compare the two files (``python tools/plan_snapshot.py --compare A.json B.json``). Each entry
holds the plan's JSON (timings dropped), its plan_id and schedule digest, the fused plan's
digest and the SHA-256 of the C tables ``ooc codegen`` emits for it. A budget that cannot be
met records the error's text and minimum instead.

    python tools/plan_snapshot.py -o /tmp/before.json          # ~10 min, MobileNetV2 most of it
    python tools/plan_snapshot.py --compare /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT.parent / "shared" / "models"
KIB = 1024

# (model file, out-of-core budgets, fused out-of-core budgets, in-core working-SRAM budgets)
MATRIX: list[tuple[str, list[int | None], list[int], list[int]]] = [
    (
        "vww_96_int8.tflite",
        [None, 64 * KIB],
        [64 * KIB, 24 * KIB, 16 * KIB, 12 * KIB],
        [16 * KIB, 10 * KIB],
    ),
    ("person_detect.tflite", [None, 64 * KIB], [64 * KIB, 24 * KIB], [16 * KIB]),
    ("pretrainedResnet_quant.tflite", [None, 64 * KIB], [64 * KIB, 16 * KIB, 12 * KIB], [16 * KIB]),
    ("kws_ref_model.tflite", [None, 64 * KIB, 24 * KIB], [64 * KIB, 24 * KIB], [8 * KIB]),
    ("ad01_int8.tflite", [None, 64 * KIB, 8 * KIB], [8 * KIB], [4 * KIB]),
    ("micro_speech_quantized.tflite", [None, 64 * KIB], [16 * KIB], [4 * KIB]),
    ("hello_world_int8.tflite", [None, 8 * KIB], [8 * KIB], [1 * KIB]),
    ("mobilenet_v2_quantized_1x3x224x224.tflite", [None], [64 * KIB, 32 * KIB], [64 * KIB]),
]
KS = (1.0, 1.3, 1.7)
_VOLATILE = {"search_seconds", "seconds"}


def _strip(j: Any) -> Any:
    if isinstance(j, dict):
        return {k: _strip(v) for k, v in j.items() if k not in _VOLATILE}
    if isinstance(j, list):
        return [_strip(v) for v in j]
    return j


def _tables_sha(graph: Any, fusion: Any = None, plan: Any = None) -> str:
    from ooc_sdk.codegen.emit import generate_c

    model_c, model_h, _, _ = generate_c(graph, "snap", plan, fusion)
    return hashlib.sha256((model_c + model_h).encode()).hexdigest()


def _try(fn: Callable[..., dict[str, Any]], *args: Any, **kw: Any) -> dict[str, Any]:
    from ooc_sdk.errors import OocError

    try:
        return fn(*args, **kw)
    except OocError as e:
        return {"error": str(e), "minimum": getattr(e, "minimum", None)}


def _model(name: str, budgets: list[int | None], fused: list[int], working: list[int]) -> dict:
    from ooc_sdk.model import load_model
    from ooc_sdk.plan.fusion.search import FusionSearch
    from ooc_sdk.plan.planner import plan
    from ooc_sdk.plan.request import PlanRequest
    from ooc_sdk.targets import load_flash, load_mcu

    flash, mcu = load_flash("w25q128jv"), load_mcu("cortex-m4")
    graph = load_model(MODELS / name)

    def ooc(budget: int | None, **kw: Any) -> dict[str, Any]:
        p = plan(graph, PlanRequest(budget, flash, mcu, **kw))
        return {
            "plan": _strip(p.to_json()),
            "plan_id": p.plan_id.hex(),
            "schedule_digest": p.schedule_digest,
            "fusion_digest": p.fusion.digest if p.fusion is not None else None,
            "tables_sha256": _tables_sha(graph, p.fusion, p),
        }

    search = FusionSearch(graph)

    def in_core(**kw: Any) -> dict[str, Any]:
        fp = search.plan(**kw)
        return {"plan": _strip(fp.to_json()), "digest": fp.digest,
                "tables_sha256": _tables_sha(graph, fp)}  # fmt: skip

    entry: dict[str, Any] = {}
    for b in budgets:
        entry[f"ooc/{b}"] = _try(ooc, b)
    entry["ooc/poly1305-boot"] = _try(ooc, budgets[-1], tag="poly1305",
                                      verify="boot")  # fmt: skip
    for b in fused:
        entry[f"ooc-fused/{b}"] = _try(ooc, b, fuse=True)
    for k in KS:
        entry[f"fused/k{k}"] = _try(in_core, max_mac_overhead=k)
    for b in working:
        entry[f"fused/sram{b}"] = _try(in_core, sram=b)
    return entry


def snapshot(only: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, budgets, fused, working in MATRIX:
        if only and only not in name:
            continue
        t0 = time.perf_counter()
        out[name] = _model(name, budgets, fused, working)
        print(
            f"{name}: {len(out[name])} plans in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
    return out


def compare(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    bad = 0
    for model in sorted(set(left) | set(right)):
        la, ra = left.get(model, {}), right.get(model, {})
        for key in sorted(set(la) | set(ra)):
            if la.get(key) != ra.get(key):
                bad += 1
                print(f"DIFFERS {model} {key}")
    n = sum(len(v) for v in left.values())
    print(f"{n - bad} of {n} plans identical" if not bad else f"{bad} plans differ")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, help="where to write the snapshot")
    ap.add_argument("--only", help="only models whose file name contains this")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        ap.error("give -o OUT.json or --compare BEFORE AFTER")
    data = snapshot(args.only)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
