"""The fusion search: the candidate blocks of one graph (every run of operators that can fuse, at
each strip count, with and without channel-split chains, and each operator alone), the
SRAM/cost Pareto front over the cut points, and the plan it picks for an objective
(``FusionSearch``, ``plan_fusion``).
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import time
from collections.abc import Callable
from typing import Any

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats.tables import NODE_REDUCE
from ooc_sdk.lower.memplan import plan_memory
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.graph import GraphFacts, single_block
from ooc_sdk.plan.fusion.layout import FusionPlan, layout, spill_layout
from ooc_sdk.plan.fusion.model import Block, FusionError, Node, OverBudget
from ooc_sdk.plan.fusion.simulate import block_cost, conv_mean_block, simulate
from ooc_sdk.plan.fusion.stream import StreamCosts
from ooc_sdk.plan.spill import STATE_BYTES
from ooc_sdk.units import format_size

STRIP_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
MAX_BLOCK_OPS = 40
# the min-SRAM objective's retries when the front does not lay out at its smallest peak: each
# block's variants within these shares of that peak (FusionSearch._tightest)
TIGHT_SHARES = (0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.0)
LAYOUTS_WHEN_NONE_FIT = 16  # schedules laid out to find the smallest when none meets the budget
_VARIANTS = {"auto": (False, True), "off": (False,), "always": (True, False)}  # simulate's pex

# A schedule laid out: (its blocks, copied, and layout()'s offsets, working and arena bytes)
LaidOut = tuple[list[Block], tuple[dict[int, int], int, int]]
Front = list[tuple[int, float, list[Block]]]  # (peak SRAM, cost, blocks): pareto()


def candidates(
    m: GraphFacts,
    reuse: tuple[dict[tuple[int, int], list[Block]], list[tuple[int, int]]] | None = None,
) -> dict[tuple[int, int], list[Block]]:
    """Every block worth considering: single operators, and fused runs at each strip count.
    ``reuse``: another search's candidates and the operator spans where its facts differ from
    ``m``'s (see :func:`_changed_spans`); a block [a, b) meeting none is taken from it."""
    out: dict[tuple[int, int], list[Block]] = {}
    prev, changed = reuse if reuse is not None else ({}, [])

    def kept(a: int, b: int) -> bool:
        """Whether block [a, b) is the other search's (then copied into ``out``)."""
        if not prev or any(a <= hi and b - 1 >= lo for lo, hi in changed):
            return False
        if (a, b) in prev:
            out[(a, b)] = prev[(a, b)]
        return True

    for a in range(m.n):
        op = m.graph.operators[a]
        rows_io = any(t in m.streamed for t in op.inputs) or op.outputs[0] in m.spilled
        if not rows_io and not kept(a, a + 1):
            out[(a, a + 1)] = [single_block(m, a)]
        for b in range(a + 1, min(m.n, a + MAX_BLOCK_OPS) + 1):
            if m.row_ops[b - 1] is None:
                break
            if b == a + 1 and not rows_io:
                continue  # one operator alone gains nothing from rows unless it streams
            if kept(a, b):
                continue
            found: list[Block] = []
            for pex in _VARIANTS[m.channel_split]:
                sim = simulate(m, a, b, pex)
                if sim is None:
                    continue
                if m.channel_split == "always" and not pex and (a, b) in out:
                    continue  # "always": the plain variant only for blocks without a chain
                for s in STRIP_CHOICES:
                    blk = block_cost(m, a, b, sim, s)
                    if blk is not None and not any(
                        f.sram <= blk.sram and f.macs <= blk.macs for f in found
                    ):
                        found.append(blk)
                if found:
                    out[(a, b)] = found
    for a in sorted(m.conv_means):  # a 1x1 convolution and its average, a channel group at a time
        if not kept(a, a + 2):
            out[(a, a + 2)] = [*out.get((a, a + 2), []), conv_mean_block(m, a)]
    return out


