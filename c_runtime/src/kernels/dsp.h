/*
 * The few Cortex-M DSP-extension instructions the DSP kernels (conv_dsp.c) use, as inline
 * functions: one instruction each when the compiler targets a core with the DSP extension
 * (__ARM_FEATURE_DSP: Cortex-M4, M7, M33 with DSP), and exact portable C otherwise, so that the
 * same kernel code runs, and is tested, on the host. Private to src/.
 *
 * Packed values are uint32_t holding two 16-bit lanes, the low lane in bits 0-15. Lane arithmetic
 * wraps modulo 2^16 and 32-bit sums modulo 2^32, as the instructions do; the portable versions
 * compute in unsigned arithmetic so that nothing overflows a signed type.
 *
 * Also here: the names the reference kernels take when the DSP kernels own the public names
 * (OOC_KERNELS_DSP = 1), so that the DSP kernels can hand the cases they do not specialise to them.
 */
#ifndef OOC_DSP_H
#define OOC_DSP_H

#include <string.h>

#include "../compiler.h"
#include "kernel_util.h"

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
#define OOC_KERNEL_REF(name) name##_ref
void ooc_conv2d_s8_channels_ref(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);
void ooc_depthwise_conv2d_s8_channels_ref(const ooc_conv_params_t *p, const int8_t *input,
                                          const int8_t *filter, const int32_t *bias, int8_t *output,
                                          int32_t c0, int32_t c1);
void ooc_fully_connected_s8_channels_ref(const ooc_fc_params_t *p, const int8_t *input, const int8_t *filter,
                                         const int32_t *bias, int8_t *output, int32_t o0, int32_t o1);
void ooc_pointwise_accumulate_s8_ref(const ooc_conv_params_t *p, const int8_t *input, int32_t n,
                                     const int8_t *filter, int32_t c0, int32_t c1, int32_t *sums);
#else
#define OOC_KERNEL_REF(name) name
#endif

/* Four bytes from any address: memcpy is the portable unaligned load, and GCC turns it into one
   LDR on cores that allow unaligned word loads (Cortex-M3 and up). */
