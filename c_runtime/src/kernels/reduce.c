/*
 * MEAN over any set of axes of an int8 tensor of rank <= OOC_MAX_DIMS.
 *
 * Bit-exact with TFLM's int8 MEAN, which takes one path whatever the axes and
 * whether or not input and output share quantization (same_quant is
 * informational only):
 *
 *   sum    = sum of the raw int8 inputs over the reduced axes      (int32)
 *   value  = sum - input_zero_point * n                            (n = num_reduced)
 *   output = clamp(value * M' * 2^shift' + output_zero_point)
 *
 * where M * 2^shift = input_scale / output_scale (QuantizeMultiplier form) and
 * the division by n is folded into the multiplier: with k = floor(log2 n),
 * clamped to <= 32 and <= 31 + shift so the final right shift stays <= 31,
 *
 *   M'     = (M * 2^k) / n     (64-bit, truncating)
 *   shift' = shift - k
 *
 * The output is laid out as the input with the reduced axes removed (or kept
 * with size 1: the same order in memory).
 */
#include "ooc/ooc_kernels.h"

static int floor_log2_u64(uint64_t x)
{
    int k = -1;
    while (x != 0) {
        x >>= 1;
        ++k;
    }
    return k;
}

/* Fold 1/n into the multiplier (see above). */
static void mean_fold(const ooc_mean_params_t *p, int32_t *multiplier, int *shift)
{
    int k = floor_log2_u64((uint64_t)p->num_reduced);
    if (k > 32) {
        k = 32;
    }
    if (k > 31 + *shift) {
        k = 31 + *shift;
    }
    *multiplier = (int32_t)(((int64_t)*multiplier * ((int64_t)1 << k)) / p->num_reduced);
    *shift -= k;
}

/* One output from the wrapped int32 sum of its inputs. */
static int8_t mean_value(const ooc_mean_params_t *p, uint32_t sum, int32_t multiplier, int shift)
{
    /* sum - zp * n is formed in 64 bits and narrowed to int32 */
    int32_t value = (int32_t)(uint32_t)((int64_t)(int32_t)sum - (int64_t)p->input_zero_point * p->num_reduced);
    value = ooc_multiply_by_quantized_multiplier(value, multiplier, shift) + p->output_zero_point;
    if (value < INT8_MIN) {
        value = INT8_MIN;
    }
    if (value > INT8_MAX) {
        value = INT8_MAX;
    }
    return (int8_t)value;
}

void ooc_mean_finish_s8(const ooc_mean_params_t *p, const uint32_t *sums, int8_t *output, int32_t n)
{
    int32_t multiplier = p->multiplier, i;
    int shift = p->shift;
    if (p->num_reduced <= 0) {
        for (i = 0; i < n; ++i) {
            output[i] = 0;
        }
        return;
    }
    mean_fold(p, &multiplier, &shift);
    for (i = 0; i < n; ++i) {
        output[i] = mean_value(p, sums[i], multiplier, shift);
    }
}

void ooc_mean_s8(const ooc_mean_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t stride[OOC_MAX_DIMS];      /* element stride of each input axis */
    int32_t kept_dim[OOC_MAX_DIMS], kept_stride[OOC_MAX_DIMS];
    int32_t red_dim[OOC_MAX_DIMS], red_stride[OOC_MAX_DIMS];
    int32_t kept_idx[OOC_MAX_DIMS], red_idx[OOC_MAX_DIMS];
    int n_kept = 0, n_red = 0;
    int32_t multiplier = p->multiplier;
    int shift = p->shift;
    int32_t n_out = 1;
    int32_t o;
    int d;

    {
        int32_t s = 1;
        for (d = p->rank - 1; d >= 0; --d) {
            stride[d] = s;
            s *= p->in_dims[d];
        }
    }
    for (d = 0; d < p->rank; ++d) {
        if (p->reduce[d]) {
            red_dim[n_red] = p->in_dims[d];
            red_stride[n_red] = stride[d];
            ++n_red;
        } else {
            kept_dim[n_kept] = p->in_dims[d];
            kept_stride[n_kept] = stride[d];
            n_out *= p->in_dims[d];
            ++n_kept;
        }
    }

    if (p->num_reduced <= 0) {
        /* an empty reduction leaves the outputs zero-initialised, as in TFLM */
        for (o = 0; o < n_out; ++o) {
            output[o] = 0;
        }
        return;
    }

    mean_fold(p, &multiplier, &shift);

    for (d = 0; d < n_kept; ++d) {
        kept_idx[d] = 0;
    }
    for (o = 0; o < n_out; ++o) {
        int32_t base = 0;
        uint32_t sum = 0; /* int32 sum with TFLM's wrap-around on overflow */

        for (d = 0; d < n_kept; ++d) {
            base += kept_idx[d] * kept_stride[d];
        }

        /* odometer over the reduced axes */
        for (d = 0; d < n_red; ++d) {
            red_idx[d] = 0;
        }
        for (;;) {
            int32_t offset = base;
            for (d = 0; d < n_red; ++d) {
                offset += red_idx[d] * red_stride[d];
            }
            sum += (uint32_t)(int32_t)input[offset];
            for (d = n_red - 1; d >= 0; --d) {
                if (++red_idx[d] < red_dim[d]) {
                    break;
                }
                red_idx[d] = 0;
            }
            if (d < 0) {
                break;
            }
        }

        output[o] = mean_value(p, sum, multiplier, shift);

        /* next output position, row-major over the kept axes */
        for (d = n_kept - 1; d >= 0; --d) {
            if (++kept_idx[d] < kept_dim[d]) {
                break;
            }
            kept_idx[d] = 0;
        }
    }
}
