/*
 * Fault campaigns on a spilling build (issue 8's acceptance, through the whole runtime rather
 * than the ring alone): the model's tables, the runtime and the NOR emulator, driven by a test
 * harness that reaches into the emulated chip between a spill's write and its read-back, cuts
 * power at chosen flash operations and logs every keystream block the ring encrypts with.
 *
 *   campaign FLASH SAMPLE REF MODE [ARGS] key=value...
 *     FLASH   the build's flash file: loaded, run on, written back with its wear sidecar
 *     SAMPLE  one input record (the model's inputs back to back); REF  its expected outputs
 *     geometry words: size=S page=P sector=SEC base=B
 *   modes:
 *     endurance N BOOTS COUNTERS NONCES
 *         N inferences over BOOTS mounts ("reboots": unmount, mount again). COUNTERS gets
 *         u32le (bytes programmed, page programs, erases) per inference; NONCES every counter
 *         block the spill key encrypted with during a write (16 bytes) and the bytes it covered
 *         (u32le). Reports each boot's number and the ring's write position after its mount, and
 *         the scratch sectors' erase counts.
 *     tamper FLIPS REPLAYS SEED
 *         FLIPS inferences each with one random bit of one random spill record flipped on the
 *         flash after the record was written and before it is read back; REPLAYS inferences
 *         each with one record replaced by the same tensor and tile's record from an earlier
 *         inference. Counts what the runtime detected (OOC_ERR_AUTH) and what it did not.
 *     powercut
 *         For k = 1 .. (programs + erases of one inference): cut power at the k-th program or
 *         erase of an inference, reboot (the ring recovers from its headers), and run the next
 *         inference. Counts the cut inferences that failed and the next ones that were right.
 *
 * stdin: "UID_HEX ROOT_KEY_HEX". The spill ring is keyed per boot with min_boot from a trusted
 * counter the harness keeps in memory (as the QEMU port's bootcount.bin), and no salt: the boot
 * number alone keeps the keys fresh, the case the nonce log checks. stdout: one JSON object.
 * Exit status 0, 2 (usage, files), 1 (the runtime refused outside an injected fault).
 *
 * Linked with -Wl,--wrap=ooc_aes_ctr,--wrap=ooc_spill_write (the log) by ooc_sdk/run/campaign.py.
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "ooc/ooc_image.h"
#include "ooc/ooc_spill.h"
#include "ooc_boot.h"
#include "ooc_host_port.h"
#include "ooc_nor_emu.h"
#include OOC_RUN_HEADER

#define MAX_READS 4096u /* spill record read-backs one inference may make (replay snapshots) */

static union {
    uint32_t align;
    uint8_t bytes[OOC_RUN_ARENA];
} arena;

static ooc_nor_t nor;
static ooc_image_t image;
static ooc_spill_t spill;
static ooc_ctx_t ctx;
static ooc_nor_profile_t profile;
static uint32_t base, last_boot;
static uint32_t scratch_lo, scratch_hi; /* the scratch partition's flash addresses (kept past unmount) */
static uint8_t uid[OOC_IMG_UID_BYTES], root_key[32];
static ooc_port_t port; /* the NOR emulator, the identity above; reads through spill_read_hook */
static uint8_t *sample, *ref, *got;
static uint32_t in_total, out_total;

/* ---- the nonce log (--wrap) ---- */

static FILE *nonce_log;
static int in_write;
static uint64_t nonce_entries;

int __real_ooc_aes_ctr(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len);
int __wrap_ooc_aes_ctr(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len);
int __real_ooc_spill_write(ooc_spill_t *sp, uint32_t tensor, uint32_t tile, const void *data, uint32_t len,
                           ooc_spill_ref_t *r);
int __wrap_ooc_spill_write(ooc_spill_t *sp, uint32_t tensor, uint32_t tile, const void *data, uint32_t len,
                           ooc_spill_ref_t *r);

int __wrap_ooc_aes_ctr(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len)
{
    if (nonce_log != NULL && in_write && aes == &spill.k_enc) {
        uint8_t n[4];
        n[0] = (uint8_t)len;
        n[1] = (uint8_t)(len >> 8);
        n[2] = (uint8_t)(len >> 16);
        n[3] = (uint8_t)(len >> 24);
        if (fwrite(iv, 1, 16, nonce_log) != 16 || fwrite(n, 1, 4, nonce_log) != 4) {
            return OOC_ERR_IO;
        }
        nonce_entries++;
    }
    return __real_ooc_aes_ctr(aes, iv, in, out, len);
}