def _changed_spans(m: GraphFacts, other: GraphFacts) -> list[tuple[int, int]] | None:
    """Where two searches' candidates may differ: for each tensor spilled in one and not the
    other, the operators from its producer to its last reader (a block there reads or writes
    it, or holds it whole while it runs). None when they differ otherwise."""
    same = (m.graph is other.graph and m.channel_split == other.channel_split
            and m.spill_payload == other.spill_payload
            and m.streamed - m.spilled == other.streamed - other.spilled)  # fmt: skip
    if not same:
        return None
    return [(m.producer[t], m.last_use[t]) for t in sorted(m.spilled ^ other.spilled)]


def pareto(
    m: GraphFacts,
    cands: dict[tuple[int, int], list[Block]],
    mac_limit: float,
    bound: int | None = None,
) -> list[tuple[int, float, list[Block]]]:
    """(peak SRAM, cost, blocks) for every plan on the SRAM/cost Pareto front whose MACs stay
    within mac_limit (the cost is the MACs unless weights are re-streamed).

    Dynamic programming over the cut positions; each position keeps its front sorted by peak
    (costs falling). Extending by a block of SRAM s, the states whose peak is below s all
    become peak s, so only the cheapest of them (the last) is extended, with every state
    above s. (With re-streaming the cheapest is not always the fewest MACs; under a MAC limit,
    only the k-mode search, which does not stream, binds.)

    With ``bound``, no block of more SRAM than it extends a state: a peak never falls along a
    chain and a state is dominated only by states of lower or equal peak, so the result is
    exactly the unbounded front's states with peaks up to ``bound``."""
    by_end: dict[int, list[tuple[int, Block]]] = {}
    for (a, b), blks in cands.items():
        by_end.setdefault(b, []).extend((a, blk) for blk in blks)
    # per position: peaks (ascending) and states (peak, cost, macs, chain as (block, rest))
    Chain = tuple[Block, Any] | None
    states: dict[int, tuple[list[int], list[tuple[int, float, int, Chain]]]] = {
        0: ([0], [(0, 0.0, 0, None)])
    }
    key = operator.itemgetter(0, 1)
    top = math.inf if bound is None else bound
    for b in range(1, m.n + 1):
        cand: list[tuple[int, float, int, Chain]] = []
        for a, blk in by_end.get(b, []):
            got = states.get(a)
            if not got:
                continue
            peaks, sts = got
            bs, bc, bm = blk.sram, blk.cost, blk.macs
            if bs > top:
                continue
            start = max(0, bisect.bisect_right(peaks, bs) - 1)
            for peak, cost, macs, chain in itertools.islice(sts, start, None):
                total = macs + bm
                if total <= mac_limit:
                    cand.append((peak if peak > bs else bs, cost + bc, total, (blk, chain)))
        cand.sort(key=key)
        front = []
        best = math.inf
        for st in cand:
            if st[1] < best:
                front.append(st)
                best = st[1]
        if front:
            states[b] = ([st[0] for st in front], front)
    out = []
    for peak, cost, _macs, chain in states.get(m.n, ([], []))[1]:
        blocks: list[Block] = []
        while chain is not None:
            blocks.append(chain[0])
            chain = chain[1]
        out.append((peak, cost, blocks[::-1]))
    return out


def per_layer_bytes(m: GraphFacts) -> int:
    """Per-layer execution's working SRAM: the most any operator run alone needs."""
    return max((single_block(m, j).sram for j in range(m.n)), default=0)


def _copies(chain: list[Block]) -> list[Block]:
    """Copies of a chain's blocks and their nodes (offsets included)."""
    return [Block(b.first, b.last, [Node(**nd.__dict__) for nd in b.nodes], b.strips,
                  b.cols, b.macs, b.ring_bytes, b.scratch, b.scratch_offset, b.sram, b.streamed,
                  b.restream_bytes, b.cost) for b in chain]  # fmt: skip


def _lay_out(m: GraphFacts, chain: list[Block], target: int | None = None) -> LaidOut:
    """Copies of a chain's blocks (the layout writes the nodes' offsets), laid out (with
    ``target``: the first layout found within that many working bytes, layout.layout)."""
    blocks = _copies(chain)
    for b in blocks:
        b.scratch_offset = 0
    return blocks, layout(m, blocks, target)


