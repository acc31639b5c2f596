/*
 * ooc device key storage record and the QEMU port's boot counter record.
 *
 * GENERATED from ooc_sdk/formats/keystore.py by `python -m ooc_sdk.formats --write-c-headers`; do
 * not edit. docs/FORMAT.md describes both. Little-endian; read them with explicit byte loads.
 */
#ifndef OOC_KEYSTORE_FORMAT_H
#define OOC_KEYSTORE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OOC_KS_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define OOC_KS_STATIC_ASSERT(name, cond) typedef char ooc_ks_assert_##name[(cond) ? 1 : -1]
#endif

#define OOC_KEYSTORE_MAGIC { 'O', 'O', 'C', 'R' }
#define OOC_KEYSTORE_VERSION 3u
#define OOC_KEYSTORE_MAX_ANCHORS 4u

/* key storage record (188 bytes). In the device's internal key storage, never on the external flash. */
#define OOC_KEYSTORE_BYTES 188u
#define OOC_KSR_MAGIC 0u /* b"OOCR" */
#define OOC_KSR_VERSION 4u /* KEYSTORE_VERSION (3) */
#define OOC_KSR_ROOT_KEY_BYTES 5u /* 16 or 32: the root key's length */
#define OOC_KSR_N_ANCHORS 6u /* trust anchors that follow (0 .. 4) */
#define OOC_KSR_RESERVED 7u /* 0 */
#define OOC_KSR_DEVICE_UID 8u /* the device UID (zero-padded on the left) */
#define OOC_KSR_ROOT_KEY 24u /* the device root key, zero-padded */
#define OOC_KSR_SECURITY_COUNTER 56u /* anti-rollback: the mount's min_security_counter */
#define OOC_KSR_ANCHORS 60u /* raw Ed25519 public keys of the vendors whose images it runs, zero-padded */
typedef struct {
    uint8_t magic[4];
    uint8_t version;
    uint8_t root_key_bytes;
    uint8_t n_anchors;
    uint8_t reserved;
    uint8_t device_uid[16];
    uint8_t root_key[32];
    uint32_t security_counter;
    uint8_t anchors[128];
} ooc_key_storage_record_t;
OOC_KS_STATIC_ASSERT(KSR_size, sizeof(ooc_key_storage_record_t) == OOC_KEYSTORE_BYTES);
OOC_KS_STATIC_ASSERT(KSR_magic, offsetof(ooc_key_storage_record_t, magic) == OOC_KSR_MAGIC);
OOC_KS_STATIC_ASSERT(KSR_version, offsetof(ooc_key_storage_record_t, version) == OOC_KSR_VERSION);
OOC_KS_STATIC_ASSERT(KSR_root_key_bytes, offsetof(ooc_key_storage_record_t, root_key_bytes) == OOC_KSR_ROOT_KEY_BYTES);
OOC_KS_STATIC_ASSERT(KSR_n_anchors, offsetof(ooc_key_storage_record_t, n_anchors) == OOC_KSR_N_ANCHORS);
OOC_KS_STATIC_ASSERT(KSR_reserved, offsetof(ooc_key_storage_record_t, reserved) == OOC_KSR_RESERVED);
OOC_KS_STATIC_ASSERT(KSR_device_uid, offsetof(ooc_key_storage_record_t, device_uid) == OOC_KSR_DEVICE_UID);
OOC_KS_STATIC_ASSERT(KSR_root_key, offsetof(ooc_key_storage_record_t, root_key) == OOC_KSR_ROOT_KEY);
OOC_KS_STATIC_ASSERT(KSR_security_counter, offsetof(ooc_key_storage_record_t, security_counter) == OOC_KSR_SECURITY_COUNTER);
OOC_KS_STATIC_ASSERT(KSR_anchors, offsetof(ooc_key_storage_record_t, anchors) == OOC_KSR_ANCHORS);

/* boot counter record (8 bytes). The QEMU port's monotonic boot counter (bootcount.bin). */
#define OOC_BOOTCOUNT_BYTES 8u
#define OOC_BCR_BOOT 0u /* the last boot counted (ooc_spill_boot()) */
#define OOC_BCR_CHECK 4u /* its bitwise complement; any other value is refused */
typedef struct {
    uint32_t boot;
    uint32_t check;
} ooc_boot_counter_record_t;
OOC_KS_STATIC_ASSERT(BCR_size, sizeof(ooc_boot_counter_record_t) == OOC_BOOTCOUNT_BYTES);
OOC_KS_STATIC_ASSERT(BCR_boot, offsetof(ooc_boot_counter_record_t, boot) == OOC_BCR_BOOT);
OOC_KS_STATIC_ASSERT(BCR_check, offsetof(ooc_boot_counter_record_t, check) == OOC_BCR_CHECK);

#endif /* OOC_KEYSTORE_FORMAT_H */
