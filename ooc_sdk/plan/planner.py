"""The out-of-core planner's entry point: ``plan()`` checks a request and runs the per-layer search
(``paged.py``) or, with ``fuse``, the fused one (``fused.py``); the plan it returns is described
in ``schedule.py``.

A plan is a schedule of *steps*. A step runs one operator, or one piece of it, or a fused block;
before it computes, its weights are read from flash into a chunk slot, verified and decrypted.
The fastest plan that fits the SRAM budget wins; a budget below the smallest feasible plan is a
``BudgetError`` that states that minimum.
"""

from __future__ import annotations

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fused import plan_fused
from ooc_sdk.plan.latency import Crypto
from ooc_sdk.plan.paged import MAX_SLOTS, plan_paged
from ooc_sdk.plan.schedule import Plan
from ooc_sdk.targets import FlashProfile, McuProfile


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
    ``fuse`` the activations follow a fused schedule (ooc_sdk/plan/fusion) chosen together
    with the slots: see ooc_sdk/plan/fused.py; ``spill`` lets it spill activations to flash
    when nothing else meets the budget."""
    if verify not in ("every-read", "boot"):
        raise InvalidArgumentError("verify must be 'every-read' or 'boot'")
    if slots is not None and not 1 <= slots <= MAX_SLOTS:
        raise InvalidArgumentError(f"slots must be 1 .. {MAX_SLOTS}")
    crypto = crypto or Crypto()
    if fuse:
        return plan_fused(
            graph, budget, flash, mcu, crypto, verify, dsp, slots, spill, channel_split
        )
    return plan_paged(graph, budget, flash, mcu, crypto, verify, dsp, slots)
