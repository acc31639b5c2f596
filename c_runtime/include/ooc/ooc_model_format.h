/*
 * ooc model tables: kinds, modes, flags, sentinels and limits.
 *
 * GENERATED from ooc_sdk/formats/tables.py by `python -m ooc_sdk.formats --write-c-headers`; do not
 * edit. ooc/ooc_model.h (which includes this header) describes the tables that hold them.
 */
#ifndef OOC_MODEL_FORMAT_H
#define OOC_MODEL_FORMAT_H

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OOC_MODEL_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define OOC_MODEL_STATIC_ASSERT(name, cond) typedef char ooc_model_assert_##name[(cond) ? 1 : -1]
#endif

#define OOC_MODEL_MAGIC 0x4C444D4FUL /* "OMDL" little-endian */
#define OOC_MODEL_VERSION 7u /* the tables' layout */

#define OOC_NO_TENSOR 0xFFFFu /* an omitted optional operator input */
/* ooc_tensor_t.offset of a constant read from the flash image */
#define OOC_TENSOR_PAGED 0xFFFFFFFFUL
/* ooc_tensor_t.offset of an activation never held whole: a fused block keeps rows of it in a ring,
   a streamed model input, or a spilled activation (ooc_model_t.spills) */
#define OOC_TENSOR_ROWS 0xFFFFFFFEUL
#define OOC_MAX_BLOCK_NODES 64u /* nodes (ring producers) in one fused block */
#define OOC_NO_BLOCK 0xFFFFu /* ooc_step_t.block of a step not a fused block */
#define OOC_STEP_STREAM 1u /* ooc_step_t.flags: a streamed piece of an operator */
#define OOC_NODE_WHOLE 0xFFFFu /* ooc_node_t.src: a whole tensor in the arena */
#define OOC_SPILL_STATE_BYTES 72u /* arena bytes the runtime keeps per spilled tensor (refs) */
#define OOC_MAX_CONCAT_INPUTS 16 /* a CONCATENATION's inputs */
#define OOC_MAX_DIMS 6 /* the kernels' shape and stride arrays (ooc_kernels.h) */

/* When an out-of-core model checks its weight chunks' tags (ooc_model_t.verify). */
enum ooc_verify_mode {
    /* at every read: covers an attacker who rewrites flash at run time */
    OOC_VERIFY_EVERY_READ = 0,
    OOC_VERIFY_AT_BOOT = 1 /* every chunk once in ooc_init(); later reads only decrypt */
};
OOC_MODEL_STATIC_ASSERT(ooc_verify_mode_fits, OOC_VERIFY_AT_BOOT <= 0xFFFFu);

