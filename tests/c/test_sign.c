/*
 * Host driver for the SHA-512 and Ed25519 vectors (tests/c/sign_vectors.h): built under ASan and
 * UBSan and fed by tests/test_crypto.py. Reads one vector per line from stdin, prints a line per
 * failure, then "N passed, M failed"; exits 1 on any failure or no vectors.
 */
#include <stdio.h>
#include <string.h>

#include "sign_vectors.h"

int main(void)
{
    static char line[SIGN_MAX_LINE + 2];
    long passed = 0, failed = 0, lineno = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t len = strlen(line);
        const char *why;
        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        } else if (!feof(stdin)) {
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n') {
            }
            printf("FAIL line %ld: longer than %d bytes\n", lineno, SIGN_MAX_LINE);
            failed++;
            continue;
        }
        if (len == 0) {
            continue;
        }
        why = sign_check_line(line);
        if (why == NULL) {
            passed++;
        } else {
            printf("FAIL line %ld (%s): %s\n", lineno, line, why); /* line: the kind */
            failed++;
        }
    }
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed > 0 || passed == 0 ? 1 : 0;
}
