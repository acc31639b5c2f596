/*
 * The firmware `ooc run ... --target qemu-m4` builds: runs a model on the emulated Cortex-M4 and
 * measures it. In-core (OOC_RUN_PAGED 0) the weights are constants in memory-mapped flash;
 * out-of-core (OOC_RUN_PAGED 1) they come from the external flash (ooc_qemu_flash.c) through the
 * image mounted with the device identity from the key storage.
 *
 * The host prepares a directory and starts QEMU in it; the firmware reads and writes these files:
 *   keystore.bin  the device's internal key storage (out-of-core only; docs/FORMAT.md)
 *   flash.bin     the external flash (out-of-core only), opened read-only, or read-write when the
 *                 plan spills activations: the spill ring lives in the image's scratch partition
 *   bootcount.bin the device's monotonic boot counter (spilling plans only; docs/FORMAT.md):
 *                 read, then raised to this boot's number before the first spill; created
 *                 when absent (a new device)
 *   in.bin        SAMPLES records of the model inputs, back to back
 *   out.bin       written: SAMPLES records of the model outputs
 *   report.json   written: measurements, or {"status": <OOC_ERR_*>, "stage": ...} on failure
 * and takes `key=value` words from its command line (-semihosting-config ...,arg=...):
 *   samples=N  size=S page=P sector=SEC base=B (flash geometry, image address)
 * Exit status: 0, 1 (the runtime refused: see report.json), 2 (bad arguments or files),
 * 3 (a fault, from board.c).
 *
 * Measurements (ticks of the board counter, 40 instructions each): the first sample is run
 * twice, with the arena and the stack painted in two patterns (a byte counts as used when either
 * run changed it); the first run reports per-layer counts through the on_layer hook, the second
 * runs without the hook and gives the total. Crypto (tag checks and decryption: the time inside
 * ooc_image_open_chunk, reached through the linker's --wrap) is counted apart. The flash
 * counters (bytes read, read commands, bytes programmed, page programs, erases) are those of the
 * last inference. Sample buffers and counters live in OOC_HARNESS memory, outside the SRAM budget.
 *
 * Working SRAM (as the host runner, ports/host/ooc_run_main.c): the arena is painted before
 * every sample (the pattern alternates) and the highest byte below OOC_RUN_WORKING that changed
 * marks the bytes the runtime used. A fused schedule's build defines OOC_RUN_WORKING as
 * OOC_MODEL_<NAME>_WORKING_BYTES (the arena less the outputs at its top); by default it is the
 * whole arena. A streamed input (ooc_input_streamed()) has no place in the arena: even samples
 * hand the runtime the sample buffer through ooc_set_input(), which it reads during the invoke;
 * odd samples set cfg.read_input to a reader that fetches each requested row from in.bin through
 * semihosting, so that input is never in the device's memory (a camera or a frame in flash).
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "ooc/ooc.h"
#include "ooc/ooc_keystore_format.h"
#include "semihost.h"
#include OOC_RUN_HEADER

#if OOC_RUN_PAGED
#include "ooc/ooc_image.h"
#include "ooc_boot.h"
#include "ooc_qemu_flash.h"
#endif

#ifndef OOC_RUN_WORKING
#define OOC_RUN_WORKING OOC_RUN_ARENA
#endif
#ifndef OOC_RUN_SPILL
#define OOC_RUN_SPILL 0
#endif
#if OOC_RUN_SPILL /* the plan spills activations (the host defines it from the model header) */
#include "ooc/ooc_spill.h"
#endif

#define MAX_OPS 1024u
#define MAX_INPUTS 8u
#define IO_BYTES (2u * 1024u * 1024u)
#define REPORT_BYTES (64u * 1024u)

/* The key storage and boot counter records (docs/FORMAT.md, "Device key storage record" and
   "QEMU boot counter record"): OOC_KEYSTORE_*, OOC_KSR_*, OOC_BOOTCOUNT_BYTES, OOC_BCR_*. */
#define KS_BYTES OOC_KEYSTORE_BYTES
#define BC_BYTES OOC_BOOTCOUNT_BYTES

/* ---- what the device holds: the budgeted SRAM ---- */
static union {
    uint32_t align;
    uint8_t bytes[OOC_RUN_ARENA];
} arena;
static ooc_ctx_t ctx;
#if OOC_RUN_PAGED
static ooc_image_t image;
static ooc_qflash_t flash;
#endif
#if OOC_RUN_SPILL
static ooc_spill_t spill; /* the ring, mounted on the image's scratch partition */
#endif

