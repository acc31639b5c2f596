"""The out-of-core planner: how a model runs in a fixed SRAM budget with its weights in flash.

A plan is a schedule of *steps*. A step runs one operator, or one piece of it: an operator whose
weights do not fit a chunk slot is split along its output channels (partial execution), and each
piece reads only its channels' filter and bias. Before a step computes, its weights -- one chunk
per constant input, back to back in flash -- are read into a chunk slot, verified and decrypted;
with two slots the next step's chunks are read while the current one computes.

The SRAM figure a plan reports is everything the runtime needs:

    sram_bytes = activation arena + slots x slot_bytes + runtime and crypto state + stack bound

A slot holds a step's table entries (64 bytes per chunk, read to check the tags) followed by its
ciphertexts, each starting on a 4-byte boundary.

Search: for every candidate slot size (the sizes at which some operator changes how many pieces it
needs, plus powers of two) and one or two slots, split the operators, check the budget, estimate
the latency (ooc_sdk.plan.latency) and keep the fastest; ties go to the smaller SRAM figure. A
budget below the smallest feasible plan is an error that states that minimum.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ooc_sdk.errors import InvalidArgumentError, OocError
from ooc_sdk.formats import image as fmt
from ooc_sdk.lower.memplan import plan_memory
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model.ir import Graph, Operator
from ooc_sdk.plan.chunks import DEFAULT_SCRATCH_BYTES, Chunk
from ooc_sdk.plan.chunks import plan_id as pack_plan_id
from ooc_sdk.plan.fusion import (
    NODE_PEX,
    NODE_SPILL_IN,
    SPILL_SECTOR_BYTES,
    FusionError,
    FusionPlan,
    FusionSearch,
    StreamCosts,
    spill_reads,
)
from ooc_sdk.plan.latency import Crypto, Estimate, Step, estimate
from ooc_sdk.plan.spill import SpillForecast, forecast
from ooc_sdk.targets import FlashProfile, McuProfile
from ooc_sdk.units import format_size

ENTRY_BYTES = fmt.CHUNK_ENTRY.size
DATA_ALIGN = 4  # chunk start alignment in flash and in the slot
READS_PER_STEP = 2  # a step with chunks: its table entries, then its data (back to back)

# Runtime and crypto state the caller keeps in SRAM besides the arena: an ooc_ctx_t and a mounted
# ooc_image_t (two AES key schedules, keys and ids). Upper bounds for 32- and 64-bit targets;
# tests/test_pager.py checks them against sizeof on this host (64-bit pointers, the larger case).
RUNTIME_STATE_BYTES = 1024
# A plan that spills also keeps the mounted spill ring (ooc_spill_t: two AES key schedules and a
# page buffer; 936 bytes on a Cortex-M4, docs/spill.md): an upper bound for 32- and 64-bit targets.
SPILL_STATE_BYTES = 1024
# Stack the runtime needs below the caller's frame during ooc_invoke (kernels, the pager, tag
# checks and decryption). The host runner measures it by painting (tests assert it stays below);
# the Cortex-M figure comes from the QEMU port.
STACK_BOUND_BYTES = 4096

LATENCY_TOLERANCE = 0.01  # plans this close to the fastest count as equally fast
MAX_SLOTS = 2  # one read in flight at a time (one DMA channel): double buffering
SPLITTABLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class BudgetError(OocError):
    """The SRAM budget cannot be met; ``minimum`` is the smallest feasible budget (bytes)."""

    def __init__(self, message: str, minimum: int | None):
        super().__init__(message)
        self.minimum = minimum


def _align(n: int, a: int = DATA_ALIGN) -> int:
    return -(-n // a) * a


@dataclass(frozen=True)
class Piece:
    """The weights one step reads for one constant input: becomes one image chunk."""

    tensor: int
    kind: int  # fmt.CHUNK_WEIGHTS or fmt.CHUNK_DW_CHANNELS
    offset: int  # byte offset in the tensor (weights) or first channel (dw-channels)
    length: int


@dataclass(frozen=True)
class PlanStep:
    op: int
    c0: int  # output channels [c0, c1) this step computes; (0, 0) = the whole operator
    c1: int
    pieces: tuple[Piece, ...]
    macs: int
    first_chunk: int = 0
    block: int = -1  # a fused block (index in Plan.fusion.blocks): its operators' weights at once
    n_ops: int = 1  # operators this step runs (a fused block's)
    # 0: a step of the schedule, read once in its turn. n > 0: a piece of a streamed operator
    # of fused block `block` (OOC_STEP_STREAM), read n times per inference, once for every row
    # its node makes, into the slot's room after the block's resident weights
    repeats: int = 0

    @property
    def reads(self) -> int:
        """How many times per inference the step's chunks are read."""
        return self.repeats or 1

    @property
    def slot_need(self) -> int:
        if not self.pieces:
            return 0
        return ENTRY_BYTES * len(self.pieces) + sum(_align(p.length) for p in self.pieces)

    @property
    def fetch_bytes(self) -> int:
        """Bytes read from flash for this step: table entries + ciphertexts (with the alignment
        gaps between them, read in the same command)."""
        if not self.pieces:
            return 0
        data = sum(_align(p.length) for p in self.pieces[:-1]) + self.pieces[-1].length
        return ENTRY_BYTES * len(self.pieces) + data


