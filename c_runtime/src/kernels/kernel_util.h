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

#endif /* OOC_KERNEL_UTIL_H */
