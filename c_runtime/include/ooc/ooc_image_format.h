/*
 * ooc flash image format: offsets, sizes and constants.
 *
 * GENERATED from ooc_sdk/formats/image.py by `python -m ooc_sdk.formats --write-c-headers`; do not
 * edit. docs/FORMAT.md describes every field. All multi-byte fields are little-endian; read them
 * with explicit byte loads, never by casting flash bytes.
 */
#ifndef OOC_IMAGE_FORMAT_H
#define OOC_IMAGE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OOC_IMG_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define OOC_IMG_STATIC_ASSERT(name, cond) typedef char ooc_img_assert_##name[(cond) ? 1 : -1]
#endif

#define OOC_IMG_FORMAT_VERSION 1u
#define OOC_IMG_KEY_SLOT_VERSION 1u
#define OOC_IMG_PART_HEADER 1u
#define OOC_IMG_PART_WEIGHTS 2u
#define OOC_IMG_PART_SCRATCH 3u
#define OOC_IMG_PART_METADATA 4u
#define OOC_IMG_PART_INSTALL 5u
#define OOC_IMG_CIPHER_AES128_CTR 1u
#define OOC_IMG_CIPHER_AES256_CTR 2u
#define OOC_IMG_TAG_AES_CMAC 1u
#define OOC_IMG_TAG_POLY1305 2u
#define OOC_IMG_WRAP_AES_KW 1u
#define OOC_IMG_FLAG_SIGNED 1u
#define OOC_IMG_FLAG_APPROX 2u
#define OOC_IMG_SIGNATURE_VERSION 1u
#define OOC_IMG_SIG_ED25519 1u
#define OOC_IMG_INSTALL_VERSION 1u
#define OOC_IMG_PUBLIC_KEY_BYTES 32u
#define OOC_IMG_MAX_ANCHORS 4u
#define OOC_IMG_SIGNATURE_BYTES 64u
#define OOC_IMG_DIGEST_BYTES 64u
#define OOC_IMG_CHUNK_WEIGHTS 1u
#define OOC_IMG_CHUNK_DW_CHANNELS 2u
#define OOC_IMG_NONCE_DOMAIN_WEIGHTS 1u
#define OOC_IMG_DATA_COUNTER_START 2u
#define OOC_IMG_MAX_PARTITIONS 6u
#define OOC_IMG_UID_BYTES 16u
#define OOC_IMG_KEY_ID_BYTES 8u
#define OOC_IMG_BUILD_ID_BYTES 16u
#define OOC_IMG_NONCE_BYTES 12u
#define OOC_IMG_TAG_BYTES 16u
#define OOC_IMG_MAX_WRAPPED_BYTES 40u
#define OOC_IMG_SUPERBLOCK_OFFSET 0u
#define OOC_IMG_KEY_SLOT_OFFSET 128u
#define OOC_IMG_MANIFEST_OFFSET 256u
#define OOC_IMG_CHUNK_TABLE_OFFSET 512u
#define OOC_IMG_CHUNK_MAC_PREFIX 48u
#define OOC_IMG_SIGNED_BYTES 192u
#define OOC_IMG_INSTALL_MAC_PREFIX 48u

#define OOC_IMG_SUPERBLOCK_MAGIC { 'O', 'O', 'C', 'I' }
#define OOC_IMG_KEY_SLOT_MAGIC { 'O', 'O', 'C', 'K' }
#define OOC_IMG_MANIFEST_MAGIC { 'O', 'O', 'C', 'M' }
#define OOC_IMG_SIGNATURE_MAGIC { 'O', 'O', 'C', 'G' }
#define OOC_IMG_INSTALL_MAGIC { 'O', 'O', 'C', 'T' }
#define OOC_IMG_LABEL_KEY_ID "ooc key id"
#define OOC_IMG_LABEL_KEK "ooc kek"
#define OOC_IMG_LABEL_HEADER "ooc header mac"
#define OOC_IMG_LABEL_ENC "ooc weights enc"
#define OOC_IMG_LABEL_MAC "ooc weights mac"
#define OOC_IMG_LABEL_DEVICE_TAG "ooc device tag"
#define OOC_IMG_LABEL_INSTALL "ooc install record"

