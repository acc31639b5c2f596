"""What an approximate build costs on the Cortex-M4 (for the design-space exploration, `ooc
approx`): M4 instructions per inference in core, and, out of core, flash bytes read and the
instructions including paging and crypto, each measured under QEMU (ooc_sdk/run/qemu.py) on
the firmware the build would ship.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.fileio import MAX_MODEL_BYTES, read_bytes
from ooc_sdk.image.keys import generate
from ooc_sdk.lower.skip import approximate
from ooc_sdk.model import load_model
from ooc_sdk.model.approx import ApproxConfig
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.run.qemu import DEFAULT_TIMEOUT_S, run_build_m4, run_model_m4


@dataclass
class ApproxCost:
    """One model + configuration on the emulated Cortex-M4 (one inference)."""

    instructions: int  # in core: every weight in memory-mapped flash
    layers: list[dict[str, Any]]  # in core, per operator: op, instructions (qemu.py's timeline)
    skipped_mac_fraction: float  # of the exact model's MACs (0 for the exact model)
    outputs: list[np.ndarray]
    # out of core (None unless asked): the build's instructions (paging, tags and decryption
    # included), those of crypto alone, and the flash bytes read
    ooc_instructions: int | None = None
    crypto_instructions: int | None = None
    flash_read_bytes: int | None = None
    report: dict[str, Any] = field(default_factory=dict, repr=False)  # the out-of-core run's


def measure_m4(
    model: Path,
    config: ApproxConfig | None,
    *,
    inputs: list[np.ndarray] | None = None,
    kernels: str = "dsp",
    in_core: bool = True,
    out_of_core: bool = False,
    sram: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> ApproxCost:
    """Measure ``model`` with ``config`` (None: the exact model) on the emulated Cortex-M4 with
    ``kernels`` ("dsp" or "ref") on ``inputs`` (one array per model input; default random).
    ``in_core``: instructions with every weight in memory-mapped flash. ``out_of_core``: an
    ``ooc build`` for the ``sram`` budget (None: no limit) run from the emulated flash: flash
    bytes read and instructions with paging and crypto. Raises ApproxConfigError (an OocError)
    for a configuration of another model."""
    graph = load_model(model)
    exact_macs = graph.macs
    if config is not None:
        graph = approximate(graph, config)
    sample = inputs if inputs is not None else random_inputs(graph, 0)
    cost = ApproxCost(0, [], (exact_macs - graph.macs) / max(exact_macs, 1), [])
    if in_core:
        m4 = run_model_m4(graph, [sample], kernels=kernels, timeout=timeout)
        cost.instructions = int(m4.report["instructions"])
        cost.layers = list(m4.report.get("layers", []))
        cost.outputs = m4.outputs[0]
    if out_of_core:
        from ooc_sdk.build import BuildRequest, build
        from ooc_sdk.plan.request import PlanRequest
        from ooc_sdk.targets import load_flash, load_mcu

        device = generate(bytes(16), 32)
        data = read_bytes(model, "model", MAX_MODEL_BYTES)
        with tempfile.TemporaryDirectory(prefix="ooc-approx-") as tmp:
            out = Path(tmp) / "build"
            request = PlanRequest(
                sram, load_flash("w25q128jv"), load_mcu("cortex-m4"), kernels=kernels
            )
            build(graph, data, out, device, BuildRequest(request))
            m4 = run_build_m4(out, graph, device, [sample], kernels=kernels, timeout=timeout)
        cost.ooc_instructions = int(m4.report["instructions"])
        cost.crypto_instructions = int(m4.report["crypto_instructions"])
        cost.flash_read_bytes = int(m4.report["flash_read_bytes"])
        cost.report = dict(m4.report)
        if not in_core:
            cost.outputs = m4.outputs[0]
    return cost
