"""What operator checks share: the check context, option decoding helpers and :class:`OpSpec`.

``ooc_sdk.model.ops`` holds the supported-operator table; the checks of each family of
operators live beside it (``ops_*.py``) and build on the helpers here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tflite

from ooc_sdk.errors import InvalidModelError, UnsupportedModelError
from ooc_sdk.model.ir import Activation, DType, Operator, Padding, Tensor

_ACTIVATIONS = {
    tflite.ActivationFunctionType.NONE: Activation.NONE,
    tflite.ActivationFunctionType.RELU: Activation.RELU,
    tflite.ActivationFunctionType.RELU6: Activation.RELU6,
}
_ACTIVATION_NAMES = {
    v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")
}
_PADDINGS = {tflite.Padding.SAME: Padding.SAME, tflite.Padding.VALID: Padding.VALID}


def activation(code: int) -> Activation:
    try:
        return _ACTIVATIONS[code]
    except KeyError:
        name = _ACTIVATION_NAMES.get(code, f"#{code}")
        raise UnsupportedModelError(
            f"fused activation {name} is not supported (ooc supports NONE, RELU, RELU6)"
        ) from None


def padding(code: int) -> Padding:
    try:
        return _PADDINGS[code]
    except KeyError:
        raise InvalidModelError(f"invalid padding code {code}") from None


class Ctx:
    """What a check needs: the operator and its tensors, with helpers for errors."""

    def __init__(self, op: Operator, tensors: list[Tensor]):
        self.op = op
        self.tensors = tensors

    def where(self) -> str:
        return f"{self.op.op_type} (op #{self.op.index})"

    def invalid(self, what: str) -> InvalidModelError:
        return InvalidModelError(f"{self.where()}: {what}")

    def unsupported(self, what: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.where()}: {what}")

    def arity(self, n_in: tuple[int, int], n_out: int = 1) -> None:
        lo, hi = n_in
        if not lo <= len(self.op.inputs) <= hi or len(self.op.outputs) != n_out:
            raise self.invalid(
                f"expects {lo}..{hi} inputs and {n_out} output(s), "
                f"has {len(self.op.inputs)} and {len(self.op.outputs)}"
            )
        for t in self.op.inputs[:lo] + self.op.outputs:
            if t < 0:
                raise self.invalid("a required input or output is missing")

    def inp(self, i: int) -> Tensor | None:
        if i >= len(self.op.inputs) or self.op.inputs[i] < 0:
            return None
        return self.tensors[self.op.inputs[i]]

    def need(self, i: int) -> Tensor:
        t = self.inp(i)
        if t is None:
            raise self.invalid(f"input {i} is missing")
        return t

    def out(self, i: int = 0) -> Tensor:
        return self.tensors[self.op.outputs[i]]

    def rank(self, t: Tensor, *ranks: int) -> None:
        if len(t.shape) not in ranks:
            want = " or ".join(str(r) for r in ranks)
            raise self.invalid(f"tensor '{t.name}' has rank {len(t.shape)}, expected {want}")

    def const(self, t: Tensor, *dtypes: DType) -> np.ndarray:
        if t.data is None:
            raise self.unsupported(f"input '{t.name}' must be a constant tensor")
        if dtypes and t.dtype not in dtypes:
            want = "/".join(d.label for d in dtypes)
            raise self.unsupported(f"constant '{t.name}' has type {t.dtype.label}, expected {want}")
        return t.data

    def int8_activation(self, t: Tensor) -> None:
        if t.dtype is not DType.INT8:
            raise self.unsupported(
                f"tensor '{t.name}' has type {t.dtype.label}; ooc runs int8 activations "
                "(float32 only at the model edges through QUANTIZE/DEQUANTIZE)"
            )
        if t.quant is None:
            raise self.unsupported(f"int8 tensor '{t.name}' has no quantization parameters")
        if t.quant.per_channel:
            raise self.unsupported(f"activation tensor '{t.name}' is quantized per channel")

    def same_quant(self, a: Tensor, b: Tensor) -> None:
        if a.quant != b.quant:
            raise self.unsupported(
                f"'{a.name}' and '{b.name}' must share scale and zero point for this op"
            )


def out_size(in_size: int, k: int, stride: int, dilation: int, padding: Padding) -> int:
    eff = (k - 1) * dilation + 1
    if padding is Padding.SAME:
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride


def check_window(c: Ctx, x: Tensor, y: Tensor, k: tuple[int, int]) -> None:
    o = c.op.options
    sh, sw = o["stride"]
    dh, dw = o.get("dilation", (1, 1))
    if min(sh, sw, dh, dw, k[0], k[1]) < 1:
        raise c.invalid("strides, dilations and window sizes must be >= 1")
    oh = out_size(x.shape[1], k[0], sh, dh, o["padding"])
    ow = out_size(x.shape[2], k[1], sw, dw, o["padding"])
    if (y.shape[0], y.shape[1], y.shape[2]) != (x.shape[0], oh, ow):
        raise c.invalid(
            f"output shape {list(y.shape)} does not follow from input {list(x.shape)}, "
            f"window {list(k)}, strides {[sh, sw]} and {o['padding'].value.upper()} padding"
        )


def check_bias(c: Ctx, channels: int) -> None:
    bias = c.inp(2)
    if bias is None:
        return
    c.const(bias, DType.INT32)
    if bias.size != channels:
        raise c.invalid(f"bias '{bias.name}' has {bias.size} values for {channels} channels")


def check_filter_quant(c: Ctx, w: Tensor, channels: int, axis: int) -> None:
    if w.quant is None:
        raise c.unsupported(f"weights '{w.name}' are not quantized")
    if w.quant.per_channel and (len(w.quant.scale) != channels or w.quant.axis != axis):
        raise c.invalid(f"weights '{w.name}' per-channel quantization does not match the channels")
    if any(z != 0 for z in w.quant.zero_point):
        raise c.unsupported(f"weights '{w.name}' have a non-zero zero point")


def unary_int8(c: Ctx) -> tuple[Any, Any]:
    """One int8 input and one int8 output of the same shape: the pair."""
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    c.int8_activation(x)
    c.int8_activation(y)
    if x.shape != y.shape:
        raise c.invalid(f"{c.op.op_type} must keep the shape")
    return x, y


@dataclass(frozen=True)
class OpSpec:
    name: str
    options_type: int  # tflite.BuiltinOptions value, NONE when the op has no options
    options_class: type | None
    decode: Callable[[Any], dict[str, Any]] | None
    check: Callable[[Ctx], None]


def reducer_options(o: Any) -> dict[str, Any]:
    """MEAN's and REDUCE_MAX's options table."""
    return {"keep_dims": bool(o.KeepDims())}


def resize_options(o: Any) -> dict[str, Any]:
    """The RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR options tables."""
    return {
        "align_corners": bool(o.AlignCorners()),
        "half_pixel_centers": bool(o.HalfPixelCenters()),
    }


def const_axes(c: Ctx, t: Tensor, rank: int, *dtypes: DType) -> list[int]:
    """A constant list of axes (``dtypes``: the index types allowed): each in range,
    made non-negative, sorted, without repeats."""
    values = c.const(t, *dtypes).reshape(-1).tolist()
    out = []
    for v in values:
        if not -rank <= v < rank:
            raise c.invalid(f"axis {v} out of range for rank {rank}")
        out.append(v % rank)
    return sorted(set(out))
