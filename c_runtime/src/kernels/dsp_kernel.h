/*
 * What the DSP kernels (conv_dsp.c: convolution, pointwise sums, fully connected;
 * pointwise_dsp.c: dense 1x1 convolutions; depthwise_dsp.c: depthwise convolution) share beyond
 * dsp.h's instructions: the output side of a kernel call. Private to src/kernels/, built only with OOC_KERNELS_DSP = 1.
 */
#ifndef OOC_DSP_KERNEL_H
#define OOC_DSP_KERNEL_H

#include "dsp.h"

static inline int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static inline int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

/* The output side of a kernel call: the requantization of conv and fully connected alike. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t step; /* 1: per-channel arrays; 0: one multiplier and shift for all channels */
    int32_t offset, lo, hi;
} requant_t;

static inline requant_t conv_requant(const ooc_conv_params_t *p)
{
    requant_t q;
    q.multiplier = p->out_multiplier;
    q.shift = p->out_shift;
    q.step = 1;
    q.offset = p->output_offset;
    q.lo = p->act_min;
    q.hi = p->act_max;
    return q;
}

/* Channel c's constants: derived once for all the outputs of that channel a loop produces. */
static inline ooc_dsp_rq_t channel_rq(const requant_t *q, int32_t c)
{
    return ooc_dsp_rq(q->multiplier[c * q->step], q->shift[c * q->step]);
}

static inline int8_t output_s8(const requant_t *q, const ooc_dsp_rq_t *r, int32_t acc)
{
    if (r->fast) {
        return ooc_clamp_s8(ooc_dsp_scale_right(acc, r->multiplier, r->right, q->offset), q->lo, q->hi);
    }
    return ooc_clamp_s8(ooc_dsp_scale_any(r, acc) + q->offset, q->lo, q->hi);
}

/* output_s8 for a channel whose constants are known fast (ooc_dsp_rq_t.fast), with the whole int8
   range as the activation range when `full` (a constant where it is inlined: the loops that call
   it are specialised for it). */
static OOC_ALWAYS_INLINE int8_t output_fast(const requant_t *q, const ooc_dsp_rq_t *r, int32_t acc, int full)
{
    const int32_t v = ooc_dsp_scale_right(acc, r->multiplier, r->right, q->offset);
    return full ? ooc_ssat8(v) : ooc_clamp_s8(v, q->lo, q->hi);
}

/* 1 where the activation range is all of int8 (no clamp beyond the saturation). */
static inline int full_range(const requant_t *q)
{
    return q->lo == -128 && q->hi == 127;
}

/* The fast requantization constants of channels c and c + 1 (both ooc_dsp_rq_t.fast), the output
   offset, and the activation range in both 16-bit lanes and alone; the asm below reads the first
   seven words by their offsets. */
typedef struct {
    int32_t mc, ec, md, ed, off;
    uint32_t lo2, hi2;
    int32_t lo, hi;
} pair_rq_t;

static inline pair_rq_t pair_rq(const requant_t *q, const ooc_dsp_rq_t *rc, const ooc_dsp_rq_t *rd)
{
    pair_rq_t k;
    k.mc = rc->multiplier;
    k.ec = rc->right;
    k.md = rd->multiplier;
    k.ed = rd->right;
    k.off = q->offset;
    k.lo2 = ooc_dup16(q->lo);
    k.hi2 = ooc_dup16(q->hi);
    k.lo = q->lo;
    k.hi = q->hi;
    return k;
}

/* The four-accumulator stores below need twelve registers in one asm statement: more than an
   unoptimised build (-O0, frame pointer kept) can give, so there they take two put_pair calls. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__OPTIMIZE__)
#define OOC_DSP_QUAD_ASM 1
#else
#define OOC_DSP_QUAD_ASM 0
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* ooc_dsp_scale_right of %[acc] with the offset, into %[acc]: the constants at %[k] + MOFF */
#define RQ_ONE(acc, moff) "ldrd %[m], %[e], [%[k], #" moff "]\n\t" RQ_CORE(acc)
/* the same with the constants already in %[m] and %[e] */
#define RQ_CORE(acc)                                                                               \
    "smull %[lo], %[hi], %[" acc "], %[m]\n\t"                                                     \
    "lsrs %[lo], %[lo], #31\n\t"                                                                   \
    "adc %[hi], %[lo], %[hi], lsl #1\n\t"                                                          \
    "add %[hi], %[hi], %[hi], asr #31\n\t"                                                         \
    "asrs %[hi], %[hi], %[e]\n\t"                                                                  \
    "adc %[" acc "], %[hi], %[o]\n\t"
#endif

