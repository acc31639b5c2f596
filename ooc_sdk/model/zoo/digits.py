"""A small int8 CNN for scikit-learn's bundled 8x8 digits, trained here in numpy.

The labelled evaluation of approximate inference (``ooc approx``, issue 27) needs a data set
and a model trained on it with nothing downloaded: scikit-learn ships the 1,797 UCI digits
inside its wheel. :func:`train` fits a four-layer CNN (two 3x3 convolutions, a strided one, a
fully-connected classifier) with plain numpy backpropagation and Adam from a fixed seed, on
digits shifted by up to a pixel, optionally with a group lasso (the sum of the L2 norms of the
operand groups ``ooc approx`` skips, weighted by ``group_lasso``: approximation-aware training,
which lets whole groups fall towards zero), then quantizes it the way the TFLite converter does for int8 (weights symmetric, per output channel
for convolutions; int32 biases; activation ranges calibrated layer after layer on the
fake-quantized outputs of the one before) and writes it with :mod:`ooc_sdk.model.writer`.

The split is fixed: the first :data:`TRAIN` digits train, the rest (597) evaluate.
scikit-learn is a dev dependency (``pip install 'ooc-sdk[dev]'``); it is imported on use.
"""

from __future__ import annotations

import numpy as np

from ooc_sdk.errors import ToolError
from ooc_sdk.model.ir import Activation, DType, Padding
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite

TRAIN = 1200
# the weight of the group lasso scripts/train_digits_cnn.py and the benchmark train with
GROUP_LASSO = 3e-4
INPUT_SCALE = float(np.float32(1.0 / 255.0))  # pixels 0..16 scaled to [0, 1]
INPUT_ZERO_POINT = -128
# (out channels, stride) of the three 3x3 SAME convolutions, then a 10-way fully-connected layer
CONVS = ((16, 1), (32, 2), (64, 1))


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as float32 in [0, 1], shape [N, 8, 8, 1], and their int64 labels."""
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        raise ToolError("scikit-learn is not installed: pip install 'ooc-sdk[dev]'") from None
    d = sk_load()
    x = (d.images.astype(np.float32) / np.float32(16.0))[..., None]
    return x, d.target.astype(np.int64)


def quantize_input(x: np.ndarray) -> np.ndarray:
    """Float digits in [0, 1] as the model's int8 input."""
    return np.clip(np.round(x / INPUT_SCALE) + INPUT_ZERO_POINT, -128, 127).astype(np.int8)


