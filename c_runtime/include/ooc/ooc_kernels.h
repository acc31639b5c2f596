/*
 * ooc int8 kernels: one parameter struct per kernel family, filled ahead of time
 * by the SDK (ooc_sdk/lower/prepare.py, TFLM's Prepare done at build time) and
 * stored as const tables. Kernels are pure functions: no allocation, no I/O, no
 * global state; every pointer is valid for the sizes the params describe (the
 * executor checked that at init). Results are bit-exact with TensorFlow Lite
 * Micro's reference kernels.
 *
 * Shapes are NHWC. "offset" fields follow TFLM: input_offset = -input zero point,
 * output_offset = +output zero point. Multipliers/shifts are TFLM's
 * QuantizeMultiplier() form (Q31 multiplier, shift > 0 = left).
 */
#ifndef OOC_KERNELS_H
#define OOC_KERNELS_H

#include <stdint.h>

#include "ooc/ooc_model_format.h" /* OOC_MAX_DIMS: generated from ooc_sdk/formats/tables.py */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed point helpers (src/kernels/fixedpoint.c) ---------------------------- */
int32_t ooc_sat_rounding_doubling_high_mul(int32_t a, int32_t b);
int32_t ooc_rounding_divide_by_pot(int32_t x, int exponent);
int32_t ooc_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift);

/* ---- CONV_2D and DEPTHWISE_CONV_2D (src/kernels/conv.c) ------------------------ */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;      /* TFLM's computed padding (SAME) or 0 (VALID) */
    int32_t depth_multiplier;       /* depthwise only: out_c = in_c * depth_multiplier */
    int32_t input_offset;           /* -input zero point */
    int32_t output_offset;          /* output zero point */
    int32_t act_min, act_max;       /* fused activation range in the output's int8 domain */
    const int32_t *out_multiplier;  /* [out_c] */
    const int32_t *out_shift;       /* [out_c] */
} ooc_conv_params_t;

/* filter: OHWI [out_c][k_h][k_w][in_c]; bias: [out_c] int32 or NULL */
void ooc_conv2d_s8(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                   const int32_t *bias, int8_t *output);
/* filter: [1][k_h][k_w][out_c]; bias: [out_c] or NULL */
void ooc_depthwise_conv2d_s8(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, int8_t *output);

/* Partial execution along output channels: compute only output channels [c0, c1) of the whole
   output tensor (other channels are left untouched). `filter` and `bias` hold only those
   channels: conv [c1 - c0][k_h][k_w][in_c]; depthwise [k_h][k_w][c1 - c0] (for depthwise with a
   depth multiplier, c0 and c1 are multiples of it); bias [c1 - c0] or NULL. Requantization uses
   the per-channel multipliers and shifts of the absolute channel. 0 <= c0 < c1 <= out_c. */
void ooc_conv2d_s8_channels(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);
void ooc_depthwise_conv2d_s8_channels(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                      const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);

/* Partial execution along input channels, for a pointwise (1x1, stride 1, no padding) CONV_2D:
   its int32 sums over n pixels, [n][out_c], built input channels [c0, c1) at a time (integer
   sums, so the order does not change the result). init sets them to the bias (0 without one);
   accumulate adds input channels [c0, c1): `input` holds only those, [n][c1 - c0], and
   `filter` is the whole [out_c][in_c]; finish requantizes them into output [n][out_c]. */
void ooc_conv_sums_init(const ooc_conv_params_t *p, const int32_t *bias, int32_t n, int32_t *sums);
void ooc_pointwise_accumulate_s8(const ooc_conv_params_t *p, const int8_t *input, int32_t n, const int8_t *filter,
                                 int32_t c0, int32_t c1, int32_t *sums);
void ooc_conv_sums_finish_s8(const ooc_conv_params_t *p, const int32_t *sums, int32_t n, int8_t *output);

