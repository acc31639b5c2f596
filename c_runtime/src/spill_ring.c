/*
 * The spill ring on the flash: the byte layout of sector and record headers, counted flash
 * access, opening (erasing) the next sector, and the recovery scan a mount starts with; the
 * erase counts and the traffic prediction, which read the same layout. spill.c holds the API on
 * top (mount, keys, encrypted records); ooc/ooc_spill.h documents it, docs/spill.md the layout
 * and why recovery is safe.
 *
 * Ordering rules the recovery relies on (each is marked "ORDER" here and in spill.c):
 *   1. A sector is erased only after the head sector's next_count slot holds its old erase count,
 *      so an interrupted erase does not lose the count.
 *   2. A sector's header is programmed right after its erase, before any record in it.
 *   3. A record is programmed front to back in one pass, its CRC-guarded header first: a record
 *      whose header is intact says how far its bytes may reach; a cut header ends the sector.
 *   4. A boot number is used for a key only after its boot record has been programmed and read
 *      back, so a number that may have encrypted anything is always found by the next mount.
 */
#include "spill_ring.h"

#include <string.h>

/* -- bytes ------------------------------------------------------------------------------------- */

static int all_ff(const uint8_t *p, uint32_t n)
{
    uint8_t acc = 0xFFu;
    uint32_t i;
    for (i = 0; i < n; i++) {
        acc &= p[i];
    }
    return acc == 0xFFu;
}

/* CRC-32 as zlib computes it (reflected 0xEDB88320, init and final xor 0xFFFFFFFF): it only
   detects torn writes, so the bitwise form is enough for 20- and 28-byte headers. */
