/*
 * The host's port (ooc/ooc_port.h) for the runners `ooc run BUILD_DIR` and the spill campaign
 * build: the emulated NOR chip (ooc_nor_emu.h) as the flash, and the device identity read from
 * stdin, where the SDK writes it (kept off the command line, where other users could see it).
 */
#ifndef OOC_HOST_PORT_H
#define OOC_HOST_PORT_H

#include <stdint.h>

#include "ooc/ooc_port.h"
#include "ooc_nor_emu.h"

/* Fill `port`'s flash fields with the emulator's functions over `nor` and the geometry of
   `profile` (the one `nor` was opened with): blocking reads, asynchronous reads unless
   `sync_reads` (a port without DMA), page program and sector erase. The identity fields and
   the AES engine are left as they are. */
void ooc_host_port(ooc_port_t *port, ooc_nor_t *nor, const ooc_nor_profile_t *profile, int sync_reads);

/* Read the device identity from one line of stdin, "UID_HEX ROOT_KEY_HEX": a 16-byte UID and a
   16- or 32-byte root key, which the line buffer no longer holds afterwards. 0, or -1 when the
   line is missing or malformed. */
int ooc_host_identity(uint8_t uid[16], uint8_t root_key[32], uint32_t *root_key_bytes);

#endif /* OOC_HOST_PORT_H */
