"""``ooc build``: plan + pack + codegen in one step into a build directory (directory.py has
its layout and its reader; flash.py writes the image into the emulated chip)."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ooc_sdk import __version__
from ooc_sdk.build.directory import BUILD_JSON
from ooc_sdk.build.flash import POWER_LOSS_ENV, flash_record, program_flash
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.batch import BATCH_KEY_FILE, write_batch_key
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.keystore import Keystore
from ooc_sdk.image.outdir import write_image_dir
from ooc_sdk.image.pack import PackOptions, pack_image
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.model import SPILL_SECTOR_BYTES
from ooc_sdk.plan.latency import Crypto
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.schedule import Plan
from ooc_sdk.targets import FlashProfile, McuProfile

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    out_dir: Path
    plan: Plan
    info: dict[str, Any]


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
        "flash": flash_record(flash),
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
