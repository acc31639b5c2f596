/*
 * Crypto cost on the emulated Cortex-M4 (benchmarks/bench_m4.py, tests): instructions per byte
 * of the software primitives the pager runs on every chunk. Each is run over a BENCH_BYTES
 * buffer in SRAM (where a chunk slot lives), timed with the board counter (40 instructions per
 * tick), and checked against a known-answer digest so a broken primitive cannot look fast.
 * report.json: ticks per primitive and the buffer size.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "semihost.h"

#define BENCH_BYTES 16384u

static uint8_t buf[BENCH_BYTES];
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
    int i = 10;
    s[10] = '\0';
    do {
        s[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    put_str(", \"");
    put_str(name);
    put_str("\": ");
    put_str(s + i);
}

static void fill(void)
{
    uint32_t i;
    for (i = 0; i < BENCH_BYTES; i++) {
        buf[i] = (uint8_t)(i * 7u + 3u);
    }
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
    put_str("}\n");
    {
        int fh = sh_open("report.json", SH_MODE_WB);
        if (fh < 0 || sh_write(fh, report, report_len) != 0 || sh_close(fh) != 0) {
            return 2;
        }
    }
    return 0;
}
