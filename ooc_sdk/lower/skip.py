"""Approximate builds: a model's graph with the skipped operand groups taken out of its filters.

:func:`approximate` applies an approximation configuration (ooc_sdk/model/approx.py) to a graph:
each listed layer's filter tensor is replaced by its *compacted* filter, which stores only the
groups the layer keeps, and the layer's kernel becomes the skipping one (``*_SKIP`` operator
kinds, ``ooc_conv_skip_params_t`` / ``ooc_fc_skip_params_t``, c_runtime/src/kernels/skip.c),
which walks a per-row list of the kept groups. Every later stage (planner, packer, codegen)
takes the approximate graph as it takes any: skipped weights are never in the tables or the
image, so out of core they are never read from flash nor decrypted. A layer's bias correction
(``LayerSkip.bias``) replaces its bias tensor's data with the corrected bias.

Layout (docs/FORMAT.md, "Approximation configuration"): a row per output channel (CONV_2D,
FULLY_CONNECTED) or per ``group`` output channels (DEPTHWISE_CONV_2D) lists its kept groups in
the exact filter's order, padded with zero groups to ``slots`` (the most any row keeps), so
that every row is one size and a step may still take any range of output channels. A config
that keeps the same number of groups in every row wastes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.model import approx
from ooc_sdk.model.approx import ApproxConfig, ApproxConfigError, LayerSkip
from ooc_sdk.model.ir import Graph, Tensor

NOT_FUSED = (
    "an approximate build (--approx) runs layer by layer: fused schedules (--fuse, "
    "--max-mac-overhead, or a budget only fusion meets) do not skip operands yet"
)
DW_GROUP_LIMIT = 64  # channels per group of an approximate DEPTHWISE_CONV_2D (skip.c)
DW_TAP_LIMIT = 64  # its kernel's taps (skip.c)


@dataclass(frozen=True)
class SkipLayout:
    """One approximate layer: its compacted filter and the kept-group lists the kernel walks."""

    skip: LayerSkip
    group: int  # channels per group
    slots: int  # groups stored per row
    kept: np.ndarray = field(repr=False)  # uint16 [rows]
    index: np.ndarray = field(repr=False)  # uint16 [rows * slots]
    data: np.ndarray = field(repr=False)  # the compacted filter, int8, in its stored shape
    kept_weights: int  # nonzero-able weights computed (the exact filter's minus the skipped)

    @property
    def weights(self) -> int:
        return math.prod(self.skip.shape)


@dataclass(frozen=True)
class Approximation:
    """What :func:`approximate` did to a graph (``Graph.approx``)."""

    config: ApproxConfig = field(repr=False)
    config_sha256: str  # of the configuration file's canonical text (approx.dumps)
    layouts: dict[int, SkipLayout]  # operator index -> its layout
    macs: int  # the exact model's
    skipped_macs: int
    weight_bytes: int  # the exact model's constant bytes
    stored_weight_bytes: int  # the approximate model's (compacted filters, padding included)

    def to_json(self) -> dict[str, Any]:
        """The record plan.json, build.json, manifest.json and `ooc dumpinfo` carry."""
        return {
            "config_sha256": self.config_sha256,
            "layers": len(self.layouts),
            "skipped_groups": sum(len(s.skip.skip) for s in self.layouts.values()),
            "macs": self.macs,
            "skipped_macs": self.skipped_macs,
            "skipped_mac_fraction": round(self.skipped_macs / max(self.macs, 1), 4),
            "weight_bytes": self.weight_bytes,
            "stored_weight_bytes": self.stored_weight_bytes,
        }


def _rows(keep: np.ndarray, values: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Per row of ``keep`` [rows, n], its kept positions first (in order): slots, the kept
    counts and the kept positions [rows, slots] (0 where a row keeps fewer)."""
    counts = keep.sum(axis=1)
    slots = max(int(counts.max(initial=0)), 1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :slots]
    live = np.arange(slots)[None, :] < counts[:, None]
    return slots, counts.astype(np.uint16), np.where(live, values[order], 0)


