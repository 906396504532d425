/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GetPreferredAllocation: which of the kubelet's available devices a container should get.
 * Devices the kubelet must include come first; the rest follow a deterministic policy: for
 * replicas NVIDIA's greedy distributed/packed policy, for whole devices NVML order.
 */
#pragma once

#include <stddef.h>

#include "config/config.h"

struct gdp_diag;
struct gdp_resource;

/* One container's request, as the kubelet sends it; all borrowed. */
struct gdp_pref_request {
    const char *const *available;
    size_t n_available;
    const char *const *must_include;
    size_t n_must_include;
    size_t size;
    enum gdp_alloc_policy policy; /* --shared-devices-allocation-policy, for replicas */
};

/*
 * Chooses req->size device IDs into ret_ids (room for req->size pointers; each points into
 * req's strings). must_include comes first in the kubelet's order. When an available ID is
 * a replica, the rest are picked one at a time by req->policy over the physical devices
 * behind them, counting a device's replicas that are not available (or must be included) as
 * in use: distributed takes a replica of the least-used device, packed of the most-used one;
 * ties go to the device with fewer replicas in this answer, then to NVML order, then to the
 * lower replica number. Otherwise the available devices follow in the resource's (NVML)
 * order. Returns the number chosen (== size), or -EINVAL (size 0 or larger than what is
 * available, must_include not within available, more must_include than size) / -ENOENT (an
 * ID this resource does not advertise), with diag.
 */
int gdp_preferred_allocation(const struct gdp_resource *r, const struct gdp_pref_request *req,
                             const char **ret_ids, struct gdp_diag *diag);
