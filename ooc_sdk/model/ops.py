"""The supported operator set: option decoding, validation and cost per operator.

Each supported TFLite builtin has an :class:`OpSpec`: which options table it
carries, how to turn that table into plain values, and a ``check`` function
that validates the operator against its tensors (types, ranks, shapes) and
fills in its MACs. Validation happens once, here, so later stages (planner,
codegen, runtime tables) can rely on a consistent graph.

MACs count the multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED, TRANSPOSE_CONV (ops_upsample.py) and the multiplies of MUL and SQUARED_DIFFERENCE: the figure papers
and MLPerf Tiny quote. Pooling, ADD, SUB, MINIMUM, MAXIMUM, MEAN and data movement
count zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tflite

from ooc_sdk.errors import InvalidModelError, UnsupportedModelError
from ooc_sdk.model import ops_heads, ops_move, ops_upsample
from ooc_sdk.model.ir import Activation, DType, Operator, Tensor
from ooc_sdk.model.opcheck import (
    Ctx,
    OpSpec,
    activation,
    check_bias,
    check_filter_quant,
    check_window,
    const_axes,
    padding,
    reducer_options,
    resize_options,
    unary_int8,
)

# -- option decoders: flatbuffer options table -> dict of plain values -----------------


def _conv_options(o: Any) -> dict[str, Any]:
    return {
        "padding": padding(o.Padding()),
        "stride": (o.StrideH(), o.StrideW()),
        "dilation": (o.DilationHFactor(), o.DilationWFactor()),
        "activation": activation(o.FusedActivationFunction()),
    }


def _dw_options(o: Any) -> dict[str, Any]:
    return {**_conv_options(o), "depth_multiplier": o.DepthMultiplier()}


def _fc_options(o: Any) -> dict[str, Any]:
    if o.WeightsFormat() != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise UnsupportedModelError("FULLY_CONNECTED with shuffled weights is not supported")
    return {
        "activation": activation(o.FusedActivationFunction()),
        "keep_num_dims": bool(o.KeepNumDims()),
    }


def _pool_options(o: Any) -> dict[str, Any]:
    return {
        "padding": padding(o.Padding()),
        "stride": (o.StrideH(), o.StrideW()),
        "filter": (o.FilterHeight(), o.FilterWidth()),
        "activation": activation(o.FusedActivationFunction()),
    }


def _act_options(o: Any) -> dict[str, Any]:
    return {"activation": activation(o.FusedActivationFunction())}


def _leaky_relu_options(o: Any) -> dict[str, Any]:
    return {"alpha": float(o.Alpha())}


def _softmax_options(o: Any) -> dict[str, Any]:
    return {"beta": float(o.Beta())}


def _concat_options(o: Any) -> dict[str, Any]:
    return {"axis": o.Axis(), "activation": activation(o.FusedActivationFunction())}


# -- checks: validate an operator against its tensors and compute its cost --------------


def _conv2d(c: Ctx) -> None:
    c.arity((2, 3))
    x, w, y = c.need(0), c.need(1), c.out()
    for t in (x, w, y):
        c.rank(t, 4)
    c.int8_activation(x)
    c.int8_activation(y)
    c.const(w, DType.INT8)
    oc, kh, kw, ic = w.shape
    if ic != x.shape[3]:
        raise c.unsupported(
            f"filter has {ic} input channels for an input of {x.shape[3]} (grouped convolution)"
        )
    if y.shape[3] != oc:
        raise c.invalid(f"output has {y.shape[3]} channels, filter {oc}")
    check_filter_quant(c, w, oc, 0)
    check_bias(c, oc)
    check_window(c, x, y, (kh, kw))
    c.op.macs = y.size * kh * kw * ic


def _depthwise(c: Ctx) -> None:
    c.arity((2, 3))
    x, w, y = c.need(0), c.need(1), c.out()
    for t in (x, w, y):
        c.rank(t, 4)
    c.int8_activation(x)
    c.int8_activation(y)
    c.const(w, DType.INT8)
    _, kh, kw, oc = w.shape
    mult = oc // x.shape[3] if x.shape[3] else 0
    if w.shape[0] != 1 or oc != y.shape[3] or mult < 1 or oc != x.shape[3] * mult:
        raise c.invalid(
            f"filter {list(w.shape)} does not fit input {list(x.shape)} and output {list(y.shape)}"
        )
    c.op.options["depth_multiplier"] = mult
    check_filter_quant(c, w, oc, 3)
    check_bias(c, oc)
    check_window(c, x, y, (kh, kw))
    c.op.macs = y.size * kh * kw


def _fully_connected(c: Ctx) -> None:
    c.arity((2, 3))
    x, w, y = c.need(0), c.need(1), c.out()
    c.rank(w, 2)
    c.int8_activation(x)
    c.int8_activation(y)
    c.const(w, DType.INT8)
    units, depth = w.shape
    if depth == 0 or x.size % depth != 0:
        raise c.invalid(f"input of {x.size} values is not a multiple of the weights' depth {depth}")
    rows = x.size // depth
    if y.size != rows * units:
        raise c.invalid(f"output has {y.size} values, expected {rows} x {units}")
    check_filter_quant(c, w, units, 0)
    check_bias(c, units)
    c.op.macs = rows * units * depth


def _pool(c: Ctx) -> None:
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    c.rank(x, 4)
    c.rank(y, 4)
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    if y.shape[3] != x.shape[3]:
        raise c.invalid("pooling must keep the channel count")
    check_window(c, x, y, c.op.options["filter"])


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> bool:
    try:
        return tuple(np.broadcast_shapes(a, b)) == tuple(out)
    except ValueError:
        return False


def _elementwise(c: Ctx) -> None:
    c.arity((2, 2))
    a, b, y = c.need(0), c.need(1), c.out()
    for t in (a, b, y):
        c.int8_activation(t)
    if not _broadcastable(a.shape, b.shape, y.shape):
        raise c.invalid(
            f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast to {list(y.shape)}"
        )
    if len(y.shape) > 5:
        raise c.unsupported("broadcasting beyond 5 dimensions")
    if c.op.op_type in ("MUL", "SQUARED_DIFFERENCE"):
        c.op.macs = y.size


def _min_max(c: Ctx) -> None:
    """MINIMUM, MAXIMUM: tflite-micro compares the raw int8 values, which is only the real
    minimum or maximum when both inputs and the output share one quantization."""
    _elementwise(c)
    a, b, y = c.need(0), c.need(1), c.out()
    c.same_quant(a, y)
    c.same_quant(b, y)


def _mean(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    axes = const_axes(c, c.need(1), len(x.shape), DType.INT32, DType.INT64)
    c.op.options["axes"] = axes
    kept = [1 if i in axes else d for i, d in enumerate(x.shape)]
    squeezed = [d for i, d in enumerate(x.shape) if i not in axes]
    if list(y.shape) not in (kept, squeezed):
        raise c.invalid(f"output shape {list(y.shape)} does not follow from reducing axes {axes}")


def _pad(c: Ctx) -> None:
    c.arity((2, 2))
    x, p, y = c.need(0), c.need(1), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    pads = c.const(p, DType.INT32)
    if len(x.shape) > 5:
        raise c.unsupported("PAD beyond 5 dimensions (tflite-micro's limit)")
    if pads.shape != (len(x.shape), 2) or (pads < 0).any():
        raise c.invalid(f"paddings {pads.tolist()} do not fit an input of rank {len(x.shape)}")
    c.op.options["paddings"] = [tuple(int(v) for v in row) for row in pads]
    want = tuple(d + int(lo) + int(hi) for d, (lo, hi) in zip(x.shape, pads, strict=True))
    if want != y.shape:
        raise c.invalid(f"output shape {list(y.shape)}, expected {list(want)}")


def _reshape(c: Ctx) -> None:
    c.arity((1, 2))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    if x.size != y.size:
        raise c.invalid(
            f"reshape from {list(x.shape)} to {list(y.shape)} changes the element count"
        )


def _softmax(c: Ctx) -> None:
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    if x.shape != y.shape:
        raise c.invalid("softmax must keep the shape")


def _tabulated(c: Ctx, scale: float, zero_point: int) -> None:
    """LOGISTIC (output scale 1/256, zero point -128), TANH (1/128, 0): tflite-micro computes
    the result in that output quantization whatever the tensor says, so ooc refuses others."""
    _, y = unary_int8(c)
    assert y.quant is not None
    if float(np.float32(y.quant.scale[0])) != scale or y.quant.zero_point[0] != zero_point:
        raise c.unsupported(
            f"output '{y.name}' must have scale 1/{round(1 / scale)} and zero point "
            f"{zero_point} (has {y.quant.scale[0]:g}, {y.quant.zero_point[0]})"
        )


def _logistic(c: Ctx) -> None:
    _tabulated(c, 1 / 256, -128)


def _tanh(c: Ctx) -> None:
    _tabulated(c, 1 / 128, 0)


def _transpose(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    perm = c.const(c.need(1), DType.INT32, DType.INT64).reshape(-1).tolist()
    if sorted(perm) != list(range(len(x.shape))):
        raise c.invalid(f"permutation {perm} does not fit rank {len(x.shape)}")
    if len(perm) > 5:
        raise c.unsupported("TRANSPOSE beyond 5 dimensions (tflite-micro's limit)")
    if tuple(x.shape[i] for i in perm) != y.shape:
        raise c.invalid(f"output shape {list(y.shape)} does not follow from permutation {perm}")
    c.op.options["perm"] = [int(v) for v in perm]


def _concatenation(c: Ctx) -> None:
    if len(c.op.inputs) < 1 or len(c.op.outputs) != 1 or min(c.op.inputs) < 0:
        raise c.invalid("expects one or more inputs and one output")
    if len(c.op.inputs) > 10:
        raise c.unsupported("CONCATENATION of more than 10 inputs (tflite-micro's limit)")
    y = c.out()
    c.int8_activation(y)
    rank = len(y.shape)
    axis = c.op.options["axis"]
    if not -rank <= axis < rank:
        raise c.invalid(f"axis {axis} out of range for rank {rank}")
    axis %= rank
    c.op.options["axis"] = axis
    total = 0
    for i in range(len(c.op.inputs)):
        x = c.need(i)
        c.int8_activation(x)
        c.same_quant(x, y)
        if len(x.shape) != rank or any(
            a != b for j, (a, b) in enumerate(zip(x.shape, y.shape, strict=True)) if j != axis
        ):
            raise c.invalid(f"input '{x.name}' {list(x.shape)} does not fit output {list(y.shape)}")
        total += x.shape[axis]
    if total != y.shape[axis]:
        raise c.invalid(f"inputs add up to {total} along axis {axis}, output has {y.shape[axis]}")


def _quantize(c: Ctx) -> None:
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    c.int8_activation(y)
    if x.dtype is DType.FLOAT32:
        pass
    elif x.dtype is DType.INT8:
        c.int8_activation(x)
    else:
        raise c.unsupported(
            f"tensor '{x.name}' has type {x.dtype.label}; QUANTIZE takes float32 or int8"
        )
    if x.shape != y.shape:
        raise c.invalid("QUANTIZE must keep the shape")


def _dequantize(c: Ctx) -> None:
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    if y.dtype is not DType.FLOAT32:
        raise c.unsupported(
            f"tensor '{y.name}' has type {y.dtype.label}; DEQUANTIZE must produce float32"
        )
    if x.shape != y.shape:
        raise c.invalid("DEQUANTIZE must keep the shape")


def _resize_nearest(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    c.rank(x, 4)
    c.rank(y, 4)
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    size = c.const(c.need(1), DType.INT32).reshape(-1).tolist()
    if len(size) != 2 or tuple(size) != y.shape[1:3] or y.shape[0::3] != x.shape[0::3]:
        raise c.invalid(f"size {size} does not match output {list(y.shape)}")
    c.op.options["size"] = [int(v) for v in size]


def _activation_op(c: Ctx) -> None:
    """RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH: int8 in, int8 out, same shape (each
    with its own scale and zero point)."""
    unary_int8(c)
    alpha = c.op.options.get("alpha")
    if alpha is not None and not np.isfinite(alpha):
        raise c.invalid(f"alpha {alpha} is not a finite number")


_BO = tflite.BuiltinOptions
_NONE = _BO.NONE

SUPPORTED_OPS: dict[int, OpSpec] = {
    code: spec
    for code, spec in [
        (
            tflite.BuiltinOperator.CONV_2D,
            OpSpec("CONV_2D", _BO.Conv2DOptions, tflite.Conv2DOptions, _conv_options, _conv2d),
        ),
        (
            tflite.BuiltinOperator.DEPTHWISE_CONV_2D,
            OpSpec(
                "DEPTHWISE_CONV_2D",
                _BO.DepthwiseConv2DOptions,
                tflite.DepthwiseConv2DOptions,
                _dw_options,
                _depthwise,
            ),
        ),
        (
            tflite.BuiltinOperator.FULLY_CONNECTED,
            OpSpec(
                "FULLY_CONNECTED",
                _BO.FullyConnectedOptions,
                tflite.FullyConnectedOptions,
                _fc_options,
                _fully_connected,
            ),
        ),
        (
            tflite.BuiltinOperator.AVERAGE_POOL_2D,
            OpSpec(
                "AVERAGE_POOL_2D", _BO.Pool2DOptions, tflite.Pool2DOptions, _pool_options, _pool
            ),
        ),
        (
            tflite.BuiltinOperator.MAX_POOL_2D,
            OpSpec("MAX_POOL_2D", _BO.Pool2DOptions, tflite.Pool2DOptions, _pool_options, _pool),
        ),
        (
            tflite.BuiltinOperator.ADD,
            OpSpec("ADD", _BO.AddOptions, tflite.AddOptions, _act_options, _elementwise),
        ),
        (
            tflite.BuiltinOperator.MUL,
            OpSpec("MUL", _BO.MulOptions, tflite.MulOptions, _act_options, _elementwise),
        ),
        (
            tflite.BuiltinOperator.SUB,
            OpSpec("SUB", _BO.SubOptions, tflite.SubOptions, _act_options, _elementwise),
        ),
        (tflite.BuiltinOperator.MINIMUM, OpSpec("MINIMUM", _NONE, None, None, _min_max)),
        (tflite.BuiltinOperator.MAXIMUM, OpSpec("MAXIMUM", _NONE, None, None, _min_max)),
        (
            tflite.BuiltinOperator.SQUARED_DIFFERENCE,
            OpSpec("SQUARED_DIFFERENCE", _NONE, None, None, _elementwise),
        ),
        (tflite.BuiltinOperator.LOGISTIC, OpSpec("LOGISTIC", _NONE, None, None, _logistic)),
        (tflite.BuiltinOperator.TANH, OpSpec("TANH", _NONE, None, None, _tanh)),
        (
            tflite.BuiltinOperator.MEAN,
            OpSpec("MEAN", _BO.ReducerOptions, tflite.ReducerOptions, reducer_options, _mean),
        ),
        (tflite.BuiltinOperator.PAD, OpSpec("PAD", _NONE, None, None, _pad)),
        (tflite.BuiltinOperator.RESHAPE, OpSpec("RESHAPE", _NONE, None, None, _reshape)),
        (
            tflite.BuiltinOperator.SOFTMAX,
            OpSpec(
                "SOFTMAX", _BO.SoftmaxOptions, tflite.SoftmaxOptions, _softmax_options, _softmax
            ),
        ),
        (tflite.BuiltinOperator.TRANSPOSE, OpSpec("TRANSPOSE", _NONE, None, None, _transpose)),
        (
            tflite.BuiltinOperator.CONCATENATION,
            OpSpec(
                "CONCATENATION",
                _BO.ConcatenationOptions,
                tflite.ConcatenationOptions,
                _concat_options,
                _concatenation,
            ),
        ),
        (tflite.BuiltinOperator.QUANTIZE, OpSpec("QUANTIZE", _NONE, None, None, _quantize)),
        (tflite.BuiltinOperator.DEQUANTIZE, OpSpec("DEQUANTIZE", _NONE, None, None, _dequantize)),
        (
            tflite.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR,
            OpSpec(
                "RESIZE_NEAREST_NEIGHBOR",
                _BO.ResizeNearestNeighborOptions,
                tflite.ResizeNearestNeighborOptions,
                resize_options,
                _resize_nearest,
            ),
        ),
        (tflite.BuiltinOperator.RELU, OpSpec("RELU", _NONE, None, None, _activation_op)),
        (tflite.BuiltinOperator.RELU6, OpSpec("RELU6", _NONE, None, None, _activation_op)),
        (
            tflite.BuiltinOperator.RELU_N1_TO_1,
            OpSpec("RELU_N1_TO_1", _NONE, None, None, _activation_op),
        ),
        (
            tflite.BuiltinOperator.LEAKY_RELU,
            OpSpec(
                "LEAKY_RELU",
                _BO.LeakyReluOptions,
                tflite.LeakyReluOptions,
                _leaky_relu_options,
                _activation_op,
            ),
        ),
        (
            tflite.BuiltinOperator.HARD_SWISH,
            OpSpec("HARD_SWISH", _NONE, None, None, _activation_op),
        ),
    ]
}
# Families of operators whose checks live in their own modules (ops_*.py), each a SPECS list
# of (builtin code, OpSpec) pairs.
for _family in (ops_move.SPECS, ops_upsample.SPECS, ops_heads.SPECS):
    SUPPORTED_OPS.update(_family)

SPECS_BY_NAME: dict[str, OpSpec] = {spec.name: spec for spec in SUPPORTED_OPS.values()}
SUPPORTED_OP_NAMES: tuple[str, ...] = tuple(SPECS_BY_NAME)

BUILTIN_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")
}

# Defaults TFLite assumes when an operator carries no options table.
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "SOFTMAX": {"beta": 1.0},
    "ADD": {"activation": Activation.NONE},
    "MUL": {"activation": Activation.NONE},
    "SUB": {"activation": Activation.NONE},
    "MEAN": {"keep_dims": False},
    "FULLY_CONNECTED": {"activation": Activation.NONE, "keep_num_dims": False},
    "CONCATENATION": {"axis": 0, "activation": Activation.NONE},
    "RESIZE_NEAREST_NEIGHBOR": {"align_corners": False, "half_pixel_centers": False},
    "RESIZE_BILINEAR": {"align_corners": False, "half_pixel_centers": False},
    "LEAKY_RELU": {"alpha": 0.0},
    **ops_move.DEFAULT_OPTIONS,
    "LOG_SOFTMAX": {},
    "L2_NORMALIZATION": {"activation": Activation.NONE},
    "REDUCE_MAX": {"keep_dims": False},
    "ARG_MAX": {},
    "ARG_MIN": {},
}


def decode_options(spec: OpSpec, options_type: int, table: Any, where: str) -> dict[str, Any]:
    """Decode an operator's builtin options table (``None`` when absent)."""
    if spec.decode is None or table is None or options_type == _NONE:
        if spec.decode is not None and spec.name not in _DEFAULT_OPTIONS:
            raise InvalidModelError(f"{where}: {spec.name} has no options table")
        return dict(_DEFAULT_OPTIONS.get(spec.name, {}))
    if options_type != spec.options_type:
        raise InvalidModelError(
            f"{where}: options of type #{options_type} do not belong to {spec.name}"
        )
    assert spec.options_class is not None
    obj = spec.options_class()
    obj.Init(table.Bytes, table.Pos)
    return spec.decode(obj)


def check_operator(op: Operator, tensors: list[Tensor], spec: OpSpec) -> None:
    """Validate ``op`` and fill in its MACs; raises an :class:`OocError` subclass."""
    spec.check(Ctx(op, tensors))
