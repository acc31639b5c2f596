"""Read the activation spill ring's sector headers from a flash dump (docs/spill.md, "Byte format").

Only what the wear audit needs: each scratch sector's state and erase count. Nothing here is
authenticated (the flash is untrusted; the CRCs only detect torn writes), so a count read from a
dump is what the device itself would believe at its next mount, not a proof.

Every sector is one of:

- ``ring``: a valid header (magic, version, sizes, ring_seq != 0, CRC-32 of bytes 0..19);
- ``erased``: every byte 0xFF (never opened, or erased by the packer);
- ``damaged``: anything else: a torn or forged header, foreign bytes, or records without a header.

Erase counts follow the ring's own recovery rule (docs/spill.md, "Erase counts"): a valid header's
``erase_count``; else, when the previous sector's ``next_count`` slot is valid, that count + 1 (an
erase that was cut before the new header went on); else 0 (the ring takes such a sector as never
erased, and so does this reader: ``count_known`` is False then).
"""

from __future__ import annotations

import zlib
from typing import Any

from ooc_sdk.formats import spill as fmt

MAGIC = fmt.MAGIC
VERSION = fmt.VERSION
SECTOR_HEADER_BYTES = fmt.SECTOR_HEADER.size
SLOT_XOR = fmt.NEXT_CHECK_XOR
_CRC_SPAN = fmt.SECTOR_HEADER.offsets["crc"]  # the CRC covers the bytes before it
_SLOT = slice(fmt.SLOT_OFFSET, fmt.SLOT_OFFSET + fmt.SLOT_BYTES)
_ERASED_SLOT = b"\xff" * fmt.SLOT_BYTES


def parse_sector_header(raw: bytes) -> dict[str, Any]:
    """The state of one scratch sector from its bytes (at least the 32-byte header)."""
    if len(raw) < SECTOR_HEADER_BYTES:
        return {"state": "damaged", "reason": "shorter than a sector header"}
    if raw.count(0xFF) == len(raw):
        return {"state": "erased"}
    h = fmt.SECTOR_HEADER.unpack(raw)
    if h["magic"] != MAGIC:
        if raw[:SECTOR_HEADER_BYTES] == b"\xff" * SECTOR_HEADER_BYTES:
            reason = "no sector header, but the sector is not erased (a cut erase or header)"
        else:
            reason = "no OOCS sector header (foreign or overwritten bytes)"
        return {"state": "damaged", "reason": reason}
    if h["crc"] != zlib.crc32(raw[:_CRC_SPAN]):
        return {"state": "damaged", "reason": "sector header CRC mismatch (torn or altered)"}
    if (
        h["version"] != VERSION
        or h["reserved"]
        or h["header_bytes"] != SECTOR_HEADER_BYTES
        or h["ring_seq"] == 0
    ):
        return {"state": "damaged", "reason": "sector header has an unknown version or sizes"}
    if raw[_SLOT] == _ERASED_SLOT:
        slot: int | None = None
        slot_state = "unwritten"
    elif h["next_check"] == h["next_count"] ^ SLOT_XOR:
        slot, slot_state = h["next_count"], "valid"
    else:
        slot, slot_state = None, "torn"
    return {
        "state": "ring",
        "erase_count": h["erase_count"],
        "ring_seq": h["ring_seq"],
        "boot": h["boot"],
        "next_count": slot,
        "next_count_slot": slot_state,
    }


def read_ring(scratch: bytes, sector_bytes: int) -> dict[str, Any]:
    """Every sector of a scratch partition: state, erase count (by the ring's recovery rule) and
    the head (the valid header with the highest ring_seq), plus the highest boot number seen."""
    if sector_bytes <= 0 or len(scratch) % sector_bytes:
        raise ValueError("the scratch partition is not a whole number of sectors")
    n = len(scratch) // sector_bytes
    sectors = [
        parse_sector_header(scratch[i * sector_bytes : (i + 1) * sector_bytes]) for i in range(n)
    ]
    for i, s in enumerate(sectors):
        s["index"] = i
        if s["state"] == "ring":
            s["count_known"] = True
            continue
        prev = sectors[(i - 1) % n] if n > 1 else None
        if prev is not None and prev["state"] == "ring" and prev.get("next_count") is not None:
            s["erase_count"] = prev["next_count"] + 1
            s["count_known"] = True
            s["count_from"] = "the previous sector's next_count slot (an erase was cut)"
        else:
            s["erase_count"] = 0
            s["count_known"] = s["state"] == "erased"
    ring = [s for s in sectors if s["state"] == "ring"]
    head = max(ring, key=lambda s: s["ring_seq"])["index"] if ring else None
    return {
        "sectors": sectors,
        "head": head,
        "highest_boot": max((s["boot"] for s in ring), default=None),
        "ring_sectors": len(ring),
        "erased_sectors": sum(s["state"] == "erased" for s in sectors),
        "damaged_sectors": sum(s["state"] == "damaged" for s in sectors),
    }


def make_sector_header(
    erase_count: int, ring_seq: int, boot: int, next_count: int | None = None
) -> bytes:
    """A valid 32-byte sector header (for tools and tests; the device writes these itself)."""
    values = {
        "magic": MAGIC,
        "version": VERSION,
        "header_bytes": SECTOR_HEADER_BYTES,
        "erase_count": erase_count,
        "ring_seq": ring_seq,
        "boot": boot,
    }
    crc = zlib.crc32(fmt.SECTOR_HEADER.pack(**values)[:_CRC_SPAN])
    if next_count is None:
        return fmt.SECTOR_HEADER.pack(**values, crc=crc)[: _SLOT.start] + _ERASED_SLOT
    return fmt.SECTOR_HEADER.pack(
        **values, crc=crc, next_count=next_count, next_check=next_count ^ SLOT_XOR
    )
