/*
 * Init-time checks of the parameters of the data-movement, upsampling and selection operators
 * against their tensors (ooc.c's check_sizes calls them), kept apart from ooc.c for its size.
 */
#ifndef OOC_OP_CHECK_H
#define OOC_OP_CHECK_H

#include <stdint.h>

#include "ooc/ooc_kernels.h"
#include "ooc/ooc_model.h"

int ooc_check_strided_copy(const ooc_strided_copy_params_t *p, uint32_t in, uint32_t out);
int ooc_check_space_batch(const ooc_space_batch_params_t *p, uint32_t in, uint32_t out);
int ooc_check_resize_bilinear(const ooc_resize_bilinear_params_t *p, uint32_t in, uint32_t out);
int ooc_check_reduce_max(const ooc_model_t *m, const ooc_op_t *op);
int ooc_check_skip(const ooc_model_t *m, const ooc_op_t *op);

#endif
