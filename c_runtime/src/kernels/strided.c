/*
 * Strided copies (SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH)
 * and block shuffles (SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND) on int8 tensors. Like the other
 * data movement, they move bytes: the SDK checked that input and output share quantization and
 * resolved every index ahead of time (ooc_sdk/lower/prepare/strided.py), and ooc_init checked
 * that every index the parameters reach lies inside the input.
 */
#include "ooc/ooc_kernels.h"

#include <string.h>

/*
 * The output is written in order. The innermost dimension is copied as one run when its
 * input stride is 1 and element by element otherwise; the outer coordinates advance like an
 * odometer, moving the input position by each dimension's stride.
 */
void ooc_strided_copy_s8(const ooc_strided_copy_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t idx[OOC_MAX_DIMS];
    const int32_t last = p->rank - 1;
    const int32_t n = p->out_dims[last];
    const int32_t step = p->in_strides[last];
    int32_t pos = p->offset;
    int32_t d;

    for (d = 0; d < p->rank; ++d) {
        idx[d] = 0;
    }
    for (;;) {
        if (step == 1) {
            memcpy(output, input + pos, (size_t)n);
        } else {
            int32_t i;
            for (i = 0; i < n; ++i) {
                output[i] = input[pos + i * step];
            }
        }
        output += n;
        for (d = last - 1; d >= 0; --d) {
            pos += p->in_strides[d];
            if (++idx[d] < p->out_dims[d]) {
                break;
            }
            pos -= p->in_strides[d] * p->out_dims[d];
            idx[d] = 0;
        }
        if (d < 0) {
            return;
        }
    }
}

/* One output row of SPACE_TO_BATCH_ND: batch-side row th of batch ob. */
static void to_batch_row(const ooc_space_batch_params_t *p, const int8_t *input, int8_t *out, int32_t ob,
                         int32_t th)
{
    const int32_t b = ob % p->batches;
    const int32_t phase = ob / p->batches;
    const int32_t sh = th * p->block_h + phase / p->block_w - p->pad_top;
    const int32_t c = p->channels;
    int32_t tw;
    for (tw = 0; tw < p->batch_w; ++tw, out += c) {
        const int32_t sw = tw * p->block_w + phase % p->block_w - p->pad_left;
        if (sh < 0 || sh >= p->space_h || sw < 0 || sw >= p->space_w) {
            memset(out, (int)(int8_t)p->pad_value, (size_t)c);
        } else {
            const size_t pixel = ((size_t)b * (size_t)p->space_h + (size_t)sh) * (size_t)p->space_w + (size_t)sw;
            memcpy(out, input + pixel * (size_t)c, (size_t)c);
        }
    }
}

/* One output row of BATCH_TO_SPACE_ND: space-side row sh of batch b (crops leave it inside). */
static void to_space_row(const ooc_space_batch_params_t *p, const int8_t *input, int8_t *out, int32_t b,
                         int32_t sh)
{
    const int32_t fh = sh + p->pad_top;
    const int32_t th = fh / p->block_h;
    const int32_t c = p->channels;
    int32_t sw;
    for (sw = 0; sw < p->space_w; ++sw, out += c) {
        const int32_t fw = sw + p->pad_left;
        const int32_t ib = ((fh % p->block_h) * p->block_w + fw % p->block_w) * p->batches + b;
        const size_t pixel = ((size_t)ib * (size_t)p->batch_h + (size_t)th) * (size_t)p->batch_w + (size_t)(fw / p->block_w);
        memcpy(out, input + pixel * (size_t)c, (size_t)c);
    }
}

void ooc_space_batch_s8(const ooc_space_batch_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t n, r;
    if (p->to_batch) {
        const int32_t nb = p->batches * p->block_h * p->block_w;
        for (n = 0; n < nb; ++n) {
            for (r = 0; r < p->batch_h; ++r) {
                to_batch_row(p, input, output, n, r);
                output += (size_t)p->batch_w * (size_t)p->channels;
            }
        }
        return;
    }
    for (n = 0; n < p->batches; ++n) {
        for (r = 0; r < p->space_h; ++r) {
            to_space_row(p, input, output, n, r);
            output += (size_t)p->space_w * (size_t)p->channels;
        }
    }
}
