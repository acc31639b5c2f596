"""The cost of an approximate model: Cortex-M4 instructions and flash bytes read out of core.

Instructions come from a linear model calibrated on the emulated Cortex-M4 (``ooc run --target
qemu-m4``, DSP kernels, in-core): per skippable layer kind (1x1 convolution, other
convolution, depthwise, fully connected) ``per_mac * kept MACs + per_output * outputs +
per_call``; every other operator ``per_element * (input + output elements)`` of its type. The
coefficients live in ``m4_cost.json`` beside this module with their source (the models, the
runtime and the date of the measured runs); :func:`calibrate` remakes them
(``python -m ooc_sdk.approx.cost MODEL...``). A skipped group saves its weights' MACs at the
layer's per-MAC rate; the per-output work (requantization, stores) stays.

Flash bytes are the model's constant bytes read once per inference out of core less the
skipped weights, which an approximate image does not store.

:func:`estimate` is the one entry point the search uses, so measured costs of approximate
builds (QEMU runs of the skipping kernels) can replace the model in one place.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model import approx
from ooc_sdk.model.ir import Graph, Operator

COEFFICIENTS = Path(__file__).with_name("m4_cost.json")
KINDS = ("CONV_2D_1x1", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class Cost:
    instructions: int
    flash_read_bytes: int


def layer_kind(graph: Graph, op: Operator) -> str:
    """The cost model's class of a skippable operator, or its own type for the others."""
    if op.op_type == "CONV_2D" and len(op.inputs) > 1 and op.inputs[1] >= 0:
        shape = graph.tensor(op.inputs[1]).shape
        if len(shape) == 4 and shape[1] == shape[2] == 1:
            return "CONV_2D_1x1"
    return op.op_type


def _elements(graph: Graph, op: Operator) -> int:
    ts = [t for t in (*op.inputs, *op.outputs) if t >= 0 and not graph.tensor(t).is_constant]
    return sum(graph.tensor(t).size for t in ts)


def _outputs(graph: Graph, op: Operator) -> int:
    return sum(graph.tensor(t).size for t in op.outputs if t >= 0)


@cache
def coefficients() -> dict[str, Any]:
    """The stored coefficients and their source (``m4_cost.json``)."""
    return json.loads(COEFFICIENTS.read_text())


def op_instructions(graph: Graph, op: Operator, kept: float = 1.0) -> float:
    """Modelled instructions of one operator with a fraction ``kept`` of its MACs."""
    c = coefficients()
    kind = layer_kind(graph, op)
    if kind in KINDS:
        k = c["layers"][kind]
        return k["per_mac"] * op.macs * kept + k["per_output"] * _outputs(graph, op) + k["per_call"]
    per = c["other"].get(kind, c["other_default"])
    return per * _elements(graph, op)


def skipped_weights(config: approx.ApproxConfig) -> dict[int, int]:
    """Skipped weights per filter tensor."""
    out = {}
    for s in config.layers:
        out[s.tensor] = int(approx.group_mask(s.op, s.shape, s.group, s.skip).sum())
    return out


def estimate(graph: Graph, config: approx.ApproxConfig | None = None) -> Cost:
    """The modelled cost of ``graph`` run with ``config`` (exact when None)."""
    skipped = skipped_weights(config) if config is not None else {}
    total = 0.0
    for op in graph.operators:
        kept = 1.0
        if op.op_type in approx.SKIPPABLE and len(op.inputs) > 1 and op.inputs[1] in skipped:
            kept = 1.0 - skipped[op.inputs[1]] / graph.tensor(op.inputs[1]).size
        total += op_instructions(graph, op, kept)
    flash = graph.weight_bytes - sum(skipped.values())
    return Cost(round(total), int(flash))


def _fit(rows: list[tuple[float, float, float]], ys: list[float]) -> dict[str, float]:
    """Least squares of instructions on (MACs, outputs, 1), dropping negative terms."""
    a = np.array(rows, dtype=np.float64)
    y = np.array(ys, dtype=np.float64)
    names = ["per_mac", "per_output", "per_call"]
    active = [0, 1, 2]
    while True:
        sol, *_ = np.linalg.lstsq(a[:, active], y, rcond=None)
        if (sol >= 0).all() or len(active) == 1:
            break
        active.pop(int(np.argmin(sol)))
    out = dict.fromkeys(names, 0.0)
    for i, v in zip(active, sol, strict=True):
        out[names[i]] = round(float(max(v, 0.0)), 4)
    return out


def calibrate(models: list[Path]) -> dict[str, Any]:
    """Fit the coefficients from in-core DSP runs of ``models`` on the emulated Cortex-M4."""
    from ooc_sdk.codegen.runtime import versions
    from ooc_sdk.model import load_model
    from ooc_sdk.run.golden import random_inputs
    from ooc_sdk.run.qemu import TARGET, run_model_m4

    rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
    ys: dict[str, list[float]] = {k: [] for k in KINDS}
    other: dict[str, list[tuple[int, int]]] = {}
    for path in models:
        graph = load_model(path)
        rep = run_model_m4(graph, [random_inputs(graph, 0)]).report
        for layer in rep["layers"]:
            op = graph.operators[layer["index"]]
            kind = layer_kind(graph, op)
            if kind in KINDS:
                rows[kind].append((op.macs, _outputs(graph, op), 1.0))
                ys[kind].append(layer["instructions"])
            else:
                other.setdefault(kind, []).append((layer["instructions"], _elements(graph, op)))
    missing = [k for k in KINDS if not rows[k]]
    if missing:
        raise InvalidArgumentError(f"the calibration models have no {', '.join(missing)} layer")
    per_other = {k: round(sum(i for i, _ in v) / max(1, sum(e for _, e in v)), 4)
                 for k, v in sorted(other.items())}  # fmt: skip
    return {
        "source": {
            "target": TARGET,
            "kernels": "dsp",
            "mode": "in-core, per-layer schedule, one random input",
            "models": sorted(p.name for p in models),
            "runtime": versions()["runtime"],
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "how": "python -m ooc_sdk.approx.cost MODEL...",
        },
        "layers": {k: _fit(rows[k], ys[k]) for k in KINDS},
        "other": per_other,
        "other_default": round(float(np.median(list(per_other.values()))), 4)
        if per_other
        else 10.0,
    }


def main(argv: list[str]) -> int:
    doc = calibrate([Path(a) for a in argv])
    COEFFICIENTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
