/*
 * Approximate CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: the kernels walk, per row of the
 * compacted filter, the list of the operand groups it keeps (ooc_kernels.h), so a skipped group
 * costs nothing: no load, no multiply, no branch. The sums are the exact kernels' over the kept
 * weights, f * (x + input_offset) each, so they equal the exact kernel's on the filter with the
 * skipped weights zeroed; the requantization is the exact one. Sums wrap modulo 2^32 as the
 * reference's int32 accumulators do, so the order of the products changes nothing.
 *
 * CONV_2D: four (or two) output pixels at a time, each pixel's window widened once into 16-bit lanes with
 * the input offset added (SXTAB16; taps outside the image are zero lanes, as they add nothing),
 * group j of a row at words 2j, 2j + 1 (a group of four channels: bytes 0 and 2, then 1 and 3).
 * Each kept group then costs one index load, one weight word widened (SXTB16) and, per pixel,
 * two word loads and two SMLADs: no bounds checks, no branch but the loop's. Windows larger than
 * half the buffer (SKIP_WINDOW_WORDS) take a slower path that finds each group's tap. FULLY_CONNECTED and
 * DEPTHWISE_CONV_2D read the input directly, a group at a time. The DSP instructions are one
 * instruction each on cores with the DSP extension and portable C elsewhere (dsp.h), so host
 * and Cortex-M builds compute the same sums.
 *
 * Memory: the stack, the widened windows' buffer (4 * SKIP_WINDOW_WORDS bytes).
 *
 * The DSP build (OOC_KERNELS_DSP) adds faster forms where the per-output work above (windows found
 * per pixel, requantization constants derived per output) outweighs the MACs: CONV_2D with groups
 * of four channels in channel blocks of PW_BLOCK (blocked_skip: constants derived once per block,
 * four, two or one pixel at a time by window size) and depthwise with groups of a multiple of four
 * in channel quads (dw_skip_quads: kept taps widened once, windows inside the image unchecked).
 * Same sums, same requantization: bit-exact with the forms above.
 */
#include "dsp.h"

#define SKIP_WINDOW_WORDS 512 /* the widened windows' buffer: 2 KiB */
#define QUAD 128u             /* four pixels at a time: windows of up to 128 words, 128 apart */
#define SKIP_DW_MAX_GROUP 64  /* depthwise: channels per group, at most (checked at init) */
#define SKIP_DW_MAX_TAPS 64   /* depthwise: kernel taps, at most */

static int8_t requantize(int32_t acc, const ooc_conv_params_t *p, int32_t c)
{
    return ooc_dsp_requantize(acc, p->out_multiplier[c], p->out_shift[c], p->output_offset, p->act_min,
                              p->act_max);
}

/* The four outputs of channel c of conv_quad, its constants computed once. */
static void requantize4(const int32_t *acc, const ooc_conv_params_t *p, int32_t c, int8_t *const *out)
{
    const ooc_dsp_rq_t r = ooc_dsp_rq(p->out_multiplier[c], p->out_shift[c]);
    int32_t i;
    for (i = 0; i < 4; i++) {
        out[i][c] = ooc_clamp_s8(ooc_dsp_scale(&r, acc[i]) + p->output_offset, p->act_min, p->act_max);
    }
}

/* Four input bytes (the first n, n < 4: the rest zero) as a word. */
static uint32_t read_part(const int8_t *x, int32_t n)
{
    uint32_t v = 0;
    int32_t i;
    if (n >= 4) {
        return ooc_read_u32(x);
    }
    for (i = 0; i < n; i++) {
        v |= (uint32_t)(uint8_t)x[i] << (8 * i);
    }
    return v;
}

/* sum of f[i] * (x[i] + offset), i < n */
static int32_t group_dot(const int8_t *f, const int8_t *x, int32_t n, int32_t offset, int32_t acc)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        acc += (int32_t)f[i] * ((int32_t)x[i] + offset);
    }
    return acc;
}

/* The widened window of the output pixel whose window starts at (y0, x0): per tap, per group,
   per word of four channels, two lane pairs of x + input_offset (zero outside the image). */
static void widen(const ooc_conv_skip_params_t *sp, const int8_t *in_b, int32_t y0, int32_t x0, uint32_t *win)
{
    const ooc_conv_params_t *p = &sp->conv;
    const uint32_t off2 = ooc_dup16(p->input_offset);
    const int32_t g = sp->group, words = (g + 3) >> 2, per_tap = (p->in_c + g - 1) / g;
    int32_t ky, kx, gi, q;
    for (ky = 0; ky < p->k_h; ky++) {
        const int32_t y = y0 + ky * p->dil_h;
        for (kx = 0; kx < p->k_w; kx++) {
            const int32_t x = x0 + kx * p->dil_w;
            const int8_t *src;
            if ((uint32_t)y >= (uint32_t)p->in_h || (uint32_t)x >= (uint32_t)p->in_w) {
                memset(win, 0, (size_t)(per_tap * words) * 8u);
                win += per_tap * words * 2;
                continue;
            }
            src = in_b + (y * p->in_w + x) * p->in_c;
            for (gi = 0; gi < per_tap; gi++) {
                for (q = 0; q < words; q++, win += 2) {
                    const int32_t c = gi * g + 4 * q;
                    const int32_t end = gi * g + g < p->in_c ? gi * g + g : p->in_c;
                    const uint32_t v = read_part(src + c, end - c);
                    win[0] = ooc_sxtab16(off2, v);
                    win[1] = ooc_sxtab16_ror8(off2, v);
                }
            }
        }
    }
}

