"""TFLite ingest: figures on the real models, refusal of unsupported and broken files."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import tflite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PUBLISHED_MACS, SUPPORTED_SHARED, shared_model
from ooc_sdk.errors import InvalidModelError, OocError, UnsupportedModelError
from ooc_sdk.model import DType, load_model, parse_model
from ooc_sdk.model.ir import Activation, Padding
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite
from ooc_sdk.model.zoo import Knobs, generate


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_macs_match_published_figures(name: str) -> None:
    graph = load_model(shared_model(name))
    assert graph.macs == pytest.approx(PUBLISHED_MACS[name], rel=0.01)


def _constant_bytes_in_flatbuffer(data: bytes) -> int:
    """Independent count: bytes of every buffer a tensor of the main subgraph points at."""
    model = tflite.Model.GetRootAs(data, 0)
    sub = model.Subgraphs(0)
    buffers = {sub.Tensors(i).Buffer() for i in range(sub.TensorsLength())}
    return sum(model.Buffers(b).DataLength() for b in buffers if b)


@pytest.mark.parametrize("name", SUPPORTED_SHARED)
def test_weight_bytes_equal_constant_data(name: str) -> None:
    path = shared_model(name)
    graph = load_model(path)
    assert graph.weight_bytes == _constant_bytes_in_flatbuffer(path.read_bytes())
    assert graph.weight_bytes > 0
    assert len(graph.operators) > 0


def test_mobilenet_v2_structure() -> None:
    g = load_model(shared_model("mobilenet_v2_quantized_1x3x224x224.tflite"))
    ops = {op.op_type for op in g.operators}
    assert {"TRANSPOSE", "PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN"} <= ops
    assert g.tensor(g.inputs[0]).shape == (1, 3, 224, 224)
    # a residual skip is alive across the branch that recomputes it
    add = next(op for op in g.operators if op.op_type == "ADD")
    skip = min(add.inputs, key=lambda t: g.lifetimes[t].first)
    life = g.lifetimes[skip]
    assert life.last == add.index and add.index - life.first > 1
    assert g.peak_live_bytes >= g.peak_activation_bytes


def test_keyword_scrambled_is_refused_naming_op_and_type() -> None:
    with pytest.raises(UnsupportedModelError) as e:
        load_model(shared_model("keyword_scrambled_8bit.tflite"))
    msg = str(e.value)
    assert "SVDF" in msg and "int16" in msg and "\n" not in msg


@pytest.mark.parametrize("cut", [0, 7, 8, 64, 1000, 100_000])
def test_truncated_model(cut: int) -> None:
    data = shared_model("vww_96_int8.tflite").read_bytes()[:cut]
    with pytest.raises(InvalidModelError):
        parse_model(data)


def test_random_bytes() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidModelError, match="not a TFLite model"):
        parse_model(rng.bytes(4096))


def test_missing_file(tmp_path) -> None:
    with pytest.raises(OocError, match="no such file"):
        load_model(tmp_path / "nope.tflite")


_SMALL = generate("resnet8", Knobs(width=4, resolution=8), seed=3).data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=2048))
def test_fuzz_random_bytes_with_identifier(body: bytes) -> None:
    data = body[:4] + b"TFL3" + body[4:]
    with contextlib.suppress(OocError):
        parse_model(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_SMALL) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.integers(8, len(_SMALL)),
)
def test_fuzz_mutated_model(edits: list[tuple[int, int]], length: int) -> None:
    data = bytearray(_SMALL)
    for pos, value in edits:
        data[pos] = value
    try:
        graph = parse_model(bytes(data[:length]))
    except OocError:
        return
    # whatever parses is internally consistent
    assert graph.macs >= 0 and graph.weight_bytes >= 0
    assert all(op.index == i for i, op in enumerate(graph.operators))


def _tiny_model(ops_order: list[int] | None = None, act_dtype: DType = DType.INT8) -> bytes:
    """input -> FC -> FC -> output, optionally with the operators stored out of order."""
    m = ModelDef()
    q = {"scale": (0.05,), "zero_point": (0,)}
    x = m.add_tensor(TensorDef("x", (1, 4), act_dtype, **q))
    w = m.add_tensor(TensorDef("w", (4, 4), DType.INT8, np.eye(4, dtype=np.int8), (0.01,), (0,)))
    h = m.add_tensor(TensorDef("h", (1, 4), act_dtype, **q))
    y = m.add_tensor(TensorDef("y", (1, 4), act_dtype, **q))
    ops = [
        OpDef("FULLY_CONNECTED", [x, w, -1], [h], {"activation": Activation.RELU}),
        OpDef("FULLY_CONNECTED", [h, w, -1], [y], {"activation": Activation.NONE}),
    ]
    m.ops = [ops[i] for i in (ops_order or [0, 1])]
    m.inputs, m.outputs = [x], [y]
    return write_tflite(m)


def test_operators_are_put_in_topological_order() -> None:
    g = parse_model(_tiny_model([1, 0]))
    assert [g.tensor(op.outputs[0]).name for op in g.operators] == ["h", "y"]
    assert g.lifetimes[g.inputs[0]].first == -1
    assert g.lifetimes[g.outputs[0]].last == len(g.operators)
    # the shared weight buffer is counted once
    assert g.weight_bytes == 16
    assert g.operators[0].options["activation"] is Activation.RELU


def test_int16_activations_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="int16"):
        parse_model(_tiny_model(act_dtype=DType.INT16))


def test_cycle_refused() -> None:
    m = ModelDef()
    q = {"scale": (0.05,), "zero_point": (0,)}
    a = m.add_tensor(TensorDef("a", (1, 4), DType.INT8, **q))
    b = m.add_tensor(TensorDef("b", (1, 4), DType.INT8, **q))
    c = m.add_tensor(TensorDef("c", (1, 4), DType.INT8, **q))
    m.ops = [
        OpDef("ADD", [a, c], [b], {"activation": Activation.NONE}),
        OpDef("ADD", [b, a], [c], {"activation": Activation.NONE}),
    ]
    m.inputs, m.outputs = [a], [c]
    with pytest.raises(InvalidModelError, match="cycle"):
        parse_model(write_tflite(m))


def test_unsupported_operator_and_activation_named() -> None:
    m = ModelDef()
    q = {"scale": (0.05,), "zero_point": (0,)}
    x = m.add_tensor(TensorDef("x", (1, 8, 8, 2), DType.INT8, **q))
    y = m.add_tensor(TensorDef("y", (1, 8, 8, 2), DType.INT8, **q))
    m.ops = [OpDef("COS", [x], [y])]
    m.inputs, m.outputs = [x], [y]
    with pytest.raises(UnsupportedModelError, match="operator COS"):
        parse_model(write_tflite(m))


@pytest.mark.parametrize(
    ("op_type", "scale", "zero_point"), [("LOGISTIC", 1 / 256, -128), ("TANH", 1 / 128, 0)]
)
def test_logistic_and_tanh_need_their_output_quantization(
    op_type: str, scale: float, zero_point: int
) -> None:
    m = ModelDef()
    x = m.add_tensor(TensorDef("x", (1, 8, 8, 2), DType.INT8, None, (0.05,), (0,)))
    y = m.add_tensor(TensorDef("y", (1, 8, 8, 2), DType.INT8, None, (0.05,), (0,)))
    m.ops = [OpDef(op_type, [x], [y])]
    m.inputs, m.outputs = [x], [y]
    with pytest.raises(UnsupportedModelError, match=f"scale 1/{round(1 / scale)} and zero"):
        parse_model(write_tflite(m))
    m.tensors[y].scale, m.tensors[y].zero_point = (scale,), (zero_point,)
    assert parse_model(write_tflite(m)).operators[0].op_type == op_type


@pytest.mark.parametrize("op_type", ["MINIMUM", "MAXIMUM"])
def test_min_max_of_differing_quantizations_refused(op_type: str) -> None:
    """tflite-micro compares raw int8 values: only right when all three share scale and zero
    point, so ooc refuses anything else rather than reproduce a meaningless result."""
    m = ModelDef()
    x = m.add_tensor(TensorDef("x", (1, 4, 4, 2), DType.INT8, None, (0.05,), (0,)))
    c = m.add_tensor(TensorDef("c", (2,), DType.INT8, np.array([3, -4], np.int8), (0.05,), (0,)))
    y = m.add_tensor(TensorDef("y", (1, 4, 4, 2), DType.INT8, None, (0.05,), (1,)))
    m.ops = [OpDef(op_type, [x, c], [y])]
    m.inputs, m.outputs = [x], [y]
    with pytest.raises(UnsupportedModelError, match="'x' and 'y' must share scale and zero"):
        parse_model(write_tflite(m))
    m.tensors[y].zero_point = (0,)
    graph = parse_model(write_tflite(m))  # a [C] constant broadcasts over the activation
    assert graph.operators[0].op_type == op_type


def test_binary_operator_shapes_that_do_not_broadcast_are_invalid() -> None:
    m = ModelDef()
    q = {"scale": (0.05,), "zero_point": (0,)}
    a = m.add_tensor(TensorDef("a", (1, 4, 4, 2), DType.INT8, **q))
    b = m.add_tensor(TensorDef("b", (1, 4, 4, 3), DType.INT8, **q))
    y = m.add_tensor(TensorDef("y", (1, 4, 4, 3), DType.INT8, **q))
    m.ops = [OpDef("SQUARED_DIFFERENCE", [a, b], [y])]
    m.inputs, m.outputs = [a, b], [y]
    with pytest.raises(InvalidModelError, match="do not broadcast"):
        parse_model(write_tflite(m))


def test_inconsistent_conv_shape_is_invalid() -> None:
    m = ModelDef()
    q = {"scale": (0.05,), "zero_point": (0,)}
    x = m.add_tensor(TensorDef("x", (1, 8, 8, 2), DType.INT8, **q))
    w = m.add_tensor(
        TensorDef(
            "w", (3, 3, 3, 2), DType.INT8, np.ones((3, 3, 3, 2), np.int8), (0.1,) * 3, (0,) * 3
        )
    )
    y = m.add_tensor(TensorDef("y", (1, 7, 8, 3), DType.INT8, **q))
    opts = {"padding": Padding.SAME, "stride": (1, 1), "activation": Activation.NONE}
    m.ops = [OpDef("CONV_2D", [x, w, -1], [y], opts)]
    m.inputs, m.outputs = [x], [y]
    with pytest.raises(InvalidModelError, match="output shape"):
        parse_model(write_tflite(m))
