/*
 * A 1x1 convolution summed into the global average after it, a group of output channels at a
 * time (OOC_NODE_CONV_MEAN, ooc_sdk/plan/fusion/): for each group, every row of the
 * convolution's output for those channels is made from the whole input (a whole tensor in the
 * arena) and added into the group's int32 accumulators, which the average's own finishing step
 * (ooc_mean_finish_s8, ooc_avg_pool_finish_s8) turns into the group's outputs. The convolution's
 * output is never held: the node needs the group's accumulators and one row of the group. Each
 * output value is the whole kernel's (its parameters narrowed to the group's channels, as a
 * channel-split chain narrows them) and the sums are integers, so the result is the whole
 * operators' bit for bit.
 */
#include <string.h>

#include "fused_run.h"

int ooc_fused_conv_mean(const run_t *r, const int8_t *filter, const int32_t *bias)
{
    const ooc_ctx_t *ctx = r->ctx;
    const ooc_model_t *m = ctx->model;
    const ooc_node_t *nd = &r->nodes[0];
    const ooc_op_t *conv = &m->ops[nd->op], *avg = conv + 1;
    const ooc_conv_params_t *p = (const ooc_conv_params_t *)conv->params;
    const int8_t *in = (const int8_t *)(ctx->cfg.arena + m->tensors[conv->inputs[0]].offset);
    int8_t *out = (int8_t *)(ctx->cfg.arena + m->tensors[avg->output].offset);
    uint32_t *sums = (uint32_t *)(void *)(ctx->cfg.arena + nd->offset);
    int8_t *row = (int8_t *)(ctx->cfg.arena + nd->offset + 4u * (uint32_t)nd->group);
    int32_t c0, y, x, ch;
    if (filter == NULL) {
        return OOC_ERR_CORRUPT; /* a convolution's filter is always a constant */
    }
    for (c0 = 0; c0 < p->out_c; c0 += nd->group) {
        const int32_t g = p->out_c - c0 < (int32_t)nd->group ? p->out_c - c0 : (int32_t)nd->group;
        ooc_conv_params_t q = *p; /* one input row, output channels [c0, c0 + g) */
        q.in_h = 1, q.out_h = 1, q.out_c = g;
        q.out_multiplier = p->out_multiplier + c0, q.out_shift = p->out_shift + c0;
        memset(sums, 0, 4u * (uint32_t)g);
        for (y = 0; y < p->in_h; y++) {
            ooc_conv2d_s8(&q, in + y * p->in_w * p->in_c, filter + c0 * p->in_c, bias != NULL ? bias + c0 : NULL, row);
            for (x = 0; x < p->out_w; x++) {
                for (ch = 0; ch < g; ch++) {
                    sums[ch] += (uint32_t)(int32_t)row[x * g + ch];
                }
            }
        }
        if (avg->kind == OOC_OP_MEAN) {
            ooc_mean_finish_s8((const ooc_mean_params_t *)avg->params, sums, out + c0, g);
        } else {
            ooc_pool_params_t a = *(const ooc_pool_params_t *)avg->params;
            a.channels = g;
            ooc_avg_pool_finish_s8(&a, (const int32_t *)(const void *)sums, out + c0);
        }
    }
    return OOC_OK;
}
