"""The activation memory plan: an offset in the arena for every activation tensor.

Tensors whose lifetimes overlap (``ooc_sdk.model.ir.Lifetime``, inclusive
operator positions) must not overlap in memory. The plan is computed ahead of
time, so we can afford to try several greedy placement orders and keep the
tightest:

- by size, largest first (TFLM's GreedyMemoryPlanner order),
- by size x lifetime length, then
- by first use,

each placing a buffer at the lowest offset that conflicts with no already placed,
lifetime-overlapping buffer (first fit), or in the smallest such gap that holds
it (best fit). No placement can beat the most bytes live at one time (the lower
bound); when none of those orders reaches it, up to ``SHUFFLES`` seeded random
orders are tried too, stopping at the bound (fused schedules' buffers often need
this: mobilenet_v2 224 at k = 1.3, 62,720 -> 53,696 bytes). The seed is fixed, so
a plan is reproducible. A RESHAPE's output shares its input's buffer (the bytes
do not change), which TFLM's planner does not do. Offsets are aligned to
``ALIGNMENT`` bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ooc_sdk.model.ir import Graph

ALIGNMENT = 4  # enough for int32 and float32 tensors on Cortex-M and hosts
SHUFFLES = 400  # random placement orders tried when no greedy order reaches the lower bound


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


@dataclass(frozen=True)
class MemoryPlan:
    offsets: dict[int, int]  # tensor index -> byte offset in the arena
    arena_bytes: int
    strategy: str

    def check(self, graph: Graph) -> None:
        """Assert that no two simultaneously live tensors overlap (used by tests)."""
        items = [
            (t, self.offsets[t], graph.tensors[t].nbytes, graph.lifetimes[t]) for t in self.offsets
        ]
        for i, (ta, oa, sa, la) in enumerate(items):
            assert oa % ALIGNMENT == 0 and oa + sa <= self.arena_bytes
            for tb, ob, sb, lb in items[i + 1 :]:
                if la.first <= lb.last and lb.first <= la.last and oa < ob + sb and ob < oa + sa:
                    same = self.offsets[ta] == self.offsets[tb] and _aliased(graph, ta, tb)
                    assert same, f"tensors {ta} and {tb} overlap"


def _aliased(graph: Graph, a: int, b: int) -> bool:
    for op in graph.operators:
        if op.op_type == "RESHAPE" and {op.inputs[0], op.outputs[0]} == {a, b}:
            return True
    return False


@dataclass
class Buffer:
    """Bytes to place, and the positions (operators, or fused blocks) during which they live."""

    tensors: list[int]
    size: int
    first: int
    last: int


def _buffers(graph: Graph) -> list[Buffer]:
    group: dict[int, int] = {t: t for t in graph.activation_tensors}

    def root(t: int) -> int:
        while group[t] != t:
            t = group[t]
        return t

    for op in graph.operators:
        if op.op_type == "RESHAPE":
            group[root(op.outputs[0])] = root(op.inputs[0])
    members: dict[int, list[int]] = {}
    for t in graph.activation_tensors:
        members.setdefault(root(t), []).append(t)
    out = []
    for ts in members.values():
        lives = [graph.lifetimes[t] for t in ts]
        out.append(
            Buffer(
                ts,
                _align(max(graph.tensors[t].nbytes for t in ts)),
                min(life.first for life in lives),
                max(life.last for life in lives),
            )
        )
    return out


def _conflicts(buffers: list[Buffer]) -> list[list[int]]:
    """For each buffer (by index), the buffers whose lifetimes overlap it: computed once per
    placement search, so each greedy pass only looks at those (not at everything placed)."""
    by_first = sorted(range(len(buffers)), key=lambda i: buffers[i].first)
    out: list[list[int]] = [[] for _ in buffers]
    for k, i in enumerate(by_first):
        last = buffers[i].last
        for j in by_first[k + 1 :]:
            if buffers[j].first > last:
                break
            out[i].append(j)
            out[j].append(i)
    return out


def _place(
    order: list[int],
    sizes: list[int],
    conflicts: list[list[int]],
    best_fit: bool = False,
    limit: int | None = None,
) -> tuple[list[int], int] | None:
    """Place the buffers (by index, sizes ``sizes``) in ``order``: each at the lowest free
    offset (first fit) or in the smallest free gap that holds it (best fit; above everything
    when none does), clear of the placed buffers it ``conflicts`` with. Either way an offset
    is 0 or the end of a placed buffer. Returns each buffer's offset and the arena, or None
    as soon as the arena reaches ``limit`` (no better than a placement already found)."""
    offset = [-1] * len(sizes)
    end_of = [0] * len(sizes)
    arena = 0
    for i in order:
        size = sizes[i]
        busy = sorted([(offset[j], end_of[j]) for j in conflicts[i] if offset[j] >= 0])
        candidate = 0
        best_gap: tuple[int, int] | None = None
        for start, end in busy:
            if candidate + size <= start:
                if not best_fit:
                    break
                if best_gap is None or start - candidate < best_gap[0]:
                    best_gap = (start - candidate, candidate)
            if end > candidate:
                candidate = end
        if best_fit and best_gap is not None:
            candidate = best_gap[1]
        offset[i], end_of[i] = candidate, candidate + size
        if candidate + size > arena:
            arena = candidate + size
            if limit is not None and arena >= limit:
                return None
    return offset, arena


def lower_bound(buffers: list[Buffer]) -> int:
    """The most bytes live at one time: no placement is smaller."""
    change: dict[int, int] = {}
    for b in buffers:
        change[b.first] = change.get(b.first, 0) + b.size
        change[b.last + 1] = change.get(b.last + 1, 0) - b.size
    live = peak = 0
    for t in sorted(change):
        live += change[t]
        peak = max(peak, live)
    return peak


def place(buffers: list[Buffer], target: int | None = None) -> tuple[dict[int, int], int, str]:
    """The tightest placement found: (tensor -> offset, bytes, strategy name). With ``target``,
    the first placement found within it instead (the same sequence of tries, stopped early:
    a placement within ``target`` exists among them exactly when the tightest is within it)."""
    index = range(len(buffers))
    orders = {
        "size": sorted(index, key=lambda i: (-buffers[i].size, buffers[i].first)),
        "size-x-lifetime": sorted(
            index,
            key=lambda i: (
                -buffers[i].size * (buffers[i].last - buffers[i].first + 1),
                buffers[i].first,
            ),
        ),
        "first-use": sorted(index, key=lambda i: (buffers[i].first, -buffers[i].size)),
    }
    bound = lower_bound(buffers)
    sizes = [b.size for b in buffers]
    conflicts = _conflicts(buffers)
    best: tuple[list[int], int, str] | None = None
    for name, order in orders.items():
        for fit in (False, True):
            found = _place(order, sizes, conflicts, fit, None if best is None else best[1])
            if found is not None:  # smaller than the best so far
                best = (found[0], found[1], name + ("/best-fit" if fit else ""))
            if target is not None and best is not None and best[1] <= target:
                return _by_tensor(buffers, best)
    assert best is not None
    rng = random.Random(len(buffers))  # fixed: the same buffers always get the same plan
    order = list(index)  # shuffled as the buffers themselves would be: by position only
    for i in range(SHUFFLES if best[1] > bound else 0):
        rng.shuffle(order)
        for fit in (False, True):
            found = _place(order, sizes, conflicts, fit, best[1])
            if found is not None:
                best = (found[0], found[1], f"shuffle {i + 1}" + ("/best-fit" if fit else ""))
        if best[1] <= bound or (target is not None and best[1] <= target):
            break
    return _by_tensor(buffers, best)


def _by_tensor(
    buffers: list[Buffer], placed: tuple[list[int], int, str]
) -> tuple[dict[int, int], int, str]:
    """A placement by buffer index as (tensor -> offset, bytes, strategy)."""
    offset, arena, name = placed
    return {t: offset[i] for i, b in enumerate(buffers) for t in b.tensors}, arena, name


def plan_memory(graph: Graph) -> MemoryPlan:
    """The tightest of several greedy placements of the graph's activation tensors."""
    offsets, arena, strategy = place(_buffers(graph))
    return MemoryPlan(offsets, arena, strategy)
