/*
 * AES-CMAC, NIST SP 800-38B (= RFC 4493). The last block is held back in `buf` until final()
 * because it is the one that gets a subkey.
 */
#include <stddef.h>
#include <string.h>

#include "aes_internal.h"
#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"

/* Multiply by x in GF(2^128) (SP 800-38B section 6.1, R_128 = 0x87), without a branch on the
   secret top bit. */
static void dbl(const uint8_t in[16], uint8_t out[16])
{
    uint8_t carry = (uint8_t)(0x87u & (0u - (uint32_t)(in[0] >> 7)));
    uint32_t i;
    for (i = 0; i < 15u; i++) {
        out[i] = (uint8_t)((in[i] << 1) | (in[i + 1u] >> 7));
    }
    out[15] = (uint8_t)((in[15] << 1) ^ carry);
}

static void xor16(uint8_t *dst, const uint8_t *src)
{
    uint32_t i;
    for (i = 0; i < 16u; i++) {
        dst[i] ^= src[i];
    }
}

int ooc_cmac_init(ooc_cmac_t *c, const ooc_aes_t *aes)
{
    uint8_t l[16];
    int err;
    if (c == NULL) {
        return OOC_ERR_ARG;
    }
    memset(c, 0, sizeof *c);
    if (aes == NULL) {
        return OOC_ERR_ARG;
    }
    /* Subkeys, section 6.1: L = CIPH_K(0^128), K1 = dbl(L), K2 = dbl(K1). */
    memset(l, 0, sizeof l);
    err = ooc_aes_encrypt_blocks(aes, l, l, 1);
    if (err < 0) {
        ooc_wipe(l, sizeof l);
        return err;
    }
    dbl(l, c->k1);
    dbl(c->k1, c->k2);
    ooc_wipe(l, sizeof l);
    c->aes = aes;
    return OOC_OK;
}

int ooc_cmac_update(ooc_cmac_t *c, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    uint32_t take;
    int err;
    if (c == NULL || c->aes == NULL || c->n > 16u || (len > 0 && p == NULL)) {
        return OOC_ERR_ARG;
    }
    if (len == 0) {
        return OOC_OK;
    }
    /* Top up the pending block; if the input ends here it may be the last block. */
    take = 16u - c->n;
    if (len < take) {
        take = (uint32_t)len;
    }
    memcpy(c->buf + c->n, p, take);
    c->n += take;
    p += take;
    len -= take;
    if (len == 0) {
        return OOC_OK;
    }
    /* More follows, so the pending block is not the last: chain it (section 6.2 step 6), then
       every full block but the one that may be last. */
    err = ooc_aes_cbc_mac(c->aes, c->x, c->buf, 1);
    if (err == OOC_OK) {
        size_t full = (len - 1u) / 16u;
        err = ooc_aes_cbc_mac(c->aes, c->x, p, full);
        p += 16u * full;
        len -= 16u * full;
    }
    if (err < 0) {
        return err;
    }
    /* Hold back the final 1..16 bytes. */
    memcpy(c->buf, p, len);
    c->n = (uint32_t)len;
    return OOC_OK;
}

int ooc_cmac_final(ooc_cmac_t *c, uint8_t tag[16])
{
    int err;
    if (c == NULL || c->aes == NULL || c->n > 16u || tag == NULL) {
        return OOC_ERR_ARG;
    }
    /* Section 6.2 steps 3-4: a complete last block takes K1; a partial one (or the empty
       message) is padded with 10...0 and takes K2. The branch depends on the length only. */
    if (c->n == 16u) {
        xor16(c->buf, c->k1);
    } else {
        c->buf[c->n] = 0x80u;
        memset(c->buf + c->n + 1u, 0, 15u - c->n);
        xor16(c->buf, c->k2);
    }
    xor16(c->x, c->buf);
    err = ooc_aes_encrypt_blocks(c->aes, c->x, c->x, 1);
    if (err == OOC_OK) {
        memcpy(tag, c->x, 16);
    }
    ooc_wipe(c, sizeof *c);
    return err;
}

int ooc_cmac(const ooc_aes_t *aes, const void *data, size_t len, uint8_t tag[16])
{
    ooc_cmac_t c;
    int err = ooc_cmac_init(&c, aes);
    if (err == OOC_OK) {
        err = ooc_cmac_update(&c, data, len);
    }
    if (err == OOC_OK) {
        return ooc_cmac_final(&c, tag);
    }
    ooc_wipe(&c, sizeof c);
    return err;
}
