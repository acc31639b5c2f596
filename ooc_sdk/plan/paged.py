"""The per-layer out-of-core search: each operator's whole input and output tensors in the
activation arena (the codegen's memory plan), its weights paged through one or two chunk slots.

An operator whose weights do not fit a slot is split along its output channels (partial
execution): each piece reads only its channels' filter and bias. Before a step computes, its
weights -- one chunk per constant input, back to back in flash -- are read into a chunk slot,
verified and decrypted; with two slots the next step's chunks are read while the current one
computes.

Search: for every candidate slot size (the sizes at which some operator changes how many pieces
it needs, plus powers of two) and one or two slots, split the operators, check the budget,
estimate the latency (ooc_sdk.plan.latency) and keep the fastest; within LATENCY_TOLERANCE of
it, the fewest flash bytes, then the smaller SRAM figure. A budget below the smallest feasible
plan is an error that states that minimum. The splitting here serves the fused search too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ooc_sdk.formats import image as fmt
from ooc_sdk.lower.memplan import plan_memory
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model.ir import Graph, Operator
from ooc_sdk.plan.latency import estimate
from ooc_sdk.plan.request import MAX_SLOTS, PlanRequest
from ooc_sdk.plan.schedule import (
    ENTRY_BYTES,
    RUNTIME_STATE_BYTES,
    STACK_BOUND_BYTES,
    BudgetError,
    Piece,
    Plan,
    PlanStep,
    align,
    estimate_all,
    run_crypto,
)
from ooc_sdk.units import format_size

LATENCY_TOLERANCE = 0.01  # plans this close to the fastest count as equally fast
SPLITTABLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


@dataclass
class OpShape:
    """How an operator's weights scale with the output channels it computes."""

    op: int
    kind: str
    channels: int  # output channels (1 for operators that cannot be split)
    granule: int  # channels per indivisible unit (the depth multiplier for depthwise)
    per_channel: list[tuple[int, int]]  # (tensor, bytes per channel) of each splittable constant
    whole: list[int]  # constant inputs read whole
    macs: int


def constant_inputs(graph: Graph, op: Operator) -> list[int]:
    """The constant tensors the kernel reads at run time, in input order: one chunk each (the
    runtime binds the step's chunks to the operator's paged inputs in this order)."""
    return [t for t in prepare_op(graph, op).inputs if t >= 0 and graph.tensors[t].is_constant]


