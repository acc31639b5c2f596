/*
 * Tests of the activation spill ring (c_runtime/src/spill.c) on the host NOR flash emulator
 * (c_runtime/ports/host/ooc_nor_emu.c). Built and run by tests/test_spill.py under ASan and UBSan.
 *
 *   test_spill unit                          API, limits, geometries, keys, rollback hardening
 *   test_spill wear ALG N DUMP               N inferences: per-inference cost, wear; DUMP gets the
 *                                            scratch partition's bytes
 *   test_spill tamper ALG FLIPS REPLAYS      bit flips and replays between write and read-back
 *   test_spill nonce ALG N REBOOTS           every counter block under every spill key, logged
 *                                            through an instrumented AES engine
 *   test_spill powerloss ALG                 a cut at every program and erase of one inference,
 *                                            at several ring phases, and during mount
 *   test_spill fuzz ALG N                    random damage to the partition, then mount and run
 *
 * ALG is "cmac" or "poly1305". Every mode prints one JSON object on stdout (with "failed": the
 * number of failed checks, each also described on stderr) and exits 1 when a check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooc/ooc_spill.h"
#include "ooc_nor_emu.h"

#define CHECK_OUT stderr /* stdout carries the JSON result */
#include "check.h"

#define CHECK_RC(expr, want)                                                                 \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        if (rc_ == (want)) {                                                                 \
            passed++;                                                                        \
        } else {                                                                             \
            failed++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s = %d, want %d\n", __FILE__, __LINE__, #expr, rc_, \
                    (int)(want));                                                            \
        }                                                                                    \
    } while (0)

/* The default geometry: a W25Q128JV-like chip, the packer's default 32 KiB scratch partition. */
#define PAGE 256u
#define SECTOR 4096u
#define N_SECTORS 8u
#define BASE_SECTORS 4u /* the partition starts 4 sectors into the chip, not at 0 */
#define MAX_LEN 4096u
#define MAX_TILES 8u

static const uint8_t ROOT_KEY[32] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
    0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
static const uint8_t UID[16] = {0,    0,    0,    0,    0,    0,    0,    0,
                                0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

/* -- randomness (deterministic) ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(rng_next(&rng_state) % n);
}

/* The plaintext of tile `i` of inference `id`: a function of both, so a replay shows. */
static void fill(uint8_t *p, uint32_t n, uint64_t id, uint32_t i)
{
    uint64_t s = (id + 1u) * 0x100000001B3ull + i * 0x9E3779B1u + 1u;
    uint32_t k;
    for (k = 0; k < n; k++) {
        p[k] = (uint8_t)(rng_next(&s) >> 56);
    }
}

static int all_zero(const uint8_t *p, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

/* -- the rig: an emulated chip with the ring on it --------------------------------------------- */

typedef struct {
    ooc_nor_t nor;
    ooc_spill_t sp;
    ooc_port_t port;        /* the emulated chip and the test identity */
    ooc_spill_config_t cfg; /* cfg.port is &port: a rig is never copied */
    uint32_t page, sector, n_sectors, base;
} rig_t;

static int last_op_erase; /* the kind of the last program or erase the port issued */

static int port_read(void *user, uint32_t addr, void *buf, uint32_t len)
{
    return ooc_nor_read(user, addr, buf, len);
}

static int port_program(void *user, uint32_t addr, const void *data, uint32_t len)
{
    last_op_erase = 0;
    return ooc_nor_program((ooc_nor_t *)user, addr, data, len);
}

static int port_erase(void *user, uint32_t addr)
{
    last_op_erase = 1;
    return ooc_nor_erase_sector((ooc_nor_t *)user, addr);
}

static uint32_t parse_alg(const char *s)
{
    return strcmp(s, "poly1305") == 0 ? OOC_IMG_TAG_POLY1305 : OOC_IMG_TAG_AES_CMAC;
}

static int rig_open_geometry(rig_t *r, uint32_t page, uint32_t sector, uint32_t n_sectors,
                             uint32_t alg)
{
    ooc_nor_profile_t p;
    memset(r, 0, sizeof *r);
    p.size_bytes = (n_sectors + 2u * BASE_SECTORS) * sector;
    p.page_bytes = page;
    p.sector_bytes = sector;
    p.read_bytes_per_s = 66e6;
    p.read_command_s = 2e-7;
    p.page_program_s = 7e-4;
    p.sector_erase_s = 0.045;
    r->page = page;
    r->sector = sector;
    r->n_sectors = n_sectors;
    r->base = BASE_SECTORS * sector;
    r->port.read = port_read;
    r->port.program = port_program;
    r->port.erase = port_erase;
    r->port.user = &r->nor;
    r->port.flash_bytes = p.size_bytes;
    r->port.page_bytes = page;
    r->port.sector_bytes = sector;
    r->port.root_key = ROOT_KEY;
    r->port.root_key_bytes = sizeof ROOT_KEY;
    r->port.device_uid = UID;
    r->cfg.port = &r->port;
    r->cfg.base = r->base;
    r->cfg.bytes = n_sectors * sector;
    r->cfg.tag_alg = alg;
    return ooc_nor_open(&r->nor, NULL, &p, 0);
}

static int rig_open(rig_t *r, uint32_t alg)
{
    return rig_open_geometry(r, PAGE, SECTOR, N_SECTORS, alg);
}

static void rig_close(rig_t *r)
{
    ooc_spill_unmount(&r->sp);
    ooc_nor_close(&r->nor);
}

/* A reboot: power back (if it was lost), then mount again. */
static int rig_reboot(rig_t *r)
{
    ooc_nor_fail_after(&r->nor, 0);
    ooc_nor_power_cycle(&r->nor);
    ooc_spill_unmount(&r->sp);
    return ooc_spill_mount(&r->sp, &r->cfg);
}

/* The emulator's erase count of every scratch sector equals what the ring's headers say. */
static int counts_match(rig_t *r)
{
    uint32_t ring[64], n = 0, i;
    const uint32_t *emu = ooc_nor_erase_counts(&r->nor, &n);
    int rc = ooc_spill_erase_counts(&r->sp, ring, 64u);
    if (rc != (int)r->n_sectors || emu == NULL) {
        return 0;
    }
    for (i = 0; i < r->n_sectors; i++) {
        if (ring[i] != emu[r->base / r->sector + i]) {
            return 0;
        }
    }
    return 1;
}

static uint8_t *flash_at(rig_t *r, uint32_t addr)
{
    return r->nor.data + addr; /* test-only: the emulator's memory, to tamper with */
}

static uint32_t position(const rig_t *r)
{
    ooc_spill_status_t st;
    return ooc_spill_status(&r->sp, &st) == OOC_OK ? st.position : 0u;
}

/* -- one inference: spill every tile of a pattern, then read each back ------------------------ */

typedef struct {
    uint32_t tensor, tile, len;
} tile_t;

/* The spilling build of the wear, tamper and power-loss tests: 4240 ring bytes per inference. */
static const tile_t PATTERN[] = {{3, 0, 1500}, {3, 1, 1500}, {7, 0, 700}, {9, 0, 333}};
#define N_PATTERN (sizeof PATTERN / sizeof PATTERN[0])
/* Small tiles for the nonce test: many writes, few blocks. */
static const tile_t SMALL[] = {{1, 0, 64}, {2, 0, 200}, {2, 1, 33}};
#define N_SMALL (sizeof SMALL / sizeof SMALL[0])

typedef struct {
    uint32_t reads_ok;   /* reads that returned the right bytes */
    uint32_t wrong;      /* reads that returned success with other bytes: must stay 0 */
    uint32_t leaked;     /* failed reads whose output was not wiped: must stay 0 */
} tally_t;

static int write_all(rig_t *r, const tile_t *pat, uint32_t n, uint64_t id, ooc_spill_ref_t *refs)
{
    static uint8_t data[MAX_LEN];
    uint32_t i;
    for (i = 0; i < n; i++) {
        int rc;
        fill(data, pat[i].len, id, i);
        rc = ooc_spill_write(&r->sp, pat[i].tensor, pat[i].tile, data, pat[i].len, &refs[i]);
        if (rc < 0) {
            return rc;
        }
    }
    return OOC_OK;
}

static int read_one(rig_t *r, const tile_t *t, uint32_t i, uint64_t id, const ooc_spill_ref_t *ref,
                    tally_t *tally)
{
    static uint8_t want[MAX_LEN], out[MAX_LEN];
    int rc;
    memset(out, 0x5A, t->len);
    rc = ooc_spill_read(&r->sp, ref, t->tensor, t->tile, out, t->len);
    fill(want, t->len, id, i);
    if (rc == OOC_OK) {
        if (memcmp(out, want, t->len) == 0) {
            tally->reads_ok++;
        } else {
            tally->wrong++;
        }
    } else if (!all_zero(out, t->len)) {
        tally->leaked++;
    }
    return rc;
}

/* Read back in reverse order; the first error, or 0. */
static int read_all(rig_t *r, const tile_t *pat, uint32_t n, uint64_t id,
                    const ooc_spill_ref_t *refs, tally_t *tally)
{
    uint32_t i;
    int first = OOC_OK;
    for (i = n; i-- > 0;) {
        int rc = read_one(r, &pat[i], i, id, &refs[i], tally);
        if (rc < 0 && first == OOC_OK) {
            first = rc;
        }
    }
    return first;
}

static int inference(rig_t *r, const tile_t *pat, uint32_t n, uint64_t id, tally_t *tally)
{
    ooc_spill_ref_t refs[MAX_TILES];
    int rc = write_all(r, pat, n, id, refs);
    return rc < 0 ? rc : read_all(r, pat, n, id, refs, tally);
}

static int predict(const rig_t *r, uint32_t pos, const tile_t *pat, uint32_t n,
                   ooc_spill_cost_t *cost, uint32_t *pos_out)
{
    ooc_spill_geometry_t g;
    uint32_t lens[MAX_TILES], i;
    g.page_bytes = r->page;
    g.sector_bytes = r->sector;
    g.n_sectors = r->n_sectors;
    for (i = 0; i < n; i++) {
        lens[i] = pat[i].len;
    }
    return ooc_spill_predict(&g, pos, lens, n, cost, pos_out);
}

static void print_u32s(const char *name, const uint32_t *v, uint32_t n, int comma)
{
    uint32_t i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; i++) {
        printf("%s%u", i ? ", " : "", (unsigned)v[i]);
    }
    printf("]%s\n", comma ? "," : "");
}

static int finish(void)
{
    printf("\"passed\": %u, \"failed\": %u}\n", passed, failed);
    return failed == 0u && passed > 0u ? 0 : 1;
}

/* == unit ====================================================================================== */

static void unit_config(void)
{
    rig_t r;
    ooc_spill_config_t c;
    ooc_port_t p;
    ooc_spill_ref_t ref;
    uint8_t b[16] = {0};
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == OOC_NOR_OK);
    CHECK_RC(ooc_spill_mount(NULL, &r.cfg), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_mount(&r.sp, NULL), OOC_ERR_ARG);
#define BAD(field, value)                                                                    \
    do {                                                                                     \
        c = r.cfg;                                                                           \
        c.field = value;                                                                     \
        CHECK_RC(ooc_spill_mount(&r.sp, &c), OOC_ERR_ARG);                                   \
    } while (0)
#define BAD_PORT(field, value)                                                               \
    do {                                                                                     \
        p = r.port;                                                                          \
        p.field = value;                                                                     \
        c = r.cfg;                                                                           \
        c.port = &p;                                                                         \
        CHECK_RC(ooc_spill_mount(&r.sp, &c), OOC_ERR_ARG);                                   \
    } while (0)
    BAD(port, NULL);
    BAD_PORT(read, NULL);
    BAD_PORT(program, NULL);
    BAD_PORT(erase, NULL);
    BAD_PORT(root_key, NULL);
    BAD_PORT(root_key_bytes, 24u);
    BAD_PORT(device_uid, NULL);
    BAD_PORT(flash_bytes, 0u);
    BAD_PORT(flash_bytes, r.base + N_SECTORS * SECTOR - 1u); /* the partition overruns the flash */
    BAD(key_bytes, 24u);
    BAD(tag_alg, 3u);
    BAD_PORT(page_bytes, 8u);
    BAD_PORT(page_bytes, 512u); /* larger than OOC_SPILL_MAX_PAGE_BYTES */
    BAD_PORT(page_bytes, 96u);
    BAD_PORT(page_bytes, 0u);   /* a writing port without its geometry */
    BAD_PORT(sector_bytes, 128u);
    BAD_PORT(sector_bytes, 6000u);
    BAD(base, SECTOR / 2u);
    BAD(bytes, SECTOR);     /* one sector: no ring */
    BAD(bytes, SECTOR * 3u / 2u);
    BAD(base, 0xFFFFF000u); /* wraps the address space */
#undef BAD
#undef BAD_PORT
    /* Nothing was written by the refused mounts. */
    CHECK(ooc_nor_contents(&r.nor)[r.base] == 0xFFu);
    CHECK_RC(ooc_spill_write(&r.sp, 0, 0, b, 16, &ref), OOC_ERR_STATE);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 0, 0, b, 16), OOC_ERR_STATE);
    CHECK_RC(ooc_spill_write(NULL, 0, 0, b, 16, &ref), OOC_ERR_STATE);
    CHECK(ooc_spill_boot(&r.sp) == 0u);
    rig_close(&r);
}

