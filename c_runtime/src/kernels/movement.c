/*
 * Data movement on int8 tensors: PAD, TRANSPOSE, CONCATENATION and
 * RESIZE_NEAREST_NEIGHBOR. None of them computes on the values (TFLM requires the
 * same quantization on input and output for all four), so bit-exactness with TFLM
 * is a matter of moving the same bytes to the same places; every index decision
 * that involves arithmetic (resize's source maps) was made ahead of time by the SDK.
 */
#include "ooc/ooc_kernels.h"

/* ---- PAD ----------------------------------------------------------------------- */

static void fill_s8(int8_t *dst, int32_t n, int8_t value)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        dst[i] = value;
    }
}

static void copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        dst[i] = src[i];
    }
}

/*
 * The output is written in row-major order, one innermost row at a time. A row
 * whose outer coordinates are all inside the input's span receives
 * pad_before[last] pad values, one input row, and pad_after[last] pad values; any
 * other row is entirely padding. The input is consumed strictly in order.
 */
void ooc_pad_s8(const ooc_pad_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t out_dims[OOC_MAX_DIMS];
    int32_t idx[OOC_MAX_DIMS];
    const int8_t pad = (int8_t)p->pad_value;
    int32_t last;
    int32_t d;

    if (p->rank <= 0) {
        *output = *input;
        return;
    }
    last = p->rank - 1;
    for (d = 0; d <= last; ++d) {
        out_dims[d] = p->pad_before[d] + p->in_dims[d] + p->pad_after[d];
        if (out_dims[d] <= 0) {
            return; /* empty output */
        }
        idx[d] = 0;
    }

    for (;;) {
        int inside = 1;
        for (d = 0; d < last; ++d) {
            if (idx[d] < p->pad_before[d] || idx[d] >= p->pad_before[d] + p->in_dims[d]) {
                inside = 0;
                break;
            }
        }
        if (inside) {
            fill_s8(output, p->pad_before[last], pad);
            output += p->pad_before[last];
            copy_s8(output, input, p->in_dims[last]);
            output += p->in_dims[last];
            input += p->in_dims[last];
            fill_s8(output, p->pad_after[last], pad);
            output += p->pad_after[last];
        } else {
            fill_s8(output, out_dims[last], pad);
            output += out_dims[last];
        }

        for (d = last - 1; d >= 0; --d) {
            idx[d] += 1;
            if (idx[d] < out_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
        if (d < 0) {
            return;
        }
    }
}

/* ---- TRANSPOSE ----------------------------------------------------------------- */

/*
 * Output element (i0, ..., ik) is input element at offset sum(i_d * in_strides[d]),
 * where in_strides[d] is the input's row-major stride of dimension perm[d]. The
 * output is written in order; an odometer keeps the input offset.
 */
void ooc_transpose_s8(const ooc_transpose_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t idx[OOC_MAX_DIMS];
    int32_t off = 0;
    int32_t last;
    int32_t n;
    int32_t step;
    int32_t d;

    if (p->rank <= 0) {
        *output = *input;
        return;
    }
    last = p->rank - 1;
    for (d = 0; d <= last; ++d) {
        if (p->out_dims[d] <= 0) {
            return;
        }
        idx[d] = 0;
    }
    n = p->out_dims[last];
    step = p->in_strides[last];

    for (;;) {
        int32_t i;
        for (i = 0; i < n; ++i) {
            output[i] = input[off + i * step];
        }
        output += n;

        for (d = last - 1; d >= 0; --d) {
            idx[d] += 1;
            off += p->in_strides[d];
            if (idx[d] < p->out_dims[d]) {
                break;
            }
            off -= p->in_strides[d] * p->out_dims[d];
            idx[d] = 0;
        }
        if (d < 0) {
            return;
        }
    }
}

/* ---- CONCATENATION ------------------------------------------------------------- */

/*
 * Viewing every tensor as [outer][axis][inner], the output's slab k is the
 * concatenation of every input's slab k (in_axis[i] * inner bytes each).
 */
void ooc_concat_s8(const ooc_concat_params_t *p, int32_t n_inputs, const int8_t *const *inputs,
                   const int32_t *in_axis, int8_t *output)
{
    int32_t k;
    int32_t i;
    for (k = 0; k < p->outer; ++k) {
        for (i = 0; i < n_inputs; ++i) {
            const int32_t chunk = in_axis[i] * p->inner;
            copy_s8(output, inputs[i] + k * chunk, chunk);
            output += chunk;
        }
    }
}

/* ---- RESIZE_NEAREST_NEIGHBOR --------------------------------------------------- */

/*
 * A pure gather: output pixel (y, x) copies the channels of input pixel
 * (row_map[y], col_map[x]). The maps hold TFLM's GetNearestNeighbor results, which
 * the SDK computed with the same float32 arithmetic.
 */
void ooc_resize_nearest_s8(const ooc_resize_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t row_stride = p->in_w * p->channels;
    const int32_t batch_stride = p->in_h * row_stride;
    int32_t b;
    int32_t y;
    int32_t x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * batch_stride;
        for (y = 0; y < p->out_h; ++y) {
            const int8_t *row = image + p->row_map[y] * row_stride;
            for (x = 0; x < p->out_w; ++x) {
                copy_s8(output, row + p->col_map[x] * p->channels, p->channels);
                output += p->channels;
            }
        }
    }
}
