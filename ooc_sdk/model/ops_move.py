"""The int8 data-movement operators that select, split, stack or rearrange elements: SLICE,
STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, PACK, SQUEEZE, EXPAND_DIMS, DEPTH_TO_SPACE,
SPACE_TO_DEPTH, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND.

Every one moves bytes without computing on them, so each requires its input and outputs to
share quantization. The checks resolve the operators' constant operands (begin/end/strides,
axes, split sizes, block sizes, paddings) into plain options the lowering reads:

* slice-like operators (SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK) get ``windows``: for each
  output, the first input index, the step and the element count along every input dimension,
  resolved with tflite-micro's rules (negative indices, clamping, the begin/end/shrink masks);
* SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND get ``block`` and ``pads`` (paddings or crops, top
  and left; bottom and right follow from the shapes).

:func:`one_output_each` then rewrites the checked graph for the runtime, whose operators have
one output: a SPLIT, SPLIT_V or UNPACK becomes one operator per output (each with its own
``window``), and SQUEEZE and EXPAND_DIMS become RESHAPE (a free alias of their input).
"""

from __future__ import annotations

import math
from typing import Any

import tflite

from ooc_sdk.model.ir import DType, Operator, Tensor
from ooc_sdk.model.opcheck import Ctx, OpSpec

_INDEX_TYPES = (DType.INT32, DType.INT64)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# -- option decoders ------------------------------------------------------------------------


def _strided_slice_options(o: Any) -> dict[str, Any]:
    return {
        "begin_mask": o.BeginMask(),
        "end_mask": o.EndMask(),
        "ellipsis_mask": o.EllipsisMask(),
        "new_axis_mask": o.NewAxisMask(),
        "shrink_axis_mask": o.ShrinkAxisMask(),
        "offset": bool(o.Offset()),
    }


def _split_options(o: Any) -> dict[str, Any]:
    return {"num_splits": o.NumSplits()}


def _pack_options(o: Any) -> dict[str, Any]:
    return {"values_count": o.ValuesCount(), "axis": o.Axis()}


def _unpack_options(o: Any) -> dict[str, Any]:
    return {"num": o.Num(), "axis": o.Axis()}


def _squeeze_options(o: Any) -> dict[str, Any]:
    return {
        "squeeze_dims": [int(v) for v in o.SqueezeDimsAsNumpy()] if o.SqueezeDimsLength() else []
    }


def _block_options(o: Any) -> dict[str, Any]:
    return {"block_size": o.BlockSize()}


# Defaults TFLite assumes when one of these operators carries no options table.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "STRIDED_SLICE": {
        "begin_mask": 0,
        "end_mask": 0,
        "ellipsis_mask": 0,
        "new_axis_mask": 0,
        "shrink_axis_mask": 0,
        "offset": False,
    },
    "SPLIT": {},
    "SPLIT_V": {},
    "PACK": {"axis": 0},
    "UNPACK": {"axis": 0},
    "SQUEEZE": {"squeeze_dims": []},
}

# -- shared helpers -------------------------------------------------------------------------


def _moved(c: Ctx, x: Tensor, *outs: Tensor) -> None:
    """int8 tensors with one quantization: the bytes move unchanged."""
    c.int8_activation(x)
    for y in outs:
        c.int8_activation(y)
        c.same_quant(x, y)
        if y.size == 0:
            raise c.unsupported(f"output '{y.name}' is empty")


def _ints(c: Ctx, t: Tensor, dtypes: tuple[DType, ...] = (DType.INT32,)) -> list[int]:
    """A constant operand's values (int32 unless tflite-micro also reads int64 there)."""
    return [int(v) for v in c.const(t, *dtypes).reshape(-1)]


def _scalar_axis(c: Ctx, t: Tensor, rank: int, dtypes: tuple[DType, ...] = (DType.INT32,)) -> int:
    """A constant axis (one value) in [-rank, rank), made non-negative."""
    values = _ints(c, t, dtypes)
    if len(values) != 1 or not -rank <= values[0] < rank:
        raise c.invalid(f"axis {values} out of range for rank {rank}")
    return values[0] % rank


def _expect(c: Ctx, y: Tensor, shape: list[int] | tuple[int, ...]) -> None:
    if tuple(y.shape) != tuple(shape):
        raise c.invalid(f"output '{y.name}' has shape {list(y.shape)}, expected {list(shape)}")


def _axis_windows(x: Tensor, axis: int, sizes: list[int]) -> list[dict[str, list[int]]]:
    """Consecutive pieces of ``x`` along ``axis`` with the given sizes."""
    windows, start = [], 0
    for n in sizes:
        begin = [0] * len(x.shape)
        count = list(x.shape)
        begin[axis], count[axis] = start, n
        windows.append({"begin": begin, "step": [1] * len(x.shape), "count": count})
        start += n
    return windows


