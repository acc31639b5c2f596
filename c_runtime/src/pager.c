/*
 * The pager: an out-of-core schedule's steps read from the mounted image into the chunk slots
 * (the arena's top: n_slots slots of slot_bytes), each chunk verified and decrypted in place
 * before its step runs. With two slots the next step's read (asynchronous when the port can)
 * runs while a step computes; with one, after it. With a bulk AES engine (port.aes_bulk) and two
 * slots, the next step's chunks are read and their tags checked before a step computes, and the
 * engine decrypts them while it does (open_ahead). pager.h has the interface.
 */
#include "pager.h"

#include <string.h>

#include "ooc/ooc_image.h"
#include "ooc/ooc_kernels.h"
#include "tables.h"

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Output channels of a splittable operator (0 for the others). */
static uint32_t op_channels(const ooc_op_t *op)
{
    switch (op->kind) {
    case OOC_OP_CONV_2D:
    case OOC_OP_DEPTHWISE_CONV_2D:
    case OOC_OP_TRANSPOSE_CONV:
        return (uint32_t)((const ooc_conv_params_t *)op->params)->out_c;
    case OOC_OP_FULLY_CONNECTED:
        return (uint32_t)((const ooc_fc_params_t *)op->params)->out_depth;
    case OOC_OP_CONV_2D_SKIP: /* the exact layer's parameters come first */
    case OOC_OP_DEPTHWISE_CONV_2D_SKIP:
        return (uint32_t)((const ooc_conv_skip_params_t *)op->params)->conv.out_c;
    case OOC_OP_FULLY_CONNECTED_SKIP:
        return (uint32_t)((const ooc_fc_skip_params_t *)op->params)->fc.out_depth;
    default:
        return 0u;
    }
}

/* Bytes input `i` of `op` takes for output channels [c0, c1), and the chunk kind that holds
   them; the whole tensor when c1 == 0. */
static uint32_t piece_bytes(const ooc_model_t *m, const ooc_op_t *op, uint32_t i, uint32_t c0, uint32_t c1,
                            uint32_t *kind)
{
    uint32_t whole = m->tensors[op->inputs[i]].bytes;
    uint32_t n = c1 - c0, channels = op_channels(op);
    *kind = OOC_IMG_CHUNK_WEIGHTS;
    if (c1 == 0u || channels == 0u) {
        return whole;
    }
    if ((op->kind == OOC_OP_DEPTHWISE_CONV_2D || op->kind == OOC_OP_DEPTHWISE_CONV_2D_SKIP) && i == 1u) {
        *kind = OOC_IMG_CHUNK_DW_CHANNELS;
    }
    return whole / channels * n; /* filter and bias sizes are multiples of the channels (init) */
}

/* 1 when operator `op` is streamed by the fused block whose step is `s`: one of the
   OOC_STEP_STREAM steps right after it runs `op`. */
static int op_streamed(const ooc_model_t *m, uint32_t s, uint32_t op)
{
    for (s++; s < m->n_steps && (m->steps[s].flags & OOC_STEP_STREAM) != 0u; s++) {
        if (m->steps[s].op == op) {
            return 1;
        }
    }
    return 0;
}

/* Chunks and slot bytes (entries, then each chunk's data 4-aligned) step `s` reads: the
   resident weights of a block (its streamed operators left out), or the operator's piece. */
