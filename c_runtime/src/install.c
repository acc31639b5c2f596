/*
 * Signed images on a device with trust anchors (docs/FORMAT.md, "Signed images"):
 *
 *   check   the signature block names an anchor's key id, its Ed25519 signature verifies under
 *           that anchor, and the header digest it signs is the header just mounted;
 *   install once per image on this device: every chunk's entry and ciphertext is hashed against
 *           the signed weights digest and tagged under K_dtag, a key of this device alone; the
 *           tags, then the install record (MAC'd under K_rec), go to the install partition;
 *   read    (image.c) each chunk is checked against its device tag: the same per-byte cost as
 *           the batch tags, but one device's keys forge nothing for another device;
 *   ratchet ooc_image_commit_counter() raises the trusted anti-rollback counter.
 */
#include <string.h>

#include "image_internal.h"
#include "ooc/ooc_image.h"

#define IR_BYTES OOC_IMG_IR_BYTES
#define CE_BYTES OOC_IMG_CE_BYTES

int ooc_image__check_signature(const ooc_image_t *img, const ooc_image_config_t *cfg,
                               uint32_t sig_offset, const uint8_t header_digest[64],
                               uint8_t weights_digest[64], uint8_t sig_id[16])
{
    static const uint8_t magic[4] = OOC_IMG_SIGNATURE_MAGIC;
    uint8_t blk[OOC_IMG_SIG_BYTES], digest[OOC_IMG_DIGEST_BYTES];
    const uint8_t *anchor = NULL;
    ooc_sha512_t h;
    uint32_t i;
    int rc;
    if (!img->signed_image) {
        return OOC_ERR_SIGNATURE; /* the device requires a signature */
    }
    rc = ooc_image__flash_read(img->read, img->user, img->base, sig_offset, blk, sizeof blk);
    if (rc < 0) {
        return rc;
    }
    if (memcmp(blk + OOC_IMG_SIG_MAGIC, magic, 4) != 0 ||
        blk[OOC_IMG_SIG_VERSION] != OOC_IMG_SIGNATURE_VERSION ||
        blk[OOC_IMG_SIG_SIG_ALG] != OOC_IMG_SIG_ED25519) {
        return OOC_ERR_SIGNATURE;
    }
    for (i = 0; i < cfg->n_trust_anchors && anchor == NULL; i++) {
        const uint8_t *a = cfg->trust_anchors + i * OOC_IMG_PUBLIC_KEY_BYTES;
        ooc_sha512_init(&h);
        ooc_sha512_update(&h, a, OOC_IMG_PUBLIC_KEY_BYTES);
        ooc_sha512_final(&h, digest);
        if (memcmp(digest, blk + OOC_IMG_SIG_SIGNER_KEY_ID, OOC_IMG_KEY_ID_BYTES) == 0) {
            anchor = a;
        }
    }
    if (anchor == NULL ||
        ooc_ed25519_verify(blk + OOC_IMG_SIG_SIGNATURE, anchor, blk, OOC_IMG_SIGNED_BYTES) != OOC_OK ||
        !ooc_ct_equal(blk + OOC_IMG_SIG_HEADER_SHA512, header_digest, OOC_IMG_DIGEST_BYTES)) {
        return OOC_ERR_SIGNATURE;
    }
    memcpy(weights_digest, blk + OOC_IMG_SIG_WEIGHTS_SHA512, OOC_IMG_DIGEST_BYTES);
    ooc_sha512_init(&h);
    ooc_sha512_update(&h, blk, sizeof blk);
    ooc_sha512_final(&h, digest);
    memcpy(sig_id, digest, 16);
    return OOC_OK;
}

/* K_dtag = KDF(root key, label, uid || build id, content key length): the chunk tag key costs
   what the batch's did (AES-128 or AES-256 as the image's cipher); K_rec: the same with its own
   label and the root key's length. */
static int device_keys(const ooc_image_t *img, const ooc_port_t *port, ooc_aes_t *k_dtag,
                       ooc_aes_t *k_rec)
{
    uint8_t context[OOC_IMG_UID_BYTES + OOC_IMG_BUILD_ID_BYTES];
    ooc_aes_t root;
    int rc = ooc_aes_init(&root, port->root_key, port->root_key_bytes, port->aes_engine);
    memcpy(context, port->device_uid, OOC_IMG_UID_BYTES);
    memcpy(context + OOC_IMG_UID_BYTES, img->build_id, OOC_IMG_BUILD_ID_BYTES);
    if (rc == OOC_OK) {
        rc = ooc_image__derive(&root, OOC_IMG_LABEL_DEVICE_TAG, sizeof OOC_IMG_LABEL_DEVICE_TAG - 1u,
                               context, sizeof context, img->content_key_bytes, port->aes_engine,
                               k_dtag);
    }
    if (rc == OOC_OK) {
        rc = ooc_image__derive(&root, OOC_IMG_LABEL_INSTALL, sizeof OOC_IMG_LABEL_INSTALL - 1u,
                               context, sizeof context, port->root_key_bytes, port->aes_engine,
                               k_rec);
    }
    ooc_aes_wipe(&root);
    return rc;
}

