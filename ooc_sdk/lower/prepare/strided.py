"""Prepare for the slicing and rearranging data-movement ops: SLICE, STRIDED_SLICE, SPLIT,
SPLIT_V, UNPACK, DEPTH_TO_SPACE and SPACE_TO_DEPTH (one strided copy), PACK (a
CONCATENATION along a new axis), SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (one block shuffle).

A strided copy writes its output in order and reads ``input[offset + sum(i[d] *
in_strides[d])]`` for the output coordinate ``i``: a slice is a window of the input (the
window the reader resolved: ``op.options["window"]``), DEPTH_TO_SPACE and SPACE_TO_DEPTH are
the six-dimensional views ``[B, H, bs, W, bs, C]`` of one side walked in the other's order.
Dimensions of size 1 are dropped and dimensions the input walks contiguously merged, so most
slices become one or two loops of long runs.
"""

from __future__ import annotations

import math
from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.formats import tables
from ooc_sdk.model.ir import Graph, Operator

MAX_DIMS = tables.MAX_DIMS


def _row_major_strides(shape: tuple[int, ...] | list[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def strided_copy(offset: int, dims: list[int], strides: list[int]) -> dict[str, Any]:
    """The parameter fields of a strided copy: output ``dims`` (row-major), the input stride
    along each; size-1 dimensions dropped, mergeable neighbours merged."""
    loops: list[list[int]] = []  # [size, input stride], innermost first
    for n, s in zip(reversed(dims), reversed(strides), strict=True):
        if n == 1:
            continue
        if loops and s == loops[-1][1] * loops[-1][0]:
            loops[-1][0] *= n
            continue
        loops.append([n, s])
    if not loops:
        loops = [[1, 0]]
    loops.reverse()
    if len(loops) > MAX_DIMS:
        raise UnsupportedModelError(f"a strided copy of {len(loops)} dimensions (at most 6)")
    pad = MAX_DIMS - len(loops)
    return {
        "rank": len(loops),
        "offset": offset,
        "out_dims": [lp[0] for lp in loops] + [1] * pad,
        "in_strides": [lp[1] for lp in loops] + [0] * pad,
    }


def prepare_window(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """SLICE, STRIDED_SLICE and one output of SPLIT, SPLIT_V or UNPACK."""
    x = graph.tensor(op.inputs[1] if op.op_type == "SPLIT" else op.inputs[0])
    w = op.options["window"]
    unit = _row_major_strides(x.shape)
    offset = sum(b * u for b, u in zip(w["begin"], unit, strict=True))
    strides = [s * u for s, u in zip(w["step"], unit, strict=True)]
    return "ooc_strided_copy_params_t", strided_copy(offset, list(w["count"]), strides)


def prepare_depth_space(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """DEPTH_TO_SPACE: out[b, h*bs + i, w*bs + j, c] = in[b, h, w, (i*bs + j)*C' + c];
    SPACE_TO_DEPTH the converse."""
    bs = int(op.options["block_size"])
    if op.op_type == "DEPTH_TO_SPACE":
        b, h, w, c = graph.tensor(op.inputs[0]).shape
        co = c // (bs * bs)
        dims = [b, h, bs, w, bs, co]
        strides = [h * w * c, w * c, bs * co, c, co, 1]
    else:
        b, h, w, c = graph.tensor(op.inputs[0]).shape
        dims = [b, h // bs, w // bs, bs, bs, c]
        strides = [h * w * c, bs * w * c, bs * c, w * c, c, 1]
    return "ooc_strided_copy_params_t", strided_copy(0, dims, strides)


def prepare_pack(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """PACK: a CONCATENATION of inputs one element thick along the new axis."""
    if len(op.inputs) > tables.MAX_CONCAT_INPUTS:
        raise UnsupportedModelError(f"PACK of more than {tables.MAX_CONCAT_INPUTS} inputs")
    y = graph.tensor(op.outputs[0])
    axis = int(op.options["axis"])
    fields = {
        "outer": math.prod(y.shape[:axis]),
        "inner": math.prod(y.shape[axis + 1 :]),
        "out_axis": y.shape[axis],
    }
    return "ooc_concat_params_t", fields


def prepare_space_batch(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND over NHWC (an NHC tensor is NHWC with W = 1).
    The space side is [B, SH, SW, C], the batch side [bh*bw*B, TH, TW, C]; batch ``(i*bw +
    j)*B + b`` holds the pixels ``(th*bh + i - top, tw*bw + j - left)`` of space batch ``b``.
    SPACE_TO_BATCH_ND fills pixels outside the space side with 0, as tflite-micro does (it
    never sets its output offset, so it pads with 0 whatever the zero point)."""
    x = graph.tensor(op.inputs[0])
    y = graph.tensor(op.outputs[0])
    to_batch = op.op_type == "SPACE_TO_BATCH_ND"
    space, batch = (x, y) if to_batch else (y, x)

    def nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape if len(shape) == 4 else (shape[0], shape[1], 1, shape[2])

    sb, sh, sw, c = nhwc(space.shape)
    _, th, tw, _ = nhwc(batch.shape)
    bh, bw = op.options["block"]
    top, left = op.options["pads"]
    fields = {
        "to_batch": int(to_batch),
        "batches": sb,
        "space_h": sh,
        "space_w": sw,
        "batch_h": th,
        "batch_w": tw,
        "channels": c,
        "block_h": bh,
        "block_w": bw,
        "pad_top": top,
        "pad_left": left,
        "pad_value": 0,
    }
    return "ooc_space_batch_params_t", fields
