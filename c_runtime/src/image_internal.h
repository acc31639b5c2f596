/*
 * What image.c shares with install.c (signed images: the signature check, the device's install
 * and its counter ratchet). Not part of the runtime's API.
 */
#ifndef OOC_IMAGE_INTERNAL_H
#define OOC_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ooc/ooc_image.h"

static inline uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Read `len` bytes at image offset `off` (OOC_ERR_IO, or OOC_ERR_FORMAT on an address wrap). */
int ooc_image__flash_read(ooc_flash_read_fn read, void *user, uint32_t base, uint32_t off,
                          void *buf, uint32_t len);

/* out = AES key KDF(key, label, context) of key_len bytes (SP 800-108, docs/FORMAT.md "Keys"),
   on `engine`; the derived bytes are wiped. */
int ooc_image__derive(const ooc_aes_t *key, const char *label, size_t label_len,
                      const uint8_t *context, size_t context_len, uint32_t key_len,
                      const ooc_aes_engine_t *engine, ooc_aes_t *out);

/* The structure of table entry `index`, whose data must start at or after `min_offset`. */
int ooc_image__entry_ok(const ooc_image_t *img, const uint8_t *e, uint32_t index,
                        uint32_t min_offset);

/* Signed image, device with anchors: the signature block is well formed, signed by one of
   cfg's anchors, and covers `header_digest` (SHA-512 of superblock || manifest || chunk table
   || header tag as mounted). Gives the signed weights digest and the block's id (the first 16
   bytes of its SHA-512). OOC_ERR_SIGNATURE otherwise. */
int ooc_image__check_signature(const ooc_image_t *img, const ooc_image_config_t *cfg,
                               uint32_t sig_offset, const uint8_t header_digest[64],
                               uint8_t weights_digest[64], uint8_t sig_id[16]);

/* Derive this device's tag key for the mounted image, and install the image when its install
   record is missing or is another image's: every chunk hashed against `weights_digest` and
   tagged under the device's key, then the record written. On success img->k_mac is the
   device's tag key and img->device_tags is set. */
int ooc_image__install(ooc_image_t *img, const ooc_image_config_t *cfg,
                       const uint8_t weights_digest[64], const uint8_t sig_id[16]);

#endif /* OOC_IMAGE_INTERNAL_H */