# -- checks ---------------------------------------------------------------------------------


def _slice(c: Ctx) -> None:
    c.arity((3, 3))
    x, y = c.need(0), c.out()
    _moved(c, x, y)
    rank = len(x.shape)
    if rank > 5:
        raise c.unsupported("SLICE beyond 5 dimensions (tflite-micro's limit)")
    begin, size = _ints(c, c.need(1), _INDEX_TYPES), _ints(c, c.need(2), _INDEX_TYPES)
    if len(begin) != rank or len(size) != rank:
        raise c.invalid(f"begin {begin} and size {size} do not fit rank {rank}")
    count = []
    for b, n, d in zip(begin, size, x.shape, strict=True):
        n = d - b if n == -1 else n
        if b < 0 or n < 0 or b + n > d:
            raise c.invalid(f"begin {begin} and size {size} do not fit the input {list(x.shape)}")
        count.append(n)
    _expect(c, y, count)
    c.op.options["windows"] = [{"begin": begin, "step": [1] * rank, "count": count}]


def _start_stop(o: dict[str, Any], i: int, b: int, e: int, s: int, n: int) -> tuple[int, int]:
    """tflite-micro's start and stop along axis ``i`` of size ``n`` (its strided-slice logic:
    masks, negative indices counted from the end, clamping by the stride's sign)."""
    lo, hi = (0, n) if s > 0 else (-1, n - 1)
    if o["begin_mask"] >> i & 1:
        b = _INT_MIN if s > 0 else _INT_MAX
    b = b + n if b < 0 else b
    start = min(max(b, lo), hi)
    if o["shrink_axis_mask"] >> i & 1:
        return start, start + 1
    if o["end_mask"] >> i & 1:
        e = _INT_MAX if s > 0 else _INT_MIN
    e = e + n if e < 0 else e
    return start, min(max(e, lo), hi)


