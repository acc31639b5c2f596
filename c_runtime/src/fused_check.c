/*
 * The fused blocks' tables (ooc_block_t, ooc_node_t) checked against the model once, at
 * ooc_init(), so that the rows (fused.c) need not check them again.
 */
#include <stddef.h>

#include "fused_run.h"

static int whole(const ooc_model_t *m, uint16_t t)
{
    return t < m->n_tensors && m->tensors[t].data == NULL && m->tensors[t].offset != OOC_TENSOR_ROWS &&
           m->tensors[t].offset != OOC_TENSOR_PAGED;
}

static int pointwise(const ooc_op_t *op)
{
    const ooc_conv_params_t *p = (const ooc_conv_params_t *)op->params;
    return op->kind == OOC_OP_CONV_2D && p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
           p->pad_top == 0 && p->pad_left == 0 && p->batches == 1;
}

static int constant(const ooc_model_t *m, uint16_t t)
{
    return m->tensors[t].data != NULL || m->tensors[t].offset == OOC_TENSOR_PAGED;
}

static int unary_kind(uint16_t k)
{
    return k == OOC_OP_RELU || k == OOC_OP_RELU6 || k == OOC_OP_RELU_N1_TO_1 || k == OOC_OP_LEAKY_RELU ||
           k == OOC_OP_HARD_SWISH || k == OOC_OP_LOGISTIC || k == OOC_OP_TANH || k == OOC_OP_REQUANTIZE ||
           k == OOC_OP_DEQUANTIZE;
}

static int binary_kind(uint16_t k)
{
    return k == OOC_OP_ADD || k == OOC_OP_MUL || k == OOC_OP_SUB || k == OOC_OP_MINIMUM || k == OOC_OP_MAXIMUM ||
           k == OOC_OP_SQUARED_DIFFERENCE;
}

/* A binary node's operands: each the output's shape (rows, or a whole tensor), or broadcast over
   rows and columns (the output's channels or one value) from a constant, a paged constant or a
   whole tensor, read whole. */
static int check_binary(const ooc_model_t *m, const ooc_node_t *nd, const ooc_op_t *op)
{
    const uint32_t full = (uint32_t)nd->rows * nd->width * nd->channels;
    uint32_t i;
    if (op->n_inputs != 2u) {
        return 0;
    }
    for (i = 0; i < 2u; i++) {
        const uint16_t t = op->inputs[i];
        const uint32_t bytes = t < m->n_tensors ? m->tensors[t].bytes : 0u;
        if (bytes == full && !constant(m, t)) {
            continue;
        }
        if ((bytes != 1u && bytes != nd->channels) || nd->src[i] != OOC_NODE_WHOLE ||
            (m->tensors[t].data == NULL && m->tensors[t].offset != OOC_TENSOR_PAGED && !whole(m, t))) {
            return 0;
        }
    }
    return 1;
}

/* A concatenation along channels: inputs of the node's rows and columns whose channels add up
   to its own, each made by one node before it in the block (its src[] for the first two) or
   whole in the arena. */
static int check_concat(const ooc_model_t *m, const ooc_block_t *b, uint32_t n, const ooc_op_t *op)
{
    const ooc_node_t *nodes = &m->nodes[b->first_node], *nd = &nodes[n];
    const uint32_t pixels = (uint32_t)nd->rows * nd->width;
    uint32_t i, q, total = 0;
    for (i = 0; i < op->n_inputs; i++) {
        const uint16_t t = op->inputs[i];
        uint32_t made = 0;
        if (t >= m->n_tensors || m->tensors[t].bytes % pixels != 0u || m->tensors[t].bytes == 0u) {
            return 0;
        }
        total += m->tensors[t].bytes / pixels;
        for (q = 0; q < n; q++) {
            made += nodes[q].tensor == t && nodes[q].mode != OOC_NODE_REDUCE;
        }
        if (made > 1u || (made == 0u && !whole(m, t)) ||
            (i < 2u && (node_src(m, nodes, n, i) == OOC_NODE_WHOLE) != (made == 0u)) ||
            (i < 2u && made && nodes[node_src(m, nodes, n, i)].tensor != t)) {
            return 0;
        }
    }
    return total == nd->channels;
}

