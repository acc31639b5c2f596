"""RESIZE_BILINEAR and TRANSPOSE_CONV (int8) against tflite-micro, on the host under ASan and
UBSan: the upsampling coverage model, and one sweep model of many shapes, strides, paddings,
corner modes and quantizations; their checks, MACs and the fused planner's treatment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import InvalidModelError, UnsupportedModelError
from ooc_sdk.image.keys import generate
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model import parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Activation, DType, Padding
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build, run_host
from ooc_sdk.targets import load_flash, load_mcu
from opmodels import upsample_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
SAME, VALID = Padding.SAME, Padding.VALID


def _assert_bit_exact(data: bytes, samples: list[list[np.ndarray]]) -> None:
    graph = parse_model(data)
    ours = run_host(graph, samples, sanitize=True)
    gold = run_tflm_many(data, samples)
    for s, (mine, ref) in enumerate(zip(ours.outputs, gold, strict=True)):
        assert len(mine) == len(ref.outputs) == len(graph.outputs)
        for i, (a, b) in enumerate(zip(mine, ref.outputs, strict=True)):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes(), (
                f"sample {s}, output {i} ({graph.tensors[graph.outputs[i]].name}): "
                f"{np.count_nonzero(a != b)} values differ"
            )


@pytest.mark.parametrize(
    ("seed", "act"), [(0, Activation.NONE), (1, Activation.RELU), (2, Activation.RELU6)]
)
def test_upsample_model_bit_exact(seed: int, act: Activation) -> None:
    data = upsample_model(seed, act)
    graph = parse_model(data)
    _assert_bit_exact(data, [random_inputs(graph, s) for s in range(4)])


# RESIZE_BILINEAR: (in_h, in_w, out_h, out_w); each with the three corner modes tflite-micro
# accepts (neither, align_corners, half_pixel_centers)
RESIZES = [
    (4, 4, 8, 8),  # integer upscale
    (5, 7, 3, 2),  # non-integer downscale
    (3, 5, 7, 11),  # non-integer upscale
    (1, 2, 3, 5),  # one input row
    (6, 6, 1, 1),  # one output pixel (align_corners falls back to the plain scale)
    (2, 9, 5, 4),  # up in H, down in W
    (8, 8, 2, 4),  # integer downscale
]
CORNERS = [(False, False), (True, False), (False, True)]

# TRANSPOSE_CONV: (in_h, in_w, k_h, k_w, stride_h, stride_w, padding, extra output rows and
# columns beyond the least the padding allows, bias, per-channel weights, activation,
# in_c, out_c, input (scale, zero point), output (scale, zero point))
TCONVS = [
    (4, 4, 3, 3, 2, 2, SAME, 0, 0, True, True, Activation.NONE, 3, 5, (0.05, -3), (0.06, 5)),
    (3, 5, 5, 5, 3, 3, SAME, 2, 1, True, True, Activation.RELU, 4, 3, (0.1, 20), (0.2, -30)),
    (4, 3, 1, 1, 2, 2, VALID, 1, 0, True, False, Activation.NONE, 2, 4, (0.02, 0), (0.01, 0)),
    (3, 3, 4, 2, 2, 2, VALID, 1, 1, False, True, Activation.RELU6, 5, 2, (0.03, -128), (0.05, -1)),
    (5, 5, 3, 3, 1, 1, SAME, 0, 0, True, True, Activation.NONE, 8, 8, (0.04, 7), (0.3, 2)),
    (2, 4, 2, 5, 1, 3, VALID, 0, 2, False, False, Activation.NONE, 3, 6, (0.07, 50), (0.09, -60)),
    (3, 3, 2, 2, 3, 3, VALID, 0, 0, True, True, Activation.NONE, 4, 4, (0.05, 1), (0.02, 3)),
    (1, 1, 3, 3, 2, 2, SAME, 0, 0, True, True, Activation.NONE, 16, 3, (0.01, -5), (0.08, 9)),
]


def _tconv_out(n: int, k: int, s: int, pad: Padding, extra: int) -> int:
    """The least output size whose forward convolution gives ``n``, plus ``extra``."""
    return ((n - 1) * s + 1 if pad is SAME else (n - 1) * s + k) + extra


def sweep_model(seed: int = 0) -> bytes:
    """One model input and one RESIZE_BILINEAR per RESIZES x CORNERS case, and one input and one
    TRANSPOSE_CONV per TCONVS case (one model, so the sanitizer build is compiled once)."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: upsampling sweep")

    def i32(name: str, values: list[int]) -> int:
        return m.add_tensor(
            TensorDef(name, (len(values),), DType.INT32, np.array(values, np.int32))
        )

    for n, ((ih, iw, oh, ow), (align, half)) in enumerate((r, c) for r in RESIZES for c in CORNERS):
        q = ((0.03 + 0.01 * n,), (int(rng.integers(-100, 100)),))
        x = m.add_tensor(TensorDef(f"r_in{n}", (1, ih, iw, 3), DType.INT8, None, *q))
        y = m.add_tensor(TensorDef(f"r_out{n}", (1, oh, ow, 3), DType.INT8, None, *q))
        options = {"align_corners": align, "half_pixel_centers": half}
        m.ops.append(OpDef("RESIZE_BILINEAR", [x, i32(f"size{n}", [oh, ow])], [y], options))
        m.inputs.append(x)
        m.outputs.append(y)
    for n, case in enumerate(TCONVS):
        ih, iw, kh, kw, sh, sw, pad, eh, ew, bias, per_ch, act, ic, oc, qi, qo = case
        oh, ow = _tconv_out(ih, kh, sh, pad, eh), _tconv_out(iw, kw, sw, pad, ew)
        x = m.add_tensor(
            TensorDef(f"t_in{n}", (1, ih, iw, ic), DType.INT8, None, *map(tuple, zip(qi)))
        )
        y = m.add_tensor(
            TensorDef(f"t_out{n}", (1, oh, ow, oc), DType.INT8, None, *map(tuple, zip(qo)))
        )
        scales = rng.uniform(0.002, 0.03, oc if per_ch else 1).astype(np.float32)
        wdata = rng.integers(-127, 128, (oc, kh, kw, ic), dtype=np.int8)
        w = m.add_tensor(
            TensorDef(
                f"w{n}",
                wdata.shape,
                DType.INT8,
                wdata,
                tuple(map(float, scales)),
                (0,) * len(scales),
                0,
            )
        )
        ins = [i32(f"shape{n}", [1, oh, ow, oc]), w, x]
        if bias:
            bs = tuple(float(qi[0] * s) for s in np.resize(scales, oc))
            bdata = rng.integers(-5000, 5000, oc, dtype=np.int32)
            ins.append(m.add_tensor(TensorDef(f"b{n}", (oc,), DType.INT32, bdata, bs, (0,) * oc)))
        options = {"padding": pad, "stride": (sh, sw), "activation": act}
        m.ops.append(OpDef("TRANSPOSE_CONV", ins, [y], options))
        m.inputs.append(x)
        m.outputs.append(y)
    return write_tflite(m)


