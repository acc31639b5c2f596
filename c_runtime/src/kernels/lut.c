/*
 * Table lookup for int8 -> int8 functions of one value: LOGISTIC and TANH. The SDK runs
 * TFLM's fixed-point arithmetic on each of the 256 input values ahead of time
 * (ooc_sdk/lower/prepare/lut.py), so the result is bit-exact by construction.
 */
#include "ooc/ooc_kernels.h"

void ooc_lut_s8(const ooc_lut_params_t *p, const int8_t *input, int8_t *output, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        output[i] = p->table[(int32_t)input[i] + 128];
    }
}
