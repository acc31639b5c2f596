/*
 * Init-time checks of the parameters of the data-movement, upsampling and selection operators
 * against their tensors (op_check.h).
 */
#include "op_check.h"

#include <stddef.h>

#include "ooc/ooc_errors.h"

static uint32_t tensor_bytes(const ooc_model_t *m, uint16_t t)
{
    return t < m->n_tensors ? m->tensors[t].bytes : 0u;
}

/* A strided copy writes `out` bytes and reads only inside the input's `in` bytes. */
int ooc_check_strided_copy(const ooc_strided_copy_params_t *p, uint32_t in, uint32_t out)
{
    int64_t lo = p->offset, hi = p->offset, count = 1;
    int32_t d;
    if (p->rank < 1 || p->rank > OOC_MAX_DIMS) {
        return OOC_ERR_CORRUPT;
    }
    for (d = 0; d < p->rank; d++) {
        int64_t reach = (int64_t)(p->out_dims[d] - 1) * p->in_strides[d];
        if (p->out_dims[d] < 1) {
            return OOC_ERR_CORRUPT;
        }
        count *= p->out_dims[d];
        if (reach < 0) {
            lo += reach;
        } else {
            hi += reach;
        }
    }
    return lo < 0 || hi >= (int64_t)in || count != (int64_t)out ? OOC_ERR_CORRUPT : OOC_OK;
}

/* The two sides of a block shuffle against the tensors; crops keep BATCH_TO_SPACE_ND inside. */
int ooc_check_space_batch(const ooc_space_batch_params_t *p, uint32_t in, uint32_t out)
{
    uint64_t space = (uint64_t)p->batches * (uint64_t)p->space_h * (uint64_t)p->space_w * (uint64_t)p->channels;
    uint64_t batch = (uint64_t)p->block_h * (uint64_t)p->block_w * (uint64_t)p->batches * (uint64_t)p->batch_h *
                     (uint64_t)p->batch_w * (uint64_t)p->channels;
    if (p->batches < 1 || p->space_h < 1 || p->space_w < 1 || p->batch_h < 1 || p->batch_w < 1 ||
        p->channels < 1 || p->block_h < 1 || p->block_w < 1 || p->pad_top < 0 || p->pad_left < 0) {
        return OOC_ERR_CORRUPT;
    }
    if (p->to_batch) {
        return space == in && batch == out ? OOC_OK : OOC_ERR_CORRUPT;
    }
    if ((p->space_h - 1 + p->pad_top) / p->block_h >= p->batch_h ||
        (p->space_w - 1 + p->pad_left) / p->block_w >= p->batch_w) {
        return OOC_ERR_CORRUPT;
    }
    return space == out && batch == in ? OOC_OK : OOC_ERR_CORRUPT;
}

/* RESIZE_BILINEAR's sizes and source tables against its tensors. */
int ooc_check_resize_bilinear(const ooc_resize_bilinear_params_t *p, uint32_t in, uint32_t out)
{
    int32_t i;
    if (in != (uint32_t)(p->batches * p->in_h * p->in_w * p->channels) ||
        out != (uint32_t)(p->batches * p->out_h * p->out_w * p->channels) || !p->y0 || !p->y1 || !p->fy ||
        !p->x0 || !p->x1 || !p->fx) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < p->out_h; i++) {
        if (p->y0[i] < 0 || p->y1[i] < 0 || p->y0[i] >= p->in_h || p->y1[i] >= p->in_h) {
            return OOC_ERR_CORRUPT;
        }
    }
    for (i = 0; i < p->out_w; i++) {
        if (p->x0[i] < 0 || p->x1[i] < 0 || p->x0[i] >= p->in_w || p->x1[i] >= p->in_w) {
            return OOC_ERR_CORRUPT;
        }
    }
    return OOC_OK;
}

/* REDUCE_MAX: a rank the kernel's arrays hold, and the input and output sizes its dimensions
   give. */
