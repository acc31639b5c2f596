/*
 * Crypto cost on the emulated Cortex-M4 (benchmarks/bench_m4.py, benchmarks/bench_crypto.py,
 * tests): instructions per byte of the software primitives the pager runs on every chunk, and
 * of the signature check (SHA-512, Ed25519 verify). Each hash or MAC is run over a BENCH_BYTES
 * buffer in SRAM (where a chunk slot lives), timed with the board counter (40 instructions per
 * tick), and checked against a known answer so a broken primitive cannot look fast.
 * report.json: ticks per primitive and the buffer size ("digest": FNV-1a of the CTR output and
 * the tags); "sha512_head": the first 4 bytes (big-endian) of SHA-512 of the freshly filled
 * buffer; Ed25519 verify of a 192-byte message (the size of what an image's signature covers:
 * the first 192 bytes of its signature block): its instructions, its stack depth below the
 * caller, and whether the valid signature passed and a one-bit forgery was refused.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "semihost.h"

#define BENCH_BYTES 16384u
#define SIGNED_BYTES 192u
#define STACK_PATTERN 0x5a17c0deu

static uint8_t buf[BENCH_BYTES];
extern uint32_t __stack_top[]; /* mps2_an386.ld */

/* The public key and signature of buf[0..SIGNED_BYTES) as fill() makes it, by the secret key
   32, 33, ..., 63 (made with cryptography's Ed25519PrivateKey; "ed25519_ok" reports that it
   verifies and a one-bit change does not, and benchmarks/bench_crypto.py requires both). */
static const uint8_t ed_public[32] = {
    0x29, 0xac, 0xba, 0xe1, 0x41, 0xbc, 0xca, 0xf0, 0xb2, 0x2e, 0x1a, 0x94,
    0xd3, 0x4d, 0x0b, 0xc7, 0x36, 0x1e, 0x52, 0x6d, 0x0b, 0xfe, 0x12, 0xc8,
    0x97, 0x94, 0xbc, 0x93, 0x22, 0x96, 0x6d, 0xd7,
};
static const uint8_t ed_signature[64] = {
    0xac, 0xd0, 0xe6, 0x07, 0x37, 0x75, 0x7d, 0xf9, 0x51, 0xd2, 0x01, 0xec,
    0xeb, 0xad, 0x5d, 0xf0, 0x26, 0x22, 0x97, 0xba, 0x81, 0xf5, 0xc2, 0x74,
    0x07, 0x5e, 0x23, 0xbd, 0xdd, 0x49, 0x11, 0x67, 0x19, 0xbb, 0x4c, 0x54,
    0x38, 0x39, 0x6a, 0x1a, 0xee, 0xec, 0x1f, 0x71, 0x50, 0x2e, 0xe0, 0x7f,
    0x40, 0x4a, 0x11, 0x54, 0xa1, 0xb9, 0xba, 0xcd, 0x15, 0x70, 0x52, 0x8d,
    0x10, 0xc8, 0xe8, 0x06,
};
static OOC_HARNESS char report[1024];
static OOC_HARNESS uint32_t report_len;

static void put_str(const char *s)
{
    while (*s != '\0' && report_len + 1u < sizeof report) {
        report[report_len++] = *s++;
    }
}

static void put_field(const char *name, uint32_t v)
{
    char s[11];
    put_str(", \"");
    put_str(name);
    put_str("\": ");
    put_str(sh_u32_text(v, s));
}

static void fill(void)
{
    uint32_t i;
    for (i = 0; i < BENCH_BYTES; i++) {
        buf[i] = (uint8_t)(i * 7u + 3u);
    }
}

/* SHA-512 of the freshly filled buffer, then Ed25519 verify of its first SIGNED_BYTES. */
static void bench_signature(void)
{
    ooc_sha512_t sha;
    uint8_t digest[64], forged[64];
    uint32_t t, stack_used;
    int ok, refused;
    uintptr_t sp;
    fill();
    t = ooc_board_ticks();
    ooc_sha512_init(&sha);
    ooc_sha512_update(&sha, buf, BENCH_BYTES);
    ooc_sha512_final(&sha, digest);
    put_field("sha512_ticks", ooc_board_ticks() - t);
    put_field("sha512_head", (uint32_t)digest[0] << 24 | (uint32_t)digest[1] << 16 |
                                 (uint32_t)digest[2] << 8 | digest[3]);
    sp = (uintptr_t)&sha; /* this frame's depth, near enough (tens of bytes) */
    ooc_board_stack_paint(STACK_PATTERN);
    t = ooc_board_ticks();
    ok = ooc_ed25519_verify(ed_signature, ed_public, buf, SIGNED_BYTES) == OOC_OK;
    t = ooc_board_ticks() - t;
    stack_used = ooc_board_stack_used(STACK_PATTERN);
    put_field("ed25519_verify_instructions", t * OOC_BOARD_INSTRUCTIONS_PER_TICK);
    put_field("ed25519_stack_bytes", stack_used - (uint32_t)((uintptr_t)__stack_top - sp));
    put_field("ed25519_signed_bytes", SIGNED_BYTES);
    memcpy(forged, ed_signature, sizeof forged);
    forged[40] ^= 0x10u;
    refused = ooc_ed25519_verify(forged, ed_public, buf, SIGNED_BYTES) == OOC_ERR_SIGNATURE;
    put_field("ed25519_ok", (uint32_t)(ok && refused));
}

int main(void)
{
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    uint8_t iv[16] = {0}, tag[32];
    ooc_aes_t aes128, aes256;
    ooc_cmac_t cmac;
    ooc_poly1305_t poly;
    uint32_t t, i, h;
    ooc_board_counter_start();
    if (ooc_aes_init(&aes128, key, 16, NULL) < 0 || ooc_aes_init(&aes256, key, 32, NULL) < 0) {
        return 2;
    }
    put_str("{\"status\": 0");
    put_field("bytes", BENCH_BYTES);
    fill();
    t = ooc_board_ticks();
    (void)ooc_aes_ctr(&aes128, iv, buf, buf, BENCH_BYTES);
    put_field("aes128_ctr_ticks", ooc_board_ticks() - t);
    t = ooc_board_ticks();
    (void)ooc_aes_ctr(&aes256, iv, buf, buf, BENCH_BYTES);
    put_field("aes256_ctr_ticks", ooc_board_ticks() - t);
    t = ooc_board_ticks();
    (void)ooc_cmac_init(&cmac, &aes128);
    (void)ooc_cmac_update(&cmac, buf, BENCH_BYTES);
    (void)ooc_cmac_final(&cmac, tag);
    put_field("cmac128_ticks", ooc_board_ticks() - t);
    t = ooc_board_ticks();
    ooc_poly1305_init(&poly, key);
    ooc_poly1305_update(&poly, buf, BENCH_BYTES);
    ooc_poly1305_final(&poly, tag + 16);
    put_field("poly1305_ticks", ooc_board_ticks() - t);
    /* a digest of everything computed, for the known-answer check on the host */
    for (i = 0, h = 2166136261u; i < BENCH_BYTES; i++) {
        h = (h ^ buf[i]) * 16777619u;
    }
    for (i = 0; i < sizeof tag; i++) {
        h = (h ^ tag[i]) * 16777619u;
    }
    put_field("digest", h);
    bench_signature();
    put_str("}\n");
    {
        int fh = sh_open("report.json", SH_MODE_WB);
        if (fh < 0 || sh_write(fh, report, report_len) != 0 || sh_close(fh) != 0) {
            return 2;
        }
    }
    return 0;
}
