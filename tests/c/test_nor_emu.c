/*
 * Unit tests of the host NOR flash emulator (c_runtime/ports/host/ooc_nor_emu.c). Built and run
 * by tests/test_nor_emu.py under ASan and UBSan.
 *
 *   test_nor_emu [DIR]    DIR: where to put temporary flash files (default ".")
 *
 * Prints a line per failed check, then "N passed, M failed"; exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooc/ooc_image.h" /* ooc_flash_read_fn: the emulator's read must plug into it */
#include "ooc_nor_emu.h"

#include "check.h"

#define CHECK_RC(expr, want)                                                                 \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        if (rc_ == (want)) {                                                                 \
            passed++;                                                                        \
        } else {                                                                             \
            failed++;                                                                        \
            printf("FAIL %s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, __LINE__, #expr,    \
                   rc_, ooc_nor_strerror(rc_), (int)(want), ooc_nor_strerror(want));         \
        }                                                                                    \
    } while (0)

#define PAGE 256u
#define SECTOR 4096u
#define SIZE (16u * SECTOR)

static const char *tmp_dir = ".";

static ooc_nor_profile_t profile(void)
{
    ooc_nor_profile_t p;
    p.size_bytes = SIZE;
    p.page_bytes = PAGE;
    p.sector_bytes = SECTOR;
    p.read_bytes_per_s = 50e6;
    p.read_command_s = 2e-7;
    p.page_program_s = 7e-4;
    p.sector_erase_s = 0.045;
    return p;
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-12 + 1e-9 * fabs(b);
}

static int all_equal(const uint8_t *p, uint32_t n, uint8_t v)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

static void tmp_path(char *out, size_t n, const char *name, const char *suffix)
{
    snprintf(out, n, "%s/%s%s", tmp_dir, name, suffix);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f != NULL) {
        if (fseek(f, 0, SEEK_END) == 0) {
            n = ftell(f);
        }
        fclose(f);
    }
    return n;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        fclose(f);
        return 1;
    }
    return 0;
}

