/*
 * The executor: validates the model tables once at init, then runs operators in order,
 * resolving tensor indices to arena or constant pointers. An out-of-core schedule's chunks come
 * through the pager (pager.c), fused blocks run row by row in the fused runner (fused.c).
 */
#include "ooc/ooc.h"

#include <stddef.h>
#include <string.h>

#include "compiler.h"
#include "fused.h"
#include "ooc/ooc_kernels.h"
#include "ooc/ooc_spill.h"
#include "op_check.h"
#include "pager.h"
#include "tables.h"


/* Inputs each kind takes: [min, max]. */
static const uint8_t k_inputs[OOC_OP_KIND_COUNT][2] = {
    [OOC_OP_CONV_2D] = {2, 3},
    [OOC_OP_DEPTHWISE_CONV_2D] = {2, 3},
    [OOC_OP_FULLY_CONNECTED] = {2, 3},
    [OOC_OP_AVERAGE_POOL_2D] = {1, 1},
    [OOC_OP_MAX_POOL_2D] = {1, 1},
    [OOC_OP_ADD] = {2, 2},
    [OOC_OP_MUL] = {2, 2},
    [OOC_OP_MEAN] = {1, 2},
    [OOC_OP_PAD] = {1, 2},
    [OOC_OP_RESHAPE] = {1, 2},
    [OOC_OP_SOFTMAX] = {1, 1},
    [OOC_OP_TRANSPOSE] = {1, 2},
    [OOC_OP_CONCATENATION] = {1, OOC_MAX_CONCAT_INPUTS},
    [OOC_OP_QUANTIZE] = {1, 1},
    [OOC_OP_REQUANTIZE] = {1, 1},
    [OOC_OP_DEQUANTIZE] = {1, 1},
    [OOC_OP_RESIZE_NEAREST_NEIGHBOR] = {1, 2},
    [OOC_OP_RELU] = {1, 1},
    [OOC_OP_RELU6] = {1, 1},
    [OOC_OP_RELU_N1_TO_1] = {1, 1},
    [OOC_OP_LEAKY_RELU] = {1, 1},
    [OOC_OP_HARD_SWISH] = {1, 1},
    [OOC_OP_SUB] = {2, 2},
    [OOC_OP_MINIMUM] = {2, 2},
    [OOC_OP_MAXIMUM] = {2, 2},
    [OOC_OP_SQUARED_DIFFERENCE] = {2, 2},
    [OOC_OP_LOGISTIC] = {1, 1},
    [OOC_OP_TANH] = {1, 1},
    [OOC_OP_STRIDED_COPY] = {1, 1},
    [OOC_OP_SPACE_BATCH] = {1, 1},
    [OOC_OP_RESIZE_BILINEAR] = {1, 2},
    [OOC_OP_TRANSPOSE_CONV] = {2, 3},
    [OOC_OP_LOG_SOFTMAX] = {1, 1},
    [OOC_OP_L2_NORMALIZATION] = {1, 1},
    [OOC_OP_REDUCE_MAX] = {1, 2},
    [OOC_OP_ARG_MAX] = {1, 2},
    [OOC_OP_ARG_MIN] = {1, 2},
    [OOC_OP_PRELU] = {2, 2},
    [OOC_OP_CONV_2D_SKIP] = {2, 3},
    [OOC_OP_DEPTHWISE_CONV_2D_SKIP] = {2, 3},
    [OOC_OP_FULLY_CONNECTED_SKIP] = {2, 3},
};

const char *ooc_strerror(int err)
{
    switch (err) {
    case OOC_OK: return "ok";
    case OOC_ERR_ARG: return "invalid argument";
    case OOC_ERR_NOMEM: return "arena too small for the model";
    case OOC_ERR_CORRUPT: return "inconsistent model tables";
    case OOC_ERR_UNSUPPORTED: return "unsupported model table version or operator";
    case OOC_ERR_STATE: return "context not initialised";
    case OOC_ERR_IO: return "flash read failed";
    case OOC_ERR_FORMAT: return "not an ooc image or malformed image header";
    case OOC_ERR_TRUNCATED: return "image truncated: larger than the flash holding it";
    case OOC_ERR_AUTH: return "authentication failed: image altered or damaged";
    case OOC_ERR_WRONG_KEY: return "wrong device key for this image's key slot";
    case OOC_ERR_WRONG_DEVICE: return "image key slot is wrapped for another device";
    case OOC_ERR_ROLLBACK: return "image security counter older than the device's";
    case OOC_ERR_MODEL: return "image holds another model or plan";
    case OOC_ERR_SIGNATURE: return "image not signed by a trusted key, or bad signature";
    case OOC_ERR_NOT_INSTALLED: return "signed image not installed: mount it with a work buffer and a writable port";
    case OOC_ERR_SPILL_TOO_BIG: return "spill larger than a scratch sector's record";
    case OOC_ERR_SPILL_STALE: return "spill overwritten by the scratch ring, or from another boot";
    case OOC_ERR_SPILL_EXHAUSTED: return "spill ring boot counter or sequence exhausted";
    default: return "unknown error";
    }
}