class FusionSearch:
    """The search's candidate blocks for one graph, built once (the expensive part), and plans
    drawn from them. The out-of-core planner asks for several plans with different limits on a
    fused block's weights (they must fit one chunk slot together, docs/DESIGN.md)."""

    def __init__(
        self,
        graph: Graph,
        stream_inputs: bool = True,
        spilled: frozenset[int] = frozenset(),
        channel_split: str = "auto",
        spill_sector_bytes: int | None = None,
        reuse: FusionSearch | None = None,
    ) -> None:
        """``reuse``: a search of the same graph differing at most in the spilled tensors,
        whose candidates away from those tensors are this search's too (the spill search
        adds one tensor a round)."""
        t0 = time.perf_counter()
        self.graph = graph
        self.stream_inputs = stream_inputs
        self.spilled = spilled
        self.channel_split = channel_split
        self.m = GraphFacts(graph, stream_inputs, spilled, channel_split, spill_sector_bytes)
        changed = None if reuse is None else _changed_spans(self.m, reuse.m)
        self.cands = candidates(self.m, None if changed is None else (reuse.cands, changed))
        self.setup_seconds = time.perf_counter() - t0
        self._per_layer: int | None = None
        # chains laid out, by their blocks' identities (the chain kept, so the ids stay theirs):
        # the out-of-core planner's searches at several slot sizes draw many of the same
        self._layouts: dict[tuple[int, ...], tuple[list[Block], LaidOut]] = {}
        # (stream, the bound searched to, the front), and the candidates within each slot size
        self._fronts: dict[tuple[Any, ...], tuple[StreamCosts | None, int | None, Front]] = {}
        self._slots: dict[tuple[Any, ...], tuple[StreamCosts | None, dict]] = {}
        # each span's candidates within a slot size, by the list's identity and the size,
        # shared with the searches reusing this one's candidates (the lists they copy)
        self._kept: dict[tuple[int, int], tuple[list[Block], StreamCosts | None, Any, list[Block]]]
        self._kept = {} if reuse is None or changed is None else reuse._kept

    def _laid_out(self, chain: list[Block], target: int | None = None) -> LaidOut:
        """``chain`` laid out tight (copies: the caller may keep them), from the cache if seen.
        With ``target`` (working bytes) and no tight layout known, the first layout found
        within it, if any: one that does not fit tried every order, so it is the tight one."""
        key = tuple(id(b) for b in chain)
        hit = self._layouts.get(key)
        if hit is None:
            got = _lay_out(self.m, chain, target)
            if target is not None and got[1][1] <= target:
                return got  # within the target, not (known to be) the tightest
            hit = self._layouts[key] = (chain, got)
        blocks, (offsets, working, arena) = hit[1]
        return _copies(blocks), (dict(offsets), working, arena)

    def plan(
        self,
        *,
        max_mac_overhead: float | None = None,
        sram: int | None = None,
        block_weight_bytes: Callable[[int, int], int] | None = None,
        max_block_weight_bytes: int | None = None,
        stream: StreamCosts | None = None,
        defer_floor: bool = False,
    ) -> FusionPlan:
        """As :func:`plan_fusion`. With ``max_block_weight_bytes``, fused blocks [a, b) whose
        ``block_weight_bytes(a, b)`` exceed it are left out (operators alone stay: the
        out-of-core planner splits those along their output channels), unless ``stream`` lets
        some of their operators re-stream their weights (:meth:`StreamCosts.apply`).
        With ``defer_floor``, a budget no schedule's search peak is within raises
        :class:`OverBudget` at once, whose ``floor()`` gives the full error when wanted."""
        if max_mac_overhead is not None and max_mac_overhead < 1.0:
            raise InvalidArgumentError(
                "`max_mac_overhead` must be at least 1.0", param="max_mac_overhead"
            )
        if sram is not None and sram <= 0:
            raise InvalidArgumentError("the SRAM budget must be positive")
        t0 = time.perf_counter()
        m, base = self.m, self.graph.macs
        # The search's edge costs ignore fragmentation; the arena layout decides. Every plan on
        # the front is laid out, so a budget is checked against the working SRAM the runtime uses.
        if max_mac_overhead is not None:
            limit = base * max_mac_overhead
        else:  # a budget alone: MACs as good as unbounded; no budget: no recomputation
            limit = base * (64.0 if sram is not None else 1.0)
        # the runtime's refs of each spilled tensor (STATE_BYTES each, 8-aligned, above the
        # outputs) count against the budget too
        refs = STATE_BYTES * len(m.spilled) + 8 if m.spilled else 0
        args = (limit, block_weight_bytes, max_block_weight_bytes, stream)
        # under a budget the front is searched only up to it (a schedule whose search peak
        # exceeds it never fits: a layout is never smaller); whole when nothing is within it,
        # for the error naming the smallest
        front = self._front(*args, None if sram is None else sram - refs)
        if not front and sram is not None:
            least_peak = self._covers(*args) if defer_floor else None
            if least_peak is not None:
                raise OverBudget(lambda: self.plan(
                    max_mac_overhead=max_mac_overhead, sram=sram,
                    block_weight_bytes=block_weight_bytes,
                    max_block_weight_bytes=max_block_weight_bytes, stream=stream,
                ), least_peak + refs)  # fmt: skip
            front = self._front(*args, None)
        if not front:
            raise FusionError(f"no schedule within {limit / max(base, 1):.2f}x the model's MACs")
        if sram is not None:
            blocks, laid = self._fewest_macs(front, sram, refs)
            objective = "min-latency"
        else:
            plans = [(cost, *self._laid_out(chain)) for _peak, cost, chain in front]
            if max_block_weight_bytes is None:  # in core (the out-of-core planner's many
                plans += self._tightest(front, plans, *args)  # questions: not worth its time)
            _, blocks, laid = min(plans, key=lambda p: (p[2][1], p[0]))
            objective = "min-sram"
        return self._finish(blocks, laid, objective, max_mac_overhead, sram, t0)

    def _tightest(
        self,
        front: Front,
        plans: list[tuple[float, list[Block], tuple[dict[int, int], int, int]]],
        limit: float,
        block_weight_bytes: Callable[[int, int], int] | None,
        cap: int | None,
        stream: StreamCosts | None,
    ) -> list[tuple[float, list[Block], tuple[dict[int, int], int, int]]]:
        """For the smallest working SRAM: when no schedule on the front lays out at the front's
        smallest peak (the cheapest schedule of that peak keeps other blocks near it, and their
        whole tensors and rings fragment the arena), schedules of that peak whose blocks leave
        more room: each block range's cheapest variant within a share of that peak (or its
        smallest variant), for a few shares down to none, each the cheapest such schedule, laid
        out (more MACs, within the limit); nothing when the front lays out at its peak."""
        least = front[0][0]
        if not plans or min(p[2][1] for p in plans) <= least:
            return []
        key = (limit, cap, block_weight_bytes, id(stream))
        cands = self._cands_within(key, block_weight_bytes, cap, stream)
        out = []
        for share in TIGHT_SHARES:
            tight: dict[tuple[int, int], list[Block]] = {}
            for span, blks in cands.items():
                fit = [b for b in blks if b.sram <= least]
                if fit:
                    room = max(share * least, min(b.sram for b in fit))
                    tight[span] = [min((b for b in fit if b.sram <= room), key=lambda b: b.cost)]
            got = pareto(self.m, tight, limit * (1 + 1e-9), least)
            if got:
                _peak, cost, chain = got[-1]  # the cheapest within the smallest peak
                out.append((cost, *self._laid_out(chain)))
                if out[-1][2][1] <= least:
                    break  # the fewest MACs that lay out at the peak (shares fall)
        return out

    def _front(
        self,
        limit: float,
        block_weight_bytes: Callable[[int, int], int] | None,
        cap: int | None,
        stream: StreamCosts | None,
        bound: int | None = None,
    ) -> Front:
        """The Pareto front within ``limit`` MACs of the candidates whose weights fit ``cap``
        (None: all), its states of peaks up to ``bound`` (None: all), remembered: the
        out-of-core planner asks again for every budget share and slot count that leaves the
        same slot size (``block_weight_bytes`` and ``stream`` are the planner's own, the same
        for every call). A front searched to a bound answers every lower one."""
        key = (limit, cap, block_weight_bytes, id(stream))  # a bound method: equal, not same
        hit = self._fronts.get(key)
        if hit is not None and hit[0] is stream:
            upto, front = hit[1], hit[2]
            if upto is None or (bound is not None and bound <= upto):
                return front if bound is None else [st for st in front if st[0] <= bound]
        cands = self._cands_within(key, block_weight_bytes, cap, stream)
        front = pareto(self.m, cands, limit * (1 + 1e-9), bound)
        self._fronts[key] = (stream, bound, front)
        return front

    def _cands_within(
        self,
        key: tuple[Any, ...],
        block_weight_bytes: Callable[[int, int], int] | None,
        cap: int | None,
        stream: StreamCosts | None,
    ) -> dict[tuple[int, int], list[Block]]:
        """The candidates whose weights fit ``cap`` (all without one), remembered by ``key``."""
        if cap is None:
            return self.cands
        assert block_weight_bytes is not None
        got = self._slots.get(key)
        if got is None or got[0] is not stream:
            got = self._slots[key] = (stream, self._within_slot(block_weight_bytes, cap, stream))
        return got[1]

    def _covers(
        self,
        limit: float,
        block_weight_bytes: Callable[[int, int], int] | None,
        cap: int | None,
        stream: StreamCosts | None,
    ) -> int | None:
        """Whether some chain of the candidates within ``cap`` covers the graph within ``limit``
        MACs (the fewest MACs per cut position, cheap beside the front): a front with nothing
        within a budget then only lacks room, while one with no chain at all calls for the
        caller's other remedies (a streamed input held whole). When one does, the least peak
        SRAM of any chain (MACs not bounded): no schedule on the front, nor its layout, is
        smaller (None when none covers)."""
        key = (limit, cap, block_weight_bytes, id(stream))
        cands = self._cands_within(key, block_weight_bytes, cap, stream)
        fewest = [0.0] + [math.inf] * self.m.n
        least = [0] + [math.inf] * self.m.n
        by_end = sorted(cands.items(), key=lambda kv: kv[0][1])
        for (a, b), blks in by_end:
            if fewest[a] < math.inf:
                fewest[b] = min(fewest[b], fewest[a] + min(blk.macs for blk in blks))
                least[b] = min(least[b], max(least[a], min(blk.sram for blk in blks)))
        if fewest[self.m.n] > limit * (1 + 1e-9):
            return None
        return int(least[self.m.n])

    def _within_slot(
        self, block_weight_bytes: Callable[[int, int], int], cap: int, stream: StreamCosts | None
    ) -> dict[tuple[int, int], list[Block]]:
        """The candidates whose weights fit ``cap``: operators alone always, fused blocks whose
        weights fit, and (with ``stream``) heavier fused blocks re-streaming some operators."""
        cands = {}
        weights = block_weight_bytes  # a bound method: equal, not the same object
        for (a, b), blks in self.cands.items():
            hit = self._kept.get((id(blks), cap))
            if hit is not None and hit[0] is blks and hit[1] is stream and hit[2] == weights:
                keep = hit[3]
            else:
                heavy = block_weight_bytes(a, b) > cap
                keep = []
                for blk in blks:
                    if not blk.fused or not heavy:
                        keep.append(blk)
                    elif stream is not None:
                        sb = stream.apply(blk, cap)
                        if sb is not None:
                            keep.append(sb)
                self._kept[(id(blks), cap)] = (blks, stream, weights, keep)
            if keep:
                cands[(a, b)] = keep
        return cands

    def _fewest_macs(
        self, front: list[tuple[int, float, list[Block]]], sram: int, refs: int
    ) -> LaidOut:
        """The cheapest schedule on the front whose layout fits ``sram`` (with the spill refs,
        ``refs`` bytes); raises FusionError naming the smallest when none does."""
        # a layout is never smaller than the search's peak: lay out only the schedules
        # that may fit, or, when none may, the few smallest (for the error's minimum)
        may = [st for st in front if st[0] + refs <= sram] or front[:LAYOUTS_WHEN_NONE_FIT]
        # cheapest first: the first that fits wins (ties in cost: the smaller). Whether it fits
        # is asked of a layout that stops once within the budget; a fit is then laid out tight
        plans: list[tuple[float, list[Block], tuple[dict[int, int], int, int]]] = []
        best = None
        for _peak, cost, chain in sorted(may, key=lambda st: st[1]):
            if best is not None and cost > best[0]:
                break
            quick = self._laid_out(chain, sram - refs)
            if quick[1][1] + refs > sram:
                plans.append((cost, *quick))
                continue
            plans.append((cost, *self._laid_out(chain)))
            if best is None or plans[-1][2][1] < best[2][1]:
                best = plans[-1]
        if best is None:
            _, blocks, (_, least, _) = min(plans, key=lambda p: p[2][1])
            raise self._budget_error(blocks, least + refs, sram)
        return best[1], best[2]

    def _budget_error(self, blocks: list[Block], least: int, sram: int) -> FusionError:
        """The error of a budget no schedule meets: ``least`` is the smallest schedule's working
        SRAM (``blocks``); it names the block that sets it, what that block holds whole (what
        spilling could take out) and the tensors in its rings (where a spill would cut it)."""
        graph, m = self.graph, self.m
        worst = max(blocks, key=lambda b: b.sram)
        op = graph.operators[worst.first]
        whole = m.whole_live_set(worst.first)
        if not worst.fused:
            whole.append(op.outputs[0])
        whole += [nd.tensor for nd in worst.nodes if nd.whole and nd.mode != NODE_REDUCE]
        return FusionError(
            f"a working SRAM of {format_size(sram)} cannot be met: the smallest fused "
            f"schedule needs {format_size(least)} ({least} bytes), set by operator "
            f"{worst.first} ({op.op_type}, output "
            f"{list(graph.tensors[op.outputs[0]].shape)})",
            least,
            worst.first,
            [t for t in whole if t not in graph.outputs],
            [nd.tensor for nd in worst.nodes[:-1] if nd.op >= 0 and not nd.whole],
        )

    def _finish(
        self,
        blocks: list[Block],
        laid: tuple[dict[int, int], int, int],
        objective: str,
        max_mac_overhead: float | None,
        sram: int | None,
        t0: float,
    ) -> FusionPlan:
        """The chosen schedule as a FusionPlan: its spilled tensors' records and the runtime's
        refs to them (above the outputs), the per-layer figures beside it."""
        graph, m = self.graph, self.m
        offsets, working, arena = laid
        if self._per_layer is None:
            self._per_layer = per_layer_bytes(GraphFacts(graph, stream_inputs=False))
        spills, lens = spill_layout(m, blocks)
        if spills:  # the runtime's refs of each spilled tensor, above the outputs
            arena = -(-arena // 8) * 8
            for sp in spills:
                sp.state_offset = arena
                arena += STATE_BYTES
            working += STATE_BYTES * len(spills)
        return FusionPlan(
            graph,
            blocks,
            objective,
            max_mac_overhead,
            sram,
            sorted(m.streamed),
            offsets,
            arena,
            working,
            self._per_layer,
            plan_memory(graph).arena_bytes,
            self.setup_seconds + time.perf_counter() - t0,
            spills,
            lens,
        )


def plan_fusion(
    graph: Graph,
    *,
    max_mac_overhead: float | None = None,
    sram: int | None = None,
    stream_inputs: bool = True,
    channel_split: str = "auto",
) -> FusionPlan:
    """A fused schedule: minimum working SRAM within ``max_mac_overhead`` x the model's MACs, or
    (with ``sram``) the fewest MACs within that working SRAM. ``channel_split``: "auto" makes
    channel-split chains a search option per block, "off" leaves them out, "always" runs every
    chain a fused block contains channel-split. Raises FusionError when the budget cannot be
    met, naming the minimum and the operator that sets it."""
    if max_mac_overhead is not None and max_mac_overhead < 1.0:
        raise InvalidArgumentError(
            "`max_mac_overhead` must be at least 1.0", param="max_mac_overhead"
        )
    if sram is not None and sram <= 0:
        raise InvalidArgumentError("the SRAM budget must be positive")
    return FusionSearch(graph, stream_inputs, channel_split=channel_split).plan(
        max_mac_overhead=max_mac_overhead, sram=sram
    )
