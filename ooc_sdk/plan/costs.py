"""Measured instruction costs of the runtime on a core: its kernels, the pager and the crypto's
per-chunk work, as linear coefficients (``ooc_sdk/targets/costs/<core>.json``, each with its
source). The latency model (latency.py) turns a step into instructions with them and into
cycles with the MCU profile's ``cycles_per_instruction``; a core without a table falls back to
the profile's cycles per MAC.

A kernel's instructions are ``per_mac * MACs + per_output * output elements + per_input *
input elements + per_edge * output channels * (rows + columns) + per_call``, one row per operator
class (the edge term is the border pixels' extra work, which weighs on small maps) (``op_class``):
the pointwise and the other convolutions, 3x3 and other depthwise (the DSP kernel unrolls 3x3
windows), fully connected, and the MAC-free operators. The coefficients are
fitted once over every layer of the shared models (benchmarks/bench_latency.py --calibrate),
never per model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ooc_sdk.model.ir import Graph, Operator

_COSTS = Path(__file__).resolve().parent.parent / "targets" / "costs"

# Operator classes with their own kernel coefficients besides the MAC-free operators, which
# are classed by type (``add``, ``pad``, ...); a class the table lacks costs as "other".
CLASSES = ("conv_1x1", "conv", "depthwise_3x3", "depthwise", "fully_connected", "other")


def op_class(graph: Graph, op: Operator) -> str:
    """The kernel class of ``op``: one of CLASSES, or a MAC-free operator's type in lower
    case."""
    if op.op_type == "CONV_2D":
        w = graph.tensors[op.inputs[1]].shape
        return "conv_1x1" if len(w) == 4 and w[1] == w[2] == 1 else "conv"
    if op.op_type == "DEPTHWISE_CONV_2D":  # 3x3 windows take the DSP kernel's unrolled paths
        w = graph.tensors[op.inputs[1]].shape
        return "depthwise_3x3" if len(w) == 4 and w[1] == w[2] == 3 else "depthwise"
    if op.op_type == "FULLY_CONNECTED":
        return "fully_connected"
    return op.op_type.lower()


def op_elements(graph: Graph, op: Operator) -> tuple[int, int, int]:
    """Output and (non-constant) input elements of ``op``, and its output channels times the
    output map's rows + columns (0 for a vector)."""
    outs = sum(graph.tensors[t].size for t in op.outputs if t >= 0)
    ins = sum(graph.tensors[t].size for t in op.inputs
              if t >= 0 and not graph.tensors[t].is_constant)  # fmt: skip
    shape = graph.tensors[op.outputs[0]].shape if op.outputs else ()
    edge = shape[-1] * (shape[1] + shape[2]) if len(shape) == 4 else 0
    return outs, ins, edge


@dataclass(frozen=True)
class CostTable:
    """One core's coefficients, in instructions."""

    core: str
    # kernels -> class -> (per_mac, per_output, per_input, per_edge, per_call)
    kernels: dict[str, dict[str, tuple[float, ...]]]
    pager_per_step: float  # the runtime's work per paged step (entries, checks, slot turns)
    pager_per_chunk: float  # and per chunk
    crypto_per_chunk: float  # crypto set-up per chunk (nonce, tag key, final block)
    sources: dict[str, str] = field(default_factory=dict)

    def kernel(
        self, kernels: str, cls: str, macs: int, outputs: int, inputs: int, edge: int
    ) -> float | None:
        """Instructions of one kernel call, or None when the table has no such kernels."""
        rows = self.kernels.get(kernels)
        if rows is None:
            return None
        a, b, c, e, d = rows.get(cls, rows["other"])
        return a * macs + b * outputs + c * inputs + e * edge + d

    def to_json(self) -> dict[str, Any]:
        return {
            "core": self.core,
            "kernels": {
                k: {c: list(v) for c, v in rows.items()} for k, rows in self.kernels.items()
            },
            "pager_per_step": self.pager_per_step,
            "pager_per_chunk": self.pager_per_chunk,
            "crypto_per_chunk": self.crypto_per_chunk,
            "sources": self.sources,
        }


def costs_path(core: str) -> Path:
    return _COSTS / f"{core}.json"


def _row(v: list[float]) -> tuple[float, ...]:
    if len(v) != 5:
        raise ValueError("a kernel row has five coefficients")
    return tuple(float(x) for x in v)


@cache
def load_costs(core: str) -> CostTable | None:
    """The bundled table of ``core``, or None when there is none."""
    path = costs_path(core)
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return CostTable(
        core=raw["core"],
        kernels={k: {c: _row(v) for c, v in rows.items()} for k, rows in raw["kernels"].items()},
        pager_per_step=float(raw["pager_per_step"]),
        pager_per_chunk=float(raw["pager_per_chunk"]),
        crypto_per_chunk=float(raw["crypto_per_chunk"]),
        sources=dict(raw.get("sources", {})),
    )


def step_instructions(
    table: CostTable | None,
    kernels: str,
    graph: Graph,
    ops: range,
    channels: tuple[int, int],
    macs: int,
) -> float | None:
    """The kernel instructions of a schedule step running ``ops`` (one operator, or a fused
    block's), output channels ``channels`` of a single operator ((0, 0): all), ``macs`` MACs;
    None without a table for ``kernels``. A fused block's are its operators' per-layer costs
    scaled by its MACs over theirs."""
    if table is None or kernels not in table.kernels:
        return None
    total = 0.0
    op_macs = 0
    for i in ops:
        op = graph.operators[i]
        outs, ins, edge = op_elements(graph, op)
        if len(ops) == 1 and channels != (0, 0) and op.outputs:
            c = graph.tensors[op.outputs[0]].shape[-1] or 1
            outs = outs * (channels[1] - channels[0]) // c
            edge = edge * (channels[1] - channels[0]) // c
            return table.kernel(kernels, op_class(graph, op), macs, outs, ins, edge)
        total += table.kernel(kernels, op_class(graph, op), op.macs, outs, ins, edge) or 0.0
        op_macs += op.macs
    return total * macs / op_macs if op_macs and macs != op_macs else total
