/*
 * Power-on for the runners of every platform (the host flash runner and spill campaign in
 * ports/host, the QEMU firmware in ports/qemu_mps2): mount the image on the device's port, and
 * the activation spill ring on the image's scratch partition when the firmware's model spills.
 * It depends on the runtime alone, so a board's firmware can use it as it is. What differs per
 * platform stays with the caller: the port itself (the flash driver), where the identity and the
 * anti-rollback counter come from, and the spill ring's hardening (a TRNG salt, or a trusted
 * boot counter).
 */
#ifndef OOC_BOOT_H
#define OOC_BOOT_H

#include <stdint.h>

#include "ooc/ooc_image.h"
#include "ooc/ooc_port.h"
#include "ooc/ooc_spill.h"

typedef struct {
    /* The flash, the device identity and the AES engine. Required. */
    const ooc_port_t *port;
    /* Flash address of the image's first byte. */
    uint32_t base;
    /* The device's anti-rollback counter (0: none). */
    uint32_t min_security_counter;
    /* The device's trust anchors and the install's work buffer (ooc_image_config_t). */
    const uint8_t *trust_anchors;
    uint32_t n_trust_anchors;
    void *work;
    uint32_t work_bytes;
    /* The firmware's tables: the image must hold their model and plan (else OOC_ERR_MODEL).
       Required. */
    const ooc_model_t *model;
    /* The spill ring's hardening (ooc_spill_config_t): a trusted boot counter's next value, and
       fresh TRNG bytes. A model that spills needs at least one (ooc_init() refuses the ring
       otherwise). */
    uint32_t min_boot;
    const uint8_t *boot_salt;
} ooc_boot_config_t;

/* Mount the image at cfg->base for cfg->model. OOC_OK or the mount's error (ooc_image_mount()). */
int ooc_boot_image(const ooc_boot_config_t *cfg, ooc_image_t *image);

/* Mount the spill ring on the scratch partition of the mounted `image`, with its tag algorithm.
   OOC_OK or the mount's error (ooc_spill_mount()). */
int ooc_boot_spill(const ooc_boot_config_t *cfg, const ooc_image_t *image, ooc_spill_t *spill);

#endif /* OOC_BOOT_H */
