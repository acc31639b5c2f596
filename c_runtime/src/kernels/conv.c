/*
 * CONV_2D and DEPTHWISE_CONV_2D, int8 with per-channel requantization.
 *
 * For each output element: acc = bias[c] + sum over the window of
 * filter * (input + input_offset), skipping taps that fall in the padding
 * (they stand for the input zero point, whose contribution is zero after the
 * offset); then acc is scaled by the channel's Q31 multiplier and shift,
 * offset by the output zero point and clamped to the fused activation range.
 */
#include "ooc/ooc_kernels.h"

static int8_t requantize(int32_t acc, const ooc_conv_params_t *p, int32_t c)
{
    acc = ooc_multiply_by_quantized_multiplier(acc, p->out_multiplier[c], p->out_shift[c]);
    acc += p->output_offset;
    if (acc < p->act_min) {
        acc = p->act_min;
    }
    if (acc > p->act_max) {
        acc = p->act_max;
    }
    return (int8_t)acc;
}

void ooc_conv2d_s8(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                   const int32_t *bias, int8_t *output)
{
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (oc = 0; oc < p->out_c; oc++) {
                    const int8_t *f = filter + oc * p->k_h * p->k_w * p->in_c;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t x = x0 + kx * p->dil_w;
                            const int8_t *in_px;
                            const int8_t *f_px;
                            if (x < 0 || x >= p->in_w) {
                                continue;
                            }
                            in_px = in_b + (y * p->in_w + x) * p->in_c;
                            f_px = f + (ky * p->k_w + kx) * p->in_c;
                            for (ic = 0; ic < p->in_c; ic++) {
                                acc += (int32_t)f_px[ic] * ((int32_t)in_px[ic] + p->input_offset);
                            }
                        }
                    }
                    if (bias) {
                        acc += bias[oc];
                    }
                    *output++ = requantize(acc, p, oc);
                }
            }
        }
    }
}

void ooc_depthwise_conv2d_s8(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, int8_t *output)
{
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (ic = 0; ic < p->in_c; ic++) {
                    for (m = 0; m < p->depth_multiplier; m++) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (ky = 0; ky < p->k_h; ky++) {
                            const int32_t y = y0 + ky * p->dil_h;
                            if (y < 0 || y >= p->in_h) {
                                continue;
                            }
                            for (kx = 0; kx < p->k_w; kx++) {
                                const int32_t x = x0 + kx * p->dil_w;
                                if (x < 0 || x >= p->in_w) {
                                    continue;
                                }
                                acc += (int32_t)filter[(ky * p->k_w + kx) * p->out_c + oc] *
                                       ((int32_t)in_b[(y * p->in_w + x) * p->in_c + ic] + p->input_offset);
                            }
                        }
                        if (bias) {
                            acc += bias[oc];
                        }
                        output[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] = requantize(acc, p, oc);
                    }
                }
            }
        }
    }
}