/* Output channels [c0, c1) of two pixels from their widened windows a and b. */
static OOC_NOINLINE void conv_pair(const ooc_conv_skip_params_t *sp, const uint32_t *a, const uint32_t *b,
                                   const int8_t *filter, const int32_t *bias, int8_t *out_a, int8_t *out_b,
                                   int32_t c0, int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t words = (sp->group + 3) >> 2, width = OOC_SKIP_GROUP_BYTES(p->in_c, sp->group);
    int32_t oc, k, q;
    for (oc = c0; oc < c1; oc++) {
        const int8_t *f = filter + (oc - c0) * sp->slots * width;
        const uint16_t *ix = sp->index + oc * sp->slots;
        const int32_t n = sp->kept[oc];
        int32_t acc_a = bias ? bias[oc - c0] : 0, acc_b = acc_a;
        if (words == 1) {
            for (k = 0; k < n; k++) {
                const uint32_t e = 2u * ix[k];
                const uint32_t w = width == 4 ? ooc_read_u32(f) : read_part(f, width);
                const uint32_t lo = ooc_sxtb16(w), hi = ooc_sxtb16_ror8(w);
                f += width;
                acc_a = ooc_smlad(lo, a[e], acc_a);
                acc_a = ooc_smlad(hi, a[e + 1u], acc_a);
                acc_b = ooc_smlad(lo, b[e], acc_b);
                acc_b = ooc_smlad(hi, b[e + 1u], acc_b);
            }
        } else {
            for (k = 0; k < n; k++) {
                const uint32_t e = 2u * (uint32_t)words * ix[k];
                for (q = 0; q < words; q++, f += 4) {
                    const uint32_t w = ooc_read_u32(f);
                    const uint32_t lo = ooc_sxtb16(w), hi = ooc_sxtb16_ror8(w);
                    acc_a = ooc_smlad(lo, a[e + 2u * (uint32_t)q], acc_a);
                    acc_a = ooc_smlad(hi, a[e + 2u * (uint32_t)q + 1u], acc_a);
                    acc_b = ooc_smlad(lo, b[e + 2u * (uint32_t)q], acc_b);
                    acc_b = ooc_smlad(hi, b[e + 2u * (uint32_t)q + 1u], acc_b);
                }
            }
        }
        out_a[oc] = requantize(acc_a, p, oc);
        out_b[oc] = requantize(acc_b, p, oc);
    }
}

/* The kept groups of one row against four windows; `load` reads a group's weights at f. */
#define QUAD_LOOP(load, width)                                                                     \
    for (k = 0; k < n; k++) {                                                                      \
        const uint32_t *x = win + 2u * ix[k];                                                      \
        const uint32_t w = (load);                                                                 \
        const uint32_t lo = ooc_sxtb16(w), hi = ooc_sxtb16_ror8(w);                                \
        f += (width);                                                                              \
        a0 = ooc_smlad(lo, x[0], a0);                                                              \
        a0 = ooc_smlad(hi, x[1], a0);                                                              \
        a1 = ooc_smlad(lo, x[QUAD], a1);                                                           \
        a1 = ooc_smlad(hi, x[QUAD + 1u], a1);                                                      \
        a2 = ooc_smlad(lo, x[2u * QUAD], a2);                                                      \
        a2 = ooc_smlad(hi, x[2u * QUAD + 1u], a2);                                                 \
        a3 = ooc_smlad(lo, x[3u * QUAD], a3);                                                      \
        a3 = ooc_smlad(hi, x[3u * QUAD + 1u], a3);                                                 \
    }

/* Output channels [c0, c1) of four pixels from their widened windows, QUAD words apart from
   `win` (a constant: the loads take it as an immediate offset), groups of four channels. */