/* ---- measurement-only memory ---- */
static OOC_HARNESS uint8_t io_buf[IO_BYTES];
static OOC_HARNESS char report[REPORT_BYTES];
static OOC_HARNESS uint32_t layer_ticks[MAX_OPS], layer_crypto[MAX_OPS], layer_steps[MAX_OPS], layer_kinds[MAX_OPS];
static OOC_HARNESS uint32_t report_len, layer_start, crypto_ticks, crypto_pending, crypto_calls;
static OOC_HARNESS char cmdline[512];

/* The input reader of odd samples: the current sample's inputs, read from in.bin on demand. */
typedef struct {
    int handle;
    uint32_t base;                /* the sample's offset in in.bin */
    uint32_t offset[MAX_INPUTS];  /* each input's offset in the sample */
    uint32_t bytes[MAX_INPUTS];
    uint32_t calls;
} reader_t;
static OOC_HARNESS reader_t reader;

/* ---- report.json ---- */

static void put_str(const char *s)
{
    while (*s != '\0' && report_len + 1u < REPORT_BYTES) {
        report[report_len++] = *s++;
    }
}

static void put_u32(uint32_t v)
{
    char s[11];
    put_str(sh_u32_text(v, s));
}

static void put_i32(int32_t v)
{
    if (v < 0) {
        put_str("-");
        put_u32((uint32_t)0 - (uint32_t)v);
    } else {
        put_u32((uint32_t)v);
    }
}

static void put_field(const char *name, uint32_t v)
{
    put_str(", \"");
    put_str(name);
    put_str("\": ");
    put_u32(v);
}

static void put_array(const char *name, const uint32_t *v, uint32_t n)
{
    uint32_t i;
    put_str(", \"");
    put_str(name);
    put_str("\": [");
    for (i = 0; i < n; i++) {
        if (i != 0u) {
            put_str(", ");
        }
        put_u32(v[i]);
    }
    put_str("]");
}

static int write_file(const char *name, const void *data, uint32_t len)
{
    int h = sh_open(name, SH_MODE_WB);
    int ok = h >= 0 && sh_write(h, data, len) == 0;
    if (h >= 0 && sh_close(h) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

static int finish_report(void)
{
    put_str("}\n");
    return write_file("report.json", report, report_len);
}

/* A failure: the report says where, the exit status says what kind. */
static int fail(const char *stage, int err, int status)
{
    sh_puts("ooc firmware: ");
    sh_puts(stage);
    sh_puts(err != 0 ? ": " : "\n");
    if (err != 0) {
        sh_puts(ooc_strerror(err));
        sh_puts("\n");
    }
    report_len = 0;
    put_str("{\"status\": ");
    put_i32(err);
    put_str(", \"stage\": \"");
    put_str(stage);
    put_str("\"");
    (void)finish_report();
    return status;
}

/* ---- command line ---- */

/* The value of `key=` on the command line, or `dflt`; 0 on a malformed number. */
static int arg_u32(const char *key, uint32_t dflt, uint32_t *out)
{
    const char *p = cmdline;
    size_t klen = strlen(key);
    *out = dflt;
    while (*p != '\0') {
        const char *word = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if ((size_t)(p - word) > klen && strncmp(word, key, klen) == 0 && word[klen] == '=') {
            const char *d = word + klen + 1;
            uint32_t v = 0;
            if (d == p) {
                return 0;
            }
            for (; d < p; d++) {
                if (*d < '0' || *d > '9' || v > (0xFFFFFFFFu - 9u) / 10u) {
                    return 0;
                }
                v = v * 10u + (uint32_t)(*d - '0');
            }
            *out = v;
        }
        while (*p == ' ') {
            p++;
        }
    }
    return 1;
}

/* ---- measurement hooks ---- */

static void on_layer(void *context, uint32_t op, int phase)
{
    (void)context;
    if (op >= MAX_OPS) {
        return;
    }
    if (phase == 0) {
        layer_crypto[op] += crypto_pending; /* the chunks this step opened before it ran */
        crypto_pending = 0;
        layer_steps[op]++;
        layer_start = ooc_board_ticks();
    } else {
        layer_ticks[op] += ooc_board_ticks() - layer_start;
    }
}

#if OOC_RUN_PAGED
int __real_ooc_image_open_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data, int verify);
int __wrap_ooc_image_open_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data, int verify);

