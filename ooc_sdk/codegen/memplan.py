"""The activation memory plan: an offset in the arena for every activation tensor.

Tensors whose lifetimes overlap (``ooc_sdk.model.ir.Lifetime``, inclusive
operator positions) must not overlap in memory. The plan is computed ahead of
time, so we can afford to try several greedy placement orders and keep the
tightest:

- by size, largest first (TFLM's GreedyMemoryPlanner order),
- by size x lifetime length, then
- by first use.

Each places a buffer at the lowest offset that conflicts with no already
placed, lifetime-overlapping buffer. A RESHAPE's output shares its input's
buffer (the bytes do not change), which TFLM's planner does not do.
Offsets are aligned to ``ALIGNMENT`` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ooc_sdk.model.ir import Graph

ALIGNMENT = 4  # enough for int32 and float32 tensors on Cortex-M and hosts


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


def _place(buffers: list[Buffer]) -> tuple[dict[int, int], int]:
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[int, int] = {}
    for buf in buffers:
        busy = sorted(
            (off, off + b.size) for off, b in placed if b.first <= buf.last and buf.first <= b.last
        )
        candidate = 0
        for start, end in busy:
            if candidate + buf.size <= start:
                break
            candidate = max(candidate, end)
        placed.append((candidate, buf))
        for t in buf.tensors:
            offsets[t] = candidate
    arena = max((off + b.size for off, b in placed), default=0)
    return offsets, arena


def place(buffers: list[Buffer]) -> tuple[dict[int, int], int, str]:
    """The tightest of the greedy placements: (tensor -> offset, bytes, strategy name)."""
    orders = {
        "size": sorted(buffers, key=lambda b: (-b.size, b.first)),
        "size-x-lifetime": sorted(
            buffers, key=lambda b: (-b.size * (b.last - b.first + 1), b.first)
        ),
        "first-use": sorted(buffers, key=lambda b: (b.first, -b.size)),
    }
    best: tuple[dict[int, int], int, str] | None = None
    for name, order in orders.items():
        offsets, arena = _place(order)
        if best is None or arena < best[1]:
            best = (offsets, arena, name)
    assert best is not None
    return best


def plan_memory(graph: Graph) -> MemoryPlan:
    """The tightest of several greedy placements of the graph's activation tensors."""
    offsets, arena, strategy = place(_buffers(graph))
    return MemoryPlan(offsets, arena, strategy)
