"""Device key files and the key hierarchy (docs/FORMAT.md, "Keys").

A device key file holds what a device keeps in its internal, trusted storage: its UID, its root
key and (version 2) the trust anchors it checks image signatures against. Layout (little-endian,
44 or 60 bytes, plus 32 per anchor)::

    0   4s  magic b"OOCD"
    4   B   version (1: no anchors; 2: anchors follow the root key)
    5   B   root key length (16 or 32)
    6   B   version 2: number of trust anchors (1 .. 4); version 1: reserved (0)
    7   B   reserved (0)
    8   16s device UID (zero-padded on the left)
    24  ..  root key
    ..  32s each trust anchor: a raw Ed25519 public key (version 2)
    ..  I   CRC-32 (zlib) of all bytes before it: catches a damaged or wrong file, not an attacker

Files are created with mode 0600 (ooc_sdk.fileio.write_secret: atomically, never through a
symbolic link) and refused when group or world can read them or they are not regular files.
"""

from __future__ import annotations

import secrets
import stat
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import MAX_KEY_FILE_BYTES, read_input, write_secret
from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto

KEY_FILE_MAGIC = b"OOCD"
KEY_FILE_VERSION = 1
KEY_FILE_VERSION_ANCHORS = 2
_HEAD = struct.Struct("<4sBBBB16s")


@dataclass(frozen=True)
class DeviceKey:
    """A device identity: its UID and its root key. ``repr`` never shows the key."""

    uid: bytes
    root_key: bytes
    # Raw Ed25519 public keys of the vendors whose signed images the device runs (trust
    # anchors); empty: the device accepts unsigned images (docs/DESIGN.md, "Threat model").
    anchors: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if len(self.uid) != fmt.UID_BYTES:
            raise InvalidArgumentError(f"device UID must be {fmt.UID_BYTES} bytes")
        if len(self.root_key) not in crypto.KEY_SIZES:
            raise InvalidArgumentError("device root key must be 16 or 32 bytes")
        check_anchors(self.anchors)

    def __repr__(self) -> str:
        return f"DeviceKey(uid={self.uid.hex()}, key_id={self.key_id.hex()})"

    @property
    def key_id(self) -> bytes:
        """Public fingerprint of the root key (a KDF output: reveals nothing about the key)."""
        return crypto.kdf(self.root_key, fmt.LABEL_KEY_ID, self.uid, fmt.KEY_ID_BYTES)

    def kek(self, build_id: bytes) -> bytes:
        """Key-encryption key for one image build's key slot."""
        return crypto.kdf(self.root_key, fmt.LABEL_KEK, self.uid + build_id, len(self.root_key))

    def to_bytes(self) -> bytes:
        version = KEY_FILE_VERSION_ANCHORS if self.anchors else KEY_FILE_VERSION
        n = len(self.anchors)
        body = _HEAD.pack(KEY_FILE_MAGIC, version, len(self.root_key), n, 0, self.uid)
        body += self.root_key + b"".join(self.anchors)
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "key file") -> DeviceKey:
        if len(data) < _HEAD.size or data[:4] != KEY_FILE_MAGIC:
            raise InvalidArgumentError(
                f"{what} is not an ooc device key file (make one with ooc keygen)"
            )
        _, version, key_len, n, _, uid = _HEAD.unpack_from(data)
        if version not in (KEY_FILE_VERSION, KEY_FILE_VERSION_ANCHORS):
            raise InvalidArgumentError(
                f"{what} has key file version {version}; this ooc reads 1 and 2"
            )
        n = n if version == KEY_FILE_VERSION_ANCHORS else 0
        end = _HEAD.size + key_len + fmt.PUBLIC_KEY_BYTES * n
        if key_len not in crypto.KEY_SIZES or len(data) != end + 4:
            raise InvalidArgumentError(f"{what} is damaged (wrong length)")
        body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
        if zlib.crc32(body) != crc:
            raise InvalidArgumentError(f"{what} is damaged (checksum mismatch)")
        key = bytes(data[_HEAD.size : _HEAD.size + key_len])
        raw = data[_HEAD.size + key_len : end]
        anchors = tuple(bytes(raw[i : i + 32]) for i in range(0, len(raw), 32))
        return cls(uid, key, anchors)


def check_anchors(anchors: Sequence[bytes]) -> tuple[bytes, ...]:
    """Trust anchors as a device stores them: up to fmt.MAX_ANCHORS distinct raw 32-byte Ed25519
    public keys; InvalidArgumentError otherwise."""
    out = tuple(bytes(a) for a in anchors)
    if (
        len(out) > fmt.MAX_ANCHORS
        or any(len(a) != fmt.PUBLIC_KEY_BYTES for a in out)
        or len(set(out)) != len(out)
    ):
        raise InvalidArgumentError(
            f"a device holds up to {fmt.MAX_ANCHORS} distinct 32-byte Ed25519 trust anchors"
        )
    return out


def parse_uid(text: str) -> bytes:
    """A UID given as hex (up to 16 bytes, separators ':' '-' allowed), zero-padded on the left."""
    clean = text.replace(":", "").replace("-", "").strip()
    try:
        raw = bytes.fromhex(clean)
    except ValueError:
        raise InvalidArgumentError(f"device UID {text!r} is not hex") from None
    if not raw or len(raw) > fmt.UID_BYTES:
        raise InvalidArgumentError(f"device UID must be 1 to {fmt.UID_BYTES} bytes, got {len(raw)}")
    return raw.rjust(fmt.UID_BYTES, b"\0")


def generate(uid: bytes | None = None, key_bytes: int = 32) -> DeviceKey:
    """A fresh random root key (from the OS CSPRNG) for ``uid`` (random when None)."""
    if key_bytes not in crypto.KEY_SIZES:
        raise InvalidArgumentError("root key must be 128 or 256 bits")
    return DeviceKey(uid or secrets.token_bytes(fmt.UID_BYTES), secrets.token_bytes(key_bytes))


def write_private_file(
    path: Path, data: bytes, force: bool = False, what: str = "key file"
) -> None:
    """Create ``path`` with mode 0600 holding ``data`` (ooc_sdk.fileio.write_secret: never
    readable by others, never through a symbolic link, whole or not at all; an existing file is
    replaced only with ``force``, atomically)."""
    write_secret(path, data, force=force, what=what)


def read_private_file(path: Path, what: str) -> bytes:
    """The bytes of a secret file (``what``: "key file", ...): a regular file of at most
    MAX_KEY_FILE_BYTES that neither group nor others can access."""
    data, st = read_input(path, what, MAX_KEY_FILE_BYTES)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidArgumentError(
            f"{what} {path} is accessible to group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
        )
    return data


def write_key_file(path: Path, key: DeviceKey, force: bool = False) -> None:
    """Create the device key file ``path`` (mode 0600; see write_private_file)."""
    write_private_file(path, key.to_bytes(), force, "key file")


def read_key_file(path: Path) -> DeviceKey:
    """Read a device key file; refuse one that group or world can read."""
    return DeviceKey.from_bytes(read_private_file(path, "key file"), f"key file {path}")
