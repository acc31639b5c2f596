"""The out-of-core planner's entry point: ``plan()`` checks a request and runs the per-layer search
(``paged.py``) or, with ``fuse``, the fused one (``fused.py``); the plan it returns is described
in ``schedule.py``.

A plan is a schedule of *steps*. A step runs one operator, or one piece of it, or a fused block;
before it computes, its weights are read from flash into a chunk slot, verified and decrypted.
The fastest plan that fits the SRAM budget wins; a budget below the smallest feasible plan is a
``BudgetError`` that states that minimum.
"""

from __future__ import annotations

import dataclasses

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.lower.skip import NOT_FUSED
from ooc_sdk.model.approx import ApproxConfigError
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fused import plan_fused
from ooc_sdk.plan.paged import plan_paged
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError, Plan
from ooc_sdk.units import format_size


def plan_any(graph: Graph, request: PlanRequest, auto_fuse: bool = True) -> Plan:
    """The fastest plan within the budget whichever way the activations run: per layer when
    that fits (it recomputes nothing, so it is the fastest), else fused (``request.fuse``
    forced), which may spill. With ``request.fuse`` already set, or ``auto_fuse`` off, it is
    :func:`plan`. The BudgetError, when neither fits, is the fused planner's: its minimum is
    the lower one."""
    if request.fuse or not auto_fuse or graph.approx is not None:
        return plan(graph, request)
    try:
        return plan(graph, request)
    except BudgetError as per_layer:
        p = plan(graph, dataclasses.replace(request, fuse=True))
        p.per_layer_minimum = per_layer.minimum
        return p


def plan(graph: Graph, request: PlanRequest) -> Plan:
    """The fastest plan of ``graph`` for ``request``: within its SRAM budget (None: no limit,
    the fastest plan with every weight paged). Raises BudgetError with the minimum when the
    budget cannot be met. With ``request.fuse`` the activations follow a fused schedule
    (ooc_sdk/plan/fusion) chosen together with the slots (ooc_sdk/plan/fused.py), spilling
    activations to flash when nothing else fits and ``request.spill`` allows. A scratch
    partition the request sizes must hold one inference's spills."""
    if request.fuse and graph.approx is not None:
        raise ApproxConfigError(NOT_FUSED)
    p = plan_fused(graph, request) if request.fuse else plan_paged(graph, request)
    scratch = request.scratch_bytes
    if scratch is not None:
        sector = request.flash.sector_bytes
        if scratch % sector:
            raise InvalidArgumentError(
                f"`scratch_bytes` {scratch:,} bytes is not a multiple of the "
                f"{format_size(sector)} erase sector",
                param="scratch_bytes",
            )
        if scratch < p.scratch_minimum:
            raise InvalidArgumentError(
                f"`scratch_bytes` {scratch:,} bytes is too small: one inference's spills span "
                f"{p.scratch_minimum // sector} sectors, so the minimum is "
                f"{p.scratch_minimum:,} bytes",
                param="scratch_bytes",
            )
    return p
