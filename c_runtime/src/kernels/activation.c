/*
 * Standalone int8 activations, bit-exact with TFLM's reference kernels: RELU and RELU_N1_TO_1
 * (requantize, then clamp), RELU6 (a clamp on the input's scale), LEAKY_RELU (one multiplier
 * per sign) and HARD_SWISH (16-bit fixed point). The parameters come from
 * ooc_sdk/lower/prepare/activation.py.
 */
#include "ooc/ooc_kernels.h"

#define S16_MIN (-32768)
#define S16_MAX 32767

void ooc_relu_s8(const ooc_activation_params_t *p, const int8_t *input, int8_t *output, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        int32_t v = p->output_zero_point +
                    ooc_multiply_by_quantized_multiplier((int32_t)input[i] - p->input_zero_point, p->multiplier,
                                                         (int)p->shift);
        v = v < p->act_min ? p->act_min : v; /* max first, then min, as TFLM */
        v = v > p->act_max ? p->act_max : v;
        output[i] = (int8_t)v;
    }
}

void ooc_relu6_s8(const ooc_activation_params_t *p, const int8_t *input, int8_t *output, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = input[i];
        output[i] = (int8_t)(v > p->act_max ? p->act_max : (v < p->act_min ? p->act_min : v));
    }
}

void ooc_leaky_relu_s8(const ooc_activation_params_t *p, const int8_t *input, int8_t *output, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        int32_t v = p->output_zero_point +
                    (x >= 0 ? ooc_multiply_by_quantized_multiplier(x, p->multiplier, (int)p->shift)
                            : ooc_multiply_by_quantized_multiplier(x, p->alpha_multiplier, (int)p->alpha_shift));
        v = v < -128 ? -128 : (v > 127 ? 127 : v);
        output[i] = (int8_t)v;
    }
}

/* ---- HARD_SWISH: 16-bit fixed point (gemmlowp's int16 arithmetic, as TFLM uses it) ---------- */

/* An int32 narrowed to int16 as a two's complement conversion does (TFLM stores int sums in
   int16_t variables; the wrap only shows at extreme scales). */
static int32_t wrap16(int32_t v)
{
    return (int32_t)(((uint32_t)v + 32768u) & 0xFFFFu) - 32768;
}

/* round(a * b / 2^15), saturating the one overflow (-2^15 * -2^15) */
static int32_t rounding_doubling_high_mul16(int32_t a, int32_t b)
{
    const int32_t ab = a * b;
    if (a == S16_MIN && b == S16_MIN) {
        return S16_MAX;
    }
    return (ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15); /* truncates toward zero */
}

/* a * b / 2^15 truncated toward zero (SQDMULH), saturating the one overflow */
static int32_t doubling_high_mul16(int32_t a, int32_t b)
{
    if (a == S16_MIN && b == S16_MIN) {
        return S16_MAX;
    }
    return (a * b) / (1 << 15);
}

static int32_t saturating_left_shift16(int32_t v, int32_t amount)
{
    int64_t r;
    if (v == 0) {
        return 0;
    }
    if (amount >= 16) {
        return v > 0 ? S16_MAX : S16_MIN;
    }
    r = (int64_t)v * ((int64_t)1 << amount);
    return r > S16_MAX ? S16_MAX : (r < S16_MIN ? S16_MIN : (int32_t)r);
}

/* gemmlowp's RoundingDivideByPOT on int16: the mask is an int16, so from exponent 16 on it is
   all ones (-1), as TFLM computes it. 0 <= exponent <= 31. */
static int32_t rounding_divide_by_pot16(int32_t x, int32_t exponent)
{
    const int32_t mask = exponent >= 16 ? -1 : (int32_t)((1L << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    /* arithmetic right shift of a negative value, as fixedpoint.c */
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static int8_t hard_swish_one(const ooc_hard_swish_params_t *p, int8_t in)
{
    const int32_t x = (int32_t)in - p->input_zero_point;
    const int32_t hires = x * 128; /* |x| <= 255: fits int16 */
    const int32_t preshift = rounding_doubling_high_mul16(hires, p->output_multiplier);
    int32_t reluish = hires;
    int32_t out;
    if (p->reluish_exponent > 0) {
        reluish = saturating_left_shift16(reluish, p->reluish_exponent - 1);
    }
    reluish = rounding_doubling_high_mul16(reluish, p->reluish_multiplier);
    if (p->reluish_exponent > 0) {
        reluish = saturating_left_shift16(reluish, 1);
    } else if (p->reluish_exponent < 0) {
        reluish = rounding_divide_by_pot16(reluish, -p->reluish_exponent);
    }
    reluish = (reluish + 32768) >> 1; /* [-1, 1] -> [0, 1] in Q15 */
    out = rounding_divide_by_pot16(doubling_high_mul16(reluish, preshift), -p->output_exponent);
    out = wrap16(out + p->output_zero_point);
    return (int8_t)(out > 127 ? 127 : (out < -128 ? -128 : out));
}

void ooc_hard_swish_s8(const ooc_hard_swish_params_t *p, const int8_t *input, int8_t *output, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        output[i] = hard_swish_one(p, input[i]);
    }
}
