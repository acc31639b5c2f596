"""The model tables' kinds and limits: the values ``ooc codegen`` writes into the const tables and
the runtime reads from them (c_runtime/include/ooc/ooc_model.h describes the structs).

``ooc/ooc_model_format.h`` is generated from this module (``python -m ooc_sdk.formats
--write-c-headers``) and included by ooc_model.h: the table version, operator kinds, fused-block
node modes, step flags, tensor offset sentinels and the limits the runtime is built with. The
planner (ooc_sdk/plan/fusion/) and the emitter (ooc_sdk/codegen/emit.py) take them from here.
"""

from __future__ import annotations

from ooc_sdk.formats.cheader import CHeader, Check, Const, Enum, Item, Member

MODEL_MAGIC = 0x4C444D4F  # ooc_model_t.magic: "OMDL" little-endian
MODEL_VERSION = 7  # ooc_model_t.version: the tables' layout

NO_TENSOR = 0xFFFF  # an omitted optional operator input (so at most 0xFFFF tensors)
TENSOR_PAGED = 0xFFFFFFFF  # ooc_tensor_t.offset of a constant read from the flash image
# ooc_tensor_t.offset of an activation never held whole: a fused block keeps rows of it in a
# ring, a streamed model input, or a spilled activation (ooc_model_t.spills)
TENSOR_ROWS = 0xFFFFFFFE
MAX_BLOCK_NODES = 64  # nodes (ring producers) in one fused block
NO_BLOCK = 0xFFFF  # ooc_step_t.block of a step that is not a fused block
STEP_STREAM = 1  # ooc_step_t.flags: a streamed piece of a fused block's operator
NODE_WHOLE = 0xFFFF  # ooc_node_t.src: the input is a whole tensor in the arena
SPILL_STATE_BYTES = 72  # arena bytes the runtime keeps per spilled tensor (refs)
MAX_CONCAT_INPUTS = 16  # a CONCATENATION's inputs, at most
MAX_DIMS = 6  # rank of the kernels' shape and stride arrays (ADD, MUL, MEAN, PAD, TRANSPOSE, ...)

# When an out-of-core model checks its weight chunks' tags (ooc_model_t.verify).
VERIFY_EVERY_READ = 0
VERIFY_AT_BOOT = 1

# Node modes: how a node of a fused block produces rows (ooc_node_t.mode; NODE_MODE says more).
NODE_OP = 0
NODE_REDUCE = 1
NODE_INPUT = 2
NODE_TRANSPOSE_IN = 3
NODE_SPILL_IN = 4
NODE_PEX = 5
NODE_QUANTIZE_IN = 6
NODE_CONV_MEAN = 7

# Operator kinds, one per kernel entry point (ooc_op_t.kind): name -> value. The names are
# lower/prepare's Prepared.kind; the emitter writes OOC_OP_<name>.
OP_KINDS = {
    "CONV_2D": 1,
    "DEPTHWISE_CONV_2D": 2,
    "FULLY_CONNECTED": 3,
    "AVERAGE_POOL_2D": 4,
    "MAX_POOL_2D": 5,
    "ADD": 6,
    "MUL": 7,
    "MEAN": 8,
    "PAD": 9,
    "RESHAPE": 10,
    "SOFTMAX": 11,
    "TRANSPOSE": 12,
    "CONCATENATION": 13,
    "QUANTIZE": 14,
    "REQUANTIZE": 15,
    "DEQUANTIZE": 16,
    "RESIZE_NEAREST_NEIGHBOR": 17,
    "RELU": 18,
    "RELU6": 19,
    "RELU_N1_TO_1": 20,
    "LEAKY_RELU": 21,
    "HARD_SWISH": 22,
    "SUB": 23,
    "MINIMUM": 24,
    "MAXIMUM": 25,
    "SQUARED_DIFFERENCE": 26,
    "LOGISTIC": 27,
    "TANH": 28,
    "STRIDED_COPY": 29,
    "SPACE_BATCH": 30,
    "RESIZE_BILINEAR": 31,
    "TRANSPOSE_CONV": 32,
    "LOG_SOFTMAX": 33,
    "L2_NORMALIZATION": 34,
    "REDUCE_MAX": 35,
    "ARG_MAX": 36,
    "ARG_MIN": 37,
    "PRELU": 38,
    "CONV_2D_SKIP": 39,
    "DEPTHWISE_CONV_2D_SKIP": 40,
    "FULLY_CONNECTED_SKIP": 41,
}
_OP_DOCS = {
    "CONV_2D_SKIP": "approximate CONV_2D: operand groups skipped (ooc_conv_skip_params_t)",
    "DEPTHWISE_CONV_2D_SKIP": "approximate DEPTHWISE_CONV_2D (ooc_conv_skip_params_t)",
    "FULLY_CONNECTED_SKIP": "approximate FULLY_CONNECTED (ooc_fc_skip_params_t)",
    "QUANTIZE": "float32 -> int8",
    "REQUANTIZE": "int8 -> int8",
    "DEQUANTIZE": "int8 -> float32",
    "STRIDED_COPY": "SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH",
    "SPACE_BATCH": "SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND",
    "RELU6": "a clamp on the input's scale (tflite-micro does not requantize)",
    "TRANSPOSE_CONV": "inputs (input, filter, bias), CONV_2D's parameters",
    "ARG_MAX": "int8 -> int32 indices",
    "ARG_MIN": "int8 -> int32 indices",
}

