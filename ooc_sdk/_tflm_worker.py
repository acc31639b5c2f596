"""Child process of :mod:`ooc_sdk.golden`: run one model in tflite-micro.

Usage: ``python -m ooc_sdk._tflm_worker DIR ARENA_BYTES N_OUTPUTS``. Reads
``DIR/model.tflite`` and ``DIR/in.npz``, writes ``DIR/out.npz``, and calls
``print_allocations()`` (which writes to this process's stderr from C++) so the
parent can read the arena figures. Exit status 3 means tflite-micro is not installed. The
interpreter may ``abort()`` on a model it rejects; that only ends this process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return 3
    workdir, arena, n_outputs = Path(argv[0]), int(argv[1]), int(argv[2])
    model = (workdir / "model.tflite").read_bytes()
    interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
    with np.load(workdir / "in.npz") as z:
        inputs = [z[f"arr_{i}"] for i in range(len(z.files))]
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    outputs = [np.array(interp.get_output(i)) for i in range(n_outputs)]
    np.savez(workdir / "out.npz", *outputs)
    interp.print_allocations()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
