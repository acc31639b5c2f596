/*
 * The example firmware: one model that `ooc codegen` generated (its tables, ooc_model_<name>.c
 * and .h) on the ooc runtime from find_package(ooc). For every sample in in.bin it sets the
 * model's inputs, runs the model and appends its outputs to out.bin (app_io.h). The same code
 * runs on the host and on the QEMU mps2-an386 board (Cortex-M4F); CMakeLists.txt picks the I/O.
 *
 * Exit status: 0, 1 (the runtime refused: the line on the console says why), 2 (the files).
 */
#include <stdint.h>

#include "app_io.h"
#include "ooc/ooc.h"
#include OOC_APP_HEADER /* "ooc_model_<name>.h" (CMakeLists.txt) */

#ifndef OOC_APP_IO_BYTES
#define OOC_APP_IO_BYTES (256u * 1024u) /* room for one sample's inputs, then its outputs */
#endif

/* The arena the model's header asks for, 4-byte aligned; the sample buffer beside it. */
static union {
    uint32_t align;
    uint8_t bytes[OOC_APP_ARENA];
} arena;
static union {
    uint32_t align;
    uint8_t bytes[OOC_APP_IO_BYTES];
} io;
static ooc_ctx_t ctx;

static int fail(const char *what, int err)
{
    app_io_log(what);
    app_io_log(ooc_strerror(err));
    app_io_close();
    return 1;
}

/* Bytes of all inputs (outputs) of one sample, or -1 if they do not fit the sample buffer. */
static int32_t sample_bytes(int32_t (*size)(const ooc_ctx_t *, uint32_t), uint32_t count)
{
    uint32_t i, total = 0u;
    for (i = 0u; i < count; i++) {
        int32_t n = size(&ctx, i);
        if (n < 0 || (uint32_t)n > OOC_APP_IO_BYTES - total) {
            return -1;
        }
        total += (uint32_t)n;
    }
    return (int32_t)total;
}

#define IO_FAILED 1 /* run_sample(): in.bin or out.bin failed (ooc's errors are negative) */

static int run_sample(void)
{
    const ooc_model_t *model = &OOC_APP_MODEL;
    uint32_t i, at = 0u;
    int rc;
    for (i = 0u; i < model->n_inputs; i++) { /* the buffers stay put until the invoke */
        uint32_t n = (uint32_t)ooc_input_bytes(&ctx, i);
        if (app_io_read(io.bytes + at, n) != 0) {
            return IO_FAILED;
        }
        rc = ooc_set_input(&ctx, i, io.bytes + at, n);
        if (rc < 0) {
            return rc;
        }
        at += n;
    }
    rc = ooc_invoke(&ctx);
    if (rc < 0) {
        return rc;
    }
    for (i = 0u; i < model->n_outputs; i++) {
        uint32_t n = (uint32_t)ooc_output_bytes(&ctx, i);
        rc = ooc_get_output(&ctx, i, io.bytes, n);
        if (rc < 0) {
            return rc;
        }
        if (app_io_write(io.bytes, n) != 0) {
            return IO_FAILED;
        }
    }
    return 0;
}

int main(void)
{
    struct ooc_config cfg = {0};
    int32_t length, in_bytes;
    uint32_t samples, s;
    int rc;

    cfg.arena = arena.bytes;
    cfg.arena_bytes = sizeof arena.bytes;
    rc = ooc_init(&ctx, &OOC_APP_MODEL, &cfg);
    if (rc < 0) {
        return fail("ooc_init failed", rc);
    }
    length = app_io_open();
    in_bytes = sample_bytes(ooc_input_bytes, OOC_APP_MODEL.n_inputs);
    if (length < 0 || in_bytes <= 0 || sample_bytes(ooc_output_bytes, OOC_APP_MODEL.n_outputs) < 0 ||
        length % in_bytes != 0) {
        app_io_log("in.bin is missing, or not whole samples of the model's inputs");
        app_io_close();
        return 2;
    }
    samples = (uint32_t)(length / in_bytes);
    for (s = 0u; s < samples; s++) {
        rc = run_sample();
        if (rc == IO_FAILED) {
            app_io_log("reading in.bin or writing out.bin failed");
            app_io_close();
            return 2;
        }
        if (rc < 0) {
            return fail("ooc_invoke failed", rc);
        }
    }
    app_io_close();
    app_io_log("ok");
    return 0;
}
