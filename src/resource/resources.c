/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MIG strategies, as NVIDIA's plugin applies them:
 *   none   - every GPU is nvidia.com/gpu, MIG-enabled ones included; MIG devices are hidden.
 *   single - MIG devices are nvidia.com/gpu; all must be of one type; GPUs with MIG enabled
 *            must have MIG devices; MIG and non-MIG GPUs may not be mixed.
 *   mixed  - GPUs without MIG are nvidia.com/gpu; each MIG profile P is nvidia.com/mig-P with
 *            '+' turned into '.'; profiles with fewer compute than GPU slices have no resource.
 * Replication (sharing) is applied on top of this naming by replicas.c.
 */
#include "resource/resources.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"

#define GPU_RESOURCE "nvidia.com/gpu"

void
gdp_resource_set_done(struct gdp_resource_set *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->n_resources; i++) {
        free(set->resources[i].devices);
        free(set->resources[i].index);
    }
    free(set->resources);
    free(set->warnings);
    *set = (struct gdp_resource_set){0};
}

/* FNV-1a */
static uint64_t
hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
        h = (h ^ *p) * 1099511628211ull;
    }
    return h;
}

static void
index_resource(struct gdp_resource *r)
{
    free(r->index);
    r->index_cap = 16;
    while (r->index_cap <= 2 * r->n_devices) {
        r->index_cap *= 2;
    }
    r->index = gdp_calloc(r->index_cap, sizeof *r->index);
    for (size_t i = 0; i < r->n_devices; i++) {
        size_t slot = (size_t)hash_id(r->devices[i].id) & (r->index_cap - 1);
        while (r->index[slot] != 0) {
            slot = (slot + 1) & (r->index_cap - 1);
        }
        r->index[slot] = (uint32_t)(i + 1);
    }
}

void
gdp_resource_set_index(struct gdp_resource_set *set, const struct gdp_topology *topology)
{
    for (size_t i = 0; i < set->n_resources; i++) {
        index_resource(&set->resources[i]);
        set->resources[i].topology = topology;
    }
}

const struct gdp_rdev *
gdp_resource_device(const struct gdp_resource *r, const char *id)
{
    if (r->index != NULL) {
        size_t slot = (size_t)hash_id(id) & (r->index_cap - 1);
        for (; r->index[slot] != 0; slot = (slot + 1) & (r->index_cap - 1)) {
            const struct gdp_rdev *rd = &r->devices[r->index[slot] - 1];
            if (streq(rd->id, id)) {
                return rd;
            }
        }
        return NULL;
    }
    for (size_t i = 0; i < r->n_devices; i++) {
        if (streq(r->devices[i].id, id)) {
            return &r->devices[i];
        }
    }
    return NULL;
}

const struct gdp_resource *
gdp_resource_find(const struct gdp_resource_set *set, const char *name)
{
    for (size_t i = 0; i < set->n_resources; i++) {
        if (streq(set->resources[i].name, name)) {
            return &set->resources[i];
        }
    }
    return NULL;
}

int
gdp_resource_socket_name(const char *resource, char *buf, size_t len)
{
    const char *slash = strchr(resource, '/');
    int n = snprintf(buf, len, "nvidia-%s.sock", slash != NULL ? slash + 1 : resource);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void
gdp_resource_set_warn(struct gdp_resource_set *set, const char *fmt, ...)
{
    set->warnings = gdp_reallocarray(set->warnings, set->n_warnings + 1, sizeof *set->warnings);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(set->warnings[set->n_warnings++], GDP_WARNING_MAX, fmt, ap);
    va_end(ap);
}

static struct gdp_resource *
get_resource(struct gdp_resource_set *set, const char *name)
{
    struct gdp_resource *r = (struct gdp_resource *)gdp_resource_find(set, name);
    if (r != NULL) {
        return r;
    }
    set->resources = gdp_reallocarray(set->resources, set->n_resources + 1, sizeof *set->resources);
    r = &set->resources[set->n_resources++];
    *r = (struct gdp_resource){0};
    (void)gdp_strlcpy(r->name, name, sizeof r->name);
    return r;
}

void
gdp_resource_set_add(struct gdp_resource_set *set, const char *name, const struct gdp_rdev *rd)
{
    struct gdp_resource *r = get_resource(set, name);
    free(r->index); /* stale once devices grow */
    r->index = NULL;
    r->devices = gdp_reallocarray(r->devices, r->n_devices + 1, sizeof *r->devices);
    r->devices[r->n_devices++] = *rd;
}

static void
add_to(struct gdp_resource_set *set, const char *name, const struct gdp_device *d)
{
    struct gdp_rdev rd = {.dev = d};
    (void)gdp_strlcpy(rd.id, d->uuid, sizeof rd.id);
    gdp_resource_set_add(set, name, &rd);
}

/* "nvidia.com/mig-<profile>" with '+' replaced by '.'. */
static int
mixed_name(const struct gdp_device *m, char *buf, size_t len, struct gdp_diag *diag)
{
    if (strstr(m->profile, "c.") != NULL) { /* "<C>c.<G>g...": compute smaller than GPU */
        return gdp_diag_set(diag, GDP_E_MIG,
                            "MIG profile '%s' of device %s (%s) does not match any resource "
                            "pattern: only profiles whose compute instance spans the whole GPU "
                            "instance are advertised",
                            m->profile, m->index_str, m->uuid);
    }
    int n = snprintf(buf, len, "nvidia.com/mig-%s", m->profile);
    if (n < 0 || (size_t)n >= len) {
        return gdp_diag_set(diag, GDP_E_MIG, "resource name for MIG profile '%s' is too long",
                            m->profile);
    }
    for (char *p = buf; *p != '\0'; p++) {
        if (*p == '+') {
            *p = '.';
        }
    }
    return 0;
}

static bool
same_mig_type(const struct gdp_device *a, const struct gdp_device *b)
{
    return streq(a->profile, b->profile) && a->mig_memory_mib == b->mig_memory_mib &&
           a->gi_slices == b->gi_slices && a->ci_slices == b->ci_slices &&
           a->multiprocessors == b->multiprocessors;
}

/* Every MIG-enabled GPU must carry MIG devices: an error for single, a warning for mixed. */
static int
check_empty_mig_gpus(const struct gdp_node *node, enum gdp_mig_strategy s,
                     struct gdp_resource_set *set, struct gdp_diag *diag)
{
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (d->kind != GDP_DEVICE_GPU || !d->mig_enabled || d->n_mig > 0) {
            continue;
        }
        if (s == GDP_MIG_SINGLE) {
            return gdp_diag_set(diag, GDP_E_MIG,
                                "invalid MIG configuration: GPU %s (%s) has MIG enabled but no "
                                "MIG devices",
                                d->index_str, d->uuid);
        }
        gdp_resource_set_warn(
                set, "GPU %s (%s) has MIG enabled but no MIG devices; it is not advertised",
                d->index_str, d->uuid);
    }
    return 0;
}

