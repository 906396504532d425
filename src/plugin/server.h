/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One DevicePlugin gRPC server for one resource (nvidia.com/gpu, nvidia.com/mig-1g.5gb, ...):
 * GetDevicePluginOptions, ListAndWatch (the full device list when opened and after every
 * change, coalesced to the newest), Allocate, GetPreferredAllocation and PreStartContainer,
 * served on <socket dir>/nvidia-<name>.sock. It answers from the cached device model and
 * never blocks the loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct gdp_diag;
struct gdp_loop;
struct gdp_plugin;
struct gdp_resource;
struct gdp_snapshot;

/*
 * Creates the server for resource res of snapshot s (both borrowed, valid until the next
 * gdp_plugin_set_snapshot() or gdp_plugin_free()) with its socket in socket_dir (not yet
 * listening). Returns 0 and *ret (caller frees with gdp_plugin_free()), or -ENAMETOOLONG /
 * -EINVAL with diag filled.
 */
int gdp_plugin_new(struct gdp_loop *loop, const struct gdp_snapshot *s,
                   const struct gdp_resource *res, const char *socket_dir, struct gdp_plugin **ret,
                   struct gdp_diag *diag);

/*
 * Listens on the plugin socket (replacing a stale file). Calling it while listening restarts
 * the server: open calls end UNAVAILABLE and the socket is created anew. Returns 0 or -errno
 * with diag filled.
 */
int gdp_plugin_listen(struct gdp_plugin *p, struct gdp_diag *diag);

/* Whether the socket file we created is still in place (the kubelet deletes plugin sockets
 * when it starts). */
bool gdp_plugin_socket_present(const struct gdp_plugin *p);

/* Graceful stop: GOAWAY to every connection, streams end UNAVAILABLE, socket removed. */
void gdp_plugin_shutdown(struct gdp_plugin *p);

/* Frees the plugin (closing connections at once if still open). Accepts NULL. */
void gdp_plugin_free(struct gdp_plugin *p);

/* Points the plugin at a new snapshot and its resource of the same name (after a reload).
 * The previous snapshot may be freed once this returns. */
void gdp_plugin_set_snapshot(struct gdp_plugin *p, const struct gdp_snapshot *s,
                             const struct gdp_resource *res);

/* Sends the current device list (IDs, health, NUMA) on every open ListAndWatch stream. */
void gdp_plugin_devices_changed(struct gdp_plugin *p);

/* Open ListAndWatch streams. */
size_t gdp_plugin_n_watchers(const struct gdp_plugin *p);

/* The resource name, the socket path and its basename (the Register endpoint). Borrowed. */
const char *gdp_plugin_resource(const struct gdp_plugin *p);
const char *gdp_plugin_socket(const struct gdp_plugin *p);
const char *gdp_plugin_endpoint(const struct gdp_plugin *p);
