/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin serve` (also the default with no subcommand): discovers the node and
 * reports what it would advertise. Serving the kubelet's gRPC API is not built yet.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "resource/resources.h"

int
gdp_cmd_serve(const struct gdp_config *cfg)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_inventory_done) struct gdp_inventory inv = {0};
    int r = gdp_inventory_load(cfg, &inv, &diag);
    if (r < 0) {
        gdp_inventory_log_failure(cfg, r, &diag);
        return GDP_EXIT_FAILURE;
    }
    for (size_t i = 0; i < inv.set->n_resources; i++) {
        log_info("resource=%s devices=%zu", inv.set->resources[i].name,
                 inv.set->resources[i].n_devices);
    }
    log_error("serving the kubelet device plugin API is not implemented in this build; use "
              "'gpu-device-plugin list' to see what would be advertised");
    return GDP_EXIT_FAILURE;
}