def evaluation_set() -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits (``x`` int8 [597, 8, 8, 1], ``y`` int64): a DATA.npz for approx."""
    x, y = load_digits()
    return quantize_input(x[TRAIN:]), y[TRAIN:]


def calibration_set(count: int, seed: int = 0) -> np.ndarray:
    """``count`` training digits (int8 [count, 8, 8, 1], drawn with ``seed``): calibration
    inputs apart from :func:`evaluation_set`."""
    x, _ = load_digits()
    pick = np.random.default_rng(seed).choice(TRAIN, size=count, replace=False)
    return quantize_input(x[np.sort(pick)])


def _pads(size: int, stride: int) -> tuple[int, int, int]:
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + 3 - size, 0)
    return out, total // 2, total - total // 2


def _im2col(x: np.ndarray, stride: int) -> tuple[np.ndarray, tuple[int, ...]]:
    n, h, w, c = x.shape
    oh, pt, pb = _pads(h, stride)
    ow, pl, pr = _pads(w, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    taps = [
        xp[:, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride, :]
        for i in range(3)
        for j in range(3)
    ]
    cols = np.stack(taps, axis=3).reshape(n * oh * ow, 9 * c)  # [.., tap, c]: the filter order
    return cols, (n, oh, ow, pt, pl, xp.shape[1], xp.shape[2])


def _col2im(dcols: np.ndarray, geo: tuple[int, ...], c: int, stride: int, h: int, w: int):
    n, oh, ow, pt, pl, hp, wp = geo
    d = dcols.reshape(n, oh, ow, 9, c)
    dxp = np.zeros((n, hp, wp, c), dtype=dcols.dtype)
    for t in range(9):
        i, j = divmod(t, 3)
        dxp[:, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride] += d[
            :, :, :, t
        ]
    return dxp[:, pt : pt + h, pl : pl + w]


def _group_shrink(w: np.ndarray) -> np.ndarray:
    """The gradient of the sum of the L2 norms of ``w``'s operand groups (4 input channels at
    one tap of one output channel, ``ooc_sdk.model.approx``): the group lasso."""
    c = w.shape[-1]
    pad = (-c) % 4
    wp = np.pad(w, [(0, 0)] * (w.ndim - 1) + [(0, pad)])
    g = wp.reshape(*wp.shape[:-1], -1, 4)
    norm = np.sqrt((g * g).sum(axis=-1, keepdims=True)) + 1e-6
    return (g / norm).reshape(wp.shape)[..., :c]


class _Cnn:
    """The float network: parameters, forward with a cache, backward, Adam."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.params: list[np.ndarray] = []
        c = 1
        for oc, _ in CONVS:
            w = rng.standard_normal((oc, 3, 3, c)) * np.sqrt(2.0 / (9 * c))
            self.params += [w.astype(np.float32), np.zeros(oc, np.float32)]
            c = oc
        flat = 4 * 4 * c
        w = rng.standard_normal((10, flat)) * np.sqrt(1.0 / flat)
        self.params += [w.astype(np.float32), np.zeros(10, np.float32)]
        self.group_lasso = 0.0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        cache = []
        for k, (oc, stride) in enumerate(CONVS):
            w, b = self.params[2 * k], self.params[2 * k + 1]
            cols, geo = _im2col(x, stride)
            y = cols @ w.reshape(oc, -1).T + b
            cache.append((x.shape, cols, geo, y))
            x = np.maximum(y, 0).reshape(geo[0], geo[1], geo[2], oc)
        flat = x.reshape(x.shape[0], -1)
        cache.append((x.shape, flat))
        return flat @ self.params[-2].T + self.params[-1], cache

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        logits, cache = self.forward(x)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = float(-np.log(p[np.arange(len(y)), y] + 1e-9).mean())
        d = p
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        shape, flat = cache[-1]
        grads = [d.T @ flat, d.sum(axis=0)]
        dx = (d @ self.params[-2]).reshape(shape)
        for k in range(len(CONVS) - 1, -1, -1):
            oc, stride = CONVS[k]
            in_shape, cols, geo, yk = cache[k]
            dy = dx.reshape(-1, oc) * (yk > 0)
            w = self.params[2 * k]
            grads = [(dy.T @ cols).reshape(w.shape), dy.sum(axis=0), *grads]
            if k:
                dcols = dy @ w.reshape(oc, -1)
                dx = _col2im(dcols, geo, in_shape[3], stride, in_shape[1], in_shape[2])
        self.t += 1
        if self.group_lasso:
            for k in range(len(CONVS) + 1):
                grads[2 * k] = grads[2 * k] + self.group_lasso * _group_shrink(self.params[2 * k])
        for i, g in enumerate(grads):
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            mh = self.m[i] / (1 - 0.9**self.t)
            vh = self.v[i] / (1 - 0.999**self.t)
            self.params[i] -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        return loss


