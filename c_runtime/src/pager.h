/*
 * The pager (pager.c): reads the chunks of an out-of-core schedule's steps from the mounted image
 * into the chunk slots at the top of the arena, verifies and decrypts them, and prefetches the
 * next step's chunks while a step computes. The executor (ooc.c) drives it step by step; the
 * fused runner (fused.c) reads a block's streamed weight pieces through it. The pager calls
 * neither: it knows the schedule and the image, not the kernels. Private to the runtime.
 */
#ifndef OOC_PAGER_H
#define OOC_PAGER_H

#include "ooc/ooc.h"

/* The schedule against the model and the mounted image (cfg.image): once, in ooc_init().
   OOC_ERR_ARG (no mounted image), OOC_ERR_MODEL (another model or plan), OOC_ERR_CORRUPT. */
int ooc_pager_check(const ooc_ctx_t *ctx);

/* OOC_VERIFY_AT_BOOT: read and verify every chunk once, through slot 0 (wiped afterwards). */
int ooc_pager_verify_all(ooc_ctx_t *ctx);

/* One inference's walk through the slots (it lives on the executor's stack). */
typedef struct {
    uint32_t slot;   /* the slot the current step's chunks are in */
    uint32_t next;   /* the next step that takes a slot after the current one, or n_steps */
    int slotted;     /* the current step takes a slot */
    uint32_t ready;  /* the step whose chunks are checked and decrypted (or being decrypted by
                        the bulk engine) in the other slot ahead of its turn, or n_steps */
} ooc_pager_run_t;

/* Before the first step: start reading the first step that takes a slot into slot 0. */
int ooc_pager_start(ooc_ctx_t *ctx, ooc_pager_run_t *run);

/* Before step `s` (not a streamed piece) runs: when it takes a slot, finish its read, verify
   and decrypt its chunks and, with two slots, start the next slot step's read into the other
   one; `ins` (a one-operator step; NULL for a fused block) gets the plaintext of each of its
   paged inputs. With `own_flash` (the step reads streamed pieces or programs the spill ring
   itself) a prefetch still in flight is finished first: the step then has the flash to itself.
   *slot is the step's slot, or NULL when it takes none. */
int ooc_pager_enter(ooc_ctx_t *ctx, ooc_pager_run_t *run, uint32_t s, const void **ins, int own_flash,
                    uint8_t **slot);

/* After the step ran: move to the other slot, or, with one slot, start the next read now. */
int ooc_pager_leave(ooc_ctx_t *ctx, ooc_pager_run_t *run);

/* After the last step, or a failure (rc != OOC_OK): finish any read in flight (never leave a
   transfer into the arena running) and, on failure, wipe the slots. */
void ooc_pager_stop(ooc_ctx_t *ctx, int rc);

/* Read step `s` (a streamed piece) into `buf` (room for `cap` bytes), synchronously, verify
   and decrypt it; `ptrs` gets the plaintext of each paged input of its operator. */
int ooc_pager_load_stream(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, uint32_t cap, const void **ptrs);

/* 1 when step `s` is a fused block that streams weights (OOC_STEP_STREAM steps follow it). */
int ooc_pager_block_streams(const ooc_model_t *m, uint32_t s);

#endif /* OOC_PAGER_H */
