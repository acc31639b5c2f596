/*
 * Fused blocks: a run of operators computed row by row (ooc_sdk/plan/fusion/ plans them).
 *
 * Each node of a block produces rows of one tensor. A tensor used only inside the block lives in
 * a ring holding its last `cap` rows, contiguous (when full, the oldest row is dropped by moving
 * the others down), so every kernel sees an ordinary NHWC tensor of a few rows: the executor
 * hands it a copy of the operator's parameters narrowed to one output row and the strip's
 * columns. The sink (the last node) pulls: to make its next row, descend to the first input
 * that lacks a row the next row reads, and make that one; repeat. The planner simulated this
 * same schedule to size the rings, so the rows a kernel reads are always held.
 *
 * A block may run in strips: each computes a column range of every node, top to bottom, with
 * the rings reset; columns two strips share are computed by both (the planner costed that).
 *
 * A channel-split node (OOC_NODE_PEX, partial execution) stands for three operators: a 1x1
 * expansion, a depthwise convolution and a 1x1 projection. It makes each projection row a group
 * of expanded channels at a time and holds neither intermediate tensor (pex_row below).
 *
 * The block and node tables were checked once at init (fused_check.c); rows of spilled tensors
 * go to and come from the spill ring through fused_spill.c; streamed weight pieces come through
 * the pager (pager.c).
 */
#include <string.h>

#include "compiler.h"
#include "fused_run.h"
#include "ooc/ooc_image.h"
#include "pager.h"
#include "tables.h"

/* The decrypted data of chunk `k` of the block's step: the pager read the chunks back to back,
   so it lies as far after the first chunk's data as it does in flash. */
static const void *chunk_data(const run_t *r, uint32_t k)
{
    ooc_chunk_info_t info;
    ooc_image_entry_info(r->slot + k * OOC_IMG_CE_BYTES, &info);
    return r->slot + r->n_chunks * OOC_IMG_CE_BYTES + (info.flash_offset - r->data_base);
}

/* Rows of input `i` (a prefix) the first `n` rows of node `nd` read (a nearest resize: up to the
   row its last one copies). */
static uint32_t need_rows(const ooc_model_t *m, const ooc_node_t *nd, uint32_t i, uint32_t n, uint32_t rows_in)
{
    const int32_t k = i == 0u ? nd->k : 1, s = i == 0u ? nd->s : 1, p = i == 0u ? nd->p : 0;
    if (n == 0u) {
        return 0u;
    }
    if (i == 0u && nd->mode == OOC_NODE_OP && m->ops[nd->op].kind == OOC_OP_RESIZE_NEAREST_NEIGHBOR) {
        return (uint32_t)((const ooc_resize_params_t *)m->ops[nd->op].params)->row_map[n - 1u] + 1u;
    }
    return (uint32_t)clamp_i32((int32_t)(n - 1u) * s - p + k, 0, (int32_t)rows_in);
}

/* H, W and C of input `i` of node `nd`'s operator, as its kernel sees it. */
static void input_dims(const ooc_op_t *op, const ooc_node_t *nd, int32_t *h, int32_t *w, int32_t *c)
{
    switch (op->kind) {
    case OOC_OP_CONV_2D:
    case OOC_OP_DEPTHWISE_CONV_2D: {
        const ooc_conv_params_t *p = (const ooc_conv_params_t *)op->params;
        *h = p->in_h, *w = p->in_w, *c = p->in_c;
        return;
    }
    case OOC_OP_AVERAGE_POOL_2D:
    case OOC_OP_MAX_POOL_2D:
        if (nd->mode != OOC_NODE_REDUCE) {
            const ooc_pool_params_t *p = (const ooc_pool_params_t *)op->params;
            *h = p->in_h, *w = p->in_w, *c = p->channels;
            return;
        }
        break;
    case OOC_OP_PAD: {
        const ooc_pad_params_t *p = (const ooc_pad_params_t *)op->params;
        *h = p->in_dims[1], *w = p->in_dims[2], *c = p->in_dims[3];
        return;
    }
    case OOC_OP_RESIZE_NEAREST_NEIGHBOR: {
        const ooc_resize_params_t *p = (const ooc_resize_params_t *)op->params;
        *h = p->in_h, *w = p->in_w, *c = p->channels;
        return;
    }
    default:
        break;
    }
    *h = nd->rows, *w = nd->width, *c = nd->channels; /* elementwise, reduce: the node's own */
}

static uint8_t *tensor_ptr(const ooc_ctx_t *ctx, uint16_t t)
{
    return ctx->cfg.arena + ctx->model->tensors[t].offset;
}