static OOC_NOINLINE void conv_quad(const ooc_conv_skip_params_t *sp, const uint32_t *win, const int8_t *filter,
                                   const int32_t *bias, int8_t *const *out, int32_t c0, int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t width = OOC_SKIP_GROUP_BYTES(p->in_c, sp->group);
    int32_t oc, k;
    for (oc = c0; oc < c1; oc++) {
        const int8_t *f = filter + (oc - c0) * sp->slots * width;
        const uint16_t *ix = sp->index + oc * sp->slots;
        const int32_t n = sp->kept[oc];
        int32_t a0 = bias ? bias[oc - c0] : 0, a1 = a0, a2 = a0, a3 = a0;
        if (width == 4) {
            QUAD_LOOP(ooc_read_u32(f), 4)
        } else if (width == 1) { /* one input channel: a weight per tap */
            QUAD_LOOP((uint32_t)(uint8_t)f[0], 1)
        } else {
            QUAD_LOOP(read_part(f, width), width)
        }
        {
            int32_t acc[4];
            acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
            requantize4(acc, p, oc, out);
        }
    }
}

/* One output pixel, each kept group's tap found from its number (windows too large to widen). */
static void conv_direct(const ooc_conv_skip_params_t *sp, const int8_t *in_b, int32_t y0, int32_t x0,
                        const int8_t *filter, const int32_t *bias, int8_t *out_px, int32_t c0, int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t g = sp->group, stride = OOC_SKIP_GROUP_BYTES(p->in_c, g), per_tap = (p->in_c + g - 1) / g;
    int32_t oc, k;
    for (oc = c0; oc < c1; oc++) {
        const int8_t *f = filter + (oc - c0) * sp->slots * stride;
        const uint16_t *ix = sp->index + oc * sp->slots;
        int32_t acc = bias ? bias[oc - c0] : 0;
        for (k = 0; k < sp->kept[oc]; k++, f += stride) {
            const int32_t j = ix[k], tap = j / per_tap, ic = (j - tap * per_tap) * g;
            const int32_t y = y0 + tap / p->k_w * p->dil_h, x = x0 + tap % p->k_w * p->dil_w;
            if ((uint32_t)y < (uint32_t)p->in_h && (uint32_t)x < (uint32_t)p->in_w) {
                acc = group_dot(f, in_b + (y * p->in_w + x) * p->in_c + ic, p->in_c - ic < g ? p->in_c - ic : g,
                                p->input_offset, acc);
            }
        }
        out_px[oc] = requantize(acc, p, oc);
    }
}

/* The window of output pixel i of a batch: where it starts. */
static void window_at(const ooc_conv_params_t *p, int32_t i, int32_t *y0, int32_t *x0)
{
    *y0 = i / p->out_w * p->stride_h - p->pad_top;
    *x0 = i % p->out_w * p->stride_w - p->pad_left;
}

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
#include "dsp_kernel.h"

#define PW_BLOCK 64 /* output channels whose requantization constants are derived at once */

/* A dense 1x1 CONV_2D: pixel px's input at input + px * in_c (as pointwise_dsp.c's
   is_dense_pointwise), whole words of channels. */
static int pw_dense(const ooc_conv_skip_params_t *sp)
{
    const ooc_conv_params_t *p = &sp->conv;
    return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
           p->dil_w == 1 && p->pad_top == 0 && p->pad_left == 0 && p->in_w == p->out_w &&
           p->out_h <= p->in_h && (p->batches == 1 || p->in_h == p->out_h) && (p->in_c & 3) == 0;
}

/* Words of a widened window where the blocked kernels apply (groups of four channels, at least
   four input channels: a group is one weight word), else 0. */
static int32_t blocked_words(const ooc_conv_skip_params_t *sp)
{
    const ooc_conv_params_t *p = &sp->conv;
    if (sp->group != 4 || p->in_c < 4) {
        return 0;
    }
    return p->k_h * p->k_w * ((p->in_c + 3) >> 2) * 2;
}

/* Widen output pixel px's window (px counted over the batches) into dst. */
static void fill(const ooc_conv_skip_params_t *sp, const int8_t *input, int dense, int32_t px, uint32_t *dst)
{
    const ooc_conv_params_t *p = &sp->conv;
    if (dense) {
        const uint32_t off2 = ooc_dup16(p->input_offset);
        const int8_t *src = input + px * p->in_c;
        int32_t w;
        for (w = p->in_c >> 2; w > 0; w--, src += 4, dst += 2) {
            const uint32_t v = ooc_read_u32(src);
            dst[0] = ooc_sxtab16(off2, v);
            dst[1] = ooc_sxtab16_ror8(off2, v);
        }
    } else {
        const int32_t per = p->out_h * p->out_w, b = px / per;
        int32_t y0, x0;
        window_at(p, px - b * per, &y0, &x0);
        widen(sp, input + b * p->in_h * p->in_w * p->in_c, y0, x0, dst);
    }
}

/* A block's requantization constants (every channel's ooc_dsp_rq_t.fast): multiplier, right shift. */
typedef struct {
    int32_t m[PW_BLOCK], e[PW_BLOCK];
} block_rq_t;

