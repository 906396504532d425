/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery: walks NVML's GPUs and their MIG devices into struct gdp_node. Attributes that
 * NVML does not provide come from sysfs (NUMA node) and procfs (MIG capability minors), both
 * under overridable roots so tests can supply them. The GPU topology is read last
 * (topology.c), once per discovery.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/topology.h"
#include "nvml/nvml.h"

#define MIG_MINORS_PATH "/driver/nvidia-caps/mig-minors" /* under the proc root */
#define SMALL_FILE_MAX  (1u << 20)

struct discovery {
    struct gdp_nvml *nv;
    const struct gdp_discover_opts *opts;
    struct gdp_node *node;
    size_t cap_devices;
    struct gdp_migcaps caps;
};

void
gdp_node_free(struct gdp_node *node)
{
    if (node == NULL) {
        return;
    }
    free(node->devices);
    free(node->problems);
    gdp_topology_done(&node->topology);
    free(node);
}

const struct gdp_device *
gdp_device_gpu(const struct gdp_node *node, const struct gdp_device *d)
{
    return d->parent >= 0 ? &node->devices[d->parent] : d;
}

void
gdp_bus_id_normalize(const char *nvml_bus_id, char *buf, size_t len)
{
    const char *s = nvml_bus_id;
    /* NVML uses an 8-digit domain; sysfs a 4-digit one. */
    if (strlen(s) > 12 && strncmp(s, "0000", 4) == 0 && s[8] == ':') {
        s += 4;
    }
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < len; i++) {
        buf[i] = gdp_ascii_lower(s[i]);
    }
    buf[i] = '\0';
}

static int
read_numa_node(const struct gdp_discover_opts *opts, const char *bus_id)
{
    _cleanup_free_ char *rel = gdp_asprintf("/bus/pci/devices/%s/numa_node", bus_id);
    _cleanup_free_ char *path =
            gdp_path_join(opts->sysfs_root != NULL ? opts->sysfs_root : "/sys", rel);
    _cleanup_free_ char *text = NULL;
    long v;
    if (gdp_read_file(path, 64, &text) < 0) {
        return -1;
    }
    text[strcspn(text, "\n")] = '\0';
    if (gdp_parse_long(text, -1, 1 << 16, &v) < 0 || v < 0) {
        return -1;
    }
    return (int)v;
}

/* The PCI class code of a GPU (".../class" reads "0x030200"), or -1. */
static int
read_pci_class(const struct gdp_discover_opts *opts, const char *bus_id)
{
    _cleanup_free_ char *rel = gdp_asprintf("/bus/pci/devices/%s/class", bus_id);
    _cleanup_free_ char *path =
            gdp_path_join(opts->sysfs_root != NULL ? opts->sysfs_root : "/sys", rel);
    _cleanup_free_ char *text = NULL;
    if (gdp_read_file(path, 64, &text) < 0) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 16);
    if (errno != 0 || end == text || (*end != '\0' && *end != '\n') || v < 0 || v > 0xffffff) {
        return -1;
    }
    return (int)v;
}

static void
load_migcaps(struct discovery *dc)
{
    _cleanup_free_ char *path = gdp_path_join(
            dc->opts->proc_root != NULL ? dc->opts->proc_root : "/proc", MIG_MINORS_PATH);
    _cleanup_free_ char *text = NULL;
    /* A missing file means the driver offers no MIG capabilities: not an error. */
    if (gdp_read_file(path, SMALL_FILE_MAX, &text) == 0) {
        gdp_migcaps_parse(text, &dc->caps);
    }
}

static struct gdp_device *
add_device(struct discovery *dc)
{
    struct gdp_node *node = dc->node;
    if (node->n_devices == dc->cap_devices) {
        dc->cap_devices = dc->cap_devices == 0 ? 16 : dc->cap_devices * 2;
        node->devices = gdp_reallocarray(node->devices, dc->cap_devices, sizeof *node->devices);
    }
    struct gdp_device *d = &node->devices[node->n_devices++];
    *d = (struct gdp_device){.parent = -1,
                             .numa_node = -1,
                             .pci_class = -1,
                             .healthy = true,
                             .gi_cap_minor = -1,
                             .ci_cap_minor = -1,
                             .topo = -1};
    return d;
}

static void
add_problem(struct discovery *dc, const char *index_str, const struct gdp_diag *diag)
{
    struct gdp_node *node = dc->node;
    node->problems = gdp_reallocarray(node->problems, node->n_problems + 1, sizeof *node->problems);
    struct gdp_problem *p = &node->problems[node->n_problems++];
    (void)gdp_strlcpy(p->index_str, index_str, sizeof p->index_str);
    (void)gdp_strlcpy(p->reason, diag->msg, sizeof p->reason);
}

