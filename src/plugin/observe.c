/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's HTTP endpoint and the state-read metrics: routes /metrics (the registry,
 * after the collector below set the device, stream and readiness gauges), /healthz (the loop
 * answers), /readyz (registered and watched) and /debug/state (state.c), and keeps when each
 * device last changed health.
 */
#include "plugin/observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/health.h"
#include "nvml/nvml.h"
#include "nvml/watcher.h"
#include "plugin/manager_int.h"
#include "plugin/server.h"
#include "plugin/watchdog.h"
#include "resource/resources.h"
#include "rpc/http.h"

#define HISTORY_MAX 1024 /* devices whose last health change is remembered */

struct health_since {
    char uuid[GDP_UUID_MAX];
    long long since;
    unsigned long long xid;
};

struct gdp_observe {
    struct gdp_http_server *http;
    struct gdp_watchdog *watchdog;
    struct health_since *history;
    size_t n_history;
};

static struct gdp_observe *
observe_of(struct gdp_manager *m)
{
    if (m->observe == NULL) {
        m->observe = gdp_calloc(1, sizeof *m->observe);
    }
    return m->observe;
}

/* ---- readiness ---- */

bool
gdp_observe_ready(const struct gdp_manager *m, char *why, size_t len)
{
    struct stat st;
    if (m->stop_timer != NULL) {
        (void)gdp_strlcpy(why, "stopping", len);
        return false;
    }
    if (m->kubelet_socket != NULL && stat(m->kubelet_socket, &st) < 0) {
        (void)snprintf(why, len, "kubelet socket %s is absent", m->kubelet_socket);
        return false;
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct gdp_entry *e = m->entries[i];
        const char *res = gdp_plugin_resource(e->plugin);
        if (m->kubelet_socket != NULL && e->state != GDP_REG_DONE) {
            (void)snprintf(why, len, "resource %s is not registered", res);
            return false;
        }
        if (gdp_plugin_n_watchers(e->plugin) == 0) {
            (void)snprintf(why, len, "resource %s has no open ListAndWatch stream", res);
            return false;
        }
    }
    return true;
}

/* ---- collector ---- */

static void
collect_resource(const struct gdp_manager *m, const struct gdp_resource *r)
{
    double healthy = 0;
    double unhealthy = 0;
    for (size_t j = 0; j < r->n_devices; j++) {
        const struct gdp_device *d = r->devices[j].dev;
        if (d->healthy) {
            healthy++;
            continue;
        }
        unhealthy++;
        const char *labels[] = {r->name, d->reason};
        gdp_metric_add(GDP_M_UNHEALTHY_DEVICES, labels, 1);
    }
    const char *h[] = {r->name, "healthy"};
    const char *u[] = {r->name, "unhealthy"};
    gdp_metric_set(GDP_M_DEVICES, h, healthy);
    gdp_metric_set(GDP_M_DEVICES, u, unhealthy);
    for (size_t i = 0; i < m->n_entries; i++) {
        if (streq(gdp_plugin_resource(m->entries[i]->plugin), r->name)) {
            const char *s[] = {r->name};
            gdp_metric_set(GDP_M_LISTANDWATCH_STREAMS, s,
                           (double)gdp_plugin_n_watchers(m->entries[i]->plugin));
        }
    }
}

static void
collect(void *userdata)
{
    const struct gdp_manager *m = userdata;
    char why[256];
    gdp_metric_clear(GDP_M_DEVICES);
    gdp_metric_clear(GDP_M_UNHEALTHY_DEVICES);
    gdp_metric_clear(GDP_M_LISTANDWATCH_STREAMS);
    const struct gdp_resource_set *set = m->cur != NULL ? m->cur->inv.set : NULL;
    for (size_t i = 0; set != NULL && i < set->n_resources; i++) {
        collect_resource(m, &set->resources[i]);
    }
    gdp_metric_set(GDP_M_READY, NULL, gdp_observe_ready(m, why, sizeof why) ? 1 : 0);
}

/* ---- HTTP ---- */

static void
answer_text(struct gdp_http_response *ret, unsigned status, const char *text)
{
    ret->status = status;
    ret->content_type = "text/plain; charset=utf-8";
    ret->body = gdp_strdup(text);
    ret->len = strlen(text);
}

static void
answer_ready(const struct gdp_manager *m, struct gdp_http_response *ret)
{
    char why[256];
    if (gdp_observe_ready(m, why, sizeof why)) {
        answer_text(ret, 200, "ok\n");
        return;
    }
    _cleanup_free_ char *text = gdp_asprintf("not ready: %s\n", why);
    answer_text(ret, 503, text);
}

