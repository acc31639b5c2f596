/*
 * What the DSP kernels (conv_dsp.c: convolution, pointwise sums, fully connected;
 * pointwise_dsp.c: dense 1x1 convolutions; depthwise_dsp.c: depthwise convolution) share beyond
 * dsp.h's instructions: the output side of a kernel call. Private to src/kernels/, built only with OOC_KERNELS_DSP = 1.
 */
#ifndef OOC_DSP_KERNEL_H
#define OOC_DSP_KERNEL_H

#include "dsp.h"

static inline int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static inline int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

/* The output side of a kernel call: the requantization of conv and fully connected alike. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t step; /* 1: per-channel arrays; 0: one multiplier and shift for all channels */
    int32_t offset, lo, hi;
} requant_t;

static inline requant_t conv_requant(const ooc_conv_params_t *p)
{
    requant_t q;
    q.multiplier = p->out_multiplier;
    q.shift = p->out_shift;
    q.step = 1;
    q.offset = p->output_offset;
    q.lo = p->act_min;
    q.hi = p->act_max;
    return q;
}

/* Channel c's constants: derived once for all the outputs of that channel a loop produces. */
static inline ooc_dsp_rq_t channel_rq(const requant_t *q, int32_t c)
{
    return ooc_dsp_rq(q->multiplier[c * q->step], q->shift[c * q->step]);
}

static inline int8_t output_s8(const requant_t *q, const ooc_dsp_rq_t *r, int32_t acc)
{
    if (r->fast) {
        return ooc_clamp_s8(ooc_dsp_scale_right(acc, r->multiplier, r->right, q->offset), q->lo, q->hi);
    }
    return ooc_clamp_s8(ooc_dsp_scale_any(r, acc) + q->offset, q->lo, q->hi);
}

/* output_s8 for a channel whose constants are known fast (ooc_dsp_rq_t.fast), with the whole int8
   range as the activation range when `full` (a constant where it is inlined: the loops that call
   it are specialised for it). */
static OOC_ALWAYS_INLINE int8_t output_fast(const requant_t *q, const ooc_dsp_rq_t *r, int32_t acc, int full)
{
    const int32_t v = ooc_dsp_scale_right(acc, r->multiplier, r->right, q->offset);
    return full ? ooc_ssat8(v) : ooc_clamp_s8(v, q->lo, q->hi);
}

/* 1 where the activation range is all of int8 (no clamp beyond the saturation). */
static inline int full_range(const requant_t *q)
{
    return q->lo == -128 && q->hi == 127;
}

/* A dense 1x1 convolution's channels [c0, c1) (pointwise_dsp.c): 1 if it computed them, 0 where
   the layer is not one (the caller's other paths then apply). */
int ooc_conv2d_s8_pointwise(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);

#endif /* OOC_DSP_KERNEL_H */