/* ---- FULLY_CONNECTED (src/kernels/fully_connected.c) --------------------------- */
typedef struct {
    int32_t batches;                /* rows: input elements / in_depth */
    int32_t in_depth, out_depth;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;            /* 1: multiplier/shift arrays have out_depth entries */
    const int32_t *out_multiplier;
    const int32_t *out_shift;
} ooc_fc_params_t;

/* filter: [out_depth][in_depth]; bias: [out_depth] or NULL */
void ooc_fully_connected_s8(const ooc_fc_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output);
/* Output units [o0, o1) only; filter [o1 - o0][in_depth] and bias [o1 - o0] hold just those. */
void ooc_fully_connected_s8_channels(const ooc_fc_params_t *p, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias, int8_t *output, int32_t o0, int32_t o1);

/* ---- approximate CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (src/kernels/skip.c) ----
   Operand groups skipped (docs/FORMAT.md, "Approximation configuration"): the result is the exact
   kernel's on the same filter with the skipped weights set to zero, but the skipped weights are
   not stored and not multiplied. A row of the compacted filter holds the groups that row keeps,
   in the exact filter's order, padded with zero groups to `slots` (the most any row keeps): rows
   stay one size, so a step may still take output channels [c0, c1).
   CONV_2D, FULLY_CONNECTED: a row per output channel, filter [c1 - c0][slots][OOC_SKIP_GROUP_BYTES]
   (a group's weights, zero-padded to whole words; group <= 4 or a multiple of 4); index[oc][k]:
   kept group k's number in the row, tap * ceil(in_c / group) + input channel group.
   DEPTHWISE_CONV_2D: a row per `group` output channels, filter [slots][c1 - c0] (slot k, channel
   c: the weight of the row's k-th kept tap); index[row][k] = ky * k_w + kx; group <= 64. */
/* Bytes a kept group takes (CONV_2D: in_c, FULLY_CONNECTED: in_depth): whole words, but fewer than
   four input channels that make one group take their own count. */
#define OOC_SKIP_GROUP_BYTES(in_c, group) ((in_c) < 4 && (in_c) <= (group) ? (in_c) : 4 * (((group) + 3) / 4))

typedef struct {
    ooc_conv_params_t conv;   /* the exact layer's parameters */
    int32_t group;            /* input channels (depthwise: channels) per operand group */
    int32_t slots;            /* groups stored per row */
    const uint16_t *kept;     /* [rows]: groups each row keeps, <= slots */
    const uint16_t *index;    /* [rows][slots]: where each kept group is in the exact filter */
} ooc_conv_skip_params_t;

typedef struct {
    ooc_fc_params_t fc;       /* the exact layer's parameters */
    int32_t group, slots;
    const uint16_t *kept, *index; /* as ooc_conv_skip_params_t's, a row per output unit */
} ooc_fc_skip_params_t;

/* Output channels [c0, c1) only, as the exact kernels' _channels forms. */
void ooc_conv2d_skip_s8_channels(const ooc_conv_skip_params_t *p, const int8_t *input, const int8_t *filter,
                                 const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);
void ooc_depthwise_conv2d_skip_s8_channels(const ooc_conv_skip_params_t *p, const int8_t *input,
                                           const int8_t *filter, const int32_t *bias, int8_t *output, int32_t c0,
                                           int32_t c1);
void ooc_fully_connected_skip_s8_channels(const ooc_fc_skip_params_t *p, const int8_t *input, const int8_t *filter,
                                          const int32_t *bias, int8_t *output, int32_t o0, int32_t o1);
/* The executor's entry: operator `kind` (OOC_OP_*_SKIP) with `params`, its channels [c0, c1) (c1 == 0:
   all of them); inputs (input, filter, bias or NULL), output. */
void ooc_skip_run(uint16_t kind, const void *params, const void *in0, const void *in1, const void *in2, void *out,
                  uint32_t c0, uint32_t c1);

/* ---- AVERAGE_POOL_2D, MAX_POOL_2D (src/kernels/pool.c) ------------------------- */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} ooc_pool_params_t;

