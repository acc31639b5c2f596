/*
 * libFuzzer harness for the flash image reader (c_runtime/src/image.c): ooc_image_mount(),
 * ooc_image_read_chunk() and ooc_image_unmount(), with the flash being the fuzz input.
 *
 * Input: one mode byte, then the image bytes (what the flash holds from `base` on).
 *
 *   bit 0     0 = "raw": mount the bytes as they are. The fuzzer exercises everything up to and
 *                 including the tags (superblock, manifest, key slot, header tag).
 *             1 = "re-sealed": before mounting, the harness recomputes the header tag and every
 *                 chunk tag with the right keys (content key unwrapped from the key slot with the
 *                 test root key, FORMAT.md "Keys"), so mutated fields get past authentication
 *                 and reach the checks behind it (entry structure, rollback, model, chunk reads,
 *                 Poly1305 / CMAC / CTR paths).
 *   bit 1     root key length: 0 = 16 bytes (first half of FUZZ_ROOT_KEY), 1 = 32 bytes
 *   bit 2     flash faults: the reader is told the flash is FAULT_EXTRA bytes larger than the
 *             input, and a read fails (-1, OOC_ERR_IO) when it reaches past the input or into
 *             the last chunk of the table (its flash_offset, when the entry is in the input).
 *             A failing read first copies what it can, like a driver that fails half-way.
 *   bit 3     base address: 0 = FUZZ_BASE, 1 = the top of the 32-bit address space
 *             (base + flash_bytes == 2^32 - 1, the largest flash a port can declare)
 *   bits 4-5  device anti-rollback counter: 0, 1, 2 or 0xFFFFFFFF
 *   bit 6     pass the input's own model hash and plan id as the expected ones
 *   bit 7     (with bit 6) flip one bit of the expected plan id: the mount must then fail
 *
 * The reader must not crash on any input, and these invariants hold (a violation is a reader
 * bug and ends in __builtin_trap()):
 *   - every flash read lies inside [base, base + flash_bytes), without address wrap;
 *   - mount returns only its documented errors; a failed mount leaves no key material and the
 *     handle unusable (count and max chunk 0, reads OOC_ERR_STATE);
 *   - a successful mount means the header tag is the one the harness computes with the real
 *     keys, every table entry is well formed and the security counter and model match;
 *   - read_chunk returns the entry's length (<= max_chunk_bytes, <= the buffer) and the
 *     harness's own decryption of the ciphertext, writes nothing past that length, and fails
 *     exactly when the stored tag differs from the harness's (or a flash read fails); a failed
 *     read leaves the attempted length zeroed (image.c wipes `len` bytes once it has started
 *     reading the ciphertext; with a static flash the entry check before that always passes);
 *   - a too-small buffer, a bad index or a NULL buffer are OOC_ERR_ARG and touch nothing.
 *
 * With FUZZ_IMAGE_VERBOSE=1 in the environment, every input prints its mode, the mount result
 * and how many chunks read back (run.sh uses this to check each seed before fuzzing).
 *
 * Build and run: tools/fuzz/run.sh. Only the public crypto API (ooc_crypto.h) is used here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"
#include "ooc/ooc_image.h"

/* TEST-ONLY device identity. These values are public (they are in this file and in the seed
   corpus); never provision them on a real device. tools/fuzz/make_seeds.py reads them from here
   and packs the seed images for this UID and root key. */
