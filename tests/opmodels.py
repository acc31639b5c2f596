"""Hand-built models that exercise operators the zoo architectures do not use."""

from __future__ import annotations

import numpy as np

from ooc_sdk.model.ir import Activation, DType, Padding
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite


def _conv_weights(m: ModelDef, rng: np.random.Generator) -> tuple[int, int]:
    """Weights [6, 3, 3, 4] (per-channel int8) and int32 bias of a 3x3 convolution from 4 to 6
    channels whose input has scale 0.05; the tensors' indices in ``m``."""
    w_scale = rng.uniform(0.005, 0.02, size=6).astype(np.float32)
    w = m.add_tensor(
        TensorDef(
            "w",
            (6, 3, 3, 4),
            DType.INT8,
            rng.integers(-127, 128, (6, 3, 3, 4), dtype=np.int8),
            tuple(float(s) for s in w_scale),
            (0,) * 6,
            0,
        )
    )
    b = m.add_tensor(
        TensorDef(
            "b",
            (6,),
            DType.INT32,
            rng.integers(-2000, 2000, 6, dtype=np.int32),
            tuple(float(0.05 * s) for s in w_scale),
            (0,) * 6,
            0,
        )
    )
    return w, b


def coverage_model(seed: int = 0) -> bytes:
    """float32 -> QUANTIZE -> CONV_2D -> MAX_POOL_2D -> RESIZE_NEAREST_NEIGHBOR -> CONCATENATION
    -> MUL -> QUANTIZE (int8 requantize) -> MEAN -> DEQUANTIZE -> float32."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: operator coverage")

    def act(name: str, shape: tuple[int, ...], scale: float, zp: int) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (scale,), (zp,)))

    x_f = m.add_tensor(TensorDef("input", (1, 8, 8, 4), DType.FLOAT32))
    x = act("input_q", (1, 8, 8, 4), 0.05, -3)
    m.ops.append(OpDef("QUANTIZE", [x_f], [x]))
    w, b = _conv_weights(m, rng)
    c = act("conv", (1, 8, 8, 6), 6 / 255, -128)
    m.ops.append(
        OpDef(
            "CONV_2D",
            [x, w, b],
            [c],
            {
                "padding": Padding.SAME,
                "stride": (1, 1),
                "dilation": (1, 1),
                "activation": Activation.RELU6,
            },
        )
    )
    p = act("pool", (1, 4, 4, 6), 6 / 255, -128)
    m.ops.append(
        OpDef(
            "MAX_POOL_2D",
            [c],
            [p],
            {
                "padding": Padding.VALID,
                "stride": (2, 2),
                "filter": (2, 2),
                "activation": Activation.NONE,
            },
        )
    )
    size = m.add_tensor(TensorDef("size", (2,), DType.INT32, np.array([8, 8], np.int32)))
    r = act("resize", (1, 8, 8, 6), 6 / 255, -128)
    m.ops.append(OpDef("RESIZE_NEAREST_NEIGHBOR", [p, size], [r], {"half_pixel_centers": True}))
    cat = act("concat", (1, 8, 8, 12), 6 / 255, -128)
    m.ops.append(OpDef("CONCATENATION", [r, c], [cat], {"axis": 3, "activation": Activation.NONE}))
    mul = act("mul", (1, 8, 8, 12), 36 / 255, -128)
    m.ops.append(OpDef("MUL", [cat, cat], [mul], {"activation": Activation.NONE}))
    rq = act("requant", (1, 8, 8, 12), 0.2, -100)
    m.ops.append(OpDef("QUANTIZE", [mul], [rq]))
    axes = m.add_tensor(TensorDef("axes", (2,), DType.INT32, np.array([1, 2], np.int32)))
    mean = act("mean", (1, 1, 1, 12), 0.1, -120)
    m.ops.append(OpDef("MEAN", [rq, axes], [mean], {"keep_dims": True}))
    y = m.add_tensor(TensorDef("output", (1, 1, 1, 12), DType.FLOAT32))
    m.ops.append(OpDef("DEQUANTIZE", [mean], [y]))
    m.inputs, m.outputs = [x_f], [y]
    return write_tflite(m)


def depthwise_multiplier_model(seed: int = 0) -> bytes:
    """int8 DEPTHWISE_CONV_2D with depth multiplier 3 (4 -> 12 channels, per-channel scales):
    out-of-core plans split it in steps of whole multiplier groups."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: depthwise with a depth multiplier")
    x = m.add_tensor(TensorDef("input", (1, 7, 7, 4), DType.INT8, None, (0.04,), (5,)))
    w_scale = rng.uniform(0.004, 0.02, size=12).astype(np.float32)
    w = m.add_tensor(
        TensorDef(
            "w",
            (1, 3, 3, 12),
            DType.INT8,
            rng.integers(-127, 128, (1, 3, 3, 12), dtype=np.int8),
            tuple(float(s) for s in w_scale),
            (0,) * 12,
            3,
        )
    )
    b = m.add_tensor(
        TensorDef(
            "b",
            (12,),
            DType.INT32,
            rng.integers(-3000, 3000, 12, dtype=np.int32),
            tuple(float(0.04 * s) for s in w_scale),
            (0,) * 12,
            0,
        )
    )
    y = m.add_tensor(TensorDef("output", (1, 4, 4, 12), DType.INT8, None, (0.05,), (-7,)))
    m.ops.append(
        OpDef(
            "DEPTHWISE_CONV_2D",
            [x, w, b],
            [y],
            {
                "padding": Padding.SAME,
                "stride": (2, 2),
                "dilation": (1, 1),
                "depth_multiplier": 3,
                "activation": Activation.RELU,
            },
        )
    )
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def activation_model(seed: int = 0, alpha: float = 0.2) -> bytes:
    """The standalone activations on int8 tensors whose output quantization differs from the
    input's: RELU (requantized) and LEAKY_RELU of a CONV_2D's output, RELU6, LEAKY_RELU (alpha
    above 1) and HARD_SWISH of the model input (so each sees the whole int8 range), and a
    HARD_SWISH of the convolution; six outputs."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: standalone activations")

    def act(name: str, shape: tuple[int, ...], scale: float, zp: int) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (scale,), (zp,)))

    x = act("input", (1, 8, 8, 4), 0.05, -3)
    w, b = _conv_weights(m, rng)
    c = act("conv", (1, 8, 8, 6), 0.06, 5)
    conv_options = {
        "padding": Padding.SAME,
        "stride": (1, 1),
        "dilation": (1, 1),
        "activation": Activation.NONE,
    }
    m.ops.append(OpDef("CONV_2D", [x, w, b], [c], conv_options))
    relu = act("relu", (1, 8, 8, 6), 0.03, -128)
    m.ops.append(OpDef("RELU", [c], [relu]))
    leaky = act("leaky_relu", (1, 8, 8, 6), 0.04, 20)
    m.ops.append(OpDef("LEAKY_RELU", [c], [leaky], {"alpha": alpha}))
    hswish_c = act("hard_swish_conv", (1, 8, 8, 6), 0.035, -50)
    m.ops.append(OpDef("HARD_SWISH", [c], [hswish_c]))
    # RELU6 in tflite-micro clamps on the input's scale and ignores the output's
    relu6 = act("relu6", (1, 8, 8, 4), 6 / 255, -128)
    m.ops.append(OpDef("RELU6", [x], [relu6]))
    leaky_x = act("leaky_relu_input", (1, 8, 8, 4), 0.07, -10)
    m.ops.append(OpDef("LEAKY_RELU", [x], [leaky_x], {"alpha": 1.7}))
    hswish_x = act("hard_swish_input", (1, 8, 8, 4), 0.027, -60)
    m.ops.append(OpDef("HARD_SWISH", [x], [hswish_x]))
    m.inputs = [x]
    m.outputs = [relu, leaky, hswish_c, relu6, leaky_x, hswish_x]
    return write_tflite(m)


def relu_n1_to_1_model() -> bytes:
    """RELU_N1_TO_1 alone, requantizing (tflite-micro does not register it)."""
    m = ModelDef(description="ooc test: RELU_N1_TO_1")
    x = m.add_tensor(TensorDef("input", (1, 4, 4, 16), DType.INT8, None, (0.02,), (7,)))
    y = m.add_tensor(TensorDef("output", (1, 4, 4, 16), DType.INT8, None, (1 / 120,), (-4,)))
    m.ops.append(OpDef("RELU_N1_TO_1", [x], [y]))
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def binary_model(seed: int = 0) -> bytes:
    """The int8 binary operators with broadcasting, from two int8 inputs of differing
    quantizations: SUB (CONV_2D output - input 2), SQUARED_DIFFERENCE (input 2 - a [1, 1, 1, C]
    constant), MAXIMUM of the two, MINIMUM of the SQUARED_DIFFERENCE's [1, 1, 1, C] MEAN
    (broadcast first input) and the SUB, then SUB of a [C] constant with RELU6 and MAXIMUM with
    a [1] constant; LOGISTIC of the SUB, TANH of the MINIMUM. Outputs: the last, the
    SQUARED_DIFFERENCE, the MAXIMUM, the MINIMUM, the LOGISTIC and the TANH."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: binary operators")

    def act(name: str, shape: tuple[int, ...], q: tuple[float, int]) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (q[0],), (q[1],)))

    def const(name: str, shape: tuple[int, ...], q: tuple[float, int]) -> int:
        data = rng.integers(-128, 128, shape, dtype=np.int8)
        return m.add_tensor(TensorDef(name, shape, DType.INT8, data, (q[0],), (q[1],)))

    x1 = act("input1", (1, 8, 8, 4), (0.05, -3))
    x2 = act("input2", (1, 8, 8, 6), (0.03, 10))
    w, b = _conv_weights(m, rng)
    conv_q, diff_q, out_q = (0.06, 5), (0.09, -2), (0.05, -128)
    c = act("conv", (1, 8, 8, 6), conv_q)
    conv_options = {"padding": Padding.SAME, "stride": (1, 1), "dilation": (1, 1)}
    m.ops.append(OpDef("CONV_2D", [x1, w, b], [c], {**conv_options, "activation": Activation.NONE}))
    sub = act("sub", (1, 8, 8, 6), diff_q)
    m.ops.append(OpDef("SUB", [c, x2], [sub], {"activation": Activation.NONE}))
    centre = const("centre", (1, 1, 1, 6), (0.02, 7))
    sqd = act("squared_difference", (1, 8, 8, 6), diff_q)
    m.ops.append(OpDef("SQUARED_DIFFERENCE", [x2, centre], [sqd]))
    mx = act("maximum", (1, 8, 8, 6), diff_q)
    m.ops.append(OpDef("MAXIMUM", [sub, sqd], [mx]))
    axes = m.add_tensor(TensorDef("axes", (2,), DType.INT32, np.array([1, 2], np.int32)))
    mean = act("mean", (1, 1, 1, 6), diff_q)
    m.ops.append(OpDef("MEAN", [sqd, axes], [mean], {"keep_dims": True}))
    mn = act("minimum", (1, 8, 8, 6), diff_q)
    m.ops.append(OpDef("MINIMUM", [mean, sub], [mn]))
    offset = const("offset", (6,), (0.04, -20))
    shifted = act("shifted", (1, 8, 8, 6), out_q)
    m.ops.append(OpDef("SUB", [mn, offset], [shifted], {"activation": Activation.RELU6}))
    floor = m.add_tensor(
        TensorDef("floor", (1,), DType.INT8, np.array([-110], np.int8), (out_q[0],), (out_q[1],))
    )
    y = act("output", (1, 8, 8, 6), out_q)
    m.ops.append(OpDef("MAXIMUM", [shifted, floor], [y]))
    sig = act("logistic", (1, 8, 8, 6), (1 / 256, -128))
    m.ops.append(OpDef("LOGISTIC", [sub], [sig]))
    th = act("tanh", (1, 8, 8, 6), (1 / 128, 0))
    m.ops.append(OpDef("TANH", [mn], [th]))
    m.inputs, m.outputs = [x1, x2], [y, sqd, mx, mn, sig, th]
    return write_tflite(m)


