/* Limits and small queries over the model tables, shared by the executor (ooc.c), the pager
   (pager.c) and the fused runner (fused*.c). Private to the runtime. */
#ifndef OOC_TABLES_H
#define OOC_TABLES_H

#include <stddef.h>

#include "ooc/ooc.h"

#define OOC_MAX_INPUTS OOC_MAX_CONCAT_INPUTS /* an operator's inputs, at most (ooc_model_format.h) */

/* 1 when tensor `t` is a constant the pager reads from the image (out of core). */
static inline int ooc_tensor_paged(const ooc_model_t *m, uint32_t t)
{
    return t < m->n_tensors && m->tensors[t].data == NULL && m->tensors[t].offset == OOC_TENSOR_PAGED;
}

#endif /* OOC_TABLES_H */
