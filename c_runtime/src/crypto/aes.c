/*
 * AES-128 / AES-256 (FIPS 197) and CTR mode (NIST SP 800-38A).
 *
 * Encryption is the 32-bit table form: one round of SubBytes, ShiftRows and MixColumns is four
 * look-ups per column in Te0 (aes_tables.c) and its byte rotations, which cost nothing on a
 * Cortex-M (the barrel shifter rotates an operand for free). The last round, which has no
 * MixColumns, uses the S-box. Decryption, needed only to unwrap keys, is the plain byte-wise
 * inverse cipher of FIPS 197 section 5.3 run over the encryption round keys.
 */
#include <stddef.h>
#include <string.h>

#include "aes_internal.h"
#include "aes_tables.h"
#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"

/* Blocks of keystream made per ooc_aes_encrypt_blocks() call in CTR mode. */
#define OOC_CTR_BATCH 8u

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Rotate right by 8, 16 or 24 bits (never 0 or 32, so no undefined shift). */
static uint32_t ror32(uint32_t v, unsigned n)
{
    return (v >> n) | (v << (32u - n));
}

/* SubWord(RotWord(w)) of FIPS 197 section 5.2, RotWord folded into the byte order. */
static uint32_t sub_rot_word(uint32_t w)
{
    return ((uint32_t)ooc_aes_sbox[(w >> 16) & 0xffu] << 24) |
           ((uint32_t)ooc_aes_sbox[(w >> 8) & 0xffu] << 16) |
           ((uint32_t)ooc_aes_sbox[w & 0xffu] << 8) | (uint32_t)ooc_aes_sbox[w >> 24];
}

static uint32_t sub_word(uint32_t w)
{
    return ((uint32_t)ooc_aes_sbox[w >> 24] << 24) | ((uint32_t)ooc_aes_sbox[(w >> 16) & 0xffu] << 16) |
           ((uint32_t)ooc_aes_sbox[(w >> 8) & 0xffu] << 8) | (uint32_t)ooc_aes_sbox[w & 0xffu];
}

int ooc_aes_init(ooc_aes_t *aes, const uint8_t *key, uint32_t key_bytes,
                 const ooc_aes_engine_t *engine)
{
    uint32_t nk, total, i, rcon = 0x01u;
    if (aes == NULL) {
        return OOC_ERR_ARG;
    }
    ooc_wipe(aes, sizeof *aes);
    if (key == NULL || (key_bytes != 16u && key_bytes != 32u) ||
        (engine != NULL && engine->ecb_encrypt == NULL)) {
        return OOC_ERR_ARG;
    }
    /* KeyExpansion, FIPS 197 section 5.2: Nk = 4 or 8 words, Nr = Nk + 6 rounds. */
    nk = key_bytes / 4u;
    aes->rounds = nk + 6u;
    total = 4u * (aes->rounds + 1u);
    for (i = 0; i < nk; i++) {
        aes->rk[i] = load_be32(key + 4u * i);
    }
    for (i = nk; i < total; i++) {
        uint32_t t = aes->rk[i - 1u];
        if (i % nk == 0) {
            t = sub_rot_word(t) ^ (rcon << 24);
            /* Rcon doubles in GF(2^8); it never exceeds 0x36 for AES-128/256. */
            rcon = (rcon << 1) ^ (0x11bu & (0u - (rcon >> 7)));
        } else if (nk > 6u && i % nk == 4u) {
            t = sub_word(t);
        }
        aes->rk[i] = aes->rk[i - nk] ^ t;
    }
    memcpy(aes->key, key, key_bytes);
    aes->key_bytes = key_bytes;
    aes->engine = engine;
    return OOC_OK;
}

/* One round of SubBytes, ShiftRows, MixColumns and AddRoundKey for output column c, whose
   bytes come from columns c, c+1, c+2, c+3 (ShiftRows, section 5.1.2). */
#define OOC_AES_ROUND(a, b, c, d, k)                                                           \
    (ooc_aes_te0[(a) >> 24] ^ ror32(ooc_aes_te0[((b) >> 16) & 0xffu], 8u) ^                   \
     ror32(ooc_aes_te0[((c) >> 8) & 0xffu], 16u) ^ ror32(ooc_aes_te0[(d) & 0xffu], 24u) ^ (k))

