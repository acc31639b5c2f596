"""How long `ooc zoo` takes to generate models from ~10 KiB to 16 MiB of weights.

Run: python benchmarks/bench_zoo.py [--out benchmarks/results/zoo.json]
Prints a table and writes JSON. Each row is the best of --repeat runs of
generate() (weights drawn, calibrated, quantized, serialised); the acceptance
figure is the 16 MiB rows (goal: under 10 s each).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from ooc_sdk.model.zoo import ARCHITECTURES, generate
from ooc_sdk.units import format_size

TARGETS = [10 << 10, 1 << 20, 16 << 20]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "zoo.json")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    print(f"{'arch':14} {'target':>9} {'weights':>10} {'width':>8} {'MACs':>14} {'seconds':>8}")
    for arch in ARCHITECTURES:
        for target in TARGETS:
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                m = generate(arch, weights=target, seed=0)
                best = min(best, time.perf_counter() - t0)
            rows.append(
                {
                    "arch": arch,
                    "target_bytes": target,
                    "weight_bytes": m.weight_bytes,
                    "width": m.knobs.width,
                    "macs": m.macs,
                    "file_bytes": len(m.data),
                    "seconds": round(best, 4),
                }
            )
            print(
                f"{arch:14} {format_size(target):>9} {format_size(m.weight_bytes):>10} "
                f"{m.knobs.width:>8g} {m.macs:>14,} {best:>8.3f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": sys.version.split()[0], "machine": platform.machine(), "repeat": args.repeat}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
