/* The sample files on the host (app_io.h): in.bin and out.bin in the working directory. */
#include <stdio.h>

#include "app_io.h"

static FILE *in_file;
static FILE *out_file;

int32_t app_io_open(void)
{
    long length;
    in_file = fopen("in.bin", "rb");
    out_file = fopen("out.bin", "wb");
    if (in_file == NULL || out_file == NULL || fseek(in_file, 0, SEEK_END) != 0) {
        return -1;
    }
    length = ftell(in_file);
    if (length < 0 || length > INT32_MAX || fseek(in_file, 0, SEEK_SET) != 0) {
        return -1;
    }
    return (int32_t)length;
}

int app_io_read(void *dst, uint32_t bytes)
{
    return fread(dst, 1u, bytes, in_file) == bytes ? 0 : -1;
}

int app_io_write(const void *src, uint32_t bytes)
{
    return fwrite(src, 1u, bytes, out_file) == bytes ? 0 : -1;
}

void app_io_close(void)
{
    if (in_file != NULL) {
        fclose(in_file);
    }
    if (out_file != NULL) {
        fclose(out_file);
    }
}

void app_io_log(const char *line)
{
    fprintf(stderr, "%s\n", line);
}
