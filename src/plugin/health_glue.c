/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health on the loop: records from the health thread go through the policy and state machine
 * (gpu/health.c); each transition is logged once and every open ListAndWatch stream of a
 * resource with a changed device gets one coalesced update. A timer applies quiet-period
 * recoveries.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/health.h"
#include "nvml/watcher.h"
#include "plugin/manager_int.h"
#include "plugin/observe.h"
#include "plugin/server.h"
#include "resource/resources.h"

static void
log_change(const struct gdp_device *d, const struct gdp_health_change *c)
{
    if (c->healthy) {
        log_info("device=%s index=%s healthy again: %s", d->uuid, d->index_str, c->reason);
    } else {
        log_warn("device=%s index=%s unhealthy xid=%llu: %s", d->uuid, d->index_str,
                 (unsigned long long)c->xid, c->reason);
    }
}

/* Whether resource r advertises a device whose health changed. */
static bool
resource_touched(const struct gdp_resource *r, const struct gdp_node *node,
                 const struct gdp_health_result *res)
{
    for (size_t i = 0; i < res->n_changes; i++) {
        const struct gdp_device *changed = &node->devices[res->changes[i].device];
        for (size_t j = 0; j < r->n_devices; j++) {
            if (r->devices[j].dev == changed) {
                return true;
            }
        }
    }
    return false;
}

/* One coalesced ListAndWatch update per resource that has a changed device. */
static void
publish_changes(struct gdp_manager *m, const struct gdp_health_result *res)
{
    const struct gdp_node *node = m->cur->inv.node;
    for (size_t i = 0; i < res->n_changes; i++) {
        log_change(&node->devices[res->changes[i].device], &res->changes[i]);
        gdp_observe_health(m, &node->devices[res->changes[i].device], &res->changes[i]);
    }
    for (size_t e = 0; e < m->n_entries && res->n_changes > 0; e++) {
        const struct gdp_resource *r =
                gdp_resource_find(m->cur->inv.set, gdp_plugin_resource(m->entries[e]->plugin));
        if (r != NULL && resource_touched(r, node, res)) {
            gdp_plugin_devices_changed(m->entries[e]->plugin);
        }
    }
    if (res->n_changes > 0) {
        gdp_manager_snapshot_changed(m);
    }
}

static void
arm_health_timer(struct gdp_manager *m)
{
    uint64_t deadline = gdp_health_state_next_deadline(m->health_state);
    if (m->health_timer == NULL || deadline == UINT64_MAX) {
        return;
    }
    uint64_t now = gdp_loop_now_ms();
    (void)gdp_loop_timer_set(m->health_timer, deadline > now ? deadline - now : 1, 0);
}

static void
health_tick(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    struct gdp_manager *m = userdata;
    struct gdp_health_result res;
    if (m->health_state == NULL) {
        return;
    }
    gdp_health_state_tick(m->health_state, gdp_loop_now_ms(), &res);
    publish_changes(m, &res);
    arm_health_timer(m);
}

static void
warn_record(const struct gdp_watcher_record *rec)
{
    if (rec->uuid[0] == '\0') {
        /* a failed event wait names no GPU: the probe that follows finds which */
        log_warn("health %s (no GPU named; probing every GPU): %s",
                 gdp_watcher_kind_name(rec->kind), rec->detail);
    } else {
        log_warn("health %s device=%s: %s", gdp_watcher_kind_name(rec->kind), rec->uuid,
                 rec->detail);
    }
}

static void
log_health_outcome(const struct gdp_watcher_record *rec, const struct gdp_health_result *res)
{
    switch (res->outcome) {
    case GDP_HEALTH_IGNORED_XID:
    case GDP_HEALTH_IGNORED_EVENT:
    case GDP_HEALTH_UNKNOWN_DEVICE:
        log_debug("health %s device=%s xid=%llu ignored (%s)", gdp_watcher_kind_name(rec->kind),
                  rec->uuid, (unsigned long long)rec->xid, rec->detail);
        break;
    case GDP_HEALTH_WAIT_ERROR:
    case GDP_HEALTH_NOT_MONITORED:
    case GDP_HEALTH_DROPPED:
        warn_record(rec);
        break;
    default:
        break;
    }
}

static void
health_record(struct gdp_loop *loop _unused_, const void *data, void *userdata)
{
    struct gdp_manager *m = userdata;
    const struct gdp_watcher_record *rec = data;
    struct gdp_health_result res;
    if (m->health_state == NULL || rec->generation != m->generation) {
        return; /* from before a reload */
    }
    gdp_observe_record(rec);
    if (gdp_health_state_apply(m->health_state, rec, gdp_loop_now_ms(), &res) < 0) {
        return;
    }
    log_health_outcome(rec, &res);
    publish_changes(m, &res);
    arm_health_timer(m);
}