# SUB scales at which multipliers derived in float32 (as some sub_common.cc sources do) and in
# double (ADD's recipe, which the oracle's tflite-micro follows) differ on 2 of the 65,536 pairs
PAIRS_SCALES = (0.012480320408940315, 0.0778161808848381, 0.05843289941549301)


def pairs_model() -> bytes:
    """SUB and SQUARED_DIFFERENCE of a [1, 1, 256, 1] and a [1, 256, 1, 1] int8 input: fed
    with every int8 value each (``pairs_inputs``), the broadcast output holds every pair."""
    m = ModelDef(description="ooc test: every int8 pair")
    s1, s2, so = PAIRS_SCALES
    a = m.add_tensor(TensorDef("a", (1, 1, 256, 1), DType.INT8, None, (s1,), (5,)))
    b = m.add_tensor(TensorDef("b", (1, 256, 1, 1), DType.INT8, None, (s2,), (10,)))
    sub = m.add_tensor(TensorDef("sub", (1, 256, 256, 1), DType.INT8, None, (so,), (-2,)))
    sqd = m.add_tensor(TensorDef("sqd", (1, 256, 256, 1), DType.INT8, None, (0.02,), (-128,)))
    m.ops.append(OpDef("SUB", [a, b], [sub], {"activation": Activation.NONE}))
    m.ops.append(OpDef("SQUARED_DIFFERENCE", [b, a], [sqd]))
    m.inputs, m.outputs = [a, b], [sub, sqd]
    return write_tflite(m)


