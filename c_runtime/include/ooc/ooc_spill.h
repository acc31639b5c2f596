/*
 * ooc runtime: the activation spill ring in the image's scratch partition.
 *
 * When the activations of a model do not fit in SRAM, the runtime writes some of them ("spills")
 * to the external NOR flash and reads them back later in the same inference. The flash is
 * untrusted (the attacker reads and rewrites it, and cuts power), so spills are encrypted and
 * authenticated, and the ring survives a power cut at any program or erase:
 *
 *   - Log-structured ring. Records are appended to the scratch partition sector after sector; a
 *     sector is erased only when the ring comes back to it, so every sector is erased once per
 *     trip round the ring and wear is even. Each sector starts with a header holding its own erase
 *     count, its ring sequence number and the boot that opened it: a flash dump shows the wear.
 *   - Per-boot keys. ooc_spill_mount() takes this boot's number (min_boot, from the device's
 *     trusted monotonic storage; without one, the highest boot number on the ring + 1), appends
 *     a boot record for it (before any spill of this boot), and derives this boot's keys from
 *     the device root key: K = KDF(root, label, uid || u32le(boot) || salt). Spills from another
 *     boot never verify, and the (key, counter block) pairs never repeat.
 *   - Records. Each spill is AES-CTR with nonce (boot, write sequence) and tagged with the image's
 *     tag algorithm (AES-CMAC or Poly1305) over the record header (type, length, boot, tensor id,
 *     tile id, sequence) and the ciphertext. ooc_spill_read() rebuilds that header from the
 *     caller's reference (trusted RAM), checks the tag in constant time, and only then decrypts:
 *     a replayed older spill, one from another boot, or any altered byte is OOC_ERR_AUTH.
 *   - Power loss. Every program and erase is ordered so that ooc_spill_mount() can tell what is
 *     on the flash from the sector and record headers (CRC-32 guarded): it finds the ring head,
 *     the write position past every byte that may have been programmed, the erase counts, and the
 *     highest boot number. A cut loses the spills of the interrupted inference only.
 *
 * Byte layout, key schedule and the recovery rules: docs/spill.md.
 *
 * Limits. A record never spans sectors: a spill holds at most ooc_spill_max_payload(sector)
 * bytes (sector - 80: 4016 for 4 KiB sectors); larger tensors are spilled as several tiles, and a
 * larger write is OOC_ERR_SPILL_TOO_BIG. A spill is readable until the ring comes back round to
 * its sector: while fewer than n_sectors sectors have been opened since its own; reading it after
 * that is OOC_ERR_SPILL_STALE, as is reading a reference from an earlier mount. The planner must
 * keep the spills live at one time within the ring (ooc_spill_predict() gives sectors_spanned).
 *
 * No function allocates memory or keeps global state. Every int-returning function returns 0 (or
 * a count) on success or a negative OOC_ERR_* code. After a flash program or erase fails (a power
 * cut, or the port's error) the handle refuses writes and reads (OOC_ERR_IO) until it is mounted
 * again: what that operation left on the flash is sorted out by the mount.
 */
#ifndef OOC_SPILL_H
#define OOC_SPILL_H

#include <stdint.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "ooc/ooc_image.h"
#include "ooc/ooc_port.h"
/* Byte layout of the sector and record headers (OOC_SPILL_MAGIC, OOC_SPILL_SH_*, OOC_SPILL_RH_*,
   ...): generated from ooc_sdk/formats/spill.py; docs/spill.md explains it. */
#include "ooc/ooc_spill_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest flash page the ring programs with one command: the handle holds one page buffer.
   Raise it at build time for flashes with larger pages. */
#ifndef OOC_SPILL_MAX_PAGE_BYTES
#define OOC_SPILL_MAX_PAGE_BYTES 256u
#endif

/* Ring geometry (what ooc_spill_predict() needs). */
typedef struct {
    uint32_t page_bytes;   /* power of two, 16 .. OOC_SPILL_MAX_PAGE_BYTES */
    uint32_t sector_bytes; /* power of two, >= page_bytes and >= 256 */
    uint32_t n_sectors;    /* >= 2 */
} ooc_spill_geometry_t;

