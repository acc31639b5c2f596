/*
 * Host runner used by `ooc run OUT/`: runs an out-of-core build with its weights in an emulated
 * NOR flash (ooc_nor_emu.c), as the device would: mount the image with the device key, ooc_init,
 * then per sample set the inputs, invoke (chunks read, verified, decrypted, prefetched through
 * the emulator's asynchronous reads) and get the outputs.
 *
 *   runner FLASH_FILE IN_FILE OUT_FILE SAMPLES --size S --page P --sector SEC
 *          --read-bps X --read-cmd-s Y [--base B] [--sync-reads] [--flip-bit N]
 *
 * stdin: one line "UID_HEX ROOT_KEY_HEX", the device identity (kept off the command line, where
 * other users could see it). --sync-reads gives the runtime no asynchronous read functions (a
 * port without DMA). --flip-bit N flips bit N of the flash contents after ooc_init, as an
 * attacker rewriting the flash at run time would (N counts from the image's first byte).
 *
 * A model whose plan spills activations (n_spills != 0) opens the flash file read-write and
 * mounts the spill ring on the image's scratch partition, with a fresh 16-byte boot salt from
 * /dev/urandom (a device would take it from its TRNG): spills are programmed and erased in the
 * emulated chip and the flash file keeps them, with the sector wear, after the run.
 *
 * Measurements, for the first sample (its inference is run twice, with the arena and a stack
 * region painted in two different patterns, so a byte counts as used when either run changed it):
 * the highest arena offset written, the stack used below the caller's frame, and the state the
 * caller keeps (sizeof ooc_ctx_t + ooc_image_t). Flash counters are per inference (the last).
 * A spilling model adds "spill": the ring's boot, its write position after the mount and before
 * the last inference (what ooc_spill_predict() starts from), and what the mount itself
 * programmed and erased (its boot record, and a sector it opened).
 * stdout gets one JSON object; errors: a message on stderr and on stdout's "error", exit
 * status 2 (usage, files) or 1 (the runtime refused: mount, init or invoke failed).
 *
 * The AES engine, chosen when compiling: software AES (the default); -DOOC_RUN_ENGINE_PSA, the
 * PSA Crypto backend (ports/psa/ooc_engine_psa.c, linked with a PSA library such as Mbed TLS);
 * -DOOC_RUN_ENGINE_ASYNC, the host's worker-thread bulk engine (ooc_host_engine.c), whose jobs
 * can be slowed (--engine-delay-us N), made to fail half way (--engine-fail-job N, counting
 * from 1) or refused (--engine-refuse-job N). With it the report adds the engine's figures for
 * the last inference: its jobs, the breaches of the hook's contract it saw, and the overlap of
 * its jobs with the steps' compute (timed by on_layer): "overlapped_steps" counts the steps
 * that began computing while the engine held a job (the next step's chunks being decrypted), and
 * "overlap_s" the time such jobs ran on the worker during those steps' compute. A
 * report says whether the chunk slots were left all zero ("slots_wiped"): after a failed invoke
 * they must be; after a good one they hold the last step's plaintext.
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_image.h"
#include "ooc/ooc_spill.h"
#include "ooc_boot.h"
#include "ooc_host_port.h"
#include "ooc_nor_emu.h"
#include OOC_RUN_HEADER

#if defined(OOC_RUN_ENGINE_ASYNC)
#include "ooc_host_engine.h"
#define ENGINE_NAME "async"
static ooc_host_engine_t engine;
static int engine_open;
#elif defined(OOC_RUN_ENGINE_PSA)
#include "ooc_engine_psa.h"
#define ENGINE_NAME "psa"
static ooc_engine_psa_t engine;
static int engine_open;
#else
#define ENGINE_NAME "software"
#endif

#define STACK_PROBE_BYTES (64u * 1024u)

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

static union {
    uint32_t align;
    uint8_t bytes[OOC_RUN_ARENA + 4u];
} arena;

static ooc_nor_t nor;
static ooc_image_t image;
static ooc_ctx_t ctx;
static ooc_spill_t spill;
/* What an early exit must release (fail() calls cleanup()). */
static int nor_is_open;
static uint8_t *buf;
static FILE *in, *out;