/* Read a whole file into a malloc'd buffer (NULL on failure). */
static uint8_t *slurp(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    *n = file_size(path);
    if (f == NULL || *n < 0) {
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    b = (uint8_t *)malloc(*n > 0 ? (size_t)*n : 1u);
    if (b != NULL && fread(b, 1, (size_t)*n, f) != (size_t)*n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static int spill(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(b, 1, n, f) == n;
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

static void remove_all(const char *base)
{
    char p[1024];
    remove(base);
    snprintf(p, sizeof p, "%s.wear", base);
    remove(p);
    snprintf(p, sizeof p, "%s.tmp", base);
    remove(p);
    snprintf(p, sizeof p, "%s.wear.tmp", base);
    remove(p);
}

/* -- profile ----------------------------------------------------------------------------------- */

static void test_profile(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_OK);
    CHECK_RC(ooc_nor_profile_check(NULL), OOC_NOR_ERR_ARG);
    p.page_bytes = 384u;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.page_bytes = 0u;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.sector_bytes = 3000u;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.sector_bytes = 128u; /* smaller than the page: not a multiple */
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.size_bytes = SIZE + PAGE;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.size_bytes = 0u;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.size_bytes = 3u * SECTOR; /* not a power of two, but a multiple of the sector: fine */
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_OK);
    p = profile();
    p.read_bytes_per_s = 0.0;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.page_program_s = -1e-3;
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.sector_erase_s = strtod("nan", NULL);
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.read_command_s = strtod("inf", NULL);
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_ERR_PROFILE);
    p = profile();
    p.page_program_s = 0.0; /* zero times are allowed */
    CHECK_RC(ooc_nor_profile_check(&p), OOC_NOR_OK);

    p = profile();
    p.sector_bytes = 3000u;
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_ERR_PROFILE);
    CHECK_RC(ooc_nor_open(NULL, NULL, &p, 0u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_open(&nor, NULL, NULL, 0u), OOC_NOR_ERR_ARG);
    /* Not open: everything refuses. */
    CHECK_RC(ooc_nor_read(&nor, 0u, NULL, 0u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_ERR_ARG);
    CHECK(ooc_nor_contents(&nor) == NULL);
}

/* -- program ----------------------------------------------------------------------------------- */

static void test_program(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    uint8_t buf[2 * PAGE], before[2 * PAGE];
    const uint8_t *mem;
    ooc_nor_counters_t c;
    uint32_t i;

    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    mem = ooc_nor_contents(&nor);
    CHECK(mem != NULL && all_equal(mem, SIZE, 0xFFu));

    for (i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)(i * 7u + 1u);
    }
    /* A whole page, at the page start. */
    CHECK_RC(ooc_nor_program(&nor, PAGE, buf, PAGE), OOC_NOR_OK);
    CHECK(memcmp(mem + PAGE, buf, PAGE) == 0);
    CHECK(all_equal(mem, PAGE, 0xFFu) && all_equal(mem + 2u * PAGE, PAGE, 0xFFu));
    /* The end of a page. */
    CHECK_RC(ooc_nor_program(&nor, 3u * PAGE - 10u, buf, 10u), OOC_NOR_OK);
    CHECK(memcmp(mem + 3u * PAGE - 10u, buf, 10u) == 0);
    /* The last byte of the chip. */
    CHECK_RC(ooc_nor_program(&nor, SIZE - 1u, buf, 1u), OOC_NOR_OK);

    memcpy(before, mem + 4u * PAGE, sizeof before);
    /* Crossing a page boundary, by one byte or by more than a page: refused, nothing written. */
    CHECK_RC(ooc_nor_program(&nor, 5u * PAGE - 10u, buf, 11u), OOC_NOR_ERR_PAGE_CROSS);
    CHECK_RC(ooc_nor_program(&nor, 4u * PAGE, buf, PAGE + 1u), OOC_NOR_ERR_PAGE_CROSS);
    CHECK_RC(ooc_nor_program(&nor, 4u * PAGE + 1u, buf, PAGE), OOC_NOR_ERR_PAGE_CROSS);
    CHECK(memcmp(before, mem + 4u * PAGE, sizeof before) == 0);
    /* Range and arguments. */
    CHECK_RC(ooc_nor_program(&nor, SIZE, buf, 1u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_program(&nor, SIZE - 1u, buf, 2u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_program(&nor, 0xFFFFFFFFu, buf, 2u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_program(&nor, 0u, buf, 0u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_program(&nor, 0u, NULL, 1u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_program(NULL, 0u, buf, 1u), OOC_NOR_ERR_ARG);

    /* Only 1 -> 0: old & new. */
    buf[0] = 0x0Fu;
    CHECK_RC(ooc_nor_program(&nor, 8u * PAGE, buf, 1u), OOC_NOR_OK);
    buf[0] = 0x05u;
    CHECK_RC(ooc_nor_program(&nor, 8u * PAGE, buf, 1u), OOC_NOR_OK);
    CHECK(mem[8u * PAGE] == 0x05u);
    CHECK_RC(ooc_nor_program(&nor, 8u * PAGE, buf, 1u), OOC_NOR_OK); /* the same again: fine */
    CHECK(mem[8u * PAGE] == 0x05u);
    /* A 0 -> 1 bit anywhere refuses the whole program: nothing written, nothing counted. */
    ooc_nor_get_counters(&nor, &c);
    {
        uint8_t four[4] = {0x00u, 0x00u, 0x00u, 0x00u};
        uint8_t want[4];
        CHECK_RC(ooc_nor_program(&nor, 9u * PAGE, four, 3u), OOC_NOR_OK); /* 00 00 00 FF */
        four[0] = 0x00u;
        four[3] = 0x00u;
        four[2] = 0x10u; /* needs 0 -> 1 in the third byte */
        memcpy(want, mem + 9u * PAGE, 4);
        ooc_nor_get_counters(&nor, &c);
        CHECK_RC(ooc_nor_program(&nor, 9u * PAGE, four, 4u), OOC_NOR_ERR_SETS_BITS);
        CHECK(memcmp(want, mem + 9u * PAGE, 4) == 0);
        CHECK(mem[9u * PAGE + 3u] == 0xFFu);
        {
            ooc_nor_counters_t c2;
            ooc_nor_get_counters(&nor, &c2);
            CHECK(c2.program_ops == c.program_ops && c2.bytes_programmed == c.bytes_programmed);
            CHECK(c2.busy_s == c.busy_s);
        }
    }
    buf[0] = 0x50u; /* 0x05 -> 0x50 needs 0 -> 1 bits */
    CHECK_RC(ooc_nor_program(&nor, 8u * PAGE, buf, 1u), OOC_NOR_ERR_SETS_BITS);
    CHECK(mem[8u * PAGE] == 0x05u);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_ERR_ARG); /* twice */
}

/* -- erase ------------------------------------------------------------------------------------- */

static void test_erase(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    uint8_t zeros[PAGE];
    const uint8_t *mem;
    const uint32_t *counts;
    uint32_t i, n = 0;
    ooc_nor_wear_t w;

    memset(zeros, 0, sizeof zeros);
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    mem = ooc_nor_contents(&nor);
    for (i = 0; i < 3u * SECTOR; i += PAGE) {
        CHECK_RC(ooc_nor_program(&nor, i, zeros, PAGE), OOC_NOR_OK);
    }
    CHECK_RC(ooc_nor_erase_sector(&nor, SECTOR + PAGE), OOC_NOR_ERR_ALIGN);
    CHECK_RC(ooc_nor_erase_sector(&nor, 1u), OOC_NOR_ERR_ALIGN);
    CHECK_RC(ooc_nor_erase_sector(&nor, SIZE), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0xFFFFF000u), OOC_NOR_ERR_RANGE);
    CHECK(all_equal(mem, 3u * SECTOR, 0x00u));
    CHECK_RC(ooc_nor_erase_sector(&nor, SECTOR), OOC_NOR_OK);
    CHECK(all_equal(mem, SECTOR, 0x00u));
    CHECK(all_equal(mem + SECTOR, SECTOR, 0xFFu));
    CHECK(all_equal(mem + 2u * SECTOR, SECTOR, 0x00u));
    /* Erased bytes can be programmed again. */
    CHECK_RC(ooc_nor_program(&nor, SECTOR, zeros, PAGE), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, SIZE - SECTOR), OOC_NOR_OK);

    counts = ooc_nor_erase_counts(&nor, &n);
    CHECK(counts != NULL && n == SIZE / SECTOR);
    if (counts != NULL && n == SIZE / SECTOR) {
        CHECK(counts[0] == 0u && counts[1] == 2u && counts[2] == 0u && counts[n - 1u] == 1u);
    }
    CHECK_RC(ooc_nor_wear_summary(&nor, &w), OOC_NOR_OK);
    CHECK(w.n_sectors == 16u && w.max_erases == 2u && w.min_erases == 0u &&
          w.total_erases == 3u && w.sectors_erased == 2u);
    ooc_nor_close(&nor);
    CHECK(ooc_nor_erase_counts(&nor, &n) == NULL && n == 0u);
}

/* -- read -------------------------------------------------------------------------------------- */

static void test_read(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    ooc_flash_read_fn fn = ooc_nor_read; /* the exact runtime callback type */
    uint8_t data[PAGE], out[3u * SECTOR];
    uint32_t i;

    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    for (i = 0; i < 3u * SECTOR; i += PAGE) {
        uint32_t k;
        for (k = 0; k < PAGE; k++) {
            data[k] = (uint8_t)((i + k) * 31u >> 3);
        }
        CHECK_RC(ooc_nor_program(&nor, SECTOR + i, data, PAGE), OOC_NOR_OK);
    }
    /* Across pages and sectors, through the runtime's callback type. */
    CHECK_RC(fn(&nor, SECTOR + 100u, out, 2u * SECTOR + 5u), 0);
    for (i = 0; i < 2u * SECTOR + 5u; i++) {
        if (out[i] != (uint8_t)((100u + i) * 31u >> 3)) {
            break;
        }
    }
    CHECK(i == 2u * SECTOR + 5u);
    CHECK_RC(ooc_nor_read(&nor, SIZE - 4u, out, 4u), OOC_NOR_OK);
    CHECK(all_equal(out, 4u, 0xFFu));
    CHECK(fn(&nor, SIZE - 4u, out, 5u) < 0);
    CHECK_RC(ooc_nor_read(&nor, SIZE, out, 1u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_read(&nor, 0xFFFFFFFFu, out, 2u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_read(&nor, 1u, out, 0xFFFFFFFFu), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_read(&nor, 0u, NULL, 1u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_read(NULL, 0u, out, 1u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_read(&nor, SIZE, out, 0u), OOC_NOR_OK); /* empty read at the end */
    ooc_nor_close(&nor);
}

/* -- counters and timing ----------------------------------------------------------------------- */

static void test_counters(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    ooc_nor_counters_t c, life;
    uint8_t buf[1000];
    double want_read, want_prog, want_erase;

    memset(buf, 0x3Cu, sizeof buf);
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.bytes_read == 0u && c.read_commands == 0u && c.program_ops == 0u &&
          c.erase_ops == 0u && c.busy_s == 0.0);
    CHECK_RC(ooc_nor_read(&nor, 0u, buf, 1000u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read(&nor, 5000u, buf, 10u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read(&nor, 5000u, buf, 0u), OOC_NOR_OK); /* counts nothing */
    CHECK_RC(ooc_nor_program(&nor, 0u, buf, 100u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, PAGE, buf, PAGE), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, 7u * PAGE + 3u, buf, 1u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 5u * SECTOR), OOC_NOR_OK);
    /* Refused operations count nothing. */
    CHECK_RC(ooc_nor_erase_sector(&nor, 5u), OOC_NOR_ERR_ALIGN);
    CHECK_RC(ooc_nor_read(&nor, SIZE, buf, 1u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_program(&nor, PAGE - 1u, buf, 2u), OOC_NOR_ERR_PAGE_CROSS);

    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.bytes_read == 1010u && c.read_commands == 2u);
    CHECK(c.bytes_programmed == 100u + PAGE + 1u && c.program_ops == 3u);
    CHECK(c.erase_ops == 2u);
    want_read = 2.0 * 2e-7 + 1000.0 / 50e6 + 10.0 / 50e6;
    want_prog = 3.0 * 7e-4;
    want_erase = 2.0 * 0.045;
    CHECK(near(c.read_busy_s, want_read));
    CHECK(near(c.program_busy_s, want_prog));
    CHECK(near(c.erase_busy_s, want_erase));
    CHECK(near(c.busy_s, want_read + want_prog + want_erase));
    CHECK_RC(ooc_nor_get_lifetime_counters(&nor, &life), OOC_NOR_OK);
    CHECK(life.bytes_read == c.bytes_read && life.erase_ops == c.erase_ops &&
          near(life.busy_s, c.busy_s));

    /* Reset: the counters since open go to zero; the wear history stays. */
    CHECK_RC(ooc_nor_reset_counters(&nor), OOC_NOR_OK);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.bytes_read == 0u && c.read_commands == 0u && c.bytes_programmed == 0u &&
          c.program_ops == 0u && c.erase_ops == 0u && c.busy_s == 0.0 &&
          c.read_busy_s == 0.0 && c.program_busy_s == 0.0 && c.erase_busy_s == 0.0);
    {
        uint32_t n;
        const uint32_t *counts = ooc_nor_erase_counts(&nor, &n);
        CHECK(counts != NULL && counts[0] == 1u && counts[5] == 1u);
    }
    CHECK_RC(ooc_nor_get_lifetime_counters(&nor, &life), OOC_NOR_OK);
    CHECK(life.erase_ops == 2u && life.program_ops == 3u);
    CHECK_RC(ooc_nor_erase_sector(&nor, 5u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.erase_ops == 1u && near(c.busy_s, 0.045));
    CHECK_RC(ooc_nor_get_lifetime_counters(&nor, &life), OOC_NOR_OK);
    CHECK(life.erase_ops == 3u);
    CHECK_RC(ooc_nor_get_counters(&nor, NULL), OOC_NOR_ERR_ARG);
    ooc_nor_close(&nor);
}

/* -- asynchronous reads ------------------------------------------------------------------------ */

static void test_async(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    uint8_t data[PAGE], a[600], b[16];
    ooc_nor_counters_t c;
    uint32_t i;

    for (i = 0; i < PAGE; i++) {
        data[i] = (uint8_t)(i ^ 0x5Au);
    }
    /* Plain mode. */
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, 2u * PAGE, data, PAGE), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_ERR_IDLE);
    CHECK_RC(ooc_nor_read_start(&nor, 2u * PAGE, a, PAGE), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read_start(&nor, 0u, b, sizeof b), OOC_NOR_ERR_BUSY);
    /* Nothing else may use the bus meanwhile. */
    CHECK_RC(ooc_nor_read(&nor, 0u, b, sizeof b), OOC_NOR_ERR_BUSY);
    CHECK_RC(ooc_nor_program(&nor, 0u, data, 1u), OOC_NOR_ERR_BUSY);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_ERR_BUSY);
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_OK);
    CHECK(memcmp(a, data, PAGE) == 0);
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_ERR_IDLE);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.read_commands == 1u && c.bytes_read == PAGE);
    CHECK(near(c.read_busy_s, 2e-7 + (double)PAGE / 50e6));
    /* A refused start leaves nothing outstanding. */
    CHECK_RC(ooc_nor_read_start(&nor, SIZE - 1u, a, 2u), OOC_NOR_ERR_RANGE);
    CHECK_RC(ooc_nor_read_start(&nor, 0u, NULL, 2u), OOC_NOR_ERR_ARG);
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_ERR_IDLE);
    CHECK_RC(ooc_nor_read_wait(NULL), OOC_NOR_ERR_ARG);
    ooc_nor_close(&nor);

    /* Debug mode: the buffer holds 0xA5 until the wait. */
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, OOC_NOR_DEBUG_ASYNC), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, 2u * PAGE, data, PAGE), OOC_NOR_OK);
    memset(a, 0, sizeof a);
    CHECK_RC(ooc_nor_read_start(&nor, 2u * PAGE - 44u, a, 600u), OOC_NOR_OK);
    CHECK(all_equal(a, 600u, 0xA5u));
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.read_commands == 1u && c.bytes_read == 600u); /* the command is issued at start */
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_OK);
    CHECK(all_equal(a, 44u, 0xFFu) && memcmp(a + 44, data, PAGE) == 0 &&
          all_equal(a + 44 + PAGE, 600u - 44u - PAGE, 0xFFu));
    /* A reboot drops an outstanding read. */
    CHECK_RC(ooc_nor_read_start(&nor, 0u, b, sizeof b), OOC_NOR_OK);
    CHECK_RC(ooc_nor_power_cycle(&nor), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_ERR_IDLE);
    CHECK_RC(ooc_nor_read(&nor, 0u, b, sizeof b), OOC_NOR_OK);
    ooc_nor_close(&nor);
}

