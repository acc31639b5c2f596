"""The smallest working SRAM within a MAC limit when whole tensors may spill to the flash ring.

A fused schedule's smallest working SRAM is often set by one stage whose every tensor is large
when whole (MobileNetV2-0.35 at 144: the 18x18 stage's input, held whole by the block that runs
the stage's residuals; the inception-like net: its 16x16 stage). A spilled tensor is written
row by row to the flash ring by the block that makes it and read back row by row by its
readers (docs/spill.md), so it holds no SRAM but the runtime's ref of it: the blocks on either
side of it shrink. ``least_spilling`` searches that greedily, as the out-of-core planner's spill
search does: from the min-SRAM schedule, each round tries spilling each tensor the block that
sets the peak holds whole or in a ring, keeps the one that lowers the working SRAM most, and
stops when none lowers it. The working SRAM counts only SRAM (issue 23): the refs (72 bytes a
tensor) are in it; the mounted ring's state (1 KiB) is the runtime's, beside its other state.
"""

from __future__ import annotations

from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.fusion.model import FusionError
from ooc_sdk.plan.fusion.search import FusionSearch

SPILL_ROUNDS = 3  # tensors spilled at most


def peak_tensors(search: FusionSearch, plan: FusionPlan) -> list[int]:
    """The spillable tensors the block that sets ``plan``'s peak holds: whole (made before it
    and read at or after it, or written whole by it) or in its rings."""
    m = search.m
    worst = max(plan.blocks, key=lambda b: b.sram)
    held = [*m.whole_live_set(worst.first), *(nd.tensor for nd in worst.nodes if nd.op >= 0)]
    return [t for t in dict.fromkeys(held) if t not in m.spilled and m.spillable(t)]


def least_spilling(
    search: FusionSearch, max_mac_overhead: float, sector: int, rounds: int = SPILL_ROUNDS
) -> tuple[FusionPlan, FusionSearch]:
    """The min-SRAM schedule within ``max_mac_overhead`` x the MACs, spilling up to ``rounds``
    whole tensors where each lowers the working SRAM (ties: the fewer spilled bytes), and the
    search it came from (``search`` itself when spilling lowers nothing). ``search`` must know
    the flash's erase ``sector`` (its ``spill_sector_bytes``), which bounds a spilled row."""
    best = search.plan(max_mac_overhead=max_mac_overhead)
    for _ in range(rounds):
        found: tuple[tuple[int, int], FusionPlan, FusionSearch] | None = None
        for t in peak_tensors(search, best):
            try:
                trial = FusionSearch(
                    search.graph, search.stream_inputs, search.spilled | {t},
                    search.channel_split, sector, reuse=search,
                )  # fmt: skip
                p = trial.plan(max_mac_overhead=max_mac_overhead)
            except FusionError:
                continue
            key = (p.working_sram_bytes, search.m.nbytes(t))
            if p.working_sram_bytes < best.working_sram_bytes and (found is None or key < found[0]):
                found = (key, p, trial)
        if found is None:
            break
        _, best, search = found
    return best, search