static int step_need(const ooc_model_t *m, uint32_t s, uint32_t n_ops, uint32_t *paged, uint32_t *bytes)
{
    const ooc_step_t *st = &m->steps[s];
    uint32_t j, i, data = 0, n = 0;
    const int stream = (st->flags & OOC_STEP_STREAM) != 0u;
    for (j = st->op; j < st->op + n_ops; j++) {
        const ooc_op_t *op = &m->ops[j];
        const uint32_t channels = op_channels(op);
        if (st->c1 != 0u && (channels == 0u || st->c0 >= st->c1 || st->c1 > channels)) {
            return OOC_ERR_CORRUPT;
        }
        if (!stream && st->block != OOC_NO_BLOCK && op_streamed(m, s, j)) {
            continue;
        }
        for (i = 0; i < op->n_inputs; i++) {
            uint32_t kind;
            if (op->inputs[i] != OOC_NO_TENSOR && ooc_tensor_paged(m, op->inputs[i])) {
                if (channels != 0u && st->c1 != 0u && m->tensors[op->inputs[i]].bytes % channels != 0u) {
                    return OOC_ERR_CORRUPT;
                }
                data += (piece_bytes(m, op, i, st->c0, st->c1, &kind) + 3u) & ~3u;
                n++;
            }
        }
    }
    *paged = n;
    *bytes = n * OOC_IMG_CE_BYTES + data;
    return OOC_OK;
}

int ooc_pager_check(const ooc_ctx_t *ctx)
{
    const ooc_model_t *m = ctx->model;
    const ooc_image_t *img = ctx->cfg.image;
    uint32_t s, bi = 0, next_chunk = 0, next_op = 0;
    uint32_t resident = 0, owner = 0;                 /* the last block step's slot need, its index */
    uint32_t open_op = 0xFFFFFFFFu, open_c1 = 0, open_ch = 0; /* the streamed operator in progress */
    if (img == NULL || !img->mounted) {
        return OOC_ERR_ARG;
    }
    if (m->steps == NULL || m->plan_id == NULL || m->model_sha256 == NULL || m->n_slots < 1u ||
        m->n_slots > 2u || (m->slot_bytes == 0u && m->n_chunks != 0u) || (m->slot_bytes & 3u) != 0u || (m->arena_bytes & 3u) != 0u ||
        m->verify > OOC_VERIFY_AT_BOOT) {
        return OOC_ERR_CORRUPT;
    }
    if (memcmp(img->plan_id, m->plan_id, 16) != 0 || memcmp(img->model_sha256, m->model_sha256, 32) != 0 ||
        img->n_chunks != m->n_chunks) {
        return OOC_ERR_MODEL;
    }
    for (s = 0; s < m->n_steps; s++) {
        const ooc_step_t *st = &m->steps[s];
        const ooc_block_t *b = NULL;
        uint32_t paged = 0, need = 0, n_ops = 1;
        int rc;
        if (st->op >= m->n_ops || (st->flags & ~OOC_STEP_STREAM) != 0u) {
            return OOC_ERR_CORRUPT;
        }
        if ((st->flags & OOC_STEP_STREAM) != 0u) {
            /* a piece of a streamed operator of the block whose step is `owner`: a convolution
               of that block, its pieces in channel order, read into the slot after the block's
               resident chunks */
            const ooc_step_t *bs = &m->steps[owner];
            const ooc_block_t *ob = bs->block < m->n_blocks ? &m->blocks[bs->block] : NULL;
            if (s == 0u || ob == NULL || st->block != bs->block || st->op < ob->first_op ||
                st->op >= ob->first_op + ob->n_ops || st->c1 == 0u ||
                (m->ops[st->op].kind != OOC_OP_CONV_2D && m->ops[st->op].kind != OOC_OP_DEPTHWISE_CONV_2D)) {
                return OOC_ERR_CORRUPT;
            }
            if (st->op == open_op ? st->c0 != open_c1 : (open_c1 != open_ch || st->c0 != 0u ||
                                                          (open_op != 0xFFFFFFFFu && st->op <= open_op))) {
                return OOC_ERR_CORRUPT;
            }
            open_op = st->op, open_c1 = st->c1, open_ch = op_channels(&m->ops[st->op]);
            rc = step_need(m, s, 1u, &paged, &need);
            if (rc < 0) {
                return rc;
            }
            if (paged == 0u || paged != st->n_chunks || st->first_chunk != next_chunk ||
                (uint64_t)resident + need > m->slot_bytes) {
                return OOC_ERR_CORRUPT;
            }
            next_chunk += paged;
            continue;
        }
        if (open_c1 != open_ch) {
            return OOC_ERR_CORRUPT; /* the previous streamed operator's pieces stop short */
        }
        open_op = 0xFFFFFFFFu, open_c1 = open_ch = 0;
        /* the operators in order: a step starts the next operator (or fused block), or continues
           the channel pieces of the previous step's operator */
        while (m->n_blocks != 0u && bi < m->n_blocks && m->blocks[bi].first_op + m->blocks[bi].n_ops <= st->op) {
            bi++;
        }
        if (st->block != OOC_NO_BLOCK) {
            if (st->block >= m->n_blocks || st->block != bi || m->blocks[bi].n_nodes == 0u ||
                m->blocks[bi].first_op != st->op || st->c1 != 0u) {
                return OOC_ERR_CORRUPT;
            }
            b = &m->blocks[bi];
            n_ops = b->n_ops;
        } else if (m->n_blocks != 0u && (bi >= m->n_blocks || m->blocks[bi].n_nodes != 0u)) {
            return OOC_ERR_CORRUPT; /* an operator of a fused block runs only with its block */
        }
        if (st->op == next_op) {
            next_op += n_ops;
        } else if (b != NULL || s == 0u || m->steps[s - 1u].block != OOC_NO_BLOCK ||
                   st->op + 1u != next_op || m->steps[s - 1u].op != st->op) {
            return OOC_ERR_CORRUPT;
        }
        rc = step_need(m, s, n_ops, &paged, &need);
        if (rc < 0) {
            return rc;
        }
        if (paged != st->n_chunks || (paged != 0u && st->first_chunk != next_chunk) || need > m->slot_bytes) {
            return OOC_ERR_CORRUPT;
        }
        owner = s, resident = need;
        next_chunk += paged;
    }
    /* every operator is covered, every streamed one whole, and every chunk used */
    return next_chunk == m->n_chunks && next_op == m->n_ops && open_c1 == open_ch ? OOC_OK : OOC_ERR_CORRUPT;
}

