/*
 * Test driver for the crypto primitives (c_runtime/src/crypto). Built and fed by
 * tests/test_crypto.py under ASan and UBSan.
 *
 * Reads one vector per line from stdin, hex fields separated by single spaces, "-" for empty:
 *   ctr KEY IV PLAINTEXT CIPHERTEXT     cmac KEY MESSAGE TAG      poly1305 KEY MESSAGE TAG
 *   kw KEK KEYDATA WRAPPED              kwfail KEK WRAPPED        kdf KEY FIXED OUT
 *   kdfl KEY LABEL CONTEXT OUT          engine KEY PLAINTEXT CIPHERTEXT (zero IV, fake engine)
 *   aes KEY PLAINTEXT CIPHERTEXT        (one block: encrypt and the inverse cipher)
 * Prints a line per failure, then "N passed, M failed"; exits 1 on any failure or no vectors.
 * Argument errors are checked once at startup; they add to the failures but not to N.
 */
#include <stdio.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "vector_line.h"
#include "vector_stdin.h"

#define MAX_LINE 16384
#define MAX_FIELD VECTOR_MAX_FIELD
#define MAX_FIELDS VECTOR_MAX_FIELDS

/* A fake hardware engine: a software AES of its own, plus call statistics. */
typedef struct {
    ooc_aes_t soft;
    uint32_t calls, max_blocks;
    int fail;
} fake_engine_t;

