/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DevicePlugin service for one resource: protobuf in and out (protobuf-c), the answers from
 * resource/ and gpu/, the transport from rpc/. Every handler answers before it returns;
 * ListAndWatch calls stay open and are kept in a small array until their done callback.
 */
#include "plugin/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deviceplugin_v1beta1.pb-c.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/pbcheck.h"
#include "resource/allocate.h"
#include "resource/preferred.h"
#include "resource/resources.h"
#include "rpc/grpc.h"
#include "rpc/server.h"

#define SERVICE "/v1beta1.DevicePlugin/"

struct gdp_plugin {
    struct gdp_loop *loop;
    struct gdp_plugin_ctx ctx;
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
    return p->ctx.resource->name;
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
static uint8_t *
pack(const ProtobufCMessage *msg, size_t *ret_len)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = gdp_malloc(len);
    *ret_len = protobuf_c_message_pack(msg, buf);
    return buf;
}

static void
reply(struct gdp_rpc_call *call, const ProtobufCMessage *msg)
{
    size_t len = 0;
    _cleanup_free_ uint8_t *buf = pack(msg, &len);
    if (gdp_rpc_call_reply(call, buf, len) < 0) {
        (void)gdp_rpc_call_finish(call, GDP_GRPC_INTERNAL, "response could not be sent");
    }
}

static void
get_options(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
            void *userdata _unused_)
{
    V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    opts.pre_start_required = false;
    opts.get_preferred_allocation_available = true;
    reply(call, &opts.base);
}

static void
pre_start(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
          void *userdata _unused_)
{
    V1beta1__PreStartContainerResponse resp = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
    reply(call, &resp.base);
}

/* ---- ListAndWatch ---- */

/* The device list message for the resource, packed. Caller frees with free(). */
static uint8_t *
pack_device_list(const struct gdp_resource *r, size_t *ret_len)
{
    size_t n = r->n_devices;
    _cleanup_free_ V1beta1__Device *devs = gdp_calloc(n, sizeof *devs);
    _cleanup_free_ V1beta1__Device **ptrs = gdp_calloc_ptrs(n);
    _cleanup_free_ V1beta1__TopologyInfo *topo = gdp_calloc(n, sizeof *topo);
    _cleanup_free_ V1beta1__NUMANode *numa = gdp_calloc(n, sizeof *numa);
    _cleanup_free_ V1beta1__NUMANode **numa_ptrs = gdp_calloc_ptrs(n);
    for (size_t i = 0; i < n; i++) {
        const struct gdp_rdev *rd = &r->devices[i];
        devs[i] = (V1beta1__Device)V1BETA1__DEVICE__INIT;
        devs[i].id = (char *)rd->id;
        devs[i].health = (char *)(rd->dev->healthy ? "Healthy" : "Unhealthy");
        if (rd->dev->numa_node >= 0) {
            numa[i] = (V1beta1__NUMANode)V1BETA1__NUMANODE__INIT;
            numa[i].id = rd->dev->numa_node;
            numa_ptrs[i] = &numa[i];
            topo[i] = (V1beta1__TopologyInfo)V1BETA1__TOPOLOGY_INFO__INIT;
            topo[i].n_nodes = 1;
            topo[i].nodes = &numa_ptrs[i];
            devs[i].topology = &topo[i];
        }
        ptrs[i] = &devs[i];
    }
    V1beta1__ListAndWatchResponse resp = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
    resp.n_devices = n;
    resp.devices = ptrs;
    return pack(&resp.base, ret_len);
}

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
    log_debug("resource=%s ListAndWatch stream ended%s", p->ctx.resource->name,
              cancelled ? " by the peer" : "");
}

static void
send_devices(struct gdp_plugin *p, struct gdp_rpc_call *call, const uint8_t *msg, size_t len)
{
    int r = gdp_rpc_call_send(call, msg, len, GDP_RPC_SEND_COALESCE);
    if (r < 0) {
        log_warn_errno(r, "resource=%s sending the device list failed, ending the stream",
                       p->ctx.resource->name);
        (void)gdp_rpc_call_finish(call, GDP_GRPC_RESOURCE_EXHAUSTED, "device list not sent");
    }
}

static void
list_and_watch(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
               void *userdata)
{
    struct gdp_plugin *p = userdata;
    size_t n = 0;
    _cleanup_free_ uint8_t *msg = pack_device_list(p->ctx.resource, &n);
    p->watchers = gdp_reallocarray(p->watchers, p->n_watchers + 1, sizeof(void *));
    p->watchers[p->n_watchers++] = call;
    gdp_rpc_call_set_done(call, watcher_done, p);
    log_debug("resource=%s ListAndWatch opened devices=%zu", p->ctx.resource->name,
              p->ctx.resource->n_devices);
    send_devices(p, call, msg, n);
}