int __wrap_ooc_image_open_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data, int verify)
{
    uint32_t t0 = ooc_board_ticks(), dt;
    int rc = __real_ooc_image_open_chunk(img, entry, data, verify);
    dt = ooc_board_ticks() - t0;
    crypto_ticks += dt;
    crypto_pending += dt;
    crypto_calls++;
    return rc;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void set_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#if OOC_RUN_SPILL

/* The last boot the device counted into *last: 0 for a new device (no bootcount.bin). 0, or -1
   when the record is not one (a torn or altered counter refuses to boot rather than count from
   0 again). */
static int boot_counter_read(uint32_t *last)
{
    uint8_t bc[BC_BYTES];
    int h = sh_open("bootcount.bin", SH_MODE_RB), ok;
    *last = 0;
    if (h < 0) {
        return 0;
    }
    ok = sh_flen(h) == (int32_t)BC_BYTES && sh_read(h, bc, BC_BYTES) == 0;
    (void)sh_close(h);
    if (!ok || get_u32(bc + OOC_BCR_BOOT) != ~get_u32(bc + OOC_BCR_CHECK)) {
        return -1;
    }
    *last = get_u32(bc + OOC_BCR_BOOT);
    return 0;
}

static int boot_counter_write(uint32_t boot)
{
    uint8_t bc[BC_BYTES];
    int h = sh_open("bootcount.bin", SH_MODE_WB), ok;
    set_u32(bc + OOC_BCR_BOOT, boot);
    set_u32(bc + OOC_BCR_CHECK, ~boot);
    ok = h >= 0 && sh_write(h, bc, BC_BYTES) == 0;
    if (h >= 0 && sh_close(h) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

/* The spill ring on the image's scratch partition. This board has no random source, so the
   boot's keys are made fresh by the monotonic boot counter: min_boot is one past the last boot
   counted, the ring takes it whatever boot numbers the (untrusted) flash holds, and it is
   counted before any spill is written (a power cut in between leaves the number unused, to be
   taken again; never one that encrypted anything). */
static int mount_spill(ooc_boot_config_t *boot)
{
    uint32_t last;
    int err;
    if (boot_counter_read(&last) != 0) {
        return fail("bootcount.bin is not a boot counter record", 0, 2);
    }
    if (last == 0xFFFFFFFFu) {
        return fail("spill mount", OOC_ERR_SPILL_EXHAUSTED, 1);
    }
    boot->min_boot = last + 1u;
    err = ooc_boot_spill(boot, &image, &spill);
    if (err < 0) {
        return fail("spill mount", err, 1);
    }
    if (boot_counter_write(ooc_spill_boot(&spill)) != 0) {
        ooc_spill_unmount(&spill);
        return fail("cannot write bootcount.bin", 0, 2);
    }
    return 0;
}
#endif /* OOC_RUN_SPILL */

/* The anti-rollback ratchet's trusted storage: the key storage record's security counter,
   rewritten whole (ooc_image_commit_counter() calls it after a good run). */
static int commit_counter(void *user, uint32_t counter)
{
    uint8_t ks[KS_BYTES];
    int h = sh_open("keystore.bin", SH_MODE_RB), ok;
    (void)user;
    ok = h >= 0 && sh_flen(h) == (int32_t)KS_BYTES && sh_read(h, ks, KS_BYTES) == 0;
    if (h >= 0) {
        (void)sh_close(h);
    }
    if (ok) {
        set_u32(ks + OOC_KSR_SECURITY_COUNTER, counter);
        ok = write_file("keystore.bin", ks, KS_BYTES) == 0;
    }
    ooc_wipe(ks, sizeof ks);
    return ok ? 0 : -1;
}

static ooc_port_t port; /* kept for the counter ratchet; the root key is wiped after mount */

/* Mount the image with the identity in the key storage (installing a signed image the first
   time, with the arena as its work buffer), and the spill ring when the plan spills; the key
   lives only on this frame. */
static int mount(uint32_t size, uint32_t page, uint32_t sector, uint32_t base)
{
    static const uint8_t ks_magic[4] = OOC_KEYSTORE_MAGIC;
    uint8_t ks[KS_BYTES];
    ooc_boot_config_t boot;
    uint32_t n_anchors;
    int h = sh_open("keystore.bin", SH_MODE_RB), err;
    int ok = h >= 0 && sh_flen(h) == (int32_t)KS_BYTES && sh_read(h, ks, KS_BYTES) == 0;
    if (h >= 0) {
        (void)sh_close(h);
    }
    n_anchors = ks[OOC_KSR_N_ANCHORS];
    if (!ok || memcmp(ks + OOC_KSR_MAGIC, ks_magic, sizeof ks_magic) != 0 ||
        ks[OOC_KSR_VERSION] != OOC_KEYSTORE_VERSION ||
        (ks[OOC_KSR_ROOT_KEY_BYTES] != 16u && ks[OOC_KSR_ROOT_KEY_BYTES] != 32u) ||
        n_anchors > OOC_KEYSTORE_MAX_ANCHORS) {
        ooc_wipe(ks, sizeof ks);
        return fail("keystore.bin is missing or not a key storage record (version 3)", 0, 2);
    }
    if (ooc_qflash_open(&flash, "flash.bin", size, page, sector, OOC_RUN_SPILL || n_anchors > 0u) != 0) {
        ooc_wipe(ks, sizeof ks);
        return fail("cannot open flash.bin (missing, or not the flash profile's size)", 0, 2);
    }
    memset(&port, 0, sizeof port);
    ooc_qflash_port(&flash, &port);
    port.device_uid = ks + OOC_KSR_DEVICE_UID;
    port.root_key = ks + OOC_KSR_ROOT_KEY;
    port.root_key_bytes = ks[OOC_KSR_ROOT_KEY_BYTES];
    port.commit_counter = commit_counter;
    if (n_anchors > 0u) {
        ooc_qflash_port_writes(&port); /* the install partition */
    }
    memset(&boot, 0, sizeof boot);
    boot.port = &port;
    boot.base = base;
    boot.min_security_counter = get_u32(ks + OOC_KSR_SECURITY_COUNTER);
    boot.model = &OOC_RUN_MODEL;
    boot.trust_anchors = ks + OOC_KSR_ANCHORS;
    boot.n_trust_anchors = n_anchors;
    boot.work = arena.bytes; /* free until ooc_init() */
    boot.work_bytes = OOC_RUN_ARENA;
    err = ooc_boot_image(&boot, &image);
    if (err < 0) {
        ooc_wipe(ks, sizeof ks);
        port.root_key = NULL;
        return fail("mount", err, 1);
    }
#if OOC_RUN_SPILL
    ooc_qflash_port_writes(&port);
    err = mount_spill(&boot);
#else
    err = OOC_RUN_MODEL.n_spills == 0u
              ? 0
              : fail("the plan spills activations but this firmware has no spill ring (build it with "
                     "OOC_RUN_SPILL=1: the model header defines _SPILLED_TENSORS)",
                     0, 2);
#endif
    ooc_wipe(ks, sizeof ks);
    port.root_key = NULL;
    port.device_uid = NULL;
    return err;
}
#endif

static int read_input(void *context, uint32_t index, uint32_t offset, void *dst, uint32_t bytes)
{
    reader_t *r = (reader_t *)context;
    if (index >= MAX_INPUTS || offset > r->bytes[index] || bytes > r->bytes[index] - offset) {
        return -1;
    }
    r->calls++;
    if (sh_seek(r->handle, r->base + r->offset[index] + offset) != 0 || sh_read(r->handle, dst, bytes) != 0) {
        return -1;
    }
    return 0;
}

/* The arena's bytes below `limit` up to the highest one that no longer holds `pattern`. */
static uint32_t arena_extent(uint8_t pattern, uint32_t limit)
{
    uint32_t n = limit;
    while (n > 0u && arena.bytes[n - 1u] == pattern) {
        n--;
    }
    return n;
}

static uint32_t io_total(int output)
{
    uint32_t i, n = 0, count = output ? OOC_RUN_MODEL.n_outputs : OOC_RUN_MODEL.n_inputs;
    for (i = 0; i < count; i++) {
        n += (uint32_t)(output ? ooc_output_bytes(&ctx, i) : ooc_input_bytes(&ctx, i));
    }
    return n;
}

static int set_inputs(void)
{
    uint8_t *p = io_buf;
    uint32_t i;
    for (i = 0; i < OOC_RUN_MODEL.n_inputs; i++) {
        int32_t n = ooc_input_bytes(&ctx, i);
        int err = ooc_set_input(&ctx, i, p, (uint32_t)n);
        if (err < 0) {
            return err;
        }
        p += n;
    }
    return 0;
}

static int get_outputs(void)
{
    uint8_t *p = io_buf;
    uint32_t i;
    for (i = 0; i < OOC_RUN_MODEL.n_outputs; i++) {
        int32_t n = ooc_output_bytes(&ctx, i);
        int err = ooc_get_output(&ctx, i, p, (uint32_t)n);
        if (err < 0) {
            return err;
        }
        p += n;
    }
    return 0;
}

static __attribute__((noinline)) int invoke_once(void)
{
    return ooc_invoke(&ctx);
}

int main(void)
{
    struct ooc_config cfg;
    uint32_t samples, size, page, sector, base, s, i, in_total, out_total, streamed = 0;
    uint32_t t_mount = 0, t_init, t_total = 0, crypto_total = 0, arena_used = 0, stack_used = 0;
    uint32_t working_used = 0, read_bytes = 0, read_commands = 0, program_bytes = 0, program_ops = 0;
    uint32_t erase_ops = 0, t0;
    int in_h, out_h, err;

    ooc_board_counter_start();
    if (sh_cmdline(cmdline, sizeof cmdline) != 0 || !arg_u32("samples", 1u, &samples) || samples == 0u ||
        !arg_u32("size", 0u, &size) || !arg_u32("page", 256u, &page) || !arg_u32("sector", 4096u, &sector) ||
        !arg_u32("base", 0u, &base)) {
        return fail("bad command line", 0, 2);
    }
    if (OOC_RUN_MODEL.n_ops > MAX_OPS) {
        return fail("the model has more operators than the firmware counts", 0, 2);
    }
    t0 = ooc_board_ticks();
#if OOC_RUN_PAGED
    err = mount(size, page, sector, base);
    if (err != 0) {
        return err;
    }
#else
    (void)size;
    (void)page;
    (void)sector;
    (void)base;
#endif
    t_mount = ooc_board_ticks() - t0;
    memset(&cfg, 0, sizeof cfg);
    cfg.arena = arena.bytes;
    cfg.arena_bytes = OOC_RUN_ARENA;
    cfg.context = &reader;
#if OOC_RUN_PAGED
    cfg.image = &image;
#if OOC_RUN_SPILL
    cfg.spill = &spill;
#endif
#endif
    t0 = ooc_board_ticks();
    err = ooc_init(&ctx, &OOC_RUN_MODEL, &cfg);
    t_init = ooc_board_ticks() - t0;
    if (err < 0) {
        return fail("init", err, 1);
    }
    in_total = io_total(0);
    out_total = io_total(1);
    if (in_total > IO_BYTES || out_total > IO_BYTES) {
        return fail("the model's inputs or outputs exceed the firmware's sample buffer", 0, 2);
    }
    for (i = 0, s = 0; i < OOC_RUN_MODEL.n_inputs && i < MAX_INPUTS; i++) {
        reader.offset[i] = s;
        reader.bytes[i] = (uint32_t)ooc_input_bytes(&ctx, i);
        s += reader.bytes[i];
        streamed += ooc_input_streamed(&ctx, i) == 1;
    }
    in_h = sh_open("in.bin", SH_MODE_RB);
    out_h = sh_open("out.bin", SH_MODE_WB);
    reader.handle = sh_open("in.bin", SH_MODE_RB);
    if (in_h < 0 || out_h < 0 || reader.handle < 0) {
        return fail("cannot open in.bin or out.bin", 0, 2);
    }
    for (s = 0; s < samples; s++) {
        int runs = s == 0u ? 2 : 1, r;
        if (sh_read(in_h, io_buf, in_total) != 0) {
            return fail("in.bin is shorter than the samples", 0, 2);
        }
        reader.base = s * in_total;
        for (r = 0; r < runs; r++) {
            const uint32_t pattern = ((s + (uint32_t)r) & 1u) == 0u ? 0xA5A5A5A5u : 0x5A5A5A5Au;
            uint32_t before, crypto_before = crypto_ticks;
            memset(arena.bytes, (int)(pattern & 0xFFu), OOC_RUN_ARENA);
            if (s == 0u) {
                ooc_board_stack_paint(pattern);
            }
            err = set_inputs();
            if (err < 0) {
                return fail("set_input", err, 2);
            }
            /* the first run reports layers; the rest run as an application would */
            ctx.cfg.on_layer = s == 0u && r == 0 ? on_layer : NULL;
            /* streamed inputs: odd samples through the reader, even ones from the buffer */
            ctx.cfg.read_input = (s & 1u) != 0u ? read_input : NULL;
            crypto_pending = 0;
#if OOC_RUN_PAGED
            read_bytes = flash.read_bytes;
            read_commands = flash.read_commands;
            program_bytes = flash.program_bytes;
            program_ops = flash.program_ops;
            erase_ops = flash.erase_ops;
#endif
            before = ooc_board_ticks();
            err = invoke_once();
            t_total = ooc_board_ticks() - before;
            crypto_total = crypto_ticks - crypto_before;
#if OOC_RUN_PAGED
            read_bytes = flash.read_bytes - read_bytes;
            read_commands = flash.read_commands - read_commands;
            program_bytes = flash.program_bytes - program_bytes;
            program_ops = flash.program_ops - program_ops;
            erase_ops = flash.erase_ops - erase_ops;
#endif
            {
                uint32_t ext = arena_extent((uint8_t)pattern, OOC_RUN_ARENA);
                uint32_t work = arena_extent((uint8_t)pattern, OOC_RUN_WORKING);
                arena_used = ext > arena_used ? ext : arena_used;
                working_used = work > working_used ? work : working_used;
            }
            if (s == 0u) {
                uint32_t used = ooc_board_stack_used(pattern);
                stack_used = used > stack_used ? used : stack_used;
            }
            if (err < 0) {
                return fail("invoke", err, 1);
            }
        }
        err = get_outputs();
        if (err < 0) {
            return fail("get_output", err, 1);
        }
        if (sh_write(out_h, io_buf, out_total) != 0) {
            return fail("cannot write out.bin", 0, 2);
        }
    }
    (void)sh_close(in_h);
    (void)sh_close(reader.handle);
    if (sh_close(out_h) != 0) {
        return fail("cannot write out.bin", 0, 2);
    }
    for (s = 0; s < OOC_RUN_MODEL.n_ops; s++) {
        layer_kinds[s] = OOC_RUN_MODEL.ops[s].kind;
    }
    put_str("{\"status\": 0");
    put_field("paged", OOC_RUN_PAGED);
    put_field("instructions_per_tick", OOC_BOARD_INSTRUCTIONS_PER_TICK);
    put_field("ticks", t_total);
    put_field("crypto_ticks", crypto_total);
    put_field("mount_ticks", t_mount);
    put_field("init_ticks", t_init);
    put_field("crypto_calls", crypto_calls);
    put_array("layer_ticks", layer_ticks, OOC_RUN_MODEL.n_ops);
    put_array("layer_crypto_ticks", layer_crypto, OOC_RUN_MODEL.n_ops);
    put_array("layer_steps", layer_steps, OOC_RUN_MODEL.n_ops);
    put_array("layer_kinds", layer_kinds, OOC_RUN_MODEL.n_ops);
    put_field("arena_bytes", OOC_RUN_ARENA);
    put_field("arena_high_water_bytes", arena_used);
    put_field("working_bytes", OOC_RUN_WORKING);
    put_field("working_high_water_bytes", working_used);
    put_field("streamed_inputs", streamed);
    put_field("input_reader_calls", reader.calls);
    put_field("stack_high_water_bytes", stack_used);
    put_field("stack_room_bytes", ooc_board_stack_room());
    put_field("static_ram_bytes", ooc_board_static_ram());
#if OOC_RUN_PAGED
#if OOC_RUN_SPILL
    put_field("state_bytes", (uint32_t)(sizeof ctx + sizeof image + sizeof spill));
#else
    put_field("state_bytes", (uint32_t)(sizeof ctx + sizeof image));
#endif
#else
    put_field("state_bytes", (uint32_t)sizeof ctx);
#endif
    put_field("sram_high_water_bytes", ooc_board_static_ram() - OOC_RUN_ARENA + arena_used + stack_used);
    put_field("flash_read_bytes", read_bytes);
    put_field("flash_read_commands", read_commands);
    put_field("flash_program_bytes", program_bytes);
    put_field("page_programs", program_ops);
    put_field("erases", erase_ops);
#if OOC_RUN_PAGED
    /* a good run: ratchet the anti-rollback counter to a signed image's */
    err = ooc_image_commit_counter(&image, &port);
    put_field("security_counter", image.security_counter);
    put_field("counter_committed", err == 0 && image.security_counter > image.min_security_counter);
    if (err < 0 && err != OOC_ERR_SIGNATURE) {
        return fail("commit the security counter", err, 1);
    }
#if OOC_RUN_SPILL
    put_field("spill_boot", ooc_spill_boot(&spill));
    ooc_spill_unmount(&spill);
#else
    put_field("spill_boot", 0u);
#endif
    ooc_image_unmount(&image);
    ooc_qflash_close(&flash);
#endif
    return finish_report() == 0 ? 0 : fail("cannot write report.json", 0, 2);
}