static int fake_ecb(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t *in,
                    uint8_t *out, uint32_t n_blocks)
{
    fake_engine_t *e = (fake_engine_t *)user;
    e->calls++;
    if (n_blocks > e->max_blocks) {
        e->max_blocks = n_blocks;
    }
    if (e->fail || key_bytes != e->soft.key_bytes || memcmp(key, e->soft.key, key_bytes) != 0) {
        return -1;
    }
    return ooc_aes_encrypt_blocks(&e->soft, in, out, n_blocks) == OOC_OK ? 0 : -1;
}

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static int same(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* Incremental split points tried for CMAC and Poly1305 (clipped to the message length). */
static const size_t k_splits[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65};

static const char *check_ctr(const field_t *f)
{
    ooc_aes_t aes;
    uint8_t buf[MAX_FIELD];
    const char *why = NULL;
    if (f[2].n != f[3].n || f[1].n != 16) {
        return "bad vector";
    }
    if (ooc_aes_init(&aes, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK) {
        return "init";
    }
    if (ooc_aes_ctr(&aes, f[1].b, f[2].b, buf, f[2].n) != OOC_OK || !same(buf, f[3].b, f[3].n)) {
        why = "encrypt";
    } else if (ooc_aes_ctr(&aes, f[1].b, f[3].b, buf, f[3].n) != OOC_OK ||
               !same(buf, f[2].b, f[2].n)) {
        why = "decrypt";
    } else {
        if (f[2].n > 0) {
            memcpy(buf, f[2].b, f[2].n);
        }
        if (ooc_aes_ctr(&aes, f[1].b, buf, buf, f[2].n) != OOC_OK || !same(buf, f[3].b, f[3].n)) {
            why = "in place";
        }
    }
    ooc_aes_wipe(&aes);
    return why;
}

static const char *check_cmac(const field_t *f)
{
    ooc_aes_t aes;
    ooc_cmac_t c;
    uint8_t tag[16];
    const uint8_t *m = f[1].b;
    size_t len = f[1].n, k, i;
    const char *why = NULL;
    if (f[2].n != 16) {
        return "bad vector";
    }
    if (ooc_aes_init(&aes, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK) {
        return "init";
    }
    if (ooc_cmac(&aes, m, len, tag) != OOC_OK || !same(tag, f[2].b, 16)) {
        why = "one-shot";
    }
    /* Two pieces at each split point, then three pieces (split, 1 byte, rest). */
    for (k = 0; why == NULL && k < sizeof k_splits / sizeof k_splits[0]; k++) {
        size_t s = k_splits[k] < len ? k_splits[k] : len;
        int ok = ooc_cmac_init(&c, &aes) == OOC_OK && ooc_cmac_update(&c, m, s) == OOC_OK &&
                 ooc_cmac_update(&c, m + s, len - s) == OOC_OK &&
                 ooc_cmac_final(&c, tag) == OOC_OK && same(tag, f[2].b, 16);
        if (!ok) {
            why = "incremental split";
        } else if (s < len) {
            ok = ooc_cmac_init(&c, &aes) == OOC_OK && ooc_cmac_update(&c, m, s) == OOC_OK &&
                 ooc_cmac_update(&c, m + s, 1) == OOC_OK &&
                 ooc_cmac_update(&c, m + s + 1, len - s - 1) == OOC_OK &&
                 ooc_cmac_final(&c, tag) == OOC_OK && same(tag, f[2].b, 16);
            if (!ok) {
                why = "incremental three pieces";
            }
        }
    }
    if (why == NULL) {
        int ok = ooc_cmac_init(&c, &aes) == OOC_OK;
        for (i = 0; ok && i < len; i++) {
            ok = ooc_cmac_update(&c, m + i, 1) == OOC_OK;
        }
        if (!ok || ooc_cmac_final(&c, tag) != OOC_OK || !same(tag, f[2].b, 16)) {
            why = "byte by byte";
        }
    }
    ooc_aes_wipe(&aes);
    return why;
}

static int poly_tag(const uint8_t key[32], const uint8_t *m, size_t len, size_t s1, size_t s2,
                    const uint8_t expect[16])
{
    ooc_poly1305_t p;
    uint8_t tag[16];
    ooc_poly1305_init(&p, key);
    ooc_poly1305_update(&p, m, s1);
    ooc_poly1305_update(&p, m + s1, s2 - s1);
    ooc_poly1305_update(&p, m + s2, len - s2);
    ooc_poly1305_final(&p, tag);
    return same(tag, expect, 16) && all_zero((const uint8_t *)&p, sizeof p);
}

static const char *check_poly1305(const field_t *f)
{
    ooc_poly1305_t p;
    uint8_t tag[16];
    const uint8_t *m = f[1].b;
    size_t len = f[1].n, k, i;
    if (f[0].n != 32 || f[2].n != 16) {
        return "bad vector";
    }
    if (!poly_tag(f[0].b, m, len, 0, 0, f[2].b)) {
        return "one-shot (or context not wiped)";
    }
    for (k = 0; k < sizeof k_splits / sizeof k_splits[0]; k++) {
        size_t s = k_splits[k] < len ? k_splits[k] : len;
        if (!poly_tag(f[0].b, m, len, s, s, f[2].b)) {
            return "incremental split";
        }
        if (s < len && !poly_tag(f[0].b, m, len, s, s + 1, f[2].b)) {
            return "incremental three pieces";
        }
    }
    ooc_poly1305_init(&p, f[0].b);
    for (i = 0; i < len; i++) {
        ooc_poly1305_update(&p, m + i, 1);
    }
    ooc_poly1305_final(&p, tag);
    return same(tag, f[2].b, 16) ? NULL : "byte by byte";
}

static const char *check_kw(const field_t *f)
{
    ooc_aes_t kek;
    uint8_t buf[MAX_FIELD];
    const char *why = NULL;
    if (f[2].n != f[1].n + 8) {
        return "bad vector";
    }
    if (ooc_aes_init(&kek, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK) {
        return "init";
    }
    if (ooc_aes_key_wrap(&kek, f[1].b, f[1].n, buf) != OOC_OK || !same(buf, f[2].b, f[2].n)) {
        why = "wrap";
    } else if (ooc_aes_key_unwrap(&kek, f[2].b, f[2].n, buf) != OOC_OK ||
               !same(buf, f[1].b, f[1].n)) {
        why = "unwrap";
    }
    ooc_aes_wipe(&kek);
    return why;
}

static const char *check_kwfail(const field_t *f)
{
    ooc_aes_t kek;
    uint8_t buf[MAX_FIELD];
    const char *why = NULL;
    if (f[1].n < 8) {
        return "bad vector";
    }
    if (ooc_aes_init(&kek, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK) {
        return "init";
    }
    memset(buf, 0xaa, sizeof buf);
    if (ooc_aes_key_unwrap(&kek, f[1].b, f[1].n, buf) != OOC_ERR_AUTH) {
        why = "unwrap did not fail with OOC_ERR_AUTH";
    } else if (!all_zero(buf, f[1].n - 8) || buf[f[1].n - 8] != 0xaa) {
        why = "out not zeroed (or written past its end)";
    }
    ooc_aes_wipe(&kek);
    return why;
}

static const char *check_kdf(const field_t *f, int with_label)
{
    ooc_aes_t key;
    uint8_t out[MAX_FIELD];
    const field_t *expect = with_label ? &f[3] : &f[2];
    int err;
    if (ooc_aes_init(&key, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK) {
        return "init";
    }
    memset(out, 0xaa, sizeof out);
    if (with_label) {
        err = ooc_kdf_cmac(&key, f[1].b, f[1].n, f[2].b, f[2].n, out, expect->n);
    } else {
        err = ooc_kdf_cmac_fixed(&key, f[1].b, f[1].n, out, expect->n);
    }
    ooc_aes_wipe(&key);
    if (err != OOC_OK) {
        return "error code";
    }
    return same(out, expect->b, expect->n) && out[expect->n] == 0xaa ? NULL : "output";
}

static const char *check_engine(const field_t *f)
{
    static const uint8_t zero_iv[16] = {0};
    ooc_aes_engine_t hw;
    fake_engine_t fake;
    ooc_aes_t soft, aes;
    uint8_t buf[MAX_FIELD], tag_soft[16], tag_hw[16];
    const char *why = NULL;
    if (f[1].n != f[2].n) {
        return "bad vector";
    }
    memset(&fake, 0, sizeof fake);
    hw.ecb_encrypt = fake_ecb;
    hw.user = &fake;
    if (ooc_aes_init(&fake.soft, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK ||
        ooc_aes_init(&soft, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK ||
        ooc_aes_init(&aes, f[0].b, (uint32_t)f[0].n, &hw) != OOC_OK) {
        return "init";
    }
    if (ooc_aes_ctr(&soft, zero_iv, f[1].b, buf, f[1].n) != OOC_OK || !same(buf, f[2].b, f[2].n)) {
        why = "software CTR";
    } else if (ooc_aes_ctr(&aes, zero_iv, f[1].b, buf, f[1].n) != OOC_OK ||
               !same(buf, f[2].b, f[2].n)) {
        why = "engine CTR";
    } else if (f[1].n > 0 && fake.calls == 0) {
        why = "engine not called";
    } else if (f[1].n > 16 && fake.max_blocks < 2) {
        why = "engine saw only single-block calls";
    } else if (ooc_cmac(&soft, f[1].b, f[1].n, tag_soft) != OOC_OK ||
               ooc_cmac(&aes, f[1].b, f[1].n, tag_hw) != OOC_OK || !same(tag_soft, tag_hw, 16)) {
        why = "engine CMAC differs";
    }
    ooc_aes_wipe(&soft);
    ooc_aes_wipe(&aes);
    ooc_aes_wipe(&fake.soft);
    return why;
}

static const char *check_aes(const field_t *f)
{
    ooc_aes_t aes;
    uint8_t buf[16];
    const char *why = NULL;
    if (f[1].n != 16 || f[2].n != 16) {
        return "bad vector";
    }
    if (ooc_aes_init(&aes, f[0].b, (uint32_t)f[0].n, NULL) != OOC_OK) {
        return "init";
    }
    if (ooc_aes_encrypt_blocks(&aes, f[1].b, buf, 1) != OOC_OK || !same(buf, f[2].b, 16)) {
        why = "encrypt";
    } else if (ooc_aes_decrypt_block(&aes, f[2].b, buf) != OOC_OK || !same(buf, f[1].b, 16)) {
        why = "decrypt";
    }
    ooc_aes_wipe(&aes);
    return why;
}

/* Run one vector line; NULL when it passes, else the reason. */
static const char *run_line(char *line)
{
    static const vector_kind_t kinds[] = {{"ctr", 4},  {"cmac", 3},   {"poly1305", 3},
                                          {"kw", 3},   {"kwfail", 2}, {"kdf", 3},
                                          {"kdfl", 4}, {"engine", 3}, {"aes", 3}};
    static field_t fields[MAX_FIELDS];
    const char *why = NULL;
    int k = vector_line(line, kinds, (int)(sizeof kinds / sizeof kinds[0]), fields, &why);
    if (k < 0) {
        return why;
    }
    switch (k) {
    case 0: return check_ctr(fields);
    case 1: return check_cmac(fields);
    case 2: return check_poly1305(fields);
    case 3: return check_kw(fields);
    case 4: return check_kwfail(fields);
    case 5: return check_kdf(fields, 0);
    case 6: return check_kdf(fields, 1);
    case 7: return check_engine(fields);
    default: return check_aes(fields);
    }
}

static int startup_failed;

#define EXPECT(cond)                                                                           \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            startup_failed++;                                                                  \
            printf("FAIL startup %s:%d: %s\n", __FILE__, __LINE__, #cond);                    \
        }                                                                                      \
    } while (0)

/* Argument errors and edge cases, independent of the vectors. */
static void startup_checks(void)
{
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    uint8_t iv[16], buf[128], buf2[128], tag[16];
    uint8_t big[200];
    ooc_aes_t aes, aes_hw;
    ooc_aes_engine_t hw, no_callback;
    fake_engine_t fake;
    ooc_cmac_t c;
    size_t i;

    memset(big, 0x11, sizeof big);
    /* Key sizes: only 16 and 32. */
    EXPECT(ooc_aes_init(&aes, key, 24, NULL) == OOC_ERR_ARG);
    EXPECT(ooc_aes_init(&aes, key, 0, NULL) == OOC_ERR_ARG);
    EXPECT(ooc_aes_init(&aes, key, 33, NULL) == OOC_ERR_ARG);
    EXPECT(ooc_aes_init(&aes, NULL, 16, NULL) == OOC_ERR_ARG);
    EXPECT(ooc_aes_init(NULL, key, 16, NULL) == OOC_ERR_ARG);
    no_callback.ecb_encrypt = NULL;
    no_callback.user = NULL;
    EXPECT(ooc_aes_init(&aes, key, 16, &no_callback) == OOC_ERR_ARG);
    /* A failed init leaves a key that every function refuses. */
    EXPECT(ooc_aes_encrypt_blocks(&aes, buf, buf, 1) == OOC_ERR_ARG);

    EXPECT(ooc_aes_init(&aes, key, 16, NULL) == OOC_OK);
    EXPECT(ooc_aes_encrypt_blocks(NULL, buf, buf, 1) == OOC_ERR_ARG);
    EXPECT(ooc_aes_encrypt_blocks(&aes, NULL, buf, 1) == OOC_ERR_ARG);
    EXPECT(ooc_aes_encrypt_blocks(&aes, buf, buf, 0) == OOC_OK);
    EXPECT(ooc_aes_decrypt_block(&aes, NULL, buf) == OOC_ERR_ARG);

    /* CTR: the 32-bit counter may count up to 2^32 - 1 but never wrap into the nonce. */
    memset(iv, 0x5c, sizeof iv);
    memset(buf, 0, sizeof buf);
    iv[12] = iv[13] = iv[14] = iv[15] = 0xff;
    EXPECT(ooc_aes_ctr(&aes, iv, buf, buf2, 16) == OOC_OK);
    EXPECT(ooc_aes_encrypt_blocks(&aes, iv, tag, 1) == OOC_OK && memcmp(buf2, tag, 16) == 0);
    EXPECT(ooc_aes_ctr(&aes, iv, buf, buf2, 17) == OOC_ERR_ARG);
    EXPECT(ooc_aes_ctr(&aes, iv, buf, buf2, 0) == OOC_OK);
    iv[15] = 0xfe;
    EXPECT(ooc_aes_ctr(&aes, iv, buf, buf2, 32) == OOC_OK);
    EXPECT(ooc_aes_ctr(&aes, iv, buf, buf2, 33) == OOC_ERR_ARG);
    iv[12] = iv[13] = iv[14] = iv[15] = 0;
    EXPECT(ooc_aes_ctr(&aes, iv, NULL, NULL, 0) == OOC_OK);
    EXPECT(ooc_aes_ctr(&aes, NULL, buf, buf2, 16) == OOC_ERR_ARG);
    EXPECT(ooc_aes_ctr(&aes, iv, NULL, buf2, 16) == OOC_ERR_ARG);

    /* CMAC argument errors. */
    EXPECT(ooc_cmac_init(&c, NULL) == OOC_ERR_ARG);
    EXPECT(ooc_cmac_update(&c, buf, 1) == OOC_ERR_ARG); /* context from a failed init */
    EXPECT(ooc_cmac(&aes, NULL, 1, tag) == OOC_ERR_ARG);
    EXPECT(ooc_cmac(&aes, NULL, 0, tag) == OOC_OK);

    /* Key wrap lengths: a multiple of 8 from 16 to 64 bytes. */
    EXPECT(ooc_aes_key_wrap(&aes, key, 8, buf) == OOC_ERR_ARG);
    EXPECT(ooc_aes_key_wrap(&aes, key, 20, buf) == OOC_ERR_ARG);
    EXPECT(ooc_aes_key_wrap(&aes, big, 72, buf) == OOC_ERR_ARG);
    EXPECT(ooc_aes_key_unwrap(&aes, buf, 16, buf2) == OOC_ERR_ARG);
    EXPECT(ooc_aes_key_unwrap(&aes, buf, 28, buf2) == OOC_ERR_ARG);
    EXPECT(ooc_aes_key_unwrap(&aes, buf, 80, buf2) == OOC_ERR_ARG);
    EXPECT(ooc_aes_key_wrap(&aes, big, 64, buf) == OOC_OK);
    EXPECT(ooc_aes_key_unwrap(&aes, buf, 72, buf2) == OOC_OK && memcmp(buf2, big, 64) == 0);
    buf[71] ^= 1;
    EXPECT(ooc_aes_key_unwrap(&aes, buf, 72, buf2) == OOC_ERR_AUTH && all_zero(buf2, 64));

    /* KDF: 1..64 output bytes, label + context at most 96 bytes. */
    EXPECT(ooc_kdf_cmac_fixed(&aes, big, 10, buf, 0) == OOC_ERR_ARG);
    EXPECT(ooc_kdf_cmac_fixed(&aes, big, 10, buf, 65) == OOC_ERR_ARG);
    EXPECT(ooc_kdf_cmac_fixed(&aes, NULL, 10, buf, 16) == OOC_ERR_ARG);
    EXPECT(ooc_kdf_cmac_fixed(&aes, big, 10, buf, 64) == OOC_OK);
    EXPECT(ooc_kdf_cmac(&aes, big, 48, big, 48, buf, 32) == OOC_OK);
    EXPECT(ooc_kdf_cmac(&aes, big, 48, big, 49, buf, 32) == OOC_ERR_ARG);
    EXPECT(ooc_kdf_cmac(&aes, big, 97, NULL, 0, buf, 32) == OOC_ERR_ARG);
    EXPECT(ooc_kdf_cmac(&aes, NULL, 0, NULL, 0, buf, 32) == OOC_OK);

    /* A failing engine is reported as OOC_ERR_IO by every mode. */
    memset(&fake, 0, sizeof fake);
    EXPECT(ooc_aes_init(&fake.soft, key, 32, NULL) == OOC_OK);
    hw.ecb_encrypt = fake_ecb;
    hw.user = &fake;
    EXPECT(ooc_aes_init(&aes_hw, key, 32, &hw) == OOC_OK);
    EXPECT(ooc_aes_ctr(&aes_hw, iv, big, buf, 100) == OOC_OK && fake.max_blocks == 7);
    fake.fail = 1;
    EXPECT(ooc_aes_encrypt_blocks(&aes_hw, buf, buf, 2) == OOC_ERR_IO);
    EXPECT(ooc_aes_ctr(&aes_hw, iv, big, buf, 100) == OOC_ERR_IO);
    EXPECT(ooc_cmac(&aes_hw, big, 100, tag) == OOC_ERR_IO);
    EXPECT(ooc_aes_key_wrap(&aes_hw, big, 32, buf) == OOC_ERR_IO && all_zero(buf, 40));
    EXPECT(ooc_kdf_cmac(&aes_hw, big, 4, big, 4, buf, 32) == OOC_ERR_IO && all_zero(buf, 32));
    /* The inverse cipher is software even with an engine. */
    EXPECT(ooc_aes_encrypt_blocks(&fake.soft, key, buf, 1) == OOC_OK);
    EXPECT(ooc_aes_decrypt_block(&aes_hw, buf, buf2) == OOC_OK && memcmp(buf2, key, 16) == 0);

    /* Encrypt then decrypt many blocks under both key sizes. */
    for (i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 37u + 11u);
    }
    for (i = 0; i + 16 <= sizeof big; i += 16) {
        EXPECT(ooc_aes_init(&aes, big + i % 64, 16 + 16 * (uint32_t)((i / 16) & 1u), NULL) == OOC_OK);
        EXPECT(ooc_aes_encrypt_blocks(&aes, big + i, buf, 1) == OOC_OK);
        EXPECT(ooc_aes_decrypt_block(&aes, buf, buf2) == OOC_OK && memcmp(buf2, big + i, 16) == 0);
    }

    /* Wipe, ct_equal. */
    ooc_aes_wipe(&aes);
    EXPECT(all_zero((const uint8_t *)&aes, sizeof aes));
    EXPECT(ooc_aes_encrypt_blocks(&aes, buf, buf, 1) == OOC_ERR_ARG);
    EXPECT(ooc_ct_equal(key, key, 32) == 1);
    EXPECT(ooc_ct_equal(key, big, 0) == 1);
    memcpy(buf, key, 32);
    for (i = 0; i < 32; i++) {
        buf[i] ^= 0x80;
        EXPECT(ooc_ct_equal(key, buf, 32) == 0);
        buf[i] ^= 0x81;
        EXPECT(ooc_ct_equal(key, buf, 32) == 0);
        buf[i] ^= 0x01;
    }
    EXPECT(ooc_ct_equal(key, buf, 32) == 1);
    ooc_wipe(buf, 32);
    EXPECT(all_zero(buf, 32));
    ooc_aes_wipe(&aes_hw);
    ooc_aes_wipe(&fake.soft);
}

int main(void)
{
    static char line[MAX_LINE];
    long passed = 0, failed = 0;
    startup_checks();
    vector_stdin(run_line, line, (int)sizeof line, &passed, &failed);
    failed += startup_failed;
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed > 0 || passed == 0 ? 1 : 0;
}
