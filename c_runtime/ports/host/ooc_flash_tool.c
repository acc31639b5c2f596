/*
 * Host tool over the NOR flash emulator (ooc_nor_emu.c): put an image into a flash file the way a
 * programmer would, look at the wear history, copy a range out.
 *
 *   ooc_flash_tool program FLASH IMAGE --offset N --size S --page P --sector SEC
 *                  [--read-bps X --read-cmd-s Y --program-s Z --erase-s W]
 *                  [--fail-after K] [--verify]
 *       Erase every sector the image covers (the offset must be sector-aligned; the tail of the
 *       last sector past the image is erased too), then program it page by page, skipping pages
 *       that are all 0xFF; with --verify read it back (one read command) and compare. FLASH is
 *       created erased when missing. With --fail-after K the K-th erase-or-program is cut by a
 *       power loss: the tool stops there, syncs the flash file (the partial state) and reports
 *       the failure. Prints status, error, ops (the index of the last operation attempted),
 *       failed_op, the counters of this run and verified.
 *   ooc_flash_tool stats FLASH --size S --page P --sector SEC
 *       The lifetime counters and the erase count summary from the wear sidecar FLASH.wear
 *       (max, min, total, sectors erased at least once, and [sector, count] for those).
 *   ooc_flash_tool dump FLASH OUT --offset N --length L [--size S --page P --sector SEC]
 *       Copy a range out (geometry defaults to the file's size; the sidecar is not touched).
 *
 * Numbers take C syntax (decimal, or 0x hex). Prints one JSON object on stdout. Exit status: 0
 * success, 1 an operation failed (power loss, flash error, verify mismatch), 2 usage or I/O
 * errors (including a flash or sidecar file that does not fit the geometry).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooc_nor_emu.h"

typedef struct {
    const char *cmd;
    const char *pos[2];
    int n_pos;
    ooc_nor_profile_t profile;
    int have_size, have_page, have_sector;
    uint32_t offset, length, fail_after;
    int have_offset, have_length;
    int verify;
} args_t;

static int usage(const char *msg)
{
    fprintf(stderr,
            "error: %s\n"
            "usage: ooc_flash_tool program FLASH IMAGE --offset N --size S --page P --sector SEC\n"
            "           [--read-bps X --read-cmd-s Y --program-s Z --erase-s W]\n"
            "           [--fail-after K] [--verify]\n"
            "       ooc_flash_tool stats FLASH --size S --page P --sector SEC\n"
            "       ooc_flash_tool dump FLASH OUT --offset N --length L [--size S --page P "
            "--sector SEC]\n",
            msg);
    printf("{\"status\": %d, \"error\": \"usage\"}\n", OOC_NOR_ERR_ARG);
    return 2;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+') {
        return -1;
    }
    v = strtoull(s, &end, 0);
    if (*end != '\0' || v > 0xFFFFFFFFull) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    *out = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

/* Parse argv into `a`. Returns 0, or -1 after printing why. */
static int parse_args(int argc, char **argv, args_t *a)
{
    int i;
    memset(a, 0, sizeof *a);
    /* Defaults of ooc_sdk.targets.FlashProfile. */
    a->profile.read_bytes_per_s = 50e6;
    a->profile.read_command_s = 2e-7;
    a->profile.page_program_s = 0.0007;
    a->profile.sector_erase_s = 0.045;
    if (argc < 2) {
        return -1;
    }
    a->cmd = argv[1];
    for (i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (strcmp(o, "--verify") == 0) {
            a->verify = 1;
            takes = 0;
        } else if (strcmp(o, "--offset") == 0) {
            bad = parse_u32(v, &a->offset);
            a->have_offset = 1;
        } else if (strcmp(o, "--length") == 0) {
            bad = parse_u32(v, &a->length);
            a->have_length = 1;
        } else if (strcmp(o, "--size") == 0) {
            bad = parse_u32(v, &a->profile.size_bytes);
            a->have_size = 1;
        } else if (strcmp(o, "--page") == 0) {
            bad = parse_u32(v, &a->profile.page_bytes);
            a->have_page = 1;
        } else if (strcmp(o, "--sector") == 0) {
            bad = parse_u32(v, &a->profile.sector_bytes);
            a->have_sector = 1;
        } else if (strcmp(o, "--fail-after") == 0) {
            bad = parse_u32(v, &a->fail_after);
        } else if (strcmp(o, "--read-bps") == 0) {
            bad = parse_double(v, &a->profile.read_bytes_per_s);
        } else if (strcmp(o, "--read-cmd-s") == 0) {
            bad = parse_double(v, &a->profile.read_command_s);
        } else if (strcmp(o, "--program-s") == 0) {
            bad = parse_double(v, &a->profile.page_program_s);
        } else if (strcmp(o, "--erase-s") == 0) {
            bad = parse_double(v, &a->profile.sector_erase_s);
        } else if (strncmp(o, "--", 2) == 0) {
            fprintf(stderr, "error: unknown option %s\n", o);
            return -1;
        } else {
            if (a->n_pos == 2) {
                fprintf(stderr, "error: unexpected argument %s\n", o);
                return -1;
            }
            a->pos[a->n_pos++] = o;
            takes = 0;
        }
        if (bad) {
            fprintf(stderr, "error: %s needs a valid number\n", o);
            return -1;
        }
        i += takes;
    }
    return 0;
}

