/*
 * Host port: emulated serial NOR flash backed by a file. See ooc_nor_emu.h for the rules it
 * enforces, the counting rules and the wear sidecar format.
 *
 * Portable C99 plus, on POSIX hosts, fsync() (so a renamed file is durable before it replaces
 * the old one) and ENOENT (so only a really missing flash file is created, never one that merely
 * could not be opened). The feature macro is set here so no build flag is needed.
 */
#if defined(__unix__) || defined(__unix) || (defined(__APPLE__) && defined(__MACH__))
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define OOC_NOR_POSIX 1
#else
#define OOC_NOR_POSIX 0
#endif

#include "ooc_nor_emu.h"
#include "ooc_nor_wear_format.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if OOC_NOR_POSIX
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#define NOR_MAGIC 0x4E4F5245u /* "NORE": the emulator is open */
#define ERASED 0xFFu
#define POISON 0xA5u

/* The wear sidecar's layout: ooc_nor_wear_format.h, generated from ooc_sdk/formats/norwear.py. */
static const uint8_t k_wear_magic[8] = OOC_NORW_MAGIC;

/* -- small helpers ----------------------------------------------------------------------------- */

static int is_pow2(uint32_t x)
{
    return x != 0u && (x & (x - 1u)) == 0u;
}

static int finite_nonneg(double x)
{
    return x == x && x >= 0.0 && x <= DBL_MAX;
}

static int is_open(const ooc_nor_t *nor)
{
    return nor != NULL && nor->magic == NOR_MAGIC;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

/* CRC-32, IEEE 802.3 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF). */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

static uint64_t seconds_to_ns(double s)
{
    if (!(s > 0.0)) {
        return 0u;
    }
    if (s * 1e9 >= 18446744073709549568.0) {
        return UINT64_MAX;
    }
    return (uint64_t)(s * 1e9 + 0.5);
}

static char *path_with(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *p = (char *)malloc(a + b + 1u);
    if (p != NULL) {
        memcpy(p, path, a);
        memcpy(p + a, suffix, b + 1u);
    }
    return p;
}

/* -- files ------------------------------------------------------------------------------------- */

/* Write `n` bytes to "<path>.tmp" and make them durable; the caller renames it into place. */
static int write_tmp(const char *tmp, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(tmp, "wb");
    int ok;
    if (f == NULL) {
        return OOC_NOR_ERR_IO;
    }
    ok = fwrite(bytes, 1, n, f) == n && fflush(f) == 0;
#if OOC_NOR_POSIX
    ok = ok && fsync(fileno(f)) == 0;
#endif
    if (fclose(f) != 0) {
        ok = 0;
    }
    if (!ok) {
        remove(tmp);
        return OOC_NOR_ERR_IO;
    }
    return OOC_NOR_OK;
}

/* Best effort: make the renames in the directory of `path` durable. */
static void sync_dir(const char *path)
{
#if OOC_NOR_POSIX
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd;
    if (slash == NULL) {
        dir = path_with(".", "");
    } else if (slash == path) {
        dir = path_with("/", "");
    } else {
        dir = (char *)malloc((size_t)(slash - path) + 1u);
        if (dir != NULL) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
        }
    }
    if (dir == NULL) {
        return;
    }
    fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        (void)close(fd);
    }
    free(dir);
#else
    (void)path;
#endif
}

