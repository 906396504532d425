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
struct gdp_node;
struct gdp_resource;

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

/* What an allocation is computed from; all borrowed. */
struct gdp_alloc_ctx {
    const struct gdp_config *cfg;
    const struct gdp_node *node;
    const struct gdp_resource *resource;
};

/*
 * Builds the answer for one container that was given ids[0..n_ids) of ctx->resource.
 * Returns 0 and fills *ret (release with gdp_container_alloc_done()), -EINVAL for an empty
 * ID list, or -ENOENT for an ID the resource does not advertise (diag names it). On error
 * *ret is left empty.
 */
int gdp_allocate_container(const struct gdp_alloc_ctx *ctx, const char *const *ids, size_t n_ids,
                           struct gdp_container_alloc *ret, struct gdp_diag *diag);

/* Frees what a is owns and zeroes it. Accepts a zeroed struct. */
void gdp_container_alloc_done(struct gdp_container_alloc *a);

/* Appends a copy of key=value to a's environment (replacing an existing key). */
void gdp_container_alloc_setenv(struct gdp_container_alloc *a, const char *key, const char *value);