static void unit_basics(uint32_t alg)
{
    rig_t r;
    ooc_spill_status_t st;
    ooc_spill_ref_t ref, ref2, old;
    static uint8_t data[MAX_LEN], out[MAX_LEN];
    uint32_t max = ooc_spill_max_payload(SECTOR), counts[N_SECTORS], i;
    const uint8_t *mem;
    CHECK(max == 4016u);
    CHECK(ooc_spill_record_bytes(1) == 64u && ooc_spill_record_bytes(16) == 64u &&
          ooc_spill_record_bytes(17) == 80u && ooc_spill_record_bytes(max) == SECTOR - 32u);
    CHECK(rig_open(&r, alg) == OOC_NOR_OK);
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 1u);
    CHECK_RC(ooc_spill_status(&r.sp, &st), OOC_OK);
    /* A blank partition: sector 0 used as it is (no erase), its header, the boot record. */
    CHECK(st.boot == 1u && st.head == 0u && st.head_ring_seq == 1u && st.position == 64u &&
          st.next_seq == 0u && st.recovered == 0u && st.n_sectors == N_SECTORS);
    CHECK(st.counters.erase_ops == 0u && st.counters.program_ops == 2u &&
          st.counters.bytes_programmed == 64u);
    mem = ooc_nor_contents(&r.nor) + r.base;
    CHECK(memcmp(mem, "OOCS", 4) == 0 && mem[32] == OOC_SPILL_RECORD_BOOT);

    /* Arguments. */
    fill(data, max, 1, 0);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 0, NULL, 10, &ref), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 0, data, 0, &ref), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 0, data, 10, NULL), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 0, data, max + 1u, &ref), OOC_ERR_SPILL_TOO_BIG);
    CHECK_RC(ooc_spill_status(&r.sp, &st), OOC_OK);
    CHECK(st.next_seq == 0u && st.counters.program_ops == 2u); /* refused: nothing spent */

    /* The largest spill takes a sector of its own. */
    CHECK_RC(ooc_spill_write(&r.sp, 5, 2, data, max, &ref), OOC_OK);
    CHECK(ref.offset == SECTOR + 32u && ref.len == max && ref.tensor == 5u && ref.tile == 2u &&
          ref.boot == 1u && ref.ring_seq == 2u && ref.seq == 0u);
    CHECK_RC(ooc_spill_status(&r.sp, &st), OOC_OK);
    CHECK(st.head == 1u && st.position == SECTOR);
    memset(out, 0x77, max);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 5, 2, out, max), OOC_OK);
    CHECK(memcmp(out, data, max) == 0);
    /* The plaintext is not on the flash. */
    CHECK(memcmp(ooc_nor_contents(&r.nor) + r.base + ref.offset + 32u, data, 64) != 0);
    /* Reads must name the ref's tile and length. */
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 5, 3, out, max), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 6, 2, out, max), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 5, 2, out, max - 1u), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 5, 2, NULL, max), OOC_ERR_ARG);
    ref2 = ref;
    ref2.seq = 7u; /* not written yet */
    CHECK_RC(ooc_spill_read(&r.sp, &ref2, 5, 2, out, max), OOC_ERR_ARG);
    ref2 = ref;
    ref2.offset += 16u; /* a garbled ref pointing into the record */
    CHECK_RC(ooc_spill_read(&r.sp, &ref2, 5, 2, out, max), OOC_ERR_ARG);
    ref2 = ref;
    ref2.offset -= SECTOR; /* the wrong sector for its ring sequence */
    CHECK_RC(ooc_spill_read(&r.sp, &ref2, 5, 2, out, max), OOC_ERR_ARG);
    ref2 = ref;
    ref2.ring_seq = 9u;
    CHECK_RC(ooc_spill_read(&r.sp, &ref2, 5, 2, out, max), OOC_ERR_ARG);

    /* A spill stays readable until the ring comes back to its sector. */
    old = ref;
    for (i = 0; i < N_SECTORS - 1u; i++) { /* sectors 2 .. 7, then 0 again */
        CHECK_RC(ooc_spill_write(&r.sp, 5, 3, data, max, &ref2), OOC_OK);
    }
    CHECK_RC(ooc_spill_read(&r.sp, &old, 5, 2, out, max), OOC_OK); /* 7 openings on: alive */
    CHECK(memcmp(out, data, max) == 0);
    CHECK_RC(ooc_spill_write(&r.sp, 5, 3, data, max, &ref2), OOC_OK); /* back on sector 1 */
    memset(out, 0x77, max);
    CHECK_RC(ooc_spill_read(&r.sp, &old, 5, 2, out, max), OOC_ERR_SPILL_STALE);
    CHECK(all_zero(out, max) == 0); /* refused before reading: out untouched */
    CHECK_RC(ooc_spill_read(&r.sp, &ref2, 5, 3, out, max), OOC_OK);
    /* Sector 1 was erased twice, the others once (sector 0 only when the ring came back); the
       headers agree with the emulator. */
    CHECK_RC(ooc_spill_erase_counts(&r.sp, counts, N_SECTORS), (int)N_SECTORS);
    CHECK(counts[0] == 1u && counts[1] == 2u && counts[2] == 1u && counts[7] == 1u);
    CHECK(counts_match(&r));
    CHECK_RC(ooc_spill_erase_counts(&r.sp, NULL, 0), (int)N_SECTORS);
    CHECK_RC(ooc_spill_erase_counts(&r.sp, NULL, 1), OOC_ERR_ARG);

    /* A new mount is a new boot: refs from the old one are stale, the sequence restarts. */
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 2u);
    CHECK_RC(ooc_spill_read(&r.sp, &ref2, 5, 3, out, max), OOC_ERR_SPILL_STALE);
    CHECK_RC(ooc_spill_write(&r.sp, 8, 1, data, 100, &ref), OOC_OK);
    CHECK(ref.seq == 0u && ref.boot == 2u);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 8, 1, out, 100), OOC_OK);
    CHECK(memcmp(out, data, 100) == 0);

    /* A failed program leaves the handle refusing until the next mount. */
    ooc_nor_fail_after(&r.nor, 1);
    CHECK_RC(ooc_spill_write(&r.sp, 8, 2, data, 100, &ref2), OOC_ERR_IO);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 8, 1, out, 100), OOC_ERR_IO);
    CHECK_RC(ooc_spill_write(&r.sp, 8, 2, data, 100, &ref2), OOC_ERR_IO);
    CHECK_RC(ooc_spill_status(&r.sp, &st), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 0u);
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 3u);
    CHECK_RC(ooc_spill_status(&r.sp, &st), OOC_OK);
    CHECK(st.recovered == 1u); /* the cut record's header ended that sector */

    /* Unmount wipes the keys. */
    ooc_spill_unmount(&r.sp);
    CHECK(all_zero((const uint8_t *)&r.sp, sizeof r.sp));
    CHECK_RC(ooc_spill_status(&r.sp, &st), OOC_ERR_STATE);
    rig_close(&r);
}