/* -- power loss -------------------------------------------------------------------------------- */

static void test_power_loss_program(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    uint8_t data[PAGE], old[PAGE], b[8];
    const uint8_t *mem;
    ooc_nor_counters_t c;
    uint32_t i;

    for (i = 0; i < PAGE; i++) {
        data[i] = (uint8_t)(i & 0x0Fu); /* high nibble clear */
        old[i] = (uint8_t)(0xF0u | (i & 0x0Fu)); /* data only clears bits of old */
    }
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    mem = ooc_nor_contents(&nor);
    CHECK_RC(ooc_nor_program(&nor, 4u * PAGE, old, PAGE), OOC_NOR_OK);
    CHECK(ooc_nor_power_lost(&nor) == 0);

    CHECK_RC(ooc_nor_fail_after(&nor, 3u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, 0u, data, 16u), OOC_NOR_OK);             /* op 1 */
    /* Refused ops do not count toward the injection. */
    CHECK_RC(ooc_nor_program(&nor, 0u, old, 16u), OOC_NOR_ERR_SETS_BITS);
    CHECK_RC(ooc_nor_erase_sector(&nor, 3u), OOC_NOR_ERR_ALIGN);
    CHECK_RC(ooc_nor_read(&nor, 0u, b, sizeof b), OOC_NOR_OK); /* reads do not count either */
    CHECK_RC(ooc_nor_erase_sector(&nor, 10u * SECTOR), OOC_NOR_OK);         /* op 2 */
    CHECK_RC(ooc_nor_reset_counters(&nor), OOC_NOR_OK);
    /* op 3: over the old page; only the first half is written (old & new), the rest unchanged */
    CHECK_RC(ooc_nor_program(&nor, 4u * PAGE, data, PAGE), OOC_NOR_ERR_POWER_LOSS);
    CHECK(ooc_nor_power_lost(&nor) == 1);
    for (i = 0; i < PAGE; i++) {
        uint8_t want = i < PAGE / 2u ? (uint8_t)(old[i] & data[i]) : old[i];
        if (mem[4u * PAGE + i] != want) {
            break;
        }
    }
    CHECK(i == PAGE);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.program_ops == 1u && c.bytes_programmed == PAGE / 2u);
    /* Everything fails until the power cycle. */
    CHECK_RC(ooc_nor_read(&nor, 0u, b, sizeof b), OOC_NOR_ERR_POWER_LOSS);
    CHECK_RC(ooc_nor_read_start(&nor, 0u, b, sizeof b), OOC_NOR_ERR_POWER_LOSS);
    CHECK_RC(ooc_nor_read_wait(&nor), OOC_NOR_ERR_POWER_LOSS);
    CHECK_RC(ooc_nor_program(&nor, 8u * PAGE, data, 4u), OOC_NOR_ERR_POWER_LOSS);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_ERR_POWER_LOSS);
    CHECK(mem[8u * PAGE] == 0xFFu && mem[0] == data[0]);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.program_ops == 1u && c.erase_ops == 0u && c.read_commands == 0u);
    /* Reboot: contents kept, operations work, the injection was used up. */
    CHECK_RC(ooc_nor_power_cycle(&nor), OOC_NOR_OK);
    CHECK(ooc_nor_power_lost(&nor) == 0);
    CHECK_RC(ooc_nor_read(&nor, 4u * PAGE, b, sizeof b), OOC_NOR_OK);
    CHECK(b[0] == (uint8_t)(old[0] & data[0]));
    CHECK_RC(ooc_nor_program(&nor, 4u * PAGE, data, PAGE), OOC_NOR_OK); /* finish the page */
    CHECK_RC(ooc_nor_program(&nor, 8u * PAGE, data, PAGE), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_OK);
    /* n = 1 hits the very next op; n = 0 disables. */
    CHECK_RC(ooc_nor_fail_after(&nor, 1u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, 12u * PAGE, data, 1u), OOC_NOR_ERR_POWER_LOSS);
    CHECK(mem[12u * PAGE] == 0xFFu); /* len 1: a prefix of 0 bytes */
    CHECK_RC(ooc_nor_power_cycle(&nor), OOC_NOR_OK);
    CHECK_RC(ooc_nor_fail_after(&nor, 2u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_fail_after(&nor, 0u), OOC_NOR_OK);
    for (i = 0; i < 5u; i++) {
        CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_OK);
    }
    CHECK_RC(ooc_nor_fail_after(NULL, 1u), OOC_NOR_ERR_ARG);
    ooc_nor_close(&nor);
}

