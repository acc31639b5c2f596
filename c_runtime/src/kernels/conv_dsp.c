/*
 * CONV_2D and FULLY_CONNECTED on the Cortex-M DSP extension (DEPTHWISE_CONV_2D: depthwise_dsp.c;
 * the requantization they share: dsp_kernel.h). OOC_KERNELS_DSP = 1
 * builds these under the public names; the reference kernels (conv.c, fully_connected.c) then serve
 * the cases not specialised here: dilation and depth multipliers other than 1 and multiples of 4.
 * Dense 1x1 convolutions (stride 1, no padding) go to pointwise_dsp.c; the dot products both
 * files use are in dsp_dot.h.
 *
 * Same arithmetic as the reference: acc = bias + sum filter * (input + input_offset) over the taps
 * inside the image, then per-channel requantization. input + input_offset fits 16 bits and the
 * sums wrap modulo 2^32 like the reference's int32 accumulators, so adding the products in another
 * order (two per SMLAD) changes nothing: the results are bit-exact.
 *
 * The inner loops read four int8 at a time and widen them into two packed 16-bit pairs: SXTB16
 * takes bytes 0 and 2, SXTB16 with ROR 8 bytes 1 and 3 (SXTAB16 adds the input offset on the way).
 * Filter and input widened the same way line up, so one SMLAD does two MACs.
 *
 * Memory: the stack only, for a pair of gathered windows (2 * n bytes, n <= WINDOW_MAX) with
 * FOLD_CHUNK folded biases, or a widened depthwise filter (8 * DW_TAPS_MAX bytes), and locals:
 * with arm-none-eabi-gcc -O2 (-fstack-usage) conv_gathered's frame is 640 bytes plus the windows
 * (136 for the reference conv), depthwise's group 352, fully connected 208. A fused schedule
 * runs them within the planner's 4 KiB stack bound (kws at --max-mac-overhead 1.3: 2,004 bytes;
 * the fused runner keeps its pooling and elementwise rows out of line to leave room for them).
 */
#include "dsp_dot.h"

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP

#define WINDOW_MAX 288 /* conv windows (k_h * k_w * in_c) up to this are gathered, two at a time */
#define FOLD_MAX 64     /* up to this many channels per call take conv_gathered */
#define FOLD_CHUNK 64   /* conv_gathered folds the input offset into this many channels' biases at a time */

/* ---- dot products over contiguous int8 ------------------------------------------------------- */

/* Two filters against one input: acc[0] += wa.x, acc[1] += wb.x. */
static void dot_1x2(const int8_t *wa, const int8_t *wb, const int8_t *x, int32_t n, int32_t off, int32_t *acc)
{
    const uint32_t off2 = ooc_dup16(off);
    int32_t a = acc[0], b = acc[1];
    int32_t i;
    for (i = n >> 2; i > 0; i--) {
        const uint32_t xv = ooc_read_u32_inc(&x);
        const uint32_t x02 = ooc_sxtab16(off2, xv), x13 = ooc_sxtab16_ror8(off2, xv);
        uint32_t wv = ooc_read_u32_inc(&wa);
        a = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, a));
        wv = ooc_read_u32_inc(&wb);
        b = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, b));
    }
    for (i = 0; i < (n & 3); i++) {
        const int32_t xi = x[i] + off;
        a = ooc_mac_s8(a, wa[i], xi);
        b = ooc_mac_s8(b, wb[i], xi);
    }
    acc[0] = a;
    acc[1] = b;
}

/*
 * Two filters (wa, wb) against two inputs (xa, xb) over n elements, inputs offset by `off`:
 * acc[0] += wa.xa, acc[1] += wb.xa, acc[2] += wa.xb, acc[3] += wb.xb. Each widened input word serves
 * both filters and each widened filter word both inputs. Bytes 0 and 2 of the four words first,
 * then bytes 1 and 3 from a second load of the same words: the core has too few registers to keep
 * all eight widened halves, and a load costs less than a spill.
 */