static int
add_mig_devices(const struct gdp_node *node, enum gdp_mig_strategy s, struct gdp_resource_set *set,
                struct gdp_diag *diag)
{
    const struct gdp_device *first = NULL;
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *m = &node->devices[i];
        char name[GDP_RESOURCE_NAME_MAX];
        if (m->kind != GDP_DEVICE_MIG) {
            continue;
        }
        if (m->profile[0] == '\0') {
            /* its NVML queries failed: without a profile it has no resource name */
            gdp_resource_set_warn(set, "MIG device %s (%s) is not advertised: %s", m->index_str,
                                  m->uuid, m->reason);
            continue;
        }
        if (s == GDP_MIG_SINGLE) {
            if (first != NULL && !same_mig_type(first, m)) {
                return gdp_diag_set(diag, GDP_E_MIG,
                                    "invalid MIG configuration: more than one MIG device type "
                                    "present on node (%s is %s, %s is %s)",
                                    first->index_str, first->profile, m->index_str, m->profile);
            }
            first = first != NULL ? first : m;
            add_to(set, GPU_RESOURCE, m);
            continue;
        }
        int r = mixed_name(m, name, sizeof name, diag);
        if (r < 0) {
            return r;
        }
        add_to(set, name, m);
    }
    return 0;
}

static int
cmp_resource(const void *a, const void *b)
{
    return strcmp(((const struct gdp_resource *)a)->name, ((const struct gdp_resource *)b)->name);
}

void
gdp_resource_set_sort(struct gdp_resource_set *set)
{
    if (set->n_resources > 1) { /* qsort's pointer must not be NULL, even for 0 elements */
        qsort(set->resources, set->n_resources, sizeof *set->resources, cmp_resource);
    }
}

/* The node's devices named per MIG strategy s, before any sharing. */
static int
name_devices(const struct gdp_node *node, enum gdp_mig_strategy s, struct gdp_resource_set *ret,
             struct gdp_diag *diag)
{
    size_t whole_gpus = 0;
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (d->kind == GDP_DEVICE_GPU && (s == GDP_MIG_NONE || !d->mig_enabled)) {
            add_to(ret, GPU_RESOURCE, d);
            whole_gpus++;
        }
    }
    if (s == GDP_MIG_NONE) {
        return 0;
    }
    int r = check_empty_mig_gpus(node, s, ret, diag);
    if (r < 0) {
        return r;
    }
    size_t before = ret->n_resources > 0 ? ret->resources[0].n_devices : 0;
    r = add_mig_devices(node, s, ret, diag);
    if (r < 0) {
        return r;
    }
    if (s == GDP_MIG_SINGLE && whole_gpus > 0 && ret->n_resources > 0 &&
        ret->resources[0].n_devices > before) {
        return gdp_diag_set(diag, GDP_E_MIG,
                            "invalid MIG configuration: all devices on the node must be "
                            "configured with the same migEnabled value");
    }
    return 0;
}

int
gdp_resources_build(const struct gdp_node *node, const struct gdp_config *cfg,
                    struct gdp_resource_set *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_resource_set){0};
    int r = name_devices(node, cfg->mig_strategy, ret, diag);
    if (r < 0) {
        return r;
    }
    gdp_resource_set_sort(ret);
    r = gdp_resources_replicate(&cfg->sharing, node, ret, diag);
    if (r == 0) {
        gdp_resource_set_index(ret, &node->topology);
    }
    return r;
}