/* Output channels [b0, b1) of four pixels (outputs at out[0..3]) from their widened windows at
   win, QUAD words apart: per channel the kept groups' sums (QUAD_LOOP: one index load, one
   weight word, 8 loads and 8 SMLADs per group of four channels), then its four outputs with the
   block's constants k. */
static OOC_NOINLINE void blocked_quad(const ooc_conv_skip_params_t *sp, const requant_t *q, const block_rq_t *k4,
                                      const uint32_t *win, const int8_t *filter, const int32_t *bias,
                                      int8_t *const *out, int32_t b0, int32_t b1)
{
    int8_t *const o0 = out[0], *const o1 = out[1], *const o2 = out[2], *const o3 = out[3];
    const int32_t lo = q->lo, hi = q->hi, off = q->offset, slots = sp->slots;
    int32_t oc, k;
    for (oc = b0; oc < b1; oc++) {
        const int8_t *f = filter + oc * slots * 4;
        const uint16_t *ix = sp->index + oc * slots;
        const int32_t n = sp->kept[oc], m = k4->m[oc - b0], e = k4->e[oc - b0];
        int32_t a0 = bias ? bias[oc] : 0, a1 = a0, a2 = a0, a3 = a0;
        QUAD_LOOP(ooc_read_u32(f), 4)
        o0[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a0, m, e, off), lo, hi);
        o1[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a1, m, e, off), lo, hi);
        o2[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a2, m, e, off), lo, hi);
        o3[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a3, m, e, off), lo, hi);
    }
}

/* blocked_quad for two pixels whose windows (too large for QUAD) are at a and a + apart. */
static OOC_NOINLINE void blocked_pair(const ooc_conv_skip_params_t *sp, const requant_t *q, const block_rq_t *k4,
                                      const uint32_t *a, int32_t apart, const int8_t *filter, const int32_t *bias,
                                      int8_t *const *out, int32_t b0, int32_t b1)
{
    int8_t *const o0 = out[0], *const o1 = out[1];
    const int32_t lo = q->lo, hi = q->hi, off = q->offset, slots = sp->slots;
    int32_t oc, k;
    for (oc = b0; oc < b1; oc++) {
        const int8_t *f = filter + oc * slots * 4;
        const uint16_t *ix = sp->index + oc * slots;
        const int32_t n = sp->kept[oc], m = k4->m[oc - b0], e = k4->e[oc - b0];
        int32_t a0 = bias ? bias[oc] : 0, a1 = a0;
        for (k = 0; k < n; k++, f += 4) {
            const uint32_t *x = a + 2u * ix[k];
            const uint32_t w = ooc_read_u32(f);
            const uint32_t wl = ooc_sxtb16(w), wh = ooc_sxtb16_ror8(w);
            a0 = ooc_smlad(wl, x[0], a0);
            a0 = ooc_smlad(wh, x[1], a0);
            a1 = ooc_smlad(wl, x[apart], a1);
            a1 = ooc_smlad(wh, x[apart + 1], a1);
        }
        o0[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a0, m, e, off), lo, hi);
        o1[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a1, m, e, off), lo, hi);
    }
}

/* blocked_quad for one pixel whose window (too large for two) is at a. */
static OOC_NOINLINE void blocked_one(const ooc_conv_skip_params_t *sp, const requant_t *q, const block_rq_t *k4,
                                     const uint32_t *a, const int8_t *filter, const int32_t *bias, int8_t *out,
                                     int32_t b0, int32_t b1)
{
    const int32_t lo = q->lo, hi = q->hi, off = q->offset, slots = sp->slots;
    int32_t oc, k;
    for (oc = b0; oc < b1; oc++) {
        const int8_t *f = filter + oc * slots * 4;
        const uint16_t *ix = sp->index + oc * slots;
        const int32_t n = sp->kept[oc];
        int32_t a0 = bias ? bias[oc] : 0;
        for (k = 0; k < n; k++, f += 4) {
            const uint32_t *x = a + 2u * ix[k];
            const uint32_t w = ooc_read_u32(f);
            a0 = ooc_smlad(ooc_sxtb16(w), x[0], a0);
            a0 = ooc_smlad(ooc_sxtb16_ror8(w), x[1], a0);
        }
        out[oc] = ooc_clamp_s8(ooc_dsp_scale_right(a0, k4->m[oc - b0], k4->e[oc - b0], off), lo, hi);
    }
}

/* CONV_2D with groups of four channels (blocked_words: the window's widened words, at most the
   buffer) where every channel of [c0, c1) has fast requantization constants (else 0: the
   caller takes the general path): blocks of PW_BLOCK output channels outermost (their constants
   derived once), then the pixels four at a time (two where a window exceeds QUAD words, one
   where two exceed the buffer), each
   pixel's window widened once per block with the input offset added (SXTAB16; dense pointwise
   inputs read straight, others through widen), then the block's channels. A last step short of
   pixels computes its last pixel again. Memory: 2 KiB of widened windows, 512 bytes of
   constants. */
