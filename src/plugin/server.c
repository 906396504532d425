/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DevicePlugin service for one resource: the transport (rpc/) around the answers (answer.c).
 * Every handler hands the request to its answer function and sends what it gives before it
 * returns; ListAndWatch calls stay open and are kept in a small array until their done
 * callback.
 */
#include "plugin/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/answer.h"
#include "resource/resources.h"
#include "rpc/grpc.h"
#include "rpc/server.h"

#define SERVICE "/v1beta1.DevicePlugin/"

struct gdp_plugin {
    struct gdp_loop *loop;
    const struct gdp_snapshot *snap; /* borrowed: the manager's current snapshot */
    const struct gdp_resource *res;  /* borrowed from snap */
    char *socket_path;
    const char *endpoint; /* points into socket_path */
    struct gdp_rpc_server *server;
    ino_t socket_ino;
    struct gdp_rpc_call **watchers;
    size_t n_watchers;
};

const char *
gdp_plugin_resource(const struct gdp_plugin *p)
{
    return p->res->name;
}

size_t
gdp_plugin_n_watchers(const struct gdp_plugin *p)
{
    return p->n_watchers;
}

const char *
gdp_plugin_socket(const struct gdp_plugin *p)
{
    return p->socket_path;
}

const char *
gdp_plugin_endpoint(const struct gdp_plugin *p)
{
    return p->endpoint;
}

/* Packs msg into a new buffer. Caller frees with free(). */
/* Sends the answer, or ends the call with its status (logged). */
static void
send_answer(struct gdp_rpc_call *call, const struct gdp_plugin *p, const struct gdp_answer *a)
{
    if (a->status != GDP_GRPC_OK) {
        log_warn("resource=%s %s", p->res->name, a->message);
        (void)gdp_rpc_call_finish(call, a->status, a->message);
    } else if (gdp_rpc_call_reply(call, a->msg, a->len) < 0) {
        (void)gdp_rpc_call_finish(call, GDP_GRPC_INTERNAL, "response could not be sent");
    }
}

static void
get_options(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
            void *userdata)
{
    _cleanup_(gdp_answer_done) struct gdp_answer a = {0};
    gdp_answer_options(&a);
    send_answer(call, userdata, &a);
}

static void
pre_start(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
          void *userdata)
{
    _cleanup_(gdp_answer_done) struct gdp_answer a = {0};
    gdp_answer_pre_start(&a);
    send_answer(call, userdata, &a);
}

/* ---- ListAndWatch ---- */

static void
watcher_done(struct gdp_rpc_call *call, bool cancelled, void *userdata)
{
    struct gdp_plugin *p = userdata;
    for (size_t i = 0; i < p->n_watchers; i++) {
        if (p->watchers[i] == call) {
            p->watchers[i] = p->watchers[--p->n_watchers];
            break;
        }
    }
    log_debug("resource=%s ListAndWatch stream ended%s", p->res->name,
              cancelled ? " by the peer" : "");
}

static void
send_devices(struct gdp_plugin *p, struct gdp_rpc_call *call, const uint8_t *msg, size_t len)
{
    int r = gdp_rpc_call_send(call, msg, len, GDP_RPC_SEND_COALESCE);
    if (r < 0) {
        log_warn_errno(r, "resource=%s sending the device list failed, ending the stream",
                       p->res->name);
        (void)gdp_rpc_call_finish(call, GDP_GRPC_RESOURCE_EXHAUSTED, "device list not sent");
    }
}

static void
list_and_watch(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
               void *userdata)
{
    struct gdp_plugin *p = userdata;
    _cleanup_(gdp_answer_done) struct gdp_answer a = {0};
    gdp_answer_device_list(p->res, &a);
    p->watchers = gdp_reallocarray(p->watchers, p->n_watchers + 1, sizeof(void *));
    p->watchers[p->n_watchers++] = call;
    gdp_rpc_call_set_done(call, watcher_done, p);
    log_debug("resource=%s ListAndWatch opened devices=%zu", p->res->name, p->res->n_devices);
    send_devices(p, call, a.msg, a.len);
}

void
gdp_plugin_set_snapshot(struct gdp_plugin *p, const struct gdp_snapshot *s,
                        const struct gdp_resource *res)
{
    p->snap = s;
    p->res = res;
}

