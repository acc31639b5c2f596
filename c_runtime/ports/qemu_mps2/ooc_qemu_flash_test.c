/*
 * Self-test of the QEMU port's NOR flash (ooc_qemu_flash.c), run by tests/test_qemu.py on a
 * 64 KiB host file nor.bin (page 256, sector 4096) that the test then inspects. The exit status
 * is 0, or 10 + the number of the first check that failed.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "ooc_qemu_flash.h"

#define SIZE (64u * 1024u)
#define PAGE 256u
#define SECTOR 4096u

static ooc_qflash_t f;
static uint8_t buf[SECTOR];

static int all(const uint8_t *p, uint32_t n, uint8_t v)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != v) {
            return 0;
        }
    }
    return 1;
}

static int check(void)
{
    uint8_t a[16], b[16];
    if (ooc_qflash_open(&f, "nor.bin", SIZE + SECTOR, PAGE, SECTOR, 1) == 0) {
        return 1; /* the file's size must match the geometry */
    }
    if (ooc_qflash_open(&f, "nor.bin", SIZE, PAGE, SECTOR, 1) != 0) {
        return 2;
    }
    if (ooc_qflash_erase(&f, 0) != 0 || ooc_qflash_read(&f, 0, buf, SECTOR) != 0 || !all(buf, SECTOR, 0xFF)) {
        return 3; /* erase sets the sector to 0xFF */
    }
    memset(a, 0xF0, sizeof a);
    memset(b, 0x3C, sizeof b);
    if (ooc_qflash_program(&f, 0, a, 16) != 0 || ooc_qflash_program(&f, 0, b, 16) != 0 ||
        ooc_qflash_read(&f, 0, buf, 16) != 0 || !all(buf, 16, 0x30)) {
        return 4; /* programming only clears bits: 0xF0 AND 0x3C */
    }
    if (ooc_qflash_program(&f, PAGE - 8u, a, 16) == 0) {
        return 5; /* a program may not cross a page boundary */
    }
    if (ooc_qflash_erase(&f, 100) == 0 || ooc_qflash_erase(&f, SIZE) == 0) {
        return 6; /* erase takes a sector-aligned address inside the chip */
    }
    if (ooc_qflash_read(&f, SIZE - 8u, buf, 16) == 0 || ooc_qflash_program(&f, SIZE, a, 1) == 0) {
        return 7; /* nothing beyond the end */
    }
    if (ooc_qflash_erase(&f, SECTOR) != 0 || ooc_qflash_read(&f, 0, buf, 16) != 0 || !all(buf, 16, 0x30)) {
        return 8; /* erasing sector 1 leaves sector 0 alone */
    }
    if (ooc_qflash_read_start(&f, 16, buf, 16) != 0 || ooc_qflash_read(&f, 0, buf, 1) == 0 ||
        ooc_qflash_read_wait(&f) != 0 || !all(buf, 16, 0xFF) || ooc_qflash_read_wait(&f) == 0) {
        return 9; /* one asynchronous read at a time, waited for once */
    }
    if (f.erase_ops != 2u || f.program_ops != 2u || f.program_bytes != 32u) {
        return 10; /* refused operations are not counted */
    }
    ooc_qflash_close(&f);
    return 0;
}

int main(void)
{
    int failed = check();
    return failed == 0 ? 0 : 10 + failed;
}
