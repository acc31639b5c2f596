/*
 * Poly1305, RFC 8439 section 2.5, in portable C99.
 *
 * The accumulator h and the key part r are held in five 26-bit limbs so that every product is
 * a 32x32->64 multiply (one UMULL on a Cortex-M4) and five of them add up without overflow.
 * Reduction modulo p = 2^130 - 5 uses 2^130 = 5 (mod p): a limb product that lands at 2^130
 * or above is folded back multiplied by 5. There is no branch or index on secret data.
 */
#include <stddef.h>
#include <string.h>

#include "ooc/ooc_crypto.h"

#define MASK26 0x3ffffffu

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void ooc_poly1305_init(ooc_poly1305_t *p, const uint8_t key[32])
{
    uint32_t t0, t1, t2, t3;
    if (p == NULL) {
        return;
    }
    memset(p, 0, sizeof *p);
    if (key == NULL) {
        return;
    }
    /* r = le(key[0..15]) clamped (section 2.5.1): the top 4 bits of bytes 3, 7, 11, 15 and the
       low 2 bits of bytes 4, 8, 12 cleared. */
    t0 = load_le32(key) & 0x0fffffffu;
    t1 = load_le32(key + 4) & 0x0ffffffcu;
    t2 = load_le32(key + 8) & 0x0ffffffcu;
    t3 = load_le32(key + 12) & 0x0ffffffcu;
    p->r[0] = t0 & MASK26;
    p->r[1] = ((t0 >> 26) | (t1 << 6)) & MASK26;
    p->r[2] = ((t1 >> 20) | (t2 << 12)) & MASK26;
    p->r[3] = ((t2 >> 14) | (t3 << 18)) & MASK26;
    p->r[4] = t3 >> 8;
    /* s = le(key[16..31]), added at the end. */
    p->s[0] = load_le32(key + 16);
    p->s[1] = load_le32(key + 20);
    p->s[2] = load_le32(key + 24);
    p->s[3] = load_le32(key + 28);
}

/* h = (h + m) * r mod p for one 16-byte block m; `hibit` is 2^128 as limb 4's bit 24 for a
   full block, 0 for the final padded block (which carries its 0x01 byte inside). */
static void block(ooc_poly1305_t *p, const uint8_t m[16], uint32_t hibit)
{
    const uint32_t r0 = p->r[0], r1 = p->r[1], r2 = p->r[2], r3 = p->r[3], r4 = p->r[4];
    const uint32_t s1 = r1 * 5u, s2 = r2 * 5u, s3 = r3 * 5u, s4 = r4 * 5u;
    uint32_t h0, h1, h2, h3, h4, t0, t1, t2, t3;
    uint64_t d0, d1, d2, d3, d4, c;

    t0 = load_le32(m);
    t1 = load_le32(m + 4);
    t2 = load_le32(m + 8);
    t3 = load_le32(m + 12);
    h0 = p->h[0] + (t0 & MASK26);
    h1 = p->h[1] + (((t0 >> 26) | (t1 << 6)) & MASK26);
    h2 = p->h[2] + (((t1 >> 20) | (t2 << 12)) & MASK26);
    h3 = p->h[3] + (((t2 >> 14) | (t3 << 18)) & MASK26);
    h4 = p->h[4] + ((t3 >> 8) | hibit);

    /* Schoolbook product; limb i * limb j with i + j >= 5 wraps to i + j - 5 times 5. */
    d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 +
         (uint64_t)h4 * s1;
    d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 +
         (uint64_t)h4 * s2;
    d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 +
         (uint64_t)h4 * s3;
    d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 +
         (uint64_t)h4 * s4;
    d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 +
         (uint64_t)h4 * r0;

    /* Partial carry back to 26-bit limbs (h1 may keep one extra bit). */
    c = d0 >> 26;
    h0 = (uint32_t)d0 & MASK26;
    d1 += c;
    c = d1 >> 26;
    h1 = (uint32_t)d1 & MASK26;
    d2 += c;
    c = d2 >> 26;
    h2 = (uint32_t)d2 & MASK26;
    d3 += c;
    c = d3 >> 26;
    h3 = (uint32_t)d3 & MASK26;
    d4 += c;
    c = d4 >> 26;
    h4 = (uint32_t)d4 & MASK26;
    c = (uint64_t)h0 + c * 5u; /* 2^130 = 5 mod p */
    h0 = (uint32_t)c & MASK26;
    h1 += (uint32_t)(c >> 26);

    p->h[0] = h0;
    p->h[1] = h1;
    p->h[2] = h2;
    p->h[3] = h3;
    p->h[4] = h4;
}