def _conv_layout(s: LayerSkip, data: np.ndarray) -> SkipLayout:
    """CONV_2D [OC, KH, KW, IC] and FULLY_CONNECTED [OC, IC]: a row per output channel, a kept
    group stored as ``group_bytes(channels, group)`` bytes (zero-padded), its index its number in the row
    (tap * groups per tap + input channel group)."""
    rows, kh, kw, ic = (s.shape[0], 1, 1, s.shape[1]) if s.op == "FULLY_CONNECTED" else s.shape
    g = s.group
    if g > 4 and g % 4:
        raise ApproxConfigError(
            f"layer {s.name!r}: an approximate {s.op}'s group is at most 4 input channels or "
            f"a multiple of 4, not {g}"
        )
    per_tap, width = math.ceil(ic / g), group_bytes(ic, g)
    if kh * kw * per_tap > 0xFFFF:
        raise ApproxConfigError(f"layer {s.name!r}: more than 65535 groups per row")
    padded = np.zeros((rows, kh * kw, per_tap * g), dtype=np.int8)
    padded[:, :, :ic] = data.reshape(rows, kh * kw, ic)
    groups = np.zeros((rows, kh * kw * per_tap, max(width, g)), dtype=np.int8)
    groups[:, :, :g] = padded.reshape(rows, kh * kw * per_tap, g)
    groups = groups[:, :, :width]  # fewer than four channels: what lies past them is zero
    keep = ~approx.group_mask(s.op, s.shape, g, s.skip).reshape(rows, kh * kw, ic)[:, :, ::g]
    keep = keep.reshape(rows, -1)
    j = np.arange(keep.shape[1])
    slots, kept, pos = _rows(keep, j)
    live = np.arange(slots)[None, :] < kept[:, None]
    compact = np.where(live[:, :, None], np.take_along_axis(groups, pos[:, :, None], axis=1), 0)
    index = np.where(live, pos, 0).astype(np.uint16)
    mask = approx.group_mask(s.op, s.shape, g, s.skip)
    return SkipLayout(
        s, g, slots, kept, index.reshape(-1),
        compact.astype(np.int8).reshape(rows, slots * width), int((~mask).sum()),
    )  # fmt: skip


def group_bytes(channels: int, group: int) -> int:
    """Bytes a kept group of CONV_2D or FULLY_CONNECTED with ``channels`` input channels takes
    (OOC_SKIP_GROUP_BYTES, skip.c): whole words, but the channels when fewer than four are one
    group."""
    if channels < 4 and channels <= group:
        return channels
    return 4 * math.ceil(group / 4)


def _depthwise_layout(s: LayerSkip, data: np.ndarray) -> SkipLayout:
    """DEPTHWISE_CONV_2D [1, KH, KW, C]: a row per ``group`` channels, its kept taps."""
    _, kh, kw, c = s.shape
    g, n_rows = s.group, math.ceil(c / s.group)
    if g > DW_GROUP_LIMIT or kh * kw > DW_TAP_LIMIT:
        raise ApproxConfigError(
            f"layer {s.name!r}: an approximate DEPTHWISE_CONV_2D takes groups of at most "
            f"{DW_GROUP_LIMIT} channels and kernels of at most {DW_TAP_LIMIT} taps"
        )
    flags = np.zeros(kh * kw * n_rows, dtype=bool)
    flags[list(s.skip)] = True
    keep = ~flags.reshape(kh * kw, n_rows).T  # [rows, taps]
    taps = np.arange(kh * kw)
    slots, kept, pos = _rows(keep, taps)
    live = np.arange(slots)[None, :] < kept[:, None]
    flat = data.reshape(kh * kw, c)
    row_of = np.arange(c) // g
    tap_of = pos[row_of].T  # [slots, C]: the tap slot k of channel c's row holds
    compact = np.where(live[row_of].T, flat[tap_of, np.arange(c)[None, :]], 0)
    index = np.where(live, pos, 0).astype(np.uint16)  # the tap: ky * KW + kx
    mask = approx.group_mask(s.op, s.shape, g, s.skip)
    return SkipLayout(
        s, g, slots, kept, index.reshape(-1), compact.astype(np.int8).reshape(1, slots, 1, c),
        int((~mask).sum()),
    )  # fmt: skip


def layout(s: LayerSkip, data: np.ndarray) -> SkipLayout:
    """The compacted filter and kept-group lists of one layer."""
    if s.op == "DEPTHWISE_CONV_2D":
        return _depthwise_layout(s, data)
    return _conv_layout(s, data)


