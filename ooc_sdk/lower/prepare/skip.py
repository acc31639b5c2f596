"""Prepare an approximate CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED (ooc_sdk/lower/skip.py):
the exact layer's parameters, from its exact filter's shape, and the kept-group lists."""

from __future__ import annotations

from typing import Any

from ooc_sdk.lower.prepare.conv import prepare_conv, prepare_fully_connected
from ooc_sdk.lower.skip import SkipLayout
from ooc_sdk.model.ir import Graph, Operator, Tensor


def prepare_skip(graph: Graph, op: Operator, lay: SkipLayout) -> tuple[str, dict[str, Any], str]:
    """(struct, fields, kind): ``ooc_conv_skip_params_t`` / ``ooc_fc_skip_params_t``."""
    filt = graph.tensor(op.inputs[1])
    exact = Tensor(filt.index, filt.name, lay.skip.shape, filt.dtype, filt.quant, None, 0)
    view = _with_tensor(graph, exact)
    if op.op_type == "FULLY_CONNECTED":
        _, base = prepare_fully_connected(view, op)
        struct, member = "ooc_fc_skip_params_t", "fc"
    else:
        _, base = prepare_conv(view, op)
        struct, member = "ooc_conv_skip_params_t", "conv"
    fields: dict[str, Any] = {f"{member}.{k}": v for k, v in base.items() if k != "kernel"}
    fields.update({"group": lay.group, "slots": lay.slots, "kept": lay.kept, "index": lay.index})
    return struct, fields, f"{op.op_type}_SKIP"


class _View:
    """``graph`` with one tensor seen as another (the exact filter's shape, for its kernel)."""

    def __init__(self, graph: Graph, tensor: Tensor):
        self._graph, self._tensor = graph, tensor

    def tensor(self, index: int) -> Tensor:
        return self._tensor if index == self._tensor.index else self._graph.tensor(index)


def _with_tensor(graph: Graph, tensor: Tensor) -> Any:
    return _View(graph, tensor)
