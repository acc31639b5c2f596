"""Run models and builds on an emulated Cortex-M4 (``ooc run ... --target qemu-m4``).

The firmware is the C runtime, the model's generated tables and the QEMU port
(``c_runtime/ports/qemu_mps2``: startup, linker script, semihosting, the external flash as a
host file), compiled with arm-none-eabi-gcc for a Cortex-M4F and run by
``qemu-system-arm -M mps2-an386 -icount shift=0``. Under ``-icount shift=0`` QEMU runs one
instruction per virtual nanosecond and the board's 25 MHz timer ticks once per 40 instructions,
so every count here is deterministic: the same firmware and inputs give the same numbers on any
machine (to a resolution of 40 instructions per measured interval).

Out-of-core, the linker script's SRAM region is the plan's SRAM figure: the arena (activations
and chunk slots), the runtime state and at least the planned stack must fit, or the link fails.
A fused in-core schedule (``run_model_m4(..., fusion=plan)``) links the same way into
``fused_ram_bytes(plan)``: its arena (working SRAM and the outputs), the runtime state and the
planned stack, with the weights in memory-mapped flash. Firmware binaries are cached by content
hash under ``$OOC_CACHE_DIR/build``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.codegen.runtime import (
    C_RUNTIME,
    INCLUDE,
    KERNEL_FLAGS,
    runtime_digest,
    runtime_paths,
)
from ooc_sdk.errors import (
    InvalidArgumentError,
    OocError,
    ToolError,
    image_error_for,
)
from ooc_sdk.fileio import write_secret
from ooc_sdk.formats.keystore import BOOT_COUNTER_NEW, keystore_record
from ooc_sdk.formats.tables import OP_KINDS
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.model.inputs import check_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.budget import in_core_sram_bytes
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.schedule import STACK_BOUND_BYTES
from ooc_sdk.run.host import build_root, generator_digest, split_outputs, write_samples

TARGET = "qemu-m4"
PORT = C_RUNTIME / "ports" / "qemu_mps2"
COMMON = C_RUNTIME / "ports" / "common"
LINKER_SCRIPT = PORT / "mps2_an386.ld"
# The port's sources, and the power-on every platform's runners share (ports/common).
PORT_SOURCES = (PORT / "board.c", PORT / "semihost.c", PORT / "ooc_qemu_flash.c",
                COMMON / "ooc_boot.c")  # fmt: skip
RUNNER = PORT / "ooc_run_qemu_main.c"
ARCH = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2",
          "-ffunction-sections", "-fdata-sections"]  # fmt: skip
KERNELS = tuple(KERNEL_FLAGS)
INSTRUCTIONS_PER_TICK = 40  # 1 instruction per ns (-icount shift=0), 25 MHz timer
IN_CORE_RAM_BYTES = 4 * 1024 * 1024  # the board's whole SSRAM2/3
DEFAULT_TIMEOUT_S = 900.0
QEMU_BASE_ARGS = ["-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                  "-icount", "shift=0"]  # fmt: skip
INSTALL_HINT = (
    "run scripts/install-toolchains.sh (Debian packages gcc-arm-none-eabi, "
    "libnewlib-arm-none-eabi, qemu-system-arm)"
)


class FirmwareBudgetError(OocError):
    """The firmware's .data + .bss + minimum stack do not fit the SRAM budget (a link error)."""


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{name} is not installed: {INSTALL_HINT}")
    return path


@cache
def _gcc_version() -> str:
    proc = subprocess.run(
        [tool("arm-none-eabi-gcc"), "--version"], capture_output=True, text=True, check=False
    )
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


def op_kind_names() -> dict[int, str]:
    """enum ooc_op_kind (ooc_sdk/formats/tables.py): value -> TFLite-style name."""
    return {value: name for name, value in OP_KINDS.items()}


@dataclass(frozen=True)
class Firmware:
    elf: Path
    sections: dict[str, int]  # text, rodata, data, bss (bytes)
    ram_bytes: int  # the linker script's SRAM region
    paged: bool
    kernels: str


