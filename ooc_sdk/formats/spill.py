"""The activation spill ring's byte format (docs/spill.md, "Byte format"): the single source of
truth for its sector and record headers and their constants.

The runtime (c_runtime/src/spill.c) writes the ring through ``ooc/ooc_spill_format.h``, generated
from this module (``python -m ooc_sdk.formats --write-c-headers``); the SDK's ring cost model
(ooc_sdk/plan/spill.py) and the flash-dump reader (ooc_sdk/audit/ring.py) take their sizes and
offsets from here. All integers are little-endian except the CTR block counter.

A ring sector is a sector header, then records on 16-byte boundaries, then erased bytes. A data
record is a record header, ``length`` bytes of AES-CTR ciphertext and a 16-byte tag, padded with
0xFF to 16 bytes; a boot record is a header alone.
"""

from __future__ import annotations

from ooc_sdk.formats.cheader import CHeader, Const, Field, Item, Record

MAGIC = b"OOCS"  # of every sector header
VERSION = 1
RECORD_DATA = 1  # header, ciphertext, 16-byte tag
RECORD_BOOT = 2  # header only: this boot number is taken
RECORD_ALIGN = 16  # records start on 16-byte boundaries of the sector
TAG_BYTES = 16  # a data record's tag (AES-CMAC or Poly1305, the image's algorithm)
NEXT_CHECK_XOR = 0x7FFFFFFF  # next_check = next_count ^ this (not ~: a cut write leaves ~0)
SALT_BYTES = 16  # the optional per-mount salt in the key derivation context
LABEL_ENC = b"ooc spill enc"  # K_enc = KDF(root key, label, uid || u32le(boot) || salt)
LABEL_MAC = b"ooc spill mac"  # K_mac = KDF(root key, label, uid || u32le(boot) || salt)

SECTOR_HEADER = Record(
    "sector header",
    "SH",
    32,
    [
        Field("magic", "4s", '"OOCS"'),
        Field("version", "B", "OOC_SPILL_VERSION"),
        Field("reserved", "B", "0"),
        Field("header_bytes", "H", "32"),
        Field("erase_count", "I", "erases of this sector, the one before this header included"),
        Field("ring_seq", "I", "1 for the first sector the ring opened, +1 for each since"),
        Field("boot", "I", "the boot that opened the sector"),
        Field("crc", "I", "CRC-32 (zlib) of the bytes before it"),
        Field("next_count", "I", "the next sector's erase count, written just before its erase"),
        Field("next_check", "I", "next_count ^ OOC_SPILL_NEXT_CHECK_XOR"),
    ],
    "At offset 0 of every ring sector.",
    size_name="SECTOR_HEADER_BYTES",
)

RECORD_HEADER = Record(
    "record header",
    "RH",
    32,
    [
        Field("type", "B", "OOC_SPILL_RECORD_*; 0xFF: free space"),
        Field("version", "B", "OOC_SPILL_VERSION"),
        Field("reserved", "H", "0"),
        Field("length", "I", "payload bytes (0 for a boot record)"),
        Field("boot", "I", "the boot that wrote it"),
        Field("tensor", "I", "tensor id (0 for a boot record)"),
        Field("tile", "I", "tile id (0 for a boot record)"),
        Field("seq", "Q", "write sequence in this boot (0: boot record)"),
        Field("crc", "I", "CRC-32 (zlib) of the bytes before it"),
    ],
    "At a 16-byte boundary of a sector; the tag covers it.",
    aligned=False,  # seq is a u64 at offset 20
    size_name="RECORD_HEADER_BYTES",
)

# The next_count slot: next_count and next_check, programmed together just before the ring
# erases the next sector.
SLOT_OFFSET = SECTOR_HEADER.offsets["next_count"]
SLOT_BYTES = SECTOR_HEADER.size - SLOT_OFFSET
RECORD_OVERHEAD = RECORD_HEADER.size + TAG_BYTES  # a data record's bytes besides the payload


def _c_sections() -> list[list[Item]]:
    return [
        [
            Const("MAGIC", MAGIC),
            Const("VERSION", VERSION),
            Const("RECORD_DATA", RECORD_DATA, "header, ciphertext, 16-byte tag"),
            Const("RECORD_BOOT", RECORD_BOOT, "header only: this boot number is taken"),
            Const("RECORD_ALIGN", RECORD_ALIGN, "records start on 16-byte boundaries"),
            Const("TAG_BYTES", TAG_BYTES, "a data record's tag, after its ciphertext"),
            Const("NEXT_CHECK_XOR", NEXT_CHECK_XOR, "next_check = next_count ^ this", hex=True),
            Const("SALT_BYTES", SALT_BYTES, "ooc_spill_config_t.boot_salt"),
            Const("LABEL_ENC", LABEL_ENC.decode()),
            Const("LABEL_MAC", LABEL_MAC.decode()),
        ],
        [SECTOR_HEADER],
        [RECORD_HEADER],
    ]


C_HEADER = CHeader(
    module=__name__,
    filename="ooc_spill_format.h",
    title="ooc activation spill ring: byte layout of the sector and record headers.",
    prefix="OOC_SPILL",
    tag="SPILL",
    type_prefix="ooc_spill_",
    sections=_c_sections,
    about="docs/spill.md describes every field, the key schedule and the recovery rules. All "
    "integers are little-endian; read them with explicit byte loads.",
)