int ooc_check_reduce_max(const ooc_model_t *m, const ooc_op_t *op)
{
    const ooc_reduce_max_params_t *p = (const ooc_reduce_max_params_t *)op->params;
    uint32_t n_in = 1u, n_out = 1u;
    int32_t d;
    if (p->rank < 0 || p->rank > OOC_MAX_DIMS) {
        return OOC_ERR_CORRUPT;
    }
    for (d = 0; d < p->rank; ++d) {
        n_in *= (uint32_t)p->in_dims[d];
        n_out *= p->reduce[d] ? 1u : (uint32_t)p->in_dims[d];
    }
    return tensor_bytes(m, op->inputs[0]) == n_in && tensor_bytes(m, op->output) == n_out ? OOC_OK
                                                                                           : OOC_ERR_CORRUPT;
}

/* Rows of kept-group lists: each keeps at most `slots` groups, each below `limit`. */
static int check_rows(const uint16_t *kept, const uint16_t *index, int32_t rows, int32_t slots, uint32_t limit)
{
    int32_t r, k;
    if (kept == NULL || index == NULL) {
        return OOC_ERR_CORRUPT;
    }
    for (r = 0; r < rows; r++) {
        if ((int32_t)kept[r] > slots) {
            return OOC_ERR_CORRUPT;
        }
        for (k = 0; k < (int32_t)kept[r]; k++) {
            if (index[r * slots + k] >= limit) {
                return OOC_ERR_CORRUPT;
            }
        }
    }
    return OOC_OK;
}

/* An approximate convolution's or fully connected layer's compacted filter and kept-group lists
   (ooc_kernels.h, skip.c) against its tensors; the rest is the exact layer's (check_sizes). */
int ooc_check_skip(const ooc_model_t *m, const ooc_op_t *op)
{
    const uint32_t filter = tensor_bytes(m, op->inputs[1]);
    if (op->kind == OOC_OP_FULLY_CONNECTED_SKIP) {
        const ooc_fc_skip_params_t *p = (const ooc_fc_skip_params_t *)op->params;
        const int32_t groups = p->group > 0 ? (p->fc.in_depth + p->group - 1) / p->group : 0;
        if (p->group < 1 || (p->group > 4 && p->group % 4 != 0) || p->slots < 0 || p->slots > groups ||
            filter != (uint32_t)p->fc.out_depth * (uint32_t)p->slots *
                          (uint32_t)OOC_SKIP_GROUP_BYTES(p->fc.in_depth, p->group)) {
            return OOC_ERR_CORRUPT;
        }
        return check_rows(p->kept, p->index, p->fc.out_depth, p->slots, (uint32_t)groups);
    }
    {
        const ooc_conv_skip_params_t *p = (const ooc_conv_skip_params_t *)op->params;
        const ooc_conv_params_t *c = &p->conv;
        const int32_t taps = c->k_h * c->k_w;
        if (p->group < 1 || p->slots < 0 || c->k_h < 1 || c->k_w < 1) {
            return OOC_ERR_CORRUPT;
        }
        if (op->kind == OOC_OP_DEPTHWISE_CONV_2D_SKIP) {
            if (p->group > 64 || taps > 64 || p->slots > taps || c->depth_multiplier < 1 ||
                c->out_c != c->in_c * c->depth_multiplier || filter != (uint32_t)p->slots * (uint32_t)c->out_c) {
                return OOC_ERR_CORRUPT;
            }
            return check_rows(p->kept, p->index, (c->out_c + p->group - 1) / p->group, p->slots, (uint32_t)taps);
        }
        {
            const int64_t groups = (int64_t)taps * ((c->in_c + p->group - 1) / p->group);
            if ((p->group > 4 && p->group % 4 != 0) || groups > 0xFFFF || p->slots > groups ||
                filter != (uint32_t)c->out_c * (uint32_t)p->slots * (uint32_t)OOC_SKIP_GROUP_BYTES(c->in_c, p->group)) {
                return OOC_ERR_CORRUPT;
            }
            return check_rows(p->kept, p->index, c->out_c, p->slots, (uint32_t)groups);
        }
    }
}
