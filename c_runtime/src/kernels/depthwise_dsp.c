/*
 * DEPTHWISE_CONV_2D on the Cortex-M DSP extension (OOC_KERNELS_DSP = 1 builds it under the public
 * name; the reference kernel, conv.c, serves dilation and depth multipliers other than 1 and
 * multiples of 4). Same arithmetic as the reference, bit-exact: see conv_dsp.c, which holds the
 * other DSP kernels.
 */
#include "dsp_kernel.h"

#if defined(OOC_KERNELS_DSP) && OOC_KERNELS_DSP

#define DW_TAPS_MAX 9 /* depthwise filters up to 3x3 are widened once per four channels (a fused schedule's
                          stack bound leaves no room for 5x5 beside the group's constants) */

/* ---- DEPTHWISE_CONV_2D ------------------------------------------------------------------------- */

/*
 * Channels four at a time in the outer loop: their filter taps are widened once (tap t: w[2t] holds
 * channels 0 and 2, w[2t + 1] channels 1 and 3) and serve every pixel. Input words are widened the
 * same way (with a depth multiplier, the one input channel the four read is repeated in every
 * byte), and SMLABB / SMLATT multiply lane by lane: one channel per MAC. Along each output row,
 * the pixels whose 3x3 windows lie inside the image run through an unrolled loop; the others
 * (near the edges, other window sizes) take the taps inside the image one by one.
 */

/* One tap of four channels: x at the input word, w at the tap's two widened filter words. With a
   depth multiplier (bcast) the four output channels read one input channel: its byte, in all four
   places. */
static inline void dw_tap(const int8_t *x, const uint32_t *w, uint32_t off2, int bcast, int32_t *acc)
{
    const uint32_t xv = bcast ? (uint32_t)(uint8_t)x[0] * 0x01010101u : ooc_read_u32(x);
    uint32_t xh = ooc_sxtab16(off2, xv);
    acc[0] = ooc_smlabb(xh, w[0], acc[0]);
    acc[2] = ooc_smlatt(xh, w[0], acc[2]);
    xh = ooc_sxtab16_ror8(off2, xv);
    acc[1] = ooc_smlabb(xh, w[1], acc[1]);
    acc[3] = ooc_smlatt(xh, w[1], acc[3]);
}

/* One kernel row of a 3x3 window; the barriers keep each tap's loads next to its multiplies. */
static inline void dw_row3(const int8_t *x, int32_t col, const uint32_t *w, uint32_t off2, int bcast,
                           int32_t *acc)
{
    dw_tap(x, w, off2, bcast, acc);
    ooc_dsp_barrier();
    dw_tap(x + col, w + 2, off2, bcast, acc);
    ooc_dsp_barrier();
    dw_tap(x + 2 * col, w + 4, off2, bcast, acc);
    ooc_dsp_barrier();
}

/* A 3x3 window, unrolled: the bulk of MobileNet-style depthwise layers. x: input at tap (0, 0);
   col, row: the input strides of a kernel column and row. */
static inline void dw_3x3(const int8_t *x, int32_t col, int32_t row, const uint32_t *w, uint32_t off2, int bcast,
                          int32_t *acc)
{
    dw_row3(x, col, w, off2, bcast, acc);
    dw_row3(x + row, col, w + 6, off2, bcast, acc);
    dw_row3(x + 2 * row, col, w + 12, off2, bcast, acc);
}

/* Rows [ky0, ky0 + rows) and columns [kx0, kx0 + cols) of a 3x3 window (cols 1 to 3): x at the
   first of those taps, w at the filter's row ky0. The edges of a map, where taps fall in the
   padding: small maps (6x6, 3x3) are mostly edges. */
