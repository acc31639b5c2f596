/*
 * Layer-at-a-time kernel bench for the emulated Cortex-M4 (benchmarks/bench_cmsisnn.py): one
 * firmware per side runs every conv, depthwise and fully-connected layer that layers.bin holds
 * and counts the instructions of each kernel call (board counter, 40 instructions per tick under
 * -icount shift=0). Built with LAYER_BENCH_CMSIS=1 it calls CMSIS-NN's s8 wrappers (compiled from
 * a source tree the user names; the project does not vendor it), otherwise ooc's kernels.
 *
 * layers.bin: records of little-endian int32 words, a header of HEADER_WORDS fields (see the
 * enum), then multipliers[n_quant], shifts[n_quant], bias[out_c] if has_bias, the filter bytes
 * and the input bytes, each padded to 4. out.bin gets every layer's output bytes in order,
 * ticks.bin one uint32 of ticks per layer. Exit status: 0, or 1 with a line on the console.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "semihost.h"

#if LAYER_BENCH_CMSIS
#include "arm_nnfunctions.h"
#else
#include "ooc/ooc_kernels.h"
#endif

enum {
    F_KIND, /* 0 conv, 1 depthwise, 2 fully connected */
    F_BATCHES, F_IN_H, F_IN_W, F_IN_C, F_OUT_H, F_OUT_W, F_OUT_C, F_K_H, F_K_W,
    F_STRIDE_H, F_STRIDE_W, F_DIL_H, F_DIL_W, F_PAD_TOP, F_PAD_LEFT, F_DEPTH_MULT,
    F_IN_OFFSET, F_OUT_OFFSET, F_ACT_MIN, F_ACT_MAX, F_PER_CHANNEL, F_HAS_BIAS, F_N_QUANT,
    HEADER_WORDS
};

#define ARENA_BYTES (3u * 1024u * 1024u + 768u * 1024u)
static OOC_HARNESS uint32_t arena[ARENA_BYTES / 4u];

static uint32_t pad4(uint32_t n)
{
    return (n + 3u) & ~3u;
}

static int fail(const char *why)
{
    sh_puts(why);
    sh_puts("\n");
    return 1;
}

typedef struct {
    const int32_t *h, *mult, *shift, *bias;
    const int8_t *filter, *input;
    int8_t *output;
    uint32_t out_bytes, record_bytes;
} layer_t;

#if LAYER_BENCH_CMSIS
#define SCRATCH_BYTES (128u * 1024u)
static OOC_HARNESS uint32_t scratch[SCRATCH_BYTES / 4u]; /* CMSIS-NN's ctx buffer */

