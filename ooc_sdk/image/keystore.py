"""The factory keystore: the master secret every device root key is derived from.

Device root keys are not random-and-escrowed but derived: ``root_key = KDF(master, uid)`` with
the NIST SP 800-108 KDF in counter mode, PRF AES-CMAC (the same KDF the image uses, so the C
runtime's tested implementation and the SDK's agree). Why derive (docs/DESIGN.md,
"Provisioning"): a station needs no database of secret keys, so a registry leak reveals no key;
re-provisioning a device after a crash gives it the same key again, never a second one; and a
hardware security module can hold the master secret and run the KDF inside, releasing only the
derived key for the device on the line. The price is that the master secret protects the whole
fleet, which is why it lives in a 0600 file, an environment-named file, stdin, or a PKCS#11
token that never lets it out (:mod:`ooc_sdk.image.pkcs11`).

Master key file: ``OOCF`` | version 2 | key length (16 or 32) | 2 reserved bytes | key | CRC-32
of the preceding bytes (docs/FORMAT.md). Version 1 had the same layout under ``OOCM``, the image
manifest's magic; it is still read, never written. Nothing here logs, prints or stores a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto
from ooc_sdk.image.keys import DeviceKey, read_private_file, write_private_file

MASTER_MAGIC = b"OOCF"
MASTER_VERSION = 2
LEGACY = (b"OOCM", 1)  # version 1's magic was the manifest's; read, never written
ENV_FILE = "OOC_MASTER_KEY_FILE"
LABEL_ROOT_KEY = b"ooc device root key"
LABEL_MASTER_ID = b"ooc master key id"
LABEL_BATCH_KEK = b"ooc batch kek"
LABEL_REGISTRY_MAC = b"ooc registry mac"
_HEAD = struct.Struct("<4sBBH")


class Keystore(Protocol):
    """What provisioning needs from wherever the master secret lives. The token-backed keystore
    (:class:`ooc_sdk.image.pkcs11.Pkcs11Keystore`) implements it without exporting the secret."""

    @property
    def key_id(self) -> bytes:
        """A public fingerprint of the master secret (recorded in the registry)."""
        ...

    def device_key(self, uid: bytes, key_bytes: int = 32) -> DeviceKey:
        """The root key of device ``uid`` (16 bytes, zero-padded on the left)."""
        ...

    def wrap_batch_key(self, build_id: bytes, content_key: bytes) -> bytes:
        """A batch image's content key wrapped (RFC 3394) for storage beside the build."""
        ...

    def unwrap_batch_key(self, build_id: bytes, wrapped: bytes) -> bytes:
        """The content key back; InvalidArgumentError when it was not wrapped by this master."""
        ...

    def registry_mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under KDF(master, "ooc registry mac", "", 32 bytes): the
        device registry's audit MAC (ooc_sdk/provisioning/chain.py)."""
        ...


def root_key_context(uid: bytes, key_bytes: int = 32) -> bytes:
    """The KDF context of a device root key: UID || key length in bits (16-bit big-endian), so a
    16-byte and a 32-byte key of one device are unrelated rather than one a prefix of the other."""
    if len(uid) != fmt.UID_BYTES:
        raise InvalidArgumentError(f"device UID must be {fmt.UID_BYTES} bytes")
    if key_bytes not in crypto.KEY_SIZES:
        raise InvalidArgumentError("device root keys are 16 or 32 bytes")
    return uid + struct.pack(">H", 8 * key_bytes)


def derive_root_key(master: bytes, uid: bytes, key_bytes: int = 32) -> bytes:
    """SP 800-108 counter-mode KDF, PRF AES-CMAC under ``master``: label "ooc device root key",
    context :func:`root_key_context`."""
    return crypto.kdf(master, LABEL_ROOT_KEY, root_key_context(uid, key_bytes), key_bytes)


class DerivingKeystore:
    """The :class:`Keystore` derivations, each one KDF of the master secret: a subclass gives
    ``kdf`` (where the master lives: this process, or a token) and ``key_bytes``."""

    key_bytes: int

    def kdf(self, label: bytes, context: bytes, length: int) -> bytes:
        """SP 800-108 counter mode, PRF AES-CMAC under the master secret (docs/FORMAT.md)."""
        raise NotImplementedError

    @property
    def key_id(self) -> bytes:
        return self.kdf(LABEL_MASTER_ID, b"", fmt.KEY_ID_BYTES)

    def device_key(self, uid: bytes, key_bytes: int = 32) -> DeviceKey:
        return DeviceKey(uid, self.kdf(LABEL_ROOT_KEY, root_key_context(uid, key_bytes), key_bytes))

    def _batch_kek(self, build_id: bytes) -> bytes:
        # one key-encryption key per build: KDF(master, "ooc batch kek", build id)
        return self.kdf(LABEL_BATCH_KEK, build_id, self.key_bytes)

    def wrap_batch_key(self, build_id: bytes, content_key: bytes) -> bytes:
        return crypto.key_wrap(self._batch_kek(build_id), content_key)

    def unwrap_batch_key(self, build_id: bytes, wrapped: bytes) -> bytes:
        try:
            return crypto.key_unwrap(self._batch_kek(build_id), wrapped)
        except crypto.UnwrapError:
            raise InvalidArgumentError(
                "the batch key does not unwrap under this master key (altered, or another "
                "master key's build)"
            ) from None

    def registry_mac(self, message: bytes) -> bytes:
        key = self.kdf(LABEL_REGISTRY_MAC, b"", 32)
        return hmac.new(key, message, hashlib.sha256).digest()


