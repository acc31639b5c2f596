/*
 * CONV_2D and DEPTHWISE_CONV_2D, int8 with per-channel requantization.
 *
 * For each output element: acc = bias[c] + sum over the window of
 * filter * (input + input_offset), skipping taps that fall in the padding
 * (they stand for the input zero point, whose contribution is zero after the
 * offset); then acc is scaled by the channel's Q31 multiplier and shift,
 * offset by the output zero point and clamped to the fused activation range.
 */
#include "dsp.h" /* OOC_KERNEL_REF: these are the fallback of the DSP kernels when OOC_KERNELS_DSP = 1 */

static int8_t requantize(int32_t acc, const ooc_conv_params_t *p, int32_t c)
{
    return ooc_requantize_to_s8(acc, p->out_multiplier[c], p->out_shift[c], p->output_offset, p->act_min,
                                p->act_max);
}

/* sum of f[i] * (x[i] + offset): the inner loop of every window, written so compilers vectorise it */
static int32_t dot_offset(const int8_t *f, const int8_t *x, int32_t n, int32_t offset)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        acc += (int32_t)f[i] * ((int32_t)x[i] + offset);
    }
    return acc;
}

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

void ooc_conv2d_s8(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                   const int32_t *bias, int8_t *output)
{
    ooc_conv2d_s8_channels(p, input, filter, bias, output, 0, p->out_c);
}

void OOC_KERNEL_REF(ooc_conv2d_s8_channels)(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                            const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    int32_t b, oy, ox, oc, ky, kx;
    const int32_t row = p->k_w * p->in_c; /* filter elements per kernel row */
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                /* taps outside the image stand for the input zero point and add nothing:
                   with no horizontal dilation the valid taps of a kernel row are one span */
                const int32_t kx0 = p->dil_w == 1 ? max_i32(0, -x0) : 0;
                const int32_t kx1 = p->dil_w == 1 ? min_i32(p->k_w, p->in_w - x0) : 0;
                int8_t *out_px = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (oc = c0; oc < c1; oc++) {
                    const int8_t *f = filter + (oc - c0) * p->k_h * row;
                    int32_t acc = bias ? bias[oc - c0] : 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in_h) {
                            continue;
                        }
                        if (p->dil_w == 1) {
                            if (kx1 > kx0) {
                                acc += dot_offset(f + ky * row + kx0 * p->in_c,
                                                  in_b + (y * p->in_w + x0 + kx0) * p->in_c,
                                                  (kx1 - kx0) * p->in_c, p->input_offset);
                            }
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t x = x0 + kx * p->dil_w;
                            if (x >= 0 && x < p->in_w) {
                                acc += dot_offset(f + (ky * p->k_w + kx) * p->in_c,
                                                  in_b + (y * p->in_w + x) * p->in_c, p->in_c,
                                                  p->input_offset);
                            }
                        }
                    }
                    out_px[oc] = requantize(acc, p, oc);
                }
            }
        }
    }
}

#define DW_CHUNK 64 /* channels accumulated together: contiguous, vectorisable inner loops */

void ooc_depthwise_conv2d_s8(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, int8_t *output)
{
    ooc_depthwise_conv2d_s8_channels(p, input, filter, bias, output, 0, p->out_c);
}

void OOC_KERNEL_REF(ooc_depthwise_conv2d_s8_channels)(const ooc_conv_params_t *p, const int8_t *input,
                                                      const int8_t *filter, const int32_t *bias, int8_t *output,
                                                      int32_t c_begin, int32_t c_end)
{
    const int32_t width = c_end - c_begin; /* the filter piece's channel stride */
    int32_t b, oy, ox, oc, ky, kx, c0, c;
    int32_t acc[DW_CHUNK];
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out_px = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                if (p->depth_multiplier != 1) {
                    for (oc = c_begin; oc < c_end; oc++) {
                        const int32_t ic = oc / p->depth_multiplier;
                        int32_t a = bias ? bias[oc - c_begin] : 0;
                        for (ky = 0; ky < p->k_h; ky++) {
                            const int32_t y = y0 + ky * p->dil_h;
                            for (kx = 0; kx < p->k_w; kx++) {
                                const int32_t x = x0 + kx * p->dil_w;
                                if (y >= 0 && y < p->in_h && x >= 0 && x < p->in_w) {
                                    a += (int32_t)filter[(ky * p->k_w + kx) * width + oc - c_begin] *
                                         ((int32_t)in_b[(y * p->in_w + x) * p->in_c + ic] + p->input_offset);
                                }
                            }
                        }
                        out_px[oc] = requantize(a, p, oc);
                    }
                    continue;
                }
                /* depth multiplier 1: channel c of the output reads channel c of the input */
                for (c0 = c_begin; c0 < c_end; c0 += DW_CHUNK) {
                    const int32_t n = min_i32(DW_CHUNK, c_end - c0);
                    for (c = 0; c < n; c++) {
                        acc[c] = bias ? bias[c0 - c_begin + c] : 0;
                    }
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t x = x0 + kx * p->dil_w;
                            const int8_t *f;
                            const int8_t *xin;
                            if (x < 0 || x >= p->in_w) {
                                continue;
                            }
                            f = filter + (ky * p->k_w + kx) * width + c0 - c_begin;
                            xin = in_b + (y * p->in_w + x) * p->in_c + c0;
                            for (c = 0; c < n; c++) {
                                acc[c] += (int32_t)f[c] * ((int32_t)xin[c] + p->input_offset);
                            }
                        }
                    }
                    for (c = 0; c < n; c++) {
                        out_px[c0 + c] = requantize(acc[c], p, c0 + c);
                    }
                }
            }
        }
    }
}

void ooc_conv_sums_init(const ooc_conv_params_t *p, const int32_t *bias, int32_t n, int32_t *sums)
{
    int32_t i, oc;
    for (i = 0; i < n; i++) {
        for (oc = 0; oc < p->out_c; oc++) {
            sums[i * p->out_c + oc] = bias ? bias[oc] : 0;
        }
    }
}

void OOC_KERNEL_REF(ooc_pointwise_accumulate_s8)(const ooc_conv_params_t *p, const int8_t *input, int32_t n,
                                                 const int8_t *filter, int32_t c0, int32_t c1, int32_t *sums)
{
    const int32_t width = c1 - c0;
    int32_t i, oc;
    for (i = 0; i < n; i++) {
        const int8_t *x = input + i * width;
        int32_t *s = sums + i * p->out_c;
        for (oc = 0; oc < p->out_c; oc++) {
            s[oc] += dot_offset(filter + oc * p->in_c + c0, x, width, p->input_offset);
        }
    }
}

void ooc_conv_sums_finish_s8(const ooc_conv_params_t *p, const int32_t *sums, int32_t n, int8_t *output)
{
    int32_t i, oc;
    for (i = 0; i < n; i++) {
        for (oc = 0; oc < p->out_c; oc++) {
            output[i * p->out_c + oc] = requantize(sums[i * p->out_c + oc], p, oc);
        }
    }
}
