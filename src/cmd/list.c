/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin list [--json]`: what `serve` would advertise with the same flags, per
 * resource: each device ID (replicas "<uuid>::<k>" included), its health (and why), NUMA node
 * and backing GPU; with --topology also the GPU topology matrix in `nvidia-smi topo -m`'s
 * notation. The JSON form is a stable schema (docs/list-json.md); the text form is for people.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/topology.h"
#include "resource/inventory.h"
#include "resource/resources.h"

#define LIST_SCHEMA_VERSION 1
#define MIB                 (1024ull * 1024ull)

/* The ID the container runtime receives for a device under the device-id strategy. */
static const char *
runtime_id(const struct gdp_config *cfg, const struct gdp_device *d)
{
    return cfg->device_id_strategy == GDP_ID_INDEX ? d->index_str : d->uuid;
}

static json_t *
json_str_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *
numa_json(int numa)
{
    return numa >= 0 ? json_integer(numa) : json_null();
}

static json_t *
device_nodes_json(const struct gdp_device *d)
{
    json_t *a = json_array();
    (void)json_array_append_new(a, json_sprintf("/dev/nvidia%u", d->minor));
    if (d->kind == GDP_DEVICE_MIG && d->gi_cap_minor >= 0 && d->ci_cap_minor >= 0) {
        (void)json_array_append_new(a,
                                    json_sprintf("/dev/nvidia-caps/nvidia-cap%d", d->gi_cap_minor));
        (void)json_array_append_new(a,
                                    json_sprintf("/dev/nvidia-caps/nvidia-cap%d", d->ci_cap_minor));
    }
    return a;
}

static json_t *
device_json(const struct gdp_config *cfg, const struct gdp_node *node, const struct gdp_rdev *rd)
{
    const struct gdp_device *d = rd->dev;
    const struct gdp_device *gpu = gdp_device_gpu(node, d);
    json_t *o = json_object();
    (void)json_object_set_new(o, "id", json_string(rd->id));
    if (rd->replicas > 0) {
        (void)json_object_set_new(o, "replica", json_integer(rd->replica));
        (void)json_object_set_new(o, "replicas", json_integer(rd->replicas));
    }
    (void)json_object_set_new(o, "runtimeId", json_string(runtime_id(cfg, d)));
    (void)json_object_set_new(o, "index", json_string(d->index_str));
    (void)json_object_set_new(o, "type", json_string(d->kind == GDP_DEVICE_MIG ? "mig" : "gpu"));
    (void)json_object_set_new(o, "health", json_string(d->healthy ? "Healthy" : "Unhealthy"));
    (void)json_object_set_new(o, "reason", json_str_or_null(d->reason));
    (void)json_object_set_new(o, "numaNode", numa_json(d->numa_node));
    (void)json_object_set_new(o, "name", json_str_or_null(d->name));
    (void)json_object_set_new(
            o, "memoryMiB",
            d->memory_bytes > 0 ? json_integer((json_int_t)(d->memory_bytes / MIB)) : json_null());
    (void)json_object_set_new(o, "computeCapability",
                              json_sprintf("%d.%d", d->cc_major, d->cc_minor));
    (void)json_object_set_new(o, "deviceNodes", device_nodes_json(d));
    if (d->kind == GDP_DEVICE_MIG) {
        (void)json_object_set_new(o, "mig",
                                  json_pack("{s:s, s:I, s:I}", "profile", d->profile, "gi",
                                            (json_int_t)d->gi, "ci", (json_int_t)d->ci));
    }
    (void)json_object_set_new(o, "gpu",
                              json_pack("{s:I, s:s, s:s, s:s}", "index", (json_int_t)gpu->index,
                                        "uuid", gpu->uuid, "name", gpu->name, "pciBusId",
                                        gpu->bus_id));
    return o;
}

static json_t *
resources_json(const struct gdp_config *cfg, const struct gdp_inventory *inv)
{
    json_t *a = json_array();
    for (size_t i = 0; i < inv->set->n_resources; i++) {
        const struct gdp_resource *r = &inv->set->resources[i];
        char sock[GDP_RESOURCE_NAME_MAX + 16];
        (void)gdp_resource_socket_name(r->name, sock, sizeof sock);
        json_t *devs = json_array();
        for (size_t j = 0; j < r->n_devices; j++) {
            (void)json_array_append_new(devs, device_json(cfg, inv->node, &r->devices[j]));
        }
        (void)json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:o}", "name", r->name, "socket",
                                                 sock, "count", (json_int_t)r->n_devices, "devices",
                                                 devs));
    }
    return a;
}

static json_t *
nvml_json(const struct gdp_inventory *inv)
{
    const struct gdp_node *n = inv->node;
    json_t *o = json_object();
    (void)json_object_set_new(o, "loaded", json_boolean(inv->nv != NULL));
    (void)json_object_set_new(o, "library", json_string(inv->library));
    (void)json_object_set_new(o, "error", json_str_or_null(inv->nvml_error));
    (void)json_object_set_new(o, "driverVersion",
                              n != NULL ? json_str_or_null(n->driver_version) : json_null());
    (void)json_object_set_new(
            o, "cudaDriverVersion",
            n != NULL && n->cuda_version > 0
                    ? json_sprintf("%d.%d", n->cuda_version / 1000, (n->cuda_version % 1000) / 10)
                    : json_null());
    (void)json_object_set_new(o, "gpuCount", json_integer(n != NULL ? n->n_gpus : 0));
    return o;
}

static json_t *
problems_json(const struct gdp_inventory *inv)
{
    json_t *a = json_array();
    for (size_t i = 0; inv->node != NULL && i < inv->node->n_problems; i++) {
        const struct gdp_problem *p = &inv->node->problems[i];
        (void)json_array_append_new(
                a, json_pack("{s:s, s:s}", "index", p->index_str, "reason", p->reason));
    }
    return a;
}

static json_t *
warnings_json(const struct gdp_inventory *inv)
{
    json_t *a = json_array();
    for (size_t i = 0; i < inv->set->n_warnings; i++) {
        (void)json_array_append_new(a, json_string(inv->set->warnings[i]));
    }
    return a;
}

/* The GPUs of the topology matrix, by row. Borrowed from node; NULL for rows not found. */
static void
topology_gpus(const struct gdp_node *node, const struct gdp_device **rows)
{
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (d->kind == GDP_DEVICE_GPU && d->topo >= 0 && (size_t)d->topo < node->topology.n) {
            rows[d->topo] = d;
        }
    }
}

static json_t *
topology_json(const struct gdp_node *node)
{
    const struct gdp_topology *t = &node->topology;
    /* an array of pointers */
    _cleanup_free_ const struct gdp_device **rows =
            gdp_calloc(t->n + 1, sizeof *rows); /* NOLINT(bugprone-sizeof-expression) */
    topology_gpus(node, rows);
    json_t *gpus = json_array();
    json_t *matrix = json_array();
    for (size_t a = 0; a < t->n; a++) {
        json_t *row = json_array();
        for (size_t b = 0; b < t->n; b++) {
            char label[GDP_TOPO_LABEL_MAX];
            (void)json_array_append_new(
                    row, json_string(gdp_topology_label(t, a, b, label, sizeof label)));
        }
        (void)json_array_append_new(matrix, row);
        (void)json_array_append_new(gpus,
                                    rows[a] != NULL ? json_string(rows[a]->uuid) : json_null());
    }
    return json_pack("{s:o, s:o}", "gpus", gpus, "matrix", matrix);
}

static int
print_json(const struct gdp_config *cfg, const struct gdp_inventory *inv)
{
    json_t *o =
            json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o}", "schemaVersion", LIST_SCHEMA_VERSION,
                      "migStrategy", gdp_mig_strategy_name(cfg->mig_strategy), "deviceIdStrategy",
                      gdp_id_strategy_name(cfg->device_id_strategy), "nvml", nvml_json(inv),
                      "resources", resources_json(cfg, inv), "problems", problems_json(inv),
                      "warnings", warnings_json(inv));
    if (o == NULL) {
        return -ENOMEM;
    }
    if (cfg->topology && inv->node != NULL) {
        (void)json_object_set_new(o, "topology", topology_json(inv->node));
    }
    int r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (r < 0 || fputc('\n', stdout) == EOF) {
        return -EIO;
    }
    return 0;
}

static void
print_text_header(const struct gdp_config *cfg, const struct gdp_inventory *inv)
{
    const struct gdp_node *n = inv->node;
    if (n == NULL) {
        printf("NVML unavailable (%s): no devices are advertised.\n", inv->nvml_error);
        return;
    }
    printf("NVML %s, CUDA %d.%d, %u GPU%s, loaded from %s\n", n->driver_version,
           n->cuda_version / 1000, (n->cuda_version % 1000) / 10, n->n_gpus,
           n->n_gpus == 1 ? "" : "s", inv->library);
    printf("MIG strategy %s, device IDs for containers: %s\n",
           gdp_mig_strategy_name(cfg->mig_strategy), gdp_id_strategy_name(cfg->device_id_strategy));
}

static void
print_text_device(const struct gdp_inventory *inv, const struct gdp_rdev *rd)
{
    const struct gdp_device *d = rd->dev;
    const struct gdp_device *gpu = gdp_device_gpu(inv->node, d);
    char numa[16] = "-";
    if (d->numa_node >= 0) {
        (void)snprintf(numa, sizeof numa, "%d", d->numa_node);
    }
    printf("  %-42s %-6s %-9s %-4s %-13s %s%s%s\n", rd->id, d->index_str,
           d->healthy ? "Healthy" : "Unhealthy", numa, gpu->bus_id, d->name,
           d->healthy ? "" : " -- ", d->reason);
}

static void
print_text(const struct gdp_config *cfg, const struct gdp_inventory *inv)
{
    print_text_header(cfg, inv);
    for (size_t i = 0; i < inv->set->n_resources; i++) {
        const struct gdp_resource *r = &inv->set->resources[i];
        printf("\n%s: %zu device%s\n", r->name, r->n_devices, r->n_devices == 1 ? "" : "s");
        printf("  %-42s %-6s %-9s %-4s %-13s %s\n", "ID", "INDEX", "HEALTH", "NUMA", "PCI BUS ID",
               "NAME");
        for (size_t j = 0; j < r->n_devices; j++) {
            print_text_device(inv, &r->devices[j]);
        }
    }
    if (inv->set->n_resources == 0 && inv->node != NULL) {
        printf("\nNo devices to advertise.\n");
    }
    for (size_t i = 0; inv->node != NULL && i < inv->node->n_problems; i++) {
        printf("\nGPU %s is not advertised: %s\n", inv->node->problems[i].index_str,
               inv->node->problems[i].reason);
    }
    for (size_t i = 0; i < inv->set->n_warnings; i++) {
        printf("\nWarning: %s\n", inv->set->warnings[i]);
    }
}

static void
print_topology(const struct gdp_node *node)
{
    const struct gdp_topology *t = &node->topology;
    /* an array of pointers */
    _cleanup_free_ const struct gdp_device **rows =
            gdp_calloc(t->n + 1, sizeof *rows); /* NOLINT(bugprone-sizeof-expression) */
    topology_gpus(node, rows);
    printf("\nGPU topology:\n%-8s", "");
    for (size_t b = 0; b < t->n; b++) {
        printf("GPU%-5u", rows[b] != NULL ? rows[b]->index : (unsigned)b);
    }
    printf("NUMA Affinity\n");
    for (size_t a = 0; a < t->n; a++) {
        printf("GPU%-5u", rows[a] != NULL ? rows[a]->index : (unsigned)a);
        for (size_t b = 0; b < t->n; b++) {
            char label[GDP_TOPO_LABEL_MAX];
            printf("%-8s", gdp_topology_label(t, a, b, label, sizeof label));
        }
        if (rows[a] != NULL && rows[a]->numa_node >= 0) {
            printf("%d\n", rows[a]->numa_node);
        } else {
            printf("N/A\n");
        }
    }
    printf("\nLegend:\n"
           "  X    = Self\n"
           "  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes\n"
           "  NODE = Connection traversing PCIe as well as the interconnect between PCIe Host "
           "Bridges within a NUMA node\n"
           "  PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)\n"
           "  PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe "
           "Host Bridge)\n"
           "  PIX  = Connection traversing at most a single PCIe bridge\n"
           "  BRD  = Two GPUs on one board\n"
           "  NV#  = Connection traversing a bonded set of # NVLinks (directly or through "
           "NVSwitches)\n"
           "  N/A  = Unknown: the GPU's topology calls failed\n");
}

static void
log_inventory(const struct gdp_inventory *inv)
{
    if (inv->nvml_error[0] != '\0') {
        log_warn("NVML unavailable and --fail-on-init-error=false: %s; listing no devices",
                 inv->nvml_error);
    }
    for (size_t i = 0; inv->node != NULL && i < inv->node->n_problems; i++) {
        log_warn("GPU %s skipped: %s", inv->node->problems[i].index_str,
                 inv->node->problems[i].reason);
    }
    for (size_t i = 0; i < inv->set->n_warnings; i++) {
        log_warn("%s", inv->set->warnings[i]);
    }
}

int
gdp_cmd_list(const struct gdp_config *cfg)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_inventory_done) struct gdp_inventory inv = {0};
    int r = gdp_inventory_load(cfg, &inv, &diag);
    if (r < 0) {
        log_error("%s%s", diag.msg, gdp_inventory_hint(r));
        return GDP_EXIT_FAILURE;
    }
    log_inventory(&inv);
    if (cfg->json) {
        r = print_json(cfg, &inv);
    } else {
        print_text(cfg, &inv);
        if (cfg->topology && inv.node != NULL) {
            print_topology(inv.node);
        }
        r = fflush(stdout) == 0 ? 0 : -EIO;
    }
    if (r < 0) {
        log_error_errno(r, "writing the device list");
        return GDP_EXIT_FAILURE;
    }
    return GDP_EXIT_OK;
}