def _sections(elf: Path) -> dict[str, int]:
    proc = subprocess.run(
        [tool("arm-none-eabi-size"), "-A", str(elf)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ToolError(f"arm-none-eabi-size failed on {elf}: {proc.stderr.strip()}")
    sizes: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return {
        "text": sizes.get(".vectors", 0) + sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0),
        "rodata": sizes.get(".rodata", 0),
        "data": sizes.get(".data", 0),
        "bss": sizes.get(".bss", 0),
    }


def _link_error(stderr: str, ram_bytes: int, stack_min: int) -> OocError:
    over = re.search(r"region `RAM' overflowed by (\d+) bytes", stderr)
    if over:
        return FirmwareBudgetError(
            f"the firmware does not fit its {ram_bytes:,}-byte SRAM budget: .data + .bss + the "
            f"{stack_min:,}-byte minimum stack overflow it by {int(over.group(1)):,} bytes"
        )
    lines = [ln for ln in stderr.splitlines() if "error" in ln] or stderr.splitlines()
    return ToolError(
        f"building the Cortex-M4 firmware failed: {lines[0] if lines else 'no message'}"
    )


def compile_firmware(
    sources: Sequence[Path],
    *,
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    ram_bytes: int = IN_CORE_RAM_BYTES,
    stack_min: int = STACK_BOUND_BYTES,
    kernels: str = "dsp",
    wraps: Sequence[str] = (),
    paged: bool = False,
) -> Firmware:
    """Compile and link ``sources`` with the runtime and the port into a cached ELF."""
    if kernels not in KERNELS:
        raise InvalidArgumentError(
            f"`kernels` must be one of {', '.join(KERNELS)}, not {kernels!r}", param="kernels"
        )
    gcc = tool("arm-none-eabi-gcc")
    port = list(PORT_SOURCES)
    flags = [*ARCH, *CFLAGS, *(f"-D{d}" for d in defines), *KERNEL_FLAGS[kernels]]
    link = ["-nostartfiles", "-T", str(LINKER_SCRIPT), "-Wl,--gc-sections",
            f"-Wl,--defsym=OOC_RAM_BYTES={ram_bytes}", f"-Wl,--defsym=OOC_STACK_MIN={stack_min}",
            *(f"-Wl,--wrap={w}" for w in wraps), "-lc", "-lgcc"]  # fmt: skip
    h = hashlib.sha256(f"{_gcc_version()}|{runtime_digest()}|{flags}|{link}".encode())
    for p in [
        *sources,
        *port,
        *sorted(PORT.glob("*.h")),
        *sorted(COMMON.glob("*.h")),
        LINKER_SCRIPT,
    ]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for d in include_dirs:
        for p in sorted(d.glob("*.h")):
            h.update(p.read_bytes())
    final = build_root() / f"m4-{h.hexdigest()[:32]}"
    elf = final / "firmware.elf"
    if not elf.exists():
        build_root().mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=build_root()))
        try:
            args = [gcc, *flags, f"-I{INCLUDE}", f"-I{PORT}", f"-I{COMMON}",
                    *(f"-I{d}" for d in include_dirs), *map(str, sources),
                    *map(str, runtime_paths()), *map(str, port), *link,
                    "-o", str(tmp / "firmware.elf")]  # fmt: skip
            proc = subprocess.run(args, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise _link_error(proc.stderr, ram_bytes, stack_min)
            with contextlib.suppress(OSError):  # another process built it first
                tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Firmware(elf, _sections(elf), ram_bytes, paged, kernels)


def _model_defines(cname: str, paged: bool, fused: bool = False, spills: bool = False) -> list[str]:
    working = [f"OOC_RUN_WORKING=OOC_MODEL_{cname.upper()}_WORKING_BYTES"] if fused else []
    return [
        f'OOC_RUN_HEADER="ooc_model_{cname}.h"',
        f"OOC_RUN_MODEL=ooc_model_{cname}",
        f"OOC_RUN_ARENA=OOC_MODEL_{cname.upper()}_ARENA_BYTES",
        f"OOC_RUN_PAGED={int(paged)}",
        f"OOC_RUN_SPILL={int(paged and spills)}",
        *working,
    ]


def build_model_firmware(
    c_dir: Path, cname: str, *, paged: bool, ram_bytes: int, kernels: str = "dsp"
) -> Firmware:
    """The runner firmware (ooc_run_qemu_main.c) for generated tables in ``c_dir``. Tables with a
    fused schedule (their header defines OOC_MODEL_<NAME>_WORKING_BYTES) measure the working
    SRAM below the outputs; others the whole arena. Tables whose plan spills (the header defines
    OOC_MODEL_<NAME>_SPILLED_TENSORS) get the spill ring; others do not pay for its state."""
    model_c = c_dir / f"ooc_model_{cname}.c"
    model_h = c_dir / f"ooc_model_{cname}.h"
    if not model_c.exists() or not model_h.exists():
        raise InvalidArgumentError(f"{c_dir} lacks the generated model tables")
    header = model_h.read_text()
    fused = f"#define OOC_MODEL_{cname.upper()}_WORKING_BYTES " in header
    spills = f"#define OOC_MODEL_{cname.upper()}_SPILLED_TENSORS " in header
    return compile_firmware(
        [model_c, RUNNER],
        include_dirs=[c_dir],
        defines=_model_defines(cname, paged, fused, spills),
        ram_bytes=ram_bytes,
        kernels=kernels,
        wraps=["ooc_image_open_chunk"] if paged else [],
        paged=paged,
    )


def run_qemu(
    fw: Firmware,
    args: dict[str, int],
    files: dict[str, bytes | Path],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[int, str, dict[str, bytes]]:
    """Run ``fw`` under QEMU in a fresh directory holding ``files`` (bytes are written, paths
    linked) with ``key=value`` command-line words from ``args``. Returns the exit status, the
    console (stderr) and every regular file the directory holds afterwards except the key
    storage. A run that outlives ``timeout`` is killed and reported as a ToolError."""
    qemu = tool("qemu-system-arm")
    words = "".join(f",arg={k}={v}" for k, v in args.items())
    with tempfile.TemporaryDirectory(prefix="ooc-qemu-") as tmp:
        run_dir = Path(tmp)
        for name, content in files.items():
            if isinstance(content, Path):
                (run_dir / name).symlink_to(content.resolve())
            else:  # 0600 from the start: keystore.bin holds the device's root key
                write_secret(run_dir / name, content, what="run file")
        cmd = [qemu, *QEMU_BASE_ARGS, "-semihosting-config",
               f"enable=on,target=native,arg=ooc{words}", "-kernel", str(fw.elf)]  # fmt: skip
        try:
            proc = subprocess.run(
                cmd, cwd=run_dir, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise ToolError(
                f"the Cortex-M4 run did not finish within {timeout:g} s and was stopped (a hang, "
                "or a model too slow for the timeout: raise --timeout)"
            ) from None
        finally:
            (run_dir / "keystore.bin").unlink(missing_ok=True)
        written = {
            p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and not p.is_symlink()
        }
    return proc.returncode, proc.stderr, written


def run_firmware(
    fw: Firmware,
    args: dict[str, int],
    files: dict[str, bytes | Path],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Run a firmware that writes report.json (the runner, the crypto bench); returns the
    report and the files the run left. Failures become the SDK's exceptions: the runtime's
    refusal (exit status 1) its ImageError class, a fault or anything else a ToolError."""
    status, console, written = run_qemu(fw, args, files, timeout=timeout)
    last = (console.strip().splitlines() or [f"exit status {status}"])[-1]
    report: dict[str, Any] = {}
    try:
        report = json.loads(written.get("report.json", b"{}"))
    except json.JSONDecodeError:
        report = {}
    if status == 3:
        raise ToolError(f"the firmware crashed on the emulated Cortex-M4: {last}")
    if status == 1 and "status" in report:
        code = int(report["status"])
        raise image_error_for(code)(
            f"the device runtime refused at {report.get('stage', 'run')}: {last} ({code})"
        )
    if status != 0 or report.get("status") != 0:
        raise ToolError(f"the Cortex-M4 run failed (exit status {status}): {last}")
    return report, written


@dataclass
class M4Result:
    outputs: list[list[np.ndarray]]
    report: dict[str, Any]  # what `ooc run --target qemu-m4 --json` prints (without outputs)


def _shape_report(graph: Graph, fw: Firmware, raw: dict[str, Any]) -> dict[str, Any]:
    tick = int(raw["instructions_per_tick"])
    names = op_kind_names()
    layers = []
    for i, ticks in enumerate(raw["layer_ticks"]):
        layers.append(
            {
                "index": i,
                "op": names.get(int(raw["layer_kinds"][i]), str(raw["layer_kinds"][i])),
                "instructions": int(ticks) * tick,
                "crypto_instructions": int(raw["layer_crypto_ticks"][i]) * tick,
                "steps": int(raw["layer_steps"][i]),
            }
        )
    instructions = int(raw["ticks"]) * tick
    crypto = int(raw["crypto_ticks"]) * tick
    macs = graph.macs
    return {
        "target": TARGET,
        "mode": "out-of-core" if fw.paged else "in-core",
        "kernels": fw.kernels,
        "instructions": instructions,
        "crypto_instructions": crypto,
        "compute_instructions": instructions - crypto,
        "instruction_resolution": tick,
        "macs": macs,
        "instructions_per_mac": round(instructions / macs, 3) if macs else None,
        "mount_instructions": int(raw["mount_ticks"]) * tick,
        "init_instructions": int(raw["init_ticks"]) * tick,
        "layers": layers,
        "text_bytes": fw.sections["text"],
        "rodata_bytes": fw.sections["rodata"],
        "data_bytes": fw.sections["data"],
        "bss_bytes": fw.sections["bss"],
        "sram_budget_bytes": fw.ram_bytes,
        "sram_high_water_bytes": int(raw["sram_high_water_bytes"]),
        "stack_high_water_bytes": int(raw["stack_high_water_bytes"]),
        "arena_bytes": int(raw["arena_bytes"]),
        "arena_high_water_bytes": int(raw["arena_high_water_bytes"]),
        "working_high_water_bytes": int(raw["working_high_water_bytes"]),
        "state_bytes": int(raw["state_bytes"]),
        "flash_read_bytes": int(raw["flash_read_bytes"]),
        "flash_read_commands": int(raw["flash_read_commands"]),
        "flash_program_bytes": int(raw["flash_program_bytes"]),
        "page_programs": int(raw["page_programs"]),
        "erases": int(raw["erases"]),
    }


def _samples_file(graph: Graph, samples: list[list[np.ndarray]]) -> bytes:
    if not samples:
        raise InvalidArgumentError("no input samples")
    for sample in samples:
        check_inputs(graph, sample)
    with tempfile.TemporaryDirectory(prefix="ooc-in-") as tmp:
        path = Path(tmp) / "in.bin"
        write_samples(path, samples)
        return path.read_bytes()


def run_build_m4(
    out_dir: Path,
    graph: Graph,
    device: DeviceKey,
    samples: list[list[np.ndarray]],
    *,
    kernels: str = "dsp",
    timeout: float = DEFAULT_TIMEOUT_S,
    flash_file: Path | None = None,
    keystore: bytes | Path | None = None,
    boot_counter: Path | None = None,
) -> M4Result:
    """Run an ``ooc build`` directory on the emulated Cortex-M4: the plan's SRAM only, weights
    from the external flash (``flash_file``, default OUT/flash.bin). The device's key storage
    is ``keystore`` (a provisioned device's keystore.bin) or, by default, made from ``device``.

    A plan that spills activations programs and erases the flash file's scratch partition (the
    spill ring stays there, with its wear, as on the device) and counts boots in
    ``boot_counter`` (the device's monotonic counter, docs/FORMAT.md; created when missing,
    updated by the run). Without one the run starts from a new device's counter: boot 1, whose
    spill keys repeat on every such run of one flash file (the ring's own boot numbers are not
    believed over the trusted counter, docs/spill.md). Pass one to model a device's life."""
    from ooc_sdk.build.directory import BuildDir

    bd = BuildDir.open(out_dir)
    bd.check_for(graph, device)
    flash_file = flash_file or bd.flash_file()
    sram_bytes = _plan_sram_bytes(bd)
    fw = build_model_firmware(
        bd.c_dir, bd.info.c_name, paged=True, ram_bytes=sram_bytes, kernels=kernels
    )
    geo = bd.info.flash
    args = {
        "samples": len(samples),
        "size": geo.size_bytes,
        "page": geo.page_bytes,
        "sector": geo.sector_bytes,
        "base": bd.info.flash_offset,
    }
    files: dict[str, bytes | Path] = {
        "keystore.bin": keystore
        if keystore is not None
        else keystore_record(device.uid, device.root_key, anchors=device.anchors),
        "flash.bin": flash_file,
        "in.bin": _samples_file(graph, samples),
    }
    if boot_counter is not None:
        if not boot_counter.exists():
            boot_counter.write_bytes(BOOT_COUNTER_NEW)
        files["bootcount.bin"] = boot_counter
    raw, written = run_firmware(fw, args, files, timeout=timeout)
    outputs = split_outputs(graph, written["out.bin"], len(samples))
    report = _shape_report(graph, fw, raw)
    report["plan_sram_bytes"] = sram_bytes
    report["spill_boot"] = int(raw["spill_boot"])  # 0: the plan spills nothing
    return M4Result(outputs, report)


def _plan_sram_bytes(bd: Any) -> int:
    """The SRAM the build's plan needs (plan.json ``sram_bytes``): the firmware's RAM region."""
    from ooc_sdk.build.directory import BuildDirError

    v = bd.plan_json().get("sram_bytes")
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise BuildDirError(f"{bd.path}/plan.json has no valid sram_bytes")
    return v


def fused_ram_bytes(fusion: FusionPlan) -> int:
    """The SRAM region a fused in-core firmware links into: the arena (working SRAM and the
    outputs above it), the runtime state and the planned stack, as ``ooc plan`` counts an
    out-of-core budget. The link fails if .data + .bss + the stack's minimum do not fit."""
    return in_core_sram_bytes(fusion.arena_bytes)


def _generated_tables(graph: Graph, fusion: FusionPlan | None) -> tuple[Path, str]:
    """The model's C tables (per layer, or with ``fusion``'s schedule), generated once into a
    directory keyed by the model, the schedule and the table generator (the SDK's lowering and
    code generation and the C runtime); returns it and the C name."""
    schedule = fusion.digest if fusion is not None else "per-layer"
    key = hashlib.sha256(
        f"m4-gen|{graph.cache_id}|{schedule}|{generator_digest()}".encode()
    ).hexdigest()[:32]
    gen_dir = build_root() / f"gen-{key}"
    if not (gen_dir / "done").exists():
        build_root().mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=build_root()))
        try:
            gen = write_codegen(graph, tmp, fusion=fusion)
            shutil.rmtree(tmp / "ooc_runtime")  # the firmware builds the runtime from the SDK
            (tmp / "name").write_text(gen.name)
            (tmp / "done").write_text("")
            with contextlib.suppress(OSError):  # another process generated it first
                tmp.rename(gen_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return gen_dir, (gen_dir / "name").read_text()


def _fused_report(fusion: FusionPlan, rep: dict[str, Any]) -> dict[str, Any]:
    """What a fused run adds to the report: the plan's figures beside the measured ones and the
    instructions per block (a fused block's count lands on its first operator)."""
    layers = rep["layers"]
    blocks = []
    for b in fusion.blocks:
        ops = layers[b.first : b.last]
        blocks.append(
            {
                "ops": [b.first, b.last],
                "fused": b.fused,
                "strips": b.strips if b.fused else None,
                "macs": b.macs,
                "instructions": sum(layer["instructions"] for layer in ops),
            }
        )
    return {
        "plan_working_sram_bytes": fusion.working_sram_bytes,
        "plan_arena_bytes": fusion.arena_bytes,
        "per_layer_arena_bytes": fusion.per_layer_arena_bytes,
        "mac_overhead": round(fusion.mac_overhead, 4),
        "executed_macs": fusion.macs,
        "blocks": blocks,
    }


def run_model_m4(
    graph: Graph,
    samples: list[list[np.ndarray]],
    *,
    kernels: str = "dsp",
    timeout: float = DEFAULT_TIMEOUT_S,
    fusion: FusionPlan | None = None,
) -> M4Result:
    """Run ``graph`` in-core on the emulated Cortex-M4: every weight a constant in
    memory-mapped flash, the activations in the board's 4 MiB SRAM. With ``fusion`` (a plan for
    ``graph``) the firmware runs that fused schedule and links into ``fused_ram_bytes(fusion)``
    of SRAM; the report adds ``schedule`` "fused", the plan's figures beside the measured
    ``working_high_water_bytes`` and the instructions per block."""
    if fusion is not None and fusion.graph.sha256 != graph.sha256:
        raise InvalidArgumentError("the fusion plan was made for another model")
    gen_dir, cname = _generated_tables(graph, fusion)
    ram = fused_ram_bytes(fusion) if fusion is not None else IN_CORE_RAM_BYTES
    fw = build_model_firmware(gen_dir, cname, paged=False, ram_bytes=ram, kernels=kernels)
    raw, written = run_firmware(
        fw, {"samples": len(samples)}, {"in.bin": _samples_file(graph, samples)}, timeout=timeout
    )
    report = _shape_report(graph, fw, raw)
    report["schedule"] = "fused" if fusion is not None else "per-layer"
    report["streamed_inputs"] = int(raw["streamed_inputs"])
    report["input_reader_calls"] = int(raw["input_reader_calls"])
    if fusion is not None:
        report.update(_fused_report(fusion, report))
    return M4Result(split_outputs(graph, written["out.bin"], len(samples)), report)