void ooc_poly1305_update(ooc_poly1305_t *p, const void *data, size_t len)
{
    const uint8_t *m = (const uint8_t *)data;
    if (p == NULL || p->n >= 16u || (len > 0 && m == NULL)) {
        return;
    }
    if (p->n > 0) {
        uint32_t take = 16u - p->n;
        if (len < take) {
            take = (uint32_t)len;
        }
        memcpy(p->buf + p->n, m, take);
        p->n += take;
        m += take;
        len -= take;
        if (p->n < 16u) {
            return;
        }
        block(p, p->buf, 1u << 24);
        p->n = 0;
    }
    while (len >= 16u) {
        block(p, m, 1u << 24);
        m += 16;
        len -= 16u;
    }
    memcpy(p->buf, m, len);
    p->n = (uint32_t)len;
}

void ooc_poly1305_final(ooc_poly1305_t *p, uint8_t tag[16])
{
    uint32_t h0, h1, h2, h3, h4, g0, g1, g2, g3, g4, c, mask;
    uint64_t f;
    if (p == NULL || tag == NULL || p->n >= 16u) {
        return;
    }
    /* Last partial block: append 0x01, pad with zeros, no 2^128 bit (section 2.5.1). */
    if (p->n > 0) {
        p->buf[p->n] = 1;
        memset(p->buf + p->n + 1u, 0, 15u - p->n);
        block(p, p->buf, 0);
    }

    /* Full carry: every limb below 2^26 except possibly h1 = 2^26, so h < 2p. */
    h0 = p->h[0];
    h1 = p->h[1];
    h2 = p->h[2];
    h3 = p->h[3];
    h4 = p->h[4];
    c = h1 >> 26;
    h1 &= MASK26;
    h2 += c;
    c = h2 >> 26;
    h2 &= MASK26;
    h3 += c;
    c = h3 >> 26;
    h3 &= MASK26;
    h4 += c;
    c = h4 >> 26;
    h4 &= MASK26;
    h0 += c * 5u;
    c = h0 >> 26;
    h0 &= MASK26;
    h1 += c;

    /* g = h + 5 - 2^130; keep g if it did not go negative (h >= p), else h. */
    g0 = h0 + 5u;
    c = g0 >> 26;
    g0 &= MASK26;
    g1 = h1 + c;
    c = g1 >> 26;
    g1 &= MASK26;
    g2 = h2 + c;
    c = g2 >> 26;
    g2 &= MASK26;
    g3 = h3 + c;
    c = g3 >> 26;
    g3 &= MASK26;
    g4 = h4 + c - (1u << 26);
    mask = (g4 >> 31) - 1u; /* all ones when g4 >= 0 */
    h0 = (h0 & ~mask) | (g0 & mask);
    h1 = (h1 & ~mask) | (g1 & mask);
    h2 = (h2 & ~mask) | (g2 & mask);
    h3 = (h3 & ~mask) | (g3 & mask);
    h4 = (h4 & ~mask) | (g4 & mask);

    /* tag = (h + s) mod 2^128, little-endian. Adding (not or-ing) the shifted limbs keeps this
       right when h1 holds 2^26. */
    f = (uint64_t)h0 + ((uint64_t)h1 << 26) + p->s[0];
    store_le32(tag, (uint32_t)f);
    f = (f >> 32) + ((uint64_t)h2 << 20) + p->s[1];
    store_le32(tag + 4, (uint32_t)f);
    f = (f >> 32) + ((uint64_t)h3 << 14) + p->s[2];
    store_le32(tag + 8, (uint32_t)f);
    f = (f >> 32) + ((uint64_t)h4 << 8) + p->s[3];
    store_le32(tag + 12, (uint32_t)f);

    ooc_wipe(p, sizeof *p);
}
