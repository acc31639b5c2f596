/*
 * ooc's crypto (c_runtime/src/crypto) against a second implementation in C, Mbed TLS, and the
 * PSA Crypto engine backend (c_runtime/ports/psa) against both. Built and fed by
 * tests/test_mbedtls.py under ASan and UBSan, linked with -lmbedcrypto.
 *
 * stdin, one line each (hex fields, "-" for empty; tests/c/vector_line.h):
 *   ctr KEY IV PLAINTEXT CIPHERTEXT     cmac KEY MESSAGE TAG      poly1305 KEY MESSAGE TAG
 *   kw KEK KEYDATA WRAPPED              kwfail KEK WRAPPED        kdf KEY FIXED OUT
 *       a published vector: ooc in software, ooc on the PSA engine and Mbed TLS must all give
 *       its answer;
 *   random SEED COUNT                   (SEED: 8 bytes, COUNT: 2 bytes, big-endian)
 *       COUNT seeded random cases, each comparing ooc in software, ooc on the PSA engine (its
 *       ECB blocks and its bulk CTR) and Mbed TLS on every primitive; each case counts once.
 * Prints a line per failure, then "N passed, M failed"; exits 1 on any failure or none passed.
 *
 * Mbed TLS's side: AES (mbedtls_aes_*), CTR (mbedtls_aes_crypt_ctr), CMAC (mbedtls_cipher_cmac
 * and PSA's psa_mac_compute with PSA_ALG_CMAC), Poly1305 (mbedtls_poly1305_mac), RFC 3394 key
 * wrap (mbedtls_nist_kw_* where the library has MBEDTLS_NIST_KW_C; Debian's build does not, and
 * the wrap is then written here over Mbed TLS's AES: the mode from RFC 3394 section 2.2, the
 * block cipher Mbed TLS's), and the SP 800-108 counter-mode KDF over Mbed TLS's CMAC (Mbed TLS
 * has no KBKDF).
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/cipher.h>
#include <mbedtls/cmac.h>
#include <mbedtls/poly1305.h>
#if defined(MBEDTLS_NIST_KW_C)
#include <mbedtls/nist_kw.h>
#endif
#include <psa/crypto.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "ooc_engine_psa.h"
#include "vector_line.h"
#include "vector_stdin.h"

#define MAX_LINE 16384
#define BIG 4096u

static ooc_engine_psa_t psa;
static long passed, failed;

/* ---- Mbed TLS's side --------------------------------------------------------------------- */

static int mb_ctr(const uint8_t *key, size_t key_len, const uint8_t iv[16], const uint8_t *in,
                  uint8_t *out, size_t len)
{
    mbedtls_aes_context aes;
    uint8_t counter[16], stream[16];
    size_t off = 0;
    int rc;
    memcpy(counter, iv, 16);
    mbedtls_aes_init(&aes);
    rc = mbedtls_aes_setkey_enc(&aes, key, (unsigned)(key_len * 8u));
    if (rc == 0 && len > 0) {
        rc = mbedtls_aes_crypt_ctr(&aes, len, &off, counter, stream, in, out);
    }
    mbedtls_aes_free(&aes);
    return rc;
}

static int mb_cmac(const uint8_t *key, size_t key_len, const uint8_t *m, size_t len, uint8_t tag[16])
{
    const mbedtls_cipher_info_t *info = mbedtls_cipher_info_from_type(
        key_len == 16 ? MBEDTLS_CIPHER_AES_128_ECB : MBEDTLS_CIPHER_AES_256_ECB);
    return info == NULL ? -1 : mbedtls_cipher_cmac(info, key, key_len * 8u, m, len, tag);
}