static void dot_2x2(const int8_t *wa, const int8_t *wb, const int8_t *xa, const int8_t *xb, int32_t n,
                    int32_t off, int32_t *acc)
{
    const uint32_t off2 = ooc_dup16(off);
    int32_t aa = acc[0], ba = acc[1], ab = acc[2], bb = acc[3];
    int32_t i;
    for (i = n >> 2; i > 0; i--) {
        uint32_t x0 = ooc_sxtab16(off2, ooc_read_u32(xa)), x1 = ooc_sxtab16(off2, ooc_read_u32(xb));
        uint32_t w0 = ooc_sxtb16(ooc_read_u32(wa)), w1 = ooc_sxtb16(ooc_read_u32(wb));
        aa = ooc_smlad(w0, x0, aa);
        ab = ooc_smlad(w0, x1, ab);
        ba = ooc_smlad(w1, x0, ba);
        bb = ooc_smlad(w1, x1, bb);
        x0 = ooc_sxtab16_ror8(off2, ooc_read_u32_inc(&xa));
        x1 = ooc_sxtab16_ror8(off2, ooc_read_u32_inc(&xb));
        w0 = ooc_sxtb16_ror8(ooc_read_u32_inc(&wa));
        w1 = ooc_sxtb16_ror8(ooc_read_u32_inc(&wb));
        aa = ooc_smlad(w0, x0, aa);
        ab = ooc_smlad(w0, x1, ab);
        ba = ooc_smlad(w1, x0, ba);
        bb = ooc_smlad(w1, x1, bb);
    }
    for (i = 0; i < (n & 3); i++) {
        const int32_t xia = xa[i] + off, xib = xb[i] + off;
        aa = ooc_mac_s8(aa, wa[i], xia);
        ab = ooc_mac_s8(ab, wa[i], xib);
        ba = ooc_mac_s8(ba, wb[i], xia);
        bb = ooc_mac_s8(bb, wb[i], xib);
    }
    acc[0] = aa;
    acc[1] = ba;
    acc[2] = ab;
    acc[3] = bb;
}

/* Four filters rows of n, k apart from w, against one input: acc[i] += w_i.x. One pointer walks all
   four rows (the others are register offsets from it), so everything fits in registers. */
static inline void dot_1x4(const int8_t *w, int32_t k, const int8_t *x, int32_t n, int32_t off, int32_t *acc)
{
    const uint32_t off2 = ooc_dup16(off);
    const int32_t k3 = 3 * k;
    int32_t a = acc[0], b = acc[1], c = acc[2], d = acc[3];
    int32_t i;
    for (i = n >> 2; i > 0; i--) {
        const uint32_t xv = ooc_read_u32_inc(&x);
        const uint32_t x02 = ooc_sxtab16(off2, xv), x13 = ooc_sxtab16_ror8(off2, xv);
        uint32_t wv = ooc_read_u32(w + k);
        b = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, b));
        wv = ooc_read_u32(w + 2 * k);
        c = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, c));
        wv = ooc_read_u32(w + k3);
        d = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, d));
        wv = ooc_read_u32_inc(&w);
        a = ooc_smlad(ooc_sxtb16_ror8(wv), x13, ooc_smlad(ooc_sxtb16(wv), x02, a));
    }
    for (i = 0; i < (n & 3); i++) {
        const int32_t xi = x[i] + off;
        a = ooc_mac_s8(a, w[i], xi);
        b = ooc_mac_s8(b, w[k + i], xi);
        c = ooc_mac_s8(c, w[2 * k + i], xi);
        d = ooc_mac_s8(d, w[k3 + i], xi);
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}

/* A matrix of filter rows against input vectors: the channels [c0, c1) of a convolution or
   fully connected call, each a row of n int8 (from `filter`, channel c0's row, on). */
typedef struct {
    const int8_t *filter;
    const int32_t *bias; /* from channel c0, or NULL */
    int32_t n, c0, c1;
    int32_t off; /* input_offset */
    requant_t q;
} matrix_t;

/* All the matrix's channels for one input vector of n int8 (a pixel of a 1x1 convolution, a
   gathered window, a row of a fully connected layer): outputs to o[c]. */
