"""Prepare AVERAGE_POOL_2D and MAX_POOL_2D, int8 (TFLM's PoolingPrepare, ahead of time).

The padding is TFLM's ComputePaddingHeightWidth: it derives the output size
from the padding mode itself (not from the output tensor) and keeps the leading
half of the total padding. TFLM requires input and output to share their
quantization, so the kernels never requantize.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.lower.prepare.common import activation_range, leading_pad
from ooc_sdk.model.ir import Graph, Operator


def prepare_pool(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    assert x.quant is not None and y.quant is not None
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise UnsupportedModelError(f"{op.op_type} needs 4-D NHWC tensors, got {list(x.shape)}")
    # PoolingPrepare: |input scale - output scale| <= 1e-6 (float32 difference) and equal zero points
    scale_diff = abs(np.float32(x.quant.scale[0]) - np.float32(y.quant.scale[0]))
    if float(scale_diff) > 1.0e-6 or (x.quant.zero_point[0] != y.quant.zero_point[0]):
        raise UnsupportedModelError(
            f"{op.op_type} '{y.name}': input and output quantization differ"
        )
    o = op.options
    (stride_h, stride_w), (filter_h, filter_w) = o["stride"], o["filter"]
    act_min, act_max = activation_range(o["activation"], y.quant)
    return "ooc_pool_params_t", {
        "batches": x.shape[0],
        "in_h": x.shape[1],
        "in_w": x.shape[2],
        "channels": x.shape[3],
        "out_h": y.shape[1],
        "out_w": y.shape[2],
        "filter_h": filter_h,
        "filter_w": filter_w,
        "stride_h": stride_h,
        "stride_w": stride_w,
        "pad_top": leading_pad(o["padding"], x.shape[1], filter_h, stride_h),
        "pad_left": leading_pad(o["padding"], x.shape[2], filter_w, stride_w),
        "act_min": act_min,
        "act_max": act_max,
    }