/* out[0] and out[1] from the accumulators a (channel c) and b (channel c + 1): requantized
   (ooc_dsp_scale_right with the offset), then with `clamp` clamped to [lo, hi] as two 16-bit lanes
   (SSAT to 16 bits first, which changes no result since [lo, hi] lies within int8; SSUB16 and SEL
   take the lane maximum, then the minimum) and stored as one halfword, without it each saturated
   to int8. `clamp` is a constant where it is inlined. */
static OOC_ALWAYS_INLINE void put_pair(const pair_rq_t *k, int32_t a, int32_t b, int8_t *out, int clamp)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t m, e, lo, hi, o;
    if (clamp) {
        __asm__("ldr %[o], [%[k], #16]\n\t" RQ_ONE("a", "0") RQ_ONE("b", "8")
                "ssat %[a], #16, %[a]\n\t"
                "ssat %[b], #16, %[b]\n\t"
                "pkhbt %[a], %[a], %[b], lsl #16\n\t"
                "ldrd %[lo], %[hi], [%[k], #20]\n\t"
                "ssub16 %[m], %[a], %[lo]\n\t"
                "sel %[a], %[a], %[lo]\n\t"
                "ssub16 %[m], %[hi], %[a]\n\t"
                "sel %[a], %[a], %[hi]\n\t"
                "uxtb16 %[a], %[a]\n\t"
                "orr %[a], %[a], %[a], lsr #8\n\t"
                "strh %[a], [%[out]]"
                : [a] "+&r"(a), [b] "+&r"(b), [m] "=&r"(m), [e] "=&r"(e), [lo] "=&r"(lo), [hi] "=&r"(hi),
                  [o] "=&r"(o), "=m"(*(int8_t(*)[2])out)
                : [k] "r"(k), [out] "r"(out), "m"(*k)
                : "cc");
    } else {
        __asm__("ldr %[o], [%[k], #16]\n\t" RQ_ONE("a", "0") RQ_ONE("b", "8")
                "ssat %[a], #8, %[a]\n\t"
                "ssat %[b], #8, %[b]\n\t"
                "strb %[a], [%[out]]\n\t"
                "strb %[b], [%[out], #1]"
                : [a] "+&r"(a), [b] "+&r"(b), [m] "=&r"(m), [e] "=&r"(e), [lo] "=&r"(lo), [hi] "=&r"(hi),
                  [o] "=&r"(o), "=m"(*(int8_t(*)[2])out)
                : [k] "r"(k), [out] "r"(out), "m"(*k)
                : "cc");
    }
#else
    const int32_t va = ooc_dsp_scale_right(a, k->mc, k->ec, k->off);
    const int32_t vb = ooc_dsp_scale_right(b, k->md, k->ed, k->off);
    out[0] = clamp ? ooc_clamp_s8(va, k->lo, k->hi) : ooc_clamp_s8(va, -128, 127);
    out[1] = clamp ? ooc_clamp_s8(vb, k->lo, k->hi) : ooc_clamp_s8(vb, -128, 127);
#endif
}

/* put_pair(k, a, b, out, 0) and put_pair(k, c, d, out2, 0) in one asm statement, each channel's
   constants loaded once for both pixels: the 2x2 blocks over the whole int8 range. */
static OOC_ALWAYS_INLINE void put_quad_full(const pair_rq_t *k, int32_t a, int32_t b, int32_t c, int32_t d,
                                            int8_t *out, int8_t *out2)
{
#if OOC_DSP_QUAD_ASM
    int32_t m, e, lo, hi, o;
    __asm__("ldr %[o], [%[k], #16]\n\t"
            "ldrd %[m], %[e], [%[k]]\n\t" RQ_CORE("a") RQ_CORE("c")
            "ldrd %[m], %[e], [%[k], #8]\n\t" RQ_CORE("b") RQ_CORE("d")
            "ssat %[a], #8, %[a]\n\t"
            "ssat %[b], #8, %[b]\n\t"
            "ssat %[c], #8, %[c]\n\t"
            "ssat %[d], #8, %[d]\n\t"
            "strb %[a], [%[out]]\n\t"
            "strb %[b], [%[out], #1]\n\t"
            "strb %[c], [%[out2]]\n\t"
            "strb %[d], [%[out2], #1]"
            : [a] "+&r"(a), [b] "+&r"(b), [c] "+&r"(c), [d] "+&r"(d), [m] "=&r"(m), [e] "=&r"(e),
              [lo] "=&r"(lo), [hi] "=&r"(hi), [o] "=&r"(o), "=m"(*(int8_t(*)[2])out), "=m"(*(int8_t(*)[2])out2)
            : [k] "r"(k), [out] "r"(out), [out2] "r"(out2), "m"(*k)
            : "cc");
#else
    put_pair(k, a, b, out, 0);
    put_pair(k, c, d, out2, 0);
#endif
}

