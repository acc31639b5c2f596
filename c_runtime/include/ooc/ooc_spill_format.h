/*
 * ooc activation spill ring: byte layout of the sector and record headers.
 *
 * GENERATED from ooc_sdk/formats/spill.py by `python -m ooc_sdk.formats --write-c-headers`; do not
 * edit. docs/spill.md describes every field, the key schedule and the recovery rules. All integers
 * are little-endian; read them with explicit byte loads.
 */
#ifndef OOC_SPILL_FORMAT_H
#define OOC_SPILL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OOC_SPILL_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define OOC_SPILL_STATIC_ASSERT(name, cond) typedef char ooc_spill_assert_##name[(cond) ? 1 : -1]
#endif

#define OOC_SPILL_MAGIC { 'O', 'O', 'C', 'S' }
#define OOC_SPILL_VERSION 1u
#define OOC_SPILL_RECORD_DATA 1u /* header, ciphertext, 16-byte tag */
#define OOC_SPILL_RECORD_BOOT 2u /* header only: this boot number is taken */
#define OOC_SPILL_RECORD_ALIGN 16u /* records start on 16-byte boundaries */
#define OOC_SPILL_TAG_BYTES 16u /* a data record's tag, after its ciphertext */
#define OOC_SPILL_NEXT_CHECK_XOR 0x7FFFFFFFu /* next_check = next_count ^ this */
#define OOC_SPILL_SALT_BYTES 16u /* ooc_spill_config_t.boot_salt */
#define OOC_SPILL_LABEL_ENC "ooc spill enc"
#define OOC_SPILL_LABEL_MAC "ooc spill mac"

/* sector header (32 bytes). At offset 0 of every ring sector. */
#define OOC_SPILL_SECTOR_HEADER_BYTES 32u
#define OOC_SPILL_SH_MAGIC 0u /* "OOCS" */
#define OOC_SPILL_SH_VERSION 4u /* OOC_SPILL_VERSION */
#define OOC_SPILL_SH_RESERVED 5u /* 0 */
#define OOC_SPILL_SH_HEADER_BYTES 6u /* 32 */
#define OOC_SPILL_SH_ERASE_COUNT 8u /* erases of this sector, the one before this header included */
#define OOC_SPILL_SH_RING_SEQ 12u /* 1 for the first sector the ring opened, +1 for each since */
#define OOC_SPILL_SH_BOOT 16u /* the boot that opened the sector */
#define OOC_SPILL_SH_CRC 20u /* CRC-32 (zlib) of the bytes before it */
#define OOC_SPILL_SH_NEXT_COUNT 24u /* the next sector's erase count, written just before its erase */
#define OOC_SPILL_SH_NEXT_CHECK 28u /* next_count ^ OOC_SPILL_NEXT_CHECK_XOR */
typedef struct {
    uint8_t magic[4];
    uint8_t version;
    uint8_t reserved;
    uint16_t header_bytes;
    uint32_t erase_count;
    uint32_t ring_seq;
    uint32_t boot;
    uint32_t crc;
    uint32_t next_count;
    uint32_t next_check;
} ooc_spill_sector_header_t;
OOC_SPILL_STATIC_ASSERT(SH_size, sizeof(ooc_spill_sector_header_t) == OOC_SPILL_SECTOR_HEADER_BYTES);
OOC_SPILL_STATIC_ASSERT(SH_magic, offsetof(ooc_spill_sector_header_t, magic) == OOC_SPILL_SH_MAGIC);
OOC_SPILL_STATIC_ASSERT(SH_version, offsetof(ooc_spill_sector_header_t, version) == OOC_SPILL_SH_VERSION);
OOC_SPILL_STATIC_ASSERT(SH_reserved, offsetof(ooc_spill_sector_header_t, reserved) == OOC_SPILL_SH_RESERVED);
OOC_SPILL_STATIC_ASSERT(SH_header_bytes, offsetof(ooc_spill_sector_header_t, header_bytes) == OOC_SPILL_SH_HEADER_BYTES);
OOC_SPILL_STATIC_ASSERT(SH_erase_count, offsetof(ooc_spill_sector_header_t, erase_count) == OOC_SPILL_SH_ERASE_COUNT);
OOC_SPILL_STATIC_ASSERT(SH_ring_seq, offsetof(ooc_spill_sector_header_t, ring_seq) == OOC_SPILL_SH_RING_SEQ);
OOC_SPILL_STATIC_ASSERT(SH_boot, offsetof(ooc_spill_sector_header_t, boot) == OOC_SPILL_SH_BOOT);
OOC_SPILL_STATIC_ASSERT(SH_crc, offsetof(ooc_spill_sector_header_t, crc) == OOC_SPILL_SH_CRC);
OOC_SPILL_STATIC_ASSERT(SH_next_count, offsetof(ooc_spill_sector_header_t, next_count) == OOC_SPILL_SH_NEXT_COUNT);
OOC_SPILL_STATIC_ASSERT(SH_next_check, offsetof(ooc_spill_sector_header_t, next_check) == OOC_SPILL_SH_NEXT_CHECK);

