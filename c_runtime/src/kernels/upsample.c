/*
 * The upsampling kernels, int8: RESIZE_BILINEAR and TRANSPOSE_CONV, bit-exact with
 * tflite-micro's reference kernels.
 *
 * RESIZE_BILINEAR interpolates the raw int8 values (input and output share a quantization) in
 * tflite-micro's integer recipe: the SDK tabulates, per output row and column, the lower and
 * upper source index and the upper one's weight f in 1/1024 (lower: 1024 - f), and the value
 * is sum(v * wy * wx) in 2^-20, rounded half away from zero by a truncating division.
 *
 * TRANSPOSE_CONV: tflite-micro scatters each input pixel's products into an int32 scratch the
 * size of the output, then requantizes per channel. Here each output element gathers the same
 * products -- input (iy, ix) and tap (ky, kx) reach output (iy * stride_h - pad_top + ky, ...)
 * -- into one int32 accumulator: the same integer sum (addition is exact and commutative), no
 * scratch, and any range of output channels can run alone (partial execution).
 */
#include <stddef.h>

#include "kernel_util.h"

/* ---- RESIZE_BILINEAR -------------------------------------------------------------- */

void ooc_resize_bilinear_s8(const ooc_resize_bilinear_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t one = 1 << 10, half = 1 << 19;
    const int32_t row = p->in_w * p->channels;
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * row;
        for (oy = 0; oy < p->out_h; oy++) {
            const int8_t *lo_row = in_b + p->y0[oy] * row;
            const int8_t *hi_row = in_b + p->y1[oy] * row;
            const int32_t wy1 = p->fy[oy], wy0 = one - wy1;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t a = p->x0[ox] * p->channels, e = p->x1[ox] * p->channels;
                const int32_t wx1 = p->fx[ox], wx0 = one - wx1;
                /* |weights| <= 1536 on one side, their sum is 1024: the sum stays below 2^30 */
                const int32_t w00 = wy0 * wx0, w10 = wy1 * wx0, w01 = wy0 * wx1, w11 = wy1 * wx1;
                for (c = 0; c < p->channels; c++) {
                    const int32_t s = lo_row[a + c] * w00 + hi_row[a + c] * w10 + lo_row[e + c] * w01 +
                                      hi_row[e + c] * w11;
                    *output++ = (int8_t)((s + (s > 0 ? half : -half)) / (1 << 20));
                }
            }
        }
    }
}

/* ---- TRANSPOSE_CONV --------------------------------------------------------------- */

/* The taps of one axis that reach output position o: k in [0, k_n) with o + pad - k a
   non-negative multiple of the stride below in_n * stride. Returns the first such tap (or
   k_n) and sets *i to its input position; the next ones are `stride` taps apart. */
static int32_t first_tap(int32_t o, int32_t pad, int32_t stride, int32_t k_n, int32_t in_n, int32_t *i)
{
    int32_t t = o + pad, k;
    if (t >= in_n * stride) { /* skip to the first tap that lands inside the input */
        k = t - (in_n - 1) * stride;
    } else {
        k = t % stride;
    }
    if (k < 0 || t - k < 0) {
        return k_n;
    }
    *i = (t - k) / stride;
    return k;
}

void ooc_transpose_conv_s8_channels(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                    const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const int32_t ic = p->in_c, tap_row = p->k_w * ic, per_oc = p->k_h * tap_row;
    int32_t b, oy, ox, oc, ky, kx, i;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * ic;
        for (oy = 0; oy < p->out_h; oy++) {
            int32_t iy0 = 0;
            const int32_t ky0 = first_tap(oy, p->pad_top, p->stride_h, p->k_h, p->in_h, &iy0);
            for (ox = 0; ox < p->out_w; ox++) {
                int32_t ix0 = 0;
                const int32_t kx0 = first_tap(ox, p->pad_left, p->stride_w, p->k_w, p->in_w, &ix0);
                int8_t *out_px = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (oc = c0; oc < c1; oc++) {
                    const int8_t *f_oc = filter + (oc - c0) * per_oc;
                    int32_t acc = 0, iy = iy0;
                    for (ky = ky0; ky < p->k_h && iy >= 0; ky += p->stride_h, iy--) {
                        int32_t ix = ix0;
                        for (kx = kx0; kx < p->k_w && ix >= 0; kx += p->stride_w, ix--) {
                            const int8_t *x = in_b + (iy * p->in_w + ix) * ic;
                            const int8_t *f = f_oc + ky * tap_row + kx * ic;
                            for (i = 0; i < ic; i++) {
                                acc += (int32_t)f[i] * ((int32_t)x[i] + p->input_offset);
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc - c0];
                    }
                    out_px[oc] = ooc_requantize_to_s8(acc, p->out_multiplier[oc], p->out_shift[oc], p->output_offset,
                                                      p->act_min, p->act_max);
                }
            }
        }
    }
}