static uint32_t crc32(const uint8_t *p, uint32_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    uint32_t i;
    int k;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

static uint32_t sat_inc(uint32_t v)
{
    return v == UINT32_MAX ? v : v + 1u;
}

/* Page program commands that writing [off, off + n) takes (n >= 1). */
static uint32_t pages_touched(uint32_t page, uint32_t off, uint32_t n)
{
    return (off + n - 1u) / page - off / page + 1u;
}

uint32_t ooc_spill_record_bytes(uint32_t len)
{
    return (RH_BYTES + len + TAG_BYTES + ALIGN - 1u) & ~(ALIGN - 1u);
}

uint32_t ooc_spill_max_payload(uint32_t sector_bytes)
{
    uint32_t overhead = SH_BYTES + RH_BYTES + TAG_BYTES;
    return sector_bytes > overhead ? (sector_bytes - overhead) & ~(ALIGN - 1u) : 0u;
}

/* -- flash, counted ---------------------------------------------------------------------------- */

uint32_t ooc_ring_sector_addr(const ooc_spill_t *sp, uint32_t sector)
{
    return sp->base + sector * sp->sector_bytes;
}

int ooc_ring_read(ooc_spill_t *sp, uint32_t addr, void *buf, uint32_t len)
{
    sp->counters.read_ops++;
    sp->counters.bytes_read += len;
    return sp->read(sp->user, addr, buf, len) < 0 ? OOC_ERR_IO : OOC_OK;
}

/* One page program: [addr, addr + len) lies within one page. */
int ooc_ring_program(ooc_spill_t *sp, uint32_t addr, const uint8_t *data, uint32_t len)
{
    sp->counters.program_ops++;
    sp->counters.bytes_programmed += len;
    return sp->program(sp->user, addr, data, len) < 0 ? OOC_ERR_IO : OOC_OK;
}

/* Program any range, one command per page it touches. */
int ooc_ring_program_range(ooc_spill_t *sp, uint32_t addr, const uint8_t *data, uint32_t len)
{
    while (len > 0u) {
        uint32_t n = sp->page_bytes - (addr & (sp->page_bytes - 1u));
        int rc;
        n = n < len ? n : len;
        rc = ooc_ring_program(sp, addr, data, n);
        if (rc < 0) {
            return rc;
        }
        addr += n;
        data += n;
        len -= n;
    }
    return OOC_OK;
}

static int f_erase(ooc_spill_t *sp, uint32_t sector)
{
    sp->counters.erase_ops++;
    return sp->erase(sp->user, ooc_ring_sector_addr(sp, sector)) < 0 ? OOC_ERR_IO : OOC_OK;
}

/* 1 when [addr, addr + len) reads all 0xFF (read through the page buffer). */
static int f_blank(ooc_spill_t *sp, uint32_t addr, uint32_t len, int *blank)
{
    *blank = 1;
    while (len > 0u) {
        uint32_t n = len < sizeof sp->page ? len : (uint32_t)sizeof sp->page;
        int rc = ooc_ring_read(sp, addr, sp->page, n);
        if (rc < 0) {
            return rc;
        }
        if (!all_ff(sp->page, n)) {
            *blank = 0;
            return OOC_OK;
        }
        addr += n;
        len -= n;
    }
    return OOC_OK;
}

/* -- headers ----------------------------------------------------------------------------------- */

typedef struct {
    int valid;          /* magic, version, size and CRC check */
    uint32_t erase_count;
    uint32_t ring_seq;
    uint32_t boot;
    int next_valid;     /* the next_count slot holds a value and its complement */
    int next_blank;     /* the slot is still erased */
    uint32_t next_count;
    uint8_t slot[8];    /* the slot's raw bytes */
} sector_header_t;

/* The next_count slot's check word. Not plain ~count: a write cut after the count would leave
   0xFFFFFFFF, which is ~0. With this constant only a count of 2^31 or more can be mistaken. */
static uint32_t slot_check(uint32_t count)
{
    return count ^ OOC_SPILL_NEXT_CHECK_XOR;
}

static void sector_header_build(uint8_t h[SH_BYTES], uint32_t erase_count, uint32_t ring_seq,
                                uint32_t boot)
{
    static const uint8_t magic[4] = OOC_SPILL_MAGIC;
    memset(h, 0xFF, SH_BYTES); /* the next_count slot stays erased */
    memcpy(h + OOC_SPILL_SH_MAGIC, magic, 4);
    h[OOC_SPILL_SH_VERSION] = (uint8_t)OOC_SPILL_VERSION;
    h[OOC_SPILL_SH_RESERVED] = 0u;
    put16(h + OOC_SPILL_SH_HEADER_BYTES, SH_BYTES);
    put32(h + OOC_SPILL_SH_ERASE_COUNT, erase_count);
    put32(h + OOC_SPILL_SH_RING_SEQ, ring_seq);
    put32(h + OOC_SPILL_SH_BOOT, boot);
    put32(h + OOC_SPILL_SH_CRC, crc32(h, OOC_SPILL_SH_CRC));
}

static void sector_header_parse(const uint8_t h[SH_BYTES], sector_header_t *out)
{
    static const uint8_t magic[4] = OOC_SPILL_MAGIC;
    uint32_t next = le32(h + OOC_SPILL_SH_NEXT_COUNT);
    memset(out, 0, sizeof *out);
    out->valid = memcmp(h + OOC_SPILL_SH_MAGIC, magic, 4) == 0 &&
                 h[OOC_SPILL_SH_VERSION] == OOC_SPILL_VERSION && h[OOC_SPILL_SH_RESERVED] == 0u &&
                 (h[OOC_SPILL_SH_HEADER_BYTES] | (h[OOC_SPILL_SH_HEADER_BYTES + 1] << 8)) ==
                     (int)SH_BYTES &&
                 le32(h + OOC_SPILL_SH_CRC) == crc32(h, OOC_SPILL_SH_CRC) &&
                 le32(h + OOC_SPILL_SH_RING_SEQ) != 0u;
    if (!out->valid) {
        return;
    }
    out->erase_count = le32(h + OOC_SPILL_SH_ERASE_COUNT);
    out->ring_seq = le32(h + OOC_SPILL_SH_RING_SEQ);
    out->boot = le32(h + OOC_SPILL_SH_BOOT);
    memcpy(out->slot, h + OOC_SPILL_SH_NEXT_COUNT, 8);
    out->next_blank = all_ff(out->slot, 8);
    out->next_valid = !out->next_blank && le32(h + OOC_SPILL_SH_NEXT_CHECK) == slot_check(next);
    out->next_count = next;
}

static int read_sector_header(ooc_spill_t *sp, uint32_t sector, sector_header_t *out)
{
    uint8_t h[SH_BYTES];
    int rc = ooc_ring_read(sp, ooc_ring_sector_addr(sp, sector), h, SH_BYTES);
    if (rc == OOC_OK) {
        sector_header_parse(h, out);
    }
    return rc;
}

void ooc_ring_record_header(uint8_t h[RH_BYTES], uint32_t type, uint32_t len, uint32_t boot,
                                uint32_t tensor, uint32_t tile, uint64_t seq)
{
    h[OOC_SPILL_RH_TYPE] = (uint8_t)type;
    h[OOC_SPILL_RH_VERSION] = (uint8_t)OOC_SPILL_VERSION;
    put16(h + OOC_SPILL_RH_RESERVED, 0u);
    put32(h + OOC_SPILL_RH_LENGTH, len);
    put32(h + OOC_SPILL_RH_BOOT, boot);
    put32(h + OOC_SPILL_RH_TENSOR, tensor);
    put32(h + OOC_SPILL_RH_TILE, tile);
    put64(h + OOC_SPILL_RH_SEQ, seq);
    put32(h + OOC_SPILL_RH_CRC, crc32(h, OOC_SPILL_RH_CRC));
}

/* -- the ring ---------------------------------------------------------------------------------- */

/* Open the next sector of the ring (sector 0 of an empty ring) and make it the head. */
int ooc_ring_open_next(ooc_spill_t *sp)
{
    sector_header_t next, head;
    uint8_t h[SH_BYTES];
    uint32_t x, old;
    int have_head = sp->head_ring_seq != 0u, erase = 1;
    int rc;
    if (have_head && sp->head_ring_seq == UINT32_MAX) {
        return OOC_ERR_SPILL_EXHAUSTED;
    }
    memset(&head, 0, sizeof head);
    x = have_head ? (sp->head + 1u) % sp->n_sectors : 0u;
    rc = read_sector_header(sp, x, &next);
    if (rc == OOC_OK && have_head) {
        rc = read_sector_header(sp, sp->head, &head);
    }
    if (rc < 0) {
        return rc;
    }
    /* The sector's erase count so far: its header's; without one, an erase the head's slot
       announced was interrupted (or done, its header cut): that erase counted; else no history. */
    if (next.valid) {
        old = next.erase_count;
    } else if (head.valid && head.next_valid) {
        old = sat_inc(head.next_count);
    } else {
        old = 0u;
    }
    if (!have_head) {
        /* An empty ring (no valid header anywhere: a new partition, as the packer leaves it)
           starts on sector 0 without erasing it when it is blank: nothing of the ring was ever
           there, and no erase means no erase whose count a cut could lose. */
        int blank;
        rc = f_blank(sp, ooc_ring_sector_addr(sp, x), sp->sector_bytes, &blank);
        if (rc < 0) {
            return rc;
        }
        erase = !blank;
    } else if (head.valid && !head.next_valid) {
        /* ORDER 1: announce the old count in the head's slot before erasing. A slot already
           written (an earlier attempt) is kept; one cut half-way is completed when its bits
           allow (programming only clears bits). */
        uint8_t want[8];
        uint32_t i;
        int ok = 1;
        put32(want, old);
        put32(want + 4, slot_check(old));
        for (i = 0; i < 8u; i++) {
            ok &= (head.slot[i] & want[i]) == want[i];
        }
        if (ok) {
            rc = ooc_ring_program_range(sp, ooc_ring_sector_addr(sp, sp->head) + OOC_SPILL_SH_NEXT_COUNT, want, 8u);
            if (rc < 0) {
                return rc;
            }
        }
    }
    if (erase) {
        rc = f_erase(sp, x);
        if (rc < 0) {
            return rc;
        }
        old = sat_inc(old);
    }
    /* ORDER 2: the header right after the erase. */
    sector_header_build(h, old, sp->head_ring_seq + 1u, sp->boot);
    rc = ooc_ring_program_range(sp, ooc_ring_sector_addr(sp, x), h, SH_BYTES);
    if (rc < 0) {
        return rc;
    }
    sp->head = x;
    sp->head_ring_seq++;
    sp->pos = SH_BYTES;
    return OOC_OK;
}

/* Walk the head sector's records to the write position; `max_boot` takes their boot numbers. */
static int scan_head(ooc_spill_t *sp, uint32_t *max_boot)
{
    uint8_t h[RH_BYTES];
    uint32_t base = ooc_ring_sector_addr(sp, sp->head);
    uint32_t pos = SH_BYTES, max_len = ooc_spill_max_payload(sp->sector_bytes);
    int rc;
    while (pos + RH_BYTES <= sp->sector_bytes) {
        uint32_t type, len, size;
        rc = ooc_ring_read(sp, base + pos, h, RH_BYTES);
        if (rc < 0) {
            return rc;
        }
        if (all_ff(h, RH_BYTES)) {
            /* Free space, unless a cut program left bits further on: then the sector is done. */
            int blank;
            rc = f_blank(sp, base + pos + RH_BYTES, sp->sector_bytes - pos - RH_BYTES, &blank);
            if (rc < 0) {
                return rc;
            }
            if (!blank) {
                sp->recovered = 1u;
                pos = sp->sector_bytes;
            }
            break;
        }
        type = h[OOC_SPILL_RH_TYPE];
        len = le32(h + OOC_SPILL_RH_LENGTH);
        size = type == OOC_SPILL_RECORD_BOOT ? RH_BYTES : ooc_spill_record_bytes(len);
        /* ORDER 3: an intact header bounds its record; a cut one (bad CRC) ends the sector. */
        if (le32(h + OOC_SPILL_RH_CRC) != crc32(h, OOC_SPILL_RH_CRC) ||
            h[OOC_SPILL_RH_VERSION] != OOC_SPILL_VERSION ||
            (h[OOC_SPILL_RH_RESERVED] | h[OOC_SPILL_RH_RESERVED + 1]) != 0u ||
            (type == OOC_SPILL_RECORD_BOOT && len != 0u) ||
            (type == OOC_SPILL_RECORD_DATA && (len == 0u || len > max_len)) ||
            (type != OOC_SPILL_RECORD_BOOT && type != OOC_SPILL_RECORD_DATA) ||
            size > sp->sector_bytes - pos) {
            sp->recovered = 1u;
            pos = sp->sector_bytes;
            break;
        }
        if (le32(h + OOC_SPILL_RH_BOOT) > *max_boot) {
            *max_boot = le32(h + OOC_SPILL_RH_BOOT);
        }
        pos += size;
    }
    sp->pos = pos;
    return OOC_OK;
}

/* Mount's recovery (spill_ring.h). */
int ooc_ring_recover(ooc_spill_t *sp, uint32_t *max_boot)
{
    uint32_t i;
    int rc;
    *max_boot = 0u;
    /* The head is the valid sector with the highest ring sequence; every valid header and the
       head's records vote for the highest boot number. */
    for (i = 0; i < sp->n_sectors; i++) {
        sector_header_t sh;
        rc = read_sector_header(sp, i, &sh);
        if (rc < 0) {
            return rc;
        }
        if (!sh.valid) {
            continue;
        }
        if (sh.boot > *max_boot) {
            *max_boot = sh.boot;
        }
        if (sh.ring_seq > sp->head_ring_seq) {
            sp->head = i;
            sp->head_ring_seq = sh.ring_seq;
        }
    }
    return sp->head_ring_seq != 0u ? scan_head(sp, max_boot) : OOC_OK;
}

int ooc_spill_erase_counts(ooc_spill_t *sp, uint32_t *counts, uint32_t n)
{
    sector_header_t head, sh;
    uint32_t i, after;
    int rc;
    if (sp == NULL || (counts == NULL && n != 0u)) {
        return OOC_ERR_ARG;
    }
    if (sp->state == ST_UNMOUNTED) {
        return OOC_ERR_STATE;
    }
    memset(&head, 0, sizeof head);
    rc = read_sector_header(sp, sp->head, &head);
    if (rc < 0) {
        return rc;
    }
    after = (sp->head + 1u) % sp->n_sectors;
    for (i = 0; i < n && i < sp->n_sectors; i++) {
        rc = read_sector_header(sp, i, &sh);
        if (rc < 0) {
            return rc;
        }
        if (sh.valid) {
            counts[i] = sh.erase_count;
        } else if (i == after && head.valid && head.next_valid) {
            counts[i] = sat_inc(head.next_count);
        } else {
            counts[i] = 0u;
        }
    }
    return (int)sp->n_sectors;
}

int ooc_spill_predict(const ooc_spill_geometry_t *g, uint32_t position, const uint32_t *lens,
                      uint32_t n, ooc_spill_cost_t *cost, uint32_t *position_out)
{
    uint32_t i, pos = position, page, sector;
    if (g == NULL || cost == NULL || (lens == NULL && n != 0u)) {
        return OOC_ERR_ARG;
    }
    page = g->page_bytes;
    sector = g->sector_bytes;
    if (!is_pow2(page) || page < ALIGN || !is_pow2(sector) || sector < page ||
        sector < MIN_SECTOR_BYTES || g->n_sectors < 2u || pos < SH_BYTES || pos > sector ||
        ((pos & (ALIGN - 1u)) != 0u && pos != sector)) {
        return OOC_ERR_ARG;
    }
    memset(cost, 0, sizeof *cost);
    for (i = 0; i < n; i++) {
        uint32_t len = lens[i], size;
        if (len == 0u) {
            return OOC_ERR_ARG;
        }
        if (len > ooc_spill_max_payload(sector)) {
            return OOC_ERR_SPILL_TOO_BIG;
        }
        size = ooc_spill_record_bytes(len);
        if (pos + size > sector) {
            /* ooc_ring_open_next(): the head's next_count slot, the erase, the new sector's header */
            cost->bytes_programmed += 8u + SH_BYTES;
            cost->program_ops += pages_touched(page, OOC_SPILL_SH_NEXT_COUNT, 8u) +
                                 pages_touched(page, 0u, SH_BYTES);
            cost->erase_ops++;
            cost->sectors_spanned++;
            pos = SH_BYTES;
        } else if (cost->sectors_spanned == 0u) {
            cost->sectors_spanned = 1u; /* the head sector itself */
        }
        cost->bytes_programmed += RH_BYTES + len + TAG_BYTES;
        cost->program_ops += pages_touched(page, pos, RH_BYTES + len + TAG_BYTES);
        pos += size;
    }
    if (position_out != NULL) {
        *position_out = pos;
    }
    return OOC_OK;
}