static OOC_NOINLINE int blocked_skip(const ooc_conv_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias, int8_t *output, int32_t c0, int32_t c1, int32_t words)
{
    const ooc_conv_params_t *p = &sp->conv;
    const requant_t q = conv_requant(p);
    const int32_t oc = p->out_c, pixels = p->batches * p->out_h * p->out_w, dense = pw_dense(sp);
    const int32_t step = words <= (int32_t)QUAD ? 4 : words * 2 <= SKIP_WINDOW_WORDS ? 2 : 1;
    const int32_t apart = step == 4 ? (int32_t)QUAD : words;
    const int8_t *f = filter - c0 * sp->slots * 4; /* row oc at f + oc * slots * 4 */
    const int32_t *bs = bias ? bias - c0 : NULL;
    uint32_t win[SKIP_WINDOW_WORDS];
    block_rq_t k4;
    int32_t b0, i, j;
    for (j = c0; j < c1; j++) {
        if (!channel_rq(&q, j).fast) {
            return 0;
        }
    }
    for (b0 = c0; b0 < c1; b0 += PW_BLOCK) {
        const int32_t b1 = c1 - b0 > PW_BLOCK ? b0 + PW_BLOCK : c1;
        for (j = b0; j < b1; j++) {
            const ooc_dsp_rq_t r = channel_rq(&q, j);
            k4.m[j - b0] = r.multiplier;
            k4.e[j - b0] = r.right;
        }
        for (i = 0; i < pixels; i += step) {
            int8_t *out[4];
            for (j = 0; j < step; j++) {
                const int32_t px = i + j < pixels ? i + j : pixels - 1;
                out[j] = output + px * oc;
                fill(sp, input, dense, px, win + j * apart);
            }
            if (step == 4) {
                blocked_quad(sp, &q, &k4, win, f, bs, out, b0, b1);
            } else if (step == 2) {
                blocked_pair(sp, &q, &k4, win, apart, f, bs, out, b0, b1);
            } else {
                blocked_one(sp, &q, &k4, win, f, bs, out[0], b0, b1);
            }
        }
    }
    return 1;
}
#endif /* OOC_KERNELS_DSP */

static OOC_NOINLINE void conv_skip(const ooc_conv_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                   const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t words = p->k_h * p->k_w * ((p->in_c + sp->group - 1) / sp->group) * ((sp->group + 3) >> 2) * 2;
    const int32_t pixels = p->out_h * p->out_w;
    /* pixels at a time: four when their windows fit the buffer with groups of four, else two */
    const int32_t step = words <= (int32_t)QUAD && sp->group <= 4 ? 4 : 2;
    const int32_t apart = step == 4 ? (int32_t)QUAD : words;
    uint32_t win[SKIP_WINDOW_WORDS];
    int32_t b, i, j, y0, x0;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + b * pixels * p->out_c;
        for (i = 0; i < pixels; i += step) {
            int8_t *out[4];
            for (j = 0; j < step; j++) { /* a last block short of pixels computes its last again */
                const int32_t px = i + j < pixels ? i + j : pixels - 1;
                out[j] = out_b + px * p->out_c;
                window_at(p, px, &y0, &x0);
                if (words * 2 > SKIP_WINDOW_WORDS) {
                    conv_direct(sp, in_b, y0, x0, filter, bias, out[j], c0, c1);
                } else {
                    widen(sp, in_b, y0, x0, win + j * apart);
                }
            }
            if (step == 4) {
                conv_quad(sp, win, filter, bias, out, c0, c1);
            } else if (words * 2 <= SKIP_WINDOW_WORDS) {
                conv_pair(sp, win, win + words, filter, bias, out[0], out[1], c0, c1);
            }
        }
    }
}

void ooc_conv2d_skip_s8_channels(const ooc_conv_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                 const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
    const int32_t words = blocked_words(sp);
    if (words > 0 && words <= SKIP_WINDOW_WORDS && blocked_skip(sp, input, filter, bias, output, c0, c1, words)) {
        return;
    }
#endif
    conv_skip(sp, input, filter, bias, output, c0, c1);
}

/* Output channels [lo, hi) of one depthwise group (row lo / group of the compacted filter) at one
   pixel; tap_at[t]: the byte offset of tap t's input pixel, or -1 outside the image. */
