"""An SRAM budget means the whole SRAM the runtime uses, for in-core fused plans too.

Out of core the planner counts activations + chunk slots + runtime state + stack against the
budget (:func:`ooc_sdk.plan.planner.plan`). An in-core firmware with a fused schedule holds the
fused arena (the working SRAM and the model outputs above it, ``FusionPlan.arena_bytes``), the
runtime state and the stack: that is the SRAM :func:`in_core_sram_bytes` counts and the QEMU
firmware links into. The fused search itself limits the *working* SRAM; :func:`plan_in_core`
takes either figure and turns a whole budget into the working limit it leaves.
"""

from __future__ import annotations

from typing import Any

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.lower.skip import NOT_FUSED
from ooc_sdk.model.approx import ApproxConfigError
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.graph import output_bytes
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.fusion.model import FusionError
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.schedule import RUNTIME_STATE_BYTES, STACK_BOUND_BYTES
from ooc_sdk.units import format_size

OVERHEAD_BYTES = RUNTIME_STATE_BYTES + STACK_BOUND_BYTES  # beside the arena, in every firmware


def in_core_sram_bytes(arena_bytes: int) -> int:
    """The whole SRAM an in-core firmware with this activation arena needs: the arena, the
    runtime state and the planned stack (``ooc plan`` counts an out-of-core budget the same
    way)."""
    return arena_bytes + OVERHEAD_BYTES


def plan_in_core(
    graph: Graph,
    *,
    fuse: bool = False,
    max_mac_overhead: float | None = None,
    sram: int | None = None,
    working_sram: int | None = None,
    channel_split: str = "auto",
) -> FusionPlan | None:
    """The fused in-core schedule these options ask for, or None (per layer) when neither
    ``fuse`` nor ``max_mac_overhead`` is given.

    ``sram`` is the whole SRAM budget (:func:`in_core_sram_bytes` of the plan stays within it),
    ``working_sram`` the fused schedule's working SRAM budget; give at most one. With either,
    the fewest MACs that fit (within ``max_mac_overhead`` x the model's, if given); with
    neither, the smallest working SRAM within ``max_mac_overhead`` (1.0 with ``fuse`` alone).
    A budget that cannot be met raises FusionError stating the smallest one possible, in the
    same terms as the budget given."""
    if sram is not None and working_sram is not None:
        raise InvalidArgumentError(
            "give `sram` (the whole SRAM) or `working_sram`, not both",
            param=("sram", "working_sram"),
        )
    if not fuse and max_mac_overhead is None:
        for name, value in (("sram", sram), ("working_sram", working_sram)):
            if value is not None:
                raise InvalidArgumentError(
                    f"`{name}` needs `fuse` (ooc build plans out-of-core budgets)",
                    param=(name, "fuse"),
                )
        return None
    if graph.approx is not None:
        raise ApproxConfigError(NOT_FUSED)
    if sram is None:
        return plan_fusion(
            graph, sram=working_sram, max_mac_overhead=max_mac_overhead, channel_split=channel_split
        )
    if sram <= 0:
        raise InvalidArgumentError("the SRAM budget must be positive")
    outputs = output_bytes(graph)
    try:
        fp = plan_fusion(
            graph,
            sram=max(1, sram - outputs - OVERHEAD_BYTES),
            max_mac_overhead=max_mac_overhead,
            channel_split=channel_split,
        )
    except FusionError as e:
        if e.minimum is None or e.layer is None:
            raise
        raise _whole_budget_error(graph, sram, outputs, e) from None
    if in_core_sram_bytes(fp.arena_bytes) > sram:  # output_bytes disagrees with the layout
        raise AssertionError(f"fused plan of {fp.arena_bytes} arena bytes exceeds {sram}")
    return fp


def _whole_budget_error(graph: Graph, sram: int, outputs: int, e: FusionError) -> FusionError:
    """``e`` (a working SRAM that cannot be met) restated for the whole budget ``sram``."""
    assert e.minimum is not None and e.layer is not None
    least = e.minimum + outputs + OVERHEAD_BYTES
    op = graph.operators[e.layer]
    return FusionError(
        f"an SRAM budget of {format_size(sram)} cannot be met: the smallest fused schedule needs "
        f"{format_size(least)} ({least} bytes: working SRAM {e.minimum:,} + outputs {outputs:,} "
        f"+ runtime state {RUNTIME_STATE_BYTES:,} + stack {STACK_BOUND_BYTES:,}), set by "
        f"operator {e.layer} ({op.op_type}, output {list(graph.tensors[op.outputs[0]].shape)})",
        least,
        e.layer,
        e.whole,
        e.inner,
    )


def in_core_json(fp: FusionPlan, sram: int | None = None) -> dict[str, Any]:
    """``fp.to_json()`` with the whole SRAM beside the working SRAM: ``sram_bytes`` (arena +
    ``state_bytes`` + ``stack_bytes``), ``sram_budget_bytes`` (the whole budget asked for, or
    None) and ``working_sram_budget_bytes`` (the working limit the search used, or None)."""
    j = fp.to_json()
    out: dict[str, Any] = {}
    for key, value in j.items():
        if key == "sram_budget_bytes":
            out["sram_budget_bytes"] = sram
            out["working_sram_budget_bytes"] = value
        elif key == "working_sram_bytes":
            out["sram_bytes"] = in_core_sram_bytes(fp.arena_bytes)
            out["working_sram_bytes"] = value
        else:
            out[key] = value
        if key == "arena_bytes":
            out["state_bytes"] = RUNTIME_STATE_BYTES
            out["stack_bytes"] = STACK_BOUND_BYTES
    return out
