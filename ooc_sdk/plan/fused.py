"""The fused out-of-core search: fused activations (ooc_sdk/plan/fusion) with paged weights.

A fused block's weights must all be in the slot while its rows compute, so the slot size bounds
which blocks may fuse, and what the slots take the arena cannot have. For each slot count and up
to FUSED_CAPS slot sizes C (the weight sizes at which another candidate block becomes fusable,
evenly by rank): the fused schedule with the fewest MACs whose arena fits what the budget leaves
besides the slots, fusing only blocks whose weights fit C (or, re-streaming their heaviest
convolutions, whose resident weights do: ``StreamCosts``); then the per-layer slot search for the
operators run whole. The plain per-layer plan competes too. The fastest estimate wins (ties:
fewer flash bytes, then less SRAM).

Only when no such plan fits, and ``spill`` allows, activations go to the flash spill ring
(docs/spill.md), greedily: take the schedule closest to the budget, and spill one whole tensor
held while its largest block runs (the smallest that alone would close the gap, else the
largest), or, when that block holds only rings, the smallest tensor inside it (cutting it in
two); then search again; repeat. Among the plans that then fit, the fewest bytes programmed per
inference wins (flash wear decides a product's life), then speed.
"""

from __future__ import annotations

from ooc_sdk.formats import image as fmt
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.groups import regroup
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.fusion.model import FusionError, OverBudget
from ooc_sdk.plan.fusion.search import FusionSearch
from ooc_sdk.plan.fusion.stream import StreamCosts
from ooc_sdk.plan.paged import (
    OpShape,
    constant_inputs,
    min_slot_bytes,
    op_shape,
    pick_fastest,
    piece_slot_bytes,
    pieces_for,
    plan_paged,
    slot_sizes,
)
from ooc_sdk.plan.request import MAX_SLOTS, PlanRequest
from ooc_sdk.plan.schedule import (
    ENTRY_BYTES,
    RUNTIME_STATE_BYTES,
    SPILL_STATE_BYTES,
    STACK_BOUND_BYTES,
    BudgetError,
    Piece,
    Plan,
    PlanStep,
    align,
    estimate_all,
    estimate_plan,
)
from ooc_sdk.units import format_size

FUSED_CAPS = 24  # slot sizes tried per slot count when fusing
MAX_SPILL_ROUNDS = 24  # tensors the greedy spill search adds at most
SPILL_ROUND_CAPS = 6  # slot sizes per slot count tried while the spill search chooses
ROW_GROUP_TRIES = 1  # the fastest re-streaming plans given row groups (fusion/groups.py)


def plan_fused(graph: Graph, request: PlanRequest) -> Plan:
    """The best plan with fused activations and paged weights (see the module's docstring);
    BudgetError with the smallest budget found when none fits."""
    return FusedPlanner(graph, request).run()


