/* The sample files on the QEMU mps2-an386 board (app_io.h): host files in QEMU's working
   directory, through the board's semihosting calls (ooc's reference port, ports/qemu_mps2). */
#include "app_io.h"
#include "semihost.h"

static int in_handle = -1;
static int out_handle = -1;

int32_t app_io_open(void)
{
    in_handle = sh_open("in.bin", SH_MODE_RB);
    out_handle = sh_open("out.bin", SH_MODE_WB);
    if (in_handle < 0 || out_handle < 0) {
        return -1;
    }
    return sh_flen(in_handle);
}

int app_io_read(void *dst, uint32_t bytes)
{
    return sh_read(in_handle, dst, bytes) == 0 ? 0 : -1;
}

int app_io_write(const void *src, uint32_t bytes)
{
    return sh_write(out_handle, src, bytes) == 0 ? 0 : -1;
}

void app_io_close(void)
{
    if (in_handle >= 0) {
        sh_close(in_handle);
    }
    if (out_handle >= 0) {
        sh_close(out_handle);
    }
}

void app_io_log(const char *line)
{
    sh_puts(line);
    sh_puts("\n");
}
