/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One served resource: its DevicePlugin server and its registration with the kubelet.
 * Register is sent without blocking the loop (the kubelet dials the plugin back before it
 * answers), retried with capped backoff, and a failure streak is logged once. A failure to
 * listen is retried the same way; when a resource stays unable to serve for longer than
 * --max-serve-outage, the loop is stopped with a non-zero code so that the DaemonSet
 * restarts the plugin instead of leaving it up and deaf.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <deviceplugin_v1beta1.pb-c.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "plugin/manager_int.h"
#include "plugin/server.h"
#include "resource/mps.h"
#include "resource/resources.h"
#include "rpc/client.h"
#include "rpc/grpc.h"

#define REGISTER_METHOD     "/v1beta1.Registration/Register"
#define REGISTER_TIMEOUT_MS 10000
/* A new kubelet.sock appears at the kubelet's bind(), a moment before its listen(): the
 * first retry comes quickly so that such a refused connection costs milliseconds. */
#define RETRY_FIRST_MS 5
#define RETRY_MAX_MS   5000
#define MPS_RETRY_MS   1000
#define SERVE_FIRST_MS 100

static void
retry_fired(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    struct gdp_entry *e = userdata;
    if (e->state == GDP_REG_WAIT_MPS || e->state == GDP_REG_WAIT_SERVE) {
        gdp_entry_start(e);
    } else {
        gdp_entry_register(e);
    }
}

/* Arms the retry timer with the next backoff step; false if there is no timer. */
static bool
arm_retry(struct gdp_entry *e, unsigned first_ms)
{
    if (e->retry == NULL) {
        return false;
    }
    e->backoff_ms = e->backoff_ms == 0 ? first_ms : e->backoff_ms * 2;
    if (e->backoff_ms > RETRY_MAX_MS) {
        e->backoff_ms = RETRY_MAX_MS;
    }
    (void)gdp_loop_timer_set(e->retry, e->backoff_ms, 0);
    return true;
}

static void
schedule_retry(struct gdp_entry *e, const char *why)
{
    const char *res = gdp_plugin_resource(e->plugin);
    e->reg_failures++;
    gdp_metric_inc1(GDP_M_REGISTRATION_FAILURES, res);
    if (!e->complained) {
        log_warn("resource=%s registration with the kubelet at %s failed: %s; retrying", res,
                 e->m->kubelet_socket, why);
        e->complained = true;
    } else {
        log_debug("resource=%s registration retry failed (%u in a row): %s", res, e->reg_failures,
                  why);
    }
    e->state = arm_retry(e, RETRY_FIRST_MS) ? GDP_REG_WAITING : GDP_REG_IDLE;
}

static void
registered(const struct gdp_rpc_result *res, void *userdata)
{
    struct gdp_entry *e = userdata;
    e->call = NULL;
    if (res->status != GDP_GRPC_OK) {
        char why[GDP_GRPC_MESSAGE_MAX + 64];
        (void)snprintf(why, sizeof why, "%s (gRPC status %d)", res->message, res->status);
        schedule_retry(e, why);
        return;
    }
    e->state = GDP_REG_DONE;
    gdp_metric_inc1(GDP_M_REGISTRATIONS, gdp_plugin_resource(e->plugin));
    e->complained = false;
    e->backoff_ms = 0;
    e->reg_failures = 0;
    const struct gdp_resource *r =
            gdp_resource_find(e->m->cur->inv.set, gdp_plugin_resource(e->plugin));
    log_info("resource=%s registered with the kubelet endpoint=%s devices=%zu",
             gdp_plugin_resource(e->plugin), gdp_plugin_endpoint(e->plugin),
             r != NULL ? r->n_devices : 0);
}

static uint8_t *
pack_register_request(const struct gdp_entry *e, size_t *ret_len)
{
    V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    V1beta1__RegisterRequest req = V1BETA1__REGISTER_REQUEST__INIT;
    opts.get_preferred_allocation_available = true;
    req.version = (char *)"v1beta1";
    req.endpoint = (char *)gdp_plugin_endpoint(e->plugin);
    req.resource_name = (char *)gdp_plugin_resource(e->plugin);
    req.options = &opts;
    size_t len = v1beta1__register_request__get_packed_size(&req);
    uint8_t *buf = gdp_malloc(len);
    *ret_len = v1beta1__register_request__pack(&req, buf);
    return buf;
}

void
gdp_entry_cancel_registration(struct gdp_entry *e)
{
    if (e->call != NULL) {
        gdp_rpc_client_call_cancel(e->call);
        e->call = NULL;
    }
    if (e->retry != NULL) {
        (void)gdp_loop_timer_set(e->retry, 0, 0);
    }
    e->state = GDP_REG_IDLE;
}

void
gdp_entry_reset_backoff(struct gdp_entry *e)
{
    e->complained = false;
    e->backoff_ms = 0;
}

void
gdp_entry_register(struct gdp_entry *e)
{
    if (e->m->kubelet_socket == NULL) {
        return; /* --kubelet-socket="": serve without registering */
    }
    gdp_entry_cancel_registration(e);
    size_t len = 0;
    _cleanup_free_ uint8_t *buf = pack_register_request(e, &len);
    const struct gdp_rpc_request req = {
            .socket_path = e->m->kubelet_socket,
            .method = REGISTER_METHOD,
            .data = buf,
            .len = len,
            .timeout_ms = REGISTER_TIMEOUT_MS,
    };
    struct gdp_diag diag = {0};
    int r = gdp_rpc_client_call(e->m->loop, &req, registered, e, &e->call, &diag);
    if (r < 0) {
        e->call = NULL;
        schedule_retry(e, diag.msg);
        return;
    }
    e->state = GDP_REG_IN_FLIGHT;
}