static const uint8_t FUZZ_DEVICE_UID[16] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xf0, 0x22, 0x1e, 0x5e, 0xed, 0x00, 0x00, 0x01,
};
static const uint8_t FUZZ_ROOT_KEY[32] = {
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

#define FUZZ_BASE 0x00200000u
#define FAULT_EXTRA 0x10000u
#define MAX_CHUNK_CAP (1024u * 1024u) /* larger chunks are not read */
#define RESEAL_BUDGET (4u * 1024u * 1024u) /* bytes the harness MACs at most while re-sealing */
#define GUARD 64u                     /* bytes after a chunk that must stay untouched */
#define FILL 0xa5u

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

typedef struct {
    const uint8_t *data; /* the image bytes */
    uint32_t len;
    uint32_t base;
    uint32_t declared; /* flash bytes from base the port declares (flash_bytes - base) */
    uint32_t readable; /* reads reaching past this image offset fail (<= len) */
} flash_t;

typedef struct {
    ooc_aes_t k_hdr, k_enc, k_mac;
} keys_t;

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int is_all(const uint8_t *p, size_t n, uint8_t v)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

static int flash_read_cb(void *user, uint32_t addr, void *buf, uint32_t len)
{
    const flash_t *f = (const flash_t *)user;
    uint64_t off;
    /* The reader promised to stay inside the flash it was given. */
    CHECK(addr >= f->base);
    off = (uint64_t)addr - f->base;
    CHECK(off + len <= f->declared);
    CHECK(buf != NULL || len == 0u);
    if (off + len > f->readable) { /* only in fault mode */
        if (off < f->readable) {
            memcpy(buf, f->data + off, (size_t)(f->readable - off));
        }
        return -1;
    }
    if (len > 0u) {
        memcpy(buf, f->data + off, len);
    }
    return 0;
}

static void wipe_keys(keys_t *k)
{
    ooc_aes_wipe(&k->k_hdr);
    ooc_aes_wipe(&k->k_enc);
    ooc_aes_wipe(&k->k_mac);
}

static int derive_one(const ooc_aes_t *ck, const char *label, const uint8_t *build_id,
                      uint32_t key_len, ooc_aes_t *out)
{
    uint8_t key[OOC_AES_MAX_KEY_BYTES];
    int rc = ooc_kdf_cmac(ck, (const uint8_t *)label, strlen(label), build_id,
                          OOC_IMG_BUILD_ID_BYTES, key, key_len);
    if (rc == OOC_OK) {
        rc = ooc_aes_init(out, key, key_len, NULL);
    }
    ooc_wipe(key, sizeof key);
    return rc;
}

/* Unwrap the content key from the image's key slot with the test root key and derive
   K_hdr, K_enc and K_mac (FORMAT.md "Keys"). 0 on success. */
static int derive_keys(const uint8_t *img, uint32_t n, const uint8_t *root, uint32_t root_len,
                       keys_t *k)
{
    const uint8_t *sb = img + OOC_IMG_SUPERBLOCK_OFFSET;
    const uint8_t *ks = img + OOC_IMG_KEY_SLOT_OFFSET;
    uint8_t context[OOC_IMG_UID_BYTES + OOC_IMG_BUILD_ID_BYTES];
    uint8_t kek_bytes[OOC_AES_MAX_KEY_BYTES], ck_bytes[OOC_AES_MAX_KEY_BYTES];
    uint32_t ck_len;
    ooc_aes_t r, kek, ck;
    int rc;
    memset(k, 0, sizeof *k);
    if (n < OOC_IMG_CHUNK_TABLE_OFFSET) {
        return -1;
    }
    ck_len = ks[OOC_IMG_KS_CONTENT_KEY_BYTES];
    if (ck_len != 16u && ck_len != 32u) {
        return -1;
    }
    memcpy(context, FUZZ_DEVICE_UID, OOC_IMG_UID_BYTES);
    memcpy(context + OOC_IMG_UID_BYTES, sb + OOC_IMG_SB_BUILD_ID, OOC_IMG_BUILD_ID_BYTES);
    rc = ooc_aes_init(&r, root, root_len, NULL);
    if (rc != OOC_OK) {
        return -1;
    }
    rc = ooc_kdf_cmac(&r, (const uint8_t *)OOC_IMG_LABEL_KEK, strlen(OOC_IMG_LABEL_KEK), context,
                      sizeof context, kek_bytes, root_len);
    ooc_aes_wipe(&r);
    if (rc == OOC_OK) {
        rc = ooc_aes_init(&kek, kek_bytes, root_len, NULL);
    }
    if (rc == OOC_OK) {
        rc = ooc_aes_key_unwrap(&kek, ks + OOC_IMG_KS_WRAPPED_KEY, ck_len + 8u, ck_bytes);
        ooc_aes_wipe(&kek);
    }
    if (rc == OOC_OK) {
        rc = ooc_aes_init(&ck, ck_bytes, ck_len, NULL);
    }
    if (rc == OOC_OK) {
        const uint8_t *id = sb + OOC_IMG_SB_BUILD_ID;
        rc = derive_one(&ck, OOC_IMG_LABEL_HEADER, id, ck_len, &k->k_hdr);
        if (rc == OOC_OK) {
            rc = derive_one(&ck, OOC_IMG_LABEL_ENC, id, ck_len, &k->k_enc);
        }
        if (rc == OOC_OK) {
            rc = derive_one(&ck, OOC_IMG_LABEL_MAC, id, ck_len, &k->k_mac);
        }
        ooc_aes_wipe(&ck);
    }
    ooc_wipe(kek_bytes, sizeof kek_bytes);
    ooc_wipe(ck_bytes, sizeof ck_bytes);
    if (rc != OOC_OK) {
        wipe_keys(k);
        return -1;
    }
    return 0;
}

/* The tag of one chunk: entry[0:48] || ciphertext under `tag_alg`. 0 on success. */
static int chunk_tag(const keys_t *k, uint32_t tag_alg, const uint8_t *entry, const uint8_t *ct,
                     uint32_t len, uint8_t tag[OOC_TAG_BYTES])
{
    if (tag_alg == OOC_IMG_TAG_AES_CMAC) {
        ooc_cmac_t mac;
        int rc = ooc_cmac_init(&mac, &k->k_mac);
        if (rc == OOC_OK) {
            rc = ooc_cmac_update(&mac, entry, OOC_IMG_CHUNK_MAC_PREFIX);
        }
        if (rc == OOC_OK) {
            rc = ooc_cmac_update(&mac, ct, len);
        }
        if (rc == OOC_OK) {
            rc = ooc_cmac_final(&mac, tag);
        }
        return rc == OOC_OK ? 0 : -1;
    }
    if (tag_alg == OOC_IMG_TAG_POLY1305) {
        uint8_t iv[OOC_AES_BLOCK_BYTES], otk[32];
        ooc_poly1305_t poly;
        memset(iv, 0, sizeof iv);
        memcpy(iv, entry + OOC_IMG_CE_NONCE, OOC_IMG_NONCE_BYTES); /* counter 0 */
        memset(otk, 0, sizeof otk);
        if (ooc_aes_ctr(&k->k_enc, iv, otk, otk, sizeof otk) != OOC_OK) {
            return -1;
        }
        ooc_poly1305_init(&poly, otk);
        ooc_poly1305_update(&poly, entry, OOC_IMG_CHUNK_MAC_PREFIX);
        ooc_poly1305_update(&poly, ct, len);
        ooc_poly1305_final(&poly, tag);
        return 0;
    }
    return -1;
}

/* CMAC(K_hdr, superblock || manifest || table of n_chunks entries); 0 on success, -1 when
   the table does not fit in the input. */
static int header_tag(const keys_t *k, const uint8_t *img, uint32_t n, uint8_t tag[16],
                      uint32_t *tag_off)
{
    uint32_t n_chunks = rd32(img + OOC_IMG_MANIFEST_OFFSET + OOC_IMG_MF_N_CHUNKS);
    uint64_t table_end = OOC_IMG_CHUNK_TABLE_OFFSET + (uint64_t)n_chunks * OOC_IMG_CE_BYTES;
    ooc_cmac_t mac;
    int rc;
    if (n < OOC_IMG_CHUNK_TABLE_OFFSET || table_end + OOC_IMG_TAG_BYTES > n) {
        return -1;
    }
    rc = ooc_cmac_init(&mac, &k->k_hdr);
    if (rc == OOC_OK) {
        rc = ooc_cmac_update(&mac, img + OOC_IMG_SUPERBLOCK_OFFSET, OOC_IMG_SB_BYTES);
    }
    if (rc == OOC_OK) {
        rc = ooc_cmac_update(&mac, img + OOC_IMG_MANIFEST_OFFSET, OOC_IMG_MF_BYTES);
    }
    if (rc == OOC_OK) {
        rc = ooc_cmac_update(&mac, img + OOC_IMG_CHUNK_TABLE_OFFSET,
                             (size_t)(table_end - OOC_IMG_CHUNK_TABLE_OFFSET));
    }
    if (rc == OOC_OK) {
        rc = ooc_cmac_final(&mac, tag);
    }
    *tag_off = (uint32_t)table_end;
    return rc == OOC_OK ? 0 : -1;
}

/* Rewrite every in-range chunk tag, then the header tag, so that they verify. */
static void reseal(uint8_t *img, uint32_t n, const keys_t *k)
{
    const uint8_t *mf = img + OOC_IMG_MANIFEST_OFFSET;
    uint32_t tag_alg = mf[OOC_IMG_MF_TAG_ALG];
    uint32_t n_chunks = rd32(mf + OOC_IMG_MF_N_CHUNKS);
    uint64_t budget = RESEAL_BUDGET;
    uint8_t tag[OOC_TAG_BYTES];
    uint32_t i, tag_off;
    for (i = 0; i < n_chunks; i++) {
        uint64_t e_off = OOC_IMG_CHUNK_TABLE_OFFSET + (uint64_t)i * OOC_IMG_CE_BYTES;
        uint8_t *e;
        uint32_t off, len;
        if (e_off + OOC_IMG_CE_BYTES > n) {
            break;
        }
        e = img + e_off;
        off = rd32(e + OOC_IMG_CE_FLASH_OFFSET);
        len = rd32(e + OOC_IMG_CE_LENGTH);
        if ((uint64_t)off + len > n || len > budget) {
            continue;
        }
        budget -= len;
        if (chunk_tag(k, tag_alg, e, img + off, len, tag) == 0) {
            memcpy(e + OOC_IMG_CE_TAG, tag, sizeof tag);
        }
    }
    if (header_tag(k, img, n, tag, &tag_off) == 0) {
        memcpy(img + tag_off, tag, sizeof tag);
    }
}

static int is_mount_error(int rc)
{
    switch (rc) {
    case OOC_ERR_IO:
    case OOC_ERR_FORMAT:
    case OOC_ERR_TRUNCATED:
    case OOC_ERR_AUTH:
    case OOC_ERR_WRONG_KEY:
    case OOC_ERR_WRONG_DEVICE:
    case OOC_ERR_ROLLBACK:
    case OOC_ERR_MODEL:
        return 1;
    default:
        return 0;
    }
}

static void check_unusable(ooc_image_t *img)
{
    uint8_t b[16];
    CHECK(img->mounted == 0u);
    CHECK(is_all((const uint8_t *)&img->k_enc, sizeof img->k_enc, 0));
    CHECK(is_all((const uint8_t *)&img->k_mac, sizeof img->k_mac, 0));
    CHECK(ooc_image_chunk_count(img) == 0u);
    CHECK(ooc_image_max_chunk_bytes(img) == 0u);
    memset(b, FILL, sizeof b);
    CHECK(ooc_image_read_chunk(img, 0, b, sizeof b, NULL) == OOC_ERR_STATE);
    CHECK(is_all(b, sizeof b, FILL));
}

/* After a successful mount: the header is authentic and well formed (independent checks). */
static void check_mounted_header(const ooc_image_t *img, const uint8_t *data, uint32_t n,
                                 const flash_t *f, const keys_t *k, uint32_t min_counter)
{
    const uint8_t *sb = data + OOC_IMG_SUPERBLOCK_OFFSET;
    const uint8_t *mf = data + OOC_IMG_MANIFEST_OFFSET;
    uint32_t n_chunks = rd32(mf + OOC_IMG_MF_N_CHUNKS);
    uint32_t max_chunk = rd32(mf + OOC_IMG_MF_MAX_CHUNK_BYTES);
    uint32_t align = rd32(mf + OOC_IMG_MF_CHUNK_ALIGN);
    uint32_t image_bytes = rd32(sb + OOC_IMG_SB_IMAGE_BYTES);
    uint32_t header_bytes = rd32(sb + OOC_IMG_SB_HEADER_BYTES);
    uint64_t pos = header_bytes, total = 0;
    uint8_t tag[OOC_TAG_BYTES];
    uint32_t tag_off = 0, i;

    CHECK(img->mounted == 1u);
    CHECK(image_bytes <= f->declared);
    CHECK(ooc_image_chunk_count(img) == n_chunks);
    CHECK(ooc_image_max_chunk_bytes(img) == max_chunk);
    CHECK(max_chunk <= (uint32_t)INT32_MAX);
    CHECK(rd32(mf + OOC_IMG_MF_SECURITY_COUNTER) >= min_counter);
    CHECK(align != 0u && (align & (align - 1u)) == 0u);
    /* The whole header was read, so it lies inside the input (no fault mode read failed). */
    CHECK((uint64_t)header_bytes <= f->readable);
    CHECK(header_tag(k, data, n, tag, &tag_off) == 0);
    CHECK(tag_off + OOC_IMG_TAG_BYTES == header_bytes);
    CHECK(memcmp(tag, data + tag_off, sizeof tag) == 0);
    for (i = 0; i < n_chunks; i++) {
        const uint8_t *e = data + OOC_IMG_CHUNK_TABLE_OFFSET + (size_t)i * OOC_IMG_CE_BYTES;
        uint32_t off = rd32(e + OOC_IMG_CE_FLASH_OFFSET);
        uint32_t len = rd32(e + OOC_IMG_CE_LENGTH);
        CHECK(rd32(e + OOC_IMG_CE_INDEX) == i);
        CHECK(rd16(e + OOC_IMG_CE_KIND) == OOC_IMG_CHUNK_WEIGHTS);
        CHECK(rd32(e + OOC_IMG_CE_NONCE) == i && rd32(e + OOC_IMG_CE_NONCE + 4) == 1u &&
              rd32(e + OOC_IMG_CE_NONCE + 8) == 0u);
        CHECK(len >= 1u && len <= max_chunk);
        CHECK((off & (align - 1u)) == 0u);
        CHECK(off >= pos);
        CHECK((uint64_t)off + len <= image_bytes);
        pos = (uint64_t)off + len;
        total += len;
    }
    CHECK(total == rd32(mf + OOC_IMG_MF_WEIGHTS_BYTES));
}

static int verbose(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("FUZZ_IMAGE_VERBOSE");
        v = e != NULL && e[0] != '\0' && e[0] != '0';
    }
    return v;
}

