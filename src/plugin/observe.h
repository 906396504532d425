/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Observability of the running daemon: the opt-in HTTP endpoint (--metrics-address) with
 * /metrics, /healthz, /readyz and /debug/state, the gauges read from the manager's state at
 * scrape time, and the per-device health history `explain` shows. The manager calls these
 * hooks; everything runs on the loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct gdp_device;
struct gdp_diag;
struct gdp_health_change;
struct gdp_watcher_record;
struct gdp_manager;

/*
 * Starts the endpoint when the configuration names an address (nothing otherwise: no socket,
 * no cost). Returns 0, or -EINVAL / -errno with diag filled when it cannot listen.
 */
int gdp_observe_start(struct gdp_manager *m, struct gdp_diag *diag);

/* Stops the endpoint and frees what observing holds. Accepts a manager that never started. */
void gdp_observe_free(struct gdp_manager *m);

/* A device's health flipped (health_glue.c): remembered with the time, for `explain`. */
void gdp_observe_health(struct gdp_manager *m, const struct gdp_device *d,
                        const struct gdp_health_change *c);

/* A record from the health thread arrived: XID events are counted by GPU and XID. */
void gdp_observe_record(const struct gdp_watcher_record *rec);

/*
 * Whether the daemon is ready: the kubelet socket exists, and every resource is registered
 * and has an open ListAndWatch stream. When not, why (a short sentence) goes into why.
 */
bool gdp_observe_ready(const struct gdp_manager *m, char *why, size_t len);

/* When device uuid last changed health (seconds since the epoch) and the XID then; false
 * when it never changed since start. */
bool gdp_observe_since(const struct gdp_manager *m, const char *uuid, long long *ret_since,
                       unsigned long long *ret_xid);

/* The /debug/state document (docs/metrics.md): caller frees with free(). */
char *gdp_observe_state_json(const struct gdp_manager *m, size_t *ret_len);
