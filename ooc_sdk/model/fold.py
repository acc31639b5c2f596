"""Ingest-time simplification: fold static shape arithmetic, drop no-op operators.

Converters compute some shapes at run time even though every input is known when the
model is written: Keras's Flatten becomes SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE on int32
tensors, and shape targets are often CONCATENATION/GATHER/... of int32 constants. An
operator whose inputs are all static (constant tensors, results folded before it, or the
SHAPE of a tensor, whose shape is always static in the IR) and whose outputs are int32 or
int64 shape data is evaluated here with numpy, the way tflite-micro would evaluate it, and
dropped. A RESHAPE that read such a result gets a plain static target (``new_shape``) and
loses the shape input; any other reader gets a constant tensor. Operators that change
nothing (a RESHAPE to the same shape, an identity TRANSPOSE, an all-zero PAD, a
one-input CONCATENATION) are dropped and their readers rewired. What was done is recorded
on the graph (``Graph.folded``) and shown by ``ooc inspect``.

Shape data that depends on something known only at run time (an int32 graph input, a
value computed from activations) is refused in one line naming the operator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tflite

from ooc_sdk.errors import InvalidModelError, UnsupportedModelError
from ooc_sdk.model.ir import Activation, DType, Operator, Tensor

_SHAPE_TYPES = (DType.INT32, DType.INT64)

# Builtins evaluated at ingest when all their inputs are static and their outputs shape data.
FOLDABLE: frozenset[str] = frozenset(
    {
        "SHAPE",
        "STRIDED_SLICE",
        "SLICE",
        "PACK",
        "UNPACK",
        "CONCATENATION",
        "GATHER",
        "CAST",
        "ADD",
        "SUB",
        "MUL",
        "FLOOR_DIV",
        "REDUCE_PROD",
        "RESHAPE",
        "SQUEEZE",
        "EXPAND_DIMS",
    }
)


# -- options: decoded here for the folding only, independent of the supported-op table --------


def _act_code(o: Any) -> dict[str, Any]:
    return {"activation_code": o.FusedActivationFunction()}


_OPTION_DECODERS: dict[str, tuple[type, Any]] = {
    "STRIDED_SLICE": (
        tflite.StridedSliceOptions,
        lambda o: {
            "begin_mask": o.BeginMask(),
            "end_mask": o.EndMask(),
            "ellipsis_mask": o.EllipsisMask(),
            "new_axis_mask": o.NewAxisMask(),
            "shrink_axis_mask": o.ShrinkAxisMask(),
            "offset": bool(o.Offset()),
        },
    ),
    "PACK": (tflite.PackOptions, lambda o: {"axis": o.Axis()}),
    "UNPACK": (tflite.UnpackOptions, lambda o: {"axis": o.Axis()}),
    "CONCATENATION": (
        tflite.ConcatenationOptions,
        lambda o: {"axis": o.Axis(), **_act_code(o)},
    ),
    "GATHER": (tflite.GatherOptions, lambda o: {"axis": o.Axis(), "batch_dims": o.BatchDims()}),
    "REDUCE_PROD": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "ADD": (tflite.AddOptions, _act_code),
    "SUB": (tflite.SubOptions, _act_code),
    "MUL": (tflite.MulOptions, _act_code),
}


def decode_fold_options(name: str, options_type: int, table: Any, where: str) -> dict[str, Any]:
    """The options of a foldable operator (``table``: its builtin options, or None)."""
    entry = _OPTION_DECODERS.get(name)
    if entry is None or table is None:
        return {}
    cls, decode = entry
    if options_type != getattr(tflite.BuiltinOptions, cls.__name__):
        raise InvalidModelError(f"{where}: options of type #{options_type} do not belong to {name}")
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    return decode(obj)


# -- evaluation -----------------------------------------------------------------------------


class _NotFoldable(Exception):
    """The operator uses a variant this pass does not evaluate; it is left in the graph."""


def _strided_slice(x: np.ndarray, begin, end, strides, o: dict[str, Any]) -> np.ndarray:
    if o.get("ellipsis_mask") or o.get("new_axis_mask"):
        raise _NotFoldable
    index: list[Any] = []
    for i in range(x.ndim):
        if i >= len(begin):
            index.append(slice(None))
            continue
        b, e, s = int(begin[i]), int(end[i]), int(strides[i])
        if s == 0:
            raise InvalidModelError("STRIDED_SLICE with a zero stride")
        if o.get("shrink_axis_mask", 0) >> i & 1:
            if not -x.shape[i] <= b < x.shape[i]:
                raise InvalidModelError(f"STRIDED_SLICE index {b} out of range {x.shape[i]}")
            index.append(b)
            continue
        if o.get("offset"):
            e = b + e
        lo = None if o.get("begin_mask", 0) >> i & 1 else b
        hi = None if o.get("end_mask", 0) >> i & 1 else e
        index.append(slice(lo, hi, s))
    return np.asarray(x[tuple(index)])


def _activation(y: np.ndarray, code: int) -> np.ndarray:
    if code == tflite.ActivationFunctionType.NONE:
        return y
    if code == tflite.ActivationFunctionType.RELU:
        return np.maximum(y, 0)
    if code == tflite.ActivationFunctionType.RELU6:
        return np.clip(y, 0, 6)
    raise _NotFoldable


def _evaluate(
    op: Operator, args: list[np.ndarray], tensors: list[Tensor], o: dict[str, Any]
) -> list[np.ndarray]:
    """The output values of one foldable operator (a list, one array per output)."""
    t = op.op_type
    if t == "SHAPE":
        return [np.asarray(tensors[op.inputs[0]].shape)]
    x = args[0]
    outs = [tensors[i] for i in op.outputs]
    if t == "STRIDED_SLICE":
        return [_strided_slice(x, args[1], args[2], args[3], o)]
    if t == "SLICE":
        begin, size = args[1], args[2]
        idx = tuple(
            slice(int(b), None if int(n) < 0 else int(b) + int(n))
            for b, n in zip(begin, size, strict=True)
        )
        return [x[idx]]
    if t == "PACK":
        return [np.stack(args, axis=o.get("axis", 0))]
    if t == "UNPACK":
        axis = o.get("axis", 0)
        return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]
    if t == "CONCATENATION":
        return [
            _activation(np.concatenate(args, axis=o.get("axis", 0)), o.get("activation_code", 0))
        ]
    if t == "GATHER":
        if o.get("batch_dims", 0):
            raise _NotFoldable
        return [np.take(x, args[1], axis=o.get("axis", 0))]
    if t in ("ADD", "SUB", "MUL", "FLOOR_DIV"):
        a, b = x.astype(np.int64), args[1].astype(np.int64)
        if t == "FLOOR_DIV":
            if (b == 0).any():
                raise InvalidModelError(f"FLOOR_DIV (op #{op.index}) divides by zero")
            return [np.floor_divide(a, b)]
        y = a + b if t == "ADD" else a - b if t == "SUB" else a * b
        return [_activation(y, o.get("activation_code", 0))]
    if t == "REDUCE_PROD":
        axes = tuple(int(v) % max(x.ndim, 1) for v in np.asarray(args[1]).reshape(-1))
        return [np.prod(x, axis=axes, keepdims=o.get("keep_dims", False))]
    if t in ("CAST", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        return [x.reshape(outs[0].shape)]
    raise _NotFoldable


def _fits(value: np.ndarray, t: Tensor, op: Operator) -> np.ndarray:
    """``value`` as the data of tensor ``t`` (its declared shape and type)."""
    value = np.asarray(value)
    if value.size != t.size:
        raise InvalidModelError(
            f"{op.op_type} (op #{op.index}) computes {list(value.shape)} for tensor "
            f"'{t.name}' declared {list(t.shape)}"
        )
    info = np.iinfo(t.dtype.numpy)
    if value.size and (value.min() < info.min or value.max() > info.max):
        raise InvalidModelError(f"{op.op_type} (op #{op.index}) overflows {t.dtype.label}")
    return value.astype(t.dtype.numpy).reshape(t.shape)


# -- the pass -------------------------------------------------------------------------------


@dataclass
class Simplified:
    """The graph after folding: operators (file indices), tensors, and what was done."""

    ops: list[Operator]
    tensors: list[Tensor]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    # (folded op types, the reader, what it got) -- formatted once readers have final indices
    folds: list[tuple[list[str], Operator, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    removed: int = 0  # operators folded or dropped


def _is_static(t: int, tensors: list[Tensor], values: dict[int, np.ndarray]) -> bool:
    return t < 0 or tensors[t].is_constant or t in values


def _foldable(op: Operator, tensors: list[Tensor], outputs: tuple[int, ...]) -> bool:
    return (
        op.op_type in FOLDABLE
        and bool(op.outputs)
        and all(
            tensors[t].dtype in _SHAPE_TYPES and not tensors[t].is_constant and t not in outputs
            for t in op.outputs
        )
        and all(t >= 0 for t in op.inputs)
    )


def _value(t: int, tensors: list[Tensor], values: dict[int, np.ndarray]) -> np.ndarray:
    data = tensors[t].data
    return values[t] if data is None else np.asarray(data)


def _fold_one(
    op: Operator, tensors: list[Tensor], values: dict[int, np.ndarray], o: dict[str, Any]
) -> bool:
    """Evaluate ``op`` into ``values`` if its inputs are static; False if it stays."""
    reads = op.inputs[1:] if op.op_type == "SHAPE" else op.inputs
    if not all(_is_static(t, tensors, values) for t in reads):
        return False
    if op.op_type != "SHAPE" and tensors[op.inputs[0]].dtype not in _SHAPE_TYPES:
        return False  # e.g. a CAST of an activation: not shape data
    args = [] if op.op_type == "SHAPE" else [_value(t, tensors, values) for t in op.inputs]
    try:
        results = _evaluate(op, args, tensors, o)
    except _NotFoldable:
        return False
    except (ValueError, IndexError, TypeError, OverflowError) as e:  # inconsistent operands
        raise InvalidModelError(
            f"{op.op_type} (op #{op.index}) cannot be evaluated on its constant inputs "
            f"({type(e).__name__})"
        ) from None
    if len(results) != len(op.outputs):
        raise InvalidModelError(
            f"{op.op_type} (op #{op.index}) has {len(op.outputs)} outputs, computes {len(results)}"
        )
    for t, v in zip(op.outputs, results, strict=True):
        values[t] = _fits(v, tensors[t], op)
    return True


def _fold_values(
    ops: list[Operator],
    tensors: list[Tensor],
    outputs: tuple[int, ...],
    options: dict[int, dict[str, Any]],
) -> tuple[dict[int, np.ndarray], set[int]]:
    """Evaluate every foldable operator whose inputs are static (a worklist: an operator is
    looked at again only when one of its inputs was just folded). Returns the folded tensors'
    values and the folded operators' indices."""
    values: dict[int, np.ndarray] = {}
    folded: set[int] = set()
    candidates = [op for op in ops if _foldable(op, tensors, outputs)]
    readers: dict[int, list[Operator]] = {}
    for op in candidates:
        for t in set(op.inputs):
            readers.setdefault(t, []).append(op)
    queue = deque(candidates)
    while queue:
        op = queue.popleft()
        if op.index in folded or not _fold_one(op, tensors, values, options.get(op.index, {})):
            continue
        folded.add(op.index)
        for t in op.outputs:
            queue.extend(readers.get(t, []))
    return values, folded