/* What the device provides. Zero-initialise, then set the fields. */
typedef struct {
    /* The flash, the device identity and the AES engine (ooc/ooc_port.h). Required; checked by
       ooc_port_check(port, OOC_PORT_WRITES), and the ring's own limits on top: page_bytes
       16 .. OOC_SPILL_MAX_PAGE_BYTES, sector_bytes >= 256. The mount copies read, program,
       erase, `user` and the geometry; the port itself need not outlive the call. */
    const ooc_port_t *port;
    /* Flash address of the scratch partition: a multiple of port->sector_bytes. */
    uint32_t base;
    /* Its length in bytes: n_sectors * port->sector_bytes with n_sectors >= 2, and
       base + bytes <= port->flash_bytes. */
    uint32_t bytes;
    /* OOC_IMG_TAG_AES_CMAC or OOC_IMG_TAG_POLY1305: the image's (ooc_image_t.tag_alg). */
    uint32_t tag_alg;
    /* Length of the spill keys: 16 or 32; 0: the root key's length. */
    uint32_t key_bytes;
    /* Optional hardening where the device has it (docs/spill.md, "Keys"); at least one is
       needed for ooc_init() to accept the ring (keys that cannot repeat across boots): */
    uint32_t min_boot;        /* this boot's number, from trusted monotonic storage: the last
                                 ooc_spill_boot() + 1, persisted before the first spill. The
                                 ring's own boot numbers are then ignored (the flash is
                                 untrusted). 0: none; the ring's highest + 1 is taken */
    const uint8_t *boot_salt; /* OOC_SPILL_SALT_BYTES fresh TRNG bytes, new for every mount;
                                 NULL: none (all zero in the KDF context) */
} ooc_spill_config_t;

/* Flash traffic of the ring since mount (the mount's own included). */
typedef struct {
    uint64_t bytes_programmed;
    uint64_t program_ops;
    uint64_t erase_ops;
    uint64_t bytes_read;
    uint64_t read_ops;
} ooc_spill_counters_t;

/* Where a spill is and what it holds: keep it in RAM (it is trusted), hand it back to read. */
typedef struct {
    uint32_t offset;   /* record offset in the scratch partition */
    uint32_t len;      /* payload bytes */
    uint32_t tensor;
    uint32_t tile;
    uint32_t boot;
    uint32_t ring_seq; /* ring sequence of the record's sector */
    uint64_t seq;      /* write sequence */
} ooc_spill_ref_t;

/* The ring's state, for diagnostics and the planner's prediction. */
typedef struct {
    uint32_t boot;        /* this boot's number */
    uint64_t next_seq;    /* sequence number of the next write */
    uint32_t head;        /* sector index (0-based in the partition) being appended to */
    uint32_t head_ring_seq;
    uint32_t position;    /* write offset in the head sector; sector_bytes when it is full */
    uint32_t n_sectors;
    uint32_t recovered;   /* mount: 1 when the head sector's tail was not clean (a cut write) */
    ooc_spill_counters_t counters;
} ooc_spill_status_t;

/* Cost of a sequence of writes (ooc_spill_predict()). */
typedef struct {
    uint64_t bytes_programmed;
    uint64_t program_ops;
    uint64_t erase_ops;
    uint32_t sectors_spanned; /* sectors the writes touch (1 + sector openings when any write) */
} ooc_spill_cost_t;

/* A mounted ring. Treat as opaque; holds this boot's keys: wipe with ooc_spill_unmount(). */
typedef struct ooc_spill {
    ooc_flash_read_fn read;
    ooc_flash_program_fn program;
    ooc_flash_erase_fn erase;
    void *user;
    uint32_t base, page_bytes, sector_bytes, n_sectors;
    uint32_t tag_alg;
    ooc_aes_t k_enc; /* CTR; Poly1305 one-time keys */
    ooc_aes_t k_mac; /* CMAC (unused with Poly1305) */
    uint32_t boot;
    uint64_t seq;
    uint32_t head, head_ring_seq, pos;
    uint32_t recovered;
    uint32_t state; /* 0: not mounted, 1: mounted, 2: failed (mount again) */
    uint32_t fresh; /* mounted with a boot_salt or a min_boot: keys cannot repeat across boots */
    ooc_spill_counters_t counters;
    uint8_t page[OOC_SPILL_MAX_PAGE_BYTES];
} ooc_spill_t;

/* Mount the ring: validate `cfg`, recover the ring state from the sector and record headers,
   take the boot number (cfg->min_boot when set, whatever the ring holds; else the ring's highest
   + 1), append its boot record (opening a sector if needed) and derive this boot's keys. A blank
   or unrecognisable partition is formatted as the ring goes. Errors: OOC_ERR_ARG
   (configuration), OOC_ERR_IO (flash), OOC_ERR_SPILL_EXHAUSTED (without min_boot, a ring at boot
   2^32 - 1; or its ring sequence at 2^32 - 1 when a sector must be opened). */