def pairs_inputs() -> list[np.ndarray]:
    values = np.arange(-128, 128, dtype=np.int8)
    return [values.reshape(1, 1, 256, 1), values.reshape(1, 256, 1, 1)]


# input (scale, zero point) pairs for LOGISTIC and TANH: inside the saturation radius, and
# beyond it at both ends
TABULATED_INPUTS = ((0.1, 3), (0.02, -50), (0.5, 100))


def tabulated_model() -> bytes:
    """LOGISTIC and TANH of [1, 1, 256, 1] int8 inputs, one per TABULATED_INPUTS quantization:
    fed with every int8 value (``tabulated_inputs``)."""
    m = ModelDef(description="ooc test: LOGISTIC and TANH of every int8 value")
    for i, (scale, zp) in enumerate(TABULATED_INPUTS):
        x = m.add_tensor(TensorDef(f"x{i}", (1, 1, 256, 1), DType.INT8, None, (scale,), (zp,)))
        sig = m.add_tensor(
            TensorDef(f"logistic{i}", (1, 1, 256, 1), DType.INT8, None, (1 / 256,), (-128,))
        )
        th = m.add_tensor(TensorDef(f"tanh{i}", (1, 1, 256, 1), DType.INT8, None, (1 / 128,), (0,)))
        m.ops += [OpDef("LOGISTIC", [x], [sig]), OpDef("TANH", [x], [th])]
        m.inputs.append(x)
        m.outputs += [sig, th]
    return write_tflite(m)


def tabulated_inputs() -> list[np.ndarray]:
    values = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256, 1)
    return [values.copy() for _ in TABULATED_INPUTS]


