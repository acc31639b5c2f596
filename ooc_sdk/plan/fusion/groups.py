"""Row groups for a laid-out fused schedule out of core (docs/DESIGN.md, "Row groups").

A fused block re-streams its heaviest convolutions' weights for every row their node makes.
With a row group of G rows the node makes its next G rows in one call, reading each piece once
for all of them, so the re-reads fall G-fold; its own ring, and the rings of the inputs that
must hold the G rows' windows, grow. The arena is sized by its peak block, so the blocks
elsewhere often have room to grow for free. ``regroup`` takes a chosen schedule and, block by
block (the most re-streamed first), the largest group whose layout still fits the room.
"""

from __future__ import annotations

import dataclasses

from ooc_sdk.formats.tables import NODE_PEX
from ooc_sdk.plan.fusion.layout import FusionPlan, layout, spill_layout
from ooc_sdk.plan.fusion.model import Block
from ooc_sdk.plan.fusion.search import FusionSearch, _copies
from ooc_sdk.plan.fusion.simulate import block_cost, simulate
from ooc_sdk.plan.fusion.stream import StreamCosts
from ooc_sdk.plan.spill import STATE_BYTES

GROUP_SIZES = (64, 32, 16, 8, 6, 4, 3, 2)  # rows per call tried, the largest that fits wins


def _grouped(
    search: FusionSearch, b: Block, groups: dict[int, int], stream: StreamCosts
) -> Block | None:
    """Block ``b`` with streamed operator j making ``groups[j]`` rows a call (None: no
    schedule)."""
    m = search.m
    pex = any(nd.mode == NODE_PEX for nd in b.nodes)
    sim = simulate(m, b.first, b.last, pex, groups)
    if sim is None:
        return None
    out = block_cost(m, b.first, b.last, sim, b.strips)
    if out is None:
        return None
    loads = {nd.op: nd.loads or nd.computed for nd in out.nodes if nd.op in b.streamed}
    out.streamed = b.streamed
    out.restream_bytes = b.strips * sum(stream.op_bytes[j] * loads[j] for j in b.streamed)
    out.cost = out.macs + stream.byte_cost * out.restream_bytes
    return out


def _choices(b: Block, stream: StreamCosts) -> list[dict[int, int]]:
    """Group maps to try for block ``b``, most re-reads saved first: every streamed operator
    at each size, then (when none of those fits) the operators one at a time, the most
    re-read first, each added to the groups already taken."""
    rows = {nd.op: nd.rows for nd in b.nodes if nd.op in b.streamed}
    sizes = sorted({max(rows.values()), *GROUP_SIZES}, reverse=True)
    together = [{j: g for j in b.streamed} for g in sizes if 2 <= g <= max(rows.values())]
    by_reads = sorted(b.streamed, key=lambda j: -stream.op_bytes[j] * rows[j])
    alone = [(j, g) for j in by_reads for g in sizes if 2 <= g <= rows[j]]
    return together + [{j: g} for j, g in alone] if len(b.streamed) > 1 else together


