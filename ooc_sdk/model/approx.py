"""Approximate-inference configurations: which operand groups of which layers are skipped.

One owner for the file ``config.json`` that ``ooc approx`` writes and ``ooc build / codegen /
run --approx`` read (docs/FORMAT.md, "Approximation configuration"). Skipping an operand group
is, by definition, computing the layer as if that group's weights were zero: the sums, the
input-offset term and the requantization are otherwise those of the exact layer. So an
approximate model has an exact oracle, the same model with those weights zeroed
(:func:`zeroed_tflite`), which tflite-micro runs bit-exactly; kernels that skip the groups
instead of multiplying by zero must agree with it byte for byte.

Groups (``group`` = g input channels, 4 by default, so the kernels stay SIMD-friendly; the last
group of a row may be shorter):

- CONV_2D, filter ``[OC, KH, KW, IC]``: group ``((oc * KH + kh) * KW + kw) * G + ic // g`` with
  ``G = ceil(IC / g)``: g input channels at one tap of one output channel.
- FULLY_CONNECTED, weights ``[OC, IC]``: as CONV_2D with ``KH = KW = 1``.
- DEPTHWISE_CONV_2D, filter ``[1, KH, KW, C]``: group ``(kh * KW + kw) * G + c // g`` with
  ``G = ceil(C / g)``: one tap of g channels.

A layer may also carry a **bias correction** (``bias``: one int32 per output channel, added
to the layer's bias): the skipped groups' expected contribution to the accumulator, measured on
calibration inputs, so that a skip takes away the contribution's variation around its mean
rather than the whole of it. The oracle is then the zeroed model with the corrected bias, still
an ordinary int8 model that tflite-micro runs.

Layers are named by their filter tensor (index and name in the TFLite subgraph, which ingest
keeps), checked against the model's SHA-256 and the filter's shape, so a configuration made for
another model is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from ooc_sdk.errors import OocError
from ooc_sdk.fileio import read_text, write_atomic
from ooc_sdk.model.ir import Graph, Operator

FORMAT = "ooc-approx"
VERSION = 2  # 2 added the per-layer bias correction; version 1 files (none) are still read
READABLE = (1, 2)
INT32 = (-(1 << 31), (1 << 31) - 1)
SKIPPABLE = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
MAX_CONFIG_BYTES = 64 << 20


class ApproxConfigError(OocError):
    """An approximation configuration is malformed or was made for another model."""


@dataclass(frozen=True)
class LayerSkip:
    """The skipped operand groups of one layer."""

    tensor: int  # index of the filter tensor in the TFLite subgraph
    name: str  # its name, checked on load
    op: str  # CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED
    shape: tuple[int, ...]  # the filter's shape, checked on load
    group: int  # input channels (channels, for depthwise) per group
    skip: tuple[int, ...]  # sorted, distinct group indices
    bias: tuple[int, ...] = ()  # added to the bias, per output channel (empty: no correction)

    @property
    def n_groups(self) -> int:
        return group_count(self.op, self.shape, self.group)


@dataclass(frozen=True)
class ApproxConfig:
    """A whole model's skipping strategy (layers not listed run exactly)."""

    model_sha256: str
    layers: tuple[LayerSkip, ...] = ()
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # free-form facts (accuracy, cost)

    @property
    def skipped_groups(self) -> int:
        return sum(len(layer.skip) for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "model_sha256": self.model_sha256,
            "note": self.note,
            "extra": self.extra,
            "layers": [
                {
                    "tensor": s.tensor,
                    "name": s.name,
                    "op": s.op,
                    "shape": list(s.shape),
                    "group": s.group,
                    "skip": list(s.skip),
                    **({"bias": list(s.bias)} if s.bias else {}),
                }
                for s in self.layers
            ],
        }


