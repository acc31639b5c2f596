/*
 * Approximate CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: the kernels walk, per row of the
 * compacted filter, the list of the operand groups it keeps (ooc_kernels.h), so a skipped group
 * costs nothing: no load, no multiply, no branch. The branches left are one per kept group (is
 * its tap inside the image), never one per MAC. The sums are the exact kernels' over the kept
 * weights, f * (x + input_offset) each, so they equal the exact kernel's on the filter with the
 * skipped weights zeroed; the requantization is the exact one.
 *
 * A group of four (the default) is one word of weights and one of inputs: with the DSP kernels
 * (OOC_KERNELS_DSP) two SMLADs over SXTB16/SXTAB16 lanes, the input offset added in the lanes
 * (|x + offset| <= 255 fits 16 bits); the reference kernels multiply byte by byte.
 */
#include "dsp.h"

/* sum of f[i] * (x[i] + offset), i < n */
static OOC_ALWAYS_INLINE int32_t group_dot(const int8_t *f, const int8_t *x, int32_t n, int32_t offset,
                                           uint32_t offset2, int32_t acc)
{
    int32_t i;
#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
    if (n == 4) {
        const uint32_t w = ooc_read_u32(f), v = ooc_read_u32(x);
        acc = ooc_smlad(ooc_sxtb16(w), ooc_sxtab16(offset2, v), acc);
        return ooc_smlad(ooc_sxtb16_ror8(w), ooc_sxtab16_ror8(offset2, v), acc);
    }
#else
    (void)offset2;
#endif
    for (i = 0; i < n; i++) {
        acc += (int32_t)f[i] * ((int32_t)x[i] + offset);
    }
    return acc;
}

static int8_t requantize(int32_t acc, const ooc_conv_params_t *p, int32_t c)
{
    return ooc_requantize_to_s8(acc, p->out_multiplier[c], p->out_shift[c], p->output_offset, p->act_min,
                                p->act_max);
}

void ooc_conv2d_skip_s8_channels(const ooc_conv_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                 const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t g = sp->group, row = sp->slots * sp->group;
    const uint32_t offset2 = ooc_dup16(p->input_offset);
    const uint32_t gi_mask = (1u << sp->gi_bits) - 1u, kx_mask = (1u << sp->kx_bits) - 1u;
    const uint32_t kx_shift = (uint32_t)sp->gi_bits, ky_shift = (uint32_t)(sp->gi_bits + sp->kx_bits);
    int32_t b, oy, ox, oc, k;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out_px = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (oc = c0; oc < c1; oc++) {
                    const int8_t *f = filter + (oc - c0) * row;
                    const uint16_t *ix = sp->index + oc * sp->slots;
                    const int32_t n = sp->kept[oc];
                    int32_t acc = bias ? bias[oc - c0] : 0;
                    for (k = 0; k < n; k++, f += g) {
                        const uint32_t e = ix[k];
                        const int32_t y = y0 + (int32_t)(e >> ky_shift) * p->dil_h;
                        const int32_t x = x0 + (int32_t)((e >> kx_shift) & kx_mask) * p->dil_w;
                        const int32_t ic = (int32_t)(e & gi_mask) * g;
                        if ((uint32_t)y < (uint32_t)p->in_h && (uint32_t)x < (uint32_t)p->in_w) {
                            acc = group_dot(f, in_b + (y * p->in_w + x) * p->in_c + ic,
                                            p->in_c - ic < g ? p->in_c - ic : g, p->input_offset, offset2, acc);
                        }
                    }
                    out_px[oc] = requantize(acc, p, oc);
                }
            }
        }
    }
}

#define SKIP_DW_MAX_GROUP 64 /* channels per group, at most (checked at init) */

/* Output channels [lo, hi) of one depthwise group, all in row `r` of the compacted filter. */
static void dw_group(const ooc_conv_skip_params_t *sp, const int8_t *in_b, const int8_t *filter, int32_t width,
                     const int32_t *bias, int8_t *out_px, int32_t y0, int32_t x0, int32_t c0, int32_t lo,
                     int32_t hi)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t r = lo / sp->group, n = hi - lo, dm = p->depth_multiplier;
    const uint16_t *ix = sp->index + r * sp->slots;
    int32_t acc[SKIP_DW_MAX_GROUP];
    int32_t c, k;
    for (c = 0; c < n; c++) {
        acc[c] = bias ? bias[lo - c0 + c] : 0;
    }
    for (k = 0; k < sp->kept[r]; k++) {
        const uint32_t e = ix[k];
        const int32_t y = y0 + (int32_t)(e >> 8) * p->dil_h;
        const int32_t x = x0 + (int32_t)(e & 255u) * p->dil_w;
        const int8_t *f = filter + k * width + (lo - c0);
        const int8_t *xin;
        if ((uint32_t)y >= (uint32_t)p->in_h || (uint32_t)x >= (uint32_t)p->in_w) {
            continue;
        }
        xin = in_b + (y * p->in_w + x) * p->in_c;
        if (dm == 1) {
            for (c = 0; c < n; c++) {
                acc[c] += (int32_t)f[c] * ((int32_t)xin[lo + c] + p->input_offset);
            }
        } else {
            for (c = 0; c < n; c++) {
                acc[c] += (int32_t)f[c] * ((int32_t)xin[(lo + c) / dm] + p->input_offset);
            }
        }
    }
    for (c = 0; c < n; c++) {
        out_px[lo + c] = requantize(acc[c], p, lo + c);
    }
}

void ooc_depthwise_conv2d_skip_s8_channels(const ooc_conv_skip_params_t *sp, const int8_t *input,
                                           const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                           int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t g = sp->group;
    int32_t b, oy, ox, lo;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out_px = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (lo = c0; lo < c1;) {
                    const int32_t end = (lo / g + 1) * g, hi = end < c1 ? end : c1;
                    dw_group(sp, in_b, filter, c1 - c0, bias, out_px, y0, x0, c0, lo, hi);
                    lo = hi;
                }
            }
        }
    }
}

void ooc_fully_connected_skip_s8_channels(const ooc_fc_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                          const int32_t *bias, int8_t *output, int32_t o0, int32_t o1)
{
    const ooc_fc_params_t *p = &sp->fc;
    const int32_t g = sp->group, row = sp->slots * sp->group;
    const uint32_t offset2 = ooc_dup16(p->input_offset);
    int32_t b, o, k;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + b * p->in_depth;
        for (o = o0; o < o1; o++) {
            const int8_t *f = filter + (o - o0) * row;
            const uint16_t *ix = sp->index + o * sp->slots;
            const int32_t n = sp->kept[o], c = p->per_channel ? o : 0;
            int32_t acc = bias ? bias[o - o0] : 0;
            for (k = 0; k < n; k++, f += g) {
                const int32_t i = (int32_t)ix[k] * g;
                acc = group_dot(f, x + i, p->in_depth - i < g ? p->in_depth - i : g, p->input_offset, offset2, acc);
            }
            output[b * p->out_depth + o] = ooc_requantize_to_s8(acc, p->out_multiplier[c], p->out_shift[c],
                                                                p->output_offset, p->act_min, p->act_max);
        }
    }
}
