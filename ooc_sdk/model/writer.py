"""Write TFLite flatbuffers from a plain description (the inverse of the reader).

The zoo uses it to emit its generated models and tests use it to craft edge
cases. Operator options are given as the same plain dict the reader decodes
(``ooc_sdk.model.ops``), so a read -> write round trip is lossless for the
supported op set.
"""

from __future__ import annotations

from collections.abc import Callable
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


_Options = tuple[int, int]  # (BuiltinOptions type, table offset)
_BO = tflite.BuiltinOptions


def _dilation(o: dict[str, Any]) -> tuple[int, int]:
    return o.get("dilation", (1, 1))


def _conv_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.Conv2DOptionsStart(b)
    tflite.Conv2DOptionsAddPadding(b, _PAD[o["padding"]])
    tflite.Conv2DOptionsAddStrideH(b, o["stride"][0])
    tflite.Conv2DOptionsAddStrideW(b, o["stride"][1])
    tflite.Conv2DOptionsAddDilationHFactor(b, _dilation(o)[0])
    tflite.Conv2DOptionsAddDilationWFactor(b, _dilation(o)[1])
    tflite.Conv2DOptionsAddFusedActivationFunction(b, act)
    return _BO.Conv2DOptions, tflite.Conv2DOptionsEnd(b)


def _depthwise_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.DepthwiseConv2DOptionsStart(b)
    tflite.DepthwiseConv2DOptionsAddPadding(b, _PAD[o["padding"]])
    tflite.DepthwiseConv2DOptionsAddStrideH(b, o["stride"][0])
    tflite.DepthwiseConv2DOptionsAddStrideW(b, o["stride"][1])
    tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, _dilation(o)[0])
    tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, _dilation(o)[1])
    tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, o.get("depth_multiplier", 1))
    tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
    return _BO.DepthwiseConv2DOptions, tflite.DepthwiseConv2DOptionsEnd(b)


def _fully_connected_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.FullyConnectedOptionsStart(b)
    tflite.FullyConnectedOptionsAddFusedActivationFunction(b, act)
    tflite.FullyConnectedOptionsAddKeepNumDims(b, bool(o.get("keep_num_dims", False)))
    return _BO.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(b)


def _pool_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.Pool2DOptionsStart(b)
    tflite.Pool2DOptionsAddPadding(b, _PAD[o["padding"]])
    tflite.Pool2DOptionsAddStrideH(b, o["stride"][0])
    tflite.Pool2DOptionsAddStrideW(b, o["stride"][1])
    tflite.Pool2DOptionsAddFilterHeight(b, o["filter"][0])
    tflite.Pool2DOptionsAddFilterWidth(b, o["filter"][1])
    tflite.Pool2DOptionsAddFusedActivationFunction(b, act)
    return _BO.Pool2DOptions, tflite.Pool2DOptionsEnd(b)


def _add_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.AddOptionsStart(b)
    tflite.AddOptionsAddFusedActivationFunction(b, act)
    return _BO.AddOptions, tflite.AddOptionsEnd(b)


def _mul_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.MulOptionsStart(b)
    tflite.MulOptionsAddFusedActivationFunction(b, act)
    return _BO.MulOptions, tflite.MulOptionsEnd(b)


def _sub_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.SubOptionsStart(b)
    tflite.SubOptionsAddFusedActivationFunction(b, act)
    return _BO.SubOptions, tflite.SubOptionsEnd(b)


def _mean_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ReducerOptionsStart(b)
    tflite.ReducerOptionsAddKeepDims(b, bool(o.get("keep_dims", False)))
    return _BO.ReducerOptions, tflite.ReducerOptionsEnd(b)


def _softmax_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.SoftmaxOptionsStart(b)
    tflite.SoftmaxOptionsAddBeta(b, float(o.get("beta", 1.0)))
    return _BO.SoftmaxOptions, tflite.SoftmaxOptionsEnd(b)