def test_sweep_bit_exact() -> None:
    data = sweep_model()
    graph = parse_model(data)
    _assert_bit_exact(data, [random_inputs(graph, s) for s in range(3)])


def test_sweep_reaches_the_corner_cases() -> None:
    """The sweep is only as good as what it reaches: negative source positions (half-pixel
    upscaling), weights past one half, the input's last row, output pixels no tap reaches."""
    graph = parse_model(sweep_model())
    fracs: list[int] = []
    gaps = last_row = False
    for op in graph.operators:
        f = prepare_op(graph, op).fields
        if op.op_type == "RESIZE_BILINEAR":
            fracs += list(f["fy"]) + list(f["fx"])
            last_row |= f["in_h"] > 1 and max(f["y1"]) == f["in_h"] - 1
        else:
            gaps |= f["stride_h"] > f["k_h"] or f["stride_w"] > f["k_w"]
    assert min(fracs) < 0 and max(fracs) > 512 and 0 in fracs
    assert gaps and last_row


def _scatter_macs(graph, op) -> int:  # type: ignore[no-untyped-def]
    """tflite-micro's scatter loop, counting the products it adds to the output."""
    f = prepare_op(graph, op).fields
    n = 0
    for iy in range(f["in_h"]):
        for ix in range(f["in_w"]):
            for ky in range(f["k_h"]):
                for kx in range(f["k_w"]):
                    oy = iy * f["stride_h"] - f["pad_top"] + ky
                    ox = ix * f["stride_w"] - f["pad_left"] + kx
                    n += 0 <= oy < f["out_h"] and 0 <= ox < f["out_w"]
    return n * f["batches"] * f["in_c"] * f["out_c"]


def test_transpose_conv_macs_follow_conv_2d() -> None:
    """CONV_2D's convention (every tap, padding included): the forward convolution's figure,
    at least the products tflite-micro's scatter makes, and equal to them without padding."""
    graph = parse_model(sweep_model())
    tconvs = [op for op in graph.operators if op.op_type == "TRANSPOSE_CONV"]
    assert len(tconvs) == len(TCONVS)
    for op, case in zip(tconvs, TCONVS, strict=True):
        ih, iw, kh, kw = case[:4]
        ic, oc = case[12:14]
        assert op.macs == ih * iw * kh * kw * ic * oc >= _scatter_macs(graph, op) > 0
        if case[6] is VALID:  # every tap lands inside the output
            assert op.macs == _scatter_macs(graph, op)