static uint8_t *slot_ptr(const ooc_ctx_t *ctx, uint32_t slot)
{
    return ctx->cfg.arena + ctx->model->arena_bytes + slot * ctx->model->slot_bytes;
}

/* Start reading step `s`'s chunks into `buf` (room for `cap` bytes): the table entries
   synchronously (to learn where the data lies), then the data, asynchronously when the port
   can. */
static int load_begin(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, uint32_t cap)
{
    const ooc_step_t *st = &ctx->model->steps[s];
    uint32_t head = (uint32_t)st->n_chunks * OOC_IMG_CE_BYTES, off, len;
    int rc;
    if (st->n_chunks == 0u) {
        return OOC_OK; /* a block that streams all its weights: nothing resident to read */
    }
    rc = ooc_image_read_entries(ctx->cfg.image, st->first_chunk, st->n_chunks, buf, &off, &len);
    if (rc < 0) {
        return rc;
    }
    if (head > cap || len > cap - head) {
        return OOC_ERR_AUTH; /* the checked schedule fits; entries that do not were altered */
    }
    rc = ooc_image_read_begin(ctx->cfg.image, off, buf + head, len);
    if (rc == OOC_OK) {
        ctx->inflight = (int32_t)s;
    }
    return rc;
}

/* Step `s`'s chunks in `buf` (its read finished): check each entry against what the kernel
   will read and, with `verify`, each chunk's tag over entry and ciphertext; fill `ptrs` (when
   not NULL: a one-operator step) with the plaintext of each paged input of its operator, in
   input order. A fused block's operators find theirs in the slot (fused.c), its streamed
   operators in their own steps. *largest (when not NULL) gets the index of the step's largest
   chunk. With `open` each chunk is also decrypted once checked (ooc_image_open_chunk: the
   path without a bulk engine); without, nothing is decrypted (decrypt_chunks() follows). */
