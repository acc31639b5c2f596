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
 */
#include <string.h>

#include "fused.h"
#include "ooc/ooc_image.h"
#include "ooc/ooc_kernels.h"
#include "ooc/ooc_spill.h"

#if defined(__GNUC__)
#define OOC_FUSED_NOINLINE __attribute__((noinline))
#else
#define OOC_FUSED_NOINLINE
#endif

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

/* A spilled tensor's state in the arena (OOC_SPILL_STATE_BYTES at ooc_spill_tensor_t.state):
   the ref of its record 0, which the producer stores, and a read cursor (a record number and
   its ref) that the readers walk forward, so the next row's records are a step or two on. */
#define ST_REF0 0u
#define ST_CURSOR 32u
#define ST_CURSOR_K 64u
OOC_IMG_STATIC_ASSERT(spill_ref_fits_state, sizeof(ooc_spill_ref_t) <= ST_CURSOR - ST_REF0 &&
                                                ST_CURSOR_K + 4u <= OOC_SPILL_STATE_BYTES);

const ooc_spill_tensor_t *ooc_spill_entry(const ooc_model_t *m, uint32_t tensor)
{
    uint32_t i;
    for (i = 0; i < m->n_spills; i++) {
        if (m->spills[i].tensor == tensor) {
            return &m->spills[i];
        }
    }
    return NULL;
}

int ooc_block_spills(const ooc_model_t *m, const ooc_block_t *b)
{
    uint32_t n;
    for (n = 0; m->n_spills != 0u && n < b->n_nodes; n++) {
        const ooc_node_t *nd = &m->nodes[b->first_node + n];
        if (nd->mode == OOC_NODE_SPILL_IN || (n + 1u == b->n_nodes && ooc_spill_entry(m, nd->tensor) != NULL)) {
            return 1;
        }
    }
    return 0;
}

/* The part record number `k` of tensor `e` belongs to, or e->n_parts when none. */
static uint32_t part_of(const ooc_spill_tensor_t *e, uint32_t k)
{
    uint32_t p;
    for (p = 0; p < e->n_parts; p++) {
        const ooc_spill_part_t *q = &e->parts[p];
        if (k >= q->first && (k - q->first) % q->stride == 0u && (k - q->first) / q->stride < e->rows) {
            return p;
        }
    }
    return e->n_parts;
}

static uint32_t part_bytes(const ooc_spill_tensor_t *e, uint32_t p)
{
    return (uint32_t)(e->parts[p].x1 - e->parts[p].x0) * e->channels;
}

/* The ref of record `k` of tensor `e`: walk the tensor's cursor forward from its record, or
   from record 0 when it is past `k`. Refs are computed from RAM only (the producer's ref of
   record 0 and the ring's geometry); a wrong one cannot pass the tag check. */
static int ref_at(run_t *r, const ooc_spill_tensor_t *e, uint32_t k, ooc_spill_ref_t *out)
{
    uint8_t *st = r->ctx->cfg.arena + e->state;
    uint32_t at;
    memcpy(&at, st + ST_CURSOR_K, sizeof at);
    memcpy(out, st + (at > k ? ST_REF0 : ST_CURSOR), sizeof *out);
    at = at > k ? 0u : at;
    while (at < k) {
        const uint32_t j = at + 1u, p = part_of(e, j);
        int rc;
        if (p >= e->n_parts) {
            return OOC_ERR_CORRUPT;
        }
        rc = ooc_spill_ref_next(r->ctx->cfg.spill, out, e->tensor, j, part_bytes(e, p), out);
        if (rc < 0) {
            return rc;
        }
        at = j;
    }
    memcpy(st + ST_CURSOR, out, sizeof *out);
    memcpy(st + ST_CURSOR_K, &at, sizeof at);
    return OOC_OK;
}

/* Row `row`, columns [x0, x1), of spilled tensor `e` into `out`: every part the columns touch,
   read straight into place when it lies inside them, else through the block's scratch. */