/* The rows of input `i` of node `n` available now. */
static view_t input_view(const run_t *r, uint32_t n, uint32_t i)
{
    const ooc_node_t *nd = &r->nodes[n];
    const ooc_op_t *op = &r->ctx->model->ops[nd->op];
    const uint16_t q = node_src(r->ctx->model, r->nodes, n, i);
    view_t v;
    int32_t h, w, c;
    input_dims(op, nd, &h, &w, &c);
    if (op->kind == OOC_OP_CONCATENATION) { /* input i's own channels */
        c = (int32_t)(r->ctx->model->tensors[op->inputs[i]].bytes / ((uint32_t)h * (uint32_t)w));
    }
    if (q == OOC_NODE_WHOLE) {
        v.base = (const int8_t *)tensor_ptr(r->ctx, op->inputs[i]);
        v.lo = 0, v.hi = h, v.x0 = 0, v.x1 = w;
    } else if (r->nodes[q].cap == 0u) {
        v.base = (const int8_t *)tensor_ptr(r->ctx, r->nodes[q].tensor);
        v.lo = 0, v.hi = r->done[q], v.x0 = 0, v.x1 = w;
    } else {
        v.base = (const int8_t *)(r->ctx->cfg.arena + r->nodes[q].offset);
        v.lo = r->lo[q], v.hi = r->done[q];
        v.x0 = r->cols[2u * q], v.x1 = r->cols[2u * q + 1u];
    }
    v.pitch = (v.x1 - v.x0) * c;
    return v;
}

static int read_input(const ooc_ctx_t *ctx, uint16_t tensor, uint32_t offset, void *dst, uint32_t bytes)
{
    uint32_t i;
    for (i = 0; i < ctx->model->n_inputs && ctx->model->inputs[i] != tensor; i++) {
    }
    if (i >= ctx->model->n_inputs) {
        return OOC_ERR_CORRUPT;
    }
    if (ctx->cfg.read_input != NULL) {
        return ctx->cfg.read_input(ctx->cfg.context, i, offset, dst, bytes) < 0 ? OOC_ERR_IO : OOC_OK;
    }
    if (i >= sizeof ctx->input_ref / sizeof ctx->input_ref[0] || ctx->input_ref[i] == NULL) {
        return OOC_ERR_STATE;
    }
    memcpy(dst, (const uint8_t *)ctx->input_ref[i] + offset, bytes);
    return OOC_OK;
}

/* A window's geometry narrowed to output row `row` and columns [x0, x1), over the rows and
   columns `v` holds: the first row a window reads becomes row 0 (the padding above it stays
   padding), and the strip's first column is rebased on the view's (which may make pad_left
   negative: the first window starts inside the view). */
typedef struct {
    const int8_t *in;
    int32_t in_h, pad_top, in_w, pad_left, out_w;
} narrow_t;

static narrow_t narrow(const view_t *v, int32_t row, int32_t x0, int32_t x1, int32_t stride_h, int32_t pad_top,
                       int32_t stride_w, int32_t pad_left)
{
    narrow_t g;
    const int32_t y_first = row * stride_h - pad_top;
    const int32_t base_row = y_first < 0 ? 0 : y_first;
    g.in = v->base + (base_row - v->lo) * v->pitch;
    g.in_h = v->hi - base_row;
    g.pad_top = base_row - y_first;
    g.in_w = v->x1 - v->x0;
    g.pad_left = pad_left + v->x0 - x0 * stride_w;
    g.out_w = x1 - x0;
    return g;
}

/* One output row of a pooling operator (window_row): out of line, so that its copy of the
   parameters is not on the stack beside the convolutions' (the deepest path: a fused schedule's
   stack bound counts it). */
static OOC_NOINLINE void pool_row(const ooc_op_t *op, const view_t *v, int32_t row, int32_t x0, int32_t x1,
                                  int8_t *out)
{
    ooc_pool_params_t q = *(const ooc_pool_params_t *)op->params;
    const narrow_t g = narrow(v, row, x0, x1, q.stride_h, q.pad_top, q.stride_w, q.pad_left);
    q.batches = 1;
    q.out_h = 1;
    q.in_h = g.in_h, q.pad_top = g.pad_top, q.in_w = g.in_w, q.pad_left = g.pad_left, q.out_w = g.out_w;
    (op->kind == OOC_OP_AVERAGE_POOL_2D ? ooc_avg_pool_s8 : ooc_max_pool_s8)(&q, g.in, out);
}

/* One output row of a windowed operator (conv, depthwise, pooling): the kernel runs on a copy
   of its parameters narrowed to that row and the strip's columns. */
static void window_row(const run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out,
                       const void *const *ins, int32_t c0, int32_t c1)
{
    const ooc_node_t *nd = &r->nodes[n];
    const ooc_op_t *op = &r->ctx->model->ops[nd->op];
    const view_t v = input_view(r, n, 0u);
    if (op->kind == OOC_OP_CONV_2D || op->kind == OOC_OP_DEPTHWISE_CONV_2D) {
        ooc_conv_params_t q = *(const ooc_conv_params_t *)op->params;
        const narrow_t g = narrow(&v, row, x0, x1, q.stride_h, q.pad_top, q.stride_w, q.pad_left);
        q.batches = 1;
        q.out_h = 1;
        q.in_h = g.in_h, q.pad_top = g.pad_top, q.in_w = g.in_w, q.pad_left = g.pad_left, q.out_w = g.out_w;
        c1 = c1 == 0 ? q.out_c : c1;
        if (op->kind == OOC_OP_CONV_2D) {
            ooc_conv2d_s8_channels(&q, g.in, (const int8_t *)ins[1], (const int32_t *)ins[2], out, c0, c1);
        } else {
            ooc_depthwise_conv2d_s8_channels(&q, g.in, (const int8_t *)ins[1], (const int32_t *)ins[2], out, c0, c1);
        }
    } else {
        pool_row(op, &v, row, x0, x1, out);
    }
}

