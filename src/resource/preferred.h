/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GetPreferredAllocation: which of the kubelet's available devices a container should get.
 * Devices the kubelet must include come first; the rest follow a deterministic policy.
 */
#pragma once

#include <stddef.h>

struct gdp_diag;
struct gdp_resource;

/* One container's request, as the kubelet sends it; all borrowed. */
struct gdp_pref_request {
    const char *const *available;
    size_t n_available;
    const char *const *must_include;
    size_t n_must_include;
    size_t size;
};

/*
 * Chooses req->size device IDs into ret_ids (room for req->size pointers; each points into
 * req's strings). must_include comes first in the kubelet's order, then the available
 * devices in the resource's (NVML) order. Returns the number chosen (== size), or -EINVAL
 * (size 0 or larger than what is available, must_include not within available, more
 * must_include than size) / -ENOENT (an ID this resource does not advertise), with diag.
 */
int gdp_preferred_allocation(const struct gdp_resource *r, const struct gdp_pref_request *req,
                             const char **ret_ids, struct gdp_diag *diag);