/* The install record this device writes for the mounted image. */
static int expected_record(const ooc_image_t *img, const ooc_aes_t *k_rec, const uint8_t sig_id[16],
                           uint8_t rec[IR_BYTES])
{
    static const uint8_t magic[4] = OOC_IMG_INSTALL_MAGIC;
    uint32_t i;
    memset(rec, 0, IR_BYTES);
    memcpy(rec + OOC_IMG_IR_MAGIC, magic, 4);
    rec[OOC_IMG_IR_VERSION] = (uint8_t)OOC_IMG_INSTALL_VERSION;
    for (i = 0; i < 4u; i++) {
        rec[OOC_IMG_IR_N_CHUNKS + i] = (uint8_t)(img->n_chunks >> (8u * i));
        rec[OOC_IMG_IR_SECURITY_COUNTER + i] = (uint8_t)(img->security_counter >> (8u * i));
    }
    memcpy(rec + OOC_IMG_IR_BUILD_ID, img->build_id, OOC_IMG_BUILD_ID_BYTES);
    memcpy(rec + OOC_IMG_IR_SIGNATURE_ID, sig_id, 16);
    return ooc_cmac(k_rec, rec, OOC_IMG_INSTALL_MAC_PREFIX, rec + OOC_IMG_IR_MAC);
}

/* Program `len` bytes at image offset `off`, one page at a time. */
static int program(const ooc_image_t *img, const ooc_port_t *port, uint32_t off,
                   const uint8_t *data, uint32_t len)
{
    while (len > 0u) {
        uint32_t addr = img->base + off;
        uint32_t n = port->page_bytes - (addr & (port->page_bytes - 1u));
        n = n < len ? n : len;
        if (port->program(port->user, addr, data, n) < 0) {
            return OOC_ERR_IO;
        }
        off += n;
        data += n;
        len -= n;
    }
    return OOC_OK;
}

/* One chunk: hash entry prefix || ciphertext into `sha`, and tag them under K_dtag. */
static int tag_chunk(const ooc_image_t *img, const ooc_aes_t *k_dtag, const uint8_t *entry,
                     uint8_t *work, uint32_t work_bytes, ooc_sha512_t *sha, uint8_t tag[16])
{
    uint32_t off = le32(entry + OOC_IMG_CE_FLASH_OFFSET), left = le32(entry + OOC_IMG_CE_LENGTH);
    int cmac = img->tag_alg == OOC_IMG_TAG_AES_CMAC, rc = OOC_OK;
    ooc_cmac_t mac;
    ooc_poly1305_t poly;
    if (cmac) {
        rc = ooc_cmac_init(&mac, k_dtag);
    } else {
        uint8_t iv[OOC_AES_BLOCK_BYTES], otk[32];
        memset(iv, 0, sizeof iv);
        memset(otk, 0, sizeof otk);
        memcpy(iv, entry + OOC_IMG_CE_NONCE, OOC_IMG_NONCE_BYTES);
        rc = ooc_aes_ctr(k_dtag, iv, otk, otk, sizeof otk);
        ooc_poly1305_init(&poly, otk);
        ooc_wipe(otk, sizeof otk);
    }
    ooc_sha512_update(sha, entry, OOC_IMG_CHUNK_MAC_PREFIX);
    if (rc == OOC_OK && cmac) {
        rc = ooc_cmac_update(&mac, entry, OOC_IMG_CHUNK_MAC_PREFIX);
    } else if (rc == OOC_OK) {
        ooc_poly1305_update(&poly, entry, OOC_IMG_CHUNK_MAC_PREFIX);
    }
    while (rc == OOC_OK && left > 0u) {
        uint32_t n = left < work_bytes ? left : work_bytes;
        rc = ooc_image__flash_read(img->read, img->user, img->base, off, work, n);
        if (rc == OOC_OK) {
            ooc_sha512_update(sha, work, n);
            if (cmac) {
                rc = ooc_cmac_update(&mac, work, n);
            } else {
                ooc_poly1305_update(&poly, work, n);
            }
        }
        off += n;
        left -= n;
    }
    if (cmac) {
        rc = rc == OOC_OK ? ooc_cmac_final(&mac, tag) : rc;
        ooc_wipe(&mac, sizeof mac);
    } else {
        ooc_poly1305_final(&poly, tag);
    }
    return rc;
}

/* Erase the install partition, tag every chunk while hashing it against the signed digest,
   then write the record last: a cut install leaves no record and runs again. */
