/*
 * Host tool over the C image reader, for tests and benchmarks. The flash is the image file,
 * held in memory.
 *
 *   ooc_image_tool IMAGE UID_HEX KEY_HEX [--min-counter N] [--engine] [--dump FILE]
 *       mount, read every chunk; print one JSON object: status, error, chunks, bytes, and with
 *       --dump write the decrypted chunks concatenated in table order to FILE.
 *   ooc_image_tool IMAGE UID_HEX KEY_HEX --tamper BITS_FILE
 *       for each bit offset in BITS_FILE (decimal, one per line): flip it, mount and read the
 *       chunk(s) holding that byte (every chunk if the byte is in no chunk), restore. Prints
 *       trials, detected (an error was returned) and undetected (data was returned) counts,
 *       and the error codes seen.
 *   ooc_image_tool IMAGE UID_HEX KEY_HEX --bench MIB
 *       decrypt-and-verify throughput: read chunks round-robin until MIB MiB are done.
 *
 * Device options: --anchor PUB_HEX (repeatable: a trust anchor, a raw Ed25519 public key);
 * --install (the port can program and erase the in-memory flash, with a work buffer, so a
 * signed image is installed at mount); --write-back (save the flash, with what the device
 * wrote, to IMAGE at the end); --commit-out FILE (after a good mount and read of every chunk,
 * run the anti-rollback ratchet; the port's hook writes the committed counter to FILE).
 *
 * Exit status: 0 when the command's expectation holds (mount and reads succeed; every tamper
 * detected), 1 otherwise, 2 on usage or I/O errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ooc/ooc_image.h"

typedef struct {
    uint8_t *data;
    uint32_t size;
    uint32_t reads;
} mem_flash_t;

static int mem_program(void *user, uint32_t addr, const void *data, uint32_t len)
{
    mem_flash_t *f = (mem_flash_t *)user;
    uint32_t i;
    if (addr > f->size || len > f->size - addr) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        f->data[addr + i] &= ((const uint8_t *)data)[i]; /* NOR: bits only go from 1 to 0 */
    }
    return 0;
}

static uint32_t g_sector = 4096u;

static int mem_erase(void *user, uint32_t addr)
{
    mem_flash_t *f = (mem_flash_t *)user;
    if (addr > f->size || g_sector > f->size - addr || addr % g_sector != 0u) {
        return -1;
    }
    memset(f->data + addr, 0xFF, g_sector);
    return 0;
}

static const char *g_commit_path = NULL;
static const ooc_port_t *g_commit_port = NULL;

static int file_commit(void *user, uint32_t counter)
{
    FILE *f = fopen(g_commit_path, "w");
    (void)user;
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "%lu\n", (unsigned long)counter);
    return fclose(f) == 0 ? 0 : -1;
}

static int mem_read(void *user, uint32_t addr, void *buf, uint32_t len)
{
    mem_flash_t *f = (mem_flash_t *)user;
    if (addr > f->size || len > f->size - addr) {
        return -1;
    }
    memcpy(buf, f->data + addr, len);
    f->reads++;
    return 0;
}

/* A stand-in "hardware engine": software AES behind the port hook. */
typedef struct {
    ooc_aes_t aes;
    uint8_t key[32];
    uint32_t key_bytes;
    unsigned long calls;
} fake_engine_t;

