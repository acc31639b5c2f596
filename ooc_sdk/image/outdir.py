"""The files `ooc pack` writes to its output directory, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import MAX_IMAGE_BYTES, FileMissingError, read_bytes, write_atomic
from ooc_sdk.image.ihex import to_intel_hex
from ooc_sdk.image.pack import PackedImage

IMAGE_BIN = "image.bin"  # the flash image, key slot included
IMAGE_HEX = "image.hex"  # the same as Intel HEX at --hex-base + the image's flash offset
MANIFEST_JSON = "manifest.json"  # public description: model, build, partitions, chunks
KEY_SLOT_BIN = "keyslot.bin"  # the content key wrapped for the device (128-byte key slot)


def write_image_dir(out_dir: Path, packed: PackedImage, hex_base: int = 0) -> dict[str, Path]:
    """Write image.bin, image.hex, manifest.json and keyslot.bin (not for a batch image); each
    file appears whole or not at all. Returns the paths by name."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot create {out_dir}: {exc.strerror}") from None
    base = hex_base + packed.manifest["flash"]["base_offset"]
    files = {
        IMAGE_BIN: packed.image,
        IMAGE_HEX: to_intel_hex(packed.image, base).encode(),
        MANIFEST_JSON: (json.dumps(packed.manifest, indent=1) + "\n").encode(),
    }
    if packed.key_slot:  # a batch image has no key slot until provisioning writes one per device
        files[KEY_SLOT_BIN] = packed.key_slot
    else:
        (out_dir / KEY_SLOT_BIN).unlink(missing_ok=True)
    out = {}
    for name, data in files.items():
        path = out_dir / name
        write_atomic(path, data)
        out[name] = path
    return out


def load_image(path: Path) -> bytes:
    """The image bytes from an `ooc pack` output directory or an image file."""
    file = path / IMAGE_BIN if path.is_dir() else path
    try:
        return read_bytes(file, "image", MAX_IMAGE_BYTES)
    except FileMissingError:
        raise FileMissingError(
            f"{file} does not exist (make an image with `ooc pack MODEL -o DIR`)"
        ) from None
