"""Per-operator ahead-of-time preparation: graph operator -> C kernel parameters.

``prepare_op(graph, op)`` returns a :class:`Prepared`: the runtime operator kind
(``enum ooc_op_kind``, ``ooc_sdk/formats/tables.py`` ``OP_KINDS``), the parameter
struct type and its field values (lists for pointer fields, emitted as const
arrays), and which operator inputs the kernel reads at run time, in the kernel's
order (the rest, such as PAD's paddings or MEAN's axes, are folded into the
parameters; an absent optional input is -1).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ooc_sdk.model.ir import DType, Graph, Operator

# op type -> (module, function, runtime inputs: None = all, else the positions read)
_REGISTRY: dict[str, tuple[str, str, tuple[int, ...] | None]] = {
    "CONV_2D": ("conv", "prepare_conv", None),
    "DEPTHWISE_CONV_2D": ("conv", "prepare_conv", None),
    "FULLY_CONNECTED": ("conv", "prepare_fully_connected", None),
    "AVERAGE_POOL_2D": ("pool", "prepare_pool", None),
    "MAX_POOL_2D": ("pool", "prepare_pool", None),
    "ADD": ("elementwise", "prepare_add", None),
    "MUL": ("elementwise", "prepare_mul", None),
    "MEAN": ("reduce", "prepare_mean", (0,)),
    "PAD": ("movement", "prepare_pad", (0,)),
    "RESHAPE": ("", "", (0,)),
    "SOFTMAX": ("softmax", "prepare_softmax", None),
    "TRANSPOSE": ("movement", "prepare_transpose", (0,)),
    "CONCATENATION": ("movement", "prepare_concat", None),
    "QUANTIZE": ("quantize", "prepare_quantize", None),
    "DEQUANTIZE": ("quantize", "prepare_dequantize", None),
    "RESIZE_NEAREST_NEIGHBOR": ("movement", "prepare_resize_nearest", (0,)),
    "RELU": ("activation", "prepare_relu", None),
    "RELU6": ("activation", "prepare_relu6", None),
    "RELU_N1_TO_1": ("activation", "prepare_relu", None),
    "LEAKY_RELU": ("activation", "prepare_leaky_relu", None),
    "HARD_SWISH": ("activation", "prepare_hard_swish", None),
    "SUB": ("elementwise", "prepare_add", None),  # ADD's parameters, subtracted in the kernel
    "MINIMUM": ("elementwise", "prepare_min_max", None),
    "MAXIMUM": ("elementwise", "prepare_min_max", None),
    "SQUARED_DIFFERENCE": ("elementwise", "prepare_squared_difference", None),
    "LOGISTIC": ("lut", "prepare_logistic", None),
    "TANH": ("lut", "prepare_tanh", None),
    "SLICE": ("strided", "prepare_window", (0,)),
    "STRIDED_SLICE": ("strided", "prepare_window", (0,)),
    "SPLIT": ("strided", "prepare_window", (1,)),
    "SPLIT_V": ("strided", "prepare_window", (0,)),
    "UNPACK": ("strided", "prepare_window", (0,)),
    "DEPTH_TO_SPACE": ("strided", "prepare_depth_space", None),
    "SPACE_TO_DEPTH": ("strided", "prepare_depth_space", None),
    "PACK": ("strided", "prepare_pack", None),
    "SPACE_TO_BATCH_ND": ("strided", "prepare_space_batch", (0,)),
    "BATCH_TO_SPACE_ND": ("strided", "prepare_space_batch", (0,)),
    "RESIZE_BILINEAR": ("upsample", "prepare_resize_bilinear", (0,)),
    # (output_shape, filter, input[, bias]) -> the kernel's (input, filter, bias)
    "TRANSPOSE_CONV": ("upsample", "prepare_transpose_conv", (2, 1, 3)),
    "LOG_SOFTMAX": ("heads", "prepare_log_softmax", None),
    "L2_NORMALIZATION": ("heads", "prepare_l2_normalization", None),
    "REDUCE_MAX": ("heads", "prepare_reduce_max", (0,)),
    "ARG_MAX": ("heads", "prepare_arg_min_max", (0,)),
    "ARG_MIN": ("heads", "prepare_arg_min_max", (0,)),
    "PRELU": ("heads", "prepare_prelu", None),
}

# op types whose kernel entry point (runtime kind) is another's; the rest run as their own kind
KIND_OF: dict[str, str] = {
    **{t: "STRIDED_COPY" for t in ("SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "UNPACK")},
    "DEPTH_TO_SPACE": "STRIDED_COPY",
    "SPACE_TO_DEPTH": "STRIDED_COPY",
    "PACK": "CONCATENATION",
    "SPACE_TO_BATCH_ND": "SPACE_BATCH",
    "BATCH_TO_SPACE_ND": "SPACE_BATCH",
}


@dataclass(frozen=True)
class Prepared:
    kind: str  # enum ooc_op_kind name without the OOC_OP_ prefix
    struct: str | None  # parameter struct type, None for RESHAPE
    fields: dict[str, Any]
    inputs: tuple[int, ...]  # tensor indices the kernel reads (-1 = omitted)


def prepare_op(graph: Graph, op: Operator) -> Prepared:
    if graph.approx is not None and op.index in graph.approx.layouts:
        from ooc_sdk.lower.prepare.skip import prepare_skip

        struct, fields, kind = prepare_skip(graph, op, graph.approx.layouts[op.index])
        return Prepared(kind, struct, fields, op.inputs)
    module, func, positions = _REGISTRY[op.op_type]
    inputs = (
        op.inputs
        if positions is None
        else tuple(op.inputs[i] if i < len(op.inputs) else -1 for i in positions)
    )
    if not module:
        return Prepared(op.op_type, None, {}, inputs)
    fn = getattr(importlib.import_module(f"{__name__}.{module}"), func)
    struct, fields = fn(graph, op)
    fields = dict(fields)
    fields.pop("kernel", None)
    kind = KIND_OF.get(op.op_type, op.op_type)
    if op.op_type == "QUANTIZE" and graph.tensor(op.inputs[0]).dtype is DType.INT8:
        kind = "REQUANTIZE"
    return Prepared(kind, struct, fields, inputs)