/* CMAC through the PSA API: psa_mac_compute(PSA_ALG_CMAC) on a freshly imported key. */
static int psa_cmac(const uint8_t *key, size_t key_len, const uint8_t *m, size_t len, uint8_t tag[16])
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_key_id_t id = PSA_KEY_ID_NULL;
    size_t n = 0;
    psa_status_t st;
    psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&attr, key_len * 8u);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_SIGN_MESSAGE);
    psa_set_key_algorithm(&attr, PSA_ALG_CMAC);
    st = psa_import_key(&attr, key, key_len, &id);
    if (st == PSA_SUCCESS) {
        st = psa_mac_compute(id, PSA_ALG_CMAC, m, len, tag, 16, &n);
        (void)psa_destroy_key(id);
    }
    return st == PSA_SUCCESS && n == 16 ? 0 : -1;
}

/* RFC 3394 section 2.2.1 (wrap) and 2.2.2 (unwrap), index form, over Mbed TLS's AES. */
static int mb_kw(const uint8_t *kek, size_t kek_len, const uint8_t *p, size_t len, uint8_t *c)
{
#if defined(MBEDTLS_NIST_KW_C)
    mbedtls_nist_kw_context kw;
    size_t n = 0;
    int rc;
    mbedtls_nist_kw_init(&kw);
    rc = mbedtls_nist_kw_setkey(&kw, MBEDTLS_CIPHER_ID_AES, kek, (unsigned)(kek_len * 8u), 1);
    if (rc == 0) {
        rc = mbedtls_nist_kw_wrap(&kw, MBEDTLS_KW_MODE_KW, p, len, c, &n, len + 8u);
    }
    mbedtls_nist_kw_free(&kw);
    return rc == 0 && n == len + 8u ? 0 : -1;
#else
    mbedtls_aes_context aes;
    uint8_t b[16];
    const size_t n = len / 8u;
    size_t i, j;
    int rc;
    mbedtls_aes_init(&aes);
    rc = mbedtls_aes_setkey_enc(&aes, kek, (unsigned)(kek_len * 8u));
    memset(c, 0xA6, 8);
    memcpy(c + 8, p, len);
    for (j = 0; rc == 0 && j < 6u; j++) {
        for (i = 1; rc == 0 && i <= n; i++) {
            const uint64_t t = (uint64_t)(n * j + i);
            int k;
            memcpy(b, c, 8);
            memcpy(b + 8, c + 8u * i, 8);
            rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, b, b);
            for (k = 0; k < 8; k++) {
                b[7 - k] ^= (uint8_t)(t >> (8 * k));
            }
            memcpy(c, b, 8);
            memcpy(c + 8u * i, b + 8, 8);
        }
    }
    mbedtls_aes_free(&aes);
    return rc;
#endif
}

static int mb_kw_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *c, size_t clen, uint8_t *p)
{
#if defined(MBEDTLS_NIST_KW_C)
    mbedtls_nist_kw_context kw;
    size_t n = 0;
    int rc;
    mbedtls_nist_kw_init(&kw);
    rc = mbedtls_nist_kw_setkey(&kw, MBEDTLS_CIPHER_ID_AES, kek, (unsigned)(kek_len * 8u), 0);
    if (rc == 0) {
        rc = mbedtls_nist_kw_unwrap(&kw, MBEDTLS_KW_MODE_KW, c, clen, p, &n, clen - 8u);
    }
    mbedtls_nist_kw_free(&kw);
    return rc == 0 && n == clen - 8u ? 0 : -1;
#else
    static const uint8_t iv[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
    mbedtls_aes_context aes;
    uint8_t a[8], b[16];
    const size_t n = (clen - 8u) / 8u;
    size_t i, j;
    int rc;
    mbedtls_aes_init(&aes);
    rc = mbedtls_aes_setkey_dec(&aes, kek, (unsigned)(kek_len * 8u));
    memcpy(a, c, 8);
    memcpy(p, c + 8, clen - 8u);
    for (j = 6; rc == 0 && j-- > 0;) {
        for (i = n; rc == 0 && i >= 1u; i--) {
            const uint64_t t = (uint64_t)(n * j + i);
            int k;
            memcpy(b, a, 8);
            for (k = 0; k < 8; k++) {
                b[7 - k] ^= (uint8_t)(t >> (8 * k));
            }
            memcpy(b + 8, p + 8u * (i - 1u), 8);
            rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_DECRYPT, b, b);
            memcpy(a, b, 8);
            memcpy(p + 8u * (i - 1u), b + 8, 8);
        }
    }
    mbedtls_aes_free(&aes);
    return rc == 0 && memcmp(a, iv, 8) == 0 ? 0 : -1;
#endif
}

