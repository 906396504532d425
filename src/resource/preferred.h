/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GetPreferredAllocation: which of the kubelet's available devices a container should get.
 * Devices the kubelet must include come first; the rest follow a deterministic policy: for
 * whole GPUs the best-connected set by the cached topology, for replicas and MIG devices
 * NVIDIA's greedy distributed/packed policy (optionally strict).
 */
#pragma once

#include <stdbool.h>
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
    bool strict;                  /* --shared-devices-allocation-strict, for replicas */
};

/*
 * Chooses req->size device IDs into ret_ids (room for req->size pointers; each points into
 * req's strings). IDs the resource does not advertise are skipped and duplicates count once;
 * unhealthy devices are used only when the healthy ones are too few. must_include comes first,
 * in the kubelet's order. Whole GPUs: the rest, in NVML order, complete the set with the
 * highest topology score (docs/allocation.md). Replicas and MIG devices: picked one at a time
 * by req->policy over the physical devices behind them, counting a device's replicas that are
 * not available (or must be included) as in use: distributed takes a replica of the
 * least-used device, packed of the most-used one; with req->strict a device already in the
 * answer comes after every device that is not; ties go to the device with fewer replicas in
 * this answer, then the one best connected to those in it, then NVML order, then the lower
 * replica number. Returns the number chosen (== size), or -EINVAL with diag: size 0 or larger
 * than what is available, more available IDs than the resource has devices, more
 * must_include than size, a must_include device that is not available, too few known
 * devices. Costs O(n_available + n_must_include + resource size) besides the search.
 */
int gdp_preferred_allocation(const struct gdp_resource *r, const struct gdp_pref_request *req,
                             const char **ret_ids, struct gdp_diag *diag);