void ooc_avg_pool_s8(const ooc_pool_params_t *p, const int8_t *input, int8_t *output);
void ooc_max_pool_s8(const ooc_pool_params_t *p, const int8_t *input, int8_t *output);
/* A global average (one window over the whole input, no padding) from the per-channel sums of
   every input cell: the last step of running the pool row by row. */
void ooc_avg_pool_finish_s8(const ooc_pool_params_t *p, const int32_t *sums, int8_t *output);

/* ---- ADD, MUL, SUB, MINIMUM, MAXIMUM, SQUARED_DIFFERENCE with broadcasting up to 5-D
        (src/kernels/elementwise.c) ------------------------------------------------ */
typedef struct {
    int32_t rank;                       /* 1..5 */
    int32_t out_dims[OOC_MAX_DIMS];
    int32_t in1_strides[OOC_MAX_DIMS];  /* element strides; 0 on broadcast dimensions */
    int32_t in2_strides[OOC_MAX_DIMS];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;                 /* ADD, SUB (TFLM: 20), SQUARED_DIFFERENCE (7) */
    int32_t input1_multiplier, input1_shift;   /* ADD, SUB, SQUARED_DIFFERENCE */
    int32_t input2_multiplier, input2_shift;   /* ADD, SUB, SQUARED_DIFFERENCE */
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ooc_elementwise_params_t;

void ooc_add_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output);
void ooc_mul_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output);
void ooc_sub_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output);
/* MINIMUM, MAXIMUM: raw comparisons (inputs and output share one quantization); only the
   layout fields are used */
void ooc_minimum_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output);
void ooc_maximum_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output);
void ooc_squared_difference_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2,
                               int8_t *output);
/* PRELU: in1 the input, in2 alpha (broadcast); input1_multiplier/shift scale inputs at or above
   the zero point, input2_multiplier/shift the products with alpha below it */
void ooc_prelu_s8(const ooc_elementwise_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *output);

/* ---- MEAN over axes (src/kernels/reduce.c) ------------------------------------- */
typedef struct {
    int32_t rank;
    int32_t in_dims[OOC_MAX_DIMS];
    int32_t reduce[OOC_MAX_DIMS];       /* 1 where the axis is reduced */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;          /* input scale / output scale requantization */
    int32_t same_quant;                 /* 1: input and output share scale and zero point */
    int32_t num_reduced;                /* product of the reduced dimensions */
} ooc_mean_params_t;

void ooc_mean_s8(const ooc_mean_params_t *p, const int8_t *input, int8_t *output);
/* MEAN from the wrapped int32 sums of its inputs, one per output (n of them): the last step of
   reducing row by row. */
void ooc_mean_finish_s8(const ooc_mean_params_t *p, const uint32_t *sums, int8_t *output, int32_t n);

/* ---- SOFTMAX (src/kernels/softmax.c) ------------------------------------------- */
typedef struct {
    int32_t outer, depth;               /* rows x classes (softmax over the last dimension) */
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} ooc_softmax_params_t;

void ooc_softmax_s8(const ooc_softmax_params_t *p, const int8_t *input, int8_t *output);

/* ---- LOGISTIC, TANH: a function of one int8 value, tabulated (src/kernels/lut.c) - */
typedef struct {
    int32_t count;                      /* elements */
    int8_t table[256];                  /* the output for input value v is table[v + 128] */
} ooc_lut_params_t;

/* n elements (the whole tensor: p->count; a fused row: its span) */
void ooc_lut_s8(const ooc_lut_params_t *p, const int8_t *input, int8_t *output, int32_t n);

/* ---- LOG_SOFTMAX (output scale 16/256, zero point 127), L2_NORMALIZATION (output scale
        1/128, zero point 0), along the last axis (src/kernels/normalize.c) ---------- */