#if defined(OOC_RUN_ENGINE_ASYNC)
#define MAX_STEPS 4096u
static double step_begin[MAX_STEPS], step_end[MAX_STEPS];
static uint32_t n_timed;

/* on_layer: when each step began and finished computing. */
static void time_step(void *context, uint32_t op, int phase)
{
    (void)context;
    (void)op;
    if (n_timed < MAX_STEPS) {
        if (phase == 0) {
            step_begin[n_timed] = ooc_host_engine_now();
        } else {
            step_end[n_timed++] = ooc_host_engine_now();
        }
    }
}

/* The engine's figures for the jobs from `first_job` on (the last inference's, logged from
   log[0]) against the steps timed meanwhile, as JSON members. */
static void print_overlap(uint32_t first_job)
{
    double busy = 0.0, overlap = 0.0;
    const uint32_t jobs = engine.jobs - first_job, last = jobs < OOC_HOST_ENGINE_LOG ? jobs : OOC_HOST_ENGINE_LOG;
    uint32_t overlapped = 0, i, j;
    for (j = 0; j < last; j++) {
        busy += engine.log[j].end - engine.log[j].start;
    }
    for (i = 0; i < n_timed; i++) {
        int during = 0;
        for (j = 0; j < last; j++) {
            const ooc_host_job_t *b = &engine.log[j];
            if (b->queued < step_begin[i] && b->end > step_begin[i]) {
                /* handed to the engine before the step computed and done after it began: a
                   later step's job (the step's own were waited for before it; jobs handed
                   over inside it are its streamed pieces') */
                const double lo = b->start > step_begin[i] ? b->start : step_begin[i];
                const double hi = b->end < step_end[i] ? b->end : step_end[i];
                overlap += hi > lo ? hi - lo : 0.0;
                during = 1;
            }
        }
        overlapped += during ? 1u : 0u;
    }
    printf(", \"engine_jobs\": %lu, \"engine_misuse\": %lu, \"engine_busy_s\": %.9f, "
           "\"overlap_s\": %.9f, \"timed_steps\": %lu, \"overlapped_steps\": %lu",
           (unsigned long)jobs, (unsigned long)engine.misuse, busy, overlap,
           (unsigned long)n_timed, (unsigned long)overlapped);
}
#endif

/* After a failed invoke: whether the chunk slots (the arena's top) hold nothing but zeros. */
static int slots_state = -1; /* -1: not checked, else 1 when wiped */

static void check_slots(void)
{
    const uint32_t from = OOC_RUN_MODEL.arena_bytes;
    const uint32_t n = (uint32_t)OOC_RUN_MODEL.n_slots * OOC_RUN_MODEL.slot_bytes;
    uint8_t acc = 0;
    uint32_t i;
    for (i = 0; i < n && from + i < OOC_RUN_ARENA; i++) {
        acc |= arena.bytes[from + i];
    }
    slots_state = acc == 0u;
}

static void cleanup(void)
{
#if defined(OOC_RUN_ENGINE_ASYNC)
    if (engine_open) {
        engine_open = 0;
        ooc_host_engine_close(&engine);
    }
#elif defined(OOC_RUN_ENGINE_PSA)
    if (engine_open) {
        engine_open = 0;
        ooc_engine_psa_deinit(&engine);
    }
#endif
    ooc_image_unmount(&image);
    ooc_spill_unmount(&spill);
    free(buf);
    buf = NULL;
    if (in != NULL) {
        fclose(in);
        in = NULL;
    }
    if (out != NULL) {
        fclose(out);
        out = NULL;
    }
    if (nor_is_open) {
        nor_is_open = 0;
        (void)ooc_nor_close(&nor);
    }
}

static uintptr_t stack_probe; /* address of the painted region, below main's frame */