static inline uint32_t ooc_read_u32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A packed lane value for both lanes: the input offset, added by SXTAB16. */
static inline uint32_t ooc_dup16(int32_t v)
{
    return ((uint32_t)v & 0xFFFFu) * 0x10001u;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP

/* Not volatile: pure functions of their operands, so the compiler may schedule, hoist or drop them. */

/* bytes 0 and 2, sign-extended into the two lanes */
static inline uint32_t ooc_sxtb16(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}

/* bytes 1 and 3, sign-extended into the two lanes */
static inline uint32_t ooc_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* a + bytes 0 and 2 of x, lane by lane */
static inline uint32_t ooc_sxtab16(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* a + bytes 1 and 3 of x, lane by lane */
static inline uint32_t ooc_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi */
static inline int32_t ooc_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* acc + a.lo * b.lo */
static inline int32_t ooc_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* acc + a.hi * b.hi */
static inline int32_t ooc_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Four bytes from *p (any alignment), then *p += 4: one post-indexed LDR. Written as asm so that
   the compiler does not merge it with an earlier load of the same word: the dot products load
   each word twice rather than keep both of its halves in registers they do not have. */
static inline uint32_t ooc_read_u32_inc(const int8_t **p)
{
    uint32_t r;
    __asm__("ldr %0, [%1], #4" : "=r"(r), "+r"(*p) : "m"(*(const int8_t(*)[4])(*p)));
    return r;
}

/* acc + the sum of the four unsigned bytes of x (USADA8 against zero: the byte sums of filter rows) */
static inline uint32_t ooc_usada8_0(uint32_t x, uint32_t acc)
{
    uint32_t r;
    __asm__("usada8 %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(0u), "r"(acc));
    return r;
}

/* A compiler barrier: no memory access moves across it. Between the taps of an unrolled window it
   keeps the compiler from hoisting all their loads ahead of the multiplies, which needs more
   registers than the core has and ends in spills. */
static inline void ooc_dsp_barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

/* a + b, saturated to int32 */
static inline int32_t ooc_qadd(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("qadd %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

#else /* portable C with the same results */

static inline int32_t ooc_byte_s(uint32_t x, int n) /* byte n of x, sign-extended */
{
    return (int32_t)(((x >> (8 * n)) & 0xFFu) ^ 0x80u) - 0x80;
}

static inline int32_t ooc_lane_s(uint32_t x, int n) /* lane n of x, sign-extended */
{
    return (int32_t)(((x >> (16 * n)) & 0xFFFFu) ^ 0x8000u) - 0x8000;
}

static inline uint32_t ooc_pack16(int32_t lo, int32_t hi) /* each lane keeps its value modulo 2^16 */
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/* back to int32 modulo 2^32, without the implementation-defined conversion of large values */
static inline int32_t ooc_wrap_s32(uint32_t v)
{
    return v <= 0x7FFFFFFFu ? (int32_t)v : (int32_t)(v - 0x80000000u) - 0x7FFFFFFF - 1;
}

static inline uint32_t ooc_sxtb16(uint32_t x)
{
    return ooc_pack16(ooc_byte_s(x, 0), ooc_byte_s(x, 2));
}

static inline uint32_t ooc_sxtb16_ror8(uint32_t x)
{
    return ooc_pack16(ooc_byte_s(x, 1), ooc_byte_s(x, 3));
}

static inline uint32_t ooc_sxtab16(uint32_t a, uint32_t x)
{
    return ooc_pack16(ooc_lane_s(a, 0) + ooc_byte_s(x, 0), ooc_lane_s(a, 1) + ooc_byte_s(x, 2));
}

static inline uint32_t ooc_sxtab16_ror8(uint32_t a, uint32_t x)
{
    return ooc_pack16(ooc_lane_s(a, 0) + ooc_byte_s(x, 1), ooc_lane_s(a, 1) + ooc_byte_s(x, 3));
}

/* each product fits int32 (|lane| <= 2^15); their sum may not, so add modulo 2^32 */
static inline int32_t ooc_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return ooc_wrap_s32((uint32_t)acc + (uint32_t)(ooc_lane_s(a, 0) * ooc_lane_s(b, 0)) +
                        (uint32_t)(ooc_lane_s(a, 1) * ooc_lane_s(b, 1)));
}

static inline int32_t ooc_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return ooc_wrap_s32((uint32_t)acc + (uint32_t)(ooc_lane_s(a, 0) * ooc_lane_s(b, 0)));
}

static inline int32_t ooc_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return ooc_wrap_s32((uint32_t)acc + (uint32_t)(ooc_lane_s(a, 1) * ooc_lane_s(b, 1)));
}

static inline uint32_t ooc_read_u32_inc(const int8_t **p)
{
    const uint32_t v = ooc_read_u32(*p);
    *p += 4;
    return v;
}

static inline uint32_t ooc_usada8_0(uint32_t x, uint32_t acc)
{
    return acc + (x & 0xFFu) + ((x >> 8) & 0xFFu) + ((x >> 16) & 0xFFu) + (x >> 24);
}

static inline void ooc_dsp_barrier(void)
{
}

static inline int32_t ooc_qadd(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + b;
    return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

#endif /* __ARM_FEATURE_DSP */

/* acc + a * b for one int8 pair, wrapping like the instructions (tails of the packed loops) */
static inline int32_t ooc_mac_s8(int32_t acc, int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(a * b));
}

/*
 * ooc_requantize_to_s8, inline and shorter, with the same result for every input (tests/c/
 * test_dsp_kernels.c checks): the kernels call it once per output, where the out-of-line
 * fixed-point helpers cost more than the MACs of a small pointwise or depthwise window. The
 * per-channel part (ooc_dsp_rq) is computed once for all the outputs of a channel.
 *
 * Rounding doubling high multiply: TFLM adds a nudge of 2^30 (1 - 2^30 for negative products) and
 * divides by 2^31 rounding toward zero. For negative products, truncating (ab + 1 - 2^30) / 2^31
 * equals flooring (ab + 1 - 2^30 + 2^31 - 1) / 2^31 = (ab + 2^30) / 2^31, and for the others
 * flooring and truncating agree: so the result is bits 31..62 of ab + 2^30, that is the high word
 * doubled plus bit 31 of the low word. Doubling the high word overflows only for INT32_MIN *
 * INT32_MIN (the only product above 2^62 - 2^31), which TFLM saturates to INT32_MAX: QADD does.
 */
typedef struct {
    int32_t multiplier;
    int32_t left, right; /* the shift as a left shift before and a right shift after the multiply */
    int32_t mask, half;  /* bits the right shift drops, and half of that (the rounding threshold) */
    int32_t fast;        /* 1: right >= 1 and multiplier != INT32_MIN (ooc_dsp_scale_right applies) */
} ooc_dsp_rq_t;

/* A channel's constants, once per channel where a kernel requantizes several outputs of it. */
static inline ooc_dsp_rq_t ooc_dsp_rq(int32_t multiplier, int32_t shift)
{
    ooc_dsp_rq_t r;
    r.multiplier = multiplier;
    r.left = shift > 0 ? shift : 0;
    r.right = shift > 0 ? 0 : -shift;
    if (multiplier == 0) { /* every output is the offset, whatever the shift (a pruned channel) */
        r.left = 0;
        r.right = r.right > 0 ? r.right : 1;
    }
    r.mask = (int32_t)(((uint32_t)1 << r.right) - 1u);
    r.half = r.mask >> 1;
    r.fast = r.right >= 1 && multiplier != INT32_MIN;
    return r;
}

/* ooc_dsp_rq(multiplier, shift).fast without the other constants: a check straight from the
   tables, for kernels a fused schedule calls once per row. */
static inline int ooc_dsp_rq_fast(int32_t multiplier, int32_t shift)
{
    return multiplier != INT32_MIN && (shift < 0 || multiplier == 0);
}

/*
 * ooc_multiply_by_quantized_multiplier(acc, m, -e) + add for e >= 1 and m != INT32_MIN (every
 * channel of a model whose scales are below 1), in six instructions. v = bits 31..62 of acc * m +
 * 2^30 (the doubling high multiply above): the high word doubled plus bit 31 of the low word plus
 * bit 30 (the rounding), which never overflows since |acc * m| < 2^62 - 2^30 when m != INT32_MIN,
 * so v != INT32_MIN and no saturation is needed. The division by 2^e rounding halves away from
 * zero is floor((v - [v < 0] + 2^(e-1)) / 2^e) = (t >> e) + bit e-1 of t with t = v - [v < 0]:
 * ASRS by e leaves that bit in the carry, and the last ADC adds it with `add` (the output offset).
 * Nothing overflows (|t >> e| <= 2^30).
 */
static inline int32_t ooc_dsp_scale_right(int32_t acc, int32_t m, int32_t e, int32_t add)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t lo, hi;
    __asm__("smull %[lo], %[hi], %[a], %[m]\n\t"
            "lsrs %[lo], %[lo], #31\n\t"
            "adc %[hi], %[lo], %[hi], lsl #1\n\t"
            "add %[hi], %[hi], %[hi], asr #31\n\t"
            "asrs %[hi], %[hi], %[e]\n\t"
            "adc %[hi], %[hi], %[add]"
            : [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [a] "r"(acc), [m] "r"(m), [e] "r"(e), [add] "r"(add)
            : "cc");
    return hi;
#else
    const int64_t ab = (int64_t)acc * m + ((int64_t)1 << 30);
    const int32_t v = (int32_t)(ab >> 31); /* arithmetic shift: as fixedpoint.c assumes */
    const int32_t t = v + (v >> 31);
    return (t >> e) + ((t >> (e - 1)) & 1) + add;
#endif
}

/* v saturated to int8: one SSAT, where the activation range is the whole of int8 */
static inline int8_t ooc_ssat8(int32_t v)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return (int8_t)r;
#else
    return ooc_clamp_s8(v, -128, 127);
#endif
}

/* The general case: a left shift, or the multiplier INT32_MIN. */
static inline int32_t ooc_dsp_scale_any(const ooc_dsp_rq_t *r, int32_t acc)
{
    const int64_t ab = (int64_t)(int32_t)((uint32_t)acc << r->left) * r->multiplier + ((int64_t)1 << 30);
    const int32_t high = (int32_t)(ab >> 32); /* arithmetic shift: as fixedpoint.c assumes */
    const int32_t v = (int32_t)((uint32_t)ooc_qadd(high, high) | ((uint32_t)ab >> 31));
    /* rounding divide by 2^right, halves away from zero (ooc_rounding_divide_by_pot) */
    return (v >> r->right) + ((v & r->mask) > r->half + (v < 0 ? 1 : 0) ? 1 : 0);
}

/* ooc_multiply_by_quantized_multiplier(acc, multiplier, shift) */
static inline int32_t ooc_dsp_scale(const ooc_dsp_rq_t *r, int32_t acc)
{
    return r->fast ? ooc_dsp_scale_right(acc, r->multiplier, r->right, 0) : ooc_dsp_scale_any(r, acc);
}

static inline int8_t ooc_dsp_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset,
                                        int32_t lo, int32_t hi)
{
    const ooc_dsp_rq_t r = ooc_dsp_rq(multiplier, shift);
    return ooc_clamp_s8(ooc_dsp_scale(&r, acc) + offset, lo, hi);
}

#endif /* OOC_DSP_H */
