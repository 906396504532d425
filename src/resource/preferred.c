/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Preferred allocation. The request is resolved once through the resource's ID index (unknown
 * IDs skipped, duplicates taken once, every size bounded by the resource before anything is
 * allocated); must-include devices come first. Whole GPUs then go to the topology search
 * (topo_search.c) over the cached pair scores; replicas and MIG devices to NVIDIA's greedy
 * distributed/packed policy, optionally strict, with ties going to the GPU best connected to
 * those already in the answer. No NVML call is made here.
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
#include "gpu/topology.h"
#include "resource/resources.h"
#include "resource/topo_search.h"

enum mark {
    UNSEEN = 0,
    AVAILABLE,
    MUST,
};

/* The request against the resource: who is available, who must be included. */
struct resolved {
    const struct gdp_resource *r;
    const char **id_of; /* per position: the request's string for it */
    uint8_t *mark;      /* per position: enum mark */
    size_t *must;       /* positions, in the kubelet's order */
    size_t n_must;
    size_t *pool; /* available positions not in must, NVML order */
    size_t n_pool;
};

static void
resolved_done(struct resolved *rs)
{
    free(rs->id_of);
    free(rs->mark);
    free(rs->must);
    free(rs->pool);
}

static int
check_sizes(const struct gdp_resource *r, const struct gdp_pref_request *req, struct gdp_diag *diag)
{
    if (req->n_available > r->n_devices) {
        return gdp_diag_set(diag, -EINVAL,
                            "request lists %zu available devices but %s has %zu devices",
                            req->n_available, r->name, r->n_devices);
    }
    if (req->size == 0 || req->size > req->n_available) {
        return gdp_diag_set(diag, -EINVAL, "allocation size %zu with %zu devices available",
                            req->size, req->n_available);
    }
    if (req->n_must_include > req->size) {
        return gdp_diag_set(diag, -EINVAL, "%zu devices must be included in an allocation of %zu",
                            req->n_must_include, req->size);
    }
    return 0;
}

static size_t
position(const struct gdp_resource *r, const char *id)
{
    const struct gdp_rdev *rd = gdp_resource_device(r, id);
    return rd != NULL ? (size_t)(rd - r->devices) : SIZE_MAX;
}

/* Marks available and must-include devices: unknown IDs skipped, duplicates taken once. */
static int
mark_request(struct resolved *rs, const struct gdp_pref_request *req, struct gdp_diag *diag)
{
    for (size_t i = 0; i < req->n_available; i++) {
        size_t pos = position(rs->r, req->available[i]);
        if (pos != SIZE_MAX && rs->mark[pos] == UNSEEN) {
            rs->mark[pos] = AVAILABLE;
            rs->id_of[pos] = req->available[i];
        }
    }
    for (size_t i = 0; i < req->n_must_include; i++) {
        size_t pos = position(rs->r, req->must_include[i]);
        if (pos == SIZE_MAX || rs->mark[pos] == MUST) {
            continue;
        }
        if (rs->mark[pos] != AVAILABLE) {
            return gdp_diag_set(diag, -EINVAL, "device %s must be included but is not available",
                                rs->r->devices[pos].id);
        }
        rs->mark[pos] = MUST;
        rs->must[rs->n_must++] = pos;
    }
    return 0;
}

/* The pool: available devices in NVML order, healthy ones only when they are enough. */
static void
fill_pool(struct resolved *rs, size_t size)
{
    size_t healthy = 0, all = 0;
    for (size_t pos = 0; pos < rs->r->n_devices; pos++) {
        all += rs->mark[pos] == AVAILABLE;
        healthy += rs->mark[pos] == AVAILABLE && rs->r->devices[pos].dev->healthy;
    }
    bool only_healthy = rs->n_must + healthy >= size;
    rs->pool = gdp_calloc(all + 1, sizeof *rs->pool);
    for (size_t pos = 0; pos < rs->r->n_devices; pos++) {
        if (rs->mark[pos] == AVAILABLE && (!only_healthy || rs->r->devices[pos].dev->healthy)) {
            rs->pool[rs->n_pool++] = pos;
        }
    }
}

static int
resolve(const struct gdp_resource *r, const struct gdp_pref_request *req, struct resolved *rs,
        struct gdp_diag *diag)
{
    int rc = check_sizes(r, req, diag);
    if (rc < 0) {
        return rc;
    }
    rs->r = r;
    rs->id_of = gdp_calloc(r->n_devices + 1, sizeof *rs->id_of);
    rs->mark = gdp_calloc(r->n_devices + 1, sizeof *rs->mark);
    rs->must = gdp_calloc(req->n_must_include + 1, sizeof *rs->must);
    rc = mark_request(rs, req, diag);
    if (rc < 0) {
        return rc;
    }
    fill_pool(rs, req->size);
    if (rs->n_must + rs->n_pool < req->size) {
        return gdp_diag_set(diag, -EINVAL, "not enough available devices to satisfy allocation");
    }
    return 0;
}