def float_io_model(seed: int = 0) -> bytes:
    """Float32 in and out around row operators: QUANTIZE of a [1, 24, 20, 4] float input, a 3x3
    CONV_2D, HARD_SWISH, a squeeze-and-excitation gate (MEAN over H and W, LOGISTIC, MUL
    broadcasting the [1, 1, 1, 6] gate over the tensor), SUB of a [6] constant, MAXIMUM with a
    [1] constant, then a 2x2 MAX_POOL_2D and DEQUANTIZE;
    and a RELU of the convolution, a 4x4 AVERAGE_POOL_2D and DEQUANTIZE: two float32 outputs."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: float32 I/O, a gate")

    def act(name: str, shape: tuple[int, ...], q: tuple[float, int]) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (q[0],), (q[1],)))

    def flt(name: str, shape: tuple[int, ...]) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.FLOAT32, None))

    def pool(kind: str, x: int, k: int, name: str) -> int:
        shape = (1, 24 // k, 20 // k, 6)
        t = m.tensors[x]
        assert t.scale is not None and t.zero_point is not None
        y = act(name, shape, (t.scale[0], t.zero_point[0]))
        options = {"padding": Padding.VALID, "stride": (k, k), "filter": (k, k),
                   "activation": Activation.NONE}  # fmt: skip
        m.ops.append(OpDef(kind, [x], [y], options))
        f = flt(f"{name}_float", shape)
        m.ops.append(OpDef("DEQUANTIZE", [y], [f]))
        return f

    x = flt("input", (1, 24, 20, 4))
    q = act("quantized", (1, 24, 20, 4), (0.05, -3))
    m.ops.append(OpDef("QUANTIZE", [x], [q]))
    w, b = _conv_weights(m, rng)
    c = act("conv", (1, 24, 20, 6), (0.06, 5))
    conv_options = {"padding": Padding.SAME, "stride": (1, 1), "dilation": (1, 1)}
    m.ops.append(OpDef("CONV_2D", [q, w, b], [c], {**conv_options, "activation": Activation.NONE}))
    hs = act("hard_swish", (1, 24, 20, 6), (0.035, -50))
    m.ops.append(OpDef("HARD_SWISH", [c], [hs]))
    axes = m.add_tensor(TensorDef("axes", (2,), DType.INT32, np.array([1, 2], np.int32)))
    mean = act("mean", (1, 1, 1, 6), (0.03, -20))
    m.ops.append(OpDef("MEAN", [hs, axes], [mean], {"keep_dims": True}))
    gate = act("gate", (1, 1, 1, 6), (1 / 256, -128))
    m.ops.append(OpDef("LOGISTIC", [mean], [gate]))
    gated = act("gated", (1, 24, 20, 6), (0.02, -40))
    m.ops.append(OpDef("MUL", [hs, gate], [gated], {"activation": Activation.NONE}))
    offset = m.add_tensor(
        TensorDef(
            "offset", (6,), DType.INT8, rng.integers(-128, 128, 6, dtype=np.int8), (0.03,), (4,)
        )
    )
    shifted = act("shifted", (1, 24, 20, 6), (0.025, -10))
    m.ops.append(OpDef("SUB", [gated, offset], [shifted], {"activation": Activation.NONE}))
    floor = m.add_tensor(
        TensorDef("floor", (1,), DType.INT8, np.array([-90], np.int8), (0.025,), (-10,))
    )
    floored = act("floored", (1, 24, 20, 6), (0.025, -10))
    m.ops.append(OpDef("MAXIMUM", [shifted, floor], [floored]))
    y = pool("MAX_POOL_2D", floored, 2, "pooled")
    relu = act("relu", (1, 24, 20, 6), (0.03, -128))
    m.ops.append(OpDef("RELU", [c], [relu]))
    y2 = pool("AVERAGE_POOL_2D", relu, 4, "relu_pooled")
    m.inputs, m.outputs = [x], [y, y2]
    return write_tflite(m)


def se_model(size: int = 48, seed: int = 0) -> bytes:
    """An inverted-residual block with squeeze-and-excitation on a [1, size, size, 8] int8 input:
    1x1 expansion to 32 channels (RELU6), 3x3 depthwise, HARD_SWISH (the gated tensor), MEAN over
    H and W, 1x1 reduce to 8 (RELU), 1x1 back to 32, LOGISTIC (the gate), MUL broadcasting the
    gate, 1x1 projection to 8 and the residual ADD. The gated tensor is size x size x 32
    bytes, read twice: the search keeps it whole or spills it."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: squeeze-and-excitation")

    def act(name: str, c: int, q: tuple[float, int], hw: int = size) -> int:
        return m.add_tensor(TensorDef(name, (1, hw, hw, c), DType.INT8, None, (q[0],), (q[1],)))

    def conv(kind: str, x: int, c_in: int, c_out: int, k: int, y: int, a: Activation) -> None:
        shape = (1, k, k, c_out) if kind == "DEPTHWISE_CONV_2D" else (c_out, k, k, c_in)
        scales = tuple(float(v) for v in rng.uniform(0.002, 0.01, c_out))
        w = m.add_tensor(TensorDef(f"{m.tensors[y].name}_w", shape, DType.INT8,
                                   rng.integers(-127, 128, shape, dtype=np.int8), scales,
                                   (0,) * c_out, 3 if kind == "DEPTHWISE_CONV_2D" else 0))  # fmt: skip
        b = m.add_tensor(TensorDef(f"{m.tensors[y].name}_b", (c_out,), DType.INT32,
                                   rng.integers(-500, 500, c_out, dtype=np.int32),
                                   scales, (0,) * c_out))  # fmt: skip
        options = {"padding": Padding.SAME, "stride": (1, 1), "dilation": (1, 1), "activation": a}
        if kind == "DEPTHWISE_CONV_2D":
            options["depth_multiplier"] = 1
        m.ops.append(OpDef(kind, [x, w, b], [y], options))

    x = act("input", 8, (0.05, -3))
    e = act("expand", 32, (0.04, -128))
    conv("CONV_2D", x, 8, 32, 1, e, Activation.RELU6)
    d = act("depthwise", 32, (0.05, -20))
    conv("DEPTHWISE_CONV_2D", e, 32, 32, 3, d, Activation.NONE)
    hs = act("hard_swish", 32, (0.03, -60))
    m.ops.append(OpDef("HARD_SWISH", [d], [hs]))
    axes = m.add_tensor(TensorDef("axes", (2,), DType.INT32, np.array([1, 2], np.int32)))
    mean = act("mean", 32, (0.02, -50), 1)
    m.ops.append(OpDef("MEAN", [hs, axes], [mean], {"keep_dims": True}))
    r = act("reduce", 8, (0.03, -128), 1)
    conv("CONV_2D", mean, 32, 8, 1, r, Activation.RELU)
    g = act("excite", 32, (0.05, 0), 1)
    conv("CONV_2D", r, 8, 32, 1, g, Activation.NONE)
    gate = act("gate", 32, (1 / 256, -128), 1)
    m.ops.append(OpDef("LOGISTIC", [g], [gate]))
    gated = act("gated", 32, (0.02, -30))
    m.ops.append(OpDef("MUL", [hs, gate], [gated], {"activation": Activation.NONE}))
    pr = act("project", 8, (0.06, 4))
    conv("CONV_2D", gated, 32, 8, 1, pr, Activation.NONE)
    y = act("output", 8, (0.07, -2))
    m.ops.append(OpDef("ADD", [pr, x], [y], {"activation": Activation.NONE}))
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def _i32(m: ModelDef, name: str, values: list[int] | list[list[int]] | int) -> int:
    data = np.asarray(values, np.int32)
    return m.add_tensor(TensorDef(name, data.shape, DType.INT32, data))


