/*
 * The port's constraints (ooc/ooc_port.h), checked once for both mounts.
 */
#include "ooc/ooc_port.h"

#include <stddef.h>

static int pow2_or_zero(uint32_t n)
{
    return (n & (n - 1u)) == 0u;
}

int ooc_port_check(const ooc_port_t *port, uint32_t needs)
{
    if (port == NULL || port->read == NULL || port->flash_bytes == 0u || port->device_uid == NULL ||
        port->root_key == NULL || (port->root_key_bytes != 16u && port->root_key_bytes != 32u)) {
        return OOC_ERR_ARG;
    }
    if ((port->read_start == NULL) != (port->read_wait == NULL) ||
        (port->program == NULL) != (port->erase == NULL) ||
        (port->aes_bulk != NULL && (port->aes_bulk->ctr_start == NULL || port->aes_bulk->ctr_wait == NULL))) {
        return OOC_ERR_ARG;
    }
    if (!pow2_or_zero(port->page_bytes) || !pow2_or_zero(port->sector_bytes) ||
        (port->page_bytes == 0u) != (port->sector_bytes == 0u) || port->sector_bytes < port->page_bytes) {
        return OOC_ERR_ARG;
    }
    if ((port->program != NULL || needs == OOC_PORT_WRITES) && (port->program == NULL || port->page_bytes == 0u)) {
        return OOC_ERR_ARG; /* a writing port needs its geometry; a write needs a writing port */
    }
    return OOC_OK;
}