/* One row of a channel-split chain's projection. For each group of expanded channels
   [c0, c0 + g): the expansion rows the depthwise window reads, for those channels only, then the
   depthwise row for them, then their share of the projection's int32 sums; the sums are
   requantized once every group has added in. Expansion rows are recomputed for every projection
   row that reads them (the planner costs that as MACs). Kept out of line: its frame is not
   produce()'s, which every row of every block runs. */
static OOC_NOINLINE int pex_row(const run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out)
{
    const ooc_node_t *nd = &r->nodes[n];
    const ooc_op_t *ops = &r->ctx->model->ops[nd->op];
    const uint32_t span = node_ops(r->ctx->model, nd);
    const void *ins[4][3];
    uint32_t o, i, k = r->first_chunk[n];
    const ooc_conv_params_t *e = (const ooc_conv_params_t *)ops[0].params;
    const ooc_conv_params_t dd = pex_depthwise(ops, span), *d = &dd;
    const ooc_conv_params_t *pr = (const ooc_conv_params_t *)ops[span - 1u].params;
    const view_t v = input_view(r, n, 0u);
    const int32_t w = x1 - x0, chans = d->in_c, taps = d->k_h * d->k_w;
    const int8_t *dw_filter;
    const int32_t *e_bias, *d_bias;
    uint8_t *scratch = r->ctx->cfg.arena + r->b->scratch;
    int32_t *sums = (int32_t *)(void *)scratch;
    int8_t *ex, *dw, *df;
    int32_t ya, yb, xa, xb, c0, y, t;
    for (o = 0; o < span; o++) { /* filters and biases; paged ones lie in the slot in operator order */
        for (i = 0; i < 3u; i++) {
            const uint16_t tn = i < ops[o].n_inputs ? ops[o].inputs[i] : OOC_NO_TENSOR;
            ins[o][i] = tn != OOC_NO_TENSOR ? r->ctx->model->tensors[tn].data : NULL;
            if (tn != OOC_NO_TENSOR && ins[o][i] == NULL && r->ctx->model->tensors[tn].offset == OOC_TENSOR_PAGED &&
                r->slot != NULL) {
                ins[o][i] = chunk_data(r, k++);
            }
        }
    }
    dw_filter = (const int8_t *)ins[span - 2u][1];
    e_bias = (const int32_t *)ins[0][2], d_bias = (const int32_t *)ins[span - 2u][2];
    pex_window(d, row, x0, x1, &ya, &yb, &xa, &xb);
    if ((uint64_t)r->b->scratch + pex_scratch(d, pr, nd->group, (uint32_t)w, (uint32_t)((yb - ya) * (xb - xa))) >
            r->ctx->model->arena_bytes ||
        ya < v.lo || yb > v.hi || xa < v.x0 || xb > v.x1) {
        return OOC_ERR_CORRUPT;
    }
    ex = (int8_t *)(scratch + align4(4u * (uint32_t)(w * pr->out_c)));
    dw = ex + align4((uint32_t)((yb - ya) * (xb - xa)) * nd->group);
    df = dw + align4((uint32_t)w * nd->group);
    ooc_conv_sums_init(pr, (const int32_t *)ins[span - 1u][2], w, sums);
    for (c0 = 0; c0 < chans; c0 += nd->group) {
        const int32_t g = chans - c0 < nd->group ? chans - c0 : nd->group;
        ooc_conv_params_t q = *e;
        view_t sv;
        narrow_t nw;
        /* the expansion's channels [c0, c0 + g), row by row over the window's columns */
        q.batches = 1, q.in_h = 1, q.out_h = 1, q.in_w = xb - xa, q.out_w = xb - xa, q.out_c = g;
        q.pad_top = 0, q.pad_left = 0;
        q.out_multiplier = e->out_multiplier + c0, q.out_shift = e->out_shift + c0;
        for (y = ya; y < yb; y++) {
            ooc_conv2d_s8(&q, v.base + (y - v.lo) * v.pitch + (xa - v.x0) * e->in_c,
                          (const int8_t *)ins[0][1] + c0 * e->in_c, e_bias != NULL ? e_bias + c0 : NULL,
                          ex + (y - ya) * (xb - xa) * g);
        }
        /* the depthwise row for them, its taps for these channels gathered contiguous */
        for (t = 0; t < taps; t++) {
            memcpy(df + t * g, dw_filter + t * chans + c0, (size_t)g);
        }
        sv.base = ex, sv.lo = ya, sv.hi = yb, sv.x0 = xa, sv.x1 = xb, sv.pitch = (xb - xa) * g;
        q = *d;
        nw = narrow(&sv, row, x0, x1, q.stride_h, q.pad_top, q.stride_w, q.pad_left);
        q.batches = 1, q.out_h = 1;
        q.in_h = nw.in_h, q.pad_top = nw.pad_top, q.in_w = nw.in_w, q.pad_left = nw.pad_left, q.out_w = nw.out_w;
        q.in_c = g, q.out_c = g;
        q.out_multiplier = d->out_multiplier + c0, q.out_shift = d->out_shift + c0;
        ooc_depthwise_conv2d_s8(&q, nw.in, df, d_bias != NULL ? d_bias + c0 : NULL, dw);
        /* their share of the projection */
        ooc_pointwise_accumulate_s8(pr, dw, w, (const int8_t *)ins[span - 1u][1], c0, c0 + g, sums);
    }
    ooc_conv_sums_finish_s8(pr, sums, w, out);
    return OOC_OK;
}

