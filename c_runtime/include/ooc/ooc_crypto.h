/*
 * ooc runtime: the symmetric primitives the flash image needs, built on AES alone.
 *
 *   AES-128 / AES-256 block cipher   FIPS 197 (encryption; decryption only for key unwrap)
 *   CTR mode                         NIST SP 800-38A, 32-bit big-endian block counter
 *   CMAC                             NIST SP 800-38B / RFC 4493
 *   Poly1305                         RFC 8439 section 2.5 (one-time key from the CTR keystream)
 *   AES key wrap / unwrap            RFC 3394 (NIST SP 800-38F KW, 64-bit semiblocks)
 *   KDF in counter mode, PRF = CMAC  NIST SP 800-108r1 section 4.1, r = 32
 *
 * A hardware AES engine replaces the software block cipher through ooc_aes_engine_t; every mode
 * above calls the block cipher only through ooc_aes_encrypt_blocks(). No function allocates memory,
 * keeps global state or branches on secret data except through the AES tables (see docs/DESIGN.md).
 *
 * Every int-returning function returns 0 on success or a negative OOC_ERR_* code (ooc.h).
 */
#ifndef OOC_CRYPTO_H
#define OOC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OOC_AES_BLOCK_BYTES 16u
#define OOC_AES_MAX_KEY_BYTES 32u
#define OOC_TAG_BYTES 16u

/* Port hook for a hardware AES engine: encrypt `n_blocks` 16-byte blocks of `in` into `out`
   (ECB; in == out allowed) under `key` (16 or 32 bytes). The engine may cache the key between
   calls. Return 0, or a negative value on failure (reported as OOC_ERR_IO). */
typedef struct {
    int (*ecb_encrypt)(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t *in,
                       uint8_t *out, uint32_t n_blocks);
    void *user;
} ooc_aes_engine_t;

/* Port hook for a bulk, asynchronous CTR engine (a DMA-driven CRYP, a PSA Crypto driver;
   docs/porting.md, "A hardware AES engine"). The image reader decrypts each chunk's data with
   one job, and with two chunk slots the pager decrypts the next step's chunks while a step
   computes.

   ctr_start: start out = in XOR keystream over `len` (>= 1) bytes (in == out allowed), the
   keystream being the encrypted counter blocks from `iv` on (its last 4 bytes a big-endian
   block counter; the runtime never asks for a range that wraps them), under `key` (16 or 32
   bytes), and return at once: 0, or a negative value when the job cannot start. `key` stays
   valid until the job has been waited for; `iv` does not (copy it).
   ctr_wait: block until that job has finished: 0, or a negative value when it failed (`out`
   may then hold part of the result: the runtime wipes it). Engine failures are OOC_ERR_IO.

   At most one job is outstanding: after ctr_start the runtime calls neither ctr_start nor the
   port's ooc_aes_engine_t, and touches neither buffer, until ctr_wait has returned. */
typedef struct {
    int (*ctr_start)(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t iv[16],
                     const uint8_t *in, uint8_t *out, uint32_t len);
    int (*ctr_wait)(void *user);
    void *user;
} ooc_aes_bulk_t;

/* An expanded AES key. Treat as opaque. */
typedef struct {
    uint32_t rk[60];                   /* encryption round keys, FIPS 197 KeyExpansion */
    uint8_t key[OOC_AES_MAX_KEY_BYTES]; /* the key itself, handed to the engine */
    uint32_t key_bytes;                /* 16 or 32 */
    uint32_t rounds;                   /* 10 or 14 */
    const ooc_aes_engine_t *engine;    /* NULL: software AES */
    const ooc_aes_bulk_t *bulk;        /* NULL: ooc_aes_ctr_start() runs the pass at once */
} ooc_aes_t;

/* Expand `key` (16 or 32 bytes, else OOC_ERR_ARG). `engine` may be NULL (software AES); an
   engine without an ecb_encrypt callback is OOC_ERR_ARG. No bulk engine (ooc_aes_set_bulk()). */
int ooc_aes_init(ooc_aes_t *aes, const uint8_t *key, uint32_t key_bytes,
                 const ooc_aes_engine_t *engine);

/* Encrypt `n_blocks` blocks (ECB); in == out allowed. */
int ooc_aes_encrypt_blocks(const ooc_aes_t *aes, const uint8_t *in, uint8_t *out,
                           uint32_t n_blocks);

/* Decrypt one block with the software inverse cipher (used only by key unwrap). */
int ooc_aes_decrypt_block(const ooc_aes_t *aes, const uint8_t in[16], uint8_t out[16]);

/* Zero the key material (also the raw key). */
void ooc_aes_wipe(ooc_aes_t *aes);

/* AES-CTR: out = in XOR keystream, the keystream starting at counter block `iv`. Only the last
   4 bytes of the counter block (big-endian) count; a keystream that would wrap them is refused
   (OOC_ERR_ARG), so bytes 0..11 (the nonce) never change. in == out allowed; len may be 0. */
int ooc_aes_ctr(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                size_t len);