static int install_now(const ooc_image_t *img, const ooc_image_config_t *cfg,
                       const ooc_aes_t *k_dtag, const uint8_t weights_digest[64],
                       const uint8_t rec[IR_BYTES])
{
    const ooc_port_t *port = cfg->port;
    uint8_t entry[CE_BYTES], tag[OOC_IMG_TAG_BYTES], digest[OOC_IMG_DIGEST_BYTES];
    uint8_t check[IR_BYTES];
    uint32_t i, off, pos = img->weights_begin;
    ooc_sha512_t sha;
    int rc = OOC_OK;
    for (off = img->install_begin; rc == OOC_OK && off < img->install_end; off += port->sector_bytes) {
        rc = port->erase(port->user, img->base + off) < 0 ? OOC_ERR_IO : OOC_OK;
    }
    ooc_sha512_init(&sha);
    for (i = 0; rc == OOC_OK && i < img->n_chunks; i++) {
        rc = ooc_image__flash_read(img->read, img->user, img->base,
                                   OOC_IMG_CHUNK_TABLE_OFFSET + i * CE_BYTES, entry, CE_BYTES);
        if (rc == OOC_OK && !ooc_image__entry_ok(img, entry, i, pos)) {
            rc = OOC_ERR_AUTH; /* changed since the mount checked it */
        }
        if (rc == OOC_OK) {
            pos = le32(entry + OOC_IMG_CE_FLASH_OFFSET) + le32(entry + OOC_IMG_CE_LENGTH);
            rc = tag_chunk(img, k_dtag, entry, (uint8_t *)cfg->work, cfg->work_bytes, &sha, tag);
        }
        if (rc == OOC_OK) {
            rc = program(img, port, img->install_begin + IR_BYTES + i * OOC_IMG_TAG_BYTES, tag,
                         sizeof tag);
        }
    }
    ooc_sha512_final(&sha, digest);
    if (rc == OOC_OK && !ooc_ct_equal(digest, weights_digest, sizeof digest)) {
        rc = OOC_ERR_SIGNATURE; /* the weights are not the ones the vendor signed */
    }
    if (rc == OOC_OK) {
        rc = program(img, port, img->install_begin, rec, IR_BYTES);
    }
    if (rc == OOC_OK) {
        rc = ooc_image__flash_read(img->read, img->user, img->base, img->install_begin, check,
                                   IR_BYTES);
    }
    if (rc == OOC_OK && memcmp(check, rec, IR_BYTES) != 0) {
        rc = OOC_ERR_IO; /* the record did not program */
    }
    ooc_wipe(tag, sizeof tag);
    return rc;
}

int ooc_image__install(ooc_image_t *img, const ooc_image_config_t *cfg,
                       const uint8_t weights_digest[64], const uint8_t sig_id[16])
{
    uint8_t rec[IR_BYTES], stored[IR_BYTES];
    ooc_aes_t k_dtag, k_rec;
    int rc = device_keys(img, cfg->port, &k_dtag, &k_rec);
    if (rc == OOC_OK) {
        rc = expected_record(img, &k_rec, sig_id, rec);
    }
    ooc_aes_wipe(&k_rec);
    if (rc == OOC_OK) {
        rc = ooc_image__flash_read(img->read, img->user, img->base, img->install_begin, stored,
                                   IR_BYTES);
    }
    if (rc == OOC_OK && !ooc_ct_equal(stored, rec, IR_BYTES)) {
        if (cfg->work == NULL || cfg->work_bytes < OOC_IMAGE_MIN_WORK_BYTES ||
            ooc_port_check(cfg->port, OOC_PORT_WRITES) != OOC_OK) {
            rc = OOC_ERR_NOT_INSTALLED;
        } else {
            rc = install_now(img, cfg, &k_dtag, weights_digest, rec);
        }
    }
    if (rc == OOC_OK) {
        ooc_aes_wipe(&img->k_mac);
        img->k_mac = k_dtag;
        img->device_tags = 1;
    }
    ooc_wipe(&k_dtag, sizeof k_dtag);
    return rc;
}

int ooc_image_commit_counter(const ooc_image_t *img, const ooc_port_t *port)
{
    if (img == NULL || !img->mounted) {
        return OOC_ERR_STATE;
    }
    if (port == NULL || port->commit_counter == NULL) {
        return OOC_ERR_ARG;
    }
    if (img->security_counter <= img->min_security_counter) {
        return OOC_OK; /* nothing to raise */
    }
    if (!img->device_tags) {
        return OOC_ERR_SIGNATURE; /* only an image a trust anchor signed may raise it */
    }
    return port->commit_counter(port->counter_user, img->security_counter) < 0 ? OOC_ERR_IO
                                                                            : OOC_OK;
}