@dataclass
class _OpShape:
    """How an operator's weights scale with the output channels it computes."""

    op: int
    kind: str
    channels: int  # output channels (1 for operators that cannot be split)
    granule: int  # channels per indivisible unit (the depth multiplier for depthwise)
    per_channel: list[tuple[int, int]]  # (tensor, bytes per channel) of each splittable constant
    whole: list[int]  # constant inputs read whole
    macs: int


@dataclass
class Plan:
    graph: Graph
    budget: int | None
    flash: FlashProfile
    mcu: McuProfile
    crypto: Crypto
    activation_bytes: int
    slots: int
    slot_bytes: int
    steps: list[PlanStep]
    verify: str = "every-read"  # or "boot"
    dsp: bool = False
    state_bytes: int = RUNTIME_STATE_BYTES
    stack_bytes: int = STACK_BOUND_BYTES
    estimates: dict[str, Estimate] = field(default_factory=dict)
    fusion: FusionPlan | None = None  # the activation schedule: fused blocks (None: per layer)
    scratch_request: int | None = None  # `ooc build --scratch`: the scratch partition's size

    @property
    def sram_bytes(self) -> int:
        return (
            self.activation_bytes
            + self.slots * self.slot_bytes
            + self.state_bytes
            + (SPILL_STATE_BYTES if self.fusion is not None and self.fusion.spills else 0)
            + self.stack_bytes
        )

    @functools.cached_property
    def spill(self) -> SpillForecast | None:
        """The spill ring's flash traffic per inference (None: the plan spills nothing)."""
        if self.fusion is None or not self.fusion.spill_lens:
            return None
        return forecast(self.flash.page_bytes, SPILL_SECTOR_BYTES, self.fusion.spill_lens)

    @property
    def scratch_bytes(self) -> int:
        """The image's scratch partition: the size asked for (``scratch_request``, checked by
        ``ooc build``), else the default ring, or as many sectors as one inference's spills span
        if that is more."""
        if self.scratch_request is not None:
            return self.scratch_request
        return max(DEFAULT_SCRATCH_BYTES, self.scratch_minimum)

    @property
    def scratch_minimum(self) -> int:
        """The smallest scratch partition the plan runs with: the sectors one inference's
        spills span (0 when it spills nothing)."""
        sp = self.spill
        return sp.sectors_needed * SPILL_SECTOR_BYTES if sp is not None else 0

    @functools.cached_property
    def spill_read(self) -> tuple[int, int]:
        """Flash bytes and read commands reading the spills back costs per inference (each
        sector the ring opens adds two 32-byte header reads besides)."""
        if self.fusion is None or not self.fusion.spills:
            return 0, 0
        return spill_reads(self.fusion.blocks, self.fusion.spills)

    def spill_seconds(self) -> float:
        """Time the spills add per inference: programming and erasing (cycle averages),
        reading them back (three read commands per record) and the software crypto of both
        directions (encrypt and tag on write, tag and decrypt on read)."""
        sp = self.spill
        if sp is None:
            return 0.0
        f, m = self.flash, self.mcu
        tag_cpb = (m.poly1305_cycles_per_byte if self.crypto.tag == "poly1305"
                   else m.cmac_cycles_per_byte)  # fmt: skip
        crypto = 2 * sp.payload_bytes * (m.aes_cycles_per_byte + tag_cpb) / m.clock_hz
        rb, rc = self.spill_read
        reads = rc * f.read_command_s + rb / f.read_bytes_per_s
        return sp.page_programs * f.page_program_s + sp.erases * f.sector_erase_s + reads + crypto

    @property
    def arena_bytes(self) -> int:
        """What the caller's arena must hold: activations, then the slots."""
        return self.activation_bytes + self.slots * self.slot_bytes

    @property
    def chunks(self) -> list[Chunk]:
        out: list[Chunk] = []
        for s in self.steps:
            for p in s.pieces:
                out.append(Chunk(len(out), p.kind, p.tensor, p.offset, p.length))
        return out

    @property
    def weight_bytes(self) -> int:
        return sum(p.length for s in self.steps for p in s.pieces)

    @property
    def flash_read_bytes_per_inference(self) -> int:
        return sum(s.fetch_bytes * s.reads for s in self.steps)

    @property
    def flash_read_commands_per_inference(self) -> int:
        return sum(READS_PER_STEP * s.reads for s in self.steps if s.pieces)

    @property
    def restream_bytes_per_inference(self) -> int:
        """Flash bytes the streamed operators of fused blocks read beyond one pass."""
        return sum(s.fetch_bytes * (s.repeats - 1) for s in self.steps if s.repeats)

    @property
    def plan_id(self) -> bytes:
        """The manifest's plan_id: the chunk list and this schedule (the firmware tables)."""
        return pack_plan_id(self.chunks, self.slot_bytes, self.schedule_digest)

    @property
    def schedule_digest(self) -> str:
        h = hashlib.sha256(f"slots={self.slots}|slot={self.slot_bytes}|{self.verify}".encode())
        if self.fusion is not None:
            h.update(f"|fused={self.fusion.digest}".encode())
        for s in self.steps:
            h.update(f"|{s.op},{s.c0},{s.c1},{len(s.pieces)}".encode())
            if s.block >= 0:
                h.update(f",b{s.block}".encode())
            if s.repeats:
                h.update(f",r{s.repeats}".encode())
        return h.hexdigest()

    def latency_steps(self) -> list[Step]:
        """The latency model's steps. A streamed piece's reads happen while its block runs,
        synchronously (one read command in flight at a time, the block waits for each). A block
        that streams or uses the spill ring drains the prefetch in flight before it computes
        (the runtime's invoke_paged, c_runtime/src/ooc.c)."""
        draining = self._draining_blocks()
        return [
            Step(s.macs, s.fetch_bytes * s.reads, READS_PER_STEP * s.reads if s.pieces else 0,
                 sync=s.repeats > 0, drain=s.repeats == 0 and s.block in draining)
            for s in self.steps
        ]  # fmt: skip

    def _draining_blocks(self) -> set[int]:
        """Fused blocks that read their weights again row by row or touch the spill ring."""
        if self.fusion is None:
            return set()
        out = {s.block for s in self.steps if s.repeats > 0}
        spilled = {sp.tensor for sp in self.fusion.spills}
        for bi, b in enumerate(self.fusion.blocks):
            if b.fused and (b.nodes[-1].tensor in spilled
                            or any(nd.mode == NODE_SPILL_IN for nd in b.nodes)):  # fmt: skip
                out.add(bi)
        return out

    def to_json(self) -> dict[str, Any]:
        est = self.estimates
        main = est["plan"]
        out: dict[str, Any] = {
            "model": self.graph.name,
            "model_sha256": self.graph.sha256,
            "budget_bytes": self.budget,
            "sram_bytes": self.sram_bytes,
            "activation_bytes": self.activation_bytes,
            "slot_bytes": self.slot_bytes,
            "slots": self.slots,
            "slots_total_bytes": self.slots * self.slot_bytes,
            "state_bytes": self.state_bytes,
            "stack_bytes": self.stack_bytes,
            "arena_bytes": self.arena_bytes,
            "weight_bytes": self.weight_bytes,
            "chunks": len(self.chunks),
            "steps": len(self.steps),
            "split_ops": sorted(op for op, n in Counter(s.op for s in self.steps).items() if n > 1),
            "flash_read_bytes_per_inference": self.flash_read_bytes_per_inference,
            "flash_read_commands_per_inference": self.flash_read_commands_per_inference,
            "restream_bytes_per_inference": self.restream_bytes_per_inference,
            "flash_program_bytes_per_inference": round(self.spill.bytes_programmed, 2)
            if self.spill
            else 0,
            # page program commands (each costs the page program time, however few its bytes)
            "flash_program_pages_per_inference": round(self.spill.page_programs, 4)
            if self.spill
            else 0,
            "erases_per_inference": round(self.spill.erases, 4) if self.spill else 0,
            "tag_overhead_bytes_per_inference": self.flash_read_bytes_per_inference
            - self.weight_bytes,
            "verify": self.verify,
            "flash": self.flash.name,
            "mcu": self.mcu.name,
            "dsp_kernels_assumed": self.dsp,
            "crypto": {"tag": self.crypto.tag, "key_bits": self.crypto.key_bits},
            "estimated_latency_s": main.seconds,
            "in_sram_latency_s": main.in_sram_seconds,
            "latency_ratio": main.ratio,
            "estimated_latency_prefetch_s": est["prefetch"].seconds,
            "latency_ratio_prefetch": est["prefetch"].ratio,
            "estimated_latency_no_prefetch_s": est["no_prefetch"].seconds,
            "latency_ratio_no_prefetch": est["no_prefetch"].ratio,
        }
        if "software_aes" in est:
            out["estimated_latency_software_aes_s"] = est["software_aes"].seconds
            out["latency_ratio_software_aes"] = est["software_aes"].ratio
        sp = self.spill
        out["spill"] = (
            {
                "tensors": [self.graph.tensors[t.tensor].name for t in self.fusion.spills],
                "records_per_inference": sp.records,
                # each record's payload, in write order: what ooc_spill_predict() takes
                "record_payload_bytes": list(self.fusion.spill_lens),
                "sector_bytes": SPILL_SECTOR_BYTES,
                "payload_bytes_per_inference": sp.payload_bytes,
                "ring_bytes_per_inference": sp.ring_bytes,
                "flash_program_bytes_per_inference": sp.bytes_programmed,
                "page_programs_per_inference": sp.page_programs,
                "erases_per_inference": sp.erases,
                "worst_case": {
                    "flash_program_bytes": sp.worst.bytes_programmed,
                    "page_programs": sp.worst.page_programs,
                    "erases": sp.worst.erases,
                },
                "scratch_bytes": self.scratch_bytes,
                "scratch_sectors_needed": sp.sectors_needed,
                "read_back_bytes_per_inference": self.spill_read[0],
                "read_back_commands_per_inference": self.spill_read[1],
                "estimated_spill_s": self.spill_seconds(),
                "lifetime_inferences": sp.lifetime_inferences(
                    self.scratch_bytes // SPILL_SECTOR_BYTES, self.flash.endurance_cycles
                ),
            }
            if sp is not None and self.fusion is not None
            else None
        )
        fp = self.fusion
        out["fused"] = (
            {
                "working_sram_bytes": fp.working_sram_bytes,
                "arena_bytes": fp.arena_bytes,
                "per_layer_working_sram_bytes": fp.per_layer_bytes,
                "mac_overhead": round(fp.mac_overhead, 4),
                "blocks": sum(1 for b in fp.blocks if b.fused),
                "channel_split_chains": sum(
                    1 for b in fp.blocks for nd in b.nodes if nd.mode == NODE_PEX
                ),
                "streamed_inputs": fp.streamed_inputs,
            }
            if fp is not None
            else None
        )
        draining = self._draining_blocks()
        out["schedule"] = [
            {
                "op": s.op,
                "op_type": self.graph.operators[s.op].op_type,
                "ops": [s.op, s.op + s.n_ops],
                "fused_block": s.block if s.block >= 0 else None,
                "channels": [s.c0, s.c1] if s.c1 else None,
                "chunks": [s.first_chunk + i for i in range(len(s.pieces))] if s.pieces else [],
                "streamed": s.repeats > 0,
                # a fused block that streams or spills: the prefetch in flight ends before it runs
                "drains_prefetch": s.repeats == 0 and s.block in draining,
                "reads_per_inference": s.reads if s.pieces else 0,
                "fetch_bytes": s.fetch_bytes * s.reads,  # per inference
                "read_commands": READS_PER_STEP * s.reads if s.pieces else 0,
                "macs": s.macs,
            }
            for s in self.steps
        ]
        return out


