"""``ooc build``: plan + pack + codegen in one step, and ``ooc run OUT/`` over its output.

A build directory holds::

    build.json      what was built: model, budget, profiles, device, files (read by ooc run)
    plan.json       the out-of-core plan (ooc plan --json for the same inputs)
    model.tflite    a copy of the model (its sha256 is in the image and the C tables)
    image/          the flash image: image.bin, image.hex, manifest.json, keyslot.bin
    c/              the firmware sources: ooc_model_<name>.c/.h (paged tables), ooc_runtime/, ...
    flash.bin       the emulated NOR chip with the image programmed at its offset (host runs)
    flash.bin.wear  the emulator's wear history (ooc_nor_emu.h)
    batch-key.bin   batch builds only (no device key): the content key sealed under the factory
                    master key, mode 0600, for ``ooc provision run`` (no flash.bin then)

The image reaches flash.bin the way a programmer writes a chip: the host flash tool erases and
programs it page by page through the NOR emulator. A power loss there (injected for tests with
OOC_INJECT_POWER_LOSS_AT=N, the N-th program or erase) is an error; the partial flash fails to
mount, so nothing is ever computed from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk import __version__
from ooc_sdk.codegen.emit import C_RUNTIME, runtime_digest, write_codegen
from ooc_sdk.errors import (
    ImageError,
    InvalidArgumentError,
    ModelMismatchError,
    ToolError,
    WrongDeviceError,
    image_error_for,
)
from ooc_sdk.golden import check_inputs
from ooc_sdk.host import (
    RELEASE,
    WARNINGS,
    _compile_cached,
    _compiler,
    split_outputs,
    write_samples,
)
from ooc_sdk.image import format as fmt
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.outdir import write_image_dir
from ooc_sdk.image.pack import PackOptions, pack_image
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion import SPILL_SECTOR_BYTES
from ooc_sdk.plan.latency import Crypto
from ooc_sdk.plan.planner import Plan, plan
from ooc_sdk.provisioning.batch import BATCH_KEY_FILE, write_batch_key
from ooc_sdk.provisioning.keystore import Keystore
from ooc_sdk.targets import FlashProfile, McuProfile

HOST = C_RUNTIME / "ports" / "host"
RUNNER = HOST / "ooc_run_flash_main.c"
FLASH_TOOL = HOST / "ooc_flash_tool.c"
NOR_EMU = HOST / "ooc_nor_emu.c"
BUILD_JSON = "build.json"
POWER_LOSS_ENV = "OOC_INJECT_POWER_LOSS_AT"

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    out_dir: Path
    plan: Plan
    info: dict[str, Any]


def _flash_record(flash: FlashProfile) -> dict[str, Any]:
    """What the host tools need of a flash profile (kept in build.json for ooc run)."""
    return {
        "size_bytes": flash.size_bytes,
        "page_bytes": flash.page_bytes,
        "sector_bytes": flash.sector_bytes,
        "read_bytes_per_s": flash.read_bytes_per_s,
        "read_command_s": flash.read_command_s,
    }


def _flash_args(record: dict[str, Any]) -> list[str]:
    """Geometry and read timing as the flash tool's and the runner's options."""
    return [
        "--size", str(record["size_bytes"]),
        "--page", str(record["page_bytes"]),
        "--sector", str(record["sector_bytes"]),
        "--read-bps", repr(record["read_bytes_per_s"]),
        "--read-cmd-s", repr(record["read_command_s"]),
    ]  # fmt: skip


def build_flash_tool() -> Path:
    cc = _compiler()
    flags = WARNINGS + RELEASE
    h = hashlib.sha256(b"flash-tool")
    for p in (FLASH_TOOL, NOR_EMU, HOST / "ooc_nor_emu.h"):
        h.update(p.read_bytes())
    key = hashlib.sha256(f"{h.hexdigest()}|{cc}|{' '.join(flags)}".encode()).hexdigest()[:32]
    return _compile_cached(
        key, [cc, *flags, f"-I{HOST}", str(FLASH_TOOL), str(NOR_EMU)], "the flash tool"
    )


def program_flash(
    flash_path: Path, image: bytes, flash: FlashProfile, offset: int, fail_after: int = 0
) -> dict[str, Any]:
    """Erase and program ``image`` at ``offset`` of the emulated chip ``flash_path``, read back
    and compare. Raises ImageError (with the operation count) when the write fails."""
    tool = build_flash_tool()
    with tempfile.NamedTemporaryFile(prefix="ooc-image-", suffix=".bin") as f:
        f.write(image)
        f.flush()
        args = [
            str(tool), "program", str(flash_path), f.name, "--offset", str(offset),
            *_flash_args(_flash_record(flash)),
            "--program-s", repr(flash.page_program_s), "--erase-s", repr(flash.sector_erase_s),
            "--verify",
        ]  # fmt: skip
        if fail_after:
            args += ["--fail-after", str(fail_after)]
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        msg = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ToolError(f"the flash tool failed: {msg}") from None
    if proc.returncode != 0:
        err = str(report.get("error", "failed"))
        op = report.get("failed_op")
        where = (
            f"at flash operation {op.get('index')} ({op.get('kind')} at {op.get('addr', 0):#x})"
            if isinstance(op, dict)
            else f"after {report.get('ops', '?')} flash operations"
        )
        raise ImageError(
            f"writing the image to {flash_path} failed {where}: {err}; the chip holds a partial "
            "image that will not mount: run ooc build again"
        )
    return report


def build(
    graph: Graph,
    model_bytes: bytes,
    out_dir: Path,
    device: DeviceKey | None,
    *,
    budget: int | None,
    flash: FlashProfile,
    mcu: McuProfile,
    verify: str = "every-read",
    cipher: int = fmt.CIPHER_AES128_CTR,
    tag_alg: int = fmt.TAG_AES_CMAC,
    security_counter: int = 0,
    flash_offset: int = 0,
    scratch_bytes: int | None = None,
    dsp: bool = False,
    hex_base: int = 0,
    keystore: Keystore | None = None,
    fuse: bool = False,
    slots: int | None = None,
    progress: Progress | None = None,
    channel_split: str = "auto",
) -> BuildResult:
    """Plan, pack, generate C and write the emulated flash. ``device`` None makes a batch build
    (docs/provisioning.md): the image's key slot stays erased, its content key is sealed under
    ``keystore``'s master secret in OUT/batch-key.bin, and no flash.bin is written (a batch
    image runs only once a station has provisioned a device with it)."""
    if device is None and keystore is None:
        raise InvalidArgumentError("a batch build (no device key) needs the factory master key")
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    say("planning")
    crypto = Crypto.for_image(cipher, tag_alg)
    p = plan(
        graph, budget, flash, mcu, crypto=crypto, verify=verify, dsp=dsp, fuse=fuse, slots=slots,
        channel_split=channel_split,
    )  # fmt: skip
    say(
        f"planned {len(p.steps)} steps, {len(p.chunks)} chunks, {p.slots} chunk "
        f"slot{'s' if p.slots > 1 else ''} of {p.slot_bytes:,} bytes, {p.sram_bytes:,} bytes of SRAM"
    )
    if scratch_bytes is not None:
        if scratch_bytes < p.scratch_minimum:
            raise InvalidArgumentError(
                f"--scratch {scratch_bytes:,} bytes is too small: one inference's spills span "
                f"{p.scratch_minimum // SPILL_SECTOR_BYTES} sectors, so the minimum is "
                f"{p.scratch_minimum:,} bytes"
            )
        p.scratch_request = scratch_bytes
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot create {out_dir}: {exc.strerror}") from None
    # a build that fails from here on must not leave a directory that looks runnable
    (out_dir / BUILD_JSON).unlink(missing_ok=True)
    say("packing the encrypted image")
    options = PackOptions(
        flash=flash,
        cipher=cipher,
        tag_alg=tag_alg,
        security_counter=security_counter,
        chunk_bytes=max(p.slot_bytes, 256),
        scratch_bytes=p.scratch_bytes,
        base_offset=flash_offset,
        chunk_align=4,
    )
    content_key = secrets.token_bytes(fmt.CIPHER_KEY_BYTES[cipher])
    build_id = secrets.token_bytes(fmt.BUILD_ID_BYTES)
    packed = pack_image(
        graph, device, options, content_key=content_key, build_id=build_id, chunks=p.chunks,
        pid=p.plan_id,
    )  # fmt: skip
    files = write_image_dir(out_dir / "image", packed, hex_base)
    batch_path = out_dir / BATCH_KEY_FILE
    batch_path.unlink(missing_ok=True)
    if device is None:
        assert keystore is not None
        write_batch_key(batch_path, keystore, build_id, content_key)
    say("generating C")
    gen = write_codegen(graph, out_dir / "c", ooc_plan=p)
    (out_dir / "model.tflite").write_bytes(model_bytes)
    plan_json = p.to_json()
    (out_dir / "plan.json").write_text(json.dumps(plan_json, indent=1) + "\n")
    flash_path = out_dir / "flash.bin"
    for stale in (flash_path, Path(str(flash_path) + ".wear")):
        stale.unlink(missing_ok=True)
    report: dict[str, Any] = {}
    if device is not None:
        say(f"writing the image to the emulated {flash.name} ({len(packed.image):,} bytes)")
        fail_after = int(os.environ.get(POWER_LOSS_ENV, "0") or 0)
        report = program_flash(flash_path, packed.image, flash, flash_offset, fail_after)
    info: dict[str, Any] = {
        "sdk_version": __version__,
        "model": {"name": graph.name, "sha256": graph.sha256, "file": "model.tflite"},
        "c_name": gen.name,
        "budget_bytes": budget,
        "fused": p.fusion is not None,
        "flash_profile": flash.name,
        "flash": _flash_record(flash),
        "flash_offset": flash_offset,
        "mcu": mcu.name,
        "verify": verify,
        "device": (
            {"uid": device.uid.hex(), "key_id": device.key_id.hex()} if device is not None else None
        ),
        "batch": (
            {"master_key_id": keystore.key_id.hex(), "key_file": BATCH_KEY_FILE}
            if device is None and keystore is not None
            else None
        ),
        "security_counter": security_counter,
        "build_id": packed.manifest["build_id"],
        "plan_id": packed.manifest["plan_id"],
        "image_bytes": len(packed.image),
        "files": {k: str(v.relative_to(out_dir)) for k, v in files.items()},
        "flash_write": {
            "program_ops": report.get("program_ops"),
            "erase_ops": report.get("erase_ops"),
        },
        "seconds": 0.0,
    }
    info["seconds"] = round(time.perf_counter() - t0, 3)
    (out_dir / BUILD_JSON).write_text(json.dumps(info, indent=1) + "\n")
    return BuildResult(out_dir, p, info)


# -- ooc run OUT/ ---------------------------------------------------------------------------------


def load_build(out_dir: Path) -> dict[str, Any]:
    path = out_dir / BUILD_JSON
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except OSError:
        raise InvalidArgumentError(
            f"{out_dir} is not an ooc build directory (no {BUILD_JSON}; run ooc build)"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{path} is not valid JSON: {exc}") from None
    return info


def load_build_for(out_dir: Path, graph: Graph, device: DeviceKey) -> dict[str, Any]:
    """build.json of ``out_dir``, checked against the model and the device about to run it."""
    info = load_build(out_dir)
    if graph.sha256 != info["model"]["sha256"]:
        raise ModelMismatchError("the model does not match the build")
    if info.get("device") is None:
        return info  # a batch build: the key slot on the device's flash decides
    if device.uid.hex() != info["device"]["uid"]:
        raise WrongDeviceError(
            f"this build's image is for device {info['device']['uid']}, the key file is for "
            f"{device.uid.hex()}"
        )
    return info


def build_flash_file(out_dir: Path, info: dict[str, Any]) -> Path:
    """OUT/flash.bin, or a clear error for a batch build (which has none)."""
    if info.get("device") is None:
        raise InvalidArgumentError(
            f"{out_dir} is a batch build: it runs on provisioned devices only (ooc provision run "
            "--programmer qemu, then run a device's flash)"
        )
    return out_dir / "flash.bin"


def build_runner(out_dir: Path, info: dict[str, Any], sanitize: bool = False) -> Path:
    """Compile the build's C tables with the runtime, the NOR emulator and the flash runner."""
    from ooc_sdk.host import SANITIZE

    flags = WARNINGS + (SANITIZE if sanitize else RELEASE)
    return build_host_program(out_dir, info, RUNNER, flags, (), "the out-of-core host runner")