def _sources(t: int, producer: dict[int, Operator], folded: set[int]) -> list[Operator]:
    """The folded operators that tensor ``t`` was computed by, in file order."""
    seen: dict[int, Operator] = {}
    stack = [t]
    while stack:
        op = producer.get(stack.pop())
        if op is None or op.index not in folded or op.index in seen:
            continue
        seen[op.index] = op
        stack.extend(i for i in op.inputs if i >= 0)
    return [seen[i] for i in sorted(seen)]


def _reshape_target(op: Operator, value: np.ndarray, tensors: list[Tensor]) -> tuple[int, ...]:
    """A RESHAPE's static target from its folded shape input (one -1 resolved)."""
    x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
    target = [int(v) for v in np.asarray(value).reshape(-1)]
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = x.size // known if known else 0
    if tuple(target) != y.shape:
        raise InvalidModelError(
            f"RESHAPE (op #{op.index}): its shape input computes {target}, "
            f"its output is declared {list(y.shape)}"
        )
    return tuple(target)


def _runtime_shape_error(
    op: Operator, tensors: list[Tensor], producer: dict[int, Operator], values: dict
) -> UnsupportedModelError:
    """Name the operator where a RESHAPE's target stops being static."""
    culprit, t = op, op.inputs[1]
    seen: set[int] = set()
    while (p := producer.get(t)) is not None and _foldable(p, tensors, ()) and p.index not in seen:
        seen.add(p.index)
        dynamic = [
            i
            for i in (p.inputs[1:] if p.op_type == "SHAPE" else p.inputs)
            if not _is_static(i, tensors, values)
        ]
        if not dynamic:
            break
        culprit, t = p, dynamic[0]
    return UnsupportedModelError(
        f"unsupported model: {culprit.op_type} (op #{culprit.index}) computes shape data from "
        f"'{tensors[t].name}', which is known only at run time (ooc folds shape arithmetic on "
        "static shapes and constants only)"
    )