/* The last round: SubBytes, ShiftRows and AddRoundKey only. */
#define OOC_AES_LAST(a, b, c, d, k)                                                            \
    ((((uint32_t)ooc_aes_sbox[(a) >> 24] << 24) | ((uint32_t)ooc_aes_sbox[((b) >> 16) & 0xffu] << 16) | \
      ((uint32_t)ooc_aes_sbox[((c) >> 8) & 0xffu] << 8) | (uint32_t)ooc_aes_sbox[(d) & 0xffu]) ^    \
     (k))

/* Rounds 1 .. Nr-1 from state s into t with round key k (four words). */
#define OOC_AES_FULL_ROUND(t, s, k)                                                            \
    do {                                                                                       \
        t##0 = OOC_AES_ROUND(s##0, s##1, s##2, s##3, (k)[0]);                                  \
        t##1 = OOC_AES_ROUND(s##1, s##2, s##3, s##0, (k)[1]);                                  \
        t##2 = OOC_AES_ROUND(s##2, s##3, s##0, s##1, (k)[2]);                                  \
        t##3 = OOC_AES_ROUND(s##3, s##0, s##1, s##2, (k)[3]);                                  \
    } while (0)

/* The rounds after the first few: `in` is the state with the round keys so far added, rk the
   next round key, and 2 * n + 1 full rounds remain (n rounds pairs, rk_end = rk + 8 * n; every
   caller has an odd number left), then the last round. Rounds go in pairs (s -> t -> s) so the
   state never needs copying back: on a Cortex-M4 a round is then 16 table look-ups, their byte
   extractions and the XORs, about 13 instructions per column. */
static void cipher_tail(const uint32_t *rk, const uint32_t *rk_end, const uint32_t in[4],
                        uint32_t out[4])
{
    uint32_t s0 = in[0], s1 = in[1], s2 = in[2], s3 = in[3], t0, t1, t2, t3;
    for (; rk != rk_end; rk += 8) {
        OOC_AES_FULL_ROUND(t, s, rk);
        OOC_AES_FULL_ROUND(s, t, rk + 4);
    }
    OOC_AES_FULL_ROUND(t, s, rk);
    rk += 4;
    out[0] = OOC_AES_LAST(t0, t1, t2, t3, rk[0]);
    out[1] = OOC_AES_LAST(t1, t2, t3, t0, rk[1]);
    out[2] = OOC_AES_LAST(t2, t3, t0, t1, rk[2]);
    out[3] = OOC_AES_LAST(t3, t0, t1, t2, rk[3]);
}

/* The cipher, FIPS 197 section 5.1, on one block held as four big-endian words: AddRoundKey,
   then Nr - 1 full rounds (9 or 13) and the last one. */
static inline void encrypt_words(const ooc_aes_t *aes, const uint32_t in[4], uint32_t out[4])
{
    const uint32_t *rk = aes->rk;
    uint32_t s[4];
    s[0] = in[0] ^ rk[0];
    s[1] = in[1] ^ rk[1];
    s[2] = in[2] ^ rk[2];
    s[3] = in[3] ^ rk[3];
    cipher_tail(rk + 4, rk + 4 + 8u * ((aes->rounds - 2u) / 2u), s, out);
}

static void encrypt_block(const ooc_aes_t *aes, const uint8_t *in, uint8_t *out)
{
    uint32_t w[4];
    uint32_t i;
    for (i = 0; i < 4u; i++) {
        w[i] = load_be32(in + 4u * i);
    }
    encrypt_words(aes, w, w);
    for (i = 0; i < 4u; i++) {
        store_be32(out + 4u * i, w[i]);
    }
}

static int valid(const ooc_aes_t *aes)
{
    return aes != NULL && (aes->rounds == 10u || aes->rounds == 14u) &&
           aes->key_bytes == 4u * (aes->rounds - 6u);
}