/* A nearest resize: its maps within the input and never going back (the ring holds the rows
   behind the last one read), its shape the node's. */
static int check_resize(const ooc_node_t *nd, const ooc_op_t *op)
{
    const ooc_resize_params_t *p = (const ooc_resize_params_t *)op->params;
    int32_t i;
    if (p->batches != 1 || p->out_h != nd->rows || p->out_w != nd->width || p->channels != nd->channels ||
        p->row_map == NULL || p->col_map == NULL || nd->src[1] != OOC_NODE_WHOLE) {
        return 0;
    }
    for (i = 0; i < p->out_h; i++) {
        if (p->row_map[i] < 0 || p->row_map[i] >= p->in_h || (i > 0 && p->row_map[i] < p->row_map[i - 1])) {
            return 0;
        }
    }
    for (i = 0; i < p->out_w; i++) {
        if (p->col_map[i] < 0 || p->col_map[i] >= p->in_w || (i > 0 && p->col_map[i] < p->col_map[i - 1])) {
            return 0;
        }
    }
    return 1;
}

/* A channel-split chain: its operators chained through tensors held nowhere, a PAD (if any)
   that pads with the depthwise input's zero point, shapes that agree, and scratch for its
   widest row inside the arena (check_node checks its output and a whole input as any node's). */
static int check_pex(const ooc_model_t *m, const ooc_block_t *b, uint32_t n)
{
    const ooc_node_t *nd = &m->nodes[b->first_node + n];
    const ooc_op_t *ops = &m->ops[nd->op];
    const uint32_t span = node_ops(m, nd);
    const ooc_conv_params_t *e = (const ooc_conv_params_t *)ops[0].params;
    const ooc_conv_params_t *d0 = (const ooc_conv_params_t *)ops[span - 2u].params;
    const ooc_conv_params_t *pr = (const ooc_conv_params_t *)ops[span - 1u].params;
    ooc_conv_params_t dd;
    uint32_t row, strip, i, need = 0;
    if (!pointwise(&ops[0]) || ops[span - 2u].kind != OOC_OP_DEPTHWISE_CONV_2D || !pointwise(&ops[span - 1u])) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < span; i++) {
        if (ops[i].n_inputs < (ops[i].kind == OOC_OP_PAD ? 1u : 2u) ||
            (i > 0u && (ops[i].inputs[0] != ops[i - 1u].output || m->tensors[ops[i - 1u].output].offset != OOC_TENSOR_ROWS))) {
            return OOC_ERR_CORRUPT;
        }
    }
    if (span == 4u) {
        const ooc_pad_params_t *pad = (const ooc_pad_params_t *)ops[1].params;
        if (pad->rank != 4 || pad->pad_before[0] != 0 || pad->pad_after[0] != 0 || pad->pad_before[3] != 0 ||
            pad->pad_after[3] != 0 || pad->pad_value != -d0->input_offset || pad->in_dims[1] != e->out_h ||
            pad->in_dims[2] != e->out_w || pad->in_dims[3] != e->out_c ||
            pad->in_dims[1] + pad->pad_before[1] + pad->pad_after[1] != d0->in_h ||
            pad->in_dims[2] + pad->pad_before[2] + pad->pad_after[2] != d0->in_w) {
            return OOC_ERR_CORRUPT;
        }
    }
    dd = pex_depthwise(ops, span);
    if (dd.depth_multiplier != 1 || dd.batches != 1 || e->out_c != dd.in_c || dd.out_c != dd.in_c ||
        pr->in_c != dd.out_c || e->out_h != dd.in_h || e->out_w != dd.in_w || pr->in_h != dd.out_h ||
        pr->in_w != dd.out_w || nd->tensor != ops[span - 1u].output || nd->rows != pr->out_h ||
        nd->width != pr->out_w || nd->channels != pr->out_c || nd->group == 0u || nd->group > dd.in_c ||
        nd->src[1] != OOC_NODE_WHOLE || nd->k != (dd.k_h - 1) * dd.dil_h + 1 || nd->s != dd.stride_h ||
        nd->p != dd.pad_top) {
        return OOC_ERR_CORRUPT;
    }
    for (strip = 0; strip < b->n_strips; strip++) { /* pex_row's largest scratch */
        const uint16_t *c = b->cols + 2u * ((uint32_t)b->n_nodes * strip + n);
        for (row = 0; c[1] > c[0] && row < nd->rows; row++) {
            int32_t ya, yb, xa, xb;
            uint32_t got;
            pex_window(&dd, (int32_t)row, c[0], c[1], &ya, &yb, &xa, &xb);
            got = pex_scratch(&dd, pr, nd->group, (uint32_t)(c[1] - c[0]), (uint32_t)((yb - ya) * (xb - xa)));
            need = got > need ? got : need;
        }
    }
    return (b->scratch & 3u) == 0u && (uint64_t)b->scratch + need <= m->arena_bytes ? OOC_OK : OOC_ERR_CORRUPT;
}

