/*
 * The int8 binary operators with broadcasting: ADD, MUL, SUB, MINIMUM, MAXIMUM,
 * SQUARED_DIFFERENCE and PRELU, bit-exact with TFLM's reference integer kernels (double-rounding
 * requantization).
 *
 * Broadcasting is resolved ahead of time: the SDK gives the output dimensions and,
 * for each input, the element stride to take along every output dimension (0 where
 * that input is broadcast). Each output element depends only on the two input
 * elements it pairs, so the order of traversal cannot change a result; the kernel
 * walks the output in row-major order with an odometer over the outer dimensions
 * and a plain loop over the innermost one.
 */
#include "dsp.h" /* the DSP kernels' inline requantization (OOC_KERNELS_DSP = 1 builds use it for ADD) */

enum binary_op { OP_ADD, OP_MUL, OP_SUB, OP_MINIMUM, OP_MAXIMUM, OP_SQUARED_DIFFERENCE, OP_PRELU };

/*
 * ADD: both inputs are brought to a common scale before summing.
 *  1. remove the zero point: x = q + input_offset, |x| <= 255;
 *  2. widen by 2^left_shift (20), which leaves ample headroom below 2^31
 *     (255 * 2^20 < 2^28) so the following down-scaling keeps 20 fraction bits;
 *  3. scale each input by its multiplier (input_scale / (2 * max input scale),
 *     always <= 0.5, so the shift is <= 0 and only rounds to the right);
 *  4. the sum is scaled by 2 * max input scale / (2^left_shift * output scale),
 *     the output zero point added, and the result clamped to the activation range.
 * With shift <= 0, ooc_multiply_by_quantized_multiplier performs exactly TFLM's
 * "smaller than one" variant: rounding doubling high multiply, then rounding right
 * shift.
 */
/* Steps 1 to 3 of ADD for one pair: both inputs without their zero points, widened and
   scaled to the common scale (ADD, SUB and SQUARED_DIFFERENCE share them). */
static void scale_pair(const ooc_elementwise_params_t *p, int8_t a, int8_t b, int32_t *s1, int32_t *s2)
{
    const int32_t widen = (int32_t)1 << p->left_shift;
    *s1 = ooc_multiply_by_quantized_multiplier((p->input1_offset + a) * widen, p->input1_multiplier,
                                               p->input1_shift);
    *s2 = ooc_multiply_by_quantized_multiplier((p->input2_offset + b) * widen, p->input2_multiplier,
                                               p->input2_shift);
}

/* Step 4: `v` scaled to the output, offset and clamped. */
static int8_t requantize_out(const ooc_elementwise_params_t *p, int32_t v)
{
    const int32_t out =
        ooc_multiply_by_quantized_multiplier(v, p->output_multiplier, p->output_shift) + p->output_offset;
    return ooc_clamp_s8(out, p->act_min, p->act_max);
}

#if !(defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP) /* else add_row_dsp */
static int8_t add_one(const ooc_elementwise_params_t *p, int8_t a, int8_t b)
{
    int32_t s1, s2;
    scale_pair(p, a, b, &s1, &s2);
    return requantize_out(p, s1 + s2);
}
#endif

/*
 * MUL: the product of the two zero-point-corrected inputs (at most 255 * 255 in
 * magnitude, well inside int32) is scaled by in1_scale * in2_scale / out_scale,
 * which may be above or below one (shift of either sign), then offset and clamped.
 */
static int8_t mul_one(const ooc_elementwise_params_t *p, int8_t a, int8_t b)
{
    return requantize_out(p, (p->input1_offset + a) * (p->input2_offset + b));
}

/* SUB: ADD's recipe (the SDK gives it ADD's very parameters) with the
   scaled second input subtracted instead of added. */
static int8_t sub_one(const ooc_elementwise_params_t *p, int8_t a, int8_t b)
{
    int32_t s1, s2;
    scale_pair(p, a, b, &s1, &s2);
    return requantize_out(p, s1 - s2);
}

/*
 * SQUARED_DIFFERENCE: the inputs widened by 2^7 (left_shift) and brought to a common scale
 * as in ADD (each |scaled| <= 255 * 2^6), their difference squared (< 2^29, no overflow),
 * then scaled by (2 * max input scale)^2 / (2^14 * output scale), a multiplier of either
 * side of one, offset and clamped to int8.
 */
static int8_t squared_difference_one(const ooc_elementwise_params_t *p, int8_t a, int8_t b)
{
    int32_t s1, s2;
    scale_pair(p, a, b, &s1, &s2);
    return requantize_out(p, (s1 - s2) * (s1 - s2));
}

/*
 * PRELU (a = the input, b = alpha): x = a - input zero point; x >= 0 is scaled by in / out,
 * x < 0 times (alpha - alpha zero point) by in * alpha / out (tflite-micro's two multipliers,
 * in the input scalings' fields); + output zero point, clamped to int8.
 */