static void test_power_loss_erase(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    uint8_t zeros[PAGE];
    const uint8_t *mem;
    const uint32_t *counts;
    uint32_t i, n;

    memset(zeros, 0, sizeof zeros);
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    mem = ooc_nor_contents(&nor);
    for (i = 0; i < 2u * SECTOR; i += PAGE) {
        CHECK_RC(ooc_nor_program(&nor, 2u * SECTOR + i, zeros, PAGE), OOC_NOR_OK);
    }
    CHECK_RC(ooc_nor_fail_after(&nor, 2u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 2u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 3u * SECTOR), OOC_NOR_ERR_POWER_LOSS);
    CHECK(all_equal(mem + 2u * SECTOR, SECTOR, 0xFFu));
    CHECK(all_equal(mem + 3u * SECTOR, SECTOR / 2u, 0xFFu));
    CHECK(all_equal(mem + 3u * SECTOR + SECTOR / 2u, SECTOR / 2u, 0x00u));
    counts = ooc_nor_erase_counts(&nor, &n);
    CHECK(counts[2] == 1u && counts[3] == 1u); /* the cut erase still wore the sector */
    CHECK_RC(ooc_nor_erase_sector(&nor, 3u * SECTOR), OOC_NOR_ERR_POWER_LOSS);
    CHECK_RC(ooc_nor_program(&nor, 0u, zeros, 1u), OOC_NOR_ERR_POWER_LOSS);
    CHECK(counts[3] == 1u && mem[0] == 0xFFu);
    CHECK_RC(ooc_nor_power_cycle(&nor), OOC_NOR_OK);
    CHECK(all_equal(mem + 3u * SECTOR + SECTOR / 2u, SECTOR / 2u, 0x00u));
    CHECK_RC(ooc_nor_erase_sector(&nor, 3u * SECTOR), OOC_NOR_OK);
    CHECK(all_equal(mem + 3u * SECTOR, SECTOR, 0xFFu) && counts[3] == 2u);
    ooc_nor_close(&nor);
}

