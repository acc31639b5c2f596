"""Build and run a model on the host with the C runtime (``ooc run``).

The generated tables, the runtime and the host runner
(``c_runtime/ports/host/ooc_run_main.c``) are compiled with the system C
compiler into a binary cached under ``$OOC_CACHE_DIR/build/<key>``, where the
key hashes the model, the runtime sources, the code generator and the compiler
flags: a second run of the same model costs no compilation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ooc_sdk import __version__
from ooc_sdk.codegen.emit import C_RUNTIME, runtime_digest, write_codegen
from ooc_sdk.errors import InvalidArgumentError, ToolError
from ooc_sdk.golden import cache_dir as golden_cache_dir
from ooc_sdk.golden import check_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion import FusionPlan

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]
RELEASE = ["-O3"]
SANITIZE = [
    "-O1",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]


@dataclass(frozen=True)
class HostResult:
    outputs: list[list[np.ndarray]]  # per sample, per model output
    arena_bytes: int
    invoke_seconds: list[float]  # median over repeats, per sample
    working_high_water_bytes: int = 0  # arena bytes below the outputs the runtime wrote


def build_root() -> Path:
    return golden_cache_dir().parent / "build"


@cache
def _codegen_digest() -> str:
    h = hashlib.sha256(__version__.encode())
    for p in sorted((Path(__file__).parent / "codegen").rglob("*.py")):
        h.update(p.read_bytes())
    h.update(runtime_digest().encode())
    h.update((C_RUNTIME / "ports" / "host" / "ooc_run_main.c").read_bytes())
    return h.hexdigest()


def _compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise ToolError(f"no C compiler: '{cc}' is not on PATH (install gcc or set CC)")
    return cc


def _compile_cached(key: str, args: list[str], what: str) -> Path:
    """Compile ``args`` (sources and flags, without -o) into build_root()/key/binary, once."""
    final = build_root() / key
    binary = final / "binary"
    if binary.exists():
        return binary
    build_root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=build_root()))
    try:
        proc = subprocess.run(
            [*args, "-o", str(tmp / "binary")], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            lines = [
                ln for ln in proc.stderr.splitlines() if "error" in ln
            ] or proc.stderr.splitlines()
            raise ToolError(f"compiling {what} failed: {lines[0] if lines else 'no message'}")
        try:
            tmp.rename(final)
        except OSError:  # another process built the same key first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return binary


KERNELS = {"ref": [], "dsp": ["-DOOC_KERNELS_DSP=1"]}


def build_host(
    graph: Graph, sanitize: bool = False, kernels: str = "ref", fusion: FusionPlan | None = None
) -> Path:
    """Compile ``graph`` for the host; returns the runner binary (cached). ``kernels="dsp"``
    builds the Cortex-M DSP-extension kernels (src/kernels/conv_dsp.c), here in their portable C
    form, instead of the reference conv, depthwise and fully connected kernels."""
    if kernels not in KERNELS:
        raise InvalidArgumentError(f"unknown kernels {kernels!r} (one of {', '.join(KERNELS)})")
    cc = _compiler()
    flags = WARNINGS + (SANITIZE if sanitize else RELEASE) + KERNELS[kernels]
    schedule = fusion.digest if fusion is not None else "per-layer"
    key = hashlib.sha256(
        f"{graph.sha256}|{schedule}|{_codegen_digest()}|{cc}|{' '.join(flags)}".encode()
    ).hexdigest()[:32]
    if (build_root() / key / "binary").exists():
        return build_root() / key / "binary"
    with tempfile.TemporaryDirectory(prefix="ooc-gen-") as tmp:
        gen = write_codegen(graph, Path(tmp) / "gen", fusion=fusion)
        upper = gen.name.upper()
        working = [f"-DOOC_RUN_WORKING=OOC_MODEL_{upper}_WORKING_BYTES"] if fusion else []
        args = [
            cc,
            *flags,
            f"-I{gen.directory}",
            f"-I{gen.directory / 'ooc_runtime' / 'include'}",
            f'-DOOC_RUN_HEADER="ooc_model_{gen.name}.h"',
            f"-DOOC_RUN_MODEL=ooc_model_{gen.name}",
            f"-DOOC_RUN_ARENA=OOC_MODEL_{upper}_ARENA_BYTES",
            *working,
            str(gen.model_c),
            *[str(s) for s in gen.runtime_sources],
            str(C_RUNTIME / "ports" / "host" / "ooc_run_main.c"),
        ]
        return _compile_cached(key, args, "the host runtime")


IMAGE_TOOL = C_RUNTIME / "ports" / "host" / "ooc_image_tool.c"


def build_image_tool(sanitize: bool = False) -> Path:
    """The host image tool (c_runtime/ports/host/ooc_image_tool.c: mount, read, tamper and
    bench over the C image reader, flash held in memory); cached like build_host."""
    cc = _compiler()
    flags = WARNINGS + (SANITIZE if sanitize else RELEASE)
    key = hashlib.sha256(
        f"image-tool|{runtime_digest()}|{IMAGE_TOOL.read_bytes().hex()}|{cc}|{' '.join(flags)}".encode()
    ).hexdigest()[:32]
    sources = sorted(str(p) for p in (C_RUNTIME / "src").rglob("*.c"))
    args = [cc, *flags, f"-I{C_RUNTIME / 'include'}", *sources, str(IMAGE_TOOL)]
    return _compile_cached(key, args, "the image tool")


def write_samples(path: Path, samples: list[list[np.ndarray]]) -> None:
    """The runners' input file: each sample's inputs back to back, little-endian."""
    with path.open("wb") as f:
        for sample in samples:
            for x in sample:
                f.write(np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tobytes())


def split_outputs(graph: Graph, raw: bytes, n_samples: int) -> list[list[np.ndarray]]:
    """The runners' output file back into arrays: per sample, per model output."""
    out_tensors = [graph.tensor(t) for t in graph.outputs]
    outputs, pos = [], 0
    for _ in range(n_samples):
        per = []
        for t in out_tensors:
            n = t.nbytes
            per.append(
                np.frombuffer(raw[pos : pos + n], dtype=t.dtype.numpy.newbyteorder("<"))
                .reshape(t.shape)
                .copy()
            )
            pos += n
        outputs.append(per)
    return outputs


def run_host(
    graph: Graph,
    samples: list[list[np.ndarray]],
    repeat: int = 1,
    sanitize: bool = False,
    kernels: str = "ref",
    fusion: FusionPlan | None = None,
) -> HostResult:
    """Run every sample (a list with one array per model input) through the C runtime."""
    if not samples:
        raise InvalidArgumentError("no input samples")
    for sample in samples:
        check_inputs(graph, sample)
    binary = build_host(graph, sanitize, kernels, fusion)
    with tempfile.TemporaryDirectory(prefix="ooc-run-") as tmp:
        in_path, out_path = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        write_samples(in_path, samples)
        proc = subprocess.run(
            [str(binary), str(in_path), str(out_path), str(len(samples)), str(repeat)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            if "runtime error" in proc.stderr or "Sanitizer" in proc.stderr:
                msg = next(
                    ln
                    for ln in proc.stderr.splitlines()
                    if "runtime error" in ln or "Sanitizer" in ln
                )
            raise ToolError(f"the host runtime failed: {msg}")
        info = json.loads(proc.stdout)
        raw = out_path.read_bytes()
    outputs = split_outputs(graph, raw, len(samples))
    return HostResult(
        outputs,
        int(info["arena_bytes"]),
        [float(v) for v in info["invoke_seconds"]],
        int(info["working_high_water_bytes"]),
    )
