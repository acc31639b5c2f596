/*
 * Host runner used by `ooc run`: runs a generated model on samples from a file.
 *
 *   runner IN_FILE OUT_FILE SAMPLES REPEAT
 *
 * IN_FILE holds SAMPLES records, each the model inputs' bytes back to back (in
 * input order); OUT_FILE receives the outputs the same way. Each sample is
 * invoked REPEAT times (a streamed input is read through cfg.read_input on even
 * samples and from the ooc_set_input() buffer on odd ones); stdout gets one JSON object with the arena size, the
 * median invoke time per sample and the working SRAM measured: before each sample
 * the arena is painted (a different byte per sample) and after it the highest
 * byte below OOC_RUN_WORKING (the arena less the outputs at its top; default the
 * whole arena) that changed marks the bytes the runtime used. Errors: a message
 * on stderr, exit status 2.
 *
 * Build with -DOOC_RUN_HEADER='"ooc_model_x.h"' -DOOC_RUN_MODEL=ooc_model_x
 * -DOOC_RUN_ARENA=OOC_MODEL_X_ARENA_BYTES.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ooc/ooc.h"
#include OOC_RUN_HEADER

#ifndef OOC_RUN_WORKING
#define OOC_RUN_WORKING OOC_RUN_ARENA
#endif

static union {
    uint32_t align;
    uint8_t bytes[OOC_RUN_ARENA + 4u];
} arena;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The input reader of even samples: serves byte ranges of the current sample's inputs. */
typedef struct {
    const uint8_t *inputs[8];
    uint32_t bytes[8];
} reader_t;

static int read_input(void *context, uint32_t index, uint32_t offset, void *dst, uint32_t bytes)
{
    const reader_t *r = (const reader_t *)context;
    if (index >= 8u || r->inputs[index] == NULL || offset > r->bytes[index] || bytes > r->bytes[index] - offset) {
        return -1;
    }
    memcpy(dst, r->inputs[index] + offset, bytes);
    return 0;
}

static int fail(const char *what, int err)
{
    fprintf(stderr, "ooc runner: %s: %s (%d)\n", what, err ? ooc_strerror(err) : "", err);
    return 2;
}

int main(int argc, char **argv)
{
    struct ooc_config cfg;
    ooc_ctx_t ctx;
    reader_t reader;
    FILE *in, *out;
    long samples, repeat, s, r;
    uint32_t i, in_total = 0, out_total = 0, high_water = 0;
    uint8_t *buf;
    double *times;
    int err;

    if (argc != 5) {
        fprintf(stderr, "usage: %s IN_FILE OUT_FILE SAMPLES REPEAT\n", argv[0]);
        return 2;
    }
    samples = strtol(argv[3], NULL, 10);
    repeat = strtol(argv[4], NULL, 10);
    if (samples < 1 || repeat < 1) {
        return fail("SAMPLES and REPEAT must be positive", 0);
    }
    memset(&cfg, 0, sizeof cfg);
    memset(&reader, 0, sizeof reader);
    cfg.context = &reader;
    cfg.arena = arena.bytes;
    cfg.arena_bytes = OOC_RUN_ARENA;
    err = ooc_init(&ctx, &OOC_RUN_MODEL, &cfg);
    if (err < 0) {
        return fail("init", err);
    }
    for (i = 0; i < OOC_RUN_MODEL.n_inputs; i++) {
        in_total += (uint32_t)ooc_input_bytes(&ctx, i);
    }
    for (i = 0; i < OOC_RUN_MODEL.n_outputs; i++) {
        out_total += (uint32_t)ooc_output_bytes(&ctx, i);
    }
    buf = (uint8_t *)malloc((in_total > out_total ? in_total : out_total) + 1u);
    times = (double *)malloc((size_t)repeat * sizeof(double));
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (!buf || !times || !in || !out) {
        return fail("cannot open files or allocate buffers", 0);
    }
    printf("{\"arena_bytes\": %lu, \"invoke_seconds\": [", (unsigned long)OOC_RUN_MODEL.arena_bytes);
    for (s = 0; s < samples; s++) {
        uint8_t *p = buf;
        if (fread(buf, 1, in_total, in) != in_total) {
            return fail("input file is shorter than SAMPLES records", 0);
        }
        cfg.read_input = s & 1 ? NULL : read_input;
        err = ooc_init(&ctx, &OOC_RUN_MODEL, &cfg);
        if (err < 0) {
            return fail("init", err);
        }
        for (i = 0, p = buf; i < OOC_RUN_MODEL.n_inputs && i < 8u; i++) {
            reader.inputs[i] = p;
            reader.bytes[i] = (uint32_t)ooc_input_bytes(&ctx, i);
            p += reader.bytes[i];
        }
        for (r = 0; r < repeat; r++) {
            double t0;
            const uint8_t paint = (uint8_t)(s & 1 ? 0x5Au : 0xA5u);
            if (r == 0) {
                memset(arena.bytes, paint, OOC_RUN_WORKING);
            }
            /* the plan reuses input memory once the input is consumed: set it every time */
            for (i = 0, p = buf; i < OOC_RUN_MODEL.n_inputs; i++) {
                int32_t n = ooc_input_bytes(&ctx, i);
                err = ooc_set_input(&ctx, i, p, (uint32_t)n);
                if (err < 0) {
                    return fail("set_input", err);
                }
                p += n;
            }
            t0 = now();
            err = ooc_invoke(&ctx);
            times[r] = now() - t0;
            if (err < 0) {
                return fail("invoke", err);
            }
            if (r == 0) {
                uint32_t top = OOC_RUN_WORKING;
                while (top > 0u && arena.bytes[top - 1u] == paint) {
                    top--;
                }
                high_water = top > high_water ? top : high_water;
            }
        }
        qsort(times, (size_t)repeat, sizeof(double), cmp_double);
        printf("%s%.9f", s ? ", " : "", times[repeat / 2]);
        p = buf;
        for (i = 0; i < OOC_RUN_MODEL.n_outputs; i++) {
            int32_t n = ooc_output_bytes(&ctx, i);
            err = ooc_get_output(&ctx, i, p, (uint32_t)n);
            if (err < 0) {
                return fail("get_output", err);
            }
            p += n;
        }
        if (fwrite(buf, 1, out_total, out) != out_total) {
            return fail("cannot write the output file", 0);
        }
    }
    printf("], \"working_high_water_bytes\": %lu}\n", (unsigned long)high_water);
    fclose(in);
    if (fclose(out) != 0) {
        return fail("cannot write the output file", 0);
    }
    free(buf);
    free(times);
    return 0;
}
