/*
 * SOFTMAX, int8 in and int8 out (output scale 1/256, zero point -128).
 *
 * Bit-exact with TFLM's reference int8 softmax, which works in gemmlowp-style
 * fixed point. A value "Qm" below is an int32 raw value with m integer bits and
 * 31 - m fractional bits (plus the sign bit):
 *
 *   - the difference x - max(row) is scaled by input_multiplier/left_shift
 *     (beta * input_scale, prepared ahead of time) into Q5, so [-32, 0);
 *   - exp() of that, in Q0, is built from a 4th order polynomial on
 *     [-1/4, 0) and a "barrel shifter" of exp(-2^k) factors;
 *   - the exponentials are summed in Q12, the sum's reciprocal is found by
 *     Newton-Raphson after normalising it to [1, 2);
 *   - every output is exp * reciprocal, shifted down to 8 bits.
 *
 * Differences below diff_min would give an exponential too small to matter
 * (and would overflow the Q5 scaling); they are skipped and output -128.
 */
#include "kernel_util.h"

#define Q_ONE_Q0 INT32_MAX            /* 1.0 is not representable in Q0: the largest value */
#define Q5_FRAC_BITS 26               /* fractional bits of a Q5 value */
#define SUM_INT_BITS 12               /* integer bits of the Q12 sum of exponentials */

static int32_t mul(int32_t a, int32_t b)
{
    return ooc_sat_rounding_doubling_high_mul(a, b);
}

/*
 * exp(a) for a in [-1/4, 0), a and the result in Q0. Taylor series around -1/8:
 * with x = a + 1/8, exp(a) = e^(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24).
 */
