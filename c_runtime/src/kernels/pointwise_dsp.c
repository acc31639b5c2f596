/*
 * Dense 1x1 convolutions on the Cortex-M DSP extension: CONV_2D with a 1x1 kernel, stride 1, no
 * padding and input rows as wide as the output's, so that pixel px's input vector is at
 * input + px * in_c (most of a MobileNet's MACs). conv_dsp.c hands them here.
 *
 * Channel pairs outermost: each channel's requantization constants (ooc_dsp_rq) and its bias with
 * the input offset folded in are derived once per call, then all the pixels go by two. The
 * inner loop is a 2x2 block (two filter rows, two adjacent pixels) in which every word is loaded
 * once and widened once; folding the offset frees the register SXTAB16 would need, and one
 * stride register (in_c: filter rows and adjacent pixels are the same distance apart) serves
 * all four pointers, so the block fits the core's registers without spills: 20 instructions per
 * 16 MACs (dot_2x2 in conv_dsp.c, which reloads every word, takes 24), 16 bytes per loop pass.
 * An odd last pixel takes both channels in one widened pass (dot_1x2_k).
 *
 * A fused schedule calls this once per output row (few pixels, often an odd number): there the
 * per-pair set-up costs as much as the products, so with up to FEW_PIXELS pixels all the pairs
 * go through one function (few_pixels), each pair's constants read straight from the tables and
 * checked there (a pair not on the fast requantization, rare, takes pointwise_channel_pair); from
 * one pixel on (a wider path would gather 1x1 windows and fold the offset all the same). The
 * tables hold a 1x1 convolution's bias with the offset folded in and input_offset 0
 * (ooc_sdk/lower/prepare/conv.py, offset_folds), so fold_offset then only copies the biases.
 *
 * Bit-exact with the reference: acc = bias + sum w * (x + off) = (bias + off * sum w) + sum w * x,
 * every sum modulo 2^32 like the reference's int32 accumulators; requantization unchanged
 * (dsp_kernel.h). Memory: locals only (no buffer).
 */
#include "dsp_dot.h"

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP

#define FOLD_MIN_PIXELS 4 /* below this many pixels folding costs more than it saves */
#define FEW_PIXELS 64     /* up to this many pixels per call (a fused row) all channel pairs go in one function */

/* Channels c and c + 1 (constants rc, rd, folded biases b) over pixels [0, pixels & ~1): `mode` 0
   takes the general requantization, the others the fast one (both channels' constants are
   ooc_dsp_rq_t.fast): 1 with the clamp, 2 over the whole int8 range, 3 with an activation range
   from -128 (only its top to clamp); a constant where it is inlined, so each mode gets its own
   loop. */
static OOC_ALWAYS_INLINE void pair_pixels(const int8_t *input, const int8_t *w, int32_t n, int32_t oc,
                                          int32_t pixels, const requant_t *q, const ooc_dsp_rq_t *rc,
                                          const ooc_dsp_rq_t *rd, const int32_t *b, int8_t *out, int mode)
{
    const pair_rq_t k = pair_rq(q, rc, rd);
    int32_t acc[4], px;
    for (px = 0; px + 1 < pixels; px += 2, input += 2 * n, out += 2 * oc) {
        acc[0] = acc[2] = b[0];
        acc[1] = acc[3] = b[1];
        dot_2x2_k(w, input, n, n, acc);
        if (mode == 2) {
            put_quad_full(&k, acc[0], acc[1], acc[2], acc[3], out, out + oc);
        } else if (mode == 1 || mode == 3) {
            put_quad_clamp(&k, acc[0], acc[1], acc[2], acc[3], out, out + oc, mode == 3);
        } else {
            out[0] = output_s8(q, rc, acc[0]);
            out[1] = output_s8(q, rd, acc[1]);
            out[oc] = output_s8(q, rc, acc[2]);
            out[oc + 1] = output_s8(q, rd, acc[3]);
        }
    }
}

/* pair_pixels for each mode, each a function of its own so that its loop gets the registers */
static OOC_NOINLINE void pair_pixels_any(const int8_t *input, const int8_t *w, int32_t n, int32_t oc, int32_t pixels,
                                         const requant_t *q, const ooc_dsp_rq_t *rc, const ooc_dsp_rq_t *rd,
                                         const int32_t *b, int8_t *out)
{
    pair_pixels(input, w, n, oc, pixels, q, rc, rd, b, out, 0);
}