/* Paint the stack region below this frame: the one the next sibling call (the inference) uses. */
static NOINLINE void stack_paint(uint8_t pattern)
{
    volatile uint8_t probe[STACK_PROBE_BYTES];
    uint32_t i;
    for (i = 0; i < STACK_PROBE_BYTES; i++) {
        probe[i] = pattern;
    }
    stack_probe = (uintptr_t)probe;
}

/* Bytes of that region changed since stack_paint (the stack grows down: probe[0] is deepest).
   Reads memory below the current frame through the saved pointer: a host-only measurement. */
static uint32_t stack_used(uint8_t pattern)
{
    const volatile uint8_t *probe = (const volatile uint8_t *)stack_probe;
    uint32_t i = 0;
    while (i < STACK_PROBE_BYTES && probe[i] == pattern) {
        i++;
    }
    return STACK_PROBE_BYTES - i;
}

static NOINLINE int invoke_once(void)
{
    return ooc_invoke(&ctx);
}

static uint32_t arena_extent(uint8_t pattern)
{
    uint32_t n = OOC_RUN_ARENA;
    while (n > 0u && arena.bytes[n - 1u] == pattern) {
        n--;
    }
    return n;
}

static int fail(const char *what, int err, int status)
{
#if defined(OOC_RUN_ENGINE_PSA)
    if (engine_open && engine.last_error != PSA_SUCCESS) {
        fprintf(stderr, "ooc runner: the PSA library failed with status %d\n", (int)engine.last_error);
    }
#endif
    cleanup();
    fprintf(stderr, "ooc runner: %s%s%s\n", what, err ? ": " : "", err ? ooc_strerror(err) : "");
    printf("{\"status\": %d, \"error\": \"%s\", \"stage\": \"%s\", \"engine\": \"%s\"%s}\n", err,
           err ? ooc_strerror(err) : what, what, ENGINE_NAME,
           slots_state < 0 ? "" : slots_state ? ", \"slots_wiped\": true" : ", \"slots_wiped\": false");
    return status;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *end != '\0' || v > 0xFFFFFFFFull) {
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

/* Fresh boot salt from /dev/urandom (a device takes it from its TRNG). 0 or -1. */
static int boot_salt(uint8_t salt[OOC_SPILL_SALT_BYTES])
{
    FILE *rng = fopen("/dev/urandom", "rb");
    int ok = rng != NULL && fread(salt, 1, OOC_SPILL_SALT_BYTES, rng) == OOC_SPILL_SALT_BYTES;
    if (rng != NULL) {
        fclose(rng);
    }
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    ooc_nor_profile_t profile;
    ooc_port_t port;
    ooc_boot_config_t boot;
    struct ooc_config cfg;
    ooc_nor_counters_t before, after;
    uint8_t uid[OOC_IMG_UID_BYTES], key[32], salt[OOC_SPILL_SALT_BYTES];
    uint32_t key_len = 0, base = 0, flip = 0xFFFFFFFFu, samples, s, i;
    uint32_t in_total = 0, out_total = 0, arena_used = 0, stack_bytes = 0, state_bytes;
    ooc_spill_status_t mounted, last_start;
    ooc_nor_counters_t at_mount;
    uint8_t anchors[OOC_IMAGE_MAX_ANCHORS * OOC_IMG_PUBLIC_KEY_BYTES];
    uint32_t n_anchors = 0;
    int sync_reads = 0, err, a;
#if defined(OOC_RUN_ENGINE_ASYNC)
    uint32_t first_job = 0;
#endif

    memset(&profile, 0, sizeof profile);
    if (argc < 5 || !parse_u32(argv[4], &samples) || samples == 0u) {
        fprintf(stderr, "usage: %s FLASH IN OUT SAMPLES --size S --page P --sector SEC --read-bps X "
                        "--read-cmd-s Y [--base B] [--sync-reads] [--flip-bit N] [--anchor PUB_HEX]...\n",
                argv[0]);
        return 2;
    }
    for (a = 5; a < argc; a++) {
        const char *opt = argv[a];
        const char *val = a + 1 < argc ? argv[a + 1] : "";
        int ok = 1;
        if (strcmp(opt, "--sync-reads") == 0) {
            sync_reads = 1;
            continue;
        }
        if (strcmp(opt, "--size") == 0) {
            ok = parse_u32(val, &profile.size_bytes);
        } else if (strcmp(opt, "--page") == 0) {
            ok = parse_u32(val, &profile.page_bytes);
        } else if (strcmp(opt, "--sector") == 0) {
            ok = parse_u32(val, &profile.sector_bytes);
        } else if (strcmp(opt, "--base") == 0) {
            ok = parse_u32(val, &base);
        } else if (strcmp(opt, "--flip-bit") == 0) {
            ok = parse_u32(val, &flip);
        } else if (strcmp(opt, "--anchor") == 0) {
            /* a trust anchor the device holds: the image must be signed, and is installed */
            uint32_t k;
            ok = n_anchors < OOC_IMAGE_MAX_ANCHORS && strlen(val) == 2u * OOC_IMG_PUBLIC_KEY_BYTES;
            for (k = 0; ok && k < OOC_IMG_PUBLIC_KEY_BYTES; k++) {
                unsigned v;
                ok = sscanf(val + 2u * k, "%2x", &v) == 1;
                anchors[n_anchors * OOC_IMG_PUBLIC_KEY_BYTES + k] = (uint8_t)v;
            }
            n_anchors += ok ? 1u : 0u;
#if defined(OOC_RUN_ENGINE_ASYNC)
        } else if (strcmp(opt, "--engine-delay-us") == 0) {
            ok = parse_u32(val, &engine.delay_us);
        } else if (strcmp(opt, "--engine-fail-job") == 0) {
            ok = parse_u32(val, &engine.fail_job);
        } else if (strcmp(opt, "--engine-refuse-job") == 0) {
            ok = parse_u32(val, &engine.refuse_job);
#endif
        } else if (strcmp(opt, "--read-bps") == 0) {
            profile.read_bytes_per_s = strtod(val, NULL);
        } else if (strcmp(opt, "--read-cmd-s") == 0) {
            profile.read_command_s = strtod(val, NULL);
        } else {
            ok = 0;
        }
        if (!ok) {
            return fail("bad option", 0, 2);
        }
        a++;
    }
    if (ooc_host_identity(uid, key, &key_len) != 0) {
        return fail("stdin must hold 'UID_HEX ROOT_KEY_HEX'", 0, 2);
    }
    err = ooc_nor_open(&nor, argv[1], &profile,
                       OOC_RUN_MODEL.n_spills != 0u || n_anchors > 0u
                           ? OOC_NOR_NO_CREATE
                           : OOC_NOR_NO_CREATE | OOC_NOR_READ_ONLY);
    if (err != OOC_NOR_OK) {
        return fail("cannot open the flash file (missing, or not the flash profile's size)", 0, 2);
    }
    nor_is_open = 1;

    memset(&port, 0, sizeof port);
    ooc_host_port(&port, &nor, &profile, sync_reads);
    port.device_uid = uid;
    port.root_key = key;
    port.root_key_bytes = key_len;
#if defined(OOC_RUN_ENGINE_ASYNC)
    if (ooc_host_engine_open(&engine) != 0) {
        return fail("cannot start the engine's worker thread", 0, 2);
    }
    engine_open = 1;
    port.aes_engine = &engine.blocks;
    port.aes_bulk = &engine.bulk;
#elif defined(OOC_RUN_ENGINE_PSA)
    if (ooc_engine_psa_init(&engine) != 0) {
        return fail("cannot start the PSA Crypto library", 0, 2);
    }
    engine_open = 1;
    port.aes_engine = &engine.engine;
    port.aes_bulk = &engine.bulk;
#endif
    memset(&boot, 0, sizeof boot);
    boot.port = &port;
    boot.base = base;
    boot.model = &OOC_RUN_MODEL;
    boot.boot_salt = salt;
    boot.trust_anchors = anchors;
    boot.n_trust_anchors = n_anchors;
    boot.work = arena.bytes; /* free until ooc_init(): a signed image's install */
    boot.work_bytes = OOC_RUN_ARENA;
    err = ooc_boot_image(&boot, &image);
    if (err == OOC_OK && OOC_RUN_MODEL.n_spills != 0u) {
        /* the spill ring on the image's scratch partition, keyed for this boot */
        err = boot_salt(salt) == 0 ? ooc_boot_spill(&boot, &image, &spill) : OOC_ERR_IO;
        memset(salt, 0, sizeof salt);
        if (err < 0) {
            memset(key, 0, sizeof key);
            return fail("spill mount", err, 1);
        }
    }
    memset(&mounted, 0, sizeof mounted);
    memset(&last_start, 0, sizeof last_start);
    ooc_nor_get_counters(&nor, &at_mount);
    if (err == OOC_OK && OOC_RUN_MODEL.n_spills != 0u) {
        (void)ooc_spill_status(&spill, &mounted);
    }
    memset(key, 0, sizeof key);
#if defined(OOC_RUN_ENGINE_PSA)
    ooc_engine_psa_flush(&engine); /* the root key leaves the PSA key store with the mounts */
#endif
    if (err < 0) {
        return fail("mount", err, 1);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.arena = arena.bytes;
    cfg.arena_bytes = OOC_RUN_ARENA;
    cfg.image = &image;
    cfg.spill = OOC_RUN_MODEL.n_spills != 0u ? &spill : NULL;
#if defined(OOC_RUN_ENGINE_ASYNC)
    cfg.on_layer = time_step;
#endif
    err = ooc_init(&ctx, &OOC_RUN_MODEL, &cfg);
    if (err < 0) {
        return fail("init", err, 1);
    }
    if (flip != 0xFFFFFFFFu) {
        /* an attacker rewriting the flash after boot: reach into the emulated chip directly */
        if (flip / 8u >= profile.size_bytes - base) {
            return fail("--flip-bit is beyond the flash", 0, 2);
        }
        nor.data[base + flip / 8u] ^= (uint8_t)(1u << (flip % 8u));
    }
    for (i = 0; i < OOC_RUN_MODEL.n_inputs; i++) {
        in_total += (uint32_t)ooc_input_bytes(&ctx, i);
    }
    for (i = 0; i < OOC_RUN_MODEL.n_outputs; i++) {
        out_total += (uint32_t)ooc_output_bytes(&ctx, i);
    }
    buf = (uint8_t *)malloc((in_total > out_total ? in_total : out_total) + 1u);
    in = fopen(argv[2], "rb");
    out = fopen(argv[3], "wb");
    if (buf == NULL || in == NULL || out == NULL) {
        return fail("cannot open the sample files", 0, 2);
    }
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    for (s = 0; s < samples; s++) {
        int runs = s == 0u ? 2 : 1, r;
        if (fread(buf, 1, in_total, in) != in_total) {
            return fail("input file is shorter than SAMPLES records", 0, 2);
        }
        for (r = 0; r < runs; r++) {
            const uint8_t pattern = r == 0 ? 0xA5u : 0x5Au;
            uint8_t *p = buf;
            if (s == 0u) {
                memset(arena.bytes, pattern, OOC_RUN_ARENA);
            }
            for (i = 0; i < OOC_RUN_MODEL.n_inputs; i++) {
                int32_t n = ooc_input_bytes(&ctx, i);
                err = ooc_set_input(&ctx, i, p, (uint32_t)n);
                if (err < 0) {
                    return fail("set_input", err, 2);
                }
                p += n;
            }
            ooc_nor_get_counters(&nor, &before);
            if (OOC_RUN_MODEL.n_spills != 0u) {
                (void)ooc_spill_status(&spill, &last_start);
            }
            if (s == 0u) {
                stack_paint(pattern);
            }
#if defined(OOC_RUN_ENGINE_ASYNC)
            n_timed = 0;
            first_job = engine.log_base = engine.jobs;
#endif
            err = invoke_once();
            if (s == 0u) {
                uint32_t used = stack_used(pattern), ext = arena_extent(pattern);
                stack_bytes = used > stack_bytes ? used : stack_bytes;
                arena_used = ext > arena_used ? ext : arena_used;
            }
            ooc_nor_get_counters(&nor, &after);
            if (err < 0) {
                check_slots();
                return fail("invoke", err, 1);
            }
        }
        {
            uint8_t *p = buf;
            for (i = 0; i < OOC_RUN_MODEL.n_outputs; i++) {
                int32_t n = ooc_output_bytes(&ctx, i);
                err = ooc_get_output(&ctx, i, p, (uint32_t)n);
                if (err < 0) {
                    return fail("get_output", err, 1);
                }
                p += n;
            }
        }
        if (fwrite(buf, 1, out_total, out) != out_total) {
            return fail("cannot write the output file", 0, 2);
        }
    }
    fclose(in);
    in = NULL;
    err = fclose(out);
    out = NULL;
    if (err != 0) {
        return fail("cannot write the output file", 0, 2);
    }
    state_bytes = (uint32_t)(sizeof ctx + sizeof image + (OOC_RUN_MODEL.n_spills != 0u ? sizeof spill : 0u));
    printf("{\"status\": 0, \"arena_bytes\": %lu, \"arena_high_water_bytes\": %lu, "
           "\"stack_high_water_bytes\": %lu, \"state_bytes\": %lu, \"sram_high_water_bytes\": %lu, "
           "\"flash_read_bytes\": %llu, \"flash_read_commands\": %llu, \"flash_program_bytes\": %llu, "
           "\"erases\": %llu, \"page_programs\": %llu, \"flash_read_busy_s\": %.9f, \"async_reads\": %s",
           (unsigned long)OOC_RUN_ARENA, (unsigned long)arena_used, (unsigned long)stack_bytes,
           (unsigned long)state_bytes, (unsigned long)(arena_used + stack_bytes + state_bytes),
           (unsigned long long)(after.bytes_read - before.bytes_read),
           (unsigned long long)(after.read_commands - before.read_commands),
           (unsigned long long)(after.bytes_programmed - before.bytes_programmed),
           (unsigned long long)(after.erase_ops - before.erase_ops),
           (unsigned long long)(after.program_ops - before.program_ops), after.read_busy_s - before.read_busy_s,
           sync_reads ? "false" : "true");
    check_slots();
    printf(", \"engine\": \"%s\", \"slots_wiped\": %s", ENGINE_NAME, slots_state ? "true" : "false");
#if defined(OOC_RUN_ENGINE_ASYNC)
    print_overlap(first_job);
#endif
    if (OOC_RUN_MODEL.n_spills != 0u) {
        printf(", \"spill\": {\"boot\": %lu, \"mount_position\": %lu, \"position_before_last\": %lu, "
               "\"mount_program_bytes\": %llu, \"mount_page_programs\": %llu, \"mount_erases\": %llu}",
               (unsigned long)mounted.boot, (unsigned long)mounted.position, (unsigned long)last_start.position,
               (unsigned long long)at_mount.bytes_programmed, (unsigned long long)at_mount.program_ops,
               (unsigned long long)at_mount.erase_ops);
    }
    printf("}\n");
#if defined(OOC_RUN_ENGINE_ASYNC)
    engine_open = 0;
    ooc_host_engine_close(&engine);
#elif defined(OOC_RUN_ENGINE_PSA)
    engine_open = 0;
    ooc_engine_psa_deinit(&engine);
#endif
    ooc_image_unmount(&image);
    ooc_spill_unmount(&spill);
    free(buf);
    buf = NULL;
    nor_is_open = 0;
    return ooc_nor_close(&nor) == OOC_NOR_OK ? 0 : fail("cannot close the flash file", 0, 2);
}
