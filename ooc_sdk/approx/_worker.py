"""Child process of :mod:`ooc_sdk.approx.oracle`: tflite-micro on many inputs, many models.

Usage: ``python -m ooc_sdk.approx._worker DIR MODE ARENA_BYTES``. ``DIR/in.npy`` holds the
inputs (one model input, ``[N, *shape]``). MODE ``tensors`` runs ``DIR/model0.tflite`` with
every tensor preserved and writes ``DIR/out.npz``: array ``t<i>`` (``[N, *shape]``) for each
tensor index listed in ``DIR/tensors.txt``. MODE ``outputs`` runs every ``DIR/model<k>.tflite``
(k = 0, 1, ... while the file exists) on all inputs and writes ``out<k>`` (``[N, output 0
size]``); MODE ``both`` also writes ``t<k>``, the tensor named in ``DIR/tensors.txt``. Exit status 3 means tflite-micro is not installed; an interpreter ``abort()`` ends
only this process.
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
    workdir, mode, arena = Path(argv[0]), argv[1], int(argv[2])
    x = np.load(workdir / "in.npy")
    results: dict[str, np.ndarray] = {}
    if mode == "tensors":
        wanted = [int(v) for v in (workdir / "tensors.txt").read_text().split()]
        interp = runtime.Interpreter.from_bytes(
            (workdir / "model0.tflite").read_bytes(),
            arena_size=arena,
            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
        )
        got: dict[int, list[np.ndarray]] = {t: [] for t in wanted}
        for sample in x:
            interp.set_input(sample, 0)
            interp.invoke()
            for t in wanted:
                got[t].append(np.array(interp.GetTensor(t, 0)["tensor_data"]))
        results = {f"t{t}": np.stack(v) for t, v in got.items()}
    else:
        # optionally also one intermediate tensor per input (the logits before a softmax)
        extra = (workdir / "tensors.txt").read_text().split() if mode == "both" else []
        config = runtime.InterpreterConfig.kPreserveAllTensors if extra else None
        k = 0
        while (workdir / f"model{k}.tflite").exists():
            kwargs = {"intrepreter_config": config} if config is not None else {}
            interp = runtime.Interpreter.from_bytes(
                (workdir / f"model{k}.tflite").read_bytes(), arena_size=arena, **kwargs
            )
            outs, logits = [], []
            for sample in x:
                interp.set_input(sample, 0)
                interp.invoke()
                outs.append(np.array(interp.get_output(0)).reshape(-1))
                if extra:
                    t = interp.GetTensor(int(extra[0]), 0)["tensor_data"]
                    logits.append(np.array(t).reshape(-1))
            results[f"out{k}"] = np.stack(outs)
            if extra:
                results[f"t{k}"] = np.stack(logits)
            k += 1
    np.savez(workdir / "out.npz", **results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