int __wrap_ooc_spill_write(ooc_spill_t *sp, uint32_t tensor, uint32_t tile, const void *data, uint32_t len,
                           ooc_spill_ref_t *r)
{
    int rc;
    in_write = 1;
    rc = __real_ooc_spill_write(sp, tensor, tile, data, len, r);
    in_write = 0;
    return rc;
}

/* ---- injection between write and read-back ---- */

enum { INJECT_NONE, INJECT_SNAPSHOT, INJECT_FLIP, INJECT_REPLAY };

static struct {
    int mode;
    uint32_t reads;    /* record read-backs seen in this inference */
    uint32_t target;   /* the read-back to alter */
    uint32_t bit;      /* INJECT_FLIP: bit within the record's header, ciphertext and tag */
    int done;          /* the injection happened */
    uint8_t *snap[MAX_READS]; /* INJECT_SNAPSHOT: each read-back's record, as on the flash */
    uint32_t snap_len[MAX_READS];
} inj;

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Every flash read, the image's and the spill ring's; the ring's alone touch the scratch
   partition. A record read-back starts with its 32-byte header, at a 16-aligned offset past a
   sector's header; sector headers are read at a sector's start. */
static int spill_read_hook(void *user, uint32_t addr, void *buf, uint32_t len)
{
    if (inj.mode != INJECT_NONE && len == OOC_SPILL_RECORD_HEADER_BYTES && addr >= scratch_lo && addr < scratch_hi &&
        (addr - scratch_lo) % profile.sector_bytes >= OOC_SPILL_SECTOR_HEADER_BYTES) {
        const uint32_t n = inj.reads++;
        const uint32_t rec = OOC_SPILL_RECORD_HEADER_BYTES + get_u32(nor.data + addr + OOC_SPILL_RH_LENGTH) + 16u;
        if (inj.mode == INJECT_SNAPSHOT && n < MAX_READS && addr + rec <= profile.size_bytes) {
            inj.snap[n] = (uint8_t *)malloc(rec);
            if (inj.snap[n] != NULL) {
                memcpy(inj.snap[n], nor.data + addr, rec);
                inj.snap_len[n] = rec;
            }
        } else if (n == inj.target && inj.mode == INJECT_FLIP && addr + rec <= profile.size_bytes) {
            const uint32_t bit = inj.bit % (8u * rec);
            nor.data[addr + bit / 8u] ^= (uint8_t)(1u << (bit % 8u));
            inj.done = 1;
        } else if (n == inj.target && inj.mode == INJECT_REPLAY && n < MAX_READS && inj.snap[n] != NULL &&
                   inj.snap_len[n] == rec && addr + rec <= profile.size_bytes) {
            memcpy(nor.data + addr, inj.snap[n], rec); /* the older record of the same tensor and tile */
            inj.done = 1;
        }
    }
    return ooc_nor_read(user, addr, buf, len);
}

/* ---- boot, inference ---- */

static void shutdown(void)
{
    ooc_spill_unmount(&spill);
    ooc_image_unmount(&image);
}

/* Power on: mount the image and the ring (min_boot from the trusted counter, which takes the
   ring's boot at once), then ooc_init. */
static int boot(void)
{
    ooc_boot_config_t bcfg;
    struct ooc_config cfg;
    int err;
    if (ooc_nor_power_lost(&nor)) {
        (void)ooc_nor_power_cycle(&nor);
    }
    memset(&bcfg, 0, sizeof bcfg);
    bcfg.port = &port;
    bcfg.base = base;
    bcfg.model = &OOC_RUN_MODEL;
    bcfg.min_boot = last_boot + 1u;
    err = ooc_boot_image(&bcfg, &image);
    if (err < 0) {
        return err;
    }
    scratch_lo = base + image.scratch_begin;
    scratch_hi = base + image.scratch_end;
    err = ooc_boot_spill(&bcfg, &image, &spill);
    if (err < 0) {
        ooc_image_unmount(&image);
        return err;
    }
    last_boot = ooc_spill_boot(&spill);
    memset(&cfg, 0, sizeof cfg);
    cfg.arena = arena.bytes;
    cfg.arena_bytes = OOC_RUN_ARENA;
    cfg.image = &image;
    cfg.spill = &spill;
    err = ooc_init(&ctx, &OOC_RUN_MODEL, &cfg);
    if (err < 0) {
        shutdown();
    }
    return err;
}

