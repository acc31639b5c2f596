"""TFLite flatbuffer -> :class:`~ooc_sdk.model.ir.Graph`.

A model file is untrusted input: every vector length and index read from it is
checked against the file before use, so a corrupt, truncated or hostile file
raises :class:`InvalidModelError` (never another exception, never a hang on a
forged billion-element vector). A well-formed model that uses something ooc
does not run raises :class:`UnsupportedModelError` naming every operator and
tensor type at fault.

The schema bindings come from the ``tflite`` package (generated from TFLite's
``schema.fbs``); see docs/DESIGN.md for why.
"""

from __future__ import annotations

import hashlib
import heapq
import struct
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from ooc_sdk.errors import InvalidModelError, OocError, UnsupportedModelError
from ooc_sdk.fileio import MAX_MODEL_BYTES, FileMissingError, read_bytes
from ooc_sdk.model.dilate import fold_dilated_convolutions
from ooc_sdk.model.fold import (
    FOLDABLE,
    compact,
    decode_fold_options,
    describe,
    drop_noops,
    fold_shapes,
)
from ooc_sdk.model.ir import DType, Graph, Operator, Quantization, Tensor
from ooc_sdk.model.ops import (
    BUILTIN_NAMES,
    SPECS_BY_NAME,
    SUPPORTED_OPS,
    check_operator,
    decode_options,
)
from ooc_sdk.model.ops_move import one_output_each

_TYPES: dict[int, DType] = {
    getattr(tflite.TensorType, dt.name): dt for dt in DType if hasattr(tflite.TensorType, dt.name)
}

FILE_IDENTIFIER = b"TFL3"


def load_model(path: str | Path) -> Graph:
    """Read a ``.tflite`` file into a validated graph (the main subgraph)."""
    path = Path(path)
    try:
        data = read_bytes(path, "model", MAX_MODEL_BYTES)
    except FileMissingError:
        raise FileMissingError(f"{path}: no such file") from None
    try:
        graph = parse_model(data, name=path.stem)
    except OocError as e:
        raise type(e)(f"{path.name}: {e}") from None
    graph.source = str(path.resolve())
    return graph


def parse_model(data: bytes, name: str = "model") -> Graph:
    """Parse flatbuffer bytes into a validated graph."""
    data = bytes(data)
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise InvalidModelError("not a TFLite model (no 'TFL3' file identifier)")
    try:
        raw = _Reader(data).read()
    except OocError:
        raise
    except (struct.error, IndexError):
        raise InvalidModelError(
            f"corrupt or truncated TFLite flatbuffer (an offset points past the end of its {len(data)} bytes)"
        ) from None
    except Exception as e:  # any other failure of the generated accessors: a malformed file
        raise InvalidModelError(
            f"corrupt TFLite flatbuffer ({type(e).__name__} while decoding)"
        ) from None
    tensors, ops, inputs, outputs, fold_options = raw
    graph = _build_graph(name, data, tensors, ops, inputs, outputs, fold_options)
    return graph


