/*
 * Host port: an emulated serial NOR flash, backed by a file (or held only in memory).
 *
 * Host-only code (stdio, malloc): it stands in for the external SPI NOR chip in tests, tools and
 * benchmarks. It enforces what a real part does and what a driver must respect:
 *
 *   - erased bytes read 0xFF; programming can only clear bits (the result is old & new), and a
 *     program that would need a 0 -> 1 bit is refused with OOC_NOR_ERR_SETS_BITS, nothing written;
 *   - a program stays within one page; an erase takes a sector-aligned address;
 *   - one asynchronous (DMA-like) read may be outstanding at a time, and nothing else may use the
 *     bus meanwhile;
 *   - power loss can be injected: the n-th program or erase from now is cut short and every later
 *     operation fails with OOC_NOR_ERR_POWER_LOSS until ooc_nor_power_cycle().
 *
 * It counts traffic and models busy time from the profile (a read costs read_command_s +
 * len / read_bytes_per_s, a page program page_program_s, a sector erase sector_erase_s), and
 * keeps per-sector erase counts (wear), persisted with lifetime totals in a sidecar file.
 *
 * Files. With a path, the contents live in memory and are written back by ooc_nor_sync() and
 * ooc_nor_close(): each file is written to "<file>.tmp", flushed (and fsync'ed on POSIX hosts),
 * then renamed over the old one, so an interrupted write never leaves a half-written file. A
 * missing flash file is created erased (exactly size_bytes of 0xFF) at open; an existing one must
 * be exactly size_bytes long.
 *
 * Wear sidecar "<path>.wear": little-endian binary, 92 + 4 * n_sectors bytes (its layout is
 * generated into ooc_nor_wear_format.h from ooc_sdk/formats/norwear.py):
 *
 *     offset  size  field
 *          0     8  magic "OOCNORW1"
 *          8     4  format version, 1
 *         12     4  sector_bytes
 *         16     4  n_sectors (size_bytes / sector_bytes)
 *         20     4  reserved, 0
 *         24     8  lifetime bytes_read
 *         32     8  lifetime read_commands
 *         40     8  lifetime bytes_programmed
 *         48     8  lifetime program_ops
 *         56     8  lifetime erase_ops
 *         64     8  lifetime read busy time, nanoseconds (rounded)
 *         72     8  lifetime program busy time, nanoseconds
 *         80     8  lifetime erase busy time, nanoseconds
 *         88  4*n   erase count of each sector, sector 0 first
 *     88+4n     4  CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it
 *
 * It is loaded at open when present (a missing sidecar means no history; a sidecar beside a
 * flash file that has to be created is ignored and replaced), and rewritten after the flash file
 * on every sync. A bad magic, version, length or CRC is OOC_NOR_ERR_WEAR_CORRUPT; a valid sidecar
 * for another geometry (sector size or count) is OOC_NOR_ERR_WEAR_MISMATCH.
 *
 * Counting rules: operations refused by a check (range, alignment, page crossing, sets bits,
 * busy, power lost) change nothing and count nothing, and do not advance the power-loss
 * countdown. A read of 0 bytes succeeds and counts nothing. The interrupted operation of a power
 * loss counts as one operation with its full busy time (the chip was working when power went),
 * bytes_programmed counts only the bytes it actually wrote, and an interrupted erase adds one to
 * the sector's erase count.
 */
