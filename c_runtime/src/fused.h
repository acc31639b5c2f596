/*
 * Fused blocks (fused.c: rows; fused_check.c: the tables; fused_spill.c: spilled rows): what the
 * executor (ooc.c) uses of them. Private to the runtime. The fused runner reads streamed weight
 * pieces through the pager (pager.h) and needs nothing of the executor.
 */
#ifndef OOC_FUSED_H
#define OOC_FUSED_H

#include "ooc/ooc.h"

/* The model's block and node tables against its operators and arena: once, in ooc_init(). */
int ooc_check_blocks(const ooc_model_t *m);

/* The spill table entry of `tensor`, or NULL when the plan does not spill it. */
const ooc_spill_tensor_t *ooc_spill_entry(const ooc_model_t *m, uint32_t tensor);

/* 1 when fused block `b` reads or writes the spill ring. */
int ooc_block_spills(const ooc_model_t *m, const ooc_block_t *b);

#define OOC_NO_STEP 0xFFFFFFFFu /* ooc_run_block() of an in-core model */

/* Run fused block `b` (b->n_nodes != 0) row by row; OOC_ERR_IO if the input reader fails.
   Out of core, `step` is the block's step and `slot` the chunk slot holding its resident
   weights (the step's table entries, then the decrypted data, as the pager left it), followed
   by room for one piece of its streamed operators (ooc_pager_load_stream()); in core, `slot` is
   NULL and `step` OOC_NO_STEP. */
int ooc_run_block(ooc_ctx_t *ctx, const ooc_block_t *b, uint8_t *slot, uint32_t step);

#endif /* OOC_FUSED_H */
