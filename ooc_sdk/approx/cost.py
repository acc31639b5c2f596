"""The cost of an approximate model: Cortex-M4 instructions and flash bytes read out of core.

Instructions come from a linear model calibrated on the emulated Cortex-M4 (``ooc run --target
qemu-m4``, DSP kernels, in-core): per skippable layer kind (1x1 convolution, convolution with fewer than four input
channels, with windows over 512 bytes widened, other convolution, depthwise, fully connected) ``per_mac * kept MACs + per_output * outputs +
per_call``; every other operator ``per_element * (input + output elements)`` of its type. The
coefficients live in ``m4_cost.json`` beside this module with their source (the models, the
runtime and the date of the measured runs); :func:`calibrate` remakes them
(``python -m ooc_sdk.approx.cost MODEL...``). A layer that skips runs the skipping kernel
(c_runtime/src/kernels/skip.c), whose rates differ from the exact kernel's: its own
coefficients (``skip_layers``: per kept MAC, per output, per call) are fitted on measured runs
of the same models with an even share of every layer's groups skipped (``SKIP_FRACTIONS``), so
a skip the kernel makes slower than exact (thin depthwise layers, say) shows as a loss, which
the search then avoids.

Flash bytes are the model's constant bytes read once per inference out of core, each skipping
layer's filter replaced by its compacted one as ooc_sdk/lower/skip.py stores it: a row per output
channel (depthwise: per channel group) padded to the most groups any row keeps, whole words per
group, so uneven rows store (and read) their padding.

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
KINDS = (
    "CONV_2D_1x1", "CONV_2D", "CONV_2D_narrow", "CONV_2D_wide", "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
)  # fmt: skip
SKIP_FRACTIONS = (0.25, 0.5, 0.75)  # the even configurations the skipping kernels' rates come from


@dataclass(frozen=True)
class Cost:
    instructions: int
    flash_read_bytes: int


def layer_kind(graph: Graph, op: Operator) -> str:
    """The cost model's class of a skippable operator, or its own type for the others."""
    if op.op_type == "CONV_2D" and len(op.inputs) > 1 and op.inputs[1] >= 0:
        shape = graph.tensor(op.inputs[1]).shape
        if graph.approx is not None and op.index in graph.approx.layouts:
            shape = graph.approx.layouts[op.index].skip.shape  # the exact filter's
        if len(shape) == 4 and shape[1] == shape[2] == 1:
            return "CONV_2D_1x1"
        if len(shape) == 4 and shape[3] < 4:  # a first layer: the skipping kernel's slow path
            return "CONV_2D_narrow"
        if len(shape) == 4 and shape[1] * shape[2] * -(-shape[3] // 4) * 2 > 256:
            return "CONV_2D_wide"  # windows the skipping kernel takes one pixel at a time
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
    """Modelled instructions of one operator with a fraction ``kept`` of its MACs: the exact
    kernel's when it keeps them all, else the skipping kernel's."""
    c = coefficients()
    kind = layer_kind(graph, op)
    if kind in KINDS:
        k = c["layers"][kind] if kept >= 1.0 else c.get("skip_layers", c["layers"])[kind]
        return k["per_mac"] * op.macs * kept + k["per_output"] * _outputs(graph, op) + k["per_call"]
    per = c["other"].get(kind, c["other_default"])
    return per * _elements(graph, op)


def skipped_weights(config: approx.ApproxConfig) -> dict[int, int]:
    """Skipped weights per filter tensor."""
    out = {}
    for s in config.layers:
        out[s.tensor] = int(approx.group_mask(s.op, s.shape, s.group, s.skip).sum())
    return out


def stored_bytes(s: approx.LayerSkip) -> int:
    """Bytes of the compacted filter of one skipping layer (lower/skip.py's layout, padding
    included)."""
    rows, taps, channels = approx.geometry(s.op, s.shape)
    per_tap = -(-channels // s.group)
    flags = np.zeros(rows * taps * per_tap, dtype=bool)
    flags[list(s.skip)] = True
    if s.op == "DEPTHWISE_CONV_2D":  # a row per channel group: its kept taps, every channel
        slots = int((~flags.reshape(taps, per_tap)).sum(axis=0).max(initial=0))
        return max(slots, 1) * channels
    slots = max(int((~flags.reshape(rows, taps * per_tap)).sum(axis=1).max(initial=0)), 1)
    width = channels if channels < 4 and channels <= s.group else 4 * -(-s.group // 4)
    return rows * slots * width


def estimate(graph: Graph, config: approx.ApproxConfig | None = None) -> Cost:
    """The modelled cost of ``graph`` run with ``config`` (exact when None)."""
    skipped = skipped_weights(config) if config is not None else {}
    total = 0.0
    for op in graph.operators:
        kept = 1.0
        if op.op_type in approx.SKIPPABLE and len(op.inputs) > 1 and op.inputs[1] in skipped:
            kept = 1.0 - skipped[op.inputs[1]] / graph.tensor(op.inputs[1]).size
        total += op_instructions(graph, op, kept)
    flash = graph.weight_bytes
    for s in config.layers if config is not None else ():
        if s.skip:  # a layer listed with nothing skipped keeps its exact filter
            flash -= graph.tensor(s.tensor).nbytes - stored_bytes(s)
    return Cost(round(total), int(flash))


def _fit(rows: list[tuple[float, float, float]], ys: list[float]) -> dict[str, float]:
    """Least squares of instructions on (MACs, outputs, 1), dropping negative terms, each layer
    weighted by its inverse (relative errors: the small layers of small models count as much as
    the large ones)."""
    y = np.maximum(np.array(ys, dtype=np.float64), 1.0)
    a = np.array(rows, dtype=np.float64) / y[:, None]
    y = np.ones_like(y)
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


def _layer_rows(
    graph: Graph, report: dict[str, Any], rows: dict[str, list[tuple[float, float, float]]],
    ys: dict[str, list[float]], other: dict[str, list[tuple[int, int]]] | None,
    only: set[int] | None = None,
) -> None:  # fmt: skip
    """Add a run's skippable layers (those in ``only`` when given) to ``rows``/``ys`` by kind,
    its other operators to ``other`` (when given)."""
    for layer in report["layers"]:
        op = graph.operators[layer["index"]]
        kind = layer_kind(graph, op)
        if kind in KINDS:
            if only is None or op.index in only:
                rows[kind].append((op.macs, _outputs(graph, op), 1.0))
                ys[kind].append(layer["instructions"])
        elif other is not None:
            other.setdefault(kind, []).append((layer["instructions"], _elements(graph, op)))


def calibrate(models: list[Path]) -> dict[str, Any]:
    """Fit the coefficients from in-core DSP runs of ``models`` on the emulated Cortex-M4: the
    exact models, and each with ``SKIP_FRACTIONS`` of every layer's groups skipped."""
    from ooc_sdk.codegen.runtime import versions
    from ooc_sdk.lower.skip import approximate, even_config
    from ooc_sdk.model import load_model
    from ooc_sdk.run.golden import random_inputs
    from ooc_sdk.run.qemu import TARGET, run_model_m4

    rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
    ys: dict[str, list[float]] = {k: [] for k in KINDS}
    srows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
    sys_: dict[str, list[float]] = {k: [] for k in KINDS}
    other: dict[str, list[tuple[int, int]]] = {}
    for path in models:
        graph = load_model(path)
        sample = [random_inputs(graph, 0)]
        _layer_rows(graph, run_model_m4(graph, sample).report, rows, ys, other)
        for fraction in SKIP_FRACTIONS:
            agraph = approximate(graph, even_config(graph, fraction))
            assert agraph.approx is not None
            rep = run_model_m4(agraph, sample).report
            _layer_rows(agraph, rep, srows, sys_, None, set(agraph.approx.layouts))
    missing = [k for k in KINDS if not rows[k] or not srows[k]]
    if missing:
        raise InvalidArgumentError(f"the calibration models have no {', '.join(missing)} layer")
    per_other = {k: round(sum(i for i, _ in v) / max(1, sum(e for _, e in v)), 4)
                 for k, v in sorted(other.items())}  # fmt: skip
    return {
        "source": {
            "target": TARGET,
            "kernels": "dsp",
            "mode": "in-core, per-layer schedule, one random input; skip_layers: the models "
            f"with {', '.join(f'{f:g}' for f in SKIP_FRACTIONS)} of every layer's groups "
            "skipped (lower.skip.even_config), per kept MAC",
            "models": sorted(p.name for p in models),
            "runtime": versions()["runtime"],
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "how": "python -m ooc_sdk.approx.cost MODEL...",
        },
        "layers": {k: _fit(rows[k], ys[k]) for k in KINDS},
        "skip_layers": {k: _fit(srows[k], sys_[k]) for k in KINDS},
        "other": per_other,
        "other_default": round(float(np.median(list(per_other.values()))), 4)
        if per_other
        else 10.0,
    }


def main(argv: list[str]) -> int:
    """Refit the coefficients from MODEL... on QEMU and write them (maintainers: after a
    kernel change). Bad arguments: one line, exit 2."""
    import argparse

    from ooc_sdk.errors import OocError

    ap = argparse.ArgumentParser(
        prog="python -m ooc_sdk.approx.cost",
        description="Refit the approximate-inference M4 cost model (m4_cost.json) on QEMU from "
        "int8 models with conv, depthwise and fully-connected layers (docs/DESIGN.md).",
    )
    ap.add_argument("models", nargs="+", metavar="MODEL", help="a .tflite model")
    args = ap.parse_args(argv)
    try:
        doc = calibrate([Path(a) for a in args.models])
    except OocError as e:
        print(f"ooc: error: {e}", file=sys.stderr)
        return 2
    COEFFICIENTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
