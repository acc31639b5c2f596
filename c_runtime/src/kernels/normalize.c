/*
 * LOG_SOFTMAX and L2_NORMALIZATION along the last axis, int8 in and out, bit-exact with
 * tflite-micro's reference integer kernels (gemmlowp-style fixed point, "Qm" as in
 * kernel_util.h).
 *
 * LOG_SOFTMAX (output scale 16/256, zero point 127): per row, the differences x - max(row)
 * scaled into Q5 as SOFTMAX does, their exponentials summed in Q12, log(sum) in Q5; each output
 * is (difference - log(sum)) in Q5 rounded to 4 fractional bits, + 127, clamped. Differences at
 * or below adjusted_diff_min (the larger of diff_min - 1 and the difference whose Q5 value
 * minus log(sum) would leave the Q5 range) give -128.
 *
 * L2_NORMALIZATION (output scale 1/128, zero point 0): per row, the sum of squares of
 * x - zero point (int32, wrapping), its inverse square root as a multiplier and shift
 * (Newton-Raphson in Q3), and each output (x - zero point) times it with 7 more bits.
 */
#include "kernel_util.h"

#define LOG_SUM_INT_BITS 12  /* the sum of exponentials, Q12 */
#define LOG_INT_BITS 5       /* log(sum) and the differences, Q5 */
#define LOG_OUT_INT_BITS 4   /* the output's 16/256 steps: Q5 -> 4 fractional bits */
#define L2_OUTPUT_SHIFT 7    /* the output's 1/128 steps */

static int32_t mul(int32_t a, int32_t b)
{
    return ooc_sat_rounding_doubling_high_mul(a, b);
}

static int32_t sat_add(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return (int32_t)(s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : s));
}

/*
 * log(x) for x >= 1 given in Q12, the result in Q5. x = 2^z * r with r in [1/sqrt(2),
 * sqrt(2)) read twice (as x and as x / sqrt(2), whichever normalises better); log(r) from a
 * rational approximation around 2^-1/4, in Q0, and z * log(2) added in Q6 before the final
 * rescale to Q5.
 */
static int32_t log_q12_to_q5(int32_t x)
{
    const int32_t log_2 = 1488522236;          /* log(2), Q0 */
    const int32_t sqrt_sqrt_half = 1805811301; /* 2^-1/4 */
    const int32_t sqrt_half = 1518500250;      /* 2^-1/2 */
    const int32_t alpha_n = 117049297;         /* 11/240 * 2^1/4 */
    const int32_t alpha_d = 127690142;         /* 1/20 * 2^1/4 */
    const int32_t alpha_i = 1057819769;        /* 2 / 2^1/4 - 2^1/4 */
    const int32_t alpha_f = 638450708;         /* 1/4 * 2^1/4 */
    const int32_t quarter_q6 = (int32_t)1 << 23;
    const int a_headroom_plus_1 = ooc_count_leading_zeros((uint32_t)x);
    const int32_t r_a = ooc_sat_shift_left(mul(ooc_sat_shift_left(x, a_headroom_plus_1 - 1), sqrt_half), 1);
    const int32_t pow_a = sat_add(ooc_sat_shift_left(LOG_SUM_INT_BITS - a_headroom_plus_1, 31 - 6), quarter_q6);
    const int b_headroom = ooc_count_leading_zeros((uint32_t)mul(x, sqrt_half)) - 1;
    const int32_t r_b = ooc_sat_shift_left(x, b_headroom);
    const int32_t pow_b = sat_add(ooc_sat_shift_left(LOG_SUM_INT_BITS - b_headroom, 31 - 6), -quarter_q6);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t pow2 = pow_a > pow_b ? pow_a : pow_b; /* Q6 */
    const int32_t p = ooc_rounding_half_sum(r, sqrt_sqrt_half);
    const int32_t q = 2 * (r - sqrt_sqrt_half);
    const int32_t q2 = mul(q, q);
    const int32_t num = mul(q, r) + mul(mul(q, q2), alpha_n);
    const int32_t denom_minus_one = mul(p, alpha_i + q + mul(alpha_d, q2)) + mul(alpha_f, q);
    const int32_t log_r = mul(ooc_rounding_divide_by_pot(num, 6), ooc_one_over_one_plus_x(denom_minus_one));
    return ooc_sat_shift_left(mul(pow2, log_2) + log_r, 1);
}