static int spill_in_row(run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out)
{
    const ooc_spill_tensor_t *e = ooc_spill_entry(r->ctx->model, r->nodes[n].tensor);
    const int32_t ch = (int32_t)r->nodes[n].channels;
    uint32_t p;
    int rc = OOC_OK;
    if (e == NULL) {
        return OOC_ERR_CORRUPT;
    }
    for (p = 0; rc == OOC_OK && p < e->n_parts; p++) {
        const ooc_spill_part_t *q = &e->parts[p];
        const int32_t xa = x0 > q->x0 ? x0 : q->x0, xb = x1 < q->x1 ? x1 : q->x1;
        const uint32_t k = q->first + (uint32_t)row * q->stride, len = part_bytes(e, p);
        ooc_spill_ref_t ref;
        if (xa >= xb) {
            continue;
        }
        rc = ref_at(r, e, k, &ref);
        if (rc != OOC_OK) {
            break;
        }
        if (q->x0 >= x0 && q->x1 <= x1) {
            rc = ooc_spill_read(r->ctx->cfg.spill, &ref, e->tensor, k, out + (q->x0 - x0) * ch, len);
        } else {
            uint8_t *scratch = r->ctx->cfg.arena + r->b->scratch;
            if ((uint64_t)r->b->scratch + len > r->ctx->model->arena_bytes) {
                return OOC_ERR_CORRUPT;
            }
            rc = ooc_spill_read(r->ctx->cfg.spill, &ref, e->tensor, k, scratch, len);
            if (rc == OOC_OK) {
                memcpy(out + (xa - x0) * ch, scratch + (xa - q->x0) * ch, (size_t)((xb - xa) * ch));
            }
        }
    }
    return rc;
}

/* The sink just made row `row` (columns [x0, x1), at `data`) of a spilled tensor: write the
   strip's parts of it, in the planned order. */
static int spill_out_row(run_t *r, int32_t row, int32_t x0, int32_t x1, const int8_t *data)
{
    const ooc_spill_tensor_t *e = r->out_spill;
    const int32_t ch = (int32_t)e->channels;
    uint32_t p;
    for (p = 0; p < e->n_parts; p++) {
        const ooc_spill_part_t *q = &e->parts[p];
        const uint32_t k = q->first + (uint32_t)row * q->stride;
        ooc_spill_ref_t ref;
        int rc;
        if (q->x1 <= x0 || q->x0 >= x1) {
            continue;
        }
        if (q->x0 < x0 || q->x1 > x1 || k != r->written) {
            return OOC_ERR_CORRUPT; /* the parts must tile the strip, numbered in write order */
        }
        rc = ooc_spill_write(r->ctx->cfg.spill, e->tensor, k, data + (q->x0 - x0) * ch, part_bytes(e, p), &ref);
        if (rc < 0) {
            return rc;
        }
        if (k == 0u) { /* this inference's record 0: the readers' cursor starts there */
            uint8_t *st = r->ctx->cfg.arena + e->state;
            memcpy(st + ST_REF0, &ref, sizeof ref);
            memcpy(st + ST_CURSOR, &ref, sizeof ref);
            memcpy(st + ST_CURSOR_K, &k, sizeof k);
        }
        r->written++;
    }
    return OOC_OK;
}

/* The decrypted data of chunk `k` of the block's step: the pager read the chunks back to back,
   so it lies as far after the first chunk's data as it does in flash. */
static const void *chunk_data(const run_t *r, uint32_t k)
{
    ooc_chunk_info_t info;
    ooc_image_entry_info(r->slot + k * OOC_IMG_CE_BYTES, &info);
    return r->slot + r->n_chunks * OOC_IMG_CE_BYTES + (info.flash_offset - r->data_base);
}

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Rows of input `i` (a prefix) the first `n` rows of node `nd` read. */
static uint32_t need_rows(const ooc_node_t *nd, uint32_t i, uint32_t n, uint32_t rows_in)
{
    const int32_t k = i == 0u ? nd->k : 1, s = i == 0u ? nd->s : 1, p = i == 0u ? nd->p : 0;
    if (n == 0u) {
        return 0u;
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
    const uint16_t q = nd->src[i];
    view_t v;
    int32_t h, w, c;
    input_dims(op, nd, &h, &w, &c);
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
        ooc_pool_params_t q = *(const ooc_pool_params_t *)op->params;
        const narrow_t g = narrow(&v, row, x0, x1, q.stride_h, q.pad_top, q.stride_w, q.pad_left);
        q.batches = 1;
        q.out_h = 1;
        q.in_h = g.in_h, q.pad_top = g.pad_top, q.in_w = g.in_w, q.pad_left = g.pad_left, q.out_w = g.out_w;
        (op->kind == OOC_OP_AVERAGE_POOL_2D ? ooc_avg_pool_s8 : ooc_max_pool_s8)(&q, g.in, out);
    }
}

