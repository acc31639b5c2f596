"""``ooc build``: plan + pack + codegen in one step into a build directory (directory.py has
its layout and its reader; flash.py writes the image into the emulated chip)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ooc_sdk import __version__
from ooc_sdk.build.directory import (
    BUILD_JSON,
    FLASH_BIN,
    MODEL_FILE,
    BatchRecord,
    BuildInfo,
    DeviceRecord,
    FlashGeometry,
    write_build_files,
)
from ooc_sdk.build.flash import POWER_LOSS_ENV, program_flash
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import write_atomic
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.batch import BATCH_KEY_FILE, write_batch_key
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.keystore import Keystore
from ooc_sdk.image.outdir import write_image_dir
from ooc_sdk.image.pack import PackedImage, PackOptions, pack_image
from ooc_sdk.image.signing import SigningKey
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import Plan

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildRequest:
    """What a build is asked for besides the model and the key: the plan's request and where
    the image goes."""

    plan: PlanRequest
    security_counter: int = 0  # the image's anti-rollback counter
    flash_offset: int = 0  # where the image starts in the flash (a sector multiple)
    hex_base: int = 0  # address of flash offset 0 in image.hex
    signing_key: SigningKey | None = None  # the vendor key that signs the image (None: unsigned)


@dataclass
class BuildResult:
    out_dir: Path
    plan: Plan
    info: BuildInfo


def _prepare_dir(out_dir: Path) -> None:
    """Create OUT and remove what a failed build must not leave looking runnable."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot create {out_dir}: {exc.strerror}") from None
    for stale in (BUILD_JSON, BATCH_KEY_FILE, FLASH_BIN, FLASH_BIN + ".wear"):
        (out_dir / stale).unlink(missing_ok=True)


def _pack(
    graph: Graph, device: DeviceKey | None, req: BuildRequest, p: Plan
) -> tuple[PackedImage, bytes]:
    """The encrypted image of the plan's chunks, and its fresh content key."""
    options = PackOptions(
        flash=req.plan.flash,
        cipher=req.plan.cipher_id,
        tag_alg=req.plan.tag_id,
        security_counter=req.security_counter,
        chunk_bytes=max(p.slot_bytes, 256),
        scratch_bytes=p.scratch_bytes,
        base_offset=req.flash_offset,
        chunk_align=4,
        signing_key=req.signing_key,
    )
    content_key = secrets.token_bytes(fmt.CIPHER_KEY_BYTES[req.plan.cipher_id])
    build_id = secrets.token_bytes(fmt.BUILD_ID_BYTES)
    packed = pack_image(
        graph, device, options, content_key=content_key, build_id=build_id, chunks=p.chunks,
        pid=p.plan_id,
    )  # fmt: skip
    return packed, content_key


def build(
    graph: Graph,
    model_bytes: bytes,
    out_dir: Path,
    device: DeviceKey | None,
    request: BuildRequest,
    *,
    keystore: Keystore | None = None,
    progress: Progress | None = None,
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
    p = plan(graph, request.plan)
    say(
        f"planned {len(p.steps)} steps, {len(p.chunks)} chunks, {p.slots} chunk "
        f"slot{'s' if p.slots > 1 else ''} of {p.slot_bytes:,} bytes, {p.sram_bytes:,} bytes of SRAM"
    )
    _prepare_dir(out_dir)
    say("packing the encrypted image")
    packed, content_key = _pack(graph, device, request, p)
    files = write_image_dir(out_dir / "image", packed, request.hex_base)
    if device is None:
        assert keystore is not None
        build_id = bytes.fromhex(packed.manifest["build_id"])
        write_batch_key(out_dir / BATCH_KEY_FILE, keystore, build_id, content_key)
    say("generating C")
    gen = write_codegen(graph, out_dir / "c", ooc_plan=p)
    write_atomic(out_dir / MODEL_FILE, model_bytes)
    report: dict[str, Any] = {}
    if device is not None:
        flash = request.plan.flash
        say(f"writing the image to the emulated {flash.name} ({len(packed.image):,} bytes)")
        fail_after = int(os.environ.get(POWER_LOSS_ENV, "0") or 0)
        report = program_flash(
            out_dir / FLASH_BIN, packed.image, flash, request.flash_offset, fail_after
        )
    rel = {k: str(v.relative_to(out_dir)) for k, v in files.items()}
    seconds = round(time.perf_counter() - t0, 3)
    info = _info(graph, gen.name, request, p, packed, device, keystore, report, rel, seconds)
    write_build_files(out_dir, info, p)
    return BuildResult(out_dir, p, info)


def _info(
    graph: Graph,
    c_name: str,
    req: BuildRequest,
    p: Plan,
    packed: PackedImage,
    device: DeviceKey | None,
    keystore: Keystore | None,
    report: dict[str, Any],
    files: dict[str, str],
    seconds: float,
) -> BuildInfo:
    """build.json's record of what was built."""
    flash = req.plan.flash
    return BuildInfo(
        sdk_version=__version__,
        model_name=graph.name,
        model_sha256=graph.sha256,
        c_name=c_name,
        budget_bytes=req.plan.budget,
        fused=p.fusion is not None,
        flash_profile=flash.name,
        flash=FlashGeometry.of(flash),
        flash_offset=req.flash_offset,
        mcu=req.plan.mcu.name,
        verify=req.plan.verify,
        device=DeviceRecord(device.uid.hex(), device.key_id.hex()) if device is not None else None,
        batch=(
            BatchRecord(keystore.key_id.hex(), BATCH_KEY_FILE)
            if device is None and keystore is not None
            else None
        ),
        security_counter=req.security_counter,
        build_id=packed.manifest["build_id"],
        plan_id=packed.manifest["plan_id"],
        image_bytes=len(packed.image),
        files=files,
        program_ops=report.get("program_ops"),
        erase_ops=report.get("erase_ops"),
        seconds=seconds,
    )