/* One row of a one-input operator applied element by element: `span` int8 inputs, `span` outputs
   (DEQUANTIZE: float32, into the whole model output). */
static OOC_NOINLINE void unary_row(const ooc_op_t *op, const int8_t *in, void *out, int32_t span)
{
    switch (op->kind) {
    case OOC_OP_RELU:
    case OOC_OP_RELU_N1_TO_1:
        ooc_relu_s8((const ooc_activation_params_t *)op->params, in, (int8_t *)out, span);
        break;
    case OOC_OP_RELU6:
        ooc_relu6_s8((const ooc_activation_params_t *)op->params, in, (int8_t *)out, span);
        break;
    case OOC_OP_LEAKY_RELU:
        ooc_leaky_relu_s8((const ooc_activation_params_t *)op->params, in, (int8_t *)out, span);
        break;
    case OOC_OP_HARD_SWISH:
        ooc_hard_swish_s8((const ooc_hard_swish_params_t *)op->params, in, (int8_t *)out, span);
        break;
    case OOC_OP_LOGISTIC:
    case OOC_OP_TANH:
        ooc_lut_s8((const ooc_lut_params_t *)op->params, in, (int8_t *)out, span);
        break;
    default: { /* REQUANTIZE, DEQUANTIZE (fused_check.c admits no other kind here) */
        ooc_quantize_params_t q = *(const ooc_quantize_params_t *)op->params;
        q.count = span;
        if (op->kind == OOC_OP_DEQUANTIZE) {
            ooc_dequantize_s8_f32(&q, in, (float *)out);
        } else {
            ooc_requantize_s8(&q, in, (int8_t *)out);
        }
        break;
    }
    }
}

/* One row of a binary operator: each operand is the output's shape (rows from its view) or
   broadcast over rows and columns (its channels, or one value: a constant, or a whole tensor). */
static OOC_NOINLINE void binary_row(const run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out,
                       const void *const *ins)
{
    const ooc_node_t *nd = &r->nodes[n];
    const ooc_op_t *op = &r->ctx->model->ops[nd->op];
    const int32_t c = nd->channels;
    const int8_t *in[2];
    int32_t stride[2][2];
    ooc_elementwise_params_t q = *(const ooc_elementwise_params_t *)op->params;
    uint32_t i;
    for (i = 0; i < 2u; i++) {
        const ooc_tensor_t *t = &r->ctx->model->tensors[op->inputs[i]];
        const uint32_t bytes = t->bytes;
        if (bytes == (uint32_t)nd->rows * nd->width * nd->channels && t->data == NULL &&
            t->offset != OOC_TENSOR_PAGED) {
            const view_t v = input_view(r, n, i);
            in[i] = v.base + (row - v.lo) * v.pitch + (x0 - v.x0) * c;
            stride[i][0] = c, stride[i][1] = 1;
        } else {
            in[i] = ins[i] != NULL ? (const int8_t *)ins[i] : (const int8_t *)tensor_ptr(r->ctx, op->inputs[i]);
            stride[i][0] = 0, stride[i][1] = bytes == 1u ? 0 : 1;
        }
    }
    q.rank = 2;
    q.out_dims[0] = x1 - x0, q.out_dims[1] = c;
    q.in1_strides[0] = stride[0][0], q.in1_strides[1] = stride[0][1];
    q.in2_strides[0] = stride[1][0], q.in2_strides[1] = stride[1][1];
    switch (op->kind) {
    case OOC_OP_ADD: ooc_add_s8(&q, in[0], in[1], out); break;
    case OOC_OP_MUL: ooc_mul_s8(&q, in[0], in[1], out); break;
    case OOC_OP_SUB: ooc_sub_s8(&q, in[0], in[1], out); break;
    case OOC_OP_MINIMUM: ooc_minimum_s8(&q, in[0], in[1], out); break;
    case OOC_OP_MAXIMUM: ooc_maximum_s8(&q, in[0], in[1], out); break;
    default: ooc_squared_difference_s8(&q, in[0], in[1], out); break;
    }
}