/* partition entry (12 bytes). One entry of the superblock's partition map. */
#define OOC_IMG_PART_BYTES 12u
#define OOC_IMG_PART_KIND 0u /* PART_* (0 = unused entry) */
#define OOC_IMG_PART_OFFSET 4u /* bytes from the image start; a multiple of sector_bytes */
#define OOC_IMG_PART_LENGTH 8u /* bytes; a multiple of sector_bytes */
typedef struct {
    uint32_t kind;
    uint32_t offset;
    uint32_t length;
} ooc_img_partition_entry_t;
OOC_IMG_STATIC_ASSERT(PART_size, sizeof(ooc_img_partition_entry_t) == OOC_IMG_PART_BYTES);
OOC_IMG_STATIC_ASSERT(PART_kind, offsetof(ooc_img_partition_entry_t, kind) == OOC_IMG_PART_KIND);
OOC_IMG_STATIC_ASSERT(PART_offset, offsetof(ooc_img_partition_entry_t, offset) == OOC_IMG_PART_OFFSET);
OOC_IMG_STATIC_ASSERT(PART_length, offsetof(ooc_img_partition_entry_t, length) == OOC_IMG_PART_LENGTH);

/* superblock (128 bytes). At offset 0. Authenticated by the header tag. */
#define OOC_IMG_SB_BYTES 128u
#define OOC_IMG_SB_MAGIC 0u /* b"OOCI" */
#define OOC_IMG_SB_FORMAT_VERSION 4u /* FORMAT_VERSION (1) */
#define OOC_IMG_SB_SUPERBLOCK_BYTES 6u /* 128 */
#define OOC_IMG_SB_HEADER_BYTES 8u /* end of the header tag: bytes from the image start */
#define OOC_IMG_SB_IMAGE_BYTES 12u /* total image length, a multiple of sector_bytes */
#define OOC_IMG_SB_PAGE_BYTES 16u /* flash program page (power of two) */
#define OOC_IMG_SB_SECTOR_BYTES 20u /* flash erase sector (power of two, multiple of page_bytes) */
#define OOC_IMG_SB_FLASH_BYTES 24u /* size of the flash chip the image was built for */
#define OOC_IMG_SB_BASE_OFFSET 28u /* flash offset the image was built to sit at */
#define OOC_IMG_SB_BUILD_ID 32u /* random per image build; KDF context */
#define OOC_IMG_SB_N_PARTITIONS 48u /* used entries of the partition map (1..6) */
#define OOC_IMG_SB_PARTITIONS 52u /* 6 partition entries */
#define OOC_IMG_SB_RESERVED 124u /* zero */
typedef struct {
    uint8_t magic[4];
    uint16_t format_version;
    uint16_t superblock_bytes;
    uint32_t header_bytes;
    uint32_t image_bytes;
    uint32_t page_bytes;
    uint32_t sector_bytes;
    uint32_t flash_bytes;
    uint32_t base_offset;
    uint8_t build_id[16];
    uint32_t n_partitions;
    uint8_t partitions[72];
    uint8_t reserved[4];
} ooc_img_superblock_t;
OOC_IMG_STATIC_ASSERT(SB_size, sizeof(ooc_img_superblock_t) == OOC_IMG_SB_BYTES);
OOC_IMG_STATIC_ASSERT(SB_magic, offsetof(ooc_img_superblock_t, magic) == OOC_IMG_SB_MAGIC);
OOC_IMG_STATIC_ASSERT(SB_format_version, offsetof(ooc_img_superblock_t, format_version) == OOC_IMG_SB_FORMAT_VERSION);
OOC_IMG_STATIC_ASSERT(SB_superblock_bytes, offsetof(ooc_img_superblock_t, superblock_bytes) == OOC_IMG_SB_SUPERBLOCK_BYTES);
OOC_IMG_STATIC_ASSERT(SB_header_bytes, offsetof(ooc_img_superblock_t, header_bytes) == OOC_IMG_SB_HEADER_BYTES);
OOC_IMG_STATIC_ASSERT(SB_image_bytes, offsetof(ooc_img_superblock_t, image_bytes) == OOC_IMG_SB_IMAGE_BYTES);
OOC_IMG_STATIC_ASSERT(SB_page_bytes, offsetof(ooc_img_superblock_t, page_bytes) == OOC_IMG_SB_PAGE_BYTES);
OOC_IMG_STATIC_ASSERT(SB_sector_bytes, offsetof(ooc_img_superblock_t, sector_bytes) == OOC_IMG_SB_SECTOR_BYTES);
OOC_IMG_STATIC_ASSERT(SB_flash_bytes, offsetof(ooc_img_superblock_t, flash_bytes) == OOC_IMG_SB_FLASH_BYTES);
OOC_IMG_STATIC_ASSERT(SB_base_offset, offsetof(ooc_img_superblock_t, base_offset) == OOC_IMG_SB_BASE_OFFSET);
OOC_IMG_STATIC_ASSERT(SB_build_id, offsetof(ooc_img_superblock_t, build_id) == OOC_IMG_SB_BUILD_ID);
OOC_IMG_STATIC_ASSERT(SB_n_partitions, offsetof(ooc_img_superblock_t, n_partitions) == OOC_IMG_SB_N_PARTITIONS);
OOC_IMG_STATIC_ASSERT(SB_partitions, offsetof(ooc_img_superblock_t, partitions) == OOC_IMG_SB_PARTITIONS);
OOC_IMG_STATIC_ASSERT(SB_reserved, offsetof(ooc_img_superblock_t, reserved) == OOC_IMG_SB_RESERVED);

