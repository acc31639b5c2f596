/*
 * The narrow dot products over contiguous int8 that conv_dsp.c and pointwise_dsp.c share (one or
 * two filter rows against one or two input vectors, inputs offset by `off`: 0 for none). Static
 * functions, not inline: the compiler inlines or calls them per call site as it did when they
 * lived in conv_dsp.c. Private to src/kernels/, built only with OOC_KERNELS_DSP = 1; include it
 * only where all three are used.
 */
#ifndef OOC_DSP_DOT_H
#define OOC_DSP_DOT_H

#include "dsp_kernel.h"

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP

/* Two filters against one input: acc[0] += wa.x, acc[1] += wb.x. */
static void dot_1x2(const int8_t *wa, const int8_t *wb, const int8_t *x, int32_t n, int32_t off, int32_t *acc)
{
    const uint32_t off2 = ooc_dup16(off);
    int32_t a = acc[0], b = acc[1];
    int32_t i;
    for (i = n >> 2; i > 0; i--) {
        const uint32_t xv = ooc_read_u32_inc(&x);
        const uint32_t x02 = ooc_sxtab16(off2, xv), x13 = ooc_sxtab16_ror8(off2, xv);
        uint32_t wv = ooc_read_u32_inc(&wa);
        a = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, a));
        wv = ooc_read_u32_inc(&wb);
        b = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, b));
    }
    for (i = 0; i < (n & 3); i++) {
        const int32_t xi = x[i] + off;
        a = ooc_mac_s8(a, wa[i], xi);
        b = ooc_mac_s8(b, wb[i], xi);
    }
    acc[0] = a;
    acc[1] = b;
}

/* One filter against two inputs: acc[0] += w.xa, acc[1] += w.xb. The odd channel at the end of a
   range: a channel split into single-channel pieces (the smallest SRAM budgets) runs only this. */
static void dot_2x1(const int8_t *w, const int8_t *xa, const int8_t *xb, int32_t n, int32_t off, int32_t *acc)
{
    const uint32_t off2 = ooc_dup16(off);
    int32_t a = acc[0], b = acc[1];
    int32_t i;
    for (i = n >> 2; i > 0; i--) {
        const uint32_t wv = ooc_read_u32_inc(&w);
        const uint32_t w02 = ooc_sxtb16(wv), w13 = ooc_sxtb16_ror8(wv);
        uint32_t xv = ooc_read_u32_inc(&xa);
        a = ooc_smlad(w13, ooc_sxtab16_ror8(off2, xv), ooc_smlad(w02, ooc_sxtab16(off2, xv), a));
        xv = ooc_read_u32_inc(&xb);
        b = ooc_smlad(w13, ooc_sxtab16_ror8(off2, xv), ooc_smlad(w02, ooc_sxtab16(off2, xv), b));
    }
    for (i = 0; i < (n & 3); i++) {
        a = ooc_mac_s8(a, w[i], xa[i] + off);
        b = ooc_mac_s8(b, w[i], xb[i] + off);
    }
    acc[0] = a;
    acc[1] = b;
}

/* One filter against one input: acc += w.x (the odd channel of a single-vector range). */
static int32_t dot_1x1(const int8_t *w, const int8_t *x, int32_t n, int32_t off, int32_t acc)
{
    const uint32_t off2 = ooc_dup16(off);
    int32_t i;
    for (i = n >> 2; i > 0; i--) {
        const uint32_t wv = ooc_read_u32_inc(&w), xv = ooc_read_u32_inc(&x);
        acc = ooc_smlad(ooc_sxtb16_ror8(wv), ooc_sxtab16_ror8(off2, xv),
                        ooc_smlad(ooc_sxtb16(wv), ooc_sxtab16(off2, xv), acc));
    }
    for (i = 0; i < (n & 3); i++) {
        acc = ooc_mac_s8(acc, w[i], x[i] + off);
    }
    return acc;
}

#endif /* OOC_KERNELS_DSP */

#endif /* OOC_DSP_DOT_H */
