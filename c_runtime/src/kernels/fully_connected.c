/*
 * FULLY_CONNECTED, int8: out[b][o] = requantize(bias[o] + sum_i w[o][i] * (x[b][i] + input_offset)).
 * Weights have zero zero points (checked at ingest), so no filter offset term.
 */
#include "dsp.h" /* OOC_KERNEL_REF: this is the fallback of the DSP kernel when OOC_KERNELS_DSP = 1 */

void ooc_fully_connected_s8(const ooc_fc_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output)
{
    ooc_fully_connected_s8_channels(p, input, filter, bias, output, 0, p->out_depth);
}

void OOC_KERNEL_REF(ooc_fully_connected_s8_channels)(const ooc_fc_params_t *p, const int8_t *input,
                                                     const int8_t *filter, const int32_t *bias, int8_t *output,
                                                     int32_t o0, int32_t o1)
{
    int32_t b, o, i;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + b * p->in_depth;
        for (o = o0; o < o1; o++) {
            const int8_t *w = filter + (o - o0) * p->in_depth;
            const int32_t c = p->per_channel ? o : 0;
            int32_t acc = bias ? bias[o - o0] : 0;
            for (i = 0; i < p->in_depth; i++) {
                acc += (int32_t)w[i] * ((int32_t)x[i] + p->input_offset);
            }
            output[b * p->out_depth + o] = ooc_requantize_to_s8(acc, p->out_multiplier[c], p->out_shift[c],
                                                                p->output_offset, p->act_min, p->act_max);
        }
    }
}