/* SP 800-108 section 4.1, PRF = CMAC, r = 32, counter before the fixed input data. */
static int mb_kdf(const uint8_t *key, size_t key_len, const uint8_t *fixed, size_t fixed_len,
                  uint8_t *out, size_t out_len)
{
    uint8_t msg[4 + 256], k[16];
    uint32_t i;
    size_t done = 0;
    if (fixed_len > 256u) {
        return -1;
    }
    if (fixed_len > 0) {
        memcpy(msg + 4, fixed, fixed_len);
    }
    for (i = 1; done < out_len; i++) {
        const size_t take = out_len - done < 16u ? out_len - done : 16u;
        msg[0] = (uint8_t)(i >> 24);
        msg[1] = (uint8_t)(i >> 16);
        msg[2] = (uint8_t)(i >> 8);
        msg[3] = (uint8_t)i;
        if (mb_cmac(key, key_len, msg, 4u + fixed_len, k) != 0) {
            return -1;
        }
        memcpy(out + done, k, take);
        done += take;
    }
    return 0;
}

/* ---- ooc, in software and on the PSA engine ----------------------------------------------- */

/* `aes` for `key`: software (engine 0), the PSA engine's ECB blocks (1), or those and its bulk
   CTR (2). */
static int ooc_key(ooc_aes_t *aes, const uint8_t *key, size_t key_len, int engine)
{
    int rc = ooc_aes_init(aes, key, (uint32_t)key_len, engine ? &psa.engine : NULL);
    if (rc == OOC_OK && engine == 2) {
        rc = ooc_aes_set_bulk(aes, &psa.bulk);
    }
    return rc;
}

/* CTR by `engine`: 2 runs it as one bulk job (start, wait), the others through ooc_aes_ctr. */
static int ooc_ctr_by(int engine, const uint8_t *key, size_t key_len, const uint8_t iv[16],
                      const uint8_t *in, uint8_t *out, size_t len)
{
    ooc_aes_t aes;
    int rc = ooc_key(&aes, key, key_len, engine);
    if (rc == OOC_OK && engine == 2 && len > 0) {
        rc = ooc_aes_ctr_start(&aes, iv, in, out, len);
        rc = rc == OOC_OK ? ooc_aes_ctr_wait(&aes) : rc;
    } else if (rc == OOC_OK) {
        rc = ooc_aes_ctr(&aes, iv, in, out, len);
    }
    ooc_aes_wipe(&aes);
    return rc;
}

static int ooc_cmac_by(int engine, const uint8_t *key, size_t key_len, const uint8_t *m, size_t len,
                       uint8_t tag[16])
{
    ooc_aes_t aes;
    int rc = ooc_key(&aes, key, key_len, engine);
    if (rc == OOC_OK) {
        rc = ooc_cmac(&aes, m, len, tag);
    }
    ooc_aes_wipe(&aes);
    return rc;
}

static int ooc_kw_by(int engine, const uint8_t *kek, size_t kek_len, const uint8_t *p, size_t len,
                     uint8_t *c)
{
    ooc_aes_t aes;
    int rc = ooc_key(&aes, kek, kek_len, engine);
    if (rc == OOC_OK) {
        rc = ooc_aes_key_wrap(&aes, p, len, c);
    }
    ooc_aes_wipe(&aes);
    return rc;
}

