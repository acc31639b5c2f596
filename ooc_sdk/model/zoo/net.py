"""A small network builder that emits calibrated int8 TFLite models.

Each layer call draws deterministic pseudo-random float weights (He-normal, as
a freshly initialised network would have), runs the layer in float on a
calibration batch, and quantizes the way the TFLite converter does for int8:
weights symmetric (per output channel for convolutions, per tensor for fully
connected), biases int32 at ``input_scale * weight_scale``, activations
asymmetric from the observed range. Every following layer is calibrated on
the fake-quantized output of the one before, so the chosen ranges match what
the integer network computes and outputs neither saturate nor vanish.

With ``dry=True`` only shapes and weight counts are tracked, which lets
``ooc zoo --weights SIZE`` search for the width that reaches a weight budget
without generating anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ooc_sdk.model.ir import Activation, DType, Padding
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef


@dataclass
class Node:
    """A tensor of the network under construction."""

    index: int  # tensor index in the model (-1 in dry mode)
    shape: tuple[int, ...]
    scale: float = 1.0
    zero_point: int = 0
    calib: np.ndarray | None = None  # fake-quantized float values on the calibration batch


def _same_padding(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return out, total // 2, total - total // 2


def _range_quant(lo: float, hi: float) -> tuple[float, int]:
    """The int8 scale and zero point of the real range [lo, hi] (lo <= 0 <= hi)."""
    if hi - lo < 1e-6:
        hi = lo + 1.0
    scale = float(np.float32((hi - lo) / 255.0))
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def _fake_quant(y: np.ndarray, scale: float, zp: int) -> np.ndarray:
    q = np.clip(np.round(y / scale) + zp, -128, 127)
    return ((q - zp) * scale).astype(np.float32)


def _apply_activation(y: np.ndarray, act: Activation) -> np.ndarray:
    if act is Activation.RELU:
        return np.maximum(y, 0.0)
    if act is Activation.RELU6:
        return np.clip(y, 0.0, 6.0)
    return y


class Net:
    def __init__(self, seed: int, batch: int = 2, dry: bool = False, description: str = "ooc zoo"):
        self.rng = np.random.default_rng(seed)
        self.batch = batch
        self.dry = dry
        self.model = ModelDef(description=description)
        self.weight_bytes = 0
        self.macs = 0
        self._names: dict[str, int] = {}
        # For CONCATENATION, whose inputs must share its quantization: the tensors whose
        # quantization their producer chose freely, the pass-through outputs (RESIZE, MAX_POOL:
        # output tensor -> input tensor), and how many operators read each tensor.
        self._free: set[int] = set()
        self._through: dict[int, int] = {}
        self._readers: dict[int, int] = {}

    # -- helpers ---------------------------------------------------------------------

    def _name(self, base: str) -> str:
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return f"{base}_{n}" if n else base

    def _const(self, name: str, data: np.ndarray, dtype: DType, scale=None, axis: int = 0) -> int:
        self.weight_bytes += data.nbytes
        if self.dry:
            return -1
        zero = None if scale is None else (0,) * len(scale)
        return self.model.add_tensor(
            TensorDef(
                name,
                tuple(data.shape),
                dtype,
                data,
                tuple(scale) if scale is not None else None,
                zero,
                axis,
            )
        )

    def _count(self, nbytes: int) -> None:
        self.weight_bytes += nbytes

    def _activation_out(
        self,
        name: str,
        y: np.ndarray | None,
        shape: tuple[int, ...],
        act: Activation,
        fixed: tuple[float, int] | None = None,
    ) -> Node:
        """Quantize a float result into a new int8 activation tensor."""
        if self.dry:
            return Node(-1, shape)
        assert y is not None
        y = _apply_activation(y, act)
        if fixed is not None:
            scale, zp = fixed
        else:
            lo = min(float(y.min()), 0.0)
            hi = max(float(y.max()), 0.0)
            if act is Activation.RELU6:
                hi = min(hi, 6.0)
            scale, zp = _range_quant(lo, hi)
        idx = self.model.add_tensor(TensorDef(name, shape, DType.INT8, None, (scale,), (zp,)))
        if fixed is None:
            self._free.add(idx)
        return Node(idx, shape, scale, zp, _fake_quant(y, scale, zp))

    def _same_as(self, name: str, x: Node, y: np.ndarray | None, shape: tuple[int, ...]) -> Node:
        """An output that keeps its input's quantization (pooling, reshape, pad)."""
        return self._activation_out(name, y, shape, Activation.NONE, fixed=(x.scale, x.zero_point))

    def _op(self, op_type: str, inputs: list[int], outputs: list[int], **options) -> None:
        if not self.dry:
            self.model.ops.append(OpDef(op_type, inputs, outputs, options))
            for t in inputs:
                self._readers[t] = self._readers.get(t, 0) + 1

    def _he(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return self.rng.standard_normal(shape).astype(np.float32) * np.float32(
            math.sqrt(2.0 / fan_in)
        )

    # -- layers ----------------------------------------------------------------------

    def input(
        self, shape: tuple[int, ...], lo: float = 0.0, hi: float = 1.0, float_io: bool = False
    ) -> Node:
        """Model input with real range [lo, hi]; float32 + QUANTIZE when ``float_io``."""
        scale = float(np.float32((hi - lo) / 255.0))
        zp = round(-128 - lo / scale)
        if self.dry:
            return Node(-1, shape, scale, zp)
        x = self.rng.uniform(lo, hi, size=(self.batch, *shape[1:])).astype(np.float32)
        q = np.clip(np.round(x / scale) + zp, -128, 127)
        calib = ((q - zp) * scale).astype(np.float32)
        if float_io:
            f = self.model.add_tensor(TensorDef("input", shape, DType.FLOAT32))
            self.model.inputs.append(f)
            idx = self.model.add_tensor(
                TensorDef("input_int8", shape, DType.INT8, None, (scale,), (zp,))
            )
            self._op("QUANTIZE", [f], [idx])
        else:
            idx = self.model.add_tensor(
                TensorDef("input", shape, DType.INT8, None, (scale,), (zp,))
            )
            self.model.inputs.append(idx)
        return Node(idx, shape, scale, zp, calib)

    def output(self, x: Node, float_io: bool = False) -> None:
        """A model output (call once per output, in order); float32 + DEQUANTIZE when
        ``float_io``."""
        if self.dry:
            return
        if float_io:
            name = self._name("output")  # "output", "output_1", ... with several outputs
            f = self.model.add_tensor(TensorDef(name, x.shape, DType.FLOAT32))
            self._op("DEQUANTIZE", [x.index], [f])
            self.model.outputs.append(f)
        else:
            self.model.outputs.append(x.index)

    def _window(self, x: Node, k: tuple[int, int], stride: int, padding: Padding):
        n, h, w, _ = x.shape
        if padding is Padding.SAME:
            oh, pt, pb = _same_padding(h, k[0], stride)
            ow, pl, pr = _same_padding(w, k[1], stride)
        else:
            oh, ow = (h - k[0]) // stride + 1, (w - k[1]) // stride + 1
            pt = pb = pl = pr = 0
        if oh < 1 or ow < 1:
            raise ValueError(f"a {k[0]}x{k[1]} window does not fit a {h}x{w} input")
        xp = None
        if x.calib is not None:
            xp = np.pad(x.calib, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        return (n, oh, ow), xp

    def _taps(self, xp: np.ndarray, k: tuple[int, int], stride: int, oh: int, ow: int):
        for i in range(k[0]):
            for j in range(k[1]):
                yield (
                    i,
                    j,
                    xp[
                        :,
                        i : i + (oh - 1) * stride + 1 : stride,
                        j : j + (ow - 1) * stride + 1 : stride,
                        :,
                    ],
                )

    def _bias(self, name: str, channels: int, in_scale: float, w_scale: np.ndarray):
        b = self.rng.standard_normal(channels).astype(np.float32) * np.float32(0.05)
        bq = np.round(b / (in_scale * w_scale)).astype(np.int32)
        idx = self._const(
            name, bq, DType.INT32, scale=(in_scale * w_scale).astype(np.float32).tolist()
        )
        return idx, bq.astype(np.float32) * (in_scale * w_scale)

    def conv(
        self,
        x: Node,
        out_c: int,
        k: int | tuple[int, int] = 3,
        stride: int = 1,
        act: Activation = Activation.RELU6,
        padding: Padding = Padding.SAME,
        name: str = "conv",
    ) -> Node:
        kh, kw = (k, k) if isinstance(k, int) else k
        in_c = x.shape[3]
        (n, oh, ow), xp = self._window(x, (kh, kw), stride, padding)
        shape = (n, oh, ow, out_c)
        self.macs += n * oh * ow * out_c * kh * kw * in_c
        name = self._name(name)
        if self.dry:
            self._count(out_c * kh * kw * in_c + 4 * out_c)
            return Node(-1, shape)
        w = self._he((out_c, kh, kw, in_c), kh * kw * in_c)
        w_scale = np.maximum(np.abs(w).reshape(out_c, -1).max(axis=1), 1e-8) / 127.0
        wq = np.clip(np.round(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
        wi = self._const(
            f"{name}/weights", wq, DType.INT8, scale=w_scale.astype(np.float32).tolist(), axis=0
        )
        bi, bf = self._bias(f"{name}/bias", out_c, x.scale, w_scale)
        wf = wq.astype(np.float32) * w_scale[:, None, None, None].astype(np.float32)
        y = np.zeros((self.batch, oh, ow, out_c), dtype=np.float32)
        for i, j, tap in self._taps(xp, (kh, kw), stride, oh, ow):
            y += tap @ wf[:, i, j, :].T
        y += bf
        out = self._activation_out(name, y, shape, act)
        self._op(
            "CONV_2D",
            [x.index, wi, bi],
            [out.index],
            padding=padding,
            stride=(stride, stride),
            dilation=(1, 1),
            activation=act,
        )
        return out

    def depthwise(
        self,
        x: Node,
        k: int = 3,
        stride: int = 1,
        act: Activation = Activation.RELU6,
        padding: Padding = Padding.SAME,
        name: str = "dwconv",
    ) -> Node:
        c = x.shape[3]
        (n, oh, ow), xp = self._window(x, (k, k), stride, padding)
        shape = (n, oh, ow, c)
        self.macs += n * oh * ow * c * k * k
        name = self._name(name)
        if self.dry:
            self._count(k * k * c + 4 * c)
            return Node(-1, shape)
        w = self._he((1, k, k, c), k * k)
        w_scale = np.maximum(np.abs(w).reshape(-1, c).max(axis=0), 1e-8) / 127.0
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        wi = self._const(
            f"{name}/weights", wq, DType.INT8, scale=w_scale.astype(np.float32).tolist(), axis=3
        )
        bi, bf = self._bias(f"{name}/bias", c, x.scale, w_scale)
        wf = wq.astype(np.float32) * w_scale.astype(np.float32)
        y = np.zeros((self.batch, oh, ow, c), dtype=np.float32)
        for i, j, tap in self._taps(xp, (k, k), stride, oh, ow):
            y += tap * wf[0, i, j, :]
        y += bf
        out = self._activation_out(name, y, shape, act)
        self._op(
            "DEPTHWISE_CONV_2D",
            [x.index, wi, bi],
            [out.index],
            padding=padding,
            stride=(stride, stride),
            dilation=(1, 1),
            depth_multiplier=1,
            activation=act,
        )
        return out

    def fully_connected(
        self, x: Node, units: int, act: Activation = Activation.NONE, name: str = "fc"
    ) -> Node:
        depth = x.shape[-1]
        rows = math.prod(x.shape[:-1])
        shape = (*x.shape[:-1], units)
        self.macs += rows * units * depth
        name = self._name(name)
        if self.dry:
            self._count(units * depth + 4 * units)
            return Node(-1, shape)
        w = self._he((units, depth), depth)
        w_scale = max(float(np.abs(w).max()), 1e-8) / 127.0
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        wi = self._const(f"{name}/weights", wq, DType.INT8, scale=[w_scale])
        bi, bf = self._bias(f"{name}/bias", units, x.scale, np.full(units, w_scale))
        xf = x.calib.reshape(-1, depth)
        y = (xf @ (wq.astype(np.float32) * np.float32(w_scale)).T + bf).reshape(
            self.batch, *shape[1:]
        )
        out = self._activation_out(name, y, shape, act)
        self._op(
            "FULLY_CONNECTED", [x.index, wi, bi], [out.index], activation=act, keep_num_dims=False
        )
        return out

    def pad(self, x: Node, pads: list[tuple[int, int]], name: str = "pad") -> Node:
        shape = tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, pads, strict=True))
        name = self._name(name)
        p = np.asarray(pads, dtype=np.int32)
        pi = self._const(f"{name}/paddings", p, DType.INT32)
        if self.dry:
            return Node(-1, shape, x.scale, x.zero_point)
        y = np.pad(x.calib, [(0, 0), *pads[1:]])
        out = self._same_as(name, x, y, shape)
        self._op("PAD", [x.index, pi], [out.index])
        return out

    def global_pool(self, x: Node, use_mean: bool = False, name: str = "pool") -> Node:
        """Global average over H and W: AVERAGE_POOL_2D, or MEAN (as the converter emits)."""
        n, h, w, c = x.shape
        shape = (n, 1, 1, c)
        name = self._name(name)
        axes = np.asarray([1, 2], dtype=np.int32)
        ai = self._const(f"{name}/axes", axes, DType.INT32) if use_mean else None
        if self.dry:
            return Node(-1, shape, x.scale, x.zero_point)
        y = x.calib.mean(axis=(1, 2), keepdims=True)
        out = self._same_as(name, x, y, shape)
        if use_mean:
            self._op("MEAN", [x.index, ai], [out.index], keep_dims=True)
        else:
            self._op(
                "AVERAGE_POOL_2D",
                [x.index],
                [out.index],
                padding=Padding.VALID,
                stride=(1, 1),
                filter=(h, w),
                activation=Activation.NONE,
            )
        return out

    def add(self, a: Node, b: Node, act: Activation = Activation.NONE, name: str = "add") -> Node:
        name = self._name(name)
        if self.dry:
            return Node(-1, a.shape)
        out = self._activation_out(name, a.calib + b.calib, a.shape, act)
        self._op("ADD", [a.index, b.index], [out.index], activation=act)
        return out

    def reshape(self, x: Node, shape: tuple[int, ...], name: str = "reshape") -> Node:
        name = self._name(name)
        si = self._const(f"{name}/shape", np.asarray(shape, dtype=np.int32), DType.INT32)
        if self.dry:
            return Node(-1, shape, x.scale, x.zero_point)
        out = self._same_as(name, x, x.calib.reshape(self.batch, *shape[1:]), shape)
        self._op("RESHAPE", [x.index, si], [out.index], new_shape=list(shape))
        return out

    def keras_flatten(self, x: Node, name: str = "flatten") -> Node:
        """Flatten the way Keras exports it: SHAPE -> STRIDED_SLICE (the batch size) -> PACK
        (with the flattened size) -> RESHAPE, on int32 tensors. Ingest folds the three into the
        RESHAPE's target, so their small int32 constants are not counted as weights."""
        depth = math.prod(x.shape[1:])
        shape = (x.shape[0], depth)
        name = self._name(name)
        if self.dry:
            return Node(-1, shape, x.scale, x.zero_point)

        def i32(suffix: str, dims: tuple[int, ...], data: list[int] | int | None = None) -> int:
            value = None if data is None else np.asarray(data, dtype=np.int32).reshape(dims)
            return self.model.add_tensor(TensorDef(f"{name}/{suffix}", dims, DType.INT32, value))

        s = i32("Shape", (len(x.shape),))
        self._op("SHAPE", [x.index], [s], out_type=DType.INT32)
        begin, end, strides = (
            i32(f"strided_slice/{n}", (1,), [v])
            for n, v in (("begin", 0), ("end", 1), ("strides", 1))
        )
        batch = i32("strided_slice", ())
        self._op("STRIDED_SLICE", [s, begin, end, strides], [batch], shrink_axis_mask=1)
        flat = i32("Reshape/shape/1", (), depth)
        target = i32("Reshape/shape", (2,))
        self._op("PACK", [batch, flat], [target], values_count=2, axis=0)
        out = self._same_as(name, x, x.calib.reshape(self.batch, depth), shape)
        self._op("RESHAPE", [x.index, target], [out.index])
        return out

    def softmax(self, x: Node, name: str = "softmax") -> Node:
        name = self._name(name)
        if self.dry:
            return Node(-1, x.shape)
        z = x.calib - x.calib.max(axis=-1, keepdims=True)
        e = np.exp(z)
        y = e / e.sum(axis=-1, keepdims=True)
        out = self._activation_out(name, y, x.shape, Activation.NONE, fixed=(1.0 / 256.0, -128))
        self._op("SOFTMAX", [x.index], [out.index], beta=1.0)
        return out

    def mul(self, a: Node, b: Node, name: str = "mul") -> Node:
        """Elementwise product, NumPy broadcasting (an SE gate [1,1,1,C] over [1,H,W,C])."""
        shape = tuple(int(d) for d in np.broadcast_shapes(a.shape, b.shape))
        self.macs += math.prod(shape)
        name = self._name(name)
        if self.dry:
            return Node(-1, shape)
        out = self._activation_out(name, a.calib * b.calib, shape, Activation.NONE)
        self._op("MUL", [a.index, b.index], [out.index], activation=Activation.NONE)
        return out

    def logistic(self, x: Node, name: str = "logistic") -> Node:
        """The sigmoid; int8 LOGISTIC's output quantization is fixed (1/256, -128)."""
        name = self._name(name)
        if self.dry:
            return Node(-1, x.shape)
        y = 1.0 / (1.0 + np.exp(-x.calib))
        out = self._activation_out(name, y, x.shape, Activation.NONE, fixed=(1.0 / 256.0, -128))
        self._op("LOGISTIC", [x.index], [out.index])
        return out

    def pool(
        self,
        x: Node,
        k: int,
        stride: int,
        kind: str = "max",
        padding: Padding = Padding.SAME,
        name: str = "pool",
    ) -> Node:
        """A k x k MAX_POOL_2D or AVERAGE_POOL_2D window; the output keeps the input's
        quantization (the averages count only the taps inside the input, as TFLite does)."""
        c = x.shape[3]
        (n, oh, ow), xp = self._window(x, (k, k), stride, padding)
        shape = (n, oh, ow, c)
        name = self._name(name)
        if self.dry:
            return Node(-1, shape, x.scale, x.zero_point)
        ones = Node(-1, x.shape, calib=np.ones_like(x.calib))
        _, inside = self._window(ones, (k, k), stride, padding)  # 1 inside the input, 0 in pads
        acc = np.full((self.batch, oh, ow, c), -np.inf if kind == "max" else 0.0, np.float32)
        count = np.zeros_like(acc)
        for (_, _, tap), (_, _, valid) in zip(
            self._taps(xp, (k, k), stride, oh, ow),
            self._taps(inside, (k, k), stride, oh, ow),
            strict=True,
        ):
            if kind == "max":
                acc = np.maximum(acc, np.where(valid > 0, tap, -np.inf))
            else:
                acc += tap
                count += valid
        y = acc if kind == "max" else acc / count
        out = self._same_as(name, x, y, shape)
        if kind == "max":
            self._through[out.index] = x.index
        self._op(
            "MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D",
            [x.index],
            [out.index],
            padding=padding,
            stride=(stride, stride),
            filter=(k, k),
            activation=Activation.NONE,
        )
        return out

    def resize_nearest(self, x: Node, factor: int, name: str = "upsample") -> Node:
        """Nearest-neighbour upsampling by an integer factor (Keras UpSampling2D)."""
        n, h, w, c = x.shape
        shape = (n, h * factor, w * factor, c)
        name = self._name(name)
        si = self._const(f"{name}/size", np.asarray(shape[1:3], dtype=np.int32), DType.INT32)
        if self.dry:
            return Node(-1, shape, x.scale, x.zero_point)
        y = x.calib.repeat(factor, axis=1).repeat(factor, axis=2)
        out = self._same_as(name, x, y, shape)
        self._through[out.index] = x.index
        self._op(
            "RESIZE_NEAREST_NEIGHBOR",
            [x.index, si],
            [out.index],
            align_corners=False,
            half_pixel_centers=True,
        )
        return out

    def concat(self, xs: list[Node], name: str = "concat") -> Node:
        """CONCATENATION along channels. tflite-micro needs every input in the output's
        quantization, so, as the TFLite converter does, the inputs' producers are made to write
        the joint range (a requantizing QUANTIZE where a producer cannot be changed)."""
        n, h, w, _ = xs[0].shape
        shape = (n, h, w, sum(x.shape[3] for x in xs))
        name = self._name(name)
        if self.dry:
            return Node(-1, shape)
        lo = min(min(float(x.calib.min()) for x in xs), 0.0)
        hi = max(max(float(x.calib.max()) for x in xs), 0.0)
        scale, zp = _range_quant(lo, hi)
        ins = [self._requantized(x, scale, zp) for x in xs]
        y = np.concatenate([x.calib for x in ins], axis=3)
        out = self._same_as(name, ins[0], y, shape)
        self._op(
            "CONCATENATION",
            [x.index for x in ins],
            [out.index],
            axis=3,
            activation=Activation.NONE,
        )
        return out

    def _requantized(self, x: Node, scale: float, zp: int) -> Node:
        """``x`` in quantization (scale, zp): its producer's output (and the pass-through
        operators after it) changed when nothing else reads them, else a QUANTIZE."""
        if (x.scale, x.zero_point) == (scale, zp):
            return x
        chain = [x.index]
        while chain[-1] in self._through:
            chain.append(self._through[chain[-1]])
        alone = self._readers.get(x.index, 0) == 0 and all(
            self._readers.get(t, 0) == 1 for t in chain[1:]
        )
        if alone and chain[-1] in self._free and not set(chain) & set(self.model.outputs):
            for t in chain:
                self.model.tensors[t].scale = (scale,)
                self.model.tensors[t].zero_point = (zp,)
            return Node(x.index, x.shape, scale, zp, _fake_quant(x.calib, scale, zp))
        name = self._name("requantize")
        out = self._activation_out(name, x.calib, x.shape, Activation.NONE, fixed=(scale, zp))
        self._op("QUANTIZE", [x.index], [out.index])
        return out