/* Predicted == measured for random spills on small and odd geometries (records across pages,
   headers across pages, pages of 16 bytes). */
static void unit_geometries(void)
{
    static const uint32_t geo[][3] = {{16, 256, 2},  {32, 256, 3},   {64, 512, 4},
                                      {256, 4096, 2}, {128, 1024, 5}, {256, 65536, 2}};
    static uint8_t data[MAX_LEN];
    uint32_t g, k;
    for (g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        rig_t r;
        int ok = 1;
        CHECK(rig_open_geometry(&r, geo[g][0], geo[g][1], geo[g][2],
                                g % 2u ? OOC_IMG_TAG_POLY1305 : OOC_IMG_TAG_AES_CMAC) == 0);
        CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
        for (k = 0; k < 200u && ok; k++) {
            uint32_t max = ooc_spill_max_payload(r.sector);
            uint32_t len = 1u + rnd(max < MAX_LEN ? max : MAX_LEN), pos, pos_after;
            tile_t t;
            ooc_spill_cost_t c;
            ooc_spill_ref_t ref;
            ooc_nor_counters_t nc;
            tally_t tally = {0, 0, 0};
            t.tensor = k;
            t.tile = k % 3u;
            t.len = len;
            pos = position(&r);
            ok &= predict(&r, pos, &t, 1, &c, &pos_after) == OOC_OK;
            ooc_nor_reset_counters(&r.nor);
            fill(data, len, k, 0);
            ok &= ooc_spill_write(&r.sp, t.tensor, t.tile, data, len, &ref) == OOC_OK;
            ooc_nor_get_counters(&r.nor, &nc);
            ok &= nc.bytes_programmed == c.bytes_programmed && nc.program_ops == c.program_ops &&
                  nc.erase_ops == c.erase_ops && position(&r) == pos_after;
            ok &= read_one(&r, &t, 0, k, &ref, &tally) == OOC_OK && tally.reads_ok == 1u;
        }
        CHECK(ok);
        CHECK(counts_match(&r));
        rig_close(&r);
    }
}

static void unit_predict(void)
{
    ooc_spill_geometry_t g = {PAGE, SECTOR, N_SECTORS};
    ooc_spill_cost_t c;
    uint32_t lens[3] = {1500, 1500, 1000}, pos = 0;
    CHECK_RC(ooc_spill_predict(&g, 64, lens, 3, &c, &pos), OOC_OK);
    /* 64 + 1552 + 1552 = 3168, then 1056 does not fit: slot, erase, header, then at 32. */
    CHECK(c.erase_ops == 1u && c.sectors_spanned == 2u && pos == 32u + 1056u);
    CHECK(c.bytes_programmed == 3u * 48u + 4000u + 8u + 32u);
    /* Pages: 64..1612 touches 7, 1616..3164 touches 7, slot 1, header 1, 32..1080 touches 5. */
    CHECK(c.program_ops == 7u + 7u + 1u + 1u + 5u);
    CHECK_RC(ooc_spill_predict(&g, SECTOR, lens, 1, &c, &pos), OOC_OK); /* a full head */
    CHECK(c.erase_ops == 1u && c.sectors_spanned == 1u && pos == 32u + 1552u);
    CHECK_RC(ooc_spill_predict(&g, 65, lens, 1, &c, NULL), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_predict(&g, 16, lens, 1, &c, NULL), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_predict(&g, SECTOR + 16u, lens, 1, &c, NULL), OOC_ERR_ARG);
    lens[0] = 0;
    CHECK_RC(ooc_spill_predict(&g, 64, lens, 1, &c, NULL), OOC_ERR_ARG);
    lens[0] = 4017;
    CHECK_RC(ooc_spill_predict(&g, 64, lens, 1, &c, NULL), OOC_ERR_SPILL_TOO_BIG);
    g.n_sectors = 1;
    CHECK_RC(ooc_spill_predict(&g, 64, lens, 0, &c, NULL), OOC_ERR_ARG);
    CHECK_RC(ooc_spill_predict(NULL, 64, lens, 0, &c, NULL), OOC_ERR_ARG);
}

/* The key schedule: the boot counter, the salt and the trusted boot number. */
static void unit_keys(void)
{
    static uint8_t data[512], out[512], first[512 + 48];
    uint8_t salt[OOC_SPILL_SALT_BYTES];
    ooc_spill_ref_t ref;
    rig_t r;
    uint32_t i, rec_len = 48u + sizeof data;
    fill(data, sizeof data, 42, 0);
    for (i = 0; i < sizeof salt; i++) {
        salt[i] = (uint8_t)(0xA0u + i);
    }
    /* Same boot, same write: identical ciphertext (deterministic); another salt: different. */
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, sizeof data, &ref), OOC_OK);
    memcpy(first, flash_at(&r, r.base + ref.offset), rec_len);
    rig_close(&r);
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, sizeof data, &ref), OOC_OK);
    CHECK(memcmp(first, flash_at(&r, r.base + ref.offset), rec_len) == 0);
    rig_close(&r);
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    r.cfg.boot_salt = salt;
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, sizeof data, &ref), OOC_OK);
    CHECK(memcmp(first, flash_at(&r, r.base + ref.offset), 32) == 0); /* same header */
    CHECK(memcmp(first + 32, flash_at(&r, r.base + ref.offset) + 32, rec_len - 32u) != 0);
    rig_close(&r);
    /* Another device (UID): other keys. */
    {
        static const uint8_t uid2[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
        CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
        r.port.device_uid = uid2;
        CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
        CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, sizeof data, &ref), OOC_OK);
        CHECK(memcmp(first + 32, flash_at(&r, r.base + ref.offset) + 32, rec_len - 32u) != 0);
        rig_close(&r);
    }
    /* 16-byte spill keys under a 32-byte root key work too. */
    CHECK(rig_open(&r, OOC_IMG_TAG_POLY1305) == 0);
    r.cfg.key_bytes = 16u;
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, sizeof data, &ref), OOC_OK);
    CHECK_RC(ooc_spill_read(&r.sp, &ref, 1, 1, out, sizeof data), OOC_OK);
    CHECK(memcmp(out, data, sizeof data) == 0);
    rig_close(&r);
    /* min_boot: the boot number from trusted storage, whatever the ring holds. */
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    r.cfg.min_boot = 1000u;
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 1000u);
    r.cfg.min_boot = 0u;
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 1001u); /* without it the ring's highest + 1 */
    r.cfg.min_boot = 7u;
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == 7u); /* the ring's higher numbers are not believed */
    r.cfg.min_boot = UINT32_MAX;
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == UINT32_MAX);
    r.cfg.min_boot = 0u;
    CHECK_RC(rig_reboot(&r), OOC_ERR_SPILL_EXHAUSTED); /* no boot number left on the ring */
    r.cfg.min_boot = 8u;
    CHECK_RC(rig_reboot(&r), OOC_OK); /* trusted storage still has numbers */
    CHECK(ooc_spill_boot(&r.sp) == 8u);
    rig_close(&r);
}

/* The threat the hardening options answer: the attacker erases the scratch partition between
   boots, so the counter found on the flash goes back, and replays a spill of the earlier boot
   that had the same number. Without trusted state that replay verifies (the documented limit);
   with a TRNG salt or a trusted min_boot it does not. Returns 1 when the replay was accepted. */