/*
 * Total memory is informational: some GPUs and vGPU setups answer NOT_SUPPORTED, and NVIDIA's
 * plugin has ignored any failure here since v0.18. Memory stays 0 (unknown), the device healthy.
 */
static void
read_memory(struct discovery *dc, struct gdp_nvml_device *h, struct gdp_device *d)
{
    struct gdp_diag ignored = {0};
    if (gdp_nvml_device_memory(dc->nv, h, &d->memory_bytes, &ignored) < 0) {
        d->memory_bytes = 0;
    }
}

/* Records the first failure of a device: it stays listed, but unhealthy. */
static void
mark_failed(struct gdp_device *d, int r, const struct gdp_diag *diag)
{
    if (r >= 0 || !d->healthy) {
        return;
    }
    d->healthy = false;
    (void)gdp_strlcpy(d->reason, diag->msg, sizeof d->reason);
}

/* Fabric membership is informational (node labels): a failure leaves the GPU unattached. */
static void
fabric_attributes(struct discovery *dc, struct gdp_nvml_device *h, struct gdp_device *d)
{
    struct gdp_diag ignored = {0};
    struct gdp_nvml_fabric fabric;
    if (gdp_nvml_device_fabric(dc->nv, h, &fabric, &ignored) < 0) {
        return;
    }
    d->fabric_attached = fabric.attached;
    d->clique_id = fabric.clique_id;
    memcpy(d->cluster_uuid, fabric.cluster_uuid, sizeof d->cluster_uuid);
}

static void
gpu_attributes(struct discovery *dc, struct gdp_nvml_device *h, struct gdp_device *d)
{
    struct gdp_diag diag = {0};
    char bus[GDP_NVML_BUSID_MAX] = "";
    mark_failed(d, gdp_nvml_device_name(dc->nv, h, d->name, sizeof d->name, &diag), &diag);
    read_memory(dc, h, d);
    mark_failed(d, gdp_nvml_device_minor(dc->nv, h, &d->minor, &diag), &diag);
    mark_failed(d, gdp_nvml_device_cuda_cc(dc->nv, h, &d->cc_major, &d->cc_minor, &diag), &diag);
    mark_failed(d, gdp_nvml_device_mig_mode(dc->nv, h, &d->mig_capable, &d->mig_enabled, &diag),
                &diag);
    fabric_attributes(dc, h, d);
    int r = gdp_nvml_device_bus_id(dc->nv, h, bus, sizeof bus, &diag);
    mark_failed(d, r, &diag);
    if (r >= 0) {
        gdp_bus_id_normalize(bus, d->bus_id, sizeof d->bus_id);
        d->numa_node = read_numa_node(dc->opts, d->bus_id);
        d->pci_class = read_pci_class(dc->opts, d->bus_id);
    }
}

/* Copies what a MIG device inherits from its parent GPU. */
static void
inherit_from_parent(struct gdp_device *m, const struct gdp_device *gpu, int parent_pos)
{
    m->kind = GDP_DEVICE_MIG;
    m->parent = parent_pos;
    memcpy(m->bus_id, gpu->bus_id, sizeof m->bus_id);
    m->minor = gpu->minor;
    m->cc_major = gpu->cc_major;
    m->cc_minor = gpu->cc_minor;
    m->numa_node = gpu->numa_node;
}

static void
mig_attributes(struct discovery *dc, struct gdp_nvml_device *parent, struct gdp_nvml_device *h,
               struct gdp_device *m, uint64_t parent_total)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml_mig_info info;
    mark_failed(m, gdp_nvml_device_name(dc->nv, h, m->name, sizeof m->name, &diag), &diag);
    read_memory(dc, h, m);
    int r = gdp_nvml_mig_info(dc->nv, parent, h, &info, &diag);
    mark_failed(m, r, &diag);
    if (r < 0) {
        return;
    }
    m->gi = info.gi_id;
    m->ci = info.ci_id;
    m->gi_slices = info.gi_slices;
    m->ci_slices = info.ci_slices;
    m->mig_memory_mib = info.memory_mib;
    m->multiprocessors = info.multiprocessors;
    m->engines_copy = info.engines_copy;
    m->engines_decoder = info.engines_decoder;
    m->engines_encoder = info.engines_encoder;
    m->engines_jpeg = info.engines_jpeg;
    m->engines_ofa = info.engines_ofa;
    r = gdp_mig_profile_name(info.gi_profile, info.ci_profile, info.memory_mib, parent_total,
                             m->profile, sizeof m->profile);
    if (r < 0) {
        (void)gdp_diag_set(&diag, r, "unsupported MIG profile (GPU instance profile %u)",
                           info.gi_profile);
        mark_failed(m, r, &diag);
    }
    m->gi_cap_minor = gdp_migcaps_lookup(&dc->caps, m->minor, m->gi, -1);
    m->ci_cap_minor = gdp_migcaps_lookup(&dc->caps, m->minor, m->gi, (int)m->ci);
}