static void matrix_1(const matrix_t *m, const int8_t *x, int8_t *o)
{
    int32_t c = m->c0, i;
    for (; c + 4 <= m->c1; c += 4) { /* four channels at a time */
        int32_t acc[4];
        for (i = 0; i < 4; i++) {
            acc[i] = m->bias ? m->bias[c - m->c0 + i] : 0;
        }
        dot_1x4(m->filter + (c - m->c0) * m->n, m->n, x, m->n, m->off, acc);
        for (i = 0; i < 4; i++) {
            const ooc_dsp_rq_t r = channel_rq(&m->q, c + i);
            o[c + i] = output_s8(&m->q, &r, acc[i]);
        }
    }
    for (; c + 1 < m->c1; c += 2) {
        const ooc_dsp_rq_t rc = channel_rq(&m->q, c), rd = channel_rq(&m->q, c + 1);
        int32_t acc[2];
        acc[0] = m->bias ? m->bias[c - m->c0] : 0;
        acc[1] = m->bias ? m->bias[c + 1 - m->c0] : 0;
        dot_1x2(m->filter + (c - m->c0) * m->n, m->filter + (c + 1 - m->c0) * m->n, x, m->n, m->off, acc);
        o[c] = output_s8(&m->q, &rc, acc[0]);
        o[c + 1] = output_s8(&m->q, &rd, acc[1]);
    }
    if (c < m->c1) {
        const ooc_dsp_rq_t rc = channel_rq(&m->q, c);
        o[c] = output_s8(&m->q, &rc,
                         dot_1x1(m->filter + (c - m->c0) * m->n, x, m->n, m->off, m->bias ? m->bias[c - m->c0] : 0));
    }
}

/* The same for two input vectors at once, outputs to oa[c] and ob[c]: channels in pairs, so that
   each filter word serves both vectors and each input word both channels. */
static void matrix_2(const matrix_t *m, const int8_t *xa, const int8_t *xb, int8_t *oa, int8_t *ob)
{
    int32_t c;
    for (c = m->c0; c + 1 < m->c1; c += 2) {
        const ooc_dsp_rq_t rc = channel_rq(&m->q, c), rd = channel_rq(&m->q, c + 1);
        int32_t acc[4];
        acc[0] = acc[2] = m->bias ? m->bias[c - m->c0] : 0;
        acc[1] = acc[3] = m->bias ? m->bias[c + 1 - m->c0] : 0;
        dot_2x2(m->filter + (c - m->c0) * m->n, m->filter + (c + 1 - m->c0) * m->n, xa, xb, m->n, m->off, acc);
        oa[c] = output_s8(&m->q, &rc, acc[0]);
        oa[c + 1] = output_s8(&m->q, &rd, acc[1]);
        ob[c] = output_s8(&m->q, &rc, acc[2]);
        ob[c + 1] = output_s8(&m->q, &rd, acc[3]);
    }
    if (c < m->c1) {
        const ooc_dsp_rq_t rc = channel_rq(&m->q, c);
        int32_t acc[2];
        acc[0] = acc[1] = m->bias ? m->bias[c - m->c0] : 0;
        dot_2x1(m->filter + (c - m->c0) * m->n, xa, xb, m->n, m->off, acc);
        oa[c] = output_s8(&m->q, &rc, acc[0]);
        ob[c] = output_s8(&m->q, &rc, acc[1]);
    }
}

/* ---- CONV_2D ------------------------------------------------------------------------------------ */

/* Where output pixel `px` (numbered over batches, rows and columns) reads: its batch's input and
   the input row and column of its window's top left tap (negative in the padding). */
typedef struct {
    const int8_t *in_b;
    int32_t y0, x0;
} window_t;

static window_t window_of(const ooc_conv_params_t *p, const int8_t *input, int32_t px)
{
    const int32_t per_batch = p->out_h * p->out_w;
    const int32_t b = px / per_batch, oy = px % per_batch / p->out_w, ox = px % p->out_w;
    window_t w;
    w.in_b = input + b * p->in_h * p->in_w * p->in_c;
    w.y0 = oy * p->stride_h - p->pad_top;
    w.x0 = ox * p->stride_w - p->pad_left;
    return w;
}

