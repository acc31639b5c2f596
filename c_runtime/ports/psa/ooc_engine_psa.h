/*
 * An ooc AES engine on the PSA Crypto API (PSA Certified Crypto API 1.x: Mbed TLS, TF-M, Zephyr,
 * and the drivers silicon vendors ship behind it). A firmware links this file instead of the
 * runtime's software AES: the port's aes_engine takes the ECB blocks (CMAC, the KDF, Poly1305
 * one-time keys), its aes_bulk decrypts each chunk with one PSA_ALG_CTR operation.
 *
 *     static ooc_engine_psa_t psa;
 *     if (ooc_engine_psa_init(&psa) != 0) { ... }     (calls psa_crypto_init())
 *     port.aes_engine = &psa.engine;
 *     port.aes_bulk = &psa.bulk;
 *     ... ooc_image_mount(), ooc_spill_mount() ...
 *     ooc_engine_psa_flush(&psa);                     (where the root key is wiped)
 *     ... ooc_init(), ooc_invoke() ...
 *     ooc_engine_psa_deinit(&psa);                    (when the image is unmounted)
 *
 * Keys: the runtime hands the engine raw AES keys; the engine imports each as a volatile PSA key
 * (one per key and algorithm, usage encrypt and decrypt) and keeps the last OOC_PSA_KEYS of them
 * for the next call. ooc_engine_psa_flush() destroys them all, so the root key the mounts used
 * is not left in the key store; the keys used later (the image's, the spill ring's) are imported
 * again on their next use. The PSA CTR operation is synchronous: ctr_start runs it and ctr_wait
 * returns its status. Where the PSA driver underneath is a DMA engine the call still returns
 * when the data is done; an asynchronous engine is driven through its own ooc_aes_bulk_t.
 *
 * Not thread-safe: one engine per runtime context, used from one thread. C99, no allocation.
 */
#ifndef OOC_ENGINE_PSA_H
#define OOC_ENGINE_PSA_H

#include <stdint.h>

#include <psa/crypto.h>

#include "ooc/ooc_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keys kept imported: the runtime works with at most four at a time (an image's two, a spill
   ring's two; the mount's root, content and header keys come and go). */
#define OOC_PSA_KEYS 6u

typedef struct {
    psa_key_id_t id;   /* 0: free */
    psa_algorithm_t alg;
    uint32_t key_bytes;
    uint32_t used;     /* when last used (the engine's call counter) */
    uint8_t key[OOC_AES_MAX_KEY_BYTES];
} ooc_psa_key_t;

typedef struct {
    ooc_aes_engine_t engine; /* the port's aes_engine */
    ooc_aes_bulk_t bulk;     /* the port's aes_bulk */
    ooc_psa_key_t keys[OOC_PSA_KEYS];
    uint32_t calls;
    int status;              /* the last ctr_start's outcome, for ctr_wait */
    int pending;             /* a ctr_start not yet waited for */
    psa_status_t last_error; /* the last PSA failure (PSA_SUCCESS: none), for diagnostics */
} ooc_engine_psa_t;

/* psa_crypto_init(), then fill `e`. 0, or -1 when the PSA library cannot start. */
int ooc_engine_psa_init(ooc_engine_psa_t *e);

/* Destroy every key the engine imported (and wipe its copies of them). */
void ooc_engine_psa_flush(ooc_engine_psa_t *e);

/* ooc_engine_psa_flush(), and the engine can no longer be used. */
void ooc_engine_psa_deinit(ooc_engine_psa_t *e);

#ifdef __cplusplus
}
#endif

#endif /* OOC_ENGINE_PSA_H */
