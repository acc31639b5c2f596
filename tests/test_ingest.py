"""Ingest-time folding: static shape arithmetic becomes plain RESHAPE targets, no-op operators
go, what was done shows in `ooc inspect`, and run-time shape arithmetic is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.cli import main
from ooc_sdk.errors import UnsupportedModelError
from ooc_sdk.image.keys import generate as generate_key
from ooc_sdk.model import DType, parse_model
from ooc_sdk.model.fold import _strided_slice
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite
from ooc_sdk.model.zoo import Knobs, generate
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.host import run_build
from ooc_sdk.targets import load_flash, load_mcu


class _Model:
    """A tiny int8 model under construction: x (1, 4, 4, 2) and helpers for int32 tensors."""

    def __init__(self) -> None:
        self.m = ModelDef(description="ooc test: ingest folding")
        self.x = self.act("x", (1, 4, 4, 2))
        self.m.inputs.append(self.x)

    def act(self, name: str, shape: tuple[int, ...]) -> int:
        return self.m.add_tensor(TensorDef(name, shape, DType.INT8, None, (0.1,), (3,)))

    def i32(self, name: str, shape: tuple[int, ...], data: object = None) -> int:
        value = None if data is None else np.asarray(data, dtype=np.int32).reshape(shape)
        return self.m.add_tensor(TensorDef(name, shape, DType.INT32, value))

    def op(self, op_type: str, ins: list[int], outs: list[int], **options: object) -> None:
        self.m.ops.append(OpDef(op_type, ins, outs, dict(options)))

    def keras_flatten(self, x: int, depth: int) -> int:
        s = self.i32("shape", (4,))
        self.op("SHAPE", [x], [s], out_type=DType.INT32)
        consts = [self.i32(n, (1,), [v]) for n, v in (("begin", 0), ("end", 1), ("strides", 1))]
        batch = self.i32("batch", ())
        self.op("STRIDED_SLICE", [s, *consts], [batch], shrink_axis_mask=1)
        target = self.i32("target", (2,))
        self.op("PACK", [batch, self.i32("depth", (), depth)], [target], values_count=2)
        y = self.act("flat", (1, depth))
        self.op("RESHAPE", [x, target], [y])
        return y

    def parse(self, *outputs: int):  # type: ignore[no-untyped-def]
        self.m.outputs.extend(outputs)
        return parse_model(write_tflite(self.m), "ingest")


def test_keras_flatten_folds_into_the_reshape_target() -> None:
    b = _Model()
    g = b.parse(b.keras_flatten(b.x, 32))
    assert [op.op_type for op in g.operators] == ["RESHAPE"]
    (reshape,) = g.operators
    assert reshape.options["new_shape"] == (1, 32) and len(reshape.inputs) == 1
    # the int32 tensors are gone and the indices are dense again
    assert [t.name for t in g.tensors] == ["x", "flat"]
    assert [t.index for t in g.tensors] == [0, 1]
    assert (g.inputs, g.outputs) == ((0,), (1,))
    assert g.folded == ["SHAPE, STRIDED_SLICE, PACK -> RESHAPE (op 0) target (1, 32)"]
    assert g.weight_bytes == 0


def test_concatenation_and_gather_of_int32_constants_as_a_reshape_target() -> None:
    b = _Model()
    # [1] ++ [-1] ++ gather(shape(x), [3]) -> (1, -1, 2), the -1 resolved from the element count
    s = b.i32("shape", (4,))
    b.op("SHAPE", [b.x], [s])
    last = b.i32("last", (1,))
    b.op("GATHER", [s, b.i32("which", (1,), [3])], [last], axis=0)
    target = b.i32("target", (3,))
    b.op(
        "CONCATENATION",
        [b.i32("one", (1,), [1]), b.i32("rest", (1,), [-1]), last],
        [target],
        axis=0,
    )
    y = b.act("y", (1, 16, 2))
    b.op("RESHAPE", [b.x, target], [y])
    g = b.parse(y)
    (reshape,) = g.operators
    assert reshape.options["new_shape"] == (1, 16, 2)
    assert g.folded == ["SHAPE, GATHER, CONCATENATION -> RESHAPE (op 0) target (1, 16, 2)"]


def test_arithmetic_on_the_shape_folds() -> None:
    """(1, 4, 4, 2) -> [n, h * w * c - 0] through UNPACK, STRIDED_SLICE, REDUCE_PROD, MUL,
    SUB, PACK and CAST."""
    b = _Model()
    s = b.i32("shape", (4,))
    b.op("SHAPE", [b.x], [s])
    dims = [b.i32(f"d{i}", ()) for i in range(4)]
    b.op("UNPACK", [s], dims, num=4, axis=0)
    hw = b.i32("hw", (2,))
    b.op(
        "STRIDED_SLICE",
        [s, *(b.i32(n, (1,), [v]) for n, v in (("b", 1), ("e", 3), ("st", 1)))],
        [hw],
    )
    area = b.i32("area", ())
    b.op("REDUCE_PROD", [hw, b.i32("axes", (1,), [0])], [area])
    depth = b.i32("depth", ())
    b.op("MUL", [area, dims[3]], [depth])
    minus = b.i32("minus", ())
    b.op("SUB", [depth, b.i32("zero", (), 0)], [minus])
    packed = b.i32("packed", (2,))
    b.op("PACK", [dims[0], minus], [packed], values_count=2)
    target = b.i32("target", (2,))
    b.op("CAST", [packed], [target])
    y = b.act("y", (1, 32))
    b.op("RESHAPE", [b.x, target], [y])
    g = b.parse(y)
    assert [op.op_type for op in g.operators] == ["RESHAPE"]
    assert g.operators[0].options["new_shape"] == (1, 32)
    kinds = "SHAPE, UNPACK, STRIDED_SLICE, REDUCE_PROD, MUL, SUB, PACK, CAST"
    assert g.folded == [f"{kinds} -> RESHAPE (op 0) target (1, 32)"]


def test_no_op_reshapes_are_dropped_and_the_graph_output_rewired() -> None:
    b = _Model()
    same = b.act("same", (1, 4, 4, 2))
    b.op("RESHAPE", [b.x, b.i32("s0", (4,), [1, 4, 4, 2])], [same])
    flat = b.act("flat", (1, 32))
    b.op("RESHAPE", [same, b.i32("s1", (2,), [1, 32])], [flat])
    again = b.act("again", (1, 32))
    b.op("RESHAPE", [flat, b.i32("s2", (2,), [1, 32])], [again])
    g = b.parse(again)
    (reshape,) = g.operators
    assert g.tensor(reshape.inputs[0]).name == "x"  # read the graph input directly
    assert g.outputs == reshape.outputs and g.tensor(g.outputs[0]).name == "flat"
    assert len(reshape.inputs) == 2  # a constant target stays as the file gives it
    assert g.folded == [
        "no-op RESHAPE (op #0 of the file) on [1, 4, 4, 2]",
        "no-op RESHAPE (op #2 of the file) on [1, 32]",
    ]


def test_a_no_op_between_graph_input_and_output_stays() -> None:
    b = _Model()
    y = b.act("y", (1, 4, 4, 2))
    b.op("RESHAPE", [b.x, b.i32("s", (4,), [1, 4, 4, 2])], [y])
    g = b.parse(y)
    assert [op.op_type for op in g.operators] == ["RESHAPE"] and g.folded == []


def test_shape_arithmetic_on_run_time_data_is_refused_naming_the_operator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = _Model()
    dims = b.i32("dims", (2,))
    b.m.inputs.append(dims)
    target = b.i32("target", (2,))
    b.op("ADD", [dims, b.i32("zero", (2,), [0, 0])], [target])
    y = b.act("y", (1, 32))
    b.op("RESHAPE", [b.x, target], [y])
    b.m.outputs.append(y)
    data = write_tflite(b.m)
    with pytest.raises(
        UnsupportedModelError, match=r"ADD \(op #0\) computes shape data from 'dims'"
    ):
        parse_model(data)
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(data)
    assert main(["inspect", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "ADD (op #0)" in err and "known only at run time" in err


def test_strided_slice_masks_follow_tensorflow() -> None:
    x = np.arange(10, dtype=np.int32)
    assert _strided_slice(x, [2], [8], [2], {}).tolist() == [2, 4, 6]
    assert _strided_slice(x, [2], [8], [1], {"begin_mask": 1}).tolist() == list(range(8))
    assert _strided_slice(x, [2], [0], [1], {"end_mask": 1}).tolist() == list(range(2, 10))
    assert _strided_slice(x, [-1], [0], [-1], {"end_mask": 1}).tolist() == list(range(9, -1, -1))
    assert _strided_slice(x, [-2], [0], [1], {"shrink_axis_mask": 1}).tolist() == 8
    assert _strided_slice(x, [3], [2], [1], {"offset": True}).tolist() == [3, 4]
    m = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert _strided_slice(m, [1], [2], [1], {"shrink_axis_mask": 1}).tolist() == [4, 5, 6, 7]


def test_inspect_reports_the_fold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kf.tflite"
    path.write_bytes(generate("keras-flatten").data)
    assert main(["inspect", str(path)]) == 0
    out, _ = capsys.readouterr()
    note = "SHAPE, STRIDED_SLICE, PACK -> RESHAPE (op 3) target (1, 512)"
    assert f"folded at ingest       {note}" in out
    assert main(["inspect", "--json", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["folded"] == [note]


def test_keras_flatten_out_of_core_at_its_minimum_budget_is_bit_exact(tmp_path: Path) -> None:
    """The folded model planned, packed and run with its weights in the emulated flash."""
    data = generate("keras-flatten", Knobs(width=8, resolution=32), seed=3).data
    graph = parse_model(data, "keras_flatten")
    request = PlanRequest(budget=1, flash=load_flash("w25q128jv"), mcu=load_mcu("cortex-m4"))
    with pytest.raises(BudgetError) as exc:
        plan(graph, request)
    minimum = exc.value.minimum
    assert minimum is not None and minimum < 16 * 1024
    request = PlanRequest(budget=minimum, flash=request.flash, mcu=request.mcu)
    device = generate_key(bytes.fromhex("0badf00d" * 4), 32)
    out = tmp_path / "build"
    build(graph, data, out, device, BuildRequest(request))
    x = random_inputs(graph, 0)
    got = run_build(out, graph, device, [x])
    ref = run_tflm(data, x)
    for a, b in zip(got.outputs[0], ref.outputs, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert json.loads((out / "plan.json").read_text())["sram_bytes"] <= minimum
