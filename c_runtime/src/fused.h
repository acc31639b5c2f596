/* Fused blocks (fused.c): private to the runtime. */
#ifndef OOC_FUSED_H
#define OOC_FUSED_H

#include "ooc/ooc.h"

/* The model's block and node tables against its operators and arena: once, in ooc_init(). */
int ooc_check_blocks(const ooc_model_t *m);

/* The spill table entry of `tensor`, or NULL when the plan does not spill it. */
const ooc_spill_tensor_t *ooc_spill_entry(const ooc_model_t *m, uint32_t tensor);

/* 1 when fused block `b` reads or writes the spill ring. */
int ooc_block_spills(const ooc_model_t *m, const ooc_block_t *b);

/* Run fused block `b` (b->n_nodes != 0) row by row; OOC_ERR_IO if the input reader fails.
   Out of core, `slot` is the chunk slot holding the block's weights (n_chunks table entries,
   then the decrypted data, as the pager left it); NULL when every constant is in memory. */
int ooc_run_block(ooc_ctx_t *ctx, const ooc_block_t *b, const uint8_t *slot, uint32_t n_chunks);

#endif /* OOC_FUSED_H */
