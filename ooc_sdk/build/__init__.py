"""``ooc build``: plan + pack + codegen in one step into a build directory (directory.py has
its layout and its reader; flash.py writes the image into the emulated chip)."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ooc_sdk import __version__
from ooc_sdk.build.directory import (
    APPROX_JSON,
    FLASH_BIN,
    BatchRecord,
    BuildInfo,
    DeviceRecord,
    FlashGeometry,
    write_build_files,
)
from ooc_sdk.build.flash import POWER_LOSS_ENV, program_flash
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import check_out_dir, replace_dir
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.batch import BATCH_KEY_FILE, write_batch_key
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.keystore import Keystore
from ooc_sdk.image.outdir import write_image_dir
from ooc_sdk.image.pack import PackedImage, PackOptions, pack_image
from ooc_sdk.image.signing import SigningKey
from ooc_sdk.model import approx
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.planner import plan, plan_any
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
    # With plan.fuse off: fall back to fused activations when per-layer does not fit the budget
    # (ooc_sdk.plan.planner.plan_any); off: per-layer or nothing.
    auto_fuse: bool = False


@dataclass
class BuildResult:
    out_dir: Path
    plan: Plan
    info: BuildInfo


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
    force: bool = False,
) -> BuildResult:
    """Plan, pack, generate C and write the emulated flash. ``device`` None makes a batch build
    (docs/provisioning.md): the image's key slot stays erased, its content key is sealed under
    ``keystore``'s master secret in OUT/batch-key.bin, and no flash.bin is written (a batch
    image runs only once a station has provisioned a device with it).

    ``out_dir`` must be empty or absent, or ``force`` given: the build is written into a fresh
    directory beside it that replaces it only once complete, so a failed build leaves the old
    one whole (fileio.replace_dir). The model itself is not copied (a release directory holds
    no plaintext weights): build.json records its hash and, as a hint for the host tools, the
    file it was read from (``graph.source``; ``model_bytes`` must be that file's content)."""
    if device is None and keystore is None:
        raise InvalidArgumentError("a batch build (no device key) needs the factory master key")
    if hashlib.sha256(model_bytes).hexdigest() != graph.sha256:
        raise InvalidArgumentError("`model_bytes` are not the bytes `graph` was read from")
    check_out_dir(out_dir, force)
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    say("planning")
    p = plan_any(graph, request.plan) if request.auto_fuse else plan(graph, request.plan)
    if p.fusion is not None and not request.plan.fuse:
        say("per-layer activations do not fit the budget: fused activations chosen")
    say(
        f"planned {len(p.steps)} steps, {len(p.chunks)} chunks, {p.slots} chunk "
        f"slot{'s' if p.slots > 1 else ''} of {p.slot_bytes:,} bytes, {p.sram_bytes:,} bytes of SRAM"
    )
    say("packing the encrypted image")
    packed, content_key = _pack(graph, device, request, p)
    with replace_dir(out_dir, force) as tmp:
        files = write_image_dir(tmp / "image", packed, request.hex_base)
        if device is None:
            assert keystore is not None
            build_id = bytes.fromhex(packed.manifest["build_id"])
            write_batch_key(tmp / BATCH_KEY_FILE, keystore, build_id, content_key)
        say("generating C")
        gen = write_codegen(graph, tmp / "c", ooc_plan=p)
        report: dict[str, Any] = {}
        if device is not None:
            flash = request.plan.flash
            say(f"writing the image to the emulated {flash.name} ({len(packed.image):,} bytes)")
            fail_after = int(os.environ.get(POWER_LOSS_ENV, "0") or 0)
            kept = "left as it was" if os.path.lexists(out_dir) else "not created"
            report = program_flash(
                tmp / FLASH_BIN, packed.image, flash, request.flash_offset, fail_after,
                outcome=f"the build is abandoned and {out_dir} {kept}",
            )  # fmt: skip
        if graph.approx is not None:
            approx.save(graph.approx.config, tmp / APPROX_JSON)
        rel = {k: str(v.relative_to(tmp)) for k, v in files.items()}
        seconds = round(time.perf_counter() - t0, 3)
        info = _info(graph, gen.name, request, p, packed, device, keystore, report, rel, seconds)
        write_build_files(tmp, info, p)
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
        model_source=graph.source,
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
        approx=graph.approx.to_json() if graph.approx is not None else None,
    )