/* Rows node `n`'s next call makes: its row group (a streamed convolution's), else one. */
static uint32_t call_rows(const run_t *r, uint32_t n)
{
    const ooc_node_t *nd = &r->nodes[n];
    const uint32_t left = (uint32_t)nd->rows - r->done[n];
    if (nd->rows_per_load <= 1u || r->stream_at[n + 1u] == r->stream_at[n]) {
        return 1u;
    }
    return left < nd->rows_per_load ? left : nd->rows_per_load;
}

/* The next rows of streamed convolution node `n` with a row group: each piece read once for
   all of them (rather than once a row), the rows placed in the ring first. */
static OOC_NOINLINE int produce_group(run_t *r, uint32_t n, uint32_t g)
{
    ooc_ctx_t *ctx = r->ctx;
    const ooc_node_t *nd = &r->nodes[n];
    const int32_t row = r->done[n], x0 = r->cols[2u * n], x1 = r->cols[2u * n + 1u];
    const int32_t span = (x1 - x0) * nd->channels;
    const void *ins[OOC_MAX_INPUTS] = {NULL, NULL, NULL};
    const uint32_t pieces = (uint32_t)r->stream_at[n + 1u] - r->stream_at[n];
    uint8_t *base;
    uint32_t t, q;
    int rc = OOC_OK;
    for (t = 0; nd->cap != 0u && t < g; t++) { /* room for the rows: drop the oldest while full */
        uint8_t *ring = ctx->cfg.arena + nd->offset;
        if ((uint32_t)(row + (int32_t)t - r->lo[n]) == nd->cap) {
            memmove(ring, ring + span, (size_t)(nd->cap - 1u) * (size_t)span);
            r->lo[n]++;
        }
    }
    base = nd->cap != 0u ? ctx->cfg.arena + nd->offset + (row - r->lo[n]) * span
                         : tensor_ptr(ctx, nd->tensor) + ((int32_t)row * nd->width + x0) * nd->channels;
    for (q = 0; rc == OOC_OK && q < pieces; q++) {
        const ooc_step_t *st = &ctx->model->steps[r->stream_step + r->stream_at[n] + q];
        rc = ooc_pager_load_stream(ctx, r->stream_step + r->stream_at[n] + q, r->stream, r->stream_cap, ins);
        for (t = 0; rc == OOC_OK && t < g; t++) {
            const int32_t pitch = nd->cap != 0u ? span : nd->width * nd->channels;
            window_row(r, n, row + (int32_t)t, x0, x1, (int8_t *)(base + (int32_t)t * pitch), ins, st->c0, st->c1);
        }
    }
    for (t = 0; rc == OOC_OK && t < g && n + 1u == r->b->n_nodes && r->out_spill != NULL; t++) {
        rc = ooc_fused_spill_out_row(r, row + (int32_t)t, x0, x1, (const int8_t *)(base + (int32_t)t * span));
    }
    r->done[n] = (uint16_t)(r->done[n] + g);
    return rc;
}

