/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocate: what a container receives for the devices the kubelet gave it, built as plain
 * data (environment, mounts, device nodes, annotations, CDI device names) for the plugin
 * layer to serialize. Validates every requested ID against the resource first, so a bad
 * request changes nothing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct gdp_config;
struct gdp_diag;
struct gdp_imex;
struct gdp_node;
struct gdp_resource;
struct gdp_snapshot;

struct gdp_kv {
    char *key;
    char *value;
};

struct gdp_mount {
    char *container_path;
    char *host_path;
    bool read_only;
};

struct gdp_devspec {
    char *container_path;
    char *host_path;
    char *permissions; /* "rw" */
};

/* One container's answer; every string is owned by it. */
struct gdp_container_alloc {
    struct gdp_kv *envs;
    size_t n_envs;
    struct gdp_mount *mounts;
    size_t n_mounts;
    struct gdp_devspec *devices;
    size_t n_devices;
    struct gdp_kv *annotations;
    size_t n_annotations;
    char **cdi_devices; /* fully qualified CDI names, e.g. "k8s.device-plugin.nvidia.com/gpu=GPU-…"
                         */
    size_t n_cdi_devices;
};

/*
 * Builds the answer for one container that was given ids[0..n_ids) of ctx->resource, per
 * cfg->device_list_strategy (any combination of envvar, volume-mounts, cdi-annotations,
 * cdi-cri), --device-id-strategy, --pass-device-specs, the GDS/MOFED/GDRCopy flags and the
 * IMEX channels, in the order of NVIDIA's getAllocateResponse (see docs/cdi.md).
 * Returns 0 and fills *ret (release with gdp_container_alloc_done()), -EINVAL for an empty
 * ID list or more IDs than the resource has devices (checked first), -ENOENT for an ID the resource
 * does not advertise (diag names it), -EINVAL for more than one ID including a replica when the
 * active sharing section (cfg->sharing) sets failRequestsGreaterThanOne ("invalid request: maximum
 * request size for shared resources is 1; found <n>", checked after every ID is known to be valid),
 * -ENOENT for a MIG device whose nvidia-caps minors are unknown when device specs are passed, or
 * the random source's error. On error *ret is left empty; diag reads as a gRPC message.
 */
int gdp_allocate_container(const struct gdp_snapshot *s, const struct gdp_resource *res,
                           const char *const *ids, size_t n_ids, struct gdp_container_alloc *ret,
                           struct gdp_diag *diag);

/* Frees what a is owns and zeroes it. Accepts a zeroed struct. */
void gdp_container_alloc_done(struct gdp_container_alloc *a);

/* Appends a copy of key=value to a's environment (replacing an existing key). */
void gdp_container_alloc_setenv(struct gdp_container_alloc *a, const char *key, const char *value);