def movement_model(seed: int = 0) -> bytes:
    """The int8 data-movement operators around a CONV_2D (which splits in out-of-core plans):
    SPACE_TO_DEPTH -> DEPTH_TO_SPACE -> SPLIT (two outputs); SPLIT_V (three, one size -1);
    STRIDED_SLICE with a negative stride, and with begin/end/shrink masks and a negative index,
    whose result goes through EXPAND_DIMS; SLICE (size -1) -> SQUEEZE; UNPACK (three outputs)
    -> PACK in another order; SPACE_TO_BATCH_ND (paddings, the input's zero point not 0) ->
    BATCH_TO_SPACE_ND (crops). Eight outputs."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: data movement")

    def act(name: str, shape: tuple[int, ...]) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (6 / 255,), (-100,)))

    x = m.add_tensor(TensorDef("input", (1, 8, 8, 4), DType.INT8, None, (0.05,), (-3,)))
    w, b = _conv_weights(m, rng)
    c = act("conv", (1, 8, 8, 6))
    conv_options = {
        "padding": Padding.SAME,
        "stride": (1, 1),
        "dilation": (1, 1),
        "activation": Activation.RELU6,
    }
    m.ops.append(OpDef("CONV_2D", [x, w, b], [c], conv_options))
    s2d = act("s2d", (1, 4, 4, 24))
    m.ops.append(OpDef("SPACE_TO_DEPTH", [c], [s2d], {"block_size": 2}))
    d2s = act("d2s", (1, 8, 8, 6))
    m.ops.append(OpDef("DEPTH_TO_SPACE", [s2d], [d2s], {"block_size": 2}))
    halves = [act(f"split{i}", (1, 8, 8, 3)) for i in range(2)]
    m.ops.append(OpDef("SPLIT", [_i32(m, "split_axis", -1), d2s], halves, {"num_splits": 2}))
    v = [act(f"split_v{i}", (1, n, 8, 6)) for i, n in enumerate((3, 3, 2))]
    sizes = _i32(m, "split_sizes", [3, -1, 2])
    m.ops.append(OpDef("SPLIT_V", [c, sizes, _i32(m, "split_v_axis", 1)], v, {"num_splits": 3}))
    ss = act("strided", (1, 4, 3, 3))
    bounds = [_i32(m, n, vals) for n, vals in (
        ("ss_begin", [0, 7, 1, 0]), ("ss_end", [1, 0, 8, 6]), ("ss_strides", [1, -2, 3, 2]))
    ]  # fmt: skip
    m.ops.append(OpDef("STRIDED_SLICE", [c, *bounds], [ss]))
    shrunk = act("shrunk", (8, 4))
    masked = [_i32(m, n, vals) for n, vals in (
        ("sm_begin", [0, -1, 5, 2]), ("sm_end", [0, 0, 0, 0]), ("sm_strides", [1, 1, 1, 1]))
    ]  # fmt: skip
    m.ops.append(
        OpDef("STRIDED_SLICE", [v[0], *masked], [shrunk],
              {"begin_mask": 0b0100, "end_mask": 0b1100, "shrink_axis_mask": 0b0011})
    )  # fmt: skip
    expanded = act("expanded", (8, 1, 4))
    m.ops.append(OpDef("EXPAND_DIMS", [shrunk, _i32(m, "expand_axis", [-2])], [expanded]))
    sl = act("slice", (1, 4, 7, 3))
    m.ops.append(
        OpDef("SLICE", [c, _i32(m, "sl_begin", [0, 2, 1, 1]), _i32(m, "sl_size", [1, 4, -1, 3])],
              [sl])
    )  # fmt: skip
    sq = act("squeezed", (4, 7, 3))
    m.ops.append(OpDef("SQUEEZE", [sl], [sq], {"squeeze_dims": [0]}))
    planes = [act(f"plane{i}", (1, 8, 8)) for i in range(3)]
    m.ops.append(OpDef("UNPACK", [halves[0]], planes, {"num": 3, "axis": -1}))
    packed = act("packed", (1, 3, 8, 8))
    m.ops.append(OpDef("PACK", [planes[2], planes[0], planes[1]], [packed],
                       {"values_count": 3, "axis": 1}))  # fmt: skip
    batched = act("batched", (4, 5, 5, 3))
    block = _i32(m, "block", [2, 2])
    m.ops.append(
        OpDef("SPACE_TO_BATCH_ND", [halves[1], block, _i32(m, "pads", [[1, 1], [0, 2]])], [batched])
    )
    spaced = act("spaced", (1, 9, 9, 3))
    m.ops.append(
        OpDef("BATCH_TO_SPACE_ND", [batched, block, _i32(m, "crops", [[0, 1], [1, 0]])], [spaced])
    )
    m.inputs = [x]
    m.outputs = [ss, expanded, sq, packed, spaced, v[1], v[2], halves[1]]
    return write_tflite(m)


def dilated_model(seed: int = 0, zero_point: int = 0) -> bytes:
    """Two dilated convolutions as TensorFlow exports them: SPACE_TO_BATCH_ND -> CONV_2D
    (VALID, stride 1) -> BATCH_TO_SPACE_ND with the paddings and crops of a SAME 3x3 convolution
    of dilation 2 over 9x9 (pads [2, 3], crops [0, 1]), then the same around a DEPTHWISE_CONV_2D
    with those of a VALID one (pads [0, 1], crops [0, 1]). The activations' zero point is
    ``zero_point``: with 0 ingest folds each triple into one dilated convolution; otherwise
    only the VALID one (the SAME one's border would read tflite-micro's padding of 0, which is
    not the zero point)."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: dilated convolutions through SPACE_TO_BATCH_ND")

    def act(name: str, shape: tuple[int, ...], scale: float) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (scale,), (zero_point,)))

    x = act("input", (1, 9, 9, 4), 0.05)
    block = _i32(m, "block", [2, 2])
    sb = act("s2b", (4, 7, 7, 4), 0.05)
    m.ops.append(OpDef("SPACE_TO_BATCH_ND", [x, block, _i32(m, "pads", [[2, 3], [2, 3]])], [sb]))
    w, b = _conv_weights(m, rng)
    cv = act("conv", (4, 5, 5, 6), 0.08)
    valid = {"padding": Padding.VALID, "stride": (1, 1), "dilation": (1, 1)}
    m.ops.append(OpDef("CONV_2D", [sb, w, b], [cv], {**valid, "activation": Activation.RELU}))
    y1 = act("dilated_conv", (1, 9, 9, 6), 0.08)
    crops = _i32(m, "crops", [[0, 1], [0, 1]])
    m.ops.append(OpDef("BATCH_TO_SPACE_ND", [cv, block, crops], [y1]))
    sb2 = act("s2b_2", (4, 5, 5, 6), 0.08)
    m.ops.append(
        OpDef("SPACE_TO_BATCH_ND", [y1, block, _i32(m, "pads_2", [[0, 1], [0, 1]])], [sb2])
    )
    dw_scale = rng.uniform(0.005, 0.02, size=6).astype(np.float32)
    dw = m.add_tensor(
        TensorDef(
            "dw",
            (1, 3, 3, 6),
            DType.INT8,
            rng.integers(-127, 128, (1, 3, 3, 6), dtype=np.int8),
            tuple(float(s) for s in dw_scale),
            (0,) * 6,
            3,
        )
    )
    dwb = m.add_tensor(
        TensorDef(
            "dw_b",
            (6,),
            DType.INT32,
            rng.integers(-500, 500, 6, dtype=np.int32),
            tuple(float(0.08 * s) for s in dw_scale),
            (0,) * 6,
            0,
        )
    )
    dv = act("depthwise", (4, 3, 3, 6), 0.06)
    dw_options = {**valid, "depth_multiplier": 1, "activation": Activation.NONE}
    m.ops.append(OpDef("DEPTHWISE_CONV_2D", [sb2, dw, dwb], [dv], dw_options))
    y2 = act("output", (1, 5, 5, 6), 0.06)
    m.ops.append(OpDef("BATCH_TO_SPACE_ND", [dv, block, crops], [y2]))
    m.inputs, m.outputs = [x], [y2]
    return write_tflite(m)