static int rollback_replay(int salted, int floor)
{
    static uint8_t data[300], other[300], out[300], saved[300 + 48];
    uint8_t salt[OOC_SPILL_SALT_BYTES];
    ooc_spill_ref_t ref;
    rig_t r;
    uint32_t i, rec = 48u + sizeof data;
    int rc;
    fill(data, sizeof data, 1, 0);
    fill(other, sizeof other, 2, 0);
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    memset(salt, 0x11, sizeof salt);
    r.cfg.boot_salt = salted ? salt : NULL;
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(ooc_spill_write(&r.sp, 4, 0, data, sizeof data, &ref), OOC_OK);
    memcpy(saved, flash_at(&r, r.base + ref.offset), rec);
    /* The attacker wipes the partition: the ring's counter is lost. */
    for (i = 0; i < r.n_sectors; i++) {
        memset(flash_at(&r, r.base + i * r.sector), 0xFF, r.sector);
    }
    memset(salt, 0x22, sizeof salt); /* a TRNG gives new bytes on every boot */
    r.cfg.min_boot = floor ? ooc_spill_boot(&r.sp) + 1u : 0u;
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK(ooc_spill_boot(&r.sp) == (floor ? 2u : 1u));
    CHECK_RC(ooc_spill_write(&r.sp, 4, 0, other, sizeof other, &ref), OOC_OK);
    memcpy(flash_at(&r, r.base + ref.offset), saved, rec);
    rc = ooc_spill_read(&r.sp, &ref, 4, 0, out, sizeof out);
    rig_close(&r);
    if (rc == OOC_OK) {
        return memcmp(out, data, sizeof data) == 0;
    }
    CHECK(rc == OOC_ERR_AUTH && all_zero(out, sizeof out));
    return 0;
}

static void unit_trusted_boot(uint32_t *trusted, uint32_t *untrusted);

static int mode_unit(void)
{
    uint32_t trusted[2] = {0u, 0u}, untrusted = 0u;
    int plain, salted, floored;
    unit_config();
    unit_basics(OOC_IMG_TAG_AES_CMAC);
    unit_basics(OOC_IMG_TAG_POLY1305);
    unit_geometries();
    unit_predict();
    unit_keys();
    plain = rollback_replay(0, 0);
    salted = rollback_replay(1, 0);
    floored = rollback_replay(0, 1);
    CHECK(plain == 1 && salted == 0 && floored == 0);
    unit_trusted_boot(trusted, &untrusted);
    printf("{\"mode\": \"unit\", \"rollback_replay_accepted\": {\"counter_only\": %s, "
           "\"salt\": %s, \"min_boot\": %s},\n",
           plain ? "true" : "false", salted ? "true" : "false", floored ? "true" : "false");
    printf("\"forged_boot_numbers\": {\"trusted_boots\": [%u, %u], \"untrusted_boot\": %u},\n",
           (unsigned)trusted[0], (unsigned)trusted[1], (unsigned)untrusted);
    return finish();
}

/* == wear ====================================================================================== */

static int mode_wear(uint32_t alg, uint32_t n, const char *dump)
{
    static uint32_t pos_log[20000], meas[20000][3], pred[20000][3];
    uint32_t i, counts[N_SECTORS], emu_counts[N_SECTORS], n_emu = 0, mx = 0, mn = UINT32_MAX;
    uint64_t bytes = 0, ops = 0, erases = 0, p_bytes = 0, p_ops = 0, p_erases = 0;
    const uint32_t *emu;
    uint32_t mismatches = 0, ring_mismatches = 0, bad = 0;
    tally_t tally = {0, 0, 0};
    ooc_spill_status_t st0, st1;
    rig_t r;
    FILE *f;
    if (n > 20000u) {
        n = 20000u;
    }
    CHECK(rig_open(&r, alg) == 0);
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    for (i = 0; i < n; i++) {
        ooc_spill_cost_t c;
        ooc_nor_counters_t nc;
        uint32_t after = 0;
        ooc_spill_status(&r.sp, &st0);
        pos_log[i] = st0.position;
        CHECK_RC(predict(&r, st0.position, PATTERN, N_PATTERN, &c, &after), OOC_OK);
        ooc_nor_reset_counters(&r.nor);
        if (inference(&r, PATTERN, N_PATTERN, i, &tally) != OOC_OK) {
            bad++;
        }
        ooc_nor_get_counters(&r.nor, &nc);
        ooc_spill_status(&r.sp, &st1);
        meas[i][0] = (uint32_t)nc.bytes_programmed;
        meas[i][1] = (uint32_t)nc.program_ops;
        meas[i][2] = (uint32_t)nc.erase_ops;
        pred[i][0] = (uint32_t)c.bytes_programmed;
        pred[i][1] = (uint32_t)c.program_ops;
        pred[i][2] = (uint32_t)c.erase_ops;
        mismatches += memcmp(meas[i], pred[i], sizeof meas[i]) != 0 || st1.position != after;
        /* The ring's own counters agree with the emulator's. */
        ring_mismatches +=
            st1.counters.bytes_programmed - st0.counters.bytes_programmed != nc.bytes_programmed ||
            st1.counters.program_ops - st0.counters.program_ops != nc.program_ops ||
            st1.counters.erase_ops - st0.counters.erase_ops != nc.erase_ops;
        bytes += nc.bytes_programmed;
        ops += nc.program_ops;
        erases += nc.erase_ops;
        p_bytes += c.bytes_programmed;
        p_ops += c.program_ops;
        p_erases += c.erase_ops;
    }
    CHECK(bad == 0u && tally.wrong == 0u && tally.reads_ok == n * N_PATTERN);
    CHECK(mismatches == 0u && ring_mismatches == 0u);
    CHECK(bytes == p_bytes && ops == p_ops && erases == p_erases);
    emu = ooc_nor_erase_counts(&r.nor, &n_emu);
    CHECK_RC(ooc_spill_erase_counts(&r.sp, counts, N_SECTORS), (int)N_SECTORS);
    for (i = 0; i < N_SECTORS; i++) {
        emu_counts[i] = emu[BASE_SECTORS + i];
        mx = emu_counts[i] > mx ? emu_counts[i] : mx;
        mn = emu_counts[i] < mn ? emu_counts[i] : mn;
    }
    CHECK(memcmp(counts, emu_counts, sizeof counts) == 0);
    /* Nothing outside the partition was touched. */
    for (i = 0; i < n_emu; i++) {
        if (i < BASE_SECTORS || i >= BASE_SECTORS + N_SECTORS) {
            CHECK(emu[i] == 0u);
        }
    }
    CHECK(mx - mn <= 1u);
    f = fopen(dump, "wb");
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(fwrite(ooc_nor_contents(&r.nor) + r.base, 1, N_SECTORS * SECTOR, f) ==
              N_SECTORS * SECTOR);
        fclose(f);
    }
    printf("{\"mode\": \"wear\", \"alg\": %u, \"inferences\": %u, \"page\": %u, \"sector\": %u, "
           "\"n_sectors\": %u, \"base\": %u,\n",
           (unsigned)alg, (unsigned)n, PAGE, SECTOR, N_SECTORS, (unsigned)r.base);
    printf("\"pattern\": [");
    for (i = 0; i < N_PATTERN; i++) {
        printf("%s%u", i ? ", " : "", (unsigned)PATTERN[i].len);
    }
    printf("],\n");
    print_u32s("positions", pos_log, n, 1);
    printf("\"measured\": [");
    for (i = 0; i < n; i++) {
        printf("%s[%u, %u, %u]", i ? ", " : "", (unsigned)meas[i][0], (unsigned)meas[i][1],
               (unsigned)meas[i][2]);
    }
    printf("],\n\"predicted\": [");
    for (i = 0; i < n; i++) {
        printf("%s[%u, %u, %u]", i ? ", " : "", (unsigned)pred[i][0], (unsigned)pred[i][1],
               (unsigned)pred[i][2]);
    }
    printf("],\n");
    print_u32s("emulator_erase_counts", emu_counts, N_SECTORS, 1);
    print_u32s("ring_erase_counts", counts, N_SECTORS, 1);
    ooc_spill_status(&r.sp, &st1);
    printf("\"final_position\": %u, \"reads_ok\": %u, \"wrong\": %u, \"boot\": %u,\n",
           (unsigned)st1.position, (unsigned)tally.reads_ok, (unsigned)tally.wrong,
           (unsigned)st1.boot);
    printf("\"total_bytes_programmed\": %llu, \"total_program_ops\": %llu, "
           "\"total_erases\": %llu,\n",
           (unsigned long long)bytes, (unsigned long long)ops, (unsigned long long)erases);
    rig_close(&r);
    return finish();
}

/* == tamper ==================================================================================== */

static void snapshot(rig_t *r, const ooc_spill_ref_t *refs, uint8_t (*out)[MAX_LEN + 64])
{
    uint32_t i;
    for (i = 0; i < N_PATTERN; i++) {
        memcpy(out[i], flash_at(r, r->base + refs[i].offset), 48u + refs[i].len);
    }
}