int ooc_aes_encrypt_blocks(const ooc_aes_t *aes, const uint8_t *in, uint8_t *out,
                           uint32_t n_blocks)
{
    uint32_t i;
    if (!valid(aes) || (n_blocks > 0 && (in == NULL || out == NULL))) {
        return OOC_ERR_ARG;
    }
    if (n_blocks == 0) {
        return OOC_OK;
    }
    if (aes->engine != NULL) {
        return aes->engine->ecb_encrypt(aes->engine->user, aes->key, aes->key_bytes, in, out,
                                        n_blocks) < 0
                   ? OOC_ERR_IO
                   : OOC_OK;
    }
    for (i = 0; i < n_blocks; i++) {
        encrypt_block(aes, in + 16u * i, out + 16u * i);
    }
    return OOC_OK;
}

/* Multiply by x in GF(2^8) (xtime, FIPS 197 section 4.2.1). */
static uint8_t xtime(uint8_t b)
{
    return (uint8_t)((b << 1) ^ (0x1bu & (0u - (uint32_t)(b >> 7))));
}

/* Add round key `round` (its words are big-endian columns) to the byte state. */
static void add_round_key(uint8_t st[16], const uint32_t *rk, uint32_t round)
{
    uint32_t c;
    for (c = 0; c < 4u; c++) {
        uint32_t w = rk[4u * round + c];
        st[4u * c] ^= (uint8_t)(w >> 24);
        st[4u * c + 1u] ^= (uint8_t)(w >> 16);
        st[4u * c + 2u] ^= (uint8_t)(w >> 8);
        st[4u * c + 3u] ^= (uint8_t)w;
    }
}

/* InvShiftRows (section 5.3.1) and InvSubBytes (section 5.3.2) together: row r of column c
   moves to column c + r. State byte (row r, column c) is st[4c + r]. */
static void inv_shift_sub(uint8_t st[16])
{
    uint8_t t[16];
    uint32_t r, c;
    for (c = 0; c < 4u; c++) {
        for (r = 0; r < 4u; r++) {
            t[4u * ((c + r) & 3u) + r] = ooc_aes_inv_sbox[st[4u * c + r]];
        }
    }
    memcpy(st, t, 16);
}

/* InvMixColumns (section 5.3.3): each column times {0b}x^3 + {0d}x^2 + {09}x + {0e}. */
static void inv_mix_columns(uint8_t st[16])
{
    uint32_t c;
    for (c = 0; c < 4u; c++) {
        uint8_t *col = st + 4u * c;
        uint8_t a0 = col[0], a1 = col[1], a2 = col[2], a3 = col[3];
        /* b = 2a, d = 4a, e = 8a; then 9 = 8+1, 11 = 8+2+1, 13 = 8+4+1, 14 = 8+4+2. */
        uint8_t b0 = xtime(a0), b1 = xtime(a1), b2 = xtime(a2), b3 = xtime(a3);
        uint8_t d0 = xtime(b0), d1 = xtime(b1), d2 = xtime(b2), d3 = xtime(b3);
        uint8_t e0 = xtime(d0), e1 = xtime(d1), e2 = xtime(d2), e3 = xtime(d3);
        col[0] = (uint8_t)((e0 ^ d0 ^ b0) ^ (e1 ^ b1 ^ a1) ^ (e2 ^ d2 ^ a2) ^ (e3 ^ a3));
        col[1] = (uint8_t)((e0 ^ a0) ^ (e1 ^ d1 ^ b1) ^ (e2 ^ b2 ^ a2) ^ (e3 ^ d3 ^ a3));
        col[2] = (uint8_t)((e0 ^ d0 ^ a0) ^ (e1 ^ a1) ^ (e2 ^ d2 ^ b2) ^ (e3 ^ b3 ^ a3));
        col[3] = (uint8_t)((e0 ^ b0 ^ a0) ^ (e1 ^ d1 ^ a1) ^ (e2 ^ a2) ^ (e3 ^ d3 ^ b3));
    }
}

int ooc_aes_decrypt_block(const ooc_aes_t *aes, const uint8_t in[16], uint8_t out[16])
{
    uint8_t st[16];
    uint32_t round;
    if (!valid(aes) || in == NULL || out == NULL) {
        return OOC_ERR_ARG;
    }
    /* InvCipher, FIPS 197 section 5.3, with the round keys taken last to first. */
    memcpy(st, in, 16);
    add_round_key(st, aes->rk, aes->rounds);
    for (round = aes->rounds - 1u; round > 0; round--) {
        inv_shift_sub(st);
        add_round_key(st, aes->rk, round);
        inv_mix_columns(st);
    }
    inv_shift_sub(st);
    add_round_key(st, aes->rk, 0);
    memcpy(out, st, 16);
    ooc_wipe(st, sizeof st);
    return OOC_OK;
}

