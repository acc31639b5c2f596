/*
 * The sample files the example firmware reads and writes, whatever the platform: in.bin (the
 * model inputs of each sample, back to back) and out.bin (the outputs of each). On the QEMU board
 * they are host files reached through semihosting (app_io_qemu.c); on the host, files in the
 * working directory (app_io_host.c). A real product reads a sensor and acts on the outputs
 * instead.
 */
#ifndef APP_IO_H
#define APP_IO_H

#include <stdint.h>

/* Open in.bin for reading and out.bin for writing; in.bin's length in bytes, or -1. */
int32_t app_io_open(void);
/* Read the next `bytes` bytes of in.bin into `dst`; 0, or -1. */
int app_io_read(void *dst, uint32_t bytes);
/* Append `bytes` bytes to out.bin; 0, or -1. */
int app_io_write(const void *src, uint32_t bytes);
/* Close both files. */
void app_io_close(void);
/* A line on the console. */
void app_io_log(const char *line);

#endif /* APP_IO_H */
