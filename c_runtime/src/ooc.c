/*
 * The executor: validates the model tables once at init, then runs operators in
 * order, resolving tensor indices to arena or constant pointers.
 */
#include "ooc/ooc.h"

#include <stddef.h>
#include <string.h>

#include "ooc/ooc_kernels.h"

#define OOC_MAX_CONCAT_INPUTS 16

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
    default: return "unknown error";
    }
}

static int is_activation(const ooc_model_t *m, uint32_t t)
{
    return t < m->n_tensors && m->tensors[t].data == NULL;
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
    case OOC_OP_RESHAPE:
        if (tensor_bytes(m, in[0]) != out) {
            return OOC_ERR_CORRUPT;
        }
        break;
    default:
        break;
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
    if (cfg->arena_bytes < model->arena_bytes) {
        return OOC_ERR_NOMEM;
    }
    if ((model->n_tensors && !model->tensors) || (model->n_ops && !model->ops) ||
        (model->n_inputs && !model->inputs) || (model->n_outputs && !model->outputs)) {
        return OOC_ERR_CORRUPT;
    }
    for (i = 0; i < model->n_tensors; i++) {
        const ooc_tensor_t *t = &model->tensors[i];
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
        if (!is_activation(model, model->outputs[i])) {
            return OOC_ERR_CORRUPT;
        }
    }
    for (i = 0; i < model->n_ops; i++) {
        int err = check_op(model, &model->ops[i]);
        if (err < 0) {
            return err;
        }
    }
    ctx->model = model;
    ctx->cfg = *cfg;
    ctx->ready = 1;
    return OOC_OK;
}

/* Pointer to tensor `t`: into the arena for activations, the const data otherwise. */
static const void *tensor_ptr(const ooc_ctx_t *ctx, uint16_t t)
{
    const ooc_tensor_t *d;
    if (t == OOC_NO_TENSOR) {
        return NULL;
    }
    d = &ctx->model->tensors[t];
    return d->data != NULL ? d->data : (const void *)(ctx->cfg.arena + d->offset);
}

static void *arena_ptr(const ooc_ctx_t *ctx, uint16_t t)
{
    return ctx->cfg.arena + ctx->model->tensors[t].offset;
}

static void run_op(const ooc_ctx_t *ctx, const ooc_op_t *op)
{
    const void *in0 = tensor_ptr(ctx, op->inputs[0]);
    const void *in1 = op->n_inputs > 1 ? tensor_ptr(ctx, op->inputs[1]) : NULL;
    const void *in2 = op->n_inputs > 2 ? tensor_ptr(ctx, op->inputs[2]) : NULL;
    void *out = arena_ptr(ctx, op->output);
    switch ((enum ooc_op_kind)op->kind) {
    case OOC_OP_CONV_2D:
        ooc_conv2d_s8((const ooc_conv_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                      (const int32_t *)in2, (int8_t *)out);
        break;
    case OOC_OP_DEPTHWISE_CONV_2D:
        ooc_depthwise_conv2d_s8((const ooc_conv_params_t *)op->params, (const int8_t *)in0,
                                (const int8_t *)in1, (const int32_t *)in2, (int8_t *)out);
        break;
    case OOC_OP_FULLY_CONNECTED:
        ooc_fully_connected_s8((const ooc_fc_params_t *)op->params, (const int8_t *)in0, (const int8_t *)in1,
                               (const int32_t *)in2, (int8_t *)out);
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
        const int8_t *ins[OOC_MAX_CONCAT_INPUTS];
        int32_t axis[OOC_MAX_CONCAT_INPUTS];
        const ooc_concat_params_t *p = (const ooc_concat_params_t *)op->params;
        uint32_t i;
        for (i = 0; i < op->n_inputs; i++) {
            ins[i] = (const int8_t *)tensor_ptr(ctx, op->inputs[i]);
            axis[i] = (int32_t)(ctx->model->tensors[op->inputs[i]].bytes / (uint32_t)(p->outer * p->inner));
        }
        ooc_concat_s8(p, (int32_t)op->n_inputs, ins, axis, (int8_t *)out);
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
    case OOC_OP_KIND_COUNT:
        break;
    }
}

int ooc_invoke(ooc_ctx_t *ctx)
{
    uint32_t i;
    if (ctx == NULL || !ctx->ready) {
        return OOC_ERR_STATE;
    }
    for (i = 0; i < ctx->model->n_ops; i++) {
        if (ctx->cfg.on_layer) {
            ctx->cfg.on_layer(ctx->cfg.context, i, 0);
        }
        run_op(ctx, &ctx->model->ops[i]);
        if (ctx->cfg.on_layer) {
            ctx->cfg.on_layer(ctx->cfg.context, i, 1);
        }
    }
    return OOC_OK;
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
    memcpy(arena_ptr(ctx, ctx->model->inputs[index]), data, bytes);
    return OOC_OK;
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
    memcpy(data, arena_ptr(ctx, ctx->model->outputs[index]), bytes);
    return OOC_OK;
}