def build_host_program(
    out_dir: Path,
    info: dict[str, Any],
    main: Path,
    flags: list[str],
    link: tuple[str, ...],
    what: str,
) -> Path:
    """Compile the build's C tables with the runtime, the NOR emulator and the host program
    ``main`` (its OOC_RUN_* macros name the tables), once per content: a cached binary."""
    cc = _compiler()
    cname = info["c_name"]
    c_dir = out_dir / "c"
    model_c, model_h = c_dir / f"ooc_model_{cname}.c", c_dir / f"ooc_model_{cname}.h"
    if not model_c.exists() or not model_h.exists():
        raise InvalidArgumentError(f"{c_dir} lacks the generated model tables: run ooc build again")
    h = hashlib.sha256(main.name.encode())
    for p in (model_c, model_h, main, NOR_EMU, HOST / "ooc_nor_emu.h"):
        h.update(p.read_bytes())
    key = hashlib.sha256(
        f"{h.hexdigest()}|{runtime_digest()}|{cc}|{' '.join(flags)}|{' '.join(link)}".encode()
    ).hexdigest()[:32]
    sources = sorted(str(p) for p in (C_RUNTIME / "src").rglob("*.c"))
    args = [
        cc, *flags, f"-I{c_dir}", f"-I{C_RUNTIME / 'include'}", f"-I{HOST}",
        f'-DOOC_RUN_HEADER="ooc_model_{cname}.h"', f"-DOOC_RUN_MODEL=ooc_model_{cname}",
        f"-DOOC_RUN_ARENA=OOC_MODEL_{cname.upper()}_ARENA_BYTES",
        str(model_c), *sources, str(NOR_EMU), str(main), *link,
    ]  # fmt: skip
    return _compile_cached(key, args, what)


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
) -> RunResult:
    """Run ``samples`` through the build on the host: weights from the emulated flash only
    (``flash_file``, default OUT/flash.bin)."""
    info = load_build_for(out_dir, graph, device)
    flash_file = flash_file or build_flash_file(out_dir, info)
    for sample in samples:
        check_inputs(graph, sample)
    binary = build_runner(out_dir, info, sanitize)
    with tempfile.TemporaryDirectory(prefix="ooc-run-") as tmp:
        in_path, out_path = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        write_samples(in_path, samples)
        args = [str(binary), str(flash_file), str(in_path), str(out_path),
                str(len(samples)), *_flash_args(info["flash"]), "--base", str(info["flash_offset"])]  # fmt: skip
        if sync_reads:
            args.append("--sync-reads")
        if flip_bit is not None:
            args += ["--flip-bit", str(flip_bit)]
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
            stage = report.get("stage", "run")
            cls = image_error_for(code)
            raise cls(f"the device runtime refused at {stage}: {report.get('error')} ({code})")
        raw = out_path.read_bytes()
    return RunResult(split_outputs(graph, raw, len(samples)), report)