static OOC_NOINLINE void pair_pixels_fast(const int8_t *input, const int8_t *w, int32_t n, int32_t oc, int32_t pixels,
                                          const requant_t *q, const ooc_dsp_rq_t *rc, const ooc_dsp_rq_t *rd,
                                          const int32_t *b, int8_t *out)
{
    pair_pixels(input, w, n, oc, pixels, q, rc, rd, b, out, 1);
}

static OOC_NOINLINE void pair_pixels_top(const int8_t *input, const int8_t *w, int32_t n, int32_t oc, int32_t pixels,
                                         const requant_t *q, const ooc_dsp_rq_t *rc, const ooc_dsp_rq_t *rd,
                                         const int32_t *b, int8_t *out)
{
    pair_pixels(input, w, n, oc, pixels, q, rc, rd, b, out, 3);
}

static OOC_NOINLINE void pair_pixels_full(const int8_t *input, const int8_t *w, int32_t n, int32_t oc, int32_t pixels,
                                          const requant_t *q, const ooc_dsp_rq_t *rc, const ooc_dsp_rq_t *rd,
                                          const int32_t *b, int8_t *out)
{
    pair_pixels(input, w, n, oc, pixels, q, rc, rd, b, out, 2);
}

/* Dense 1x1 convolutions: pixel px's input at input + px * in_c (stride 1, input rows as wide as
   the output's). Channels c and c + 1 over all the pixels, two at a time: their requantization
   constants and folded biases are derived once per call. */
static void pointwise_channel_pair(const ooc_conv_params_t *p, const requant_t *q, const int8_t *input,
                                   const int8_t *w, const int32_t *bias, int8_t *out, int32_t c)
{
    const int32_t n = p->in_c, oc = p->out_c, pixels = p->batches * p->out_h * p->out_w;
    const ooc_dsp_rq_t rc = channel_rq(q, c), rd = channel_rq(q, c + 1);
    int32_t b[2];
    fold_offset(w, n, 2, p->input_offset, bias, b);
    out += c;
    if (rc.fast && rd.fast && full_range(q)) {
        pair_pixels_full(input, w, n, oc, pixels, q, &rc, &rd, b, out);
    } else if (rc.fast && rd.fast && q->lo == -128) {
        pair_pixels_top(input, w, n, oc, pixels, q, &rc, &rd, b, out);
    } else if (rc.fast && rd.fast) {
        pair_pixels_fast(input, w, n, oc, pixels, q, &rc, &rd, b, out);
    } else {
        pair_pixels_any(input, w, n, oc, pixels, q, &rc, &rd, b, out);
    }
    if (pixels & 1) {
        input += (pixels - 1) * n;
        out += (pixels - 1) * oc;
        dot_1x2_k(w, input, n, n, b);
        if (rc.fast && rd.fast) {
            const pair_rq_t k = pair_rq(q, &rc, &rd);
            put_pair(&k, b[0], b[1], out, !full_range(q));
        } else {
            out[0] = output_s8(q, &rc, b[0]);
            out[1] = output_s8(q, &rd, b[1]);
        }
    }
}

/* The same for a last odd channel c. */
static void pointwise_channel(const ooc_conv_params_t *p, const requant_t *q, const int8_t *input,
                              const int8_t *w, const int32_t *bias, int8_t *out, int32_t c)
{
    const int32_t n = p->in_c, oc = p->out_c, pixels = p->batches * p->out_h * p->out_w;
    const ooc_dsp_rq_t rc = channel_rq(q, c);
    int32_t b, acc[2], px;
    fold_offset(w, n, 1, p->input_offset, bias, &b);
    out += c;
    for (px = 0; px + 1 < pixels; px += 2, input += 2 * n, out += 2 * oc) {
        acc[0] = acc[1] = b;
        dot_2x1(w, input, input + n, n, 0, acc);
        out[0] = output_s8(q, &rc, acc[0]);
        out[oc] = output_s8(q, &rc, acc[1]);
    }
    if (px < pixels) {
        out[0] = output_s8(q, &rc, dot_1x1(w, input, n, 0, b));
    }
}

/* The channel pairs of [c0, c1) over a few pixels (a fused schedule's row): one function for all
   the pairs with both channels fast (the others through pointwise_channel_pair), each pair's
   folded biases and constants derived inline, so a pair costs no call, prologue or general
   constants (pointwise_channel_pair's, paid per row and pair, cost as much as a narrow row's
   products). `mode` as in pair_pixels (1, 2 or 3), a constant where it is inlined. */