def _laid(search: FusionSearch, fp: FusionPlan, blocks: list[Block]) -> FusionPlan:
    """``blocks`` laid out tight as ``fp``'s schedule (its spilled tensors' refs above)."""
    blocks = _copies(blocks)
    offsets, working, arena = layout(search.m, blocks)
    spills, lens = spill_layout(search.m, blocks)
    if spills:  # as FusionSearch._finish: the runtime's refs of each spilled tensor
        arena = -(-arena // 8) * 8
        for sp in spills:
            sp.state_offset = arena
            arena += STATE_BYTES
        working += STATE_BYTES * len(spills)
    return dataclasses.replace(
        fp, blocks=blocks, offsets=offsets, arena_bytes=arena, working_sram_bytes=working,
        spills=spills, spill_lens=lens,
    )  # fmt: skip


def _fits(
    search: FusionSearch,
    fp: FusionPlan,
    blocks: list[Block],
    i: int,
    nb: Block | None,
    arena_room: int,
    above: int,
) -> FusionPlan | None:
    """The plan with block ``i`` replaced by ``nb`` when it lays out within ``arena_room``
    (``above``: the bytes above the working SRAM; a layout is never below the block's own)."""
    if nb is None or nb.sram + above > arena_room:
        return None
    trial = _laid(search, fp, [*blocks[:i], nb, *blocks[i + 1 :]])
    return trial if trial.arena_bytes <= arena_room else None


def _variants(search: FusionSearch, b: Block, stream: StreamCosts, cap: int | None) -> list[Block]:
    """``b`` and, with ``cap`` (the slot), the other candidate variants of its operators (other
    strip counts, with or without a channel-split chain) streaming within that slot: a variant
    with less SRAM than the chosen one leaves room for larger row groups."""
    out = [b]
    if cap is None:
        return out
    for v in search.cands.get((b.first, b.last), []):
        if v is b or not v.fused or (v.strips == b.strips and v.sram == b.sram):
            continue
        sv = stream.apply(v, cap)
        if sv is not None:
            out.append(sv)
    return out


def _best_group(
    search: FusionSearch,
    fp: FusionPlan,
    blocks: list[Block],
    i: int,
    v: Block,
    stream: StreamCosts,
    arena_room: int,
    above: int,
) -> tuple[Block, FusionPlan] | None:
    """Variant ``v`` of block ``i`` with the largest row group for all its streamed operators
    that lays out within ``arena_room`` (the sizes searched by halving: a larger group never
    needs less SRAM), and the plan it makes; None when none fits."""
    rows = max(nd.rows for nd in v.nodes if nd.op in v.streamed)
    sizes = sorted({g for g in (rows, *GROUP_SIZES) if 2 <= g <= rows})
    lo, hi, got = 0, len(sizes) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        nb = _grouped(search, v, dict.fromkeys(v.streamed, sizes[mid]), stream)
        trial = _fits(search, fp, blocks, i, nb, arena_room, above)
        if nb is not None and trial is not None:
            got, lo = (nb, trial), mid + 1
        else:
            hi = mid - 1
    return got


def regroup(
    search: FusionSearch,
    fp: FusionPlan,
    stream: StreamCosts,
    arena_room: int,
    cap: int | None = None,
    mac_limit: float | None = None,
) -> FusionPlan | None:
    """``fp`` with row groups where its arena (at most ``arena_room`` bytes) allows them; None
    when no block takes one (or none streams). With ``cap`` (the plan's slot), each block may
    also change to another variant of its operators (another strip count) whose grouped
    re-reads cost less (MACs plus re-read bytes in MAC equivalents, the search's cost), the
    plan's MACs staying within ``mac_limit``."""
    blocks = list(fp.blocks)
    order = sorted(
        (i for i, b in enumerate(blocks) if b.fused and b.streamed),
        key=lambda i: -blocks[i].restream_bytes,
    )
    best: FusionPlan | None = None
    above = fp.arena_bytes - fp.working_sram_bytes  # the outputs (and spill refs)
    for i in order:
        b = blocks[i]
        got = _greedy(search, fp, blocks, i, stream, arena_room, above)
        least = got[0].cost if got is not None else b.cost
        for v in sorted(_variants(search, b, stream, cap)[1:], key=lambda v: v.macs):
            floor = v.macs + stream.byte_cost * v.strips * sum(
                stream.op_bytes[j] for j in v.streamed
            )  # every streamed piece read once per strip: no group does better
            macs = sum(x.macs for x in blocks) - blocks[i].macs + v.macs
            if floor >= least or (mac_limit is not None and macs > mac_limit):
                continue
            alt = _best_group(search, fp, blocks, i, v, stream, arena_room, above)
            if alt is not None and alt[0].cost < least:
                least, got = alt[0].cost, alt
        if got is not None:
            blocks[i], best = got
    return best


def _greedy(
    search: FusionSearch,
    fp: FusionPlan,
    blocks: list[Block],
    i: int,
    stream: StreamCosts,
    arena_room: int,
    above: int,
) -> tuple[Block, FusionPlan] | None:
    """Block ``i`` with the largest row group for all its streamed operators that lays out
    within ``arena_room``, or, when none does, groups for one operator at a time (the most
    re-read first); None when no group fits."""
    b = blocks[i]
    taken: dict[int, int] = {}
    got: tuple[Block, FusionPlan] | None = None
    for groups in _choices(b, stream):
        j = next(iter(groups))
        if len(groups) == 1 and j in taken:
            continue  # one at a time: this operator has its group
        nb = _grouped(search, b, {**taken, **groups}, stream)
        if nb is None or nb.restream_bytes >= (got[0] if got else b).restream_bytes:
            continue
        trial = _fits(search, fp, blocks, i, nb, arena_room, above)
        if trial is not None:
            got = (nb, trial)
            taken.update(groups)
            if len(groups) > 1:
                break  # every streamed operator grouped
    return got