/* key slot (128 bytes). At offset 128. Per device; not covered by the header tag (RFC 3394 checks it). */
#define OOC_IMG_KS_BYTES 128u
#define OOC_IMG_KS_MAGIC 0u /* b"OOCK" */
#define OOC_IMG_KS_VERSION 4u /* KEY_SLOT_VERSION (1) */
#define OOC_IMG_KS_WRAP_ALG 5u /* WRAP_AES_KW (1) */
#define OOC_IMG_KS_CONTENT_KEY_BYTES 6u /* 16 or 32: the wrapped key's length */
#define OOC_IMG_KS_ROOT_KEY_BYTES 7u /* 16 or 32: the device root key's length */
#define OOC_IMG_KS_DEVICE_UID 8u /* the device this slot is for (UID, zero-padded) */
#define OOC_IMG_KS_KEY_ID 24u /* KDF(root key, 'ooc key id', uid): a public fingerprint */
#define OOC_IMG_KS_WRAPPED_KEY 32u /* RFC 3394 wrap of the content key, zero-padded */
#define OOC_IMG_KS_RESERVED 72u /* zero */
typedef struct {
    uint8_t magic[4];
    uint8_t version;
    uint8_t wrap_alg;
    uint8_t content_key_bytes;
    uint8_t root_key_bytes;
    uint8_t device_uid[16];
    uint8_t key_id[8];
    uint8_t wrapped_key[40];
    uint8_t reserved[56];
} ooc_img_key_slot_t;
OOC_IMG_STATIC_ASSERT(KS_size, sizeof(ooc_img_key_slot_t) == OOC_IMG_KS_BYTES);
OOC_IMG_STATIC_ASSERT(KS_magic, offsetof(ooc_img_key_slot_t, magic) == OOC_IMG_KS_MAGIC);
OOC_IMG_STATIC_ASSERT(KS_version, offsetof(ooc_img_key_slot_t, version) == OOC_IMG_KS_VERSION);
OOC_IMG_STATIC_ASSERT(KS_wrap_alg, offsetof(ooc_img_key_slot_t, wrap_alg) == OOC_IMG_KS_WRAP_ALG);
OOC_IMG_STATIC_ASSERT(KS_content_key_bytes, offsetof(ooc_img_key_slot_t, content_key_bytes) == OOC_IMG_KS_CONTENT_KEY_BYTES);
OOC_IMG_STATIC_ASSERT(KS_root_key_bytes, offsetof(ooc_img_key_slot_t, root_key_bytes) == OOC_IMG_KS_ROOT_KEY_BYTES);
OOC_IMG_STATIC_ASSERT(KS_device_uid, offsetof(ooc_img_key_slot_t, device_uid) == OOC_IMG_KS_DEVICE_UID);
OOC_IMG_STATIC_ASSERT(KS_key_id, offsetof(ooc_img_key_slot_t, key_id) == OOC_IMG_KS_KEY_ID);
OOC_IMG_STATIC_ASSERT(KS_wrapped_key, offsetof(ooc_img_key_slot_t, wrapped_key) == OOC_IMG_KS_WRAPPED_KEY);
OOC_IMG_STATIC_ASSERT(KS_reserved, offsetof(ooc_img_key_slot_t, reserved) == OOC_IMG_KS_RESERVED);