static OOC_ALWAYS_INLINE void few_pixels(const ooc_conv_params_t *p, const requant_t *q, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                         int32_t c1, int mode)
{
    const int32_t n = p->in_c, oc = p->out_c, pixels = p->batches * p->out_h * p->out_w;
    pair_rq_t k;
    int32_t c, px, b[2], acc[4];
    k.off = q->offset;
    k.lo2 = ooc_dup16(q->lo);
    k.hi2 = ooc_dup16(q->hi);
    k.lo = q->lo;
    k.hi = q->hi;
    for (c = c0; c + 1 < c1; c += 2) {
        const int8_t *w = filter + (c - c0) * n, *x = input;
        int8_t *out = output + c;
        k.mc = q->multiplier[c];
        k.md = q->multiplier[c + 1];
        if (!ooc_dsp_rq_fast(k.mc, q->shift[c]) || !ooc_dsp_rq_fast(k.md, q->shift[c + 1])) { /* rare: the general path */
            pointwise_channel_pair(p, q, input, w, bias ? bias + (c - c0) : NULL, output, c);
            continue;
        }
        fold_offset(w, n, 2, p->input_offset, bias ? bias + (c - c0) : NULL, b);
        k.ec = max_i32(1, -q->shift[c]);
        k.ed = max_i32(1, -q->shift[c + 1]);
        for (px = 0; px + 1 < pixels; px += 2, x += 2 * n, out += 2 * oc) {
            acc[0] = acc[2] = b[0];
            acc[1] = acc[3] = b[1];
            dot_2x2_k(w, x, n, n, acc);
            if (mode == 2) {
                put_quad_full(&k, acc[0], acc[1], acc[2], acc[3], out, out + oc);
            } else {
                put_quad_clamp(&k, acc[0], acc[1], acc[2], acc[3], out, out + oc, mode == 3);
            }
        }
        if (px < pixels) {
            dot_1x2_k(w, x, n, n, b);
            put_pair(&k, b[0], b[1], out, mode != 2);
        }
    }
}

static OOC_NOINLINE void few_pixels_fast(const ooc_conv_params_t *p, const requant_t *q, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                         int32_t c1)
{
    few_pixels(p, q, input, filter, bias, output, c0, c1, 1);
}

static OOC_NOINLINE void few_pixels_full(const ooc_conv_params_t *p, const requant_t *q, const int8_t *input,
                                         const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                         int32_t c1)
{
    few_pixels(p, q, input, filter, bias, output, c0, c1, 2);
}

static OOC_NOINLINE void few_pixels_top(const ooc_conv_params_t *p, const requant_t *q, const int8_t *input,
                                        const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                        int32_t c1)
{
    few_pixels(p, q, input, filter, bias, output, c0, c1, 3);
}

/* Pixel px's input at input + px * in_c: what window_of in conv_dsp.c computes for a 1x1 window
   at stride 1, no padding, input rows as wide as the output's (and as many, with batches). */
static int is_dense_pointwise(const ooc_conv_params_t *p)
{
    return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
           p->dil_w == 1 && p->pad_top == 0 && p->pad_left == 0 && p->in_w == p->out_w &&
           p->out_h <= p->in_h && (p->batches == 1 || p->in_h == p->out_h);
}

int ooc_conv2d_s8_pointwise(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const requant_t q = conv_requant(p);
    const int32_t pixels = p->batches * p->out_h * p->out_w;
    int32_t c;
    if (!is_dense_pointwise(p)) {
        return 0;
    }
    if (pixels <= FEW_PIXELS) { /* from one pixel on: see few_pixels */
        if (full_range(&q)) {
            few_pixels_full(p, &q, input, filter, bias, output, c0, c1);
        } else if (q.lo == -128) {
            few_pixels_top(p, &q, input, filter, bias, output, c0, c1);
        } else {
            few_pixels_fast(p, &q, input, filter, bias, output, c0, c1);
        }
        c = c0 + ((c1 - c0) & ~1);
    } else if (pixels < FOLD_MIN_PIXELS) {
        return 0;
    } else {
        for (c = c0; c + 1 < c1; c += 2) {
            pointwise_channel_pair(p, &q, input, filter + (c - c0) * p->in_c, bias ? bias + (c - c0) : NULL, output,
                                   c);
        }
    }
    if (c < c1) {
        pointwise_channel(p, &q, input, filter + (c - c0) * p->in_c, bias ? bias + (c - c0) : NULL, output, c);
    }
    return 1;
}

#else
typedef int ooc_pointwise_dsp_unused; /* ISO C wants a declaration in every translation unit */
#endif /* OOC_KERNELS_DSP */