/* A channel-group average: alone in its one-strip block, a 1x1 convolution whose output is held
   nowhere and read by a global average of the node's shape (MEAN over H and W, or an
   AVERAGE_POOL_2D whose window is the whole input) whose output is whole; the convolution's input
   whole in the arena; the group's accumulators and row inside it (check_node checked the rest). */
static int check_conv_mean(const ooc_model_t *m, const ooc_block_t *b, const ooc_node_t *nd)
{
    const ooc_op_t *conv = &m->ops[nd->op], *avg = conv + 1;
    const ooc_conv_params_t *p = (const ooc_conv_params_t *)conv->params;
    int shape;
    if (b->n_nodes != 1u || b->n_strips != 1u || conv->n_inputs < 2u || !pointwise(conv) ||
        avg->n_inputs < 1u || avg->inputs[0] != conv->output || m->tensors[conv->output].offset != OOC_TENSOR_ROWS ||
        !whole(m, conv->inputs[0]) || !whole(m, avg->output) || nd->tensor != avg->output ||
        nd->src[0] != OOC_NODE_WHOLE || nd->src[1] != OOC_NODE_WHOLE || nd->cap != 0u || nd->group == 0u ||
        nd->group > nd->channels || (nd->offset & 3u) != 0u ||
        (uint64_t)nd->offset + 4u * (uint64_t)nd->group + (uint64_t)nd->width * nd->group > m->arena_bytes) {
        return 0;
    }
    shape = p->out_h == nd->rows && p->out_w == nd->width && p->out_c == nd->channels &&
            m->tensors[conv->inputs[0]].bytes == (uint32_t)p->in_h * p->in_w * p->in_c &&
            m->tensors[avg->output].bytes == nd->channels;
    if (avg->kind == OOC_OP_MEAN) {
        const ooc_mean_params_t *a = (const ooc_mean_params_t *)avg->params;
        return shape && a->rank == 4 && a->in_dims[1] == nd->rows && a->in_dims[2] == nd->width &&
               a->in_dims[3] == nd->channels && a->reduce[0] == 0 && a->reduce[1] == 1 && a->reduce[2] == 1 &&
               a->reduce[3] == 0;
    }
    if (avg->kind == OOC_OP_AVERAGE_POOL_2D) {
        const ooc_pool_params_t *a = (const ooc_pool_params_t *)avg->params;
        return shape && a->batches == 1 && a->in_h == nd->rows && a->in_w == nd->width && a->channels == nd->channels &&
               a->out_h == 1 && a->out_w == 1 && a->pad_top == 0 && a->pad_left == 0 && a->filter_h >= a->in_h &&
               a->filter_w >= a->in_w;
    }
    return 0;
}