static uint32_t align4(uint32_t n)
{
    return (n + 3u) & ~3u;
}

/* Operators a node stands for: a channel-split chain three (four with a PAD after the
   expansion), a streamed input none. */
static uint32_t node_ops(const ooc_model_t *m, const ooc_node_t *nd)
{
    if (nd->mode == OOC_NODE_PEX) {
        return (uint32_t)nd->op + 1u < m->n_ops && m->ops[nd->op + 1u].kind == OOC_OP_PAD ? 4u : 3u;
    }
    return nd->mode == OOC_NODE_INPUT || nd->mode == OOC_NODE_SPILL_IN ? 0u : 1u;
}

/* A chain's depthwise parameters as they apply to the expansion's output: a PAD between them
   (padding with the zero point the depthwise skips, check_pex) becomes the window's padding. */
static ooc_conv_params_t pex_depthwise(const ooc_op_t *ops, uint32_t span)
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
static void pex_window(const ooc_conv_params_t *d, int32_t row, int32_t x0, int32_t x1, int32_t *ya, int32_t *yb,
                       int32_t *xa, int32_t *xb)
{
    const int32_t yf = row * d->stride_h - d->pad_top, xf = x0 * d->stride_w - d->pad_left;
    *ya = clamp_i32(yf, 0, d->in_h);
    *yb = clamp_i32(yf + (d->k_h - 1) * d->dil_h + 1, *ya, d->in_h);
    *xa = clamp_i32(xf, 0, d->in_w);
    *xb = clamp_i32((x1 - 1) * d->stride_w - d->pad_left + (d->k_w - 1) * d->dil_w + 1, *xa, d->in_w);
}

/* Scratch bytes pex_row uses for `w` output columns whose window reads `window` expansion
   pixels (fusion/simulate.py's _pex_scratch sizes the block's scratch for the largest): the int32 sums,
   one group's window, its depthwise row, its taps. */
static uint32_t pex_scratch(const ooc_conv_params_t *d, const ooc_conv_params_t *pr, uint32_t group, uint32_t w,
                            uint32_t window)
{
    return align4(4u * w * (uint32_t)pr->out_c) + align4(window * group) + align4(w * group) +
           align4((uint32_t)(d->k_h * d->k_w) * group);
}

/* One row of a channel-split chain's projection. For each group of expanded channels
   [c0, c0 + g): the expansion rows the depthwise window reads, for those channels only, then the
   depthwise row for them, then their share of the projection's int32 sums; the sums are
   requantized once every group has added in. Expansion rows are recomputed for every projection
   row that reads them (the planner costs that as MACs). Kept out of line: its frame is not
   produce()'s, which every row of every block runs. */
static OOC_FUSED_NOINLINE int pex_row(const run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out)
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