void
gdp_plugin_set_ctx(struct gdp_plugin *p, const struct gdp_plugin_ctx *ctx)
{
    p->ctx = *ctx;
}

void
gdp_plugin_devices_changed(struct gdp_plugin *p)
{
    if (p->n_watchers == 0) {
        return;
    }
    size_t n = 0;
    _cleanup_free_ uint8_t *msg = pack_device_list(p->ctx.resource, &n);
    /* send_devices may end a stream, whose done callback edits the array: walk a copy */
    size_t count = p->n_watchers;
    _cleanup_free_ struct gdp_rpc_call **calls = gdp_calloc_ptrs(count);
    memcpy(calls, p->watchers, count * sizeof(void *));
    for (size_t i = 0; i < count; i++) {
        send_devices(p, calls[i], msg, n);
    }
}

/* ---- Allocate ---- */

static void
fail_invalid(struct gdp_rpc_call *call, const struct gdp_plugin *p, const char *what)
{
    char msg[GDP_DIAG_MAX + GDP_RESOURCE_NAME_MAX + 64];
    (void)snprintf(msg, sizeof msg, "invalid allocation request for '%s': %s",
                   p->ctx.resource->name, what);
    log_warn("resource=%s %s", p->ctx.resource->name, msg);
    (void)gdp_rpc_call_finish(call, GDP_GRPC_INVALID_ARGUMENT, msg);
}

/* Borrowing view of a protobuf-c map entry array built from our key/value list. */
static void
fill_env_entries(const struct gdp_kv *kv, size_t n,
                 V1beta1__ContainerAllocateResponse__EnvsEntry *e,
                 V1beta1__ContainerAllocateResponse__EnvsEntry **ptrs)
{
    for (size_t i = 0; i < n; i++) {
        e[i] = (V1beta1__ContainerAllocateResponse__EnvsEntry)
                V1BETA1__CONTAINER_ALLOCATE_RESPONSE__ENVS_ENTRY__INIT;
        e[i].key = kv[i].key;
        e[i].value = kv[i].value;
        ptrs[i] = &e[i];
    }
}

static void
fill_annotation_entries(const struct gdp_kv *kv, size_t n,
                        V1beta1__ContainerAllocateResponse__AnnotationsEntry *e,
                        V1beta1__ContainerAllocateResponse__AnnotationsEntry **ptrs)
{
    for (size_t i = 0; i < n; i++) {
        e[i] = (V1beta1__ContainerAllocateResponse__AnnotationsEntry)
                V1BETA1__CONTAINER_ALLOCATE_RESPONSE__ANNOTATIONS_ENTRY__INIT;
        e[i].key = kv[i].key;
        e[i].value = kv[i].value;
        ptrs[i] = &e[i];
    }
}

/* The protobuf view of one container's answer; pointers into alloc and into scratch arrays
 * owned by this struct. */
struct container_view {
    V1beta1__ContainerAllocateResponse msg;
    V1beta1__ContainerAllocateResponse__EnvsEntry *envs, **env_ptrs;
    V1beta1__ContainerAllocateResponse__AnnotationsEntry *ann, **ann_ptrs;
    V1beta1__Mount *mounts, **mount_ptrs;
    V1beta1__DeviceSpec *specs, **spec_ptrs;
    V1beta1__CDIDevice *cdi, **cdi_ptrs;
};

static void
view_mounts_and_specs(const struct gdp_container_alloc *a, struct container_view *v)
{
    v->mounts = gdp_calloc(a->n_mounts, sizeof *v->mounts);
    v->mount_ptrs = gdp_calloc_ptrs(a->n_mounts);
    for (size_t i = 0; i < a->n_mounts; i++) {
        v->mounts[i] = (V1beta1__Mount)V1BETA1__MOUNT__INIT;
        v->mounts[i].container_path = a->mounts[i].container_path;
        v->mounts[i].host_path = a->mounts[i].host_path;
        v->mounts[i].read_only = a->mounts[i].read_only;
        v->mount_ptrs[i] = &v->mounts[i];
    }
    v->specs = gdp_calloc(a->n_devices, sizeof *v->specs);
    v->spec_ptrs = gdp_calloc_ptrs(a->n_devices);
    for (size_t i = 0; i < a->n_devices; i++) {
        v->specs[i] = (V1beta1__DeviceSpec)V1BETA1__DEVICE_SPEC__INIT;
        v->specs[i].container_path = a->devices[i].container_path;
        v->specs[i].host_path = a->devices[i].host_path;
        v->specs[i].permissions = a->devices[i].permissions;
        v->spec_ptrs[i] = &v->specs[i];
    }
}

