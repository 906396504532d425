/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replication (time-slicing and MPS share one ID scheme): the config's replicated resources
 * applied to the resource set the MIG strategy produced. A selected device becomes `replicas`
 * advertised devices "<uuid>::<k>" under its resolved name; everything else stays whole under
 * its original name. Unlike NVIDIA's plugin, `rename`, `devices` selections and our
 * per-device overrides are honoured, so one node can offer some GPUs whole and others shared.
 * The result is checked as a whole: names fit Kubernetes, and no resource mixes device kinds.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/resources.h"

#define K8S_NAME_MAX 63 /* Kubernetes' limit for a fully qualified extended resource name */
#define NO_ENTRY     SIZE_MAX

struct replicate {
    const struct gdp_replication *rep;
    const char *section; /* "timeSlicing" or "mps", for messages */
    bool mps;
    const struct gdp_node *node;
    struct gdp_resource_set *out;
    struct gdp_diag *diag;
};

/* GDP_E_CONFIG with "<file:line:col>: sharing.<section>.resources[i]: <what>". */
static int _printf_(3, 4) entry_error(const struct replicate *c, size_t i, const char *fmt, ...)
{
    char what[GDP_DIAG_MAX];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *where = c->rep->where != NULL ? c->rep->where : "";
    return gdp_diag_set(c->diag, GDP_E_CONFIG, "%s%ssharing.%s.resources[%zu]: %s", where,
                        where[0] != '\0' ? ": " : "", c->section, i, what);
}

static bool
device_is(const struct gdp_device *d, const char *id)
{
    return streq(id, d->index_str) || streq(id, d->uuid);
}

/* Every id of a LIST selector names a device of resource b; a count fits b. */
static int
check_selector(const struct replicate *c, size_t i, const char *what,
               const struct gdp_device_selector *sel, const struct gdp_resource *b)
{
    if (sel->kind == GDP_DEVICES_COUNT && sel->count > b->n_devices) {
        return entry_error(c, i,
                           "%srequested %u devices to be replicated, but only %zu devices "
                           "available for %s",
                           what, sel->count, b->n_devices, b->name);
    }
    for (size_t k = 0; sel->kind == GDP_DEVICES_LIST && k < sel->ids.n; k++) {
        const char *id = sel->ids.v[k];
        bool found = false;
        for (size_t pos = 0; pos < b->n_devices && !found; pos++) {
            found = device_is(b->devices[pos].dev, id);
        }
        if (!found) {
            bool index = id[0] >= '0' && id[0] <= '9';
            return entry_error(c, i, "%sno matching device %s %s among the %s devices", what,
                               index ? "at index" : "with UUID", id, b->name);
        }
    }
    return 0;
}

/* Checks the selectors of entry i (and of its overrides) against resource b. */
static int
check_entry(const struct replicate *c, size_t i, const struct gdp_resource *b)
{
    const struct gdp_replicated_resource *res = &c->rep->resources[i];
    int r = check_selector(c, i, "", &res->devices, b);
    for (size_t j = 0; r == 0 && j < res->n_overrides; j++) {
        char what[48];
        (void)snprintf(what, sizeof what, "overrides[%zu]: ", j);
        r = check_selector(c, i, what, &res->overrides[j].devices, b);
    }
    return r;
}

static bool
selects(const struct gdp_replicated_resource *res, const struct gdp_resource *b, size_t pos)
{
    const struct gdp_device *d = b->devices[pos].dev;
    return streq(res->name, b->name) &&
           gdp_device_selector_matches(&res->devices, pos, d->index_str, d->uuid);
}

/* The entry that replicates device pos of b (NO_ENTRY: none); two are an error. */
static int
choose_entry(const struct replicate *c, const struct gdp_resource *b, size_t pos, size_t *ret)
{
    *ret = NO_ENTRY;
    for (size_t i = 0; i < c->rep->n_resources; i++) {
        if (!selects(&c->rep->resources[i], b, pos)) {
            continue;
        }
        if (*ret != NO_ENTRY) {
            const struct gdp_device *d = b->devices[pos].dev;
            return entry_error(c, i, "device %s (%s) is already selected by resources[%zu]",
                               d->index_str, d->uuid, *ret);
        }
        *ret = i;
    }
    return 0;
}

static int
add_checked(const struct replicate *c, size_t i, const char *name, const struct gdp_rdev *rd)
{
    if (strlen(name) > K8S_NAME_MAX) {
        return entry_error(c, i,
                           "invalid resource name \"%s\": the fully-qualified name must be %d "
                           "characters or less",
                           name, K8S_NAME_MAX);
    }
    gdp_resource_set_add(c->out, name, rd);
    return 0;
}