#ifndef OOC_NOR_EMU_H
#define OOC_NOR_EMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: every function returns 0 (OOC_NOR_OK) or one of these. */
typedef enum {
    OOC_NOR_OK = 0,
    OOC_NOR_ERR_ARG = -1,            /* NULL pointer, zero length program, not open, ... */
    OOC_NOR_ERR_PROFILE = -2,        /* invalid geometry or timing */
    OOC_NOR_ERR_NOMEM = -3,          /* allocation failed */
    OOC_NOR_ERR_IO = -4,             /* reading or writing a file failed */
    OOC_NOR_ERR_NOT_FOUND = -5,      /* the flash file is missing and may not be created */
    OOC_NOR_ERR_FILE_SIZE = -6,      /* the flash file is not exactly size_bytes long */
    OOC_NOR_ERR_WEAR_CORRUPT = -7,   /* the wear sidecar is malformed */
    OOC_NOR_ERR_WEAR_MISMATCH = -8,  /* the wear sidecar describes another geometry */
    OOC_NOR_ERR_RANGE = -9,          /* address range outside the flash */
    OOC_NOR_ERR_ALIGN = -10,         /* erase address not sector-aligned */
    OOC_NOR_ERR_PAGE_CROSS = -11,    /* program range crosses a page boundary */
    OOC_NOR_ERR_SETS_BITS = -12,     /* program would need a 0 -> 1 bit: refused, nothing written */
    OOC_NOR_ERR_BUSY = -13,          /* an asynchronous read is outstanding */
    OOC_NOR_ERR_IDLE = -14,          /* wait with no asynchronous read outstanding */
    OOC_NOR_ERR_POWER_LOSS = -15,    /* power lost (injected); see ooc_nor_power_cycle() */
    OOC_NOR_ERR_READ_ONLY = -16,     /* program or erase on an emulator opened read-only */
    OOC_NOR_ERR_VERIFY = -17         /* for tools: read-back differs from what was written */
} ooc_nor_status_t;

/* Open flags. */
#define OOC_NOR_DEBUG_ASYNC 0x1u /* read_start fills the buffer with 0xA5, read_wait copies */
#define OOC_NOR_NO_CREATE 0x2u   /* a missing flash file is OOC_NOR_ERR_NOT_FOUND */
#define OOC_NOR_READ_ONLY 0x4u   /* implies NO_CREATE: program/erase refused, files never written */
#define OOC_NOR_NO_WEAR 0x8u     /* no sidecar: not loaded, not written (e.g. to read a flash file
                                    whose geometry is unknown) */

/* Geometry and timing. page_bytes and sector_bytes: powers of two, sector a multiple of the page,
   size a non-zero multiple of the sector. read_bytes_per_s > 0; the times finite and >= 0. */
typedef struct {
    uint32_t size_bytes;
    uint32_t page_bytes;
    uint32_t sector_bytes;
    double read_bytes_per_s; /* sustained read throughput */
    double read_command_s;   /* per read command: opcode, address, dummy clocks, chip select */
    double page_program_s;   /* per page program */
    double sector_erase_s;   /* per sector erase */
} ooc_nor_profile_t;

/* Traffic and modeled busy time. */
typedef struct {
    uint64_t bytes_read;
    uint64_t read_commands;
    uint64_t bytes_programmed;
    uint64_t program_ops; /* page program commands */
    uint64_t erase_ops;   /* sector erase commands */
    double read_busy_s;
    double program_busy_s;
    double erase_busy_s;
    double busy_s; /* the sum of the three */
} ooc_nor_counters_t;

/* Summary of the per-sector erase counts. */
typedef struct {
    uint32_t n_sectors;
    uint32_t max_erases;
    uint32_t min_erases;
    uint64_t total_erases;
    uint32_t sectors_erased; /* sectors erased at least once */
} ooc_nor_wear_t;

/* The emulator. Allocate it (any contents), ooc_nor_open() it, ooc_nor_close() it. Treat the
   fields as private. */
typedef struct {
    ooc_nor_profile_t profile;
    uint32_t flags;
    uint32_t n_sectors;
    uint8_t *data;
    uint32_t *erase_counts;
    char *path; /* NULL: memory only */
    ooc_nor_counters_t counters; /* since open or ooc_nor_reset_counters() */
    ooc_nor_counters_t lifetime; /* all history, persisted in the sidecar */
    int dirty_data, dirty_wear;
    uint32_t fail_countdown;
    int power_lost;
    int pending;
    uint32_t pending_addr, pending_len;
    void *pending_buf;
    uint32_t magic;
} ooc_nor_t;