def test_fused_planner_keeps_them_per_layer(tmp_path: Path) -> None:
    """The fused block runner does not run them: a fused schedule keeps each a per-layer step,
    in core and out of core at the smallest budget (TRANSPOSE_CONV split by output channels,
    under the sanitizers), and stays bit-exact."""
    data = upsample_model(3)
    graph = parse_model(data, "upsample")
    x = random_inputs(graph, 0)
    gold = run_tflm_many(data, [x])[0].outputs
    fp = plan_fusion(graph, max_mac_overhead=1.3)
    for b in fp.blocks:
        kinds = {graph.operators[j].op_type for j in range(b.first, b.last)}
        if kinds & {"RESIZE_BILINEAR", "TRANSPOSE_CONV"}:
            assert not b.fused and b.last - b.first == 1
    fused = run_host(graph, [x], sanitize=True, fusion=fp).outputs[0]
    assert [a.tobytes() for a in fused] == [b.tobytes() for b in gold]

    with pytest.raises(BudgetError) as exc:
        plan(graph, PlanRequest(budget=1, flash=FLASH, mcu=M4, fuse=True))
    budget = exc.value.minimum
    assert budget is not None
    req = PlanRequest(budget=budget, flash=FLASH, mcu=M4, fuse=True)
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    p = plan(graph, req)
    steps = [s.op for s in p.steps if graph.operators[s.op].op_type == "TRANSPOSE_CONV"]
    assert len(steps) > len(set(steps)), "the smallest budget splits a TRANSPOSE_CONV"
    build(graph, data, tmp_path / "b", device, BuildRequest(req))
    got = run_build(tmp_path / "b", graph, device, [x], sanitize=True)
    assert got.report["sram_high_water_bytes"] <= budget
    assert [a.tobytes() for a in got.outputs[0]] == [b.tobytes() for b in gold]


def _resize(
    options: dict[str, bool], size: list[int], out_q: tuple[float, int] = (0.1, 0)
) -> bytes:
    m = ModelDef(description="ooc test: one resize")
    x = m.add_tensor(TensorDef("input", (1, 4, 4, 2), DType.INT8, None, (0.1,), (0,)))
    s = m.add_tensor(TensorDef("size", (2,), DType.INT32, np.array(size, np.int32)))
    y = m.add_tensor(TensorDef("output", (1, 6, 6, 2), DType.INT8, None, (out_q[0],), (out_q[1],)))
    m.ops.append(OpDef("RESIZE_BILINEAR", [x, s], [y], options))
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def _tconv(out_shape: list[int], y_shape: tuple[int, ...], const_shape: bool = True) -> bytes:
    m = ModelDef(description="ooc test: one transpose conv")
    x = m.add_tensor(TensorDef("input", (1, 3, 3, 2), DType.INT8, None, (0.1,), (0,)))
    shape = np.array(out_shape, np.int32) if const_shape else None
    s = m.add_tensor(TensorDef("shape", (4,), DType.INT32, shape))
    wdata = np.ones((4, 3, 3, 2), np.int8)
    w = m.add_tensor(TensorDef("w", (4, 3, 3, 2), DType.INT8, wdata, (0.01,) * 4, (0,) * 4, 0))
    y = m.add_tensor(TensorDef("output", y_shape, DType.INT8, None, (0.1,), (0,)))
    options = {"padding": SAME, "stride": (2, 2), "activation": Activation.NONE}
    m.ops.append(OpDef("TRANSPOSE_CONV", [s, w, x], [y], options))
    m.inputs, m.outputs = ([x, s] if not const_shape else [x]), [y]
    return write_tflite(m)


def test_bad_models_are_refused() -> None:
    graph = parse_model(_resize({"align_corners": False, "half_pixel_centers": True}, [6, 6]))
    assert graph.operators[0].options["size"] == [6, 6]
    with pytest.raises(InvalidModelError, match="cannot both be set"):
        parse_model(_resize({"align_corners": True, "half_pixel_centers": True}, [6, 6]))
    with pytest.raises(InvalidModelError, match="does not match output"):
        parse_model(_resize({}, [6, 5]))
    with pytest.raises(UnsupportedModelError, match="share scale and zero point"):
        parse_model(_resize({}, [6, 6], (0.2, 0)))
    graph = parse_model(_tconv([1, 6, 6, 4], (1, 6, 6, 4)))
    assert graph.operators[0].macs == 3 * 3 * 2 * 3 * 3 * 4
    with pytest.raises(InvalidModelError, match="does not follow from input"):
        parse_model(_tconv([1, 8, 6, 4], (1, 8, 6, 4)))
    with pytest.raises(InvalidModelError, match="output_shape"):
        parse_model(_tconv([1, 6, 5, 4], (1, 6, 6, 4)))
    with pytest.raises(UnsupportedModelError, match="int32 activations"):
        parse_model(_tconv([1, 6, 6, 4], (1, 6, 6, 4), const_shape=False))
