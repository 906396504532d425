/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPS sharing: the paths shared by the plugin and the mps-control-daemon, NVIDIA's start-up
 * rules (no MIG device, the MPS client limit), the control daemon's plan (limits derived from
 * the replica counts) and the Allocate additions (pipe directory env, pipe and shm mounts).
 */
#include "resource/mps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/paths.h"
#include "resource/resources.h"

#define MIB ((uint64_t)1 << 20)

unsigned
gdp_mps_max_clients(int cc_major, int cc_minor)
{
    bool recent = cc_major > 7 || (cc_major == 7 && cc_minor >= 5);
    return recent ? GDP_MPS_MAX_CLIENTS : GDP_MPS_MAX_CLIENTS_OLD;
}

bool
gdp_mps_shared(const struct gdp_config *cfg, const struct gdp_resource *r)
{
    if (cfg->sharing.strategy != GDP_SHARING_MPS || r == NULL) {
        return false;
    }
    for (size_t i = 0; i < r->n_devices; i++) {
        if (r->devices[i].replicas > 0) {
            return true;
        }
    }
    return false;
}

static char *
resource_path(const char *root, const char *resource, const char *leaf)
{
    const char *base = root != NULL ? root : "";
    size_t len = strlen(base);
    const char *sep = len > 0 && base[len - 1] == '/' ? "" : "/";
    if (resource == NULL) {
        return gdp_asprintf("%s%s%s", base, sep, leaf);
    }
    return gdp_asprintf("%s%s%s/%s", base, sep, resource, leaf);
}

char *
gdp_mps_pipe_dir(const char *root, const char *resource)
{
    return resource_path(root, resource, "pipe");
}

char *
gdp_mps_log_dir(const char *root, const char *resource)
{
    return resource_path(root, resource, "log");
}

char *
gdp_mps_started_path(const char *root, const char *resource)
{
    return resource_path(root, resource, GDP_MPS_STARTED_FILE);
}

char *
gdp_mps_ready_path(const char *root)
{
    return resource_path(root, NULL, GDP_MPS_READY_FILE);
}

char *
gdp_mps_shm_dir(const char *root)
{
    return resource_path(root, NULL, "shm");
}

static int
check_device(const struct gdp_resource *r, const struct gdp_rdev *rd, struct gdp_diag *diag)
{
    const struct gdp_device *d = rd->dev;
    if (rd->replicas == 0) {
        return 0; /* a whole device of the resource: not served by the MPS daemon */
    }
    if (d->kind == GDP_DEVICE_MIG) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "%s: device %s: sharing using MPS is not supported for MIG devices",
                            r->name, d->uuid);
    }
    unsigned max = gdp_mps_max_clients(d->cc_major, d->cc_minor);
    if (rd->replicas > max) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "%s: device %s: maximum allowed replicas exceeded: %u replicas, MPS "
                            "supports at most %u clients on a GPU of compute capability %d.%d",
                            r->name, d->uuid, rd->replicas, max, d->cc_major, d->cc_minor);
    }
    return 0;
}