static int need_geometry(const args_t *a)
{
    if (!a->have_size || !a->have_page || !a->have_sector) {
        fprintf(stderr, "error: %s needs --size, --page and --sector\n", a->cmd);
        return -1;
    }
    if (ooc_nor_profile_check(&a->profile) < 0) {
        fprintf(stderr, "error: invalid geometry or timing (powers of two; sector a multiple of "
                        "the page; size a multiple of the sector; read rate > 0)\n");
        return -1;
    }
    return 0;
}

static uint8_t *read_whole(const char *path, uint32_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *buf;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (unsigned long)n > 0xFFFFFFFFul) {
        fclose(f);
        return NULL;
    }
    buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1u);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (uint32_t)n;
    return buf;
}

/* A failure before anything was done: print it, exit 2. */
static int io_error(int status, const char *what)
{
    fprintf(stderr, "error: %s: %s\n", what, ooc_nor_strerror(status));
    printf("{\"status\": %d, \"error\": \"%s\"}\n", status, ooc_nor_strerror(status));
    return 2;
}

static void print_counters(const ooc_nor_counters_t *c)
{
    printf("\"bytes_read\": %" PRIu64 ", \"read_commands\": %" PRIu64
           ", \"bytes_programmed\": %" PRIu64 ", \"program_ops\": %" PRIu64
           ", \"erase_ops\": %" PRIu64 ", \"read_busy_s\": %.17g, \"program_busy_s\": %.17g"
           ", \"erase_busy_s\": %.17g, \"busy_s\": %.17g",
           c->bytes_read, c->read_commands, c->bytes_programmed, c->program_ops, c->erase_ops,
           c->read_busy_s, c->program_busy_s, c->erase_busy_s, c->busy_s);
}

static int is_erased(const uint8_t *p, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0xFFu) {
            return 0;
        }
    }
    return 1;
}