/* manifest (256 bytes). At offset 256. Authenticated by the header tag. */
#define OOC_IMG_MF_BYTES 256u
#define OOC_IMG_MF_MAGIC 0u /* b"OOCM" */
#define OOC_IMG_MF_MANIFEST_BYTES 4u /* 256 */
#define OOC_IMG_MF_CIPHER 6u /* CIPHER_* (content key length) */
#define OOC_IMG_MF_TAG_ALG 7u /* TAG_*: how chunk tags are computed */
#define OOC_IMG_MF_SECURITY_COUNTER 8u /* anti-rollback: devices refuse a lower value */
#define OOC_IMG_MF_N_CHUNKS 12u /* entries in the chunk table */
#define OOC_IMG_MF_CHUNK_ENTRY_BYTES 16u /* 64 */
#define OOC_IMG_MF_FLAGS 18u /* FLAG_SIGNED (1): a signature block follows the header tag; FLAG_APPROX (2): an approximate build (operand groups skipped; informative); else 0 */
#define OOC_IMG_MF_CHUNK_TABLE_OFFSET 20u /* 512 */
#define OOC_IMG_MF_HEADER_TAG_OFFSET 24u /* chunk_table_offset + 64 * n_chunks */
#define OOC_IMG_MF_WEIGHTS_BYTES 28u /* sum of chunk lengths */
#define OOC_IMG_MF_MAX_CHUNK_BYTES 32u /* largest chunk: the buffer a reader needs */
#define OOC_IMG_MF_CHUNK_ALIGN 36u /* chunk start alignment in the weights partition */
#define OOC_IMG_MF_SCRATCH_BYTES 40u /* length of the scratch partition */
#define OOC_IMG_MF_N_TENSORS 44u /* constant tensors stored */
#define OOC_IMG_MF_CREATED_UNIX 48u /* build time, seconds since 1970 (UTC) */
#define OOC_IMG_MF_MODEL_SHA256 56u /* SHA-256 of the .tflite file */
#define OOC_IMG_MF_PLAN_ID 88u /* SHA-256 prefix of the chunk plan (ids the firmware tables) */
#define OOC_IMG_MF_MODEL_NAME 104u /* UTF-8, NUL-padded */
#define OOC_IMG_MF_SDK_VERSION 136u /* ASCII, NUL-padded */
#define OOC_IMG_MF_RESERVED 152u /* zero */
typedef struct {
    uint8_t magic[4];
    uint16_t manifest_bytes;
    uint8_t cipher;
    uint8_t tag_alg;
    uint32_t security_counter;
    uint32_t n_chunks;
    uint16_t chunk_entry_bytes;
    uint16_t flags;
    uint32_t chunk_table_offset;
    uint32_t header_tag_offset;
    uint32_t weights_bytes;
    uint32_t max_chunk_bytes;
    uint32_t chunk_align;
    uint32_t scratch_bytes;
    uint32_t n_tensors;
    uint64_t created_unix;
    uint8_t model_sha256[32];
    uint8_t plan_id[16];
    uint8_t model_name[32];
    uint8_t sdk_version[16];
    uint8_t reserved[104];
} ooc_img_manifest_t;
OOC_IMG_STATIC_ASSERT(MF_size, sizeof(ooc_img_manifest_t) == OOC_IMG_MF_BYTES);
OOC_IMG_STATIC_ASSERT(MF_magic, offsetof(ooc_img_manifest_t, magic) == OOC_IMG_MF_MAGIC);
OOC_IMG_STATIC_ASSERT(MF_manifest_bytes, offsetof(ooc_img_manifest_t, manifest_bytes) == OOC_IMG_MF_MANIFEST_BYTES);
OOC_IMG_STATIC_ASSERT(MF_cipher, offsetof(ooc_img_manifest_t, cipher) == OOC_IMG_MF_CIPHER);
OOC_IMG_STATIC_ASSERT(MF_tag_alg, offsetof(ooc_img_manifest_t, tag_alg) == OOC_IMG_MF_TAG_ALG);
OOC_IMG_STATIC_ASSERT(MF_security_counter, offsetof(ooc_img_manifest_t, security_counter) == OOC_IMG_MF_SECURITY_COUNTER);
OOC_IMG_STATIC_ASSERT(MF_n_chunks, offsetof(ooc_img_manifest_t, n_chunks) == OOC_IMG_MF_N_CHUNKS);
OOC_IMG_STATIC_ASSERT(MF_chunk_entry_bytes, offsetof(ooc_img_manifest_t, chunk_entry_bytes) == OOC_IMG_MF_CHUNK_ENTRY_BYTES);
OOC_IMG_STATIC_ASSERT(MF_flags, offsetof(ooc_img_manifest_t, flags) == OOC_IMG_MF_FLAGS);
OOC_IMG_STATIC_ASSERT(MF_chunk_table_offset, offsetof(ooc_img_manifest_t, chunk_table_offset) == OOC_IMG_MF_CHUNK_TABLE_OFFSET);
OOC_IMG_STATIC_ASSERT(MF_header_tag_offset, offsetof(ooc_img_manifest_t, header_tag_offset) == OOC_IMG_MF_HEADER_TAG_OFFSET);
OOC_IMG_STATIC_ASSERT(MF_weights_bytes, offsetof(ooc_img_manifest_t, weights_bytes) == OOC_IMG_MF_WEIGHTS_BYTES);
OOC_IMG_STATIC_ASSERT(MF_max_chunk_bytes, offsetof(ooc_img_manifest_t, max_chunk_bytes) == OOC_IMG_MF_MAX_CHUNK_BYTES);
OOC_IMG_STATIC_ASSERT(MF_chunk_align, offsetof(ooc_img_manifest_t, chunk_align) == OOC_IMG_MF_CHUNK_ALIGN);
OOC_IMG_STATIC_ASSERT(MF_scratch_bytes, offsetof(ooc_img_manifest_t, scratch_bytes) == OOC_IMG_MF_SCRATCH_BYTES);
OOC_IMG_STATIC_ASSERT(MF_n_tensors, offsetof(ooc_img_manifest_t, n_tensors) == OOC_IMG_MF_N_TENSORS);
OOC_IMG_STATIC_ASSERT(MF_created_unix, offsetof(ooc_img_manifest_t, created_unix) == OOC_IMG_MF_CREATED_UNIX);
OOC_IMG_STATIC_ASSERT(MF_model_sha256, offsetof(ooc_img_manifest_t, model_sha256) == OOC_IMG_MF_MODEL_SHA256);
OOC_IMG_STATIC_ASSERT(MF_plan_id, offsetof(ooc_img_manifest_t, plan_id) == OOC_IMG_MF_PLAN_ID);
OOC_IMG_STATIC_ASSERT(MF_model_name, offsetof(ooc_img_manifest_t, model_name) == OOC_IMG_MF_MODEL_NAME);
OOC_IMG_STATIC_ASSERT(MF_sdk_version, offsetof(ooc_img_manifest_t, sdk_version) == OOC_IMG_MF_SDK_VERSION);
OOC_IMG_STATIC_ASSERT(MF_reserved, offsetof(ooc_img_manifest_t, reserved) == OOC_IMG_MF_RESERVED);

