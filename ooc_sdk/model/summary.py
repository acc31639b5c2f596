"""Per-layer and total figures of a graph, as data (for ``--json``) and as a table."""

from __future__ import annotations

from typing import Any

from ooc_sdk.model.ir import Graph, Tensor
from ooc_sdk.units import format_count, format_size


def _tensor_info(t: Tensor) -> dict[str, Any]:
    info: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype.label}
    if t.quant is not None:
        info["quantization"] = t.quant.to_json()
    return info


def summarize(graph: Graph) -> dict[str, Any]:
    """Everything ``ooc inspect`` reports, as JSON-ready data."""
    layers = []
    for op in graph.operators:
        out = graph.tensor(op.outputs[0])
        act = op.options.get("activation")
        layers.append(
            {
                "index": op.index,
                "op": op.op_type,
                "output_shape": list(out.shape),
                "activation": act.value if act is not None else None,
                "macs": op.macs,
                "weight_bytes": op.weight_bytes,
                "act_in_bytes": op.act_in_bytes,
                "act_out_bytes": op.act_out_bytes,
                "live_bytes": graph.live_bytes_at(op.index),
            }
        )
    return {
        "model": graph.name,
        "sha256": graph.sha256,
        "file_bytes": graph.source_bytes,
        "inputs": [_tensor_info(graph.tensor(t)) for t in graph.inputs],
        "outputs": [_tensor_info(graph.tensor(t)) for t in graph.outputs],
        "operators": len(graph.operators),
        "macs": graph.macs,
        "weight_bytes": graph.weight_bytes,
        "largest_tensor_bytes": graph.largest_tensor_bytes,
        "peak_activation_bytes": graph.peak_activation_bytes,
        "peak_live_bytes": graph.peak_live_bytes,
        "folded": list(graph.folded),
        "layers": layers,
    }


def render_table(summary: dict[str, Any]) -> str:
    """A fixed-width per-layer table followed by the totals."""
    head = ("#", "op", "output shape", "act", "MACs", "weights", "act in", "act out")
    rows = [
        (
            str(layer["index"]),
            layer["op"],
            "x".join(str(d) for d in layer["output_shape"]),
            layer["activation"] or "",
            f"{layer['macs']:,}",
            f"{layer['weight_bytes']:,}",
            f"{layer['act_in_bytes']:,}",
            f"{layer['act_out_bytes']:,}",
        )
        for layer in summary["layers"]
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    left = {1, 2, 3}

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    lines = [fmt(head), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    ins = ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in summary["inputs"])
    outs = ", ".join(f"{o['name']} {o['dtype']}{o['shape']}" for o in summary["outputs"])
    lines += [
        "",
        f"model                  {summary['model']}  ({summary['operators']} operators, sha256 {summary['sha256'][:16]})",
        f"inputs                 {ins}",
        f"outputs                {outs}",
        f"total MACs             {summary['macs']:,} ({format_count(summary['macs'])})",
        f"weight bytes           {summary['weight_bytes']:,} ({format_size(summary['weight_bytes'])})",
        f"largest tensor         {summary['largest_tensor_bytes']:,} ({format_size(summary['largest_tensor_bytes'])})",
        f"peak activation        {summary['peak_activation_bytes']:,} ({format_size(summary['peak_activation_bytes'])})"
        "  naive per layer: inputs + outputs of one op",
        f"peak live activations  {summary['peak_live_bytes']:,} ({format_size(summary['peak_live_bytes'])})"
        "  all tensors alive at once, skip branches included",
    ]
    lines += [f"folded at ingest       {note}" for note in summary.get("folded", [])]
    return "\n".join(lines)
