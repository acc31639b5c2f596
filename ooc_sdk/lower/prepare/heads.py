"""Prepare LOG_SOFTMAX, L2_NORMALIZATION, REDUCE_MAX, ARG_MAX, ARG_MIN and PRELU (int8): the
Prepare of tflite-micro, ahead of time.

- LOG_SOFTMAX (``PreprocessLogSoftmaxScalingExp`` with beta 1): the input scale times 2^26
  (the Q5.26 format of exp()'s argument), capped at 2^31 - 1, as a multiplier above one with
  its left shift; the reverse scaling ``2^(31 - left_shift) / multiplier`` as a multiplier below
  one with its right shift; ``diff_min`` as SOFTMAX's. tflite-micro aborts unless the first
  real multiplier is above one, so ooc refuses input scales of 2^-26 and below.
- L2_NORMALIZATION: only the input zero point; the kernel finds each row's inverse square
  root at run time.
- REDUCE_MAX: the input's dimensions and which are reduced (raw comparisons: one
  quantization). ARG_MAX, ARG_MIN: outer, axis and inner sizes around the one axis.
- PRELU (``CalculatePreluParams``): ADD's broadcast layout, the input, alpha and output zero
  points, and two multipliers formed in double from the float32 scales, ``in / out`` for inputs
  at or above the zero point and ``in * alpha / out`` below it.
"""

from __future__ import annotations

import math
from typing import Any

from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.formats import tables
from ooc_sdk.lower.prepare.common import INT8_MAX, INT8_MIN, f32, quantize_multiplier
from ooc_sdk.lower.prepare.elementwise import broadcast_layout
from ooc_sdk.model.ir import Graph, Operator, Quantization, Tensor

SCALED_DIFF_INTEGER_BITS = 5  # exp()'s argument is Q5.26
_INPUT_RADIUS_BITS = 31


def _quant(t: Tensor) -> Quantization:
    if t.quant is None or t.quant.per_channel:
        raise UnsupportedModelError(f"tensor '{t.name}' needs per-tensor quantization parameters")
    return t.quant


def _rows(x: Tensor) -> tuple[int, int]:
    """(outer, depth): the last axis and the product of the others."""
    depth = x.shape[-1] if x.shape else 1
    return (x.size // depth if depth else 0), depth


def log_softmax_scaling(input_scale: float) -> tuple[int, int, int, int, int]:
    """(input multiplier, left shift, reverse divisor, reverse right shift, diff_min)."""
    real = min(input_scale * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if real <= 1.0:
        raise UnsupportedModelError(
            f"LOG_SOFTMAX: input scale {input_scale:g} is too small for int8 log-softmax "
            "(tflite-micro needs it above 2^-26)"
        )
    multiplier, left_shift = quantize_multiplier(real)
    reverse = float(1 << (31 - left_shift)) / float(multiplier)
    divisor, reverse_shift = quantize_multiplier(reverse)  # 0 < reverse < 1: shift <= 0
    assert 0.0 < reverse < 1.0 and reverse_shift <= 0
    radius_real = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * float(
        1 << (_INPUT_RADIUS_BITS - SCALED_DIFF_INTEGER_BITS)
    )
    diff_min = -math.floor(radius_real / float(1 << left_shift))
    return multiplier, left_shift, divisor, -reverse_shift, diff_min


def prepare_log_softmax(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    # the float32 scale widened to double, beta 1
    multiplier, left_shift, divisor, right_shift, diff_min = log_softmax_scaling(
        f32(_quant(x).scale[0])
    )
    outer, depth = _rows(x)
    return "ooc_log_softmax_params_t", {
        "outer": outer,
        "depth": depth,
        "input_multiplier": multiplier,
        "input_left_shift": left_shift,
        "reverse_scaling_divisor": divisor,
        "reverse_scaling_right_shift": right_shift,
        "diff_min": diff_min,
    }


def prepare_l2_normalization(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    outer, depth = _rows(x)
    return "ooc_l2_norm_params_t", {
        "outer": outer,
        "depth": depth,
        "input_zero_point": _quant(x).zero_point[0],
    }


def prepare_reduce_max(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    rank = len(x.shape)
    axes = set(op.options["axes"])
    pad = tables.MAX_DIMS - rank
    return "ooc_reduce_max_params_t", {
        "rank": rank,
        "in_dims": [*x.shape, *([1] * pad)],
        "reduce": [1 if d in axes else 0 for d in range(rank)] + [0] * pad,
    }


def prepare_arg_min_max(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    x = graph.tensor(op.inputs[0])
    axis = op.options["axis"]
    return "ooc_arg_params_t", {
        "outer": math.prod(x.shape[:axis]),
        "axis_size": x.shape[axis],
        "inner": math.prod(x.shape[axis + 1 :]),
    }


def prepare_prelu(graph: Graph, op: Operator) -> tuple[str, dict[str, Any]]:
    """ADD's parameter struct: input1 is the input, input2 alpha; the two multipliers sit in the
    input scalings' fields (``ooc_prelu_s8``)."""
    x, alpha = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    y = graph.tensor(op.outputs[0])
    qx, qa, qy = _quant(x), _quant(alpha), _quant(y)
    s_in, s_alpha, s_out = f32(qx.scale[0]), f32(qa.scale[0]), f32(qy.scale[0])
    dims, s1, s2 = broadcast_layout(x.shape, alpha.shape, y.shape)
    pad = tables.MAX_DIMS - len(dims)
    m1, e1 = quantize_multiplier(s_in / s_out)
    m2, e2 = quantize_multiplier(s_in * s_alpha / s_out)
    return "ooc_elementwise_params_t", {
        "rank": len(dims),
        "out_dims": dims + [1] * pad,
        "in1_strides": s1 + [0] * pad,
        "in2_strides": s2 + [0] * pad,
        "input1_offset": -qx.zero_point[0],
        "input2_offset": -qa.zero_point[0],
        "output_offset": qy.zero_point[0],
        "left_shift": 0,
        "input1_multiplier": m1,
        "input1_shift": e1,
        "input2_multiplier": m2,
        "input2_shift": e2,
        "output_multiplier": 0,
        "output_shift": 0,
        "act_min": INT8_MIN,
        "act_max": INT8_MAX,
    }
