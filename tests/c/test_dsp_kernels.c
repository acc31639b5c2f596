/*
 * The conv, depthwise and fully connected kernels on random shapes and data, for comparing builds:
 * tests/test_dsp_kernels.py compiles this file with the runtime's kernels twice, with and without
 * -DOOC_KERNELS_DSP=1 (the same function names, so two binaries), on the host and for the
 * Cortex-M4 under QEMU (where the DSP kernels run their inline assembly), and requires identical
 * output.
 *
 * Prints one line per case: its parameters and an FNV-1a hash of the whole output tensor (output
 * channels outside the computed range must keep their fill, checked here). Also checks
 * ooc_dsp_requantize against ooc_requantize_to_s8. Exits 1 on any failed check.
 *
 * No malloc and no stdio on bare metal (TEST_BARE_METAL: linked with the QEMU port's board.c and
 * semihost.c, which start main() and print through semihosting).
 */
#include <stdint.h>
#include <string.h>

#include "dsp.h"

#ifdef TEST_BARE_METAL
#include "semihost.h"
static void test_write(const char *s)
{
    sh_puts(s);
}
#else
#include <stdio.h>
static void test_write(const char *s)
{
    fputs(s, stdout);
}
#endif

#ifndef REQUANT_CHECKS
#define REQUANT_CHECKS 1000000
#endif

#define IN_MAX 20000
#define FILTER_MAX 40000
#define OUT_MAX 20000
#define CH_MAX 512
#define FILL 0x5A /* output bytes outside the computed channel range */

static int8_t input[IN_MAX], filter[FILTER_MAX], output[OUT_MAX];
static int32_t bias[CH_MAX], multiplier[CH_MAX], shift[CH_MAX];
static unsigned failed;

/* ---- output -------------------------------------------------------------------------------- */

static char line[256];
static unsigned line_len;

static void put_str(const char *s)
{
    while (*s && line_len + 1 < sizeof line) {
        line[line_len++] = *s++;
    }
    line[line_len] = '\0';
}

