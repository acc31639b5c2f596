/*
 * KDF in counter mode, NIST SP 800-108r1 section 4.1, with AES-CMAC as the PRF:
 * K(i) = CMAC(key, [i]_32 || fixed) for i = 1, 2, ..., output = K(1) || K(2) || ... truncated.
 */
#include <stddef.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"

#define KDF_MAX_OUT 64u
#define KDF_MAX_LABEL_CONTEXT 96u

int ooc_kdf_cmac_fixed(const ooc_aes_t *key, const uint8_t *fixed, size_t fixed_len, uint8_t *out,
                       size_t out_len)
{
    ooc_cmac_t c;
    uint8_t block[16], ctr[4];
    uint32_t i;
    size_t done = 0;
    int err = OOC_OK;
    if (key == NULL || out == NULL || out_len == 0 || out_len > KDF_MAX_OUT ||
        (fixed_len > 0 && fixed == NULL)) {
        return OOC_ERR_ARG;
    }
    for (i = 1; done < out_len && err == OOC_OK; i++) {
        size_t take = out_len - done < 16u ? out_len - done : 16u;
        ctr[0] = (uint8_t)(i >> 24);
        ctr[1] = (uint8_t)(i >> 16);
        ctr[2] = (uint8_t)(i >> 8);
        ctr[3] = (uint8_t)i;
        err = ooc_cmac_init(&c, key);
        if (err == OOC_OK) {
            err = ooc_cmac_update(&c, ctr, sizeof ctr);
        }
        if (err == OOC_OK) {
            err = ooc_cmac_update(&c, fixed, fixed_len);
        }
        if (err == OOC_OK) {
            err = ooc_cmac_final(&c, block);
        }
        if (err == OOC_OK) {
            memcpy(out + done, block, take);
            done += take;
        }
    }
    ooc_wipe(&c, sizeof c);
    ooc_wipe(block, sizeof block);
    if (err < 0) {
        ooc_wipe(out, out_len);
    }
    return err;
}

int ooc_kdf_cmac(const ooc_aes_t *key, const uint8_t *label, size_t label_len,
                 const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len)
{
    /* fixed = label || 0x00 || context || [L]_32, L = 8 * out_len bits: the layout SP 800-108r1 section 4 suggests. */
    uint8_t fixed[KDF_MAX_LABEL_CONTEXT + 5u];
    size_t n = 0;
    uint32_t bits;
    int err;
    if ((label_len > 0 && label == NULL) || (context_len > 0 && context == NULL) ||
        label_len > KDF_MAX_LABEL_CONTEXT || context_len > KDF_MAX_LABEL_CONTEXT - label_len ||
        out_len == 0 || out_len > KDF_MAX_OUT) {
        return OOC_ERR_ARG;
    }
    bits = (uint32_t)out_len * 8u;
    if (label_len > 0) {
        memcpy(fixed, label, label_len);
    }
    n = label_len;
    fixed[n++] = 0x00;
    if (context_len > 0) {
        memcpy(fixed + n, context, context_len);
    }
    n += context_len;
    fixed[n++] = (uint8_t)(bits >> 24);
    fixed[n++] = (uint8_t)(bits >> 16);
    fixed[n++] = (uint8_t)(bits >> 8);
    fixed[n++] = (uint8_t)bits;
    err = ooc_kdf_cmac_fixed(key, fixed, n, out, out_len);
    ooc_wipe(fixed, sizeof fixed);
    return err;
}
