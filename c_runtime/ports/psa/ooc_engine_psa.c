/*
 * The PSA Crypto engine: ooc_engine_psa.h.
 */
#include "ooc_engine_psa.h"

#include <string.h>

#include "ooc/ooc.h"

/* The imported key for (key, alg): a kept one, or a new import in the least recently used
   place. PSA_KEY_ID_NULL when PSA refuses it. */
static psa_key_id_t key_for(ooc_engine_psa_t *e, const uint8_t *key, uint32_t key_bytes,
                            psa_algorithm_t alg)
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    ooc_psa_key_t *k = &e->keys[0];
    psa_status_t st;
    uint32_t i;
    e->calls++;
    for (i = 0; i < OOC_PSA_KEYS; i++) {
        ooc_psa_key_t *c = &e->keys[i];
        if (c->id != PSA_KEY_ID_NULL && c->alg == alg && c->key_bytes == key_bytes &&
            ooc_ct_equal(c->key, key, key_bytes)) {
            c->used = e->calls;
            return c->id;
        }
        if (c->id == PSA_KEY_ID_NULL || (k->id != PSA_KEY_ID_NULL && c->used < k->used)) {
            k = c; /* free, or used longer ago */
        }
    }
    if (k->id != PSA_KEY_ID_NULL) {
        (void)psa_destroy_key(k->id);
    }
    ooc_wipe(k, sizeof *k);
    psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&attr, (size_t)key_bytes * 8u);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
    psa_set_key_algorithm(&attr, alg);
    st = psa_import_key(&attr, key, key_bytes, &k->id);
    psa_reset_key_attributes(&attr);
    if (st != PSA_SUCCESS) {
        e->last_error = st;
        k->id = PSA_KEY_ID_NULL;
        return PSA_KEY_ID_NULL;
    }
    memcpy(k->key, key, key_bytes);
    k->key_bytes = key_bytes;
    k->alg = alg;
    k->used = e->calls;
    return k->id;
}

static int ecb_encrypt(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t *in,
                       uint8_t *out, uint32_t n_blocks)
{
    ooc_engine_psa_t *e = (ooc_engine_psa_t *)user;
    const psa_key_id_t id = key_for(e, key, key_bytes, PSA_ALG_ECB_NO_PADDING);
    const size_t len = (size_t)n_blocks * OOC_AES_BLOCK_BYTES;
    size_t n = 0;
    psa_status_t st;
    if (id == PSA_KEY_ID_NULL || e->pending) {
        return -1;
    }
    st = psa_cipher_encrypt(id, PSA_ALG_ECB_NO_PADDING, in, len, out, len, &n);
    if (st != PSA_SUCCESS || n != len) {
        e->last_error = st != PSA_SUCCESS ? st : PSA_ERROR_GENERIC_ERROR;
        return -1;
    }
    return 0;
}

/* CTR over in[0..len) into out: one PSA cipher operation from the counter block `iv`. The
   whole blocks go in one update (in place allowed); the last partial block through two local
   buffers, since Mbed TLS refuses an in-place update of a partial block. */
static int ctr_run(ooc_engine_psa_t *e, psa_key_id_t id, const uint8_t iv[16], const uint8_t *in,
                   uint8_t *out, uint32_t len)
{
    psa_cipher_operation_t op = PSA_CIPHER_OPERATION_INIT;
    uint8_t tail_in[OOC_AES_BLOCK_BYTES], tail_out[OOC_AES_BLOCK_BYTES];
    const size_t whole = (size_t)len & ~(size_t)(OOC_AES_BLOCK_BYTES - 1u), rest = len - whole;
    size_t n = 0, m = 0, f = 0;
    psa_status_t st = psa_cipher_decrypt_setup(&op, id, PSA_ALG_CTR);
    if (st == PSA_SUCCESS) {
        st = psa_cipher_set_iv(&op, iv, OOC_AES_BLOCK_BYTES);
    }
    if (st == PSA_SUCCESS && whole != 0u) {
        st = psa_cipher_update(&op, in, whole, out, whole, &n);
    }
    if (st == PSA_SUCCESS && rest != 0u) {
        memcpy(tail_in, in + whole, rest);
        st = psa_cipher_update(&op, tail_in, rest, tail_out, sizeof tail_out, &m);
        if (st == PSA_SUCCESS && m == rest) {
            memcpy(out + whole, tail_out, rest);
        }
    }
    if (st == PSA_SUCCESS) {
        st = psa_cipher_finish(&op, tail_out, sizeof tail_out, &f);
    }
    if (st == PSA_SUCCESS && (n != whole || m != rest || f != 0u)) {
        st = PSA_ERROR_GENERIC_ERROR;
    }
    ooc_wipe(tail_in, sizeof tail_in);
    ooc_wipe(tail_out, sizeof tail_out);
    if (st != PSA_SUCCESS) {
        e->last_error = st;
        (void)psa_cipher_abort(&op);
        return -1;
    }
    return 0;
}

static int ctr_start(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t iv[16],
                     const uint8_t *in, uint8_t *out, uint32_t len)
{
    ooc_engine_psa_t *e = (ooc_engine_psa_t *)user;
    psa_key_id_t id;
    if (e->pending) {
        return -1; /* one job at a time */
    }
    id = key_for(e, key, key_bytes, PSA_ALG_CTR);
    if (id == PSA_KEY_ID_NULL) {
        return -1;
    }
    e->status = ctr_run(e, id, iv, in, out, len);
    e->pending = 1;
    return 0;
}

static int ctr_wait(void *user)
{
    ooc_engine_psa_t *e = (ooc_engine_psa_t *)user;
    if (!e->pending) {
        return -1;
    }
    e->pending = 0;
    return e->status;
}

int ooc_engine_psa_init(ooc_engine_psa_t *e)
{
    memset(e, 0, sizeof *e);
    if (psa_crypto_init() != PSA_SUCCESS) {
        return -1;
    }
    e->engine.ecb_encrypt = ecb_encrypt;
    e->engine.user = e;
    e->bulk.ctr_start = ctr_start;
    e->bulk.ctr_wait = ctr_wait;
    e->bulk.user = e;
    e->last_error = PSA_SUCCESS;
    return 0;
}

void ooc_engine_psa_flush(ooc_engine_psa_t *e)
{
    uint32_t i;
    for (i = 0; i < OOC_PSA_KEYS; i++) {
        if (e->keys[i].id != PSA_KEY_ID_NULL) {
            (void)psa_destroy_key(e->keys[i].id);
        }
        ooc_wipe(&e->keys[i], sizeof e->keys[i]);
    }
}

void ooc_engine_psa_deinit(ooc_engine_psa_t *e)
{
    ooc_engine_psa_flush(e);
    memset(e, 0, sizeof *e);
}