def op_shape(graph: Graph, index: int) -> OpShape:
    """Operator ``index``'s weights: split along its output channels (filter and per-channel
    bias of a convolution or fully connected layer) or read whole."""
    op = graph.operators[index]
    consts = constant_inputs(graph, op)
    macs = op.macs
    if op.op_type in SPLITTABLE and len(op.inputs) >= 2 and graph.tensors[op.inputs[1]].is_constant:
        w = graph.tensors[op.inputs[1]]
        channels = w.shape[3] if op.op_type == "DEPTHWISE_CONV_2D" else w.shape[0]
        granule = op.options["depth_multiplier"] if op.op_type == "DEPTHWISE_CONV_2D" else 1
        at = 3 if op.op_type == "TRANSPOSE_CONV" else 2  # the bias's position
        per: list[tuple[int, int]] = []
        whole: list[int] = []
        for t in consts:
            tensor = graph.tensors[t]
            is_filter = t == op.inputs[1] and not any(x == t for x, _ in per)
            is_bias = (
                len(op.inputs) > at
                and t == op.inputs[at]
                and t != op.inputs[1]
                and tensor.size == channels
            )
            if is_filter or is_bias:
                per.append((t, tensor.nbytes // channels))
            else:
                whole.append(t)
        if not whole:
            return OpShape(index, op.op_type, channels, max(granule, 1), per, [], macs)
    return OpShape(index, op.op_type, 1, 1, [], consts, macs)


def piece_slot_bytes(shape: OpShape, graph: Graph, channels: int) -> int:
    """Slot bytes for a piece of ``channels`` output channels (or the whole operator)."""
    n = len(shape.per_channel) + len(shape.whole)
    if n == 0:
        return 0
    data = sum(align(b * channels) for _, b in shape.per_channel)
    data += sum(align(graph.tensors[t].nbytes) for t in shape.whole)
    return ENTRY_BYTES * n + data


def pieces_for(graph: Graph, shape: OpShape, slot_bytes: int) -> list[PlanStep] | None:
    """Split one operator to fit ``slot_bytes``; None if even one granule does not fit."""
    if not shape.per_channel and not shape.whole:
        return [PlanStep(shape.op, 0, 0, (), shape.macs)]
    if not shape.per_channel:
        if piece_slot_bytes(shape, graph, 1) > slot_bytes:
            return None
        pieces = tuple(Piece(t, fmt.CHUNK_WEIGHTS, 0, graph.tensors[t].nbytes) for t in shape.whole)
        return [PlanStep(shape.op, 0, 0, pieces, shape.macs)]
    g = shape.granule
    units = shape.channels // g
    # the most granules that fit, then balance the pieces
    lo, hi = 0, units
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if piece_slot_bytes(shape, graph, mid * g) <= slot_bytes:
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


def _schedule(graph: Graph, shapes: list[OpShape], slot_bytes: int) -> list[PlanStep] | None:
    """Every operator in turn, split to fit ``slot_bytes``; None if one cannot be, or the
    chunks overflow the table's 16-bit indices."""
    steps: list[PlanStep] = []
    chunk = 0
    for shape in shapes:
        pieces = pieces_for(graph, shape, slot_bytes)
        if pieces is None:
            return None
        for s in pieces:
            steps.append(PlanStep(s.op, s.c0, s.c1, s.pieces, s.macs, chunk))
            chunk += len(s.pieces)
    if chunk >= 1 << 16:
        return None
    return steps


def min_slot_bytes(graph: Graph, shapes: list[OpShape] | None = None) -> int:
    """The smallest slot every operator fits: its smallest piece (one granule of channels)."""
    shapes = shapes or [op_shape(graph, i) for i in range(len(graph.operators))]
    return max(
        (piece_slot_bytes(s, graph, s.granule if s.per_channel else 1) for s in shapes), default=0
    )


def slot_sizes(graph: Graph, shapes: list[OpShape], lo: int, hi: int) -> list[int]:
    """Slot sizes worth trying in [lo, hi]: where some operator's piece count changes (a few per
    operator, geometrically spaced), plus powers of two."""
    cands = {lo, hi}
    p = 1 << max(lo - 1, 1).bit_length()
    while p <= hi:
        cands.add(p)
        p *= 2
    for s in shapes:
        full = piece_slot_bytes(s, graph, s.channels if s.per_channel else 1)
        if lo <= full <= hi:
            cands.add(full)
        if s.per_channel:
            units = s.channels // s.granule
            k = 2
            while k <= units and k <= 64:
                need = piece_slot_bytes(s, graph, math.ceil(units / k) * s.granule)
                if lo <= need <= hi:
                    cands.add(need)
                k *= 2
    return sorted(cands)


def plan_paged(graph: Graph, request: PlanRequest) -> Plan:
    """The fastest per-layer plan within ``budget`` (None: no limit); BudgetError with the
    minimum when it cannot be met."""
    budget, flash, mcu, slots = request.budget, request.flash, request.mcu, request.slots
    activation = plan_memory(graph).arena_bytes
    shapes = [op_shape(graph, i) for i in range(len(graph.operators))]
    fixed = activation + RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    smallest_slot = min_slot_bytes(graph, shapes)
    minimum = fixed + smallest_slot
    if budget is not None and budget < minimum:
        raise BudgetError(
            f"an SRAM budget of {format_size(budget)} cannot be met: this model needs at least "
            f"{format_size(minimum)} ({minimum} bytes: {format_size(activation)} of activations, "
            f"{format_size(smallest_slot)} for the smallest chunk slot, "
            f"{format_size(RUNTIME_STATE_BYTES + STACK_BOUND_BYTES)} of runtime state and stack). "
            "Fused activations (`fuse`), which spill activations to flash when they must, may "
            "lower this",
            minimum,
            param="fuse",
        )
    largest = max(
        (piece_slot_bytes(s, graph, s.channels if s.per_channel else 1) for s in shapes),
        default=0,
    )
    found: list[tuple[float, Plan]] = []
    for n_slots in [slots] if slots else list(range(1, MAX_SLOTS + 1)):
        room = largest if budget is None else min(largest, (budget - fixed) // n_slots)
        if room < smallest_slot:
            continue
        for cand in slot_sizes(graph, shapes, smallest_slot, room):
            steps = _schedule(graph, shapes, cand)
            if steps is None:
                continue
            slot_bytes = max((s.slot_need for s in steps), default=0)
            p = Plan(graph, request, activation, n_slots, slot_bytes, steps)
            e = estimate(p.latency_steps(), flash, mcu, run_crypto(p), slots=n_slots,
                         dsp=request.dsp)  # fmt: skip
            found.append((e.seconds, p))
    if not found:
        n = slots or 1
        need = fixed + n * smallest_slot
        raise BudgetError(
            f"no schedule with {n} chunk slot{'s' if n > 1 else ''} fits "
            f"{format_size(budget or 0)}; that needs at least {format_size(need)} ({need} bytes)",
            need,
        )
    return pick_fastest(found)


def pick_fastest(found: list[tuple[float, Plan]]) -> Plan:
    """Within LATENCY_TOLERANCE of the fastest, the plan that reads the fewest bytes from flash
    (fewer, larger chunks: less tag overhead and energy), then uses the least SRAM; with its
    estimates."""
    fastest = min(sec for sec, _ in found)
    near = [p for sec, p in found if sec <= fastest * (1 + LATENCY_TOLERANCE)]
    best = min(near, key=lambda p: (p.flash_read_bytes_per_inference, p.sram_bytes))
    estimate_all(best)
    return best