static int ooc_unwrap_by(int engine, const uint8_t *kek, size_t kek_len, const uint8_t *c,
                         size_t clen, uint8_t *p)
{
    ooc_aes_t aes;
    int rc = ooc_key(&aes, kek, kek_len, engine);
    if (rc == OOC_OK) {
        rc = ooc_aes_key_unwrap(&aes, c, clen, p);
    }
    ooc_aes_wipe(&aes);
    return rc;
}

static int ooc_kdf_by(int engine, const uint8_t *key, size_t key_len, const uint8_t *fixed,
                      size_t fixed_len, uint8_t *out, size_t out_len)
{
    ooc_aes_t aes;
    int rc = ooc_key(&aes, key, key_len, engine);
    if (rc == OOC_OK) {
        rc = ooc_kdf_cmac_fixed(&aes, fixed, fixed_len, out, out_len);
    }
    ooc_aes_wipe(&aes);
    return rc;
}

static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* ---- published vectors ------------------------------------------------------------------- */

static const char *vec_ctr(const field_t *f)
{
    static uint8_t out[VECTOR_MAX_FIELD];
    int e;
    if (f[1].n != 16 || f[2].n != f[3].n) {
        return "bad vector";
    }
    for (e = 0; e < 3; e++) {
        if (ooc_ctr_by(e, f[0].b, f[0].n, f[1].b, f[2].b, out, f[2].n) != OOC_OK ||
            !same(out, f[3].b, f[3].n)) {
            return e == 0 ? "ooc" : e == 1 ? "ooc on PSA blocks" : "ooc on PSA bulk CTR";
        }
    }
    if (mb_ctr(f[0].b, f[0].n, f[1].b, f[2].b, out, f[2].n) != 0 || !same(out, f[3].b, f[3].n)) {
        return "Mbed TLS";
    }
    return NULL;
}

static const char *vec_cmac(const field_t *f)
{
    uint8_t tag[16];
    int e;
    if (f[2].n != 16) {
        return "bad vector";
    }
    for (e = 0; e < 2; e++) {
        if (ooc_cmac_by(e, f[0].b, f[0].n, f[1].b, f[1].n, tag) != OOC_OK || !same(tag, f[2].b, 16)) {
            return e == 0 ? "ooc" : "ooc on PSA";
        }
    }
    if (mb_cmac(f[0].b, f[0].n, f[1].b, f[1].n, tag) != 0 || !same(tag, f[2].b, 16)) {
        return "Mbed TLS";
    }
    if (psa_cmac(f[0].b, f[0].n, f[1].b, f[1].n, tag) != 0 || !same(tag, f[2].b, 16)) {
        return "PSA CMAC";
    }
    return NULL;
}

static const char *vec_poly1305(const field_t *f)
{
    ooc_poly1305_t p;
    uint8_t tag[16];
    if (f[0].n != 32 || f[2].n != 16) {
        return "bad vector";
    }
    ooc_poly1305_init(&p, f[0].b);
    ooc_poly1305_update(&p, f[1].b, f[1].n);
    ooc_poly1305_final(&p, tag);
    if (!same(tag, f[2].b, 16)) {
        return "ooc";
    }
    if (mbedtls_poly1305_mac(f[0].b, f[1].b, f[1].n, tag) != 0 || !same(tag, f[2].b, 16)) {
        return "Mbed TLS";
    }
    return NULL;
}

static const char *vec_kw(const field_t *f)
{
    static uint8_t out[VECTOR_MAX_FIELD];
    int e;
    if (f[2].n != f[1].n + 8u) {
        return "bad vector";
    }
    for (e = 0; e < 2; e++) {
        if (ooc_kw_by(e, f[0].b, f[0].n, f[1].b, f[1].n, out) != OOC_OK || !same(out, f[2].b, f[2].n)) {
            return e == 0 ? "ooc wrap" : "ooc wrap on PSA";
        }
        if (ooc_unwrap_by(e, f[0].b, f[0].n, f[2].b, f[2].n, out) != OOC_OK || !same(out, f[1].b, f[1].n)) {
            return e == 0 ? "ooc unwrap" : "ooc unwrap on PSA";
        }
    }
    if (mb_kw(f[0].b, f[0].n, f[1].b, f[1].n, out) != 0 || !same(out, f[2].b, f[2].n)) {
        return "Mbed TLS wrap";
    }
    if (mb_kw_unwrap(f[0].b, f[0].n, f[2].b, f[2].n, out) != 0 || !same(out, f[1].b, f[1].n)) {
        return "Mbed TLS unwrap";
    }
    return NULL;
}