void
gdp_plugin_devices_changed(struct gdp_plugin *p)
{
    if (p->n_watchers == 0) {
        return;
    }
    _cleanup_(gdp_answer_done) struct gdp_answer a = {0};
    gdp_answer_device_list(p->res, &a);
    /* send_devices may end a stream, whose done callback edits the array: walk a copy */
    size_t count = p->n_watchers;
    _cleanup_free_ struct gdp_rpc_call **calls = gdp_calloc_ptrs(count);
    memcpy(calls, p->watchers, count * sizeof(void *));
    for (size_t i = 0; i < count; i++) {
        send_devices(p, calls[i], a.msg, a.len);
    }
}

/* ---- Allocate, GetPreferredAllocation ---- */

static void
allocate(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    struct gdp_plugin *p = userdata;
    const uint64_t t0 = gdp_metrics_now_ns();
    _cleanup_(gdp_answer_done) struct gdp_answer a = {0};
    int r = gdp_answer_allocate(p->snap, p->res, req, len, &a);
    if (r >= 0) {
        log_debug("resource=%s Allocate answered", p->res->name);
    }
    send_answer(call, p, &a);
    gdp_metrics_request("Allocate", p->res->name, t0, r);
}

static void
preferred_allocation(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    struct gdp_plugin *p = userdata;
    const uint64_t t0 = gdp_metrics_now_ns();
    _cleanup_(gdp_answer_done) struct gdp_answer a = {0};
    int r = gdp_answer_preferred(p->snap, p->res, req, len, &a);
    send_answer(call, p, &a);
    gdp_metrics_request("GetPreferredAllocation", p->res->name, t0, r);
}

/* ---- lifecycle ---- */

int
gdp_plugin_new(struct gdp_loop *loop, const struct gdp_snapshot *s, const struct gdp_resource *res,
               const char *socket_dir, struct gdp_plugin **ret, struct gdp_diag *diag)
{
    char sock[GDP_RESOURCE_NAME_MAX + 16];
    int r = gdp_resource_socket_name(res->name, sock, sizeof sock);
    if (r < 0) {
        return gdp_diag_set(diag, r, "resource name %s too long for a socket name", res->name);
    }
    struct gdp_plugin *p = gdp_calloc(1, sizeof *p);
    p->loop = loop;
    gdp_plugin_set_snapshot(p, s, res);
    p->socket_path = gdp_asprintf("%s/%s", socket_dir, sock);
    p->endpoint = strrchr(p->socket_path, '/') + 1;
    *ret = p;
    return 0;
}

static const struct gdp_rpc_method methods[] = {
        {SERVICE "GetDevicePluginOptions", GDP_RPC_UNARY, get_options, NULL},
        {SERVICE "ListAndWatch", GDP_RPC_SERVER_STREAM, list_and_watch, NULL},
        {SERVICE "GetPreferredAllocation", GDP_RPC_UNARY, preferred_allocation, NULL},
        {SERVICE "Allocate", GDP_RPC_UNARY, allocate, NULL},
        {SERVICE "PreStartContainer", GDP_RPC_UNARY, pre_start, NULL},
};

int
gdp_plugin_listen(struct gdp_plugin *p, struct gdp_diag *diag)
{
    struct gdp_rpc_method table[ELEMENTSOF(methods)];
    struct stat st;
    memcpy(table, methods, sizeof table);
    for (size_t i = 0; i < ELEMENTSOF(table); i++) {
        table[i].userdata = p;
    }
    gdp_rpc_server_free(p->server);
    p->server = NULL;
    int r = gdp_rpc_server_new(p->loop, table, ELEMENTSOF(table), NULL, &p->server, diag);
    if (r >= 0) {
        r = gdp_rpc_server_listen(p->server, p->socket_path, diag);
    }
    if (r < 0) {
        gdp_rpc_server_free(p->server);
        p->server = NULL;
        return r;
    }
    p->socket_ino = stat(p->socket_path, &st) == 0 ? st.st_ino : 0;
    return 0;
}

bool
gdp_plugin_socket_present(const struct gdp_plugin *p)
{
    struct stat st;
    return p->server != NULL && stat(p->socket_path, &st) == 0 && st.st_ino == p->socket_ino;
}

void
gdp_plugin_shutdown(struct gdp_plugin *p)
{
    if (p->server != NULL) {
        gdp_rpc_server_shutdown(p->server, "device plugin stopping", NULL, NULL);
    }
}

void
gdp_plugin_free(struct gdp_plugin *p)
{
    if (p == NULL) {
        return;
    }
    gdp_rpc_server_free(p->server);
    free(p->watchers);
    free(p->socket_path);
    free(p);
}