static int cmd_program(const args_t *a)
{
    const ooc_nor_profile_t *p = &a->profile;
    ooc_nor_t nor;
    ooc_nor_counters_t c;
    uint8_t *image, *back = NULL;
    uint32_t size = 0, n_sectors, n_pages, i, ops = 0, skipped = 0;
    uint32_t fail_addr = 0, mismatch = 0;
    const char *fail_kind = NULL;
    int rc = OOC_NOR_OK, verified = -1, crc;

    if (a->n_pos != 2 || !a->have_offset) {
        return usage("program needs FLASH IMAGE and --offset");
    }
    if (need_geometry(a) < 0) {
        return usage("bad geometry");
    }
    if (a->offset % p->sector_bytes != 0u) {
        return usage("--offset must be a multiple of the sector");
    }
    if ((image = read_whole(a->pos[1], &size)) == NULL) {
        return io_error(OOC_NOR_ERR_IO, "cannot read the image");
    }
    if (size == 0u || a->offset >= p->size_bytes || size > p->size_bytes - a->offset) {
        free(image);
        return usage("the image is empty or does not fit in the flash at that offset");
    }
    if ((rc = ooc_nor_open(&nor, a->pos[0], p, 0u)) < 0) {
        free(image);
        return io_error(rc, "cannot open the flash file");
    }
    if (a->fail_after != 0u) {
        ooc_nor_fail_after(&nor, a->fail_after);
    }
    n_sectors = (uint32_t)(((uint64_t)size + p->sector_bytes - 1u) / p->sector_bytes);
    n_pages = (uint32_t)(((uint64_t)size + p->page_bytes - 1u) / p->page_bytes);
    for (i = 0; i < n_sectors && rc == OOC_NOR_OK; i++) {
        fail_addr = a->offset + i * p->sector_bytes;
        fail_kind = "erase";
        ops++;
        rc = ooc_nor_erase_sector(&nor, fail_addr);
    }
    for (i = 0; i < n_pages && rc == OOC_NOR_OK; i++) {
        uint32_t at = i * p->page_bytes;
        uint32_t n = size - at < p->page_bytes ? size - at : p->page_bytes;
        if (is_erased(image + at, n)) {
            skipped++;
            continue;
        }
        fail_addr = a->offset + at;
        fail_kind = "program";
        ops++;
        rc = ooc_nor_program(&nor, fail_addr, image + at, n);
    }
    if (rc == OOC_NOR_OK && a->verify) {
        back = (uint8_t *)malloc(size);
        if (back == NULL) {
            rc = OOC_NOR_ERR_NOMEM;
        } else if ((rc = ooc_nor_read(&nor, a->offset, back, size)) == OOC_NOR_OK) {
            verified = memcmp(back, image, size) == 0;
            if (!verified) {
                for (mismatch = 0; back[mismatch] == image[mismatch]; mismatch++) {
                }
                rc = OOC_NOR_ERR_VERIFY;
            }
        }
    }
    ooc_nor_get_counters(&nor, &c);
    crc = ooc_nor_close(&nor);
    free(image);
    free(back);
    if (crc < 0) {
        return io_error(crc, "cannot write the flash file");
    }
    printf("{\"status\": %d, \"error\": \"%s\", \"offset\": %" PRIu32 ", \"image_bytes\": %" PRIu32
           ", \"sectors\": %" PRIu32 ", \"pages\": %" PRIu32 ", \"pages_skipped\": %" PRIu32
           ", \"ops\": %" PRIu32 ", ",
           rc, ooc_nor_strerror(rc), a->offset, size, n_sectors, n_pages, skipped, ops);
    if (rc < 0 && rc != OOC_NOR_ERR_VERIFY && fail_kind != NULL) {
        printf("\"failed_op\": {\"index\": %" PRIu32 ", \"kind\": \"%s\", \"addr\": %" PRIu32
               "}, ",
               ops, fail_kind, fail_addr);
    } else {
        printf("\"failed_op\": null, ");
    }
    if (rc == OOC_NOR_ERR_VERIFY) {
        printf("\"first_mismatch\": %" PRIu32 ", ", a->offset + mismatch);
    }
    print_counters(&c);
    printf(", \"verified\": %s}\n", verified < 0 ? "null" : verified ? "true" : "false");
    return rc < 0 ? 1 : 0;
}