static const char *vec_kwfail(const field_t *f)
{
    static uint8_t out[VECTOR_MAX_FIELD];
    if (f[1].n < 24u || f[1].n % 8u != 0) {
        return "bad vector";
    }
    if (ooc_unwrap_by(0, f[0].b, f[0].n, f[1].b, f[1].n, out) != OOC_ERR_AUTH ||
        ooc_unwrap_by(1, f[0].b, f[0].n, f[1].b, f[1].n, out) != OOC_ERR_AUTH) {
        return "ooc accepted it";
    }
    if (mb_kw_unwrap(f[0].b, f[0].n, f[1].b, f[1].n, out) == 0) {
        return "Mbed TLS accepted it";
    }
    return NULL;
}

static const char *vec_kdf(const field_t *f)
{
    uint8_t out[64];
    int e;
    if (f[2].n < 1 || f[2].n > sizeof out) {
        return "bad vector";
    }
    for (e = 0; e < 2; e++) {
        if (ooc_kdf_by(e, f[0].b, f[0].n, f[1].b, f[1].n, out, f[2].n) != OOC_OK || !same(out, f[2].b, f[2].n)) {
            return e == 0 ? "ooc" : "ooc on PSA";
        }
    }
    if (mb_kdf(f[0].b, f[0].n, f[1].b, f[1].n, out, f[2].n) != 0 || !same(out, f[2].b, f[2].n)) {
        return "Mbed TLS";
    }
    return NULL;
}

/* ---- seeded random cases ----------------------------------------------------------------- */

static uint64_t rng_state;

/* SplitMix64. */
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static void fill(uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)rnd();
    }
}

/* CTR with a random nonce and start counter (every fourth case ending at counter 2^32 - 1),
   in software, on PSA blocks, as one PSA bulk job, in place, and by Mbed TLS. */
static const char *rand_ctr(const uint8_t *key, size_t kl, const uint8_t *data, size_t len)
{
    static uint8_t a[BIG], b[BIG];
    uint8_t iv[16];
    const uint32_t blocks = (uint32_t)((len + 15u) / 16u);
    uint32_t start = below(4) == 0 ? 0u - (blocks ? blocks : 1u) : (uint32_t)rnd();
    int e;
    if ((uint64_t)start + blocks > 0x100000000ull) {
        start = 0u - blocks;
    }
    fill(iv, 12);
    iv[12] = (uint8_t)(start >> 24);
    iv[13] = (uint8_t)(start >> 16);
    iv[14] = (uint8_t)(start >> 8);
    iv[15] = (uint8_t)start;
    if (mb_ctr(key, kl, iv, data, a, len) != 0) {
        return "Mbed TLS CTR";
    }
    for (e = 0; e < 3; e++) {
        if (ooc_ctr_by(e, key, kl, iv, data, b, len) != OOC_OK || !same(a, b, len)) {
            return e == 0 ? "CTR: ooc != Mbed TLS" : e == 1 ? "CTR: ooc on PSA blocks" : "CTR: ooc on PSA bulk";
        }
    }
    if (len > 0) {
        memcpy(b, data, len);
    }
    if (ooc_ctr_by(2, key, kl, iv, b, b, len) != OOC_OK || !same(a, b, len)) {
        return "CTR: ooc on PSA bulk, in place";
    }
    return NULL;
}

