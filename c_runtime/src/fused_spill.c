/*
 * Rows of spilled tensors in fused blocks: a block's sink writes each row's parts to the spill
 * ring as it makes them (ooc_spill_write()), and a later block's OOC_NODE_SPILL_IN node reads
 * them back (ooc_spill_read()), the refs computed from RAM (docs/spill.md).
 */
#include <string.h>

#include "fused_run.h"
#include "ooc/ooc_image.h"
#include "ooc/ooc_spill.h"

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
int ooc_fused_spill_in_row(run_t *r, uint32_t n, int32_t row, int32_t x0, int32_t x1, int8_t *out)
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
int ooc_fused_spill_out_row(run_t *r, int32_t row, int32_t x0, int32_t x1, const int8_t *data)
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
