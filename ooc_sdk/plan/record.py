"""A plan's exact record: everything the generated tables follow from, as JSON, and back.

``plan.json`` holds the plan's summary (:meth:`Plan.to_json`), its request and this record
(key ``record``), so a build directory reads back as the :class:`Plan` it was built from
without planning again. The record is checked on the way in: a plan rebuilt from it must have
the ``plan_id`` stored beside it (the id the image and the C tables carry), so a damaged or
edited record is refused instead of describing another schedule than the build's.
"""

from __future__ import annotations

from typing import Any

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.fusion.model import Block, Node, SpillTensor
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import Piece, Plan, PlanStep, estimate_all

RECORD_VERSION = 1

_NODE_TUPLES = ("src",)
_NODE_PAIRS = ("deps", "cols_dep")


def _node(d: dict[str, Any]) -> Node:
    kw = dict(d)
    for k in _NODE_TUPLES:
        kw[k] = tuple(kw[k])
    for k in _NODE_PAIRS:
        kw[k] = tuple(tuple(x) for x in kw[k])
    return Node(**kw)


def _block(d: dict[str, Any]) -> Block:
    kw = dict(d)
    kw["nodes"] = [_node(n) for n in d["nodes"]]
    kw["cols"] = [[tuple(c) for c in strip] for strip in d["cols"]]
    kw["streamed"] = tuple(d["streamed"])
    return Block(**kw)


def _fusion_record(fp: FusionPlan) -> dict[str, Any]:
    return {
        "blocks": [
            {
                **{k: v for k, v in vars(b).items() if k != "nodes"},
                "nodes": [dict(vars(nd)) for nd in b.nodes],
            }
            for b in fp.blocks
        ],
        "objective": fp.objective,
        "max_mac_overhead": fp.max_mac_overhead,
        "sram_budget": fp.sram_budget,
        "streamed_inputs": list(fp.streamed_inputs),
        "offsets": [[t, off] for t, off in sorted(fp.offsets.items())],
        "arena_bytes": fp.arena_bytes,
        "working_sram_bytes": fp.working_sram_bytes,
        "per_layer_bytes": fp.per_layer_bytes,
        "per_layer_arena_bytes": fp.per_layer_arena_bytes,
        "spills": [dict(vars(sp)) for sp in fp.spills],
        "spill_lens": list(fp.spill_lens),
    }


def _fusion(graph: Graph, d: dict[str, Any]) -> FusionPlan:
    spills = []
    for s in d["spills"]:
        spills.append(SpillTensor(**{**s, "parts": [tuple(p) for p in s["parts"]]}))
    return FusionPlan(
        graph,
        [_block(b) for b in d["blocks"]],
        d["objective"],
        d["max_mac_overhead"],
        d["sram_budget"],
        list(d["streamed_inputs"]),
        {int(t): int(off) for t, off in d["offsets"]},
        d["arena_bytes"],
        d["working_sram_bytes"],
        d["per_layer_bytes"],
        d["per_layer_arena_bytes"],
        0.0,
        spills,
        list(d["spill_lens"]),
    )


def plan_record(p: Plan) -> dict[str, Any]:
    """The exact record of ``p`` (plan.json's ``record``)."""
    return {
        "version": RECORD_VERSION,
        "activation_bytes": p.activation_bytes,
        "slots": p.slots,
        "slot_bytes": p.slot_bytes,
        "state_bytes": p.state_bytes,
        "stack_bytes": p.stack_bytes,
        "steps": [
            [
                s.op,
                s.c0,
                s.c1,
                s.macs,
                s.first_chunk,
                s.block,
                s.n_ops,
                s.repeats,
                [[pc.tensor, pc.kind, pc.offset, pc.length] for pc in s.pieces],
            ]
            for s in p.steps
        ],
        "fusion": _fusion_record(p.fusion) if p.fusion is not None else None,
    }


def plan_from_json(data: Any, graph: Graph) -> Plan:
    """The :class:`Plan` a plan.json describes, for ``graph`` (the build's model). Raises
    InvalidArgumentError when the file lacks the request or record, either is malformed, or
    the rebuilt plan's id is not the stored ``plan_id``."""
    if not isinstance(data, dict) or "record" not in data or "request" not in data:
        raise InvalidArgumentError(
            "it holds no plan record (made by an older ooc, or not by ooc): build again"
        )
    request = PlanRequest.from_json(data["request"])
    rec = data["record"]
    try:
        if rec["version"] != RECORD_VERSION:
            raise InvalidArgumentError(f"plan record version {rec['version']} is not supported")
        steps = [
            PlanStep(op, c0, c1, tuple(Piece(*pc) for pc in pieces), macs, first, block, n_ops,
                     repeats)
            for op, c0, c1, macs, first, block, n_ops, repeats, pieces in rec["steps"]
        ]  # fmt: skip
        fusion = _fusion(graph, rec["fusion"]) if rec["fusion"] is not None else None
        p = Plan(graph, request, rec["activation_bytes"], rec["slots"], rec["slot_bytes"], steps,
                 rec["state_bytes"], rec["stack_bytes"], fusion=fusion)  # fmt: skip
        pid = p.plan_id.hex()
    except InvalidArgumentError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InvalidArgumentError(f"its plan record is malformed ({exc})") from None
    if pid != data.get("plan_id"):
        raise InvalidArgumentError(
            "its plan record does not match its plan_id (the file was edited or damaged)"
        )
    estimate_all(p)
    return p