void ooc_aes_wipe(ooc_aes_t *aes)
{
    if (aes != NULL) {
        ooc_wipe(aes, sizeof *aes);
    }
}

/* A big-endian word from memory: one load and a byte reverse where the compiler says the byte
   order is little-endian (GCC and Clang), byte-wise elsewhere. */
static uint32_t load_be32_fast(const uint8_t *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t w;
    memcpy(&w, p, 4);
    return __builtin_bswap32(w);
#else
    return load_be32(p);
#endif
}

int ooc_aes_cbc_mac(const ooc_aes_t *aes, uint8_t x[16], const uint8_t *m, size_t n_blocks)
{
    uint32_t s[4], w[4], i;
    if (!valid(aes) || x == NULL || (n_blocks > 0 && m == NULL)) {
        return OOC_ERR_ARG;
    }
    if (aes->engine != NULL) {
        for (; n_blocks > 0; n_blocks--, m += 16) {
            int err;
            for (i = 0; i < 16u; i++) {
                x[i] ^= m[i];
            }
            err = ooc_aes_encrypt_blocks(aes, x, x, 1);
            if (err < 0) {
                return err;
            }
        }
        return OOC_OK;
    }
    for (i = 0; i < 4u; i++) {
        s[i] = load_be32(x + 4u * i);
    }
    for (; n_blocks > 0; n_blocks--, m += 16) {
        for (i = 0; i < 4u; i++) {
            w[i] = s[i] ^ load_be32_fast(m + 4u * i);
        }
        encrypt_words(aes, w, s);
    }
    for (i = 0; i < 4u; i++) {
        store_be32(x + 4u * i, s[i]);
    }
    ooc_wipe(w, sizeof w);
    ooc_wipe(s, sizeof s);
    return OOC_OK;
}

/* out = in XOR one keystream block k (four big-endian words), 16 bytes: word-wide where the
   compiler says the byte order is little-endian (one load, byte reverse, XOR and store per
   word on a Cortex-M4), byte-wise elsewhere. */
static void xor_block(uint8_t *out, const uint8_t *in, const uint32_t k[4])
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t w[4];
    memcpy(w, in, 16);
    w[0] ^= __builtin_bswap32(k[0]);
    w[1] ^= __builtin_bswap32(k[1]);
    w[2] ^= __builtin_bswap32(k[2]);
    w[3] ^= __builtin_bswap32(k[3]);
    memcpy(out, w, 16);
#else
    uint8_t ks[16];
    uint32_t i;
    for (i = 0; i < 4u; i++) {
        store_be32(ks + 4u * i, k[i]);
    }
    for (i = 0; i < 16u; i++) {
        out[i] = (uint8_t)(in[i] ^ ks[i]);
    }
#endif
}

/* One T-table term: Te0 at byte `byte` (0 = low) of x, rotated right by `rot` bits. */
#define OOC_TE(x, shift, rot) ror32(ooc_aes_te0[((x) >> (shift)) & 0xffu], (rot))

/* The counter-independent part of CTR's first two rounds, for a run of blocks whose counters
   differ only in the low byte (Schwabe and Stoffelen's counter-mode caching). With state
   s = iv ^ rk[0..3], only s3's low byte changes between such blocks, and round 1 reads it in
   column 0 only: t1..t3 are fixed and t0 = p0 ^ Te0[s3 & 0xff] >>> 24. Round 2 reads t0 once
   per column, so each of its columns is a fixed q[c] and one term of t0. */
typedef struct {
    uint32_t p0, q[4];
} ctr_cache_t;

