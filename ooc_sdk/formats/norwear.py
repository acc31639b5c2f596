"""The NOR flash emulator's wear sidecar ("<flash>.wear", c_runtime/ports/host/ooc_nor_emu.h):
the lifetime counters and every sector's erase count of an emulated chip, which the wear audit
reads back (ooc_sdk/audit/wear.py).

Layout: this header, then one little-endian u32 erase count per sector (sector 0 first), then
a CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it. The emulator (C) writes and
reads it through ``ooc_nor_wear_format.h``, generated from this module
(``python -m ooc_sdk.formats --write-c-headers``).
"""

from __future__ import annotations

from ooc_sdk.formats.cheader import HOST_PORT, CHeader, Const, Field, Item, Record

MAGIC = b"OOCNORW1"
VERSION = 1
COUNT_BYTES = 4  # each sector's erase count, after the header
CRC_BYTES = 4  # at the very end

LIFETIME = (
    "bytes_read",
    "read_commands",
    "bytes_programmed",
    "program_ops",
    "erase_ops",
    "read_busy_ns",
    "program_busy_ns",
    "erase_busy_ns",
)

HEADER = Record(
    "wear sidecar header",
    "WH",
    88,
    [
        Field("magic", "8s", '"OOCNORW1"'),
        Field("version", "I", "VERSION (1)"),
        Field("sector_bytes", "I", "the emulated chip's erase sector"),
        Field("n_sectors", "I", "size_bytes / sector_bytes: the erase counts that follow"),
        Field("reserved", "I", "0"),
        Field("bytes_read", "Q", "lifetime bytes read"),
        Field("read_commands", "Q", "lifetime read commands"),
        Field("bytes_programmed", "Q", "lifetime bytes programmed"),
        Field("program_ops", "Q", "lifetime page programs"),
        Field("erase_ops", "Q", "lifetime sector erases"),
        Field("read_busy_ns", "Q", "lifetime read busy time, nanoseconds (rounded)"),
        Field("program_busy_ns", "Q", "lifetime program busy time, nanoseconds"),
        Field("erase_busy_ns", "Q", "lifetime erase busy time, nanoseconds"),
    ],
    "At offset 0 of the sidecar; n_sectors u32 erase counts and the CRC-32 follow.",
    size_name="HEADER_BYTES",
)
FIXED_BYTES = HEADER.size + CRC_BYTES  # a sidecar's bytes besides the erase counts


def sidecar_bytes(n_sectors: int) -> int:
    """The size of the sidecar of a chip with ``n_sectors`` sectors."""
    return FIXED_BYTES + COUNT_BYTES * n_sectors


def _c_sections() -> list[list[Item]]:
    return [
        [
            Const("MAGIC", MAGIC),
            Const("VERSION", VERSION),
            Const("COUNT_BYTES", COUNT_BYTES, "each sector's erase count (u32), after the header"),
            Const("CRC_BYTES", CRC_BYTES, "CRC-32 (IEEE 802.3) of every byte before it, last"),
            Const("FIXED_BYTES", FIXED_BYTES, "header and CRC: the bytes besides the counts"),
        ],
        [HEADER],
    ]


C_HEADER = CHeader(
    module=__name__,
    filename="ooc_nor_wear_format.h",
    title="ooc NOR flash emulator: byte layout of the wear sidecar.",
    prefix="OOC_NORW",
    tag="NORW",
    type_prefix="ooc_norw_",
    sections=_c_sections,
    about="ooc_nor_emu.h describes the file; all integers are little-endian.",
    directory=HOST_PORT,
)
