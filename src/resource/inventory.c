/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inventory shared by `list` and `serve`: NVML, the discovered node and the resource set
 * built from it under the configured MIG strategy.
 */
#include "resource/inventory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "nvml/nvml.h"
#include "resource/resources.h"

void
gdp_inventory_done(struct gdp_inventory *inv)
{
    if (inv == NULL) {
        return;
    }
    gdp_resource_set_done(inv->set);
    free(inv->set);
    gdp_node_free(inv->node);
    gdp_nvml_free(inv->nv);
    *inv = (struct gdp_inventory){0};
}

int
gdp_inventory_discover(const struct gdp_config *cfg, struct gdp_inventory *inv,
                       struct gdp_diag *diag)
{
    const struct gdp_discover_opts opts = {
            .sysfs_root = gdp_nonempty(cfg->sysfs_root),
            .proc_root = gdp_nonempty(cfg->proc_root),
    };
    *inv = (struct gdp_inventory){.set = gdp_calloc(1, sizeof *inv->set)};
    _cleanup_free_ char *lib = gdp_nvml_library_path(cfg->driver_root_ctr_path);
    (void)gdp_strlcpy(inv->library, lib, sizeof inv->library);
    int r = gdp_nvml_open(cfg->driver_root_ctr_path, &inv->nv, diag);
    if (r < 0) {
        if (cfg->fail_on_init_error) {
            return r;
        }
        (void)gdp_strlcpy(inv->nvml_error, diag->msg, sizeof inv->nvml_error);
        return 0;
    }
    r = gdp_discover(inv->nv, &opts, &inv->node, diag);
    if (r < 0) {
        if (cfg->fail_on_init_error) {
            return r;
        }
        (void)gdp_strlcpy(inv->nvml_error, diag->msg, sizeof inv->nvml_error);
        return 0;
    }
    return 0;
}

int
gdp_inventory_build(const struct gdp_config *cfg, struct gdp_inventory *inv, struct gdp_diag *diag)
{
    if (inv->node == NULL) {
        return 0;
    }
    return gdp_resources_build(inv->node, cfg, inv->set, diag);
}

int
gdp_inventory_load(const struct gdp_config *cfg, struct gdp_inventory *inv, struct gdp_diag *diag)
{
    int r = gdp_inventory_discover(cfg, inv, diag);
    return r < 0 ? r : gdp_inventory_build(cfg, inv, diag);
}

const char *
gdp_inventory_hint(int r)
{
    switch (r) {
    case GDP_E_NVML_MISSING:
        return "; is the NVIDIA driver installed and its root mounted at --driver-root-ctr-path? "
               "(--fail-on-init-error=false runs without GPUs)";
    case GDP_E_NVML:
        return " (--fail-on-init-error=false runs without GPUs)";
    default:
        return "";
    }
}