/* chunk entry (64 bytes). The chunk table starts at manifest.chunk_table_offset. */
#define OOC_IMG_CE_BYTES 64u
#define OOC_IMG_CE_INDEX 0u /* position in the table */
#define OOC_IMG_CE_KIND 4u /* CHUNK_* */
#define OOC_IMG_CE_FLAGS 6u /* 0 */
#define OOC_IMG_CE_TENSOR 8u /* model tensor index whose data this chunk holds */
#define OOC_IMG_CE_TENSOR_OFFSET 12u /* weights: byte offset in the tensor; dw-channels: first channel */
#define OOC_IMG_CE_FLASH_OFFSET 16u /* bytes from the image start; multiple of chunk_align */
#define OOC_IMG_CE_LENGTH 20u /* plaintext (= ciphertext) bytes, 1..max_chunk_bytes */
#define OOC_IMG_CE_NONCE 24u /* CTR nonce: index (u32 LE) || NONCE_DOMAIN_WEIGHTS (u32 LE) || 0 */
#define OOC_IMG_CE_RESERVED 36u /* zero */
#define OOC_IMG_CE_TAG 48u /* over bytes 0..47 of this entry || ciphertext */
typedef struct {
    uint32_t index;
    uint16_t kind;
    uint16_t flags;
    uint32_t tensor;
    uint32_t tensor_offset;
    uint32_t flash_offset;
    uint32_t length;
    uint8_t nonce[12];
    uint8_t reserved[12];
    uint8_t tag[16];
} ooc_img_chunk_entry_t;
OOC_IMG_STATIC_ASSERT(CE_size, sizeof(ooc_img_chunk_entry_t) == OOC_IMG_CE_BYTES);
OOC_IMG_STATIC_ASSERT(CE_index, offsetof(ooc_img_chunk_entry_t, index) == OOC_IMG_CE_INDEX);
OOC_IMG_STATIC_ASSERT(CE_kind, offsetof(ooc_img_chunk_entry_t, kind) == OOC_IMG_CE_KIND);
OOC_IMG_STATIC_ASSERT(CE_flags, offsetof(ooc_img_chunk_entry_t, flags) == OOC_IMG_CE_FLAGS);
OOC_IMG_STATIC_ASSERT(CE_tensor, offsetof(ooc_img_chunk_entry_t, tensor) == OOC_IMG_CE_TENSOR);
OOC_IMG_STATIC_ASSERT(CE_tensor_offset, offsetof(ooc_img_chunk_entry_t, tensor_offset) == OOC_IMG_CE_TENSOR_OFFSET);
OOC_IMG_STATIC_ASSERT(CE_flash_offset, offsetof(ooc_img_chunk_entry_t, flash_offset) == OOC_IMG_CE_FLASH_OFFSET);
OOC_IMG_STATIC_ASSERT(CE_length, offsetof(ooc_img_chunk_entry_t, length) == OOC_IMG_CE_LENGTH);
OOC_IMG_STATIC_ASSERT(CE_nonce, offsetof(ooc_img_chunk_entry_t, nonce) == OOC_IMG_CE_NONCE);
OOC_IMG_STATIC_ASSERT(CE_reserved, offsetof(ooc_img_chunk_entry_t, reserved) == OOC_IMG_CE_RESERVED);
OOC_IMG_STATIC_ASSERT(CE_tag, offsetof(ooc_img_chunk_entry_t, tag) == OOC_IMG_CE_TAG);

