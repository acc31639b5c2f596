"""The int8 data-movement operators (model/ops_move.py, lower/prepare/strided.py,
kernels/strided.c) and the dilated-convolution rewrite (model/dilate.py): bit-exact with
tflite-micro on the host under ASan and UBSan, in fused schedules, and refused in one line
when tflite-micro would not run them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import ooc_cli
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import InvalidModelError, UnsupportedModelError
from ooc_sdk.image.keys import generate
from ooc_sdk.lower.prepare import prepare_op
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
from opmodels import dilated_model, movement_model

MOVEMENT_TYPES = {
    "SLICE",
    "STRIDED_SLICE",
    "SPLIT",
    "SPLIT_V",
    "UNPACK",
    "PACK",
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "SPACE_TO_BATCH_ND",
    "BATCH_TO_SPACE_ND",
}


def _bit_exact(data: bytes, n: int = 3, fusion: Any = None) -> None:
    graph = parse_model(data)
    samples = [random_inputs(graph, s) for s in range(n)]
    ours = run_host(graph, samples, sanitize=True, fusion=fusion).outputs
    gold = run_tflm_many(data, samples)
    for s, (mine, ref) in enumerate(zip(ours, gold, strict=True)):
        assert len(mine) == len(ref.outputs) == len(graph.outputs)
        for a, b in zip(mine, ref.outputs, strict=True):
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), f"sample {s}"


def _model(ops: list[tuple[str, list, list, list, dict, bool]], y_zero_point: int = 5) -> bytes:
    """Independent operators side by side, each ``(type, input shapes, output shapes, constant
    operands, options, constants first)``: int8 inputs (scale 0.1, zero point 5), int32
    constant operands after them (before them with ``constants first``: SPLIT's axis), int8
    outputs; every input and output a graph input or output. One model, one host build."""
    m = ModelDef(description="ooc test: data movement, one operator each")
    for k, (op, x_shapes, y_shapes, consts, options, first) in enumerate(ops):
        xs = [
            m.add_tensor(TensorDef(f"x{k}_{i}", s, DType.INT8, None, (0.1,), (5,)))
            for i, s in enumerate(x_shapes)
        ]
        cs = []
        for i, v in enumerate(consts):
            data = np.asarray(v, np.int32)
            cs.append(m.add_tensor(TensorDef(f"c{k}_{i}", data.shape, DType.INT32, data)))
        ys = [
            m.add_tensor(TensorDef(f"y{k}_{i}", s, DType.INT8, None, (0.1,), (y_zero_point,)))
            for i, s in enumerate(y_shapes)
        ]
        m.ops.append(OpDef(op, cs + xs if first else xs + cs, ys, options))
        m.inputs += xs
        m.outputs += ys
    return write_tflite(m)


def _one_op(
    op: str,
    x_shapes: list[tuple[int, ...]],
    y_shapes: list[tuple[int, ...]],
    consts: list[Any],
    options: dict[str, Any] | None = None,
    consts_first: bool = False,
    y_zero_point: int = 5,
) -> bytes:
    return _model([(op, x_shapes, y_shapes, consts, options or {}, consts_first)], y_zero_point)


def _sliced_shape(shape, begin, end, strides, begin_mask=0, end_mask=0, shrink_axis_mask=0):  # type: ignore[no-untyped-def]
    """The output shape numpy's slicing gives (the same rules as tflite-micro's here)."""
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        if shrink_axis_mask >> i & 1:
            index.append(b)
        else:
            index.append(
                slice(None if begin_mask >> i & 1 else b, None if end_mask >> i & 1 else e, s)
            )
    return np.zeros(shape)[tuple(index)].shape


STRIDED = [
    ((1, 6, 7, 5), [0, 1, -2, 0], [1, 5, 0, 5], [1, 2, -1, 2], {}),
    ((6, 9), [-1, 8], [-7, 0], [-1, -3], {}),
    (
        (2, 5, 4),
        [1, 0, 1],
        [2, 0, 3],
        [1, 1, 1],
        {"begin_mask": 2, "end_mask": 2, "shrink_axis_mask": 1},
    ),
    ((3, 4, 5, 6), [0, 0, 0, 0], [0, 0, 0, 0], [1, -1, 2, -3], {"begin_mask": 15, "end_mask": 15}),
    ((1, 5, 5, 2), [0, -10, 2, 0], [1, 10, 100, 2], [1, 1, 1, 1], {}),
    ((4, 3, 5), [3, 1, -1], [0, 2, 0], [-2, 1, -2], {"shrink_axis_mask": 2}),
]


def test_strided_slice_bit_exact() -> None:
    """Negative strides and indices, clamped bounds, the begin/end/shrink masks, ranks 2-4."""
    ops = []
    for shape, begin, end, strides, masks in STRIDED:
        y = _sliced_shape(shape, begin, end, strides, **masks)
        ops.append(("STRIDED_SLICE", [shape], [y], [begin, end, strides], masks, False))
    _bit_exact(_model(ops))


# op, input shapes, output shapes, constant operands, options, constants first
CASES: list[tuple[str, list, list, list, dict, bool]] = [
    ("SLICE", [(2, 5, 6, 3)], [(1, 3, 6, 2)], [[1, 1, 0, 1], [-1, 3, 6, 2]], {}, False),
    ("SPLIT", [(4, 3, 2, 2)], [(2, 3, 2, 2)] * 2, [0], {"num_splits": 2}, True),
    ("SPLIT", [(1, 6, 6, 4)], [(1, 6, 2, 4)] * 3, [-2], {"num_splits": 3}, True),
    (
        "SPLIT_V",
        [(1, 10, 3)],
        [(1, 2, 3), (1, 3, 3), (1, 5, 3)],
        [[2, -1, 5], 1],
        {"num_splits": 3},
        False,
    ),
    ("UNPACK", [(3, 4, 5)], [(4, 5)] * 3, [], {"num": 3, "axis": 0}, False),
    ("UNPACK", [(2, 4, 3)], [(2, 3)] * 4, [], {"num": 4, "axis": -2}, False),
    ("PACK", [(2, 3)] * 3, [(3, 2, 3)], [], {"values_count": 3, "axis": 0}, False),
    ("PACK", [(2, 3)] * 3, [(2, 3, 3)], [], {"values_count": 3, "axis": -1}, False),
    ("DEPTH_TO_SPACE", [(1, 3, 4, 8)], [(1, 6, 8, 2)], [], {"block_size": 2}, False),
    ("DEPTH_TO_SPACE", [(2, 2, 2, 18)], [(2, 6, 6, 2)], [], {"block_size": 3}, False),
    ("SPACE_TO_DEPTH", [(1, 6, 4, 3)], [(1, 3, 2, 12)], [], {"block_size": 2}, False),
    ("SPACE_TO_DEPTH", [(2, 6, 9, 2)], [(2, 2, 3, 18)], [], {"block_size": 3}, False),
    ("SPACE_TO_BATCH_ND", [(1, 5, 6, 3)], [(6, 3, 3, 3)], [[2, 3], [[1, 0], [0, 3]]], {}, False),
    ("SPACE_TO_BATCH_ND", [(2, 4, 4, 1)], [(8, 2, 2, 1)], [[2, 2], [[0, 0], [0, 0]]], {}, False),
    ("SPACE_TO_BATCH_ND", [(1, 7, 4)], [(3, 3, 4)], [[3], [[1, 1]]], {}, False),
    ("BATCH_TO_SPACE_ND", [(6, 3, 3, 3)], [(1, 5, 6, 3)], [[2, 3], [[1, 0], [0, 3]]], {}, False),
    ("BATCH_TO_SPACE_ND", [(8, 2, 2, 2)], [(2, 4, 4, 2)], [[2, 2], [[0, 0], [0, 0]]], {}, False),
    ("BATCH_TO_SPACE_ND", [(3, 3, 4)], [(1, 7, 4)], [[3], [[1, 1]]], {}, False),
]


def test_data_movement_bit_exact() -> None:
    """Several shapes, axes and block sizes of every operator, in one model."""
    data = _model(CASES)
    graph = parse_model(data)
    assert {op.op_type for op in graph.operators} == MOVEMENT_TYPES - {"STRIDED_SLICE"}
    _bit_exact(data)


def test_movement_model_bit_exact() -> None:
    """All of them together around a convolution (eight outputs), in core."""
    data = movement_model(1)
    graph = parse_model(data)
    types = {op.op_type for op in graph.operators}
    assert types >= MOVEMENT_TYPES and not types & {"SQUEEZE", "EXPAND_DIMS"}
    # one runtime operator per output: two SPLIT, three SPLIT_V, three UNPACK
    assert [op.op_type for op in graph.operators].count("SPLIT_V") == 3
    assert all(len(op.outputs) == 1 for op in graph.operators)
    _bit_exact(data, 5)


def test_squeeze_and_expand_dims_become_reshape() -> None:
    data = _model(
        [
            ("SQUEEZE", [(1, 4, 1, 3)], [(4, 3)], [], {}, False),
            ("SQUEEZE", [(1, 4, 1, 3)], [(1, 4, 3)], [], {"squeeze_dims": [-2]}, False),
            ("EXPAND_DIMS", [(4, 3)], [(4, 1, 3)], [1], {}, False),
        ]
    )
    graph = parse_model(data)
    assert [o.op_type for o in graph.operators] == ["RESHAPE"] * 3
    assert [o.options["new_shape"] for o in graph.operators] == [(4, 3), (1, 4, 3), (4, 1, 3)]
    _bit_exact(data, 2)


def test_kernels_merge_contiguous_dimensions() -> None:
    """A split along the last axis walks two loops; one along the first, one run."""
    graph = parse_model(
        _one_op("SPLIT", [(2, 3, 4, 6)], [(2, 3, 4, 3)] * 2, [3], {"num_splits": 2}, True)
    )
    p = prepare_op(graph, graph.operators[1])
    assert p.kind == "STRIDED_COPY" and p.inputs == (graph.operators[1].inputs[1],)
    assert (p.fields["rank"], p.fields["offset"]) == (2, 3)
    assert p.fields["out_dims"][:2] == [24, 3] and p.fields["in_strides"][:2] == [6, 1]
    graph = parse_model(
        _one_op("SPLIT", [(2, 3, 4, 6)], [(1, 3, 4, 6)] * 2, [0], {"num_splits": 2}, True)
    )
    p = prepare_op(graph, graph.operators[1])
    assert (p.fields["rank"], p.fields["offset"], p.fields["out_dims"][0]) == (1, 72, 72)


def test_dilated_convolutions_fold_into_one_operator(tmp_path: Path) -> None:
    data = dilated_model(3)
    graph = parse_model(data)
    assert [op.op_type for op in graph.operators] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert [op.options["dilation"] for op in graph.operators] == [(2, 2), (2, 2)]
    assert [op.options["padding"].value for op in graph.operators] == ["same", "valid"]
    assert graph.folded == [
        "SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND -> CONV_2D (op 0) dilation [2, 2]",
        "SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND -> DEPTHWISE_CONV_2D (op 1) dilation [2, 2]",
    ]
    _bit_exact(data, 5)
    # the folded model streams: one fused block holds both convolutions
    fp = plan_fusion(graph, max_mac_overhead=1.3)
    assert any(b.fused and b.last - b.first == 2 for b in fp.blocks)
    _bit_exact(data, 2, fusion=fp)
    path = tmp_path / "dilated.tflite"
    path.write_bytes(data)
    r = ooc_cli("inspect", str(path))
    assert r.returncode == 0, r.stderr
    assert "SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND -> CONV_2D (op 0) dilation [2, 2]" in r.stdout


def test_dilated_convolution_reading_tflite_micro_padding_stays() -> None:
    """With zero point -7 the SAME triple's border would read tflite-micro's padding of 0 (not
    the zero point): it stays three operators; the VALID one never reads its padding and folds."""
    data = dilated_model(4, zero_point=-7)
    graph = parse_model(data)
    assert [op.op_type for op in graph.operators] == [
        "SPACE_TO_BATCH_ND",
        "CONV_2D",
        "BATCH_TO_SPACE_ND",
        "DEPTHWISE_CONV_2D",
    ]
    assert graph.folded == [
        "SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND -> DEPTHWISE_CONV_2D (op 3) dilation [2, 2]"
    ]
    _bit_exact(data, 5)


def test_fused_schedules_keep_data_movement_per_layer() -> None:
    data = movement_model(2)
    graph = parse_model(data)
    fp = plan_fusion(graph, max_mac_overhead=1.3)
    for b in fp.blocks:
        if any(graph.operators[j].op_type in MOVEMENT_TYPES for j in range(b.first, b.last)):
            assert not b.fused and b.last - b.first == 1
    _bit_exact(data, 2, fusion=fp)


def test_fused_out_of_core_build_at_its_smallest_budget(tmp_path: Path) -> None:
    """The planner's fused out-of-core schedule around the data movement (run per layer) meets
    its smallest budget and stays bit-exact."""
    data = movement_model(4)
    graph = parse_model(data, "movement")
    x = random_inputs(graph, 0)
    flash, mcu = load_flash("w25q128jv"), load_mcu("cortex-m4")
    with pytest.raises(BudgetError) as exc:
        plan(graph, PlanRequest(budget=1, flash=flash, mcu=mcu, fuse=True))
    budget = exc.value.minimum
    assert budget is not None
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    req = PlanRequest(budget=budget, flash=flash, mcu=mcu, fuse=True)
    build(graph, data, tmp_path / "b", device, BuildRequest(req))
    got = run_build(tmp_path / "b", graph, device, [x])
    assert got.report["sram_high_water_bytes"] <= budget
    gold = run_tflm_many(data, [x])[0].outputs
    assert [a.tobytes() for a in got.outputs[0]] == [b.tobytes() for b in gold]


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (
            lambda: _one_op(
                "STRIDED_SLICE", [(4, 4)], [(4, 4)], [[0, 0], [4, 4], [1, 1]], {"ellipsis_mask": 1}
            ),
            UnsupportedModelError,
            "ellipsis",
        ),
        (
            lambda: _one_op("STRIDED_SLICE", [(4, 4)], [(4, 4)], [[0, 0], [4, 4], [1, 0]]),
            InvalidModelError,
            "stride is zero",
        ),
        (
            lambda: _one_op("SLICE", [(4, 4)], [(2, 4)], [[3, 0], [2, 4]]),
            InvalidModelError,
            "do not fit the input",
        ),
        (
            lambda: _one_op(
                "SPLIT", [(4, 6)], [(4, 3)] * 2, [1], {"num_splits": 2}, True, y_zero_point=0
            ),
            UnsupportedModelError,
            "share scale",
        ),
        (
            lambda: _one_op(
                "SPACE_TO_BATCH_ND", [(1, 5, 5, 1)], [(4, 3, 3, 1)], [[2, 2], [[0, 0], [0, 0]]]
            ),
            InvalidModelError,
            "multiple of block",
        ),
        (
            lambda: _one_op(
                "DEPTH_TO_SPACE", [(1, 2, 2, 6)], [(1, 4, 4, 1)], [], {"block_size": 2}
            ),
            InvalidModelError,
            "does not divide",
        ),
    ],
)
def test_bad_operators_are_refused_in_one_line(model, error, match, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = model()
    with pytest.raises(error, match=match):
        parse_model(data)
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    r = ooc_cli("inspect", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