typedef struct {
    int32_t outer, depth;               /* rows, and elements along the last axis */
    int32_t input_multiplier, input_left_shift;   /* input scale * 2^26: the Q5 difference */
    int32_t reverse_scaling_divisor, reverse_scaling_right_shift;  /* its inverse, below one */
    int32_t diff_min;                   /* differences below it count for nothing */
} ooc_log_softmax_params_t;

void ooc_log_softmax_s8(const ooc_log_softmax_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t outer, depth;
    int32_t input_zero_point;
} ooc_l2_norm_params_t;

void ooc_l2_norm_s8(const ooc_l2_norm_params_t *p, const int8_t *input, int8_t *output);

/* ---- REDUCE_MAX over axes; ARG_MAX, ARG_MIN along one axis: int32 indices, the first of equal
        values (src/kernels/select.c) ---------------------------------------------- */
typedef struct {
    int32_t rank;
    int32_t in_dims[OOC_MAX_DIMS];
    int32_t reduce[OOC_MAX_DIMS];       /* 1 where the axis is reduced */
} ooc_reduce_max_params_t;

void ooc_reduce_max_s8(const ooc_reduce_max_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t outer, axis_size, inner;    /* the input as [outer, axis_size, inner] */
} ooc_arg_params_t;

void ooc_arg_max_s8(const ooc_arg_params_t *p, const int8_t *input, int32_t *output);
void ooc_arg_min_s8(const ooc_arg_params_t *p, const int8_t *input, int32_t *output);

/* ---- QUANTIZE, DEQUANTIZE (src/kernels/quantize.c) ----------------------------- */
typedef struct {
    int32_t count;
    float scale;                        /* float32 -> int8: output scale */
    int32_t zero_point;                 /* float32 -> int8: output zero point */
    int32_t input_zero_point;           /* int8 -> int8 requantize */
    int32_t multiplier, shift;          /* int8 -> int8 requantize */
} ooc_quantize_params_t;

void ooc_quantize_f32_s8(const ooc_quantize_params_t *p, const float *input, int8_t *output);
void ooc_requantize_s8(const ooc_quantize_params_t *p, const int8_t *input, int8_t *output);
/* dequantize uses scale and zero_point as the input's */
void ooc_dequantize_s8_f32(const ooc_quantize_params_t *p, const int8_t *input, float *output);

/* ---- RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH (src/kernels/activation.c) ---- */
typedef struct {
    int32_t count;                      /* elements */
    int32_t input_zero_point, output_zero_point;
    int32_t act_min, act_max;           /* RELU, RELU_N1_TO_1: the output's clamp; RELU6: [zero, six]
                                           on the input's scale */
    int32_t multiplier, shift;          /* RELU, RELU_N1_TO_1: input -> output scale;
                                           LEAKY_RELU: inputs at or above the zero point */
    int32_t alpha_multiplier, alpha_shift;  /* LEAKY_RELU: inputs below the zero point */
} ooc_activation_params_t;

/* Each runs n elements (the whole tensor: p->count), so rows of a tensor run alike. */
void ooc_relu_s8(const ooc_activation_params_t *p, const int8_t *input, int8_t *output, int32_t n);
void ooc_relu6_s8(const ooc_activation_params_t *p, const int8_t *input, int8_t *output, int32_t n);
void ooc_leaky_relu_s8(const ooc_activation_params_t *p, const int8_t *input, int8_t *output, int32_t n);

typedef struct {
    int32_t count;
    int32_t input_zero_point, output_zero_point;
    int32_t output_multiplier;          /* Q15: input scale / 128 / output scale */
    int32_t output_exponent;            /* <= 0 */
    int32_t reluish_multiplier;         /* Q15: input scale / 128 / (3 / 32768) */
    int32_t reluish_exponent;
} ooc_hard_swish_params_t;

void ooc_hard_swish_s8(const ooc_hard_swish_params_t *p, const int8_t *input, int8_t *output, int32_t n);

