/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocate responses, following NVIDIA's getAllocateResponse step by step: CDI names
 * (annotation and/or CDIDevices), the GDS/MOFED/GDRCopy switches, then - only when a non-CDI
 * strategy is selected - NVIDIA_VISIBLE_DEVICES (envvar), its volume-mount form, and the
 * device nodes (--pass-device-specs). Devices are named by UUID or index
 * (--device-id-strategy), replicas folded into their device and duplicates removed, in the
 * order the kubelet gave them. Everything is built in a local answer that is handed over only
 * when complete, so a failure leaves nothing behind.
 */
#include "resource/allocate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/strv.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/cdi.h"
#include "resource/imex.h"
#include "resource/mps.h"
#include "resource/paths.h"
#include "resource/resources.h"
#include "resource/snapshot.h"

#define VISIBLE_DEVICES    "NVIDIA_VISIBLE_DEVICES"
#define IMEX_CHANNELS      "NVIDIA_IMEX_CHANNELS"
#define VOLUME_MOUNT_ROOT  "/var/run/nvidia-container-devices"
#define CDI_PLUGIN_NAME    "nvidia-device-plugin"
#define CDI_ANNOTATION_MAX 63 /* the CDI annotation key's name part after the prefix */
#define CDI_STRATEGIES     (GDP_LIST_CDI_ANNOTATIONS | GDP_LIST_CDI_CRI)

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

static void
add_mount(struct gdp_container_alloc *a, const char *host, char *container_owned)
{
    a->mounts = gdp_reallocarray(a->mounts, a->n_mounts + 1, sizeof *a->mounts);
    a->mounts[a->n_mounts++] =
            (struct gdp_mount){.container_path = container_owned, .host_path = gdp_strdup(host)};
}

static void
add_devspec(struct gdp_container_alloc *a, const char *host_root, const char *path)
{
    a->devices = gdp_reallocarray(a->devices, a->n_devices + 1, sizeof *a->devices);
    a->devices[a->n_devices++] = (struct gdp_devspec){.container_path = gdp_strdup(path),
                                                      .host_path = gdp_path_join(host_root, path),
                                                      .permissions = gdp_strdup("rw")};
}

static void
add_cdi_device(struct gdp_container_alloc *a, const char *name)
{
    a->cdi_devices = gdp_reallocarray(a->cdi_devices, a->n_cdi_devices + 1, sizeof(char *));
    a->cdi_devices[a->n_cdi_devices++] = gdp_strdup(name);
}

/* items joined by ','. Caller frees with free(). */
static char *
join(char *const *items, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        len += strlen(items[i]) + 1;
    }
    char *s = gdp_calloc(1, len);
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        p = stpcpy(p, i > 0 ? "," : "");
        p = stpcpy(p, items[i]);
    }
    return s;
}

/* The request, resolved: devices deduplicated (for names) and per ID (for device specs). */
struct request {
    const struct gdp_snapshot *s;
    const struct gdp_resource *res;
    const struct gdp_device **devs; /* distinct backing devices, in request order */
    size_t n_devs;
    const struct gdp_device **per_id; /* the backing device of every requested ID */
    size_t n_ids;
    struct gdp_strv ids; /* runtime IDs of devs (UUID or index) */
    bool replicas;       /* some requested ID is a replica */
};

static void
request_done(struct request *req)
{
    free(req->devs);
    free(req->per_id);
    gdp_strv_clear(&req->ids);
}

static int
resolve(const char *const *ids, size_t n_ids, struct request *req, struct gdp_diag *diag)
{
    /* arrays of pointers, not of devices */
    req->devs = gdp_calloc(n_ids, sizeof *req->devs);     /* NOLINT(bugprone-sizeof-expression) */
    req->per_id = gdp_calloc(n_ids, sizeof *req->per_id); /* NOLINT(bugprone-sizeof-expression) */
    for (size_t i = 0; i < n_ids; i++) {
        const struct gdp_rdev *rd = gdp_resource_device(req->res, ids[i]);
        if (rd == NULL) {
            return gdp_diag_set(diag, -ENOENT, "invalid request: unknown device: %s", ids[i]);
        }
        req->per_id[req->n_ids++] = rd->dev;
        req->replicas |= rd->replicas > 0;
        bool seen = false;
        for (size_t j = 0; j < req->n_devs && !seen; j++) {
            seen = req->devs[j] == rd->dev;
        }
        if (!seen) {
            req->devs[req->n_devs++] = rd->dev;
            bool by_index = req->s->cfg.device_id_strategy == GDP_ID_INDEX;
            gdp_strv_take(&req->ids, gdp_strdup(by_index ? rd->dev->index_str : rd->dev->uuid));
        }
    }
    return 0;
}

