"""The spill ring's flash traffic, predicted exactly (the Python twin of ``ooc_spill_predict()``).

The runtime appends spills as records to a log-structured ring of erase sectors in the image's
scratch partition (docs/spill.md). Given the flash geometry and the record lengths one inference
writes, in order, this module counts the bytes programmed, page programs and sector erases the
ring issues, per inference and over the cycle the write position settles into, and how many
sectors one inference spans (the ring must have at least that many, so no spill is overwritten
before it is read back). ``tests/test_spill.py`` checks it against the C ring on the emulator.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ooc_sdk.formats import spill as fmt
from ooc_sdk.formats.tables import SPILL_STATE_BYTES

SECTOR_HEADER = fmt.SECTOR_HEADER.size
RECORD_HEADER = fmt.RECORD_HEADER.size
TAG = fmt.TAG_BYTES
ALIGN = fmt.RECORD_ALIGN
SLOT = fmt.SLOT_BYTES  # the next_count slot programmed before an erase
SLOT_OFFSET = fmt.SLOT_OFFSET
STATE_BYTES = SPILL_STATE_BYTES  # refs the runtime keeps in the arena per spilled tensor
# Opening a sector, the ring reads the 32-byte headers of the sector it erases (its erase count)
# and of the head (the next_count slot): reads per erase, besides the records' read-back
OPEN_READS = 2
OPEN_READ_BYTES = OPEN_READS * SECTOR_HEADER


def record_bytes(n: int) -> int:
    """Ring bytes a spill of ``n`` bytes takes (header, payload, tag, padding to 16)."""
    return -(-(RECORD_HEADER + n + TAG) // ALIGN) * ALIGN


def max_payload(sector: int) -> int:
    """The largest spill one record holds (a record never spans sectors)."""
    return sector - SECTOR_HEADER - RECORD_HEADER - TAG


def _pages(page: int, off: int, n: int) -> int:
    return (off + n - 1) // page - off // page + 1


@dataclass(frozen=True)
class SpillCost:
    bytes_programmed: int
    page_programs: int
    erases: int
    sectors_spanned: int  # sectors the writes touch: 1 + sectors opened


def predict(page: int, sector: int, pos: int, lens: Sequence[int]) -> tuple[SpillCost, int]:
    """The cost of appending records of ``lens`` at write offset ``pos`` of the head sector
    (``sector`` when it is full), and the write offset afterwards."""
    programmed = ops = erases = 0
    spanned = 1
    open_ops = _pages(page, SLOT_OFFSET, SLOT) + _pages(page, 0, SECTOR_HEADER)
    for n in lens:  # the hot loop of forecast(): record_bytes and _pages inlined
        written = RECORD_HEADER + n + TAG
        size = -(-written // ALIGN) * ALIGN
        if n < 1 or size > sector - SECTOR_HEADER:
            raise ValueError(f"a spill of {n} bytes does not fit one {sector}-byte sector")
        if pos + size > sector:  # open the next sector: slot, erase, header
            programmed += SLOT + SECTOR_HEADER
            ops += open_ops
            erases += 1
            spanned += 1
            pos = SECTOR_HEADER
        programmed += written
        ops += (pos + written - 1) // page - pos // page + 1
        pos += size
    return SpillCost(programmed, ops, erases, spanned if lens else 0), pos


def cycle(page: int, sector: int, pos: int, lens: Sequence[int]) -> tuple[int, list[SpillCost]]:
    """The steady state from write offset ``pos``: the offset at the start of an inference takes
    finitely many values, so the costs become periodic. Returns (inferences before the cycle,
    the per-inference costs around it)."""
    seen: dict[int, int] = {}
    costs: list[SpillCost] = []
    while pos not in seen:
        seen[pos] = len(costs)
        cost, pos = predict(page, sector, pos, lens)
        costs.append(cost)
    start = seen[pos]
    return start, costs[start:]


# Where the first inference after the first mount of a blank partition starts: sector 0 opened
# without an erase (its header), then the boot record.
FIRST_POSITION = SECTOR_HEADER + RECORD_HEADER


@dataclass(frozen=True)
class SpillForecast:
    """What a plan's spills cost the flash, per inference."""

    records: int
    payload_bytes: int  # the activations written
    ring_bytes: int  # the records' footprint on the ring
    bytes_programmed: float  # average over the steady-state cycle
    page_programs: float
    erases: float
    worst: SpillCost  # the most any start position costs
    sectors_needed: int  # sectors one inference may span: the ring's minimum

    def lifetime_inferences(self, n_sectors: int, endurance_cycles: int) -> float:
        """Inferences until the ring's sectors reach their rated erase cycles."""
        return n_sectors * endurance_cycles / self.erases if self.erases else float("inf")


def forecast(page: int, sector: int, lens: Sequence[int]) -> SpillForecast:
    """The per-inference cost of writing ``lens`` on a ring of ``sector``-byte sectors.
    Remembered: the planner asks for the same spills once per slot size it tries."""
    return _forecast(page, sector, tuple(lens))


@functools.lru_cache(maxsize=256)
def _forecast(page: int, sector: int, lens: tuple[int, ...]) -> SpillForecast:
    worst = SpillCost(0, 0, 0, 0)
    spanned = 0
    for pos in range(SECTOR_HEADER, sector + 1, ALIGN):
        cost, _ = predict(page, sector, pos, lens)
        spanned = max(spanned, cost.sectors_spanned)
        if (cost.bytes_programmed, cost.erases, cost.sectors_spanned) > (
            worst.bytes_programmed,
            worst.erases,
            worst.sectors_spanned,
        ):
            worst = cost
    _, costs = cycle(page, sector, FIRST_POSITION, lens)
    n = len(costs)
    return SpillForecast(
        records=len(lens),
        payload_bytes=sum(lens),
        ring_bytes=sum(record_bytes(x) for x in lens),
        bytes_programmed=sum(c.bytes_programmed for c in costs) / n,
        page_programs=sum(c.page_programs for c in costs) / n,
        erases=sum(c.erases for c in costs) / n,
        worst=worst,
        sectors_needed=max(2, spanned),
    )