static int is_activation(const ooc_model_t *m, uint32_t t)
{
    return t < m->n_tensors && m->tensors[t].data == NULL && !ooc_tensor_paged(m, t);
}

static uint32_t tensor_bytes(const ooc_model_t *m, uint16_t t)
{
    return t < m->n_tensors ? m->tensors[t].bytes : 0;
}

/* Bytes the kernel will touch, from its params, checked against the tensors. */
static int check_sizes(const ooc_model_t *m, const ooc_op_t *op)
{
    const uint16_t *in = op->inputs;
    uint32_t out = tensor_bytes(m, op->output);
    switch (op->kind) {
    case OOC_OP_CONV_2D:
    case OOC_OP_DEPTHWISE_CONV_2D: {
        const ooc_conv_params_t *p = (const ooc_conv_params_t *)op->params;
        uint32_t filter = (uint32_t)p->k_h * (uint32_t)p->k_w * (uint32_t)p->out_c;
        if (op->kind == OOC_OP_CONV_2D) {
            filter *= (uint32_t)p->in_c;
        }
        if (tensor_bytes(m, in[0]) != (uint32_t)(p->batches * p->in_h * p->in_w * p->in_c) ||
            out != (uint32_t)(p->batches * p->out_h * p->out_w * p->out_c) ||
            tensor_bytes(m, in[1]) != filter ||
            (op->n_inputs > 2 && in[2] != OOC_NO_TENSOR && tensor_bytes(m, in[2]) != 4u * (uint32_t)p->out_c) ||
            !p->out_multiplier || !p->out_shift) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_FULLY_CONNECTED: {
        const ooc_fc_params_t *p = (const ooc_fc_params_t *)op->params;
        if (tensor_bytes(m, in[0]) != (uint32_t)(p->batches * p->in_depth) ||
            out != (uint32_t)(p->batches * p->out_depth) ||
            tensor_bytes(m, in[1]) != (uint32_t)(p->in_depth * p->out_depth) ||
            (op->n_inputs > 2 && in[2] != OOC_NO_TENSOR && tensor_bytes(m, in[2]) != 4u * (uint32_t)p->out_depth) ||
            !p->out_multiplier || !p->out_shift) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_CONV_2D_SKIP:
    case OOC_OP_DEPTHWISE_CONV_2D_SKIP: { /* the exact layer's checks but the filter's (op_check.c) */
        const ooc_conv_params_t *p = &((const ooc_conv_skip_params_t *)op->params)->conv;
        if (tensor_bytes(m, in[0]) != (uint32_t)(p->batches * p->in_h * p->in_w * p->in_c) ||
            out != (uint32_t)(p->batches * p->out_h * p->out_w * p->out_c) ||
            (op->n_inputs > 2 && in[2] != OOC_NO_TENSOR && tensor_bytes(m, in[2]) != 4u * (uint32_t)p->out_c) ||
            !p->out_multiplier || !p->out_shift) {
            return OOC_ERR_CORRUPT;
        }
        return ooc_check_skip(m, op);
    }
    case OOC_OP_FULLY_CONNECTED_SKIP: {
        const ooc_fc_params_t *p = &((const ooc_fc_skip_params_t *)op->params)->fc;
        if (tensor_bytes(m, in[0]) != (uint32_t)(p->batches * p->in_depth) ||
            out != (uint32_t)(p->batches * p->out_depth) ||
            (op->n_inputs > 2 && in[2] != OOC_NO_TENSOR && tensor_bytes(m, in[2]) != 4u * (uint32_t)p->out_depth) ||
            !p->out_multiplier || !p->out_shift) {
            return OOC_ERR_CORRUPT;
        }
        return ooc_check_skip(m, op);
    }
    case OOC_OP_AVERAGE_POOL_2D:
    case OOC_OP_MAX_POOL_2D: {
        const ooc_pool_params_t *p = (const ooc_pool_params_t *)op->params;
        if (tensor_bytes(m, in[0]) != (uint32_t)(p->batches * p->in_h * p->in_w * p->channels) ||
            out != (uint32_t)(p->batches * p->out_h * p->out_w * p->channels)) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_SOFTMAX: {
        const ooc_softmax_params_t *p = (const ooc_softmax_params_t *)op->params;
        uint32_t n = (uint32_t)(p->outer * p->depth);
        if (tensor_bytes(m, in[0]) != n || out != n) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_QUANTIZE:
    case OOC_OP_REQUANTIZE:
    case OOC_OP_DEQUANTIZE: {
        const ooc_quantize_params_t *p = (const ooc_quantize_params_t *)op->params;
        uint32_t n = (uint32_t)p->count;
        uint32_t in_n = op->kind == OOC_OP_QUANTIZE ? 4u * n : n;
        uint32_t out_n = op->kind == OOC_OP_DEQUANTIZE ? 4u * n : n;
        if (tensor_bytes(m, in[0]) != in_n || out != out_n) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_RELU:
    case OOC_OP_RELU6:
    case OOC_OP_RELU_N1_TO_1:
    case OOC_OP_LEAKY_RELU:
    case OOC_OP_HARD_SWISH: {
        /* count leads both parameter structs */
        uint32_t n = op->kind == OOC_OP_HARD_SWISH ? (uint32_t)((const ooc_hard_swish_params_t *)op->params)->count
                                                   : (uint32_t)((const ooc_activation_params_t *)op->params)->count;
        if (tensor_bytes(m, in[0]) != n || out != n) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_LOGISTIC:
    case OOC_OP_TANH: {
        const uint32_t n = (uint32_t)((const ooc_lut_params_t *)op->params)->count;
        if (tensor_bytes(m, in[0]) != n || out != n) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_LOG_SOFTMAX:
    case OOC_OP_L2_NORMALIZATION: {
        /* outer and depth lead both parameter structs */
        const ooc_l2_norm_params_t *p = (const ooc_l2_norm_params_t *)op->params;
        const uint32_t n = (uint32_t)(p->outer * p->depth);
        if (tensor_bytes(m, in[0]) != n || out != n) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_REDUCE_MAX:
        return ooc_check_reduce_max(m, op);
    case OOC_OP_ARG_MAX:
    case OOC_OP_ARG_MIN: {
        const ooc_arg_params_t *p = (const ooc_arg_params_t *)op->params;
        const uint32_t n = (uint32_t)(p->outer * p->inner);
        if (p->axis_size < 1 || tensor_bytes(m, in[0]) != n * (uint32_t)p->axis_size || out != 4u * n) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    case OOC_OP_RESHAPE:
        if (tensor_bytes(m, in[0]) != out) {
            return OOC_ERR_CORRUPT;
        }
        break;
    case OOC_OP_STRIDED_COPY:
        return ooc_check_strided_copy((const ooc_strided_copy_params_t *)op->params, tensor_bytes(m, in[0]), out);
    case OOC_OP_SPACE_BATCH:
        return ooc_check_space_batch((const ooc_space_batch_params_t *)op->params, tensor_bytes(m, in[0]), out);
    case OOC_OP_RESIZE_BILINEAR:
        return ooc_check_resize_bilinear((const ooc_resize_bilinear_params_t *)op->params, tensor_bytes(m, in[0]), out);
    case OOC_OP_TRANSPOSE_CONV: {
        const ooc_conv_params_t *p = (const ooc_conv_params_t *)op->params;
        if (tensor_bytes(m, in[0]) != (uint32_t)(p->batches * p->in_h * p->in_w * p->in_c) ||
            out != (uint32_t)(p->batches * p->out_h * p->out_w * p->out_c) ||
            tensor_bytes(m, in[1]) != (uint32_t)(p->out_c * p->k_h * p->k_w * p->in_c) ||
            (op->n_inputs > 2 && in[2] != OOC_NO_TENSOR && tensor_bytes(m, in[2]) != 4u * (uint32_t)p->out_c) ||
            p->stride_h < 1 || p->stride_w < 1 || !p->out_multiplier || !p->out_shift) {
            return OOC_ERR_CORRUPT;
        }
        break;
    }
    default:
        break;
    }
    return OOC_OK;
}

/* The spill table against the model, and the ring the config gives against the plan. */
static int check_spills(const ooc_model_t *m, const struct ooc_config *cfg)
{
    const ooc_spill_t *sp = cfg->spill;
    uint32_t i, p;
    if (m->n_spills == 0u) {
        return OOC_OK;
    }
    if (m->spills == NULL || m->n_blocks == 0u || m->spill_sectors < 2u || m->spill_sector_bytes < 256u) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < m->n_spills; i++) {
        const ooc_spill_tensor_t *e = &m->spills[i];
        uint32_t x = 0;
        if (e->tensor >= m->n_tensors || m->tensors[e->tensor].data != NULL ||
            m->tensors[e->tensor].offset != OOC_TENSOR_ROWS || e->n_parts == 0u || e->parts == NULL ||
            e->rows == 0u || e->channels == 0u || (e->state & 7u) != 0u ||
            (uint64_t)e->state + OOC_SPILL_STATE_BYTES > m->arena_bytes) {
            return OOC_ERR_CORRUPT;
        }
        for (p = 0; p < e->n_parts; p++) { /* the parts tile the row, each fits one record */
            const ooc_spill_part_t *q = &e->parts[p];
            if (q->x0 != x || q->x1 <= q->x0 || q->stride == 0u ||
                (uint32_t)(q->x1 - q->x0) * e->channels > ooc_spill_max_payload(m->spill_sector_bytes)) {
                return OOC_ERR_CORRUPT;
            }
            x = q->x1;
        }
        if ((uint64_t)x * e->rows * e->channels != m->tensors[e->tensor].bytes) {
            return OOC_ERR_CORRUPT;
        }
    }
    /* a ring whose keys may repeat across boots, or too small to keep one inference's spills */
    if (sp == NULL || sp->state != 1u || !sp->fresh || sp->sector_bytes != m->spill_sector_bytes ||
        sp->n_sectors < m->spill_sectors) {
        return OOC_ERR_ARG;
    }
    return OOC_OK;
}

static int check_op(const ooc_model_t *m, const ooc_op_t *op)
{
    uint32_t i;
    if (op->kind == 0 || op->kind >= OOC_OP_KIND_COUNT) {
        return OOC_ERR_UNSUPPORTED;
    }
    if (op->n_inputs < k_inputs[op->kind][0] || op->n_inputs > k_inputs[op->kind][1] ||
        (op->n_inputs > 0 && op->inputs == NULL) || !is_activation(m, op->output) ||
        (op->params == NULL && op->kind != OOC_OP_RESHAPE)) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < op->n_inputs; i++) {
        uint16_t t = op->inputs[i];
        if (t == OOC_NO_TENSOR ? i < k_inputs[op->kind][0] : t >= m->n_tensors) {
            return OOC_ERR_CORRUPT;
        }
    }
    return check_sizes(m, op);
}

int ooc_init(ooc_ctx_t *ctx, const ooc_model_t *model, const struct ooc_config *cfg)
{
    uint32_t i;
    if (ctx == NULL) {
        return OOC_ERR_ARG;
    }
    ctx->ready = 0;
    if (model == NULL || cfg == NULL || cfg->arena == NULL || ((uintptr_t)cfg->arena & 3u) != 0) {
        return OOC_ERR_ARG;
    }
    if (model->magic != OOC_MODEL_MAGIC) {
        return OOC_ERR_CORRUPT;
    }
    if (model->version != OOC_MODEL_VERSION) {
        return OOC_ERR_UNSUPPORTED;
    }
    if (cfg->arena_bytes < model->arena_bytes ||
        (model->n_steps != 0u &&
         (uint64_t)cfg->arena_bytes < (uint64_t)model->arena_bytes + (uint64_t)model->n_slots * model->slot_bytes)) {
        return OOC_ERR_NOMEM;
    }
    if ((model->n_tensors && !model->tensors) || (model->n_ops && !model->ops) ||
        (model->n_inputs && !model->inputs) || (model->n_outputs && !model->outputs)) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < model->n_tensors; i++) {
        const ooc_tensor_t *t = &model->tensors[i];
        if (t->data == NULL && t->offset == OOC_TENSOR_PAGED) {
            if (model->n_steps == 0u) {
                return OOC_ERR_CORRUPT; /* a paged constant needs a schedule */
            }
            continue;
        }
        if (t->data == NULL && t->offset == OOC_TENSOR_ROWS) {
            if (model->n_blocks == 0u) {
                return OOC_ERR_CORRUPT; /* only a fused schedule holds tensors in rows */
            }
            continue;
        }
        if (t->data == NULL && (t->bytes > model->arena_bytes || t->offset > model->arena_bytes - t->bytes ||
                                (t->offset & 3u) != 0)) {
            return OOC_ERR_CORRUPT;
        }
    }
    for (i = 0; i < model->n_inputs; i++) {
        if (!is_activation(model, model->inputs[i])) {
            return OOC_ERR_CORRUPT;
        }
    }
    for (i = 0; i < model->n_outputs; i++) {
        if (!is_activation(model, model->outputs[i]) || model->tensors[model->outputs[i]].offset == OOC_TENSOR_ROWS) {
            return OOC_ERR_CORRUPT;
        }
    }
    for (i = 0; i < model->n_ops; i++) {
        int err = check_op(model, &model->ops[i]);
        if (err < 0) {
            return err;
        }
    }
    {
        int err = ooc_check_blocks(model);
        if (err == OOC_OK) {
            err = check_spills(model, cfg);
        }
        if (err < 0) {
            return err;
        }
    }
    ctx->model = model;
    memset((void *)ctx->input_ref, 0, sizeof ctx->input_ref);
    ctx->cfg = *cfg;
    ctx->outputs_valid = 0;
    ctx->inflight = -1;
    ctx->decrypting = -1;
    if (model->n_steps != 0u) {
        int err = ooc_pager_check(ctx);
        if (err == OOC_OK && model->verify == OOC_VERIFY_AT_BOOT) {
            err = ooc_pager_verify_all(ctx);
        }
        if (err < 0) {
            return err;
        }
    }
    ctx->ready = 1;
    return OOC_OK;
}

static void *arena_ptr(const ooc_ctx_t *ctx, uint16_t t)
{
    return ctx->cfg.arena + ctx->model->tensors[t].offset;
}

/* ---- execution ---------------------------------------------------------------------------- */

/* An approximate layer (OOC_OP_*_SKIP, kernels/skip.c): out of run_op, whose code for the exact
   kinds stays as it was. */
static OOC_NOINLINE void run_skip(const ooc_op_t *op, const void *in0, const void *in1, const void *in2, void *out,
                                     uint32_t c0, uint32_t c1)
{
    ooc_skip_run(op->kind, op->params, in0, in1, in2, out, c0, c1);
}

/* Run `op` (its output channels [c0, c1) when c1 != 0) with its inputs at `ins`. */
static void run_op(const ooc_ctx_t *ctx, const ooc_op_t *op, const void *const *ins, uint32_t c0, uint32_t c1)
{
    const void *in0 = ins[0];
    const void *in1 = op->n_inputs > 1 ? ins[1] : NULL;
    const void *in2 = op->n_inputs > 2 ? ins[2] : NULL;
    void *out = arena_ptr(ctx, op->output);
    switch ((enum ooc_op_kind)op->kind) {
    case OOC_OP_CONV_2D:
        ooc_conv2d_s8_channels((const ooc_conv_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                               (const int32_t *)in2, (int8_t *)out, (int32_t)c0,
                               c1 ? (int32_t)c1 : ((const ooc_conv_params_t *)op->params)->out_c);
        break;
    case OOC_OP_DEPTHWISE_CONV_2D:
        ooc_depthwise_conv2d_s8_channels((const ooc_conv_params_t *)op->params, (const int8_t *)in0,
                                         (const int8_t *)in1, (const int32_t *)in2, (int8_t *)out, (int32_t)c0,
                                         c1 ? (int32_t)c1 : ((const ooc_conv_params_t *)op->params)->out_c);
        break;
    case OOC_OP_FULLY_CONNECTED:
        ooc_fully_connected_s8_channels((const ooc_fc_params_t *)op->params, (const int8_t *)in0,
                                        (const int8_t *)in1, (const int32_t *)in2, (int8_t *)out, (int32_t)c0,
                                        c1 ? (int32_t)c1 : ((const ooc_fc_params_t *)op->params)->out_depth);
        break;
    case OOC_OP_AVERAGE_POOL_2D:
        ooc_avg_pool_s8((const ooc_pool_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_MAX_POOL_2D:
        ooc_max_pool_s8((const ooc_pool_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_ADD:
        ooc_add_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                   (int8_t *)out);
        break;
    case OOC_OP_MUL:
        ooc_mul_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                   (int8_t *)out);
        break;
    case OOC_OP_MEAN:
        ooc_mean_s8((const ooc_mean_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_PAD:
        ooc_pad_s8((const ooc_pad_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_RESHAPE:
        if (out != in0) {
            memmove(out, in0, ctx->model->tensors[op->output].bytes);
        }
        break;
    case OOC_OP_SOFTMAX:
        ooc_softmax_s8((const ooc_softmax_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_TRANSPOSE:
        ooc_transpose_s8((const ooc_transpose_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_CONCATENATION: {
        const int8_t *cins[OOC_MAX_CONCAT_INPUTS];
        int32_t axis[OOC_MAX_CONCAT_INPUTS];
        const ooc_concat_params_t *p = (const ooc_concat_params_t *)op->params;
        uint32_t i;
        for (i = 0; i < op->n_inputs; i++) {
            cins[i] = (const int8_t *)ins[i];
            axis[i] = (int32_t)(ctx->model->tensors[op->inputs[i]].bytes / (uint32_t)(p->outer * p->inner));
        }
        ooc_concat_s8(p, (int32_t)op->n_inputs, cins, axis, (int8_t *)out);
        break;
    }
    case OOC_OP_QUANTIZE:
        ooc_quantize_f32_s8((const ooc_quantize_params_t *)op->params, (const float *)in0, (int8_t *)out);
        break;
    case OOC_OP_REQUANTIZE:
        ooc_requantize_s8((const ooc_quantize_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_DEQUANTIZE:
        ooc_dequantize_s8_f32((const ooc_quantize_params_t *)op->params, (const int8_t *)in0, (float *)out);
        break;
    case OOC_OP_RESIZE_NEAREST_NEIGHBOR:
        ooc_resize_nearest_s8((const ooc_resize_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_RELU:
    case OOC_OP_RELU_N1_TO_1: {
        const ooc_activation_params_t *p = (const ooc_activation_params_t *)op->params;
        ooc_relu_s8(p, (const int8_t *)in0, (int8_t *)out, p->count);
        break;
    }
    case OOC_OP_RELU6: {
        const ooc_activation_params_t *p = (const ooc_activation_params_t *)op->params;
        ooc_relu6_s8(p, (const int8_t *)in0, (int8_t *)out, p->count);
        break;
    }
    case OOC_OP_LEAKY_RELU: {
        const ooc_activation_params_t *p = (const ooc_activation_params_t *)op->params;
        ooc_leaky_relu_s8(p, (const int8_t *)in0, (int8_t *)out, p->count);
        break;
    }
    case OOC_OP_HARD_SWISH: {
        const ooc_hard_swish_params_t *p = (const ooc_hard_swish_params_t *)op->params;
        ooc_hard_swish_s8(p, (const int8_t *)in0, (int8_t *)out, p->count);
        break;
    }
    case OOC_OP_SUB:
        ooc_sub_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                   (int8_t *)out);
        break;
    case OOC_OP_MINIMUM:
        ooc_minimum_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                       (int8_t *)out);
        break;
    case OOC_OP_MAXIMUM:
        ooc_maximum_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                       (int8_t *)out);
        break;
    case OOC_OP_SQUARED_DIFFERENCE:
        ooc_squared_difference_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0,
                                  (const int8_t *)in1, (int8_t *)out);
        break;
    case OOC_OP_LOGISTIC:
    case OOC_OP_TANH:
        ooc_lut_s8((const ooc_lut_params_t *)op->params, (const int8_t *)in0, (int8_t *)out,
                   ((const ooc_lut_params_t *)op->params)->count);
        break;
    case OOC_OP_STRIDED_COPY:
        ooc_strided_copy_s8((const ooc_strided_copy_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_SPACE_BATCH:
        ooc_space_batch_s8((const ooc_space_batch_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_RESIZE_BILINEAR:
        ooc_resize_bilinear_s8((const ooc_resize_bilinear_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_TRANSPOSE_CONV:
        ooc_transpose_conv_s8_channels((const ooc_conv_params_t *)op->params, (const int8_t *)in0,
                                       (const int8_t *)in1, (const int32_t *)in2, (int8_t *)out, (int32_t)c0,
                                       c1 ? (int32_t)c1 : ((const ooc_conv_params_t *)op->params)->out_c);
        break;
    case OOC_OP_LOG_SOFTMAX:
        ooc_log_softmax_s8((const ooc_log_softmax_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_L2_NORMALIZATION:
        ooc_l2_norm_s8((const ooc_l2_norm_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_REDUCE_MAX:
        ooc_reduce_max_s8((const ooc_reduce_max_params_t *)op->params, (const int8_t *)in0, (int8_t *)out);
        break;
    case OOC_OP_ARG_MAX:
        ooc_arg_max_s8((const ooc_arg_params_t *)op->params, (const int8_t *)in0, (int32_t *)out);
        break;
    case OOC_OP_ARG_MIN:
        ooc_arg_min_s8((const ooc_arg_params_t *)op->params, (const int8_t *)in0, (int32_t *)out);
        break;
    case OOC_OP_PRELU:
        ooc_prelu_s8((const ooc_elementwise_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                     (int8_t *)out);
        break;
    case OOC_OP_KIND_COUNT:
        break;
    default: /* OOC_OP_*_SKIP, approximate layers (skip.c): apart, so the exact kinds' dispatch is unchanged */
        run_skip(op, in0, in1, in2, out, c0, c1);
        break;
    }
}

/* Resolve the inputs that live in the arena or in const tables (paged ones come from the pager). */
static void resolve_inputs(const ooc_ctx_t *ctx, const ooc_op_t *op, const void **ins)
{
    uint32_t i;
    for (i = 0; i < op->n_inputs; i++) {
        uint16_t t = op->inputs[i];
        const ooc_tensor_t *d;
        if (t == OOC_NO_TENSOR) {
            ins[i] = NULL;
            continue;
        }
        d = &ctx->model->tensors[t];
        if (d->data != NULL) {
            ins[i] = d->data;
        } else if (d->offset != OOC_TENSOR_PAGED) {
            ins[i] = ctx->cfg.arena + d->offset;
        }
    }
}

static void layer_hook(const ooc_ctx_t *ctx, uint32_t op, int phase)
{
    if (ctx->cfg.on_layer) {
        ctx->cfg.on_layer(ctx->cfg.context, op, phase);
    }
}


/* An out-of-core schedule: each step's chunks through the pager (pager.c), fused blocks row by
   row (fused.c), other steps one operator (or a channel range of one) at a time. */
static int invoke_paged(ooc_ctx_t *ctx)
{
    const ooc_model_t *m = ctx->model;
    const void *ins[OOC_MAX_INPUTS];
    ooc_pager_run_t run;
    uint32_t s;
    int rc = ooc_pager_start(ctx, &run);
    for (s = 0; rc == OOC_OK && s < m->n_steps; s++) {
        const ooc_step_t *st = &m->steps[s];
        const ooc_op_t *op = &m->ops[st->op];
        const ooc_block_t *b = st->block != OOC_NO_BLOCK ? &m->blocks[st->block] : NULL;
        uint8_t *slot;
        if ((st->flags & OOC_STEP_STREAM) != 0u) {
            continue; /* read by its block, row by row */
        }
        resolve_inputs(ctx, op, ins);
        rc = ooc_pager_enter(ctx, &run, s, b != NULL ? NULL : ins,
                             b != NULL && (ooc_pager_block_streams(m, s) || ooc_block_spills(m, b)), &slot);
        if (rc != OOC_OK) {
            break;
        }
        layer_hook(ctx, st->op, 0);
        if (b != NULL) { /* the block's resident weights stay in the slot through all its rows and strips */
            rc = ooc_run_block(ctx, b, slot, s);
        } else {
            run_op(ctx, op, ins, st->c0, st->c1);
        }
        layer_hook(ctx, st->op, 1);
        if (rc == OOC_OK) {
            rc = ooc_pager_leave(ctx, &run);
        }
    }
    ooc_pager_stop(ctx, rc);
    return rc;
}

/* Operators [first, first + n) one after another on whole tensors. */
static void run_whole(const ooc_ctx_t *ctx, uint32_t first, uint32_t n)
{
    const void *ins[OOC_MAX_INPUTS];
    uint32_t j;
    for (j = first; j < first + n; j++) {
        const ooc_op_t *op = &ctx->model->ops[j];
        resolve_inputs(ctx, op, ins);
        layer_hook(ctx, j, 0);
        run_op(ctx, op, ins, 0u, 0u);
        layer_hook(ctx, j, 1);
    }
}

/* A fused schedule: whole operators one by one, fused blocks row by row (fused.c). A fused block
   is reported to the layer hook once, under its first operator. */
static int invoke_blocks(ooc_ctx_t *ctx)
{
    const ooc_model_t *m = ctx->model;
    uint32_t i;
    int rc = OOC_OK;
    for (i = 0; rc == OOC_OK && i < m->n_blocks; i++) {
        const ooc_block_t *b = &m->blocks[i];
        if (b->n_nodes == 0u) {
            run_whole(ctx, b->first_op, b->n_ops);
            continue;
        }
        layer_hook(ctx, b->first_op, 0);
        rc = ooc_run_block(ctx, b, NULL, OOC_NO_STEP);
        layer_hook(ctx, b->first_op, 1);
    }
    return rc;
}

int ooc_invoke(ooc_ctx_t *ctx)
{
    int rc = OOC_OK;
    if (ctx == NULL || !ctx->ready) {
        return OOC_ERR_STATE;
    }
    ctx->outputs_valid = 0;
    if (ctx->model->n_steps != 0u) {
        rc = invoke_paged(ctx);
    } else if (ctx->model->n_blocks != 0u) {
        rc = invoke_blocks(ctx);
    } else {
        run_whole(ctx, 0u, ctx->model->n_ops);
    }
    ctx->outputs_valid = rc == OOC_OK;
    return rc;
}

static int32_t io_bytes(const ooc_ctx_t *ctx, uint32_t index, int output)
{
    if (ctx == NULL || !ctx->ready) {
        return OOC_ERR_STATE;
    }
    if (index >= (output ? ctx->model->n_outputs : ctx->model->n_inputs)) {
        return OOC_ERR_ARG;
    }
    return (int32_t)ctx->model->tensors[output ? ctx->model->outputs[index] : ctx->model->inputs[index]].bytes;
}

int32_t ooc_input_bytes(const ooc_ctx_t *ctx, uint32_t index)
{
    return io_bytes(ctx, index, 0);
}

int32_t ooc_output_bytes(const ooc_ctx_t *ctx, uint32_t index)
{
    return io_bytes(ctx, index, 1);
}

int ooc_set_input(ooc_ctx_t *ctx, uint32_t index, const void *data, uint32_t bytes)
{
    int32_t n = io_bytes(ctx, index, 0);
    if (n < 0) {
        return (int)n;
    }
    if (data == NULL || bytes != (uint32_t)n) {
        return OOC_ERR_ARG;
    }
    if (ctx->model->tensors[ctx->model->inputs[index]].offset == OOC_TENSOR_ROWS) {
        if (index >= sizeof ctx->input_ref / sizeof ctx->input_ref[0]) {
            return OOC_ERR_ARG;
        }
        ctx->input_ref[index] = data; /* streamed: read during ooc_invoke() */
        return OOC_OK;
    }
    memcpy(arena_ptr(ctx, ctx->model->inputs[index]), data, bytes);
    return OOC_OK;
}

int ooc_input_streamed(const ooc_ctx_t *ctx, uint32_t index)
{
    int32_t n = io_bytes(ctx, index, 0);
    if (n < 0) {
        return (int)n;
    }
    return ctx->model->tensors[ctx->model->inputs[index]].offset == OOC_TENSOR_ROWS;
}

int ooc_get_output(const ooc_ctx_t *ctx, uint32_t index, void *data, uint32_t bytes)
{
    int32_t n = io_bytes(ctx, index, 1);
    if (n < 0) {
        return (int)n;
    }
    if (data == NULL || bytes != (uint32_t)n) {
        return OOC_ERR_ARG;
    }
    if (!ctx->outputs_valid) {
        return OOC_ERR_STATE;
    }
    memcpy(data, arena_ptr(ctx, ctx->model->outputs[index]), bytes);
    return OOC_OK;
}
