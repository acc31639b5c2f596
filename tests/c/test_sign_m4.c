/*
 * The SHA-512 and Ed25519 vectors (tests/c/sign_vectors.h) on the emulated Cortex-M4: reads
 * vectors.txt by semihosting, checks every line with the same code as the host driver, prints a
 * line per failure on the console and writes report.json {"status": 0, "passed": N,
 * "failed": M}. Status 2: the vectors could not be read or the report not written.
 * Built and run by tests/test_crypto.py (ooc_sdk.run.qemu).
 */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "semihost.h"
#include "sign_vectors.h"

#define VECTOR_BYTES (512u * 1024u)

static OOC_HARNESS char text[VECTOR_BYTES + 1];
static OOC_HARNESS char line[SIGN_MAX_LINE + 1];
static OOC_HARNESS char report[128];

/* Append `s` to dst[0..cap) at `at`, leaving room for a NUL; the new length. */
static uint32_t put(char *dst, uint32_t cap, uint32_t at, const char *s)
{
    while (*s != '\0' && at + 1u < cap) {
        dst[at++] = *s++;
    }
    return at;
}

static uint32_t put_u32(char *dst, uint32_t cap, uint32_t at, uint32_t v)
{
    char s[11];
    return put(dst, cap, at, sh_u32_text(v, s));
}

static int32_t read_vectors(void)
{
    int fh = sh_open("vectors.txt", SH_MODE_RB);
    int32_t len;
    if (fh < 0) {
        return -1;
    }
    len = sh_flen(fh);
    if (len < 0 || (uint32_t)len > VECTOR_BYTES || sh_read(fh, text, (uint32_t)len) != 0) {
        len = -1;
    } else {
        text[len] = '\0';
    }
    (void)sh_close(fh);
    return len;
}

int main(void)
{
    uint32_t passed = 0, failed = 0, lineno = 0, at = 0, n;
    int32_t len = read_vectors();
    int fh;
    if (len < 0) {
        sh_puts("cannot read vectors.txt\n");
        return 2;
    }
    while (at < (uint32_t)len) {
        const char *why;
        for (n = 0; at < (uint32_t)len && text[at] != '\n'; at++) {
            if (n < SIGN_MAX_LINE) {
                line[n] = text[at];
            }
            n++;
        }
        at++; /* the newline */
        lineno++;
        if (n == 0) {
            continue;
        }
        if (n > SIGN_MAX_LINE) {
            why = "line too long";
        } else {
            line[n] = '\0';
            why = sign_check_line(line);
        }
        if (why == NULL) {
            passed++;
        } else {
            char msg[96];
            uint32_t k = put(msg, sizeof msg, 0, "FAIL line ");
            k = put_u32(msg, sizeof msg, k, lineno);
            k = put(msg, sizeof msg, k, ": ");
            k = put(msg, sizeof msg, k, why);
            k = put(msg, sizeof msg, k, "\n");
            msg[k] = '\0';
            sh_puts(msg);
            failed++;
        }
    }
    n = put(report, sizeof report, 0, "{\"status\": 0, \"passed\": ");
    n = put_u32(report, sizeof report, n, passed);
    n = put(report, sizeof report, n, ", \"failed\": ");
    n = put_u32(report, sizeof report, n, failed);
    n = put(report, sizeof report, n, "}\n");
    fh = sh_open("report.json", SH_MODE_WB);
    if (fh < 0 || sh_write(fh, report, n) != 0 || sh_close(fh) != 0) {
        return 2;
    }
    return 0;
}