static void
view_container(const struct gdp_container_alloc *a, struct container_view *v)
{
    *v = (struct container_view){.msg = V1BETA1__CONTAINER_ALLOCATE_RESPONSE__INIT};
    v->envs = gdp_calloc(a->n_envs, sizeof *v->envs);
    v->env_ptrs = gdp_calloc_ptrs(a->n_envs);
    fill_env_entries(a->envs, a->n_envs, v->envs, v->env_ptrs);
    v->ann = gdp_calloc(a->n_annotations, sizeof *v->ann);
    v->ann_ptrs = gdp_calloc_ptrs(a->n_annotations);
    fill_annotation_entries(a->annotations, a->n_annotations, v->ann, v->ann_ptrs);
    view_mounts_and_specs(a, v);
    v->cdi = gdp_calloc(a->n_cdi_devices, sizeof *v->cdi);
    v->cdi_ptrs = gdp_calloc_ptrs(a->n_cdi_devices);
    for (size_t i = 0; i < a->n_cdi_devices; i++) {
        v->cdi[i] = (V1beta1__CDIDevice)V1BETA1__CDIDEVICE__INIT;
        v->cdi[i].name = a->cdi_devices[i];
        v->cdi_ptrs[i] = &v->cdi[i];
    }
    v->msg.n_envs = a->n_envs;
    v->msg.envs = v->env_ptrs;
    v->msg.n_annotations = a->n_annotations;
    v->msg.annotations = v->ann_ptrs;
    v->msg.n_mounts = a->n_mounts;
    v->msg.mounts = v->mount_ptrs;
    v->msg.n_devices = a->n_devices;
    v->msg.devices = v->spec_ptrs;
    v->msg.n_cdi_devices = a->n_cdi_devices;
    v->msg.cdi_devices = v->cdi_ptrs;
}

static void
view_done(struct container_view *v)
{
    free(v->envs);
    free(v->env_ptrs);
    free(v->ann);
    free(v->ann_ptrs);
    free(v->mounts);
    free(v->mount_ptrs);
    free(v->specs);
    free(v->spec_ptrs);
    free(v->cdi);
    free(v->cdi_ptrs);
}

static void
reply_allocations(struct gdp_rpc_call *call, struct gdp_container_alloc *allocs, size_t n)
{
    _cleanup_free_ struct container_view *views = gdp_calloc(n, sizeof *views);
    _cleanup_free_ V1beta1__ContainerAllocateResponse **ptrs = gdp_calloc_ptrs(n);
    for (size_t i = 0; i < n; i++) {
        view_container(&allocs[i], &views[i]);
        ptrs[i] = &views[i].msg;
    }
    V1beta1__AllocateResponse resp = V1BETA1__ALLOCATE_RESPONSE__INIT;
    resp.n_container_responses = n;
    resp.container_responses = ptrs;
    reply(call, &resp.base);
    for (size_t i = 0; i < n; i++) {
        view_done(&views[i]);
    }
}

static void
allocate(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    struct gdp_plugin *p = userdata;
    struct gdp_diag diag = {0};
    if (gdp_pb_has_nul_string(&v1beta1__allocate_request__descriptor, req, len)) {
        fail_invalid(call, p, "a device ID contains a NUL byte");
        return;
    }
    const uint64_t t0 = gdp_metrics_now_ns();
    V1beta1__AllocateRequest *in = v1beta1__allocate_request__unpack(NULL, len, req);
    if (in == NULL) {
        fail_invalid(call, p, "malformed AllocateRequest");
        gdp_metrics_request("Allocate", p->ctx.resource->name, t0, -EINVAL);
        return;
    }
    if (in->n_container_requests == 0) {
        v1beta1__allocate_request__free_unpacked(in, NULL);
        fail_invalid(call, p, "no container requests");
        gdp_metrics_request("Allocate", p->ctx.resource->name, t0, -EINVAL);
        return;
    }
    size_t n = in->n_container_requests;
    struct gdp_alloc_ctx actx = {0};
    actx.cfg = p->ctx.cfg;
    actx.node = p->ctx.node;
    actx.resource = p->ctx.resource;
    actx.dev_root_ctr = p->ctx.dev_root_ctr;
    actx.imex = p->ctx.imex;
    actx.cdi_kinds = p->ctx.cdi_kinds;
    struct gdp_container_alloc *allocs = gdp_calloc(n, sizeof *allocs);
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const V1beta1__ContainerAllocateRequest *c = in->container_requests[i];
        r = gdp_allocate_container(&actx, (const char *const *)c->devices_ids, c->n_devices_ids,
                                   &allocs[i], &diag);
    }
    if (r < 0) {
        fail_invalid(call, p, diag.msg);
    } else {
        log_debug("resource=%s Allocate containers=%zu", p->ctx.resource->name, n);
        reply_allocations(call, allocs, n);
    }
    for (size_t i = 0; i < n; i++) {
        gdp_container_alloc_done(&allocs[i]);
    }
    free(allocs);
    v1beta1__allocate_request__free_unpacked(in, NULL);
    gdp_metrics_request("Allocate", p->ctx.resource->name, t0, r);
}