/* Give `aes` (initialised) a bulk CTR engine for ooc_aes_ctr_start(), or none (NULL). One with
   only one of its two functions is OOC_ERR_ARG. It must outlive `aes`. */
int ooc_aes_set_bulk(ooc_aes_t *aes, const ooc_aes_bulk_t *bulk);

/* 1 when `aes` has a bulk CTR engine, else 0. */
int ooc_aes_bulk(const ooc_aes_t *aes);

/* A CTR pass (as ooc_aes_ctr()) in two halves, on the bulk engine: start it, then wait for it;
   between the two nothing may use either buffer or an engine. Without a bulk engine
   ooc_aes_ctr_start() does the whole pass (ooc_aes_ctr()) and ooc_aes_ctr_wait() returns
   OOC_OK. An engine failure is OOC_ERR_IO, after which `out` may hold part of the result: wipe
   it. `len` is 1 to 2^32 - 1 (else OOC_ERR_ARG, and nothing to wait for). */
int ooc_aes_ctr_start(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                      size_t len);
int ooc_aes_ctr_wait(const ooc_aes_t *aes);

/* AES-CMAC, incremental. `aes` must outlive the context. */
typedef struct {
    const ooc_aes_t *aes;
    uint8_t k1[16], k2[16]; /* subkeys */
    uint8_t x[16];          /* chaining value */
    uint8_t buf[16];        /* pending bytes (the last block is held back) */
    uint32_t n;             /* bytes in buf */
} ooc_cmac_t;

int ooc_cmac_init(ooc_cmac_t *c, const ooc_aes_t *aes);
int ooc_cmac_update(ooc_cmac_t *c, const void *data, size_t len);
int ooc_cmac_final(ooc_cmac_t *c, uint8_t tag[16]); /* also wipes the context */
int ooc_cmac(const ooc_aes_t *aes, const void *data, size_t len, uint8_t tag[16]);

/* Poly1305, incremental; `key` is the 32-byte one-time key (r || s). */
typedef struct {
    uint32_t r[5], h[5], s[4];
    uint8_t buf[16];
    uint32_t n;
} ooc_poly1305_t;

void ooc_poly1305_init(ooc_poly1305_t *p, const uint8_t key[32]);
void ooc_poly1305_update(ooc_poly1305_t *p, const void *data, size_t len);
void ooc_poly1305_final(ooc_poly1305_t *p, uint8_t tag[16]); /* also wipes the context */

/* RFC 3394 key wrap with the default IV A6A6A6A6A6A6A6A6. `key_len` is a multiple of 8, at least
   16 and at most 64; the output has key_len + 8 bytes. */
int ooc_aes_key_wrap(const ooc_aes_t *kek, const uint8_t *key, size_t key_len, uint8_t *out);

/* RFC 3394 key unwrap: `wrapped_len` = key_len + 8. On an integrity failure returns
   OOC_ERR_AUTH and leaves `out` zeroed; `out` holds wrapped_len - 8 bytes. */
int ooc_aes_key_unwrap(const ooc_aes_t *kek, const uint8_t *wrapped, size_t wrapped_len,
                       uint8_t *out);

/* SP 800-108 KDF in counter mode with CMAC as the PRF, a 32-bit big-endian counter starting
   at 1 placed before the fixed input data: K(i) = CMAC(key, [i]_32 || fixed). Writes `out_len`
   bytes (1 to 64, else OOC_ERR_ARG). The caller builds `fixed` (the NIST test vectors give it
   whole). */
int ooc_kdf_cmac_fixed(const ooc_aes_t *key, const uint8_t *fixed, size_t fixed_len, uint8_t *out,
                       size_t out_len);

/* The same KDF with fixed = label || 0x00 || context || [8 * out_len]_32 (big-endian), the
   layout Python's cryptography KBKDFCMAC builds (rlen = 4, llen = 4, location BeforeFixed).
   label_len + context_len must not exceed 96. */
int ooc_kdf_cmac(const ooc_aes_t *key, const uint8_t *label, size_t label_len,
                 const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len);

/* SHA-512 (FIPS 180-4) and Ed25519 signature checks (RFC 8032), by Monocypher (src/crypto/sign.c;
   the library is fetched and pinned, ooc_sdk/codegen/thirdparty.py). The context is opaque. */
typedef struct {
    uint64_t opaque[27];
} ooc_sha512_t;
void ooc_sha512_init(ooc_sha512_t *h);
void ooc_sha512_update(ooc_sha512_t *h, const void *data, size_t len);
void ooc_sha512_final(ooc_sha512_t *h, uint8_t digest[64]); /* also wipes the context */
/* OOC_OK when `signature` is `public_key`'s Ed25519 signature of msg[0..len), else
   OOC_ERR_SIGNATURE. */
int ooc_ed25519_verify(const uint8_t signature[64], const uint8_t public_key[32], const uint8_t *msg,
                       size_t len);

/* 1 when the n bytes are equal, 0 otherwise; time independent of the contents. */
int ooc_ct_equal(const void *a, const void *b, size_t n);

/* Zero n bytes in a way the compiler cannot remove. */
void ooc_wipe(void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* OOC_CRYPTO_H */
