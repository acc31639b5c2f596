"""Prepare for the int8 data-movement ops: PAD, TRANSPOSE, CONCATENATION and
RESIZE_NEAREST_NEIGHBOR.

None of them changes values (ooc's reader has already checked that input and
output share quantization), so what is computed here is layout: dimensions,
strides and, for RESIZE_NEAREST_NEIGHBOR, the source row and column of every
output pixel, found with the float32 arithmetic of TFLM's GetNearestNeighbor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.formats import tables
from ooc_sdk.lower.prepare.common import tflite_round
from ooc_sdk.model.ir import Activation, Graph, Operator

OOC_MAX_DIMS = tables.MAX_DIMS
PAD_MAX_DIMS = 5  # TFLM's PadKernelMaxDimensionCount


def _pad(values: list[int], fill: int) -> list[int]:
    return values + [fill] * (OOC_MAX_DIMS - len(values))


def _row_major_strides(shape: tuple[int, ...] | list[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def prepare_pad(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """PAD: pads with the output zero point (TFLM's value when no constant is given)."""
    x = graph.tensor(op.inputs[0])
    y = graph.tensor(op.outputs[0])
    if len(x.shape) > PAD_MAX_DIMS:
        raise UnsupportedModelError(f"PAD of a rank-{len(x.shape)} tensor (at most 5)")
    if y.quant is None:
        raise UnsupportedModelError(f"tensor '{y.name}' has no quantization parameters")
    paddings: list[tuple[int, int]] = op.options["paddings"]
    fields: dict[str, Any] = {
        "rank": len(x.shape),
        "in_dims": _pad(list(x.shape), 1),
        "pad_before": _pad([int(lo) for lo, _ in paddings], 0),
        "pad_after": _pad([int(hi) for _, hi in paddings], 0),
        "pad_value": y.quant.zero_point[0],
    }
    return "ooc_pad_params_t", fields


def transpose_layout(shape: tuple[int, ...], perm: list[int]) -> tuple[list[int], list[int]]:
    """Output dims and the input stride along each, with size-1 dims dropped and
    output dims merged where the input is walked contiguously across them."""
    in_strides = _row_major_strides(shape)
    loops: list[list[int]] = []  # [dim, input stride], innermost first
    for d in range(len(perm) - 1, -1, -1):
        n, s = shape[perm[d]], in_strides[perm[d]]
        if n == 1:
            continue
        if loops and s == loops[-1][1] * loops[-1][0]:
            loops[-1][0] *= n
            continue
        loops.append([n, s])
    if not loops:
        loops = [[1, 0]]
    loops.reverse()
    return [lp[0] for lp in loops], [lp[1] for lp in loops]


def prepare_transpose(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    perm = [int(p) for p in op.options["perm"]]
    if len(perm) > OOC_MAX_DIMS:
        raise UnsupportedModelError(f"TRANSPOSE of rank {len(perm)} (at most 6)")
    dims, strides = transpose_layout(x.shape, perm)
    fields: dict[str, Any] = {
        "rank": len(dims),
        "out_dims": _pad(dims, 1),
        "in_strides": _pad(strides, 0),
    }
    return "ooc_transpose_params_t", fields


def prepare_concat(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """CONCATENATION: a byte copy ([outer][axis][inner] slabs).

    The kernel's ``in_axis`` argument (each input's size along the axis) is not a
    struct field: it is ``graph.tensor(i).shape[axis]`` for each input ``i``.
    """
    y = graph.tensor(op.outputs[0])
    axis = int(op.options["axis"])
    if op.options.get("activation", Activation.NONE) is not Activation.NONE:
        raise UnsupportedModelError(
            "CONCATENATION with a fused activation (tflite-micro refuses it)"
        )
    fields: dict[str, Any] = {
        "outer": math.prod(y.shape[:axis]),
        "inner": math.prod(y.shape[axis + 1 :]),
        "out_axis": y.shape[axis],
    }
    return "ooc_concat_params_t", fields


def nearest_map(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> list[int]:
    """TFLM GetNearestNeighbor for every output coordinate, in float32 arithmetic.

    TFLM allows ``align_corners`` and ``half_pixel_centers`` together (TensorFlow
    does not) and then rounds ``(i + 0.5) * scale`` with the align-corners scale.
    """
    f = np.float32
    if align_corners and out_size > 1:
        scale = f(in_size - 1) / f(out_size - 1)
    else:
        scale = f(in_size) / f(out_size)
    offset = f(0.5) if half_pixel else f(0.0)
    result = []
    for i in range(out_size):
        v = (f(i) + offset) * scale  # float32 add, then float32 multiply
        src = tflite_round(float(v)) if align_corners else math.floor(float(v))
        src = min(src, in_size - 1)
        if half_pixel:
            src = max(0, src)
        result.append(int(src))
    return result


def prepare_resize_nearest(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    y = graph.tensor(op.outputs[0])
    batches, in_h, in_w, channels = x.shape
    out_h, out_w = (int(v) for v in op.options["size"])
    align = bool(op.options["align_corners"])
    half = bool(op.options["half_pixel_centers"])
    if (y.shape[1], y.shape[2]) != (out_h, out_w):
        raise UnsupportedModelError(f"RESIZE_NEAREST_NEIGHBOR output {list(y.shape)} != size")
    fields: dict[str, Any] = {
        "batches": batches,
        "in_h": in_h,
        "in_w": in_w,
        "channels": channels,
        "out_h": out_h,
        "out_w": out_w,
        "row_map": nearest_map(in_h, out_h, align, half),
        "col_map": nearest_map(in_w, out_w, align, half),
    }
    return "ooc_resize_params_t", fields