/* n bytes, a word at a time: window rows are short, and a call to memcpy costs more than copying
   them. (The loads go through ooc_read_u32_inc so that the compiler keeps the loop inline.) */
static void copy_bytes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4) {
        const uint32_t v = ooc_read_u32_inc(&src);
        memcpy(dst, &v, sizeof v);
    }
    for (; n > 0; n--) {
        *dst++ = *src++;
    }
}

static void fill_bytes(int8_t *dst, int8_t v, int32_t n)
{
    if (n > 0) {
        memset(dst, v, (size_t)n);
    }
}

/* Copy a window into dst as k_h * k_w * in_c contiguous int8, the filter's layout; taps in the
   padding become -input_offset, which adds exactly zero once offset. */
static OOC_ALWAYS_INLINE void gather(const ooc_conv_params_t *p, const window_t *w, int8_t pad, int8_t *dst)
{
    const int32_t in_c = p->in_c, row = p->k_w * in_c;
    const int32_t kx0 = max_i32(0, -w->x0), kx1 = max_i32(kx0, min_i32(p->k_w, p->in_w - w->x0));
    int32_t ky;
    for (ky = 0; ky < p->k_h; ky++, dst += row) {
        const int32_t y = w->y0 + ky;
        if (y < 0 || y >= p->in_h) {
            fill_bytes(dst, pad, row);
            continue;
        }
        fill_bytes(dst, pad, kx0 * in_c);
        copy_bytes(dst + kx0 * in_c, w->in_b + (y * p->in_w + w->x0 + kx0) * in_c, (kx1 - kx0) * in_c);
        fill_bytes(dst + kx1 * in_c, pad, (p->k_w - kx1) * in_c);
    }
}

/* Gathered windows hold -input_offset in their padding taps: it must be an int8 (it is for every
   valid zero point, -128 .. 127). */
static int pad_fits(const ooc_conv_params_t *p)
{
    return p->input_offset >= -127 && p->input_offset <= 128;
}

/* 1x1 windows that all lie inside the image: each pixel's input is one contiguous vector. */
static int is_pointwise(const ooc_conv_params_t *p)
{
    return p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
           (p->out_h - 1) * p->stride_h < p->in_h && (p->out_w - 1) * p->stride_w < p->in_w;
}

/* Pixels two at a time, each pair's inputs contiguous (1x1) or gathered (small windows): a matrix
   product. */
OOC_NOINLINE static void conv_pairs(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                    const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const int32_t n = p->k_h * p->k_w * p->in_c;
    const int32_t pixels = p->batches * p->out_h * p->out_w;
    const int pointwise_input = is_pointwise(p);
    int8_t buf[2 * WINDOW_MAX];
    const int8_t *x[2];
    matrix_t m;
    int32_t px, i;
    m.filter = filter;
    m.bias = bias;
    m.n = n;
    m.c0 = c0;
    m.c1 = c1;
    m.off = p->input_offset;
    m.q = conv_requant(p);
    for (px = 0; px < pixels; px += 2) {
        const int32_t count = px + 1 < pixels ? 2 : 1;
        for (i = 0; i < count; i++) {
            const window_t w = window_of(p, input, px + i);
            if (pointwise_input) {
                x[i] = w.in_b + (w.y0 * p->in_w + w.x0) * p->in_c;
            } else {
                gather(p, &w, (int8_t)-p->input_offset, buf + i * n);
                x[i] = buf + i * n;
            }
        }
        /* an odd last pixel goes twice, to the same outputs */
        matrix_2(&m, x[0], x[count - 1], output + px * p->out_c, output + (px + count - 1) * p->out_c);
    }
}