/* Make the next row of node `n` (or its row group's rows). */
static int produce(run_t *r, uint32_t n)
{
    ooc_ctx_t *ctx = r->ctx;
    const ooc_node_t *nd = &r->nodes[n];
    const int32_t row = r->done[n];
    const int32_t x0 = r->cols[2u * n], x1 = r->cols[2u * n + 1u];
    const int32_t c = nd->channels, span = (x1 - x0) * c;
    const ooc_op_t *op = nd->mode == OOC_NODE_INPUT || nd->mode == OOC_NODE_SPILL_IN ? NULL : &ctx->model->ops[nd->op];
    int8_t *out = NULL;
    int rc = OOC_OK;
    if (nd->rows_per_load > 1u && r->stream_at[n + 1u] != r->stream_at[n]) {
        return produce_group(r, n, call_rows(r, n));
    }
    if (nd->mode == OOC_NODE_REDUCE) {
        const view_t v = input_view(r, n, 0u);
        const int8_t *in = v.base + (row - v.lo) * v.pitch + (x0 - v.x0) * c;
        uint32_t *acc = (uint32_t *)(void *)(ctx->cfg.arena + nd->offset);
        int32_t x, ch;
        for (x = 0; x < x1 - x0; x++) {
            for (ch = 0; ch < c; ch++) {
                acc[ch] += (uint32_t)(int32_t)in[x * c + ch];
            }
        }
        r->done[n]++;
        return OOC_OK;
    }
    if (nd->cap != 0u) {
        uint8_t *ring = ctx->cfg.arena + nd->offset;
        if ((uint32_t)(r->done[n] - r->lo[n]) == nd->cap) { /* full: drop the oldest row */
            memmove(ring, ring + span, (size_t)(nd->cap - 1u) * (size_t)span);
            r->lo[n]++;
        }
        out = (int8_t *)(ring + (row - r->lo[n]) * span);
    } else {
        out = (int8_t *)tensor_ptr(ctx, nd->tensor) + ((int32_t)row * nd->width + x0) * c;
    }
    if (nd->mode == OOC_NODE_INPUT) {
        rc = read_input(ctx, nd->tensor, (uint32_t)((row * nd->width + x0) * c), out, (uint32_t)span);
    } else if (nd->mode == OOC_NODE_SPILL_IN) {
        rc = ooc_fused_spill_in_row(r, n, row, x0, x1, out);
    } else if (nd->mode == OOC_NODE_TRANSPOSE_IN) {
        /* NCHW input: one row of each channel plane through the scratch bytes, interleaved */
        uint8_t *scratch = ctx->cfg.arena + r->b->scratch;
        int32_t ch, x;
        for (ch = 0; rc == OOC_OK && ch < c; ch++) {
            rc = read_input(ctx, op->inputs[0], (uint32_t)((ch * nd->rows + row) * nd->width + x0), scratch,
                            (uint32_t)(x1 - x0));
            for (x = 0; rc == OOC_OK && x < x1 - x0; x++) {
                out[x * c + ch] = (int8_t)scratch[x];
            }
        }
    } else if (nd->mode == OOC_NODE_QUANTIZE_IN) {
        /* float32 input: the row's floats through the scratch bytes, quantized */
        float *f = (float *)(void *)(ctx->cfg.arena + r->b->scratch);
        ooc_quantize_params_t q = *(const ooc_quantize_params_t *)op->params;
        rc = read_input(ctx, op->inputs[0], 4u * (uint32_t)((row * nd->width + x0) * c), f, 4u * (uint32_t)span);
        if (rc == OOC_OK) {
            q.count = span;
            ooc_quantize_f32_s8(&q, f, out);
        }
    } else if (nd->mode == OOC_NODE_PEX) {
        rc = pex_row(r, n, row, x0, x1, out);
        if (rc == OOC_OK && n + 1u == r->b->n_nodes && r->out_spill != NULL) {
            rc = ooc_fused_spill_out_row(r, row, x0, x1, out);
        }
    } else {
        const void *ins[OOC_MAX_INPUTS] = {NULL, NULL, NULL};
        const uint32_t pieces = (uint32_t)r->stream_at[n + 1u] - r->stream_at[n];
        uint32_t i, k = r->first_chunk[n];
        for (i = 0; i < op->n_inputs && i < 3u; i++) {
            const uint16_t t = op->inputs[i];
            if (t == OOC_NO_TENSOR) {
                continue;
            }
            ins[i] = ctx->model->tensors[t].data;
            if (ins[i] == NULL && ctx->model->tensors[t].offset == OOC_TENSOR_PAGED && r->slot != NULL &&
                pieces == 0u) {
                ins[i] = chunk_data(r, k++);
            }
        }
        switch (op->kind) {
        case OOC_OP_CONV_2D:
        case OOC_OP_DEPTHWISE_CONV_2D:
            if (pieces != 0u) { /* streamed: read each piece again and make its channels */
                uint32_t q;
                for (q = 0; rc == OOC_OK && q < pieces; q++) {
                    const uint32_t s = r->stream_step + r->stream_at[n] + q;
                    const ooc_step_t *st = &ctx->model->steps[s];
                    rc = ooc_pager_load_stream(ctx, s, r->stream, r->stream_cap, ins);
                    if (rc == OOC_OK) {
                        window_row(r, n, row, x0, x1, out, ins, st->c0, st->c1);
                    }
                }
                break;
            }
            window_row(r, n, row, x0, x1, out, ins, 0, 0);
            break;
        case OOC_OP_AVERAGE_POOL_2D:
        case OOC_OP_MAX_POOL_2D:
            window_row(r, n, row, x0, x1, out, ins, 0, 0);
            break;
        case OOC_OP_PAD: {
            const ooc_pad_params_t *p = (const ooc_pad_params_t *)op->params;
            const int32_t yi = row - p->pad_before[1], pl = p->pad_before[2], w_in = p->in_dims[2];
            memset(out, (int8_t)p->pad_value, (size_t)span);
            if (yi >= 0 && yi < p->in_dims[1]) {
                const view_t v = input_view(r, n, 0u);
                const int32_t xa = x0 > pl ? x0 : pl, xb = x1 < pl + w_in ? x1 : pl + w_in;
                if (xb > xa) {
                    memcpy(out + (xa - x0) * c, v.base + (yi - v.lo) * v.pitch + (xa - pl - v.x0) * c,
                           (size_t)((xb - xa) * c));
                }
            }
            break;
        }
        case OOC_OP_ADD:
        case OOC_OP_MUL:
        case OOC_OP_SUB:
        case OOC_OP_MINIMUM:
        case OOC_OP_MAXIMUM:
        case OOC_OP_SQUARED_DIFFERENCE:
            binary_row(r, n, row, x0, x1, out, ins);
            break;
        case OOC_OP_RESIZE_NEAREST_NEIGHBOR: { /* each column of the row it copies */
            const ooc_resize_params_t *p = (const ooc_resize_params_t *)op->params;
            const view_t v = input_view(r, n, 0u);
            const int8_t *in = v.base + (p->row_map[row] - v.lo) * v.pitch;
            int32_t x;
            for (x = x0; x < x1; x++) {
                memcpy(out + (x - x0) * c, in + (p->col_map[x] - v.x0) * c, (size_t)c);
            }
            break;
        }
        case OOC_OP_CONCATENATION: { /* along channels: each pixel's channels, input after input */
            uint32_t i;
            int32_t x, at = 0;
            for (i = 0; i < op->n_inputs; i++) {
                const view_t v = input_view(r, n, i);
                const int32_t ci = (int32_t)(ctx->model->tensors[op->inputs[i]].bytes / ((uint32_t)nd->rows * nd->width));
                const int8_t *in = v.base + (row - v.lo) * v.pitch + (x0 - v.x0) * ci;
                for (x = 0; x < x1 - x0; x++) {
                    memcpy(out + x * c + at, in + x * ci, (size_t)ci);
                }
                at += ci;
            }
            break;
        }
        case OOC_OP_RELU:
        case OOC_OP_RELU6:
        case OOC_OP_RELU_N1_TO_1:
        case OOC_OP_LEAKY_RELU:
        case OOC_OP_HARD_SWISH:
        case OOC_OP_LOGISTIC:
        case OOC_OP_TANH:
        case OOC_OP_REQUANTIZE:
        case OOC_OP_DEQUANTIZE: {
            const view_t v = input_view(r, n, 0u);
            void *dst = out;
            if (op->kind == OOC_OP_DEQUANTIZE) { /* a whole float32 model output (fused_check.c) */
                dst = (float *)(void *)tensor_ptr(ctx, nd->tensor) + (row * nd->width + x0) * c;
            }
            unary_row(op, v.base + (row - v.lo) * v.pitch + (x0 - v.x0) * c, dst, span);
            break;
        }
        default:
            rc = OOC_ERR_CORRUPT; /* ooc_check_blocks() admits no other kind */
            break;
        }
        if (rc == OOC_OK && n + 1u == r->b->n_nodes && r->out_spill != NULL) {
            rc = ooc_fused_spill_out_row(r, row, x0, x1, out);
        }
    }
    r->done[n]++;
    return rc;
}