/* signature block (256 bytes). Signed images: at manifest.header_tag_offset + 16; header_bytes is its end. */
#define OOC_IMG_SIG_BYTES 256u
#define OOC_IMG_SIG_MAGIC 0u /* b"OOCG" */
#define OOC_IMG_SIG_VERSION 4u /* SIGNATURE_VERSION (1) */
#define OOC_IMG_SIG_SIG_ALG 5u /* SIG_ED25519 (1) */
#define OOC_IMG_SIG_RESERVED 6u /* 0 */
#define OOC_IMG_SIG_SIGNER_KEY_ID 8u /* SHA-512 of the signer's raw public key, first 8 bytes */
#define OOC_IMG_SIG_HEADER_SHA512 16u /* SHA-512(superblock || manifest || chunk table || header tag) */
#define OOC_IMG_SIG_WEIGHTS_SHA512 80u /* SHA-512 of every chunk's ciphertext, in table order */
#define OOC_IMG_SIG_RESERVED2 144u /* zero */
#define OOC_IMG_SIG_SIGNATURE 192u /* Ed25519 signature of bytes 0..191 of this block */
typedef struct {
    uint8_t magic[4];
    uint8_t version;
    uint8_t sig_alg;
    uint16_t reserved;
    uint8_t signer_key_id[8];
    uint8_t header_sha512[64];
    uint8_t weights_sha512[64];
    uint8_t reserved2[48];
    uint8_t signature[64];
} ooc_img_signature_block_t;
OOC_IMG_STATIC_ASSERT(SIG_size, sizeof(ooc_img_signature_block_t) == OOC_IMG_SIG_BYTES);
OOC_IMG_STATIC_ASSERT(SIG_magic, offsetof(ooc_img_signature_block_t, magic) == OOC_IMG_SIG_MAGIC);
OOC_IMG_STATIC_ASSERT(SIG_version, offsetof(ooc_img_signature_block_t, version) == OOC_IMG_SIG_VERSION);
OOC_IMG_STATIC_ASSERT(SIG_sig_alg, offsetof(ooc_img_signature_block_t, sig_alg) == OOC_IMG_SIG_SIG_ALG);
OOC_IMG_STATIC_ASSERT(SIG_reserved, offsetof(ooc_img_signature_block_t, reserved) == OOC_IMG_SIG_RESERVED);
OOC_IMG_STATIC_ASSERT(SIG_signer_key_id, offsetof(ooc_img_signature_block_t, signer_key_id) == OOC_IMG_SIG_SIGNER_KEY_ID);
OOC_IMG_STATIC_ASSERT(SIG_header_sha512, offsetof(ooc_img_signature_block_t, header_sha512) == OOC_IMG_SIG_HEADER_SHA512);
OOC_IMG_STATIC_ASSERT(SIG_weights_sha512, offsetof(ooc_img_signature_block_t, weights_sha512) == OOC_IMG_SIG_WEIGHTS_SHA512);
OOC_IMG_STATIC_ASSERT(SIG_reserved2, offsetof(ooc_img_signature_block_t, reserved2) == OOC_IMG_SIG_RESERVED2);
OOC_IMG_STATIC_ASSERT(SIG_signature, offsetof(ooc_img_signature_block_t, signature) == OOC_IMG_SIG_SIGNATURE);

