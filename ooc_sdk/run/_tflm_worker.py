"""Child process of :mod:`ooc_sdk.run.golden`: run one model in tflite-micro.

Usage: ``python -m ooc_sdk.run._tflm_worker DIR ARENA_BYTES N_INPUTS N_OUTPUTS N_SAMPLES REPEAT``.
Reads ``DIR/model.tflite`` and ``DIR/in.npz`` (arrays ``s<k>_i<j>``), invokes
each sample REPEAT times, writes ``DIR/out.npz`` (arrays ``s<k>_o<j>`` and
``times``, seconds per invoke), then calls ``print_allocations()``, which
writes the arena figures to this process's stderr from C++. Exit status 3
means tflite-micro is not installed. The interpreter may ``abort()`` on a model
it rejects; that ends only this process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return 3
    workdir = Path(argv[0])
    arena, n_in, n_out, n_samples, repeat = (int(v) for v in argv[1:6])
    interp = runtime.Interpreter.from_bytes(
        (workdir / "model.tflite").read_bytes(), arena_size=arena
    )
    results: dict[str, np.ndarray] = {}
    times = np.zeros((n_samples, repeat))
    with np.load(workdir / "in.npz") as z:
        for k in range(n_samples):
            for r in range(repeat):
                # the arena reuses input memory once the input is consumed: set it every time
                for j in range(n_in):
                    interp.set_input(z[f"s{k}_i{j}"], j)
                t0 = time.perf_counter()
                interp.invoke()
                times[k, r] = time.perf_counter() - t0
            for j in range(n_out):
                results[f"s{k}_o{j}"] = np.array(interp.get_output(j))
    np.savez(workdir / "out.npz", times=times, **results)
    interp.print_allocations()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
