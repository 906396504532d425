/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon lifecycle on the loop. A snapshot (configuration, discovered node, resources, CDI
 * and IMEX state) is built whole and only then put in place: at start, and on a reload
 * (SIGHUP, config file change), where an invalid configuration or a failed discovery keeps
 * the current snapshot. A reload applies the difference: resources that stay keep their
 * server and registration and get the new device list on their open ListAndWatch streams;
 * new ones start and register; removed ones stop and their sockets go.
 *
 * A re-discovery that cannot read a device the served node read (an NVML error, a GPU lost
 * for a moment) defers the reload: the current snapshot keeps serving, with its health, and
 * the reload is retried. After RELOAD_TRIES it goes on without the device. Devices a
 * discovery could not read, at start or later, are looked for every GDP_REDISCOVERY_INTERVAL
 * and brought back by a reload once they answer.
 */
#include "plugin/manager.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/manager_int.h"
#include "plugin/observe.h"
#include "plugin/server.h"
#include "resource/cdi.h"
#include "resource/imex.h"
#include "resource/inventory.h"
#include "resource/mps.h"
#include "resource/resources.h"

#define DEFAULT_SOCKET_DIR "/var/lib/kubelet/device-plugins"
#define STOP_GRACE_MS      100
#define RELOAD_TRIES       6 /* deferred attempts (1 s, doubling) before going on without */
#define RETRY_FIRST_MS     1000u

/* ---- snapshots ---- */

/* What the discovery could not read: GPUs not advertised, devices advertised unhealthy. */
static void
log_discovery(const struct gdp_node *node)
{
    for (size_t i = 0; node != NULL && i < node->n_problems; i++) {
        log_warn("GPU %s is not advertised: %s", node->problems[i].index_str,
                 node->problems[i].reason);
    }
    for (size_t i = 0; node != NULL && i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (d->healthy) {
            continue;
        }
        log_warn("device=%s index=%s unhealthy from discovery: %s", d->uuid, d->index_str,
                 d->reason);
    }
}

/* Called before health is applied to the snapshot's node: what discovery found. */
static void
log_snapshot(const struct gdp_snapshot *s)
{
    log_discovery(s->inv.node);
    if (s->inv.nvml_error[0] != '\0') {
        log_warn("NVML unavailable and --fail-on-init-error=false: %s; serving no devices",
                 s->inv.nvml_error);
    }
    for (size_t i = 0; i < s->inv.set->n_warnings; i++) {
        log_warn("%s", s->inv.set->warnings[i]);
    }
    for (size_t i = 0; i < s->imex.n_missing; i++) {
        log_warn("IMEX channel %u has no device node, ignoring", s->imex.missing[i]);
    }
    if (s->cdi_kinds != 0) {
        log_info("CDI specs written to %s", s->cfg.cdi_spec_dir);
    }
}

/* ---- entries ---- */

static void
start_entry(struct gdp_manager *m, const struct gdp_resource *res, struct gdp_entry **slot)
{
    *slot = gdp_entry_new(m, res);
    if (*slot != NULL) {
        gdp_entry_start(*slot);
    }
}

static void
stop_entries(struct gdp_manager *m)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        gdp_entry_free(m->entries[i]);
    }
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}

/* Takes the entry serving `name` out of the current list, or NULL. */
static struct gdp_entry *
take_entry(struct gdp_manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        struct gdp_entry *e = m->entries[i];
        if (e != NULL && streq(gdp_plugin_resource(e->plugin), name)) {
            m->entries[i] = NULL;
            return e;
        }
    }
    return NULL;
}

/* Stops the entries left in the current list (their resources are gone). */
static void
drop_leftovers(struct gdp_manager *m)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        struct gdp_entry *e = m->entries[i];
        if (e == NULL) {
            continue;
        }
        log_info("resource=%s no longer advertised: stopping its server",
                 gdp_plugin_resource(e->plugin));
        gdp_entry_free(e);
    }
}