def branchy_model(size: int = 16, seed: int = 0) -> bytes:
    """An inception-like block on a [1, size, size, 8] int8 input: a 1x1 branch, a 3x3 branch,
    a 1x1 then 5x5 branch and a 3x3 max-pool then 1x1 branch, joined by CONCATENATION along
    channels (four inputs), then a 1x1 convolution; and a second CONCATENATION of that and the
    input (two inputs). All share one quantization, as tflite-micro's concatenation needs."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: branches joined by concatenation")
    q = (0.05, -10)

    def act(name: str, c: int) -> int:
        return m.add_tensor(TensorDef(name, (1, size, size, c), DType.INT8, None, (q[0],), (q[1],)))

    def conv(x: int, c_in: int, c_out: int, k: int, name: str) -> int:
        shape = (c_out, k, k, c_in)
        scales = tuple(float(v) for v in rng.uniform(0.002, 0.008, c_out))
        w = m.add_tensor(TensorDef(f"{name}_w", shape, DType.INT8,
                                   rng.integers(-127, 128, shape, dtype=np.int8), scales,
                                   (0,) * c_out))  # fmt: skip
        b = m.add_tensor(TensorDef(f"{name}_b", (c_out,), DType.INT32,
                                   rng.integers(-300, 300, c_out, dtype=np.int32),
                                   tuple(0.05 * s for s in scales), (0,) * c_out))  # fmt: skip
        y = act(name, c_out)
        options = {"padding": Padding.SAME, "stride": (1, 1), "dilation": (1, 1),
                   "activation": Activation.RELU}  # fmt: skip
        m.ops.append(OpDef("CONV_2D", [x, w, b], [y], options))
        return y

    x = act("input", 8)
    b1 = conv(x, 8, 8, 1, "branch_1x1")
    b3 = conv(x, 8, 8, 3, "branch_3x3")
    b5 = conv(conv(x, 8, 4, 1, "branch_5x5_reduce"), 4, 6, 5, "branch_5x5")
    pooled = act("pool", 8)
    pool_options = {"padding": Padding.SAME, "stride": (1, 1), "filter": (3, 3),
                    "activation": Activation.NONE}  # fmt: skip
    m.ops.append(OpDef("MAX_POOL_2D", [x], [pooled], pool_options))
    bp = conv(pooled, 8, 4, 1, "branch_pool")
    cat = act("concat", 26)
    m.ops.append(OpDef("CONCATENATION", [b1, b3, b5, bp], [cat], {"axis": 3}))
    mixed = conv(cat, 26, 12, 1, "mixed")
    y = act("output", 20)
    m.ops.append(OpDef("CONCATENATION", [mixed, x], [y], {"axis": 3}))
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def two_scale_model(size: int = 32, seed: int = 0, align_corners: bool = False) -> bytes:
    """A two-scale detector head on a [1, size, size, 8] int8 input: two stride-2 3x3
    convolutions (size/2, then size/4), the deeper scale upsampled x2 by RESIZE_NEAREST_NEIGHBOR
    and concatenated along channels with the shallower one, a 1x1 convolution of that, and a
    1x1 head on the deeper scale; plus a resize of the input to a non-integer 3/4 of its size.
    Three int8 outputs (size must be a multiple of 4)."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: upsampling and a second scale")
    q = (0.05, -10)

    def act(name: str, hw: int, c: int) -> int:
        return m.add_tensor(TensorDef(name, (1, hw, hw, c), DType.INT8, None, (q[0],), (q[1],)))

    def conv(x: int, c_in: int, c_out: int, k: int, stride: int, hw: int, name: str) -> int:
        shape = (c_out, k, k, c_in)
        scales = tuple(float(v) for v in rng.uniform(0.002, 0.008, c_out))
        w = m.add_tensor(TensorDef(f"{name}_w", shape, DType.INT8,
                                   rng.integers(-127, 128, shape, dtype=np.int8), scales,
                                   (0,) * c_out))  # fmt: skip
        b = m.add_tensor(TensorDef(f"{name}_b", (c_out,), DType.INT32,
                                   rng.integers(-300, 300, c_out, dtype=np.int32),
                                   tuple(0.05 * s for s in scales), (0,) * c_out))  # fmt: skip
        y = act(name, hw, c_out)
        options = {"padding": Padding.SAME, "stride": (stride, stride), "dilation": (1, 1),
                   "activation": Activation.RELU}  # fmt: skip
        m.ops.append(OpDef("CONV_2D", [x, w, b], [y], options))
        return y

    def resize(x: int, hw: int, c: int, name: str) -> int:
        size_t = m.add_tensor(TensorDef(f"{name}_size", (2,), DType.INT32,
                                        np.array([hw, hw], np.int32)))  # fmt: skip
        y = act(name, hw, c)
        options = {"align_corners": align_corners, "half_pixel_centers": not align_corners}
        m.ops.append(OpDef("RESIZE_NEAREST_NEIGHBOR", [x, size_t], [y], options))
        return y

    x = act("input", size, 8)
    a = conv(x, 8, 16, 3, 2, size // 2, "scale_2")
    b = conv(a, 16, 16, 3, 2, size // 4, "scale_4")
    up = resize(b, size // 2, 16, "upsampled")
    cat = act("merged", size // 2, 32)
    m.ops.append(OpDef("CONCATENATION", [up, a], [cat], {"axis": 3}))
    y1 = conv(cat, 32, 8, 1, 1, size // 2, "head_2")
    y2 = conv(b, 16, 8, 1, 1, size // 4, "head_4")
    y3 = resize(x, size * 3 // 4, 8, "resized")
    m.inputs, m.outputs = [x], [y1, y2, y3]
    return write_tflite(m)


def _transpose_conv_weights(
    m: ModelDef,
    rng: np.random.Generator,
    shape: tuple[int, int, int, int],
    in_scale: float,
    bias: bool,
    per_channel: bool = True,
) -> tuple[int, int]:
    """Int8 OHWI weights (quantized per output channel, or per tensor) and, when ``bias``, an
    int32 bias for an input of scale ``in_scale``: the tensors' indices (-1: no bias)."""
    oc = shape[0]
    scales = rng.uniform(0.005, 0.02, size=oc if per_channel else 1).astype(np.float32)
    data = rng.integers(-127, 128, shape, dtype=np.int8)
    w = m.add_tensor(
        TensorDef(
            "w", shape, DType.INT8, data, tuple(float(s) for s in scales), (0,) * len(scales), 0
        )
    )
    if not bias:
        return w, -1
    per = np.resize(scales, oc)
    b = m.add_tensor(
        TensorDef(
            "b",
            (oc,),
            DType.INT32,
            rng.integers(-3000, 3000, oc, dtype=np.int32),
            tuple(float(in_scale * s) for s in per),
            (0,) * oc,
            0,
        )
    )
    return w, b


def upsample_model(seed: int = 0, activation: Activation = Activation.NONE) -> bytes:
    """RESIZE_BILINEAR and TRANSPOSE_CONV, int8: a stride-2 SAME TRANSPOSE_CONV with bias
    (per-channel weights, ``activation`` fused) of a [1, 5, 6, 4] input, resized bilinearly
    with half-pixel centres to [1, 7, 17, 6] (down in H, up in W by non-integer factors); a
    VALID stride (2, 1) TRANSPOSE_CONV without bias (per-tensor weights) whose output is one
    row taller than the least; the input resized with aligned corners to [1, 3, 4, 4]."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: upsampling")

    def act(name: str, shape: tuple[int, ...], scale: float, zp: int) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (scale,), (zp,)))

    def const_i32(name: str, values: list[int]) -> int:
        return m.add_tensor(
            TensorDef(name, (len(values),), DType.INT32, np.array(values, np.int32))
        )

    x = act("input", (1, 5, 6, 4), 0.05, -3)
    w, b = _transpose_conv_weights(m, rng, (6, 3, 3, 4), 0.05, True)
    t1 = act("tconv_same", (1, 10, 12, 6), 0.06, 5)
    m.ops.append(
        OpDef(
            "TRANSPOSE_CONV",
            [const_i32("shape1", [1, 10, 12, 6]), w, x, b],
            [t1],
            {"padding": Padding.SAME, "stride": (2, 2), "activation": activation},
        )
    )
    r1 = act("resize_half_pixel", (1, 7, 17, 6), 0.06, 5)
    m.ops.append(
        OpDef(
            "RESIZE_BILINEAR",
            [t1, const_i32("size1", [7, 17])],
            [r1],
            {"align_corners": False, "half_pixel_centers": True},
        )
    )
    w2, _ = _transpose_conv_weights(m, rng, (5, 2, 3, 4), 0.05, False, per_channel=False)
    t2 = act("tconv_valid", (1, 11, 8, 5), 0.08, -7)
    m.ops.append(
        OpDef(
            "TRANSPOSE_CONV",
            [const_i32("shape2", [1, 11, 8, 5]), w2, x],
            [t2],
            {"padding": Padding.VALID, "stride": (2, 1), "activation": Activation.NONE},
        )
    )
    r2 = act("resize_aligned", (1, 3, 4, 4), 0.05, -3)
    m.ops.append(
        OpDef(
            "RESIZE_BILINEAR",
            [x, const_i32("size2", [3, 4])],
            [r2],
            {"align_corners": True, "half_pixel_centers": False},
        )
    )
    m.inputs, m.outputs = [x], [r1, t2, r2]
    return write_tflite(m)


def heads_model(seed: int = 0) -> bytes:
    """Classifier heads and normalizations after a CONV_2D (int8 input [1, 8, 8, 4]): PRELU
    with a [1, 1, 6] alpha, REDUCE_MAX over H and W (kept) and over C (squeezed),
    L2_NORMALIZATION and LOG_SOFTMAX of the PRELU, ARG_MAX along C of the convolution and
    ARG_MIN along H of the PRELU (int32 outputs). Every one is a model output."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: heads and normalizations")

    def act(name: str, shape: tuple[int, ...], q: tuple[float, int]) -> int:
        return m.add_tensor(TensorDef(name, shape, DType.INT8, None, (q[0],), (q[1],)))

    def i32(name: str, values: list[int]) -> int:
        data = np.array(values, np.int32)
        return m.add_tensor(TensorDef(name, data.shape, DType.INT32, data))

    x = act("input", (1, 8, 8, 4), (0.05, -3))
    w, b = _conv_weights(m, rng)
    conv_q, prelu_q = (0.4, 5), (0.5, -20)
    c = act("conv", (1, 8, 8, 6), conv_q)
    conv_options = {"padding": Padding.SAME, "stride": (1, 1), "dilation": (1, 1)}
    m.ops.append(OpDef("CONV_2D", [x, w, b], [c], {**conv_options, "activation": Activation.NONE}))
    alpha_data = rng.integers(-128, 128, (1, 1, 6), dtype=np.int8)
    alpha = m.add_tensor(TensorDef("alpha", (1, 1, 6), DType.INT8, alpha_data, (0.004,), (-9,)))
    pr = act("prelu", (1, 8, 8, 6), prelu_q)
    m.ops.append(OpDef("PRELU", [c, alpha], [pr]))
    hw_max = act("reduce_max_hw", (1, 1, 1, 6), prelu_q)
    m.ops.append(OpDef("REDUCE_MAX", [pr, i32("axes_hw", [1, 2])], [hw_max], {"keep_dims": True}))
    c_max = act("reduce_max_c", (1, 8, 8), conv_q)
    m.ops.append(OpDef("REDUCE_MAX", [c, i32("axes_c", [-1])], [c_max], {"keep_dims": False}))
    l2 = act("l2_norm", (1, 8, 8, 6), (1 / 128, 0))
    m.ops.append(OpDef("L2_NORMALIZATION", [pr], [l2]))
    log_sm = act("log_softmax", (1, 8, 8, 6), (16 / 256, 127))
    m.ops.append(OpDef("LOG_SOFTMAX", [pr], [log_sm]))
    arg_max = m.add_tensor(TensorDef("arg_max", (1, 8, 8), DType.INT32))
    m.ops.append(OpDef("ARG_MAX", [c, i32("axis_c", [3])], [arg_max]))
    arg_min = m.add_tensor(TensorDef("arg_min", (1, 8, 6), DType.INT32))
    m.ops.append(OpDef("ARG_MIN", [pr, i32("axis_h", [1])], [arg_min]))
    m.inputs = [x]
    m.outputs = [pr, hw_max, c_max, l2, log_sm, arg_max, arg_min]
    return write_tflite(m)