static inline void dw_3x3_part(const int8_t *x, int32_t col, int32_t row, int32_t rows, int32_t kx0, int32_t cols,
                               const uint32_t *w, uint32_t off2, int bcast, int32_t *acc)
{
    for (w += 2 * kx0; rows > 0; rows--, x += row, w += 6) {
        dw_tap(x, w, off2, bcast, acc);
        ooc_dsp_barrier();
        if (cols > 1) {
            dw_tap(x + col, w + 2, off2, bcast, acc);
            ooc_dsp_barrier();
        }
        if (cols > 2) {
            dw_tap(x + 2 * col, w + 4, off2, bcast, acc);
            ooc_dsp_barrier();
        }
    }
}

/* Any window: rows x cols taps; k_w the filter's row length (in taps). */
static void dw_window(const int8_t *x, int32_t col, int32_t row, int32_t rows, int32_t cols, int32_t k_w,
                      const uint32_t *w, uint32_t off2, int bcast, int32_t *acc)
{
    int32_t ky, kx;
    for (ky = 0; ky < rows; ky++, x += row, w += 2 * k_w) {
        for (kx = 0; kx < cols; kx++) {
            dw_tap(x + kx * col, w + 2 * kx, off2, bcast, acc);
        }
    }
}

/* Windows larger than DW_TAPS_MAX taps: the filter words widened tap by tap (f: the filter piece
   at the window's first tap, width: its channel stride). */
static void dw_window_raw(const int8_t *x, int32_t col, int32_t row, int32_t rows, int32_t cols, int32_t k_w,
                          const int8_t *f, int32_t width, uint32_t off2, int bcast, int32_t *acc)
{
    int32_t ky, kx;
    for (ky = 0; ky < rows; ky++, x += row, f += k_w * width) {
        for (kx = 0; kx < cols; kx++) {
            const uint32_t v = ooc_read_u32(f + kx * width);
            uint32_t w[2];
            w[0] = ooc_sxtb16(v);
            w[1] = ooc_sxtb16_ror8(v);
            dw_tap(x + kx * col, w, off2, bcast, acc);
        }
    }
}

/* What every pixel of a four-channel group needs. */
typedef struct {
    uint32_t w[2 * DW_TAPS_MAX]; /* the widened filter (windows up to DW_TAPS_MAX taps) */
    const int8_t *f;             /* else the filter piece at the group's first channel */
    int32_t width;               /* the filter piece's channel stride */
    int32_t c; /* the group's first channel (mode 0 derives its constants per output: rare) */
    pair_rq_t k[2]; /* channels 0 and 1, 2 and 3, where `mode` is not 0 */
    int32_t bias[4];
    requant_t q;
    int mode;      /* 0: general requantization; 1: fast (all four ooc_dsp_rq_t.fast), clamped;
                      2: fast over the whole int8 range */
    uint32_t off2; /* input_offset in both lanes */
    int bcast;     /* a depth multiplier: the four channels read one input channel */
} dw_group_t;

/* Requantize and store the group's four channels of one pixel. */
OOC_NOINLINE static void dw_store(const dw_group_t *g, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                  int8_t *out)
{
    ooc_dsp_rq_t r;
    if (g->mode == 2) {
        put_pair(&g->k[0], a0, a1, out, 0);
        put_pair(&g->k[1], a2, a3, out + 2, 0);
        return;
    }
    if (g->mode == 1) {
        put_pair(&g->k[0], a0, a1, out, 1);
        put_pair(&g->k[1], a2, a3, out + 2, 1);
        return;
    }
    r = channel_rq(&g->q, g->c + 0);
    out[0] = output_s8(&g->q, &r, a0);
    r = channel_rq(&g->q, g->c + 1);
    out[1] = output_s8(&g->q, &r, a1);
    r = channel_rq(&g->q, g->c + 2);
    out[2] = output_s8(&g->q, &r, a2);
    r = channel_rq(&g->q, g->c + 3);
    out[3] = output_s8(&g->q, &r, a3);
}

/* n pixels along a row whose 3x3 windows lie inside the image: x at the first one's tap (0, 0),
   step its input stride to the next; col and row the input strides of a kernel column and row. */
