/* Arm semihosting calls (semihost.h): operation number in r0, argument block address in r1. */
#include "semihost.h"

#include <string.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_SEEK = 0x0A,
    SYS_FLEN = 0x0C,
    SYS_GET_CMDLINE = 0x15,
    SYS_EXIT_EXTENDED = 0x20
};

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int32_t call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

int sh_open(const char *path, int mode)
{
    const uint32_t args[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return (int)call(SYS_OPEN, args);
}

int sh_close(int handle)
{
    const uint32_t args[1] = {(uint32_t)handle};
    return (int)call(SYS_CLOSE, args);
}

int32_t sh_read(int handle, void *buf, uint32_t len)
{
    const uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, len};
    return call(SYS_READ, args);
}

int32_t sh_write(int handle, const void *buf, uint32_t len)
{
    const uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, len};
    return call(SYS_WRITE, args);
}

int sh_seek(int handle, uint32_t pos)
{
    const uint32_t args[2] = {(uint32_t)handle, pos};
    return call(SYS_SEEK, args) == 0 ? 0 : -1;
}

int32_t sh_flen(int handle)
{
    const uint32_t args[1] = {(uint32_t)handle};
    return call(SYS_FLEN, args);
}

int sh_cmdline(char *buf, uint32_t len)
{
    uint32_t args[2];
    args[0] = (uint32_t)(uintptr_t)buf;
    args[1] = len;
    if (len == 0u || call(SYS_GET_CMDLINE, args) != 0) {
        return -1;
    }
    buf[len - 1u] = '\0';
    return 0;
}

void sh_puts(const char *s)
{
    (void)call(SYS_WRITE0, s);
}

const char *sh_u32_text(uint32_t v, char buf[11])
{
    int i = 10;
    buf[10] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    return buf + i;
}

void sh_exit(int status)
{
    const uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) {
        (void)call(SYS_EXIT_EXTENDED, args);
    }
}
