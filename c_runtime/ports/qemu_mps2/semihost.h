/*
 * Arm semihosting (the "Semihosting for AArch32 and AArch64" specification, version 2): the
 * debugger -- here QEMU, with -semihosting-config enable=on,target=native -- serves file I/O and
 * the exit status to bare-metal code through `bkpt 0xAB`. The QEMU port uses it for its
 * console, the host files that stand in for the external flash and the key storage, the
 * sample files and the exit status. A real board has none of this (docs/porting.md).
 */
#ifndef OOC_SEMIHOST_H
#define OOC_SEMIHOST_H

#include <stdint.h>

/* Open modes of SYS_OPEN (the ISO C fopen() modes, in the specification's order). */
enum {
    SH_MODE_RB = 1,  /* "rb" */
    SH_MODE_RPB = 3, /* "r+b" */
    SH_MODE_W = 4,   /* "w" */
    SH_MODE_WB = 5   /* "wb" */
};

/* A handle (>= 0) or -1. */
int sh_open(const char *path, int mode);
int sh_close(int handle);
/* Bytes NOT read / written (0: all of them), or -1. */
int32_t sh_read(int handle, void *buf, uint32_t len);
int32_t sh_write(int handle, const void *buf, uint32_t len);
/* 0, or -1. */
int sh_seek(int handle, uint32_t pos);
/* The file's length, or -1. */
int32_t sh_flen(int handle);
/* The command line QEMU was given (-semihosting-config ...,arg=...), NUL-terminated into `buf`;
   0 or -1. */
int sh_cmdline(char *buf, uint32_t len);
/* A NUL-terminated string on the debug console (QEMU's stderr). */
void sh_puts(const char *s);
/* `v` in decimal, NUL-terminated inside `buf` (11 bytes); the text's first character. For the
   console and report.json, which the firmware writes without printf. */
const char *sh_u32_text(uint32_t v, char buf[11]);
/* Stop the machine; QEMU exits with `status` (SYS_EXIT_EXTENDED). */
void sh_exit(int status) __attribute__((noreturn));

#endif /* OOC_SEMIHOST_H */
