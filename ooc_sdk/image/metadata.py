"""The metadata partition: a littlefs file system built with littlefs-python.

It holds small, rarely written files (manifest copy, build info; later the device record and the
provisioning log). Block size = the flash erase sector, so a device's littlefs driver mounts it as is.
It is not authenticated: the authenticated copy of everything that matters is the image header.
"""

from __future__ import annotations

from littlefs import LittleFS, LittleFSError

from ooc_sdk.errors import ImageFormatError, InvalidArgumentError


def build_metadata(block_bytes: int, block_count: int, files: dict[str, bytes]) -> bytes:
    """A littlefs image of ``block_count`` blocks holding ``files`` (name -> contents)."""
    fs = LittleFS(block_size=block_bytes, block_count=block_count, mount=True)
    try:
        for name, data in files.items():
            with fs.open(name, "wb") as f:
                f.write(data)
        fs.unmount()
    except LittleFSError as exc:
        raise InvalidArgumentError(
            f"the metadata partition ({block_count} sectors of {block_bytes} bytes) cannot hold "
            f"its files ({exc}); give it more sectors"
        ) from None
    return bytes(fs.context.buffer)


def read_metadata(data: bytes, block_bytes: int) -> dict[str, bytes]:
    """Every regular file in the root of a littlefs image."""
    if not data or len(data) % block_bytes:
        raise ImageFormatError("metadata partition is not a whole number of blocks")
    fs = LittleFS(block_size=block_bytes, block_count=len(data) // block_bytes, mount=False)
    fs.context.buffer = bytearray(data)
    try:
        fs.mount()
        out = {}
        for name in fs.listdir("/"):
            with fs.open(name, "rb") as f:
                out[name] = f.read()
        return out
    except LittleFSError as exc:
        raise ImageFormatError(f"metadata partition is not a readable littlefs: {exc}") from None