def _geometry(op: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(rows, taps per row, channels per tap) of a filter, in group order."""
    if op == "CONV_2D" and len(shape) == 4:
        return shape[0], shape[1] * shape[2], shape[3]
    if op == "FULLY_CONNECTED" and len(shape) == 2:
        return shape[0], 1, shape[1]
    if op == "DEPTHWISE_CONV_2D" and len(shape) == 4:
        return 1, shape[1] * shape[2], shape[3]
    raise ApproxConfigError(f"{op} with a filter of shape {list(shape)} cannot skip operands")


def geometry(op: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(rows, taps per row, channels per tap) of a filter, in group order."""
    return _geometry(op, shape)


def group_count(op: str, shape: tuple[int, ...], group: int) -> int:
    rows, taps, channels = _geometry(op, shape)
    return rows * taps * math.ceil(channels / group)


def group_mask(op: str, shape: tuple[int, ...], group: int, skip: tuple[int, ...]) -> np.ndarray:
    """A boolean array of the filter's shape, True where a weight is skipped."""
    rows, taps, channels = _geometry(op, shape)
    per_tap = math.ceil(channels / group)
    flags = np.zeros(rows * taps * per_tap, dtype=bool)
    flags[list(skip)] = True
    mask = np.repeat(flags.reshape(rows, taps, per_tap), group, axis=2)[:, :, :channels]
    return mask.reshape(shape)


def skippable_layers(graph: Graph) -> list[tuple[Operator, int]]:
    """The operators that may skip operands, with their filter tensor index, in graph order."""
    out = []
    for op in graph.operators:
        if op.op_type in SKIPPABLE and len(op.inputs) > 1 and op.inputs[1] >= 0:
            filt = graph.tensor(op.inputs[1])
            if filt.is_constant:
                out.append((op, filt.index))
    return out


def out_channels(op: str, shape: tuple[int, ...]) -> int:
    """Output channels of a layer (the length of its bias)."""
    return shape[-1] if op == "DEPTHWISE_CONV_2D" else shape[0]


def bias_tensor(graph: Graph, op: Operator) -> int | None:
    """The index of ``op``'s constant int32 bias tensor, or None when it has none."""
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        t = graph.tensor(op.inputs[2])
        if t.is_constant and t.data is not None and t.data.dtype == np.int32:
            return t.index
    return None


def _check_bias(graph: Graph, op: Operator, s: LayerSkip) -> None:
    if not s.bias:
        return
    b = bias_tensor(graph, op)
    where = f"layer {s.name!r}"
    if not s.skip:
        raise ApproxConfigError(f"{where}: a bias correction without skipped groups")
    if b is None:
        raise ApproxConfigError(f"{where}: a bias correction, but the layer has no int32 bias")
    if graph.consumers(b) != [op.index]:
        raise ApproxConfigError(f"{where}: its bias is shared with another operator")
    data = graph.tensor(b).data
    assert data is not None
    if len(s.bias) != data.size or data.size != out_channels(s.op, s.shape):
        raise ApproxConfigError(
            f"{where}: {len(s.bias)} bias corrections for {data.size} output channels"
        )
    new = data.astype(np.int64).reshape(-1) + np.asarray(s.bias, dtype=np.int64)
    if new.min() < INT32[0] or new.max() > INT32[1]:
        raise ApproxConfigError(f"{where}: a corrected bias does not fit in int32")


def layer_skip(
    graph: Graph,
    tensor: int,
    skip: list[int] | tuple[int, ...],
    group: int = 4,
    bias: list[int] | tuple[int, ...] = (),
) -> LayerSkip:
    """A validated :class:`LayerSkip` for the layer whose filter is tensor ``tensor``."""
    ops = {t: op for op, t in skippable_layers(graph)}
    if tensor not in ops:
        raise ApproxConfigError(
            f"tensor {tensor} is not the filter of a layer that can skip operands"
        )
    filt = graph.tensor(tensor)
    if group < 1:
        raise ApproxConfigError(f"group must be at least 1, not {group}")
    s = LayerSkip(
        tensor, filt.name, ops[tensor].op_type, tuple(filt.shape), group,
        tuple(sorted(set(skip))), tuple(int(v) for v in bias),
    )  # fmt: skip
    if s.skip and not 0 <= s.skip[0] <= s.skip[-1] < s.n_groups:
        raise ApproxConfigError(
            f"layer {filt.name!r}: group indices must be in 0..{s.n_groups - 1}"
        )
    _check_bias(graph, ops[tensor], s)
    return s


def validate(config: ApproxConfig, graph: Graph) -> None:
    """Refuse a configuration made for another model or naming groups that do not exist."""
    if config.model_sha256 != graph.sha256:
        raise ApproxConfigError(
            f"the approximation configuration was made for another model "
            f"(sha256 {config.model_sha256[:12]}..., this model {graph.sha256[:12]}...)"
        )
    seen: set[int] = set()
    for s in config.layers:
        if s.tensor in seen:
            raise ApproxConfigError(f"layer {s.name!r} is listed twice")
        seen.add(s.tensor)
        ok = layer_skip(graph, s.tensor, s.skip, s.group, s.bias)
        if (ok.name, ok.op, ok.shape) != (s.name, s.op, s.shape):
            raise ApproxConfigError(
                f"layer {s.name!r} ({s.op} {list(s.shape)}) does not match tensor {s.tensor} of "
                f"this model ({ok.op} {ok.name!r} {list(ok.shape)})"
            )


def corrected_bias(graph: Graph, s: LayerSkip) -> tuple[int, np.ndarray] | None:
    """(bias tensor index, the corrected int32 bias) of a layer with a bias correction."""
    if not s.bias:
        return None
    op = next(op for op, t in skippable_layers(graph) if t == s.tensor)
    b = bias_tensor(graph, op)
    assert b is not None
    data = graph.tensor(b).data
    assert data is not None
    new = data.astype(np.int64) + np.asarray(s.bias, dtype=np.int64).reshape(data.shape)
    return b, new.astype(np.int32)


def apply(graph: Graph, config: ApproxConfig) -> dict[int, np.ndarray]:
    """Validate ``config`` for ``graph``; the zeroed filter data per filter tensor index and the
    corrected bias per bias tensor index."""
    validate(config, graph)
    out: dict[int, np.ndarray] = {}
    for s in config.layers:
        data = graph.tensor(s.tensor).data
        assert data is not None
        zeroed = np.array(data, copy=True)
        zeroed[group_mask(s.op, s.shape, s.group, s.skip)] = 0
        out[s.tensor] = zeroed
        fixed = corrected_bias(graph, s)
        if fixed is not None:
            out[fixed[0]] = fixed[1]
    return out


def zeroed_tflite(model_bytes: bytes, graph: Graph, config: ApproxConfig) -> bytes:
    """The model's flatbuffer with the skipped weights set to zero and the corrected biases
    (the approximate oracle)."""
    patched = bytearray(model_bytes)
    model = tflite.Model.GetRootAs(model_bytes, 0)
    for index, data in apply(graph, config).items():
        buffer = graph.tensor(index).buffer
        if any(t.buffer == buffer and t.index != index for t in graph.tensors):
            raise ApproxConfigError(f"tensor {index}: its buffer is shared with another tensor")
        buf = model.Buffers(buffer)
        start = buf._tab.Vector(buf._tab.Offset(4))
        raw = np.ascontiguousarray(data).tobytes()
        if buf.DataLength() != len(raw):
            raise ApproxConfigError(f"tensor {index}: its buffer does not hold its data in place")
        patched[start : start + len(raw)] = raw
    return bytes(patched)


def load(path: str | Path) -> ApproxConfig:
    """Read a configuration file (one line and no traceback for anything malformed)."""
    path = Path(path)
    text = read_text(path, "approximation configuration", MAX_CONFIG_BYTES)
    try:
        return from_json(json.loads(text))
    except ApproxConfigError as e:
        raise ApproxConfigError(f"{path}: {e}") from None
    except (ValueError, TypeError, KeyError) as e:
        raise ApproxConfigError(f"{path}: not an approximation configuration ({e})") from None


def save(config: ApproxConfig, path: str | Path) -> None:
    """Write ``config`` atomically."""
    write_atomic(Path(path), dumps(config))


def from_json(doc: Any) -> ApproxConfig:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ApproxConfigError(f"not an approximation configuration (format is not {FORMAT!r})")
    if doc.get("version") not in READABLE:
        raise ApproxConfigError(
            f"approximation configuration version {doc.get('version')!r}, not one of "
            f"{', '.join(map(str, READABLE))}"
        )
    layers = tuple(
        LayerSkip(
            int(s["tensor"]),
            str(s["name"]),
            str(s["op"]),
            tuple(int(d) for d in s["shape"]),
            int(s["group"]),
            tuple(sorted({int(g) for g in s["skip"]})),
            tuple(int(v) for v in s.get("bias", ())),
        )
        for s in doc["layers"]
    )
    extra = doc.get("extra", {})
    return ApproxConfig(str(doc["model_sha256"]), layers, str(doc.get("note", "")), dict(extra))


def dumps(config: ApproxConfig) -> str:
    return json.dumps(config.to_json(), indent=1) + "\n"