/* The path label of the request counter: the served paths, everything else "other". */
static const char *
path_label(const char *path)
{
    static const char *const known[] = {"/metrics", "/healthz", "/readyz", "/debug/state"};
    for (size_t i = 0; i < ELEMENTSOF(known); i++) {
        if (streq(path, known[i])) {
            return known[i];
        }
    }
    return "other";
}

static void
on_http(const char *path, struct gdp_http_response *ret, void *userdata)
{
    const struct gdp_manager *m = userdata;
    if (streq(path, "/metrics")) {
        ret->status = 200;
        ret->content_type = "text/plain; version=0.0.4; charset=utf-8";
        ret->body = gdp_metrics_render(&ret->len);
    } else if (streq(path, "/healthz")) {
        answer_text(ret, 200, "ok\n");
    } else if (streq(path, "/readyz")) {
        answer_ready(m, ret);
    } else if (streq(path, "/debug/state")) {
        ret->status = 200;
        ret->content_type = "application/json";
        ret->body = gdp_observe_state_json(m, &ret->len);
    } else if (path[0] != '/') {
        answer_text(ret, 400, "bad request target\n");
    } else {
        answer_text(ret, 404,
                    "not found: the endpoint serves /metrics, /healthz, /readyz and "
                    "/debug/state\n");
    }
    char code[8];
    (void)snprintf(code, sizeof code, "%u", ret->status);
    const char *labels[] = {path_label(path), code};
    gdp_metric_add(GDP_M_HTTP_REQUESTS, labels, 1);
}

int
gdp_observe_start(struct gdp_manager *m, struct gdp_diag *diag)
{
    const char *address = m->cur->cfg.metrics_address;
    struct gdp_observe *o = observe_of(m);
    int r = gdp_watchdog_new(m, &o->watchdog, diag);
    if (r < 0 || address == NULL || address[0] == '\0') {
        return r;
    }
    r = gdp_http_server_new(m->loop, address, on_http, m, &o->http, diag);
    if (r < 0) {
        return gdp_diag_prefix(diag, r, "--metrics-address");
    }
    gdp_metrics_set_collector(collect, m);
    log_info("metrics endpoint listening on %s", address);
    return 0;
}

void
gdp_observe_free(struct gdp_manager *m)
{
    struct gdp_observe *o = m->observe;
    if (o == NULL) {
        return;
    }
    gdp_metrics_set_collector(NULL, NULL);
    gdp_http_server_free(o->http);
    gdp_watchdog_free(o->watchdog);
    free(o->history);
    free(o);
    m->observe = NULL;
}

/* ---- health ---- */

void
gdp_observe_record(const struct gdp_watcher_record *rec)
{
    if (rec->kind != GDP_WATCHER_REC_EVENT || !(rec->event_type & GDP_NVML_EVENT_XID)) {
        return;
    }
    char xid[24];
    (void)snprintf(xid, sizeof xid, "%llu", (unsigned long long)rec->xid);
    const char *labels[] = {rec->uuid, xid};
    gdp_metric_add(GDP_M_XID_EVENTS, labels, 1);
}

static struct health_since *
history_slot(struct gdp_observe *o, const char *uuid)
{
    for (size_t i = 0; i < o->n_history; i++) {
        if (streq(o->history[i].uuid, uuid)) {
            return &o->history[i];
        }
    }
    if (o->n_history == HISTORY_MAX) {
        return NULL;
    }
    if (o->history == NULL) {
        o->history = gdp_calloc(HISTORY_MAX, sizeof *o->history);
    }
    struct health_since *s = &o->history[o->n_history++];
    (void)gdp_strlcpy(s->uuid, uuid, sizeof s->uuid);
    return s;
}

void
gdp_observe_health(struct gdp_manager *m, const struct gdp_device *d,
                   const struct gdp_health_change *c)
{
    struct health_since *s = history_slot(observe_of(m), d->uuid);
    if (s != NULL) {
        s->since = (long long)time(NULL);
        s->xid = (unsigned long long)c->xid;
    }
}

bool
gdp_observe_since(const struct gdp_manager *m, const char *uuid, long long *ret_since,
                  unsigned long long *ret_xid)
{
    const struct gdp_observe *o = m->observe;
    for (size_t i = 0; o != NULL && i < o->n_history; i++) {
        if (streq(o->history[i].uuid, uuid)) {
            *ret_since = o->history[i].since;
            *ret_xid = o->history[i].xid;
            return true;
        }
    }
    return false;
}