/* put_pair(k, a, b, out, 1) and put_pair(k, c, d, out2, 1) in one asm statement, each channel's
   constants loaded once for both pixels; with `min_only` (a constant where it is inlined: the
   activation range starts at -128) the lane maximum with lo is left out, SSAT to 8 bits doing
   its work. */
static OOC_ALWAYS_INLINE void put_quad_clamp(const pair_rq_t *k, int32_t a, int32_t b, int32_t c, int32_t d,
                                             int8_t *out, int8_t *out2, int min_only)
{
#if OOC_DSP_QUAD_ASM
    int32_t m, e, lo, hi, o;
#define PUT_QUAD_SCALE                                                                             \
    "ldr %[o], [%[k], #16]\n\t"                                                                    \
    "ldrd %[m], %[e], [%[k]]\n\t" RQ_CORE("a") RQ_CORE("c")                                        \
    "ldrd %[m], %[e], [%[k], #8]\n\t" RQ_CORE("b") RQ_CORE("d")
#define PUT_QUAD_STORE                                                                             \
    "uxtb16 %[a], %[a]\n\t"                                                                        \
    "uxtb16 %[c], %[c]\n\t"                                                                        \
    "orr %[a], %[a], %[a], lsr #8\n\t"                                                             \
    "orr %[c], %[c], %[c], lsr #8\n\t"                                                             \
    "strh %[a], [%[out]]\n\t"                                                                      \
    "strh %[c], [%[out2]]"
#define PUT_QUAD_OPERANDS                                                                          \
    : [a] "+&r"(a), [b] "+&r"(b), [c] "+&r"(c), [d] "+&r"(d), [m] "=&r"(m), [e] "=&r"(e),           \
      [lo] "=&r"(lo), [hi] "=&r"(hi), [o] "=&r"(o), "=m"(*(int8_t(*)[2])out), "=m"(*(int8_t(*)[2])out2) \
    : [k] "r"(k), [out] "r"(out), [out2] "r"(out2), "m"(*k)                                        \
    : "cc"
    if (min_only) {
        __asm__(PUT_QUAD_SCALE
                "ssat %[a], #8, %[a]\n\t"
                "ssat %[b], #8, %[b]\n\t"
                "ssat %[c], #8, %[c]\n\t"
                "ssat %[d], #8, %[d]\n\t"
                "pkhbt %[a], %[a], %[b], lsl #16\n\t"
                "pkhbt %[c], %[c], %[d], lsl #16\n\t"
                "ldr %[hi], [%[k], #24]\n\t"
                "ssub16 %[m], %[hi], %[a]\n\t"
                "sel %[a], %[a], %[hi]\n\t"
                "ssub16 %[m], %[hi], %[c]\n\t"
                "sel %[c], %[c], %[hi]\n\t" PUT_QUAD_STORE PUT_QUAD_OPERANDS);
    } else {
        __asm__(PUT_QUAD_SCALE
                "ssat %[a], #16, %[a]\n\t"
                "ssat %[b], #16, %[b]\n\t"
                "ssat %[c], #16, %[c]\n\t"
                "ssat %[d], #16, %[d]\n\t"
                "pkhbt %[a], %[a], %[b], lsl #16\n\t"
                "pkhbt %[c], %[c], %[d], lsl #16\n\t"
                "ldrd %[lo], %[hi], [%[k], #20]\n\t"
                "ssub16 %[m], %[a], %[lo]\n\t"
                "sel %[a], %[a], %[lo]\n\t"
                "ssub16 %[m], %[hi], %[a]\n\t"
                "sel %[a], %[a], %[hi]\n\t"
                "ssub16 %[m], %[c], %[lo]\n\t"
                "sel %[c], %[c], %[lo]\n\t"
                "ssub16 %[m], %[hi], %[c]\n\t"
                "sel %[c], %[c], %[hi]\n\t" PUT_QUAD_STORE PUT_QUAD_OPERANDS);
    }
#undef PUT_QUAD_SCALE
#undef PUT_QUAD_STORE
#undef PUT_QUAD_OPERANDS
#else
    (void)min_only;
    put_pair(k, a, b, out, 1);
    put_pair(k, c, d, out2, 1);
#endif
}

/* A dense 1x1 convolution's channels [c0, c1) (pointwise_dsp.c): 1 if it computed them, 0 where
   the layer is not one (the caller's other paths then apply). */
int ooc_conv2d_s8_pointwise(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);

#endif /* OOC_DSP_KERNEL_H */