int ooc_spill_mount(ooc_spill_t *sp, const ooc_spill_config_t *cfg);

/* Append a spill of `len` bytes (1 .. ooc_spill_max_payload()) of `data` as (tensor, tile):
   encrypt, tag and program it, opening (erasing) the next sector first when it does not fit in
   the head sector. On success *ref describes it. OOC_ERR_SPILL_TOO_BIG, OOC_ERR_IO (the handle
   then needs a new mount), OOC_ERR_STATE (not mounted or failed), OOC_ERR_ARG. */
int ooc_spill_write(ooc_spill_t *sp, uint32_t tensor, uint32_t tile, const void *data, uint32_t len,
                    ooc_spill_ref_t *ref);

/* Read spill `ref` back into `out` (`len` bytes; `tensor`, `tile` and `len` must be the ref's,
   else OOC_ERR_ARG). Reads the record (header, ciphertext into `out`, tag: three reads), checks
   the header and the tag in constant time against what `ref` says, and only then decrypts in
   place. OOC_ERR_AUTH when any byte differs and OOC_ERR_IO when a read fails: `out` is then all
   zero. OOC_ERR_SPILL_STALE (the ring has come back to the record's sector, or the ref is from
   another mount), OOC_ERR_ARG and OOC_ERR_STATE are found before reading: `out` is untouched. */
int ooc_spill_read(ooc_spill_t *sp, const ooc_spill_ref_t *ref, uint32_t tensor, uint32_t tile,
                   void *out, uint32_t len);

/* Where the record written right after `prev` lands, when nothing else is written in between:
   fills *next for a spill of `len` bytes as (tensor, tile), as ooc_spill_write() would have
   (same boot, next sequence number; the next sector when it does not fit behind `prev`). A
   writer that appends a tensor's tiles one after another keeps only its first ref: the others
   follow from it. A wrong guess cannot pass ooc_spill_read(): the tag covers all of it.
   OOC_ERR_ARG for a bad ref or length. */
int ooc_spill_ref_next(const ooc_spill_t *sp, const ooc_spill_ref_t *prev, uint32_t tensor,
                       uint32_t tile, uint32_t len, ooc_spill_ref_t *next);

/* The ring's state and traffic counters. */
int ooc_spill_status(const ooc_spill_t *sp, ooc_spill_status_t *st);

/* This boot's number (0 when not mounted or failed). A device with trusted monotonic storage
   persists it before the first spill, and passes it + 1 as min_boot at the next mount. */
uint32_t ooc_spill_boot(const ooc_spill_t *sp);

/* Per-sector erase counts as the sector headers give them (read from the flash now): counts[i]
   for sector i, for i < min(n, n_sectors). A sector without a valid header reports the count the
   ring will start from: the head's next_count + 1 for the sector after the head (its erase was
   cut, or its header), else 0 (no history). Returns n_sectors, or a negative error. Works on a
   failed handle (flash permitting). */
int ooc_spill_erase_counts(ooc_spill_t *sp, uint32_t *counts, uint32_t n);

/* Wipe the keys; the handle must be mounted again before use. */
void ooc_spill_unmount(ooc_spill_t *sp);

/* Flash bytes of the record of a `len`-byte spill (header, payload, tag, padding to 16). */
uint32_t ooc_spill_record_bytes(uint32_t len);

/* The largest spill a sector holds: sector_bytes - 32 (sector header) - 48 (record overhead). */
uint32_t ooc_spill_max_payload(uint32_t sector_bytes);

/* Pure prediction of the flash traffic of `n` writes of lens[i] bytes appended at write offset
   `position` of the head sector (ooc_spill_status().position; sector_bytes when full): bytes
   programmed, page program commands and sector erases, exactly as ooc_spill_write() issues them
   on a ring in normal operation. *position_out (may be NULL) is the write offset afterwards.
   OOC_ERR_ARG for a bad geometry or position, OOC_ERR_SPILL_TOO_BIG for a too large len. */
int ooc_spill_predict(const ooc_spill_geometry_t *g, uint32_t position, const uint32_t *lens,
                      uint32_t n, ooc_spill_cost_t *cost, uint32_t *position_out);

#ifdef __cplusplus
}
#endif

#endif /* OOC_SPILL_H */
