"""Prepare CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (TFLM's Prepare, ahead of time)."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ooc_sdk.lower.prepare.common import activation_range, f32, leading_pad, quantize_multiplier
from ooc_sdk.model.ir import DType, Graph, Operator, Tensor


def _per_channel(graph: Graph, op: Operator, channels: int) -> tuple[list[int], list[int]]:
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    return per_channel_multipliers(x, w, y, channels)


def per_channel_multipliers(
    x: Tensor, w: Tensor, y: Tensor, channels: int
) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: in_scale * w_scale[c] / out_scale, in double."""
    assert x.quant is not None and w.quant is not None and y.quant is not None
    in_s, out_s = f32(x.quant.scale[0]), f32(y.quant.scale[0])
    scales = w.quant.scale if w.quant.per_channel else w.quant.scale * channels
    mults, shifts = [], []
    for s in scales:
        m, sh = quantize_multiplier(in_s * f32(s) / out_s)
        mults.append(m)
        shifts.append(sh)
    return mults, shifts


def conv_fields(
    x: Tensor,
    y: Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: tuple[int, int],
    depth_multiplier: int,
    multipliers: tuple[list[int], list[int]],
    act: tuple[int, int],
) -> dict[str, Any]:
    """``ooc_conv_params_t``'s fields: the shapes, window, offsets, activation range and per
    output channel multipliers (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV)."""
    assert x.quant is not None and y.quant is not None
    return {
        "batches": x.shape[0],
        "in_h": x.shape[1],
        "in_w": x.shape[2],
        "in_c": x.shape[3],
        "out_h": y.shape[1],
        "out_w": y.shape[2],
        "out_c": y.shape[3],
        "k_h": kernel[0],
        "k_w": kernel[1],
        "stride_h": stride[0],
        "stride_w": stride[1],
        "dil_h": dilation[0],
        "dil_w": dilation[1],
        "pad_top": pads[0],
        "pad_left": pads[1],
        "depth_multiplier": depth_multiplier,
        "input_offset": -x.quant.zero_point[0],
        "output_offset": y.quant.zero_point[0],
        "act_min": act[0],
        "act_max": act[1],
        "out_multiplier": multipliers[0],
        "out_shift": multipliers[1],
    }


def prepare_conv(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    assert y.quant is not None
    o = op.options
    k, stride, dil = (w.shape[1], w.shape[2]), o["stride"], o["dilation"]
    pads = tuple(leading_pad(o["padding"], x.shape[1 + a], k[a], stride[a], dil[a]) for a in (0, 1))
    depth_multiplier = o["depth_multiplier"] if op.op_type == "DEPTHWISE_CONV_2D" else 1
    return "ooc_conv_params_t", conv_fields(
        x, y, k, stride, dil, (pads[0], pads[1]), depth_multiplier,
        _per_channel(graph, op, y.shape[3]), activation_range(o["activation"], y.quant),
    )  # fmt: skip


def prepare_fully_connected(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    assert x.quant is not None and w.quant is not None and y.quant is not None
    units, depth = w.shape
    per_channel = w.quant.per_channel
    if per_channel:
        mults, shifts = _per_channel(graph, op, units)
    else:
        # GetQuantizedConvolutionMultipler: the scale product is taken in float32, then widened
        product = float(np.float32(x.quant.scale[0]) * np.float32(w.quant.scale[0]))
        m, sh = quantize_multiplier(product / f32(y.quant.scale[0]))
        mults, shifts = [m], [sh]
    act_min, act_max = activation_range(op.options["activation"], y.quant)
    return "ooc_fc_params_t", {
        "batches": x.size // depth,
        "in_depth": depth,
        "out_depth": units,
        "input_offset": -x.quant.zero_point[0],
        "output_offset": y.quant.zero_point[0],
        "act_min": act_min,
        "act_max": act_max,
        "per_channel": int(per_channel),
        "out_multiplier": mults,
        "out_shift": shifts,
    }


_FOLDS: weakref.WeakKeyDictionary[Graph, dict[int, np.ndarray]] = weakref.WeakKeyDictionary()


def offset_folds(graph: Graph) -> dict[int, np.ndarray]:
    """The biases that the tables hold with the input offset folded in, by bias tensor.

    A 1x1 CONV_2D reads no padding, so acc = bias + sum w * (x + input_offset) equals
    (bias + input_offset * sum w) + sum w * x for every output, modulo 2^32 like the kernels'
    int32 sums: the tables hold that bias and the operator's ``input_offset`` as 0 (codegen and
    the packer both ask here), and the kernels fold nothing at run time (a fused row did it per
    row and channel pair). Only where the bias is a constant int32 read by that operator alone,
    the filter a constant int8 and the input's zero point not 0, the operator not approximate
    (its skipped groups would be folded too), and every folded value fits int32.
    """
    folds = _FOLDS.get(graph)
    if folds is None:
        folds = {}
        for op in graph.operators:
            b = _offset_fold(graph, op)
            if b is not None:
                folds[op.inputs[2]] = b
        _FOLDS[graph] = folds
    return folds


def folds_offset(graph: Graph, op: Operator) -> bool:
    """Whether ``op``'s tables hold its bias folded and its input offset 0 (offset_folds)."""
    return op.op_type == "CONV_2D" and len(op.inputs) > 2 and op.inputs[2] in offset_folds(graph)


def _offset_fold(graph: Graph, op: Operator) -> np.ndarray | None:
    if op.op_type != "CONV_2D" or len(op.inputs) < 3 or op.inputs[2] < 0:
        return None
    if graph.approx is not None and op.index in graph.approx.layouts:
        return None
    x, w, b = (graph.tensor(t) for t in op.inputs[:3])
    if (
        x.dtype is not DType.INT8
        or x.quant is None
        or w.data is None
        or w.dtype is not DType.INT8
        or b.data is None
        or b.dtype is not DType.INT32
        or len(w.shape) != 4
        or tuple(w.shape[1:3]) != (1, 1)
        or graph.consumers(op.inputs[2]) != [op.index]
    ):
        return None
    off = -int(x.quant.zero_point[0])
    if off == 0:
        return None
    sums = w.data.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)
    folded = b.data.reshape(-1).astype(np.int64) + off * sums
    if folded.shape != (w.shape[0],) or folded.min() < -(1 << 31) or folded.max() >= 1 << 31:
        return None
    return folded.astype(np.int32).reshape(b.data.shape)
