/*
 * Activation spill ring: an encrypted, authenticated, wear-levelled log in the image's scratch
 * partition that survives power loss. ooc/ooc_spill.h has the API; docs/spill.md the byte layout,
 * the key schedule, and why recovery is safe.
 *
 * Ordering rules the recovery relies on (each is marked "ORDER" below):
 *   1. A sector is erased only after the head sector's next_count slot holds its old erase count,
 *      so an interrupted erase does not lose the count.
 *   2. A sector's header is programmed right after its erase, before any record in it.
 *   3. A record is programmed front to back in one pass, its CRC-guarded header first: a record
 *      whose header is intact says how far its bytes may reach; a cut header ends the sector.
 *   4. A boot number is used for a key only after its boot record has been programmed and read
 *      back, so a number that may have encrypted anything is always found by the next mount.
 */
#include "ooc/ooc_spill.h"

#include <string.h>

#define SH_BYTES OOC_SPILL_SECTOR_HEADER_BYTES
#define RH_BYTES OOC_SPILL_RECORD_HEADER_BYTES
#define ALIGN OOC_SPILL_RECORD_ALIGN
#define TAG_BYTES OOC_TAG_BYTES
#define CONTEXT_BYTES (OOC_IMG_UID_BYTES + 4u + OOC_SPILL_SALT_BYTES)
#define DATA_COUNTER_START 2u /* counter blocks 0 and 1 give the Poly1305 one-time key */
#define MIN_SECTOR_BYTES 256u

enum { ST_UNMOUNTED = 0, ST_MOUNTED = 1, ST_FAILED = 2 };

/* -- bytes ------------------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
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

static int is_pow2(uint32_t n)
{
    return n != 0u && (n & (n - 1u)) == 0u;
}

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

static uint32_t sector_addr(const ooc_spill_t *sp, uint32_t sector)
{
    return sp->base + sector * sp->sector_bytes;
}

static int f_read(ooc_spill_t *sp, uint32_t addr, void *buf, uint32_t len)
{
    sp->counters.read_ops++;
    sp->counters.bytes_read += len;
    return sp->read(sp->user, addr, buf, len) < 0 ? OOC_ERR_IO : OOC_OK;
}

/* One page program: [addr, addr + len) lies within one page. */
static int f_program(ooc_spill_t *sp, uint32_t addr, const uint8_t *data, uint32_t len)
{
    sp->counters.program_ops++;
    sp->counters.bytes_programmed += len;
    return sp->program(sp->user, addr, data, len) < 0 ? OOC_ERR_IO : OOC_OK;
}

