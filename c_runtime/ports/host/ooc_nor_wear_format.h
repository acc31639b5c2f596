/*
 * ooc NOR flash emulator: byte layout of the wear sidecar.
 *
 * GENERATED from ooc_sdk/formats/norwear.py by `python -m ooc_sdk.formats --write-c-headers`; do
 * not edit. ooc_nor_emu.h describes the file; all integers are little-endian.
 */
#ifndef OOC_NOR_WEAR_FORMAT_H
#define OOC_NOR_WEAR_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OOC_NORW_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define OOC_NORW_STATIC_ASSERT(name, cond) typedef char ooc_norw_assert_##name[(cond) ? 1 : -1]
#endif

#define OOC_NORW_MAGIC { 'O', 'O', 'C', 'N', 'O', 'R', 'W', '1' }
#define OOC_NORW_VERSION 1u
#define OOC_NORW_COUNT_BYTES 4u /* each sector's erase count (u32), after the header */
#define OOC_NORW_CRC_BYTES 4u /* CRC-32 (IEEE 802.3) of every byte before it, last */
#define OOC_NORW_FIXED_BYTES 92u /* header and CRC: the bytes besides the counts */

/* wear sidecar header (88 bytes). At offset 0 of the sidecar; n_sectors u32 erase counts and the CRC-32 follow. */
#define OOC_NORW_HEADER_BYTES 88u
#define OOC_NORW_WH_MAGIC 0u /* "OOCNORW1" */
#define OOC_NORW_WH_VERSION 8u /* VERSION (1) */
#define OOC_NORW_WH_SECTOR_BYTES 12u /* the emulated chip's erase sector */
#define OOC_NORW_WH_N_SECTORS 16u /* size_bytes / sector_bytes: the erase counts that follow */
#define OOC_NORW_WH_RESERVED 20u /* 0 */
#define OOC_NORW_WH_BYTES_READ 24u /* lifetime bytes read */
#define OOC_NORW_WH_READ_COMMANDS 32u /* lifetime read commands */
#define OOC_NORW_WH_BYTES_PROGRAMMED 40u /* lifetime bytes programmed */
#define OOC_NORW_WH_PROGRAM_OPS 48u /* lifetime page programs */
#define OOC_NORW_WH_ERASE_OPS 56u /* lifetime sector erases */
#define OOC_NORW_WH_READ_BUSY_NS 64u /* lifetime read busy time, nanoseconds (rounded) */
#define OOC_NORW_WH_PROGRAM_BUSY_NS 72u /* lifetime program busy time, nanoseconds */
#define OOC_NORW_WH_ERASE_BUSY_NS 80u /* lifetime erase busy time, nanoseconds */
typedef struct {
    uint8_t magic[8];
    uint32_t version;
    uint32_t sector_bytes;
    uint32_t n_sectors;
    uint32_t reserved;
    uint64_t bytes_read;
    uint64_t read_commands;
    uint64_t bytes_programmed;
    uint64_t program_ops;
    uint64_t erase_ops;
    uint64_t read_busy_ns;
    uint64_t program_busy_ns;
    uint64_t erase_busy_ns;
} ooc_norw_wear_sidecar_header_t;
OOC_NORW_STATIC_ASSERT(WH_size, sizeof(ooc_norw_wear_sidecar_header_t) == OOC_NORW_HEADER_BYTES);
OOC_NORW_STATIC_ASSERT(WH_magic, offsetof(ooc_norw_wear_sidecar_header_t, magic) == OOC_NORW_WH_MAGIC);
OOC_NORW_STATIC_ASSERT(WH_version, offsetof(ooc_norw_wear_sidecar_header_t, version) == OOC_NORW_WH_VERSION);
OOC_NORW_STATIC_ASSERT(WH_sector_bytes, offsetof(ooc_norw_wear_sidecar_header_t, sector_bytes) == OOC_NORW_WH_SECTOR_BYTES);
OOC_NORW_STATIC_ASSERT(WH_n_sectors, offsetof(ooc_norw_wear_sidecar_header_t, n_sectors) == OOC_NORW_WH_N_SECTORS);
OOC_NORW_STATIC_ASSERT(WH_reserved, offsetof(ooc_norw_wear_sidecar_header_t, reserved) == OOC_NORW_WH_RESERVED);
OOC_NORW_STATIC_ASSERT(WH_bytes_read, offsetof(ooc_norw_wear_sidecar_header_t, bytes_read) == OOC_NORW_WH_BYTES_READ);
OOC_NORW_STATIC_ASSERT(WH_read_commands, offsetof(ooc_norw_wear_sidecar_header_t, read_commands) == OOC_NORW_WH_READ_COMMANDS);
OOC_NORW_STATIC_ASSERT(WH_bytes_programmed, offsetof(ooc_norw_wear_sidecar_header_t, bytes_programmed) == OOC_NORW_WH_BYTES_PROGRAMMED);
OOC_NORW_STATIC_ASSERT(WH_program_ops, offsetof(ooc_norw_wear_sidecar_header_t, program_ops) == OOC_NORW_WH_PROGRAM_OPS);
OOC_NORW_STATIC_ASSERT(WH_erase_ops, offsetof(ooc_norw_wear_sidecar_header_t, erase_ops) == OOC_NORW_WH_ERASE_OPS);
OOC_NORW_STATIC_ASSERT(WH_read_busy_ns, offsetof(ooc_norw_wear_sidecar_header_t, read_busy_ns) == OOC_NORW_WH_READ_BUSY_NS);
OOC_NORW_STATIC_ASSERT(WH_program_busy_ns, offsetof(ooc_norw_wear_sidecar_header_t, program_busy_ns) == OOC_NORW_WH_PROGRAM_BUSY_NS);
OOC_NORW_STATIC_ASSERT(WH_erase_busy_ns, offsetof(ooc_norw_wear_sidecar_header_t, erase_busy_ns) == OOC_NORW_WH_ERASE_BUSY_NS);

#endif /* OOC_NOR_WEAR_FORMAT_H */
