"""Are the audits' runs bit-exact with tflite-micro? (the report's verdict; docs/audit.md, "Report")

The energy audit runs the build once on the emulated Cortex-M4 and the model once in-core there
(random inputs from its seed); the wear audit runs the build on the host NOR emulator, sample i
from seed + i. Each records its outputs as shape, dtype and sha256 (:func:`describe_outputs`)
with the seed that drew the inputs. :func:`check_exact` draws the same inputs again, runs
tflite-micro on them (the oracle, :mod:`ooc_sdk.run.golden`, cached by model and input digest)
and compares every run's outputs with the oracle's, byte for byte.

Without tflite-micro installed, or when it refuses the model, the check is not made and says why
and how to make it: it is never reported as passed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.errors import GoldenError, ToolError
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph

HOW = "install tflite-micro (pip install 'ooc-sdk[golden]') and run ooc report again"


def describe_outputs(outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """Shape, dtype and sha256 of each output of one inference (as ``ooc run --json``)."""
    return [
        {
            "shape": list(o.shape),
            "dtype": str(o.dtype),
            "sha256": hashlib.sha256(np.ascontiguousarray(o).tobytes()).hexdigest(),
        }
        for o in outputs
    ]


@dataclass(frozen=True)
class Run:
    """One audited inference: where it ran, the seed of its inputs, its outputs described."""

    label: str
    seed: int
    outputs: list[dict[str, Any]]


def audit_runs(energy: dict[str, Any], wear: dict[str, Any]) -> list[Run]:
    """The inferences the energy and wear audits ran, with their recorded outputs."""
    runs: list[Run] = []
    m4 = energy.get("run") or {}
    if m4.get("outputs") is not None:
        runs.append(Run("Cortex-M4 under QEMU, out of core", int(m4["seed"]), m4["outputs"]))
    if m4.get("in_sram_outputs") is not None:
        runs.append(Run("Cortex-M4 under QEMU, in SRAM", int(m4["seed"]), m4["in_sram_outputs"]))
    samples = wear.get("measured", {}).get("samples") or {}
    for seed, outs in zip(samples.get("seeds", []), samples.get("outputs", []), strict=True):
        runs.append(Run("host NOR emulator", int(seed), outs))
    return runs


def check_exact(
    graph: Graph, model: Path, runs: Sequence[Run], *, timeout: float = 600.0
) -> dict[str, Any]:
    """Compare ``runs`` with tflite-micro on the same inputs. ``checked`` is False (with
    ``reason`` and ``how``) when the oracle could not run; else ``mismatches`` lists the runs
    whose outputs differ (empty: bit-exact)."""
    from ooc_sdk.run.golden import run_tflm_many

    if not runs:
        return {"checked": False, "reason": "the audits recorded no outputs", "how": HOW}
    seeds = sorted({r.seed for r in runs})
    try:
        golden = run_tflm_many(model, [random_inputs(graph, s) for s in seeds], timeout=timeout)
    except ToolError as exc:
        return {"checked": False, "reason": str(exc), "how": HOW}
    except GoldenError as exc:
        return {
            "checked": False,
            "reason": f"tflite-micro could not run the model: {exc}",
            "how": "ooc golden MODEL runs the oracle alone and shows its error",
        }
    oracle = {s: describe_outputs(g.outputs) for s, g in zip(seeds, golden, strict=True)}
    mismatches = [f"{r.label}, seed {r.seed}" for r in runs if r.outputs != oracle[r.seed]]
    where = []  # per place, in the audits' order: how many runs and their seeds
    for label in dict.fromkeys(r.label for r in runs):
        seeds_of = [r.seed for r in runs if r.label == label]
        span = (
            f"seed {seeds_of[0]}"
            if len(seeds_of) == 1
            else f"{len(seeds_of)} runs, seeds {min(seeds_of)}-{max(seeds_of)}"
        )
        where.append(f"{label} ({span})")
    return {
        "checked": True,
        "runs": len(runs),
        "seeds": seeds,
        "where": where,
        "mismatches": mismatches,
        "source": "tflite-micro (ooc_sdk/run/golden.py) on the inputs drawn again from each "
        "run's seed; outputs compared by shape, dtype and sha256",
    }


def skipped(reason: str, how: str) -> dict[str, Any]:
    """The check not made, e.g. with ``ooc report --no-golden``."""
    return {"checked": False, "reason": reason, "how": how}