/* failRequestsGreaterThanOne of the active sharing section (MPS: true unless set false). */
static int
check_shared_request(const struct gdp_config *cfg, const struct request *req, struct gdp_diag *diag)
{
    const struct gdp_sharing *s = &cfg->sharing;
    if (!req->replicas || req->n_ids <= 1 || s->strategy == GDP_SHARING_NONE ||
        !gdp_sharing_replication(s)->fail_requests_greater_than_one) {
        return 0;
    }
    return gdp_diag_set(diag, -EINVAL,
                        "invalid request: maximum request size for shared resources is 1; "
                        "found %zu",
                        req->n_ids);
}

static int
default_random(void *buf, size_t len)
{
    ssize_t n = getrandom(buf, len, 0);
    if (n < 0) {
        return -errno;
    }
    return (size_t)n == len ? 0 : -EIO;
}

/* A random (version 4) UUID in its 36-character text form; buf holds 37 bytes. */
static int
random_uuid(gdp_random_fn *rnd, char *buf, size_t len, struct gdp_diag *diag)
{
    unsigned char b[16];
    int r = (rnd != NULL ? rnd : default_random)(b, sizeof b);
    if (r < 0) {
        return gdp_diag_set(diag, r, "cannot get random bytes for the CDI annotation key: %s",
                            gdp_strerror(r));
    }
    b[6] = (unsigned char)((b[6] & 0x0fu) | 0x40u);
    b[8] = (unsigned char)((b[8] & 0x3fu) | 0x80u);
    (void)snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                   b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                   b[13], b[14], b[15]);
    return 0;
}

static void
add_cdi_extra(const struct request *req, bool enabled, enum gdp_cdi_kind kind,
              struct gdp_strv *names)
{
    if (enabled && (req->s->cdi_kinds & (unsigned)kind) != 0) {
        gdp_strv_take(names, gdp_asprintf(GDP_CDI_VENDOR "/%s=all", gdp_cdi_class(kind)));
    }
}

/* The fully qualified CDI names of the request: devices, IMEX channels, extra kinds. */
static void
cdi_names(const struct request *req, struct gdp_strv *names)
{
    const struct gdp_config *cfg = &req->s->cfg;
    for (size_t i = 0; i < req->ids.n; i++) {
        gdp_strv_take(names, gdp_asprintf(GDP_CDI_VENDOR "/gpu=%s", req->ids.v[i]));
    }
    for (size_t i = 0; i < req->s->imex.n; i++) {
        gdp_strv_take(names, gdp_asprintf(GDP_CDI_VENDOR "/imex-channel=%u", req->s->imex.ids[i]));
    }
    add_cdi_extra(req, cfg->gdrcopy_enabled, GDP_CDI_GDRCOPY, names);
    add_cdi_extra(req, cfg->gds_enabled, GDP_CDI_GDS, names);
    add_cdi_extra(req, cfg->mofed_enabled, GDP_CDI_MOFED, names);
}