/* install record (64 bytes). Written by the device at offset 0 of the install partition, after the chunk tags (64 + 16 i). */
#define OOC_IMG_IR_BYTES 64u
#define OOC_IMG_IR_MAGIC 0u /* b"OOCT" */
#define OOC_IMG_IR_VERSION 4u /* INSTALL_VERSION (1) */
#define OOC_IMG_IR_RESERVED 5u /* zero */
#define OOC_IMG_IR_N_CHUNKS 8u /* the chunk tags that follow */
#define OOC_IMG_IR_SECURITY_COUNTER 12u /* the installed image's */
#define OOC_IMG_IR_BUILD_ID 16u /* the installed image's */
#define OOC_IMG_IR_SIGNATURE_ID 32u /* SHA-512 of the image's signature block, first 16 bytes */
#define OOC_IMG_IR_MAC 48u /* AES-CMAC(K_rec, bytes 0..47) */
typedef struct {
    uint8_t magic[4];
    uint8_t version;
    uint8_t reserved[3];
    uint32_t n_chunks;
    uint32_t security_counter;
    uint8_t build_id[16];
    uint8_t signature_id[16];
    uint8_t mac[16];
} ooc_img_install_record_t;
OOC_IMG_STATIC_ASSERT(IR_size, sizeof(ooc_img_install_record_t) == OOC_IMG_IR_BYTES);
OOC_IMG_STATIC_ASSERT(IR_magic, offsetof(ooc_img_install_record_t, magic) == OOC_IMG_IR_MAGIC);
OOC_IMG_STATIC_ASSERT(IR_version, offsetof(ooc_img_install_record_t, version) == OOC_IMG_IR_VERSION);
OOC_IMG_STATIC_ASSERT(IR_reserved, offsetof(ooc_img_install_record_t, reserved) == OOC_IMG_IR_RESERVED);
OOC_IMG_STATIC_ASSERT(IR_n_chunks, offsetof(ooc_img_install_record_t, n_chunks) == OOC_IMG_IR_N_CHUNKS);
OOC_IMG_STATIC_ASSERT(IR_security_counter, offsetof(ooc_img_install_record_t, security_counter) == OOC_IMG_IR_SECURITY_COUNTER);
OOC_IMG_STATIC_ASSERT(IR_build_id, offsetof(ooc_img_install_record_t, build_id) == OOC_IMG_IR_BUILD_ID);
OOC_IMG_STATIC_ASSERT(IR_signature_id, offsetof(ooc_img_install_record_t, signature_id) == OOC_IMG_IR_SIGNATURE_ID);
OOC_IMG_STATIC_ASSERT(IR_mac, offsetof(ooc_img_install_record_t, mac) == OOC_IMG_IR_MAC);

#endif /* OOC_IMAGE_FORMAT_H */