/* The four outputs of channels c, c + 1 (constants rc, rd) for pixels a and b. */
static void put_2x2(const requant_t *q, const ooc_dsp_rq_t *rc, const ooc_dsp_rq_t *rd, const int32_t *acc,
                    int8_t *oa, int8_t *ob)
{
    if (rc->fast && rd->fast) {
        const pair_rq_t k = pair_rq(q, rc, rd);
        if (full_range(q)) {
            put_pair(&k, acc[0], acc[1], oa, 0);
            put_pair(&k, acc[2], acc[3], ob, 0);
        } else {
            put_pair(&k, acc[0], acc[1], oa, 1);
            put_pair(&k, acc[2], acc[3], ob, 1);
        }
        return;
    }
    oa[0] = output_s8(q, rc, acc[0]);
    oa[1] = output_s8(q, rd, acc[1]);
    ob[0] = output_s8(q, rc, acc[2]);
    ob[1] = output_s8(q, rd, acc[3]);
}

/* Windows gathered two at a time, n = k_h * k_w * in_c apart like the filter rows, with the input
   offset folded into the channels' biases once per call (fold_offset in dsp_dot.h): padding taps
   hold the zero point, so they add w * zp = -w * input_offset, which the folded term cancels, and
   the 2x2 block of the dense 1x1 convolutions (dot_2x2_k: each word loaded and widened once)
   applies. An odd last pixel is computed twice, into the same outputs. */
/* 1 where every channel of [c0, c1) takes the fast requantization (ooc_dsp_rq_t.fast), read
   straight from the tables (a fused schedule asks once per row). */
static int all_fast(const requant_t *q, int32_t c0, int32_t c1)
{
    int32_t c;
    for (c = c0; c < c1; c++) {
        if (!ooc_dsp_rq_fast(q->multiplier[c], q->shift[c])) {
            return 0;
        }
    }
    return 1;
}

OOC_NOINLINE static void conv_gathered(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                       const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    const int32_t n = p->k_h * p->k_w * p->in_c, pixels = p->batches * p->out_h * p->out_w;
    const requant_t q = conv_requant(p);
    const int fast = all_fast(&q, c0, c1), full = full_range(&q);
    int8_t buf[2 * n];     /* as large as this call needs (ISO C99 arrays of variable length): */
    int32_t b[FOLD_CHUNK]; /* a fused schedule's stack bound counts every byte of the deepest path */
    int32_t acc[4], px, c, g0, g1;
    pair_rq_t k; /* the offset and the range; each channel pair's constants come below */
    k.off = q.offset;
    k.lo2 = ooc_dup16(q.lo);
    k.hi2 = ooc_dup16(q.hi);
    k.lo = q.lo;
    k.hi = q.hi;
    for (g0 = c0; g0 < c1; g0 = g1) { /* FOLD_CHUNK channels at a time: their folded biases */
        g1 = min_i32(c1, g0 + FOLD_CHUNK);
        fold_offset(filter + (g0 - c0) * n, n, g1 - g0, p->input_offset, bias ? bias + (g0 - c0) : NULL, b);
        for (px = 0; px < pixels; px += 2) {
            const int32_t pb = px + 1 < pixels ? px + 1 : px;
            const window_t wa = window_of(p, input, px), wb = window_of(p, input, pb);
            int8_t *oa = output + px * p->out_c, *ob = output + pb * p->out_c;
            gather(p, &wa, (int8_t)-p->input_offset, buf);
            if (pb == px && fast) { /* an odd last pixel (every row of an odd width, fused): alone */
                for (c = g0; c + 1 < g1; c += 2) {
                    acc[0] = b[c - g0];
                    acc[1] = b[c + 1 - g0];
                    dot_1x2_k(filter + (c - c0) * n, buf, n, n, acc);
                    k.mc = q.multiplier[c];
                    k.ec = max_i32(1, -q.shift[c]);
                    k.md = q.multiplier[c + 1];
                    k.ed = max_i32(1, -q.shift[c + 1]);
                    put_pair(&k, acc[0], acc[1], oa + c, !full);
                }
                if (c < g1) {
                    const ooc_dsp_rq_t rc = channel_rq(&q, c);
                    oa[c] = output_s8(&q, &rc, dot_1x1(filter + (c - c0) * n, buf, n, 0, b[c - g0]));
                }
                continue;
            }
            gather(p, &wb, (int8_t)-p->input_offset, buf + n);
            for (c = g0; c + 1 < g1; c += 2) {
                acc[0] = acc[2] = b[c - g0];
                acc[1] = acc[3] = b[c + 1 - g0];
                dot_2x2_k(filter + (c - c0) * n, buf, n, n, acc);
                if (fast) { /* the constants straight from the tables: ooc_dsp_rq's right shift */
                    k.mc = q.multiplier[c];
                    k.ec = max_i32(1, -q.shift[c]); /* 1 only for a multiplier of 0 */
                    k.md = q.multiplier[c + 1];
                    k.ed = max_i32(1, -q.shift[c + 1]);
                    if (full) {
                        put_quad_full(&k, acc[0], acc[1], acc[2], acc[3], oa + c, ob + c);
                    } else if (q.lo == -128) {
                        put_quad_clamp(&k, acc[0], acc[1], acc[2], acc[3], oa + c, ob + c, 1);
                    } else {
                        put_quad_clamp(&k, acc[0], acc[1], acc[2], acc[3], oa + c, ob + c, 0);
                    }
                } else {
                    const ooc_dsp_rq_t rc = channel_rq(&q, c), rd = channel_rq(&q, c + 1);
                    put_2x2(&q, &rc, &rd, acc, oa + c, ob + c);
                }
            }
            if (c < g1) {
                const ooc_dsp_rq_t rc = channel_rq(&q, c);
                acc[0] = acc[1] = b[c - g0];
                dot_2x1(filter + (c - c0) * n, buf, buf + n, n, 0, acc);
                oa[c] = output_s8(&q, &rc, acc[0]);
                ob[c] = output_s8(&q, &rc, acc[1]);
            }
        }
    }
}

