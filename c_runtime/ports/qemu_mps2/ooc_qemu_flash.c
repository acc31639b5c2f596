/* NOR flash over a semihosted host file (ooc_qemu_flash.h). */
#include "ooc_qemu_flash.h"

#include <string.h>

#include "semihost.h"

/* Program and erase go through a small buffer: the read-modify-write a NOR chip does inside. */
#define WORK_BYTES 64u

static int is_pow2(uint32_t v)
{
    return v != 0u && (v & (v - 1u)) == 0u;
}

int ooc_qflash_open(ooc_qflash_t *f, const char *path, uint32_t size_bytes, uint32_t page_bytes,
                    uint32_t sector_bytes, int writable)
{
    memset(f, 0, sizeof *f);
    f->handle = -1;
    if (!is_pow2(page_bytes) || !is_pow2(sector_bytes) || page_bytes > sector_bytes ||
        sector_bytes < WORK_BYTES || size_bytes == 0u || size_bytes % sector_bytes != 0u) {
        return -1;
    }
    f->handle = sh_open(path, writable ? SH_MODE_RPB : SH_MODE_RB);
    if (f->handle < 0) {
        return -1;
    }
    if (sh_flen(f->handle) != (int32_t)size_bytes) {
        ooc_qflash_close(f);
        return -1;
    }
    f->size_bytes = size_bytes;
    f->page_bytes = page_bytes;
    f->sector_bytes = sector_bytes;
    f->writable = writable;
    return 0;
}

void ooc_qflash_close(ooc_qflash_t *f)
{
    if (f->handle >= 0) {
        (void)sh_close(f->handle);
    }
    f->handle = -1;
}

static int in_range(const ooc_qflash_t *f, uint32_t addr, uint32_t len)
{
    return f->handle >= 0 && addr <= f->size_bytes && len <= f->size_bytes - addr;
}

static int host_read(const ooc_qflash_t *f, uint32_t addr, void *buf, uint32_t len)
{
    return sh_seek(f->handle, addr) == 0 && sh_read(f->handle, buf, len) == 0 ? 0 : -1;
}

static int host_write(const ooc_qflash_t *f, uint32_t addr, const void *buf, uint32_t len)
{
    return sh_seek(f->handle, addr) == 0 && sh_write(f->handle, buf, len) == 0 ? 0 : -1;
}

int ooc_qflash_read(void *user, uint32_t addr, void *buf, uint32_t len)
{
    ooc_qflash_t *f = (ooc_qflash_t *)user;
    if (!in_range(f, addr, len) || f->pending) {
        return -1;
    }
    f->read_commands++;
    f->read_bytes += len;
    return len == 0u ? 0 : host_read(f, addr, buf, len);
}

int ooc_qflash_read_start(void *user, uint32_t addr, void *buf, uint32_t len)
{
    ooc_qflash_t *f = (ooc_qflash_t *)user;
    int rc = ooc_qflash_read(user, addr, buf, len);
    f->pending = rc == 0;
    return rc;
}

int ooc_qflash_read_wait(void *user)
{
    ooc_qflash_t *f = (ooc_qflash_t *)user;
    if (!f->pending) {
        return -1;
    }
    f->pending = 0;
    return 0;
}

int ooc_qflash_program(ooc_qflash_t *f, uint32_t addr, const void *data, uint32_t len)
{
    const uint8_t *src = (const uint8_t *)data;
    uint8_t work[WORK_BYTES];
    uint32_t done = 0, i;
    if (!f->writable || f->pending || !in_range(f, addr, len) ||
        (len != 0u && addr / f->page_bytes != (addr + len - 1u) / f->page_bytes)) {
        return -1;
    }
    f->program_ops++;
    f->program_bytes += len;
    while (done < len) {
        uint32_t n = len - done < WORK_BYTES ? len - done : WORK_BYTES;
        if (host_read(f, addr + done, work, n) != 0) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            work[i] &= src[done + i]; /* NOR: programming only clears bits */
        }
        if (host_write(f, addr + done, work, n) != 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

int ooc_qflash_erase(ooc_qflash_t *f, uint32_t addr)
{
    uint8_t ones[WORK_BYTES];
    uint32_t done;
    if (!f->writable || f->pending || addr % f->sector_bytes != 0u || !in_range(f, addr, f->sector_bytes)) {
        return -1;
    }
    memset(ones, 0xFF, sizeof ones);
    f->erase_ops++;
    for (done = 0; done < f->sector_bytes; done += WORK_BYTES) {
        if (host_write(f, addr + done, ones, WORK_BYTES) != 0) {
            return -1;
        }
    }
    return 0;
}

void ooc_qflash_port(ooc_qflash_t *f, ooc_port_t *port)
{
    port->user = f;
    port->read = ooc_qflash_read;
    port->read_start = ooc_qflash_read_start;
    port->read_wait = ooc_qflash_read_wait;
    port->flash_bytes = f->size_bytes;
    port->page_bytes = f->page_bytes;
    port->sector_bytes = f->sector_bytes;
}

static int program(void *user, uint32_t addr, const void *data, uint32_t len)
{
    return ooc_qflash_program((ooc_qflash_t *)user, addr, data, len);
}

static int erase(void *user, uint32_t addr)
{
    return ooc_qflash_erase((ooc_qflash_t *)user, addr);
}

void ooc_qflash_port_writes(ooc_port_t *port)
{
    port->program = program;
    port->erase = erase;
}