/* The sidecar image of the wear history. */
static uint8_t *wear_serialize(const ooc_nor_t *nor, size_t *n)
{
    size_t total = OOC_NORW_FIXED_BYTES + OOC_NORW_COUNT_BYTES * (size_t)nor->n_sectors;
    uint8_t *b = (uint8_t *)malloc(total);
    const ooc_nor_counters_t *c = &nor->lifetime;
    uint32_t i;
    if (b == NULL) {
        return NULL;
    }
    memcpy(b + OOC_NORW_WH_MAGIC, k_wear_magic, sizeof k_wear_magic);
    put32(b + OOC_NORW_WH_VERSION, OOC_NORW_VERSION);
    put32(b + OOC_NORW_WH_SECTOR_BYTES, nor->profile.sector_bytes);
    put32(b + OOC_NORW_WH_N_SECTORS, nor->n_sectors);
    put32(b + OOC_NORW_WH_RESERVED, 0u);
    put64(b + OOC_NORW_WH_BYTES_READ, c->bytes_read);
    put64(b + OOC_NORW_WH_READ_COMMANDS, c->read_commands);
    put64(b + OOC_NORW_WH_BYTES_PROGRAMMED, c->bytes_programmed);
    put64(b + OOC_NORW_WH_PROGRAM_OPS, c->program_ops);
    put64(b + OOC_NORW_WH_ERASE_OPS, c->erase_ops);
    put64(b + OOC_NORW_WH_READ_BUSY_NS, seconds_to_ns(c->read_busy_s));
    put64(b + OOC_NORW_WH_PROGRAM_BUSY_NS, seconds_to_ns(c->program_busy_s));
    put64(b + OOC_NORW_WH_ERASE_BUSY_NS, seconds_to_ns(c->erase_busy_s));
    for (i = 0; i < nor->n_sectors; i++) {
        put32(b + OOC_NORW_HEADER_BYTES + OOC_NORW_COUNT_BYTES * (size_t)i, nor->erase_counts[i]);
    }
    put32(b + total - OOC_NORW_CRC_BYTES, crc32_ieee(b, total - OOC_NORW_CRC_BYTES));
    *n = total;
    return b;
}

