/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's lifecycle: discovers the node, starts one DevicePlugin server per resource,
 * registers each with the kubelet (retrying with capped backoff while it is away), watches
 * the socket directory so that a restarted kubelet (new kubelet.sock) or a deleted plugin
 * socket leads to serving and registering again, re-discovers on SIGHUP, and stops cleanly
 * on SIGTERM/SIGINT. Everything runs on the loop thread.
 */
#pragma once

struct gdp_config;
struct gdp_config_source;
struct gdp_diag;
struct gdp_loop;
struct gdp_manager;
struct gdp_node;

/* See gdp_manager_on_snapshot(). cfg and node (NULL without NVML) are borrowed for the call. */
typedef void gdp_manager_snapshot_fn(const struct gdp_config *cfg, const struct gdp_node *node,
                                     void *userdata);

/*
 * Creates the manager and installs its signal handlers on loop. Takes over the contents of
 * cfg (left empty); src (borrowed, must outlive the manager) is parsed again on reloads.
 * Returns 0 and *ret (caller frees with gdp_manager_free()), or -errno with diag filled.
 */
int gdp_manager_new(struct gdp_loop *loop, struct gdp_config *cfg,
                    const struct gdp_config_source *src, struct gdp_manager **ret,
                    struct gdp_diag *diag);

/*
 * Discovers the node, starts serving and registering, and starts watching the socket
 * directory and the config file. Returns 0, or the inventory error
 * (GDP_E_NVML*, GDP_E_MIG) when the node cannot be served and --fail-on-init-error is set.
 */
int gdp_manager_start(struct gdp_manager *m, struct gdp_diag *diag);

/*
 * Calls fn on the loop thread once the manager serves a snapshot: after gdp_manager_start(),
 * after each reload that replaced the snapshot, and after each device health change (the
 * node labels of `serve --labels-output-file`). Set it before gdp_manager_start().
 */
void gdp_manager_on_snapshot(struct gdp_manager *m, gdp_manager_snapshot_fn *fn, void *userdata);

/* Stops every server and frees everything. Accepts NULL. */
void gdp_manager_free(struct gdp_manager *m);