static int mode_tamper(uint32_t alg, uint32_t flips, uint32_t replays)
{
    static uint8_t boot1[N_PATTERN][MAX_LEN + 64], older[N_PATTERN][MAX_LEN + 64],
        cur[N_PATTERN][MAX_LEN + 64];
    ooc_spill_ref_t refs[MAX_TILES];
    uint32_t t, i, detected = 0, missed = 0, other_err = 0, collateral_bad = 0, kinds[4] = {0};
    uint32_t flip_header = 0, flip_payload = 0, flip_tag = 0, replay_detected = 0;
    uint32_t replay_reads = 0;
    uint64_t id = 0;
    tally_t tally = {0, 0, 0};
    rig_t r;
    CHECK(rig_open(&r, alg) == 0);
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    /* Boot 1: a few clean inferences, keeping one's records for cross-boot replays. */
    for (t = 0; t < 4u; t++, id++) {
        CHECK_RC(write_all(&r, PATTERN, N_PATTERN, id, refs), OOC_OK);
        if (t == 2u) {
            snapshot(&r, refs, boot1);
        }
        CHECK_RC(read_all(&r, PATTERN, N_PATTERN, id, refs, &tally), OOC_OK);
    }
    CHECK_RC(rig_reboot(&r), OOC_OK);
    CHECK_RC(write_all(&r, PATTERN, N_PATTERN, id, refs), OOC_OK);
    snapshot(&r, refs, older);
    CHECK_RC(read_all(&r, PATTERN, N_PATTERN, id++, refs, &tally), OOC_OK);

    /* Bit flips: one bit of one record (header, ciphertext or tag) between write and read. */
    for (t = 0; t < flips; t++, id++) {
        uint32_t victim = rnd(N_PATTERN), len = PATTERN[victim].len, region = rnd(3), at;
        /* Header, ciphertext and tag are hit about equally often. */
        at = region == 0u ? rnd(32) : region == 1u ? 32u + rnd(len) : 32u + len + rnd(16);
        CHECK_RC(write_all(&r, PATTERN, N_PATTERN, id, refs), OOC_OK);
        *flash_at(&r, r.base + refs[victim].offset + at) ^= (uint8_t)(1u << rnd(8));
        flip_header += at < 32u;
        flip_payload += at >= 32u && at < 32u + len;
        flip_tag += at >= 32u + len;
        for (i = 0; i < N_PATTERN; i++) {
            int rc = read_one(&r, &PATTERN[i], i, id, &refs[i], &tally);
            if (i == victim) {
                detected += rc == OOC_ERR_AUTH;
                missed += rc == OOC_OK;
                other_err += rc != OOC_OK && rc != OOC_ERR_AUTH;
            } else {
                collateral_bad += rc != OOC_OK;
            }
        }
    }
    /* Replays of older spills of the same tensor and tile: whole records from this boot or the
       last, the ciphertext and tag under the current header, or two records swapped. */
    for (t = 0; t < replays; t++, id++) {
        uint32_t kind = t % 4u, victim = rnd(N_PATTERN);
        uint8_t *at;
        int hit[N_PATTERN] = {0};
        CHECK_RC(write_all(&r, PATTERN, N_PATTERN, id, refs), OOC_OK);
        snapshot(&r, refs, cur);
        kinds[kind]++;
        if (kind == 3u) {
            /* Tiles 0 and 1 of tensor 3 have the same length: swap them. */
            memcpy(flash_at(&r, r.base + refs[0].offset), cur[1], 48u + refs[1].len);
            memcpy(flash_at(&r, r.base + refs[1].offset), cur[0], 48u + refs[0].len);
            hit[0] = hit[1] = 1;
        } else {
            at = flash_at(&r, r.base + refs[victim].offset);
            if (kind == 0u) {
                memcpy(at, older[victim], 48u + refs[victim].len);
            } else if (kind == 1u) {
                memcpy(at, boot1[victim], 48u + refs[victim].len);
            } else {
                memcpy(at + 32u, older[victim] + 32u, 16u + refs[victim].len);
            }
            hit[victim] = 1;
        }
        for (i = 0; i < N_PATTERN; i++) {
            int rc = read_one(&r, &PATTERN[i], i, id, &refs[i], &tally);
            if (hit[i]) {
                replay_reads++;
                replay_detected += rc == OOC_ERR_AUTH;
                missed += rc == OOC_OK;
                other_err += rc != OOC_OK && rc != OOC_ERR_AUTH;
            } else {
                collateral_bad += rc != OOC_OK;
            }
        }
        memcpy(older, cur, sizeof cur);
    }
    CHECK(detected == flips && replay_detected == replay_reads && missed == 0u &&
          other_err == 0u && collateral_bad == 0u);
    CHECK(tally.wrong == 0u && tally.leaked == 0u);
    /* The ring goes on after all that. */
    CHECK_RC(inference(&r, PATTERN, N_PATTERN, id, &tally), OOC_OK);
    printf("{\"mode\": \"tamper\", \"alg\": %u, \"flips\": %u, \"flips_detected\": %u, "
           "\"flips_in_header\": %u, \"flips_in_ciphertext\": %u, \"flips_in_tag\": %u,\n",
           (unsigned)alg, (unsigned)flips, (unsigned)detected, (unsigned)flip_header,
           (unsigned)flip_payload, (unsigned)flip_tag);
    printf("\"replays\": %u, \"replay_reads\": %u, \"replays_detected\": %u, "
           "\"replay_kinds\": {\"same_boot\": %u, \"previous_boot\": %u, \"header_kept\": %u, "
           "\"swapped\": %u},\n",
           (unsigned)replays, (unsigned)replay_reads, (unsigned)replay_detected,
           (unsigned)kinds[0], (unsigned)kinds[1], (unsigned)kinds[2], (unsigned)kinds[3]);
    printf("\"accepted_tampered\": %u, \"other_errors\": %u, \"untampered_failed\": %u, "
           "\"wrong_outputs\": %u, \"unwiped_outputs\": %u, \"reads_ok\": %u,\n",
           (unsigned)missed, (unsigned)other_err, (unsigned)collateral_bad,
           (unsigned)tally.wrong, (unsigned)tally.leaked, (unsigned)tally.reads_ok);
    rig_close(&r);
    return finish();
}

/* == byte helpers (independent of spill.c) ================================================= */

