"""LOG_SOFTMAX, L2_NORMALIZATION, REDUCE_MAX, ARG_MAX, ARG_MIN and PRELU (int8) against
tflite-micro, in core on the host under ASan and UBSan: the operator-coverage model on random
inputs, each operator straight on a model input at several quantizations fed rows built to reach
the edge cases (ties, constant rows, rows at the zero point, saturating extremes), PRELU on every
(input, alpha) pair, what is refused, and a fused schedule out of core at its smallest budget."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import InvalidModelError, UnsupportedModelError
from ooc_sdk.image.keys import generate
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model import parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Activation, DType
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build, run_host
from ooc_sdk.targets import load_flash, load_mcu
from opmodels import heads_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
KINDS = {"LOG_SOFTMAX", "L2_NORMALIZATION", "REDUCE_MAX", "ARG_MAX", "ARG_MIN", "PRELU"}
SHAPE = (1, 4, 8, 16)  # 32 rows of 16 along the last axis


def _assert_bit_exact(data: bytes, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
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
    return ours.outputs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heads_model_bit_exact(seed: int) -> None:
    data = heads_model(seed)
    graph = parse_model(data)
    outs = _assert_bit_exact(data, [random_inputs(graph, s) for s in range(4)])
    names = [graph.tensors[t].name for t in graph.outputs]
    for sample in outs:
        by_name = dict(zip(names, sample, strict=True))
        assert by_name["arg_max"].dtype == np.int32 and by_name["arg_min"].dtype == np.int32
        for name, a in by_name.items():  # a function of the input, not one value throughout
            assert len(np.unique(a)) > 1, name


def _edge_rows(zp: int, seed: int) -> np.ndarray:
    """32 rows of 16 int8 values: random ones, ties from three values, constant rows at both
    ends and at the zero point, one-hot rows (a single maximum far above the rest), and rows
    spanning the whole range."""
    rng = np.random.default_rng(seed)
    rows = [rng.integers(-128, 128, 16) for _ in range(8)]
    rows += [rng.integers(-1, 2, 16) + zp for _ in range(8)]  # ties near the zero point
    rows += [np.full(16, v) for v in (-128, 127, zp, zp + 1)]  # constant rows
    for hot in (0, 7, 15):
        row = np.full(16, -128)
        row[hot] = 127
        rows.append(row)
    rows += [np.linspace(-128, 127, 16).round(), np.linspace(127, -128, 16).round()]
    rows += [rng.integers(100, 128, 16), rng.integers(-128, -100, 16)]
    rows += [rng.integers(-128, 128, 16) for _ in range(32 - len(rows))]
    return np.clip(np.array(rows), -128, 127).astype(np.int8).reshape(SHAPE)


# (input scale, input zero point, alpha scale, alpha zero point, PRELU output scale, zero point)
SWEEP = [
    (0.05, -3, 0.01, 0, 0.05, -3),
    (0.5, 100, 0.003, -50, 0.02, 0),  # PRELU saturates at both ends
    (0.004, -128, 0.02, 30, 0.1, 120),
    (2.0, 0, 0.0078125, -128, 1.5, -60),  # large steps: LOG_SOFTMAX's diff_min cuts in
    (0.0123, 17, 0.05, 5, 0.0031, -7),
]


def _direct_model() -> bytes:
    """One model input [1, 4, 8, 16] per SWEEP case, read by each operator directly: LOG_SOFTMAX
    and L2_NORMALIZATION along the last axis, REDUCE_MAX over W (kept) and over H and C
    (squeezed), ARG_MAX along C, ARG_MIN along W, PRELU with a [16] alpha and with a [4, 1, 16]
    one (broadcast over W)."""
    rng = np.random.default_rng(23)
    m = ModelDef(description="ooc test: heads on model inputs")

    def int32(name: str, values: list[int]) -> int:
        data = np.array(values, np.int32)
        return m.add_tensor(TensorDef(name, data.shape, DType.INT32, data))

    def out(name: str, shape: tuple[int, ...], q: tuple[float, int] | None) -> int:
        if q is None:
            t = m.add_tensor(TensorDef(name, shape, DType.INT32))
        else:
            t = m.add_tensor(TensorDef(name, shape, DType.INT8, None, (q[0],), (q[1],)))
        m.outputs.append(t)
        return t

    for n, (s, zp, s_a, zp_a, s_p, zp_p) in enumerate(SWEEP):
        x = m.add_tensor(TensorDef(f"input{n}", SHAPE, DType.INT8, None, (s,), (zp,)))
        m.inputs.append(x)
        m.ops += [
            OpDef("LOG_SOFTMAX", [x], [out(f"log_softmax{n}", SHAPE, (16 / 256, 127))]),
            OpDef("L2_NORMALIZATION", [x], [out(f"l2_norm{n}", SHAPE, (1 / 128, 0))]),
            OpDef(
                "REDUCE_MAX",
                [x, int32(f"axes_w{n}", [2])],
                [out(f"max_w{n}", (1, 4, 1, 16), (s, zp))],
                {"keep_dims": True},
            ),
            OpDef(
                "REDUCE_MAX",
                [x, int32(f"axes_hc{n}", [3, -3])],
                [out(f"max_hc{n}", (1, 8), (s, zp))],
                {"keep_dims": False},
            ),
            OpDef("ARG_MAX", [x, int32(f"axis_c{n}", [-1])], [out(f"arg_max{n}", SHAPE[:3], None)]),
            OpDef("ARG_MIN", [x, int32(f"axis_w{n}", [2])], [out(f"arg_min{n}", (1, 4, 16), None)]),
        ]
        for k, shape in enumerate([(16,), (4, 1, 16)]):
            data = rng.integers(-128, 128, shape, dtype=np.int8)
            alpha = m.add_tensor(
                TensorDef(f"alpha{n}_{k}", shape, DType.INT8, data, (s_a,), (zp_a,))
            )
            m.ops.append(OpDef("PRELU", [x, alpha], [out(f"prelu{n}_{k}", SHAPE, (s_p, zp_p))]))
    return write_tflite(m)


def test_edge_rows_bit_exact_at_every_quantization() -> None:
    data = _direct_model()
    graph = parse_model(data)
    samples = [
        [_edge_rows(zp, seed) for seed, (_, zp, *_) in enumerate(SWEEP)],
        [_edge_rows(zp, 7 + seed)[:, ::-1].copy() for seed, (_, zp, *_) in enumerate(SWEEP)],
    ]
    outs = _assert_bit_exact(data, samples)
    names = [graph.tensors[t].name for t in graph.outputs]
    got = dict(zip(names, outs[0], strict=True))
    # ties go to the first index: the constant rows (16..19 of 32) give 0 along C
    assert (got["arg_max0"].reshape(32)[16:20] == 0).all()
    # one-hot rows: the hot index along C
    hot = got["arg_max0"].reshape(32)[20:23].tolist()
    assert hot == [0, 7, 15]
    # one-hot rows: 0 at the maximum; 255 steps of 0.05 below it is -12.75, 204 output steps
    ls = got["log_softmax0"].reshape(32, 16)[20]
    assert ls[0] == 127 and (ls[1:] == 127 - 204).all()
    ls = got["log_softmax3"].reshape(32, 16)[20]  # steps of 2.0: beyond the range, -128
    assert ls[0] == 127 and (ls[1:] == -128).all()
    # a row at the zero point has a zero sum of squares: tflite-micro's largest multiplier
    assert (got["l2_norm0"].reshape(32, 16)[18] == 0).all()


def _prelu_pairs_model() -> bytes:
    """PRELU of every int8 value (along W) with every int8 alpha value (a [256, 1, 1] constant,
    along H), at three quantizations."""
    m = ModelDef(description="ooc test: PRELU of every pair")
    alpha_data = np.arange(-128, 128, dtype=np.int8).reshape(256, 1, 1)
    for n, (s, zp, s_a, zp_a, s_p, zp_p) in enumerate([SWEEP[0], SWEEP[1], SWEEP[4]]):
        shape = (1, 256, 256, 1)
        x = m.add_tensor(TensorDef(f"input{n}", shape, DType.INT8, None, (s,), (zp,)))
        alpha = m.add_tensor(
            TensorDef(f"alpha{n}", (256, 1, 1), DType.INT8, alpha_data, (s_a,), (zp_a,))
        )
        y = m.add_tensor(TensorDef(f"prelu{n}", shape, DType.INT8, None, (s_p,), (zp_p,)))
        m.ops.append(OpDef("PRELU", [x, alpha], [y]))
        m.inputs.append(x)
        m.outputs.append(y)
    return write_tflite(m)


def test_prelu_bit_exact_on_every_input_and_alpha_pair() -> None:
    data = _prelu_pairs_model()
    x = np.broadcast_to(np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256, 1), (1, 256, 256, 1))
    outs = _assert_bit_exact(data, [[x.copy() for _ in range(3)]])
    assert all(len(np.unique(a)) > 100 for a in outs[0])


def _one(op: str, x: TensorDef, y: TensorDef, extra: list[TensorDef], options: dict) -> bytes:  # type: ignore[type-arg]
    m = ModelDef(description="ooc test: one head")
    ins = [m.add_tensor(x)] + [m.add_tensor(t) for t in extra]
    out = m.add_tensor(y)
    m.ops.append(OpDef(op, ins, [out], options))
    m.inputs, m.outputs = [ins[0]], [out]
    return write_tflite(m)


def _q(name: str, shape: tuple[int, ...], scale: float, zp: int) -> TensorDef:
    return TensorDef(name, shape, DType.INT8, None, (scale,), (zp,))


def _axis(values: list[int], dtype: DType = DType.INT32) -> TensorDef:
    data = np.array(values, dtype.numpy)
    return TensorDef("axis", data.shape, dtype, data)


def test_options_round_trip() -> None:
    x = _q("x", (1, 4, 4, 8), 0.1, 0)
    graph = parse_model(
        _one("REDUCE_MAX", x, _q("y", (1, 4, 8), 0.1, 0), [_axis([-2])], {"keep_dims": False})
    )
    assert graph.operators[0].options == {"keep_dims": False, "axes": [2]}
    arg = TensorDef("y", (1, 4, 4), DType.INT32)
    graph = parse_model(_one("ARG_MAX", x, arg, [_axis([3])], {"output_type": DType.INT32}))
    assert graph.operators[0].options == {"output_type": DType.INT32, "axis": 3}
    graph = parse_model(_one("L2_NORMALIZATION", x, _q("y", x.shape, 1 / 128, 0), [], {}))
    assert graph.operators[0].options == {"activation": Activation.NONE}


def test_bad_models_are_refused() -> None:
    x = _q("x", (1, 4, 4, 8), 0.1, 0)
    with pytest.raises(UnsupportedModelError, match=re.escape("scale 0.0625 and zero point 127")):
        parse_model(_one("LOG_SOFTMAX", x, _q("y", x.shape, 1 / 256, -128), [], {}))
    with pytest.raises(UnsupportedModelError, match=re.escape("scale 0.0078125 and zero point 0")):
        parse_model(_one("L2_NORMALIZATION", x, _q("y", x.shape, 1 / 128, 3), [], {}))
    relu = {"activation": Activation.RELU}
    with pytest.raises(UnsupportedModelError, match="fused activation"):
        parse_model(_one("L2_NORMALIZATION", x, _q("y", x.shape, 1 / 128, 0), [], relu))
    with pytest.raises(UnsupportedModelError, match="share scale and zero point"):
        y = _q("y", (1, 1, 1, 8), 0.2, 0)
        parse_model(_one("REDUCE_MAX", x, y, [_axis([1, 2])], {"keep_dims": True}))
    with pytest.raises(InvalidModelError, match="does not follow"):
        y = _q("y", (1, 1, 1, 8), 0.1, 0)
        parse_model(_one("REDUCE_MAX", x, y, [_axis([1, 2])], {"keep_dims": False}))
    with pytest.raises(UnsupportedModelError, match="int64 activations"):
        y64 = TensorDef("y", (1, 4, 4), DType.INT64)
        parse_model(_one("ARG_MAX", x, y64, [_axis([3])], {"output_type": DType.INT64}))
    with pytest.raises(InvalidModelError, match="not one axis"):
        parse_model(_one("ARG_MIN", x, TensorDef("y", (1, 4, 4), DType.INT32), [_axis([4])], {}))
    alpha = TensorDef("alpha", (8,), DType.INT8, np.ones(8, np.int8), (0.1,) * 8, (0,) * 8)
    with pytest.raises(UnsupportedModelError, match="per tensor"):
        parse_model(_one("PRELU", x, _q("y", x.shape, 0.1, 0), [alpha], {}))
    alpha = TensorDef("alpha", (3,), DType.INT8, np.ones(3, np.int8), (0.1,), (0,))
    with pytest.raises(InvalidModelError, match="does not broadcast"):
        parse_model(_one("PRELU", x, _q("y", x.shape, 0.1, 0), [alpha], {}))
    # tflite-micro aborts when the input scale times 2^26 is not above one
    graph = parse_model(
        _one("LOG_SOFTMAX", _q("x", x.shape, 1e-8, 0), _q("y", x.shape, 16 / 256, 127), [], {})
    )
    with pytest.raises(UnsupportedModelError, match="too small"):
        prepare_op(graph, graph.operators[0])


def test_fused_schedules_leave_heads_per_layer(tmp_path: Path) -> None:
    """The fused block runner has no row model for these operators: a fused schedule keeps each
    a per-layer step, in core and out of core at the smallest budget, and stays bit-exact."""
    data = heads_model(6)
    graph = parse_model(data, "heads")
    x = random_inputs(graph, 0)
    gold = run_tflm_many(data, [x])[0].outputs
    fp = plan_fusion(graph, max_mac_overhead=16.0)
    heads = [i for i, op in enumerate(graph.operators) if op.op_type in KINDS]
    assert len(heads) == 7
    for b in fp.blocks:
        assert not (b.fused and any(b.first <= i < b.last for i in heads)), (b.first, b.last)
    fused = run_host(graph, [x], sanitize=True, fusion=fp).outputs[0]
    assert [a.tobytes() for a in fused] == [b.tobytes() for b in gold]

    with pytest.raises(BudgetError) as exc:
        plan(graph, PlanRequest(budget=1, flash=FLASH, mcu=M4, fuse=True))
    budget = exc.value.minimum
    assert budget is not None
    req = PlanRequest(budget=budget, flash=FLASH, mcu=M4, fuse=True)
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    build(graph, data, tmp_path / "b", device, BuildRequest(req))
    got = run_build(tmp_path / "b", graph, device, [x])
    assert got.report["sram_high_water_bytes"] <= budget
    assert [a.tobytes() for a in got.outputs[0]] == [b.tobytes() for b in gold]


def _classifier_head() -> bytes:
    """A classifier's head as converters write it: FULLY_CONNECTED [1, 32] -> [1, 10] logits,
    LOG_SOFTMAX of them and their ARG_MAX (int32 [1])."""
    rng = np.random.default_rng(5)
    m = ModelDef(description="ooc test: LOG_SOFTMAX head")
    x = m.add_tensor(_q("features", (1, 32), 0.05, -10))
    w = m.add_tensor(
        TensorDef(
            "w", (10, 32), DType.INT8, rng.integers(-127, 128, (10, 32), np.int8), (0.01,), (0,)
        )
    )
    bias = rng.integers(-500, 500, 10, dtype=np.int32)
    b = m.add_tensor(TensorDef("b", (10,), DType.INT32, bias, (0.0005,), (0,)))
    logits = m.add_tensor(_q("logits", (1, 10), 0.12, 3))
    fc = {"activation": Activation.NONE, "keep_num_dims": False}
    m.ops.append(OpDef("FULLY_CONNECTED", [x, w, b], [logits], fc))
    log_probs = m.add_tensor(_q("log_probs", (1, 10), 16 / 256, 127))
    m.ops.append(OpDef("LOG_SOFTMAX", [logits], [log_probs]))
    axis = m.add_tensor(_axis([1]))
    label = m.add_tensor(TensorDef("label", (1,), DType.INT32))
    m.ops.append(OpDef("ARG_MAX", [logits, axis], [label], {"output_type": DType.INT32}))
    m.inputs, m.outputs = [x], [log_probs, label]
    return write_tflite(m)


def test_log_softmax_head_bit_exact() -> None:
    data = _classifier_head()
    graph = parse_model(data)
    outs = _assert_bit_exact(data, [random_inputs(graph, s) for s in range(6)])
    assert len({int(label[0]) for _, label in outs}) > 1  # the label follows the input
    for log_probs, label in outs:
        assert int(log_probs.argmax()) == int(label[0]) or log_probs.max() == 127


def test_wide_rows_bit_exact() -> None:
    """L2_NORMALIZATION of rows whose sum of squares passes 2^29 (the inverse square root
    first divides it by 4 until it fits) and LOG_SOFTMAX of rows of 4000 values (a Q12 sum of
    exponentials close to 2^31 when they are all equal)."""
    m = ModelDef(description="ooc test: wide rows")
    x = m.add_tensor(_q("x", (1, 2, 9000), 0.1, 127))
    v = m.add_tensor(_q("v", (1, 2, 4000), 0.3, 0))
    l2 = m.add_tensor(_q("l2", (1, 2, 9000), 1 / 128, 0))
    ls = m.add_tensor(_q("ls", (1, 2, 4000), 16 / 256, 127))
    m.ops += [OpDef("L2_NORMALIZATION", [x], [l2]), OpDef("LOG_SOFTMAX", [v], [ls])]
    m.inputs, m.outputs = [x, v], [l2, ls]
    rng = np.random.default_rng(9)
    wide = np.stack([np.full(9000, -128), rng.integers(-128, 128, 9000)]).astype(np.int8)
    flat = np.stack([np.full(4000, 5), rng.integers(-128, 128, 4000)]).astype(np.int8)
    outs = _assert_bit_exact(write_tflite(m), [[wide[None], flat[None]]])
    assert np.sum((wide[0].astype(np.int64) - 127) ** 2) >= 1 << 29
    l2_out, ls_out = outs[0]
    assert (l2_out[0, 0] == -1).all()  # -1 / sqrt(9000) is -1.35 steps of 1/128
    assert (ls_out[0, 0] == ls_out[0, 0, 0]).all() and len(np.unique(ls_out[0, 1])) > 10