static void
discover_migs(struct discovery *dc, struct gdp_nvml_device *h, size_t gpu_pos)
{
    struct gdp_diag diag = {0};
    unsigned slots = 0;
    int r = gdp_nvml_device_mig_slots(dc->nv, h, &slots, &diag);
    mark_failed(&dc->node->devices[gpu_pos], r, &diag);
    for (unsigned j = 0; r >= 0 && j < slots; j++) {
        struct gdp_nvml_device *mh = NULL;
        char index_str[16];
        (void)snprintf(index_str, sizeof index_str, "%u:%u", dc->node->devices[gpu_pos].index, j);
        int q = gdp_nvml_device_mig_by_index(dc->nv, h, j, &mh, &diag);
        if (q == -ENOENT) {
            continue;
        }
        char uuid[GDP_UUID_MAX] = "";
        if (q >= 0) {
            q = gdp_nvml_device_uuid(dc->nv, mh, uuid, sizeof uuid, &diag);
        }
        if (q < 0) {
            add_problem(dc, index_str, &diag);
            continue;
        }
        struct gdp_device *m = add_device(dc); /* may move node->devices */
        const struct gdp_device *gpu = &dc->node->devices[gpu_pos];
        inherit_from_parent(m, gpu, (int)gpu_pos);
        m->index = j;
        memcpy(m->index_str, index_str, sizeof m->index_str);
        memcpy(m->uuid, uuid, sizeof m->uuid);
        mig_attributes(dc, h, mh, m, gpu->memory_bytes);
        dc->node->devices[gpu_pos].n_mig++;
    }
}

static bool
is_display_device(const char *name)
{
    /* go-nvlib skips the DGX Station's display GPU; so do we. */
    return streq(name, "DGX Display") || streq(name, "NVIDIA DGX Display");
}

static void
discover_gpu(struct discovery *dc, unsigned i)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml_device *h = NULL;
    char uuid[GDP_UUID_MAX] = "";
    char index_str[16];
    (void)snprintf(index_str, sizeof index_str, "%u", i);
    int r = gdp_nvml_device_by_index(dc->nv, i, &h, &diag);
    if (r >= 0) {
        r = gdp_nvml_device_uuid(dc->nv, h, uuid, sizeof uuid, &diag);
    }
    if (r < 0) {
        add_problem(dc, index_str, &diag);
        return;
    }
    struct gdp_device *d = add_device(dc);
    size_t pos = dc->node->n_devices - 1;
    d->kind = GDP_DEVICE_GPU;
    d->index = i;
    memcpy(d->index_str, index_str, sizeof d->index_str);
    memcpy(d->uuid, uuid, sizeof d->uuid);
    gpu_attributes(dc, h, d);
    if (is_display_device(d->name)) {
        dc->node->n_devices--;
        return;
    }
    if (d->mig_enabled) {
        discover_migs(dc, h, pos);
    }
}

int
gdp_discover(struct gdp_nvml *nv, const struct gdp_discover_opts *opts, struct gdp_node **ret,
             struct gdp_diag *diag)
{
    static const struct gdp_discover_opts no_opts = {0};
    struct discovery dc = {.nv = nv, .opts = opts != NULL ? opts : &no_opts};
    struct gdp_diag ignored = {0};
    dc.node = gdp_calloc(1, sizeof *dc.node);
    int r = gdp_nvml_device_count(nv, &dc.node->n_gpus, diag);
    if (r < 0) {
        gdp_node_free(dc.node);
        return r;
    }
    /* Versions are informational: a failure leaves them empty. */
    (void)gdp_nvml_driver_version(nv, dc.node->driver_version, sizeof dc.node->driver_version,
                                  &ignored);
    (void)gdp_nvml_cuda_driver_version(nv, &dc.node->cuda_version, &ignored);
    load_migcaps(&dc);
    for (unsigned i = 0; i < dc.node->n_gpus; i++) {
        discover_gpu(&dc, i);
    }
    gdp_migcaps_done(&dc.caps);
    gdp_topology_read(nv, dc.node);
    *ret = dc.node;
    return 0;
}