static void ctr_cache(const uint32_t *rk, const uint32_t s[4], ctr_cache_t *c)
{
    uint32_t t1 = OOC_AES_ROUND(s[1], s[2], s[3], s[0], rk[5]);
    uint32_t t2 = OOC_AES_ROUND(s[2], s[3], s[0], s[1], rk[6]);
    uint32_t t3 = OOC_AES_ROUND(s[3], s[0], s[1], s[2], rk[7]);
    c->p0 = ooc_aes_te0[s[0] >> 24] ^ OOC_TE(s[1], 16, 8u) ^ OOC_TE(s[2], 8, 16u) ^ rk[4];
    c->q[0] = OOC_TE(t1, 16, 8u) ^ OOC_TE(t2, 8, 16u) ^ OOC_TE(t3, 0, 24u) ^ rk[8];
    c->q[1] = ooc_aes_te0[t1 >> 24] ^ OOC_TE(t2, 16, 8u) ^ OOC_TE(t3, 8, 16u) ^ rk[9];
    c->q[2] = ooc_aes_te0[t2 >> 24] ^ OOC_TE(t3, 16, 8u) ^ OOC_TE(t1, 0, 24u) ^ rk[10];
    c->q[3] = ooc_aes_te0[t3 >> 24] ^ OOC_TE(t1, 8, 16u) ^ OOC_TE(t2, 0, 24u) ^ rk[11];
}

/* Software CTR: the counter block is built as words, so no byte shuffling between the cipher
   and the XOR; whole blocks start from the cached first two rounds (ctr_cache()), refreshed
   when the counter's low byte wraps. `ctr` is the checked start counter. */
static int ctr_software(const ooc_aes_t *aes, const uint8_t iv[16], uint32_t ctr, const uint8_t *in,
                        uint8_t *out, size_t len)
{
    const uint32_t *rk = aes->rk;
    const uint32_t *tail_end = rk + 12 + 8u * ((aes->rounds - 4u) / 2u);
    uint32_t blk[4], k[4], s[4];
    ctr_cache_t c;
    blk[0] = load_be32(iv);
    blk[1] = load_be32(iv + 4);
    blk[2] = load_be32(iv + 8);
    s[0] = blk[0] ^ rk[0];
    s[1] = blk[1] ^ rk[1];
    s[2] = blk[2] ^ rk[2];
    while (len >= 16u) {
        uint32_t k3 = rk[3] & 0xffu;
        s[3] = ctr ^ rk[3];
        ctr_cache(rk, s, &c);
        do {
            uint32_t t0 = c.p0 ^ ror32(ooc_aes_te0[(ctr & 0xffu) ^ k3], 24u);
            s[0] = c.q[0] ^ ooc_aes_te0[t0 >> 24];
            s[1] = c.q[1] ^ OOC_TE(t0, 0, 24u);
            s[2] = c.q[2] ^ OOC_TE(t0, 8, 16u);
            s[3] = c.q[3] ^ OOC_TE(t0, 16, 8u);
            cipher_tail(rk + 12, tail_end, s, k);
            xor_block(out, in, k);
            ctr++; /* wraps to 0 only after the last block, which is never used */
            len -= 16u;
            in += 16;
            out += 16;
        } while (len >= 16u && (ctr & 0xffu) != 0u);
        s[0] = blk[0] ^ rk[0];
        s[1] = blk[1] ^ rk[1];
        s[2] = blk[2] ^ rk[2];
    }
    if (len > 0u) {
        uint8_t ks[16];
        size_t i;
        blk[3] = ctr;
        encrypt_words(aes, blk, k);
        for (i = 0; i < 4u; i++) {
            store_be32(ks + 4u * i, k[i]);
        }
        for (i = 0; i < len; i++) {
            out[i] = (uint8_t)(in[i] ^ ks[i]);
        }
        ooc_wipe(ks, sizeof ks);
    }
    ooc_wipe(k, sizeof k);
    ooc_wipe(s, sizeof s);
    ooc_wipe(&c, sizeof c);
    return OOC_OK;
}

/* The arguments of a CTR pass: OOC_OK, or OOC_ERR_ARG. SP 800-38A appendix B.1: the counter is
   the last 32 bits, big-endian; it must not wrap into the nonce, so start + blocks may reach
   2^32 but not exceed it. */