/* -- files ------------------------------------------------------------------------------------- */

static void test_persistence(void)
{
    ooc_nor_profile_t p = profile();
    ooc_nor_t nor;
    char path[1024], wear[1024], tmp[1024], wtmp[1024];
    uint8_t data[PAGE], buf[300], *file;
    long n;
    ooc_nor_counters_t c, life;
    const uint32_t *counts;
    uint32_t ns, i;

    tmp_path(path, sizeof path, "persist.bin", "");
    tmp_path(wear, sizeof wear, "persist.bin", ".wear");
    tmp_path(tmp, sizeof tmp, "persist.bin", ".tmp");
    tmp_path(wtmp, sizeof wtmp, "persist.bin", ".wear.tmp");
    remove_all(path);
    for (i = 0; i < PAGE; i++) {
        data[i] = (uint8_t)(i * 3u);
    }

    /* Missing: created erased, exactly size_bytes, at open. */
    CHECK_RC(ooc_nor_open(&nor, path, &p, OOC_NOR_NO_CREATE), OOC_NOR_ERR_NOT_FOUND);
    CHECK(!file_exists(path));
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    CHECK(file_size(path) == (long)SIZE);
    file = slurp(path, &n);
    CHECK(file != NULL && n == (long)SIZE && all_equal(file, SIZE, 0xFFu));
    free(file);
    CHECK(file_size(wear) == 92L + 4L * (long)(SIZE / SECTOR));

    CHECK_RC(ooc_nor_program(&nor, 3u * SECTOR + PAGE, data, PAGE), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 7u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 7u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 9u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read(&nor, 0u, buf, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read(&nor, 100u, buf, 300u), OOC_NOR_OK);
    /* Sync writes the file now; no temporaries are left behind. */
    CHECK_RC(ooc_nor_sync(&nor), OOC_NOR_OK);
    file = slurp(path, &n);
    CHECK(file != NULL && n == (long)SIZE && memcmp(file + 3u * SECTOR + PAGE, data, PAGE) == 0);
    free(file);
    CHECK(!file_exists(tmp) && !file_exists(wtmp));
    CHECK_RC(ooc_nor_erase_sector(&nor, 9u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_get_lifetime_counters(&nor, &life), OOC_NOR_OK);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    CHECK(!file_exists(tmp) && !file_exists(wtmp));

    /* Reopen: contents, erase counts and lifetime counters are back; session counters zero. */
    CHECK_RC(ooc_nor_open(&nor, path, &p, OOC_NOR_NO_CREATE), OOC_NOR_OK);
    CHECK(memcmp(ooc_nor_contents(&nor) + 3u * SECTOR + PAGE, data, PAGE) == 0);
    CHECK(all_equal(ooc_nor_contents(&nor), 3u * SECTOR + PAGE, 0xFFu));
    counts = ooc_nor_erase_counts(&nor, &ns);
    CHECK(ns == 16u && counts[7] == 2u && counts[9] == 2u && counts[0] == 0u);
    CHECK_RC(ooc_nor_get_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.erase_ops == 0u && c.bytes_read == 0u && c.busy_s == 0.0);
    CHECK_RC(ooc_nor_get_lifetime_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.bytes_read == 300u && c.read_commands == 1u && c.bytes_programmed == PAGE &&
          c.program_ops == 1u && c.erase_ops == 4u);
    CHECK(c.bytes_read == life.bytes_read && c.erase_ops == life.erase_ops);
    CHECK(fabs(c.busy_s - life.busy_s) < 1e-8); /* stored in nanoseconds */
    CHECK(near(c.erase_busy_s, 4.0 * 0.045) && near(c.program_busy_s, 7e-4));
    /* A power loss, then close: the partial state is what gets written. */
    CHECK_RC(ooc_nor_fail_after(&nor, 1u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 3u * SECTOR), OOC_NOR_ERR_POWER_LOSS);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    file = slurp(path, &n);
    /* The page at 3 * SECTOR + PAGE is in the erased first half; 0xFF at the second half. */
    CHECK(file != NULL && all_equal(file + 3u * SECTOR, SECTOR / 2u, 0xFFu) &&
          all_equal(file + 3u * SECTOR + SECTOR / 2u, SECTOR / 2u, 0xFFu));
    free(file);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    counts = ooc_nor_erase_counts(&nor, &ns);
    CHECK(counts[3] == 1u);
    CHECK(all_equal(ooc_nor_contents(&nor) + 3u * SECTOR, SECTOR / 2u, 0xFFu));
    ooc_nor_close(&nor);

    /* A missing sidecar beside an existing flash file: no history. */
    remove(wear);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    counts = ooc_nor_erase_counts(&nor, &ns);
    CHECK(counts[3] == 0u && counts[7] == 0u);
    CHECK_RC(ooc_nor_get_lifetime_counters(&nor, &c), OOC_NOR_OK);
    CHECK(c.erase_ops == 0u);
    ooc_nor_close(&nor);
    remove_all(path);
}

static void test_files_invalid(void)
{
    ooc_nor_profile_t p = profile(), q;
    ooc_nor_t nor;
    char path[1024], wear[1024];
    uint8_t *side, *side2;
    long n, n2;
    uint8_t small[100];

    tmp_path(path, sizeof path, "bad.bin", "");
    tmp_path(wear, sizeof wear, "bad.bin", ".wear");
    remove_all(path);

    /* Wrong size of an existing flash file. */
    memset(small, 0xFF, sizeof small);
    CHECK(spill(path, small, sizeof small) == 0);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_ERR_FILE_SIZE);
    CHECK(file_size(path) == 100L); /* left alone */
    remove(path);

    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    side = slurp(wear, &n);
    CHECK(side != NULL && n == 92L + 4L * 16L);
    if (side == NULL || n != 92L + 4L * 16L) {
        free(side);
        return;
    }
    CHECK(memcmp(side, "OOCNORW1", 8) == 0 && side[16] == 16u && side[88] == 1u);

    /* Same size, other sector size: the sidecar does not match. */
    q = p;
    q.sector_bytes = 2u * SECTOR;
    CHECK_RC(ooc_nor_open(&nor, path, &q, 0u), OOC_NOR_ERR_WEAR_MISMATCH);
    /* Other size: the flash file does not match first. */
    q = p;
    q.size_bytes = 2u * SIZE;
    CHECK_RC(ooc_nor_open(&nor, path, &q, 0u), OOC_NOR_ERR_FILE_SIZE);

    /* A flipped bit, a truncation, a bad magic: corrupt. */
    side[60] ^= 0x01u;
    CHECK(spill(wear, side, (size_t)n) == 0);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_ERR_WEAR_CORRUPT);
    side[60] ^= 0x01u;
    CHECK(spill(wear, side, (size_t)n - 4u) == 0);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_ERR_WEAR_CORRUPT);
    CHECK(spill(wear, side, 10u) == 0);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_ERR_WEAR_CORRUPT);
    side[0] = 'X';
    CHECK(spill(wear, side, (size_t)n) == 0);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_ERR_WEAR_CORRUPT);
    side[0] = 'O';
    CHECK(spill(wear, side, (size_t)n) == 0);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    ooc_nor_close(&nor);

    /* Read-only: no program or erase, the files are never rewritten. */
    side = (free(side), slurp(wear, &n));
    CHECK_RC(ooc_nor_open(&nor, path, &p, OOC_NOR_READ_ONLY), OOC_NOR_OK);
    CHECK_RC(ooc_nor_read(&nor, 0u, small, sizeof small), OOC_NOR_OK);
    CHECK_RC(ooc_nor_program(&nor, SECTOR, small, 1u), OOC_NOR_ERR_READ_ONLY);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_ERR_READ_ONLY);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    side2 = slurp(wear, &n2);
    CHECK(side != NULL && side2 != NULL && n == n2 && memcmp(side, side2, (size_t)n) == 0);
    free(side2);
    /* No-wear mode: the sidecar is neither read nor written, even when mismatched. */
    q = p;
    q.sector_bytes = 2u * SECTOR;
    CHECK_RC(ooc_nor_open(&nor, path, &q, OOC_NOR_NO_WEAR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 2u * SECTOR), OOC_NOR_OK);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    side2 = slurp(wear, &n2);
    CHECK(side != NULL && side2 != NULL && n == n2 && memcmp(side, side2, (size_t)n) == 0);
    free(side2);
    free(side);
    /* Read-only never creates. */
    remove_all(path);
    CHECK_RC(ooc_nor_open(&nor, path, &p, OOC_NOR_READ_ONLY), OOC_NOR_ERR_NOT_FOUND);
    CHECK(!file_exists(path) && !file_exists(wear));
    /* A stale sidecar beside a missing flash file is replaced. */
    q = p;
    q.sector_bytes = 2u * SECTOR;
    CHECK_RC(ooc_nor_open(&nor, path, &q, 0u), OOC_NOR_OK);
    ooc_nor_close(&nor);
    remove(path);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    ooc_nor_close(&nor);
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_OK);
    ooc_nor_close(&nor);
    /* Memory mode writes nothing. */
    remove_all(path);
    CHECK_RC(ooc_nor_open(&nor, NULL, &p, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_erase_sector(&nor, 0u), OOC_NOR_OK);
    CHECK_RC(ooc_nor_sync(&nor), OOC_NOR_OK);
    CHECK_RC(ooc_nor_close(&nor), OOC_NOR_OK);
    CHECK(!file_exists(path) && !file_exists(wear));
    /* An unwritable location: an I/O error, nothing opened. */
    tmp_path(path, sizeof path, "no-such-dir/x.bin", "");
    CHECK_RC(ooc_nor_open(&nor, path, &p, 0u), OOC_NOR_ERR_IO);
}

static void test_strerror(void)
{
    int i, j, distinct = 1;
    for (i = OOC_NOR_ERR_VERIFY; i <= OOC_NOR_OK; i++) {
        CHECK(strcmp(ooc_nor_strerror(i), "unknown error") != 0);
        for (j = OOC_NOR_ERR_VERIFY; j < i; j++) {
            if (strcmp(ooc_nor_strerror(i), ooc_nor_strerror(j)) == 0) {
                distinct = 0;
            }
        }
    }
    CHECK(distinct);
    CHECK(strcmp(ooc_nor_strerror(OOC_NOR_ERR_VERIFY - 1), "unknown error") == 0);
    CHECK(strcmp(ooc_nor_strerror(1), "unknown error") == 0);
    CHECK(OOC_NOR_ERR_SETS_BITS < 0 && OOC_NOR_ERR_POWER_LOSS < 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        tmp_dir = argv[1];
    }
    test_profile();
    test_program();
    test_erase();
    test_read();
    test_counters();
    test_async();
    test_power_loss_program();
    test_power_loss_erase();
    test_persistence();
    test_files_invalid();
    test_strerror();
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0u && passed > 0u ? 0 : 1;
}