OOC_NOINLINE static void dw_run_3x3(const dw_group_t *g, const int8_t *x, int32_t col, int32_t row, int32_t step,
                                    int8_t *out, int32_t out_c, int32_t n)
{
    for (; n > 0; n--, x += step, out += out_c) {
        int32_t acc[4];
        acc[0] = g->bias[0];
        acc[1] = g->bias[1];
        acc[2] = g->bias[2];
        acc[3] = g->bias[3];
        if (g->bcast) { /* two unrolled copies, each with its kind of load */
            dw_3x3(x, col, row, g->w, g->off2, 1, acc);
        } else {
            dw_3x3(x, col, row, g->w, g->off2, 0, acc);
        }
        dw_store(g, acc[0], acc[1], acc[2], acc[3], out);
    }
}

/* n pixels along a row, each with the same part of its 3x3 window inside the image (dw_3x3_part:
   rows from filter row ky0, cols from column kx0); x at the first one's first such tap. */
static OOC_ALWAYS_INLINE void dw_run_part(const dw_group_t *g, const int8_t *x, int32_t col, int32_t row, int32_t step,
                                     int8_t *out, int32_t out_c, int32_t n, int32_t ky0, int32_t rows, int32_t kx0,
                                     int32_t cols)
{
    const uint32_t *w = g->w + 6 * ky0;
    for (; n > 0; n--, x += step, out += out_c) {
        int32_t acc[4];
        acc[0] = g->bias[0];
        acc[1] = g->bias[1];
        acc[2] = g->bias[2];
        acc[3] = g->bias[3];
        if (g->bcast) {
            dw_3x3_part(x, col, row, rows, kx0, cols, w, g->off2, 1, acc);
        } else {
            dw_3x3_part(x, col, row, rows, kx0, cols, w, g->off2, 0, acc);
        }
        dw_store(g, acc[0], acc[1], acc[2], acc[3], out);
    }
}

/* Any one pixel, its window starting at input (y0, x0): the taps inside the image. in_b: the
   batch's input at the group's first channel. */
OOC_NOINLINE static void dw_pixel(const ooc_conv_params_t *p, const dw_group_t *g, const int8_t *in_b,
                                  int32_t y0, int32_t x0, int8_t *out)
{
    const int32_t ky0 = max_i32(0, -y0), ky1 = min_i32(p->k_h, p->in_h - y0);
    const int32_t kx0 = max_i32(0, -x0), kx1 = min_i32(p->k_w, p->in_w - x0);
    int32_t acc[4];
    acc[0] = g->bias[0];
    acc[1] = g->bias[1];
    acc[2] = g->bias[2];
    acc[3] = g->bias[3];
    if (ky1 > ky0 && kx1 > kx0) { /* else the window lies in the padding */
        const int8_t *x = in_b + ((y0 + ky0) * p->in_w + x0 + kx0) * p->in_c;
        const int32_t tap = ky0 * p->k_w + kx0;
        if (p->k_h * p->k_w <= DW_TAPS_MAX) {
            dw_window(x, p->in_c, p->in_w * p->in_c, ky1 - ky0, kx1 - kx0, p->k_w, g->w + 2 * tap, g->off2,
                      g->bcast, acc);
        } else {
            dw_window_raw(x, p->in_c, p->in_w * p->in_c, ky1 - ky0, kx1 - kx0, p->k_w, g->f + tap * g->width,
                          g->width, g->off2, g->bcast, acc);
        }
    }
    dw_store(g, acc[0], acc[1], acc[2], acc[3], out);
}

/* Output columns [*first, *last) whose windows lie within the image's columns (maybe none). */
static void dw_inner_columns(const ooc_conv_params_t *p, int32_t *first, int32_t *last)
{
    const int32_t room = p->in_w + p->pad_left - p->k_w; /* last x0 + pad_left that fits */
    *first = min_i32(p->out_w, (p->pad_left + p->stride_w - 1) / p->stride_w);
    *last = max_i32(*first, room < 0 ? 0 : min_i32(p->out_w, room / p->stride_w + 1));
}