/* One strip: the sink pulls (see the top of this file). The descent from a node goes to its first
   input lacking a row that node's next row reads; once that input made its row, the descent
   resumes at the node above it rather than at the sink: making a row changes only that node's
   count, so every node above it on the path still lacks the same input and would choose as
   before. Sources come before their readers (fused_check.c), so the path is a set of falling
   node indices: a bit each (OOC_MAX_BLOCK_NODES is 64), the node at its end the lowest bit,
   the one above it the next (8 bytes on the deepest stack path rather than an array). */
static int pull_strip(run_t *r)
{
    const ooc_model_t *m = r->ctx->model;
    const uint32_t sink = r->b->n_nodes - 1u;
    uint64_t path = (uint64_t)1u << sink;
    uint32_t j = sink;
    int rc = OOC_OK;
    while (rc == OOC_OK && r->done[sink] < r->nodes[sink].rows) {
        for (;;) {
            const ooc_node_t *nd = &r->nodes[j];
            uint32_t i, next = j;
            const uint32_t n_src = node_srcs(m, nd);
            for (i = 0; i < n_src && next == j; i++) {
                const uint16_t q = node_src(m, r->nodes, j, i);
                if (q != OOC_NODE_WHOLE && r->done[q] < need_rows(m, nd, i, r->done[j] + call_rows(r, j), r->nodes[q].rows)) {
                    next = q;
                }
            }
            if (next == j) {
                break;
            }
            j = next;
            path |= (uint64_t)1u << j;
        }
        rc = produce(r, j);
        if (j != sink) { /* back to the node above it on the path */
            path &= ~((uint64_t)1u << j);
            while (((path >> ++j) & 1u) == 0u) {
            }
        }
    }
    return rc;
}

/* A block of one OOC_NODE_CONV_MEAN node: the convolution's filter and bias (resident in the
   slot out of core; never streamed), then fused_mean.c. */
static int conv_mean_block(const run_t *r)
{
    const ooc_model_t *m = r->ctx->model;
    const ooc_op_t *op = &m->ops[r->nodes[0].op];
    const void *w[2] = {NULL, NULL};
    uint32_t i, k = r->first_chunk[0];
    if (r->stream_at[1] != r->stream_at[0]) {
        return OOC_ERR_CORRUPT; /* the planner streams no such node */
    }
    for (i = 0; i < 2u && i + 1u < op->n_inputs; i++) {
        const uint16_t t = op->inputs[i + 1u];
        if (t != OOC_NO_TENSOR) {
            w[i] = m->tensors[t].data;
            if (w[i] == NULL && m->tensors[t].offset == OOC_TENSOR_PAGED && r->slot != NULL) {
                w[i] = chunk_data(r, k++);
            }
        }
    }
    return ooc_fused_conv_mean(r, (const int8_t *)w[0], (const int32_t *)w[1]);
}

