/* The spill ring on the flash (spill_ring.c), private to the spill unit (spill.c). */
#ifndef OOC_SPILL_RING_H
#define OOC_SPILL_RING_H

#include "ooc/ooc_spill.h"

#define SH_BYTES OOC_SPILL_SECTOR_HEADER_BYTES
#define RH_BYTES OOC_SPILL_RECORD_HEADER_BYTES
#define ALIGN OOC_SPILL_RECORD_ALIGN
#define TAG_BYTES OOC_TAG_BYTES
#define MIN_SECTOR_BYTES 256u

enum { ST_UNMOUNTED = 0, ST_MOUNTED = 1, ST_FAILED = 2 };

/* -- bytes ------------------------------------------------------------------------------------- */

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static inline int is_pow2(uint32_t n)
{
    return n != 0u && (n & (n - 1u)) == 0u;
}

/* -- the ring ---------------------------------------------------------------------------------- */

/* Flash address of ring sector `sector` (0-based in the partition). */
uint32_t ooc_ring_sector_addr(const ooc_spill_t *sp, uint32_t sector);

/* Counted flash access (sp->counters): a read; one page program ([addr, addr + len) within one
   page); any range, one program command per page it touches. OOC_ERR_IO when the port fails. */
int ooc_ring_read(ooc_spill_t *sp, uint32_t addr, void *buf, uint32_t len);
int ooc_ring_program(ooc_spill_t *sp, uint32_t addr, const uint8_t *data, uint32_t len);
int ooc_ring_program_range(ooc_spill_t *sp, uint32_t addr, const uint8_t *data, uint32_t len);

/* A record header (docs/spill.md), its CRC included. */
void ooc_ring_record_header(uint8_t h[RH_BYTES], uint32_t type, uint32_t len, uint32_t boot,
                            uint32_t tensor, uint32_t tile, uint64_t seq);

/* Open the next sector of the ring (sector 0 of an empty ring) and make it the head: announce
   the erase in the head's header, erase, write the new sector's header. */
int ooc_ring_open_next(ooc_spill_t *sp);

/* Mount's recovery: find the head (the valid sector with the highest ring sequence) and the
   write position in it past every byte that may have been programmed; *max_boot gets the
   highest boot number the sector headers and the head's records hold (0 on an empty ring). */
int ooc_ring_recover(ooc_spill_t *sp, uint32_t *max_boot);

#endif /* OOC_SPILL_RING_H */