static void dw_group(const ooc_conv_skip_params_t *sp, const int8_t *in_b, const int32_t *tap_at,
                     const int8_t *filter, int32_t width, const int32_t *bias, int8_t *out_px, int32_t c0,
                     int32_t lo, int32_t hi)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t r = lo / sp->group, n = hi - lo, dm = p->depth_multiplier, kept = sp->kept[r];
    const uint16_t *ix = sp->index + r * sp->slots;
    const int8_t *f = filter + (lo - c0);
    int32_t acc[SKIP_DW_MAX_GROUP];
    int32_t c, k;
    if (n == 4 && dm == 1) { /* four channels in the lanes of one word */
        const uint32_t off2 = ooc_dup16(p->input_offset);
        int32_t s0 = bias ? bias[lo - c0] : 0, s1 = bias ? bias[lo - c0 + 1] : 0;
        int32_t s2 = bias ? bias[lo - c0 + 2] : 0, s3 = bias ? bias[lo - c0 + 3] : 0;
        for (k = 0; k < kept; k++, f += width) {
            const int32_t at = tap_at[ix[k]];
            uint32_t v, w, xl, xh, wl, wh;
            if (at < 0) {
                continue;
            }
            v = ooc_read_u32(in_b + at + lo), w = ooc_read_u32(f);
            xl = ooc_sxtab16(off2, v), xh = ooc_sxtab16_ror8(off2, v);
            wl = ooc_sxtb16(w), wh = ooc_sxtb16_ror8(w);
            s0 = ooc_smlabb(wl, xl, s0);
            s2 = ooc_smlatt(wl, xl, s2);
            s1 = ooc_smlabb(wh, xh, s1);
            s3 = ooc_smlatt(wh, xh, s3);
        }
        out_px[lo] = requantize(s0, p, lo);
        out_px[lo + 1] = requantize(s1, p, lo + 1);
        out_px[lo + 2] = requantize(s2, p, lo + 2);
        out_px[lo + 3] = requantize(s3, p, lo + 3);
        return;
    }
    for (c = 0; c < n; c++) {
        acc[c] = bias ? bias[lo - c0 + c] : 0;
    }
    for (k = 0; k < kept; k++, f += width) {
        const int32_t at = tap_at[ix[k]];
        const int8_t *xin;
        if (at < 0) {
            continue;
        }
        xin = in_b + at;
        if (dm == 1) {
            for (c = 0; c < n; c++) {
                acc[c] += (int32_t)f[c] * ((int32_t)xin[lo + c] + p->input_offset);
            }
        } else {
            for (c = 0; c < n; c++) {
                acc[c] += (int32_t)f[c] * ((int32_t)xin[(lo + c) / dm] + p->input_offset);
            }
        }
    }
    for (c = 0; c < n; c++) {
        out_px[lo + c] = requantize(acc[c], p, lo + c);
    }
}

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
/* One kept tap of a channel quad: its input byte offset from the window's origin and its four
   weights widened (channels 0, 2 then 1, 3). */
typedef struct {
    int32_t at;
    uint32_t w02, w13;
} dw_tap_t;

/* Four channels' kept taps (a quad within one row of the compacted filter) and their constants. */
typedef struct {
    int32_t n;
    dw_tap_t tap[SKIP_DW_MAX_TAPS];
    int16_t ky[SKIP_DW_MAX_TAPS], kx[SKIP_DW_MAX_TAPS]; /* the tap's offsets in the input, pixels */
    int32_t bias[4], m[4], e[4];                         /* e: right shifts (when fast) */
    int32_t mult[4], shift[4];                           /* the channels' own */
    int fast;
} dw_quad_t;

/* The kept taps and constants of channels [c, c + 4) (compacted filter f, row stride `width`). */
static void dw_quad_init(const ooc_conv_skip_params_t *sp, const requant_t *q, const int8_t *f, int32_t width,
                         const int32_t *bias, int32_t c, dw_quad_t *t)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t r = c / sp->group;
    const uint16_t *ix = sp->index + r * sp->slots;
    int32_t k;
    t->n = sp->kept[r];
    for (k = 0; k < t->n; k++, f += width) {
        const int32_t ky = ix[k] / p->k_w, kx = ix[k] - ky * p->k_w;
        const uint32_t v = ooc_read_u32(f);
        t->ky[k] = (int16_t)(ky * p->dil_h);
        t->kx[k] = (int16_t)(kx * p->dil_w);
        t->tap[k].at = (ky * p->dil_h * p->in_w + kx * p->dil_w) * p->in_c;
        t->tap[k].w02 = ooc_sxtb16(v);
        t->tap[k].w13 = ooc_sxtb16_ror8(v);
    }
    t->fast = 1;
    for (k = 0; k < 4; k++) {
        const ooc_dsp_rq_t rq = channel_rq(q, c + k);
        t->bias[k] = bias ? bias[k] : 0;
        t->mult[k] = q->multiplier[(c + k) * q->step];
        t->shift[k] = q->shift[(c + k) * q->step];
        t->m[k] = rq.multiplier;
        t->e[k] = rq.right;
        t->fast &= rq.fast;
    }
}

/* `count` pixels of a channel quad whose windows lie inside the image, the first's origin at x,
   the next `step` bytes on; outputs at out, `out_step` apart; the quad's constants fast. */
