/*
 * The host's port: ooc_host_port.h.
 */
#include "ooc_host_port.h"

#include <stdio.h>
#include <string.h>

static int read_start(void *user, uint32_t addr, void *buf, uint32_t len)
{
    return ooc_nor_read_start((ooc_nor_t *)user, addr, buf, len);
}

static int read_wait(void *user)
{
    return ooc_nor_read_wait((ooc_nor_t *)user);
}

static int program(void *user, uint32_t addr, const void *data, uint32_t len)
{
    return ooc_nor_program((ooc_nor_t *)user, addr, data, len);
}

static int erase(void *user, uint32_t addr)
{
    return ooc_nor_erase_sector((ooc_nor_t *)user, addr);
}

void ooc_host_port(ooc_port_t *port, ooc_nor_t *nor, const ooc_nor_profile_t *profile, int sync_reads)
{
    port->user = nor;
    port->read = ooc_nor_read;
    port->read_start = sync_reads ? NULL : read_start;
    port->read_wait = sync_reads ? NULL : read_wait;
    port->program = program;
    port->erase = erase;
    port->flash_bytes = profile->size_bytes;
    port->page_bytes = profile->page_bytes;
    port->sector_bytes = profile->sector_bytes;
}

/* Hex digits into bytes: the byte count, or -1 (odd length, a non-hex digit, more than `max`). */
static int parse_hex(const char *s, uint8_t *out, uint32_t max)
{
    uint32_t len = (uint32_t)strlen(s), i;
    if (len % 2u != 0u || len / 2u > max) {
        return -1;
    }
    for (i = 0; i < len / 2u; i++) {
        unsigned v;
        if (sscanf(s + 2u * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (int)(len / 2u);
}

int ooc_host_identity(uint8_t uid[16], uint8_t root_key[32], uint32_t *root_key_bytes)
{
    char line[256], uid_hex[80], key_hex[80];
    int ok = fgets(line, sizeof line, stdin) != NULL && sscanf(line, "%79s %79s", uid_hex, key_hex) == 2, n = -1;
    ok = ok && parse_hex(uid_hex, uid, 16u) == 16;
    if (ok) {
        n = parse_hex(key_hex, root_key, 32u);
        ok = n == 16 || n == 32;
    }
    *root_key_bytes = ok ? (uint32_t)n : 0u;
    memset(line, 0, sizeof line);
    memset(key_hex, 0, sizeof key_hex);
    return ok ? 0 : -1;
}