/* The difference to the row's maximum in Q5. */
static int32_t diff_q5(const ooc_log_softmax_params_t *p, int32_t diff)
{
    return ooc_multiply_by_quantized_multiplier(diff, p->input_multiplier, (int)p->input_left_shift);
}

void ooc_log_softmax_s8(const ooc_log_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t row, c;
    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max_in_row = INT8_MIN, log_sum, adjusted_min, floor_diff;
        uint32_t sum = 0; /* Q12, wrapping as tflite-micro's int32 adds */
        for (c = 0; c < p->depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                sum += (uint32_t)ooc_rounding_divide_by_pot(ooc_exp_on_negative_values_q5(diff_q5(p, diff)),
                                                            LOG_SUM_INT_BITS);
            }
        }
        log_sum = log_q12_to_q5((int32_t)sum);
        /* the smallest Q5 value plus log(sum), scaled back to input steps */
        adjusted_min = ooc_multiply_by_quantized_multiplier((int32_t)((uint32_t)log_sum + 0x80000000u),
                                                            p->reverse_scaling_divisor,
                                                            -(int)p->reverse_scaling_right_shift);
        floor_diff = p->diff_min - 1;
        adjusted_min = adjusted_min > floor_diff ? adjusted_min : floor_diff;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            int32_t v = INT8_MIN;
            if (diff > adjusted_min) {
                v = ooc_rounding_divide_by_pot(diff_q5(p, diff) - log_sum, 31 - LOG_INT_BITS - LOG_OUT_INT_BITS) +
                    INT8_MAX;
            }
            out[c] = ooc_clamp_s8(v, INT8_MIN, INT8_MAX);
        }
    }
}

/* 1 / sqrt(sum) as a multiplier and a left shift (negative: right), sum the row's sum of
   squares; 0 and 1 give the largest multiplier. */
static void inv_sqrt(int32_t sum, int32_t *multiplier, int *shift)
{
    const int32_t half_three = ((int32_t)1 << 28) + ((int32_t)1 << 27); /* 1.5, Q3 */
    int32_t x = (int32_t)1 << 28;                                          /* 1.0, Q3 */
    int32_t half_input;
    int s = 11, pairs, i;
    if (sum <= 1) {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    while (sum >= ((int32_t)1 << 29)) {
        sum /= 4;
        ++s;
    }
    /* normalise to [2^27, 2^29) by an even left shift */
    pairs = (ooc_count_leading_zeros((uint32_t)sum) - 1) / 2 - 1;
    s -= pairs;
    sum <<= 2 * pairs;
    half_input = ooc_rounding_divide_by_pot(sum >> 1, 1); /* sum / 2 in Q3 */
    for (i = 0; i < 5; ++i) { /* Newton-Raphson: x = 1.5 x - sum/2 x^3 */
        const int32_t x3 = ooc_sat_shift_left(mul(mul(x, x), x), 6);
        x = ooc_sat_shift_left(mul(half_three, x) - mul(half_input, x3), 3);
    }
    x = mul(x, 1518500250); /* times sqrt(2) / 2 */
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *multiplier = x;
    *shift = -s;
}

void ooc_l2_norm_s8(const ooc_l2_norm_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t row, c;
    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        uint32_t acc = 0;
        int32_t multiplier;
        int shift;
        for (c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)in[c] - p->input_zero_point;
            acc += (uint32_t)(v * v);
        }
        inv_sqrt((int32_t)acc, &multiplier, &shift);
        for (c = 0; c < p->depth; ++c) {
            const int32_t v = (int32_t)in[c] - p->input_zero_point;
            out[c] = ooc_clamp_s8(ooc_multiply_by_quantized_multiplier(v, multiplier, shift + L2_OUTPUT_SHIFT),
                                  INT8_MIN, INT8_MAX);
        }
    }
}