class _Reader:
    """Decodes the flatbuffer with bounds checks on every count and index."""

    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)
        self.fold_options: dict[int, dict[str, Any]] = {}  # foldable operators' options

    def count(self, n: int, elem_size: int, what: str) -> int:
        if n < 0 or n * elem_size > self.size:
            raise InvalidModelError(f"corrupt TFLite flatbuffer: {what} claims {n} entries")
        return n

    def ints(self, obj: Any, field: str) -> list[int]:
        n = self.count(getattr(obj, field + "Length")(), 4, field)
        if n == 0:
            return []
        return [int(v) for v in getattr(obj, field + "AsNumpy")()]

    def read(
        self,
    ) -> tuple[list[Tensor], list[tuple[int, str, tuple, tuple, dict]], tuple, tuple, dict]:
        model = tflite.Model.GetRootAs(self.data, 0)
        n_sub = self.count(model.SubgraphsLength(), 4, "subgraphs")
        if n_sub == 0:
            raise InvalidModelError("model has no subgraph")
        sub = model.Subgraphs(0)
        n_codes = self.count(model.OperatorCodesLength(), 4, "operator codes")
        codes = []
        for i in range(n_codes):
            oc = model.OperatorCodes(i)
            builtin = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            custom = oc.CustomCode()
            codes.append((builtin, custom.decode("utf-8", "replace") if custom else None))
        n_buffers = self.count(model.BuffersLength(), 4, "buffers")

        n_tensors = self.count(sub.TensorsLength(), 4, "tensors")
        tensors = [self.tensor(sub.Tensors(i), i, model, n_buffers) for i in range(n_tensors)]

        ops = []
        n_ops = self.count(sub.OperatorsLength(), 4, "operators")
        for i in range(n_ops):
            op = sub.Operators(i)
            idx = op.OpcodeIndex()
            if not 0 <= idx < n_codes:
                raise InvalidModelError(f"operator #{i} refers to operator code {idx} of {n_codes}")
            builtin, custom = codes[idx]
            ins = tuple(self.ints(op, "Inputs"))
            outs = tuple(self.ints(op, "Outputs"))
            for t in ins:
                if not -1 <= t < n_tensors:
                    raise InvalidModelError(f"operator #{i} reads tensor {t} of {n_tensors}")
            for t in outs:
                if not 0 <= t < n_tensors:
                    raise InvalidModelError(f"operator #{i} writes tensor {t} of {n_tensors}")
            name = BUILTIN_NAMES.get(builtin, "")
            if name in FOLDABLE:
                self.fold_options[i] = decode_fold_options(
                    name, op.BuiltinOptionsType(), op.BuiltinOptions(), f"{name} (op #{i})"
                )
            if custom is not None and builtin == tflite.BuiltinOperator.CUSTOM:
                ops.append((i, f"custom op '{custom}'", ins, outs, {}))
                continue
            spec = SUPPORTED_OPS.get(builtin)
            if spec is None:
                ops.append((i, BUILTIN_NAMES.get(builtin, f"builtin #{builtin}"), ins, outs, {}))
                continue
            try:
                options = decode_options(
                    spec, op.BuiltinOptionsType(), op.BuiltinOptions(), f"{spec.name} (op #{i})"
                )
            except UnsupportedModelError as e:
                options = {"_unsupported": str(e)}
            ops.append((i, spec.name, ins, outs, options))

        inputs = tuple(self.ints(sub, "Inputs"))
        outputs = tuple(self.ints(sub, "Outputs"))
        for t in inputs + outputs:
            if not 0 <= t < n_tensors:
                raise InvalidModelError(f"graph input/output refers to tensor {t} of {n_tensors}")
        if not inputs or not outputs:
            raise InvalidModelError("the main subgraph declares no inputs or no outputs")
        return tensors, ops, inputs, outputs, self.fold_options

    def tensor(self, t: Any, index: int, model: Any, n_buffers: int) -> Tensor:
        raw_name = t.Name()
        name = raw_name.decode("utf-8", "replace") if raw_name else f"tensor_{index}"
        shape = tuple(self.ints(t, "Shape"))
        if any(d < 0 for d in shape):
            raise UnsupportedModelError(f"tensor '{name}' has a dynamic shape {list(shape)}")
        code = t.Type()
        dtype = _TYPES.get(code)
        if dtype is None:
            raise InvalidModelError(f"tensor '{name}' has unknown type code {code}")
        quant = self.quantization(t.Quantization(), name, shape)
        buf_index = t.Buffer()
        if not 0 <= buf_index < max(n_buffers, 1):
            raise InvalidModelError(f"tensor '{name}' refers to buffer {buf_index} of {n_buffers}")
        data = self.buffer_data(model, buf_index, n_buffers) if buf_index else None
        tensor = Tensor(index, name, shape, dtype, quant, None, buf_index)
        if data is not None and data.size:
            if t.Sparsity() is not None:
                raise UnsupportedModelError(f"tensor '{name}' is sparse")
            if data.size != tensor.nbytes or dtype.itemsize == 0:
                raise InvalidModelError(
                    f"tensor '{name}' {list(shape)} {dtype.label} needs {tensor.nbytes} bytes, "
                    f"its buffer holds {data.size}"
                )
            if dtype in (DType.INT4, DType.BFLOAT16, DType.BOOL):
                tensor.data = data  # raw bytes; no kernel of ooc reads these types
            else:
                tensor.data = data.view(dtype.numpy.newbyteorder("<")).reshape(shape)
        return tensor

    def quantization(self, q: Any, name: str, shape: tuple[int, ...]) -> Quantization | None:
        if q is None:
            return None
        if q.DetailsType() != 0:
            raise UnsupportedModelError(f"tensor '{name}' uses custom quantization")
        n_scale = self.count(q.ScaleLength(), 4, "scales")
        n_zp = self.count(q.ZeroPointLength(), 8, "zero points")
        if n_scale == 0:
            return None
        scale = tuple(float(v) for v in q.ScaleAsNumpy())
        zero_point = tuple(int(v) for v in q.ZeroPointAsNumpy()) if n_zp else (0,) * n_scale
        if n_zp == 1 and n_scale > 1:
            zero_point = zero_point * n_scale
        if len(zero_point) != n_scale:
            raise InvalidModelError(f"tensor '{name}' has {n_scale} scales and {n_zp} zero points")
        if not all(np.isfinite(s) and s > 0 for s in scale):
            raise InvalidModelError(f"tensor '{name}' has a non-positive or non-finite scale")
        axis = q.QuantizedDimension()
        if n_scale > 1 and len(shape) == 1 and shape[0] == n_scale:
            axis = 0  # some converters label a bias with its filter's channel axis
        if n_scale > 1 and not (0 <= axis < len(shape) and shape[axis] == n_scale):
            raise InvalidModelError(
                f"tensor '{name}' has {n_scale} scales along axis {axis} of {list(shape)}"
            )
        return Quantization(scale, zero_point, axis)

    def buffer_data(self, model: Any, index: int, n_buffers: int) -> np.ndarray | None:
        b = model.Buffers(index)
        offset, size = b.Offset(), b.Size()
        if offset > 1:  # large models keep buffers after the flatbuffer (offset from file start)
            if offset + size > self.size:
                raise InvalidModelError(f"buffer {index} lies beyond the end of the file")
            return np.frombuffer(self.data, dtype=np.uint8, count=size, offset=offset)
        n = self.count(b.DataLength(), 1, f"buffer {index}")
        if n == 0:
            return None
        return b.DataAsNumpy()