/* Larger windows, in place: pixels in pairs along a row, kernel rows as contiguous spans. Apart
   from near the left and right edges both pixels of a pair see the same kernel columns. */
typedef struct {
    const int8_t *in_b;
    int32_t x0[2];          /* input column of kernel column 0, per pixel */
    int32_t kx0[2], kx1[2]; /* kernel columns inside the image, per pixel */
    int32_t n_px;           /* 2, or 1 for the last pixel of an odd row */
    int same;               /* two pixels, the same kernel columns inside the image (not empty) */
    int32_t x_step;         /* input distance between the two pixels */
} pixel_pair_t;

/* Kernel columns [from, to) of input row y for pixel px and two filter rows. */
static void conv_span(const ooc_conv_params_t *p, const pixel_pair_t *pp, int32_t px, const int8_t *wa,
                      const int8_t *wb, int32_t y, int32_t from, int32_t to, int32_t *acc)
{
    const int32_t at = from * p->in_c;
    if (to > from) {
        dot_1x2(wa + at, wb + at, pp->in_b + ((y * p->in_w + pp->x0[px]) * p->in_c + at), (to - from) * p->in_c,
                p->input_offset, acc + 2 * px);
    }
}

/* One kernel row: the columns both pixels see in one dot_2x2, the others per pixel. */
static void conv_row(const ooc_conv_params_t *p, const pixel_pair_t *pp, const int8_t *wa, const int8_t *wb,
                     int32_t y, int32_t *acc)
{
    const int32_t lo = max_i32(pp->kx0[0], pp->kx0[1]);
    const int32_t hi = min_i32(pp->kx1[0], pp->kx1[1]);
    int32_t px;
    if (pp->n_px == 1 || hi <= lo) {
        for (px = 0; px < pp->n_px; px++) {
            conv_span(p, pp, px, wa, wb, y, pp->kx0[px], pp->kx1[px], acc);
        }
        return;
    }
    dot_2x2(wa + lo * p->in_c, wb + lo * p->in_c, pp->in_b + ((y * p->in_w + pp->x0[0] + lo) * p->in_c),
            pp->in_b + ((y * p->in_w + pp->x0[1] + lo) * p->in_c), (hi - lo) * p->in_c, p->input_offset, acc);
    for (px = 0; px < 2; px++) {
        conv_span(p, pp, px, wa, wb, y, pp->kx0[px], lo, acc);
        conv_span(p, pp, px, wa, wb, y, hi, pp->kx1[px], acc);
    }
}