VERIFY_MODE = Enum(
    "ooc_verify_mode",
    (
        Member(
            "VERIFY_EVERY_READ",
            VERIFY_EVERY_READ,
            "at every read: covers an attacker who rewrites flash at run time",
        ),
        Member(
            "VERIFY_AT_BOOT",
            VERIFY_AT_BOOT,
            "every chunk once in ooc_init(); later reads only decrypt",
        ),
    ),
    "When an out-of-core model checks its weight chunks' tags (ooc_model_t.verify).",
    field="uint16_t",
)

OP_KIND = Enum(
    "ooc_op_kind",
    (
        *(Member(f"OP_{name}", value, _OP_DOCS.get(name, "")) for name, value in OP_KINDS.items()),
        Member("OP_KIND_COUNT", None),
    ),
    "Operator kinds: one per kernel entry point (ooc_op_t.kind).",
    field="uint16_t",
)

NODE_MODE = Enum(
    "ooc_node_mode",
    (
        Member("NODE_OP", NODE_OP, "an operator computing rows of its output"),
        Member(
            "NODE_REDUCE",
            NODE_REDUCE,
            "a global average (AVERAGE_POOL_2D, MEAN over H and W): sums rows",
        ),
        Member(
            "NODE_INPUT",
            NODE_INPUT,
            "a streamed model input: rows read through the input reader",
        ),
        Member(
            "NODE_TRANSPOSE_IN",
            NODE_TRANSPOSE_IN,
            "TRANSPOSE of an NCHW model input to NHWC rows, read through the reader",
        ),
        Member(
            "NODE_SPILL_IN",
            NODE_SPILL_IN,
            "a spilled activation: rows read back from the spill ring",
        ),
        Member(
            "NODE_PEX",
            NODE_PEX,
            "a channel-split chain (partial execution): operators op (1x1 CONV_2D, the "
            "expansion), op + 1 (DEPTHWISE_CONV_2D) and op + 2 (1x1 CONV_2D, the projection); "
            "each row of the projection is made `group` expanded channels at a time, into int32 "
            "sums, and neither intermediate tensor is held (fused.c)",
        ),
        Member(
            "NODE_QUANTIZE_IN",
            NODE_QUANTIZE_IN,
            "QUANTIZE of a float32 model input: each row's floats read through the reader "
            "into the block's scratch, quantized to int8 rows",
        ),
        Member(
            "NODE_CONV_MEAN",
            NODE_CONV_MEAN,
            "a 1x1 CONV_2D (op) whose output only a global average (op + 1: MEAN over H and W, "
            "or AVERAGE_POOL_2D) reads, alone in its block: made `group` output channels at a "
            "time over the convolution's whole input, each group's rows summed into `group` "
            "int32 accumulators and finished before the next group, so the convolution's "
            "output is never held (fused.c); `tensor` is the average's output, `offset` the "
            "accumulators then one row of the group",
        ),
    ),
    "How a node of a fused block produces rows (ooc_node_t.mode; ooc_sdk/plan/fusion/).",
    field="uint16_t",
)


def _c_sections() -> list[list[Item]]:
    return [
        [
            Const("MODEL_MAGIC", MODEL_MAGIC, '"OMDL" little-endian', hex=True, suffix="UL"),
            Const("MODEL_VERSION", MODEL_VERSION, "the tables' layout"),
        ],
        [
            Const("NO_TENSOR", NO_TENSOR, "an omitted optional operator input", hex=True),
            Const(
                "TENSOR_PAGED",
                TENSOR_PAGED,
                "ooc_tensor_t.offset of a constant read from the flash image",
                hex=True,
                suffix="UL",
            ),
            Const(
                "TENSOR_ROWS",
                TENSOR_ROWS,
                "ooc_tensor_t.offset of an activation never held whole: a fused block keeps rows "
                "of it in a ring, a streamed model input, or a spilled activation "
                "(ooc_model_t.spills)",
                hex=True,
                suffix="UL",
            ),
            Const("MAX_BLOCK_NODES", MAX_BLOCK_NODES, "nodes (ring producers) in one fused block"),
            Const("NO_BLOCK", NO_BLOCK, "ooc_step_t.block of a step not a fused block", hex=True),
            Const("STEP_STREAM", STEP_STREAM, "ooc_step_t.flags: a streamed piece of an operator"),
            Const(
                "NODE_WHOLE", NODE_WHOLE, "ooc_node_t.src: a whole tensor in the arena", hex=True
            ),
            Const(
                "SPILL_STATE_BYTES",
                SPILL_STATE_BYTES,
                "arena bytes the runtime keeps per spilled tensor (refs)",
            ),
            Const("MAX_CONCAT_INPUTS", MAX_CONCAT_INPUTS, "a CONCATENATION's inputs", suffix=""),
            Const(
                "MAX_DIMS",
                MAX_DIMS,
                "the kernels' shape and stride arrays (ooc_kernels.h)",
                suffix="",
            ),
        ],
        [VERIFY_MODE],
        [OP_KIND],
        [NODE_MODE],
        [
            Check("block_nodes", "OOC_MAX_BLOCK_NODES < OOC_NODE_WHOLE"),
            Check("spill_state", "OOC_SPILL_STATE_BYTES % 8u == 0u"),
        ],
    ]


C_HEADER = CHeader(
    module=__name__,
    filename="ooc_model_format.h",
    title="ooc model tables: kinds, modes, flags, sentinels and limits.",
    prefix="OOC",
    tag="MODEL",
    type_prefix="ooc_model_",
    sections=_c_sections,
    about="ooc/ooc_model.h (which includes this header) describes the tables that hold them.",
)
