/*
 * One test vector a line, as the C vector drivers read them (tests/c/test_crypto.c, and
 * tests/c/sign_vectors.c on the host and the M4): "KIND HEX HEX ...", fields separated by one
 * space, "-" for an empty field. Only tests include it.
 */
#ifndef OOC_TEST_VECTOR_LINE_H
#define OOC_TEST_VECTOR_LINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VECTOR_MAX_FIELD 2048
#define VECTOR_MAX_FIELDS 8

typedef struct {
    uint8_t b[VECTOR_MAX_FIELD];
    size_t n;
} field_t;

typedef struct {
    const char *kind;
    int n_fields;
} vector_kind_t;

static int vector_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* `s` (hex, or "-" for nothing) into `f`; 0 when it is not hex or too long. */
static int vector_hex(const char *s, field_t *f)
{
    size_t len = strlen(s), i;
    f->n = 0;
    if (strcmp(s, "-") == 0) {
        return 1;
    }
    if (len % 2 != 0 || len / 2 > VECTOR_MAX_FIELD) {
        return 0;
    }
    for (i = 0; i < len; i += 2) {
        int hi = vector_hexval((unsigned char)s[i]), lo = vector_hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0) {
            return 0;
        }
        f->b[f->n++] = (uint8_t)(hi * 16 + lo);
    }
    return 1;
}

/* Split `line` (modified in place) into its kind, one of `kinds`, and its fields. Returns the
   kind's index, or -1 with the reason in *why. */
static int vector_line(char *line, const vector_kind_t *kinds, int n_kinds, field_t *fields,
                       const char **why)
{
    char *tok[VECTOR_MAX_FIELDS + 1];
    int n = 0, k, i;
    char *p = line;
    tok[n++] = p;
    while ((p = strchr(p, ' ')) != NULL) {
        *p++ = '\0';
        if (n > VECTOR_MAX_FIELDS) {
            *why = "too many fields";
            return -1;
        }
        tok[n++] = p;
    }
    for (k = 0; k < n_kinds && strcmp(tok[0], kinds[k].kind) != 0; k++) {
    }
    if (k == n_kinds) {
        *why = "unknown kind";
        return -1;
    }
    if (n - 1 != kinds[k].n_fields) {
        *why = "wrong number of fields";
        return -1;
    }
    for (i = 1; i < n; i++) {
        if (!vector_hex(tok[i], &fields[i - 1])) {
            *why = "bad hex";
            return -1;
        }
    }
    return k;
}

#endif /* OOC_TEST_VECTOR_LINE_H */