def _concatenation_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ConcatenationOptionsStart(b)
    tflite.ConcatenationOptionsAddAxis(b, o["axis"])
    tflite.ConcatenationOptionsAddFusedActivationFunction(b, act)
    return _BO.ConcatenationOptions, tflite.ConcatenationOptionsEnd(b)


def _resize_nearest_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ResizeNearestNeighborOptionsStart(b)
    tflite.ResizeNearestNeighborOptionsAddAlignCorners(b, bool(o.get("align_corners", False)))
    tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters(
        b, bool(o.get("half_pixel_centers", False))
    )
    return _BO.ResizeNearestNeighborOptions, tflite.ResizeNearestNeighborOptionsEnd(b)


def _resize_bilinear_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ResizeBilinearOptionsStart(b)
    tflite.ResizeBilinearOptionsAddAlignCorners(b, bool(o.get("align_corners", False)))
    tflite.ResizeBilinearOptionsAddHalfPixelCenters(b, bool(o.get("half_pixel_centers", False)))
    return _BO.ResizeBilinearOptions, tflite.ResizeBilinearOptionsEnd(b)


def _transpose_conv_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.TransposeConvOptionsStart(b)
    tflite.TransposeConvOptionsAddPadding(b, _PAD[o["padding"]])
    tflite.TransposeConvOptionsAddStrideH(b, o["stride"][0])
    tflite.TransposeConvOptionsAddStrideW(b, o["stride"][1])
    tflite.TransposeConvOptionsAddFusedActivationFunction(b, act)
    return _BO.TransposeConvOptions, tflite.TransposeConvOptionsEnd(b)


def _leaky_relu_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.LeakyReluOptionsStart(b)
    tflite.LeakyReluOptionsAddAlpha(b, float(o.get("alpha", 0.0)))
    return _BO.LeakyReluOptions, tflite.LeakyReluOptionsEnd(b)


def _reshape_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    if "new_shape" not in o:
        return _BO.NONE, 0
    vec = b.CreateNumpyVector(np.asarray(o["new_shape"], dtype=np.int32))
    tflite.ReshapeOptionsStart(b)
    tflite.ReshapeOptionsAddNewShape(b, vec)
    return _BO.ReshapeOptions, tflite.ReshapeOptionsEnd(b)


def _shape_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ShapeOptionsStart(b)
    tflite.ShapeOptionsAddOutType(
        b, getattr(tflite.TensorType, o.get("out_type", DType.INT32).name)
    )
    return _BO.ShapeOptions, tflite.ShapeOptionsEnd(b)


def _strided_slice_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.StridedSliceOptionsStart(b)
    tflite.StridedSliceOptionsAddBeginMask(b, o.get("begin_mask", 0))
    tflite.StridedSliceOptionsAddEndMask(b, o.get("end_mask", 0))
    tflite.StridedSliceOptionsAddEllipsisMask(b, o.get("ellipsis_mask", 0))
    tflite.StridedSliceOptionsAddNewAxisMask(b, o.get("new_axis_mask", 0))
    tflite.StridedSliceOptionsAddShrinkAxisMask(b, o.get("shrink_axis_mask", 0))
    tflite.StridedSliceOptionsAddOffset(b, bool(o.get("offset", False)))
    return _BO.StridedSliceOptions, tflite.StridedSliceOptionsEnd(b)


def _pack_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.PackOptionsStart(b)
    tflite.PackOptionsAddValuesCount(b, o["values_count"])
    tflite.PackOptionsAddAxis(b, o.get("axis", 0))
    return _BO.PackOptions, tflite.PackOptionsEnd(b)


def _gather_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.GatherOptionsStart(b)
    tflite.GatherOptionsAddAxis(b, o.get("axis", 0))
    tflite.GatherOptionsAddBatchDims(b, o.get("batch_dims", 0))
    return _BO.GatherOptions, tflite.GatherOptionsEnd(b)


def _unpack_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.UnpackOptionsStart(b)
    tflite.UnpackOptionsAddNum(b, o["num"])
    tflite.UnpackOptionsAddAxis(b, o.get("axis", 0))
    return _BO.UnpackOptions, tflite.UnpackOptionsEnd(b)