class FusedPlanner:
    """One fused out-of-core search. Built once: the fusion search's candidates, each
    operator's weights and the slot sizes worth trying. ``run`` collects every plan that fits
    (``found``), remembering the smallest total seen (``least``) and the failed fused search
    nearest the budget (``closest``, where spilling starts)."""

    def __init__(self, graph: Graph, request: PlanRequest) -> None:
        self.graph, self.request = graph, request
        self.budget, self.flash, self.mcu = request.budget, request.flash, request.mcu
        self.crypto, self.dsp, self.slots = request.crypto, request.dsp, request.slots
        self.spill, self.channel_split = request.spill, request.channel_split
        slots, channel_split = request.slots, request.channel_split
        self.sector = request.flash.sector_bytes  # a spill record fits one erase sector
        self.search = FusionSearch(
            graph, channel_split=channel_split, spill_sector_bytes=self.sector
        )
        self.whole_search: FusionSearch | None = None  # model inputs held whole (when needed)
        self.shapes = [op_shape(graph, i) for i in range(len(graph.operators))]
        self.fixed = RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
        self.smallest_slot = min_slot_bytes(graph, self.shapes)
        self.outputs = sum(align(graph.tensors[t].nbytes) for t in graph.outputs)
        self.slot_choices = [slots] if slots else list(range(1, MAX_SLOTS + 1))
        self.consts = [constant_inputs(graph, op) for op in graph.operators]
        self._n_pre, self._b_pre = [0], [0]  # prefix sums of chunk counts and aligned bytes
        for ts in self.consts:
            self._n_pre.append(self._n_pre[-1] + len(ts))
            self._b_pre.append(self._b_pre[-1] + sum(align(graph.tensors[t].nbytes) for t in ts))
        self.stream = self._stream_costs()
        # where fusing more becomes possible: the weight needs of the candidate fused blocks
        self.breaks = sorted(
            {self.need(a, b) for (a, b), blks in self.search.cands.items() if blks[0].fused}
        )
        self.found: list[tuple[float, Plan]] = []
        self.least: int | None = None
        self.least_layer: int | None = None  # the operator that sets ``least`` (fused)
        self.closest: tuple[int, FusionError] | None = None  # the failed search nearest the budget
        # the failed searches of the running collect (settled by _settle_misses)
        self.misses: list[tuple[FusionError, int, int, int | None, int]] = []

    def need(self, a: int, b: int) -> int:
        """Slot bytes of fused block [a, b)'s weights (PlanStep.slot_need)."""
        n = self._n_pre[b] - self._n_pre[a]
        return ENTRY_BYTES * n + self._b_pre[b] - self._b_pre[a] if n else 0

    def _stream_costs(self) -> StreamCosts:
        """Weight re-streaming inside fused blocks: each operator's slot need, its smallest
        piece (convolutions only), and what one re-read byte costs in MAC equivalents (flash
        read, software decryption and tag over the MCU's cycles per MAC)."""
        mcu, flash = self.mcu, self.flash
        tag_cpb = (mcu.poly1305_cycles_per_byte if self.crypto.tag == "poly1305"
                   else mcu.cmac_cycles_per_byte)  # fmt: skip
        return StreamCosts(
            [self.need(j, j + 1) for j in range(len(self.graph.operators))],
            [
                piece_slot_bytes(sh, self.graph, sh.granule)
                if sh.per_channel and sh.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")
                else None
                for sh in self.shapes
            ],
            (mcu.clock_hz / flash.read_bytes_per_s + mcu.aes_cycles_per_byte + tag_cpb)
            / (mcu.cycles_per_mac_dsp if self.dsp else mcu.cycles_per_mac),
        )

    def caps(self, n_slots: int, most: int = FUSED_CAPS) -> list[int]:
        """Up to ``most`` slot sizes for ``n_slots`` slots: the smallest slot and the break
        points up to what the budget leaves (evenly by rank, the largest kept)."""
        breaks = self.breaks
        hi = (
            max(breaks[-1] if breaks else 0, self.smallest_slot)
            if self.budget is None
            else ((self.budget - self.fixed) // n_slots)
        )
        lo = self.smallest_slot
        inside = [c for c in breaks if lo < c <= hi]
        if len(inside) > most - 1:  # evenly by rank, the largest kept
            step = len(inside) / (most - 1)
            inside = [
                inside[min(len(inside) - 1, round((i + 1) * step) - 1)] for i in range(most - 1)
            ]
        # a budget below even the smallest slot still tries it: the failure names the floor
        return sorted({lo, *inside}) if lo <= hi else [lo]

    def run(self) -> Plan:
        """Search without spilling (and per layer), then spill while nothing fits; pick."""
        self.collect(self.search, True)
        try:  # per layer stays a candidate: --fuse never makes a budget harder to meet
            base = plan_paged(self.graph, self.request)
            self.found.append((base.estimates["plan"].seconds, base))
        except BudgetError as exc:
            if exc.minimum is not None and (self.least is None or exc.minimum < self.least):
                self.least, self.least_layer = exc.minimum, None
        no_spill_least = self.least
        spilled, rounds = self._spill_search()
        if self.found and spilled:  # the spilled set is chosen: now every slot size
            self.collect(self.search, False)
        if not self.found:
            least, spill = self.least, self.spill
            hint = f" (the smallest fused schedule found needs {format_size(least)}, {least} bytes"
            if self.least_layer is not None:
                op = self.graph.operators[self.least_layer]
                shape = list(self.graph.tensors[op.outputs[0]].shape)
                hint += f", set by operator {self.least_layer} ({op.op_type}, output {shape})"
            hint += ")"
            why = (
                "; spilling activations to flash did not get there either" if spill and rounds
                else ""
            )  # fmt: skip
            raise BudgetError(
                f"an SRAM budget of {format_size(self.budget or 0)} cannot be met with fused "
                f"activations and paged weights{hint if least else ''}{why}",
                least if spill and rounds else no_spill_least,
            )
        self._row_groups()
        if spilled:  # the least flash wear, then the fastest
            return _pick_spilling(self.found)
        return pick_fastest(self.found)

    def _row_groups(self) -> None:
        """Add to ``found`` the fastest few re-streaming plans with row groups
        (fusion/groups.py) wherever their arena's share of the budget allows: the same slots,
        the streamed pieces read once per group of rows instead of once per row."""
        ranked = sorted(
            (
                sp
                for sp in self.found
                if sp[1].fusion is not None and sp[1].restream_bytes_per_inference
            ),
            key=lambda sp: sp[0],
        )[:ROW_GROUP_TRIES]
        k = self.request.max_mac_overhead  # a variant's MACs stay within it
        limit = None if k is None else k * self.graph.macs * (1 + 1e-9)
        for _sec, p in ranked:
            fp = p.fusion
            assert fp is not None
            search = next(
                (s for s in (self.search, self.whole_search)
                 if s is not None and sorted(s.m.streamed) == fp.streamed_inputs
                 and s.spilled == frozenset(sp.tensor for sp in fp.spills)),
                None,
            )  # fmt: skip
            if search is None:
                continue
            fixed = p.sram_bytes - p.activation_bytes
            room = p.activation_bytes if self.budget is None else self.budget - fixed
            # the blocks as chosen, and each block's other strip counts too (both compete:
            # the block-local cost does not always rank them as the latency estimate does)
            for cap in (None, p.slot_bytes):
                grouped = regroup(search, fp, self.stream, room, cap, limit)
                if grouped is None:
                    continue
                steps = schedule_fused(self.graph, self.shapes, self.consts, grouped,
                                       p.slot_bytes)  # fmt: skip
                if steps is None or slot_bytes_for(steps) > p.slot_bytes:
                    continue
                q = Plan(self.graph, self.request, grouped.arena_bytes, p.slots, p.slot_bytes,
                         steps, fusion=grouped)  # fmt: skip
                if self.budget is None or q.sram_bytes <= self.budget:
                    self.found.append((estimate_plan(q, p.slots).seconds, q))

    def collect(self, search: FusionSearch, whole_too: bool, most: int = FUSED_CAPS) -> None:
        """Add to ``found`` the plans of every slot count and slot size (up to ``most`` per
        count) from ``search``; with ``whole_too``, retry with model inputs held whole where
        a streamed input leaves no schedule at all."""
        # a plan that spills also keeps the mounted ring (Plan.sram_bytes)
        fixed_here = self.fixed + (SPILL_STATE_BYTES if search.spilled else 0)
        for n_slots in self.slot_choices:
            for cap in self.caps(n_slots, most):
                room = (
                    None if self.budget is None
                    else self.budget - fixed_here - n_slots * cap - self.outputs
                )  # fmt: skip
                fp = self._fused_schedule(search, whole_too, n_slots, cap, room, fixed_here)
                if fp is not None:
                    self.add(fp, n_slots, cap, fixed_here)
        self._settle_misses()

    def _fused_schedule(
        self,
        search: FusionSearch,
        whole_too: bool,
        n_slots: int,
        cap: int,
        room: int | None,
        fixed_here: int,
    ) -> FusionPlan | None:
        """The fused schedule with the fewest MACs in ``room`` bytes whose blocks' weights fit
        ``cap``; None when there is none (noting how close it came)."""
        for streamed in (True, False):
            if not streamed:
                if not whole_too or not search.m.streamed:
                    return None
                if self.whole_search is None:
                    self.whole_search = FusionSearch(
                        self.graph, stream_inputs=False, channel_split=self.channel_split,
                        spill_sector_bytes=self.sector,
                    )  # fmt: skip
            try:
                return (search if streamed else self.whole_search).plan(  # type: ignore[union-attr]
                    # nothing fits: search anyway, for the floor and the layer that sets it
                    sram=room if room is None or room > 0 else 1,
                    max_mac_overhead=self.request.max_mac_overhead if room is not None else 1.0,
                    block_weight_bytes=self.need,
                    max_block_weight_bytes=cap,
                    stream=self.stream,
                    defer_floor=True,
                )
            except FusionError as exc:
                if exc.minimum is not None or isinstance(exc, OverBudget):
                    self.misses.append((exc, n_slots, cap, room, fixed_here))
                    return None
                # no path at all: a streamed input's first reader must fuse, and its
                # weights do not fit this slot; try with the input held whole
        return None

    def _settle_misses(self) -> None:
        """Note the failed searches of the last collect, in order, if nothing fits: only then
        are the floor and the failure nearest the budget wanted (a search that failed before
        laying anything out searches its whole front for them now)."""
        misses, self.misses = self.misses, []
        if self.found:
            return

        # Only the first miss of the smallest total counts (_note_miss: the failure nearest
        # the budget is the same one, its gap being the total less the budget): floors are
        # worked out from the smallest bound up, until the next bound is above the best found.
        def extra(i: int) -> int:
            _exc, n_slots, cap, _room, fixed_here = misses[i]
            return self.outputs + n_slots * cap + fixed_here

        def bound(i: int) -> int:
            exc = misses[i][0]
            lb = exc.bound if isinstance(exc, OverBudget) else exc.minimum
            return (lb or 0) + extra(i)

        best: tuple[int, int, FusionError] | None = None
        for i in sorted(range(len(misses)), key=lambda i: (bound(i), i)):
            if best is not None and bound(i) > best[0]:
                break
            exc = misses[i][0]
            full = exc.floor() if isinstance(exc, OverBudget) else exc
            if full.minimum is not None and (
                best is None or (full.minimum + extra(i), i) < best[:2]
            ):
                best = (full.minimum + extra(i), i, full)
        if best is not None:
            self._note_miss(best[2], *misses[best[1]][1:])

    def _note_miss(
        self, exc: FusionError, n_slots: int, cap: int, room: int | None, fixed_here: int
    ) -> None:
        """Remember the smallest total budget a failed search implies and the failure
        nearest the budget (what spilling starts from)."""
        assert exc.minimum is not None
        total = exc.minimum + self.outputs + n_slots * cap + fixed_here
        if self.least is None or total < self.least:
            self.least, self.least_layer = total, exc.layer
        if room is not None and (self.closest is None or exc.minimum - room < self.closest[0]):
            self.closest = (exc.minimum - room, exc)

    def add(self, fp: FusionPlan, n_slots: int, cap: int, fixed_here: int) -> None:
        """Add to ``found`` the plans following ``fp`` at every slot size from ``cap`` up to
        what the budget leaves, that fit the budget."""
        graph, budget = self.graph, self.budget
        slot_room = cap if budget is None else (budget - fixed_here - fp.arena_bytes) // n_slots
        for cand in slot_sizes(graph, self.shapes, self.smallest_slot, max(cap, slot_room)):
            steps = schedule_fused(graph, self.shapes, self.consts, fp, cand)
            if steps is None:
                continue
            slot_bytes = slot_bytes_for(steps)
            p = Plan(graph, self.request, fp.arena_bytes, n_slots, slot_bytes, steps, fusion=fp)
            if budget is not None and p.sram_bytes > budget:
                continue
            self.found.append((estimate_plan(p, n_slots).seconds, p))

    def _spill_search(self) -> tuple[frozenset[int], int]:
        """While nothing fits (and spilling is allowed), spill one more tensor: the set that
        made a schedule fit, or the last tried, and how many rounds it took."""
        spilled: frozenset[int] = frozenset()
        refused: set[int] = set()
        rounds = 0
        while (not self.found and self.spill and self.budget is not None
               and self.closest is not None):  # fmt: skip
            gap, err = self.closest
            pick = self._next_spill(gap, err, spilled, refused)
            if pick is None or rounds >= MAX_SPILL_ROUNDS:
                break
            rounds += 1
            try:
                trial = FusionSearch(
                    self.graph, spilled=spilled | {pick}, channel_split=self.channel_split,
                    spill_sector_bytes=self.sector, reuse=self.search,
                )  # fmt: skip
            except FusionError:
                refused.add(pick)
                continue
            before = self.closest
            self.closest = None
            self.collect(trial, False, SPILL_ROUND_CAPS)  # a coarser look while choosing
            if self.closest is None and not self.found:  # no schedule at all with it spilled
                refused.add(pick)
                self.closest = before
                continue
            spilled, self.search = spilled | {pick}, trial
        return spilled, rounds

    def _next_spill(
        self, gap: int, err: FusionError, spilled: frozenset[int], refused: set[int]
    ) -> int | None:
        """The tensor to spill next, from the failure nearest the budget (``gap`` bytes over):
        a whole tensor its largest block holds (the smallest that closes the gap, else the
        largest), or, with only rings there, the smallest inside it (nearest its middle)."""
        m = self.search.m
        cands = [t for t in dict.fromkeys(err.whole)
                 if t not in spilled and t not in refused and m.spillable(t)]  # fmt: skip
        if cands:
            enough = [t for t in cands if m.nbytes(t) >= gap]
            return min(enough, key=m.nbytes) if enough else max(cands, key=m.nbytes)
        # only rings: cut the block at its smallest spillable tensor (nearest its middle)
        inner = [t for t in err.inner if t not in spilled and t not in refused
                 and m.spillable(t)]  # fmt: skip
        if not inner:
            return None
        mid = len(inner) / 2
        return min(inner, key=lambda t: (m.nbytes(t), abs(inner.index(t) - mid)))


def schedule_fused(
    graph: Graph,
    shapes: list[OpShape],
    consts: list[list[int]],
    fusion: FusionPlan,
    slot_bytes: int,
) -> list[PlanStep] | None:
    """Steps following a fused schedule: a fused block is one step whose weights stay in the
    slot while its rows and strips compute, followed by the pieces of its streamed operators
    (split to fit the room the slot has left after the resident weights); an operator run whole
    is scheduled as per layer (split along its output channels when its weights exceed the
    slot)."""
    steps: list[PlanStep] = []
    chunk = 0
    for bi, b in enumerate(fusion.blocks):
        if b.fused:
            streamed = set(b.streamed)
            pieces = tuple(
                Piece(t, fmt.CHUNK_WEIGHTS, 0, graph.tensors[t].nbytes)
                for j in range(b.first, b.last)
                if j not in streamed
                for t in consts[j]
            )
            st = PlanStep(b.first, 0, 0, pieces, b.macs, chunk, bi, b.last - b.first)
            if st.slot_need > slot_bytes:
                return None
            steps.append(st)
            chunk += len(pieces)
            room = slot_bytes - st.slot_need  # where the streamed operators' pieces land
            for j in b.streamed:
                pieces_j = pieces_for(graph, shapes[j], room)
                if pieces_j is None:
                    return None
                node = b.node_of(j)
                for ps in pieces_j:
                    steps.append(PlanStep(j, ps.c0, ps.c1, ps.pieces, 0, chunk, bi, 1,
                                          (node.loads or node.computed) * b.strips))  # fmt: skip
                    chunk += len(ps.pieces)
            continue
        for j in range(b.first, b.last):
            pieces_j = pieces_for(graph, shapes[j], slot_bytes)
            if pieces_j is None:
                return None
            for st in pieces_j:
                steps.append(PlanStep(st.op, st.c0, st.c1, st.pieces, st.macs, chunk))
                chunk += len(st.pieces)
    if chunk >= 1 << 16:
        return None
    return steps


def slot_bytes_for(steps: list[PlanStep]) -> int:
    """The slot a schedule needs: its largest step, or a fused block's resident weights plus
    the largest piece of its streamed operators (read into the room after them)."""
    need = resident = 0
    for st in steps:
        if st.repeats:
            need = max(need, resident + st.slot_need)
        else:
            resident = st.slot_need
            need = max(need, resident)
    return need


def _pick_spilling(found: list[tuple[float, Plan]]) -> Plan:
    """The plan that programs the fewest bytes per inference (flash wear), then the fastest."""

    def wear(p: Plan) -> float:
        return p.spill.bytes_programmed if p.spill is not None else 0.0

    least = min(wear(p) for _, p in found)
    low = [(sec, p) for sec, p in found if wear(p) <= least * (1 + 1e-9)]
    best = min(low, key=lambda sp: (sp[0], sp[1].flash_read_bytes_per_inference))[1]
    estimate_all(best)
    return best
