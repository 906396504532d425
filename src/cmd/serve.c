/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin serve` (also the default with no subcommand): runs the device plugin
 * daemon on one event loop until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/gfd.h"
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

/* --labels-output-file: the file named at start (a reload does not move it) and its writer. */
struct labels_out {
    char *path;
    struct gdp_gfd_writer *writer;
};

static void
labels_out_done(struct labels_out *o)
{
    free(o->path);
    gdp_gfd_writer_free(o->writer);
}

/* The GFD labels of the node the plugin serves (docs/labels.md). */
static void
write_labels(const struct gdp_config *cfg, const struct gdp_node *node, void *userdata)
{
    struct labels_out *o = userdata;
    (void)gdp_gfd_writer_write(o->writer, cfg, node, o->path);
}

static void
remove_labels(const char *path)
{
    if (path != NULL && path[0] != '\0' && unlink(path) < 0 && errno != ENOENT) {
        log_warn("cannot remove %s: %s", path, strerror(errno));
    }
}

int
gdp_cmd_serve(struct gdp_config *cfg, const struct gdp_config_source *src)
{
    struct gdp_diag diag = {0};
    _cleanup_(free_loop) struct gdp_loop *loop = NULL;
    _cleanup_(free_manager) struct gdp_manager *m = NULL;
    _cleanup_(labels_out_done) struct labels_out labels = {
            .path = gdp_strdup(cfg->labels_output_file != NULL ? cfg->labels_output_file : "")};
    if (gdp_loop_new(&loop, &diag) < 0 || gdp_manager_new(loop, cfg, src, &m, &diag) < 0) {
        log_error("cannot start: %s", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    if (labels.path[0] != '\0') {
        labels.writer = gdp_gfd_writer_new();
        gdp_manager_on_snapshot(m, write_labels, &labels);
    }
    int r = gdp_manager_start(m, &diag);
    if (r < 0) {
        log_error("%s%s", diag.msg, gdp_inventory_hint(r));
        return GDP_EXIT_FAILURE;
    }
    r = gdp_loop_run(loop);
    remove_labels(labels.path);
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