/* Device pos of b as entry i resolves it: whole, or its replicas. */
static int
expand_device(const struct replicate *c, const struct gdp_resource *b, size_t pos, size_t i)
{
    const struct gdp_device *d = b->devices[pos].dev;
    const struct gdp_device *gpu = gdp_device_gpu(c->node, d);
    struct gdp_replica_choice choice;
    gdp_replicated_resource_resolve(&c->rep->resources[i], pos, d->index_str, d->uuid, gpu->name,
                                    &choice);
    if (choice.replicas <= 1) {
        return add_checked(c, i, choice.name, &b->devices[pos]);
    }
    if (c->mps && d->kind == GDP_DEVICE_MIG) {
        return entry_error(c, i,
                           "sharing using MPS is not supported for MIG devices: %s (%s) of %s",
                           d->index_str, d->uuid, b->name);
    }
    for (unsigned k = 0; k < choice.replicas; k++) {
        struct gdp_rdev rd = {.dev = d, .replica = k, .replicas = choice.replicas};
        (void)snprintf(rd.id, sizeof rd.id, "%s::%u", d->uuid, k);
        int r = add_checked(c, i, choice.name, &rd);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static int
replicate_resource(const struct replicate *c, const struct gdp_resource *b)
{
    bool configured = false;
    for (size_t i = 0; i < c->rep->n_resources; i++) {
        if (streq(c->rep->resources[i].name, b->name)) {
            configured = true;
            int r = check_entry(c, i, b);
            if (r < 0) {
                return r;
            }
        }
    }
    for (size_t pos = 0; pos < b->n_devices; pos++) {
        size_t i = NO_ENTRY;
        int r = configured ? choose_entry(c, b, pos, &i) : 0;
        if (r == 0 && i == NO_ENTRY) {
            gdp_resource_set_add(c->out, b->name, &b->devices[pos]);
        } else if (r == 0) {
            r = expand_device(c, b, pos, i);
        }
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* A resource is GPUs or MIG devices of one profile, as every MIG strategy produces them. */
static int
check_compatible(const struct gdp_resource *r, struct gdp_diag *diag)
{
    const struct gdp_device *first = r->devices[0].dev;
    for (size_t i = 1; i < r->n_devices; i++) {
        const struct gdp_device *d = r->devices[i].dev;
        if (d->kind != first->kind) {
            return gdp_diag_set(diag, GDP_E_CONFIG,
                                "sharing: resource %s would hold both GPUs and MIG devices (%s "
                                "and %s); rename one of them",
                                r->name, first->uuid, d->uuid);
        }
        if (d->kind == GDP_DEVICE_MIG && !streq(d->profile, first->profile)) {
            return gdp_diag_set(diag, GDP_E_CONFIG,
                                "sharing: resource %s would hold MIG devices of different profiles "
                                "(%s is %s, %s is %s); rename one of them",
                                r->name, first->uuid, first->profile, d->uuid, d->profile);
        }
    }
    return 0;
}

static void
warn_unmatched(const struct replicate *c, const struct gdp_resource_set *base)
{
    for (size_t i = 0; i < c->rep->n_resources; i++) {
        const char *name = c->rep->resources[i].name;
        if (gdp_resource_find(base, name) == NULL) {
            gdp_resource_set_warn(c->out,
                                  "sharing.%s.resources[%zu]: no %s devices on this node, "
                                  "nothing to share",
                                  c->section, i, name);
        }
    }
}

/* Moves out's resources into set (set's old ones go to out, for freeing) and appends out's
 * warnings to set's. */
static void
take_result(struct gdp_resource_set *set, struct gdp_resource_set *out)
{
    struct gdp_resource *old = set->resources;
    size_t n_old = set->n_resources;
    set->resources = out->resources;
    set->n_resources = out->n_resources;
    out->resources = old;
    out->n_resources = n_old;
    for (size_t i = 0; i < out->n_warnings; i++) {
        gdp_resource_set_warn(set, "%s", out->warnings[i]);
    }
}

int
gdp_resources_replicate(const struct gdp_sharing *sharing, const struct gdp_node *node,
                        struct gdp_resource_set *set, struct gdp_diag *diag)
{
    if (sharing->strategy == GDP_SHARING_NONE) {
        return 0;
    }
    _cleanup_(gdp_resource_set_done) struct gdp_resource_set out = {0};
    const struct gdp_replication *rep = gdp_sharing_replication(sharing);
    const struct replicate c = {
            .rep = rep,
            .section = rep == &sharing->mps ? "mps" : "timeSlicing",
            .mps = rep == &sharing->mps,
            .node = node,
            .out = &out,
            .diag = diag,
    };
    for (size_t i = 0; i < set->n_resources; i++) {
        int r = replicate_resource(&c, &set->resources[i]);
        if (r < 0) {
            return r;
        }
    }
    for (size_t i = 0; i < out.n_resources; i++) {
        int r = check_compatible(&out.resources[i], diag);
        if (r < 0) {
            return r;
        }
    }
    warn_unmatched(&c, set);
    gdp_resource_set_sort(&out);
    take_result(set, &out);
    return 0;
}
