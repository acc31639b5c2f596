"""Writing an image into the emulated NOR chip (``OUT/flash.bin``) the way a programmer does:
the host flash tool (c_runtime/ports/host/ooc_flash_tool.c over the NOR emulator) erases and
programs it page by page, then reads it back. A power loss (injected for tests with
``OOC_INJECT_POWER_LOSS_AT=N``, the N-th program or erase) is an error; the partial flash fails
to mount, so nothing is ever computed from it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ooc_sdk.build.directory import FlashGeometry
from ooc_sdk.codegen.runtime import C_RUNTIME
from ooc_sdk.errors import ImageError, ToolError
from ooc_sdk.targets import FlashProfile
from ooc_sdk.toolchain import RELEASE, WARNINGS, compile_cached, compiler

HOST = C_RUNTIME / "ports" / "host"
FLASH_TOOL = HOST / "ooc_flash_tool.c"
NOR_EMU = HOST / "ooc_nor_emu.c"
POWER_LOSS_ENV = "OOC_INJECT_POWER_LOSS_AT"


def flash_args(geo: FlashGeometry) -> list[str]:
    """Geometry and read timing as the flash tool's and the runners' options."""
    return [
        "--size", str(geo.size_bytes),
        "--page", str(geo.page_bytes),
        "--sector", str(geo.sector_bytes),
        "--read-bps", repr(geo.read_bytes_per_s),
        "--read-cmd-s", repr(geo.read_command_s),
    ]  # fmt: skip


def build_flash_tool() -> Path:
    cc = compiler()
    flags = WARNINGS + RELEASE
    h = hashlib.sha256(b"flash-tool")
    for p in (FLASH_TOOL, NOR_EMU, HOST / "ooc_nor_emu.h"):
        h.update(p.read_bytes())
    key = hashlib.sha256(f"{h.hexdigest()}|{cc}|{' '.join(flags)}".encode()).hexdigest()[:32]
    return compile_cached(
        key, [cc, *flags, f"-I{HOST}", str(FLASH_TOOL), str(NOR_EMU)], "the flash tool"
    )


def program_flash(
    flash_path: Path,
    image: bytes,
    flash: FlashProfile,
    offset: int,
    fail_after: int = 0,
    *,
    outcome: str | None = None,
) -> dict[str, Any]:
    """Erase and program ``image`` at ``offset`` of the emulated chip ``flash_path``, read back
    and compare. Raises ImageError (with the operation count and ``outcome``, what the failure
    leaves behind, by default a partial image in ``flash_path``) when the write fails."""
    tool = build_flash_tool()
    with tempfile.NamedTemporaryFile(prefix="ooc-image-", suffix=".bin") as f:
        f.write(image)
        f.flush()
        args = [
            str(tool), "program", str(flash_path), f.name, "--offset", str(offset),
            *flash_args(FlashGeometry.of(flash)),
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
        if outcome is None:
            outcome = f"{flash_path} holds a partial image that will not mount"
        raise ImageError(
            f"writing the image to {flash_path.name} failed {where}: {err}; {outcome}: run ooc "
            "build again"
        )
    return report
