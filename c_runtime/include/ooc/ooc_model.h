/*
 * The model tables `ooc codegen` emits and the runtime executes. Generated code
 * fills these structs; applications only pass the top-level ooc_model_t around.
 */
#ifndef OOC_MODEL_H
#define OOC_MODEL_H

#include <stdint.h>

/* The tables' version, operator kinds (enum ooc_op_kind), node modes (enum ooc_node_mode), verify
   modes, step flags, tensor offset sentinels and limits: generated from ooc_sdk/formats/tables.py. */
#include "ooc/ooc_model_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t offset;  /* activation: byte offset in the arena; OOC_TENSOR_PAGED: a constant in the
                         flash image; unused for constants in `data` */
    uint32_t bytes;   /* size in bytes */
    const void *data; /* constant: its data; NULL for an activation or a paged constant */
} ooc_tensor_t;

/* One step of an out-of-core schedule: an operator, or the output channels [c0, c1) of one
   (partial execution), or a whole fused block. Its paged inputs arrive as image chunks
   first_chunk .. + n_chunks - 1, one per paged input in input order (a block: its operators in
   order, each operator's inputs in order), read back to back into a chunk slot, where they stay
   while the step computes (a fused block: all its rows and strips).

   A fused block's step may be followed by OOC_STEP_STREAM steps: the output-channel pieces of
   the block's *streamed* operators, whose weights do not stay in the slot (the block step's
   chunks leave them out). The pager does not run them; the block reads each piece again for
   every row the operator's node makes, into the slot after the resident chunks, and computes
   that row piece by piece. Per streamed operator, the pieces cover its channels in order. */
typedef struct {
    uint16_t op;          /* operator index (a block: its first operator) */
    uint16_t n_chunks;    /* 0: the step reads nothing from flash */
    uint32_t first_chunk;
    uint16_t c0, c1;      /* output channels; c1 == 0: the whole operator */
    uint16_t block;       /* index in ooc_model_t.blocks of the fused block run, or OOC_NO_BLOCK */
    uint16_t flags;       /* OOC_STEP_STREAM, or 0 */
} ooc_step_t;

typedef struct {
    uint16_t kind;            /* enum ooc_op_kind */
    uint16_t n_inputs;
    const uint16_t *inputs;   /* tensor indices; OOC_NO_TENSOR for an omitted input */
    uint16_t output;          /* tensor index */
    const void *params;       /* the kind's ooc_*_params_t (ooc_kernels.h); NULL for RESHAPE */
} ooc_op_t;

/* One producer of rows in a fused block. Output row r of a node reads rows
   [r * s - p, r * s - p + k) of its input 0 (clipped to the input) and row r of its input 1. */
typedef struct {
    uint16_t op;            /* operator index (ignored for OOC_NODE_INPUT) */
    uint16_t tensor;        /* tensor whose rows it produces (reduce: the operator's output) */
    uint16_t mode;          /* enum ooc_node_mode */
    uint16_t cap;           /* ring rows; 0: the output is a whole tensor at tensors[].offset */
    uint16_t rows, width, channels; /* the produced tensor's H, W, C (reduce: its input's) */
    uint16_t src[2];        /* node index (lower) of the block producing input 0 / 1, or OOC_NODE_WHOLE */
    uint16_t k, s;
    int16_t p;
    uint16_t group;         /* OOC_NODE_PEX: expanded channels per group (the last may be fewer); else 0 */
    uint16_t rows_per_load; /* a streamed convolution's row group: rows made per read of its pieces
                               (0 or 1: one row; the planner sized the rings for it) */
    uint32_t offset;        /* arena offset of the ring (cap x widest strip x channels bytes) or of
                               the reduce accumulators (channels x int32) */
} ooc_node_t;

/* A unit of the schedule: operators [first_op, first_op + n_ops). With n_nodes == 0 they run
   one after another on whole tensors; otherwise as one fused block of nodes, the last being
   the sink, computed in n_strips column strips. */
typedef struct {
    uint16_t first_op, n_ops;
    uint16_t first_node, n_nodes;
    uint16_t n_strips;
    uint16_t reserved;
    const uint16_t *cols;   /* [n_strips][n_nodes][2]: columns [x0, x1) each node makes per strip */
    uint32_t scratch;       /* arena offset of scratch bytes (OOC_NODE_TRANSPOSE_IN: one channel row;
                               OOC_NODE_PEX: a row's int32 sums and one group's rows, fused.c) */
} ooc_block_t;

/* Activation spill (docs/spill.md). A spilled tensor is written once, by the sink of the fused
   block that produces it, as records of the spill ring, and read back row by row by the fused
   blocks that use it (OOC_NODE_SPILL_IN nodes). Its columns are cut into parts; the record of
   (row r, part p) is the tensor's record number first + r * stride in write order (the
   producer writes strip by strip, row by row, its strip's parts left to right) and its tile id.
   Each record holds (x1 - x0) x channels bytes, at most a sector's record payload. */
typedef struct {
    uint16_t x0, x1;   /* columns [x0, x1) of every row */
    uint16_t stride;   /* records from one row's record of this part to the next row's */
    uint16_t reserved;
    uint32_t first;    /* record number of row 0's */
} ooc_spill_part_t;

typedef struct {
    uint16_t tensor;
    uint16_t n_parts;
    uint16_t rows, channels;
    uint32_t state;                /* arena offset (8-aligned) of OOC_SPILL_STATE_BYTES the runtime
                                      keeps: the ref of record 0, stored by the producer, and a
                                      read cursor */
    const ooc_spill_part_t *parts; /* n_parts, left to right */
} ooc_spill_tensor_t;

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
    /* Fused schedules (`ooc codegen --max-mac-overhead K` / `--sram`); 0 / NULL: per layer. */
    uint16_t n_blocks;
    uint16_t n_nodes;
    const ooc_block_t *blocks;
    const ooc_node_t *nodes;
    /* Spilled activations; 0 / NULL: the plan spills nothing. The ring (ooc_config.spill) must
       use spill_sector_bytes sectors and have at least spill_sectors of them: one inference's
       records then never wrap onto each other. */
    uint16_t n_spills;
    uint16_t spill_sectors;
    uint32_t spill_sector_bytes;
    const ooc_spill_tensor_t *spills;
} ooc_model_t;

#ifdef __cplusplus
}
#endif
#endif /* OOC_MODEL_H */