def _split_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.SplitOptionsStart(b)
    tflite.SplitOptionsAddNumSplits(b, o["num_splits"])
    return _BO.SplitOptions, tflite.SplitOptionsEnd(b)


def _split_v_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.SplitVOptionsStart(b)
    tflite.SplitVOptionsAddNumSplits(b, o["num_splits"])
    return _BO.SplitVOptions, tflite.SplitVOptionsEnd(b)


def _squeeze_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    dims = b.CreateNumpyVector(np.asarray(o.get("squeeze_dims", []), dtype=np.int32))
    tflite.SqueezeOptionsStart(b)
    tflite.SqueezeOptionsAddSqueezeDims(b, dims)
    return _BO.SqueezeOptions, tflite.SqueezeOptionsEnd(b)


def _depth_to_space_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.DepthToSpaceOptionsStart(b)
    tflite.DepthToSpaceOptionsAddBlockSize(b, o["block_size"])
    return _BO.DepthToSpaceOptions, tflite.DepthToSpaceOptionsEnd(b)


def _space_to_depth_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.SpaceToDepthOptionsStart(b)
    tflite.SpaceToDepthOptionsAddBlockSize(b, o["block_size"])
    return _BO.SpaceToDepthOptions, tflite.SpaceToDepthOptionsEnd(b)


def _log_softmax_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.LogSoftmaxOptionsStart(b)
    return _BO.LogSoftmaxOptions, tflite.LogSoftmaxOptionsEnd(b)


def _l2_norm_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.L2NormOptionsStart(b)
    tflite.L2NormOptionsAddFusedActivationFunction(b, act)
    return _BO.L2NormOptions, tflite.L2NormOptionsEnd(b)


def _arg_type(o: dict[str, Any]) -> int:
    return int(getattr(tflite.TensorType, o.get("output_type", DType.INT32).name))


def _arg_max_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ArgMaxOptionsStart(b)
    tflite.ArgMaxOptionsAddOutputType(b, _arg_type(o))
    return _BO.ArgMaxOptions, tflite.ArgMaxOptionsEnd(b)


def _arg_min_options(b: flatbuffers.Builder, o: dict[str, Any], act: int) -> _Options:
    tflite.ArgMinOptionsStart(b)
    tflite.ArgMinOptionsAddOutputType(b, _arg_type(o))
    return _BO.ArgMinOptions, tflite.ArgMinOptionsEnd(b)


# op type -> the builder of its builtin options table; other operators have none
_OPTIONS: dict[str, Callable[[flatbuffers.Builder, dict[str, Any], int], _Options]] = {
    "CONV_2D": _conv_options,
    "DEPTHWISE_CONV_2D": _depthwise_options,
    "FULLY_CONNECTED": _fully_connected_options,
    "AVERAGE_POOL_2D": _pool_options,
    "MAX_POOL_2D": _pool_options,
    "ADD": _add_options,
    "MUL": _mul_options,
    "SUB": _sub_options,
    "MEAN": _mean_options,
    "SOFTMAX": _softmax_options,
    "CONCATENATION": _concatenation_options,
    "RESIZE_NEAREST_NEIGHBOR": _resize_nearest_options,
    "RESHAPE": _reshape_options,
    "SHAPE": _shape_options,
    "STRIDED_SLICE": _strided_slice_options,
    "PACK": _pack_options,
    "GATHER": _gather_options,
    "LEAKY_RELU": _leaky_relu_options,
    "UNPACK": _unpack_options,
    "SPLIT": _split_options,
    "SPLIT_V": _split_v_options,
    "SQUEEZE": _squeeze_options,
    "DEPTH_TO_SPACE": _depth_to_space_options,
    "SPACE_TO_DEPTH": _space_to_depth_options,
    "RESIZE_BILINEAR": _resize_bilinear_options,
    "TRANSPOSE_CONV": _transpose_conv_options,
    "LOG_SOFTMAX": _log_softmax_options,
    "L2_NORMALIZATION": _l2_norm_options,
    "REDUCE_MAX": _mean_options,
    "ARG_MAX": _arg_max_options,
    "ARG_MIN": _arg_min_options,
}


