/*
 * AVERAGE_POOL_2D and MAX_POOL_2D, int8 NHWC, input and output sharing one
 * quantization (TFLM requires it, so no requantization happens).
 *
 * Bit-exact with TFLM's reference int8 pooling: the window is clipped to the
 * input (padding cells take no part at all, they are not zeros), the average
 * divides by the number of cells actually inside the input and rounds half away
 * from zero, and the fused activation range is applied last.
 */
#include "kernel_util.h"

/* Window [start, end) along one axis, clipped to the input. */
static void window(int32_t out_pos, int32_t stride, int32_t pad, int32_t filter, int32_t in_size,
                   int32_t *start, int32_t *end)
{
    const int32_t origin = out_pos * stride - pad;
    *start = origin < 0 ? 0 : origin;
    *end = origin + filter < in_size ? origin + filter : in_size;
}

void ooc_avg_pool_s8(const ooc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_n = p->channels;
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * c_n;
        for (oy = 0; oy < p->out_h; ++oy) {
            int32_t y0, y1;
            window(oy, p->stride_h, p->pad_top, p->filter_h, p->in_h, &y0, &y1);
            for (ox = 0; ox < p->out_w; ++ox) {
                int32_t x0, x1;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * c_n;
                window(ox, p->stride_w, p->pad_left, p->filter_w, p->in_w, &x0, &x1);
                for (c = 0; c < c_n; ++c) {
                    int32_t acc = 0;
                    int32_t count = 0;
                    int32_t y, x;
                    for (y = y0; y < y1; ++y) {
                        for (x = x0; x < x1; ++x) {
                            acc += in_b[(y * p->in_w + x) * c_n + c];
                            ++count;
                        }
                    }
                    /* a window wholly in the padding has no average (TFLM fails
                       the op); shapes from a valid model never produce one */
                    if (count > 0) {
                        /* round half away from zero; C division truncates */
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[c] = ooc_clamp_s8(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ooc_avg_pool_finish_s8(const ooc_pool_params_t *p, const int32_t *sums, int8_t *output)
{
    const int32_t count = p->in_h * p->in_w; /* a global window: every cell is inside */
    int32_t c;
    for (c = 0; c < p->channels; ++c) {
        const int32_t acc = sums[c];
        const int32_t avg = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        output[c] = ooc_clamp_s8(avg, p->act_min, p->act_max);
    }
}

void ooc_max_pool_s8(const ooc_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_n = p->channels;
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * c_n;
        for (oy = 0; oy < p->out_h; ++oy) {
            int32_t y0, y1;
            window(oy, p->stride_h, p->pad_top, p->filter_h, p->in_h, &y0, &y1);
            for (ox = 0; ox < p->out_w; ++ox) {
                int32_t x0, x1;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * c_n;
                window(ox, p->stride_w, p->pad_left, p->filter_w, p->in_w, &x0, &x1);
                for (c = 0; c < c_n; ++c) {
                    int32_t max = INT8_MIN; /* also the result of an empty window */
                    int32_t y, x;
                    for (y = y0; y < y1; ++y) {
                        for (x = x0; x < x1; ++x) {
                            const int32_t v = in_b[(y * p->in_w + x) * c_n + c];
                            if (v > max) {
                                max = v;
                            }
                        }
                    }
                    out[c] = ooc_clamp_s8(max, p->act_min, p->act_max);
                }
            }
        }
    }
}