def _build_graph(
    name: str,
    data: bytes,
    tensors: list[Tensor],
    raw_ops: list[tuple[int, str, tuple, tuple, dict]],
    inputs: tuple[int, ...],
    outputs: tuple[int, ...],
    fold_options: dict[int, dict[str, Any]],
) -> Graph:
    ops = [Operator(i, op_type, ins, outs, options) for i, op_type, ins, outs, options in raw_ops]
    s = fold_shapes(ops, tensors, inputs, outputs, fold_options)
    fold_dilated_convolutions(s)
    _check_supported(s.ops, s.tensors)
    s.ops = one_output_each(s.ops, s.tensors)
    drop_noops(s)
    compact(s)
    tensors, inputs, outputs = s.tensors, s.inputs, s.outputs
    ops = s.ops
    for pos, op in enumerate(ops):
        op.index = pos  # positions from here on (the same as the file's unless ops were dropped)
    order = _topological_order(ops, tensors, inputs)
    ops = [ops[i] for i in order]
    for pos, op in enumerate(ops):
        op.index = pos
    counted: set[int] = set()
    for op in ops:
        for t in op.inputs:
            if t < 0:
                continue
            tensor = tensors[t]
            if tensor.is_constant:
                if tensor.buffer not in counted:
                    counted.add(tensor.buffer)
                    op.weight_bytes += tensor.nbytes
            else:
                op.act_in_bytes += tensor.nbytes
        op.act_out_bytes = sum(tensors[t].nbytes for t in op.outputs)
    for t in outputs:
        if tensors[t].is_constant:
            raise UnsupportedModelError(f"graph output '{tensors[t].name}' is a constant")
    return Graph(
        name=name,
        tensors=tensors,
        operators=ops,
        inputs=inputs,
        outputs=outputs,
        sha256=hashlib.sha256(data).hexdigest(),
        source_bytes=len(data),
        folded=describe(s),
    )


