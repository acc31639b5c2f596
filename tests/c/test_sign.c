/*
 * Host driver for the SHA-512 and Ed25519 vectors (tests/c/sign_vectors.h): built under ASan and
 * UBSan and fed by tests/test_crypto.py. Reads one vector per line from stdin, prints a line per
 * failure, then "N passed, M failed"; exits 1 on any failure or no vectors.
 */
#include <stdio.h>

#include "sign_vectors.h"
#include "vector_stdin.h"

int main(void)
{
    static char line[SIGN_MAX_LINE + 2];
    long passed = 0, failed = 0;
    vector_stdin(sign_check_line, line, (int)sizeof line, &passed, &failed);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed > 0 || passed == 0 ? 1 : 0;
}