/* Make the next row of node `n`. */
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
        rc = spill_in_row(r, n, row, x0, x1, out);
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
    } else if (nd->mode == OOC_NODE_PEX) {
        rc = pex_row(r, n, row, x0, x1, out);
        if (rc == OOC_OK && n + 1u == r->b->n_nodes && r->out_spill != NULL) {
            rc = spill_out_row(r, row, x0, x1, out);
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
                    rc = ooc_load_stream(ctx, s, r->stream, r->stream_cap, ins);
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
        case OOC_OP_MUL: {
            ooc_elementwise_params_t q = *(const ooc_elementwise_params_t *)op->params;
            const view_t a = input_view(r, n, 0u), b = input_view(r, n, 1u);
            q.rank = 1;
            q.out_dims[0] = span;
            q.in1_strides[0] = 1;
            q.in2_strides[0] = 1;
            (op->kind == OOC_OP_ADD ? ooc_add_s8 : ooc_mul_s8)(
                &q, a.base + (row - a.lo) * a.pitch + (x0 - a.x0) * c, b.base + (row - b.lo) * b.pitch + (x0 - b.x0) * c,
                out);
            break;
        }
        default:
            rc = OOC_ERR_CORRUPT; /* ooc_check_blocks() admits no other kind */
            break;
        }
        if (rc == OOC_OK && n + 1u == r->b->n_nodes && r->out_spill != NULL) {
            rc = spill_out_row(r, row, x0, x1, out);
        }
    }
    r->done[n]++;
    return rc;
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
            return OOC_ERR_AUTH; /* load_begin() admitted no such entries */
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
                s++; /* check_schedule(): pieces in operator order, each a convolution */
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
        return OOC_ERR_CORRUPT; /* check_schedule() admits no other layout */
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
        while (rc == OOC_OK && r.done[sink] < r.nodes[sink].rows) {
            uint32_t j = sink;
            for (;;) {
                const ooc_node_t *nd = &r.nodes[j];
                uint32_t i, next = j;
                for (i = 0; i < 2u && next == j; i++) {
                    const uint16_t q = nd->src[i];
                    if (q != OOC_NODE_WHOLE && r.done[q] < need_rows(nd, i, r.done[j] + 1u, r.nodes[q].rows)) {
                        next = q;
                    }
                }
                if (next == j) {
                    break;
                }
                j = next;
            }
            rc = produce(&r, j);
        }
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

/* One node against its block and the model. */
static int check_node(const ooc_model_t *m, const ooc_block_t *b, uint32_t n)
{
    const ooc_node_t *nd = &m->nodes[b->first_node + n];
    uint32_t s, i, widest = 0;
    if (nd->rows == 0u || nd->width == 0u || nd->channels == 0u || nd->k == 0u || nd->s == 0u ||
        nd->mode > OOC_NODE_PEX || nd->tensor >= m->n_tensors) {
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
    {
        const ooc_op_t *op = &m->ops[nd->op];
        const uint16_t k = op->kind;
        int ok;
        switch (nd->mode) {
        case OOC_NODE_PEX:
            ok = check_pex(m, b, n) == OOC_OK;
            break;
        case OOC_NODE_REDUCE:
            ok = (k == OOC_OP_MEAN || k == OOC_OP_AVERAGE_POOL_2D) && n + 1u == b->n_nodes && whole(m, op->output) &&
                 (uint64_t)nd->offset + 4u * (uint64_t)nd->channels <= m->arena_bytes && (nd->offset & 3u) == 0u;
            break;
        case OOC_NODE_TRANSPOSE_IN:
            ok = k == OOC_OP_TRANSPOSE && nd->tensor == op->output && widest <= m->arena_bytes &&
                 b->scratch <= m->arena_bytes - widest;
            break;
        default:
            ok = (k == OOC_OP_CONV_2D || k == OOC_OP_DEPTHWISE_CONV_2D || k == OOC_OP_AVERAGE_POOL_2D ||
                  k == OOC_OP_MAX_POOL_2D || k == OOC_OP_PAD || k == OOC_OP_ADD || k == OOC_OP_MUL) &&
                 nd->tensor == op->output && (k == OOC_OP_ADD || k == OOC_OP_MUL || nd->src[1] == OOC_NODE_WHOLE);
            break;
        }
        if (!ok) {
            return OOC_ERR_CORRUPT;
        }
        if (nd->mode != OOC_NODE_REDUCE) {
            if (nd->cap == 0u ? !whole(m, nd->tensor) || m->tensors[nd->tensor].bytes !=
                                                              (uint32_t)nd->rows * nd->width * nd->channels
                              : (uint64_t)nd->offset + (uint64_t)nd->cap * widest * nd->channels > m->arena_bytes) {
                return OOC_ERR_CORRUPT;
            }
        }
        for (i = 0; i < 2u && i < op->n_inputs; i++) {
            if (nd->src[i] == OOC_NODE_WHOLE && nd->mode != OOC_NODE_TRANSPOSE_IN &&
                (i == 0u || k == OOC_OP_ADD || k == OOC_OP_MUL) && !whole(m, op->inputs[i])) {
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