/* ---- whole GPUs: the topology search ---- */

static size_t
nvml_order(const struct resolved *rs, const char **ret_ids, size_t n, size_t size)
{
    for (size_t i = 0; i < rs->n_pool && n < size; i++) {
        ret_ids[n++] = rs->id_of[rs->pool[i]];
    }
    return n;
}

static size_t
topology_allocation(const struct resolved *rs, const char **ret_ids, size_t n, size_t size)
{
    size_t local[GDP_TOPO_SEARCH_MAX];
    uint32_t w[GDP_TOPO_SEARCH_MAX * GDP_TOPO_SEARCH_MAX];
    size_t count = 0;
    struct gdp_topo_problem p = {.w = w, .size = size};
    for (size_t pos = 0, i = 0; pos < rs->r->n_devices; pos++) { /* NVML order */
        bool in_pool = i < rs->n_pool && rs->pool[i] == pos;
        i += in_pool;
        if (in_pool || rs->mark[pos] == MUST) {
            p.must |= rs->mark[pos] == MUST ? 1ull << count : 0;
            local[count++] = pos;
        }
    }
    p.n = count;
    for (size_t a = 0; a < count; a++) {
        for (size_t b = 0; b < count; b++) {
            w[a * count + b] =
                    a == b ? 0
                           : gdp_topology_score(rs->r->topology, rs->r->devices[local[a]].dev->topo,
                                                rs->r->devices[local[b]].dev->topo);
        }
    }
    uint64_t chosen = gdp_topo_search(&p, NULL) & ~p.must;
    for (; chosen != 0 && n < size; chosen &= chosen - 1) {
        ret_ids[n++] = rs->id_of[local[__builtin_ctzll(chosen)]];
    }
    return n;
}

/* ---- replicas and MIG devices: the greedy policy ---- */

/* A physical device behind the replicas: NVIDIA's total/available replica counts. */
struct phys {
    const struct gdp_device *dev;
    size_t total;  /* advertised devices of the resource backed by it */
    size_t free;   /* among the candidates still unpicked */
    size_t picked; /* in this answer, must-include devices included */
    uint64_t conn; /* pair scores to the GPUs of the devices in this answer */
    size_t head;   /* its first unpicked candidate, SIZE_MAX when none */
    size_t tail;
};

struct cand {
    size_t pos;  /* in the resource: NVML order, then replica number */
    size_t next; /* next candidate of the same physical device, SIZE_MAX none */
};

struct greedy {
    const struct resolved *rs;
    struct phys *phys;
    size_t n_phys;
    size_t *slots; /* device pointer hash -> phys index + 1 */
    size_t n_slots;
    size_t *phys_of; /* per resource position */
    struct cand *cands;
    enum gdp_alloc_policy policy;
    bool strict;
};

static void
greedy_done(struct greedy *g)
{
    free(g->phys);
    free(g->slots);
    free(g->phys_of);
    free(g->cands);
}

static size_t
phys_index(struct greedy *g, const struct gdp_device *dev)
{
    size_t slot = ((uintptr_t)dev / sizeof *dev * 0x9E3779B97F4A7C15ull) & (g->n_slots - 1);
    for (; g->slots[slot] != 0; slot = (slot + 1) & (g->n_slots - 1)) {
        if (g->phys[g->slots[slot] - 1].dev == dev) {
            return g->slots[slot] - 1;
        }
    }
    g->phys[g->n_phys] = (struct phys){.dev = dev, .head = SIZE_MAX, .tail = SIZE_MAX};
    g->slots[slot] = ++g->n_phys;
    return g->n_phys - 1;
}

/* Counts every physical device's replicas; O(n) with the pointer hash. */
static void
tally(struct greedy *g)
{
    const struct gdp_resource *r = g->rs->r;
    g->n_slots = 16;
    while (g->n_slots <= 2 * r->n_devices) {
        g->n_slots *= 2;
    }
    g->slots = gdp_calloc(g->n_slots, sizeof *g->slots);
    g->phys = gdp_calloc(r->n_devices + 1, sizeof *g->phys);
    g->phys_of = gdp_calloc(r->n_devices + 1, sizeof *g->phys_of);
    for (size_t pos = 0; pos < r->n_devices; pos++) {
        g->phys_of[pos] = phys_index(g, r->devices[pos].dev);
        g->phys[g->phys_of[pos]].total++;
    }
}

