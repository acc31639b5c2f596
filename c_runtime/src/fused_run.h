/*
 * The fused runner's own header, private to fused.c (rows), fused_check.c (the block and node
 * tables at init) and fused_spill.c (rows of spilled tensors): the run state of one block and the
 * geometry both the rows and the checks compute.
 */
#ifndef OOC_FUSED_RUN_H
#define OOC_FUSED_RUN_H

#include "fused.h"
#include "ooc/ooc_kernels.h"

typedef struct {
    const int8_t *base; /* row `lo`, column x0 */
    int32_t lo, hi;     /* rows held: [lo, hi) */
    int32_t x0, x1;     /* columns held */
    int32_t pitch;      /* bytes from one row to the next */
} view_t;

typedef struct {
    ooc_ctx_t *ctx;
    const ooc_block_t *b;
    const ooc_node_t *nodes;
    const uint16_t *cols; /* this strip's [n_nodes][2] */
    const uint8_t *slot;  /* out of core: the block's chunks (entries, then data); else NULL */
    uint32_t n_chunks;
    uint32_t data_base;   /* flash offset of the first chunk's data (the slot's data start) */
    uint8_t *stream;      /* where streamed pieces are read: the slot after the resident chunks */
    uint32_t stream_cap;
    uint16_t done[OOC_MAX_BLOCK_NODES];
    uint16_t lo[OOC_MAX_BLOCK_NODES];
    uint16_t first_chunk[OOC_MAX_BLOCK_NODES]; /* the node's first paged input among the block's */
    uint32_t stream_step; /* the step of the block's first streamed piece */
    /* node n's pieces: steps stream_step + stream_at[n] .. stream_step + stream_at[n + 1] - 1
       (none: a resident node); the pieces follow the block's step in node order */
    uint16_t stream_at[OOC_MAX_BLOCK_NODES + 1u];
    const ooc_spill_tensor_t *out_spill; /* the sink's spill entry, if it is spilled */
    uint32_t written;                    /* records the sink has written */
} run_t;

static inline int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline uint32_t align4(uint32_t n)
{
    return (n + 3u) & ~3u;
}

/* Operators a node stands for: a channel-split chain three (four with a PAD after the
   expansion), a channel-group average two, a streamed input none. */
static inline uint32_t node_ops(const ooc_model_t *m, const ooc_node_t *nd)
{
    if (nd->mode == OOC_NODE_PEX) {
        return (uint32_t)nd->op + 1u < m->n_ops && m->ops[nd->op + 1u].kind == OOC_OP_PAD ? 4u : 3u;
    }
    if (nd->mode == OOC_NODE_CONV_MEAN) {
        return 2u;
    }
    return nd->mode == OOC_NODE_INPUT || nd->mode == OOC_NODE_SPILL_IN ? 0u : 1u;
}

/* The inputs node `n` of a block (nodes: the block's) reads rows of: two, or every input of a
   CONCATENATION. */
static inline uint32_t node_srcs(const ooc_model_t *m, const ooc_node_t *nd)
{
    return nd->mode == OOC_NODE_OP && m->ops[nd->op].kind == OOC_OP_CONCATENATION ? m->ops[nd->op].n_inputs : 2u;
}

/* The node making input `i` of node `n`, or OOC_NODE_WHOLE: the table's src[] for the first two
   inputs; a concatenation's others are found by their tensor (fused_check.c checked them). */
static inline uint16_t node_src(const ooc_model_t *m, const ooc_node_t *nodes, uint32_t n, uint32_t i)
{
    uint32_t q;
    if (i < 2u) {
        return nodes[n].src[i];
    }
    for (q = 0; q < n; q++) {
        if (nodes[q].tensor == m->ops[nodes[n].op].inputs[i] && nodes[q].mode != OOC_NODE_REDUCE) {
            return (uint16_t)q;
        }
    }
    return OOC_NODE_WHOLE;
}

/* A chain's depthwise parameters as they apply to the expansion's output: a PAD between them
   (padding with the zero point the depthwise skips, check_pex) becomes the window's padding. */
static inline ooc_conv_params_t pex_depthwise(const ooc_op_t *ops, uint32_t span)
{
    ooc_conv_params_t d = *(const ooc_conv_params_t *)ops[span - 2u].params;
    if (span == 4u) {
        const ooc_pad_params_t *pad = (const ooc_pad_params_t *)ops[1].params;
        d.in_h = pad->in_dims[1], d.in_w = pad->in_dims[2];
        d.pad_top += pad->pad_before[1], d.pad_left += pad->pad_before[2];
    }
    return d;
}

/* The expansion rows [*ya, *yb) and columns [*xa, *xb) (clipped) that the depthwise row `row`,
   columns [x0, x1), reads. */
static inline void pex_window(const ooc_conv_params_t *d, int32_t row, int32_t x0, int32_t x1, int32_t *ya, int32_t *yb,
                       int32_t *xa, int32_t *xb)
{
    const int32_t yf = row * d->stride_h - d->pad_top, xf = x0 * d->stride_w - d->pad_left;
    *ya = clamp_i32(yf, 0, d->in_h);
    *yb = clamp_i32(yf + (d->k_h - 1) * d->dil_h + 1, *ya, d->in_h);
    *xa = clamp_i32(xf, 0, d->in_w);
    *xb = clamp_i32((x1 - 1) * d->stride_w - d->pad_left + (d->k_w - 1) * d->dil_w + 1, *xa, d->in_w);
}

/* Scratch bytes pex_row uses for `w` output columns whose window reads `window` expansion
   pixels (fusion/simulate.py's _pex_scratch sizes the block's scratch for the largest): the int32
   sums, one group's window, its depthwise row, its taps. */
static inline uint32_t pex_scratch(const ooc_conv_params_t *d, const ooc_conv_params_t *pr, uint32_t group, uint32_t w,
                            uint32_t window)
{
    return align4(4u * w * (uint32_t)pr->out_c) + align4(window * group) + align4(w * group) +
           align4((uint32_t)(d->k_h * d->k_w) * group);
}

/* Row `row`, columns [x0, x1), of the spilled tensor node `n` (OOC_NODE_SPILL_IN) reads, into
   `out` (fused_spill.c). */
int ooc_fused_spill_in_row(run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out);

/* The block of one OOC_NODE_CONV_MEAN node, whole (fused_mean.c): `filter` and `bias` are the
   convolution's (bias NULL when it has none). */
int ooc_fused_conv_mean(const run_t *r, const int8_t *filter, const int32_t *bias);

/* The sink just made row `row` (columns [x0, x1), at `data`) of a spilled tensor: write the
   strip's parts of it, in the planned order (fused_spill.c). */
int ooc_fused_spill_out_row(run_t *r, int32_t row, int32_t x0, int32_t x1, const int8_t *data);

#endif /* OOC_FUSED_RUN_H */