def _range_quant(y: np.ndarray) -> tuple[float, int]:
    lo, hi = min(float(y.min()), 0.0), max(float(y.max()), 1e-3)
    scale = float(np.float32((hi - lo) / 255.0))
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def _fake(y: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return ((np.clip(np.round(y / scale) + zp, -128, 127) - zp) * scale).astype(np.float32)


def _quantized_model(net: _Cnn, calib: np.ndarray) -> bytes:
    """Write ``net`` as an int8 TFLite model, calibrating activations on ``calib``."""
    m = ModelDef(description="ooc zoo: digits CNN (scikit-learn digits, trained in numpy)")
    x = calib
    shape: tuple[int, ...] = (1, 8, 8, 1)
    cur = m.add_tensor(TensorDef("input", shape, DType.INT8, None, (INPUT_SCALE,), (-128,)))
    m.inputs.append(cur)
    in_scale = INPUT_SCALE
    x = _fake(x, INPUT_SCALE, INPUT_ZERO_POINT)
    for k, (oc, stride) in enumerate(CONVS):
        w, b = net.params[2 * k], net.params[2 * k + 1]
        ws = np.maximum(np.abs(w).reshape(oc, -1).max(axis=1), 1e-8) / 127.0
        wq = np.clip(np.round(w / ws[:, None, None, None]), -127, 127).astype(np.int8)
        bs = (in_scale * ws).astype(np.float32)
        bq = np.round(b / bs).astype(np.int32)
        wi = m.add_tensor(TensorDef(f"conv{k}/weights", wq.shape, DType.INT8, wq,
                                    tuple(ws.astype(np.float32).tolist()), (0,) * oc, 0))  # fmt: skip
        bi = m.add_tensor(TensorDef(f"conv{k}/bias", (oc,), DType.INT32, bq,
                                    tuple(bs.tolist()), (0,) * oc, 0))  # fmt: skip
        cols, geo = _im2col(x, stride)
        wf = wq.astype(np.float32) * ws[:, None, None, None]
        y = np.maximum(cols @ wf.reshape(oc, -1).T + bq * bs, 0).reshape(*geo[:3], oc)
        scale, zp = _range_quant(y)
        shape = (1, geo[1], geo[2], oc)
        out = m.add_tensor(TensorDef(f"conv{k}", shape, DType.INT8, None, (scale,), (zp,)))
        m.ops.append(OpDef("CONV_2D", [cur, wi, bi], [out], {"padding": Padding.SAME,
                     "stride": (stride, stride), "dilation": (1, 1),
                     "activation": Activation.RELU}))  # fmt: skip
        cur, in_scale, x = out, scale, _fake(y, scale, zp)
    flat = int(np.prod(shape[1:]))
    si = m.add_tensor(TensorDef("flatten/shape", (2,), DType.INT32, np.array([1, flat], np.int32)))
    fl = m.add_tensor(TensorDef("flatten", (1, flat), DType.INT8, None, (in_scale,), (zp,)))
    m.ops.append(OpDef("RESHAPE", [cur, si], [fl], {"new_shape": [1, flat]}))
    w, b = net.params[-2], net.params[-1]
    ws = max(float(np.abs(w).max()), 1e-8) / 127.0
    wq = np.clip(np.round(w / ws), -127, 127).astype(np.int8)
    bq = np.round(b / (in_scale * ws)).astype(np.int32)
    wi = m.add_tensor(TensorDef("fc/weights", wq.shape, DType.INT8, wq, (ws,), (0,)))
    bi = m.add_tensor(TensorDef("fc/bias", (10,), DType.INT32, bq, (in_scale * ws,), (0,)))
    y = x.reshape(len(x), -1) @ (wq * np.float32(ws)).T + bq * np.float32(in_scale * ws)
    scale, zp = _range_quant(y)
    out = m.add_tensor(TensorDef("logits", (1, 10), DType.INT8, None, (scale,), (zp,)))
    m.ops.append(OpDef("FULLY_CONNECTED", [fl, wi, bi], [out],
                       {"activation": Activation.NONE, "keep_num_dims": False}))  # fmt: skip
    m.outputs.append(out)
    return write_tflite(m)


def _shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each digit moved by up to one pixel each way (zeros come in): augmentation."""
    out = np.zeros_like(x)
    for k, (dy, dx) in enumerate(rng.integers(-1, 2, size=(len(x), 2))):
        src = x[k, max(0, -dy) : 8 - max(0, dy), max(0, -dx) : 8 - max(0, dx)]
        out[k, max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def train(seed: int = 0, epochs: int = 40, group_lasso: float = 0.0) -> tuple[bytes, float]:
    """Train the digits CNN from ``seed``; its int8 TFLite bytes and the float test accuracy.

    Shifted copies of the digits (augmentation) and a learning rate that falls in three steps
    give wide margins, which is what lets an approximate model keep every top-1 answer."""
    x, y = load_digits()
    xtr, ytr = x[:TRAIN], y[:TRAIN]
    net = _Cnn(seed)
    net.group_lasso = group_lasso
    rng = np.random.default_rng(seed + 1)
    for epoch in range(epochs):
        lr = 3e-3 if epoch < epochs // 2 else 1e-3 if epoch < epochs * 5 // 6 else 3e-4
        order = rng.permutation(TRAIN)
        batch = _shift(xtr, rng) if epoch < epochs * 5 // 6 else xtr
        for s in range(0, TRAIN, 50):
            idx = order[s : s + 50]
            net.step(batch[idx], ytr[idx], lr)
    logits, _ = net.forward(x[TRAIN:])
    accuracy = float((logits.argmax(axis=1) == y[TRAIN:]).mean())
    return _quantized_model(net, xtr), accuracy
