/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registration watchdog: every interval it asks the kubelet's PodResources API
 * (GetAllocatableResources, on pod-resources/kubelet.sock next to the device-plugins
 * directory) which devices it can hand out, and compares them with what each registered
 * resource advertises. A resource missing there or a different device set that lasts longer
 * than the grace period means the kubelet lost track of us (a capacity that silently dropped
 * to 0): we register again, count it and log one line. Off while the socket is absent.
 */
#include "plugin/watchdog.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <podresources_v1.pb-c.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "plugin/manager_int.h"
#include "plugin/server.h"
#include "resource/resources.h"
#include "rpc/client.h"
#include "rpc/grpc.h"

#define METHOD          "/v1.PodResourcesLister/GetAllocatableResources"
#define CALL_TIMEOUT_MS 5000u
#define DRIFT_MAX       64 /* resources tracked; more are not watched */

struct drift {
    char resource[GDP_RESOURCE_NAME_MAX];
    uint64_t since_ms; /* 0: in agreement */
};

struct gdp_watchdog {
    struct gdp_manager *m;
    char *socket;
    uint64_t interval_ms;
    uint64_t grace_ms;
    struct gdp_loop_timer *timer;
    struct gdp_rpc_client_call *call;
    bool active; /* the socket was there at the last tick */
    struct drift drift[DRIFT_MAX];
    size_t n_drift;
};

/* A period in milliseconds from the settings table; def when empty or not a number. */
static struct drift *
drift_of(struct gdp_watchdog *w, const char *resource)
{
    for (size_t i = 0; i < w->n_drift; i++) {
        if (streq(w->drift[i].resource, resource)) {
            return &w->drift[i];
        }
    }
    if (w->n_drift == DRIFT_MAX) {
        return NULL;
    }
    struct drift *d = &w->drift[w->n_drift++];
    (void)gdp_strlcpy(d->resource, resource, sizeof d->resource);
    d->since_ms = 0;
    return d;
}

static bool
kubelet_has(const V1__AllocatableResourcesResponse *a, const char *resource, const char *id)
{
    for (size_t i = 0; i < a->n_devices; i++) {
        const V1__ContainerDevices *cd = a->devices[i];
        if (cd->resource_name == NULL || !streq(cd->resource_name, resource)) {
            continue;
        }
        for (size_t j = 0; j < cd->n_device_ids; j++) {
            if (streq(cd->device_ids[j], id)) {
                return true;
            }
        }
    }
    return false;
}

static size_t
kubelet_count(const V1__AllocatableResourcesResponse *a, const char *resource)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_devices; i++) {
        if (a->devices[i]->resource_name != NULL && streq(a->devices[i]->resource_name, resource)) {
            n += a->devices[i]->n_device_ids;
        }
    }
    return n;
}

/* Why the kubelet's view of r differs from ours, or NULL when it agrees. */
static const char *
differs(const V1__AllocatableResourcesResponse *a, const struct gdp_resource *r)
{
    size_t theirs = kubelet_count(a, r->name);
    if (theirs == 0 && r->n_devices > 0) {
        return "resource missing from the kubelet's allocatable devices";
    }
    if (theirs != r->n_devices) {
        return "device count differs";
    }
    for (size_t i = 0; i < r->n_devices; i++) {
        if (!kubelet_has(a, r->name, r->devices[i].id)) {
            return "device set differs";
        }
    }
    return NULL;
}

static bool
check_entry(struct gdp_watchdog *w, struct gdp_entry *e, const V1__AllocatableResourcesResponse *a)
{
    const char *name = gdp_plugin_resource(e->plugin);
    const struct gdp_resource *r = gdp_resource_find(w->m->cur->inv.set, name);
    struct drift *d = drift_of(w, name);
    const char *why = r != NULL && e->state == GDP_REG_DONE ? differs(a, r) : NULL;
    if (d == NULL || why == NULL) {
        if (d != NULL) {
            d->since_ms = 0;
        }
        return why == NULL;
    }
    uint64_t now = gdp_loop_now_ms();
    if (d->since_ms == 0) {
        d->since_ms = now;
    } else if (now - d->since_ms >= w->grace_ms) {
        log_warn("resource=%s the kubelet's allocatable devices disagree with ours for %llums "
                 "(%s): registering again",
                 name, (unsigned long long)(now - d->since_ms), why);
        gdp_metric_inc1(GDP_M_WATCHDOG_REREGISTRATIONS, name);
        d->since_ms = 0;
        gdp_entry_reset_backoff(e);
        gdp_entry_register(e);
    }
    return false;
}

