/*
 * ooc runtime: mount an encrypted, authenticated flash image and read its chunks.
 *
 * The external flash is untrusted: anyone with the board can read and rewrite it. So the reader
 * treats every byte it reads as hostile input, checks every offset and size before use, and
 * returns nothing that has not been authenticated:
 *
 *   ooc_image_mount()      superblock and manifest structure, then the key slot (device UID,
 *                          key id, RFC 3394 unwrap of the content key), then the header tag over
 *                          superblock || manifest || chunk table, then anti-rollback and the
 *                          expected model. On success only derived keys stay in the handle.
 *                          With trust anchors (a signed image), the vendor's Ed25519
 *                          signature over the header and the weights digest, then the
 *                          device's install of the image (src/install.c).
 *   ooc_image_read_chunk() re-reads the chunk's table entry, reads the ciphertext into the
 *                          caller's buffer, checks the chunk tag over entry || ciphertext, and
 *                          only then decrypts in place. On any failure the buffer is wiped.
 *   ooc_image_commit_counter()  after a good boot, raises the device's trusted anti-rollback
 *                          counter to a signed image's.
 *
 * Byte layout: docs/FORMAT.md and ooc/ooc_image_format.h (generated from ooc_sdk/formats/image.py).
 */
#ifndef OOC_IMAGE_H
#define OOC_IMAGE_H

#include <stdint.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "ooc/ooc_image_format.h"
#include "ooc/ooc_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Trust anchors a device may hold (vendor key rotation), and the least work buffer an install
   takes (ooc_image_config_t). */
#define OOC_IMAGE_MAX_ANCHORS OOC_IMG_MAX_ANCHORS
#define OOC_IMAGE_MIN_WORK_BYTES 64u

/* What the device provides to mount an image. Zero-initialise, then set the fields. */
typedef struct {
    /* The flash, the device identity and the AES engine (ooc/ooc_port.h). Required; checked by
       ooc_port_check(port, OOC_PORT_READS). The mount copies the flash functions and `user`;
       the port itself need not outlive the call. */
    const ooc_port_t *port;
    /* Flash address of the image's first byte: 0 .. port->flash_bytes (else OOC_ERR_ARG). The
       image must fit in the flash after it (else OOC_ERR_FORMAT when not even its magic does,
       OOC_ERR_TRUNCATED when its header or data do not). */
    uint32_t base;
    /* The device's anti-rollback counter: an image with a lower security counter is
       OOC_ERR_ROLLBACK. 0: any image. */
    uint32_t min_security_counter;
    /* 32 bytes: the SHA-256 of the model the firmware was built for (OOC_ERR_MODEL for another),
       or NULL to accept any model. */
    const uint8_t *expected_model_sha256;
    /* 16 bytes: the plan id the firmware's tables were generated for (OOC_ERR_MODEL for
       another), or NULL to accept any plan. */
    const uint8_t *expected_plan_id;
    /* The device's trust anchors, from internal trusted storage: n_trust_anchors (0 ..
       OOC_IMAGE_MAX_ANCHORS) raw Ed25519 public keys (32 bytes each, back to back). With one
       or more, the image must be signed by one of them (else OOC_ERR_SIGNATURE), and its chunks
       are checked against tags only this device can compute, written when it installed the
       image. With none, an unsigned image is accepted and chunks are checked against the
       batch's tags, which any holder of the batch's content key can forge (docs/DESIGN.md,
       "Threat model"). */
    const uint8_t *trust_anchors;
    uint32_t n_trust_anchors;
    /* Install: a signed image not installed on this device yet (or installed for another
       build) is installed during the mount when the port can write (program and erase) and
       `work` gives at least OOC_IMAGE_MIN_WORK_BYTES bytes of scratch RAM (larger: fewer flash
       reads); otherwise the mount is OOC_ERR_NOT_INSTALLED. An install reads every chunk once
       and writes the image's install partition. */
    void *work;
    uint32_t work_bytes;
} ooc_image_config_t;

/* A mounted image. Treat as opaque; holds derived keys: wipe with ooc_image_unmount(). */
typedef struct ooc_image {
    ooc_flash_read_fn read;
    ooc_flash_read_start_fn read_start;
    ooc_flash_read_wait_fn read_wait;
    void *user;
    uint32_t base;
    uint32_t n_chunks;
    uint32_t max_chunk_bytes;
    uint32_t chunk_align;
    uint32_t weights_begin, weights_end; /* image offsets of the weights partition */
    uint32_t scratch_begin, scratch_end; /* ... of the scratch partition (the spill ring's; equal
                                            when the image has none) */
    uint32_t install_begin, install_end; /* ... of the install partition (signed images) */
    uint32_t signed_image;               /* the manifest says FLAG_SIGNED */
    uint32_t device_tags; /* chunks are checked against this device's install tags (k_mac is
                             then K_dtag): the signature verified under a trust anchor */
    uint32_t min_security_counter; /* the device's, as the mount was given it */
    uint32_t tag_alg;
    uint32_t content_key_bytes; /* 16 or 32: the cipher's key length */
    uint32_t security_counter;
    uint8_t build_id[OOC_IMG_BUILD_ID_BYTES];
    uint8_t model_sha256[32];
    uint8_t plan_id[16];
    ooc_aes_t k_enc; /* chunk encryption (and Poly1305 one-time keys) */
    ooc_aes_t k_mac; /* chunk CMAC; with device_tags: K_dtag (CMAC, or Poly1305 one-time keys) */
    uint32_t mounted;
} ooc_image_t;

