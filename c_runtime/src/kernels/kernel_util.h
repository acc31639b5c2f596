/* Helpers shared by the kernels: inline, so the hot loops pay no call. Private to src/. */
#ifndef OOC_KERNEL_UTIL_H
#define OOC_KERNEL_UTIL_H

#include "ooc/ooc_kernels.h"

/* Clamp to the fused activation range [lo, hi] (a sub-range of int8) and narrow. */
static inline int8_t ooc_clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Scale an int32 accumulator to the output: multiplier/shift, + output zero point, clamp. */
static inline int8_t ooc_requantize_to_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset,
                                          int32_t lo, int32_t hi)
{
    return ooc_clamp_s8(ooc_multiply_by_quantized_multiplier(acc, multiplier, (int)shift) + offset, lo, hi);
}

/* ---- gemmlowp-style fixed point (softmax.c, normalize.c): a "Qm" value is an int32 raw value
   with m integer bits and 31 - m fractional bits ---- */

/* Saturating multiply by 2^exponent (exponent >= 0) of a fixed-point raw value. */
static inline int32_t ooc_sat_shift_left(int32_t x, int exponent)
{
    const int32_t limit = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > limit) {
        return INT32_MAX;
    }
    if (x < -limit) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* (a + b) / 2 rounded half away from zero, without overflow. */
static inline int32_t ooc_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

static inline int ooc_count_leading_zeros(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* exp(a) for a <= 0 given in Q5; the result in Q0 (softmax.c). */
int32_t ooc_exp_on_negative_values_q5(int32_t a);
/* 1 / (1 + a) for a in [0, 1) in Q0 (softmax.c). */
int32_t ooc_one_over_one_plus_x(int32_t a);

#endif /* OOC_KERNEL_UTIL_H */
