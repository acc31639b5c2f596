/*
 * Flash image reader: mount (verify the header for this device) and read chunks (verify, then
 * decrypt). Mirrors ooc_sdk/image/reader.py check for check; docs/FORMAT.md is the spec.
 */
#include "ooc/ooc_image.h"

#include <string.h>

#include "image_internal.h"

#define SB_BYTES OOC_IMG_SB_BYTES
#define KS_BYTES OOC_IMG_KS_BYTES
#define MF_BYTES OOC_IMG_MF_BYTES
#define CE_BYTES OOC_IMG_CE_BYTES

static int is_pow2(uint32_t n)
{
    return n != 0u && (n & (n - 1u)) == 0u;
}

static int all_zero(const uint8_t *p, uint32_t n)
{
    uint8_t acc = 0;
    uint32_t i;
    for (i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* Read `len` bytes at image offset `off`; the caller has bounds-checked off + len. */
int ooc_image__flash_read(ooc_flash_read_fn read, void *user, uint32_t base, uint32_t off,
                          void *buf, uint32_t len)
{
    if ((uint32_t)(base + off) < base) {
        return OOC_ERR_FORMAT; /* address space wrap */
    }
    return read(user, base + off, buf, len) < 0 ? OOC_ERR_IO : OOC_OK;
}

#define flash_read ooc_image__flash_read
#define entry_ok ooc_image__entry_ok

/* The nonce a weight chunk must carry: index || domain || 0, little-endian words. */
static void expected_nonce(uint32_t index, uint8_t nonce[OOC_IMG_NONCE_BYTES])
{
    uint32_t words[3];
    uint32_t i;
    words[0] = index;
    words[1] = OOC_IMG_NONCE_DOMAIN_WEIGHTS;
    words[2] = 0;
    for (i = 0; i < 12u; i++) {
        nonce[i] = (uint8_t)(words[i / 4u] >> (8u * (i % 4u)));
    }
}

/* Structure of one chunk table entry; `min_offset` is where the previous chunk ended. */
int ooc_image__entry_ok(const ooc_image_t *img, const uint8_t *e, uint32_t index,
                        uint32_t min_offset)
{
    uint8_t nonce[OOC_IMG_NONCE_BYTES];
    uint32_t off = le32(e + OOC_IMG_CE_FLASH_OFFSET);
    uint32_t len = le32(e + OOC_IMG_CE_LENGTH);
    expected_nonce(index, nonce);
    return le32(e + OOC_IMG_CE_INDEX) == index && (le16(e + OOC_IMG_CE_KIND) == OOC_IMG_CHUNK_WEIGHTS || le16(e + OOC_IMG_CE_KIND) == OOC_IMG_CHUNK_DW_CHANNELS) &&
           le16(e + OOC_IMG_CE_FLAGS) == 0u && all_zero(e + OOC_IMG_CE_RESERVED, 12u) &&
           memcmp(e + OOC_IMG_CE_NONCE, nonce, sizeof nonce) == 0 &&
           (off & (img->chunk_align - 1u)) == 0u && off >= min_offset && len >= 1u &&
           len <= img->max_chunk_bytes && off <= img->weights_end &&
           len <= img->weights_end - off;
}

/* Superblock geometry and partition map; fills the weights bounds. */
static int check_superblock(ooc_image_t *img, const uint8_t *sb, uint32_t flash_bytes,
                            uint32_t *header_len)
{
    uint32_t page = le32(sb + OOC_IMG_SB_PAGE_BYTES);
    uint32_t sector = le32(sb + OOC_IMG_SB_SECTOR_BYTES);
    uint32_t size = le32(sb + OOC_IMG_SB_IMAGE_BYTES);
    uint32_t n = le32(sb + OOC_IMG_SB_N_PARTITIONS);
    uint32_t pos = 0, i, seen = 0;
    int have_weights = 0;
    if (le16(sb + OOC_IMG_SB_FORMAT_VERSION) != OOC_IMG_FORMAT_VERSION ||
        le16(sb + OOC_IMG_SB_SUPERBLOCK_BYTES) != SB_BYTES || !is_pow2(page) ||
        !is_pow2(sector) || sector < page || size == 0u || (size & (sector - 1u)) != 0u ||
        (le32(sb + OOC_IMG_SB_BASE_OFFSET) & (sector - 1u)) != 0u) {
        return OOC_ERR_FORMAT;
    }
    if (size > flash_bytes) {
        return OOC_ERR_TRUNCATED;
    }
    if (n < 1u || n > OOC_IMG_MAX_PARTITIONS) {
        return OOC_ERR_FORMAT;
    }
    for (i = 0; i < OOC_IMG_MAX_PARTITIONS; i++) {
        const uint8_t *p = sb + OOC_IMG_SB_PARTITIONS + i * OOC_IMG_PART_BYTES;
        uint32_t kind = le32(p + OOC_IMG_PART_KIND);
        uint32_t off = le32(p + OOC_IMG_PART_OFFSET);
        uint32_t len = le32(p + OOC_IMG_PART_LENGTH);
        if (i >= n) {
            if (!all_zero(p, OOC_IMG_PART_BYTES)) {
                return OOC_ERR_FORMAT;
            }
            continue;
        }
        if (kind < OOC_IMG_PART_HEADER || kind > OOC_IMG_PART_INSTALL ||
            (seen & (1u << kind)) != 0u || off != pos || (off & (sector - 1u)) != 0u ||
            (len & (sector - 1u)) != 0u || (i == 0u) != (kind == OOC_IMG_PART_HEADER) ||
            len > size - pos) {
            return OOC_ERR_FORMAT;
        }
        seen |= 1u << kind;
        if (kind == OOC_IMG_PART_HEADER) {
            *header_len = len;
        }
        if (kind == OOC_IMG_PART_WEIGHTS) {
            img->weights_begin = off;
            img->weights_end = off + len;
            have_weights = 1;
        }
        if (kind == OOC_IMG_PART_SCRATCH) {
            img->scratch_begin = off;
            img->scratch_end = off + len;
        }
        if (kind == OOC_IMG_PART_INSTALL) {
            img->install_begin = off;
            img->install_end = off + len;
        }
        pos = off + len;
    }
    if (pos != size || !have_weights) {
        return OOC_ERR_FORMAT;
    }
    return OOC_OK;
}

static int check_manifest(ooc_image_t *img, const uint8_t *sb, const uint8_t *mf,
                          uint32_t header_len)
{
    static const uint8_t magic[4] = OOC_IMG_MANIFEST_MAGIC;
    uint32_t n = le32(mf + OOC_IMG_MF_N_CHUNKS);
    uint32_t cipher = mf[OOC_IMG_MF_CIPHER];
    uint32_t tag_alg = mf[OOC_IMG_MF_TAG_ALG];
    uint32_t flags = le16(mf + OOC_IMG_MF_FLAGS) & ~(uint32_t)OOC_IMG_FLAG_APPROX; /* informative */
    uint32_t sector = le32(sb + OOC_IMG_SB_SECTOR_BYTES);
    uint32_t table_end, header_end, install_len = 0;
    if (n > (UINT32_MAX - OOC_IMG_CHUNK_TABLE_OFFSET - OOC_IMG_TAG_BYTES - OOC_IMG_SIG_BYTES -
             sector) / CE_BYTES) {
        return OOC_ERR_FORMAT;
    }
    table_end = OOC_IMG_CHUNK_TABLE_OFFSET + n * CE_BYTES;
    header_end = table_end + OOC_IMG_TAG_BYTES;
    if (flags == OOC_IMG_FLAG_SIGNED) {
        header_end += OOC_IMG_SIG_BYTES;
        /* the install record and a tag per chunk, in whole sectors (n * 16 < n * 64: no wrap) */
        install_len = (OOC_IMG_IR_BYTES + n * OOC_IMG_TAG_BYTES + sector - 1u) & ~(sector - 1u);
    } else if (flags != 0u) {
        return OOC_ERR_FORMAT;
    }
    if (img->install_end - img->install_begin != install_len) {
        return OOC_ERR_FORMAT; /* a signed image has an install partition; an unsigned one none */
    }
    img->signed_image = flags == OOC_IMG_FLAG_SIGNED;
    if (memcmp(mf + OOC_IMG_MF_MAGIC, magic, 4) != 0 ||
        le16(mf + OOC_IMG_MF_MANIFEST_BYTES) != MF_BYTES ||
        le16(mf + OOC_IMG_MF_CHUNK_ENTRY_BYTES) != CE_BYTES ||
        le32(mf + OOC_IMG_MF_CHUNK_TABLE_OFFSET) != OOC_IMG_CHUNK_TABLE_OFFSET ||
        le32(mf + OOC_IMG_MF_HEADER_TAG_OFFSET) != table_end ||
        le32(sb + OOC_IMG_SB_HEADER_BYTES) != header_end || header_end > header_len ||
        (cipher != OOC_IMG_CIPHER_AES128_CTR && cipher != OOC_IMG_CIPHER_AES256_CTR) ||
        (tag_alg != OOC_IMG_TAG_AES_CMAC && tag_alg != OOC_IMG_TAG_POLY1305)) {
        return OOC_ERR_FORMAT;
    }
    img->n_chunks = n;
    img->tag_alg = tag_alg;
    img->max_chunk_bytes = le32(mf + OOC_IMG_MF_MAX_CHUNK_BYTES);
    img->chunk_align = le32(mf + OOC_IMG_MF_CHUNK_ALIGN);
    img->security_counter = le32(mf + OOC_IMG_MF_SECURITY_COUNTER);
    memcpy(img->model_sha256, mf + OOC_IMG_MF_MODEL_SHA256, 32);
    memcpy(img->plan_id, mf + OOC_IMG_MF_PLAN_ID, 16);
    return OOC_OK;
}

/* Key slot checks, then unwrap the content key into `ck` (its length in *ck_len). */
static int open_key_slot(const uint8_t *ks, const uint8_t *mf, const uint8_t *build_id,
                         const ooc_port_t *port, uint8_t *ck, uint32_t *ck_len)
{
    static const uint8_t magic[4] = OOC_IMG_KEY_SLOT_MAGIC;
    uint8_t key_id[OOC_IMG_KEY_ID_BYTES];
    uint8_t context[OOC_IMG_UID_BYTES + OOC_IMG_BUILD_ID_BYTES];
    uint8_t kek_bytes[OOC_AES_MAX_KEY_BYTES];
    ooc_aes_t root, kek;
    uint32_t ck_bytes = ks[OOC_IMG_KS_CONTENT_KEY_BYTES];
    uint32_t want = mf[OOC_IMG_MF_CIPHER] == OOC_IMG_CIPHER_AES128_CTR ? 16u : 32u;
    int rc;
    if (memcmp(ks + OOC_IMG_KS_MAGIC, magic, 4) != 0 || ks[OOC_IMG_KS_VERSION] != OOC_IMG_KEY_SLOT_VERSION ||
        ks[OOC_IMG_KS_WRAP_ALG] != OOC_IMG_WRAP_AES_KW || ck_bytes != want ||
        (ks[OOC_IMG_KS_ROOT_KEY_BYTES] != 16u && ks[OOC_IMG_KS_ROOT_KEY_BYTES] != 32u) ||
        !all_zero(ks + OOC_IMG_KS_WRAPPED_KEY + ck_bytes + 8u,
                  OOC_IMG_MAX_WRAPPED_BYTES - ck_bytes - 8u) ||
        !all_zero(ks + OOC_IMG_KS_RESERVED, KS_BYTES - OOC_IMG_KS_RESERVED)) {
        return OOC_ERR_FORMAT;
    }
    if (memcmp(ks + OOC_IMG_KS_DEVICE_UID, port->device_uid, OOC_IMG_UID_BYTES) != 0) {
        return OOC_ERR_WRONG_DEVICE;
    }
    rc = ooc_aes_init(&root, port->root_key, port->root_key_bytes, port->aes_engine);
    if (rc < 0) {
        return rc;
    }
    rc = ooc_kdf_cmac(&root, (const uint8_t *)OOC_IMG_LABEL_KEY_ID, sizeof OOC_IMG_LABEL_KEY_ID - 1u,
                      port->device_uid, OOC_IMG_UID_BYTES, key_id, sizeof key_id);
    if (rc == OOC_OK && (ks[OOC_IMG_KS_ROOT_KEY_BYTES] != port->root_key_bytes ||
                         !ooc_ct_equal(key_id, ks + OOC_IMG_KS_KEY_ID, sizeof key_id))) {
        rc = OOC_ERR_WRONG_KEY;
    }
    if (rc == OOC_OK) {
        memcpy(context, port->device_uid, OOC_IMG_UID_BYTES);
        memcpy(context + OOC_IMG_UID_BYTES, build_id, OOC_IMG_BUILD_ID_BYTES);
        rc = ooc_kdf_cmac(&root, (const uint8_t *)OOC_IMG_LABEL_KEK, sizeof OOC_IMG_LABEL_KEK - 1u,
                          context, sizeof context, kek_bytes, port->root_key_bytes);
    }
    if (rc == OOC_OK) {
        rc = ooc_aes_init(&kek, kek_bytes, port->root_key_bytes, NULL);
    }
    if (rc == OOC_OK) {
        rc = ooc_aes_key_unwrap(&kek, ks + OOC_IMG_KS_WRAPPED_KEY, ck_bytes + 8u, ck);
        *ck_len = ck_bytes;
        ooc_aes_wipe(&kek);
    }
    ooc_aes_wipe(&root);
    ooc_wipe(kek_bytes, sizeof kek_bytes);
    return rc;
}

int ooc_image__derive(const ooc_aes_t *key, const char *label, size_t label_len,
                      const uint8_t *context, size_t context_len, uint32_t key_len,
                      const ooc_aes_engine_t *engine, ooc_aes_t *out)
{
    uint8_t bytes[OOC_AES_MAX_KEY_BYTES];
    int rc = ooc_kdf_cmac(key, (const uint8_t *)label, label_len, context, context_len, bytes,
                          key_len);
    if (rc == OOC_OK) {
        rc = ooc_aes_init(out, bytes, key_len, engine);
    }
    ooc_wipe(bytes, sizeof bytes);
    return rc;
}

/* A content sub-key: KDF(content key, label, build id). */
#define DERIVE(ck, label, id, n, eng, out)                                                        \
    ooc_image__derive(ck, label, sizeof label - 1u, id, OOC_IMG_BUILD_ID_BYTES, n, eng, out)

/* Header tag over superblock || manifest || chunk table, checking each entry's structure; with
   `sha`, also hashes superblock || manifest || chunk table || header tag (what a signature
   covers). */
static int check_header(ooc_image_t *img, const ooc_aes_t *k_hdr, const uint8_t *sb,
                        const uint8_t *mf, ooc_sha512_t *sha)
{
    ooc_cmac_t mac;
    uint8_t entry[CE_BYTES];
    uint8_t tag[OOC_TAG_BYTES], stored[OOC_TAG_BYTES];
    uint32_t i, pos = img->weights_begin, total = 0;
    int bad = 0, rc;
    rc = ooc_cmac_init(&mac, k_hdr);
    if (rc == OOC_OK) {
        rc = ooc_cmac_update(&mac, sb, SB_BYTES);
    }
    if (rc == OOC_OK) {
        rc = ooc_cmac_update(&mac, mf, MF_BYTES);
    }
    if (sha != NULL) {
        ooc_sha512_update(sha, sb, SB_BYTES);
        ooc_sha512_update(sha, mf, MF_BYTES);
    }
    for (i = 0; rc == OOC_OK && i < img->n_chunks; i++) {
        rc = flash_read(img->read, img->user, img->base, OOC_IMG_CHUNK_TABLE_OFFSET + i * CE_BYTES,
                        entry, CE_BYTES);
        if (rc == OOC_OK) {
            rc = ooc_cmac_update(&mac, entry, CE_BYTES);
        }
        if (rc == OOC_OK && sha != NULL) {
            ooc_sha512_update(sha, entry, CE_BYTES);
        }
        if (rc == OOC_OK && !bad) {
            uint32_t len = le32(entry + OOC_IMG_CE_LENGTH);
            if (!entry_ok(img, entry, i, pos) || len > UINT32_MAX - total) {
                bad = 1;
            } else {
                pos = le32(entry + OOC_IMG_CE_FLASH_OFFSET) + len;
                total += len;
            }
        }
    }
    if (rc == OOC_OK) {
        rc = ooc_cmac_final(&mac, tag);
    } else {
        ooc_wipe(&mac, sizeof mac);
    }
    if (rc == OOC_OK) {
        rc = flash_read(img->read, img->user, img->base, le32(mf + OOC_IMG_MF_HEADER_TAG_OFFSET),
                        stored, sizeof stored);
    }
    if (rc == OOC_OK && !ooc_ct_equal(tag, stored, sizeof tag)) {
        rc = OOC_ERR_AUTH;
    }
    if (rc == OOC_OK && sha != NULL) {
        ooc_sha512_update(sha, stored, sizeof stored);
    }
    if (rc == OOC_OK && (bad || total != le32(mf + OOC_IMG_MF_WEIGHTS_BYTES))) {
        rc = OOC_ERR_FORMAT; /* authentic but malformed: a packer this runtime does not match */
    }
    return rc;
}

int ooc_image_mount(ooc_image_t *img, const ooc_image_config_t *cfg)
{
    static const uint8_t magic[4] = OOC_IMG_SUPERBLOCK_MAGIC;
    uint8_t sb[SB_BYTES], ks[KS_BYTES], mf[MF_BYTES];
    uint8_t ck_bytes[OOC_AES_MAX_KEY_BYTES];
    uint8_t header_digest[OOC_IMG_DIGEST_BYTES], weights_digest[OOC_IMG_DIGEST_BYTES];
    uint8_t sig_id[16];
    uint32_t ck_len = 0, header_len = 0, flash_bytes;
    const ooc_port_t *port;
    ooc_aes_t ck, k_hdr;
    ooc_sha512_t sha;
    int rc, anchored;
    if (img == NULL) {
        return OOC_ERR_ARG;
    }
    memset(img, 0, sizeof *img);
    if (cfg == NULL || ooc_port_check(cfg->port, OOC_PORT_READS) != OOC_OK ||
        cfg->base > cfg->port->flash_bytes || cfg->n_trust_anchors > OOC_IMAGE_MAX_ANCHORS ||
        (cfg->n_trust_anchors > 0u && cfg->trust_anchors == NULL)) {
        return OOC_ERR_ARG;
    }
    anchored = cfg->n_trust_anchors > 0u;
    img->min_security_counter = cfg->min_security_counter;
    port = cfg->port;
    flash_bytes = port->flash_bytes - cfg->base; /* what the image may occupy */
    img->read = port->read;
    img->read_start = port->read_start;
    img->read_wait = port->read_wait;
    img->user = port->user;
    img->base = cfg->base;
    if (flash_bytes < 4u) {
        return OOC_ERR_FORMAT;
    }
    rc = flash_read(port->read, port->user, cfg->base, 0, sb, 4u);
    if (rc < 0) {
        return rc;
    }
    if (memcmp(sb, magic, 4) != 0) {
        return OOC_ERR_FORMAT;
    }
    if (flash_bytes < OOC_IMG_CHUNK_TABLE_OFFSET) {
        return OOC_ERR_TRUNCATED;
    }
    rc = flash_read(port->read, port->user, cfg->base, 0, sb, SB_BYTES);
    if (rc == OOC_OK) {
        rc = check_superblock(img, sb, flash_bytes, &header_len);
    }
    if (rc == OOC_OK) {
        rc = flash_read(port->read, port->user, cfg->base, OOC_IMG_MANIFEST_OFFSET, mf, MF_BYTES);
    }
    if (rc == OOC_OK) {
        rc = check_manifest(img, sb, mf, header_len);
    }
    if (rc == OOC_OK && (img->chunk_align == 0u || !is_pow2(img->chunk_align) ||
                         img->chunk_align > le32(sb + OOC_IMG_SB_SECTOR_BYTES) ||
                         img->max_chunk_bytes > (uint32_t)INT32_MAX)) {
        rc = OOC_ERR_FORMAT;
    }
    if (rc == OOC_OK) {
        rc = flash_read(port->read, port->user, cfg->base, OOC_IMG_KEY_SLOT_OFFSET, ks, KS_BYTES);
    }
    if (rc == OOC_OK) {
        memcpy(img->build_id, sb + OOC_IMG_SB_BUILD_ID, OOC_IMG_BUILD_ID_BYTES);
        rc = open_key_slot(ks, mf, img->build_id, port, ck_bytes, &ck_len);
    }
    if (rc == OOC_OK) {
        img->content_key_bytes = ck_len;
        rc = ooc_aes_init(&ck, ck_bytes, ck_len, port->aes_engine);
        ooc_wipe(ck_bytes, sizeof ck_bytes);
        if (rc == OOC_OK) {
            rc = DERIVE(&ck, OOC_IMG_LABEL_HEADER, img->build_id, ck_len, port->aes_engine, &k_hdr);
            if (rc == OOC_OK) {
                rc = DERIVE(&ck, OOC_IMG_LABEL_ENC, img->build_id, ck_len, port->aes_engine,
                            &img->k_enc);
            }
            if (rc == OOC_OK) {
                rc = ooc_aes_set_bulk(&img->k_enc, port->aes_bulk); /* the chunks' decryption */
            }
            if (rc == OOC_OK) {
                rc = DERIVE(&ck, OOC_IMG_LABEL_MAC, img->build_id, ck_len, port->aes_engine,
                            &img->k_mac);
            }
            ooc_aes_wipe(&ck);
            if (rc == OOC_OK && anchored) { /* the signature covers the header's digest */
                ooc_sha512_init(&sha);
                rc = check_header(img, &k_hdr, sb, mf, &sha);
                ooc_sha512_final(&sha, header_digest);
            } else if (rc == OOC_OK) {
                rc = check_header(img, &k_hdr, sb, mf, NULL);
            }
            ooc_aes_wipe(&k_hdr);
        }
    }
    ooc_wipe(ck_bytes, sizeof ck_bytes);
    if (rc == OOC_OK && anchored) {
        rc = ooc_image__check_signature(img, cfg, le32(mf + OOC_IMG_MF_HEADER_TAG_OFFSET) +
                                                      OOC_IMG_TAG_BYTES,
                                        header_digest, weights_digest, sig_id);
    }
    if (rc == OOC_OK && img->security_counter < cfg->min_security_counter) {
        rc = OOC_ERR_ROLLBACK;
    }
    if (rc == OOC_OK &&
        ((cfg->expected_model_sha256 != NULL &&
          memcmp(cfg->expected_model_sha256, img->model_sha256, 32) != 0) ||
         (cfg->expected_plan_id != NULL && memcmp(cfg->expected_plan_id, img->plan_id, 16) != 0))) {
        rc = OOC_ERR_MODEL;
    }
    if (rc == OOC_OK && anchored) {
        rc = ooc_image__install(img, cfg, weights_digest, sig_id);
    }
    if (rc != OOC_OK) {
        ooc_image_unmount(img);
        return rc;
    }
    img->mounted = 1;
    return OOC_OK;
}

int ooc_image_read_entries(ooc_image_t *img, uint32_t first, uint32_t n, uint8_t *entries,
                           uint32_t *span_offset, uint32_t *span_len)
{
    uint32_t i, begin = 0, end = 0;
    int rc;
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (entries == NULL || span_offset == NULL || span_len == NULL || n == 0u ||
        first >= img->n_chunks || n > img->n_chunks - first) {
        return OOC_ERR_ARG;
    }
    rc = flash_read(img->read, img->user, img->base, OOC_IMG_CHUNK_TABLE_OFFSET + first * CE_BYTES,
                    entries, n * CE_BYTES);
    if (rc < 0) {
        return rc;
    }
    for (i = 0; i < n; i++) {
        const uint8_t *e = entries + i * CE_BYTES;
        uint32_t off = le32(e + OOC_IMG_CE_FLASH_OFFSET);
        /* The table was authentic at mount; an entry that changed since is an attack. Chunks of
           one step must lie back to back, each at the next aligned offset. */
        if (!entry_ok(img, e, first + i, img->weights_begin) ||
            (i > 0u && off != ((end + img->chunk_align - 1u) & ~(img->chunk_align - 1u)))) {
            return OOC_ERR_AUTH;
        }
        if (i == 0u) {
            begin = off;
        }
        end = off + le32(e + OOC_IMG_CE_LENGTH); /* entry_ok: no overflow, within the partition */
        if (img->device_tags) { /* check against this device's tag, not the batch's */
            rc = flash_read(img->read, img->user, img->base,
                            img->install_begin + OOC_IMG_IR_BYTES +
                                (first + i) * OOC_IMG_TAG_BYTES,
                            entries + i * CE_BYTES + OOC_IMG_CE_TAG, OOC_IMG_TAG_BYTES);
            if (rc < 0) {
                return rc;
            }
        }
    }
    *span_offset = begin;
    *span_len = end - begin;
    return OOC_OK;
}

int ooc_image_read_begin(ooc_image_t *img, uint32_t offset, void *buf, uint32_t len)
{
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (buf == NULL || offset < img->weights_begin || offset > img->weights_end ||
        len > img->weights_end - offset || (uint32_t)(img->base + offset) < img->base) {
        return OOC_ERR_ARG;
    }
    if (img->read_start != NULL) {
        return img->read_start(img->user, img->base + offset, buf, len) < 0 ? OOC_ERR_IO : OOC_OK;
    }
    return flash_read(img->read, img->user, img->base, offset, buf, len);
}

int ooc_image_read_end(ooc_image_t *img)
{
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (img->read_wait != NULL) {
        return img->read_wait(img->user) < 0 ? OOC_ERR_IO : OOC_OK;
    }
    return OOC_OK;
}

/* The chunk's tag over entry || data (its ciphertext): OOC_OK, or OOC_ERR_AUTH. */
static int check_chunk_tag(ooc_image_t *img, const uint8_t *entry, const uint8_t *data, uint32_t len)
{
    uint8_t iv[OOC_AES_BLOCK_BYTES], tag[OOC_TAG_BYTES];
    int rc;
    if (img->tag_alg == OOC_IMG_TAG_AES_CMAC) {
        ooc_cmac_t mac;
        rc = ooc_cmac_init(&mac, &img->k_mac);
        if (rc == OOC_OK) {
            rc = ooc_cmac_update(&mac, entry, OOC_IMG_CHUNK_MAC_PREFIX);
        }
        if (rc == OOC_OK) {
            rc = ooc_cmac_update(&mac, data, len);
        }
        if (rc == OOC_OK) {
            rc = ooc_cmac_final(&mac, tag);
        } else {
            ooc_wipe(&mac, sizeof mac);
        }
    } else {
        /* Poly1305 one-time key = keystream blocks 0 and 1 of this chunk (under K_enc, or under
           K_dtag for this device's install tags). */
        uint8_t otk[32];
        ooc_poly1305_t poly;
        memset(otk, 0, sizeof otk);
        memcpy(iv, entry + OOC_IMG_CE_NONCE, OOC_IMG_NONCE_BYTES);
        memset(iv + OOC_IMG_NONCE_BYTES, 0, 4);
        rc = ooc_aes_ctr(img->device_tags ? &img->k_mac : &img->k_enc, iv, otk, otk, sizeof otk);
        if (rc == OOC_OK) {
            ooc_poly1305_init(&poly, otk);
            ooc_poly1305_update(&poly, entry, OOC_IMG_CHUNK_MAC_PREFIX);
            ooc_poly1305_update(&poly, data, len);
            ooc_poly1305_final(&poly, tag);
        }
        ooc_wipe(otk, sizeof otk);
    }
    if (rc == OOC_OK && !ooc_ct_equal(tag, entry + OOC_IMG_CE_TAG, OOC_TAG_BYTES)) {
        rc = OOC_ERR_AUTH;
    }
    return rc;
}

int ooc_image_verify_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data)
{
    int rc;
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (entry == NULL || data == NULL) {
        return OOC_ERR_ARG;
    }
    rc = check_chunk_tag(img, entry, data, le32(entry + OOC_IMG_CE_LENGTH));
    if (rc != OOC_OK) {
        ooc_wipe(data, le32(entry + OOC_IMG_CE_LENGTH));
    }
    return rc;
}

int ooc_image_decrypt_start(ooc_image_t *img, const uint8_t *entry, uint8_t *data)
{
    uint8_t iv[OOC_AES_BLOCK_BYTES];
    uint32_t len;
    int rc;
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (entry == NULL || data == NULL) {
        return OOC_ERR_ARG;
    }
    len = le32(entry + OOC_IMG_CE_LENGTH);
    memcpy(iv, entry + OOC_IMG_CE_NONCE, OOC_IMG_NONCE_BYTES);
    iv[12] = 0;
    iv[13] = 0;
    iv[14] = 0;
    iv[15] = (uint8_t)OOC_IMG_DATA_COUNTER_START;
    rc = ooc_aes_ctr_start(&img->k_enc, iv, data, data, len);
    if (rc != OOC_OK) {
        ooc_wipe(data, len);
    }
    return rc;
}

int ooc_image_decrypt_wait(ooc_image_t *img)
{
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    return ooc_aes_ctr_wait(&img->k_enc);
}

int ooc_image_open_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data, int verify)
{
    int rc;
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (entry == NULL || data == NULL) {
        return OOC_ERR_ARG;
    }
    rc = verify ? ooc_image_verify_chunk(img, entry, data) : OOC_OK;
    if (rc == OOC_OK) {
        rc = ooc_image_decrypt_start(img, entry, data);
    }
    if (rc == OOC_OK) {
        rc = ooc_image_decrypt_wait(img);
        if (rc != OOC_OK) {
            ooc_wipe(data, le32(entry + OOC_IMG_CE_LENGTH)); /* a part decrypted before it failed */
        }
    }
    return rc;
}