static OOC_NOINLINE void dw_quad_run(const dw_quad_t *t, const requant_t *q, const int8_t *x, int32_t step,
                                     int32_t count, uint32_t off2, int8_t *out, int32_t out_step)
{
    const int32_t n = t->n, lo = q->lo, hi = q->hi, off = q->offset;
    int32_t i, k;
    for (i = 0; i < count; i++, x += step, out += out_step) {
        int32_t a0 = t->bias[0], a1 = t->bias[1], a2 = t->bias[2], a3 = t->bias[3];
        const dw_tap_t *tp = t->tap;
        for (k = 0; k < n; k++, tp++) {
            const uint32_t v = ooc_read_u32(x + tp->at);
            const uint32_t xl = ooc_sxtab16(off2, v), xh = ooc_sxtab16_ror8(off2, v);
            a0 = ooc_smlabb(xl, tp->w02, a0);
            a2 = ooc_smlatt(xl, tp->w02, a2);
            a1 = ooc_smlabb(xh, tp->w13, a1);
            a3 = ooc_smlatt(xh, tp->w13, a3);
        }
        out[0] = ooc_clamp_s8(ooc_dsp_scale_right(a0, t->m[0], t->e[0], off), lo, hi);
        out[1] = ooc_clamp_s8(ooc_dsp_scale_right(a1, t->m[1], t->e[1], off), lo, hi);
        out[2] = ooc_clamp_s8(ooc_dsp_scale_right(a2, t->m[2], t->e[2], off), lo, hi);
        out[3] = ooc_clamp_s8(ooc_dsp_scale_right(a3, t->m[3], t->e[3], off), lo, hi);
    }
}

/* One pixel of a channel quad near the edges (or with constants not fast): the taps outside the
   image left out. in_b: the batch's input at the quad's first channel; o: the window origin's
   byte offset from it (may be negative), (y0, x0) the origin. */
static void dw_quad_edge(const ooc_conv_skip_params_t *sp, const dw_quad_t *t, const requant_t *q,
                         const int8_t *in_b, int32_t o, int32_t y0, int32_t x0, uint32_t off2, int8_t *out)
{
    const ooc_conv_params_t *p = &sp->conv;
    int32_t acc[4], k;
    acc[0] = t->bias[0], acc[1] = t->bias[1], acc[2] = t->bias[2], acc[3] = t->bias[3];
    for (k = 0; k < t->n; k++) {
        const int32_t y = y0 + t->ky[k], x = x0 + t->kx[k];
        uint32_t v, xl, xh;
        if ((uint32_t)y >= (uint32_t)p->in_h || (uint32_t)x >= (uint32_t)p->in_w) {
            continue;
        }
        v = ooc_read_u32(in_b + (o + t->tap[k].at));
        xl = ooc_sxtab16(off2, v), xh = ooc_sxtab16_ror8(off2, v);
        acc[0] = ooc_smlabb(xl, t->tap[k].w02, acc[0]);
        acc[2] = ooc_smlatt(xl, t->tap[k].w02, acc[2]);
        acc[1] = ooc_smlabb(xh, t->tap[k].w13, acc[1]);
        acc[3] = ooc_smlatt(xh, t->tap[k].w13, acc[3]);
    }
    for (k = 0; k < 4; k++) {
        out[k] = t->fast ? ooc_clamp_s8(ooc_dsp_scale_right(acc[k], t->m[k], t->e[k], q->offset), q->lo, q->hi)
                         : ooc_dsp_requantize(acc[k], t->mult[k], t->shift[k], q->offset, q->lo, q->hi);
    }
}

/* Depthwise with groups of a multiple of four channels, depth multiplier 1, [c0, c1) whole
   quads: channel quads outermost (their kept taps' weights widened once, their constants
   derived once), then every output row: the pixels whose windows lie inside the image in
   dw_quad_run (per kept tap one input word widened with the offset and four lane multiplies,
   SMLABB / SMLATT; no bounds checks), the others in dw_quad_edge. Memory: one dw_quad_t
   (about 1 KiB with 64 taps). */