/* One inference on SAMPLE: the invoke's status; *right = the outputs equal REF. */
static int infer(int *right)
{
    uint8_t *p = sample;
    uint32_t i;
    int err;
    *right = 0;
    for (i = 0; i < OOC_RUN_MODEL.n_inputs; i++) {
        const int32_t n = ooc_input_bytes(&ctx, i);
        err = ooc_set_input(&ctx, i, p, (uint32_t)n);
        if (err < 0) {
            return err;
        }
        p += n;
    }
    inj.reads = 0;
    err = ooc_invoke(&ctx);
    if (err < 0) {
        return err;
    }
    for (i = 0, p = got; i < OOC_RUN_MODEL.n_outputs; i++) {
        const int32_t n = ooc_output_bytes(&ctx, i);
        err = ooc_get_output(&ctx, i, p, (uint32_t)n);
        if (err < 0) {
            return err;
        }
        p += n;
    }
    *right = memcmp(got, ref, out_total) == 0;
    return OOC_OK;
}

/* ---- modes ---- */

static int put_u32le(FILE *f, uint32_t v)
{
    uint8_t b[4];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int endurance(uint32_t n, uint32_t boots, const char *counters_path, const char *nonces_path)
{
    FILE *cf = fopen(counters_path, "wb");
    uint32_t b, i = 0, wrong = 0, sectors, s, first;
    const uint32_t *counts;
    int err = OOC_OK, right;
    nonce_log = fopen(nonces_path, "wb");
    if (cf == NULL || nonce_log == NULL || boots == 0u) {
        fprintf(stderr, "campaign: cannot open the log files\n");
        return 2;
    }
    printf("{\"mode\": \"endurance\", \"boots\": [");
    for (b = 0; b < boots && err == OOC_OK; b++) {
        const uint32_t end = (uint32_t)((uint64_t)n * (b + 1u) / boots);
        ooc_spill_status_t st;
        err = boot();
        if (err < 0) {
            break;
        }
        (void)ooc_spill_status(&spill, &st);
        printf("%s{\"boot\": %lu, \"position\": %lu, \"first_inference\": %lu}", b ? ", " : "",
               (unsigned long)st.boot, (unsigned long)st.position, (unsigned long)i);
        for (; i < end && err == OOC_OK; i++) {
            ooc_nor_counters_t c0, c1;
            (void)ooc_nor_get_counters(&nor, &c0);
            err = infer(&right);
            (void)ooc_nor_get_counters(&nor, &c1);
            wrong += !right;
            if (put_u32le(cf, (uint32_t)(c1.bytes_programmed - c0.bytes_programmed)) != 0 ||
                put_u32le(cf, (uint32_t)(c1.program_ops - c0.program_ops)) != 0 ||
                put_u32le(cf, (uint32_t)(c1.erase_ops - c0.erase_ops)) != 0) {
                err = OOC_ERR_IO;
            }
        }
        shutdown();
    }
    printf("], \"inferences\": %lu, \"wrong_outputs\": %lu, \"status\": %d, \"nonce_entries\": %llu, "
           "\"scratch_erase_counts\": [",
           (unsigned long)i, (unsigned long)wrong, err, (unsigned long long)nonce_entries);
    counts = ooc_nor_erase_counts(&nor, &sectors);
    first = scratch_lo / profile.sector_bytes;
    for (s = first; counts != NULL && s < scratch_hi / profile.sector_bytes && s < sectors; s++) {
        printf("%s%lu", s != first ? ", " : "", (unsigned long)counts[s]);
    }
    printf("]}\n");
    if (fclose(cf) != 0 || fclose(nonce_log) != 0) {
        err = err < 0 ? err : OOC_ERR_IO;
    }
    nonce_log = NULL;
    return err < 0 ? 1 : 0;
}

static uint64_t rng_state;

static uint32_t rng(void) /* xorshift64*: reproducible trials from SEED */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static int tamper(uint32_t flips, uint32_t replays, uint32_t seed)
{
    uint32_t t, reads, detected[2] = {0, 0}, missed_wrong[2] = {0, 0}, missed_right[2] = {0, 0};
    uint32_t other[2] = {0, 0}, not_injected = 0;
    int err, right, other_code = 0, clean_right;
    rng_state = 0x9E3779B97F4A7C15ull ^ seed;
    err = boot();
    if (err < 0) {
        fprintf(stderr, "campaign: boot: %s\n", ooc_strerror(err));
        return 1;
    }
    inj.mode = INJECT_SNAPSHOT; /* the older records the replays put back */
    err = infer(&right);
    reads = inj.reads;
    if (err < 0 || !right || reads == 0u) {
        fprintf(stderr, "campaign: the clean inference failed or read back no spill\n");
        return 1;
    }
    for (t = 0; t < flips + replays; t++) {
        const int k = t < flips ? 0 : 1;
        inj.mode = k == 0 ? INJECT_FLIP : INJECT_REPLAY;
        inj.target = rng() % (reads < MAX_READS ? reads : MAX_READS);
        inj.bit = rng();
        inj.done = 0;
        err = infer(&right);
        if (!inj.done) {
            not_injected++;
        } else if (err == OOC_ERR_AUTH) {
            detected[k]++;
        } else if (err == OOC_OK) {
            missed_right[k] += right;
            missed_wrong[k] += !right;
        } else {
            other[k]++;
            other_code = err;
        }
    }
    inj.mode = INJECT_NONE;
    err = infer(&clean_right);
    printf("{\"mode\": \"tamper\", \"record_reads_per_inference\": %lu, \"flips\": %lu, \"flips_detected\": %lu, "
           "\"flips_missed_wrong_output\": %lu, \"flips_missed_right_output\": %lu, \"flips_other_error\": %lu, "
           "\"replays\": %lu, \"replays_detected\": %lu, \"replays_missed_wrong_output\": %lu, "
           "\"replays_missed_right_output\": %lu, \"replays_other_error\": %lu, \"other_error_code\": %d, "
           "\"not_injected\": %lu, \"clean_after\": %s}\n",
           (unsigned long)reads, (unsigned long)flips, (unsigned long)detected[0], (unsigned long)missed_wrong[0],
           (unsigned long)missed_right[0], (unsigned long)other[0], (unsigned long)replays,
           (unsigned long)detected[1], (unsigned long)missed_wrong[1], (unsigned long)missed_right[1],
           (unsigned long)other[1], other_code, (unsigned long)not_injected,
           err == OOC_OK && clean_right ? "true" : "false");
    shutdown();
    for (t = 0; t < MAX_READS; t++) {
        free(inj.snap[t]);
        inj.snap[t] = NULL;
    }
    return 0;
}

static int powercut(void)
{
    ooc_nor_counters_t c0, c1;
    uint32_t ops, k, cuts = 0, cut_failed = 0, next_right = 0, next_failed = 0, recovered = 0;
    int err, right;
    err = boot();
    if (err == OOC_OK) {
        (void)ooc_nor_get_counters(&nor, &c0);
        err = infer(&right);
        (void)ooc_nor_get_counters(&nor, &c1);
    }
    if (err < 0 || !right) {
        fprintf(stderr, "campaign: the clean inference failed\n");
        return 1;
    }
    ops = (uint32_t)(c1.program_ops - c0.program_ops + c1.erase_ops - c0.erase_ops);
    for (k = 1; k <= ops; k++) {
        ooc_spill_status_t st;
        (void)ooc_nor_fail_after(&nor, k);
        err = infer(&right);
        (void)ooc_nor_fail_after(&nor, 0); /* k may lie past this inference's operations */
        cuts += ooc_nor_power_lost(&nor) != 0;
        cut_failed += ooc_nor_power_lost(&nor) && err < 0;
        shutdown(); /* the power went (or the inference ended): reboot */
        err = boot();
        if (err == OOC_OK) {
            (void)ooc_spill_status(&spill, &st);
            recovered += st.recovered != 0u;
            err = infer(&right);
        }
        next_right += err == OOC_OK && right;
        next_failed += err != OOC_OK;
    }
    printf("{\"mode\": \"powercut\", \"operations_per_inference\": %lu, \"trials\": %lu, \"cuts\": %lu, "
           "\"cut_inferences_failed\": %lu, \"next_inferences_right\": %lu, \"next_inferences_failed\": %lu, "
           "\"mounts_that_recovered\": %lu, \"boots\": %lu}\n",
           (unsigned long)ops, (unsigned long)ops, (unsigned long)cuts, (unsigned long)cut_failed, (unsigned long)next_right,
           (unsigned long)next_failed, (unsigned long)recovered, (unsigned long)last_boot);
    shutdown();
    return 0;
}

/* ---- arguments ---- */

static int word_u32(const char *arg, const char *key, uint32_t *out)
{
    const size_t k = strlen(key);
    char *end;
    unsigned long long v;
    if (strncmp(arg, key, k) != 0 || arg[k] != '=') {
        return 0;
    }
    v = strtoull(arg + k + 1u, &end, 0);
    if (arg[k + 1u] == '\0' || *end != '\0' || v > 0xFFFFFFFFull) {
        return -1;
    }
    *out = (uint32_t)v;
    return 1;
}

static uint8_t *slurp(const char *path, uint32_t want)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = (uint8_t *)malloc(want + 1u);
    int ok = f != NULL && b != NULL && fread(b, 1, want + 1u, f) == want;
    if (f != NULL) {
        fclose(f);
    }
    if (!ok) {
        free(b);
        return NULL;
    }
    return b;
}