static int
add_cdi(const struct request *req, struct gdp_container_alloc *a, struct gdp_diag *diag)
{
    _cleanup_(gdp_strv_clear) struct gdp_strv names = {0};
    cdi_names(req, &names);
    if ((req->s->cfg.device_list_strategy & GDP_LIST_CDI_ANNOTATIONS) != 0) {
        char id[37];
        int r = random_uuid(req->s->random, id, sizeof id, diag);
        if (r < 0) {
            return r;
        }
        /* CDI's AnnotationKey: "<plugin>_<id>" must fit a Kubernetes label name. */
        _cleanup_free_ char *name = gdp_asprintf(CDI_PLUGIN_NAME "_%s", id);
        if (strlen(name) > CDI_ANNOTATION_MAX) {
            return gdp_diag_set(diag, -EINVAL, "CDI annotation name %s is longer than %d", name,
                                CDI_ANNOTATION_MAX);
        }
        a->annotations = gdp_calloc(1, sizeof *a->annotations);
        a->annotations[0] =
                (struct gdp_kv){gdp_asprintf("%s%s", req->s->cfg.cdi_annotation_prefix, name),
                                join(names.v, names.n)};
        a->n_annotations = 1;
    }
    if ((req->s->cfg.device_list_strategy & GDP_LIST_CDI_CRI) != 0) {
        for (size_t i = 0; i < names.n; i++) {
            add_cdi_device(a, names.v[i]);
        }
    }
    return 0;
}

static void
add_feature_envs(const struct gdp_config *cfg, struct gdp_container_alloc *a)
{
    if (cfg->gdrcopy_enabled) {
        gdp_container_alloc_setenv(a, "NVIDIA_GDRCOPY", "enabled");
    }
    if (cfg->gds_enabled) {
        gdp_container_alloc_setenv(a, "NVIDIA_GDS", "enabled");
    }
    if (cfg->mofed_enabled) {
        gdp_container_alloc_setenv(a, "NVIDIA_MOFED", "enabled");
    }
}

static void
add_envvar(const struct request *req, struct gdp_container_alloc *a)
{
    _cleanup_free_ char *list = join(req->ids.v, req->ids.n);
    gdp_container_alloc_setenv(a, VISIBLE_DEVICES, list);
    if (req->s->imex.n == 0) {
        return;
    }
    _cleanup_(gdp_strv_clear) struct gdp_strv ch = {0};
    for (size_t i = 0; i < req->s->imex.n; i++) {
        gdp_strv_take(&ch, gdp_asprintf("%u", req->s->imex.ids[i]));
    }
    _cleanup_free_ char *channels = join(ch.v, ch.n);
    gdp_container_alloc_setenv(a, IMEX_CHANNELS, channels);
}

static void
add_volume_mounts(const struct request *req, struct gdp_container_alloc *a)
{
    gdp_container_alloc_setenv(a, VISIBLE_DEVICES, VOLUME_MOUNT_ROOT);
    for (size_t i = 0; i < req->ids.n; i++) {
        add_mount(a, "/dev/null", gdp_asprintf(VOLUME_MOUNT_ROOT "/%s", req->ids.v[i]));
    }
    for (size_t i = 0; i < req->s->imex.n; i++) {
        add_mount(a, "/dev/null", gdp_asprintf(VOLUME_MOUNT_ROOT "/imex/%u", req->s->imex.ids[i]));
    }
}

static int
add_device_nodes(const struct gdp_device *d, const char *host_root, struct gdp_container_alloc *a,
                 struct gdp_diag *diag)
{
    char path[GDP_PATH_MAX];
    (void)snprintf(path, sizeof path, "/dev/nvidia%u", d->minor);
    add_devspec(a, host_root, path);
    if (d->kind != GDP_DEVICE_MIG) {
        return 0;
    }
    if (d->gi_cap_minor < 0 || d->ci_cap_minor < 0) {
        return gdp_diag_set(diag, -ENOENT,
                            "no nvidia-caps device for MIG device %s (gpu%u/gi%u/ci%u); is "
                            "/proc/driver/nvidia-caps/mig-minors readable?",
                            d->uuid, d->minor, d->gi, d->ci);
    }
    (void)snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%d", d->gi_cap_minor);
    add_devspec(a, host_root, path);
    (void)snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%d", d->ci_cap_minor);
    add_devspec(a, host_root, path);
    return 0;
}

