"""Checks of the upsampling operators: RESIZE_BILINEAR and TRANSPOSE_CONV (int8).

RESIZE_BILINEAR interpolates raw int8 values (tflite-micro does not requantize), so input and
output must share one quantization; its size input is a constant [2] int32 tensor equal to the
output's height and width. TRANSPOSE_CONV reads (output_shape, filter, input[, bias]): a
constant [4] int32 output shape, int8 OHWI weights quantized per channel or per tensor along
the output channels, an optional int32 bias. Its MACs follow CONV_2D's convention: every input
pixel times every filter tap and channel pair, the taps that fall outside the output included
(the forward convolution's figure).
"""

from __future__ import annotations

from typing import Any

import tflite

from ooc_sdk.model.ir import DType
from ooc_sdk.model.opcheck import (
    Ctx,
    OpSpec,
    activation,
    check_filter_quant,
    out_size,
    padding,
    resize_options,
)


def _transpose_conv_options(o: Any) -> dict[str, Any]:
    return {
        "padding": padding(o.Padding()),
        "stride": (o.StrideH(), o.StrideW()),
        "activation": activation(o.FusedActivationFunction()),
    }


def _resize_bilinear(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    c.rank(x, 4)
    c.rank(y, 4)
    c.int8_activation(x)
    c.int8_activation(y)
    c.same_quant(x, y)
    o = c.op.options
    if o["align_corners"] and o["half_pixel_centers"]:
        raise c.invalid("align_corners and half_pixel_centers cannot both be set")
    size = c.const(c.need(1), DType.INT32).reshape(-1).tolist()
    if len(size) != 2 or tuple(size) != y.shape[1:3] or y.shape[0::3] != x.shape[0::3]:
        raise c.invalid(f"size {size} does not match output {list(y.shape)}")
    if min(size) < 1 or min(x.shape) < 1:
        raise c.invalid(f"empty resize from {list(x.shape)} to {list(y.shape)}")
    o["size"] = [int(v) for v in size]


def _transpose_conv(c: Ctx) -> None:
    c.arity((3, 4))
    shape_t, w, x, y = c.need(0), c.need(1), c.need(2), c.out()
    for t in (w, x, y):
        c.rank(t, 4)
    c.int8_activation(x)
    c.int8_activation(y)
    c.const(w, DType.INT8)
    out_shape = c.const(shape_t, DType.INT32).reshape(-1).tolist()
    if tuple(out_shape) != y.shape:
        raise c.invalid(f"output_shape {out_shape} does not match the output {list(y.shape)}")
    oc, kh, kw, ic = w.shape
    if ic != x.shape[3] or oc != y.shape[3] or x.shape[0] != y.shape[0]:
        raise c.invalid(
            f"filter {list(w.shape)} does not fit input {list(x.shape)} and output {list(y.shape)}"
        )
    check_filter_quant(c, w, oc, 0)
    bias = c.inp(3)
    if bias is not None:
        c.const(bias, DType.INT32)
        if bias.size != oc:
            raise c.invalid(f"bias '{bias.name}' has {bias.size} values for {oc} channels")
    o = c.op.options
    sh, sw = o["stride"]
    if min(sh, sw, kh, kw) < 1 or min(y.shape) < 1:
        raise c.invalid("strides, filter and output sizes must be >= 1")
    # the input must be what the matching forward convolution makes of the output
    fh = out_size(y.shape[1], kh, sh, 1, o["padding"])
    fw = out_size(y.shape[2], kw, sw, 1, o["padding"])
    if (fh, fw) != (x.shape[1], x.shape[2]):
        raise c.invalid(
            f"output {list(y.shape)} does not follow from input {list(x.shape)}, filter "
            f"{[kh, kw]}, strides {[sh, sw]} and {o['padding'].value.upper()} padding"
        )
    # as CONV_2D counts: every tap of every window, those that fall outside the output included
    c.op.macs = x.size * kh * kw * oc


_BO = tflite.BuiltinOptions

SPECS: list[tuple[int, OpSpec]] = [
    (
        tflite.BuiltinOperator.RESIZE_BILINEAR,
        OpSpec(
            "RESIZE_BILINEAR",
            _BO.ResizeBilinearOptions,
            tflite.ResizeBilinearOptions,
            resize_options,
            _resize_bilinear,
        ),
    ),
    (
        tflite.BuiltinOperator.TRANSPOSE_CONV,
        OpSpec(
            "TRANSPOSE_CONV",
            _BO.TransposeConvOptions,
            tflite.TransposeConvOptions,
            _transpose_conv_options,
            _transpose_conv,
        ),
    ),
]