/* ---- data movement (src/kernels/movement.c) ------------------------------------ */
typedef struct {
    int32_t rank;
    int32_t in_dims[OOC_MAX_DIMS];
    int32_t pad_before[OOC_MAX_DIMS], pad_after[OOC_MAX_DIMS];
    int32_t pad_value;                  /* the output zero point */
} ooc_pad_params_t;
void ooc_pad_s8(const ooc_pad_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t rank;
    int32_t out_dims[OOC_MAX_DIMS];
    int32_t in_strides[OOC_MAX_DIMS];   /* input element stride for each output dimension */
} ooc_transpose_params_t;
void ooc_transpose_s8(const ooc_transpose_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t outer;                      /* product of dimensions before the axis */
    int32_t inner;                      /* product of dimensions after the axis */
    int32_t out_axis;                   /* output size along the axis */
} ooc_concat_params_t;
/* in_axis[i]: size of input i along the axis */
void ooc_concat_s8(const ooc_concat_params_t *p, int32_t n_inputs, const int8_t *const *inputs,
                   const int32_t *in_axis, int8_t *output);

typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    const int32_t *row_map;             /* [out_h]: source row per output row, ahead of time */
    const int32_t *col_map;             /* [out_w]: source column per output column */
} ooc_resize_params_t;
void ooc_resize_nearest_s8(const ooc_resize_params_t *p, const int8_t *input, int8_t *output);

/* ---- strided copies and block shuffles (src/kernels/strided.c) ------------------ */
/* output[i] = input[offset + sum(i[d] * in_strides[d])], the output written in row-major
 * order: SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH */
typedef struct {
    int32_t rank;
    int32_t offset;                     /* input element of the first output element */
    int32_t out_dims[OOC_MAX_DIMS];
    int32_t in_strides[OOC_MAX_DIMS];   /* input element stride per output dimension (signed) */
} ooc_strided_copy_params_t;
void ooc_strided_copy_s8(const ooc_strided_copy_params_t *p, const int8_t *input, int8_t *output);

/* SPACE_TO_BATCH_ND (to_batch = 1) and BATCH_TO_SPACE_ND (0) between the space side
 * [batches, space_h, space_w, channels] and the batch side [block_h * block_w * batches,
 * batch_h, batch_w, channels]: batch (i * block_w + j) * batches + b holds the pixels
 * (th * block_h + i - pad_top, tw * block_w + j - pad_left) of space batch b. */
typedef struct {
    int32_t to_batch;
    int32_t batches, space_h, space_w, batch_h, batch_w, channels;
    int32_t block_h, block_w;
    int32_t pad_top, pad_left;          /* paddings (SPACE_TO_BATCH_ND) or crops */
    int32_t pad_value;                  /* the padding's value (tflite-micro: 0) */
} ooc_space_batch_params_t;
void ooc_space_batch_s8(const ooc_space_batch_params_t *p, const int8_t *input, int8_t *output);
/* ---- RESIZE_BILINEAR and TRANSPOSE_CONV (src/kernels/upsample.c) --------------- */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    const int32_t *y0, *y1, *fy;        /* [out_h]: lower and upper source row, the upper's weight in 1/1024 */
    const int32_t *x0, *x1, *fx;        /* [out_w]: the same for columns */
} ooc_resize_bilinear_params_t;
void ooc_resize_bilinear_s8(const ooc_resize_bilinear_params_t *p, const int8_t *input, int8_t *output);

/* TRANSPOSE_CONV with CONV_2D's parameters (dilations 1, depth_multiplier 1; in_h/in_w are the
   input's, out_h/out_w the output's; pad_top/pad_left: the forward convolution's padding over the
   output). Output channels [c0, c1) only, as ooc_conv2d_s8_channels: filter OHWI
   [c1 - c0][k_h][k_w][in_c], bias [c1 - c0] or NULL. */
void ooc_transpose_conv_s8_channels(const ooc_conv_params_t *p, const int8_t *input, const int8_t *filter,
                                    const int32_t *bias, int8_t *output, int32_t c0, int32_t c1);

#ifdef __cplusplus
}
#endif
#endif /* OOC_KERNELS_H */