def fold_shapes(
    ops: list[Operator],
    tensors: list[Tensor],
    inputs: tuple[int, ...],
    outputs: tuple[int, ...],
    options: dict[int, dict[str, Any]],
) -> Simplified:
    """Fold static shape arithmetic (see the module docstring). ``options``: the decoded
    :func:`decode_fold_options` of every foldable operator, by operator index."""
    values, folded = _fold_values(ops, tensors, outputs, options)
    producer = {t: op for op in ops for t in op.outputs}
    result = Simplified([op for op in ops if op.index not in folded], tensors, inputs, outputs)
    result.removed = len(folded)
    next_buffer = max((t.buffer for t in tensors), default=0) + 1
    for op in result.ops:
        if op.op_type == "RESHAPE" and len(op.inputs) > 1 and op.inputs[1] >= 0:
            shape_in = op.inputs[1]
            if shape_in in values:
                target = _reshape_target(op, values[shape_in], tensors)
                op.inputs = op.inputs[:1]
                op.options["new_shape"] = target
                kinds = [p.op_type for p in _sources(shape_in, producer, folded)]
                result.folds.append((kinds, op, f"target {target}"))
            elif not tensors[shape_in].is_constant:
                raise _runtime_shape_error(op, tensors, producer, values)
        for t in op.inputs:
            if t in values and not tensors[t].is_constant:
                tensors[t].data, tensors[t].buffer = values[t], next_buffer
                next_buffer += 1
                kinds = [p.op_type for p in _sources(t, producer, folded)]
                result.folds.append((kinds, op, f"constant '{tensors[t].name}'"))
    return result