/* One output row of a 3x3 filter: the windows inside the image's columns as a run (unrolled where
   all three kernel rows are inside), the edge pixels with the taps inside the image. */
static void dw_row_3x3(const ooc_conv_params_t *p, const dw_group_t *g, const int8_t *in_b, int32_t y0, int8_t *out)
{
    const int32_t ky0 = max_i32(0, -y0), rows = max_i32(0, min_i32(3, p->in_h - y0) - ky0);
    const int32_t col = p->in_c, row = p->in_w * p->in_c;
    int32_t first, last, ox;
    dw_inner_columns(p, &first, &last);
    for (ox = 0; ox < p->out_w; ox++) {
        const int32_t x0 = ox * p->stride_w - p->pad_left;
        const int8_t *x;
        int32_t kx0, cols, n = 1;
        if (ox == first && last > first) {
            kx0 = 0;
            cols = 3;
            n = last - first;
        } else {
            kx0 = max_i32(0, -x0);
            cols = max_i32(0, min_i32(3, p->in_w - x0) - kx0);
        }
        if (rows == 0 || cols == 0) { /* the window lies in the padding: the bias alone */
            dw_run_part(g, in_b, col, row, 0, out + ox * p->out_c, p->out_c, n, 0, 0, 0, 0);
            ox += n - 1;
            continue;
        }
        x = in_b + ((y0 + ky0) * p->in_w + x0 + kx0) * p->in_c;
        if (rows == 3 && cols == 3) {
            dw_run_3x3(g, x, col, row, p->stride_w * col, out + ox * p->out_c, p->out_c, n);
        } else {
            dw_run_part(g, x, col, row, p->stride_w * col, out + ox * p->out_c, p->out_c, n, ky0, rows, kx0, cols);
        }
        ox += n - 1;
    }
}

/* One output row of any other filter: each pixel with the taps inside the image. */
static void dw_row(const ooc_conv_params_t *p, const dw_group_t *g, const int8_t *in_b, int32_t y0, int8_t *out)
{
    int32_t ox;
    if (p->k_h == 3 && p->k_w == 3) {
        dw_row_3x3(p, g, in_b, y0, out);
        return;
    }
    for (ox = 0; ox < p->out_w; ox++) {
        dw_pixel(p, g, in_b, y0, ox * p->stride_w - p->pad_left, out + ox * p->out_c);
    }
}

/* 1 where channel c takes the fast requantization (ooc_dsp_rq(m, shift).fast), its right shift
   then max(1, -shift) (1 only for a multiplier of 0): straight from the tables, without the
   general constants, since a fused schedule sets up every group once per row. */
static inline int dw_fast(const requant_t *q, int32_t c, int32_t *right)
{
    const int32_t m = q->multiplier[c * q->step], shift = q->shift[c * q->step];
    *right = max_i32(1, -shift);
    return ooc_dsp_rq_fast(m, shift);
}

/* A four-channel group's constants (a function of its own: its locals stay off the stack of the
   pixel loops below it). */
OOC_NOINLINE static void dw_group_init(dw_group_t *g, const ooc_conv_params_t *p, const int8_t *f, int32_t width,
                                       const int32_t *bias, int32_t c)
{
    int32_t i, e[4];
    int fast = 1;
    for (i = 0; p->k_h * p->k_w <= DW_TAPS_MAX && i < p->k_h * p->k_w; i++) {
        const uint32_t v = ooc_read_u32(f + i * width);
        g->w[2 * i] = ooc_sxtb16(v);
        g->w[2 * i + 1] = ooc_sxtb16_ror8(v);
    }
    g->f = f;
    g->width = width;
    g->q = conv_requant(p);
    g->off2 = ooc_dup16(p->input_offset);
    g->bcast = p->depth_multiplier != 1;
    for (i = 0; i < 4; i++) {
        fast &= dw_fast(&g->q, c + i, &e[i]);
        g->bias[i] = bias ? bias[i] : 0;
    }
    g->c = c;
    g->mode = fast ? (full_range(&g->q) ? 2 : 1) : 0;
    for (i = 0; fast && i < 2; i++) { /* the constants put_pair reads (pair_rq of the two channels) */
        pair_rq_t *k = &g->k[i];
        k->mc = g->q.multiplier[(c + 2 * i) * g->q.step];
        k->ec = e[2 * i];
        k->md = g->q.multiplier[(c + 2 * i + 1) * g->q.step];
        k->ed = e[2 * i + 1];
        k->off = g->q.offset;
        k->lo2 = ooc_dup16(g->q.lo);
        k->hi2 = ooc_dup16(g->q.hi);
        k->lo = g->q.lo;
        k->hi = g->q.hi;
    }
}