/* The entry for res: the kept one with the new context and a ListAndWatch update, or new. */
static struct gdp_entry *
keep_or_start(struct gdp_manager *m, const struct gdp_resource *res)
{
    struct gdp_entry *e = take_entry(m, res->name);
    if (e == NULL) {
        start_entry(m, res, &e);
        return e;
    }
    gdp_plugin_set_snapshot(e->plugin, m->cur, res);
    gdp_plugin_devices_changed(e->plugin);
    return e;
}

/*
 * Makes the entries match the current snapshot: kept resources get the new context and a
 * ListAndWatch update, new ones start, the rest stop.
 */
static void
sync_entries(struct gdp_manager *m)
{
    const struct gdp_resource_set *set = m->cur->inv.set;
    struct gdp_entry **next = gdp_calloc_ptrs(set->n_resources);
    size_t n = 0;
    for (size_t i = 0; i < set->n_resources; i++) {
        next[n] = keep_or_start(m, &set->resources[i]);
        n += next[n] != NULL;
    }
    drop_leftovers(m);
    free(m->entries);
    m->entries = next;
    m->n_entries = n;
    if (n == 0) {
        log_info("No devices found. Waiting indefinitely.");
    }
}

/* Looks for the missing devices after GDP_REDISCOVERY_INTERVAL, unless that is never. */
static void
arm_recheck(struct gdp_manager *m)
{
    int64_t ns = m->cur->cfg.rediscovery_interval_ns;
    if (m->missing.n > 0 && ns > 0) {
        uint64_t ms = (uint64_t)ns / 1000000u;
        (void)gdp_loop_timer_set(m->reload_timer, ms > 0 ? ms : 1, 0);
    }
}

/*
 * What the node of inv (a new snapshot's, before health marks it) read: missing becomes
 * what it could not read (its discovery failures, what a reload went on without, and what
 * was missing before and still is), looked for again by arm_recheck().
 */
static void
track_missing(struct gdp_manager *m, const struct gdp_inventory *inv)
{
    struct gdp_places missed = {0};
    struct gdp_diag diag = {0};
    (void)gdp_places_missed(&m->missing, inv->node, inv->nvml_error, &missed, NULL);
    if (gdp_places_missed(&m->places, inv->node, inv->nvml_error, &missed, &diag) > 0) {
        log_error("reload: going on without what the re-discovery still cannot read after %d "
                  "attempts (%s); it is looked for again every GDP_REDISCOVERY_INTERVAL",
                  RELOAD_TRIES, diag.msg);
    }
    gdp_places_failed(inv->node, &missed);
    gdp_places_done(&m->missing);
    m->missing = missed;
    gdp_places_done(&m->places);
    gdp_places_of(inv->node, &m->places);
}

/* Puts next in place of the current snapshot, with the health carried over. */
static void
apply(struct gdp_manager *m, struct gdp_snapshot *next, uint64_t hash)
{
    for (size_t i = 0; i < next->cfg.warnings.n; i++) {
        log_warn("%s", next->cfg.warnings.v[i]);
    }
    gdp_log_level = next->cfg.log_level;
    track_missing(m, &next->inv);
    struct gdp_health_state *was = gdp_manager_health_stop(m);
    struct gdp_snapshot *old = m->cur;
    m->cur = next;
    m->config_hash = hash;
    arm_recheck(m);
    log_snapshot(next);
    gdp_manager_health_start(m, was); /* before the new lists go out, with the health carried */
    sync_entries(m);
    gdp_snapshot_free(old); /* nothing refers to it any more */
    gdp_manager_snapshot_changed(m);
    gdp_metric_inc1(GDP_M_CONFIG_RELOADS, "applied");
}

/* A reload that could not be applied: retried when NVML failed it, else given up. */
static void
reload_failed(struct gdp_manager *m, int r, const struct gdp_diag *diag)
{
    bool nvml = r == -EAGAIN || r == GDP_E_NVML || r == GDP_E_NVML_MISSING;
    if (nvml && m->reload_tries < RELOAD_TRIES) {
        unsigned ms = RETRY_FIRST_MS << m->reload_tries++;
        log_warn("reload deferred, still serving the current devices: %s; retrying in %us "
                 "(%u of %d)",
                 diag->msg, ms / 1000, m->reload_tries, RELOAD_TRIES);
        (void)gdp_loop_timer_set(m->reload_timer, ms, 0);
        gdp_metric_inc1(GDP_M_CONFIG_RELOADS, "deferred");
        return;
    }
    m->reload_tries = 0;
    arm_recheck(m);
    log_error("reload failed, still serving the previous configuration: %s%s", diag->msg,
              gdp_inventory_hint(r));
    gdp_metric_inc1(GDP_M_CONFIG_RELOADS, "rejected");
}

