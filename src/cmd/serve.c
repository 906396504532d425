/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin serve` (also the default with no subcommand): runs the device plugin
 * daemon on one event loop until SIGTERM/SIGINT.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "plugin/manager.h"
#include "resource/inventory.h"

static void
free_loop(struct gdp_loop **loop)
{
    gdp_loop_free(*loop);
}

static void
free_manager(struct gdp_manager **m)
{
    gdp_manager_free(*m);
}

int
gdp_cmd_serve(struct gdp_config *cfg, const struct gdp_config_source *src)
{
    struct gdp_diag diag = {0};
    _cleanup_(free_loop) struct gdp_loop *loop = NULL;
    _cleanup_(free_manager) struct gdp_manager *m = NULL;
    if (gdp_loop_new(&loop, &diag) < 0 || gdp_manager_new(loop, cfg, src, &m, &diag) < 0) {
        log_error("cannot start: %s", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    int r = gdp_manager_start(m, &diag);
    if (r < 0) {
        log_error("%s%s", diag.msg, gdp_inventory_hint(r));
        return GDP_EXIT_FAILURE;
    }
    r = gdp_loop_run(loop);
    if (r < 0) {
        log_error_errno(r, "event loop failed");
        return GDP_EXIT_FAILURE;
    }
    if (r > 0) {
        return GDP_EXIT_FAILURE; /* the manager gave up and logged why */
    }
    log_info("stopped");
    return GDP_EXIT_OK;
}
