/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: kubelet request decoding and the answers built from it. The first byte
 * picks AllocateRequest or PreferredAllocationRequest (bit 0), the whole-GPU resource or
 * the one with two replicas per GPU (bit 1), and the distributed or packed policy (bit 2);
 * the rest is the protobuf message, decoded with protobuf-c and answered as the plugin does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <deviceplugin_v1beta1.pb-c.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/allocate.h"
#include "resource/preferred.h"
#include "resource/resources.h"

#define N_GPUS     4
#define N_REPLICAS 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gdp_device devices[N_GPUS];
static struct gdp_rdev rdevs[N_GPUS];
static struct gdp_node node = {.devices = devices, .n_devices = N_GPUS, .n_gpus = N_GPUS};
static struct gdp_rdev shared_rdevs[N_GPUS * N_REPLICAS];
static struct gdp_resource resources[2] = {
        {.name = "nvidia.com/gpu", .devices = rdevs, .n_devices = N_GPUS},
        {.name = "nvidia.com/gpu.shared",
         .devices = shared_rdevs,
         .n_devices = N_GPUS * N_REPLICAS},
};
static struct gdp_config cfg;

static void
setup(void)
{
    for (unsigned i = 0; i < N_GPUS; i++) {
        devices[i] = (struct gdp_device){.kind = GDP_DEVICE_GPU,
                                         .index = i,
                                         .parent = -1,
                                         .minor = i,
                                         .healthy = true,
                                         .numa_node = -1};
        (void)snprintf(devices[i].index_str, sizeof devices[i].index_str, "%u", i);
        (void)snprintf(devices[i].uuid, sizeof devices[i].uuid,
                       "GPU-0000000%u-0000-0000-0000-000000000000", i);
        rdevs[i] = (struct gdp_rdev){.dev = &devices[i]};
        memcpy(rdevs[i].id, devices[i].uuid, sizeof devices[i].uuid);
        for (unsigned k = 0; k < N_REPLICAS; k++) {
            struct gdp_rdev *r = &shared_rdevs[i * N_REPLICAS + k];
            *r = (struct gdp_rdev){.dev = &devices[i], .replica = k, .replicas = N_REPLICAS};
            (void)snprintf(r->id, sizeof r->id, "%s::%u", devices[i].uuid, k);
        }
    }
    gdp_config_init(&cfg);
}

static void
allocate(const struct gdp_resource *resource, const uint8_t *data, size_t size)
{
    V1beta1__AllocateRequest *in = v1beta1__allocate_request__unpack(NULL, size, data);
    if (in == NULL) {
        return;
    }
    struct gdp_alloc_ctx ctx = {0};
    ctx.cfg = &cfg;
    ctx.node = &node;
    ctx.resource = resource;
    for (size_t i = 0; i < in->n_container_requests; i++) {
        struct gdp_container_alloc a;
        struct gdp_diag diag = {0};
        const V1beta1__ContainerAllocateRequest *c = in->container_requests[i];
        (void)gdp_allocate_container(&ctx, (const char *const *)c->devices_ids, c->n_devices_ids,
                                     &a, &diag);
        gdp_container_alloc_done(&a);
    }
    v1beta1__allocate_request__free_unpacked(in, NULL);
}

static void
prefer(const struct gdp_resource *resource, enum gdp_alloc_policy policy, const uint8_t *data,
       size_t size)
{
    V1beta1__PreferredAllocationRequest *in =
            v1beta1__preferred_allocation_request__unpack(NULL, size, data);
    if (in == NULL) {
        return;
    }
    for (size_t i = 0; i < in->n_container_requests; i++) {
        const V1beta1__ContainerPreferredAllocationRequest *c = in->container_requests[i];
        if (c->allocation_size <= 0 || (size_t)c->allocation_size > c->n_available_deviceids ||
            c->allocation_size > 1024) {
            continue; /* the plugin refuses the first two before allocating */
        }
        const struct gdp_pref_request req = {
                .available = (const char *const *)c->available_deviceids,
                .n_available = c->n_available_deviceids,
                .must_include = (const char *const *)c->must_include_deviceids,
                .n_must_include = c->n_must_include_deviceids,
                .size = (size_t)c->allocation_size,
                .policy = policy,
        };
        const char *ids[1024];
        struct gdp_diag diag = {0};
        (void)gdp_preferred_allocation(resource, &req, ids, &diag);
    }
    v1beta1__preferred_allocation_request__free_unpacked(in, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (size == 0) {
        return 0;
    }
    const struct gdp_resource *resource = &resources[(data[0] >> 1) & 1u];
    enum gdp_alloc_policy policy = (data[0] & 4u) ? GDP_ALLOC_PACKED : GDP_ALLOC_DISTRIBUTED;
    if (data[0] & 1u) {
        prefer(resource, policy, data + 1, size - 1);
    } else {
        allocate(resource, data + 1, size - 1);
    }
    return 0;
}