static int
add_device_specs(const struct request *req, struct gdp_container_alloc *a, struct gdp_diag *diag)
{
    static const char *const control[] = {"/dev/nvidiactl", "/dev/nvidia-uvm",
                                          "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"};
    const char *host_root = gdp_paths_dev_root_host(&req->s->cfg);
    _cleanup_free_ char *own_root =
            req->s->dev_root_ctr == NULL ? gdp_paths_dev_root_ctr(&req->s->cfg) : NULL;
    const char *ctr_root = req->s->dev_root_ctr != NULL ? req->s->dev_root_ctr : own_root;
    for (size_t i = 0; i < ELEMENTSOF(control); i++) {
        _cleanup_free_ char *p = gdp_path_join(ctr_root, control[i]);
        if (access(p, F_OK) == 0) {
            add_devspec(a, host_root, control[i]);
        }
    }
    /* Per requested ID, as NVIDIA does: replicas of one GPU repeat its nodes. */
    for (size_t i = 0; i < req->n_ids; i++) {
        int r = add_device_nodes(req->per_id[i], host_root, a, diag);
        if (r < 0) {
            return r;
        }
    }
    for (size_t i = 0; i < req->s->imex.n; i++) {
        char path[GDP_PATH_MAX];
        (void)snprintf(path, sizeof path, GDP_IMEX_CHANNEL_DIR "/channel%u", req->s->imex.ids[i]);
        add_devspec(a, host_root, path);
    }
    return 0;
}

static int
build(const struct request *req, struct gdp_container_alloc *a, struct gdp_diag *diag)
{
    const struct gdp_config *cfg = &req->s->cfg;
    unsigned strategies = cfg->device_list_strategy;
    if ((strategies & CDI_STRATEGIES) != 0) {
        int r = add_cdi(req, a, diag);
        if (r < 0) {
            return r;
        }
    }
    add_feature_envs(cfg, a);
    /* CDI-only: the runtime gets everything from the CDI names, nothing else is added. */
    if ((strategies & ~(unsigned)CDI_STRATEGIES) == 0) {
        return 0;
    }
    if ((strategies & GDP_LIST_ENVVAR) != 0) {
        add_envvar(req, a);
    }
    if ((strategies & GDP_LIST_VOLUME_MOUNTS) != 0) {
        add_volume_mounts(req, a);
    }
    return cfg->pass_device_specs ? add_device_specs(req, a, diag) : 0;
}

/* MPS: the pipe directory's env and mounts, whatever the device-list strategy (docs/mps.md). */
static int
add_mps(const struct request *req, struct gdp_container_alloc *a, struct gdp_diag *diag)
{
    const struct gdp_config *cfg = &req->s->cfg;
    const char *name = req->res->name;
    int r = gdp_mps_applies(cfg, req->res, req->devs, req->n_devs, diag);
    if (r <= 0) {
        return r;
    }
    char *pipe_ctr = gdp_mps_pipe_dir(GDP_MPS_CONTAINER_ROOT, name);
    _cleanup_free_ char *pipe_host = gdp_mps_pipe_dir(cfg->mps_root, name);
    _cleanup_free_ char *shm_host = gdp_mps_shm_dir(cfg->mps_root);
    gdp_container_alloc_setenv(a, GDP_MPS_PIPE_ENV, pipe_ctr);
    add_mount(a, pipe_host, pipe_ctr);
    add_mount(a, shm_host, gdp_strdup("/dev/shm"));
    return 0;
}

int
gdp_allocate_container(const struct gdp_snapshot *s, const struct gdp_resource *res,
                       const char *const *ids, size_t n_ids, struct gdp_container_alloc *ret,
                       struct gdp_diag *diag)
{
    *ret = (struct gdp_container_alloc){0};
    if (n_ids == 0) {
        return gdp_diag_set(diag, -EINVAL, "invalid request: no device IDs requested");
    }
    if (n_ids > res->n_devices) { /* bounds the work before any of it */
        return gdp_diag_set(diag, -EINVAL,
                            "invalid request: %zu device IDs requested but %s has %zu devices",
                            n_ids, res->name, res->n_devices);
    }
    _cleanup_(request_done) struct request req = {.s = s, .res = res};
    int r = resolve(ids, n_ids, &req, diag);
    r = r < 0 ? r : check_shared_request(&s->cfg, &req, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_(gdp_container_alloc_done) struct gdp_container_alloc a = {0};
    r = build(&req, &a, diag);
    r = r < 0 ? r : add_mps(&req, &a, diag);
    if (r < 0) {
        return r;
    }
    *ret = a;
    a = (struct gdp_container_alloc){0};
    return 0;
}
