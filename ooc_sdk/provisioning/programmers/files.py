"""The programmers that write files: ``file`` (for flash houses and gang programmers) and
``qemu`` (emulated devices the QEMU firmware boots as).

Both take the device UID from the station. Key storage files hold the device's root key: they
are created 0600 (never readable by others, not even briefly) and belong on an encrypted,
access-controlled disk; hand them only to the party that programs the devices.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (one station per output directory)
    fcntl = None  # type: ignore[assignment]

from ooc_sdk.errors import ImageError, InvalidArgumentError
from ooc_sdk.fileio import write_atomic
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.ihex import to_intel_hex
from ooc_sdk.provisioning.programmers.base import (
    KEYSTORE_BYTES,
    DryRunLog,
    ProgrammerError,
    check_record,
    check_uid,
)
from ooc_sdk.targets import FlashProfile, McuProfile

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = (
    "uid",
    "files",
    "external_offset",
    "external_bytes",
    "external_sha256",
    "created_utc",
)


def check_range(offset: int, length: int, flash: FlashProfile, label: str) -> None:
    if offset < 0 or length < 0 or offset + length > flash.size_bytes:
        raise ProgrammerError(
            f"{label}: {length} bytes at offset {offset:#x} do not fit the {flash.name} "
            f"({flash.size_bytes:#x} bytes)"
        )


def _read_or_erased(path: Path, offset: int, length: int, erased: int) -> bytes:
    """``length`` bytes of ``path`` from ``offset``; what the file does not hold reads erased
    (a missing file is a fresh, erased chip)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            got = f.read(length)
    except FileNotFoundError:
        got = b""
    except OSError as exc:
        raise ProgrammerError(f"cannot read {path}: {exc.strerror}") from None
    return got + bytes([erased]) * (length - len(got))


def _write(path: Path, data: bytes | str, label: str, *, private: bool = False) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProgrammerError(
            f"{label}: cannot write {path}: {exc.strerror}: free space or fix permissions, then "
            "re-run"
        ) from None
    try:
        write_atomic(path, data, private=private)
    except InvalidArgumentError as exc:  # fileio's one line: "cannot write PATH: REASON"
        raise ProgrammerError(
            f"{label}: {exc}: free space or fix permissions, then re-run"
        ) from None


class _OutputProgrammer:
    """What the file and qemu programmers share: an output directory, the station assigns UIDs."""

    station_assigns_uid = True

    def __init__(
        self,
        out_dir: Path,
        *,
        flash: FlashProfile,
        mcu: McuProfile,
        flash_offset: int,
        dry_run: bool = False,
    ) -> None:
        self.out_dir, self.flash, self.mcu = Path(out_dir), flash, mcu
        self.flash_offset, self.dry_run = flash_offset, dry_run

    def close(self) -> None:
        pass


# -- file ------------------------------------------------------------------------------------