int main(int argc, char **argv)
{
    uint32_t u[4] = {0, 0, 0, 0}, i;
    int a, err, rc = 2, mode_args;
    const char *mode = argc > 4 ? argv[4] : "";
    memset(&profile, 0, sizeof profile);
    profile.read_bytes_per_s = 1e8;
    mode_args = strcmp(mode, "endurance") == 0 ? 4 : strcmp(mode, "tamper") == 0 ? 3 : strcmp(mode, "powercut") == 0 ? 0 : -1;
    if (mode_args < 0 || argc < 5 + mode_args) {
        fprintf(stderr, "usage: %s FLASH SAMPLE REF endurance N BOOTS COUNTERS NONCES | tamper FLIPS REPLAYS SEED | "
                        "powercut  size=S page=P sector=SEC base=B\n", argv[0]);
        return 2;
    }
    for (a = 5 + mode_args; a < argc; a++) {
        if (word_u32(argv[a], "size", &profile.size_bytes) != 1 && word_u32(argv[a], "page", &profile.page_bytes) != 1 &&
            word_u32(argv[a], "sector", &profile.sector_bytes) != 1 && word_u32(argv[a], "base", &base) != 1) {
            fprintf(stderr, "campaign: bad word %s\n", argv[a]);
            return 2;
        }
    }
    for (i = 0; (int)i < mode_args && i < 3u; i++) { /* endurance: N BOOTS, then two paths */
        if (mode_args == 4 && i == 2u) {
            break;
        }
        char *end;
        unsigned long long v = strtoull(argv[5 + i], &end, 0);
        if (argv[5 + i][0] == '\0' || *end != '\0' || v > 0xFFFFFFFFull) {
            fprintf(stderr, "campaign: bad number %s\n", argv[5 + i]);
            return 2;
        }
        u[i] = (uint32_t)v;
    }
    if (ooc_host_identity(uid, root_key, &port.root_key_bytes) != 0) {
        fprintf(stderr, "campaign: stdin must hold 'UID_HEX ROOT_KEY_HEX' (a 16-byte UID, a 16- or 32-byte key)\n");
        return 2;
    }
    if (ooc_nor_open(&nor, argv[1], &profile, OOC_NOR_NO_CREATE) != OOC_NOR_OK) {
        fprintf(stderr, "campaign: cannot open the flash file\n");
        return 2;
    }
    ooc_host_port(&port, &nor, &profile, 1); /* blocking reads, as before */
    port.read = spill_read_hook;
    port.device_uid = uid;
    port.root_key = root_key;
    err = boot(); /* the model's input and output sizes */
    if (err == OOC_OK) {
        for (i = 0; i < OOC_RUN_MODEL.n_inputs; i++) {
            in_total += (uint32_t)ooc_input_bytes(&ctx, i);
        }
        for (i = 0; i < OOC_RUN_MODEL.n_outputs; i++) {
            out_total += (uint32_t)ooc_output_bytes(&ctx, i);
        }
        shutdown();
        sample = slurp(argv[2], in_total);
        ref = slurp(argv[3], out_total);
        got = (uint8_t *)malloc(out_total);
        if (sample == NULL || ref == NULL || got == NULL) {
            fprintf(stderr, "campaign: SAMPLE or REF is not one record of the model's inputs or outputs\n");
        } else if (strcmp(mode, "endurance") == 0) {
            rc = endurance(u[0], u[1], argv[7], argv[8]);
        } else if (strcmp(mode, "tamper") == 0) {
            rc = tamper(u[0], u[1], u[2]);
        } else {
            rc = powercut();
        }
    } else {
        fprintf(stderr, "campaign: boot: %s\n", ooc_strerror(err));
        rc = 1;
    }
    memset(root_key, 0, sizeof root_key);
    free(sample);
    free(ref);
    free(got);
    if (ooc_nor_close(&nor) != OOC_NOR_OK && rc == 0) {
        fprintf(stderr, "campaign: cannot write the flash file back\n");
        rc = 2;
    }
    return rc;
}