/* One layer through CMSIS-NN's wrappers, as TFLM's CMSIS-NN kernels call them. */
static int run_layer(const layer_t *l)
{
    const int32_t *h = l->h;
    cmsis_nn_context ctx;
    cmsis_nn_dims in_d, f_d, b_d, out_d;
    arm_cmsis_nn_status st;
    in_d.n = h[F_BATCHES], in_d.h = h[F_IN_H], in_d.w = h[F_IN_W], in_d.c = h[F_IN_C];
    out_d.n = h[F_BATCHES], out_d.h = h[F_OUT_H], out_d.w = h[F_OUT_W], out_d.c = h[F_OUT_C];
    b_d.n = 1, b_d.h = 1, b_d.w = 1, b_d.c = h[F_OUT_C];
    ctx.buf = scratch;
    ctx.size = 0;
    if (h[F_KIND] == 0) {
        cmsis_nn_conv_params cp;
        cmsis_nn_per_channel_quant_params qp;
        cp.input_offset = h[F_IN_OFFSET], cp.output_offset = h[F_OUT_OFFSET];
        cp.stride.h = h[F_STRIDE_H], cp.stride.w = h[F_STRIDE_W];
        cp.padding.h = h[F_PAD_TOP], cp.padding.w = h[F_PAD_LEFT];
        cp.dilation.h = h[F_DIL_H], cp.dilation.w = h[F_DIL_W];
        cp.activation.min = h[F_ACT_MIN], cp.activation.max = h[F_ACT_MAX];
        qp.multiplier = (int32_t *)(uintptr_t)l->mult, qp.shift = (int32_t *)(uintptr_t)l->shift;
        f_d.n = h[F_OUT_C], f_d.h = h[F_K_H], f_d.w = h[F_K_W], f_d.c = h[F_IN_C];
        ctx.size = arm_convolve_wrapper_s8_get_buffer_size(&cp, &in_d, &f_d, &out_d);
        if (ctx.size > (int32_t)SCRATCH_BYTES) {
            return -1;
        }
        st = arm_convolve_wrapper_s8(&ctx, &cp, &qp, &in_d, l->input, &f_d, l->filter, &b_d, l->bias,
                                     &out_d, l->output);
    } else if (h[F_KIND] == 1) {
        cmsis_nn_dw_conv_params dp;
        cmsis_nn_per_channel_quant_params qp;
        dp.input_offset = h[F_IN_OFFSET], dp.output_offset = h[F_OUT_OFFSET];
        dp.ch_mult = h[F_DEPTH_MULT];
        dp.stride.h = h[F_STRIDE_H], dp.stride.w = h[F_STRIDE_W];
        dp.padding.h = h[F_PAD_TOP], dp.padding.w = h[F_PAD_LEFT];
        dp.dilation.h = h[F_DIL_H], dp.dilation.w = h[F_DIL_W];
        dp.activation.min = h[F_ACT_MIN], dp.activation.max = h[F_ACT_MAX];
        qp.multiplier = (int32_t *)(uintptr_t)l->mult, qp.shift = (int32_t *)(uintptr_t)l->shift;
        f_d.n = 1, f_d.h = h[F_K_H], f_d.w = h[F_K_W], f_d.c = h[F_OUT_C];
        ctx.size = arm_depthwise_conv_wrapper_s8_get_buffer_size(&dp, &in_d, &f_d, &out_d);
        if (ctx.size > (int32_t)SCRATCH_BYTES) {
            return -1;
        }
        st = arm_depthwise_conv_wrapper_s8(&ctx, &dp, &qp, &in_d, l->input, &f_d, l->filter, &b_d,
                                           l->bias, &out_d, l->output);
    } else {
        cmsis_nn_fc_params fp;
        cmsis_nn_quant_params qp;
        fp.input_offset = h[F_IN_OFFSET], fp.filter_offset = 0, fp.output_offset = h[F_OUT_OFFSET];
        fp.activation.min = h[F_ACT_MIN], fp.activation.max = h[F_ACT_MAX];
        qp.multiplier = (int32_t *)(uintptr_t)l->mult, qp.shift = (int32_t *)(uintptr_t)l->shift;
        qp.is_per_channel = h[F_PER_CHANNEL];
        in_d.h = 1, in_d.w = 1;
        f_d.n = h[F_IN_C], f_d.h = 1, f_d.w = 1, f_d.c = h[F_OUT_C];
        out_d.h = 1, out_d.w = 1;
        ctx.size = arm_fully_connected_s8_get_buffer_size(&f_d);
        if (ctx.size != 0) { /* an MVE build's kernel sums: not this target's */
            return -1;
        }
        st = arm_fully_connected_wrapper_s8(&ctx, &fp, &qp, &in_d, l->input, &f_d, l->filter, &b_d,
                                            l->bias, &out_d, l->output);
    }
    return st == ARM_CMSIS_NN_SUCCESS ? 0 : -1;
}
#else
/* One layer through ooc's kernel entry points (the executor's calls for an in-core layer). */
static int run_layer(const layer_t *l)
{
    const int32_t *h = l->h;
    if (h[F_KIND] == 2) {
        ooc_fc_params_t p;
        p.batches = h[F_BATCHES], p.in_depth = h[F_IN_C], p.out_depth = h[F_OUT_C];
        p.input_offset = h[F_IN_OFFSET], p.output_offset = h[F_OUT_OFFSET];
        p.act_min = h[F_ACT_MIN], p.act_max = h[F_ACT_MAX], p.per_channel = h[F_PER_CHANNEL];
        p.out_multiplier = l->mult, p.out_shift = l->shift;
        ooc_fully_connected_s8(&p, l->input, l->filter, l->bias, l->output);
    } else {
        ooc_conv_params_t p;
        p.batches = h[F_BATCHES], p.in_h = h[F_IN_H], p.in_w = h[F_IN_W], p.in_c = h[F_IN_C];
        p.out_h = h[F_OUT_H], p.out_w = h[F_OUT_W], p.out_c = h[F_OUT_C];
        p.k_h = h[F_K_H], p.k_w = h[F_K_W], p.stride_h = h[F_STRIDE_H], p.stride_w = h[F_STRIDE_W];
        p.dil_h = h[F_DIL_H], p.dil_w = h[F_DIL_W], p.pad_top = h[F_PAD_TOP], p.pad_left = h[F_PAD_LEFT];
        p.depth_multiplier = h[F_DEPTH_MULT];
        p.input_offset = h[F_IN_OFFSET], p.output_offset = h[F_OUT_OFFSET];
        p.act_min = h[F_ACT_MIN], p.act_max = h[F_ACT_MAX];
        p.out_multiplier = l->mult, p.out_shift = l->shift;
        if (h[F_KIND] == 0) {
            ooc_conv2d_s8(&p, l->input, l->filter, l->bias, l->output);
        } else {
            ooc_depthwise_conv2d_s8(&p, l->input, l->filter, l->bias, l->output);
        }
    }
    return 0;
}
#endif