_NOOP_CHECKS = {
    "RESHAPE": lambda op, x, y: x.shape == y.shape,
    "TRANSPOSE": lambda op, x, y: op.options.get("perm") == list(range(len(x.shape))),
    "PAD": lambda op, x, y: all(lo == 0 and hi == 0 for lo, hi in op.options.get("paddings", [])),
    "CONCATENATION": lambda op, x, y: (
        len(op.inputs) == 1 and op.options.get("activation") is Activation.NONE
    ),
}


def drop_noops(s: Simplified) -> None:
    """Drop operators that change nothing, reading their input in place of their output.
    Runs after validation (the checks fill in ``perm`` and ``paddings``)."""
    alias: dict[int, int] = {}

    def resolve(t: int) -> int:
        while t in alias:
            t = alias[t]
        return t

    kept: list[Operator] = []
    for op in s.ops:
        check = _NOOP_CHECKS.get(op.op_type)
        x, y = resolve(op.inputs[0]) if op.inputs else -1, op.outputs[0] if op.outputs else -1
        if (
            check is None
            or x < 0
            or len(op.outputs) != 1
            or not check(op, s.tensors[x], s.tensors[y])
        ):
            kept.append(op)
            continue
        if s.tensors[x].quant != s.tensors[y].quant or s.tensors[x].dtype != s.tensors[y].dtype:
            kept.append(op)
            continue
        if y in s.outputs:
            if x in s.inputs or x in s.outputs:
                kept.append(op)  # the graph's output must stay a tensor of its own
                continue
            s.outputs = tuple(x if t == y else t for t in s.outputs)
        alias[y] = x
        s.removed += 1
        s.dropped.append(
            f"no-op {op.op_type} (op #{op.index} of the file) on {list(s.tensors[y].shape)}"
        )
    for op in kept:
        op.inputs = tuple(resolve(t) if t >= 0 else t for t in op.inputs)
    s.ops = kept


def compact(s: Simplified) -> None:
    """Drop tensors nothing reads or writes any more and renumber the rest (in order).
    Only when operators were removed: an untouched model keeps the file's tensor indices."""
    if not s.removed:
        return
    used = set(s.inputs) | set(s.outputs)
    for op in s.ops:
        used.update(t for t in op.inputs + op.outputs if t >= 0)
    if len(used) == len(s.tensors):
        return
    new_index: dict[int, int] = {}
    kept: list[Tensor] = []
    for t in s.tensors:
        if t.index in used:
            new_index[t.index] = len(kept)
            t.index = len(kept)
            kept.append(t)
    for op in s.ops:
        op.inputs = tuple(new_index[t] if t >= 0 else t for t in op.inputs)
        op.outputs = tuple(new_index[t] for t in op.outputs)
    s.inputs = tuple(new_index[t] for t in s.inputs)
    s.outputs = tuple(new_index[t] for t in s.outputs)
    s.tensors = kept


def describe(s: Simplified) -> list[str]:
    """One line per fold and per dropped operator, with the readers' final indices."""
    lines = [
        f"{', '.join(kinds)} -> {op.op_type} (op {op.index}) {what}" for kinds, op, what in s.folds
    ]
    return lines + s.dropped
