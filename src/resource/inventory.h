/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inventory shared by `list` and `serve`: NVML, the discovered node and the resource set
 * built from it under the configured MIG strategy.
 */
#pragma once

struct gdp_config;
struct gdp_diag;
struct gdp_node;
struct gdp_nvml;
struct gdp_resource_set;

struct gdp_inventory {
    struct gdp_nvml *nv;          /* NULL when NVML could not be loaded or initialised */
    struct gdp_node *node;        /* NULL when NVML is unavailable */
    struct gdp_resource_set *set; /* always set; empty without NVML */
    char nvml_error[512];         /* why NVML is unavailable; empty otherwise */
    char library[256];            /* the NVML library path that was (or would be) loaded */
};

/*
 * Loads NVML, discovers the node and builds its resources under cfg (MIG strategy, then
 * sharing). NVML load/init failures return GDP_E_NVML / GDP_E_NVML_MISSING when
 * cfg->fail_on_init_error is set; otherwise they leave an empty inventory with nvml_error
 * filled and return 0. MIG layouts the strategy cannot serve return GDP_E_MIG; a sharing
 * section that does not fit the node returns GDP_E_CONFIG. diag (required) explains any
 * failure. Release with gdp_inventory_done() in every case.
 */
int gdp_inventory_load(const struct gdp_config *cfg, struct gdp_inventory *inv,
                       struct gdp_diag *diag);

/* gdp_inventory_load() in two steps: NVML and the node, then the resources (same returns). */
int gdp_inventory_discover(const struct gdp_config *cfg, struct gdp_inventory *inv,
                           struct gdp_diag *diag);
int gdp_inventory_build(const struct gdp_config *cfg, struct gdp_inventory *inv,
                        struct gdp_diag *diag);
void gdp_inventory_done(struct gdp_inventory *inv);

/* A hint for the operator to add to a gdp_inventory_load() failure r (static; may be ""). */
const char *gdp_inventory_hint(int r);