/* Check a profile: 0 or OOC_NOR_ERR_PROFILE (OOC_NOR_ERR_ARG for NULL). */
int ooc_nor_profile_check(const ooc_nor_profile_t *profile);

/* Open the emulator over the flash file `path`, or in memory only when path is NULL (erased,
   no history, nothing written anywhere). flags: OOC_NOR_* above. */
int ooc_nor_open(ooc_nor_t *nor, const char *path, const ooc_nor_profile_t *profile,
                 uint32_t flags);

/* Write the contents and the wear sidecar back (no-op in memory mode, read-only mode, or when
   nothing changed). Works in the power-lost state: it writes what the chip holds. */
int ooc_nor_sync(ooc_nor_t *nor);

/* Sync, then free everything. The emulator is closed even when the sync fails (its result is
   returned). */
int ooc_nor_close(ooc_nor_t *nor);

/* Read `len` bytes at `addr`; may span pages and sectors. The signature of ooc_flash_read_fn
   (ooc/ooc_image.h): pass the ooc_nor_t * as `user`. */
int ooc_nor_read(void *nor, uint32_t addr, void *buf, uint32_t len);

/* Asynchronous read, as a DMA driver gives it: start one, then wait for it; `buf` is valid only
   after a successful wait (with OOC_NOR_DEBUG_ASYNC it holds 0xA5 until then). A second start
   while one is outstanding is OOC_NOR_ERR_BUSY; a wait with none is OOC_NOR_ERR_IDLE. */
int ooc_nor_read_start(ooc_nor_t *nor, uint32_t addr, void *buf, uint32_t len);
int ooc_nor_read_wait(ooc_nor_t *nor);

/* Program `len` (>= 1) bytes at `addr`, all within one page. */
int ooc_nor_program(ooc_nor_t *nor, uint32_t addr, const void *data, uint32_t len);

/* Erase the sector starting at `addr` (sector-aligned) to 0xFF. */
int ooc_nor_erase_sector(ooc_nor_t *nor, uint32_t addr);

/* Power-loss injection: the n-th program-or-erase from now (1-based) is interrupted -- a program
   writes only the first len/2 bytes, an erase sets only the first half of the sector to 0xFF --
   and returns OOC_NOR_ERR_POWER_LOSS, as does every later read, program or erase until
   ooc_nor_power_cycle(). n = 0 disables. */
int ooc_nor_fail_after(ooc_nor_t *nor, uint32_t n);

/* "Reboot": leave the power-lost state, keep the contents, drop an outstanding read. */
int ooc_nor_power_cycle(ooc_nor_t *nor);

/* 1 when in the power-lost state, 0 when not (or nor is NULL). */
int ooc_nor_power_lost(const ooc_nor_t *nor);

/* Counters since open or the last reset; lifetime counters (persisted history, never reset). */
int ooc_nor_get_counters(const ooc_nor_t *nor, ooc_nor_counters_t *out);
int ooc_nor_get_lifetime_counters(const ooc_nor_t *nor, ooc_nor_counters_t *out);

/* Zero the counters since open. The erase counts and lifetime counters (the wear history) stay. */
int ooc_nor_reset_counters(ooc_nor_t *nor);

/* Per-sector erase counts: a read-only array of *n_sectors entries (NULL when not open). */
const uint32_t *ooc_nor_erase_counts(const ooc_nor_t *nor, uint32_t *n_sectors);
int ooc_nor_wear_summary(const ooc_nor_t *nor, ooc_nor_wear_t *out);

/* The contents, read-only, for inspection without counting (NULL when not open). */
const uint8_t *ooc_nor_contents(const ooc_nor_t *nor);

/* A constant description of a status code. */
const char *ooc_nor_strerror(int status);

#ifdef __cplusplus
}
#endif

#endif /* OOC_NOR_EMU_H */
