/*
 * The narrow dot products over contiguous int8 that conv_dsp.c and pointwise_dsp.c share (one
 * filter row against one or two input vectors, inputs offset by `off`: 0 for none). Static
 * functions, not inline: the compiler inlines or calls them per call site as it did when they
 * lived in conv_dsp.c. Private to src/kernels/, built only with OOC_KERNELS_DSP = 1; include it
 * only where both are used (conv_dsp.c has its own dot_1x2).
 */
#ifndef OOC_DSP_DOT_H
#define OOC_DSP_DOT_H

#include "dsp_kernel.h"

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP

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

/* bias + input_offset * (sum of the row) for `count` filter rows of n int8: acc = bias +
   sum w.(x + off) = that + sum w.x, all modulo 2^32 like the accumulators, so the sums are
   unchanged. Once per call and channel, where the inner loops then skip the offset; a fused
   schedule calls a kernel per row, so this runs once per row and channel there. The row's sum
   comes four bytes per USADA8: each byte flipped to w + 128 (unsigned), summed, 128 per byte
   taken off again; off * sum w = sum off * w modulo 2^32. */
static inline void fold_offset(const int8_t *w, int32_t n, int32_t count, int32_t off, const int32_t *bias,
                               int32_t *out)
{
    const uint32_t words = (uint32_t)n >> 2, flip = 0x80808080u;
    int32_t c, i;
    if (off == 0) { /* nothing to fold (a 1x1 convolution's tables hold it folded: offset_folds) */
        for (c = 0; c < count; c++) {
            out[c] = bias ? bias[c] : 0;
        }
        return;
    }
    for (c = 0; c < count; c++) {
        uint32_t s = 0, t = 0;
        int32_t acc;
        for (i = (int32_t)(words >> 1); i > 0; i--) { /* two sums: the USADA8s do not wait on each other */
            s = ooc_usada8_0(ooc_read_u32_inc(&w) ^ flip, s);
            t = ooc_usada8_0(ooc_read_u32_inc(&w) ^ flip, t);
        }
        if (words & 1u) {
            s = ooc_usada8_0(ooc_read_u32_inc(&w) ^ flip, s);
        }
        acc = (int32_t)((uint32_t)(bias ? bias[c] : 0) + (uint32_t)off * (s + t - 512u * words));
        for (i = 0; i < (n & 3); i++) {
            acc = ooc_mac_s8(acc, *w++, off);
        }
        out[c] = acc;
    }
}

/* Four bytes of filter rows w and w + k against four of inputs x and x + k, no offset, then
   w += 4 and x += 4: aa += wa.xa, ba += wb.xa, ab += wa.xb, bb += wb.xb. Both filter words are
   widened once into four registers, then each input word in turn: every word is loaded once, in
   six scratch registers. On the DSP extension one asm statement, so that the compiler cannot hoist
   the next step's loads above the multiplies (GCC does, and then spills); its memory clobber
   keeps it after every store the compiler sees before it (the loop keeps nothing in memory that
   it would have to reload). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define DOT_2X2_K_ASM                                                                              \
    "ldr %[t0], [%[w], %[k]]\n\t"                                                                  \
    "ldr %[t1], [%[w]], #4\n\t"                                                                    \
    "sxtb16 %[t2], %[t1]\n\t"                                                                      \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                              \
    "sxtb16 %[t3], %[t0]\n\t"                                                                      \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                              \
    "ldr %[t4], [%[x], %[k]]\n\t"                                                                  \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[ab], %[t2], %[t5], %[ab]\n\t"                                                         \
    "smlad %[ab], %[t1], %[t4], %[ab]\n\t"                                                         \
    "smlad %[bb], %[t3], %[t5], %[bb]\n\t"                                                         \
    "smlad %[bb], %[t0], %[t4], %[bb]\n\t"                                                         \
    "ldr %[t4], [%[x]], #4\n\t"                                                                    \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[aa], %[t2], %[t5], %[aa]\n\t"                                                         \
    "smlad %[aa], %[t1], %[t4], %[aa]\n\t"                                                         \
    "smlad %[ba], %[t3], %[t5], %[ba]\n\t"                                                         \
    "smlad %[ba], %[t0], %[t4], %[ba]\n\t"

/* the asm statement of `code` (the step once, twice or four times) */
#define DOT_2X2_K(code)                                                                            \
    do {                                                                                           \
        uint32_t t0, t1, t2, t3, t4, t5;                                                           \
        __asm__(code                                                                               \
                : [aa] "+r"(*aa), [ba] "+r"(*ba), [ab] "+r"(*ab), [bb] "+r"(*bb), [w] "+r"(*w),     \
                  [x] "+r"(*x), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),     \
                  [t4] "=&r"(t4), [t5] "=&r"(t5)                                                   \
                : [k] "r"(k)                                                                       \
                : "memory");                                                                       \
    } while (0)

static OOC_ALWAYS_INLINE void dot_2x2_k_4(const int8_t **w, const int8_t **x, int32_t k, int32_t *aa, int32_t *ba,
                               int32_t *ab, int32_t *bb)
{
    DOT_2X2_K(DOT_2X2_K_ASM);
}

static OOC_ALWAYS_INLINE void dot_2x2_k_8(const int8_t **w, const int8_t **x, int32_t k, int32_t *aa, int32_t *ba,
                               int32_t *ab, int32_t *bb)
{
    DOT_2X2_K(DOT_2X2_K_ASM DOT_2X2_K_ASM);
}

