/* The vector checks of tests/c/sign_vectors.h. */
#include "sign_vectors.h"

#include <stdint.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "vector_line.h"

#define MAX_FIELDS VECTOR_MAX_FIELDS

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    size_t i;
    for (i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* SHA-512 of m[0..len) fed as m[0..s1), m[s1..s2), m[s2..len); the digest must be `expect` and
   the context wiped by final. */
static int sha_pieces(const uint8_t *m, size_t len, size_t s1, size_t s2, const uint8_t *expect)
{
    ooc_sha512_t h;
    uint8_t digest[64];
    ooc_sha512_init(&h);
    ooc_sha512_update(&h, m, s1);
    ooc_sha512_update(&h, m + s1, s2 - s1);
    ooc_sha512_update(&h, m + s2, len - s2);
    ooc_sha512_final(&h, digest);
    return memcmp(digest, expect, 64) == 0 && all_zero(&h, sizeof h);
}

/* Split points around SHA-512's 128-byte block and its 112-byte padding limit. */
static const size_t k_splits[] = {0, 1, 55, 56, 63, 64, 111, 112, 113, 127, 128, 129, 200};

static const char *check_sha512(const field_t *f)
{
    ooc_sha512_t h;
    uint8_t digest[64];
    const uint8_t *m = f[0].b;
    size_t len = f[0].n, k, i;
    if (f[1].n != 64) {
        return "bad vector";
    }
    if (!sha_pieces(m, len, 0, 0, f[1].b)) {
        return "one-shot (or context not wiped)";
    }
    for (k = 0; k < sizeof k_splits / sizeof k_splits[0]; k++) {
        size_t s = k_splits[k] < len ? k_splits[k] : len;
        if (!sha_pieces(m, len, s, s, f[1].b)) {
            return "two pieces";
        }
        if (s < len && !sha_pieces(m, len, s, s + 1, f[1].b)) {
            return "three pieces";
        }
    }
    ooc_sha512_init(&h);
    for (i = 0; i < len; i++) {
        ooc_sha512_update(&h, m + i, 1);
    }
    ooc_sha512_final(&h, digest);
    return memcmp(digest, f[1].b, 64) == 0 ? NULL : "byte by byte";
}

static const char *check_ed25519(const field_t *f, int good)
{
    uint8_t pub[32], sig[64];
    int err;
    if (f[0].n != 32 || f[2].n != 64) {
        return "bad vector";
    }
    memcpy(pub, f[0].b, 32);
    memcpy(sig, f[2].b, 64);
    err = ooc_ed25519_verify(sig, pub, f[1].b, f[1].n);
    if (memcmp(pub, f[0].b, 32) != 0 || memcmp(sig, f[2].b, 64) != 0) {
        return "inputs modified";
    }
    if (good) {
        return err == OOC_OK ? NULL : "a valid signature was refused";
    }
    return err == OOC_ERR_SIGNATURE ? NULL : "a bad signature was not refused with "
                                             "OOC_ERR_SIGNATURE";
}

const char *sign_check_line(char *line)
{
    static const vector_kind_t kinds[] = {{"sha512", 2}, {"ed25519", 3}, {"ed25519bad", 3}};
    static field_t fields[MAX_FIELDS];
    const char *why = NULL;
    int k = vector_line(line, kinds, (int)(sizeof kinds / sizeof kinds[0]), fields, &why);
    if (k < 0) {
        return why;
    }
    switch (k) {
    case 0: return check_sha512(fields);
    case 1: return check_ed25519(fields, 1);
    default: return check_ed25519(fields, 0);
    }
}
