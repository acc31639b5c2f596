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