static void put32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* zlib's CRC-32, to forge headers that pass the torn-write check. */
static uint32_t crc32z(const uint8_t *p, uint32_t n)
{
    uint32_t c = 0xFFFFFFFFu, i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

static uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* == trusted boot numbers ===================================================================== */

/* The attacker writes boot numbers at the counter's limit into the ring: a sector header (the
   head's, and one in an erased sector) and a boot record, with CRCs that pass (zlib's CRC is no
   secret). With min_boot from trusted storage the ring's numbers are not believed: the boot is
   min_boot, and the ring works on, before and after the genuine flash is restored. Without
   trusted storage the ring believes them (the documented limit): the next mount is exhausted.
   forge_boot_numbers() saves the head sector (sector 0) in `saved`, then forges. */
static void forge_boot_numbers(rig_t *r, uint8_t *saved)
{
    uint8_t *head = flash_at(r, r->base), *empty = flash_at(r, r->base + 5u * SECTOR), *rec;
    memcpy(saved, head, SECTOR);
    put32le(head + 16, 0xFFFFFFFEu); /* sector header `boot` */
    put32le(head + 20, crc32z(head, 20));
    memset(empty, 0xFF, 32);
    memcpy(empty, "OOCS", 4);
    empty[4] = 1;
    empty[5] = 0;
    empty[6] = 32;
    empty[7] = 0;
    put32le(empty + 8, 0u);           /* erase_count */
    put32le(empty + 12, 1u);          /* ring_seq: an old sector, not the head */
    put32le(empty + 16, 0xFFFFFFFFu); /* boot */
    put32le(empty + 20, crc32z(empty, 20));
    rec = head + position(r); /* a boot record where the next one would go */
    memset(rec, 0, 32);
    rec[0] = 2;
    rec[1] = 1;
    put32le(rec + 8, 0xFFFFFFFEu);
    put32le(rec + 28, crc32z(rec, 28));
}

/* The boot numbers taken: *trusted, the two boots after the forgery (with it, then restored);
   *untrusted, the boot after it without trusted storage (0: the mount was exhausted). */
static void unit_trusted_boot(uint32_t *trusted, uint32_t *untrusted)
{
    static uint8_t saved[SECTOR], blank5[32];
    tally_t tally = {0, 0, 0};
    rig_t r;
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    r.cfg.min_boot = 1u;
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(inference(&r, SMALL, N_SMALL, 1, &tally), OOC_OK);
    memcpy(blank5, flash_at(&r, r.base + 5u * SECTOR), sizeof blank5);
    forge_boot_numbers(&r, saved);
    r.cfg.min_boot = 2u; /* the trusted counter says boot 1 was the last */
    CHECK_RC(rig_reboot(&r), OOC_OK);
    trusted[0] = ooc_spill_boot(&r.sp);
    CHECK_RC(inference(&r, SMALL, N_SMALL, 2, &tally), OOC_OK);
    CHECK_RC(inference(&r, PATTERN, N_PATTERN, 3, &tally), OOC_OK);
    /* The genuine flash back (the head sector as it was, the forged header gone). */
    memcpy(flash_at(&r, r.base), saved, SECTOR);
    memcpy(flash_at(&r, r.base + 5u * SECTOR), blank5, sizeof blank5);
    r.cfg.min_boot = trusted[0] + 1u;
    CHECK_RC(rig_reboot(&r), OOC_OK);
    trusted[1] = ooc_spill_boot(&r.sp);
    CHECK_RC(inference(&r, PATTERN, N_PATTERN, 4, &tally), OOC_OK);
    CHECK(tally.wrong == 0u && tally.leaked == 0u &&
          tally.reads_ok == 2u * N_SMALL + 2u * N_PATTERN);
    rig_close(&r);
    /* Without trusted storage: the same forgery on a fresh ring exhausts the boot numbers. */
    CHECK(rig_open(&r, OOC_IMG_TAG_AES_CMAC) == 0);
    CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
    CHECK_RC(inference(&r, SMALL, N_SMALL, 1, &tally), OOC_OK);
    forge_boot_numbers(&r, saved);
    CHECK_RC(rig_reboot(&r), OOC_ERR_SPILL_EXHAUSTED);
    *untrusted = ooc_spill_boot(&r.sp);
    rig_close(&r);
}

/* == nonce ===================================================================================== */

/* An AES "engine" that is software AES plus a log of every block it encrypts under a spill
   K_enc of a known boot while a write is running: those blocks are the CTR counter blocks. */
#define MAX_BOOTS 16u
static struct {
    uint8_t k_enc[MAX_BOOTS + 1u][32]; /* [b]: K_enc of boot b, derived here independently */
    int logging;
    uint8_t *log; /* entries of 17 bytes: boot, counter block */
    size_t n, cap;
    uint8_t last_key[32];
    ooc_aes_t last;
    int have_last;
    uint32_t calls;
} eng;

static int eng_ecb(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t *in,
                   uint8_t *out, uint32_t n_blocks)
{
    uint32_t b, i;
    (void)user;
    eng.calls++;
    if (!eng.have_last || key_bytes != 32u || memcmp(eng.last_key, key, 32) != 0) {
        if (ooc_aes_init(&eng.last, key, key_bytes, NULL) < 0) {
            return -1;
        }
        memset(eng.last_key, 0, sizeof eng.last_key);
        memcpy(eng.last_key, key, key_bytes);
        eng.have_last = 1;
    }
    if (eng.logging && key_bytes == 32u) {
        for (b = 1; b <= MAX_BOOTS; b++) {
            if (memcmp(eng.k_enc[b], key, 32) == 0) {
                break;
            }
        }
        for (i = 0; b <= MAX_BOOTS && i < n_blocks; i++) {
            if (eng.n == eng.cap) {
                eng.cap = eng.cap ? 2u * eng.cap : 1u << 16;
                eng.log = (uint8_t *)realloc(eng.log, 17u * eng.cap);
                if (eng.log == NULL) {
                    return -1;
                }
            }
            eng.log[17u * eng.n] = (uint8_t)b;
            memcpy(eng.log + 17u * eng.n + 1u, in + 16u * i, 16);
            eng.n++;
        }
    }
    return ooc_aes_encrypt_blocks(&eng.last, in, out, n_blocks);
}

static int cmp17(const void *a, const void *b)
{
    return memcmp(a, b, 17);
}

static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

static void derive_k(uint32_t boot, const char *label, uint8_t out[32])
{
    uint8_t ctx[36];
    ooc_aes_t root;
    memcpy(ctx, UID, 16);
    ctx[16] = (uint8_t)boot;
    ctx[17] = (uint8_t)(boot >> 8);
    ctx[18] = (uint8_t)(boot >> 16);
    ctx[19] = (uint8_t)(boot >> 24);
    memset(ctx + 20, 0, 16);
    ooc_aes_init(&root, ROOT_KEY, 32, NULL);
    ooc_kdf_cmac(&root, (const uint8_t *)label, strlen(label), ctx, sizeof ctx, out, 32);
}

/* Parse the record at `ref` from the raw flash and check it the way docs/spill.md describes it:
   header fields, AES-CTR under K_enc(boot) from counter block (boot, seq, 2), the tag. */
static int independent_check(rig_t *r, const ooc_spill_ref_t *ref, const uint8_t *plain,
                             uint32_t alg)
{
    static uint8_t dec[MAX_LEN];
    const uint8_t *rec = ooc_nor_contents(&r->nor) + r->base + ref->offset;
    uint8_t iv[16], tag[16], k[32];
    ooc_aes_t enc, mac;
    uint32_t len = ref->len, i;
    uint64_t seq = 0;
    for (i = 0; i < 8u; i++) {
        seq |= (uint64_t)rec[20 + i] << (8u * i);
    }
    if (rec[0] != OOC_SPILL_RECORD_DATA || rec[1] != 1u || get32le(rec + 4) != len ||
        get32le(rec + 8) != ref->boot || get32le(rec + 12) != ref->tensor ||
        get32le(rec + 16) != ref->tile || seq != ref->seq ||
        get32le(rec + 28) != crc32z(rec, 28)) {
        return 0;
    }
    derive_k(ref->boot, OOC_SPILL_LABEL_ENC, k);
    ooc_aes_init(&enc, k, 32, NULL);
    memcpy(iv, rec + 8, 4);  /* boot, little-endian */
    memcpy(iv + 4, rec + 20, 8); /* seq, little-endian */
    iv[12] = iv[13] = iv[14] = 0;
    iv[15] = 2;
    ooc_aes_ctr(&enc, iv, rec + 32, dec, len);
    if (memcmp(dec, plain, len) != 0) {
        return 0;
    }
    if (alg == OOC_IMG_TAG_AES_CMAC) {
        ooc_cmac_t c;
        derive_k(ref->boot, OOC_SPILL_LABEL_MAC, k);
        ooc_aes_init(&mac, k, 32, NULL);
        ooc_cmac_init(&c, &mac);
        ooc_cmac_update(&c, rec, 32u + len);
        ooc_cmac_final(&c, tag);
    } else {
        uint8_t otk[32] = {0};
        ooc_poly1305_t p;
        iv[15] = 0;
        ooc_aes_ctr(&enc, iv, otk, otk, 32);
        ooc_poly1305_init(&p, otk);
        ooc_poly1305_update(&p, rec, 32u + len);
        ooc_poly1305_final(&p, tag);
    }
    return memcmp(tag, rec + 32 + len, 16) == 0;
}

static int mode_nonce(uint32_t alg, uint32_t n, uint32_t reboots)
{
    static uint8_t data[MAX_LEN];
    static ooc_aes_engine_t engine = {eng_ecb, NULL};
    ooc_spill_ref_t refs[MAX_TILES];
    uint64_t(*pairs)[2];
    size_t n_pairs = 0, dup_pairs = 0, dup_blocks = 0, k;
    uint32_t boots[MAX_BOOTS], n_boots = 0, s, i, checked = 0, independent_ok = 0, torn = 0;
    uint32_t per = n / (reboots + 1u), inf = 0, keys_distinct = 1;
    tally_t tally = {0, 0, 0};
    rig_t r;
    for (i = 1; i <= MAX_BOOTS; i++) {
        derive_k(i, OOC_SPILL_LABEL_ENC, eng.k_enc[i]);
    }
    for (i = 1; i <= MAX_BOOTS; i++) {
        for (s = 1; s < i; s++) {
            keys_distinct &= memcmp(eng.k_enc[i], eng.k_enc[s], 32) != 0;
        }
    }
    pairs = (uint64_t(*)[2])malloc(sizeof *pairs * ((size_t)n * N_SMALL + 16u));
    CHECK(pairs != NULL);
    if (pairs == NULL) {
        return finish();
    }
    CHECK(rig_open(&r, alg) == 0);
    r.port.aes_engine = &engine;
    for (s = 0; s <= reboots && n_boots < MAX_BOOTS; s++) {
        uint32_t todo = s == reboots ? n - inf : per;
        CHECK_RC(s == 0u ? ooc_spill_mount(&r.sp, &r.cfg) : rig_reboot(&r), OOC_OK);
        boots[n_boots++] = ooc_spill_boot(&r.sp);
        for (k = 0; k < todo; k++, inf++) {
            for (i = 0; i < N_SMALL; i++) {
                ooc_spill_status_t st;
                int rc;
                ooc_spill_status(&r.sp, &st);
                /* The second session ends with a power cut in the middle of a write: the
                   sequence number it spent must never come back. */
                if (s == 1u && k + 1u == todo && i == 1u) {
                    ooc_nor_fail_after(&r.nor, 1);
                }
                fill(data, SMALL[i].len, inf, i);
                eng.logging = 1;
                rc = ooc_spill_write(&r.sp, SMALL[i].tensor, SMALL[i].tile, data, SMALL[i].len,
                                     &refs[i]);
                eng.logging = 0;
                pairs[n_pairs][0] = st.boot;
                pairs[n_pairs][1] = st.next_seq;
                n_pairs++;
                if (rc != OOC_OK) {
                    CHECK(rc == OOC_ERR_IO && s == 1u);
                    torn++;
                    break;
                }
                checked++;
                independent_ok += independent_check(&r, &refs[i], data, alg);
            }
            if (torn && s == 1u && k + 1u == todo) {
                break;
            }
            if (read_all(&r, SMALL, N_SMALL, inf, refs, &tally) != OOC_OK) {
                CHECK(0);
            }
        }
    }
    CHECK(torn == 1u);
    /* Boot numbers strictly increase, the cut one included. */
    for (i = 1; i < n_boots; i++) {
        CHECK(boots[i] > boots[i - 1]);
    }
    qsort(pairs, n_pairs, sizeof *pairs, cmp_pair);
    for (k = 1; k < n_pairs; k++) {
        dup_pairs += pairs[k][0] == pairs[k - 1][0] && pairs[k][1] == pairs[k - 1][1];
    }
    qsort(eng.log, eng.n, 17, cmp17);
    for (k = 1; k < eng.n; k++) {
        dup_blocks += memcmp(eng.log + 17u * k, eng.log + 17u * (k - 1u), 17) == 0;
    }
    CHECK(dup_pairs == 0u && dup_blocks == 0u && keys_distinct);
    CHECK(independent_ok == checked && tally.wrong == 0u);
    CHECK(eng.n > (size_t)checked * 2u);
    printf("{\"mode\": \"nonce\", \"alg\": %u, \"inferences\": %u, \"writes\": %u, "
           "\"cut_writes\": %u, \"reboots\": %u,\n",
           (unsigned)alg, (unsigned)inf, (unsigned)n_pairs, (unsigned)torn, (unsigned)reboots);
    print_u32s("boots", boots, n_boots, 1);
    printf("\"nonces\": %u, \"duplicate_nonces\": %u, \"counter_blocks_logged\": %u, "
           "\"duplicate_counter_blocks\": %u, \"keys_distinct\": %s, "
           "\"independently_verified\": %u, \"reads_ok\": %u,\n",
           (unsigned)n_pairs, (unsigned)dup_pairs, (unsigned)eng.n, (unsigned)dup_blocks,
           keys_distinct ? "true" : "false", (unsigned)independent_ok,
           (unsigned)tally.reads_ok);
    free(pairs);
    free(eng.log);
    rig_close(&r);
    return finish();
}

/* == power loss ================================================================================ */

typedef struct {
    uint32_t cases, cut_programs, cut_erases, remount_ok, boot_next, boot_exact, next_ok;
    uint32_t counts_exact, stale_ok, later_ok, recovered;
} pl_t;

/* After a cut: reboot, then the ring must work, the erase counts must be exact, and old refs
   must be stale; then go round the ring once more. */
static void after_cut(rig_t *r, uint32_t old_boot, const ooc_spill_ref_t *old, uint32_t n_old,
                      uint64_t id, pl_t *pl)
{
    static uint8_t out[MAX_LEN];
    ooc_spill_status_t st;
    tally_t tally = {0, 0, 0};
    uint32_t i, ok = 1;
    int rc;
    CHECK(ooc_nor_power_lost(&r->nor));
    rc = rig_reboot(r);
    CHECK_RC(rc, OOC_OK);
    pl->remount_ok += rc == OOC_OK;
    pl->boot_next += ooc_spill_boot(&r->sp) > old_boot;
    pl->boot_exact += ooc_spill_boot(&r->sp) == old_boot + 1u;
    ooc_spill_status(&r->sp, &st);
    pl->recovered += st.recovered;
    pl->counts_exact += counts_match(r);
    if (getenv("SPILL_DEBUG") && !counts_match(r)) {
        uint32_t ring[64], n = 0, i2;
        const uint32_t *emu = ooc_nor_erase_counts(&r->nor, &n);
        ooc_spill_erase_counts(&r->sp, ring, 64u);
        fprintf(stderr, "mismatch erase=%d head=%u pos=%u:", last_op_erase, st.head, st.position);
        for (i2 = 0; i2 < r->n_sectors; i2++) {
            fprintf(stderr, " %u/%u", ring[i2], emu[r->base / r->sector + i2]);
        }
        fprintf(stderr, "\n");
    }
    for (i = 0; i < n_old; i++) {
        ok &= ooc_spill_read(&r->sp, &old[i], PATTERN[i].tensor, PATTERN[i].tile, out,
                             PATTERN[i].len) == OOC_ERR_SPILL_STALE;
    }
    pl->stale_ok += ok;
    rc = inference(r, PATTERN, N_PATTERN, id, &tally);
    pl->next_ok += rc == OOC_OK && tally.wrong == 0u && tally.reads_ok == N_PATTERN;
    ok = 1;
    for (i = 0; i < N_SECTORS + 2u; i++) {
        ok &= inference(r, PATTERN, N_PATTERN, id + 1u + i, &tally) == OOC_OK;
    }
    ok &= tally.wrong == 0u && tally.leaked == 0u && counts_match(r);
    pl->later_ok += ok;
}

static int mode_powerloss(uint32_t alg)
{
    pl_t pl, ml;
    uint32_t w, k, phases[16], n_phases = 0, starts[16], mount_ops[4] = {0};
    rig_t r;
    memset(&pl, 0, sizeof pl);
    memset(&ml, 0, sizeof ml);
    /* One inference cut at its k-th program or erase, for every k, after w clean ones: the
       ring phase (where the inference starts, whether it opens a sector) moves with w. */
    for (w = 0; w < 12u; w++) {
        for (k = 1;; k++) {
            ooc_spill_ref_t refs[MAX_TILES];
            tally_t tally = {0, 0, 0};
            uint32_t boot, j, n_written = 0;
            int rc = OOC_OK;
            CHECK(rig_open(&r, alg) == 0);
            CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
            for (j = 0; j < w; j++) {
                CHECK_RC(inference(&r, PATTERN, N_PATTERN, j, &tally), OOC_OK);
            }
            if (k == 1u) {
                starts[n_phases] = position(&r);
            }
            boot = ooc_spill_boot(&r.sp);
            ooc_nor_fail_after(&r.nor, k);
            for (j = 0; j < N_PATTERN && rc == OOC_OK; j++) {
                static uint8_t data[MAX_LEN];
                fill(data, PATTERN[j].len, w, j);
                rc = ooc_spill_write(&r.sp, PATTERN[j].tensor, PATTERN[j].tile, data,
                                     PATTERN[j].len, &refs[j]);
                n_written += rc == OOC_OK;
            }
            if (rc == OOC_OK) {
                /* k is past the inference's last operation: it ran whole; read it back. */
                ooc_nor_fail_after(&r.nor, 0);
                CHECK_RC(read_all(&r, PATTERN, N_PATTERN, w, refs, &tally), OOC_OK);
                CHECK(tally.wrong == 0u);
                phases[n_phases++] = k - 1u;
                rig_close(&r);
                break;
            }
            CHECK_RC(rc, OOC_ERR_IO);
            pl.cases++;
            pl.cut_erases += last_op_erase;
            pl.cut_programs += !last_op_erase;
            after_cut(&r, boot, refs, n_written, 1000u + w, &pl);
            rig_close(&r);
        }
    }
    /* Cuts during mount, at each of its programs and erases, in four ring states: a blank
       partition (sector 0 used as is: header, boot record); a head too full for the boot record
       (slot, erase, header, boot record); a head ending in a record whose header was cut (the
       same four); and a plain mount (the boot record). */
    for (w = 0; w < 4u; w++) {
        for (k = 1;; k++) {
            static uint8_t data[2048];
            tally_t tally = {0, 0, 0};
            ooc_spill_ref_t ref;
            uint32_t boot = 0, j;
            int rc;
            CHECK(rig_open(&r, alg) == 0);
            if (w > 0u) {
                CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
                for (j = 0; j < 3u; j++) {
                    CHECK_RC(inference(&r, PATTERN, N_PATTERN, j, &tally), OOC_OK);
                }
                CHECK(position(&r) == 2720u);
                boot = ooc_spill_boot(&r.sp);
                if (w == 1u) { /* a 1360-byte record leaves 16 bytes: no room to boot */
                    CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, 1312, &ref), OOC_OK);
                    CHECK(position(&r) == SECTOR - 16u);
                } else if (w == 2u) { /* the next record starts 16 bytes before a page end */
                    CHECK_RC(ooc_spill_write(&r.sp, 1, 1, data, 32, &ref), OOC_OK);
                    CHECK(position(&r) % PAGE == PAGE - 16u);
                    ooc_nor_fail_after(&r.nor, 1); /* its first program: 8 header bytes */
                    CHECK_RC(ooc_spill_write(&r.sp, 1, 2, data, 64, &ref), OOC_ERR_IO);
                    ooc_nor_power_cycle(&r.nor);
                }
                ooc_spill_unmount(&r.sp);
            }
            ooc_nor_fail_after(&r.nor, k);
            rc = ooc_spill_mount(&r.sp, &r.cfg);
            if (rc == OOC_OK) {
                ooc_spill_status_t st;
                ooc_nor_fail_after(&r.nor, 0);
                ooc_spill_status(&r.sp, &st);
                CHECK(st.recovered == (w == 2u));
                CHECK_RC(inference(&r, PATTERN, N_PATTERN, 7, &tally), OOC_OK);
                CHECK(ooc_spill_boot(&r.sp) == boot + 1u);
                CHECK(counts_match(&r));
                mount_ops[w] = k - 1u;
                rig_close(&r);
                break;
            }
            CHECK_RC(rc, OOC_ERR_IO);
            ml.cases++;
            ml.cut_erases += last_op_erase;
            ml.cut_programs += !last_op_erase;
            /* A cut mount never used its boot number (its boot record is not whole), so the
               next mount may take the same number again. */
            after_cut(&r, boot, NULL, 0, 2000u + k, &ml);
            rig_close(&r);
        }
    }
    CHECK(pl.cases > 0u && pl.cut_erases > 0u);
    CHECK(pl.remount_ok == pl.cases && pl.boot_exact == pl.cases && pl.next_ok == pl.cases &&
          pl.counts_exact == pl.cases && pl.stale_ok == pl.cases && pl.later_ok == pl.cases);
    CHECK(ml.cases > 0u && ml.remount_ok == ml.cases && ml.next_ok == ml.cases &&
          ml.counts_exact == ml.cases && ml.later_ok == ml.cases && ml.boot_next == ml.cases);
    printf("{\"mode\": \"powerloss\", \"alg\": %u,\n", (unsigned)alg);
    print_u32s("phase_start_positions", starts, n_phases, 1);
    print_u32s("phase_ops", phases, n_phases, 1);
    print_u32s("mount_ops", mount_ops, 4, 1);
