"""The standalone int8 activations (RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH) against
tflite-micro, in core on the host under ASan and UBSan: the operator-coverage model on random
inputs, and every int8 input value at quantizations that reach each branch of the fixed-point
arithmetic (HARD_SWISH's left and right shifts, its widest output shift, negative alphas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import GoldenError, InvalidModelError, UnsupportedModelError
from ooc_sdk.image.keys import generate
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.lower.prepare.common import multiply_by_quantized_multiplier
from ooc_sdk.model import parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import DType
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build, run_host
from ooc_sdk.targets import load_flash, load_mcu
from opmodels import activation_model, relu_n1_to_1_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)


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


@pytest.mark.parametrize(("seed", "alpha"), [(0, 0.2), (1, 0.01), (2, -0.3)])
def test_activation_model_bit_exact(seed: int, alpha: float) -> None:
    data = activation_model(seed, alpha)
    graph = parse_model(data)
    samples = [random_inputs(graph, s) for s in range(8)]
    assert min(int(x[0].min()) for x in samples) == -128
    assert max(int(x[0].max()) for x in samples) == 127
    _assert_bit_exact(data, samples)


# (input scale, input zero point, output scale, output zero point, LEAKY_RELU alpha)
SWEEP = [
    (0.05, -3, 0.05, -3, 0.2),  # one quantization throughout
    (0.5, 10, 0.004, -100, 3.5),  # HARD_SWISH output exponent 0; saturating outputs
    (0.001, 0, 0.1, 50, 0.1),  # HARD_SWISH reluish right shift
    (0.0001, -128, 0.5, 127, -0.5),  # HARD_SWISH output shift beyond 15 bits; negative alpha
    (2.0, 127, 0.02, 0, 0.0),  # HARD_SWISH reluish left shift (saturating); alpha 0
    (0.0123, -77, 0.0321, 33, 0.7),
]


def _sweep_model() -> bytes:
    """One model input per SWEEP case, each read by the four activations with the case's output
    quantization (one model, so the sanitizer build is compiled once)."""
    m = ModelDef(description="ooc test: activation sweep")
    shape = ALL_INT8.shape
    for n, (s_in, zp_in, s_out, zp_out, alpha) in enumerate(SWEEP):
        x = m.add_tensor(TensorDef(f"input{n}", shape, DType.INT8, None, (s_in,), (zp_in,)))
        for op in ("RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH"):
            q = ((s_out,), (zp_out,))
            y = m.add_tensor(TensorDef(f"{op.lower()}{n}", shape, DType.INT8, None, *q))
            m.ops.append(OpDef(op, [x], [y], {"alpha": alpha} if op == "LEAKY_RELU" else {}))
            m.outputs.append(y)
        m.inputs.append(x)
    return write_tflite(m)


def test_every_int8_value_bit_exact() -> None:
    data = _sweep_model()
    graph = parse_model(data)
    _assert_bit_exact(data, [[ALL_INT8] * len(SWEEP), random_inputs(graph, 0)])


def test_sweep_reaches_every_hard_swish_branch() -> None:
    """The sweep above is only as good as the exponents it reaches."""
    graph = parse_model(_sweep_model())
    seen = [
        (f["output_exponent"], f["reluish_exponent"])
        for op in graph.operators
        if op.op_type == "HARD_SWISH"
        for f in [prepare_op(graph, op).fields]
    ]
    assert len(seen) == len(SWEEP)
    assert any(o == 0 for o, _ in seen)
    assert any(o <= -16 for o, _ in seen)
    assert any(r > 0 for _, r in seen) and any(r < 0 for _, r in seen)


def test_relu_n1_to_1_clamps_to_minus_one_one() -> None:
    """tflite-micro does not register RELU_N1_TO_1 (the oracle refuses the model), so the runtime
    is checked against RELU's requantization clamped to the real range [-1, 1]."""
    data = relu_n1_to_1_model()
    graph = parse_model(data)
    with pytest.raises(GoldenError):
        run_tflm_many(data, [random_inputs(graph, 0)])
    x = ALL_INT8.reshape(graph.tensors[graph.inputs[0]].shape)
    got = run_host(graph, [[x]], sanitize=True).outputs[0][0].astype(np.int32)
    qx = graph.tensors[graph.inputs[0]].quant
    qy = graph.tensors[graph.outputs[0]].quant
    assert qx is not None and qy is not None
    f = prepare_op(graph, graph.operators[0]).fields
    # 1 / (1/120) is 120 steps either side of the output zero point
    assert (f["act_min"], f["act_max"]) == (qy.zero_point[0] - 120, qy.zero_point[0] + 120)
    want = [
        min(
            f["act_max"],
            max(
                f["act_min"],
                qy.zero_point[0]
                + multiply_by_quantized_multiplier(
                    int(v) - qx.zero_point[0], f["multiplier"], f["shift"]
                ),
            ),
        )
        for v in x.reshape(-1)
    ]
    assert got.reshape(-1).tolist() == want
    # and in real terms: clip(x, -1, 1) to within half an output step
    real_in = (x.reshape(-1).astype(np.float64) - qx.zero_point[0]) * qx.scale[0]
    real_out = (got.reshape(-1) - qy.zero_point[0]) * qy.scale[0]
    assert np.max(np.abs(real_out - np.clip(real_in, -1.0, 1.0))) <= qy.scale[0] / 2 + 1e-9


def test_fused_schedules_run_the_activations_row_by_row(tmp_path: Path) -> None:
    """The fused block runner runs the activations row by row: a fused schedule takes them into
    its blocks, in core and out of core at the smallest budget, and stays bit-exact."""
    data = activation_model(6)
    graph = parse_model(data, "activation")
    x = random_inputs(graph, 0)
    gold = run_tflm_many(data, [x])[0].outputs
    kinds = {"RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "HARD_SWISH"}
    fp = plan_fusion(graph, max_mac_overhead=1.3)
    inside = {
        graph.operators[j].op_type for b in fp.blocks if b.fused for j in range(b.first, b.last)
    }
    assert inside & kinds, inside
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


def _one_op(op: str, out_shape: tuple[int, ...], s_out: float, options: dict[str, float]) -> bytes:
    m = ModelDef(description="ooc test: one activation")
    x = m.add_tensor(TensorDef("input", (1, 4, 4, 2), DType.INT8, None, (0.5,), (0,)))
    y = m.add_tensor(TensorDef("output", out_shape, DType.INT8, None, (s_out,), (0,)))
    m.ops.append(OpDef(op, [x], [y], options))
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def test_leaky_relu_alpha_round_trips_and_bad_models_are_refused() -> None:
    graph = parse_model(_one_op("LEAKY_RELU", (1, 4, 4, 2), 0.1, {"alpha": 0.125}))
    assert graph.operators[0].options == {"alpha": 0.125}
    with pytest.raises(InvalidModelError, match="must keep the shape"):
        parse_model(_one_op("RELU", (1, 4, 2, 4), 0.1, {}))
    # tflite-micro refuses a HARD_SWISH whose input scale is above 128 x its output scale
    graph = parse_model(_one_op("HARD_SWISH", (1, 4, 4, 2), 0.5 / 200, {}))
    with pytest.raises(UnsupportedModelError, match="128 times"):
        prepare_op(graph, graph.operators[0])
