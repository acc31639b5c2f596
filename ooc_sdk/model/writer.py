"""Write TFLite flatbuffers from a plain description (the inverse of the reader).

The zoo uses it to emit its generated models and tests use it to craft edge
cases. Operator options are given as the same plain dict the reader decodes
(``ooc_sdk.model.ops``), so a read -> write round trip is lossless for the
supported op set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
import tflite

from ooc_sdk.model.ir import Activation, DType, Padding

_ACT = {
    Activation.NONE: tflite.ActivationFunctionType.NONE,
    Activation.RELU: tflite.ActivationFunctionType.RELU,
    Activation.RELU6: tflite.ActivationFunctionType.RELU6,
}
_PAD = {Padding.SAME: tflite.Padding.SAME, Padding.VALID: tflite.Padding.VALID}
_BUFFER_ALIGNMENT = 16  # so int32 bias and int8 weight data can be used in place


@dataclass
class TensorDef:
    name: str
    shape: tuple[int, ...]
    dtype: DType
    data: np.ndarray | None = None  # constant data; stored little-endian
    scale: tuple[float, ...] | None = None
    zero_point: tuple[int, ...] | None = None
    axis: int = 0


@dataclass
class OpDef:
    op_type: str  # a builtin operator name, e.g. "CONV_2D"
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelDef:
    tensors: list[TensorDef] = field(default_factory=list)
    ops: list[OpDef] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    description: str = "ooc"

    def add_tensor(self, t: TensorDef) -> int:
        self.tensors.append(t)
        return len(self.tensors) - 1


def _options(b: flatbuffers.Builder, op_type: str, o: dict[str, Any]) -> tuple[int, int]:
    """Build the builtin options table of one operator; returns (type, offset)."""
    bo = tflite.BuiltinOptions
    act = _ACT[o.get("activation", Activation.NONE)]
    if op_type == "CONV_2D":
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, _PAD[o["padding"]])
        tflite.Conv2DOptionsAddStrideH(b, o["stride"][0])
        tflite.Conv2DOptionsAddStrideW(b, o["stride"][1])
        tflite.Conv2DOptionsAddDilationHFactor(b, o.get("dilation", (1, 1))[0])
        tflite.Conv2DOptionsAddDilationWFactor(b, o.get("dilation", (1, 1))[1])
        tflite.Conv2DOptionsAddFusedActivationFunction(b, act)
        return bo.Conv2DOptions, tflite.Conv2DOptionsEnd(b)
    if op_type == "DEPTHWISE_CONV_2D":
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, _PAD[o["padding"]])
        tflite.DepthwiseConv2DOptionsAddStrideH(b, o["stride"][0])
        tflite.DepthwiseConv2DOptionsAddStrideW(b, o["stride"][1])
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, o.get("dilation", (1, 1))[0])
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, o.get("dilation", (1, 1))[1])
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, o.get("depth_multiplier", 1))
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
        return bo.DepthwiseConv2DOptions, tflite.DepthwiseConv2DOptionsEnd(b)
    if op_type == "FULLY_CONNECTED":
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, act)
        tflite.FullyConnectedOptionsAddKeepNumDims(b, bool(o.get("keep_num_dims", False)))
        return bo.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(b)
    if op_type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, _PAD[o["padding"]])
        tflite.Pool2DOptionsAddStrideH(b, o["stride"][0])
        tflite.Pool2DOptionsAddStrideW(b, o["stride"][1])
        tflite.Pool2DOptionsAddFilterHeight(b, o["filter"][0])
        tflite.Pool2DOptionsAddFilterWidth(b, o["filter"][1])
        tflite.Pool2DOptionsAddFusedActivationFunction(b, act)
        return bo.Pool2DOptions, tflite.Pool2DOptionsEnd(b)
    if op_type == "ADD":
        tflite.AddOptionsStart(b)
        tflite.AddOptionsAddFusedActivationFunction(b, act)
        return bo.AddOptions, tflite.AddOptionsEnd(b)
    if op_type == "MUL":
        tflite.MulOptionsStart(b)
        tflite.MulOptionsAddFusedActivationFunction(b, act)
        return bo.MulOptions, tflite.MulOptionsEnd(b)
    if op_type == "MEAN":
        tflite.ReducerOptionsStart(b)
        tflite.ReducerOptionsAddKeepDims(b, bool(o.get("keep_dims", False)))
        return bo.ReducerOptions, tflite.ReducerOptionsEnd(b)
    if op_type == "SOFTMAX":
        tflite.SoftmaxOptionsStart(b)
        tflite.SoftmaxOptionsAddBeta(b, float(o.get("beta", 1.0)))
        return bo.SoftmaxOptions, tflite.SoftmaxOptionsEnd(b)
    if op_type == "CONCATENATION":
        tflite.ConcatenationOptionsStart(b)
        tflite.ConcatenationOptionsAddAxis(b, o["axis"])
        tflite.ConcatenationOptionsAddFusedActivationFunction(b, act)
        return bo.ConcatenationOptions, tflite.ConcatenationOptionsEnd(b)
    if op_type == "RESIZE_NEAREST_NEIGHBOR":
        tflite.ResizeNearestNeighborOptionsStart(b)
        tflite.ResizeNearestNeighborOptionsAddAlignCorners(b, bool(o.get("align_corners", False)))
        tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters(
            b, bool(o.get("half_pixel_centers", False))
        )
        return bo.ResizeNearestNeighborOptions, tflite.ResizeNearestNeighborOptionsEnd(b)
    if op_type == "RESHAPE":
        if "new_shape" not in o:
            return bo.NONE, 0
        vec = b.CreateNumpyVector(np.asarray(o["new_shape"], dtype=np.int32))
        tflite.ReshapeOptionsStart(b)
        tflite.ReshapeOptionsAddNewShape(b, vec)
        return bo.ReshapeOptions, tflite.ReshapeOptionsEnd(b)
    return bo.NONE, 0


def _aligned_bytes(b: flatbuffers.Builder, data: bytes) -> int:
    b.StartVector(1, len(data), _BUFFER_ALIGNMENT)
    b.head = b.head - len(data)
    b.Bytes[b.head : b.head + len(data)] = data
    return b.EndVector()


def write_tflite(model: ModelDef) -> bytes:
    """Serialise ``model`` to TFLite flatbuffer bytes (schema version 3, identifier TFL3)."""
    payload = sum(t.data.nbytes for t in model.tensors if t.data is not None)
    b = flatbuffers.Builder(payload + 64 * 1024 + 256 * len(model.tensors))

    # Buffers: 0 is the conventional empty buffer; each constant gets its own.
    buffer_of: dict[int, int] = {}
    blobs: list[bytes] = [b""]
    for i, t in enumerate(model.tensors):
        if t.data is not None:
            buffer_of[i] = len(blobs)
            blobs.append(
                np.ascontiguousarray(t.data).astype(t.data.dtype.newbyteorder("<")).tobytes()
            )
    buffers = []
    for blob in blobs:
        data = _aligned_bytes(b, blob) if blob else None
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))

    tensors = []
    for i, t in enumerate(model.tensors):
        name = b.CreateString(t.name)
        shape = b.CreateNumpyVector(np.asarray(t.shape, dtype=np.int32))
        quant = None
        if t.scale is not None:
            scale = b.CreateNumpyVector(np.asarray(t.scale, dtype=np.float32))
            zps = t.zero_point if t.zero_point is not None else (0,) * len(t.scale)
            zp = b.CreateNumpyVector(np.asarray(zps, dtype=np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, getattr(tflite.TensorType, t.dtype.name))
        tflite.TensorAddBuffer(b, buffer_of.get(i, 0))
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensors.append(tflite.TensorEnd(b))

    codes: dict[str, int] = {}
    for op in model.ops:
        codes.setdefault(op.op_type, len(codes))
    code_tables = []
    for op_type in codes:
        builtin = getattr(tflite.BuiltinOperator, op_type)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(builtin, 127))
        tflite.OperatorCodeAddBuiltinCode(b, builtin)
        tflite.OperatorCodeAddVersion(b, 1)
        code_tables.append(tflite.OperatorCodeEnd(b))

    operators = []
    for op in model.ops:
        ins = b.CreateNumpyVector(np.asarray(op.inputs, dtype=np.int32))
        outs = b.CreateNumpyVector(np.asarray(op.outputs, dtype=np.int32))
        opt_type, opt = _options(b, op.op_type, op.options)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes[op.op_type])
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if opt_type:
            tflite.OperatorAddBuiltinOptionsType(b, opt_type)
            tflite.OperatorAddBuiltinOptions(b, opt)
        operators.append(tflite.OperatorEnd(b))

    def table_vector(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    sub_tensors = table_vector(tensors)
    sub_ops = table_vector(operators)
    sub_in = b.CreateNumpyVector(np.asarray(model.inputs, dtype=np.int32))
    sub_out = b.CreateNumpyVector(np.asarray(model.outputs, dtype=np.int32))
    sub_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, sub_tensors)
    tflite.SubGraphAddOperators(b, sub_ops)
    tflite.SubGraphAddInputs(b, sub_in)
    tflite.SubGraphAddOutputs(b, sub_out)
    tflite.SubGraphAddName(b, sub_name)
    subgraph = tflite.SubGraphEnd(b)

    subgraphs = table_vector([subgraph])
    code_vec = table_vector(code_tables)
    buffer_vec = table_vector(buffers)
    desc = b.CreateString(model.description)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, buffer_vec)
    root = tflite.ModelEnd(b)
    b.Finish(root, file_identifier=b"TFL3")
    return bytes(b.Output())