static int fake_ecb(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t *in,
                    uint8_t *out, uint32_t n_blocks)
{
    fake_engine_t *e = (fake_engine_t *)user;
    if (key_bytes != e->key_bytes || memcmp(key, e->key, key_bytes) != 0) {
        if (ooc_aes_init(&e->aes, key, key_bytes, NULL) < 0) {
            return -1;
        }
        memcpy(e->key, key, key_bytes);
        e->key_bytes = key_bytes;
    }
    e->calls++;
    return ooc_aes_encrypt_blocks(&e->aes, in, out, n_blocks);
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *n)
{
    size_t len = strlen(s), i;
    if (len % 2u != 0u || len / 2u > max) {
        return -1;
    }
    for (i = 0; i < len / 2u; i++) {
        unsigned v;
        if (sscanf(s + 2u * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    *n = len / 2u;
    return 0;
}

static uint8_t *read_file(const char *path, uint32_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;
    uint8_t *buf;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1u);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (uint32_t)n;
    return buf;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Mount, then read the chunks whose flash range holds byte `focus` (all chunks when focus is
   outside every chunk, or when focus == UINT32_MAX). Returns 0 or the first error. */
static int mount_and_read(ooc_image_config_t *cfg, uint8_t *buf, uint32_t buf_bytes,
                          uint32_t focus, const uint8_t *pristine, FILE *dump,
                          unsigned long *n_bytes, unsigned *n_chunks)
{
    ooc_image_t img;
    uint32_t i, n;
    int rc = ooc_image_mount(&img, cfg);
    int any = 0;
    if (rc < 0) {
        return rc;
    }
    n = ooc_image_chunk_count(&img);
    if (focus != UINT32_MAX) {
        /* Find the chunk holding `focus` from the untampered table. */
        for (i = 0; i < n; i++) {
            const uint8_t *e = pristine + OOC_IMG_CHUNK_TABLE_OFFSET + i * OOC_IMG_CE_BYTES;
            uint32_t off = le32(e + OOC_IMG_CE_FLASH_OFFSET), len = le32(e + OOC_IMG_CE_LENGTH);
            if (focus >= off && focus - off < len) {
                any = 1;
                rc = (int)ooc_image_read_chunk(&img, i, buf, buf_bytes, NULL);
                if (rc < 0) {
                    break;
                }
            }
        }
        if (any) {
            ooc_image_unmount(&img);
            return rc < 0 ? rc : 0;
        }
    }
    for (i = 0; i < n; i++) {
        ooc_chunk_info_t info;
        int32_t got = ooc_image_read_chunk(&img, i, buf, buf_bytes, &info);
        if (got < 0) {
            ooc_image_unmount(&img);
            return (int)got;
        }
        if (dump != NULL && fwrite(buf, 1, (size_t)got, dump) != (size_t)got) {
            ooc_image_unmount(&img);
            return OOC_ERR_IO;
        }
        if (n_bytes != NULL) {
            *n_bytes += (unsigned long)got;
        }
    }
    if (n_chunks != NULL) {
        *n_chunks = n;
    }
    rc = g_commit_port != NULL ? ooc_image_commit_counter(&img, g_commit_port) : 0;
    ooc_image_unmount(&img);
    return rc;
}

int main(int argc, char **argv)
{
    mem_flash_t flash = {NULL, 0, 0};
    ooc_port_t port;
    ooc_image_config_t cfg;
    fake_engine_t engine;
    ooc_aes_engine_t engine_port;
    uint8_t uid[16], key[32];
    size_t uid_len = 0, key_len = 0;
    const char *dump_path = NULL, *tamper_path = NULL;
    unsigned long min_counter = 0, bench_mib = 0;
    int use_engine = 0, install = 0, write_back = 0, i, rc;
    uint8_t anchors[OOC_IMAGE_MAX_ANCHORS * 32u], work[4096];
    size_t anchor_len = 0;
    uint32_t n_anchors = 0;
    uint8_t *buf;
    const uint32_t buf_bytes = 16u * 1024u * 1024u;

    if (argc < 4 || parse_hex(argv[2], uid, sizeof uid, &uid_len) != 0 || uid_len != 16u ||
        parse_hex(argv[3], key, sizeof key, &key_len) != 0) {
        fprintf(stderr, "usage: %s IMAGE UID_HEX(16 bytes) KEY_HEX [--min-counter N] [--engine] "
                        "[--dump FILE | --tamper BITS_FILE | --bench MIB]\n", argv[0]);
        return 2;
    }
    for (i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--engine") == 0) {
            use_engine = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--min-counter") == 0) {
            min_counter = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--dump") == 0) {
            dump_path = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--tamper") == 0) {
            tamper_path = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--bench") == 0) {
            bench_mib = strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--anchor") == 0 &&
                   n_anchors < OOC_IMAGE_MAX_ANCHORS) {
            if (parse_hex(argv[++i], anchors + 32u * n_anchors, 32u, &anchor_len) != 0 ||
                anchor_len != 32u) {
                fprintf(stderr, "bad --anchor %s\n", argv[i]);
                return 2;
            }
            n_anchors++;
        } else if (strcmp(argv[i], "--install") == 0) {
            install = 1;
        } else if (strcmp(argv[i], "--write-back") == 0) {
            write_back = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--commit-out") == 0) {
            g_commit_path = argv[++i];
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    flash.data = read_file(argv[1], &flash.size);
    buf = (uint8_t *)malloc(buf_bytes);
    if (flash.data == NULL || buf == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    memset(&port, 0, sizeof port);
    port.read = mem_read;
    port.user = &flash;
    port.flash_bytes = flash.size;
    port.root_key = key;
    port.root_key_bytes = (uint32_t)key_len;
    port.device_uid = uid;
    memset(&engine, 0, sizeof engine);
    engine_port.ecb_encrypt = fake_ecb;
    engine_port.user = &engine;
    if (use_engine) {
        port.aes_engine = &engine_port;
    }
    if (flash.size >= OOC_IMG_SB_BYTES) {
        port.page_bytes = le32(flash.data + OOC_IMG_SB_PAGE_BYTES);
        port.sector_bytes = le32(flash.data + OOC_IMG_SB_SECTOR_BYTES);
        g_sector = port.sector_bytes;
    }
    if (install) {
        port.program = mem_program;
        port.erase = mem_erase;
    }
    if (g_commit_path != NULL) {
        port.commit_counter = file_commit;
        g_commit_port = &port;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.port = &port;
    cfg.min_security_counter = (uint32_t)min_counter;
    cfg.trust_anchors = anchors;
    cfg.n_trust_anchors = n_anchors;
    if (install) {
        cfg.work = work;
        cfg.work_bytes = sizeof work;
    }

    if (tamper_path != NULL) {
        FILE *bits = fopen(tamper_path, "r");
        uint8_t *pristine = (uint8_t *)malloc(flash.size ? flash.size : 1u);
        unsigned long bit, trials = 0, detected = 0, undetected = 0, codes[16] = {0};
        if (bits == NULL || pristine == NULL) {
            fprintf(stderr, "cannot read %s\n", tamper_path);
            return 2;
        }
        memcpy(pristine, flash.data, flash.size);
        while (fscanf(bits, "%lu", &bit) == 1) {
            uint32_t byte = (uint32_t)(bit / 8u);
            if (byte >= flash.size) {
                fprintf(stderr, "bit %lu is beyond the image\n", bit);
                return 2;
            }
            flash.data[byte] ^= (uint8_t)(1u << (bit % 8u));
            rc = mount_and_read(&cfg, buf, buf_bytes, byte, pristine, NULL, NULL, NULL);
            flash.data[byte] = pristine[byte];
            trials++;
            if (rc < 0) {
                detected++;
                codes[(unsigned)(-rc) < 16u ? (unsigned)(-rc) : 0u]++;
            } else {
                undetected++;
                if (undetected <= 10u) {
                    fprintf(stderr, "undetected flip of bit %lu (byte %u)\n", bit, (unsigned)byte);
                }
            }
        }
        fclose(bits);
        printf("{\"trials\": %lu, \"detected\": %lu, \"undetected\": %lu, \"codes\": {", trials,
               detected, undetected);
        for (i = 1; i < 16; i++) {
            printf("%s\"%d\": %lu", i > 1 ? ", " : "", -i, codes[i]);
        }
        printf("}}\n");
        free(pristine);
        free(buf);
        free(flash.data);
        return undetected == 0u && trials > 0u ? 0 : 1;
    }

    if (bench_mib > 0u) {
        ooc_image_t img;
        unsigned long done = 0, target = bench_mib * 1024ul * 1024ul;
        uint32_t n, c = 0;
        clock_t t0;
        double secs;
        rc = ooc_image_mount(&img, &cfg);
        n = ooc_image_chunk_count(&img);
        if (rc < 0 || n == 0u) {
            printf("{\"status\": %d, \"error\": \"%s\"}\n", rc, ooc_strerror(rc));
            free(buf);
            free(flash.data);
            return 1;
        }
        t0 = clock();
        while (done < target) {
            int32_t got = ooc_image_read_chunk(&img, c, buf, buf_bytes, NULL);
            if (got < 0) {
                printf("{\"status\": %d, \"error\": \"%s\"}\n", (int)got, ooc_strerror((int)got));
                free(buf);
                free(flash.data);
                return 1;
            }
            done += (unsigned long)got;
            c = (c + 1u) % n;
        }
        secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        printf("{\"status\": 0, \"bytes\": %lu, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n", done,
               secs, secs > 0 ? (double)done / secs / 1e6 : 0.0);
        ooc_image_unmount(&img);
        free(buf);
        free(flash.data);
        return 0;
    }

    {
        FILE *dump = NULL;
        unsigned long n_bytes = 0;
        unsigned n_chunks = 0;
        if (dump_path != NULL && (dump = fopen(dump_path, "wb")) == NULL) {
            fprintf(stderr, "cannot write %s\n", dump_path);
            return 2;
        }
        rc = mount_and_read(&cfg, buf, buf_bytes, UINT32_MAX, flash.data, dump, &n_bytes,
                            &n_chunks);
        if (dump != NULL) {
            fclose(dump);
        }
        printf("{\"status\": %d, \"error\": \"%s\", \"chunks\": %u, \"bytes\": %lu, "
               "\"engine_calls\": %lu}\n",
               rc, ooc_strerror(rc), n_chunks, n_bytes, engine.calls);
        if (write_back) {
            FILE *out = fopen(argv[1], "wb");
            if (out == NULL || fwrite(flash.data, 1, flash.size, out) != flash.size) {
                fprintf(stderr, "cannot write %s\n", argv[1]);
                rc = rc == 0 ? -1 : rc;
            }
            if (out != NULL) {
                fclose(out);
            }
        }
        free(buf);
        free(flash.data);
        return rc == 0 ? 0 : 1;
    }
}