/* Output channels c .. c + 3 of every pixel; `f` is the filter piece at channel c. */
OOC_NOINLINE static void dw_quad(const ooc_conv_params_t *p, const int8_t *input, const int8_t *f, int32_t width,
                                 const int32_t *bias, int8_t *output, int32_t c)
{
    dw_group_t g;
    int32_t b, oy;
    dw_group_init(&g, p, f, width, bias, c);
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c + c / p->depth_multiplier;
        for (oy = 0; oy < p->out_h; oy++) {
            dw_row(p, &g, in_b, oy * p->stride_h - p->pad_top,
                   output + ((b * p->out_h + oy) * p->out_w) * p->out_c + c);
        }
    }
}

/* Output channel c of every pixel with plain MACs (the end of a range not a multiple of four). */
OOC_NOINLINE static void dw_single(const ooc_conv_params_t *p, const int8_t *input, const int8_t *f, int32_t width,
                                   const int32_t *bias, int8_t *output, int32_t c)
{
    const requant_t q = conv_requant(p);
    const ooc_dsp_rq_t r = channel_rq(&q, c);
    int32_t b, oy, ox, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c + c / p->depth_multiplier;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = max_i32(0, -y0), ky1 = min_i32(p->k_h, p->in_h - y0);
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t kx0 = max_i32(0, -x0), kx1 = min_i32(p->k_w, p->in_w - x0);
                int32_t acc = bias ? bias[0] : 0;
                for (ky = ky0; ky < ky1; ky++) {
                    for (kx = kx0; kx < kx1; kx++) {
                        acc = ooc_mac_s8(acc, f[(ky * p->k_w + kx) * width],
                                         in_b[((y0 + ky) * p->in_w + x0 + kx) * p->in_c] + p->input_offset);
                    }
                }
                output[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + c] = output_s8(&q, &r, acc);
            }
        }
    }
}

/* Depth multiplier 1, or 4, 8, ...: then each four output channels from c_begin (a multiple of the
   multiplier) read one input channel. */
static int dw_multiplier_ok(const ooc_conv_params_t *p, int32_t c_begin)
{
    const int32_t m = p->depth_multiplier;
    return m == 1 || (m % 4 == 0 && c_begin % m == 0);
}

void ooc_depthwise_conv2d_s8_channels(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                      const int32_t *bias, int8_t *output, int32_t c_begin, int32_t c_end)
{
    const int32_t width = c_end - c_begin; /* the filter piece's channel stride */
    int32_t c;
    if (!dw_multiplier_ok(p, c_begin) || p->dil_h != 1 || p->dil_w != 1) {
        ooc_depthwise_conv2d_s8_channels_ref(p, input, filter, bias, output, c_begin, c_end);
        return;
    }
    for (c = c_begin; c + 4 <= c_end; c += 4) {
        dw_quad(p, input, filter + (c - c_begin), width, bias ? bias + (c - c_begin) : NULL, output, c);
    }
    for (; c < c_end; c++) {
        dw_single(p, input, filter + (c - c_begin), width, bias ? bias + (c - c_begin) : NULL, output, c);
    }
}

#else
typedef int ooc_depthwise_dsp_unused; /* ISO C wants a declaration in every translation unit */
#endif /* OOC_KERNELS_DSP */