static void put_int(const char *key, int32_t v)
{
    char buf[16];
    int n = 0;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    put_str(" ");
    put_str(key);
    put_str("=");
    if (v < 0) {
        put_str("-");
    }
    do {
        buf[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    while (n > 0) {
        char c[2];
        c[0] = buf[--n];
        c[1] = '\0';
        put_str(c);
    }
}

static void put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[10];
    int i;
    buf[0] = ' ';
    for (i = 0; i < 8; i++) {
        buf[1 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    buf[9] = '\0';
    put_str(buf);
}

static void end_line(void)
{
    put_str("\n");
    test_write(line);
    line_len = 0;
    line[0] = '\0';
}

static void fail(const char *what, int32_t n)
{
    failed++;
    put_str("FAIL ");
    put_str(what);
    put_int("case", n);
    end_line();
}

/* ---- random data ------------------------------------------------------------------------------ */

static uint32_t rng_state = 0x12345678u;

static uint32_t rnd(void) /* xorshift32 */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int32_t rnd_in(int32_t lo, int32_t hi) /* uniform in [lo, hi] */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static void fill_s8(int8_t *p, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        p[i] = (int8_t)rnd_in(-128, 127);
    }
}

/* Per-channel scales that spread the outputs over the int8 range for windows of `taps` MACs:
   |acc| grows like sqrt(taps) * 2^13, so shift right by about 7 + log2(taps) / 2. One channel in
   eight takes a left shift or the multiplier INT32_MIN instead, so that every kernel's loops meet
   channels off their fast requantization path, alone and beside fast ones. */
static void fill_quant(int32_t channels, int32_t taps)
{
    int32_t c, log2_taps = 0;
    while ((1 << (log2_taps + 1)) <= taps) {
        log2_taps++;
    }
    for (c = 0; c < channels; c++) {
        bias[c] = rnd_in(-20000, 20000);
        multiplier[c] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
        shift[c] = -(7 + log2_taps / 2) + rnd_in(-1, 1);
        if (rnd() % 8u == 0) { /* the kernels' general requantization: a left shift, or INT32_MIN */
            shift[c] = rnd_in(0, 2);
            multiplier[c] = rnd() % 2u ? (int32_t)(rnd() & 0x0003FFFFu) : INT32_MIN;
        }
    }
}

static void pick_activation(int32_t *lo, int32_t *hi, int32_t output_offset)
{
    switch (rnd() % 4u) {
    case 0: /* none */
        *lo = -128;
        *hi = 127;
        break;
    case 3: /* from -128 (a relu6 whose zero point is -128): the kernels clamp only the top */
        *lo = -128;
        *hi = rnd_in(-60, 126);
        break;
    case 1: /* relu */
        *lo = output_offset;
        *hi = 127;
        break;
    default: /* relu6-like */
        *lo = output_offset;
        *hi = output_offset + 100 < 127 ? output_offset + 100 : 127;
        break;
    }
}

static uint32_t fnv(const int8_t *p, int32_t n)
{
    uint32_t h = 2166136261u;
    int32_t i;
    for (i = 0; i < n; i++) {
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    }
    return h;
}

/* Channels outside [c0, c1) of every pixel must still hold FILL. */
static int untouched(int32_t pixels, int32_t channels, int32_t c0, int32_t c1)
{
    int32_t i, c;
    for (i = 0; i < pixels; i++) {
        for (c = 0; c < channels; c++) {
            if ((c < c0 || c >= c1) && output[i * channels + c] != FILL) {
                return 0;
            }
        }
    }
    return 1;
}

/* ---- cases ------------------------------------------------------------------------------------ */

typedef struct {
    int32_t batches, in_h, in_w, in_c, out_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_bottom, pad_left, pad_right, depth_multiplier, c0, c1;
} conv_case_t;

static int32_t out_size(int32_t in, int32_t pad_before, int32_t pad_after, int32_t k, int32_t stride, int32_t dil)
{
    const int32_t span = dil * (k - 1) + 1;
    return in + pad_before + pad_after < span ? 0 : (in + pad_before + pad_after - span) / stride + 1;
}

static void print_case(const char *kind, int32_t n, const conv_case_t *k, const ooc_conv_params_t *p)
{
    put_str(kind);
    put_int("case", n);
    put_int("b", k->batches);
    put_int("in", k->in_h);
    put_int("x", k->in_w);
    put_int("x", k->in_c);
    put_int("out_c", k->out_c);
    put_int("k", k->k_h);
    put_int("x", k->k_w);
    put_int("s", k->stride_h);
    put_int("x", k->stride_w);
    put_int("d", k->dil_h);
    put_int("x", k->dil_w);
    put_int("pad", k->pad_top);
    put_int("x", k->pad_left);
    put_int("dm", k->depth_multiplier);
    put_int("c0", k->c0);
    put_int("c1", k->c1);
    put_int("in_off", p->input_offset);
    put_int("out_off", p->output_offset);
}

/* Run one conv (depthwise when `depthwise`) case; returns 0 when it does not fit the buffers. */
static int run_conv(int32_t n, const conv_case_t *k, int depthwise)
{
    ooc_conv_params_t p;
    const int32_t per_ch = depthwise ? k->k_h * k->k_w : k->k_h * k->k_w * k->in_c;
    const int32_t width = k->c1 - k->c0;
    int32_t out_n;
    p.batches = k->batches;
    p.in_h = k->in_h;
    p.in_w = k->in_w;
    p.in_c = k->in_c;
    p.out_c = k->out_c;
    p.k_h = k->k_h;
    p.k_w = k->k_w;
    p.stride_h = k->stride_h;
    p.stride_w = k->stride_w;
    p.dil_h = k->dil_h;
    p.dil_w = k->dil_w;
    p.pad_top = k->pad_top;
    p.pad_left = k->pad_left;
    p.depth_multiplier = k->depth_multiplier;
    p.out_h = out_size(k->in_h, k->pad_top, k->pad_bottom, k->k_h, k->stride_h, k->dil_h);
    p.out_w = out_size(k->in_w, k->pad_left, k->pad_right, k->k_w, k->stride_w, k->dil_w);
    out_n = k->batches * p.out_h * p.out_w * k->out_c;
    if (p.out_h < 1 || p.out_w < 1 || k->batches * k->in_h * k->in_w * k->in_c > IN_MAX ||
        per_ch * width > FILTER_MAX || out_n > OUT_MAX || k->out_c > CH_MAX) {
        return 0;
    }
    p.input_offset = rnd_in(-127, 128);
    if (n % 8 == 5) { /* as the tables give a 1x1 convolution its bias folded (offset_folds) */
        p.input_offset = 0;
    }
    p.output_offset = rnd_in(-128, 127);
    pick_activation(&p.act_min, &p.act_max, p.output_offset);
    fill_s8(input, k->batches * k->in_h * k->in_w * k->in_c);
    fill_s8(filter, per_ch * width);
    fill_quant(k->out_c, per_ch);
    p.out_multiplier = multiplier;
    p.out_shift = shift;
    memset(output, FILL, (size_t)out_n);
    /* the bias piece starts at channel c0; some cases have none */
    if (depthwise) {
        ooc_depthwise_conv2d_s8_channels(&p, input, filter, n % 7 == 3 ? NULL : bias + k->c0, output, k->c0,
                                         k->c1);
    } else {
        ooc_conv2d_s8_channels(&p, input, filter, n % 7 == 3 ? NULL : bias + k->c0, output, k->c0, k->c1);
    }
    print_case(depthwise ? "dw" : "conv", n, k, &p);
    put_hex(fnv(output, out_n));
    end_line();
    if (!untouched(k->batches * p.out_h * p.out_w, k->out_c, k->c0, k->c1)) {
        fail("channels outside the range were written", n);
    }
    return 1;
}

static void random_range(conv_case_t *k, int32_t step)
{
    const int32_t groups = k->out_c / step;
    const int32_t g0 = rnd_in(0, groups - 1);
    k->c0 = rnd() % 3u == 0 ? 0 : g0 * step;
    k->c1 = rnd() % 3u == 0 ? k->out_c : rnd_in(k->c0 / step + 1, groups) * step;
}

static void random_conv(conv_case_t *k, int depthwise)
{
    static const int32_t kernels[] = {1, 1, 2, 3, 3, 5};
    k->batches = rnd_in(1, 2);
    k->in_h = rnd_in(1, 11);
    k->in_w = rnd_in(1, 11);
    k->k_h = kernels[rnd() % 6u];
    k->k_w = rnd() % 4u == 0 ? kernels[rnd() % 6u] : k->k_h;
    k->stride_h = rnd_in(1, 3);
    k->stride_w = rnd() % 4u == 0 ? rnd_in(1, 3) : k->stride_h;
    k->dil_h = rnd() % 8u == 0 ? 2 : 1;
    k->dil_w = rnd() % 8u == 0 ? 2 : 1;
    /* padding up to the kernel's extent, and sometimes beyond (windows wholly in the padding) */
    k->pad_top = rnd_in(0, k->dil_h * (k->k_h - 1) + (rnd() % 16u == 0));
    k->pad_bottom = rnd_in(0, k->dil_h * (k->k_h - 1));
    k->pad_left = rnd_in(0, k->dil_w * (k->k_w - 1) + (rnd() % 16u == 0));
    k->pad_right = rnd_in(0, k->dil_w * (k->k_w - 1));
    if (depthwise) {
        k->in_c = rnd_in(1, 21);
        static const int32_t multipliers[] = {2, 3, 4, 8};
        k->depth_multiplier = rnd() % 3u == 0 ? multipliers[rnd() % 4u] : 1;
        k->out_c = k->in_c * k->depth_multiplier;
        random_range(k, k->depth_multiplier);
    } else {
        k->in_c = rnd_in(1, 13);
        k->depth_multiplier = 1;
        k->out_c = rnd_in(1, 11);
        random_range(k, 1);
    }
}

/* Shapes of real layers (and their edges): pointwise, 3x3, 5x5, the 10x4 first layer of KWS models. */
static const conv_case_t fixed_conv[] = {
    /*  b  h   w   in_c out_c kh kw sh sw dh dw pt pb pl pr dm c0 c1 */
    {1, 12, 12, 16, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 32},
    {1, 12, 12, 16, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 5, 27},
    {1, 9, 7, 17, 13, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 13},
    /* 1x1 edges: in_c past 8 + 4 with a tail, odd pixel and channel counts, batches, fewer pixels
       than are worth folding the offset for, more channels than fold at once, uneven strides */
    {2, 5, 7, 15, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 8},
    {1, 3, 3, 12, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 5},
    {1, 1, 3, 20, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 6},
    {1, 4, 6, 9, 67, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 67},
    {1, 6, 6, 24, 70, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 70},
    {1, 5, 8, 7, 6, 1, 1, 1, 2, 1, 1, 0, 0, 0, 0, 1, 1, 6},
    {1, 6, 5, 11, 7, 1, 1, 2, 1, 1, 1, 0, 0, 0, 0, 1, 0, 7},
    {1, 4, 5, 45, 10, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 10},
    {1, 10, 10, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 16},
    {1, 11, 11, 3, 8, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 0, 8},
    {1, 11, 11, 5, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 2, 7},
    {1, 9, 9, 6, 5, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 4},
    {1, 49, 10, 1, 16, 10, 4, 2, 2, 1, 1, 4, 5, 1, 1, 1, 0, 16},
    {2, 6, 6, 12, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 9},
    /* windows too large to gather: computed in place */
    {1, 7, 9, 32, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 10},
    {1, 8, 8, 25, 6, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 0, 5},
    {2, 6, 5, 9, 5, 5, 5, 1, 2, 1, 1, 2, 2, 2, 2, 1, 1, 5},
};

static const conv_case_t fixed_dw[] = {
    {1, 16, 16, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 32},
    {1, 16, 16, 32, 32, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 0, 32},
    {1, 15, 15, 30, 30, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 6, 25},
    {1, 10, 10, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 12},
    {1, 9, 9, 8, 8, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 0, 8},
    {1, 7, 7, 4, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 3, 9},
    /* depth multipliers 8 and 4: the first layer of person_detect, a channel range */
    {1, 24, 24, 1, 8, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 8, 0, 8},
    {1, 9, 11, 5, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 8, 16},
    {1, 12, 10, 1, 8, 10, 8, 2, 2, 1, 1, 4, 5, 3, 4, 8, 0, 8},
};

/* ---- fully connected ------------------------------------------------------------------------------ */

static int run_fc(int32_t n, int32_t batches, int32_t in_depth, int32_t out_depth, int32_t o0, int32_t o1)
{
    ooc_fc_params_t p;
    const int32_t width = o1 - o0;
    if (batches * in_depth > IN_MAX || width * in_depth > FILTER_MAX || batches * out_depth > OUT_MAX ||
        out_depth > CH_MAX) {
        return 0;
    }
    p.batches = batches;
    p.in_depth = in_depth;
    p.out_depth = out_depth;
    p.input_offset = rnd_in(-127, 128);
    p.output_offset = rnd_in(-128, 127);
    pick_activation(&p.act_min, &p.act_max, p.output_offset);
    p.per_channel = (int32_t)(rnd() & 1u);
    fill_s8(input, batches * in_depth);
    fill_s8(filter, width * in_depth);
    fill_quant(out_depth, in_depth);
    p.out_multiplier = multiplier;
    p.out_shift = shift;
    memset(output, FILL, (size_t)(batches * out_depth));
    ooc_fully_connected_s8_channels(&p, input, filter, n % 5 == 2 ? NULL : bias + o0, output, o0, o1);
    put_str("fc");
    put_int("case", n);
    put_int("b", batches);
    put_int("in", in_depth);
    put_int("out", out_depth);
    put_int("o0", o0);
    put_int("o1", o1);
    put_int("per_channel", p.per_channel);
    put_hex(fnv(output, batches * out_depth));
    end_line();
    if (!untouched(batches, out_depth, o0, o1)) {
        fail("fc units outside the range were written", n);
    }
    return 1;
}

/* ---- a pointwise convolution's sums, input channels [c0, c1) (channel-split chains) -------------- */

static int32_t sums[OUT_MAX / 4];

static int run_pointwise_sums(int32_t n, int32_t pixels, int32_t in_c, int32_t out_c, int32_t c0, int32_t c1)
{
    ooc_conv_params_t p;
    int32_t i;
    if (pixels * (c1 - c0) > IN_MAX || out_c * in_c > FILTER_MAX || pixels * out_c > OUT_MAX / 4) {
        return 0;
    }
    memset(&p, 0, sizeof p);
    p.batches = 1, p.in_h = 1, p.in_w = pixels, p.in_c = in_c, p.out_h = 1, p.out_w = pixels, p.out_c = out_c;
    p.k_h = 1, p.k_w = 1, p.stride_h = 1, p.stride_w = 1, p.dil_h = 1, p.dil_w = 1;
    p.input_offset = rnd_in(-127, 128);
    fill_s8(input, pixels * (c1 - c0));
    fill_s8(filter, out_c * in_c);
    for (i = 0; i < pixels * out_c; i++) {
        sums[i] = (int32_t)rnd() >> 8; /* what earlier groups left */
    }
    ooc_pointwise_accumulate_s8(&p, input, pixels, filter, c0, c1, sums);
    put_str("pointwise sums");
    put_int("case", n);
    put_int("px", pixels);
    put_int("in", in_c);
    put_int("out", out_c);
    put_int("c0", c0);
    put_int("c1", c1);
    put_hex(fnv((const int8_t *)sums, 4 * pixels * out_c));
    end_line();
    return 1;
}

/* ---- requantization ------------------------------------------------------------------------------ */

static void check_requantize(int32_t acc, int32_t mult, int32_t sh, int32_t off)
{
    if (ooc_dsp_requantize(acc, mult, sh, off, -128, 127) != ooc_requantize_to_s8(acc, mult, sh, off, -128, 127)) {
        failed++;
        put_str("FAIL requantize");
        put_int("acc", acc);
        put_int("multiplier", mult);
        put_int("shift", sh);
        end_line();
    }
}

static void requantize_checks(void)
{
    static const int32_t accs[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, 0x40000000, -0x40000000,
                                   12345, -12345};
    static const int32_t mults[] = {0, 1, INT32_MAX, INT32_MIN, 0x40000000, 0x40000001, 0x7FFFFFFE, -0x40000000};
    int32_t i, j, s, k;
    for (i = 0; i < (int32_t)(sizeof accs / sizeof accs[0]); i++) {
        for (j = 0; j < (int32_t)(sizeof mults / sizeof mults[0]); j++) {
            for (s = -31; s <= 30; s++) {
                check_requantize(accs[i], mults[j], s, 0);
            }
        }
    }
    for (k = 0; k < REQUANT_CHECKS; k++) {
        /* small accumulators hit the rounding halves; all shifts; offsets near the clamps */
        const int32_t acc = (k & 1) ? (int32_t)rnd() : rnd_in(-70000, 70000);
        const int32_t mult = (int32_t)rnd();
        const int32_t sh = rnd_in(-31, 30);
        check_requantize(acc, mult, sh, rnd_in(-128, 127));
    }
    put_str("requantize checks");
    put_int("n", REQUANT_CHECKS);
    end_line();
}

int main(void)
{
    conv_case_t k;
    int32_t i, n = 0;
    requantize_checks();
    for (i = 0; i < (int32_t)(sizeof fixed_conv / sizeof fixed_conv[0]); i++) {
        run_conv(n++, &fixed_conv[i], 0);
    }
    for (i = 0; i < (int32_t)(sizeof fixed_dw / sizeof fixed_dw[0]); i++) {
        run_conv(n++, &fixed_dw[i], 1);
    }
    run_fc(n++, 1, 256, 128, 0, 128);
    run_fc(n++, 1, 256, 128, 33, 90);
    run_fc(n++, 3, 250, 10, 0, 10);
    for (i = 0; i < 300; i++) {
        random_conv(&k, 0);
        n += run_conv(n, &k, 0);
        random_conv(&k, 1);
        n += run_conv(n, &k, 1);
    }
    for (i = 0; i < 200; i++) {
        /* one draw per statement: the order of a call's arguments is unspecified */
        const int32_t batches = rnd_in(1, 4);
        const int32_t in_depth = rnd_in(1, 70);
        const int32_t out_depth = rnd_in(1, 21);
        const int32_t o0 = rnd() % 3u == 0 ? 0 : rnd_in(0, out_depth - 1);
        const int32_t o1 = rnd() % 3u == 0 ? out_depth : rnd_in(o0 + 1, out_depth);
        n += run_fc(n, batches, in_depth, out_depth, o0, o1);
    }
    for (i = 0; i < 200; i++) {
        const int32_t pixels = rnd_in(1, 9);
        const int32_t in_c = rnd_in(1, 100);
        const int32_t out_c = rnd_in(1, 40);
        const int32_t c0 = rnd_in(0, in_c - 1);
        const int32_t c1 = rnd_in(c0 + 1, in_c);
        n += run_pointwise_sums(n, pixels, in_c, out_c, c0, c1);
    }
    put_int("cases", n);
    put_int("failed", (int32_t)failed);
    end_line();
    return failed ? 1 : 0;
}
