"""The graph IR every later stage consumes (planner, packer, codegen, audits).

A :class:`Graph` is one TFLite subgraph reduced to what an int8 CNN runtime
needs: tensors with shape, type, quantization and (for constants) data;
operators in a topological order with their options already decoded into plain
Python values; the graph's inputs and outputs; tensor lifetimes; and per-op
cost figures (MACs, weight bytes, activation bytes).

Conventions:
- Shapes are TFLite's: NHWC activations, OHWI conv filters, 1HWC depthwise
  filters, [out, in] fully connected weights.
- An operator input index of ``-1`` marks an omitted optional input (a missing
  bias).
- Operator indices are positions in :attr:`Graph.operators`, which is always in
  a valid execution order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np


class DType(enum.Enum):
    """Tensor element types ooc can name (a superset of what it runs)."""

    FLOAT32 = ("float32", 4)
    FLOAT16 = ("float16", 2)
    FLOAT64 = ("float64", 8)
    INT4 = ("int4", 1)  # packed two per byte in TFLite; byte size rounded up below
    INT8 = ("int8", 1)
    UINT8 = ("uint8", 1)
    INT16 = ("int16", 2)
    UINT16 = ("uint16", 2)
    INT32 = ("int32", 4)
    UINT32 = ("uint32", 4)
    INT64 = ("int64", 8)
    UINT64 = ("uint64", 8)
    BOOL = ("bool", 1)
    STRING = ("string", 0)
    COMPLEX64 = ("complex64", 8)
    COMPLEX128 = ("complex128", 16)
    BFLOAT16 = ("bfloat16", 2)
    RESOURCE = ("resource", 0)
    VARIANT = ("variant", 0)

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def itemsize(self) -> int:
        return self.value[1]

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype for this type; only for the plain numeric types."""
        return np.dtype(self.label)


class Activation(enum.Enum):
    """Fused activation of an operator (TFLite ``ActivationFunctionType``)."""

    NONE = "none"
    RELU = "relu"
    RELU6 = "relu6"


class Padding(enum.Enum):
    SAME = "same"
    VALID = "valid"


@dataclass(frozen=True)
class Quantization:
    """Affine quantization ``real = scale * (q - zero_point)``.

    Per-tensor when ``scale`` has one element, per-channel along ``axis``
    otherwise.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_json(self) -> dict[str, Any]:
        if self.per_channel:
            return {"per_channel": True, "axis": self.axis, "channels": len(self.scale)}
        return {"scale": self.scale[0], "zero_point": self.zero_point[0]}


@dataclass(eq=False)
class Tensor:
    """One tensor of the graph. ``data`` is set exactly for constant tensors."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: DType
    quant: Quantization | None = None
    data: np.ndarray | None = field(default=None, repr=False)
    buffer: int = 0  # index of the flatbuffer buffer holding the data (0 = none)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies (packed int4 rounds up to whole bytes)."""
        if self.dtype is DType.INT4:
            return (self.size + 1) // 2
        return self.size * self.dtype.itemsize


@dataclass(eq=False)
class Operator:
    """One operator. ``options`` holds decoded builtin options (see ``ooc_sdk.model.ops``)."""

    index: int
    op_type: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    macs: int = 0
    weight_bytes: int = 0  # bytes of constant inputs first used by this op
    act_in_bytes: int = 0  # bytes of non-constant inputs
    act_out_bytes: int = 0  # bytes of outputs


@dataclass(frozen=True)
class Lifetime:
    """Operators between which a tensor must be kept: ``first`` writes it
    (-1 for a graph input), ``last`` reads it last (``len(operators)`` for a
    graph output, which outlives the invocation)."""

    first: int
    last: int


@dataclass(eq=False)
class Graph:
    """A model ready for planning. Build one with :func:`ooc_sdk.model.load_model`."""

    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    sha256: str = ""  # of the source flatbuffer
    source_bytes: int = 0
    source: str | None = None  # the file it was read from (load_model), absolute; None: bytes
    # what ingest folded or dropped (ooc_sdk.model.fold), one line each, for `ooc inspect`
    folded: list[str] = field(default_factory=list)
    # an approximate build's graph (ooc_sdk.lower.skip.approximate): what was skipped; None: exact
    approx: Any = None

    # -- derived facts ---------------------------------------------------------------

    @property
    def cache_id(self) -> str:
        """Names what a build of this graph computes: the model's sha256, and for an approximate
        graph its configuration's (build caches key on it)."""
        if self.approx is None:
            return self.sha256
        return f"{self.sha256}~approx-{self.approx.config_sha256}"

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def consumers(self, tensor_index: int) -> list[int]:
        return self._consumers.get(tensor_index, [])

    def producer(self, tensor_index: int) -> int | None:
        return self._producer.get(tensor_index)

    @cached_property
    def _producer(self) -> dict[int, int]:
        return {t: op.index for op in self.operators for t in op.outputs}

    @cached_property
    def _consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for op in self.operators:
            for t in op.inputs:
                if t >= 0 and op.index not in out.setdefault(t, []):
                    out[t].append(op.index)
        return out

    @cached_property
    def activation_tensors(self) -> list[int]:
        """Indices of every non-constant tensor the graph reads or writes."""
        used = set(self.inputs) | set(self.outputs)
        for op in self.operators:
            used.update(t for t in op.inputs + op.outputs if t >= 0)
        return sorted(t for t in used if not self.tensors[t].is_constant)

    @cached_property
    def lifetimes(self) -> dict[int, Lifetime]:
        """Lifetime of every activation tensor, in operator positions."""
        end = len(self.operators)
        result: dict[int, Lifetime] = {}
        for t in self.activation_tensors:
            first = -1 if t in self.inputs else self._producer.get(t, -1)
            readers = self._consumers.get(t, [])
            last = end if t in self.outputs else max(readers, default=first)
            result[t] = Lifetime(first, last)
        return result

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.operators)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.operators)

    @property
    def largest_tensor_bytes(self) -> int:
        return max((self.tensors[t].nbytes for t in self.activation_tensors), default=0)

    @property
    def peak_activation_bytes(self) -> int:
        """Naive per-layer peak: the largest (inputs + outputs) of any one operator."""
        return max((op.act_in_bytes + op.act_out_bytes for op in self.operators), default=0)

    def live_bytes_at(self, op_index: int) -> int:
        """Bytes of activation tensors that must exist while operator ``op_index`` runs."""
        return sum(
            self.tensors[t].nbytes
            for t, life in self.lifetimes.items()
            if life.first <= op_index <= life.last
        )

    @property
    def peak_live_bytes(self) -> int:
        """Largest sum of simultaneously live activations (residual branches included):
        a lower bound for any layer-by-layer plan that keeps whole tensors in SRAM."""
        return max((self.live_bytes_at(i) for i in range(len(self.operators))), default=0)