static int32_t exp_quarter_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* e^(-1/8) in Q0 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0 */
    const int32_t x = a + ((int32_t)1 << 28);        /* + 1/8 */
    const int32_t x2 = mul(x, x);
    const int32_t x3 = mul(x2, x);
    const int32_t x4 = mul(x2, x2);
    const int32_t x4_over_4 = ooc_rounding_divide_by_pot(x4, 2);
    /* ((x^4/4 + x^3) / 3 + x^2) / 2 = x^4/24 + x^3/6 + x^2/2 */
    const int32_t tail = ooc_rounding_divide_by_pot(mul(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + mul(exp_minus_one_eighth, x + tail);
}

/*
 * exp(a) for a <= 0 given in Q5; result in Q0. a is split as
 * a = r - k/4 with r in [-1/4, 0): exp(r) comes from the polynomial, and for
 * each set bit of k/4 (1/4, 1/2, 1, 2, 4, 8, 16) the result is multiplied by the
 * matching constant exp(-2^j).
 */
int32_t ooc_exp_on_negative_values_q5(int32_t a)
{
    static const int32_t factors[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int32_t quarter = (int32_t)1 << (Q5_FRAC_BITS - 2);
    const int32_t r = (a & (quarter - 1)) - quarter; /* in [-1/4, 0), Q5 */
    const int32_t remainder = r - a;                  /* k/4 >= 0, Q5, a multiple of 1/4 */
    int32_t result;
    int j;

    /* Q5 -> Q0 is an exact left shift by 5 here: |r| <= 1/4 */
    result = exp_quarter_interval(ooc_sat_shift_left(r, 5));
    for (j = 0; j < 7; ++j) {
        /* bit for 2^(j-2) in Q5 */
        if (remainder & ((int32_t)1 << (Q5_FRAC_BITS - 2 + j))) {
            result = mul(result, factors[j]);
        }
    }
    /* inputs below -32 cannot occur in Q5, so no clamp is needed */
    return a == 0 ? Q_ONE_Q0 : result;
}

/*
 * 1 / (1 + a) for a in [0, 1) in Q0: Newton-Raphson on the half denominator
 * d = (1 + a) / 2 in [1/2, 1), starting from 48/17 - 32/17 * d, iterating in
 * Q2 (the estimate of 1/d lies in (1, 2]) and halving at the end.
 */
int32_t ooc_one_over_one_plus_x(int32_t a)
{
    const int32_t q2_48_over_17 = 1515870810;
    const int32_t q2_neg_32_over_17 = -1010580540;
    const int32_t q2_one = (int32_t)1 << 29;
    const int32_t half_denominator = ooc_rounding_half_sum(a, Q_ONE_Q0);
    int32_t x = q2_48_over_17 + mul(half_denominator, q2_neg_32_over_17);
    int i;

    for (i = 0; i < 3; ++i) {
        const int32_t error = q2_one - mul(half_denominator, x); /* 1 - d*x, Q2 */
        /* x * error is in Q4; back to Q2 with a saturating shift by 2 */
        x = x + ooc_sat_shift_left(mul(x, error), 2);
    }
    /* x/2 seen as Q1, back to Q0 with a saturating shift by 1 */
    return ooc_sat_shift_left(x, 1);
}

/* exp(input_diff) of one element in Q0, input_diff in [diff_min, 0]. */
static int32_t scaled_exp(const ooc_softmax_params_t *p, int32_t input_diff)
{
    /* input_diff * 2^left_shift * multiplier / 2^31: the difference in Q5 */
    const int32_t shifted = (int32_t)((uint32_t)input_diff << p->input_left_shift);
    return ooc_exp_on_negative_values_q5(ooc_sat_rounding_doubling_high_mul(shifted, p->input_multiplier));
}

void ooc_softmax_s8(const ooc_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t row;
    for (row = 0; row < p->outer; ++row) {
        const int8_t *in = input + (int32_t)(row * p->depth);
        int8_t *out = output + (int32_t)(row * p->depth);
        int32_t max_in_row = INT8_MIN;
        uint32_t sum_of_exps = 0; /* Q12; wraps like TFLM's int32 adds */
        int32_t reciprocal;
        int headroom_plus_one;
        int exponent;
        int32_t c;

        for (c = 0; c < p->depth; ++c) {
            if (in[c] > max_in_row) {
                max_in_row = in[c];
            }
        }

        for (c = 0; c < p->depth; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= p->diff_min) {
                /* Q0 -> Q12: rounding shift right by 12 */
                sum_of_exps += (uint32_t)ooc_rounding_divide_by_pot(scaled_exp(p, input_diff),
                                                                    SUM_INT_BITS);
            }
        }

        /*
         * Reciprocal of the sum: normalise it to 1 + s with s in [0, 1) by a left
         * shift, take 1 / (1 + s) in Q0; the result is then
         * reciprocal * 2^-(num_bits_over_unit) with num_bits_over_unit =
         * SUM_INT_BITS - headroom_plus_one.
         */
        headroom_plus_one = ooc_count_leading_zeros(sum_of_exps);
        reciprocal = ooc_one_over_one_plus_x(
            (int32_t)((sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));
        /* exp * reciprocal is in Q0 (31 fractional bits); the output needs 8 bits,
           scaled down further by the sum's bits over one */
        exponent = (SUM_INT_BITS - headroom_plus_one) + 31 - 8;

        for (c = 0; c < p->depth; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            int32_t value = INT8_MIN;
            if (input_diff >= p->diff_min) {
                /* |exp * reciprocal| < 2^31: a shift by more than 31 rounds to 0
                   (TFLM refuses such rows at run time; sums past 2^28 need
                   hundreds of classes tied at the maximum) */
                const int32_t prob = exponent > 31 ? 0 : ooc_rounding_divide_by_pot(
                    mul(reciprocal, scaled_exp(p, input_diff)), exponent);
                value = prob + INT8_MIN;
                if (value > INT8_MAX) {
                    value = INT8_MAX;
                }
                if (value < INT8_MIN) {
                    value = INT8_MIN;
                }
            }
            out[c] = (int8_t)value;
        }
    }
}