static void
try_reload(struct gdp_manager *m, const char *why)
{
    struct gdp_diag diag = {0};
    struct gdp_config cfg;
    struct gdp_snapshot *next = NULL;
    /* the last try goes on without what it cannot read */
    const struct gdp_places *expect = m->reload_tries < RELOAD_TRIES ? &m->places : NULL;
    log_info("%s: reloading the configuration and re-discovering devices", why);
    /* hashed before it is parsed: an edit made while the reload runs is seen as a change */
    uint64_t hash = gdp_watch_config_hash(m->cur->cfg.config_file);
    int r = gdp_config_load(&cfg, &m->src, &diag);
    if (r >= 0) {
        r = gdp_snapshot_build(&cfg, expect, &next, &diag);
    }
    gdp_config_done(&cfg);
    if (r < 0) {
        reload_failed(m, r, &diag);
        return;
    }
    m->reload_tries = 0;
    apply(m, next, hash);
}

void
gdp_manager_reload(struct gdp_manager *m, const char *why)
{
    m->reload_tries = 0;
    (void)gdp_loop_timer_set(m->reload_timer, 0, 0);
    try_reload(m, why);
}

/* Whether a discovery now reads some device a reload went on without. */
static bool
missing_found(struct gdp_manager *m)
{
    struct gdp_inventory inv;
    struct gdp_diag diag = {0};
    int r = gdp_inventory_discover(&m->cur->cfg, &inv, &diag);
    size_t still = m->missing.n;
    if (r >= 0) {
        still = gdp_places_missed(&m->missing, inv.node, inv.nvml_error, NULL, &diag);
    }
    gdp_inventory_done(&inv);
    if (still == m->missing.n) {
        log_debug("still not read: %s", diag.msg);
    }
    return still < m->missing.n;
}

static void
reload_timer_fired(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_,
                   void *userdata)
{
    struct gdp_manager *m = userdata;
    if (m->stop_timer != NULL) {
        return;
    }
    if (m->reload_tries > 0) {
        try_reload(m, "retry");
    } else if (m->missing.n > 0 && missing_found(m)) {
        gdp_manager_reload(m, "a device the discovery could not read answers now");
    } else {
        arm_recheck(m);
    }
}

/* ---- signals ---- */

static void
stop_fired(struct gdp_loop *loop, struct gdp_loop_timer *timer _unused_, void *userdata _unused_)
{
    gdp_loop_quit(loop, 0);
}

static void
on_signal(struct gdp_loop *loop, int signo, void *userdata)
{
    struct gdp_manager *m = userdata;
    if (signo == SIGHUP) {
        if (m->stop_timer == NULL) {
            gdp_manager_reload(m, "SIGHUP");
        }
        return;
    }
    if (m->stop_timer != NULL) {
        return; /* already stopping */
    }
    log_info("%s: stopping the device plugin servers", strsignal(signo));
    for (size_t i = 0; i < m->n_entries; i++) {
        gdp_entry_cancel_registration(m->entries[i]);
        gdp_plugin_shutdown(m->entries[i]->plugin);
    }
    struct gdp_diag diag = {0};
    /* a short grace period lets GOAWAY and the final statuses reach the peers */
    if (gdp_loop_timer_new(loop, stop_fired, m, &m->stop_timer, &diag) < 0 ||
        gdp_loop_timer_set(m->stop_timer, STOP_GRACE_MS, 0) < 0) {
        gdp_loop_quit(loop, 0);
    }
}

/* ---- lifecycle ---- */

