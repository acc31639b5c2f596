"""What an out-of-core plan is: ``Plan`` (its steps, slots and activation arena), ``PlanStep`` and
``Piece`` (the weights a step reads: one image chunk each), the SRAM the runtime needs besides
them, the plan's JSON (plan.json, ``ooc plan --json``) and its latency estimates.

The SRAM figure a plan reports is everything the runtime needs:

    sram_bytes = activation arena + slots x slot_bytes + runtime and crypto state + stack bound

(+ the mounted spill ring's state when the plan spills). A slot holds a step's table entries (64
bytes per chunk, read to check the tags) followed by its ciphertexts, each starting on a 4-byte
boundary.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ooc_sdk.errors import OocError
from ooc_sdk.formats import image as fmt
from ooc_sdk.formats.tables import NODE_PEX, NODE_SPILL_IN
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.chunks import DEFAULT_SCRATCH_BYTES, Chunk
from ooc_sdk.plan.chunks import plan_id as pack_plan_id
from ooc_sdk.plan.costs import load_costs, step_instructions
from ooc_sdk.plan.fusion.layout import FusionPlan, spill_reads
from ooc_sdk.plan.latency import Crypto, Estimate, Step, estimate
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.spill import SpillForecast, forecast
from ooc_sdk.targets import FlashProfile, McuProfile

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


def align(n: int, a: int = DATA_ALIGN) -> int:
    """``n`` rounded up to a multiple of ``a`` (a chunk's start alignment by default)."""
    return -(-n // a) * a


class BudgetError(OocError):
    """The SRAM budget cannot be met; ``minimum`` is the smallest feasible budget (bytes)."""

    def __init__(
        self, message: str, minimum: int | None, *, param: str | tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, param=param)
        self.minimum = minimum


@dataclass(frozen=True)
class Piece:
    """The weights one step reads for one constant input: becomes one image chunk."""

    tensor: int
    kind: int  # fmt.CHUNK_WEIGHTS or fmt.CHUNK_DW_CHANNELS
    offset: int  # byte offset in the tensor (weights) or first channel (dw-channels)
    length: int


@dataclass(frozen=True)
class PlanStep:
    """One step of the schedule: an operator, a piece of one, or a fused block, and the weight
    pieces (chunks) it reads into a slot before it computes."""

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
        return ENTRY_BYTES * len(self.pieces) + sum(align(p.length) for p in self.pieces)

    @property
    def fetch_bytes(self) -> int:
        """Bytes read from flash for this step: table entries + ciphertexts (with the alignment
        gaps between them, read in the same command)."""
        if not self.pieces:
            return 0
        data = sum(align(p.length) for p in self.pieces[:-1]) + self.pieces[-1].length
        return ENTRY_BYTES * len(self.pieces) + data


@dataclass
class Plan:
    """An out-of-core plan: the activation arena (per layer, or a fused schedule), the chunk
    slots and the steps that fill them, the profiles it was planned for, and its estimates."""

    graph: Graph
    request: PlanRequest  # what it was planned for: budget, profiles, crypto, options
    activation_bytes: int
    slots: int
    slot_bytes: int
    steps: list[PlanStep]
    state_bytes: int = RUNTIME_STATE_BYTES
    stack_bytes: int = STACK_BOUND_BYTES
    estimates: dict[str, Estimate] = field(default_factory=dict)
    fusion: FusionPlan | None = None  # the activation schedule: fused blocks (None: per layer)
    # the smallest budget layer-by-layer execution needs, when the planner passed it over for
    # not fitting (planner.plan_any): why the plan fuses
    per_layer_minimum: int | None = None

    @property
    def budget(self) -> int | None:
        return self.request.budget

    @property
    def flash(self) -> FlashProfile:
        return self.request.flash

    @property
    def mcu(self) -> McuProfile:
        return self.request.mcu

    @property
    def crypto(self) -> Crypto:
        return self.request.crypto

    @property
    def verify(self) -> str:
        return self.request.verify

    @property
    def dsp(self) -> bool:
        return self.request.dsp

    @property
    def scratch_request(self) -> int | None:
        """The scratch partition's size the request asks for (None: the default)."""
        return self.request.scratch_bytes

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
        return forecast(self.flash.page_bytes, self.flash.sector_bytes, self.fusion.spill_lens)

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
        return sp.sectors_needed * self.flash.sector_bytes if sp is not None else 0

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
        if self.graph.approx is not None:  # tables for one configuration, an image of its weights
            h.update(f"|approx={self.graph.approx.config_sha256}".encode())
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
        table = load_costs(self.mcu.core)
        kernels = str(self.request.kernels)
        return [
            Step(s.macs, s.fetch_bytes * s.reads, READS_PER_STEP * s.reads if s.pieces else 0,
                 sync=s.repeats > 0, drain=s.repeats == 0 and s.block in draining,
                 kernel_instructions=step_instructions(
                     table, kernels, self.graph, range(s.op, s.op + s.n_ops), (s.c0, s.c1),
                     s.macs),
                 chunks=len(s.pieces), passes=s.reads)
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
        """The plan as plan.json records it: figures, latency estimates, the spill ring's
        traffic, the fused schedule's summary and every step (keys in this order)."""
        return {
            **self._json_figures(),
            **self._json_latency(),
            "spill": self._json_spill(),
            "fused": self._json_fused(),
            "techniques": self.techniques(),
            "schedule": self._json_schedule(),
        }

    def techniques(self) -> dict[str, Any]:
        """What the plan uses beyond paging each layer's weights whole, and why it fuses."""
        fp = self.fusion
        blocks = [b for b in fp.blocks if b.fused] if fp is not None else []
        return {
            "fused_blocks": len(blocks),
            "column_strips": max((b.strips for b in blocks), default=0),
            "channel_split_chains": sum(1 for b in blocks for nd in b.nodes if nd.mode == NODE_PEX),
            "restreamed_ops": sum(len(b.streamed) for b in blocks),
            # streamed operators making several rows per read of their pieces (row groups)
            "row_grouped_ops": sum(1 for b in blocks for nd in b.nodes if nd.rows_per_load > 1),
            "spilled_tensors": len(fp.spills) if fp is not None else 0,
            "split_ops": sum(1 for n in Counter(s.op for s in self.steps).values() if n > 1),
            "per_layer_minimum_bytes": self.per_layer_minimum,
        }

    def _json_figures(self) -> dict[str, Any]:
        """Sizes, flash traffic per inference, and what the plan was made for (an approximate
        build's plan says so: ``approx``, ooc_sdk/lower/skip.py)."""
        approx = {"approx": self.graph.approx.to_json()} if self.graph.approx is not None else {}
        return {
            "model": self.graph.name,
            "model_sha256": self.graph.sha256,
            **approx,
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
        }

    def _json_latency(self) -> dict[str, Any]:
        """The estimates: the plan's own, with two slots and with one, with software AES."""
        est = self.estimates
        main = est["plan"]
        out: dict[str, Any] = {
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
        return out

    def _json_spill(self) -> dict[str, Any] | None:
        """The spill ring's traffic and wear per inference (None: the plan spills nothing)."""
        sp = self.spill
        if sp is None or self.fusion is None:
            return None
        return {
            "tensors": [self.graph.tensors[t.tensor].name for t in self.fusion.spills],
            "records_per_inference": sp.records,
            # each record's payload, in write order: what ooc_spill_predict() takes
            "record_payload_bytes": list(self.fusion.spill_lens),
            "sector_bytes": self.flash.sector_bytes,
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
                self.scratch_bytes // self.flash.sector_bytes, self.flash.endurance_cycles
            ),
        }

    def _json_fused(self) -> dict[str, Any] | None:
        """A summary of the fused schedule (None: per-layer activations)."""
        fp = self.fusion
        if fp is None:
            return None
        return {
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

    def _json_schedule(self) -> list[dict[str, Any]]:
        """Every step: what it runs, the chunks it reads and how often."""
        draining = self._draining_blocks()
        return [
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


def run_crypto(p: Plan) -> Crypto:
    """The crypto an inference does: with tags checked at boot, only decryption."""
    return Crypto("none", p.crypto.key_bits) if p.verify == "boot" else p.crypto


def estimate_plan(p: Plan, slots: int, use_engine: bool = True) -> Estimate:
    """The pipeline's estimate, plus what spilling adds (programs, erases, read-back, crypto:
    none of it overlaps compute)."""
    e = estimate(p.latency_steps(), p.flash, p.mcu, run_crypto(p), slots=slots, dsp=p.dsp,
                 use_engine=use_engine)  # fmt: skip
    extra = p.spill_seconds()
    if not extra:
        return e
    return dataclasses.replace(e, seconds=e.seconds + extra, flash_seconds=e.flash_seconds + extra)


def estimate_all(p: Plan) -> None:
    """The plan's own estimate, and its schedule with two slots (prefetch) and one (none)."""
    p.estimates = {
        "plan": estimate_plan(p, p.slots),
        "prefetch": estimate_plan(p, 2),
        "no_prefetch": estimate_plan(p, 1),
    }
    if p.mcu.aes_engine:
        p.estimates["software_aes"] = estimate_plan(p, 2, use_engine=False)