int32_t ooc_image_read_chunk(ooc_image_t *img, uint32_t index, void *buf, uint32_t buf_bytes,
                             ooc_chunk_info_t *info)
{
    uint8_t entry[CE_BYTES];
    uint32_t off, len;
    int rc;
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (buf == NULL || index >= img->n_chunks) {
        return OOC_ERR_ARG;
    }
    rc = ooc_image_read_entries(img, index, 1u, entry, &off, &len);
    if (rc < 0) {
        return rc;
    }
    if (len > buf_bytes) {
        return OOC_ERR_ARG;
    }
    rc = flash_read(img->read, img->user, img->base, off, buf, len);
    if (rc == OOC_OK) {
        rc = ooc_image_open_chunk(img, entry, (uint8_t *)buf, 1);
    } else {
        ooc_wipe(buf, len);
    }
    if (rc != OOC_OK) {
        return rc;
    }
    if (info != NULL) {
        ooc_image_entry_info(entry, info);
    }
    return (int32_t)len;
}

void ooc_image_entry_info(const uint8_t *entry, ooc_chunk_info_t *info)
{
    info->index = le32(entry + OOC_IMG_CE_INDEX);
    info->kind = le16(entry + OOC_IMG_CE_KIND);
    info->tensor = le32(entry + OOC_IMG_CE_TENSOR);
    info->tensor_offset = le32(entry + OOC_IMG_CE_TENSOR_OFFSET);
    info->length = le32(entry + OOC_IMG_CE_LENGTH);
    info->flash_offset = le32(entry + OOC_IMG_CE_FLASH_OFFSET);
}

uint32_t ooc_image_chunk_count(const ooc_image_t *img)
{
    return img != NULL && img->mounted ? img->n_chunks : 0u;
}

uint32_t ooc_image_max_chunk_bytes(const ooc_image_t *img)
{
    return img != NULL && img->mounted ? img->max_chunk_bytes : 0u;
}

void ooc_image_unmount(ooc_image_t *img)
{
    if (img != NULL) {
        ooc_wipe(img, sizeof *img);
    }
}
