/*
 * Activation spill ring: an encrypted, authenticated, wear-levelled log in the image's scratch
 * partition that survives power loss. ooc/ooc_spill.h has the API; docs/spill.md the byte layout,
 * the key schedule, and why recovery is safe. This unit is the API: mount (configuration, boot
 * number, per-boot keys), the encrypted records (write, read back, the next ref) and the state;
 * spill_ring.c is the ring on the flash underneath (headers, sectors, recovery, prediction), with
 * the ordering rules marked "ORDER".
 */
#include "spill_ring.h"

#include <string.h>

#define CONTEXT_BYTES (OOC_IMG_UID_BYTES + 4u + OOC_SPILL_SALT_BYTES)
#define DATA_COUNTER_START 2u /* counter blocks 0 and 1 give the Poly1305 one-time key */

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
    const ooc_port_t *port = cfg->port;
    uint32_t key_bytes = cfg->key_bytes != 0u ? cfg->key_bytes : port->root_key_bytes;
    ooc_aes_t root;
    int rc;
    memcpy(context, port->device_uid, OOC_IMG_UID_BYTES);
    put32(context + OOC_IMG_UID_BYTES, sp->boot);
    if (cfg->boot_salt != NULL) {
        memcpy(context + OOC_IMG_UID_BYTES + 4u, cfg->boot_salt, OOC_SPILL_SALT_BYTES);
    } else {
        memset(context + OOC_IMG_UID_BYTES + 4u, 0, OOC_SPILL_SALT_BYTES);
    }
    rc = ooc_aes_init(&root, port->root_key, port->root_key_bytes, port->aes_engine);
    if (rc == OOC_OK) {
        rc = derive(&root, OOC_SPILL_LABEL_ENC, sizeof OOC_SPILL_LABEL_ENC - 1u, context,
                    key_bytes, port->aes_engine, &sp->k_enc);
    }
    if (rc == OOC_OK && sp->tag_alg == OOC_IMG_TAG_AES_CMAC) {
        rc = derive(&root, OOC_SPILL_LABEL_MAC, sizeof OOC_SPILL_LABEL_MAC - 1u, context,
                    key_bytes, port->aes_engine, &sp->k_mac);
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

/* -- mount ------------------------------------------------------------------------------------ */

static int fail(ooc_spill_t *sp, int rc)
{
    if (rc == OOC_ERR_IO) {
        sp->state = ST_FAILED;
    }
    return rc;
}

/* The port (ooc_port_check()), the ring's own limits on it, and the partition. */
static int check_config(const ooc_spill_config_t *cfg)
{
    const ooc_port_t *port;
    uint32_t key_bytes;
    if (cfg == NULL || ooc_port_check(cfg->port, OOC_PORT_WRITES) != OOC_OK) {
        return OOC_ERR_ARG;
    }
    port = cfg->port;
    key_bytes = cfg->key_bytes != 0u ? cfg->key_bytes : port->root_key_bytes;
    if ((key_bytes != 16u && key_bytes != 32u) ||
        (cfg->tag_alg != OOC_IMG_TAG_AES_CMAC && cfg->tag_alg != OOC_IMG_TAG_POLY1305)) {
        return OOC_ERR_ARG;
    }
    if (port->page_bytes < ALIGN || port->page_bytes > OOC_SPILL_MAX_PAGE_BYTES ||
        port->sector_bytes < MIN_SECTOR_BYTES || (cfg->base & (port->sector_bytes - 1u)) != 0u ||
        (cfg->bytes & (port->sector_bytes - 1u)) != 0u || cfg->bytes / port->sector_bytes < 2u ||
        cfg->base + cfg->bytes < cfg->base || cfg->base + cfg->bytes > port->flash_bytes) {
        return OOC_ERR_ARG;
    }
    return OOC_OK;
}

int ooc_spill_mount(ooc_spill_t *sp, const ooc_spill_config_t *cfg)
{
    uint8_t h[RH_BYTES], back[RH_BYTES];
    uint32_t max_boot = 0u;
    int rc;
    if (sp == NULL) {
        return OOC_ERR_ARG;
    }
    ooc_wipe(sp, sizeof *sp);
    rc = check_config(cfg);
    if (rc < 0) {
        return rc;
    }
    sp->read = cfg->port->read;
    sp->program = cfg->port->program;
    sp->erase = cfg->port->erase;
    sp->user = cfg->port->user;
    sp->base = cfg->base;
    sp->page_bytes = cfg->port->page_bytes;
    sp->sector_bytes = cfg->port->sector_bytes;
    sp->n_sectors = cfg->bytes / cfg->port->sector_bytes;
    sp->tag_alg = cfg->tag_alg;

    /* Where the ring is, and the highest boot number it holds. */
    rc = ooc_ring_recover(sp, &max_boot);
    if (rc < 0) {
        return rc;
    }
    if (cfg->min_boot != 0u) {
        /* Trusted storage gives the boot number; the ring's (untrusted, CRC only) cannot move
           it: a forged header or record is not believed, and the trusted counter is never
           burnt from the flash. */
        sp->boot = cfg->min_boot;
    } else if (max_boot == UINT32_MAX) {
        return OOC_ERR_SPILL_EXHAUSTED;
    } else {
        sp->boot = max_boot + 1u;
    }

    /* ORDER 4: the boot record, read back, before this boot's keys exist. */
    if (sp->head_ring_seq == 0u || sp->pos + RH_BYTES > sp->sector_bytes) {
        rc = ooc_ring_open_next(sp);
    }
    if (rc == OOC_OK) {
        uint32_t addr = ooc_ring_sector_addr(sp, sp->head) + sp->pos;
        ooc_ring_record_header(h, OOC_SPILL_RECORD_BOOT, 0u, sp->boot, 0u, 0u, 0u);
        rc = ooc_ring_program_range(sp, addr, h, RH_BYTES);
        if (rc == OOC_OK) {
            rc = ooc_ring_read(sp, addr, back, RH_BYTES);
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

/* -- records ---------------------------------------------------------------------------------- */

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
        rc = ooc_ring_open_next(sp);
        if (rc < 0) {
            return fail(sp, rc);
        }
    }
    /* The sequence number is spent before any byte is encrypted under it. */
    seq = sp->seq++;
    rec = ooc_ring_sector_addr(sp, sp->head) + sp->pos;
    ooc_ring_record_header(header, OOC_SPILL_RECORD_DATA, len, sp->boot, tensor, tile, seq);
    rc = mac_begin(&mac, sp, seq, header);
    /* ORDER 3: front to back, one page program per page the record touches. */
    while (rc == OOC_OK && off < total) {
        uint32_t n = sp->page_bytes - ((rec + off) & (sp->page_bytes - 1u));
        n = n < total - off ? n : total - off;
        rc = fill_segment(sp, header, (const uint8_t *)data, len, seq, &mac, tag, &tag_done, off,
                          n);
        if (rc == OOC_OK) {
            rc = ooc_ring_program(sp, rec + off, sp->page, n);
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
    ooc_ring_record_header(want, OOC_SPILL_RECORD_DATA, len, sp->boot, tensor, tile, ref->seq);
    rc = ooc_ring_read(sp, addr, got, RH_BYTES);
    if (rc == OOC_OK) {
        rc = ooc_ring_read(sp, addr + RH_BYTES, buf, len);
    }
    if (rc == OOC_OK) {
        rc = ooc_ring_read(sp, addr + RH_BYTES + len, stored, TAG_BYTES);
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

void ooc_spill_unmount(ooc_spill_t *sp)
{
    if (sp != NULL) {
        ooc_wipe(sp, sizeof *sp);
    }
}