static OOC_ALWAYS_INLINE void dot_2x2_k_16(const int8_t **w, const int8_t **x, int32_t k, int32_t *aa, int32_t *ba,
                                int32_t *ab, int32_t *bb)
{
    DOT_2X2_K(DOT_2X2_K_ASM DOT_2X2_K_ASM DOT_2X2_K_ASM DOT_2X2_K_ASM);
}
#else
static OOC_ALWAYS_INLINE void dot_2x2_k_4(const int8_t **w, const int8_t **x, int32_t k, int32_t *aa, int32_t *ba,
                               int32_t *ab, int32_t *bb)
{
    const uint32_t wa = ooc_read_u32(*w), wb = ooc_read_u32(*w + k);
    const uint32_t xa = ooc_read_u32(*x), xb = ooc_read_u32(*x + k);
    const uint32_t a02 = ooc_sxtb16(wa), a13 = ooc_sxtb16_ror8(wa);
    const uint32_t b02 = ooc_sxtb16(wb), b13 = ooc_sxtb16_ror8(wb);
    *aa = ooc_smlad(a13, ooc_sxtb16_ror8(xa), ooc_smlad(a02, ooc_sxtb16(xa), *aa));
    *ba = ooc_smlad(b13, ooc_sxtb16_ror8(xa), ooc_smlad(b02, ooc_sxtb16(xa), *ba));
    *ab = ooc_smlad(a13, ooc_sxtb16_ror8(xb), ooc_smlad(a02, ooc_sxtb16(xb), *ab));
    *bb = ooc_smlad(b13, ooc_sxtb16_ror8(xb), ooc_smlad(b02, ooc_sxtb16(xb), *bb));
    *w += 4;
    *x += 4;
}

static OOC_ALWAYS_INLINE void dot_2x2_k_8(const int8_t **w, const int8_t **x, int32_t k, int32_t *aa, int32_t *ba,
                               int32_t *ab, int32_t *bb)
{
    dot_2x2_k_4(w, x, k, aa, ba, ab, bb);
    dot_2x2_k_4(w, x, k, aa, ba, ab, bb);
}

static OOC_ALWAYS_INLINE void dot_2x2_k_16(const int8_t **w, const int8_t **x, int32_t k, int32_t *aa, int32_t *ba,
                                int32_t *ab, int32_t *bb)
{
    dot_2x2_k_8(w, x, k, aa, ba, ab, bb);
    dot_2x2_k_8(w, x, k, aa, ba, ab, bb);
}
#endif

/* Filter rows w and w + k against one input x over n int8, no offset: acc[0] += w.x, acc[1] +=
   (w + k).x. The odd last pixel of a dense 1x1 convolution's channel pair, which a fused schedule
   meets on every row of an odd width: the input word is widened once for both rows, and eight
   bytes go per pass. */
static OOC_ALWAYS_INLINE void dot_1x2_k(const int8_t *w, const int8_t *x, int32_t k, int32_t n, int32_t *acc)
{
    int32_t a = acc[0], b = acc[1];
    int32_t i;
    for (i = n >> 3; i > 0; i--) {
        uint32_t xv = ooc_read_u32_inc(&x), wv = ooc_read_u32(w + k);
        uint32_t x02 = ooc_sxtb16(xv), x13 = ooc_sxtb16_ror8(xv);
        b = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, b));
        wv = ooc_read_u32_inc(&w);
        a = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, a));
        xv = ooc_read_u32_inc(&x), wv = ooc_read_u32(w + k);
        x02 = ooc_sxtb16(xv), x13 = ooc_sxtb16_ror8(xv);
        b = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, b));
        wv = ooc_read_u32_inc(&w);
        a = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, a));
    }
    for (i = 0; i < (n & 7); i++) {
        a = ooc_mac_s8(a, w[i], x[i]);
        b = ooc_mac_s8(b, w[k + i], x[i]);
    }
    acc[0] = a;
    acc[1] = b;
}

/* dot_2x2 without the offset for rows and inputs the same distance k apart (a 1x1 convolution's
   in_c: filter rows and adjacent pixels): one stride register leaves enough for the four
   accumulators and the six scratch registers. */
static OOC_ALWAYS_INLINE void dot_2x2_k(const int8_t *w, const int8_t *x, int32_t k, int32_t n, int32_t *acc)
{
    int32_t aa = acc[0], ba = acc[1], ab = acc[2], bb = acc[3];
    int32_t i;
    for (i = n >> 4; i > 0; i--) {
        dot_2x2_k_16(&w, &x, k, &aa, &ba, &ab, &bb);
    }
    if (n & 15) { /* one test where n is a multiple of 16, as most channel counts are */
        if (n & 8) {
            dot_2x2_k_8(&w, &x, k, &aa, &ba, &ab, &bb);
        }
        if (n & 4) {
            dot_2x2_k_4(&w, &x, k, &aa, &ba, &ab, &bb);
        }
        for (i = 0; i < (n & 3); i++) {
            aa = ooc_mac_s8(aa, w[i], x[i]);
            ba = ooc_mac_s8(ba, w[k + i], x[i]);
            ab = ooc_mac_s8(ab, w[i], x[k + i]);
            bb = ooc_mac_s8(bb, w[k + i], x[k + i]);
        }
    }
    acc[0] = aa;
    acc[1] = ba;
    acc[2] = ab;
    acc[3] = bb;
}

#endif /* OOC_KERNELS_DSP */

#endif /* OOC_DSP_DOT_H */