static const char *rand_macs(const uint8_t *key, size_t kl, const uint8_t *data, size_t len)
{
    uint8_t t1[16], t2[16], t3[16], t4[16], otk[32];
    ooc_poly1305_t p;
    const size_t split = len ? below((uint32_t)len + 1u) : 0u;
    if (ooc_cmac_by(0, key, kl, data, len, t1) != OOC_OK || ooc_cmac_by(1, key, kl, data, len, t2) != OOC_OK ||
        mb_cmac(key, kl, data, len, t3) != 0 || psa_cmac(key, kl, data, len, t4) != 0) {
        return "CMAC failed";
    }
    if (!same(t1, t3, 16) || !same(t2, t3, 16) || !same(t4, t3, 16)) {
        return "CMAC: ooc != Mbed TLS";
    }
    fill(otk, sizeof otk);
    ooc_poly1305_init(&p, otk);
    ooc_poly1305_update(&p, data, split);
    ooc_poly1305_update(&p, data + split, len - split);
    ooc_poly1305_final(&p, t1);
    if (mbedtls_poly1305_mac(otk, data, len, t2) != 0 || !same(t1, t2, 16)) {
        return "Poly1305: ooc != Mbed TLS";
    }
    return NULL;
}

static const char *rand_kw(const uint8_t *kek, size_t kl)
{
    uint8_t plain[64], a[72], b[72], back[64];
    const size_t n = 8u * (2u + below(7));
    uint32_t bit;
    fill(plain, n);
    if (ooc_kw_by(0, kek, kl, plain, n, a) != OOC_OK || mb_kw(kek, kl, plain, n, b) != 0 || !same(a, b, n + 8u)) {
        return "key wrap: ooc != Mbed TLS";
    }
    if (ooc_kw_by(1, kek, kl, plain, n, b) != OOC_OK || !same(a, b, n + 8u)) {
        return "key wrap: ooc on PSA";
    }
    if (ooc_unwrap_by(1, kek, kl, a, n + 8u, back) != OOC_OK || !same(back, plain, n) ||
        mb_kw_unwrap(kek, kl, a, n + 8u, back) != 0 || !same(back, plain, n)) {
        return "key unwrap";
    }
    bit = below((uint32_t)(8u * (n + 8u)));
    a[bit / 8u] ^= (uint8_t)(1u << (bit % 8u));
    if (ooc_unwrap_by(0, kek, kl, a, n + 8u, back) != OOC_ERR_AUTH || mb_kw_unwrap(kek, kl, a, n + 8u, back) == 0) {
        return "key unwrap accepted a flipped bit";
    }
    return NULL;
}

static const char *rand_kdf(const uint8_t *key, size_t kl)
{
    uint8_t fixed[128], a[64], b[64], c[64], label[96], context[96];
    const size_t fl = below(101), ol = 1u + below(64), ll = below(49), cl = below(49);
    ooc_aes_t aes;
    int rc;
    fill(fixed, fl);
    if (ooc_kdf_by(0, key, kl, fixed, fl, a, ol) != OOC_OK || ooc_kdf_by(1, key, kl, fixed, fl, b, ol) != OOC_OK ||
        mb_kdf(key, kl, fixed, fl, c, ol) != 0 || !same(a, c, ol) || !same(b, c, ol)) {
        return "KDF: ooc != Mbed TLS";
    }
    /* the label/context form: fixed = label || 0x00 || context || [8 * ol]_32 */
    fill(label, ll);
    fill(context, cl);
    memcpy(fixed, label, ll);
    fixed[ll] = 0;
    memcpy(fixed + ll + 1u, context, cl);
    fixed[ll + 1u + cl] = (uint8_t)((8u * ol) >> 24);
    fixed[ll + 2u + cl] = (uint8_t)((8u * ol) >> 16);
    fixed[ll + 3u + cl] = (uint8_t)((8u * ol) >> 8);
    fixed[ll + 4u + cl] = (uint8_t)(8u * ol);
    rc = ooc_key(&aes, key, kl, 1);
    rc = rc == OOC_OK ? ooc_kdf_cmac(&aes, label, ll, context, cl, a, ol) : rc;
    ooc_aes_wipe(&aes);
    if (rc != OOC_OK || mb_kdf(key, kl, fixed, ll + cl + 5u, c, ol) != 0 || !same(a, c, ol)) {
        return "KDF (label, context): ooc != Mbed TLS";
    }
    return NULL;
}

