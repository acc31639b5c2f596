/*
 * External SPI NOR flash for the QEMU port: a host file, reached through semihosting, with NOR
 * semantics. Reads go anywhere; program clears bits only (new = old AND data) within one page;
 * erase sets a whole sector to 0xFF. The counters give what a wear or energy audit needs.
 *
 * On a real board these functions are the QSPI/SPI driver (docs/porting.md): read_start hands
 * the transfer to DMA and returns, read_wait blocks until it completes. Here read_start does the
 * transfer at once (semihosting is synchronous), which keeps the runtime on the same code path
 * as a DMA port: the CPU's instruction count does not include the transfer.
 */
#ifndef OOC_QEMU_FLASH_H
#define OOC_QEMU_FLASH_H

#include <stdint.h>

#include "ooc/ooc_port.h"

typedef struct {
    int handle;
    uint32_t size_bytes, page_bytes, sector_bytes;
    int writable;
    int pending; /* a read_start awaits its read_wait */
    /* counters since open */
    uint32_t read_bytes, read_commands, program_bytes, program_ops, erase_ops;
} ooc_qflash_t;

/* Open `path` (which must be exactly size_bytes long). Page and sector sizes are powers of two
   with page <= sector. Returns 0 or -1. */
int ooc_qflash_open(ooc_qflash_t *f, const char *path, uint32_t size_bytes, uint32_t page_bytes,
                    uint32_t sector_bytes, int writable);
void ooc_qflash_close(ooc_qflash_t *f);

/* ooc_flash_read_fn and the asynchronous pair of ooc/ooc_port.h; `user` is the ooc_qflash_t. */
int ooc_qflash_read(void *user, uint32_t addr, void *buf, uint32_t len);
int ooc_qflash_read_start(void *user, uint32_t addr, void *buf, uint32_t len);
int ooc_qflash_read_wait(void *user);

/* Page program: `len` bytes at `addr`, not crossing a page boundary. 0, or -1 (out of range,
   crosses a page, read-only, host I/O failed). */
int ooc_qflash_program(ooc_qflash_t *f, uint32_t addr, const void *data, uint32_t len);
/* Sector erase: `addr` must be sector-aligned. 0 or -1. */
int ooc_qflash_erase(ooc_qflash_t *f, uint32_t addr);

/* Fill `port`'s flash fields for `f`: user, the blocking and the asynchronous reads, and the
   geometry (the identity fields and the AES engine are left as they are). */
void ooc_qflash_port(ooc_qflash_t *f, ooc_port_t *port);

/* And page program and sector erase, for a flash opened writable (the spill ring). Apart, so
   that a firmware that never writes does not link the writing code. */
void ooc_qflash_port_writes(ooc_port_t *port);

#endif /* OOC_QEMU_FLASH_H */