def approximate(graph: Graph, config: ApproxConfig) -> Graph:
    """``graph`` with ``config``'s layers compacted (a new graph; ``graph`` is unchanged).
    Refuses (ApproxConfigError) a configuration for another model, one naming groups that do
    not exist, or a layer whose filter another operator also reads."""
    approx.validate(config, graph)
    by_tensor = {t: op for op, t in approx.skippable_layers(graph)}
    tensors = list(graph.tensors)
    operators = list(graph.operators)
    layouts: dict[int, SkipLayout] = {}
    buffers = {t.buffer for t in graph.tensors if t.is_constant}
    fresh = max(buffers, default=0) + 1
    skipped_macs = 0
    for s in config.layers:
        if not s.skip:  # nothing skipped: the exact layer and its (faster) exact kernel
            continue
        op = by_tensor[s.tensor]
        if graph.consumers(s.tensor) != [op.index] or s.tensor in op.inputs[2:]:
            raise ApproxConfigError(f"layer {s.name!r}: its filter is shared with another input")
        filt = graph.tensor(s.tensor)
        assert filt.data is not None
        lay = layout(s, filt.data)
        shared = any(t.buffer == filt.buffer and t.index != filt.index for t in graph.tensors)
        tensors[s.tensor] = Tensor(
            filt.index, filt.name, tuple(lay.data.shape), filt.dtype, filt.quant, lay.data,
            fresh if shared else filt.buffer,
        )  # fmt: skip
        fresh += 1
        lost = op.macs - op.macs * lay.kept_weights // lay.weights
        skipped_macs += lost
        operators[op.index] = dataclasses.replace(
            op, macs=op.macs - lost, weight_bytes=op.weight_bytes - filt.nbytes + lay.data.nbytes
        )
        layouts[op.index] = lay
        fixed = approx.corrected_bias(graph, s)
        if fixed is not None:
            b, data = fixed  # validate() refused a bias another operator reads
            old = graph.tensor(b)
            shared = any(t.buffer == old.buffer and t.index != b for t in graph.tensors)
            tensors[b] = dataclasses.replace(old, data=data, buffer=fresh if shared else old.buffer)
            fresh += 1
    digest = hashlib.sha256(approx.dumps(config).encode()).hexdigest()
    info = Approximation(
        config,
        digest, layouts, graph.macs, skipped_macs, graph.weight_bytes,
        graph.weight_bytes - sum(graph.tensor(t).nbytes - tensors[t].nbytes
                                 for t in (lay.skip.tensor for lay in layouts.values())),
    )  # fmt: skip
    return dataclasses.replace(graph, tensors=tensors, operators=operators, approx=info)


def even_config(
    graph: Graph,
    fraction: float,
    group: int = 4,
    seed: int = 0,
    ops: tuple[str, ...] = approx.SKIPPABLE,
) -> ApproxConfig:
    """A configuration skipping ``fraction`` of the groups of every row of every layer of the
    ``ops`` types, the groups chosen at random (``seed``): the same count per row, so the
    compacted filters store no padding. For tests and measurements, not a good approximation."""
    rng = np.random.default_rng(seed)
    layers = []
    for op, t in approx.skippable_layers(graph):
        if op.op_type not in ops:
            continue
        shape = graph.tensor(t).shape
        n = approx.group_count(op.op_type, shape, group)
        rows = 1 if op.op_type == "DEPTHWISE_CONV_2D" else shape[0]
        per_row = n // rows
        if op.op_type == "DEPTHWISE_CONV_2D":  # a row: the taps of one channel group
            per_tap = math.ceil(shape[3] / group)
            taps = shape[1] * shape[2]
            k = round(taps * fraction)
            skip = [tap * per_tap + r for r in range(per_tap)
                    for tap in rng.choice(taps, size=k, replace=False)]  # fmt: skip
        else:
            k = round(per_row * fraction)
            skip = [r * per_row + j for r in range(rows)
                    for j in rng.choice(per_row, size=k, replace=False)]  # fmt: skip
        layers.append(approx.layer_skip(graph, t, [int(j) for j in skip], group))
    return ApproxConfig(graph.sha256, tuple(layers), note=f"even {fraction:g}")


def approximate_file(graph: Graph, path: str | Path) -> Graph:
    """:func:`approximate` with the configuration file at ``path`` (``--approx``)."""
    return approximate(graph, approx.load(path))
