/*
 * ooc runtime: what a board gives the runtime, in one struct.
 *
 * The image reader (ooc_image_mount(), ooc/ooc_image.h) and the activation spill ring
 * (ooc_spill_mount(), ooc/ooc_spill.h) both take an ooc_port_t: the external flash (its driver
 * and geometry), the device identity (UID and root key) and, where the chip has one, a hardware
 * AES engine. A board fills one, once, and hands it to both mounts:
 *
 *     static ooc_port_t port;          (zero-initialised: every optional field off)
 *     port.user = &qspi;
 *     port.read = qspi_read;           port.read_start = qspi_dma_start;
 *     port.read_wait = qspi_dma_wait;  port.program = qspi_program;  port.erase = qspi_erase;
 *     port.flash_bytes = 16u << 20;    port.page_bytes = 256u;       port.sector_bytes = 4096u;
 *     port.device_uid = uid;           port.root_key = key;          port.root_key_bytes = 32u;
 *
 * Each field's comment gives its unit, its limits and what zero (or NULL) means. The mounts
 * check the fields they use (ooc_port_check()) and refuse a port that breaks a limit with
 * OOC_ERR_ARG. A mount copies what it keeps (the flash functions, `user`, the geometry) and
 * derives its keys during the call: the port, and the root key it points to, need not outlive
 * the mount. Wipe the root key (ooc_wipe) once the mounts are done.
 *
 * Every flash function returns 0, or a negative value on failure (the runtime reports
 * OOC_ERR_IO). Addresses are byte addresses from the flash's first byte.
 */
#ifndef OOC_PORT_H
#define OOC_PORT_H

#include <stdint.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copy `len` bytes at flash address `addr` into `buf`: a blocking read. */
typedef int (*ooc_flash_read_fn)(void *user, uint32_t addr, void *buf, uint32_t len);

/* An asynchronous read, as a DMA driver gives it: start one read, then wait for it. At most one
   is outstanding; the runtime issues no other flash call until it has waited. */
typedef int (*ooc_flash_read_start_fn)(void *user, uint32_t addr, void *buf, uint32_t len);
typedef int (*ooc_flash_read_wait_fn)(void *user);

/* Program `len` (>= 1) bytes at `addr`, all within one page (NOR: bits only go from 1 to 0). */
typedef int (*ooc_flash_program_fn)(void *user, uint32_t addr, const void *data, uint32_t len);

/* Erase the sector at the sector-aligned `addr` to 0xFF. */
typedef int (*ooc_flash_erase_fn)(void *user, uint32_t addr);

typedef struct ooc_port {
    /* ---- the external flash ---------------------------------------------------------------- */

    /* Handed back to every flash function. May be NULL. */
    void *user;

    /* Blocking read. Required. */
    ooc_flash_read_fn read;

    /* Asynchronous read: both or neither (one without the other is OOC_ERR_ARG). With them the
       pager reads the next step's chunks while a step computes; NULL: every read is blocking
       and prefetch does nothing. */
    ooc_flash_read_start_fn read_start;
    ooc_flash_read_wait_fn read_wait;

    /* Page program and sector erase: both or neither. Only the spill ring writes (the image is
       read-only to the runtime); NULL: the port cannot write, and ooc_spill_mount() refuses it. */
    ooc_flash_program_fn program;
    ooc_flash_erase_fn erase;

    /* Size of the flash in bytes. Required: 1 .. 2^32 - 1. Nothing the runtime reads or writes
       lies beyond it (an image larger than what is left after its base is OOC_ERR_TRUNCATED). */
    uint32_t flash_bytes;

    /* Bytes one program command may write (the page; `program` never crosses a page boundary).
       A power of two; 0: unknown, allowed only without `program` and `erase`. The spill ring
       needs 16 .. OOC_SPILL_MAX_PAGE_BYTES (ooc_spill.h). */
    uint32_t page_bytes;

    /* Bytes one erase command clears (the sector). A power of two >= page_bytes; 0: unknown,
       allowed only without `program` and `erase`. The spill ring needs at least 256. */
    uint32_t sector_bytes;

    /* ---- the device identity ------------------------------------------------------------- */

    /* The device's unique ID: OOC_IMG_UID_BYTES (16) bytes, the MCU's factory UID zero-padded on
       the left. Required. Provisioning wrapped the image's key for it; the spill keys bind it. */
    const uint8_t *device_uid;

    /* The device root key, from internal trusted storage (never the external flash). Required.
       Read during a mount only, never kept: the mounted handles hold derived keys. */
    const uint8_t *root_key;

    /* Length of `root_key` in bytes: 16 or 32. */
    uint32_t root_key_bytes;

    /* ---- the AES engine ------------------------------------------------------------------ */

    /* A hardware AES engine (ooc/ooc_crypto.h) that every cipher mode of both mounts goes
       through; it must outlive the mounts. NULL: software AES. */
    const ooc_aes_engine_t *aes_engine;

    /* A bulk, asynchronous CTR engine (ooc/ooc_crypto.h) that decrypts the image's chunks, one
       job a chunk; both its functions or OOC_ERR_ARG. It must outlive the image mount. With two
       chunk slots the pager then has the next step's chunks decrypted while a step computes
       (their tags are checked before). NULL: chunks are decrypted by `aes_engine`, or in
       software, when their step begins. */
    const ooc_aes_bulk_t *aes_bulk;

    /* ---- trusted storage --------------------------------------------------------------- */

    /* The anti-rollback ratchet (ooc_image_commit_counter()): store `counter` as the device's
       new anti-rollback counter in trusted monotonic storage (OTP bits, a monotonic counter, a
       write-protected page; never the external flash) and return 0, or a negative value on
       failure. It is only called with a value above the one the mount was given. NULL: the
       device does not ratchet. `counter_user` is handed back to it. */
    int (*commit_counter)(void *counter_user, uint32_t counter);
    void *counter_user;
} ooc_port_t;

/* What a mount needs of the port (ooc_port_check()'s `needs`). */
#define OOC_PORT_READS 0u    /* read, the identity, a consistent geometry */
#define OOC_PORT_WRITES 1u   /* and program, erase, page_bytes and sector_bytes */

/* Check `port` against the limits above: OOC_OK, or OOC_ERR_ARG when a required field is
   missing, a pair is half set, root_key_bytes is not 16 or 32, a geometry is not a power of two
   or sectors are smaller than pages, or (OOC_PORT_WRITES) program, erase or the geometry is
   missing. The mounts call it; a board may call it at start-up to find a bad port early. */
int ooc_port_check(const ooc_port_t *port, uint32_t needs);

#ifdef __cplusplus
}
#endif

#endif /* OOC_PORT_H */
