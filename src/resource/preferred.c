/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A simple, deterministic preferred-allocation policy: the kubelet's must-include devices,
 * then available devices in NVML order. Topology-aware choice builds on this later.
 */
#include "resource/preferred.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "resource/resources.h"

static bool
contains(const char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (streq(ids[i], id)) {
            return true;
        }
    }
    return false;
}

static int
check_request(const struct gdp_resource *r, const struct gdp_pref_request *req,
              struct gdp_diag *diag)
{
    if (req->size == 0 || req->size > req->n_available) {
        return gdp_diag_set(diag, -EINVAL, "allocation size %zu with %zu devices available",
                            req->size, req->n_available);
    }
    if (req->n_must_include > req->size) {
        return gdp_diag_set(diag, -EINVAL, "%zu devices must be included in an allocation of %zu",
                            req->n_must_include, req->size);
    }
    for (size_t i = 0; i < req->n_available; i++) {
        if (gdp_resource_device(r, req->available[i]) == NULL) {
            return gdp_diag_set(diag, -ENOENT, "unknown device: %s", req->available[i]);
        }
    }
    for (size_t i = 0; i < req->n_must_include; i++) {
        if (!contains(req->available, req->n_available, req->must_include[i])) {
            return gdp_diag_set(diag, -EINVAL, "device %s must be included but is not available",
                                req->must_include[i]);
        }
    }
    return 0;
}

int
gdp_preferred_allocation(const struct gdp_resource *r, const struct gdp_pref_request *req,
                         const char **ret_ids, struct gdp_diag *diag)
{
    int rc = check_request(r, req, diag);
    if (rc < 0) {
        return rc;
    }
    size_t n = 0;
    for (size_t i = 0; i < req->n_must_include && n < req->size; i++) {
        if (!contains(ret_ids, n, req->must_include[i])) {
            ret_ids[n++] = req->must_include[i];
        }
    }
    for (size_t i = 0; i < r->n_devices && n < req->size; i++) {
        const char *id = r->devices[i].id;
        for (size_t j = 0; j < req->n_available; j++) {
            if (streq(req->available[j], id) && !contains(ret_ids, n, id)) {
                ret_ids[n++] = req->available[j];
                break;
            }
        }
    }
    return (int)n;
}