def _constant_inputs(graph: Graph, op: Operator) -> list[int]:
    """The constant tensors the kernel reads at run time, in input order: one chunk each (the
    runtime binds the step's chunks to the operator's paged inputs in this order)."""
    return [t for t in prepare_op(graph, op).inputs if t >= 0 and graph.tensors[t].is_constant]


def _op_shape(graph: Graph, index: int) -> _OpShape:
    op = graph.operators[index]
    consts = _constant_inputs(graph, op)
    macs = op.macs
    if op.op_type in SPLITTABLE and len(op.inputs) >= 2 and graph.tensors[op.inputs[1]].is_constant:
        w = graph.tensors[op.inputs[1]]
        channels = w.shape[3] if op.op_type == "DEPTHWISE_CONV_2D" else w.shape[0]
        granule = op.options["depth_multiplier"] if op.op_type == "DEPTHWISE_CONV_2D" else 1
        per: list[tuple[int, int]] = []
        whole: list[int] = []
        for t in consts:
            tensor = graph.tensors[t]
            is_filter = t == op.inputs[1] and not any(x == t for x, _ in per)
            is_bias = (
                len(op.inputs) > 2
                and t == op.inputs[2]
                and t != op.inputs[1]
                and tensor.size == channels
            )
            if is_filter or is_bias:
                per.append((t, tensor.nbytes // channels))
            else:
                whole.append(t)
        if not whole:
            return _OpShape(index, op.op_type, channels, max(granule, 1), per, [], macs)
    return _OpShape(index, op.op_type, 1, 1, [], consts, macs)


def _need(shape: _OpShape, graph: Graph, channels: int) -> int:
    """Slot bytes for a piece of ``channels`` output channels (or the whole operator)."""
    n = len(shape.per_channel) + len(shape.whole)
    if n == 0:
        return 0
    data = sum(_align(b * channels) for _, b in shape.per_channel)
    data += sum(_align(graph.tensors[t].nbytes) for t in shape.whole)
    return ENTRY_BYTES * n + data


def _pieces_for(graph: Graph, shape: _OpShape, slot_bytes: int) -> list[PlanStep] | None:
    """Split one operator to fit ``slot_bytes``; None if even one granule does not fit."""
    if not shape.per_channel and not shape.whole:
        return [PlanStep(shape.op, 0, 0, (), shape.macs)]
    if not shape.per_channel:
        if _need(shape, graph, 1) > slot_bytes:
            return None
        pieces = tuple(Piece(t, fmt.CHUNK_WEIGHTS, 0, graph.tensors[t].nbytes) for t in shape.whole)
        return [PlanStep(shape.op, 0, 0, pieces, shape.macs)]
    g = shape.granule
    units = shape.channels // g
    # the most granules that fit, then balance the pieces
    lo, hi = 0, units
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _need(shape, graph, mid * g) <= slot_bytes:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return None
    n_pieces = math.ceil(units / lo)
    per_piece = math.ceil(units / n_pieces)
    steps = []
    op = graph.operators[shape.op]
    for start in range(0, units, per_piece):
        c0, c1 = start * g, min(units, start + per_piece) * g
        pieces = []
        for t, b in shape.per_channel:
            if shape.kind == "DEPTHWISE_CONV_2D" and t == op.inputs[1]:
                pieces.append(Piece(t, fmt.CHUNK_DW_CHANNELS, c0, b * (c1 - c0)))
            else:
                pieces.append(Piece(t, fmt.CHUNK_WEIGHTS, b * c0, b * (c1 - c0)))
        macs = shape.macs * (c1 - c0) // shape.channels
        steps.append(PlanStep(shape.op, c0, c1, tuple(pieces), macs))
    # MACs of the pieces add up to the operator's
    rest = shape.macs - sum(s.macs for s in steps)
    last = steps[-1]
    steps[-1] = PlanStep(last.op, last.c0, last.c1, last.pieces, last.macs + rest)
    return steps


def _schedule(graph: Graph, shapes: list[_OpShape], slot_bytes: int) -> list[PlanStep] | None:
    steps: list[PlanStep] = []
    chunk = 0
    for shape in shapes:
        pieces = _pieces_for(graph, shape, slot_bytes)
        if pieces is None:
            return None
        for s in pieces:
            steps.append(PlanStep(s.op, s.c0, s.c1, s.pieces, s.macs, chunk))
            chunk += len(s.pieces)
    if chunk >= 1 << 16:
        return None
    return steps


def _schedule_fused(
    graph: Graph,
    shapes: list[_OpShape],
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
                pieces_j = _pieces_for(graph, shapes[j], room)
                if pieces_j is None:
                    return None
                node = b.node_of(j)
                for ps in pieces_j:
                    steps.append(PlanStep(j, ps.c0, ps.c1, ps.pieces, 0, chunk, bi, 1,
                                          node.computed * b.strips))  # fmt: skip
                    chunk += len(ps.pieces)
            continue
        for j in range(b.first, b.last):
            pieces_j = _pieces_for(graph, shapes[j], slot_bytes)
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


def min_slot_bytes(graph: Graph, shapes: list[_OpShape] | None = None) -> int:
    shapes = shapes or [_op_shape(graph, i) for i in range(len(graph.operators))]
    return max((_need(s, graph, s.granule if s.per_channel else 1) for s in shapes), default=0)


def _candidates(graph: Graph, shapes: list[_OpShape], lo: int, hi: int) -> list[int]:
    """Slot sizes worth trying in [lo, hi]: where some operator's piece count changes (a few per
    operator, geometrically spaced), plus powers of two."""
    cands = {lo, hi}
    p = 1 << max(lo - 1, 1).bit_length()
    while p <= hi:
        cands.add(p)
        p *= 2
    for s in shapes:
        full = _need(s, graph, s.channels if s.per_channel else 1)
        if lo <= full <= hi:
            cands.add(full)
        if s.per_channel:
            units = s.channels // s.granule
            k = 2
            while k <= units and k <= 64:
                need = _need(s, graph, math.ceil(units / k) * s.granule)
                if lo <= need <= hi:
                    cands.add(need)
                k *= 2
    return sorted(cands)


def plan(
    graph: Graph,
    budget: int | None,
    flash: FlashProfile,
    mcu: McuProfile,
    *,
    crypto: Crypto | None = None,
    verify: str = "every-read",
    dsp: bool = False,
    slots: int | None = None,
    fuse: bool = False,
    spill: bool = True,
    channel_split: str = "auto",
) -> Plan:
    """The fastest plan within ``budget`` bytes of SRAM (None: no limit, smallest-latency plan
    with every weight paged). Raises BudgetError with the minimum when it cannot be met. With
    ``fuse`` the activations follow a fused schedule (ooc_sdk/plan/fusion.py) chosen together
    with the slots: see :func:`_plan_fused`; ``spill`` lets it spill activations to flash
    when nothing else meets the budget."""
    if verify not in ("every-read", "boot"):
        raise InvalidArgumentError("verify must be 'every-read' or 'boot'")
    if slots is not None and not 1 <= slots <= MAX_SLOTS:
        raise InvalidArgumentError(f"slots must be 1 .. {MAX_SLOTS}")
    crypto = crypto or Crypto()
    if fuse:
        return _plan_fused(
            graph, budget, flash, mcu, crypto, verify, dsp, slots, spill, channel_split
        )
    activation = plan_memory(graph).arena_bytes
    shapes = [_op_shape(graph, i) for i in range(len(graph.operators))]
    fixed = activation + RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    smallest_slot = min_slot_bytes(graph, shapes)
    minimum = fixed + smallest_slot
    if budget is not None and budget < minimum:
        raise BudgetError(
            f"an SRAM budget of {format_size(budget)} cannot be met: this model needs at least "
            f"{format_size(minimum)} ({minimum} bytes: {format_size(activation)} of activations, "
            f"{format_size(smallest_slot)} for the smallest chunk slot, "
            f"{format_size(RUNTIME_STATE_BYTES + STACK_BOUND_BYTES)} of runtime state and stack). "
            "Fused activations (--fuse), which spill activations to flash when they must, may "
            "lower this",
            minimum,
        )
    largest = max((_need(s, graph, s.channels if s.per_channel else 1) for s in shapes), default=0)
    slot_choices = [slots] if slots else list(range(1, MAX_SLOTS + 1))
    found: list[tuple[float, Plan]] = []
    for n_slots in slot_choices:
        room = largest if budget is None else min(largest, (budget - fixed) // n_slots)
        if room < smallest_slot:
            continue
        for cand in _candidates(graph, shapes, smallest_slot, room):
            steps = _schedule(graph, shapes, cand)
            if steps is None:
                continue
            slot_bytes = max((s.slot_need for s in steps), default=0)
            p = Plan(
                graph,
                budget,
                flash,
                mcu,
                crypto,
                activation,
                n_slots,
                slot_bytes,
                steps,
                verify,
                dsp,
            )
            e = estimate(p.latency_steps(), flash, mcu, _run_crypto(p), slots=n_slots, dsp=dsp)
            found.append((e.seconds, p))
    if not found:
        n = slots or 1
        need = fixed + n * smallest_slot
        raise BudgetError(
            f"no schedule with {n} chunk slot{'s' if n > 1 else ''} fits "
            f"{format_size(budget or 0)}; that needs at least {format_size(need)} ({need} bytes)",
            need,
        )
    # Within LATENCY_TOLERANCE of the fastest, read the fewest bytes from flash (fewer, larger
    # chunks: less tag overhead and energy), then use the least SRAM.
    fastest = min(sec for sec, _ in found)
    near = [p for sec, p in found if sec <= fastest * (1 + LATENCY_TOLERANCE)]
    best = min(near, key=lambda p: (p.flash_read_bytes_per_inference, p.sram_bytes))
    _estimate_all(best)
    return best


FUSED_CAPS = 24  # slot sizes tried per slot count when fusing


def _plan_fused(
    graph: Graph,
    budget: int | None,
    flash: FlashProfile,
    mcu: McuProfile,
    crypto: Crypto,
    verify: str,
    dsp: bool,
    slots: int | None,
    spill: bool = True,
    channel_split: str = "auto",
) -> Plan:
    """Fused activations with paged weights. A fused block's weights must all be in the slot
    while its rows compute, so the slot size bounds which blocks may fuse, and what the slots
    take the arena cannot have. For each slot count and up to FUSED_CAPS slot sizes C (the
    weight sizes at which another candidate block becomes fusable, evenly by rank): the fused
    schedule with the fewest MACs whose arena fits what the budget leaves besides the slots,
    fusing only blocks whose weights fit C; then the per-layer slot search for the operators
    run whole. The plain per-layer plan competes too. The fastest estimate wins (ties:
    fewer flash bytes, then less SRAM).

    Only when no such plan fits, and ``spill`` allows, activations go to the flash spill ring
    (docs/spill.md), greedily: take the schedule closest to the budget, and spill one whole
    tensor held while its largest block runs (the smallest that alone would close the gap,
    else the largest), or, when that block holds only rings, the smallest tensor inside it
    (cutting it in two); then search again; repeat. Among the plans that then fit, the fewest
    bytes programmed per inference wins (flash wear decides a product's life), then speed."""
    search = FusionSearch(graph, channel_split=channel_split)
    whole_search: FusionSearch | None = None  # model inputs held whole (built when needed)
    shapes = [_op_shape(graph, i) for i in range(len(graph.operators))]
    fixed = RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    smallest_slot = min_slot_bytes(graph, shapes)
    outputs = sum(_align(graph.tensors[t].nbytes) for t in graph.outputs)
    slot_choices = [slots] if slots else list(range(1, MAX_SLOTS + 1))

    consts = [_constant_inputs(graph, op) for op in graph.operators]
    n_pre, b_pre = [0], [0]  # prefix sums of chunk counts and aligned bytes
    for ts in consts:
        n_pre.append(n_pre[-1] + len(ts))
        b_pre.append(b_pre[-1] + sum(_align(graph.tensors[t].nbytes) for t in ts))

    def need(a: int, b: int) -> int:  # slot bytes of fused block [a, b): PlanStep.slot_need
        n = n_pre[b] - n_pre[a]
        return ENTRY_BYTES * n + b_pre[b] - b_pre[a] if n else 0

    # weight re-streaming inside fused blocks: what one re-read byte costs in MAC equivalents
    # (flash read, software decryption and tag over the MCU's cycles per MAC)
    tag_cpb = mcu.poly1305_cycles_per_byte if crypto.tag == "poly1305" else mcu.cmac_cycles_per_byte
    stream = StreamCosts(
        [need(j, j + 1) for j in range(len(graph.operators))],
        [
            _need(sh, graph, sh.granule)
            if sh.per_channel and sh.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")
            else None
            for sh in shapes
        ],
        (mcu.clock_hz / flash.read_bytes_per_s + mcu.aes_cycles_per_byte + tag_cpb)
        / (mcu.cycles_per_mac_dsp if dsp else mcu.cycles_per_mac),
    )

    # where fusing more becomes possible: the weight needs of the candidate fused blocks
    breaks = sorted({need(a, b) for (a, b), blks in search.cands.items() if blks[0].fused})

    def caps(n_slots: int, most: int = FUSED_CAPS) -> list[int]:
        hi = (
            max(breaks[-1] if breaks else 0, smallest_slot)
            if budget is None
            else ((budget - fixed) // n_slots)
        )
        lo = smallest_slot
        inside = [c for c in breaks if lo < c <= hi]
        if len(inside) > most - 1:  # evenly by rank, the largest kept
            step = len(inside) / (most - 1)
            inside = [
                inside[min(len(inside) - 1, round((i + 1) * step) - 1)] for i in range(most - 1)
            ]
        return sorted({lo, *inside}) if lo <= hi else []

    found: list[tuple[float, Plan]] = []
    least: int | None = None
    closest: tuple[int, FusionError] | None = None  # the failed search nearest the budget

    def collect(search: FusionSearch, whole_too: bool, most: int = FUSED_CAPS) -> None:
        nonlocal least, whole_search, closest
        # a plan that spills also keeps the mounted ring (Plan.sram_bytes)
        fixed_here = fixed + (SPILL_STATE_BYTES if search.spilled else 0)
        for n_slots in slot_choices:
            for cap in caps(n_slots, most):
                room = None if budget is None else budget - fixed_here - n_slots * cap - outputs
                if room is not None and room <= 0:
                    continue
                fp = None
                for streamed in (True, False):
                    if not streamed and (not whole_too or not search.m.streamed):
                        break
                    if not streamed and whole_search is None:
                        whole_search = FusionSearch(
                            graph, stream_inputs=False, channel_split=channel_split
                        )
                    try:
                        fp = (search if streamed else whole_search).plan(  # type: ignore[union-attr]
                            sram=room,
                            max_mac_overhead=None if room is not None else 1.0,
                            block_weight_bytes=need,
                            max_block_weight_bytes=cap,
                            stream=stream,
                        )
                        break
                    except FusionError as exc:
                        if exc.minimum is not None:
                            total = exc.minimum + outputs + n_slots * cap + fixed_here
                            least = total if least is None else min(least, total)
                            if room is not None and (closest is None or
                                                     exc.minimum - room < closest[0]):  # fmt: skip
                                closest = (exc.minimum - room, exc)
                            break
                        # no path at all: a streamed input's first reader must fuse, and its
                        # weights do not fit this slot; try with the input held whole
                if fp is None:
                    continue
                add(fp, n_slots, cap, fixed_here)

    def add(fp: FusionPlan, n_slots: int, cap: int, fixed_here: int) -> None:
        slot_room = cap if budget is None else (budget - fixed_here - fp.arena_bytes) // n_slots
        for cand in _candidates(graph, shapes, smallest_slot, max(cap, slot_room)):
            steps = _schedule_fused(graph, shapes, consts, fp, cand)
            if steps is None:
                continue
            slot_bytes = slot_bytes_for(steps)
            p = Plan(graph, budget, flash, mcu, crypto, fp.arena_bytes, n_slots, slot_bytes,
                     steps, verify, dsp, fusion=fp)  # fmt: skip
            if budget is not None and p.sram_bytes > budget:
                continue
            found.append((_estimate(p, n_slots).seconds, p))

    collect(search, True)
    try:  # per layer stays a candidate: --fuse never makes a budget harder to meet
        base = plan(graph, budget, flash, mcu, crypto=crypto, verify=verify, dsp=dsp, slots=slots)
        found.append((base.estimates["plan"].seconds, base))
    except BudgetError as exc:
        if exc.minimum is not None:
            least = exc.minimum if least is None else min(least, exc.minimum)
    no_spill_least = least
    spilled: frozenset[int] = frozenset()
    refused: set[int] = set()
    rounds = 0
    while not found and spill and budget is not None and closest is not None:
        gap, err = closest
        m = search.m
        cands = [t for t in dict.fromkeys(err.whole)
                 if t not in spilled and t not in refused and m.spillable(t)]  # fmt: skip
        if cands:
            enough = [t for t in cands if m.nbytes(t) >= gap]
            pick = min(enough, key=m.nbytes) if enough else max(cands, key=m.nbytes)
        else:  # only rings: cut the block at its smallest spillable tensor (nearest its middle)
            inner = [t for t in err.inner if t not in spilled and t not in refused
                     and m.spillable(t)]  # fmt: skip
            if not inner:
                break
            mid = len(inner) / 2
            pick = min(inner, key=lambda t: (m.nbytes(t), abs(inner.index(t) - mid)))
        if rounds >= MAX_SPILL_ROUNDS:
            break
        rounds += 1
        try:
            trial = FusionSearch(graph, spilled=spilled | {pick}, channel_split=channel_split)
        except FusionError:
            refused.add(pick)
            continue
        before = closest
        closest = None
        collect(trial, False, SPILL_ROUND_CAPS)  # a coarser look while choosing
        if closest is None and not found:  # no schedule at all with it spilled
            refused.add(pick)
            closest = before
            continue
        spilled, search = spilled | {pick}, trial
    if found and spilled:  # the spilled set is chosen: now every slot size
        collect(search, False)
    if not found:
        hint = f" (the smallest fused schedule found needs {format_size(least)}, {least} bytes)"
        why = "; spilling activations to flash did not get there either" if spill and rounds else ""
        raise BudgetError(
            f"an SRAM budget of {format_size(budget or 0)} cannot be met with fused activations "
            f"and paged weights{hint if least else ''}{why}",
            least if spill and rounds else no_spill_least,
        )
    if spilled:  # the least flash wear, then the fastest
        return _pick_spilling(found)
    fastest = min(sec for sec, _ in found)
    near = [p for sec, p in found if sec <= fastest * (1 + LATENCY_TOLERANCE)]
    best = min(near, key=lambda p: (p.flash_read_bytes_per_inference, p.sram_bytes))
    _estimate_all(best)
    return best


MAX_SPILL_ROUNDS = 24  # tensors the greedy spill search adds at most
SPILL_ROUND_CAPS = 6  # slot sizes per slot count tried while the spill search chooses


def _pick_spilling(found: list[tuple[float, Plan]]) -> Plan:
    def wear(p: Plan) -> float:
        return p.spill.bytes_programmed if p.spill is not None else 0.0

    least = min(wear(p) for _, p in found)
    low = [(sec, p) for sec, p in found if wear(p) <= least * (1 + 1e-9)]
    best = min(low, key=lambda sp: (sp[0], sp[1].flash_read_bytes_per_inference))[1]
    _estimate_all(best)
    return best


def _run_crypto(p: Plan) -> Crypto:
    """The crypto an inference does: with tags checked at boot, only decryption."""
    return Crypto("none", p.crypto.key_bits) if p.verify == "boot" else p.crypto


def _estimate(p: Plan, slots: int, use_engine: bool = True) -> Estimate:
    """The pipeline's estimate, plus what spilling adds (programs, erases, read-back, crypto:
    none of it overlaps compute)."""
    e = estimate(p.latency_steps(), p.flash, p.mcu, _run_crypto(p), slots=slots, dsp=p.dsp,
                 use_engine=use_engine)  # fmt: skip
    extra = p.spill_seconds()
    if not extra:
        return e
    return dataclasses.replace(e, seconds=e.seconds + extra, flash_seconds=e.flash_seconds + extra)


def _estimate_all(p: Plan) -> None:
    """The plan's own estimate, and its schedule with two slots (prefetch) and one (none)."""
    p.estimates = {
        "plan": _estimate(p, p.slots),
        "prefetch": _estimate(p, 2),
        "no_prefetch": _estimate(p, 1),
    }
    if p.mcu.aes_engine:
        p.estimates["software_aes"] = _estimate(p, 2, use_engine=False)
