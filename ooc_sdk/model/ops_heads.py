"""Classifier heads, normalizations and PRELU: LOG_SOFTMAX, L2_NORMALIZATION, REDUCE_MAX,
ARG_MAX, ARG_MIN and PRELU (int8), their option decoders and checks.

Each refuses what tflite-micro refuses or computes in a quantization other than the output
tensor's: LOG_SOFTMAX's output must be scale 16/256, zero point 127 (tflite-micro checks it);
L2_NORMALIZATION computes in scale 1/128, zero point 0 whatever the output says (ooc refuses
other output quantizations, as for LOGISTIC); REDUCE_MAX compares raw values, so input and
output must share scale and zero point (tflite-micro checks it); ARG_MAX and ARG_MIN give int32
indices along one constant axis; PRELU's alpha is a constant int8 tensor, per-tensor quantized,
that broadcasts to the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from ooc_sdk.model.ir import Activation, DType, Tensor
from ooc_sdk.model.opcheck import Ctx, OpSpec, activation, const_axes, reducer_options, unary_int8

MAX_RANK = 6  # the kernels' shape arrays (formats.tables.MAX_DIMS)
LOG_SOFTMAX_OUTPUT = (16 / 256, 127)  # (scale, zero point) tflite-micro requires
L2_NORM_OUTPUT = (1 / 128, 0)  # what tflite-micro's int8 kernel computes in
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}


def _l2_norm_options(o: Any) -> dict[str, Any]:
    return {"activation": activation(o.FusedActivationFunction())}


def _no_options(o: Any) -> dict[str, Any]:
    return {}


def _arg_options(o: Any) -> dict[str, Any]:
    """The index type the options name (the check reads the output tensor's type)."""
    name = _TYPE_NAMES.get(o.OutputType(), "")
    return {"output_type": DType[name]} if name in DType.__members__ else {}


def _output_quant(c: Ctx, y: Tensor, scale: float, zero_point: int) -> None:
    assert y.quant is not None
    if float(np.float32(y.quant.scale[0])) != float(np.float32(scale)) or (
        y.quant.zero_point[0] != zero_point
    ):
        raise c.unsupported(
            f"output '{y.name}' must have scale {scale:g} and zero point {zero_point} "
            f"(has {y.quant.scale[0]:g}, {y.quant.zero_point[0]})"
        )


def _log_softmax(c: Ctx) -> None:
    x, y = unary_int8(c)
    if not x.shape:
        raise c.invalid("LOG_SOFTMAX needs a tensor of rank >= 1")
    _output_quant(c, y, *LOG_SOFTMAX_OUTPUT)


def _l2_normalization(c: Ctx) -> None:
    x, y = unary_int8(c)
    if not 1 <= len(x.shape) <= 4:
        raise c.unsupported("L2_NORMALIZATION of a tensor of rank other than 1..4")
    if c.op.options.get("activation", Activation.NONE) is not Activation.NONE:
        raise c.unsupported("L2_NORMALIZATION with a fused activation (tflite-micro refuses it)")
    _output_quant(c, y, *L2_NORM_OUTPUT)


def _reduce_max(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    if len(x.shape) > MAX_RANK:
        raise c.unsupported(f"REDUCE_MAX of a tensor of rank {len(x.shape)} (at most {MAX_RANK})")
    axes = const_axes(c, c.need(1), len(x.shape), DType.INT32)
    c.op.options["axes"] = axes
    kept = [1 if i in axes else d for i, d in enumerate(x.shape)]
    squeezed = [d for i, d in enumerate(x.shape) if i not in axes]
    want = kept if c.op.options.get("keep_dims") else squeezed
    if list(y.shape) != want:
        raise c.invalid(f"output shape {list(y.shape)} does not follow from reducing axes {axes}")


def _arg_min_max(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    if y.dtype is not DType.INT32:
        raise c.unsupported(
            f"output '{y.name}' has type {y.dtype.label}; tflite-micro gives int32 indices"
        )
    rank = len(x.shape)
    if not 1 <= rank <= MAX_RANK:
        raise c.unsupported(f"{c.op.op_type} of a tensor of rank {rank} (1..{MAX_RANK})")
    axis = c.const(c.need(1), DType.INT32).reshape(-1).tolist()
    if len(axis) != 1 or not -rank <= axis[0] < rank:
        raise c.invalid(f"axis {axis} is not one axis of a rank-{rank} tensor")
    a = axis[0] % rank
    c.op.options["axis"] = a
    if list(y.shape) != [d for i, d in enumerate(x.shape) if i != a]:
        raise c.invalid(f"output shape {list(y.shape)} does not follow from removing axis {a}")


def _prelu(c: Ctx) -> None:
    c.arity((2, 2))
    x, alpha, y = c.need(0), c.need(1), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    c.const(alpha, DType.INT8)
    if alpha.quant is None or alpha.quant.per_channel:
        raise c.unsupported(f"alpha '{alpha.name}' must be quantized per tensor")
    if x.shape != y.shape:
        raise c.invalid("PRELU must keep the input's shape")
    if len(y.shape) > 5:
        raise c.unsupported("PRELU beyond 5 dimensions")
    try:
        fits = tuple(np.broadcast_shapes(x.shape, alpha.shape)) == y.shape
    except ValueError:
        fits = False
    if not fits:
        raise c.invalid(f"alpha {list(alpha.shape)} does not broadcast to {list(x.shape)}")


_BO = tflite.BuiltinOptions
_NONE = _BO.NONE
_B = tflite.BuiltinOperator

SPECS: list[tuple[int, OpSpec]] = [
    (
        _B.LOG_SOFTMAX,
        OpSpec(
            "LOG_SOFTMAX",
            _BO.LogSoftmaxOptions,
            tflite.LogSoftmaxOptions,
            _no_options,
            _log_softmax,
        ),
    ),
    (
        _B.L2_NORMALIZATION,
        OpSpec(
            "L2_NORMALIZATION",
            _BO.L2NormOptions,
            tflite.L2NormOptions,
            _l2_norm_options,
            _l2_normalization,
        ),
    ),
    (
        _B.REDUCE_MAX,
        OpSpec(
            "REDUCE_MAX", _BO.ReducerOptions, tflite.ReducerOptions, reducer_options, _reduce_max
        ),
    ),
    (
        _B.ARG_MAX,
        OpSpec("ARG_MAX", _BO.ArgMaxOptions, tflite.ArgMaxOptions, _arg_options, _arg_min_max),
    ),
    (
        _B.ARG_MIN,
        OpSpec("ARG_MIN", _BO.ArgMinOptions, tflite.ArgMinOptions, _arg_options, _arg_min_max),
    ),
    (_B.PRELU, OpSpec("PRELU", _NONE, None, None, _prelu)),
]
