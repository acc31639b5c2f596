"""The programmers of the manufacturing station: how a device's external flash and key storage
get written.

``file``
    writes per-device files (``OUT/devices/<uid>/external.bin|.hex``, ``keystore.bin|.hex``)
    and ``OUT/manifest.csv`` for a flash house or gang programmer (:mod:`.files`).
``qemu``
    writes emulated devices (``OUT/qemu/<uid>/flash.bin``, ``keystore.bin``) that the QEMU
    firmware boots as (:mod:`.files`).
``pyocd``
    programs real devices through a debug probe (:mod:`.pyocd_probe`, with "Adding a board").

``file`` and ``qemu`` take each UID from the station (``--uids FILE``, or generated serial
numbers: :func:`serial_uid`); ``pyocd`` reads it from the chip. Key storage files (keystore.bin,
keystore.hex) hold the device's root key: they are created mode 0600 and must be handled like
the master key. ``dry_run``: UIDs are read, nothing is written, and ``artefacts()`` lists what
would be (offset, length, sha256); reads return those bytes.
"""

from __future__ import annotations

from pathlib import Path

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.provisioning.programmers.base import (
    KEYSTORE_BYTES,
    SERIAL_UID_PREFIX,
    Programmer,
    ProgrammerError,
    Target,
    parse_uid_text,
    read_uids_file,
    serial_uid,
)
from ooc_sdk.provisioning.programmers.files import (
    MANIFEST,
    FilesProgrammer,
    QemuProgrammer,
    qemu_device_dir,
    qemu_run_files,
)
from ooc_sdk.provisioning.programmers.pyocd_probe import PyocdProgrammer, missing_fields
from ooc_sdk.targets import FlashProfile, McuProfile

PROGRAMMERS = ("file", "pyocd", "qemu")

__all__ = [
    "KEYSTORE_BYTES",
    "MANIFEST",
    "PROGRAMMERS",
    "SERIAL_UID_PREFIX",
    "FilesProgrammer",
    "Programmer",
    "ProgrammerError",
    "PyocdProgrammer",
    "QemuProgrammer",
    "Target",
    "missing_fields",
    "open_programmer",
    "parse_uid_text",
    "qemu_device_dir",
    "qemu_run_files",
    "read_uids_file",
    "serial_uid",
]


def open_programmer(
    name: str,
    *,
    out_dir: Path,
    flash: FlashProfile,
    mcu: McuProfile,
    flash_offset: int,
    probe: str | None = None,
    dry_run: bool = False,
) -> Programmer:
    """The programmer called ``name`` (one of :data:`PROGRAMMERS`). ``out_dir`` is where file
    and qemu write; ``flash_offset`` the image's offset in the external flash (a sector
    multiple); ``probe`` a pyocd probe's unique ID (or part of it)."""
    if not 0 <= flash_offset < flash.size_bytes or flash_offset % flash.sector_bytes:
        raise InvalidArgumentError(
            f"flash offset {flash_offset:#x} must be a multiple of the {flash.name}'s "
            f"{flash.sector_bytes}-byte sector inside its {flash.size_bytes:#x} bytes"
        )
    if name == "pyocd":
        return PyocdProgrammer(
            mcu=mcu, flash=flash, flash_offset=flash_offset, probe=probe, dry_run=dry_run
        )
    if name not in PROGRAMMERS:
        raise InvalidArgumentError(f"unknown programmer {name!r}; known: {', '.join(PROGRAMMERS)}")
    if probe is not None:
        raise InvalidArgumentError(
            f"`probe` applies to the pyocd programmer, not {name}", param="probe"
        )
    cls = FilesProgrammer if name == "file" else QemuProgrammer
    return cls(Path(out_dir), flash=flash, mcu=mcu, flash_offset=flash_offset, dry_run=dry_run)