static int8_t prelu_one(const ooc_elementwise_params_t *p, int8_t a, int8_t b)
{
    const int32_t x = p->input1_offset + a;
    const int32_t v = x >= 0 ? ooc_multiply_by_quantized_multiplier(x, p->input1_multiplier, p->input1_shift)
                             : ooc_multiply_by_quantized_multiplier(x * (p->input2_offset + b),
                                                                    p->input2_multiplier, p->input2_shift);
    return ooc_clamp_s8(v + p->output_offset, p->act_min, p->act_max);
}

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
/* ADD's run with the DSP kernels' requantization (dsp.h: ooc_dsp_scale equals
   ooc_multiply_by_quantized_multiplier for every input, in a few inline instructions where the
   out-of-line fixed-point helpers cost over a hundred per element), each scale's constants
   derived once per run. */
static void add_row_dsp(const ooc_elementwise_params_t *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb,
                        int8_t *out, int32_t n)
{
    const ooc_dsp_rq_t r1 = ooc_dsp_rq(p->input1_multiplier, p->input1_shift);
    const ooc_dsp_rq_t r2 = ooc_dsp_rq(p->input2_multiplier, p->input2_shift);
    const ooc_dsp_rq_t ro = ooc_dsp_rq(p->output_multiplier, p->output_shift);
    const int32_t widen = (int32_t)1 << p->left_shift;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t s1 = ooc_dsp_scale(&r1, (p->input1_offset + a[i * sa]) * widen);
        const int32_t s2 = ooc_dsp_scale(&r2, (p->input2_offset + b[i * sb]) * widen);
        out[i] = ooc_clamp_s8(ooc_dsp_scale(&ro, s1 + s2) + p->output_offset, p->act_min, p->act_max);
    }
}
#endif

/* One run of n output elements; each input advances by its own stride (0: broadcast). MINIMUM
   and MAXIMUM compare the raw values (the SDK checked that the three tensors share one
   quantization). */
static void run_row(const ooc_elementwise_params_t *p, enum binary_op op, const int8_t *a, int32_t sa,
                    const int8_t *b, int32_t sb, int8_t *out, int32_t n)
{
    int32_t i;
    switch (op) {
    case OP_ADD:
#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
        add_row_dsp(p, a, sa, b, sb, out, n);
#else
        for (i = 0; i < n; ++i) {
            out[i] = add_one(p, a[i * sa], b[i * sb]);
        }
#endif
        break;
    case OP_MUL:
        for (i = 0; i < n; ++i) {
            out[i] = mul_one(p, a[i * sa], b[i * sb]);
        }
        break;
    case OP_SUB:
        for (i = 0; i < n; ++i) {
            out[i] = sub_one(p, a[i * sa], b[i * sb]);
        }
        break;
    case OP_MINIMUM:
        for (i = 0; i < n; ++i) {
            out[i] = a[i * sa] < b[i * sb] ? a[i * sa] : b[i * sb];
        }
        break;
    case OP_MAXIMUM:
        for (i = 0; i < n; ++i) {
            out[i] = a[i * sa] > b[i * sb] ? a[i * sa] : b[i * sb];
        }
        break;
    case OP_SQUARED_DIFFERENCE:
        for (i = 0; i < n; ++i) {
            out[i] = squared_difference_one(p, a[i * sa], b[i * sb]);
        }
        break;
    case OP_PRELU:
        for (i = 0; i < n; ++i) {
            out[i] = prelu_one(p, a[i * sa], b[i * sb]);
        }
        break;
    }
}

static void broadcast_run(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2,
                          int8_t *output, enum binary_op op)
{
    int32_t idx[OOC_MAX_DIMS];
    int32_t off1 = 0;
    int32_t off2 = 0;
    int32_t last;
    int32_t n;
    int32_t step1;
    int32_t step2;
    int32_t d;

    /* rank 0 (a scalar) behaves like one dimension of size 1 */
    if (p->rank <= 0) {
        run_row(p, op, in1, 0, in2, 0, output, 1);
        return;
    }
    last = p->rank - 1;
    for (d = 0; d <= last; ++d) {
        if (p->out_dims[d] <= 0) {
            return; /* empty output */
        }
        idx[d] = 0;
    }
    n = p->out_dims[last];
    step1 = p->in1_strides[last];
    step2 = p->in2_strides[last];

    for (;;) {
        /* innermost dimension: one run of n output elements */
        run_row(p, op, in1 + off1, step1, in2 + off2, step2, output, n);
        output += n;

        /* advance the odometer over the outer dimensions, last to first; a
           dimension that wraps around rewinds its input offsets to its start */
        for (d = last - 1; d >= 0; --d) {
            idx[d] += 1;
            off1 += p->in1_strides[d];
            off2 += p->in2_strides[d];
            if (idx[d] < p->out_dims[d]) {
                break;
            }
            off1 -= p->in1_strides[d] * p->out_dims[d];
            off2 -= p->in2_strides[d] * p->out_dims[d];
            idx[d] = 0;
        }
        if (d < 0) {
            return;
        }
    }
}

void ooc_add_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_ADD);
}

void ooc_mul_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_MUL);
}

void ooc_sub_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_SUB);
}

void ooc_minimum_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_MINIMUM);
}

void ooc_maximum_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_MAXIMUM);
}

void ooc_squared_difference_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2,
                               int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_SQUARED_DIFFERENCE);
}

void ooc_prelu_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output)
{
    broadcast_run(p, in1, in2, output, OP_PRELU);
}