static void
note_picked(struct greedy *g, size_t p)
{
    const struct gdp_topology *t = g->rs->r->topology;
    g->phys[p].picked++;
    for (size_t q = 0; q < g->n_phys; q++) {
        g->phys[q].conn += gdp_topology_score(t, g->phys[p].dev->topo, g->phys[q].dev->topo);
    }
}

/* Candidates (the pool, in NVML order) chained per physical device. */
static void
collect(struct greedy *g)
{
    const struct resolved *rs = g->rs;
    g->cands = gdp_calloc(rs->n_pool + 1, sizeof *g->cands);
    for (size_t i = 0; i < rs->n_pool; i++) {
        struct phys *ph = &g->phys[g->phys_of[rs->pool[i]]];
        g->cands[i] = (struct cand){.pos = rs->pool[i], .next = SIZE_MAX};
        if (ph->tail == SIZE_MAX) {
            ph->head = i;
        } else {
            g->cands[ph->tail].next = i;
        }
        ph->tail = i;
        ph->free++;
    }
    for (size_t i = 0; i < rs->n_must; i++) {
        note_picked(g, g->phys_of[rs->must[i]]);
    }
}

/* Whether physical device a's next candidate goes before b's under the policy. */
static bool
better(const struct greedy *g, const struct phys *a, const struct phys *b)
{
    if (g->strict && (a->picked > 0) != (b->picked > 0)) {
        return a->picked == 0;
    }
    size_t used_a = a->total - a->free;
    size_t used_b = b->total - b->free;
    if (used_a != used_b) {
        return g->policy == GDP_ALLOC_PACKED ? used_a > used_b : used_a < used_b;
    }
    if (a->picked != b->picked) {
        return a->picked < b->picked; /* spread one answer over distinct devices */
    }
    if (a->conn != b->conn) {
        return a->conn > b->conn; /* the GPU best connected to those already chosen */
    }
    return g->cands[a->head].pos < g->cands[b->head].pos;
}

/* Takes the best remaining candidate (SIZE_MAX when none): O(physical devices). */
static size_t
pick(struct greedy *g)
{
    struct phys *best = NULL;
    for (size_t i = 0; i < g->n_phys; i++) {
        struct phys *ph = &g->phys[i];
        if (ph->head != SIZE_MAX && (best == NULL || better(g, ph, best))) {
            best = ph;
        }
    }
    if (best == NULL) {
        return SIZE_MAX;
    }
    size_t c = best->head;
    best->head = g->cands[c].next;
    best->free--;
    note_picked(g, (size_t)(best - g->phys));
    return g->cands[c].pos;
}

static size_t
greedy_allocation(const struct resolved *rs, const struct gdp_pref_request *req,
                  const char **ret_ids, size_t n)
{
    _cleanup_(greedy_done) struct greedy g = {
            .rs = rs, .policy = req->policy, .strict = req->strict};
    tally(&g);
    collect(&g);
    for (size_t pos; n < req->size && (pos = pick(&g)) != SIZE_MAX;) {
        ret_ids[n++] = rs->id_of[pos]; /* resolve() checked there are enough */
    }
    return n;
}

static bool
whole_gpus(const struct resolved *rs)
{
    for (size_t i = 0; i < rs->n_pool; i++) {
        const struct gdp_rdev *rd = &rs->r->devices[rs->pool[i]];
        if (rd->replicas > 0 || rd->dev->kind != GDP_DEVICE_GPU) {
            return false;
        }
    }
    for (size_t i = 0; i < rs->n_must; i++) {
        const struct gdp_rdev *rd = &rs->r->devices[rs->must[i]];
        if (rd->replicas > 0 || rd->dev->kind != GDP_DEVICE_GPU) {
            return false;
        }
    }
    return true;
}

int
gdp_preferred_allocation(const struct gdp_resource *r, const struct gdp_pref_request *req,
                         const char **ret_ids, struct gdp_diag *diag)
{
    _cleanup_(resolved_done) struct resolved rs = {0};
    int rc = resolve(r, req, &rs, diag);
    if (rc < 0) {
        return rc;
    }
    size_t n = 0;
    for (size_t i = 0; i < rs.n_must; i++) {
        ret_ids[n++] = rs.id_of[rs.must[i]];
    }
    if (n == req->size) {
        return (int)n;
    }
    if (!whole_gpus(&rs)) {
        return (int)greedy_allocation(&rs, req, ret_ids, n);
    }
    if (r->topology == NULL || rs.n_must + rs.n_pool > GDP_TOPO_SEARCH_MAX) {
        return (int)nvml_order(&rs, ret_ids, n, req->size);
    }
    return (int)topology_allocation(&rs, ret_ids, n, req->size);
}
