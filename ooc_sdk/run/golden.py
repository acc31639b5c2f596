"""Golden outputs from TensorFlow Lite Micro, the project's correctness oracle.

The ``tflite-micro`` interpreter runs in a child process (it calls ``abort()``
on models it rejects), on inputs given by the caller or drawn from a seed. The
child's stdout and stderr are captured at the file-descriptor level (TFLM's
``print_allocations()`` writes to stderr from C++, below Python's ``sys``
streams), and the arena figures are parsed from them.

Results are cached on disk by (model SHA-256, input digest) under
``$OOC_CACHE_DIR/golden`` (default ``~/.cache/ooc/golden``), so tests and
benchmarks pay for each interpreter run once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ooc_sdk.errors import GoldenError, InvalidArgumentError, ToolError
from ooc_sdk.fileio import MAX_MODEL_BYTES, read_bytes, write_atomic
from ooc_sdk.model.inputs import check_inputs, random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.model.reader import parse_model
from ooc_sdk.toolchain import cache_root

_ARENA_RE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where interpreter results are cached: $OOC_CACHE_DIR/golden."""
    return cache_root() / "golden"


@dataclass(frozen=True)
class GoldenResult:
    outputs: list[np.ndarray]
    arena_bytes: int  # total arena TFLM used (print_allocations "total")
    arena_head_bytes: int  # non-persistent part: the activation plan
    arena_tail_bytes: int  # persistent part: interpreter state
    cached: bool = False
    invoke_seconds: float | None = None  # median interpreter invoke time (not for cached results)


def _arena_size(graph: Graph) -> int:
    """An arena surely large enough: every activation tensor at once plus interpreter state."""
    acts = sum(graph.tensors[t].nbytes for t in graph.activation_tensors)
    return acts + 4096 * (len(graph.operators) + len(graph.tensors)) + (1 << 20)


def _digest(model: bytes, inputs: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    h.update(hashlib.sha256(model).digest())
    for x in inputs:
        h.update(str(x.dtype).encode() + str(x.shape).encode())
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def _load_cached(entry: Path) -> GoldenResult | None:
    try:
        with np.load(entry) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != _CACHE_VERSION:
                return None
            outs = [z[f"out{i}"] for i in range(meta["outputs"])]
            return GoldenResult(outs, meta["total"], meta["head"], meta["tail"], cached=True)
    except (OSError, ValueError, KeyError):
        return None  # missing or damaged: recompute


def run_tflm(
    model: bytes | str | Path,
    inputs: list[np.ndarray] | None = None,
    seed: int = 0,
    use_cache: bool = True,
    timeout: float = 600.0,
) -> GoldenResult:
    """Run ``model`` once in tflite-micro and return its outputs and arena figures.

    ``inputs`` default to :func:`random_inputs` with ``seed``.
    """
    data = (
        read_bytes(Path(model), "model", MAX_MODEL_BYTES)
        if isinstance(model, (str, Path))
        else bytes(model)
    )
    if inputs is None:
        inputs = random_inputs(parse_model(data), seed)
    return run_tflm_many(data, [inputs], use_cache=use_cache, timeout=timeout)[0]


def run_tflm_many(
    model: bytes | str | Path,
    samples: list[list[np.ndarray]],
    use_cache: bool = True,
    repeat: int = 1,
    timeout: float = 600.0,
) -> list[GoldenResult]:
    """Run several samples (one array per model input each) in one interpreter process.

    With ``repeat > 1`` every sample is invoked that many times and
    ``invoke_seconds`` is the median (timing runs bypass the cache).
    """
    data = (
        read_bytes(Path(model), "model", MAX_MODEL_BYTES)
        if isinstance(model, (str, Path))
        else bytes(model)
    )
    graph = parse_model(data)
    for sample in samples:
        check_inputs(graph, sample)
    use_cache = use_cache and repeat == 1
    results: list[GoldenResult | None] = [None] * len(samples)
    entries = [cache_dir() / f"{_digest(data, sample)}.npz" for sample in samples]
    if use_cache:
        results = [_load_cached(e) if e.exists() else None for e in entries]
    todo = [k for k, r in enumerate(results) if r is None]
    if todo:
        fresh = _run_child(
            data,
            [samples[k] for k in todo],
            _arena_size(graph),
            len(graph.outputs),
            repeat,
            timeout,
        )
        for k, r in zip(todo, fresh, strict=True):
            results[k] = r
            if use_cache:
                _store(entries[k], r)
    return [r for r in results if r is not None]


def _run_child(
    data: bytes,
    samples: list[list[np.ndarray]],
    arena: int,
    n_outputs: int,
    repeat: int,
    timeout: float,
) -> list[GoldenResult]:
    with tempfile.TemporaryDirectory(prefix="ooc-golden-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "model.tflite").write_bytes(data)
        arrays = {f"s{k}_i{j}": x for k, sample in enumerate(samples) for j, x in enumerate(sample)}
        np.savez(tmpdir / "in.npz", **arrays)
        n_inputs = len(samples[0])
        cmd = [sys.executable, "-m", "ooc_sdk.run._tflm_worker", str(tmpdir)]
        cmd += [str(v) for v in (arena, n_inputs, n_outputs, len(samples), repeat)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise GoldenError(f"tflite-micro did not finish within {timeout:.0f} s") from None
        stdout = proc.stdout.decode("utf-8", "replace")
        stderr = proc.stderr.decode("utf-8", "replace")
        check_child(proc.returncode, stdout, stderr)
        figures = {kind: int(n) for kind, n in _ARENA_RE.findall(stdout + stderr)}
        if "total" not in figures:
            raise GoldenError("tflite-micro printed no arena allocation figures")
        with np.load(tmpdir / "out.npz") as z:
            times = z["times"]
            return [
                GoldenResult(
                    [z[f"s{k}_o{j}"] for j in range(n_outputs)],
                    figures["total"],
                    figures.get("head", 0),
                    figures.get("tail", 0),
                    invoke_seconds=float(np.median(times[k])),
                )
                for k in range(len(samples))
            ]


def check_child(returncode: int, stdout: str, stderr: str) -> None:
    """Raise what a tflite-micro child process's exit status says (status 3: not installed;
    any other failure, an ``abort()`` included: its last line of output)."""
    if returncode == 3:
        raise ToolError("tflite-micro is not installed: pip install 'ooc-sdk[golden]'")
    if returncode != 0:
        lines = [ln for ln in (stderr + stdout).splitlines() if ln.strip()]
        how = f"signal {-returncode}" if returncode < 0 else f"status {returncode}"
        raise GoldenError(f"tflite-micro failed ({how}): {lines[-1] if lines else 'no message'}")


def _store(entry: Path, r: GoldenResult) -> None:
    meta = {
        "version": _CACHE_VERSION,
        "outputs": len(r.outputs),
        "total": r.arena_bytes,
        "head": r.arena_head_bytes,
        "tail": r.arena_tail_bytes,
    }
    buf = io.BytesIO()
    np.savez(buf, meta=json.dumps(meta), **{f"out{i}": o for i, o in enumerate(r.outputs)})
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(entry, buf.getvalue())  # a concurrent reader sees the old or the new entry
    except (OSError, InvalidArgumentError):
        pass  # the cache is an optimisation; a read-only or full disk must not fail a run