/* Lay one record out in the arena from its header (already read); 0, or -1 if it does not fit. */
static int layout(layer_t *l, int fd)
{
    const int32_t *h = l->h;
    const uint32_t kind = (uint32_t)h[F_KIND];
    const uint32_t n_quant = (uint32_t)h[F_N_QUANT], out_c = (uint32_t)h[F_OUT_C];
    const uint32_t bias_words = h[F_HAS_BIAS] ? out_c : 0u;
    const uint32_t taps = (uint32_t)(h[F_K_H] * h[F_K_W]);
    const uint32_t f_bytes = kind == 0 ? out_c * taps * (uint32_t)h[F_IN_C]
                                       : (kind == 1 ? taps * out_c : out_c * (uint32_t)h[F_IN_C]);
    const uint32_t in_bytes = (uint32_t)(h[F_BATCHES] * h[F_IN_H] * h[F_IN_W] * h[F_IN_C]);
    const uint32_t body = 4u * (2u * n_quant + bias_words) + pad4(f_bytes) + pad4(in_bytes);
    uint8_t *p = (uint8_t *)(arena + HEADER_WORDS);
    l->out_bytes = (uint32_t)(h[F_BATCHES] * h[F_OUT_H] * h[F_OUT_W]) * out_c;
    l->record_bytes = 4u * HEADER_WORDS + body;
    if (kind > 2u || 4u * HEADER_WORDS + body + pad4(l->out_bytes) > ARENA_BYTES) {
        return -1;
    }
    if (sh_read(fd, p, body) != 0) {
        return -1;
    }
    l->mult = (const int32_t *)p;
    l->shift = l->mult + n_quant;
    l->bias = bias_words ? l->shift + n_quant : NULL;
    l->filter = (const int8_t *)(l->shift + n_quant + bias_words);
    l->input = l->filter + pad4(f_bytes);
    l->output = (int8_t *)(p + body);
    return 0;
}

int main(void)
{
    const int in = sh_open("layers.bin", SH_MODE_RB);
    const int out = sh_open("out.bin", SH_MODE_WB);
    const int ticks = sh_open("ticks.bin", SH_MODE_WB);
    int32_t left;
    if (in < 0 || out < 0 || ticks < 0) {
        return fail("layer bench: cannot open layers.bin, out.bin or ticks.bin");
    }
    left = sh_flen(in);
    ooc_board_counter_start();
    while (left > 0) {
        layer_t l;
        uint32_t t0, t1;
        int rc;
        if (sh_read(in, arena, 4u * HEADER_WORDS) != 0) {
            return fail("layer bench: a truncated layer header");
        }
        l.h = (const int32_t *)arena;
        if (layout(&l, in) != 0) {
            return fail("layer bench: a layer record that is truncated or too large");
        }
        t0 = ooc_board_ticks();
        rc = run_layer(&l);
        t1 = ooc_board_ticks();
        if (rc != 0) {
            return fail("layer bench: the kernel refused a layer");
        }
        if (sh_write(out, l.output, l.out_bytes) != 0 || sh_write(ticks, &(uint32_t){t1 - t0}, 4u) != 0) {
            return fail("layer bench: cannot write out.bin or ticks.bin");
        }
        left -= (int32_t)l.record_bytes;
    }
    sh_close(in);
    sh_close(out);
    sh_close(ticks);
    return 0;
}
