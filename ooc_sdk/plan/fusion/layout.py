"""A chosen chain of blocks laid out, and the result: arena offsets (whole tensors by block
lifetime, each fused block's rings and scratch during it, the model outputs at the top), the
spilled tensors cut into ring records, and ``FusionPlan``, the laid-out fused schedule with its
digest, memory timeline and JSON.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from ooc_sdk.formats.tables import NODE_CONV_MEAN, NODE_PEX, NODE_REDUCE, NODE_SPILL_IN
from ooc_sdk.lower.memplan import ALIGNMENT, Buffer, place
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.graph import GraphFacts, align, buffer_groups, single_block
from ooc_sdk.plan.fusion.model import Block, SpillTensor
from ooc_sdk.plan.fusion.simulate import node_bytes


def layout(
    m: GraphFacts, blocks: list[Block], target: int | None = None
) -> tuple[dict[int, int], int, int]:
    """Arena offsets: whole tensors by block lifetime, each fused block's rings during it, the
    model outputs at the top. Returns (offsets, working bytes, arena bytes). With ``target``
    (working bytes), the first placement found within it rather than the tightest
    (memplan.place): whether the schedule fits, answered sooner."""
    g = m.graph
    block_of = {}
    for i, b in enumerate(blocks):
        for j in range(b.first, b.last):
            block_of[j] = i
    end = len(blocks)
    # whole tensors: those a block reads or writes whole
    internal = {
        nd.tensor for b in blocks for nd in b.nodes if not nd.whole or nd.mode == NODE_REDUCE
    }
    internal |= {  # a channel-split chain's intermediates are held nowhere, nor a channel-group
        g.operators[nd.op + i].outputs[0] for b in blocks for nd in b.nodes  # average's conv
        if nd.mode in (NODE_PEX, NODE_CONV_MEAN) for i in range(nd.span - 1)
    }  # fmt: skip
    reduce_out = {nd.tensor for b in blocks for nd in b.nodes if nd.mode == NODE_REDUCE}
    items: list[Buffer] = []
    output_groups: list[list[int]] = []
    for root, members in buffer_groups(g, m.reshape_alias).items():
        if any(t in g.outputs for t in members):
            output_groups.append(members)
            continue
        if root in m.streamed:
            continue
        if all(t in internal and t not in reduce_out for t in members):
            continue
        firsts, lasts = [], []
        for t in members:
            pr = m.producer.get(t)
            firsts.append(block_of[pr] if pr is not None else -1)
            lu = m.last_use.get(t, -1)
            lasts.append(block_of.get(lu, end) if lu >= 0 else firsts[-1])
        size = max(m.nbytes(t) for t in members)
        items.append(Buffer(members, size, min(firsts), max(lasts)))
    for i, b in enumerate(blocks):
        if b.fused:
            items.append(Buffer([-1 - i], b.ring_bytes, i, i))
    offsets, working, _ = place(items, None if target is None else target // ALIGNMENT * ALIGNMENT)
    working = align(working)
    arena = working
    for members in output_groups:
        for t in members:
            offsets[t] = arena
        arena += max(m.nbytes(t) for t in members)
    # rings and accumulators of each fused block, packed at the block's region
    for i, b in enumerate(blocks):
        if not b.fused:
            continue
        pos = offsets[-1 - i]
        for nd in b.nodes:
            nd.offset = pos
            pos += node_bytes(nd)
        b.scratch_offset = pos
        del offsets[-1 - i]
    return offsets, working, arena


def spill_layout(m: GraphFacts, blocks: list[Block]) -> tuple[list[SpillTensor], list[int]]:
    """Each spilled tensor's parts, from its producer's strips (a strip writes whole parts, at
    most a record's payload each), and the record lengths one inference writes, in order."""
    spills: list[SpillTensor] = []
    lens: list[int] = []
    for b in blocks:
        if not b.fused or b.nodes[-1].tensor not in m.spilled:
            continue
        sink = b.nodes[-1]
        c, h = sink.channels, sink.rows
        widest = max(1, m.spill_payload // c)  # pixels per record
        parts: list[tuple[int, int, int, int]] = []
        first = 0
        for strip in b.cols:
            x0, x1 = strip[-1]
            k = -(-(x1 - x0) // widest)
            bounds = [x0 + round(i * (x1 - x0) / k) for i in range(k + 1)]
            mine = list(itertools.pairwise(bounds))
            parts += [(a, z, k, first + i) for i, (a, z) in enumerate(mine)]
            lens += [(z - a) * c for _ in range(h) for a, z in mine]
            first += k * h
        spills.append(SpillTensor(sink.tensor, h, sink.width, c, sorted(parts)))
    return spills, lens


def spill_reads(blocks: list[Block], spills: list[SpillTensor]) -> tuple[int, int]:
    """Flash bytes and read commands of reading the spills back in one inference: each row a
    SPILL_IN node makes reads every record its strip's columns touch (header, ciphertext and
    tag: three reads). Sector openings add two 32-byte header reads each (not counted here)."""
    by_tensor = {sp.tensor: sp for sp in spills}
    nbytes = commands = 0
    for b in blocks:
        for j, nd in enumerate(b.nodes):
            if nd.mode != NODE_SPILL_IN:
                continue
            sp = by_tensor[nd.tensor]
            for strip in b.cols:
                x0, x1 = strip[j]
                for a, z, _st, _f in sp.parts:
                    if a < x1 and z > x0:
                        nbytes += nd.computed * (48 + (z - a) * sp.channels)
                        commands += 3 * nd.computed
    return nbytes, commands


@dataclass
class FusionPlan:
    """A fused schedule, laid out: its blocks in execution order, where each whole tensor lives
    in the arena, the spilled tensors, and the figures it was chosen by and compares with."""

    graph: Graph
    blocks: list[Block]
    objective: str
    max_mac_overhead: float | None
    sram_budget: int | None
    streamed_inputs: list[int]
    offsets: dict[int, int]  # whole tensor -> arena offset
    arena_bytes: int  # working SRAM + the model outputs at the top
    working_sram_bytes: int  # predicted
    per_layer_bytes: int  # per-layer execution's working SRAM (same definition)
    per_layer_arena_bytes: int  # what `ooc codegen` allocates per layer (input and output included)
    search_seconds: float = 0.0
    spills: list[SpillTensor] = field(default_factory=list)
    spill_lens: list[int] = field(default_factory=list)  # record payloads one inference writes

    @property
    def macs(self) -> int:
        return sum(b.macs for b in self.blocks)

    @property
    def digest(self) -> str:
        """Identifies the schedule and layout (the generated tables follow from it)."""
        h = hashlib.sha256(
            f"{self.graph.sha256}|{self.arena_bytes}|{self.working_sram_bytes}".encode()
        )
        h.update(repr(sorted(self.offsets.items())).encode())
        for b in self.blocks:
            h.update(repr((b.first, b.last, b.strips, b.cols, b.scratch_offset)).encode())
            for nd in b.nodes:  # a row group's fields only when set (older digests stay)
                items = [(k, v) for k, v in sorted(nd.__dict__.items())
                         if v or k not in ("rows_per_load", "loads")]  # fmt: skip
                h.update(repr(items).encode())
        for sp in self.spills:
            h.update(repr(sorted(sp.__dict__.items())).encode())
        return h.hexdigest()

    @property
    def mac_overhead(self) -> float:
        base = self.graph.macs
        return self.macs / base if base else 1.0

    def timeline(self) -> list[dict[str, Any]]:
        """Working SRAM live during each block, with the per-layer figure for its operators."""
        m = GraphFacts(self.graph, stream_inputs=False)  # as per_layer_bytes
        out = []
        for i, b in enumerate(self.blocks):
            per_layer = max(single_block(m, j).sram for j in range(b.first, b.last))
            out.append({"block": i, "ops": [b.first, b.last], "sram_bytes": b.sram,
                        "per_layer_bytes": per_layer})  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        g = self.graph
        return {
            "model": g.name,
            "objective": self.objective,
            "max_mac_overhead": self.max_mac_overhead,
            "sram_budget_bytes": self.sram_budget,
            "working_sram_bytes": self.working_sram_bytes,
            "arena_bytes": self.arena_bytes,
            "output_bytes": sum(g.tensors[t].nbytes for t in g.outputs),
            "streamed_inputs": self.streamed_inputs,
            "spilled_tensors": [
                {
                    "tensor": g.tensors[sp.tensor].name,
                    "bytes": sp.nbytes,
                    "records": sp.rows * len(sp.parts),
                }
                for sp in self.spills
            ],
            "spill_payload_bytes_per_inference": sum(self.spill_lens),
            "per_layer_working_sram_bytes": self.per_layer_bytes,
            "per_layer_arena_bytes": self.per_layer_arena_bytes,
            "reduction": round(self.per_layer_bytes / max(1, self.working_sram_bytes), 2),
            "macs": self.macs,
            "baseline_macs": g.macs,
            "mac_overhead": round(self.mac_overhead, 4),
            "search_seconds": round(self.search_seconds, 3),
            "blocks": [
                {
                    "ops": [b.first, b.last],
                    "op_types": [g.operators[j].op_type for j in range(b.first, b.last)],
                    "fused": b.fused,
                    "strips": b.strips if b.fused else None,
                    "macs": b.macs,
                    "sram_bytes": b.sram,
                    "ring_bytes": b.ring_bytes,
                    "rings": [
                        {
                            "op": nd.op,
                            "tensor": g.tensors[nd.tensor].name,
                            "rows": nd.cap,
                            "cols": nd.max_cols,
                            "channels": nd.channels,
                        }
                        for nd in b.nodes
                        if nd.cap
                    ],
                    "channel_split": [
                        {
                            "ops": [nd.op, nd.op + nd.span],
                            "expanded_channels": g.tensors[g.operators[nd.op].outputs[0]].shape[3],
                            "group": nd.group,
                        }
                        for nd in b.nodes
                        if nd.mode == NODE_PEX
                    ],
                }
                for b in self.blocks
            ],
            "timeline": self.timeline(),
        }