#define PL_JSON(name, s)                                                                     \
    printf("\"%s\": {\"cases\": %u, \"cut_programs\": %u, \"cut_erases\": %u, "              \
           "\"remount_ok\": %u, \"boot_advanced\": %u, \"boot_advanced_by_one\": %u, "       \
           "\"next_inference_ok\": %u, \"erase_counts_exact\": %u, \"old_refs_stale\": %u, "   \
           "\"ring_round_ok\": %u, \"recovered_heads\": %u},\n",                              \
           name, s.cases, s.cut_programs, s.cut_erases, s.remount_ok, s.boot_next,            \
           s.boot_exact, s.next_ok, s.counts_exact, s.stale_ok, s.later_ok, s.recovered)
    PL_JSON("inference", pl);
    PL_JSON("mount", ml);
#undef PL_JSON
    return finish();
}

/* == fuzz ====================================================================================== */

static uint32_t wild(void)
{
    static const uint32_t v[] = {0u, 1u, 2u, 7u, 1000u, 0x7FFFFFFFu, 0xFFFFFFFEu, 0xFFFFFFFFu};
    return rnd(2) ? v[rnd(8)] : (uint32_t)rng_next(&rng_state);
}

static int mode_fuzz(uint32_t alg, uint32_t n)
{
    uint32_t t, kinds[5] = {0}, mounted = 0, exhausted = 0, runs_ok = 0, bad = 0;
    uint32_t trusted, trusted_mounted = 0, trusted_ok = 0;
    tally_t tally = {0, 0, 0};
    for (t = 0; t < n; t++) {
        rig_t r;
        uint32_t kind = t % 5u, j, warm = rnd(12), sector, counts[N_SECTORS];
        uint8_t *sec;
        int rc;
        CHECK(rig_open(&r, alg) == 0);
        CHECK_RC(ooc_spill_mount(&r.sp, &r.cfg), OOC_OK);
        for (j = 0; j < warm; j++) {
            CHECK_RC(inference(&r, PATTERN, N_PATTERN, j, &tally), OOC_OK);
        }
        if (rnd(3) == 0u) {
            ooc_spill_ref_t refs[MAX_TILES];
            ooc_nor_fail_after(&r.nor, 1u + rnd(30)); /* sometimes a cut as well */
            (void)write_all(&r, PATTERN, N_PATTERN, 99, refs);
            ooc_nor_fail_after(&r.nor, 0);
            ooc_nor_power_cycle(&r.nor);
        }
        ooc_spill_unmount(&r.sp);
        sector = rnd(N_SECTORS);
        sec = flash_at(&r, r.base + sector * SECTOR);
        kinds[kind]++;
        if (kind == 0u) { /* random bit flips anywhere */
            for (j = 1u + rnd(8); j > 0u; j--) {
                *flash_at(&r, r.base + rnd(N_SECTORS * SECTOR)) ^= (uint8_t)(1u << rnd(8));
            }
        } else if (kind == 1u) { /* a run of random bytes */
            uint32_t at = rnd(N_SECTORS * SECTOR - 256u), len = 1u + rnd(256);
            for (j = 0; j < len; j++) {
                *flash_at(&r, r.base + at + j) = (uint8_t)rng_next(&rng_state);
            }
        } else if (kind == 2u) { /* a forged sector header that passes its CRC */
            memcpy(sec, "OOCS", 4);
            sec[4] = 1;
            sec[5] = 0;
            sec[6] = 32;
            sec[7] = 0;
            put32le(sec + 8, wild());
            put32le(sec + 12, wild());
            put32le(sec + 16, wild());
            put32le(sec + 20, crc32z(sec, 20));
            if (rnd(2)) {
                uint32_t v = wild();
                put32le(sec + 24, v);
                put32le(sec + 28, rnd(2) ? ~v : wild());
            }
        } else if (kind == 3u) { /* a forged record header that passes its CRC */
            uint8_t *h = sec + 32u + 16u * rnd((SECTOR - 64u) / 16u);
            h[0] = (uint8_t)(rnd(2) ? 1u + rnd(2) : rnd(256));
            h[1] = 1;
            h[2] = h[3] = 0;
            put32le(h + 4, rnd(2) ? rnd(5000) : wild());
            put32le(h + 8, wild());
            put32le(h + 12, wild());
            put32le(h + 16, wild());
            put32le(h + 20, wild());
            put32le(h + 24, wild());
            put32le(h + 28, crc32z(h, 28));
        } else { /* a whole sector of noise */
            for (j = 0; j < SECTOR; j++) {
                sec[j] = (uint8_t)rng_next(&rng_state);
            }
        }
        /* Every other case has trusted storage: the ring's (forged) boot numbers must not
           move the boot, so only a forged ring sequence at its limit can exhaust it. */
        trusted = t % 2u;
        r.cfg.min_boot = trusted ? 1000u + t : 0u;
        rc = ooc_spill_mount(&r.sp, &r.cfg);
        if (rc == OOC_OK && trusted) {
            trusted_ok += ooc_spill_boot(&r.sp) == r.cfg.min_boot;
            trusted_mounted++;
        }
        if (rc == OOC_ERR_SPILL_EXHAUSTED) {
            exhausted++;
        } else if (rc != OOC_OK) {
            bad++;
            fprintf(stderr, "fuzz %u kind %u: mount %d\n", (unsigned)t, (unsigned)kind, rc);
        } else {
            int ok = 1;
            mounted++;
            for (j = 0; j < N_SECTORS + 1u; j++) {
                rc = inference(&r, PATTERN, N_PATTERN, 500u + j, &tally);
                if (rc == OOC_ERR_SPILL_EXHAUSTED) {
                    exhausted++; /* a forged ring sequence at its limit */
                    break;
                }
                ok &= rc == OOC_OK;
            }
            ok &= ooc_spill_erase_counts(&r.sp, counts, N_SECTORS) == (int)N_SECTORS;
            if (ok) {
                runs_ok++;
            } else {
                bad++;
                fprintf(stderr, "fuzz %u kind %u: run failed (%d)\n", (unsigned)t,
                        (unsigned)kind, rc);
            }
        }
        rig_close(&r);
    }
    CHECK(bad == 0u && tally.wrong == 0u && tally.leaked == 0u);
    CHECK(trusted_ok == trusted_mounted);
    printf("{\"mode\": \"fuzz\", \"alg\": %u, \"cases\": %u, \"mounted\": %u, \"ran_ok\": %u, "
           "\"exhausted\": %u, \"bad\": %u, \"wrong_outputs\": %u,\n",
           (unsigned)alg, (unsigned)n, (unsigned)mounted, (unsigned)runs_ok,
           (unsigned)exhausted, (unsigned)bad, (unsigned)tally.wrong);
    printf("\"trusted_mounted\": %u, \"trusted_boot_is_min_boot\": %u,\n",
           (unsigned)trusted_mounted, (unsigned)trusted_ok);
    print_u32s("kinds", kinds, 5, 1);
    return finish();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "unit";
    uint32_t alg = argc > 2 ? parse_alg(argv[2]) : OOC_IMG_TAG_AES_CMAC;
    uint32_t a = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 0u;
    uint32_t b = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 0u;
    if (strcmp(mode, "unit") == 0) {
        return mode_unit();
    }
    if (strcmp(mode, "wear") == 0 && argc > 4) {
        return mode_wear(alg, a, argv[4]);
    }
    if (strcmp(mode, "tamper") == 0) {
        return mode_tamper(alg, a, b);
    }
    if (strcmp(mode, "nonce") == 0) {
        return mode_nonce(alg, a, b);
    }
    if (strcmp(mode, "powerloss") == 0) {
        return mode_powerloss(alg);
    }
    if (strcmp(mode, "fuzz") == 0) {
        return mode_fuzz(alg, a);
    }
    fprintf(stderr, "usage: test_spill unit | wear ALG N DUMP | tamper ALG FLIPS REPLAYS | "
                    "nonce ALG N REBOOTS | powerloss ALG | fuzz ALG N\n");
    return 2;
}
