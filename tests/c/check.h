/*
 * The C tests' counters and CHECK(): a failed condition is printed with its file and line (on
 * CHECK_OUT: stdout unless the test defines it first), and each test's main() reports how many
 * passed and failed and returns nonzero when any failed.
 */
#ifndef OOC_TEST_CHECK_H
#define OOC_TEST_CHECK_H

#include <stdio.h>

#ifndef CHECK_OUT
#define CHECK_OUT stdout
#endif

static unsigned passed, failed;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) {                                                                          \
            passed++;                                                                        \
        } else {                                                                             \
            failed++;                                                                        \
            fprintf(CHECK_OUT, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                    \
    } while (0)

#endif /* OOC_TEST_CHECK_H */