/* record header (32 bytes). At a 16-byte boundary of a sector; the tag covers it. */
#define OOC_SPILL_RECORD_HEADER_BYTES 32u
#define OOC_SPILL_RH_TYPE 0u /* OOC_SPILL_RECORD_*; 0xFF: free space */
#define OOC_SPILL_RH_VERSION 1u /* OOC_SPILL_VERSION */
#define OOC_SPILL_RH_RESERVED 2u /* 0 */
#define OOC_SPILL_RH_LENGTH 4u /* payload bytes (0 for a boot record) */
#define OOC_SPILL_RH_BOOT 8u /* the boot that wrote it */
#define OOC_SPILL_RH_TENSOR 12u /* tensor id (0 for a boot record) */
#define OOC_SPILL_RH_TILE 16u /* tile id (0 for a boot record) */
#define OOC_SPILL_RH_SEQ 20u /* write sequence in this boot (0: boot record) */
#define OOC_SPILL_RH_CRC 28u /* CRC-32 (zlib) of the bytes before it */
typedef struct {
    uint8_t type;
    uint8_t version;
    uint16_t reserved;
    uint32_t length;
    uint32_t boot;
    uint32_t tensor;
    uint32_t tile;
    uint8_t seq[8]; /* uint64_t, unaligned */
    uint32_t crc;
} ooc_spill_record_header_t;
OOC_SPILL_STATIC_ASSERT(RH_size, sizeof(ooc_spill_record_header_t) == OOC_SPILL_RECORD_HEADER_BYTES);
OOC_SPILL_STATIC_ASSERT(RH_type, offsetof(ooc_spill_record_header_t, type) == OOC_SPILL_RH_TYPE);
OOC_SPILL_STATIC_ASSERT(RH_version, offsetof(ooc_spill_record_header_t, version) == OOC_SPILL_RH_VERSION);
OOC_SPILL_STATIC_ASSERT(RH_reserved, offsetof(ooc_spill_record_header_t, reserved) == OOC_SPILL_RH_RESERVED);
OOC_SPILL_STATIC_ASSERT(RH_length, offsetof(ooc_spill_record_header_t, length) == OOC_SPILL_RH_LENGTH);
OOC_SPILL_STATIC_ASSERT(RH_boot, offsetof(ooc_spill_record_header_t, boot) == OOC_SPILL_RH_BOOT);
OOC_SPILL_STATIC_ASSERT(RH_tensor, offsetof(ooc_spill_record_header_t, tensor) == OOC_SPILL_RH_TENSOR);
OOC_SPILL_STATIC_ASSERT(RH_tile, offsetof(ooc_spill_record_header_t, tile) == OOC_SPILL_RH_TILE);
OOC_SPILL_STATIC_ASSERT(RH_seq, offsetof(ooc_spill_record_header_t, seq) == OOC_SPILL_RH_SEQ);
OOC_SPILL_STATIC_ASSERT(RH_crc, offsetof(ooc_spill_record_header_t, crc) == OOC_SPILL_RH_CRC);

#endif /* OOC_SPILL_FORMAT_H */
