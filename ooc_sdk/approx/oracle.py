"""tflite-micro on many inputs: intermediate activations, and the outputs of many models.

Both run in child processes (:mod:`ooc_sdk.approx._worker`; the interpreter ``abort()``s on
models it rejects). Activations come from tflite-micro's ``kPreserveAllTensors`` mode, which
keeps every tensor of an invocation readable by index, so no rewritten model is needed.
Candidate approximate models are scored in batches, each batch one process that loads the
inputs once; ``jobs`` processes run side by side.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ooc_sdk.errors import GoldenError
from ooc_sdk.model.ir import Graph
from ooc_sdk.run.golden import check_child


def _arena(graph: Graph) -> int:
    """Every activation tensor at once (they are all preserved) plus interpreter state."""
    acts = sum(graph.tensors[t].nbytes for t in graph.activation_tensors)
    return acts + 4096 * (len(graph.operators) + len(graph.tensors)) + (1 << 20)


def _start(workdir: Path, mode: str, arena: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ooc_sdk.approx._worker", str(workdir), mode, str(arena)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes], workdir: Path, timeout: float) -> dict[str, np.ndarray]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise GoldenError(f"tflite-micro did not finish within {timeout:.0f} s") from None
    check_child(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    with np.load(workdir / "out.npz") as z:
        return {k: z[k] for k in z.files}


def layer_inputs(
    model: bytes, graph: Graph, x: np.ndarray, tensors: list[int], timeout: float = 1800.0
) -> dict[int, np.ndarray]:
    """The values of ``tensors`` (activation tensor indices of ``graph``) for every input in
    ``x`` (``[N, *input shape]``): index -> ``[N, *tensor shape]``."""
    with tempfile.TemporaryDirectory(prefix="ooc-approx-") as tmp:
        d = Path(tmp)
        np.save(d / "in.npy", x)
        (d / "model0.tflite").write_bytes(model)
        (d / "tensors.txt").write_text(" ".join(str(t) for t in tensors))
        got = _finish(_start(d, "tensors", _arena(graph)), d, timeout)
    out = {}
    for t in tensors:
        v = got[f"t{t}"]
        want = (len(x), *graph.tensor(t).shape)
        if v.size != int(np.prod(want)):
            raise GoldenError(f"tflite-micro kept tensor {t} with {v.size} values, not {want}")
        out[t] = v.reshape(want)
    return out


def logits_tensor(graph: Graph) -> int | None:
    """The tensor before output 0's trailing SOFTMAX (and the RESHAPE / DEQUANTIZE around
    it), whose values move continuously where a saturated softmax does not; None when output 0
    has no softmax."""
    t = graph.outputs[0]
    seen_softmax = False
    while True:
        p = graph.producer(t)
        if p is None:
            return None
        op = graph.operators[p]
        if op.op_type not in ("SOFTMAX", "RESHAPE", "DEQUANTIZE", "LOGISTIC"):
            return t if seen_softmax else None
        seen_softmax = seen_softmax or op.op_type in ("SOFTMAX", "LOGISTIC")
        t = op.inputs[0]


def model_outputs(
    models: list[bytes],
    graph: Graph,
    x: np.ndarray,
    jobs: int = 1,
    tensor: int | None = None,
    timeout: float = 3600.0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Output 0 of each model (``graph``'s model with other weights) for every input in ``x``,
    and the values of ``tensor`` (output 0 again when None): two ``[N, size]`` arrays per
    model."""
    if not models:
        return []
    jobs = max(1, min(jobs, len(models)))
    split = np.array_split(np.arange(len(models)), jobs)
    mode = "outputs" if tensor is None else "both"
    with tempfile.TemporaryDirectory(prefix="ooc-approx-") as tmp:
        procs = []
        for j, part in enumerate(split):
            d = Path(tmp) / str(j)
            d.mkdir()
            np.save(d / "in.npy", x)
            if tensor is not None:
                (d / "tensors.txt").write_text(str(tensor))
            for k, m in enumerate(part):
                (d / f"model{k}.tflite").write_bytes(models[m])
            procs.append((d, len(part), _start(d, mode, _arena(graph))))
        results: list[tuple[np.ndarray, np.ndarray]] = []
        try:
            for d, n, proc in procs:
                got = _finish(proc, d, timeout)
                results += [(got[f"out{k}"], got.get(f"t{k}", got[f"out{k}"])) for k in range(n)]
        finally:
            for _, _, proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    return results
