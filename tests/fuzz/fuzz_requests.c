/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the plugin's own answer functions (plugin/answer.c), which the gRPC
 * handlers call with the request bytes. The first byte picks Allocate or
 * GetPreferredAllocation (bit 0), the whole-GPU resource or the one with two replicas per
 * GPU (bit 1), and the distributed or packed policy (bit 2); the rest is the request.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/answer.h"
#include "resource/preferred.h"
#include "resource/resources.h"
#include "resource/snapshot.h"

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
static struct gdp_snapshot snap;

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
    gdp_config_init(&snap.cfg);
    snap.inv.node = &node;
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
    const struct gdp_resource *res = &resources[(data[0] >> 1) & 1u];
    snap.cfg.shared_devices_allocation_policy =
            (data[0] & 4u) ? GDP_ALLOC_PACKED : GDP_ALLOC_DISTRIBUTED;
    struct gdp_answer a = {0};
    if (data[0] & 1u) {
        (void)gdp_answer_preferred(&snap, res, data + 1, size - 1, &a);
    } else {
        (void)gdp_answer_allocate(&snap, res, data + 1, size - 1, &a);
    }
    gdp_answer_done(&a);
    return 0;
}