static int check_chunks(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, int verify, const void **ptrs,
                        uint32_t *largest, int open)
{
    const ooc_model_t *m = ctx->model;
    const ooc_step_t *st = &m->steps[s];
    const int block = st->block != OOC_NO_BLOCK && (st->flags & OOC_STEP_STREAM) == 0u;
    const uint32_t n_ops = block ? m->blocks[st->block].n_ops : 1u;
    uint8_t *data = buf + (uint32_t)st->n_chunks * OOC_IMG_CE_BYTES;
    uint32_t first_off = 0, i, j, c = 0, most = 0;
    int rc = OOC_OK;
    for (j = st->op; rc == OOC_OK && j < st->op + n_ops; j++) {
        const ooc_op_t *op = &m->ops[j];
        if (block && op_streamed(m, s, j)) {
            continue;
        }
        for (i = 0; rc == OOC_OK && i < op->n_inputs; i++) {
            const uint8_t *e;
            ooc_chunk_info_t info;
            uint32_t kind;
            if (op->inputs[i] == OOC_NO_TENSOR || !ooc_tensor_paged(m, op->inputs[i])) {
                continue;
            }
            e = buf + c * OOC_IMG_CE_BYTES;
            ooc_image_entry_info(e, &info);
            if (c == 0u) {
                first_off = info.flash_offset;
            }
            /* the kernel will read exactly piece_bytes(): the chunk must hold that many, of that kind */
            if (info.length != piece_bytes(m, op, i, st->c0, st->c1, &kind) || info.kind != kind) {
                rc = OOC_ERR_AUTH;
                break;
            }
            if (open) {
                rc = ooc_image_open_chunk(ctx->cfg.image, e, data + (info.flash_offset - first_off), verify);
            } else if (verify) {
                rc = ooc_image_verify_chunk(ctx->cfg.image, e, data + (info.flash_offset - first_off));
            }
            if (ptrs != NULL) { /* one operator: where each paged input lies */
                ptrs[i] = data + (info.flash_offset - first_off);
            }
            if (info.length > le32_at(buf + most * OOC_IMG_CE_BYTES + OOC_IMG_CE_LENGTH)) {
                most = c;
            }
            c++;
        }
    }
    if (largest != NULL) {
        *largest = most;
    }
    return rc;
}

/* Decrypt step `s`'s checked chunks in `buf` in place, its largest chunk (`largest`) last;
   with `leave`, that last one is left to the bulk engine while the caller goes on
   (ctx->decrypting = s; finish_decrypt() waits for it). One engine job at a time. */
static int decrypt_chunks(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, uint32_t largest, int leave)
{
    const uint32_t n = ctx->model->steps[s].n_chunks;
    uint8_t *data = buf + n * OOC_IMG_CE_BYTES;
    const uint32_t first_off = le32_at(buf + OOC_IMG_CE_FLASH_OFFSET);
    uint32_t k;
    int rc = OOC_OK;
    for (k = 0; rc == OOC_OK && k < n; k++) {
        const uint32_t c = k + 1u == n ? largest : (k < largest ? k : k + 1u);
        const uint8_t *e = buf + c * OOC_IMG_CE_BYTES;
        rc = ooc_image_decrypt_start(ctx->cfg.image, e, data + (le32_at(e + OOC_IMG_CE_FLASH_OFFSET) - first_off));
        if (rc == OOC_OK && leave && k + 1u == n) {
            ctx->decrypting = (int32_t)s;
        } else if (rc == OOC_OK) {
            rc = ooc_image_decrypt_wait(ctx->cfg.image);
        }
    }
    return rc;
}

/* Wait for the chunk the bulk engine is decrypting (ctx->decrypting); on a failure wipe the
   slots, one of which then holds part of its plaintext. */
static int finish_decrypt(ooc_ctx_t *ctx)
{
    int rc;
    ctx->decrypting = -1;
    rc = ooc_image_decrypt_wait(ctx->cfg.image);
    if (rc != OOC_OK) {
        ooc_wipe(slot_ptr(ctx, 0u), (uint32_t)ctx->model->n_slots * ctx->model->slot_bytes);
    }
    return rc;
}

/* Finish step `s`'s read into `buf`, then check its chunks and decrypt them in place (see
   check_chunks()): each in turn, or, with a bulk engine, every tag first and then one job a
   chunk, the largest chunk's left running with `leave`. */