/* Operator kinds: one per kernel entry point (ooc_op_t.kind). */
enum ooc_op_kind {
    OOC_OP_CONV_2D = 1,
    OOC_OP_DEPTHWISE_CONV_2D = 2,
    OOC_OP_FULLY_CONNECTED = 3,
    OOC_OP_AVERAGE_POOL_2D = 4,
    OOC_OP_MAX_POOL_2D = 5,
    OOC_OP_ADD = 6,
    OOC_OP_MUL = 7,
    OOC_OP_MEAN = 8,
    OOC_OP_PAD = 9,
    OOC_OP_RESHAPE = 10,
    OOC_OP_SOFTMAX = 11,
    OOC_OP_TRANSPOSE = 12,
    OOC_OP_CONCATENATION = 13,
    OOC_OP_QUANTIZE = 14, /* float32 -> int8 */
    OOC_OP_REQUANTIZE = 15, /* int8 -> int8 */
    OOC_OP_DEQUANTIZE = 16, /* int8 -> float32 */
    OOC_OP_RESIZE_NEAREST_NEIGHBOR = 17,
    OOC_OP_RELU = 18,
    OOC_OP_RELU6 = 19, /* a clamp on the input's scale (tflite-micro does not requantize) */
    OOC_OP_RELU_N1_TO_1 = 20,
    OOC_OP_LEAKY_RELU = 21,
    OOC_OP_HARD_SWISH = 22,
    OOC_OP_SUB = 23,
    OOC_OP_MINIMUM = 24,
    OOC_OP_MAXIMUM = 25,
    OOC_OP_SQUARED_DIFFERENCE = 26,
    OOC_OP_LOGISTIC = 27,
    OOC_OP_TANH = 28,
    /* SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH */
    OOC_OP_STRIDED_COPY = 29,
    OOC_OP_SPACE_BATCH = 30, /* SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND */
    OOC_OP_RESIZE_BILINEAR = 31,
    OOC_OP_TRANSPOSE_CONV = 32, /* inputs (input, filter, bias), CONV_2D's parameters */
    OOC_OP_LOG_SOFTMAX = 33,
    OOC_OP_L2_NORMALIZATION = 34,
    OOC_OP_REDUCE_MAX = 35,
    OOC_OP_ARG_MAX = 36, /* int8 -> int32 indices */
    OOC_OP_ARG_MIN = 37, /* int8 -> int32 indices */
    OOC_OP_PRELU = 38,
    /* approximate CONV_2D: operand groups skipped (ooc_conv_skip_params_t) */
    OOC_OP_CONV_2D_SKIP = 39,
    OOC_OP_DEPTHWISE_CONV_2D_SKIP = 40, /* approximate DEPTHWISE_CONV_2D (ooc_conv_skip_params_t) */
    OOC_OP_FULLY_CONNECTED_SKIP = 41, /* approximate FULLY_CONNECTED (ooc_fc_skip_params_t) */
    OOC_OP_KIND_COUNT
};
OOC_MODEL_STATIC_ASSERT(ooc_op_kind_fits, OOC_OP_KIND_COUNT <= 0xFFFFu);

/* How a node of a fused block produces rows (ooc_node_t.mode; ooc_sdk/plan/fusion/). */
enum ooc_node_mode {
    OOC_NODE_OP = 0, /* an operator computing rows of its output */
    OOC_NODE_REDUCE = 1, /* a global average (AVERAGE_POOL_2D, MEAN over H and W): sums rows */
    OOC_NODE_INPUT = 2, /* a streamed model input: rows read through the input reader */
    /* TRANSPOSE of an NCHW model input to NHWC rows, read through the reader */
    OOC_NODE_TRANSPOSE_IN = 3,
    OOC_NODE_SPILL_IN = 4, /* a spilled activation: rows read back from the spill ring */
    /* a channel-split chain (partial execution): operators op (1x1 CONV_2D, the expansion), op + 1
       (DEPTHWISE_CONV_2D) and op + 2 (1x1 CONV_2D, the projection); each row of the projection is
       made `group` expanded channels at a time, into int32 sums, and neither intermediate tensor is
       held (fused.c) */
    OOC_NODE_PEX = 5,
    /* QUANTIZE of a float32 model input: each row's floats read through the reader into the block's
       scratch, quantized to int8 rows */
    OOC_NODE_QUANTIZE_IN = 6,
    /* a 1x1 CONV_2D (op) whose output only a global average (op + 1: MEAN over H and W, or
       AVERAGE_POOL_2D) reads, alone in its block: made `group` output channels at a time over the
       convolution's whole input, each group's rows summed into `group` int32 accumulators and
       finished before the next group, so the convolution's output is never held (fused.c); `tensor`
       is the average's output, `offset` the accumulators then one row of the group */
    OOC_NODE_CONV_MEAN = 7
};
OOC_MODEL_STATIC_ASSERT(ooc_node_mode_fits, OOC_NODE_CONV_MEAN <= 0xFFFFu);

OOC_MODEL_STATIC_ASSERT(block_nodes, OOC_MAX_BLOCK_NODES < OOC_NODE_WHOLE);
OOC_MODEL_STATIC_ASSERT(spill_state, OOC_SPILL_STATE_BYTES % 8u == 0u);

#endif /* OOC_MODEL_FORMAT_H */