def _strided_slice(c: Ctx) -> None:
    c.arity((4, 4))
    x, y = c.need(0), c.out()
    _moved(c, x, y)
    o = c.op.options
    rank = len(x.shape)
    if o["ellipsis_mask"] or o["new_axis_mask"]:
        raise c.unsupported(
            "STRIDED_SLICE with an ellipsis or new-axis mask (tflite-micro ignores them)"
        )
    if o["offset"]:
        raise c.unsupported("STRIDED_SLICE with offset (tflite-micro ignores it)")
    if rank > 4:
        raise c.unsupported("STRIDED_SLICE beyond 4 dimensions (tflite-micro's limit)")
    begin, end, strides = (_ints(c, c.need(i)) for i in (1, 2, 3))
    if not len(begin) == len(end) == len(strides) == rank:
        raise c.invalid(f"begin {begin}, end {end} and strides {strides} do not fit rank {rank}")
    first, count, shape = [], [], []
    for i, (b, e, s, n) in enumerate(zip(begin, end, strides, x.shape, strict=True)):
        if s == 0:
            raise c.invalid("a stride is zero")
        start, stop = _start_stop(o, i, b, e, s, n)
        k = max(0, -(-(stop - start) // s) if s > 0 else -(-(start - stop) // -s))
        if o["shrink_axis_mask"] >> i & 1:
            if not 0 <= start < n:
                raise c.invalid(f"index {b} out of range for dimension {i} of size {n}")
        else:
            shape.append(k)
        first.append(start if k else 0)
        count.append(k)
    _expect(c, y, shape)
    c.op.options["windows"] = [{"begin": first, "step": strides, "count": count}]


def _split(c: Ctx) -> None:
    n_out = len(c.op.outputs)
    c.arity((2, 2), n_out)
    x = c.need(1)
    outs = [c.out(i) for i in range(n_out)]
    _moved(c, x, *outs)
    axis = _scalar_axis(c, c.need(0), len(x.shape))
    if c.op.options.get("num_splits", n_out) != n_out or x.shape[axis] % n_out:
        raise c.invalid(f"{x.shape[axis]} elements along axis {axis} in {n_out} equal parts")
    sizes = [x.shape[axis] // n_out] * n_out
    _split_common(c, x, outs, axis, sizes)


def _split_v(c: Ctx) -> None:
    n_out = len(c.op.outputs)
    c.arity((3, 3), n_out)
    x = c.need(0)
    outs = [c.out(i) for i in range(n_out)]
    _moved(c, x, *outs)
    axis = _scalar_axis(c, c.need(2), len(x.shape))
    sizes = _ints(c, c.need(1), _INDEX_TYPES)
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    if len(sizes) != n_out or min(sizes) < 0 or sum(sizes) != x.shape[axis]:
        raise c.invalid(f"split sizes {sizes} do not divide {x.shape[axis]} in {n_out} parts")
    _split_common(c, x, outs, axis, sizes)


def _split_common(c: Ctx, x: Tensor, outs: list[Tensor], axis: int, sizes: list[int]) -> None:
    for y, n in zip(outs, sizes, strict=True):
        _expect(c, y, (*x.shape[:axis], n, *x.shape[axis + 1 :]))
    c.op.options["windows"] = _axis_windows(x, axis, sizes)


def _unpack(c: Ctx) -> None:
    n_out = len(c.op.outputs)
    c.arity((1, 1), n_out)
    x = c.need(0)
    outs = [c.out(i) for i in range(n_out)]
    _moved(c, x, *outs)
    rank = len(x.shape)
    axis = c.op.options["axis"]
    if not -rank <= axis < rank or x.shape[axis % rank] != n_out:
        raise c.invalid(f"axis {axis} of {list(x.shape)} does not unpack into {n_out} outputs")
    axis %= rank
    for y in outs:
        _expect(c, y, x.shape[:axis] + x.shape[axis + 1 :])
    c.op.options["axis"] = axis
    c.op.options["windows"] = _axis_windows(x, axis, [1] * n_out)


def _pack(c: Ctx) -> None:
    n_in = len(c.op.inputs)
    c.arity((1, max(n_in, 1)))
    y = c.out()
    xs = [c.need(i) for i in range(n_in)]
    for x in xs:
        _moved(c, x, y)
        if x.shape != xs[0].shape:
            raise c.invalid(f"inputs {list(xs[0].shape)} and {list(x.shape)} differ")
    rank = len(xs[0].shape) + 1
    axis = c.op.options["axis"]
    if not -rank <= axis < rank or c.op.options.get("values_count", n_in) != n_in:
        raise c.invalid(f"axis {axis} or the count of values does not fit {n_in} inputs")
    axis %= rank
    _expect(c, y, (*xs[0].shape[:axis], n_in, *xs[0].shape[axis:]))
    c.op.options["axis"] = axis


def _squeeze(c: Ctx) -> None:
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    _moved(c, x, y)
    rank = len(x.shape)
    dims = c.op.options["squeeze_dims"]
    if any(not -rank <= d < rank for d in dims):
        raise c.invalid(f"squeeze dimensions {dims} out of range for rank {rank}")
    drop = {d % rank for d in dims} if dims else {i for i, n in enumerate(x.shape) if n == 1}
    if any(x.shape[d] != 1 for d in drop):
        raise c.invalid(f"squeeze dimensions {dims} of {list(x.shape)} are not all 1")
    _expect(c, y, [n for i, n in enumerate(x.shape) if i not in drop])


def _expand_dims(c: Ctx) -> None:
    c.arity((2, 2))
    x, y = c.need(0), c.out()
    _moved(c, x, y)
    axis = _scalar_axis(c, c.need(1), len(x.shape) + 1, _INDEX_TYPES)
    _expect(c, y, (*x.shape[:axis], 1, *x.shape[axis:]))


def _depth_space(c: Ctx) -> None:
    """DEPTH_TO_SPACE and SPACE_TO_DEPTH: NHWC, a block size of at least 1."""
    c.arity((1, 1))
    x, y = c.need(0), c.out()
    c.rank(x, 4)
    _moved(c, x, y)
    bs = c.op.options["block_size"]
    b, h, w, ch = x.shape
    if c.op.op_type == "DEPTH_TO_SPACE":
        if bs < 1 or ch % (bs * bs):
            raise c.invalid(f"block size {bs} does not divide {ch} channels")
        _expect(c, y, (b, h * bs, w * bs, ch // (bs * bs)))
    else:
        if bs < 1 or h % bs or w % bs:
            raise c.invalid(f"block size {bs} does not divide {h}x{w}")
        _expect(c, y, (b, h // bs, w // bs, ch * bs * bs))


def _block_and_pads(c: Ctx, x: Tensor) -> tuple[list[int], list[list[int]]]:
    """The constant block shape and paddings (or crops) of SPACE_TO_BATCH_ND and
    BATCH_TO_SPACE_ND over a 3-D (NHC) or 4-D (NHWC) tensor."""
    c.rank(x, 3, 4)
    spatial = len(x.shape) - 2
    block = _ints(c, c.need(1))
    pads = _ints(c, c.need(2))
    if len(block) != spatial or len(pads) != 2 * spatial or min(block) < 1 or min(pads) < 0:
        raise c.invalid(f"block shape {block} or paddings/crops {pads} do not fit {list(x.shape)}")
    return block, [pads[2 * i : 2 * i + 2] for i in range(spatial)]


def _space_to_batch(c: Ctx) -> None:
    c.arity((3, 3))
    x, y = c.need(0), c.out()
    _moved(c, x, y)
    block, pads = _block_and_pads(c, x)
    want = [x.shape[0] * math.prod(block)]
    for n, k, (lo, hi) in zip(x.shape[1:-1], block, pads, strict=True):
        if (n + lo + hi) % k:
            raise c.invalid(f"padded size {n + lo + hi} is not a multiple of block {k}")
        want.append((n + lo + hi) // k)
    _expect(c, y, [*want, x.shape[-1]])
    _store_block(c, block, pads)


def _batch_to_space(c: Ctx) -> None:
    c.arity((3, 3))
    x, y = c.need(0), c.out()
    _moved(c, x, y)
    block, crops = _block_and_pads(c, x)
    if x.shape[0] % math.prod(block):
        raise c.invalid(f"batch {x.shape[0]} is not a multiple of the block {block}")
    want = [x.shape[0] // math.prod(block)]
    for n, k, (lo, hi) in zip(x.shape[1:-1], block, crops, strict=True):
        want.append(n * k - lo - hi)
    _expect(c, y, [*want, x.shape[-1]])
    _store_block(c, block, crops)


def _store_block(c: Ctx, block: list[int], pads: list[list[int]]) -> None:
    if len(block) == 1:  # NHC: a 4-D tensor of width 1
        block, pads = [*block, 1], [*pads, [0, 0]]
    c.op.options["block"] = tuple(block)
    c.op.options["pads"] = (pads[0][0], pads[1][0])


# -- the rewrite for one-output runtime operators ------------------------------------------

SLICE_LIKE = ("SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "UNPACK")


def one_output_each(ops: list[Operator], tensors: list[Tensor]) -> list[Operator]:
    """The checked operators with SPLIT, SPLIT_V and UNPACK decomposed into one operator per
    output (same type, one ``window`` each) and SQUEEZE/EXPAND_DIMS turned into RESHAPE."""
    result: list[Operator] = []
    for op in ops:
        if op.op_type in ("SQUEEZE", "EXPAND_DIMS"):
            op.op_type = "RESHAPE"
            op.options = {"new_shape": tensors[op.outputs[0]].shape}
        if op.op_type not in SLICE_LIKE:
            result.append(op)
            continue
        for out, window in zip(op.outputs, op.options["windows"], strict=True):
            options = {k: v for k, v in op.options.items() if k != "windows"}
            options["window"] = window
            result.append(Operator(op.index, op.op_type, op.inputs, (out,), options))
    return result


_BO = tflite.BuiltinOptions
_OP = tflite.BuiltinOperator

SPECS: list[tuple[int, OpSpec]] = [
    (_OP.SLICE, OpSpec("SLICE", _BO.NONE, None, None, _slice)),
    (
        _OP.STRIDED_SLICE,
        OpSpec(
            "STRIDED_SLICE",
            _BO.StridedSliceOptions,
            tflite.StridedSliceOptions,
            _strided_slice_options,
            _strided_slice,
        ),
    ),
    (_OP.SPLIT, OpSpec("SPLIT", _BO.SplitOptions, tflite.SplitOptions, _split_options, _split)),
    (
        _OP.SPLIT_V,
        OpSpec("SPLIT_V", _BO.SplitVOptions, tflite.SplitVOptions, _split_options, _split_v),
    ),
    (_OP.PACK, OpSpec("PACK", _BO.PackOptions, tflite.PackOptions, _pack_options, _pack)),
    (
        _OP.UNPACK,
        OpSpec("UNPACK", _BO.UnpackOptions, tflite.UnpackOptions, _unpack_options, _unpack),
    ),
    (
        _OP.SQUEEZE,
        OpSpec("SQUEEZE", _BO.SqueezeOptions, tflite.SqueezeOptions, _squeeze_options, _squeeze),
    ),
    (_OP.EXPAND_DIMS, OpSpec("EXPAND_DIMS", _BO.NONE, None, None, _expand_dims)),
    (
        _OP.DEPTH_TO_SPACE,
        OpSpec(
            "DEPTH_TO_SPACE",
            _BO.DepthToSpaceOptions,
            tflite.DepthToSpaceOptions,
            _block_options,
            _depth_space,
        ),
    ),
    (
        _OP.SPACE_TO_DEPTH,
        OpSpec(
            "SPACE_TO_DEPTH",
            _BO.SpaceToDepthOptions,
            tflite.SpaceToDepthOptions,
            _block_options,
            _depth_space,
        ),
    ),
    (_OP.SPACE_TO_BATCH_ND, OpSpec("SPACE_TO_BATCH_ND", _BO.NONE, None, None, _space_to_batch)),
    (_OP.BATCH_TO_SPACE_ND, OpSpec("BATCH_TO_SPACE_ND", _BO.NONE, None, None, _batch_to_space)),
]
