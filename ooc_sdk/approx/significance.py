"""Operand significance: how much each skippable operand group's contribution *varies*.

For a layer and one of its groups (``ooc_sdk.model.approx``: g input channels at one tap of
one output channel, or one tap of g depthwise channels), its contribution to the int32
accumulator is ``c = sum_{i in group} w_i * (x_i - zp_in)`` (padding contributes nothing).
Skipping the group with its mean ``E c`` folded into the bias (the configuration's bias
correction, :func:`bias_correction`) leaves the accumulator off by ``c - E c`` only, so the
significance is the standard deviation of ``c`` over the output positions and the calibration
inputs, and ``mean`` is ``E c`` (per output channel the group feeds). Ranking by the mean |c|
instead, as a first version did, treats a near-constant contribution (post-ReLU inputs, one
sign per weight) like noise, although its skip shifts every input alike and a bias absorbs it.
Multiplied by the layer's requantization scale (``in_scale * w_scale[oc] / out_scale``) the
deviation becomes output LSBs, comparable across output channels; that ``score`` orders the
groups a layer skips, least first.

The layers' input activations come from tflite-micro itself (:func:`oracle.layer_inputs`), so
they are exactly what the int8 model computes. The means use every output position; the
deviations subsample positions to at most ``max_rows`` per layer (a fixed seed), which keeps a
500-input vww exploration in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ooc_sdk.approx.data import check
from ooc_sdk.approx.oracle import layer_inputs
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model import approx
from ooc_sdk.model.ir import Graph, Operator, Padding


@dataclass(frozen=True)
class LayerSignificance:
    """One skippable layer's groups, in the numbering of ``ooc_sdk.model.approx``."""

    op_index: int
    tensor: int  # the filter tensor
    op: str
    shape: tuple[int, ...]
    group: int
    significance: np.ndarray  # [n_groups] standard deviation of the contribution (accumulator)
    score: np.ndarray  # [n_groups] the same in output LSBs (the skip order)
    mean: np.ndarray  # [n_groups, k] mean contribution to each output channel the group feeds
    # (k = 1, its row's; depthwise k = group, the group's channels, zero past the last)
    group_weights: np.ndarray  # [n_groups] weights per group (the last of a row may be short)
    macs: int
    outputs: int  # output elements

    @property
    def order(self) -> np.ndarray:
        """Group indices, least significant first (ties by index, so it is deterministic)."""
        return np.lexsort((np.arange(len(self.score)), self.score))

    def skipped(self, k: int, steps: int, even: bool) -> np.ndarray:
        """The groups skipped at ratio ``k / steps``, sorted: the least significant of the
        layer's (``even`` False), or of each row, as many in every row (``even``: a row is an
        output channel, or for depthwise the taps of a channel group), so the compacted filter
        stores no padding and its bytes fall with the skipped weights."""
        n = len(self.score)
        if not even:
            return np.sort(self.order[: n * k // steps])
        idx = np.arange(n)
        if self.op == "DEPTHWISE_CONV_2D":
            n_g = math.ceil(self.shape[3] / self.group)
            idx = idx.reshape(n // n_g, n_g).T  # [rows, taps]: group tap * n_g + row
        else:
            idx = idx.reshape(self.shape[0], -1)
        m = idx.shape[1] * k // steps
        pick = np.argsort(self.score[idx], axis=1, kind="stable")[:, :m]
        return np.sort(np.take_along_axis(idx, pick, axis=1).reshape(-1))


def _pads(size: int, k: int, stride: int, dil: int, padding: Padding) -> tuple[int, int]:
    eff = (k - 1) * dil + 1
    if padding is Padding.SAME:
        out = (size + stride - 1) // stride
        return out, max((out - 1) * stride + eff - size, 0) // 2
    return (size - eff) // stride + 1, 0


def _taps(op: Operator, x: np.ndarray, kh: int, kw: int) -> list[np.ndarray]:
    """The input seen by each filter tap: [N, OH, OW, C] per tap, in filter order."""
    o = op.options
    sh, sw = o.get("stride", (1, 1))
    dh, dw = o.get("dilation", (1, 1))
    pad = o.get("padding", Padding.VALID)
    n, h, w, c = x.shape
    oh, pt = _pads(h, kh, sh, dh, pad)
    ow, pl = _pads(w, kw, sw, dw, pad)
    hp = max(h + pt, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w + pl, (ow - 1) * sw + (kw - 1) * dw + 1)
    xp = np.zeros((n, hp, wp, c), dtype=np.float32)
    xp[:, pt : pt + h, pl : pl + w] = x
    return [
        xp[:, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]


def _rows(taps: list[np.ndarray], max_rows: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Each tap's positions as rows [M, C], the same subsample of positions for every tap."""
    flat = [t.reshape(-1, t.shape[-1]) for t in taps]
    m = flat[0].shape[0]
    if m > max_rows:
        keep = np.sort(rng.choice(m, size=max_rows, replace=False))
        flat = [f[keep] for f in flat]
    return flat


def _dense(w: np.ndarray, rows: list[np.ndarray], means: list[np.ndarray], g: int):
    """CONV_2D / FULLY_CONNECTED: [OC, taps, groups] deviation and mean of the contribution."""
    oc, c = w.shape[0], w.shape[-1]
    wt = w.reshape(oc, len(rows), c).astype(np.float32)
    per_tap = math.ceil(c / g)
    sig = np.zeros((oc, len(rows), per_tap), dtype=np.float64)
    mean = np.zeros((oc, len(rows), per_tap), dtype=np.float64)
    for t, r in enumerate(rows):
        for k in range(per_tap):
            sl = slice(k * g, min((k + 1) * g, c))
            sig[:, t, k] = (r[:, sl] @ wt[:, t, sl].T).astype(np.float64).std(axis=0)
            mean[:, t, k] = wt[:, t, sl].astype(np.float64) @ means[t][sl]
    return sig, mean


def _depthwise(w: np.ndarray, rows: list[np.ndarray], means: list[np.ndarray], mult: int):
    """DEPTHWISE_CONV_2D: [taps, C] deviation and mean of the contribution per tap and
    channel."""
    c_out = w.shape[-1]
    src = np.arange(c_out) // mult  # the input channel each output channel reads
    wt = w.reshape(len(rows), c_out).astype(np.float64)
    sig = np.stack([np.abs(wt[t]) * r[:, src].astype(np.float64).std(axis=0)
                    for t, r in enumerate(rows)])  # fmt: skip
    mean = np.stack([wt[t] * means[t][src] for t in range(len(rows))])
    return sig, mean


def _requant(graph: Graph, op: Operator) -> np.ndarray:
    """Per output channel: in_scale * w_scale / out_scale (the accumulator's LSB in output
    LSBs), or ones for a layer without quantization."""
    xin, filt, out = (graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]),
                      graph.tensor(op.outputs[0]))  # fmt: skip
    if xin.quant is None or filt.quant is None or out.quant is None:
        return np.ones(1)
    return xin.quant.scale[0] * np.asarray(filt.quant.scale) / out.quant.scale[0]


def layer_significance(
    graph: Graph, op: Operator, tensor: int, x: np.ndarray, group: int, max_rows: int, seed: int
) -> LayerSignificance:
    """The significance of one layer's groups from its input activations ``x``."""
    filt = graph.tensor(tensor)
    w = filt.data
    assert w is not None
    xin = graph.tensor(op.inputs[0])
    zp = xin.quant.zero_point[0] if xin.quant is not None else 0
    xs = x.astype(np.float32) - np.float32(zp)
    rng = np.random.default_rng(seed)
    shape = tuple(filt.shape)
    req = _requant(graph, op)
    if op.op_type == "FULLY_CONNECTED":
        taps = [xs.reshape(-1, 1, 1, shape[1])]
    elif op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        taps = _taps(op, xs.reshape(-1, *xs.shape[-3:]), shape[1], shape[2])
    else:
        raise InvalidArgumentError(f"{op.op_type} has no operand groups")
    means = [t.reshape(-1, t.shape[-1]).astype(np.float64).mean(axis=0) for t in taps]
    rows = _rows(taps, max_rows, rng)
    if op.op_type == "DEPTHWISE_CONV_2D":
        mult = int(op.options.get("depth_multiplier", 1) or 1)
        per, per_mean = _depthwise(w, rows, means, mult)  # [taps, C]
        scaled = per * np.broadcast_to(req, (shape[3],))[None, :]
        n_g = math.ceil(shape[3] / group)
        pad = ((0, 0), (0, n_g * group - shape[3]))
        sig3 = np.pad(per, pad).reshape(1, per.shape[0], n_g, group).sum(axis=3)
        score3 = np.pad(scaled, pad).reshape(1, per.shape[0], n_g, group).sum(axis=3)
        mean = np.pad(per_mean, pad).reshape(-1, group)
    else:
        sig3, mean3 = _dense(w, rows, means, group)
        score3 = sig3 * np.broadcast_to(req, (shape[0],))[:, None, None]
        mean = mean3.reshape(-1, 1)
    counts = _group_sizes(op.op_type, shape, group)
    outputs = graph.tensor(op.outputs[0]).size
    return LayerSignificance(op.index, tensor, op.op_type, shape, group, sig3.reshape(-1),
                             score3.reshape(-1), mean, counts, op.macs, outputs)  # fmt: skip


def bias_correction(layer: LayerSignificance, skip: np.ndarray) -> tuple[int, ...]:
    """Per output channel, the skipped groups' mean contribution (rounded): what the layer's
    bias gains so that skipping them leaves its accumulators right on average."""
    n_out = approx.out_channels(layer.op, layer.shape)
    skip = np.asarray(skip, dtype=np.int64)
    if layer.op == "DEPTHWISE_CONV_2D":
        n_g = math.ceil(n_out / layer.group)
        delta = np.zeros((n_g, layer.group))
        np.add.at(delta, skip % n_g, layer.mean[skip])
        delta = delta.reshape(-1)[:n_out]
    else:
        delta = np.zeros(n_out)
        np.add.at(delta, skip // (len(layer.score) // n_out), layer.mean[skip, 0])
    return tuple(int(v) for v in np.rint(delta))


def _group_sizes(op: str, shape: tuple[int, ...], group: int) -> np.ndarray:
    """Weights per group, in group order."""
    channels = shape[-1]
    per_tap = math.ceil(channels / group)
    row = np.full(per_tap, group, dtype=np.int64)
    row[-1] = channels - group * (per_tap - 1)
    return np.tile(row, approx.group_count(op, shape, group) // per_tap)


def significance(
    model: bytes,
    graph: Graph,
    x: np.ndarray,
    group: int = 4,
    max_rows: int = 4096,
    seed: int = 0,
) -> list[LayerSignificance]:
    """Every skippable layer's group significance over the calibration inputs ``x``
    (``[N, *input shape]``), in graph order."""
    x = check(graph, x, None, "calibration inputs").x
    layers = approx.skippable_layers(graph)
    acts = layer_inputs(model, graph, x, sorted({op.inputs[0] for op, _ in layers}))
    return [
        layer_significance(graph, op, t, acts[op.inputs[0]], group, max_rows, seed + k)
        for k, (op, t) in enumerate(layers)
    ]