class FilesProgrammer(_OutputProgrammer):
    """``--programmer file``: per device ``OUT/devices/<uid hex>/`` holds

    ``external.bin``
        what the device's external flash gets from ``flash_offset`` on (the image bytes); a
        write at ``flash_offset`` starts it afresh, one further on is placed into it (a gap
        reads erased).
    ``external.hex``
        the same in Intel HEX at address ``flash_offset`` (the NOR chip's own addresses).
    ``keystore.bin``, ``keystore.hex``
        the 188-byte key storage record (docs/FORMAT.md), the HEX at the MCU profile's
        ``key_storage_address`` (0 when it has none). Mode 0600: they hold the root key.

    and ``OUT/manifest.csv`` one row per device (uid, files, external offset, length and
    sha256, created UTC); the whole file is replaced atomically on each change (under a lock,
    ``OUT/.manifest.lock``), so a crash never leaves a half row, and a device written again
    replaces its row."""

    name = "file"

    def connect(self, uid: bytes | None) -> FileTarget:
        return FileTarget(self, check_uid(uid, self.name))

    # the manifest, shared by the devices
    def record(self, uid: bytes, files: list[str], external: bytes | None) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            lock = (self.out_dir / ".manifest.lock").open("a")
        except OSError as exc:
            raise ProgrammerError(f"cannot write in {self.out_dir}: {exc.strerror}") from None
        with lock:
            if fcntl is not None:  # two stations sharing one output directory take turns
                fcntl.flock(lock, fcntl.LOCK_EX)
            self._record(uid, files, external)

    def _record(self, uid: bytes, files: list[str], external: bytes | None) -> None:
        path = self.out_dir / MANIFEST
        rows: list[dict[str, str]] = []
        try:
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("uid") != uid.hex()]
        except FileNotFoundError:
            pass
        except (OSError, csv.Error) as exc:
            raise ProgrammerError(f"cannot read {path}: {exc}: repair or move it away") from None
        rows.append(
            {
                "uid": uid.hex(),
                "files": ";".join(files),
                "external_offset": str(self.flash_offset) if external is not None else "",
                "external_bytes": str(len(external)) if external is not None else "",
                "external_sha256": hashlib.sha256(external).hexdigest() if external else "",
                "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        text = io.StringIO()
        writer = csv.DictWriter(text, MANIFEST_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _write(path, text.getvalue(), f"devices/{uid.hex()}")


class FileTarget:
    def __init__(self, prog: FilesProgrammer, uid: bytes) -> None:
        self._p, self._uid = prog, uid
        self.dir = prog.out_dir / "devices" / uid.hex()
        self.label = f"devices/{uid.hex()}"
        self._dry = DryRunLog() if prog.dry_run else None

    def read_uid(self) -> bytes:
        return self._uid

    def _paths(self) -> dict[str, Path]:
        names = ("external.bin", "external.hex", "keystore.bin", "keystore.hex")
        return {n: self.dir / n for n in names}

    def _record_manifest(self) -> None:
        paths = self._paths()
        files = [f"devices/{self._uid.hex()}/{n}" for n, p in paths.items() if p.exists()]
        external = paths["external.bin"]
        data = external.read_bytes() if external.exists() else None
        self._p.record(self._uid, files, data)

    def program_external(self, offset: int, data: bytes) -> None:
        p = self._p
        check_range(offset, len(data), p.flash, self.label)
        if offset < p.flash_offset:
            raise ProgrammerError(
                f"{self.label}: offset {offset:#x} is below the image's flash offset "
                f"{p.flash_offset:#x}; the file programmer writes from there on"
            )
        if not data:
            return
        if self._dry is not None:
            self._dry.would("external", offset, data)
            self._dry.external.append((offset, bytes(data)))
            return
        rel = offset - p.flash_offset
        path = self._paths()["external.bin"]
        content = bytearray(path.read_bytes() if rel and path.exists() else b"")
        if len(content) < rel + len(data):
            content.extend(bytes([p.flash.erased_byte]) * (rel + len(data) - len(content)))
        content[rel : rel + len(data)] = data
        _write(path, bytes(content), self.label)
        _write(
            self._paths()["external.hex"], to_intel_hex(bytes(content), p.flash_offset), self.label
        )
        self._record_manifest()

    def read_external(self, offset: int, length: int) -> bytes:
        p = self._p
        check_range(offset, length, p.flash, self.label)
        erased = p.flash.erased_byte
        if self._dry is not None:
            return self._dry.overlay(offset, bytes([erased]) * length)
        if offset < p.flash_offset:  # below the image: never written by this programmer
            head = min(length, p.flash_offset - offset)
            return bytes([erased]) * head + self.read_external(offset + head, length - head)
        return _read_or_erased(
            self._paths()["external.bin"], offset - p.flash_offset, length, erased
        )

    def program_keystore(self, record: bytes) -> None:
        check_record(record, self._uid, self.label)
        if self._dry is not None:
            self._dry.would("keystore", self._p.mcu.key_storage_address or 0, record)
            self._dry.keystore = bytes(record)
            return
        paths = self._paths()
        _write(paths["keystore.bin"], record, self.label, private=True)
        base = self._p.mcu.key_storage_address or 0
        _write(paths["keystore.hex"], to_intel_hex(record, base), self.label, private=True)
        self._record_manifest()

    def read_keystore(self) -> bytes:
        if self._dry is not None:
            return self._dry.keystore or b"\xff" * KEYSTORE_BYTES
        return _read_or_erased(self._paths()["keystore.bin"], 0, KEYSTORE_BYTES, 0xFF)

    def artefacts(self) -> dict[str, str]:
        if self._dry is not None:
            return {**self._dry.entries, "dir": str(self.dir)}
        out = {"dir": str(self.dir)}
        out.update({n: str(p) for n, p in self._paths().items() if p.exists()})
        if (self._p.out_dir / MANIFEST).exists():
            out["manifest"] = str(self._p.out_dir / MANIFEST)
        return out

    def close(self) -> None:
        pass


# -- qemu ------------------------------------------------------------------------------------


def qemu_device_dir(out_dir: Path, uid: bytes) -> Path:
    """``OUT/qemu/<uid hex>/``: the emulated device ``uid`` (flash.bin, its wear history
    flash.bin.wear, keystore.bin)."""
    if len(uid) != fmt.UID_BYTES:
        raise InvalidArgumentError(f"device UID must be {fmt.UID_BYTES} bytes")
    return Path(out_dir) / "qemu" / uid.hex()


def qemu_run_files(out_dir: Path, uid: bytes) -> dict[str, Path]:
    """The files the QEMU firmware reads as device ``uid``: ``flash_file=`` and ``keystore=``
    of ``ooc_sdk.run.qemu.run_build_m4``, or the ``files`` of ``run_qemu``."""
    d = qemu_device_dir(out_dir, uid)
    return {"flash.bin": d / "flash.bin", "keystore.bin": d / "keystore.bin"}


class QemuProgrammer(_OutputProgrammer):
    """``--programmer qemu``: per device ``OUT/qemu/<uid hex>/`` holds ``flash.bin``, an
    emulated NOR chip of the flash profile's full size with the image programmed through the
    NOR emulator (``ooc_sdk.build.flash.program_flash``: sector erases, page programs, erase counts
    in ``flash.bin.wear``, read-back verify), and ``keystore.bin`` (mode 0600), the key
    storage the QEMU port reads. ``run_build_m4(build_dir, ..., flash_file=.../flash.bin,
    keystore=.../keystore.bin)`` then boots the firmware as that device."""

    name = "qemu"

    def connect(self, uid: bytes | None) -> QemuTarget:
        return QemuTarget(self, check_uid(uid, self.name))


class QemuTarget:
    def __init__(self, prog: QemuProgrammer, uid: bytes) -> None:
        self._p, self._uid = prog, uid
        self.dir = qemu_device_dir(prog.out_dir, uid)
        self.label = f"qemu device {uid.hex()}"
        self._dry = DryRunLog() if prog.dry_run else None
        self._report: dict[str, object] = {}

    def read_uid(self) -> bytes:
        return self._uid

    def program_external(self, offset: int, data: bytes) -> None:
        flash = self._p.flash
        check_range(offset, len(data), flash, self.label)
        if offset % flash.sector_bytes:
            raise ProgrammerError(
                f"{self.label}: offset {offset:#x} is not a multiple of the "
                f"{flash.sector_bytes}-byte sector"
            )
        if not data:
            return
        if self._dry is not None:
            self._dry.would("external", offset, data)
            self._dry.external.append((offset, bytes(data)))
            return
        from ooc_sdk.build.flash import program_flash

        path = self.dir / "flash.bin"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProgrammerError(
                f"{self.label}: cannot create {self.dir}: {exc.strerror}"
            ) from None
        try:
            self._report = program_flash(path, bytes(data), flash, offset)
        except ImageError as exc:
            why = str(exc).split(";")[0]
            raise ProgrammerError(
                f"{self.label}: {why}; the device is not done: re-run to program it again"
            ) from None

    def read_external(self, offset: int, length: int) -> bytes:
        flash = self._p.flash
        check_range(offset, length, flash, self.label)
        if self._dry is not None:
            return self._dry.overlay(offset, bytes([flash.erased_byte]) * length)
        return _read_or_erased(self.dir / "flash.bin", offset, length, flash.erased_byte)

    def program_keystore(self, record: bytes) -> None:
        check_record(record, self._uid, self.label)
        if self._dry is not None:
            self._dry.would("keystore", 0, record)
            self._dry.keystore = bytes(record)
            return
        _write(self.dir / "keystore.bin", record, self.label, private=True)

    def read_keystore(self) -> bytes:
        if self._dry is not None:
            return self._dry.keystore or b"\xff" * KEYSTORE_BYTES
        return _read_or_erased(self.dir / "keystore.bin", 0, KEYSTORE_BYTES, 0xFF)

    def artefacts(self) -> dict[str, str]:
        if self._dry is not None:
            return {**self._dry.entries, "dir": str(self.dir)}
        out = {"dir": str(self.dir)}
        for name in ("flash.bin", "flash.bin.wear", "keystore.bin"):
            if (self.dir / name).exists():
                out[name] = str(self.dir / name)
        if self._report:
            r = self._report
            out["flash_write"] = (
                f"{r.get('sectors')} sectors erased, {r.get('pages')} pages "
                f"({r.get('pages_skipped')} erased pages skipped), verified"
            )
        return out

    def close(self) -> None:
        pass
