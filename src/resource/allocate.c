/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocate responses. NVIDIA_VISIBLE_DEVICES lists the allocated devices by UUID or index
 * (--device-id-strategy), replicas folded into their device and duplicates removed, in the
 * order the kubelet gave them.
 */
#include "resource/allocate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/resources.h"

#define VISIBLE_DEVICES "NVIDIA_VISIBLE_DEVICES"

void
gdp_container_alloc_done(struct gdp_container_alloc *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->n_envs; i++) {
        free(a->envs[i].key);
        free(a->envs[i].value);
    }
    for (size_t i = 0; i < a->n_mounts; i++) {
        free(a->mounts[i].container_path);
        free(a->mounts[i].host_path);
    }
    for (size_t i = 0; i < a->n_devices; i++) {
        free(a->devices[i].container_path);
        free(a->devices[i].host_path);
        free(a->devices[i].permissions);
    }
    for (size_t i = 0; i < a->n_annotations; i++) {
        free(a->annotations[i].key);
        free(a->annotations[i].value);
    }
    for (size_t i = 0; i < a->n_cdi_devices; i++) {
        free(a->cdi_devices[i]);
    }
    free(a->envs);
    free(a->mounts);
    free(a->devices);
    free(a->annotations);
    free(a->cdi_devices);
    *a = (struct gdp_container_alloc){0};
}

void
gdp_container_alloc_setenv(struct gdp_container_alloc *a, const char *key, const char *value)
{
    for (size_t i = 0; i < a->n_envs; i++) {
        if (streq(a->envs[i].key, key)) {
            free(a->envs[i].value);
            a->envs[i].value = gdp_strdup(value);
            return;
        }
    }
    a->envs = gdp_reallocarray(a->envs, a->n_envs + 1, sizeof *a->envs);
    a->envs[a->n_envs++] = (struct gdp_kv){gdp_strdup(key), gdp_strdup(value)};
}

/* The backing devices of ids, in request order, without duplicates. */
static int
resolve(const struct gdp_resource *r, const char *const *ids, size_t n_ids,
        const struct gdp_device **ret, size_t *ret_n, struct gdp_diag *diag)
{
    size_t n = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const struct gdp_rdev *rd = gdp_resource_device(r, ids[i]);
        if (rd == NULL) {
            return gdp_diag_set(diag, -ENOENT, "unknown device %s for resource %s", ids[i],
                                r->name);
        }
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            seen = ret[j] == rd->dev;
        }
        if (!seen) {
            ret[n++] = rd->dev;
        }
    }
    *ret_n = n;
    return 0;
}

int
gdp_allocate_container(const struct gdp_alloc_ctx *ctx, const char *const *ids, size_t n_ids,
                       struct gdp_container_alloc *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_container_alloc){0};
    if (n_ids == 0) {
        return gdp_diag_set(diag, -EINVAL, "no device IDs requested for resource %s",
                            ctx->resource->name);
    }
    _cleanup_free_ const struct gdp_device **devs = gdp_calloc(n_ids, sizeof *devs);
    size_t n = 0;
    int r = resolve(ctx->resource, ids, n_ids, devs, &n, diag);
    if (r < 0) {
        return r;
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        len += sizeof devs[i]->uuid + 1;
    }
    _cleanup_free_ char *list = gdp_calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        const char *id =
                ctx->cfg->device_id_strategy == GDP_ID_INDEX ? devs[i]->index_str : devs[i]->uuid;
        if (i > 0) {
            strcat(list, ",");
        }
        strcat(list, id);
    }
    gdp_container_alloc_setenv(ret, VISIBLE_DEVICES, list);
    return 0;
}