/* Output channels [c0, c1) of a pixel pair whose kernel rows [ky0, ky1) lie inside the image. */
static void conv_pair_in_place(const ooc_conv_params_t *p, const pixel_pair_t *pp, const int8_t *filter,
                               const int32_t *bias, int32_t ky0, int32_t ky1, int32_t y0, int8_t *out,
                               int32_t c0, int32_t c1)
{
    const int32_t row = p->k_w * p->in_c, size = p->k_h * row;
    const requant_t q = conv_requant(p);
    int32_t c, ky, px;
    for (c = c0; c < c1; c += 2) {
        const int32_t d = c + 1 < c1 ? c + 1 : c; /* the pair's second channel; c alone at an odd end */
        const ooc_dsp_rq_t rc = channel_rq(&q, c), rd = channel_rq(&q, d);
        int32_t acc[4];
        acc[0] = acc[2] = bias ? bias[c - c0] : 0;
        acc[1] = acc[3] = bias ? bias[d - c0] : 0;
        for (ky = ky0; ky < ky1; ky++) {
            const int8_t *wc = filter + (c - c0) * size + ky * row, *wd = filter + (d - c0) * size + ky * row;
            if (pp->same) { /* every pair but those at the image's left and right edges */
                const int8_t *x = pp->in_b + ((y0 + ky) * p->in_w + pp->x0[0] + pp->kx0[0]) * p->in_c;
                const int32_t at = pp->kx0[0] * p->in_c, n = (pp->kx1[0] - pp->kx0[0]) * p->in_c;
                if (d != c) {
                    dot_2x2(wc + at, wd + at, x, x + pp->x_step, n, p->input_offset, acc);
                } else { /* one channel: one filter against both pixels */
                    int32_t one[2];
                    one[0] = acc[0];
                    one[1] = acc[2];
                    dot_2x1(wc + at, x, x + pp->x_step, n, p->input_offset, one);
                    acc[0] = one[0];
                    acc[2] = one[1];
                }
            } else {
                conv_row(p, pp, wc, wd, y0 + ky, acc); /* with d == c, acc[1] and acc[3] go unused */
            }
        }
        for (px = 0; px < pp->n_px; px++) {
            out[px * p->out_c + c] = output_s8(&q, &rc, acc[2 * px]);
            if (d != c) {
                out[px * p->out_c + d] = output_s8(&q, &rd, acc[2 * px + 1]);
            }
        }
    }
}

OOC_NOINLINE static void conv_in_place(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                       const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    pixel_pair_t pp;
    int32_t b, oy, ox, px;
    pp.x_step = p->stride_w * p->in_c;
    for (b = 0; b < p->batches; b++) {
        pp.in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = max_i32(0, -y0), ky1 = min_i32(p->k_h, p->in_h - y0);
            for (ox = 0; ox < p->out_w; ox += 2) {
                pp.n_px = ox + 1 < p->out_w ? 2 : 1;
                for (px = 0; px < 2; px++) {
                    pp.x0[px] = (ox + px) * p->stride_w - p->pad_left;
                    pp.kx0[px] = max_i32(0, -pp.x0[px]);
                    pp.kx1[px] = min_i32(p->k_w, p->in_w - pp.x0[px]);
                }
                pp.same = pp.n_px == 2 && pp.kx0[0] == pp.kx0[1] && pp.kx1[0] == pp.kx1[1] &&
                          pp.kx1[0] > pp.kx0[0];
                conv_pair_in_place(p, &pp, filter, bias, ky0, ky1, y0,
                                   output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c, c0, c1);
            }
        }
    }
}

