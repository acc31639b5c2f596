"""What every programmer shares: the error, the two protocols, UIDs and the dry-run log."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from ooc_sdk.errors import InvalidArgumentError, OocError
from ooc_sdk.fileio import read_text
from ooc_sdk.formats import image as fmt
from ooc_sdk.formats.keystore import KEYSTORE, KEYSTORE_BYTES, KEYSTORE_MAGIC, KEYSTORE_VERSION

# The device key storage record (docs/FORMAT.md, "Device key storage record").
_RECORD_UID = KEYSTORE.span("device_uid")
_RECORD_MAGIC = KEYSTORE.span("magic")
_RECORD_VERSION = KEYSTORE.offsets["version"]

SERIAL_UID_PREFIX = b"OOC\0"


class ProgrammerError(OocError):
    """Programming or reading a device failed: one line saying what failed, on which device or
    probe, and what to do (the station marks that device failed and goes on)."""


class Target(Protocol):
    """One connected device (or its output files)."""

    label: str

    def read_uid(self) -> bytes:
        """The device UID, 16 bytes (a shorter hardware UID zero-padded on the left)."""
        ...

    def program_external(self, offset: int, data: bytes) -> None:
        """Erase as needed and program ``data`` at ``offset`` of the external NOR flash."""
        ...

    def read_external(self, offset: int, length: int) -> bytes: ...

    def program_keystore(self, record: bytes) -> None:
        """Write the key storage record (``ooc_sdk.formats.keystore.keystore_record``) to the device's
        internal key storage."""
        ...

    def read_keystore(self) -> bytes: ...

    def artefacts(self) -> dict[str, str]:
        """Files written, probe id, or (dry run) what would be written; never a secret."""
        ...

    def close(self) -> None: ...


class Programmer(Protocol):
    name: str
    station_assigns_uid: bool

    def connect(self, uid: bytes | None) -> Target: ...

    def close(self) -> None: ...


def serial_uid(serial: int) -> bytes:
    """The UID of station-generated serial number ``serial``: ``b"OOC\\0"``, four zero bytes,
    then the serial as 8 bytes big-endian, e.g. serial 1 = ``4f4f4300 00000000 0000000000000001``.

    The prefix keeps generated UIDs apart from hardware ones: a 96-bit (or shorter) chip UID is
    zero-padded on the left, so its first four bytes are zero and never spell "OOC"."""
    if not 0 <= serial < 1 << 64:
        raise InvalidArgumentError(f"serial number {serial} is outside 0 to 2^64-1")
    return SERIAL_UID_PREFIX + bytes(4) + serial.to_bytes(8, "big")


def parse_uid_text(text: str) -> bytes:
    """A UID written in hex (optional 0x, ':' '-' '_' or spaces between bytes, an odd digit
    count read as a number), 1 to 16 bytes, zero-padded on the left."""
    clean = text.strip()
    if clean[:2].lower() == "0x":
        clean = clean[2:]
    for sep in ":-_ \t":
        clean = clean.replace(sep, "")
    if len(clean) % 2:
        clean = "0" + clean
    try:
        raw = bytes.fromhex(clean)
    except ValueError:
        raise InvalidArgumentError(f"{text.strip()!r} is not hex") from None
    if not 1 <= len(raw) <= fmt.UID_BYTES:
        raise InvalidArgumentError(
            f"a UID is 1 to {fmt.UID_BYTES} bytes, {text.strip()!r} is {len(raw)}"
        )
    return raw.rjust(fmt.UID_BYTES, b"\0")


def read_uids_file(path: Path) -> list[bytes]:
    """The UIDs listed in ``path``: one per line in hex (see :func:`parse_uid_text`), ``#``
    starts a comment, blank lines are skipped. A bad or repeated line is an
    InvalidArgumentError naming ``file:line``."""
    text = read_text(path, "UID list")
    uids: list[bytes] = []
    seen: dict[bytes, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        try:
            uid = parse_uid_text(body)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{path}:{n}: {exc}") from None
        if uid in seen:
            raise InvalidArgumentError(
                f"{path}:{n}: UID {uid.hex()} repeats line {seen[uid]} (two devices cannot share "
                "an identity)"
            )
        seen[uid] = n
        uids.append(uid)
    if not uids:
        raise InvalidArgumentError(f"the UID list {path} holds no UIDs")
    return uids


def check_uid(uid: bytes | None, programmer: str) -> bytes:
    if uid is None:
        raise ProgrammerError(
            f"the {programmer} programmer needs the UID from the station (--uids FILE or a "
            "registry serial)"
        )
    if len(uid) != fmt.UID_BYTES:
        raise ProgrammerError(f"device UID must be {fmt.UID_BYTES} bytes, got {len(uid)}")
    return bytes(uid)


def check_record(record: bytes, uid: bytes, label: str) -> None:
    """Refuse a key storage record that is malformed or made for another device."""
    if (
        len(record) != KEYSTORE_BYTES
        or record[_RECORD_MAGIC] != KEYSTORE_MAGIC
        or record[_RECORD_VERSION] != KEYSTORE_VERSION
    ):
        raise ProgrammerError(
            f"{label}: not a key storage record ({len(record)} bytes; want the "
            f"{KEYSTORE_BYTES}-byte {KEYSTORE_MAGIC.decode()} record, version {KEYSTORE_VERSION}, "
            "of ooc_sdk.formats.keystore.keystore_record)"
        )
    if record[_RECORD_UID] != uid:
        raise ProgrammerError(
            f"{label}: the key storage record is for device {record[_RECORD_UID].hex()}, not "
            f"{uid.hex()}: nothing written"
        )


class DryRunLog:
    """What a dry run would write: artefact entries, plus an overlay so reads return it."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {"dry_run": "true"}
        self.external: list[tuple[int, bytes]] = []
        self.keystore: bytes | None = None

    def would(self, what: str, offset: int, data: bytes) -> None:
        key, n = f"would_program_{what}", 2
        while key in self.entries:
            key, n = f"would_program_{what}#{n}", n + 1
        digest = hashlib.sha256(data).hexdigest()
        self.entries[key] = f"offset {offset:#x}, {len(data)} bytes, sha256 {digest}"

    def overlay(self, offset: int, base: bytes) -> bytes:
        out = bytearray(base)
        for at, data in self.external:
            lo, hi = max(at, offset), min(at + len(data), offset + len(out))
            if lo < hi:
                out[lo - offset : hi - offset] = data[lo - at : hi - at]
        return bytes(out)