struct gdp_health_state *
gdp_manager_health_stop(struct gdp_manager *m)
{
    struct gdp_health_state *st = m->health_state;
    gdp_watcher_stop(m->watcher);
    m->watcher = NULL;
    /* what the thread saw before it stopped still counts: applied to the state it came for */
    gdp_loop_deliver_posts(m->loop);
    m->health_state = NULL;
    if (m->health_timer != NULL) {
        (void)gdp_loop_timer_set(m->health_timer, 0, 0);
    }
    m->generation++;
    return st;
}

/* A reload re-discovers the node: health the old node's state knew is not forgotten. */
static void
carry_health(struct gdp_manager *m, struct gdp_health_state *was)
{
    const struct gdp_node *node = m->cur->inv.node;
    if (was == NULL || gdp_health_state_carry(m->health_state, was) == 0) {
        return;
    }
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (d->healthy) {
            continue;
        }
        log_warn("device=%s index=%s still unhealthy after the reload: %s", d->uuid, d->index_str,
                 d->reason);
    }
}

/* One line at start saying which XIDs recover by themselves (docs/health.md, "Recovery"). */
static void
log_recovery_rules(const struct gdp_config *cfg, const struct gdp_health_config *h)
{
    char listed[GDP_HEALTH_RECOVER_XIDS_MAX * 6] = "";
    size_t len = 0;
    for (size_t i = 0; i < cfg->n_health_recover_xids && len < sizeof listed; i++) {
        len += (size_t)snprintf(listed + len, sizeof listed - len, "%s%u", i > 0 ? "," : "",
                                cfg->health_recover_xids[i]);
    }
    if (!h->recovery) {
        log_info("health recovery off: an unhealthy device stays so until the plugin restarts");
        return;
    }
    log_info("health recovery: transient XIDs and --health-recover-xids=[%s] recover after the "
             "quiet period; reset-class and other XIDs wait for a GPU reset",
             listed);
}

void
gdp_manager_health_start(struct gdp_manager *m, struct gdp_health_state *was)
{
    struct gdp_node *node = m->cur->inv.node;
    struct gdp_diag diag = {0};
    if (!m->health_cfg.enabled || node == NULL || m->cur->inv.nv == NULL) {
        gdp_health_state_free(was);
        return;
    }
    /* the knob is in the config table, so a reload may change it */
    gdp_health_config_set_recover(&m->health_cfg, m->cur->cfg.health_recover_xids,
                                  m->cur->cfg.n_health_recover_xids);
    log_recovery_rules(&m->cur->cfg, &m->health_cfg);
    m->health_state = gdp_health_state_new(&m->health_cfg, node);
    carry_health(m, was);
    gdp_health_state_free(was);
    _cleanup_free_ const char **uuids = gdp_calloc_ptrs(node->n_devices);
    _cleanup_free_ bool *lost = gdp_calloc(node->n_devices + 1, sizeof *lost);
    size_t n = 0;
    for (size_t i = 0; i < node->n_devices && n < GDP_WATCHER_MAX_GPUS; i++) {
        if (node->devices[i].kind == GDP_DEVICE_GPU) {
            lost[n] = gdp_health_state_gpu_lost(m->health_state, i); /* told when it answers */
            uuids[n++] = node->devices[i].uuid;
        }
    }
    const struct gdp_watcher_opts opts = {
            .nv = m->cur->inv.nv,
            .loop = m->loop,
            .uuids = uuids,
            .lost = lost,
            .n_uuids = n,
            .probe_interval_ms = m->health_cfg.probe_interval_ms,
            .generation = m->generation,
    };
    if (gdp_watcher_start(&opts, &m->watcher, &diag) < 0) {
        log_error("health checks are off: %s", diag.msg);
        gdp_health_state_free(m->health_state);
        m->health_state = NULL;
        return;
    }
    arm_health_timer(m);
}

int
gdp_manager_health_setup(struct gdp_manager *m, struct gdp_diag *diag)
{
    struct gdp_health_warnings warn = {0};
    gdp_health_config_parse(&m->cur->cfg, &m->health_cfg, &warn);
    for (size_t i = 0; i < warn.n; i++) {
        log_warn("%s", warn.msg[i]);
    }
    if (!m->health_cfg.enabled) {
        log_info("health checks disabled by DP_DISABLE_HEALTHCHECKS");
        return 0;
    }
    int r = gdp_loop_set_post_handler(m->loop, sizeof(struct gdp_watcher_record),
                                      GDP_WATCHER_QUEUE_RECORDS, health_record, m, diag);
    if (r >= 0) {
        r = gdp_loop_timer_new(m->loop, health_tick, m, &m->health_timer, diag);
    }
    return r;
}

/* ---- plugins ---- */