static void
on_reply(const struct gdp_rpc_result *res, void *userdata)
{
    struct gdp_watchdog *w = userdata;
    w->call = NULL;
    V1__AllocatableResourcesResponse *a =
            res->status == GDP_GRPC_OK
                    ? v1__allocatable_resources_response__unpack(NULL, res->len, res->data)
                    : NULL;
    if (a == NULL) {
        log_debug("watchdog: GetAllocatableResources failed: %s (gRPC status %d)", res->message,
                  res->status);
        gdp_metric_inc1(GDP_M_WATCHDOG_CHECKS, "error");
        return;
    }
    bool ok = true;
    for (size_t i = 0; i < w->m->n_entries; i++) {
        ok &= check_entry(w, w->m->entries[i], a);
    }
    gdp_metric_inc1(GDP_M_WATCHDOG_CHECKS, ok ? "ok" : "drift");
    v1__allocatable_resources_response__free_unpacked(a, NULL);
}

static bool
socket_present(struct gdp_watchdog *w)
{
    struct stat st;
    bool present = stat(w->socket, &st) == 0 && S_ISSOCK(st.st_mode);
    if (present != w->active) {
        log_info("watchdog: PodResources socket %s %s", w->socket,
                 present ? "present: comparing allocatable devices"
                         : "absent: watchdog off until it appears");
        w->active = present;
    }
    return present;
}

static void
tick(struct gdp_loop *loop, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    struct gdp_watchdog *w = userdata;
    if (w->call != NULL || w->m->stop_timer != NULL || !socket_present(w)) {
        return;
    }
    static const uint8_t empty[1];
    const struct gdp_rpc_request req = {
            .socket_path = w->socket,
            .method = METHOD,
            .data = empty,
            .len = 0,
            .timeout_ms = w->interval_ms < CALL_TIMEOUT_MS ? w->interval_ms : CALL_TIMEOUT_MS,
    };
    struct gdp_diag diag = {0};
    if (gdp_rpc_client_call(loop, &req, on_reply, w, &w->call, &diag) < 0) {
        w->call = NULL;
        log_debug("watchdog: %s", diag.msg);
        gdp_metric_inc1(GDP_M_WATCHDOG_CHECKS, "error");
    }
}

/* <kubelet root>/pod-resources/kubelet.sock for <kubelet root>/device-plugins/kubelet.sock. */
static char *
pod_resources_socket(const char *kubelet_socket)
{
    _cleanup_free_ char *copy = gdp_strdup(kubelet_socket);
    char *plugins_dir = dirname(copy);
    _cleanup_free_ char *copy2 = gdp_strdup(plugins_dir);
    return gdp_asprintf("%s/pod-resources/kubelet.sock", dirname(copy2));
}

int
gdp_watchdog_new(struct gdp_manager *m, struct gdp_watchdog **ret, struct gdp_diag *diag)
{
    *ret = NULL;
    if (m->kubelet_socket == NULL) {
        return 0;
    }
    struct gdp_watchdog *w = gdp_calloc(1, sizeof *w);
    w->m = m;
    w->socket = pod_resources_socket(m->kubelet_socket);
    w->interval_ms = m->cur->cfg.watchdog_interval_ms;
    w->grace_ms = m->cur->cfg.watchdog_grace_ms;
    int r = gdp_loop_timer_new(m->loop, tick, w, &w->timer, diag);
    if (r >= 0) {
        r = gdp_loop_timer_set(w->timer, w->interval_ms, w->interval_ms);
    }
    if (r < 0) {
        gdp_watchdog_free(w);
        return r;
    }
    *ret = w;
    return 0;
}

const char *
gdp_watchdog_socket(const struct gdp_watchdog *w)
{
    return w != NULL ? w->socket : NULL;
}

void
gdp_watchdog_free(struct gdp_watchdog *w)
{
    if (w == NULL) {
        return;
    }
    if (w->call != NULL) {
        gdp_rpc_client_call_cancel(w->call);
    }
    gdp_loop_timer_free(w->timer);
    free(w->socket);
    free(w);
}
