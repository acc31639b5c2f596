"""Prepare RESIZE_BILINEAR and TRANSPOSE_CONV, int8 (tflite-micro's Prepare, ahead of time).

RESIZE_BILINEAR: tflite-micro's int8 path is integer only. Each axis gets a scale in 1/1024
steps, ``(1024 * in + out / 2) // out`` (with aligned corners and out > 1, ``in - 1`` and
``out - 1``); output position i maps to ``v = i * scale`` (half-pixel centres:
``+ scale // 2 - 512``), read between ``lo = max(v // 1024, 0)`` and ``hi = min(ceil(v / 1024),
in - 1)`` (C divisions: toward zero) with weight ``f = v - 1024 * lo`` on ``hi``. Those three
numbers per output row and column are tables here; the kernel forms
``sum(value * weight_y * weight_x)`` in units of 2^-20 and rounds it half away from zero.

TRANSPOSE_CONV runs on CONV_2D's parameter struct: the padding is the forward convolution's
taken over the output size, the per-channel multipliers are CONV_2D's, and the fused
activation's range applies (tflite-micro clamps to it).
"""

from __future__ import annotations

from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.lower.prepare.common import activation_range, leading_pad
from ooc_sdk.lower.prepare.conv import conv_fields, per_channel_multipliers
from ooc_sdk.model.ir import Graph, Operator

ONE = 1 << 10  # the interpolation's fixed-point unit along one axis


def _c_div(a: int, b: int) -> int:
    """C's integer division (toward zero), for b > 0."""
    q = abs(a) // b
    return q if a >= 0 else -q


def bilinear_axis(
    in_size: int, out_size: int, align_corners: bool, half_pixel: bool
) -> tuple[list[int], list[int], list[int]]:
    """Per output position: the lower and upper source index and the upper one's weight (in
    1/1024), as tflite-micro's ResizeBilinearInteger computes them."""
    scale = (ONE * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale = (ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    lows, highs, fracs = [], [], []
    for i in range(out_size):
        v = i * scale + (scale // 2 - ONE // 2 if half_pixel else 0)
        lo = max(_c_div(v, ONE), 0)
        hi = min(_c_div(v + ONE - 1, ONE), in_size - 1)
        if lo > in_size - 1:
            raise UnsupportedModelError(
                f"RESIZE_BILINEAR from {in_size} to {out_size}: tflite-micro reads beyond the "
                "input for this size"
            )
        lows.append(lo)
        highs.append(hi)
        fracs.append(v - ONE * lo)
    return lows, highs, fracs


def prepare_resize_bilinear(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    batches, in_h, in_w, channels = x.shape
    out_h, out_w = (int(v) for v in op.options["size"])
    align = bool(op.options["align_corners"])
    half = bool(op.options["half_pixel_centers"])
    y0, y1, fy = bilinear_axis(in_h, out_h, align, half)
    x0, x1, fx = bilinear_axis(in_w, out_w, align, half)
    return "ooc_resize_bilinear_params_t", {
        "batches": batches,
        "in_h": in_h,
        "in_w": in_w,
        "channels": channels,
        "out_h": out_h,
        "out_w": out_w,
        "y0": y0,
        "y1": y1,
        "fy": fy,
        "x0": x0,
        "x1": x1,
        "fx": fx,
    }


def prepare_transpose_conv(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """Inputs (output_shape, filter, input[, bias]); the kernel reads (input, filter, bias)."""
    w, x, y = graph.tensor(op.inputs[1]), graph.tensor(op.inputs[2]), graph.tensor(op.outputs[0])
    assert y.quant is not None
    o = op.options
    k, stride = (w.shape[1], w.shape[2]), o["stride"]
    pads = tuple(leading_pad(o["padding"], y.shape[1 + a], k[a], stride[a]) for a in (0, 1))
    return "ooc_conv_params_t", conv_fields(
        x, y, k, stride, (1, 1), (pads[0], pads[1]), 1,
        per_channel_multipliers(x, w, y, w.shape[0]), activation_range(o["activation"], y.quant),
    )  # fmt: skip