static char *
socket_dir_for(const char *kubelet_socket)
{
    if (kubelet_socket == NULL) {
        return gdp_strdup(DEFAULT_SOCKET_DIR);
    }
    _cleanup_free_ char *copy = gdp_strdup(kubelet_socket);
    return gdp_strdup(dirname(copy));
}

static int
install_signals(struct gdp_manager *m, struct gdp_diag *diag)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};
    for (size_t i = 0; i < ELEMENTSOF(signals); i++) {
        int r = gdp_loop_add_signal(m->loop, signals[i], on_signal, m);
        if (r < 0) {
            return gdp_diag_set(diag, r, "cannot install signal handlers: %s", gdp_strerror(r));
        }
    }
    return 0;
}

int
gdp_manager_new(struct gdp_loop *loop, struct gdp_config *cfg, const struct gdp_config_source *src,
                struct gdp_manager **ret, struct gdp_diag *diag)
{
    struct gdp_manager *m = gdp_calloc(1, sizeof *m);
    m->loop = loop;
    m->src = *src;
    m->inotify_fd = -1;
    m->config_wd[0] = m->config_wd[1] = -1;
    m->cur = gdp_snapshot_new(cfg); /* discovery happens in gdp_manager_start() */
    const char *ks = m->cur->cfg.kubelet_socket;
    if (ks != NULL && ks[0] != '\0') {
        m->kubelet_socket = gdp_strdup(ks);
        const char *slash = strrchr(m->kubelet_socket, '/');
        m->kubelet_name = slash != NULL ? slash + 1 : m->kubelet_socket;
    }
    m->socket_dir = socket_dir_for(m->kubelet_socket);
    int r = install_signals(m, diag);
    if (r >= 0) {
        r = gdp_loop_timer_new(loop, reload_timer_fired, m, &m->reload_timer, diag);
    }
    if (r >= 0) {
        r = gdp_manager_health_setup(m, diag);
    }
    if (r < 0) {
        gdp_manager_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

int
gdp_manager_start(struct gdp_manager *m, struct gdp_diag *diag)
{
    struct gdp_snapshot *s = NULL;
    if (m->kubelet_socket == NULL) {
        log_info("--kubelet-socket is empty: serving in %s without registering", m->socket_dir);
    }
    int r = gdp_snapshot_build(&m->cur->cfg, NULL, &s, diag);
    if (r < 0) {
        return r;
    }
    gdp_snapshot_free(m->cur);
    m->cur = s;
    track_missing(m, &s->inv);
    arm_recheck(m);
    r = gdp_watch_setup(m, diag);
    if (r < 0) {
        return r;
    }
    log_snapshot(s);
    r = gdp_observe_start(m, diag);
    if (r < 0) {
        return r;
    }
    sync_entries(m);
    gdp_manager_health_start(m, NULL);
    gdp_manager_snapshot_changed(m);
    return 0;
}

void
gdp_manager_on_snapshot(struct gdp_manager *m, gdp_manager_snapshot_fn *fn, void *userdata)
{
    m->on_snapshot = fn;
    m->on_snapshot_data = userdata;
}

void
gdp_manager_snapshot_changed(struct gdp_manager *m)
{
    if (m->on_snapshot != NULL) {
        m->on_snapshot(&m->cur->cfg, m->cur->inv.node, m->on_snapshot_data);
    }
}

void
gdp_manager_free(struct gdp_manager *m)
{
    if (m == NULL) {
        return;
    }
    /* stopping the health thread applies its last records: their changes reach no hook now
     * (serve's label writer is gone by then) */
    m->on_snapshot = NULL;
    gdp_health_state_free(gdp_manager_health_stop(m));
    gdp_loop_timer_free(m->health_timer);
    gdp_observe_free(m);
    stop_entries(m);
    gdp_watch_done(m);
    gdp_snapshot_free(m->cur);
    gdp_loop_timer_free(m->stop_timer);
    gdp_loop_timer_free(m->reload_timer);
    gdp_places_done(&m->places);
    gdp_places_done(&m->missing);
    free(m->kubelet_socket);
    free(m->socket_dir);
    free(m);
}