class SecretKeystore(DerivingKeystore):
    """A master secret held in this process (from a file, the environment's file, or stdin)."""

    def __init__(self, master: bytes) -> None:
        if len(master) not in crypto.KEY_SIZES:
            raise InvalidArgumentError("a master secret is 16 or 32 bytes")
        self._master = bytes(master)
        self.key_bytes = len(self._master)

    def __repr__(self) -> str:
        return f"SecretKeystore(key_id={self.key_id.hex()})"

    def kdf(self, label: bytes, context: bytes, length: int) -> bytes:
        return crypto.kdf(self._master, label, context, length)

    def export_secret(self) -> bytes:
        """The master secret itself: only for importing it into a token
        (:func:`ooc_sdk.image.pkcs11.create_master`); nothing else calls it."""
        return self._master

    # -- the master key file -----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        body = _HEAD.pack(MASTER_MAGIC, MASTER_VERSION, len(self._master), 0) + self._master
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> SecretKeystore:
        if len(data) < _HEAD.size or data[:4] not in (MASTER_MAGIC, LEGACY[0]):
            raise InvalidArgumentError(f"{what} is not an ooc master key file")
        magic, version, key_len, _ = _HEAD.unpack_from(data)
        if (magic, version) not in ((MASTER_MAGIC, MASTER_VERSION), LEGACY):
            raise InvalidArgumentError(
                f"{what} is a master key file of version {version} under magic "
                f"{magic.decode(errors='replace')}; this ooc reads version {LEGACY[1]} "
                f"({LEGACY[0].decode()}) and {MASTER_VERSION} ({MASTER_MAGIC.decode()})"
            )
        if key_len not in crypto.KEY_SIZES or len(data) != _HEAD.size + key_len + 4:
            raise InvalidArgumentError(f"{what} is damaged (wrong length)")
        if zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
            raise InvalidArgumentError(f"{what} is damaged (checksum mismatch)")
        return cls(data[_HEAD.size : _HEAD.size + key_len])

    @classmethod
    def generate(cls, key_bytes: int = 32) -> SecretKeystore:
        if key_bytes not in crypto.KEY_SIZES:
            raise InvalidArgumentError("a master secret is 16 or 32 bytes")
        return cls(secrets.token_bytes(key_bytes))

    def write(self, path: Path, force: bool = False) -> None:
        """Create ``path`` with mode 0600 (never readable by others); with ``force`` replace
        an existing file atomically, so a cut write leaves the old master key whole."""
        write_private_file(path, self.to_bytes(), force, "master key file")


def read_master_file(path: Path) -> SecretKeystore:
    """Read a master key file; refuse one that group or others can access."""
    data = read_private_file(path, "master key file")
    return SecretKeystore.from_bytes(data, f"master key file {path}")


def open_keystore(
    master_key: Path | None = None, stdin: BinaryIO | None = None, keystore: str | None = None
) -> Keystore:
    """The keystore the options name: ``--keystore pkcs11:...`` (a master key in a PKCS#11
    token, :mod:`ooc_sdk.image.pkcs11`), else ``--master-key FILE``, else the file named by
    $OOC_MASTER_KEY_FILE, else ``-`` given as FILE (or nothing) reads the record from stdin."""
    if keystore is not None:
        if master_key is not None:
            raise InvalidArgumentError(
                "give `master_key` or `keystore`, not both", param=("master_key", "keystore")
            )
        from ooc_sdk.image.pkcs11 import open_pkcs11  # python-pkcs11 only when asked for

        return open_pkcs11(keystore)
    if master_key is not None and str(master_key) != "-":
        return read_master_file(master_key)
    env = os.environ.get(ENV_FILE)
    if master_key is None and env:
        return read_master_file(Path(env))
    stream = stdin if stdin is not None else sys.stdin.buffer
    if master_key is None and stream.isatty():
        raise InvalidArgumentError(
            f"no master key: give --master-key FILE or --keystore pkcs11:..., set {ENV_FILE}, "
            "or pipe the key file to stdin"
        )
    return SecretKeystore.from_bytes(stream.read(4096), "the master key on stdin")
