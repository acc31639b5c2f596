/*
 * AES key wrap, RFC 3394 (NIST SP 800-38F algorithm KW) with the default IV A6A6A6A6A6A6A6A6,
 * in the index-based form of RFC 3394 sections 2.2.1 and 2.2.2.
 */
#include <stddef.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"

#define KW_MIN_KEY 16u
#define KW_MAX_KEY 64u

static const uint8_t k_default_iv[8] = {0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6};

/* A ^= t, t as a 64-bit big-endian integer (t <= 6 * 8 here). */
static void xor_t(uint8_t a[8], uint32_t t)
{
    a[4] ^= (uint8_t)(t >> 24);
    a[5] ^= (uint8_t)(t >> 16);
    a[6] ^= (uint8_t)(t >> 8);
    a[7] ^= (uint8_t)t;
}

int ooc_aes_key_wrap(const ooc_aes_t *kek, const uint8_t *key, size_t key_len, uint8_t *out)
{
    uint8_t b[16];
    uint32_t n, i, j;
    int err = OOC_OK;
    if (kek == NULL || key == NULL || out == NULL || key_len % 8u != 0 || key_len < KW_MIN_KEY ||
        key_len > KW_MAX_KEY) {
        return OOC_ERR_ARG;
    }
    /* Section 2.2.1: A = IV, R[1..n] = P[1..n], kept in place in out[8..]. */
    n = (uint32_t)(key_len / 8u);
    memmove(out + 8, key, key_len);
    memcpy(b, k_default_iv, 8);
    for (j = 0; j <= 5u && err == OOC_OK; j++) {
        for (i = 1; i <= n; i++) {
            /* B = AES(K, A | R[i]); A = MSB64(B) ^ t with t = n*j + i; R[i] = LSB64(B). */
            memcpy(b + 8, out + 8u * i, 8);
            err = ooc_aes_encrypt_blocks(kek, b, b, 1);
            if (err < 0) {
                break;
            }
            xor_t(b, n * j + i);
            memcpy(out + 8u * i, b + 8, 8);
        }
    }
    if (err == OOC_OK) {
        memcpy(out, b, 8);
    } else {
        ooc_wipe(out, key_len + 8u);
    }
    ooc_wipe(b, sizeof b);
    return err;
}

int ooc_aes_key_unwrap(const ooc_aes_t *kek, const uint8_t *wrapped, size_t wrapped_len,
                       uint8_t *out)
{
    uint8_t b[16];
    uint32_t n, i, j;
    int err = OOC_OK;
    if (kek == NULL || wrapped == NULL || out == NULL || wrapped_len % 8u != 0 ||
        wrapped_len < KW_MIN_KEY + 8u || wrapped_len > KW_MAX_KEY + 8u) {
        return OOC_ERR_ARG;
    }
    /* Section 2.2.2: A = C[0], R[i] = C[i], kept in place in out[0..]. */
    n = (uint32_t)(wrapped_len / 8u - 1u);
    memcpy(b, wrapped, 8);
    memmove(out, wrapped + 8, wrapped_len - 8u);
    for (j = 6; j-- > 0 && err == OOC_OK;) {
        for (i = n; i >= 1u; i--) {
            /* B = AES-1(K, (A ^ t) | R[i]) with t = n*j + i; A = MSB64(B); R[i] = LSB64(B). */
            xor_t(b, n * j + i);
            memcpy(b + 8, out + 8u * (i - 1u), 8);
            err = ooc_aes_decrypt_block(kek, b, b);
            if (err < 0) {
                break;
            }
            memcpy(out + 8u * (i - 1u), b + 8, 8);
        }
    }
    /* Section 2.2.3: the key is valid only if A came back as the IV (compared in constant
       time, so a forger learns nothing from the timing). */
    if (err == OOC_OK && !ooc_ct_equal(b, k_default_iv, 8)) {
        err = OOC_ERR_AUTH;
    }
    if (err < 0) {
        ooc_wipe(out, wrapped_len - 8u);
    }
    ooc_wipe(b, sizeof b);
    return err;
}
