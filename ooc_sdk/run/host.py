"""Build and run a model, or a build directory, on the host with the C runtime (``ooc run``).

The generated tables, the runtime and the host runner
(``c_runtime/ports/host/ooc_run_main.c``) are compiled with the system C
compiler into a binary cached under ``$OOC_CACHE_DIR/build/<key>``, where the
key hashes the model, the runtime sources, the code generator and the compiler
flags: a second run of the same model costs no compilation.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk import __version__
from ooc_sdk.build.directory import BuildDir, BuildDirError
from ooc_sdk.build.flash import HOST, NOR_EMU, flash_args
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.codegen.runtime import (
    C_RUNTIME,
    INCLUDE,
    KERNEL_FLAGS,
    runtime_digest,
    runtime_paths,
)
from ooc_sdk.errors import InvalidArgumentError, ToolError, image_error_for
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.model.inputs import check_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.toolchain import (
    BIND_NOW,
    RELEASE,
    SANITIZE,
    WARNINGS,
    build_root,
    compile_cached,
    compiler,
)


@dataclass(frozen=True)
class HostResult:
    outputs: list[list[np.ndarray]]  # per sample, per model output
    arena_bytes: int
    invoke_seconds: list[float]  # median over repeats, per sample
    working_high_water_bytes: int = 0  # arena bytes below the outputs the runtime wrote


@cache
def generator_digest() -> str:
    """A digest of what turns a graph into C tables: the SDK's lowering and code generation
    (their Python sources) and the C runtime. Cached generated tables key on it, so a change
    to any of them never reuses stale tables."""
    h = hashlib.sha256(__version__.encode())
    sdk = Path(__file__).resolve().parents[1]
    for p in sorted([*(sdk / "codegen").rglob("*.py"), *(sdk / "lower").rglob("*.py")]):
        h.update(p.read_bytes())
    h.update(runtime_digest().encode())
    return h.hexdigest()


@cache
def _codegen_digest() -> str:
    h = hashlib.sha256(generator_digest().encode())
    h.update((C_RUNTIME / "ports" / "host" / "ooc_run_main.c").read_bytes())
    return h.hexdigest()


def build_host(
    graph: Graph, sanitize: bool = False, kernels: str = "ref", fusion: FusionPlan | None = None
) -> Path:
    """Compile ``graph`` for the host; returns the runner binary (cached). ``kernels="dsp"``
    builds the Cortex-M DSP-extension kernels (src/kernels/*_dsp.c), here in their portable C
    form, instead of the reference conv, depthwise and fully connected kernels."""
    if kernels not in KERNEL_FLAGS:
        raise InvalidArgumentError(
            f"unknown kernels {kernels!r} (one of {', '.join(KERNEL_FLAGS)})"
        )
    cc = compiler()
    flags = WARNINGS + (SANITIZE if sanitize else RELEASE) + KERNEL_FLAGS[kernels]
    schedule = fusion.digest if fusion is not None else "per-layer"
    key = hashlib.sha256(
        f"{graph.cache_id}|{schedule}|{_codegen_digest()}|{cc}|{' '.join(flags)}".encode()
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
            *map(str, gen.runtime_sources),
            str(C_RUNTIME / "ports" / "host" / "ooc_run_main.c"),
        ]
        return compile_cached(key, args, "the host runtime")


IMAGE_TOOL = C_RUNTIME / "ports" / "host" / "ooc_image_tool.c"


def build_image_tool(sanitize: bool = False) -> Path:
    """The host image tool (c_runtime/ports/host/ooc_image_tool.c: mount, read, tamper and
    bench over the C image reader, flash held in memory); cached like build_host."""
    cc = compiler()
    flags = WARNINGS + (SANITIZE if sanitize else RELEASE)
    key = hashlib.sha256(
        f"image-tool|{runtime_digest()}|{IMAGE_TOOL.read_bytes().hex()}|{cc}|{' '.join(flags)}".encode()
    ).hexdigest()[:32]
    args = [cc, *flags, f"-I{INCLUDE}", *map(str, runtime_paths()), str(IMAGE_TOOL)]
    return compile_cached(key, args, "the image tool")


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


# -- ooc run OUT/: a build directory, its weights only in the emulated flash --------------------

RUNNER = C_RUNTIME / "ports" / "host" / "ooc_run_flash_main.c"
COMMON = C_RUNTIME / "ports" / "common"
# What the host programs of a build link beside the runtime and their main: the NOR emulator,
# the host's port over it, and the power-on every platform's runners share.
HOST_PORT = (
    NOR_EMU, HOST / "ooc_nor_emu.h", HOST / "ooc_host_port.c", HOST / "ooc_host_port.h",
    COMMON / "ooc_boot.c", COMMON / "ooc_boot.h",
)  # fmt: skip


PSA = C_RUNTIME / "ports" / "psa"
# The runner's AES engines (ooc_run_flash_main.c): the sources, defines and libraries each adds.
# "psa": the PSA Crypto backend over the system's Mbed TLS (Debian: libmbedtls-dev); "async":
# the host's worker-thread bulk engine, which overlaps the next step's decryption with compute.
ENGINES: dict[str, tuple[tuple[Path, ...], tuple[str, ...], tuple[str, ...]]] = {
    "software": ((), (), ()),
    "psa": (
        (PSA / "ooc_engine_psa.c", PSA / "ooc_engine_psa.h"),
        ("-DOOC_RUN_ENGINE_PSA", f"-I{PSA}"),
        ("-lmbedcrypto",),
    ),
    "async": (
        (HOST / "ooc_host_engine.c", HOST / "ooc_host_engine.h"),
        ("-DOOC_RUN_ENGINE_ASYNC", "-pthread"),
        ("-pthread",),
    ),
}


def build_runner(bd: BuildDir, sanitize: bool = False, engine: str = "software") -> Path:
    """Compile the build's C tables with the runtime, the NOR emulator and the flash runner,
    its AES engine one of ENGINES."""
    if engine not in ENGINES:
        raise InvalidArgumentError(f"unknown AES engine {engine!r} (one of {', '.join(ENGINES)})")
    files, defines, libs = ENGINES[engine]
    flags = WARNINGS + (SANITIZE if sanitize else RELEASE) + list(defines)
    return build_host_program(
        bd, RUNNER, flags, (*BIND_NOW, *libs), "the out-of-core host runner", extra=files
    )


def build_host_program(
    bd: BuildDir,
    main: Path,
    flags: list[str],
    link: tuple[str, ...],
    what: str,
    extra: tuple[Path, ...] = (),
) -> Path:
    """Compile the build's C tables with the runtime, the NOR emulator, the host port, the
    ``extra`` port files and the host program ``main`` (its OOC_RUN_* macros name the tables),
    once per content: a cached binary."""
    cc = compiler()
    cname = bd.info.c_name
    c_dir = bd.c_dir
    model_c, model_h = c_dir / f"ooc_model_{cname}.c", c_dir / f"ooc_model_{cname}.h"
    if not model_c.exists() or not model_h.exists():
        raise InvalidArgumentError(f"{c_dir} lacks the generated model tables: run ooc build again")
    h = hashlib.sha256(main.name.encode())
    for p in (model_c, model_h, main, *HOST_PORT, *extra):
        h.update(p.read_bytes())
    key = hashlib.sha256(
        f"{h.hexdigest()}|{runtime_digest()}|{cc}|{' '.join(flags)}|{' '.join(link)}".encode()
    ).hexdigest()[:32]
    args = [
        cc, *flags, f"-I{c_dir}", f"-I{INCLUDE}", f"-I{HOST}", f"-I{COMMON}",
        f'-DOOC_RUN_HEADER="ooc_model_{cname}.h"', f"-DOOC_RUN_MODEL=ooc_model_{cname}",
        f"-DOOC_RUN_ARENA=OOC_MODEL_{cname.upper()}_ARENA_BYTES",
        str(model_c), *map(str, runtime_paths()),
        *(str(p) for p in (*HOST_PORT, *extra) if p.suffix == ".c"), str(main), *link,
    ]  # fmt: skip
    return compile_cached(key, args, what)


@dataclass
class RunResult:
    outputs: list[list[np.ndarray]]
    report: dict[str, Any]


def run_build(
    out_dir: Path,
    graph: Graph,
    device: DeviceKey,
    samples: list[list[np.ndarray]],
    *,
    sync_reads: bool = False,
    flip_bit: int | None = None,
    sanitize: bool = False,
    flash_file: Path | None = None,
    engine: str = "software",
    engine_args: tuple[str, ...] = (),
) -> RunResult:
    """Run ``samples`` through the build on the host: weights from the emulated flash only
    (``flash_file``, default OUT/flash.bin), AES on ``engine`` (ENGINES; ``engine_args``: the
    runner's --engine-* options)."""
    bd = BuildDir.open(out_dir)
    bd.check_for(graph, device)
    flash_file = flash_file or bd.flash_file()
    for sample in samples:
        check_inputs(graph, sample)
    binary = build_runner(bd, sanitize, engine)
    with tempfile.TemporaryDirectory(prefix="ooc-run-") as tmp:
        in_path, out_path = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        write_samples(in_path, samples)
        args = [str(binary), str(flash_file), str(in_path), str(out_path),
                str(len(samples)), *flash_args(bd.info.flash), "--base", str(bd.info.flash_offset)]  # fmt: skip
        if sync_reads:
            args.append("--sync-reads")
        if flip_bit is not None:
            args += ["--flip-bit", str(flip_bit)]
        args += engine_args
        for anchor in device.anchors:  # the device's trust anchors: a signed image installs
            args += ["--anchor", anchor.hex()]
        secret = f"{device.uid.hex()} {device.root_key.hex()}\n"
        proc = subprocess.run(args, input=secret, capture_output=True, text=True, check=False)
        del secret
        try:
            report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            msg = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise ToolError(f"the out-of-core host runner failed: {msg}") from None
        if proc.returncode != 0:
            code = int(report.get("status", 0))
            if code == 0:  # the runner's own set-up (the emulated flash), not the runtime
                raise BuildDirError(
                    f"{out_dir}: the host runner could not start: {report.get('error')}"
                )
            stage = report.get("stage", "run")
            cls = image_error_for(code)
            raise cls(f"the device runtime refused at {stage}: {report.get('error')} ({code})")
        raw = out_path.read_bytes()
    return RunResult(split_outputs(graph, raw, len(samples)), report)
