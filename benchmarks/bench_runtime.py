"""ooc's host C runtime vs the tflite-micro interpreter, on the same inputs, in one run.

Run: python benchmarks/bench_runtime.py [--repeat 15] [--out benchmarks/results/runtime.json]

Per supported model in ../shared/models: median invoke time of each (>= 10 invokes of the
same input; tflite-micro timed inside its own process around interpreter.invoke()), the
ratio ours/TFLM (the acceptance goal is <= 1.0), and activation arena bytes: our plan vs
TFLM's arena head (its non-persistent, activation part). Outputs are checked bit-exact.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_host

MODELS = [
    "vww_96_int8.tflite",
    "pretrainedResnet_quant.tflite",
    "kws_ref_model.tflite",
    "mobilenet_v2_quantized_1x3x224x224.tflite",
    "person_detect.tflite",
    "ad01_int8.tflite",
    "micro_speech_quantized.tflite",
    "hello_world_int8.tflite",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models"
    )
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "runtime.json")
    args = ap.parse_args()
    if args.repeat < 10:
        ap.error("--repeat must be at least 10")
    rows = []
    head = f"{'model':44} {'ooc ms':>9} {'tflm ms':>9} {'ratio':>6} {'ooc arena':>10} {'tflm head':>10} {'exact':>5}"
    print(head)
    for name in MODELS:
        path = args.models / name
        if not path.exists():
            print(f"{name}: missing from {args.models}", file=sys.stderr)
            return 1
        graph = load_model(path)
        sample = random_inputs(graph, 0)
        ours = run_host(graph, [sample], repeat=args.repeat)
        (ref,) = run_tflm_many(path, [sample], repeat=args.repeat)
        exact = all(
            a.tobytes() == b.tobytes() for a, b in zip(ours.outputs[0], ref.outputs, strict=True)
        )
        assert ref.invoke_seconds is not None
        ratio = ours.invoke_seconds[0] / ref.invoke_seconds
        rows.append(
            {
                "model": name,
                "ooc_invoke_seconds": ours.invoke_seconds[0],
                "tflm_invoke_seconds": ref.invoke_seconds,
                "ratio": ratio,
                "ooc_arena_bytes": ours.arena_bytes,
                "tflm_arena_head_bytes": ref.arena_head_bytes,
                "tflm_arena_total_bytes": ref.arena_bytes,
                "bit_exact": exact,
            }
        )
        print(
            f"{name:44} {ours.invoke_seconds[0] * 1e3:9.3f} {ref.invoke_seconds * 1e3:9.3f} {ratio:6.2f} "
            f"{ours.arena_bytes:10,} {ref.arena_head_bytes:10,} {'yes' if exact else 'NO':>5}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "repeat": args.repeat}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