static int load_end(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, int verify, const void **ptrs, int leave)
{
    const int bulk = ooc_aes_bulk(&ctx->cfg.image->k_enc);
    uint32_t largest = 0;
    int rc = OOC_OK;
    if (ctx->inflight == (int32_t)s) {
        ctx->inflight = -1;
        rc = ooc_image_read_end(ctx->cfg.image);
    }
    if (rc == OOC_OK && ctx->model->steps[s].n_chunks != 0u) {
        rc = check_chunks(ctx, s, buf, verify, ptrs, &largest, !bulk);
        if (rc == OOC_OK && bulk) {
            rc = decrypt_chunks(ctx, s, buf, largest, leave);
        }
    }
    return rc;
}

/* Read step `s`'s chunks into `buf` and finish them at once (no overlap): begin, then end,
   which also ends a read left in flight when the begin failed. */
static int load_now(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, uint32_t cap, int verify, const void **ptrs)
{
    int rc = load_begin(ctx, s, buf, cap);
    if (rc == OOC_OK || ctx->inflight >= 0) {
        const int rc2 = load_end(ctx, s, buf, verify, ptrs, 0);
        rc = rc == OOC_OK ? rc2 : rc;
    }
    return rc;
}

int ooc_pager_load_stream(ooc_ctx_t *ctx, uint32_t s, uint8_t *buf, uint32_t cap, const void **ptrs)
{
    return load_now(ctx, s, buf, cap, ctx->model->verify == OOC_VERIFY_EVERY_READ, ptrs);
}

int ooc_pager_verify_all(ooc_ctx_t *ctx)
{
    const void *ptrs[OOC_MAX_INPUTS];
    uint32_t s;
    int rc = OOC_OK;
    for (s = 0; rc == OOC_OK && s < ctx->model->n_steps; s++) {
        if (ctx->model->steps[s].n_chunks != 0u) {
            rc = load_now(ctx, s, slot_ptr(ctx, 0u), ctx->model->slot_bytes, 1, ptrs);
        }
    }
    ooc_wipe(slot_ptr(ctx, 0u), ctx->model->slot_bytes);
    return rc;
}

/* ---- one inference ------------------------------------------------------------------------ */

/* pager.h */
int ooc_pager_block_streams(const ooc_model_t *m, uint32_t s)
{
    return m->steps[s].block != OOC_NO_BLOCK && (m->steps[s].flags & OOC_STEP_STREAM) == 0u &&
           s + 1u < m->n_steps && (m->steps[s + 1u].flags & OOC_STEP_STREAM) != 0u;
}

/* 1 when step `s` takes a chunk slot: it reads chunks, or it is a block that streams (its
   pieces are read into its slot, after the resident chunks, if any). */
static int uses_slot(const ooc_model_t *m, uint32_t s)
{
    return (m->steps[s].flags & OOC_STEP_STREAM) == 0u && (m->steps[s].n_chunks != 0u || ooc_pager_block_streams(m, s));
}

/* The next step at or after `s` that takes a slot, or n_steps. */
static uint32_t next_paged(const ooc_model_t *m, uint32_t s)
{
    while (s < m->n_steps && !uses_slot(m, s)) {
        s++;
    }
    return s;
}

int ooc_pager_start(ooc_ctx_t *ctx, ooc_pager_run_t *run)
{
    const ooc_model_t *m = ctx->model;
    const uint32_t first = next_paged(m, 0u);
    run->slot = 0u;
    run->next = m->n_steps;
    run->slotted = 0;
    run->ready = m->n_steps;
    return first < m->n_steps ? load_begin(ctx, first, slot_ptr(ctx, 0u), m->slot_bytes) : OOC_OK;
}

/* With a bulk AES engine and two slots: the next slot step `n`'s chunks are read into `buf`
   now, their tags checked, and the engine decrypts them while the current step computes. */