void ooc_conv2d_s8_channels(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, int32_t c0, int32_t c1)
{
    if (p->dil_h != 1 || p->dil_w != 1) {
        ooc_conv2d_s8_channels_ref(p, input, filter, bias, output, c0, c1);
    } else if (ooc_conv2d_s8_pointwise(p, input, filter, bias, output, c0, c1)) {
        /* a dense 1x1 convolution: pointwise_dsp.c */
    } else if (p->k_h * p->k_w * p->in_c <= WINDOW_MAX && pad_fits(p) && c1 - c0 <= FOLD_MAX) {
        conv_gathered(p, input, filter, bias, output, c0, c1);
    } else if (is_pointwise(p) || (p->k_h * p->k_w * p->in_c <= WINDOW_MAX && pad_fits(p))) {
        conv_pairs(p, input, filter, bias, output, c0, c1);
    } else {
        conv_in_place(p, input, filter, bias, output, c0, c1);
    }
}

/* ---- a pointwise convolution's sums, input-channel group by group (channel-split chains) ----- */

/* Two pixels against two filter rows at a time: each widened input word serves both rows. */
void ooc_pointwise_accumulate_s8(const ooc_conv_params_t *p, const int8_t *input, int32_t n, const int8_t *filter,
                                 int32_t c0, int32_t c1, int32_t *sums)
{
    const int32_t width = c1 - c0, oc_n = p->out_c, k = p->in_c, off = p->input_offset;
    int32_t i, oc, acc[4];
    for (i = 0; i + 1 < n; i += 2) {
        const int8_t *xa = input + i * width, *xb = xa + width;
        int32_t *sa = sums + i * oc_n, *sb = sa + oc_n;
        for (oc = 0; oc + 1 < oc_n; oc += 2) {
            acc[0] = sa[oc], acc[1] = sa[oc + 1], acc[2] = sb[oc], acc[3] = sb[oc + 1];
            dot_2x2(filter + oc * k + c0, filter + (oc + 1) * k + c0, xa, xb, width, off, acc);
            sa[oc] = acc[0], sa[oc + 1] = acc[1], sb[oc] = acc[2], sb[oc + 1] = acc[3];
        }
        if (oc < oc_n) {
            acc[0] = sa[oc], acc[1] = sb[oc];
            dot_2x1(filter + oc * k + c0, xa, xb, width, off, acc);
            sa[oc] = acc[0], sb[oc] = acc[1];
        }
    }
    if (i < n) {
        const int8_t *x = input + i * width;
        int32_t *s = sums + i * oc_n;
        for (oc = 0; oc + 1 < oc_n; oc += 2) {
            acc[0] = s[oc], acc[1] = s[oc + 1];
            dot_1x2(filter + oc * k + c0, filter + (oc + 1) * k + c0, x, width, off, acc);
            s[oc] = acc[0], s[oc + 1] = acc[1];
        }
        if (oc < oc_n) {
            s[oc] = dot_1x1(filter + oc * k + c0, x, width, off, s[oc]);
        }
    }
}

/* ---- FULLY_CONNECTED ---------------------------------------------------------------------------- */

/* Rows (batches) two at a time: a 1x1 convolution over in_depth channels. */
void ooc_fully_connected_s8_channels(const ooc_fc_params_t *p, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias, int8_t *output, int32_t o0, int32_t o1)
{
    matrix_t m;
    int32_t b;
    m.filter = filter;
    m.bias = bias;
    m.n = p->in_depth;
    m.c0 = o0;
    m.c1 = o1;
    m.off = p->input_offset;
    m.q.multiplier = p->out_multiplier;
    m.q.shift = p->out_shift;
    m.q.step = p->per_channel ? 1 : 0;
    m.q.offset = p->output_offset;
    m.q.lo = p->act_min;
    m.q.hi = p->act_max;
    for (b = 0; b < p->batches; b += 2) {
        const int8_t *x = input + b * p->in_depth;
        if (b + 1 < p->batches) {
            matrix_2(&m, x, x + p->in_depth, output + b * p->out_depth, output + (b + 1) * p->out_depth);
        } else {
            matrix_1(&m, x, output + b * p->out_depth);
        }
    }
}

#else
typedef int ooc_conv_dsp_unused; /* ISO C wants a declaration in every translation unit */
#endif /* OOC_KERNELS_DSP */
