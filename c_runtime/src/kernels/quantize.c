/*
 * QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32),
 * bit-exact with TFLM's reference AffineQuantize, Requantize and Dequantize.
 *
 * No libm: the one rounding needed is done with integer conversions, exactly as
 * std::round on a float would do it.
 */
#include "ooc/ooc_kernels.h"

/* Beyond this magnitude round(q) + zero_point lies outside int8 for every int8
   zero point, so the quotient may be clamped here first; this also keeps the
   float -> int32 conversion below in range. */
#define QUANT_LIMIT 512.0f

static int8_t clamp_s8(int32_t v)
{
    if (v < -128) {
        return (int8_t)-128;
    }
    if (v > 127) {
        return (int8_t)127;
    }
    return (int8_t)v;
}

/*
 * round-half-away-from-zero of a float with |q| <= QUANT_LIMIT, as std::round.
 * The conversion truncates toward zero; q - t is then exact in float (t is q with
 * its fraction bits cleared), so comparing it with +-0.5 decides the rounding
 * without any intermediate rounding error.
 */
static int32_t round_half_away(float q)
{
    int32_t t = (int32_t)q;
    const float frac = q - (float)t;
    if (frac >= 0.5f) {
        t += 1;
    } else if (frac <= -0.5f) {
        t -= 1;
    }
    return t;
}

/*
 * TFLM: q = (int32)round(x / (float)scale) + zero_point, clamped to int8. The scale
 * TFLM keeps as a double is the float32 from the flatbuffer widened, and it is
 * narrowed back to float before dividing, so the quotient is a float32 / float32
 * division, as here.
 *
 * Inputs whose quotient leaves the int32 range (and NaN) are undefined behaviour
 * in TFLM's float -> int32 conversion; here they saturate (+-large -> 127/-128,
 * NaN -> zero_point), which is what TFLM computes on Cortex-M (VCVT saturates and
 * maps NaN to 0).
 */
void ooc_quantize_f32_s8(const ooc_quantize_params_t *p, const float *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        float q = input[i] / p->scale;
        int32_t r;
        if (q != q) {
            r = 0; /* NaN */
        } else {
            if (q > QUANT_LIMIT) {
                q = QUANT_LIMIT;
            } else if (q < -QUANT_LIMIT) {
                q = -QUANT_LIMIT;
            }
            r = round_half_away(q);
        }
        output[i] = clamp_s8(r + p->zero_point);
    }
}

/*
 * TFLM Requantize: subtract the input zero point, scale by input_scale /
 * output_scale (multiplier and shift from QuantizeMultiplier on the double ratio),
 * add the output zero point (the zero_point field) and clamp to int8.
 */
void ooc_requantize_s8(const ooc_quantize_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        const int32_t y = ooc_multiply_by_quantized_multiplier(x, p->multiplier, p->shift);
        output[i] = clamp_s8(y + p->zero_point);
    }
}

/*
 * TFLM computes (float)((double)scale * (double)(q - zero_point)). The double
 * product is exact: a 24-bit significand times an integer of at most 9 bits needs
 * at most 33 of the 53 bits, so the only rounding is the final one to float. A
 * float32 multiplication rounds the same exact product once, to the same float
 * (overflow to infinity and subnormal results included), so the kernel needs no
 * double arithmetic. This holds under IEEE default rounding with subnormals
 * enabled (no flush-to-zero mode, no -ffast-math).
 */
void ooc_dequantize_s8_f32(const ooc_quantize_params_t *p, const int8_t *input, float *output)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const int32_t x = (int32_t)input[i] - p->zero_point;
        output[i] = p->scale * (float)x;
    }
}
