/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DevicePlugin answers (see answer.h): protobuf-c in and out, the answers themselves from
 * resource/ (allocate.c, preferred.c).
 */
#include "plugin/answer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deviceplugin_v1beta1.pb-c.h>

#include "config/config.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/pbcheck.h"
#include "resource/allocate.h"
#include "resource/preferred.h"
#include "resource/snapshot.h"
#include "rpc/grpc.h"

static void
pack(const ProtobufCMessage *msg, struct gdp_answer *ret)
{
    *ret = (struct gdp_answer){.status = GDP_GRPC_OK};
    ret->msg = gdp_malloc(protobuf_c_message_get_packed_size(msg) + 1);
    ret->len = protobuf_c_message_pack(msg, ret->msg);
}

/* An INVALID_ARGUMENT answer naming the resource. Returns -EINVAL. */
static int
invalid(const struct gdp_resource *res, const char *what, struct gdp_answer *ret)
{
    *ret = (struct gdp_answer){.status = GDP_GRPC_INVALID_ARGUMENT};
    (void)snprintf(ret->message, sizeof ret->message, "invalid allocation request for '%s': %s",
                   res->name, what);
    return -EINVAL;
}

void
gdp_answer_done(struct gdp_answer *a)
{
    free(a->msg);
    a->msg = NULL;
    a->len = 0;
}

void
gdp_answer_options(struct gdp_answer *ret)
{
    V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    opts.pre_start_required = false;
    opts.get_preferred_allocation_available = true;
    pack(&opts.base, ret);
}

void
gdp_answer_pre_start(struct gdp_answer *ret)
{
    V1beta1__PreStartContainerResponse resp = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
    pack(&resp.base, ret);
}

/* ---- ListAndWatch ---- */

void
gdp_answer_device_list(const struct gdp_resource *r, struct gdp_answer *ret)
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
    pack(&resp.base, ret);
}

/* ---- Allocate ---- */

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
pack_allocations(const struct gdp_container_alloc *allocs, size_t n, struct gdp_answer *ret)
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
    pack(&resp.base, ret);
    for (size_t i = 0; i < n; i++) {
        view_done(&views[i]);
    }
}

static int
allocate_containers(const struct gdp_snapshot *s, const struct gdp_resource *res,
                    const V1beta1__AllocateRequest *in, struct gdp_answer *ret)
{
    size_t n = in->n_container_requests;
    struct gdp_container_alloc *allocs = gdp_calloc(n, sizeof *allocs);
    struct gdp_diag diag = {0};
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const V1beta1__ContainerAllocateRequest *c = in->container_requests[i];
        r = gdp_allocate_container(s, res, (const char *const *)c->devices_ids, c->n_devices_ids,
                                   &allocs[i], &diag);
    }
    if (r < 0) {
        r = invalid(res, diag.msg, ret);
    } else {
        pack_allocations(allocs, n, ret);
    }
    for (size_t i = 0; i < n; i++) {
        gdp_container_alloc_done(&allocs[i]);
    }
    free(allocs);
    return r;
}

int
gdp_answer_allocate(const struct gdp_snapshot *s, const struct gdp_resource *res,
                    const uint8_t *req, size_t len, struct gdp_answer *ret)
{
    if (gdp_pb_has_nul_string(&v1beta1__allocate_request__descriptor, req, len)) {
        return invalid(res, "a device ID contains a NUL byte", ret);
    }
    V1beta1__AllocateRequest *in = v1beta1__allocate_request__unpack(NULL, len, req);
    if (in == NULL) {
        return invalid(res, "malformed AllocateRequest", ret);
    }
    int r = in->n_container_requests == 0 ? invalid(res, "no container requests", ret)
                                          : allocate_containers(s, res, in, ret);
    v1beta1__allocate_request__free_unpacked(in, NULL);
    return r;
}

/* ---- GetPreferredAllocation ---- */

static int
prefer_container(const struct gdp_snapshot *s, const struct gdp_resource *res,
                 const V1beta1__ContainerPreferredAllocationRequest *c,
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
            .policy = s->cfg.shared_devices_allocation_policy,
            .strict = s->cfg.shared_devices_allocation_strict,
    };
    const char **ids = gdp_calloc(req.size, sizeof *ids);
    int n = gdp_preferred_allocation(res, &req, ids, diag);
    if (n < 0) {
        free(ids);
        return n;
    }
    *out = (V1beta1__ContainerPreferredAllocationResponse)
            V1BETA1__CONTAINER_PREFERRED_ALLOCATION_RESPONSE__INIT;
    out->n_deviceids = (size_t)n;
    out->deviceids = (char **)ids; /* freed after packing */
    return 0;
}

static int
prefer_containers(const struct gdp_snapshot *s, const struct gdp_resource *res,
                  const V1beta1__PreferredAllocationRequest *in, struct gdp_answer *ret)
{
    size_t n = in->n_container_requests;
    V1beta1__ContainerPreferredAllocationResponse *outs = gdp_calloc(n, sizeof *outs);
    V1beta1__ContainerPreferredAllocationResponse **ptrs = gdp_calloc_ptrs(n);
    struct gdp_diag diag = {0};
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        r = prefer_container(s, res, in->container_requests[i], &outs[i], &diag);
        ptrs[i] = &outs[i];
    }
    if (r < 0) {
        r = invalid(res, diag.msg, ret);
    } else {
        V1beta1__PreferredAllocationResponse resp = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        resp.n_container_responses = n;
        resp.container_responses = ptrs;
        pack(&resp.base, ret);
    }
    for (size_t i = 0; i < n; i++) {
        free(outs[i].deviceids);
    }
    free(outs);
    free(ptrs);
    return r;
}

int
gdp_answer_preferred(const struct gdp_snapshot *s, const struct gdp_resource *res,
                     const uint8_t *req, size_t len, struct gdp_answer *ret)
{
    if (gdp_pb_has_nul_string(&v1beta1__preferred_allocation_request__descriptor, req, len)) {
        return invalid(res, "a device ID contains a NUL byte", ret);
    }
    V1beta1__PreferredAllocationRequest *in =
            v1beta1__preferred_allocation_request__unpack(NULL, len, req);
    if (in == NULL) {
        return invalid(res, "malformed PreferredAllocationRequest", ret);
    }
    int r = prefer_containers(s, res, in, ret);
    v1beta1__preferred_allocation_request__free_unpacked(in, NULL);
    return r;
}