def _options(b: flatbuffers.Builder, op_type: str, o: dict[str, Any]) -> _Options:
    """Build the builtin options table of one operator; returns (type, offset)."""
    act = _ACT[o.get("activation", Activation.NONE)]
    build = _OPTIONS.get(op_type)
    return build(b, o, act) if build is not None else (_BO.NONE, 0)


def _aligned_bytes(b: flatbuffers.Builder, data: bytes) -> int:
    b.StartVector(1, len(data), _BUFFER_ALIGNMENT)
    b.head = b.head - len(data)
    b.Bytes[b.head : b.head + len(data)] = data
    return b.EndVector()


def _table_vector(b: flatbuffers.Builder, items: list[int]) -> int:
    """A vector of offsets to tables built earlier."""
    b.StartVector(4, len(items), 4)
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return b.EndVector()


def write_tflite(model: ModelDef) -> bytes:
    """Serialise ``model`` to TFLite flatbuffer bytes (schema version 3, identifier TFL3)."""
    payload = sum(t.data.nbytes for t in model.tensors if t.data is not None)
    b = flatbuffers.Builder(payload + 64 * 1024 + 256 * len(model.tensors))
    buffers, buffer_of = _buffers(b, model)
    tensors = [_tensor(b, t, buffer_of.get(i, 0)) for i, t in enumerate(model.tensors)]
    codes, code_tables = _operator_codes(b, model)
    operators = [_operator(b, op, codes[op.op_type]) for op in model.ops]
    subgraph = _subgraph(b, model, tensors, operators)

    subgraphs = _table_vector(b, [subgraph])
    code_vec = _table_vector(b, code_tables)
    buffer_vec = _table_vector(b, buffers)
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


def _buffers(b: flatbuffers.Builder, model: ModelDef) -> tuple[list[int], dict[int, int]]:
    """The buffer tables (0 is the conventional empty buffer; each constant gets its own) and
    each constant tensor's buffer index."""
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
    return buffers, buffer_of


def _tensor(b: flatbuffers.Builder, t: TensorDef, buffer: int) -> int:
    """One tensor table, with its quantization parameters."""
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
    tflite.TensorAddBuffer(b, buffer)
    tflite.TensorAddName(b, name)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _operator_codes(b: flatbuffers.Builder, model: ModelDef) -> tuple[dict[str, int], list[int]]:
    """Each operator type's code index (in order of first use) and the code tables."""
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
    return codes, code_tables


def _operator(b: flatbuffers.Builder, op: OpDef, code: int) -> int:
    """One operator table: its code index, inputs, outputs and builtin options."""
    ins = b.CreateNumpyVector(np.asarray(op.inputs, dtype=np.int32))
    outs = b.CreateNumpyVector(np.asarray(op.outputs, dtype=np.int32))
    opt_type, opt = _options(b, op.op_type, op.options)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, code)
    tflite.OperatorAddInputs(b, ins)
    tflite.OperatorAddOutputs(b, outs)
    if opt_type:
        tflite.OperatorAddBuiltinOptionsType(b, opt_type)
        tflite.OperatorAddBuiltinOptions(b, opt)
    return tflite.OperatorEnd(b)


def _subgraph(
    b: flatbuffers.Builder, model: ModelDef, tensors: list[int], operators: list[int]
) -> int:
    """The one subgraph ("main"): tensors, operators, inputs and outputs."""
    sub_tensors = _table_vector(b, tensors)
    sub_ops = _table_vector(b, operators)
    sub_in = b.CreateNumpyVector(np.asarray(model.inputs, dtype=np.int32))
    sub_out = b.CreateNumpyVector(np.asarray(model.outputs, dtype=np.int32))
    sub_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, sub_tensors)
    tflite.SubGraphAddOperators(b, sub_ops)
    tflite.SubGraphAddInputs(b, sub_in)
    tflite.SubGraphAddOutputs(b, sub_out)
    tflite.SubGraphAddName(b, sub_name)
    return tflite.SubGraphEnd(b)