static int open_ahead(ooc_ctx_t *ctx, uint32_t n, uint8_t *buf)
{
    const ooc_model_t *m = ctx->model;
    int rc = load_begin(ctx, n, buf, m->slot_bytes);
    if (rc == OOC_OK || ctx->inflight >= 0) {
        const int rc2 = load_end(ctx, n, buf, m->verify == OOC_VERIFY_EVERY_READ, NULL, 1);
        rc = rc == OOC_OK ? rc2 : rc;
    }
    return rc;
}

int ooc_pager_enter(ooc_ctx_t *ctx, ooc_pager_run_t *run, uint32_t s, const void **ins, int own_flash,
                    uint8_t **slot)
{
    const ooc_model_t *m = ctx->model;
    const int ahead = m->n_slots > 1u && ooc_aes_bulk(&ctx->cfg.image->k_enc);
    int rc = OOC_OK;
    run->slotted = uses_slot(m, s);
    run->next = m->n_steps;
    *slot = NULL;
    if (run->slotted) {
        uint8_t *here = slot_ptr(ctx, run->slot);
        if (run->ready == s) {
            /* checked and decrypted since the previous step (open_ahead), or still being
               decrypted: wait, then find the inputs (the entries only: the tags were checked
               before the decryption began) */
            run->ready = m->n_steps;
            rc = ctx->decrypting == (int32_t)s ? finish_decrypt(ctx) : OOC_OK;
            if (rc == OOC_OK && ins != NULL) {
                rc = check_chunks(ctx, s, here, 0, ins, NULL, 0);
            }
        } else {
            /* step s was started into run->slot (by the previous step or by ooc_pager_start) */
            rc = load_end(ctx, s, here, m->verify == OOC_VERIFY_EVERY_READ, ins, 0);
        }
        run->next = next_paged(m, s + 1u);
        if (rc == OOC_OK && run->next < m->n_steps && ahead) {
            rc = open_ahead(ctx, run->next, slot_ptr(ctx, run->slot ^ 1u));
            run->ready = run->next;
        } else if (rc == OOC_OK && run->next < m->n_steps && m->n_slots > 1u) {
            /* prefetch while this step computes */
            rc = load_begin(ctx, run->next, slot_ptr(ctx, run->slot ^ 1u), m->slot_bytes);
        }
        if (rc != OOC_OK) {
            return rc;
        }
        *slot = here;
    }
    if (own_flash && ctx->decrypting >= 0) {
        /* the step reads streamed weights or spills: their crypto needs the engine */
        rc = finish_decrypt(ctx);
        if (rc != OOC_OK) {
            return rc;
        }
    }
    if (own_flash && ctx->inflight >= 0) {
        /* the step reads streamed weights, or the spill ring programs the chip the prefetch
           reads: finish the read first (its chunks are verified when their step begins) */
        ctx->inflight = -1;
        rc = ooc_image_read_end(ctx->cfg.image);
    }
    return rc;
}

int ooc_pager_leave(ooc_ctx_t *ctx, ooc_pager_run_t *run)
{
    const ooc_model_t *m = ctx->model;
    if (!run->slotted || run->next >= m->n_steps) {
        return OOC_OK;
    }
    if (m->n_slots > 1u) {
        run->slot ^= 1u;
        return OOC_OK;
    }
    return load_begin(ctx, run->next, slot_ptr(ctx, 0u), m->slot_bytes); /* one slot: read after compute */
}

void ooc_pager_stop(ooc_ctx_t *ctx, int rc)
{
    if (ctx->inflight >= 0) {
        (void)ooc_image_read_end(ctx->cfg.image); /* never return with a transfer into the arena */
        ctx->inflight = -1;
    }
    if (ctx->decrypting >= 0) {
        (void)ooc_image_decrypt_wait(ctx->cfg.image); /* nor with the engine writing into it */
        ctx->decrypting = -1;
    }
    if (rc != OOC_OK) {
        ooc_wipe(slot_ptr(ctx, 0u), (uint32_t)ctx->model->n_slots * ctx->model->slot_bytes);
    }
}
