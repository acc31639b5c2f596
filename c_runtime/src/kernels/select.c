/*
 * Reductions that select: REDUCE_MAX over any set of axes (raw int8 comparisons: input and
 * output share one quantization), ARG_MAX and ARG_MIN along one axis (int32 indices, the first
 * of equal values), as tflite-micro's reference kernels.
 */
#include "ooc/ooc_kernels.h"

void ooc_reduce_max_s8(const ooc_reduce_max_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t out_stride[OOC_MAX_DIMS]; /* output element stride of each input axis, 0 if reduced */
    int32_t idx[OOC_MAX_DIMS];
    int32_t n_in = 1, n_out = 1, off = 0, i;
    int d;
    for (d = p->rank - 1; d >= 0; --d) {
        out_stride[d] = p->reduce[d] ? 0 : n_out;
        n_out *= p->reduce[d] ? 1 : p->in_dims[d];
        n_in *= p->in_dims[d];
        idx[d] = 0;
    }
    for (i = 0; i < n_out; ++i) {
        output[i] = INT8_MIN; /* an empty reduction keeps the lowest value, as tflite-micro */
    }
    /* walk the input in order; the odometer carries the output offset along */
    for (i = 0; i < n_in; ++i) {
        if (input[i] > output[off]) {
            output[off] = input[i];
        }
        for (d = p->rank - 1; d >= 0; --d) {
            off += out_stride[d];
            if (++idx[d] < p->in_dims[d]) {
                break;
            }
            off -= out_stride[d] * p->in_dims[d];
            idx[d] = 0;
        }
    }
}

static void arg_select(const ooc_arg_params_t *p, const int8_t *input, int32_t *output, int is_max)
{
    int32_t outer, inner, i;
    for (outer = 0; outer < p->outer; ++outer) {
        const int8_t *base = input + outer * p->axis_size * p->inner;
        for (inner = 0; inner < p->inner; ++inner) {
            int8_t best = base[inner];
            int32_t best_index = 0;
            for (i = 1; i < p->axis_size; ++i) {
                const int8_t v = base[i * p->inner + inner];
                if (is_max ? v > best : v < best) {
                    best = v;
                    best_index = i;
                }
            }
            output[outer * p->inner + inner] = best_index;
        }
    }
}

void ooc_arg_max_s8(const ooc_arg_params_t *p, const int8_t *input, int32_t *output)
{
    arg_select(p, input, output, 1);
}

void ooc_arg_min_s8(const ooc_arg_params_t *p, const int8_t *input, int32_t *output)
{
    arg_select(p, input, output, 0);
}