/* What a chunk holds (from its authenticated table entry). */
typedef struct {
    uint32_t index;
    uint32_t kind;          /* OOC_IMG_CHUNK_* */
    uint32_t tensor;        /* model tensor index */
    uint32_t tensor_offset; /* weights: byte offset in the tensor; dw-channels: first channel */
    uint32_t length;        /* bytes */
    uint32_t flash_offset;  /* image offset of the chunk's data */
} ooc_chunk_info_t;

/* Verify the image header for this device. Errors: OOC_ERR_ARG, OOC_ERR_IO, OOC_ERR_FORMAT,
   OOC_ERR_TRUNCATED, OOC_ERR_WRONG_DEVICE, OOC_ERR_WRONG_KEY, OOC_ERR_AUTH, OOC_ERR_SIGNATURE,
   OOC_ERR_ROLLBACK, OOC_ERR_MODEL, OOC_ERR_NOT_INSTALLED. On failure `img` holds no key
   material. */
int ooc_image_mount(ooc_image_t *img, const ooc_image_config_t *cfg);

/* The anti-rollback ratchet, after a good boot: when the mounted image's security counter is
   above the device's (the mount's min_security_counter), store it through
   port->commit_counter. Only an image whose signature a trust anchor verified may raise the
   counter (else OOC_ERR_SIGNATURE); OOC_OK when there is nothing to raise; OOC_ERR_ARG without
   the hook; OOC_ERR_IO when it fails. */
int ooc_image_commit_counter(const ooc_image_t *img, const ooc_port_t *port);

/* Read, verify and decrypt chunk `index` into `buf` (at least the chunk's length; the largest
   is ooc_image_max_chunk_bytes()). Returns the chunk length, or a negative error (OOC_ERR_AUTH
   when the chunk or its entry was altered; `buf` is then wiped). `info` may be NULL. */
int32_t ooc_image_read_chunk(ooc_image_t *img, uint32_t index, void *buf, uint32_t buf_bytes,
                             ooc_chunk_info_t *info);

/* Lower-level access for the pager (src/pager.c), one step = chunks first .. first + n - 1:
   ooc_image_read_entries() reads their table entries (64 bytes each) into `entries` with one
   read, checks their structure and that their data lies back to back, and gives the span to
   read (image offset and length, alignment gaps included). ooc_image_read_begin() /
   ooc_image_read_end() read a span, asynchronously when the port can. ooc_image_open_chunk()
   then checks one chunk's tag over its entry and data (when `verify`) and decrypts the data in
   place; on failure the data is wiped (OOC_ERR_AUTH, OOC_ERR_IO). Its two halves, for the
   pager's overlap with a bulk engine (ooc_aes_bulk(), ooc/ooc_crypto.h):
   ooc_image_verify_chunk() checks the tag (the data wiped when it does not verify), then
   ooc_image_decrypt_start() starts decrypting in place (wiped when it cannot start) and
   ooc_image_decrypt_wait() waits for it (OOC_ERR_IO: the engine failed, and the caller wipes
   the data). Only a verified chunk may be decrypted; between start and wait nothing may use
   the data or the engine. */
int ooc_image_read_entries(ooc_image_t *img, uint32_t first, uint32_t n, uint8_t *entries,
                           uint32_t *span_offset, uint32_t *span_len);
int ooc_image_read_begin(ooc_image_t *img, uint32_t offset, void *buf, uint32_t len);
int ooc_image_read_end(ooc_image_t *img);
int ooc_image_open_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data, int verify);
int ooc_image_verify_chunk(ooc_image_t *img, const uint8_t *entry, uint8_t *data);
int ooc_image_decrypt_start(ooc_image_t *img, const uint8_t *entry, uint8_t *data);
int ooc_image_decrypt_wait(ooc_image_t *img);
/* Decode a 64-byte table entry (as ooc_image_read_entries() gives it) into `info`. */
void ooc_image_entry_info(const uint8_t *entry, ooc_chunk_info_t *info);

uint32_t ooc_image_chunk_count(const ooc_image_t *img);
uint32_t ooc_image_max_chunk_bytes(const ooc_image_t *img);

/* Wipe the keys; the handle must be mounted again before use. */
void ooc_image_unmount(ooc_image_t *img);

#ifdef __cplusplus
}
#endif

#endif /* OOC_IMAGE_H */
