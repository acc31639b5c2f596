"""The files `ooc pack` writes to its output directory, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from ooc_sdk.fileio import (
    MAX_IMAGE_BYTES,
    FileMissingError,
    read_bytes,
    replace_dir,
    write_atomic,
)
from ooc_sdk.image.ihex import to_intel_hex
from ooc_sdk.image.pack import PackedImage

IMAGE_BIN = "image.bin"  # the flash image, key slot included
IMAGE_HEX = "image.hex"  # the same as Intel HEX at --hex-base + the image's flash offset
MANIFEST_JSON = "manifest.json"  # public description: model, build, partitions, chunks
KEY_SLOT_BIN = "keyslot.bin"  # the content key wrapped for the device (128-byte key slot)


def write_image_dir(
    out_dir: Path, packed: PackedImage, hex_base: int = 0, *, force: bool = False
) -> dict[str, Path]:
    """Write image.bin, image.hex, manifest.json and keyslot.bin (not for a batch image) into
    ``out_dir``, which must be new or empty unless ``force``: the files are written into a
    fresh directory that replaces ``out_dir`` only when all are there (fileio.replace_dir), so
    an image and the key slot of another build never mix. Returns the paths by name."""
    base = hex_base + packed.manifest["flash"]["base_offset"]
    files = {
        IMAGE_BIN: packed.image,
        IMAGE_HEX: to_intel_hex(packed.image, base).encode(),
        MANIFEST_JSON: (json.dumps(packed.manifest, indent=1) + "\n").encode(),
    }
    if packed.key_slot:  # a batch image has no key slot until provisioning writes one per device
        files[KEY_SLOT_BIN] = packed.key_slot
    with replace_dir(out_dir, force) as tmp:
        for name, data in files.items():
            write_atomic(tmp / name, data)
    return {name: out_dir / name for name in files}


def load_image(path: Path) -> bytes:
    """The image bytes from an `ooc pack` output directory or an image file."""
    file = path / IMAGE_BIN if path.is_dir() else path
    try:
        return read_bytes(file, "image", MAX_IMAGE_BYTES)
    except FileMissingError:
        raise FileMissingError(
            f"{file} does not exist (make an image with `ooc pack MODEL -o DIR`)"
        ) from None