/* One node against its block and the model. */
static int check_node(const ooc_model_t *m, const ooc_block_t *b, uint32_t n)
{
    const ooc_node_t *nd = &m->nodes[b->first_node + n];
    uint32_t s, i, widest = 0;
    if (nd->rows == 0u || nd->width == 0u || nd->channels == 0u || nd->k == 0u || nd->s == 0u ||
        nd->mode > OOC_NODE_CONV_MEAN || nd->tensor >= m->n_tensors) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < 2u; i++) {
        if (nd->src[i] != OOC_NODE_WHOLE && nd->src[i] >= n) {
            return OOC_ERR_CORRUPT;
        }
    }
    for (s = 0; s < b->n_strips; s++) {
        const uint16_t *c = b->cols + 2u * ((uint32_t)b->n_nodes * s + n);
        if (c[0] > c[1] || c[1] > nd->width) {
            return OOC_ERR_CORRUPT;
        }
        widest = (uint32_t)(c[1] - c[0]) > widest ? (uint32_t)(c[1] - c[0]) : widest;
    }
    if (nd->mode == OOC_NODE_INPUT || nd->mode == OOC_NODE_SPILL_IN) {
        if (nd->mode == OOC_NODE_SPILL_IN && ooc_spill_entry(m, nd->tensor) == NULL) {
            return OOC_ERR_CORRUPT;
        }
        return nd->cap != 0u && (uint64_t)nd->offset + (uint64_t)nd->cap * widest * nd->channels <= m->arena_bytes
                   ? OOC_OK
                   : OOC_ERR_CORRUPT;
    }
    if (nd->op < b->first_op || (uint32_t)nd->op + node_ops(m, nd) > (uint32_t)b->first_op + b->n_ops) {
        return OOC_ERR_CORRUPT;
    }
    if (nd->rows_per_load > 1u && (nd->mode != OOC_NODE_OP || (m->ops[nd->op].kind != OOC_OP_CONV_2D &&
                                                                m->ops[nd->op].kind != OOC_OP_DEPTHWISE_CONV_2D))) {
        return OOC_ERR_CORRUPT; /* a row group is a streamed convolution's */
    }
    if (nd->cap != 0u && nd->rows_per_load > nd->cap) {
        return OOC_ERR_CORRUPT; /* a group's rows all go into its ring at once */
    }
    {
        const ooc_op_t *op = &m->ops[nd->op];
        const uint16_t k = op->kind;
        int ok;
        switch (nd->mode) {
        case OOC_NODE_PEX:
            ok = check_pex(m, b, n) == OOC_OK;
            break;
        case OOC_NODE_CONV_MEAN:
            return check_conv_mean(m, b, nd) ? OOC_OK : OOC_ERR_CORRUPT;
        case OOC_NODE_REDUCE:
            ok = (k == OOC_OP_MEAN || k == OOC_OP_AVERAGE_POOL_2D) && n + 1u == b->n_nodes && whole(m, op->output) &&
                 (uint64_t)nd->offset + 4u * (uint64_t)nd->channels <= m->arena_bytes && (nd->offset & 3u) == 0u;
            break;
        case OOC_NODE_TRANSPOSE_IN:
            ok = k == OOC_OP_TRANSPOSE && nd->tensor == op->output && widest <= m->arena_bytes &&
                 b->scratch <= m->arena_bytes - widest;
            break;
        case OOC_NODE_QUANTIZE_IN: /* a row of floats in the scratch bytes */
            ok = k == OOC_OP_QUANTIZE && nd->tensor == op->output && (b->scratch & 3u) == 0u &&
                 4u * (uint64_t)widest * nd->channels + b->scratch <= m->arena_bytes &&
                 m->tensors[op->inputs[0]].bytes == 4u * nd->rows * nd->width * nd->channels;
            break;
        default:
            ok = (k == OOC_OP_CONV_2D || k == OOC_OP_DEPTHWISE_CONV_2D || k == OOC_OP_AVERAGE_POOL_2D ||
                  k == OOC_OP_MAX_POOL_2D || k == OOC_OP_PAD || k == OOC_OP_CONCATENATION ||
                  k == OOC_OP_RESIZE_NEAREST_NEIGHBOR || unary_kind(k) || binary_kind(k)) &&
                 nd->tensor == op->output &&
                 (binary_kind(k)                           ? check_binary(m, nd, op)
                  : k == OOC_OP_CONCATENATION            ? check_concat(m, b, n, op)
                  : k == OOC_OP_RESIZE_NEAREST_NEIGHBOR ? check_resize(nd, op)
                                                           : nd->src[1] == OOC_NODE_WHOLE) &&
                 (k != OOC_OP_DEQUANTIZE || nd->cap == 0u);
            break;
        }
        if (!ok) {
            return OOC_ERR_CORRUPT;
        }
        if (nd->mode != OOC_NODE_REDUCE) {
            const uint32_t elem = k == OOC_OP_DEQUANTIZE ? 4u : 1u; /* float32 output */
            if (nd->cap == 0u ? !whole(m, nd->tensor) || m->tensors[nd->tensor].bytes !=
                                                              elem * nd->rows * nd->width * nd->channels
                              : (uint64_t)nd->offset + (uint64_t)nd->cap * widest * nd->channels > m->arena_bytes) {
                return OOC_ERR_CORRUPT;
            }
        }
        for (i = 0; i < 2u && i < op->n_inputs; i++) { /* an activation read whole is in the arena */
            const uint16_t t = op->inputs[i];
            const int read_whole = nd->src[i] == OOC_NODE_WHOLE && nd->mode != OOC_NODE_TRANSPOSE_IN &&
                                   nd->mode != OOC_NODE_QUANTIZE_IN && (i == 0u || binary_kind(k));
            const int broadcast = binary_kind(k) && (m->tensors[t].bytes != (uint32_t)nd->rows * nd->width * nd->channels ||
                                                     constant(m, t));
            if (read_whole && !broadcast && !whole(m, t)) { /* (check_binary checked a broadcast) */
                return OOC_ERR_CORRUPT;
            }
        }
    }
    return OOC_OK;
}