int ooc_run_block(ooc_ctx_t *ctx, const ooc_block_t *b, uint8_t *slot, uint32_t step)
{
    run_t r;
    const ooc_model_t *m = ctx->model;
    const uint32_t sink = b->n_nodes - 1u;
    uint32_t strip, n, k = 0, s;
    int rc = OOC_OK;
    r.ctx = ctx;
    r.b = b;
    r.nodes = m->nodes + b->first_node;
    r.slot = slot;
    r.n_chunks = step != OOC_NO_STEP ? m->steps[step].n_chunks : 0u;
    r.data_base = 0;
    r.stream = NULL;
    r.stream_cap = 0;
    if (slot != NULL) { /* the streamed pieces go after the resident chunks' 4-aligned data */
        uint32_t end = 0, c;
        for (c = 0; c < r.n_chunks; c++) {
            ooc_chunk_info_t info;
            ooc_image_entry_info(slot + c * OOC_IMG_CE_BYTES, &info);
            if (c == 0u) {
                r.data_base = info.flash_offset;
            }
            end = info.flash_offset - r.data_base + ((info.length + 3u) & ~3u);
        }
        end += r.n_chunks * OOC_IMG_CE_BYTES;
        if (end > m->slot_bytes) {
            return OOC_ERR_AUTH; /* the pager admitted no such entries (load_begin) */
        }
        r.stream = slot + end;
        r.stream_cap = m->slot_bytes - end;
    }
    r.out_spill = m->n_spills != 0u ? ooc_spill_entry(ctx->model, r.nodes[sink].tensor) : NULL;
    r.written = 0;
    s = step != OOC_NO_STEP ? step + 1u : m->n_steps; /* the streamed pieces follow the block's step */
    r.stream_step = s;
    for (n = 0; n < b->n_nodes; n++) { /* the nodes' operators are the block's, in order */
        const uint32_t s0 = s;
        r.first_chunk[n] = (uint16_t)k;
        if (s - r.stream_step > UINT16_MAX) {
            return OOC_ERR_CORRUPT; /* more pieces than the offsets hold */
        }
        r.stream_at[n] = (uint16_t)(s - r.stream_step);
        if (r.nodes[n].mode != OOC_NODE_INPUT && r.nodes[n].mode != OOC_NODE_SPILL_IN) {
            const ooc_op_t *op = &m->ops[r.nodes[n].op];
            uint32_t q;
            while (s < m->n_steps && (m->steps[s].flags & OOC_STEP_STREAM) != 0u && m->steps[s].op == r.nodes[n].op) {
                s++; /* ooc_pager_check(): pieces in operator order, each a convolution */
            }
            for (q = 0; s == s0 && q < node_ops(m, &r.nodes[n]) * 3u; q++) { /* a chain: each operator */
                const ooc_op_t *o = op + q / 3u;
                const uint16_t t = q % 3u < o->n_inputs ? o->inputs[q % 3u] : OOC_NO_TENSOR;
                k += t != OOC_NO_TENSOR && m->tensors[t].data == NULL && m->tensors[t].offset == OOC_TENSOR_PAGED;
            }
        }
    }
    if (s - r.stream_step > UINT16_MAX) {
        return OOC_ERR_CORRUPT;
    }
    r.stream_at[b->n_nodes] = (uint16_t)(s - r.stream_step);
    if (step != OOC_NO_STEP && (k != r.n_chunks || (s < m->n_steps && (m->steps[s].flags & OOC_STEP_STREAM) != 0u))) {
        return OOC_ERR_CORRUPT; /* ooc_pager_check() admits no other layout */
    }
    if (r.nodes[sink].mode == OOC_NODE_CONV_MEAN) {
        return conv_mean_block(&r);
    }
    if (r.nodes[sink].mode == OOC_NODE_REDUCE) {
        memset(ctx->cfg.arena + r.nodes[sink].offset, 0, 4u * r.nodes[sink].channels);
    }
    for (strip = 0; rc == OOC_OK && strip < b->n_strips; strip++) {
        r.cols = b->cols + 2u * (uint32_t)b->n_nodes * strip;
        for (n = 0; n < b->n_nodes; n++) {
            r.done[n] = 0;
            r.lo[n] = 0;
        }
        rc = pull_strip(&r);
    }
    if (rc == OOC_OK && r.out_spill != NULL && r.written != (uint32_t)r.out_spill->n_parts * r.out_spill->rows) {
        rc = OOC_ERR_CORRUPT; /* every record of the tensor, each once */
    }
    if (rc == OOC_OK && r.nodes[sink].mode == OOC_NODE_REDUCE) {
        const ooc_node_t *nd = &r.nodes[sink];
        const ooc_op_t *op = &ctx->model->ops[nd->op];
        const void *acc = ctx->cfg.arena + nd->offset;
        int8_t *out = (int8_t *)tensor_ptr(ctx, op->output);
        if (op->kind == OOC_OP_MEAN) {
            ooc_mean_finish_s8((const ooc_mean_params_t *)op->params, (const uint32_t *)acc, out, nd->channels);
        } else {
            ooc_avg_pool_finish_s8((const ooc_pool_params_t *)op->params, (const int32_t *)acc, out);
        }
    }
    return rc;
}
