/*
 * Power-on for every platform's runners: ooc_boot.h.
 */
#include "ooc_boot.h"

#include <string.h>

int ooc_boot_image(const ooc_boot_config_t *cfg, ooc_image_t *image)
{
    ooc_image_config_t icfg;
    memset(&icfg, 0, sizeof icfg);
    icfg.port = cfg->port;
    icfg.base = cfg->base;
    icfg.min_security_counter = cfg->min_security_counter;
    icfg.expected_model_sha256 = cfg->model->model_sha256;
    icfg.expected_plan_id = cfg->model->plan_id;
    icfg.trust_anchors = cfg->trust_anchors;
    icfg.n_trust_anchors = cfg->n_trust_anchors;
    icfg.work = cfg->work;
    icfg.work_bytes = cfg->work_bytes;
    return ooc_image_mount(image, &icfg);
}

int ooc_boot_spill(const ooc_boot_config_t *cfg, const ooc_image_t *image, ooc_spill_t *spill)
{
    ooc_spill_config_t scfg;
    memset(&scfg, 0, sizeof scfg);
    scfg.port = cfg->port;
    scfg.base = cfg->base + image->scratch_begin;
    scfg.bytes = image->scratch_end - image->scratch_begin;
    scfg.tag_alg = image->tag_alg;
    scfg.min_boot = cfg->min_boot;
    scfg.boot_salt = cfg->boot_salt;
    return ooc_spill_mount(spill, &scfg);
}