int
gdp_mps_check(const struct gdp_config *cfg, const struct gdp_resource_set *set,
              struct gdp_diag *diag)
{
    for (size_t i = 0; i < set->n_resources; i++) {
        const struct gdp_resource *r = &set->resources[i];
        if (!gdp_mps_shared(cfg, r)) {
            continue;
        }
        for (size_t j = 0; j < r->n_devices; j++) {
            int ret = check_device(r, &r->devices[j], diag);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

int
gdp_mps_ready(const struct gdp_config *cfg, const char *resource, struct gdp_diag *diag)
{
    _cleanup_free_ char *root = gdp_paths_mps_root_ctr(cfg);
    if (root == NULL) {
        return gdp_diag_set(diag, -EINVAL, "%s: using MPS requires --mps-root to be specified",
                            resource);
    }
    _cleanup_free_ char *started = gdp_mps_started_path(root, resource);
    struct stat st;
    if (stat(started, &st) == 0) {
        return 0;
    }
    int r = -errno;
    if (r == -ENOENT || r == -ENOTDIR) {
        return gdp_diag_set(diag, -EAGAIN,
                            "%s: MPS control daemon not ready: %s does not exist (is "
                            "`gpu-device-plugin mps-control-daemon` running?)",
                            resource, started);
    }
    return gdp_diag_set(diag, r, "%s: cannot check MPS control daemon: %s: %s", resource, started,
                        gdp_strerror(r));
}

/* Whether r advertises d as MPS replicas (a whole device of r is not served by the daemon). */
static bool
mps_replicated(const struct gdp_resource *r, const struct gdp_device *d)
{
    for (size_t i = 0; i < r->n_devices; i++) {
        if (r->devices[i].dev == d && r->devices[i].replicas > 0) {
            return true;
        }
    }
    return false;
}

int
gdp_mps_applies(const struct gdp_config *cfg, const struct gdp_resource *res,
                const struct gdp_device *const *devs, size_t n, struct gdp_diag *diag)
{
    const char *name = res->name;
    if (!gdp_mps_shared(cfg, res)) {
        return 0;
    }
    size_t replicated = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mps_replicated(res, devs[i])) {
            continue;
        }
        replicated++;
        if (devs[i]->kind == GDP_DEVICE_MIG) {
            return gdp_diag_set(diag, -EINVAL,
                                "%s: device %s: sharing using MPS is not supported for MIG devices",
                                name, devs[i]->uuid);
        }
    }
    if (replicated == 0) {
        return 0;
    }
    if (cfg->mps_root == NULL || cfg->mps_root[0] == '\0') {
        return gdp_diag_set(diag, -EINVAL, "%s: using MPS requires --mps-root to be specified",
                            name);
    }
    return 1;
}

static void
daemon_plan_done(struct gdp_mps_daemon_plan *d)
{
    for (size_t i = 0; i < d->n_gpus; i++) {
        free(d->gpus[i].uuid);
    }
    free(d->gpus);
    free(d->resource);
    free(d->visible_devices);
    *d = (struct gdp_mps_daemon_plan){0};
}

void
gdp_mps_plan_done(struct gdp_mps_plan *plan)
{
    if (plan == NULL) {
        return;
    }
    for (size_t i = 0; i < plan->n_daemons; i++) {
        daemon_plan_done(&plan->daemons[i]);
    }
    free(plan->daemons);
    *plan = (struct gdp_mps_plan){0};
}

/* The GPU entry for dev in d, added (with the next ordinal) when it is not there yet. */
static struct gdp_mps_gpu *
plan_gpu(struct gdp_mps_daemon_plan *d, const struct gdp_device *dev)
{
    for (size_t i = 0; i < d->n_gpus; i++) {
        if (streq(d->gpus[i].uuid, dev->uuid)) {
            return &d->gpus[i];
        }
    }
    d->gpus = gdp_reallocarray(d->gpus, d->n_gpus + 1, sizeof *d->gpus);
    struct gdp_mps_gpu *g = &d->gpus[d->n_gpus];
    *g = (struct gdp_mps_gpu){
            .uuid = gdp_strdup(dev->uuid),
            .ordinal = (unsigned)d->n_gpus,
            .nvml_index = dev->index,
    };
    d->n_gpus++;
    return g;
}

static void
plan_resource(const struct gdp_resource *r, struct gdp_mps_daemon_plan *d)
{
    d->resource = gdp_strdup(r->name);
    unsigned most = 1;
    for (size_t i = 0; i < r->n_devices; i++) {
        const struct gdp_rdev *rd = &r->devices[i];
        if (rd->replicas == 0) {
            continue; /* a whole (unshared) device: not served by the MPS daemon */
        }
        struct gdp_mps_gpu *g = plan_gpu(d, rd->dev);
        g->replicas = rd->replicas;
        g->mem_limit_mb = rd->dev->memory_bytes / rd->replicas / MIB;
        most = rd->replicas > most ? rd->replicas : most;
    }
    d->thread_percent = 100 / most;
    size_t len = 1;
    for (size_t i = 0; i < d->n_gpus; i++) {
        len += strlen(d->gpus[i].uuid) + 1;
    }
    d->visible_devices = gdp_calloc(1, len);
    char *p = d->visible_devices;
    for (size_t i = 0; i < d->n_gpus; i++) {
        p = stpcpy(p, i > 0 ? "," : "");
        p = stpcpy(p, d->gpus[i].uuid);
    }
}

int
gdp_mps_plan_build(const struct gdp_config *cfg, const struct gdp_resource_set *set,
                   struct gdp_mps_plan *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_mps_plan){0};
    int r = gdp_mps_check(cfg, set, diag);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < set->n_resources; i++) {
        if (!gdp_mps_shared(cfg, &set->resources[i])) {
            continue;
        }
        ret->daemons = gdp_reallocarray(ret->daemons, ret->n_daemons + 1, sizeof *ret->daemons);
        struct gdp_mps_daemon_plan *d = &ret->daemons[ret->n_daemons++];
        *d = (struct gdp_mps_daemon_plan){0};
        plan_resource(&set->resources[i], d);
    }
    return 0;
}
