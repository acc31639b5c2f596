/*
 * The model tables `ooc codegen` emits and the runtime executes. Generated code
 * fills these structs; applications only pass the top-level ooc_model_t around.
 */
#ifndef OOC_MODEL_H
#define OOC_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OOC_MODEL_MAGIC 0x4C444D4FUL /* "OMDL" little-endian */
#define OOC_MODEL_VERSION 2u
#define OOC_NO_TENSOR 0xFFFFu        /* an omitted optional operator input */
#define OOC_TENSOR_PAGED 0xFFFFFFFFUL /* ooc_tensor_t.offset of a constant read from the flash image */

/* When an out-of-core model checks its weight chunks' tags (ooc_model_t.verify). */
enum ooc_verify_mode {
    OOC_VERIFY_EVERY_READ = 0, /* at every read: covers an attacker who rewrites flash at run time */
    OOC_VERIFY_AT_BOOT = 1     /* every chunk once in ooc_init(); later reads only decrypt */
};

/* Operator kinds: one per kernel entry point. */
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
    OOC_OP_QUANTIZE = 14,   /* float32 -> int8 */
    OOC_OP_REQUANTIZE = 15, /* int8 -> int8 */
    OOC_OP_DEQUANTIZE = 16, /* int8 -> float32 */
    OOC_OP_RESIZE_NEAREST_NEIGHBOR = 17,
    OOC_OP_KIND_COUNT
};

typedef struct {
    uint32_t offset;  /* activation: byte offset in the arena; OOC_TENSOR_PAGED: a constant in the
                         flash image; unused for constants in `data` */
    uint32_t bytes;   /* size in bytes */
    const void *data; /* constant: its data; NULL for an activation or a paged constant */
} ooc_tensor_t;

/* One step of an out-of-core schedule: an operator, or the output channels [c0, c1) of one
   (partial execution). Its paged inputs arrive as image chunks first_chunk .. + n_chunks - 1,
   one per paged input in input order, read back to back into a chunk slot. */
typedef struct {
    uint16_t op;          /* operator index */
    uint16_t n_chunks;    /* 0: the step reads nothing from flash */
    uint32_t first_chunk;
    uint16_t c0, c1;      /* output channels; c1 == 0: the whole operator */
} ooc_step_t;

typedef struct {
    uint16_t kind;            /* enum ooc_op_kind */
    uint16_t n_inputs;
    const uint16_t *inputs;   /* tensor indices; OOC_NO_TENSOR for an omitted input */
    uint16_t output;          /* tensor index */
    const void *params;       /* the kind's ooc_*_params_t (ooc_kernels.h); NULL for RESHAPE */
} ooc_op_t;

typedef struct {
    uint32_t magic;           /* OOC_MODEL_MAGIC */
    uint32_t version;         /* OOC_MODEL_VERSION */
    uint32_t arena_bytes;     /* the activation plan's size */
    uint16_t n_tensors, n_ops, n_inputs, n_outputs;
    const ooc_tensor_t *tensors;
    const ooc_op_t *ops;
    const uint16_t *inputs;   /* tensor indices of the model inputs */
    const uint16_t *outputs;  /* tensor indices of the model outputs */
    const char *name;
    /* Out-of-core models (`ooc build`); all zero / NULL for an in-core model (`ooc codegen`). */
    uint32_t n_steps;
    const ooc_step_t *steps;
    uint32_t n_chunks;           /* chunks in the image's table */
    uint32_t slot_bytes;         /* one chunk slot: 64-byte table entries, then the data */
    uint16_t n_slots;            /* 1: no prefetch; 2: the next step is read while one computes */
    uint16_t verify;             /* enum ooc_verify_mode */
    const uint8_t *plan_id;      /* 16 bytes: the image must carry this plan */
    const uint8_t *model_sha256; /* 32 bytes: ... and this model */
} ooc_model_t;

#ifdef __cplusplus
}
#endif
#endif /* OOC_MODEL_H */