/* Load "<path>.wear" if present. */
static int wear_load(ooc_nor_t *nor, const char *wear_path)
{
    FILE *f = fopen(wear_path, "rb");
    uint8_t head[OOC_NORW_HEADER_BYTES], *all;
    long flen;
    uint64_t expect;
    uint32_t n_file, i;
    ooc_nor_counters_t *c = &nor->lifetime;
    if (f == NULL) {
#if OOC_NOR_POSIX
        return errno == ENOENT ? OOC_NOR_OK : OOC_NOR_ERR_IO;
#else
        return OOC_NOR_OK;
#endif
    }
    if (fseek(f, 0, SEEK_END) != 0 || (flen = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return OOC_NOR_ERR_IO;
    }
    if ((unsigned long)flen < OOC_NORW_FIXED_BYTES) {
        fclose(f);
        return OOC_NOR_ERR_WEAR_CORRUPT;
    }
    if (fread(head, 1, sizeof head, f) != sizeof head) {
        fclose(f);
        return OOC_NOR_ERR_IO;
    }
    n_file = get32(head + OOC_NORW_WH_N_SECTORS);
    expect = (uint64_t)OOC_NORW_FIXED_BYTES + OOC_NORW_COUNT_BYTES * (uint64_t)n_file;
    if (memcmp(head + OOC_NORW_WH_MAGIC, k_wear_magic, sizeof k_wear_magic) != 0 ||
        get32(head + OOC_NORW_WH_VERSION) != OOC_NORW_VERSION ||
        get32(head + OOC_NORW_WH_RESERVED) != 0u || (uint64_t)flen != expect) {
        fclose(f);
        return OOC_NOR_ERR_WEAR_CORRUPT;
    }
    all = (uint8_t *)malloc((size_t)expect);
    if (all == NULL) {
        fclose(f);
        return OOC_NOR_ERR_NOMEM;
    }
    if (fseek(f, 0, SEEK_SET) != 0 || fread(all, 1, (size_t)expect, f) != (size_t)expect) {
        free(all);
        fclose(f);
        return OOC_NOR_ERR_IO;
    }
    fclose(f);
    if (crc32_ieee(all, (size_t)expect - OOC_NORW_CRC_BYTES) != get32(all + expect - OOC_NORW_CRC_BYTES)) {
        free(all);
        return OOC_NOR_ERR_WEAR_CORRUPT;
    }
    if (n_file != nor->n_sectors || get32(all + OOC_NORW_WH_SECTOR_BYTES) != nor->profile.sector_bytes) {
        free(all);
        return OOC_NOR_ERR_WEAR_MISMATCH;
    }
    c->bytes_read = get64(all + OOC_NORW_WH_BYTES_READ);
    c->read_commands = get64(all + OOC_NORW_WH_READ_COMMANDS);
    c->bytes_programmed = get64(all + OOC_NORW_WH_BYTES_PROGRAMMED);
    c->program_ops = get64(all + OOC_NORW_WH_PROGRAM_OPS);
    c->erase_ops = get64(all + OOC_NORW_WH_ERASE_OPS);
    c->read_busy_s = (double)get64(all + OOC_NORW_WH_READ_BUSY_NS) * 1e-9;
    c->program_busy_s = (double)get64(all + OOC_NORW_WH_PROGRAM_BUSY_NS) * 1e-9;
    c->erase_busy_s = (double)get64(all + OOC_NORW_WH_ERASE_BUSY_NS) * 1e-9;
    c->busy_s = c->read_busy_s + c->program_busy_s + c->erase_busy_s;
    for (i = 0; i < n_file; i++) {
        nor->erase_counts[i] = get32(all + OOC_NORW_HEADER_BYTES + OOC_NORW_COUNT_BYTES * (size_t)i);
    }
    free(all);
    return OOC_NOR_OK;
}

/* Write the flash file (when `data`) and the sidecar (when `wear`): both to temporaries first,
   then renamed into place, flash first. */
static int write_back(ooc_nor_t *nor, int data, int wear)
{
    char *tmp = NULL, *wear_path = NULL, *wear_tmp = NULL;
    uint8_t *side = NULL;
    size_t side_n = 0;
    int rc = OOC_NOR_ERR_NOMEM;
    tmp = path_with(nor->path, ".tmp");
    wear_path = path_with(nor->path, ".wear");
    wear_tmp = path_with(nor->path, ".wear.tmp");
    if (tmp == NULL || wear_path == NULL || wear_tmp == NULL) {
        goto done;
    }
    if (wear && (side = wear_serialize(nor, &side_n)) == NULL) {
        goto done;
    }
    if (data && (rc = write_tmp(tmp, nor->data, nor->profile.size_bytes)) < 0) {
        goto done;
    }
    if (wear && (rc = write_tmp(wear_tmp, side, side_n)) < 0) {
        if (data) {
            remove(tmp);
        }
        goto done;
    }
    rc = OOC_NOR_OK;
    if (data && rename(tmp, nor->path) != 0) {
        remove(tmp);
        if (wear) {
            remove(wear_tmp);
        }
        rc = OOC_NOR_ERR_IO;
        goto done;
    }
    if (wear && rename(wear_tmp, wear_path) != 0) {
        remove(wear_tmp);
        rc = OOC_NOR_ERR_IO;
    }
    sync_dir(nor->path);
done:
    free(side);
    free(tmp);
    free(wear_path);
    free(wear_tmp);
    return rc;
}

/* Load the flash file into nor->data. Returns OOC_NOR_OK, or 1 when the file is missing. */
static int flash_load(ooc_nor_t *nor)
{
    FILE *f = fopen(nor->path, "rb");
    long flen;
    if (f == NULL) {
#if OOC_NOR_POSIX
        return errno == ENOENT ? 1 : OOC_NOR_ERR_IO;
#else
        return 1;
#endif
    }
    if (fseek(f, 0, SEEK_END) != 0 || (flen = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return OOC_NOR_ERR_IO;
    }
    if ((unsigned long)flen != (unsigned long)nor->profile.size_bytes) {
        fclose(f);
        return OOC_NOR_ERR_FILE_SIZE;
    }
    if (fread(nor->data, 1, nor->profile.size_bytes, f) != nor->profile.size_bytes) {
        fclose(f);
        return OOC_NOR_ERR_IO;
    }
    fclose(f);
    return OOC_NOR_OK;
}

static void release(ooc_nor_t *nor)
{
    free(nor->data);
    free(nor->erase_counts);
    free(nor->path);
    memset(nor, 0, sizeof *nor);
}

/* -- lifecycle --------------------------------------------------------------------------------- */

int ooc_nor_profile_check(const ooc_nor_profile_t *p)
{
    if (p == NULL) {
        return OOC_NOR_ERR_ARG;
    }
    if (!is_pow2(p->page_bytes) || !is_pow2(p->sector_bytes) ||
        p->sector_bytes < p->page_bytes || p->size_bytes == 0u ||
        p->size_bytes % p->sector_bytes != 0u) {
        return OOC_NOR_ERR_PROFILE;
    }
    if (!finite_nonneg(p->read_bytes_per_s) || !(p->read_bytes_per_s > 0.0) ||
        !finite_nonneg(p->read_command_s) || !finite_nonneg(p->page_program_s) ||
        !finite_nonneg(p->sector_erase_s)) {
        return OOC_NOR_ERR_PROFILE;
    }
    return OOC_NOR_OK;
}

int ooc_nor_open(ooc_nor_t *nor, const char *path, const ooc_nor_profile_t *profile,
                 uint32_t flags)
{
    int rc;
    if (nor == NULL || profile == NULL) {
        return OOC_NOR_ERR_ARG;
    }
    memset(nor, 0, sizeof *nor);
    if ((rc = ooc_nor_profile_check(profile)) < 0) {
        return rc;
    }
    if (flags & OOC_NOR_READ_ONLY) {
        flags |= OOC_NOR_NO_CREATE;
    }
    nor->profile = *profile;
    nor->flags = flags;
    nor->n_sectors = profile->size_bytes / profile->sector_bytes;
    nor->data = (uint8_t *)malloc(profile->size_bytes);
    nor->erase_counts = (uint32_t *)calloc(nor->n_sectors, sizeof(uint32_t));
    if (nor->data == NULL || nor->erase_counts == NULL) {
        release(nor);
        return OOC_NOR_ERR_NOMEM;
    }
    if (path == NULL) {
        memset(nor->data, ERASED, profile->size_bytes);
        nor->magic = NOR_MAGIC;
        return OOC_NOR_OK;
    }
    if ((nor->path = path_with(path, "")) == NULL) {
        release(nor);
        return OOC_NOR_ERR_NOMEM;
    }
    rc = flash_load(nor);
    if (rc == 1) { /* missing: a new, erased chip with no history */
        if (flags & OOC_NOR_NO_CREATE) {
            release(nor);
            return OOC_NOR_ERR_NOT_FOUND;
        }
        memset(nor->data, ERASED, profile->size_bytes);
        rc = write_back(nor, 1, !(flags & OOC_NOR_NO_WEAR));
    } else if (rc == OOC_NOR_OK && !(flags & OOC_NOR_NO_WEAR)) {
        char *wear_path = path_with(path, ".wear");
        rc = wear_path == NULL ? OOC_NOR_ERR_NOMEM : wear_load(nor, wear_path);
        free(wear_path);
    }
    if (rc < 0) {
        release(nor);
        return rc;
    }
    nor->magic = NOR_MAGIC;
    return OOC_NOR_OK;
}

int ooc_nor_sync(ooc_nor_t *nor)
{
    int rc, data, wear;
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    data = nor->dirty_data;
    wear = nor->dirty_wear && !(nor->flags & OOC_NOR_NO_WEAR);
    if (nor->path == NULL || (nor->flags & OOC_NOR_READ_ONLY) || (!data && !wear)) {
        return OOC_NOR_OK;
    }
    rc = write_back(nor, data, wear);
    if (rc == OOC_NOR_OK) {
        nor->dirty_data = 0;
        nor->dirty_wear = 0;
    }
    return rc;
}

int ooc_nor_close(ooc_nor_t *nor)
{
    int rc;
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    rc = ooc_nor_sync(nor);
    release(nor);
    return rc;
}

/* -- operations -------------------------------------------------------------------------------- */

/* The common gate of read, program and erase. */
static int gate(const ooc_nor_t *nor)
{
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    if (nor->power_lost) {
        return OOC_NOR_ERR_POWER_LOSS;
    }
    if (nor->pending) {
        return OOC_NOR_ERR_BUSY;
    }
    return OOC_NOR_OK;
}

static int in_range(const ooc_nor_t *nor, uint32_t addr, uint32_t len)
{
    return addr <= nor->profile.size_bytes && len <= nor->profile.size_bytes - addr;
}

static void add_busy(ooc_nor_counters_t *c, double *part, double t)
{
    *part += t;
    c->busy_s += t;
}

static void count_read(ooc_nor_t *nor, uint32_t len)
{
    double t = nor->profile.read_command_s + (double)len / nor->profile.read_bytes_per_s;
    nor->counters.bytes_read += len;
    nor->counters.read_commands++;
    add_busy(&nor->counters, &nor->counters.read_busy_s, t);
    nor->lifetime.bytes_read += len;
    nor->lifetime.read_commands++;
    add_busy(&nor->lifetime, &nor->lifetime.read_busy_s, t);
    nor->dirty_wear = 1;
}

/* One program or erase is executed: advance the power-loss countdown. 1 when this one is cut. */
static int power_tick(ooc_nor_t *nor)
{
    if (nor->fail_countdown != 0u && --nor->fail_countdown == 0u) {
        nor->power_lost = 1;
        return 1;
    }
    return 0;
}

int ooc_nor_read(void *user, uint32_t addr, void *buf, uint32_t len)
{
    ooc_nor_t *nor = (ooc_nor_t *)user;
    int rc = gate(nor);
    if (rc < 0) {
        return rc;
    }
    if (buf == NULL && len != 0u) {
        return OOC_NOR_ERR_ARG;
    }
    if (!in_range(nor, addr, len)) {
        return OOC_NOR_ERR_RANGE;
    }
    if (len == 0u) {
        return OOC_NOR_OK;
    }
    memcpy(buf, nor->data + addr, len);
    count_read(nor, len);
    return OOC_NOR_OK;
}

int ooc_nor_read_start(ooc_nor_t *nor, uint32_t addr, void *buf, uint32_t len)
{
    int rc = gate(nor);
    if (rc < 0) {
        return rc;
    }
    if (buf == NULL && len != 0u) {
        return OOC_NOR_ERR_ARG;
    }
    if (!in_range(nor, addr, len)) {
        return OOC_NOR_ERR_RANGE;
    }
    if (len != 0u) {
        if (nor->flags & OOC_NOR_DEBUG_ASYNC) {
            memset(buf, POISON, len);
        } else {
            memcpy(buf, nor->data + addr, len);
        }
        count_read(nor, len);
    }
    nor->pending = 1;
    nor->pending_addr = addr;
    nor->pending_len = len;
    nor->pending_buf = buf;
    return OOC_NOR_OK;
}

int ooc_nor_read_wait(ooc_nor_t *nor)
{
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    if (nor->power_lost) {
        return OOC_NOR_ERR_POWER_LOSS;
    }
    if (!nor->pending) {
        return OOC_NOR_ERR_IDLE;
    }
    if ((nor->flags & OOC_NOR_DEBUG_ASYNC) && nor->pending_len != 0u) {
        memcpy(nor->pending_buf, nor->data + nor->pending_addr, nor->pending_len);
    }
    nor->pending = 0;
    nor->pending_buf = NULL;
    return OOC_NOR_OK;
}

int ooc_nor_program(ooc_nor_t *nor, uint32_t addr, const void *data, uint32_t len)
{
    const uint8_t *src = (const uint8_t *)data;
    uint8_t *dst;
    uint32_t i, n;
    int cut, rc = gate(nor);
    if (rc < 0) {
        return rc;
    }
    if (data == NULL || len == 0u) {
        return OOC_NOR_ERR_ARG;
    }
    if (nor->flags & OOC_NOR_READ_ONLY) {
        return OOC_NOR_ERR_READ_ONLY;
    }
    if (!in_range(nor, addr, len)) {
        return OOC_NOR_ERR_RANGE;
    }
    if ((addr & (nor->profile.page_bytes - 1u)) + (uint64_t)len > nor->profile.page_bytes) {
        return OOC_NOR_ERR_PAGE_CROSS;
    }
    dst = nor->data + addr;
    for (i = 0; i < len; i++) {
        if ((uint8_t)(dst[i] & src[i]) != src[i]) {
            return OOC_NOR_ERR_SETS_BITS;
        }
    }
    cut = power_tick(nor);
    n = cut ? len / 2u : len;
    for (i = 0; i < n; i++) {
        dst[i] = (uint8_t)(dst[i] & src[i]);
    }
    nor->counters.program_ops++;
    nor->counters.bytes_programmed += n;
    add_busy(&nor->counters, &nor->counters.program_busy_s, nor->profile.page_program_s);
    nor->lifetime.program_ops++;
    nor->lifetime.bytes_programmed += n;
    add_busy(&nor->lifetime, &nor->lifetime.program_busy_s, nor->profile.page_program_s);
    nor->dirty_data = 1;
    nor->dirty_wear = 1;
    return cut ? OOC_NOR_ERR_POWER_LOSS : OOC_NOR_OK;
}

int ooc_nor_erase_sector(ooc_nor_t *nor, uint32_t addr)
{
    uint32_t sector;
    int cut, rc = gate(nor);
    if (rc < 0) {
        return rc;
    }
    if (nor->flags & OOC_NOR_READ_ONLY) {
        return OOC_NOR_ERR_READ_ONLY;
    }
    if (addr >= nor->profile.size_bytes) {
        return OOC_NOR_ERR_RANGE;
    }
    if ((addr & (nor->profile.sector_bytes - 1u)) != 0u) {
        return OOC_NOR_ERR_ALIGN;
    }
    sector = addr / nor->profile.sector_bytes;
    cut = power_tick(nor);
    memset(nor->data + addr, ERASED,
           cut ? nor->profile.sector_bytes / 2u : nor->profile.sector_bytes);
    if (nor->erase_counts[sector] != UINT32_MAX) {
        nor->erase_counts[sector]++;
    }
    nor->counters.erase_ops++;
    add_busy(&nor->counters, &nor->counters.erase_busy_s, nor->profile.sector_erase_s);
    nor->lifetime.erase_ops++;
    add_busy(&nor->lifetime, &nor->lifetime.erase_busy_s, nor->profile.sector_erase_s);
    nor->dirty_data = 1;
    nor->dirty_wear = 1;
    return cut ? OOC_NOR_ERR_POWER_LOSS : OOC_NOR_OK;
}

/* -- power loss -------------------------------------------------------------------------------- */

int ooc_nor_fail_after(ooc_nor_t *nor, uint32_t n)
{
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    nor->fail_countdown = n;
    return OOC_NOR_OK;
}

int ooc_nor_power_cycle(ooc_nor_t *nor)
{
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    nor->power_lost = 0;
    nor->pending = 0;
    nor->pending_buf = NULL;
    return OOC_NOR_OK;
}

int ooc_nor_power_lost(const ooc_nor_t *nor)
{
    return is_open(nor) && nor->power_lost ? 1 : 0;
}

/* -- counters and wear ------------------------------------------------------------------------- */

int ooc_nor_get_counters(const ooc_nor_t *nor, ooc_nor_counters_t *out)
{
    if (!is_open(nor) || out == NULL) {
        return OOC_NOR_ERR_ARG;
    }
    *out = nor->counters;
    return OOC_NOR_OK;
}

int ooc_nor_get_lifetime_counters(const ooc_nor_t *nor, ooc_nor_counters_t *out)
{
    if (!is_open(nor) || out == NULL) {
        return OOC_NOR_ERR_ARG;
    }
    *out = nor->lifetime;
    return OOC_NOR_OK;
}

int ooc_nor_reset_counters(ooc_nor_t *nor)
{
    if (!is_open(nor)) {
        return OOC_NOR_ERR_ARG;
    }
    memset(&nor->counters, 0, sizeof nor->counters);
    return OOC_NOR_OK;
}

const uint32_t *ooc_nor_erase_counts(const ooc_nor_t *nor, uint32_t *n_sectors)
{
    if (!is_open(nor)) {
        if (n_sectors != NULL) {
            *n_sectors = 0u;
        }
        return NULL;
    }
    if (n_sectors != NULL) {
        *n_sectors = nor->n_sectors;
    }
    return nor->erase_counts;
}

int ooc_nor_wear_summary(const ooc_nor_t *nor, ooc_nor_wear_t *out)
{
    uint32_t i;
    if (!is_open(nor) || out == NULL) {
        return OOC_NOR_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    out->n_sectors = nor->n_sectors;
    out->min_erases = UINT32_MAX;
    for (i = 0; i < nor->n_sectors; i++) {
        uint32_t c = nor->erase_counts[i];
        out->total_erases += c;
        out->max_erases = c > out->max_erases ? c : out->max_erases;
        out->min_erases = c < out->min_erases ? c : out->min_erases;
        out->sectors_erased += c != 0u ? 1u : 0u;
    }
    return OOC_NOR_OK;
}

const uint8_t *ooc_nor_contents(const ooc_nor_t *nor)
{
    return is_open(nor) ? nor->data : NULL;
}

const char *ooc_nor_strerror(int status)
{
    switch (status) {
    case OOC_NOR_OK:
        return "ok";
    case OOC_NOR_ERR_ARG:
        return "invalid argument";
    case OOC_NOR_ERR_PROFILE:
        return "invalid flash profile";
    case OOC_NOR_ERR_NOMEM:
        return "out of memory";
    case OOC_NOR_ERR_IO:
        return "file I/O error";
    case OOC_NOR_ERR_NOT_FOUND:
        return "flash file not found";
    case OOC_NOR_ERR_FILE_SIZE:
        return "flash file size differs from the profile";
    case OOC_NOR_ERR_WEAR_CORRUPT:
        return "wear sidecar is corrupt";
    case OOC_NOR_ERR_WEAR_MISMATCH:
        return "wear sidecar is for another geometry";
    case OOC_NOR_ERR_RANGE:
        return "address out of range";
    case OOC_NOR_ERR_ALIGN:
        return "erase address not sector-aligned";
    case OOC_NOR_ERR_PAGE_CROSS:
        return "program crosses a page boundary";
    case OOC_NOR_ERR_SETS_BITS:
        return "program would set bits (erase first)";
    case OOC_NOR_ERR_BUSY:
        return "an asynchronous read is outstanding";
    case OOC_NOR_ERR_IDLE:
        return "no asynchronous read outstanding";
    case OOC_NOR_ERR_POWER_LOSS:
        return "power loss";
    case OOC_NOR_ERR_READ_ONLY:
        return "flash opened read-only";
    case OOC_NOR_ERR_VERIFY:
        return "read-back differs";
    default:
        return "unknown error";
    }
}
