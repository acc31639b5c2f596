/* Fixed-point arithmetic of TFLM's default (double rounding) requantization. */
#include "ooc/ooc_kernels.h"

int32_t ooc_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C division truncates toward zero, as TFLM relies on */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

int32_t ooc_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* arithmetic right shift of a negative value: implementation-defined in C99,
       arithmetic on every compiler ooc supports (gcc, clang, arm-none-eabi-gcc) */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t ooc_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return ooc_rounding_divide_by_pot(
        ooc_sat_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}