static uint64_t
max_outage_ms(const struct gdp_manager *m)
{
    const struct gdp_config *c = &m->cur->cfg;
    return c->n_max_serve_outage_s > 0 ? (uint64_t)c->max_serve_outage_s[0] * 1000 : 0;
}

/* Listening failed: retry with backoff, or give up once the outage passes the bound. */
static void
serve_failed(struct gdp_entry *e, const char *why)
{
    const char *res = gdp_plugin_resource(e->plugin);
    uint64_t now = gdp_loop_now_ms(), bound = max_outage_ms(e->m);
    if (e->serve_failures++ == 0) {
        e->unserved_since_ms = now;
        e->backoff_ms = 0;
        log_error("resource=%s cannot serve on %s: %s; retrying", res, gdp_plugin_socket(e->plugin),
                  why);
    } else {
        log_debug("resource=%s serve retry failed (%u in a row): %s", res, e->serve_failures, why);
    }
    if (bound > 0 && now - e->unserved_since_ms >= bound) {
        log_error("resource=%s unable to serve for %llu s (%u attempts, last: %s); exiting so "
                  "that the plugin is restarted",
                  res, (unsigned long long)((now - e->unserved_since_ms) / 1000), e->serve_failures,
                  why);
        gdp_loop_quit(e->m->loop, 1);
        return;
    }
    /* a registration in flight names a socket we no longer serve: only serving is retried */
    unsigned backoff = e->backoff_ms;
    gdp_entry_cancel_registration(e);
    e->backoff_ms = backoff;
    e->state = arm_retry(e, SERVE_FIRST_MS) ? GDP_REG_WAIT_SERVE : GDP_REG_IDLE;
}

int
gdp_entry_serve(struct gdp_entry *e)
{
    struct gdp_diag diag = {0};
    int r = gdp_plugin_listen(e->plugin, &diag);
    if (r < 0) {
        serve_failed(e, diag.msg);
        return r;
    }
    if (e->serve_failures > 0) {
        log_info("resource=%s serving on %s again after %u failed attempts",
                 gdp_plugin_resource(e->plugin), gdp_plugin_socket(e->plugin), e->serve_failures);
    } else {
        log_info("resource=%s serving on %s", gdp_plugin_resource(e->plugin),
                 gdp_plugin_socket(e->plugin));
    }
    e->serve_failures = 0;
    e->unserved_since_ms = 0;
    e->backoff_ms = 0;
    return 0;
}

static void
mps_became_ready(struct gdp_entry *e, const char *name)
{
    if (e->state == GDP_REG_WAIT_MPS) {
        log_info("resource=%s MPS control daemon ready", name);
    }
    e->complained = false;
}

/* True (and a retry armed) while an MPS-shared resource's control daemon is not ready. */
static bool
wait_for_mps(struct gdp_entry *e)
{
    const struct gdp_config *cfg = &e->m->cur->cfg;
    const char *name = gdp_plugin_resource(e->plugin);
    const struct gdp_resource *r = gdp_resource_find(e->m->cur->inv.set, name);
    struct gdp_diag diag = {0};
    if (r == NULL || !gdp_mps_shared(cfg, r)) {
        return false;
    }
    if (gdp_mps_ready(cfg, name, &diag) == 0) {
        mps_became_ready(e, name);
        return false;
    }
    if (!e->complained) {
        log_warn("resource=%s waiting for the MPS control daemon: %s", name, diag.msg);
        e->complained = true;
    }
    e->state = GDP_REG_WAIT_MPS;
    if (e->retry != NULL) {
        (void)gdp_loop_timer_set(e->retry, MPS_RETRY_MS, 0);
    }
    return true;
}

void
gdp_entry_start(struct gdp_entry *e)
{
    if (!wait_for_mps(e) && gdp_entry_serve(e) >= 0) {
        gdp_entry_register(e);
    }
}

struct gdp_entry *
gdp_entry_new(struct gdp_manager *m, const struct gdp_resource *res)
{
    struct gdp_diag diag = {0};
    struct gdp_entry *e = gdp_calloc(1, sizeof *e);
    e->m = m;
    if (gdp_plugin_new(m->loop, m->cur, res, m->socket_dir, &e->plugin, &diag) < 0) {
        log_error("resource=%s not served: %s", res->name, diag.msg);
        free(e);
        return NULL;
    }
    /* the retry timer exists from the start, so a first failure opens no new descriptor */
    if (gdp_loop_timer_new(m->loop, retry_fired, e, &e->retry, &diag) < 0) {
        log_warn("resource=%s registration retries unavailable: %s", res->name, diag.msg);
    }
    return e;
}

void
gdp_entry_free(struct gdp_entry *e)
{
    if (e == NULL) {
        return;
    }
    gdp_entry_cancel_registration(e);
    gdp_loop_timer_free(e->retry);
    gdp_plugin_free(e->plugin);
    free(e);
}
