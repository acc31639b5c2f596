/*
 * The host vector drivers' main loop (tests/c/test_crypto.c, tests/c/test_sign.c): one vector
 * a line on stdin (tests/c/vector_line.h), a "FAIL line N (kind): why" line per failure.
 * Only host tests include it.
 */
#ifndef OOC_TEST_VECTOR_STDIN_H
#define OOC_TEST_VECTOR_STDIN_H

#include <stdio.h>
#include <string.h>

/* Run `check` (NULL: the line passes, else the reason) on every line of stdin, read into
   line[0..size); counts into *passed and *failed. Longer lines fail; blank ones are skipped. */
static void vector_stdin(const char *(*check)(char *line), char *line, int size, long *passed,
                         long *failed)
{
    long lineno = 0;
    while (fgets(line, size, stdin) != NULL) {
        size_t len = strlen(line);
        const char *why;
        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        } else if (!feof(stdin)) {
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n') {
            }
            printf("FAIL line %ld: longer than %d bytes\n", lineno, size - 2);
            (*failed)++;
            continue;
        }
        if (len > 0 && line[len - 1] == '\r') {
            line[--len] = '\0';
        }
        if (len == 0) {
            continue;
        }
        why = check(line);
        if (why == NULL) {
            (*passed)++;
        } else {
            printf("FAIL line %ld (%s): %s\n", lineno, line, why); /* line: the kind */
            (*failed)++;
        }
    }
}

#endif /* OOC_TEST_VECTOR_STDIN_H */