static int cmd_stats(const args_t *a)
{
    ooc_nor_t nor;
    ooc_nor_counters_t c;
    ooc_nor_wear_t w;
    const uint32_t *counts;
    uint32_t n, i;
    int rc, first = 1;
    if (a->n_pos != 1) {
        return usage("stats needs FLASH");
    }
    if (need_geometry(a) < 0) {
        return usage("bad geometry");
    }
    if ((rc = ooc_nor_open(&nor, a->pos[0], &a->profile, OOC_NOR_READ_ONLY)) < 0) {
        return io_error(rc, "cannot open the flash file");
    }
    ooc_nor_get_lifetime_counters(&nor, &c);
    ooc_nor_wear_summary(&nor, &w);
    counts = ooc_nor_erase_counts(&nor, &n);
    printf("{\"status\": 0, \"error\": \"ok\", ");
    print_counters(&c);
    printf(", \"sectors\": %" PRIu32 ", \"erase_max\": %" PRIu32 ", \"erase_min\": %" PRIu32
           ", \"erase_total\": %" PRIu64 ", \"sectors_erased\": %" PRIu32
           ", \"erased_sectors\": [",
           w.n_sectors, w.max_erases, w.min_erases, w.total_erases, w.sectors_erased);
    for (i = 0; i < n; i++) {
        if (counts[i] != 0u) {
            printf("%s[%" PRIu32 ", %" PRIu32 "]", first ? "" : ", ", i, counts[i]);
            first = 0;
        }
    }
    printf("]}\n");
    ooc_nor_close(&nor);
    return 0;
}

static int cmd_dump(const args_t *a)
{
    ooc_nor_profile_t p = a->profile;
    ooc_nor_t nor;
    ooc_nor_counters_t c;
    uint8_t *buf;
    FILE *out;
    int rc;
    if (a->n_pos != 2 || !a->have_offset || !a->have_length) {
        return usage("dump needs FLASH OUT --offset N --length L");
    }
    if (a->have_size || a->have_page || a->have_sector) {
        if (need_geometry(a) < 0) {
            return usage("bad geometry");
        }
    } else {
        /* The geometry does not matter to a read: the whole file, one-byte pages and sectors. */
        FILE *f = fopen(a->pos[0], "rb");
        long n = -1;
        if (f != NULL) {
            if (fseek(f, 0, SEEK_END) == 0) {
                n = ftell(f);
            }
            fclose(f);
        }
        if (n <= 0 || (unsigned long)n > 0xFFFFFFFFul) {
            return io_error(OOC_NOR_ERR_IO, "cannot size the flash file");
        }
        p.size_bytes = (uint32_t)n;
        p.page_bytes = 1u;
        p.sector_bytes = 1u;
    }
    if ((rc = ooc_nor_open(&nor, a->pos[0], &p, OOC_NOR_READ_ONLY | OOC_NOR_NO_WEAR)) < 0) {
        return io_error(rc, "cannot open the flash file");
    }
    buf = (uint8_t *)malloc(a->length > 0u ? a->length : 1u);
    if (buf == NULL) {
        ooc_nor_close(&nor);
        return io_error(OOC_NOR_ERR_NOMEM, "dump");
    }
    rc = ooc_nor_read(&nor, a->offset, buf, a->length);
    ooc_nor_get_counters(&nor, &c);
    ooc_nor_close(&nor);
    if (rc < 0) {
        free(buf);
        fprintf(stderr, "error: read: %s\n", ooc_nor_strerror(rc));
        printf("{\"status\": %d, \"error\": \"%s\"}\n", rc, ooc_nor_strerror(rc));
        return 1;
    }
    out = fopen(a->pos[1], "wb");
    if (out == NULL || fwrite(buf, 1, a->length, out) != a->length) {
        if (out != NULL) {
            fclose(out);
        }
        free(buf);
        return io_error(OOC_NOR_ERR_IO, "cannot write OUT");
    }
    free(buf);
    if (fclose(out) != 0) {
        return io_error(OOC_NOR_ERR_IO, "cannot write OUT");
    }
    printf("{\"status\": 0, \"error\": \"ok\", \"offset\": %" PRIu32 ", \"length\": %" PRIu32
           ", ",
           a->offset, a->length);
    print_counters(&c);
    printf("}\n");
    return 0;
}

int main(int argc, char **argv)
{
    args_t a;
    if (parse_args(argc, argv, &a) < 0) {
        return usage("bad arguments");
    }
    if (strcmp(a.cmd, "program") == 0) {
        return cmd_program(&a);
    }
    if (strcmp(a.cmd, "stats") == 0) {
        return cmd_stats(&a);
    }
    if (strcmp(a.cmd, "dump") == 0) {
        return cmd_dump(&a);
    }
    return usage("unknown command");
}