static int ctr_args(const ooc_aes_t *aes, const uint8_t *iv, const uint8_t *in, const uint8_t *out,
                    size_t len)
{
    uint64_t n_blocks = (uint64_t)(len / 16u) + (len % 16u != 0);
    if (!valid(aes) || iv == NULL || (len > 0 && (in == NULL || out == NULL))) {
        return OOC_ERR_ARG;
    }
    return n_blocks > 0x100000000ull - (uint64_t)load_be32(iv + 12) ? OOC_ERR_ARG : OOC_OK;
}

/* CTR in software, or block batches through the engine's ecb_encrypt; arguments checked. */
static int ctr_now(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                   size_t len)
{
    uint8_t ks[OOC_CTR_BATCH * 16u];
    uint32_t ctr = load_be32(iv + 12);
    size_t n_blocks = len / 16u + (len % 16u != 0);
    int err = OOC_OK;
    if (aes->engine == NULL) {
        return ctr_software(aes, iv, ctr, in, out, len);
    }
    while (len > 0) {
        uint32_t nb = n_blocks < OOC_CTR_BATCH ? (uint32_t)n_blocks : OOC_CTR_BATCH;
        size_t take = len < 16u * (size_t)nb ? len : 16u * (size_t)nb;
        size_t i;
        for (i = 0; i < nb; i++) {
            memcpy(ks + 16u * i, iv, 12);
            store_be32(ks + 16u * i + 12u, ctr);
            ctr++; /* wraps to 0 only after the last block, which is never used */
        }
        err = ooc_aes_encrypt_blocks(aes, ks, ks, nb);
        if (err < 0) {
            break;
        }
        for (i = 0; i < take; i++) {
            out[i] = (uint8_t)(in[i] ^ ks[i]);
        }
        in += take;
        out += take;
        len -= take;
        n_blocks -= nb;
    }
    ooc_wipe(ks, sizeof ks);
    return err;
}

int ooc_aes_set_bulk(ooc_aes_t *aes, const ooc_aes_bulk_t *bulk)
{
    if (!valid(aes) || (bulk != NULL && (bulk->ctr_start == NULL || bulk->ctr_wait == NULL))) {
        return OOC_ERR_ARG;
    }
    aes->bulk = bulk;
    return OOC_OK;
}

int ooc_aes_bulk(const ooc_aes_t *aes)
{
    return aes != NULL && aes->bulk != NULL;
}

int ooc_aes_ctr_start(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                      size_t len)
{
    int err = ctr_args(aes, iv, in, out, len);
    if (err != OOC_OK || len == 0u) {
        return err != OOC_OK ? err : OOC_ERR_ARG;
    }
    if (aes->bulk == NULL) {
        return ctr_now(aes, iv, in, out, len);
    }
    if ((size_t)(uint32_t)len != len) {
        return OOC_ERR_ARG;
    }
    return aes->bulk->ctr_start(aes->bulk->user, aes->key, aes->key_bytes, iv, in, out, (uint32_t)len) < 0
               ? OOC_ERR_IO
               : OOC_OK;
}

int ooc_aes_ctr_wait(const ooc_aes_t *aes)
{
    if (!valid(aes)) {
        return OOC_ERR_ARG;
    }
    return aes->bulk == NULL || aes->bulk->ctr_wait(aes->bulk->user) >= 0 ? OOC_OK : OOC_ERR_IO;
}

int ooc_aes_ctr(const ooc_aes_t *aes, const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                size_t len)
{
    int err = ctr_args(aes, iv, in, out, len);
    return err != OOC_OK || len == 0u ? err : ctr_now(aes, iv, in, out, len);
}

int ooc_ct_equal(const void *a, const void *b, size_t n)
{
    const uint8_t *x = (const uint8_t *)a;
    const uint8_t *y = (const uint8_t *)b;
    uint32_t d = 0;
    size_t i;
    if (n > 0 && (x == NULL || y == NULL)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        d |= (uint32_t)(x[i] ^ y[i]);
    }
    /* d is 0..255: (d - 1) >> 8 has bit 0 set exactly when d == 0. */
    return (int)(((d - 1u) >> 8) & 1u);
}

void ooc_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    if (v == NULL) {
        return;
    }
    while (n > 0) {
        *v++ = 0;
        n--;
    }
}