static const char *rand_block(const uint8_t *key, size_t kl)
{
    uint8_t in[16], a[16], b[16], back[16];
    mbedtls_aes_context m;
    ooc_aes_t aes;
    int rc;
    fill(in, 16);
    mbedtls_aes_init(&m);
    rc = mbedtls_aes_setkey_enc(&m, key, (unsigned)(kl * 8u));
    rc = rc == 0 ? mbedtls_aes_crypt_ecb(&m, MBEDTLS_AES_ENCRYPT, in, b) : rc;
    mbedtls_aes_free(&m);
    if (rc != 0 || ooc_key(&aes, key, kl, 0) != OOC_OK) {
        return "AES set-up";
    }
    rc = ooc_aes_encrypt_blocks(&aes, in, a, 1) != OOC_OK || !same(a, b, 16) ||
         ooc_aes_decrypt_block(&aes, a, back) != OOC_OK || !same(back, in, 16);
    ooc_aes_wipe(&aes);
    return rc ? "AES block: ooc != Mbed TLS" : NULL;
}

static void random_cases(const field_t *f)
{
    static uint8_t data[BIG];
    uint32_t i, count = (uint32_t)f[1].n == 2 ? (uint32_t)((f[1].b[0] << 8) | f[1].b[1]) : 0u;
    size_t k;
    rng_state = 0;
    for (k = 0; k < f[0].n; k++) {
        rng_state = (rng_state << 8) | f[0].b[k];
    }
    for (i = 0; i < count; i++) {
        uint8_t key[32];
        const size_t kl = below(2) ? 32u : 16u;
        /* mostly short messages, every eighth up to BIG bytes: many blocks, and the batches */
        const size_t len = below(8) == 0 ? below(BIG + 1u) : below(301);
        const char *why;
        fill(key, kl);
        fill(data, len);
        why = rand_ctr(key, kl, data, len);
        why = why ? why : rand_macs(key, kl, data, len);
        why = why ? why : rand_kw(key, kl);
        why = why ? why : rand_kdf(key, kl);
        why = why ? why : rand_block(key, kl);
        if (why == NULL) {
            passed++;
        } else {
            printf("FAIL random case %lu: %s\n", (unsigned long)i, why);
            failed++;
        }
    }
}

static const char *run_line(char *line)
{
    static const vector_kind_t kinds[] = {{"ctr", 4},  {"cmac", 3}, {"poly1305", 3},
                                          {"kw", 3},   {"kwfail", 2}, {"kdf", 3},
                                          {"random", 2}};
    static field_t fields[VECTOR_MAX_FIELDS];
    const char *why = NULL;
    switch (vector_line(line, kinds, (int)(sizeof kinds / sizeof kinds[0]), fields, &why)) {
    case 0: return vec_ctr(fields);
    case 1: return vec_cmac(fields);
    case 2: return vec_poly1305(fields);
    case 3: return vec_kw(fields);
    case 4: return vec_kwfail(fields);
    case 5: return vec_kdf(fields);
    case 6:
        random_cases(fields);
        passed--; /* the line itself is not a case */
        return NULL;
    default: return why;
    }
}

int main(void)
{
    static char line[MAX_LINE];
    if (ooc_engine_psa_init(&psa) != 0) {
        printf("FAIL: psa_crypto_init\n0 passed, 1 failed\n");
        return 1;
    }
    vector_stdin(run_line, line, (int)sizeof line, &passed, &failed);
    ooc_engine_psa_deinit(&psa);
    mbedtls_psa_crypto_free();
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
