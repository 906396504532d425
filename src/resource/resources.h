/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource naming: turns the discovered node into the set of extended resources the plugin
 * advertises (one per resource name, each with its devices), following NVIDIA's MIG
 * strategies none/single/mixed, including their errors, then the config's sharing section
 * (time-slicing or MPS replicas, renames, device selections and our per-device overrides,
 * replicas.c). Knows nothing about sockets.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/util.h"

struct gdp_diag;
struct gdp_device;
struct gdp_node;
struct gdp_topology;

#define GDP_RESOURCE_NAME_MAX 64 /* "nvidia.com/" + name; Kubernetes allows 63 characters */
#define GDP_WARNING_MAX       256
#define GDP_DEVICE_ID_MAX     112 /* a UUID plus a replica suffix "::<k>" */

/*
 * A device as advertised under a resource: the kubelet's device ID and the physical device
 * (GPU or MIG device) behind it. Health lives in the backing device, so every advertised
 * device backed by it (replicas included) shares it.
 */
struct gdp_rdev {
    char id[GDP_DEVICE_ID_MAX];   /* "GPU-..."/"MIG-...", or "<uuid>::<k>" for replica k */
    const struct gdp_device *dev; /* borrowed from the node */
    unsigned replica;             /* k for a replica */
    unsigned replicas;            /* replicas of dev under this resource; 0 = not replicated */
};

struct gdp_resource {
    char name[GDP_RESOURCE_NAME_MAX]; /* e.g. "nvidia.com/gpu", "nvidia.com/mig-1g.5gb" */
    struct gdp_rdev *devices;         /* in NVML order */
    size_t n_devices;
    /* gdp_resource_set_index(): ID hash (slot = position + 1, 0 empty), owned; NULL: none */
    uint32_t *index;
    size_t index_cap;                    /* slots, a power of two > 2 * n_devices */
    const struct gdp_topology *topology; /* borrowed from the node; NULL when unknown */
};

struct gdp_resource_set {
    struct gdp_resource *resources; /* sorted by name */
    size_t n_resources;
    char (*warnings)[GDP_WARNING_MAX]; /* things an operator should know, e.g. empty MIG GPU */
    size_t n_warnings;
};

/*
 * Builds the resource set for node under cfg->mig_strategy, then applies the replication of
 * cfg->sharing (gdp_resources_replicate). The devices stay owned by node, which must outlive
 * the set; cfg is only read during the call. Returns 0, GDP_E_MIG with diag explaining a MIG
 * layout the strategy cannot serve (as NVIDIA's plugin refuses to start then), or
 * GDP_E_CONFIG when the sharing section does not fit the node. Release *ret with
 * gdp_resource_set_done() in either case.
 */
int gdp_resources_build(const struct gdp_node *node, const struct gdp_config *cfg,
                        struct gdp_resource_set *ret, struct gdp_diag *diag);

/*
 * Applies the active replicated resources of sharing (gdp_sharing_replication(); nothing when
 * sharing->strategy is GDP_SHARING_NONE) to set, which holds the node's devices as named by
 * the MIG strategy. Each device of a configured resource that its `devices` selects becomes
 * `replicas` devices "<uuid>::<k>" (k = 0..replicas-1) under the resolved name (rename,
 * "<name>.shared" with renameByDefault, or a per-device override); unselected devices, and
 * devices an override gives 1 replica, stay whole. Configured resources the node lacks add a
 * warning. Returns 0, or GDP_E_CONFIG with diag when: a `devices` list entry matches no device
 * of the resource; a count exceeds the resource's devices; two entries select one device; a
 * resulting name is longer than 63 characters; a resulting resource would mix GPUs and MIG
 * devices, or MIG profiles; or MPS would replicate a MIG device. On failure set is unchanged.
 */
int gdp_resources_replicate(const struct gdp_sharing *sharing, const struct gdp_node *node,
                            struct gdp_resource_set *set, struct gdp_diag *diag);

/*
 * Appends a copy of rd to the resource named `name` in set, creating the resource (unsorted;
 * the caller sorts). name must be shorter than GDP_RESOURCE_NAME_MAX.
 */
void gdp_resource_set_add(struct gdp_resource_set *set, const char *name,
                          const struct gdp_rdev *rd);

/*
 * Builds each resource's ID hash index (what gdp_resource_device() looks IDs up in) and points
 * it at topology (borrowed; may be NULL). Called by gdp_resources_build(); a later
 * gdp_resource_set_add() drops the resource's index until this runs again.
 */
void gdp_resource_set_index(struct gdp_resource_set *set, const struct gdp_topology *topology);

/* Sorts set->resources by name. */
void gdp_resource_set_sort(struct gdp_resource_set *set);

/* Appends a formatted warning (truncated to GDP_WARNING_MAX) to set. */
void gdp_resource_set_warn(struct gdp_resource_set *set, const char *fmt, ...) _printf_(2, 3);

/* Frees what the set owns. Accepts a zeroed set. */
void gdp_resource_set_done(struct gdp_resource_set *set);

/*
 * The advertised device with kubelet ID id, or NULL. Borrowed from r. O(1) expected through
 * the index (O(n) for a resource without one, e.g. built by hand).
 */
const struct gdp_rdev *gdp_resource_device(const struct gdp_resource *r, const char *id);

/* The resource whose name is `name`, or NULL. Borrowed from set. */
const struct gdp_resource *gdp_resource_find(const struct gdp_resource_set *set, const char *name);

/* NVIDIA's socket basename for a resource: "nvidia-gpu.sock" for "nvidia.com/gpu". */
int gdp_resource_socket_name(const char *resource, char *buf, size_t len);
