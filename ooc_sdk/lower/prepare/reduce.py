"""Prepare MEAN, int8 (TFLM's PrepareMeanOrSumHelper, ahead of time).

TFLM runs every int8 MEAN through one integer path: sum over the reduced axes,
subtract ``input_zero_point * n``, then requantize with ``input_scale /
output_scale`` whose multiplier the kernel divides by ``n`` at run time. There
is no special case for equal quantization or for 4-D axes [1, 2] with int8
(those exist only for float32), so ``same_quant`` is informational.
"""

from __future__ import annotations

from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.formats import tables
from ooc_sdk.lower.prepare.common import f32, quantize_multiplier
from ooc_sdk.model.ir import Graph, Operator

MAX_DIMS = tables.MAX_DIMS


def prepare_mean(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    assert x.quant is not None and y.quant is not None
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise UnsupportedModelError(f"MEAN on a {rank}-D tensor (at most {MAX_DIMS}-D)")
    axes = {a % rank for a in op.options["axes"]} if rank else set()
    reduce = [1 if d in axes else 0 for d in range(rank)]
    num_reduced = 1
    for d in axes:
        num_reduced *= x.shape[d]
    in_scale, out_scale = f32(x.quant.scale[0]), f32(y.quant.scale[0])
    # the real multiplier is formed in double from the two float32 scales
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    pad = MAX_DIMS - rank
    return "ooc_mean_params_t", {
        "rank": rank,
        "in_dims": [*x.shape, *([1] * pad)],
        "reduce": [*reduce, *([0] * pad)],
        "input_zero_point": x.quant.zero_point[0],
        "output_zero_point": y.quant.zero_point[0],
        "multiplier": multiplier,
        "shift": shift,
        "same_quant": int(in_scale == out_scale and x.quant.zero_point[0] == y.quant.zero_point[0]),
        "num_reduced": num_reduced,
    }