/* Returns how many chunks read back successfully. */
static uint32_t read_all_chunks(ooc_image_t *img, const uint8_t *data, const flash_t *f,
                                const keys_t *k)
{
    const uint8_t *mf = data + OOC_IMG_MANIFEST_OFFSET;
    uint32_t tag_alg = mf[OOC_IMG_MF_TAG_ALG];
    uint32_t max_chunk = ooc_image_max_chunk_bytes(img);
    uint32_t n_chunks = ooc_image_chunk_count(img);
    uint8_t *buf, *want;
    uint32_t i, ok = 0;
    if (max_chunk == 0u || max_chunk > MAX_CHUNK_CAP) {
        return 0;
    }
    buf = (uint8_t *)malloc(max_chunk);
    want = (uint8_t *)malloc(max_chunk);
    if (buf == NULL || want == NULL) {
        free(buf);
        free(want);
        return 0;
    }
    for (i = 0; i < n_chunks; i++) {
        const uint8_t *e = data + OOC_IMG_CHUNK_TABLE_OFFSET + (size_t)i * OOC_IMG_CE_BYTES;
        uint32_t off = rd32(e + OOC_IMG_CE_FLASH_OFFSET);
        uint32_t len = rd32(e + OOC_IMG_CE_LENGTH);
        uint32_t span = len + GUARD < max_chunk ? len + GUARD : max_chunk;
        int in_input = (uint64_t)off + len <= f->readable;
        int tag_ok = 0;
        ooc_chunk_info_t info;
        int32_t got;
        if (in_input) {
            uint8_t tag[OOC_TAG_BYTES];
            CHECK(chunk_tag(k, tag_alg, e, data + off, len, tag) == 0);
            tag_ok = memcmp(tag, e + OOC_IMG_CE_TAG, sizeof tag) == 0;
        } else {
            CHECK(f->readable < f->declared); /* the image fits in the flash: fault mode only */
        }
        if (i == 0u && len > 1u) { /* a buffer one byte short: refused, untouched */
            memset(buf, FILL, span);
            CHECK(ooc_image_read_chunk(img, i, buf, len - 1u, NULL) == OOC_ERR_ARG);
            CHECK(is_all(buf, span, FILL));
        }
        memset(buf, FILL, span);
        memset(&info, 0xee, sizeof info);
        got = ooc_image_read_chunk(img, i, buf, max_chunk, &info);
        if (got >= 0) {
            uint8_t iv[OOC_AES_BLOCK_BYTES];
            CHECK(in_input && tag_ok);
            CHECK((uint32_t)got == len && (uint32_t)got <= max_chunk);
            CHECK(is_all(buf + len, span - len, FILL));
            CHECK(info.index == i && info.kind == rd16(e + OOC_IMG_CE_KIND) &&
                  info.tensor == rd32(e + OOC_IMG_CE_TENSOR) &&
                  info.tensor_offset == rd32(e + OOC_IMG_CE_TENSOR_OFFSET) && info.length == len);
            memcpy(iv, e + OOC_IMG_CE_NONCE, OOC_IMG_NONCE_BYTES);
            iv[12] = 0;
            iv[13] = 0;
            iv[14] = 0;
            iv[15] = (uint8_t)OOC_IMG_DATA_COUNTER_START;
            CHECK(ooc_aes_ctr(&k->k_enc, iv, data + off, want, len) == OOC_OK);
            CHECK(memcmp(buf, want, len) == 0);
            ok++;
        } else {
            /* Missing bytes are an I/O error, a wrong tag an authentication error. */
            CHECK(got == (in_input ? OOC_ERR_AUTH : OOC_ERR_IO));
            CHECK(!in_input || !tag_ok);
            CHECK(is_all(buf, len, 0));
            CHECK(is_all(buf + len, span - len, FILL));
        }
    }
    memset(buf, FILL, 1);
    CHECK(ooc_image_read_chunk(img, n_chunks, buf, max_chunk, NULL) == OOC_ERR_ARG);
    CHECK(ooc_image_read_chunk(img, 0, NULL, max_chunk, NULL) == OOC_ERR_ARG);
    CHECK(buf[0] == FILL);
    free(buf);
    free(want);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    static const uint32_t counters[4] = { 0u, 1u, 2u, 0xffffffffu };
    uint8_t mode, sha[32], plan[16];
    uint8_t *data;
    uint32_t n, root_len;
    uint32_t chunks_ok;
    int resealed, faults, have_keys = 0, rc;
    flash_t f;
    keys_t keys;
    ooc_port_t port;
    ooc_image_config_t cfg;
    ooc_image_t img;

    if (size < 1u || size - 1u > 0x10000000u) {
        return 0;
    }
    mode = input[0];
    n = (uint32_t)(size - 1u);
    data = (uint8_t *)malloc(n ? n : 1u); /* exact size: ASan sees any overread */
    if (data == NULL) {
        return 0;
    }
    if (n > 0u) {
        memcpy(data, input + 1, n);
    }
    resealed = mode & 1;
    root_len = (mode & 2) ? 32u : 16u;
    faults = (mode & 4) != 0;

    memset(&keys, 0, sizeof keys);
    if (resealed && derive_keys(data, n, FUZZ_ROOT_KEY, root_len, &keys) == 0) {
        reseal(data, n, &keys);
        wipe_keys(&keys);
    }

    f.data = data;
    f.len = n;
    f.declared = faults ? n + FAULT_EXTRA : n;
    f.readable = n;
    if (faults && n >= OOC_IMG_CHUNK_TABLE_OFFSET) {
        uint32_t n_chunks = rd32(data + OOC_IMG_MANIFEST_OFFSET + OOC_IMG_MF_N_CHUNKS);
        uint64_t last = OOC_IMG_CHUNK_TABLE_OFFSET + ((uint64_t)n_chunks - 1u) * OOC_IMG_CE_BYTES;
        if (n_chunks > 0u && last + OOC_IMG_CE_BYTES <= n) {
            uint32_t at = rd32(data + last + OOC_IMG_CE_FLASH_OFFSET);
            f.readable = at < n ? at : n;
        }
    }
    f.base = (mode & 8) ? (uint32_t)(0xFFFFFFFFull - f.declared) : FUZZ_BASE;

    memset(&port, 0, sizeof port);
    port.read = flash_read_cb;
    port.user = &f;
    port.flash_bytes = f.base + f.declared;
    port.root_key = FUZZ_ROOT_KEY;
    port.root_key_bytes = root_len;
    port.device_uid = FUZZ_DEVICE_UID;
    memset(&cfg, 0, sizeof cfg);
    cfg.port = &port;
    cfg.base = f.base;
    cfg.min_security_counter = counters[(mode >> 4) & 3u];
    if ((mode & 0x40) && n >= OOC_IMG_CHUNK_TABLE_OFFSET) {
        memcpy(sha, data + OOC_IMG_MANIFEST_OFFSET + OOC_IMG_MF_MODEL_SHA256, sizeof sha);
        memcpy(plan, data + OOC_IMG_MANIFEST_OFFSET + OOC_IMG_MF_PLAN_ID, sizeof plan);
        if (mode & 0x80) {
            plan[5] ^= 0x10u;
        }
        cfg.expected_model_sha256 = sha;
        cfg.expected_plan_id = plan;
    }

    memset(&img, 0x5a, sizeof img);
    rc = ooc_image_mount(&img, &cfg);
    if (verbose()) {
        fprintf(stderr, "fuzz_image: mode 0x%02x, %u bytes: mount %d (%s)\n", mode, (unsigned)n, rc,
                ooc_strerror(rc));
    }
    if (rc != OOC_OK) {
        CHECK(is_mount_error(rc));
        check_unusable(&img);
        /* Double unmount of a failed handle is harmless. */
        ooc_image_unmount(&img);
        check_unusable(&img);
        free(data);
        return 0;
    }
    /* Mounted: the reader accepted the header, so it must be genuinely authentic. */
    CHECK(cfg.expected_plan_id == NULL || (mode & 0x80) == 0);
    CHECK(n >= OOC_IMG_CHUNK_TABLE_OFFSET);
    have_keys = derive_keys(data, n, FUZZ_ROOT_KEY, root_len, &keys) == 0;
    CHECK(have_keys);
    check_mounted_header(&img, data, n, &f, &keys, cfg.min_security_counter);
    chunks_ok = read_all_chunks(&img, data, &f, &keys);
    wipe_keys(&keys);
    if (verbose()) {
        fprintf(stderr, "fuzz_image: %u of %u chunks read and verified\n", (unsigned)chunks_ok,
                (unsigned)ooc_image_chunk_count(&img));
    }

    ooc_image_unmount(&img);
    check_unusable(&img);
    free(data);
    return 0;
}