int ooc_check_blocks(const ooc_model_t *m)
{
    uint32_t i, n, covered, next_op = 0, next_node = 0;
    if (m->n_blocks == 0u) {
        return OOC_OK;
    }
    if (m->blocks == NULL || (m->n_nodes != 0u && m->nodes == NULL)) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < m->n_blocks; i++) {
        const ooc_block_t *b = &m->blocks[i];
        if (b->first_op != next_op || b->n_ops == 0u || (uint32_t)b->first_op + b->n_ops > m->n_ops) {
            return OOC_ERR_CORRUPT;
        }
        next_op += b->n_ops;
        if (b->n_nodes == 0u) {
            for (n = b->first_op; n < (uint32_t)b->first_op + b->n_ops; n++) {
                const ooc_op_t *op = &m->ops[n];
                uint32_t k;
                if (!whole(m, op->output)) {
                    return OOC_ERR_CORRUPT;
                }
                for (k = 0; k < op->n_inputs; k++) {
                    const uint16_t t = op->inputs[k];
                    if (t != OOC_NO_TENSOR && m->tensors[t].data == NULL && !whole(m, t) &&
                        m->tensors[t].offset != OOC_TENSOR_PAGED) {
                        return OOC_ERR_CORRUPT;
                    }
                }
            }
            continue;
        }
        if (b->first_node != next_node || b->n_nodes > OOC_MAX_BLOCK_NODES || b->n_strips == 0u ||
            b->cols == NULL || (uint32_t)b->first_node + b->n_nodes > m->n_nodes) {
            return OOC_ERR_CORRUPT;
        }
        next_node += b->n_nodes;
        for (n = 0, covered = 0; n < b->n_nodes; n++) {
            const ooc_node_t *nd = &m->nodes[b->first_node + n];
            int rc = check_node(m, b, n);
            if (rc < 0) {
                return rc;
            }
            if (nd->mode != OOC_NODE_INPUT && nd->mode != OOC_NODE_SPILL_IN) {
                if (nd->op != b->first_op + covered) {
                    return OOC_ERR_CORRUPT; /* every operator of the block once, in order */
                }
                covered += node_ops(m, nd);
            }
        }
        if (covered != b->n_ops) {
            return OOC_ERR_CORRUPT;
        }
    }
    return next_op == m->n_ops && next_node == m->n_nodes ? OOC_OK : OOC_ERR_CORRUPT;
}