static OOC_NOINLINE void dw_skip_quads(const ooc_conv_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                       const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const requant_t q = conv_requant(p);
    const uint32_t off2 = ooc_dup16(p->input_offset);
    const int32_t last_y = (p->k_h - 1) * p->dil_h, last_x = (p->k_w - 1) * p->dil_w, sw = p->stride_w;
    /* output columns whose windows lie inside the image's width: [x_lo, x_hi) */
    const int32_t x_lo = (p->pad_left + sw - 1) / sw;
    const int32_t x_top = p->in_w - 1 - last_x + p->pad_left; /* the last window origin + pad_left */
    const int32_t x_hi = x_top < 0 ? 0 : (x_top / sw + 1 < p->out_w ? x_top / sw + 1 : p->out_w);
    dw_quad_t t;
    int32_t c, b, oy, ox;
    for (c = c0; c < c1; c += 4) {
        dw_quad_init(sp, &q, filter + (c - c0), c1 - c0, bias ? bias + (c - c0) : NULL, c, &t);
        for (b = 0; b < p->batches; b++) {
            const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c + c;
            for (oy = 0; oy < p->out_h; oy++) {
                const int32_t y0 = oy * p->stride_h - p->pad_top;
                const int inside = t.fast && y0 >= 0 && y0 + last_y < p->in_h && x_lo < x_hi;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w) * p->out_c + c;
                for (ox = 0; ox < p->out_w; ox++) {
                    const int32_t x0 = ox * sw - p->pad_left;
                    if (inside && ox == x_lo) {
                        dw_quad_run(&t, &q, in_b + (y0 * p->in_w + x0) * p->in_c, sw * p->in_c, x_hi - x_lo, off2,
                                    out + ox * p->out_c, p->out_c);
                        ox = x_hi - 1;
                        continue;
                    }
                    dw_quad_edge(sp, &t, &q, in_b, (y0 * p->in_w + x0) * p->in_c, y0, x0, off2, out + ox * p->out_c);
                }
            }
        }
    }
}
#endif /* OOC_KERNELS_DSP */

void ooc_depthwise_conv2d_skip_s8_channels(const ooc_conv_skip_params_t *sp, const int8_t *input,
                                           const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                           int32_t c1)
{
    const ooc_conv_params_t *p = &sp->conv;
    const int32_t g = sp->group;
    int32_t tap_at[SKIP_DW_MAX_TAPS];
    int32_t b, oy, ox, lo, ky, kx;
#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP
    if (p->depth_multiplier == 1 && (g & 3) == 0 && ((c0 | c1) & 3) == 0) {
        dw_skip_quads(sp, input, filter, bias, output, c0, c1);
        return;
    }
#endif
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *out_px = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t y = y0 + ky * p->dil_h;
                    for (kx = 0; kx < p->k_w; kx++) {
                        const int32_t x = x0 + kx * p->dil_w;
                        const int inside = (uint32_t)y < (uint32_t)p->in_h && (uint32_t)x < (uint32_t)p->in_w;
                        tap_at[ky * p->k_w + kx] = inside ? (y * p->in_w + x) * p->in_c : -1;
                    }
                }
                for (lo = c0; lo < c1;) {
                    const int32_t end = (lo / g + 1) * g, hi = end < c1 ? end : c1;
                    dw_group(sp, in_b, tap_at, filter, c1 - c0, bias, out_px, c0, lo, hi);
                    lo = hi;
                }
            }
        }
    }
}

void ooc_fully_connected_skip_s8_channels(const ooc_fc_skip_params_t *sp, const int8_t *input, const int8_t *filter,
                                          const int32_t *bias, int8_t *output, int32_t o0, int32_t o1)
{
    const ooc_fc_params_t *p = &sp->fc;
    const int32_t g = sp->group, stride = OOC_SKIP_GROUP_BYTES(p->in_depth, g);
    int32_t b, o, k;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + b * p->in_depth;
        for (o = o0; o < o1; o++) {
            const int8_t *f = filter + (o - o0) * sp->slots * stride;
            const uint16_t *ix = sp->index + o * sp->slots;
            const int32_t n = sp->kept[o], c = p->per_channel ? o : 0;
            int32_t acc = bias ? bias[o - o0] : 0;
            for (k = 0; k < n; k++, f += stride) {
                const int32_t i = (int32_t)ix[k] * g;
                acc = group_dot(f, x + i, p->in_depth - i < g ? p->in_depth - i : g, p->input_offset, acc);
            }
            output[b * p->out_depth + o] = ooc_requantize_to_s8(acc, p->out_multiplier[c], p->out_shift[c],
                                                                p->output_offset, p->act_min, p->act_max);
        }
    }
}

void ooc_skip_run(uint16_t kind, const void *params, const void *in0, const void *in1, const void *in2, void *out,
                  uint32_t c0, uint32_t c1)
{
    if (kind == OOC_OP_FULLY_CONNECTED_SKIP) {
        const ooc_fc_skip_params_t *sp = (const ooc_fc_skip_params_t *)params;
        ooc_fully_connected_skip_s8_channels(sp, (const int8_t *)in0, (const int8_t *)in1, (const int32_t *)in2,
                                             (int8_t *)out, (int32_t)c0, c1 ? (int32_t)c1 : sp->fc.out_depth);
    } else {
        const ooc_conv_skip_params_t *sp = (const ooc_conv_skip_params_t *)params;
        (kind == OOC_OP_CONV_2D_SKIP ? ooc_conv2d_skip_s8_channels : ooc_depthwise_conv2d_skip_s8_channels)(
            sp, (const int8_t *)in0, (const int8_t *)in1, (const int32_t *)in2, (int8_t *)out, (int32_t)c0,
            c1 ? (int32_t)c1 : sp->conv.out_c);
    }
}

