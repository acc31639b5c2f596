"""Batch images: one encrypted image for a whole production batch, personalised per device.

``ooc build`` without ``--device-key`` packs the image with its key slot left erased and keeps
the image's content key beside the build, wrapped (RFC 3394) under a key-encryption key the
factory master secret derives for that build (``Keystore.wrap_batch_key``): the content key is
never inside the image, never on disk in the clear, and only a station holding the same master
secret can unwrap it. At provisioning, the station unwraps it, derives the device's root key and
writes the key slot for that device (``pack.personalize``); everything else in the image is the
same for every device of the batch.

Batch key file ``OUT/batch-key.bin`` (mode 0600; docs/FORMAT.md):
``OOCB`` | version 1 | content key length (16 or 32) | 2 reserved bytes | master key id (8) |
build id (16) | wrapped content key (length + 8) | CRC-32 of the preceding bytes.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto
from ooc_sdk.image.keys import read_private_file, write_private_file
from ooc_sdk.image.keystore import Keystore

BATCH_KEY_FILE = "batch-key.bin"
BATCH_MAGIC = b"OOCB"
BATCH_VERSION = 1
_HEAD = struct.Struct(f"<4sBBH{fmt.KEY_ID_BYTES}s{fmt.BUILD_ID_BYTES}s")


def seal_batch_key(keystore: Keystore, build_id: bytes, content_key: bytes) -> bytes:
    """The batch key file's bytes for ``content_key`` of build ``build_id``."""
    if len(content_key) not in crypto.KEY_SIZES or len(build_id) != fmt.BUILD_ID_BYTES:
        raise InvalidArgumentError("a batch key holds a 16- or 32-byte key for one build id")
    wrapped = keystore.wrap_batch_key(build_id, content_key)
    body = _HEAD.pack(BATCH_MAGIC, BATCH_VERSION, len(content_key), 0, keystore.key_id, build_id)
    body += wrapped
    return body + struct.pack("<I", zlib.crc32(body))


def write_batch_key(path: Path, keystore: Keystore, build_id: bytes, content_key: bytes) -> None:
    """Write the batch key file (mode 0600, atomically: a full disk leaves no torn file)."""
    write_private_file(
        path, seal_batch_key(keystore, build_id, content_key), force=True, what="batch key file"
    )


def open_batch_key(data: bytes, keystore: Keystore, build_id: bytes, what: str) -> bytes:
    """The content key of the image with ``build_id``, checked against this keystore."""
    if len(data) < _HEAD.size or data[:4] != BATCH_MAGIC:
        raise InvalidArgumentError(f"{what} is not an ooc batch key file")
    _, version, key_len, _, key_id, for_build = _HEAD.unpack_from(data)
    if version != BATCH_VERSION:
        raise InvalidArgumentError(f"{what} has batch key version {version}; this ooc reads 1")
    if key_len not in crypto.KEY_SIZES or len(data) != _HEAD.size + key_len + 8 + 4:
        raise InvalidArgumentError(f"{what} is damaged (wrong length)")
    if zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise InvalidArgumentError(f"{what} is damaged (checksum mismatch)")
    if key_id != keystore.key_id:
        raise InvalidArgumentError(
            f"{what} was sealed under master key id {key_id.hex()}; this station's master key "
            f"id is {keystore.key_id.hex()} (a different master key)"
        )
    if for_build != build_id:
        raise InvalidArgumentError(
            f"{what} belongs to build {for_build.hex()}, the image is build {build_id.hex()}: "
            "the image and its batch key come from different builds"
        )
    return keystore.unwrap_batch_key(build_id, data[_HEAD.size : -4])


def read_batch_key(path: Path, keystore: Keystore, build_id: bytes) -> bytes:
    data = read_private_file(path, "batch key file")
    return open_batch_key(data, keystore, build_id, f"batch key file {path}")