/* ---- GetPreferredAllocation ---- */

static int
prefer_container(const struct gdp_plugin *p, const V1beta1__ContainerPreferredAllocationRequest *c,
                 V1beta1__ContainerPreferredAllocationResponse *out, struct gdp_diag *diag)
{
    /* bounded by what is available before anything is allocated for the answer */
    if (c->allocation_size <= 0 || (size_t)c->allocation_size > c->n_available_deviceids) {
        return gdp_diag_set(diag, -EINVAL, "allocation size %d with %zu devices available",
                            (int)c->allocation_size, c->n_available_deviceids);
    }
    const struct gdp_pref_request req = {
            .available = (const char *const *)c->available_deviceids,
            .n_available = c->n_available_deviceids,
            .must_include = (const char *const *)c->must_include_deviceids,
            .n_must_include = c->n_must_include_deviceids,
            .size = (size_t)c->allocation_size,
            .policy = p->ctx.cfg->shared_devices_allocation_policy,
            .strict = p->ctx.cfg->shared_devices_allocation_strict,
    };
    const char **ids = gdp_calloc(req.size, sizeof *ids);
    int n = gdp_preferred_allocation(p->ctx.resource, &req, ids, diag);
    if (n < 0) {
        free(ids);
        return n;
    }
    *out = (V1beta1__ContainerPreferredAllocationResponse)
            V1BETA1__CONTAINER_PREFERRED_ALLOCATION_RESPONSE__INIT;
    out->n_deviceids = (size_t)n;
    out->deviceids = (char **)ids; /* freed by the caller after packing */
    return 0;
}

static void
preferred_allocation(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    struct gdp_plugin *p = userdata;
    struct gdp_diag diag = {0};
    if (gdp_pb_has_nul_string(&v1beta1__preferred_allocation_request__descriptor, req, len)) {
        fail_invalid(call, p, "a device ID contains a NUL byte");
        return;
    }
    const uint64_t t0 = gdp_metrics_now_ns();
    V1beta1__PreferredAllocationRequest *in =
            v1beta1__preferred_allocation_request__unpack(NULL, len, req);
    if (in == NULL) {
        fail_invalid(call, p, "malformed PreferredAllocationRequest");
        gdp_metrics_request("GetPreferredAllocation", p->ctx.resource->name, t0, -EINVAL);
        return;
    }
    size_t n = in->n_container_requests;
    V1beta1__ContainerPreferredAllocationResponse *outs = gdp_calloc(n, sizeof *outs);
    V1beta1__ContainerPreferredAllocationResponse **ptrs = gdp_calloc_ptrs(n);
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        r = prefer_container(p, in->container_requests[i], &outs[i], &diag);
        ptrs[i] = &outs[i];
    }
    if (r < 0) {
        fail_invalid(call, p, diag.msg);
    } else {
        V1beta1__PreferredAllocationResponse resp = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        resp.n_container_responses = n;
        resp.container_responses = ptrs;
        reply(call, &resp.base);
    }
    for (size_t i = 0; i < n; i++) {
        free(outs[i].deviceids);
    }
    free(outs);
    free(ptrs);
    v1beta1__preferred_allocation_request__free_unpacked(in, NULL);
    gdp_metrics_request("GetPreferredAllocation", p->ctx.resource->name, t0, r);
}

/* ---- lifecycle ---- */

int
gdp_plugin_new(struct gdp_loop *loop, const struct gdp_plugin_ctx *ctx, const char *socket_dir,
               struct gdp_plugin **ret, struct gdp_diag *diag)
{
    char sock[GDP_RESOURCE_NAME_MAX + 16];
    int r = gdp_resource_socket_name(ctx->resource->name, sock, sizeof sock);
    if (r < 0) {
        return gdp_diag_set(diag, r, "resource name %s too long for a socket name",
                            ctx->resource->name);
    }
    struct gdp_plugin *p = gdp_calloc(1, sizeof *p);
    p->loop = loop;
    p->ctx = *ctx;
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