/* Program any range, one command per page it touches. */
static int f_program_range(ooc_spill_t *sp, uint32_t addr, const uint8_t *data, uint32_t len)
{
    while (len > 0u) {
        uint32_t n = sp->page_bytes - (addr & (sp->page_bytes - 1u));
        int rc;
        n = n < len ? n : len;
        rc = f_program(sp, addr, data, n);
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
    return sp->erase(sp->user, sector_addr(sp, sector)) < 0 ? OOC_ERR_IO : OOC_OK;
}

/* 1 when [addr, addr + len) reads all 0xFF (read through the page buffer). */
static int f_blank(ooc_spill_t *sp, uint32_t addr, uint32_t len, int *blank)
{
    *blank = 1;
    while (len > 0u) {
        uint32_t n = len < sizeof sp->page ? len : (uint32_t)sizeof sp->page;
        int rc = f_read(sp, addr, sp->page, n);
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
    int rc = f_read(sp, sector_addr(sp, sector), h, SH_BYTES);
    if (rc == OOC_OK) {
        sector_header_parse(h, out);
    }
    return rc;
}

static void record_header_build(uint8_t h[RH_BYTES], uint32_t type, uint32_t len, uint32_t boot,
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

/* -- keys -------------------------------------------------------------------------------------- */

/* The CTR counter block of write `seq` of `boot` at block `counter`. */
static void counter_block(uint8_t iv[OOC_AES_BLOCK_BYTES], uint32_t boot, uint64_t seq,
                          uint32_t counter)
{
    put32(iv, boot);
    put64(iv + 4, seq);
    iv[12] = (uint8_t)(counter >> 24);
    iv[13] = (uint8_t)(counter >> 16);
    iv[14] = (uint8_t)(counter >> 8);
    iv[15] = (uint8_t)counter;
}

static int derive(const ooc_aes_t *root, const char *label, size_t label_len,
                  const uint8_t *context, uint32_t key_bytes, const ooc_aes_engine_t *engine,
                  ooc_aes_t *out)
{
    uint8_t key[OOC_AES_MAX_KEY_BYTES];
    int rc = ooc_kdf_cmac(root, (const uint8_t *)label, label_len, context, CONTEXT_BYTES, key,
                          key_bytes);
    if (rc == OOC_OK) {
        rc = ooc_aes_init(out, key, key_bytes, engine);
    }
    ooc_wipe(key, sizeof key);
    return rc;
}

/* K_enc (and K_mac for CMAC) = KDF(root, label, uid || u32le(boot) || salt). */
static int derive_keys(ooc_spill_t *sp, const ooc_spill_config_t *cfg)
{
    uint8_t context[CONTEXT_BYTES];
    uint32_t key_bytes = cfg->key_bytes != 0u ? cfg->key_bytes : cfg->root_key_bytes;
    ooc_aes_t root;
    int rc;
    memcpy(context, cfg->device_uid, OOC_IMG_UID_BYTES);
    put32(context + OOC_IMG_UID_BYTES, sp->boot);
    if (cfg->boot_salt != NULL) {
        memcpy(context + OOC_IMG_UID_BYTES + 4u, cfg->boot_salt, OOC_SPILL_SALT_BYTES);
    } else {
        memset(context + OOC_IMG_UID_BYTES + 4u, 0, OOC_SPILL_SALT_BYTES);
    }
    rc = ooc_aes_init(&root, cfg->root_key, cfg->root_key_bytes, cfg->aes_engine);
    if (rc == OOC_OK) {
        rc = derive(&root, OOC_SPILL_LABEL_ENC, sizeof OOC_SPILL_LABEL_ENC - 1u, context,
                    key_bytes, cfg->aes_engine, &sp->k_enc);
    }
    if (rc == OOC_OK && sp->tag_alg == OOC_IMG_TAG_AES_CMAC) {
        rc = derive(&root, OOC_SPILL_LABEL_MAC, sizeof OOC_SPILL_LABEL_MAC - 1u, context,
                    key_bytes, cfg->aes_engine, &sp->k_mac);
    }
    ooc_aes_wipe(&root);
    ooc_wipe(context, sizeof context);
    return rc;
}

/* -- the tag: AES-CMAC(K_mac, header || ciphertext) or Poly1305(otk, header || ciphertext) ----- */

typedef struct {
    uint32_t alg;
    ooc_cmac_t cmac;
    ooc_poly1305_t poly;
} mac_t;

static int mac_begin(mac_t *m, const ooc_spill_t *sp, uint64_t seq, const uint8_t *header)
{
    int rc = OOC_OK;
    m->alg = sp->tag_alg;
    if (m->alg == OOC_IMG_TAG_AES_CMAC) {
        rc = ooc_cmac_init(&m->cmac, &sp->k_mac);
        if (rc == OOC_OK) {
            rc = ooc_cmac_update(&m->cmac, header, RH_BYTES);
        }
    } else {
        /* Poly1305 one-time key = keystream blocks 0 and 1 of this write's nonce. */
        uint8_t iv[OOC_AES_BLOCK_BYTES], otk[32];
        memset(otk, 0, sizeof otk);
        counter_block(iv, sp->boot, seq, 0u);
        rc = ooc_aes_ctr(&sp->k_enc, iv, otk, otk, sizeof otk);
        if (rc == OOC_OK) {
            ooc_poly1305_init(&m->poly, otk);
            ooc_poly1305_update(&m->poly, header, RH_BYTES);
        }
        ooc_wipe(otk, sizeof otk);
    }
    return rc;
}

static int mac_update(mac_t *m, const uint8_t *data, uint32_t len)
{
    if (m->alg == OOC_IMG_TAG_AES_CMAC) {
        return ooc_cmac_update(&m->cmac, data, len);
    }
    ooc_poly1305_update(&m->poly, data, len);
    return OOC_OK;
}

static int mac_final(mac_t *m, uint8_t tag[TAG_BYTES])
{
    if (m->alg == OOC_IMG_TAG_AES_CMAC) {
        return ooc_cmac_final(&m->cmac, tag);
    }
    ooc_poly1305_final(&m->poly, tag);
    return OOC_OK;
}

/* -- the ring ---------------------------------------------------------------------------------- */

static int fail(ooc_spill_t *sp, int rc)
{
    if (rc == OOC_ERR_IO) {
        sp->state = ST_FAILED;
    }
    return rc;
}

/* Open the next sector of the ring (sector 0 of an empty ring) and make it the head. */
static int open_next(ooc_spill_t *sp)
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
        rc = f_blank(sp, sector_addr(sp, x), sp->sector_bytes, &blank);
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
            rc = f_program_range(sp, sector_addr(sp, sp->head) + OOC_SPILL_SH_NEXT_COUNT, want, 8u);
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
    rc = f_program_range(sp, sector_addr(sp, x), h, SH_BYTES);
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
    uint32_t base = sector_addr(sp, sp->head);
    uint32_t pos = SH_BYTES, max_len = ooc_spill_max_payload(sp->sector_bytes);
    int rc;
    while (pos + RH_BYTES <= sp->sector_bytes) {
        uint32_t type, len, size;
        rc = f_read(sp, base + pos, h, RH_BYTES);
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

static int check_config(const ooc_spill_config_t *cfg)
{
    uint32_t key_bytes;
    if (cfg == NULL || cfg->read == NULL || cfg->program == NULL || cfg->erase == NULL ||
        cfg->root_key == NULL || cfg->device_uid == NULL ||
        (cfg->root_key_bytes != 16u && cfg->root_key_bytes != 32u)) {
        return OOC_ERR_ARG;
    }
    key_bytes = cfg->key_bytes != 0u ? cfg->key_bytes : cfg->root_key_bytes;
    if ((key_bytes != 16u && key_bytes != 32u) ||
        (cfg->tag_alg != OOC_IMG_TAG_AES_CMAC && cfg->tag_alg != OOC_IMG_TAG_POLY1305)) {
        return OOC_ERR_ARG;
    }
    if (!is_pow2(cfg->page_bytes) || cfg->page_bytes < ALIGN ||
        cfg->page_bytes > OOC_SPILL_MAX_PAGE_BYTES || !is_pow2(cfg->sector_bytes) ||
        cfg->sector_bytes < cfg->page_bytes || cfg->sector_bytes < MIN_SECTOR_BYTES ||
        (cfg->base & (cfg->sector_bytes - 1u)) != 0u ||
        (cfg->bytes & (cfg->sector_bytes - 1u)) != 0u || cfg->bytes / cfg->sector_bytes < 2u ||
        cfg->base + cfg->bytes < cfg->base) {
        return OOC_ERR_ARG;
    }
    return OOC_OK;
}

int ooc_spill_mount(ooc_spill_t *sp, const ooc_spill_config_t *cfg)
{
    uint8_t h[RH_BYTES], back[RH_BYTES];
    uint32_t i, max_boot = 0u;
    int rc;
    if (sp == NULL) {
        return OOC_ERR_ARG;
    }
    ooc_wipe(sp, sizeof *sp);
    rc = check_config(cfg);
    if (rc < 0) {
        return rc;
    }
    sp->read = cfg->read;
    sp->program = cfg->program;
    sp->erase = cfg->erase;
    sp->user = cfg->user;
    sp->base = cfg->base;
    sp->page_bytes = cfg->page_bytes;
    sp->sector_bytes = cfg->sector_bytes;
    sp->n_sectors = cfg->bytes / cfg->sector_bytes;
    sp->tag_alg = cfg->tag_alg;

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
        if (sh.boot > max_boot) {
            max_boot = sh.boot;
        }
        if (sh.ring_seq > sp->head_ring_seq) {
            sp->head = i;
            sp->head_ring_seq = sh.ring_seq;
        }
    }
    if (sp->head_ring_seq != 0u) {
        rc = scan_head(sp, &max_boot);
        if (rc < 0) {
            return rc;
        }
    }
    if (max_boot == UINT32_MAX) {
        return OOC_ERR_SPILL_EXHAUSTED;
    }
    sp->boot = max_boot + 1u > cfg->min_boot ? max_boot + 1u : cfg->min_boot;

    /* ORDER 4: the boot record, read back, before this boot's keys exist. */
    if (sp->head_ring_seq == 0u || sp->pos + RH_BYTES > sp->sector_bytes) {
        rc = open_next(sp);
    }
    if (rc == OOC_OK) {
        uint32_t addr = sector_addr(sp, sp->head) + sp->pos;
        record_header_build(h, OOC_SPILL_RECORD_BOOT, 0u, sp->boot, 0u, 0u, 0u);
        rc = f_program_range(sp, addr, h, RH_BYTES);
        if (rc == OOC_OK) {
            rc = f_read(sp, addr, back, RH_BYTES);
        }
        if (rc == OOC_OK && memcmp(h, back, RH_BYTES) != 0) {
            rc = OOC_ERR_IO;
        }
        if (rc == OOC_OK) {
            sp->pos += RH_BYTES;
        }
    }
    if (rc == OOC_OK) {
        rc = derive_keys(sp, cfg);
    }
    if (rc < 0) {
        ooc_spill_unmount(sp);
        return rc;
    }
    sp->seq = 0u;
    sp->fresh = cfg->boot_salt != NULL || cfg->min_boot != 0u;
    sp->state = ST_MOUNTED;
    return OOC_OK;
}

/* Fill sp->page with record bytes [off, off + n): header, then the payload encrypted as it goes
   (and fed to the MAC), then the tag, computed once the payload is complete. */
static int fill_segment(ooc_spill_t *sp, const uint8_t *header, const uint8_t *data, uint32_t len,
                        uint64_t seq, mac_t *mac, uint8_t *tag, int *tag_done, uint32_t off,
                        uint32_t n)
{
    uint32_t end = off + n, a, b;
    int rc = OOC_OK;
    if (off < RH_BYTES) {
        b = end < RH_BYTES ? end : RH_BYTES;
        memcpy(sp->page, header + off, b - off);
    }
    a = off > RH_BYTES ? off : RH_BYTES;
    b = end < RH_BYTES + len ? end : RH_BYTES + len;
    if (a < b) {
        /* a - RH_BYTES is a multiple of 16: records start 16-aligned and pages are multiples of
           16, so every segment after the first starts on a keystream block. */
        uint8_t iv[OOC_AES_BLOCK_BYTES];
        counter_block(iv, sp->boot, seq, DATA_COUNTER_START + (a - RH_BYTES) / 16u);
        rc = ooc_aes_ctr(&sp->k_enc, iv, data + (a - RH_BYTES), sp->page + (a - off), b - a);
        if (rc == OOC_OK) {
            rc = mac_update(mac, sp->page + (a - off), b - a);
        }
    }
    if (rc == OOC_OK && !*tag_done && end >= RH_BYTES + len) {
        rc = mac_final(mac, tag);
        *tag_done = 1;
    }
    a = off > RH_BYTES + len ? off : RH_BYTES + len;
    if (rc == OOC_OK && a < end) {
        memcpy(sp->page + (a - off), tag + (a - RH_BYTES - len), end - a);
    }
    return rc;
}

int ooc_spill_write(ooc_spill_t *sp, uint32_t tensor, uint32_t tile, const void *data, uint32_t len,
                    ooc_spill_ref_t *ref)
{
    uint8_t header[RH_BYTES], tag[TAG_BYTES];
    uint32_t size, total, off = 0, rec;
    uint64_t seq;
    mac_t mac;
    int tag_done = 0, rc;
    if (sp == NULL || sp->state != ST_MOUNTED) {
        return sp != NULL && sp->state == ST_FAILED ? OOC_ERR_IO : OOC_ERR_STATE;
    }
    if (data == NULL || ref == NULL || len == 0u) {
        return OOC_ERR_ARG;
    }
    if (len > ooc_spill_max_payload(sp->sector_bytes)) {
        return OOC_ERR_SPILL_TOO_BIG;
    }
    size = ooc_spill_record_bytes(len);
    total = RH_BYTES + len + TAG_BYTES;
    if (sp->pos + size > sp->sector_bytes) {
        rc = open_next(sp);
        if (rc < 0) {
            return fail(sp, rc);
        }
    }
    /* The sequence number is spent before any byte is encrypted under it. */
    seq = sp->seq++;
    rec = sector_addr(sp, sp->head) + sp->pos;
    record_header_build(header, OOC_SPILL_RECORD_DATA, len, sp->boot, tensor, tile, seq);
    rc = mac_begin(&mac, sp, seq, header);
    /* ORDER 3: front to back, one page program per page the record touches. */
    while (rc == OOC_OK && off < total) {
        uint32_t n = sp->page_bytes - ((rec + off) & (sp->page_bytes - 1u));
        n = n < total - off ? n : total - off;
        rc = fill_segment(sp, header, (const uint8_t *)data, len, seq, &mac, tag, &tag_done, off,
                          n);
        if (rc == OOC_OK) {
            rc = f_program(sp, rec + off, sp->page, n);
        }
        off += n;
    }
    if (!tag_done) {
        ooc_wipe(&mac, sizeof mac);
    }
    ooc_wipe(tag, sizeof tag);
    if (rc < 0) {
        /* Part of the record may be on the flash: only a mount knows where to go on. */
        if (off > 0u) {
            sp->state = ST_FAILED;
        }
        return rc;
    }
    ref->offset = rec - sp->base;
    ref->len = len;
    ref->tensor = tensor;
    ref->tile = tile;
    ref->boot = sp->boot;
    ref->ring_seq = sp->head_ring_seq;
    ref->seq = seq;
    sp->pos += size;
    return OOC_OK;
}

int ooc_spill_read(ooc_spill_t *sp, const ooc_spill_ref_t *ref, uint32_t tensor, uint32_t tile,
                   void *out, uint32_t len)
{
    uint8_t want[RH_BYTES], got[RH_BYTES], tag[TAG_BYTES], stored[TAG_BYTES];
    uint8_t iv[OOC_AES_BLOCK_BYTES];
    uint8_t *buf = (uint8_t *)out;
    uint32_t age, sector, addr;
    mac_t mac;
    int rc, same;
    if (sp == NULL || sp->state != ST_MOUNTED) {
        return sp != NULL && sp->state == ST_FAILED ? OOC_ERR_IO : OOC_ERR_STATE;
    }
    if (ref == NULL || out == NULL || len == 0u || ref->len != len || ref->tensor != tensor ||
        ref->tile != tile) {
        return OOC_ERR_ARG;
    }
    if (ref->boot != sp->boot) {
        return OOC_ERR_SPILL_STALE;
    }
    /* The ring sequence says which sector holds the record, and whether the ring has come back
       to it since: both from RAM, so the flash cannot change the answer. */
    if (ref->ring_seq > sp->head_ring_seq) {
        return OOC_ERR_ARG;
    }
    age = sp->head_ring_seq - ref->ring_seq;
    if (age >= sp->n_sectors) {
        return OOC_ERR_SPILL_STALE;
    }
    sector = (sp->head + sp->n_sectors - age) % sp->n_sectors;
    if (ref->offset / sp->sector_bytes != sector || ref->seq >= sp->seq ||
        (ref->offset & (ALIGN - 1u)) != 0u || ref->offset % sp->sector_bytes < SH_BYTES ||
        len > ooc_spill_max_payload(sp->sector_bytes) ||
        ooc_spill_record_bytes(len) > sp->sector_bytes - ref->offset % sp->sector_bytes) {
        return OOC_ERR_ARG;
    }
    addr = sp->base + ref->offset;
    record_header_build(want, OOC_SPILL_RECORD_DATA, len, sp->boot, tensor, tile, ref->seq);
    rc = f_read(sp, addr, got, RH_BYTES);
    if (rc == OOC_OK) {
        rc = f_read(sp, addr + RH_BYTES, buf, len);
    }
    if (rc == OOC_OK) {
        rc = f_read(sp, addr + RH_BYTES + len, stored, TAG_BYTES);
    }
    /* The tag over the header as the ref says it must be, and the ciphertext as read. */
    if (rc == OOC_OK) {
        rc = mac_begin(&mac, sp, ref->seq, want);
        if (rc == OOC_OK) {
            rc = mac_update(&mac, buf, len);
        }
        if (rc == OOC_OK) {
            rc = mac_final(&mac, tag);
        } else {
            ooc_wipe(&mac, sizeof mac);
        }
    }
    if (rc == OOC_OK) {
        same = ooc_ct_equal(tag, stored, TAG_BYTES);
        same &= ooc_ct_equal(want, got, RH_BYTES);
        if (!same) {
            rc = OOC_ERR_AUTH;
        }
    }
    if (rc == OOC_OK) {
        counter_block(iv, sp->boot, ref->seq, DATA_COUNTER_START);
        rc = ooc_aes_ctr(&sp->k_enc, iv, buf, buf, len);
    }
    ooc_wipe(tag, sizeof tag);
    if (rc < 0) {
        ooc_wipe(buf, len);
    }
    return rc;
}

int ooc_spill_ref_next(const ooc_spill_t *sp, const ooc_spill_ref_t *prev, uint32_t tensor,
                       uint32_t tile, uint32_t len, ooc_spill_ref_t *next)
{
    uint32_t sector, pos;
    if (sp == NULL || prev == NULL || next == NULL || sp->sector_bytes == 0u || len == 0u ||
        len > ooc_spill_max_payload(sp->sector_bytes) || prev->len == 0u ||
        prev->len > ooc_spill_max_payload(sp->sector_bytes) ||
        prev->offset / sp->sector_bytes >= sp->n_sectors) {
        return OOC_ERR_ARG;
    }
    sector = prev->offset / sp->sector_bytes;
    pos = prev->offset % sp->sector_bytes + ooc_spill_record_bytes(prev->len);
    *next = *prev;
    if (pos + ooc_spill_record_bytes(len) > sp->sector_bytes) { /* ooc_spill_write opens the next */
        sector = (sector + 1u) % sp->n_sectors;
        pos = SH_BYTES;
        next->ring_seq = prev->ring_seq + 1u;
    }
    next->offset = sector * sp->sector_bytes + pos;
    next->len = len;
    next->tensor = tensor;
    next->tile = tile;
    next->seq = prev->seq + 1u;
    return OOC_OK;
}

int ooc_spill_status(const ooc_spill_t *sp, ooc_spill_status_t *st)
{
    if (sp == NULL || st == NULL) {
        return OOC_ERR_ARG;
    }
    if (sp->state == ST_UNMOUNTED) {
        return OOC_ERR_STATE;
    }
    memset(st, 0, sizeof *st);
    st->boot = sp->boot;
    st->next_seq = sp->seq;
    st->head = sp->head;
    st->head_ring_seq = sp->head_ring_seq;
    st->position = sp->pos;
    st->n_sectors = sp->n_sectors;
    st->recovered = sp->recovered;
    st->counters = sp->counters;
    return OOC_OK;
}

uint32_t ooc_spill_boot(const ooc_spill_t *sp)
{
    return sp != NULL && sp->state == ST_MOUNTED ? sp->boot : 0u;
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

void ooc_spill_unmount(ooc_spill_t *sp)
{
    if (sp != NULL) {
        ooc_wipe(sp, sizeof *sp);
    }
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
            /* open_next(): the head's next_count slot, the erase, the new sector's header */
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
