/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic preferred-allocation policies: the kubelet's must-include devices first; then,
 * for replicas, NVIDIA's greedy distributed/packed choice over the physical devices behind
 * them (reference 6.3), else available devices in NVML order. Topology-aware choice for whole
 * GPUs builds on this later.
 */
#include "resource/preferred.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
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

/* A physical device behind the replicas: NVIDIA's total/available replica counts. */
struct phys {
    const struct gdp_device *dev;
    size_t total;  /* advertised devices of the resource backed by it */
    size_t free;   /* among the candidates still unpicked */
    size_t picked; /* in this answer, must-include devices included */
};

struct cand {
    const char *id; /* borrowed from the request */
    size_t pos;     /* in the resource's devices: NVML order, then replica number */
    size_t phys;
    bool taken;
};

struct greedy {
    struct phys *phys;
    size_t n_phys;
    struct cand *cands;
    size_t n_cands;
    enum gdp_alloc_policy policy;
};

static void
greedy_done(struct greedy *g)
{
    free(g->phys);
    free(g->cands);
}

static size_t
phys_of(const struct greedy *g, const struct gdp_device *dev)
{
    for (size_t i = 0; i < g->n_phys; i++) {
        if (g->phys[i].dev == dev) {
            return i;
        }
    }
    return SIZE_MAX;
}

static size_t
position(const struct gdp_resource *r, const char *id)
{
    return (size_t)(gdp_resource_device(r, id) - r->devices); /* known: checked before */
}

/* The physical devices with their totals; the must-include ones count as picked. */
static void
tally(const struct gdp_resource *r, const char *const *chosen, size_t n_chosen, struct greedy *g)
{
    g->phys = gdp_calloc(r->n_devices, sizeof *g->phys);
    for (size_t i = 0; i < r->n_devices; i++) {
        size_t p = phys_of(g, r->devices[i].dev);
        if (p == SIZE_MAX) {
            p = g->n_phys++;
            g->phys[p].dev = r->devices[i].dev;
        }
        g->phys[p].total++;
    }
    for (size_t i = 0; i < n_chosen; i++) {
        g->phys[phys_of(g, r->devices[position(r, chosen[i])].dev)].picked++;
    }
}

/* Candidates: available devices not already chosen, each once. */
static void
collect(const struct gdp_resource *r, const struct gdp_pref_request *req, const char *const *chosen,
        size_t n_chosen, struct greedy *g)
{
    g->cands = gdp_calloc(req->n_available, sizeof *g->cands);
    for (size_t i = 0; i < req->n_available; i++) {
        const char *id = req->available[i];
        bool dup = contains(chosen, n_chosen, id);
        for (size_t j = 0; j < g->n_cands && !dup; j++) {
            dup = streq(g->cands[j].id, id);
        }
        if (dup) {
            continue;
        }
        size_t pos = position(r, id);
        size_t p = phys_of(g, r->devices[pos].dev);
        g->cands[g->n_cands++] = (struct cand){.id = id, .pos = pos, .phys = p};
        g->phys[p].free++;
    }
}

/* Whether candidate a goes before b under the policy. */
static bool
better(const struct greedy *g, const struct cand *a, const struct cand *b)
{
    const struct phys *pa = &g->phys[a->phys];
    const struct phys *pb = &g->phys[b->phys];
    size_t used_a = pa->total - pa->free;
    size_t used_b = pb->total - pb->free;
    if (used_a != used_b) {
        return g->policy == GDP_ALLOC_PACKED ? used_a > used_b : used_a < used_b;
    }
    if (pa->picked != pb->picked) {
        return pa->picked < pb->picked; /* spread one answer over distinct devices */
    }
    return a->pos < b->pos;
}

/* Takes the best remaining candidate; NULL when none is left. */
static const char *
pick(struct greedy *g)
{
    struct cand *best = NULL;
    for (size_t i = 0; i < g->n_cands; i++) {
        struct cand *c = &g->cands[i];
        if (!c->taken && (best == NULL || better(g, c, best))) {
            best = c;
        }
    }
    if (best == NULL) {
        return NULL;
    }
    best->taken = true;
    g->phys[best->phys].free--;
    g->phys[best->phys].picked++;
    return best->id;
}

static int
greedy_allocation(const struct gdp_resource *r, const struct gdp_pref_request *req,
                  const char **ret_ids, size_t n, struct gdp_diag *diag)
{
    _cleanup_(greedy_done) struct greedy g = {.policy = req->policy};
    tally(r, ret_ids, n, &g);
    collect(r, req, ret_ids, n, &g);
    while (n < req->size) {
        const char *id = pick(&g);
        if (id == NULL) {
            return gdp_diag_set(diag, -EINVAL,
                                "not enough available devices to satisfy allocation");
        }
        ret_ids[n++] = id;
    }
    return (int)n;
}

static bool
any_replica(const struct gdp_resource *r, const struct gdp_pref_request *req)
{
    for (size_t i = 0; i < req->n_available; i++) {
        if (gdp_resource_device(r, req->available[i])->replicas > 0) {
            return true;
        }
    }
    return false;
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
    if (any_replica(r, req)) {
        return greedy_allocation(r, req, ret_ids, n, diag);
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
