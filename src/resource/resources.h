/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource naming: turns the discovered node into the set of extended resources the plugin
 * advertises (one per resource name, each with its devices), following NVIDIA's MIG
 * strategies none/single/mixed, including their errors. Knows nothing about sockets.
 */
#pragma once

#include <stddef.h>

#include "config/config.h"

struct gdp_diag;
struct gdp_device;
struct gdp_node;

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
};

struct gdp_resource_set {
    struct gdp_resource *resources; /* sorted by name */
    size_t n_resources;
    char (*warnings)[GDP_WARNING_MAX]; /* things an operator should know, e.g. empty MIG GPU */
    size_t n_warnings;
};

/*
 * Builds the resource set for node under MIG strategy s. The devices stay owned by node,
 * which must outlive the set. Returns 0, or GDP_E_MIG with diag explaining a MIG layout the
 * strategy cannot serve (as NVIDIA's plugin refuses to start then). Release *ret with
 * gdp_resource_set_done() in either case.
 */
int gdp_resources_build(const struct gdp_node *node, enum gdp_mig_strategy s,
                        struct gdp_resource_set *ret, struct gdp_diag *diag);

/* Frees what the set owns. Accepts a zeroed set. */
void gdp_resource_set_done(struct gdp_resource_set *set);

/* The advertised device with kubelet ID id, or NULL. Borrowed from r. */
const struct gdp_rdev *gdp_resource_device(const struct gdp_resource *r, const char *id);

/* The resource whose name is `name`, or NULL. Borrowed from set. */
const struct gdp_resource *gdp_resource_find(const struct gdp_resource_set *set, const char *name);

/* NVIDIA's socket basename for a resource: "nvidia-gpu.sock" for "nvidia.com/gpu". */
int gdp_resource_socket_name(const char *resource, char *buf, size_t len);