def _check_supported(ops: list[Operator], tensors: list[Tensor]) -> None:
    """Validate every operator; report all unsupported features in one line."""
    unsupported_ops: dict[str, list[int]] = {}
    problems: list[str] = []
    for op in ops:
        spec = SPECS_BY_NAME.get(op.op_type)
        if spec is None:
            unsupported_ops.setdefault(op.op_type, []).append(op.index)
            continue
        if "_unsupported" in op.options:
            problems.append(op.options["_unsupported"])
            continue
        try:
            check_operator(op, tensors, spec)
        except UnsupportedModelError as e:
            problems.append(str(e))
    if not unsupported_ops and not problems:
        return
    parts = []
    for op_type, where in unsupported_ops.items():
        label = op_type if op_type.startswith("custom") else f"operator {op_type}"
        more = ", ..." if len(where) > 4 else ""
        parts.append(f"{label} (op {', '.join(f'#{i}' for i in where[:4])}{more})")
    odd = _odd_activation_types(ops, tensors)
    if odd:
        parts.append(odd)
    if not parts:
        parts = problems[:2]
    supported = (
        f"ooc supports {', '.join(sorted(SPECS_BY_NAME))}"
        if unsupported_ops
        else "supported: see 'ooc inspect --help'"
    )
    raise UnsupportedModelError("unsupported model: " + "; ".join(parts) + f" ({supported})")


def _odd_activation_types(ops: list[Operator], tensors: list[Tensor]) -> str:
    """Name activation tensor types other than int8/float32 (e.g. int16 activations)."""
    seen: dict[DType, str] = {}
    for op in ops:
        for t in op.inputs + op.outputs:
            if (
                t >= 0
                and not tensors[t].is_constant
                and tensors[t].dtype not in (DType.INT8, DType.FLOAT32)
            ):
                seen.setdefault(tensors[t].dtype, tensors[t].name)
    if not seen:
        return ""
    types = ", ".join(dt.label for dt in seen)
    example = next(iter(seen.values()))
    return f"{types} activations (e.g. tensor '{example}'; ooc runs int8)"


def _topological_order(
    ops: list[Operator], tensors: list[Tensor], inputs: tuple[int, ...]
) -> list[int]:
    """A stable topological order (file order where it is already valid)."""
    producer: dict[int, int] = {}
    for op in ops:
        for t in op.outputs:
            if t in producer:
                raise InvalidModelError(f"tensor '{tensors[t].name}' is written by two operators")
            if tensors[t].is_constant:
                raise InvalidModelError(
                    f"operator #{op.index} writes constant tensor '{tensors[t].name}'"
                )
            producer[t] = op.index
    deps: list[set[int]] = []
    users: dict[int, list[int]] = {}
    for op in ops:
        d = set()
        for t in op.inputs:
            if t < 0 or tensors[t].is_constant:
                continue
            if t in producer:
                d.add(producer[t])
            elif t not in inputs:
                raise InvalidModelError(
                    f"operator #{op.index} reads tensor '{tensors[t].name}', which nothing writes"
                )
        d.discard(op.index)
        if any(t in producer and producer[t] == op.index for t in op.inputs if t >= 0):
            raise InvalidModelError(f"operator #{op.index} reads its own output")
        deps.append(d)
        for p in d:
            users.setdefault(p, []).append(op.index)
    remaining = [len(d) for d in deps]
    ready = [i for i, n in enumerate(remaining) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users.get(i, []):
            remaining[u] -= 1
            if remaining[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(ops):
        raise InvalidModelError("the operator graph has a cycle")
    return order
