/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The /debug/state document `explain` reads (schema in docs/metrics.md): readiness, each
 * resource with its registration and streams and each advertised device with its health, the
 * rule that set it, since when, the GPU behind it and its place on the node; then the node's
 * devices that are not advertised, with why.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/manager_int.h"
#include "plugin/observe.h"
#include "plugin/server.h"
#include "resource/resources.h"

#define STATE_SCHEMA_VERSION 1

static const char *
reg_state_name(enum gdp_reg_state s)
{
    static const char *const names[] = {"idle", "in-flight", "registered", "retrying",
                                        "waiting-for-mps"};
    return (size_t)s < ELEMENTSOF(names) ? names[s] : "unknown";
}

static json_t *
gpu_json(const struct gdp_node *node, const struct gdp_device *d)
{
    const struct gdp_device *gpu = gdp_device_gpu(node, d);
    return json_pack("{s:I, s:s, s:s, s:s, s:I}", "index", (json_int_t)gpu->index, "uuid",
                     gpu->uuid, "name", gpu->name, "pciBusId", gpu->bus_id, "minor",
                     (json_int_t)gpu->minor);
}

static json_t *
device_json(const struct gdp_manager *m, const struct gdp_rdev *rd)
{
    const struct gdp_device *d = rd->dev;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", rd->id, "uuid", d->uuid, "index",
                          d->index_str, "type", d->kind == GDP_DEVICE_MIG ? "mig" : "gpu",
                          "healthy", d->healthy);
    /* what the container runtime is given for it under --device-id-strategy */
    (void)json_object_set_new(
            o, "runtimeId",
            json_string(m->cur->cfg.device_id_strategy == GDP_ID_INDEX ? d->index_str : d->uuid));
    (void)json_object_set_new(o, "reason",
                              d->reason[0] != '\0' ? json_string(d->reason) : json_null());
    long long since = 0;
    unsigned long long xid = 0;
    if (gdp_observe_since(m, d->uuid, &since, &xid)) {
        (void)json_object_set_new(o, "since", json_integer(since));
        (void)json_object_set_new(o, "xid", xid != 0 ? json_integer((json_int_t)xid) : json_null());
    }
    if (rd->replicas > 0) {
        (void)json_object_set_new(o, "replica", json_integer(rd->replica));
        (void)json_object_set_new(o, "replicas", json_integer(rd->replicas));
    }
    if (d->kind == GDP_DEVICE_MIG) {
        (void)json_object_set_new(o, "migProfile", json_string(d->profile));
    }
    (void)json_object_set_new(o, "numaNode",
                              d->numa_node >= 0 ? json_integer(d->numa_node) : json_null());
    (void)json_object_set_new(o, "gpu", gpu_json(m->cur->inv.node, d));
    return o;
}

static const struct gdp_entry *
entry_of(const struct gdp_manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        if (streq(gdp_plugin_resource(m->entries[i]->plugin), name)) {
            return m->entries[i];
        }
    }
    return NULL;
}

static json_t *
resource_json(const struct gdp_manager *m, const struct gdp_resource *r)
{
    const struct gdp_entry *e = entry_of(m, r->name);
    json_t *devs = json_array();
    for (size_t j = 0; j < r->n_devices; j++) {
        (void)json_array_append_new(devs, device_json(m, &r->devices[j]));
    }
    return json_pack("{s:s, s:s, s:I, s:o}", "name", r->name, "registration",
                     e != NULL ? reg_state_name(e->state) : "not-served", "listAndWatchStreams",
                     (json_int_t)(e != NULL ? gdp_plugin_n_watchers(e->plugin) : 0), "devices",
                     devs);
}

static bool
advertised(const struct gdp_resource_set *set, const struct gdp_device *d)
{
    for (size_t i = 0; i < set->n_resources; i++) {
        for (size_t j = 0; j < set->resources[i].n_devices; j++) {
            if (set->resources[i].devices[j].dev == d) {
                return true;
            }
        }
    }
    return false;
}

static const char *
unadvertised_why(const struct gdp_config *cfg, const struct gdp_device *d)
{
    if (d->kind == GDP_DEVICE_GPU && d->mig_enabled && cfg->mig_strategy != GDP_MIG_NONE) {
        return "MIG is enabled on this GPU: its MIG devices are advertised instead";
    }
    if (d->kind == GDP_DEVICE_MIG && cfg->mig_strategy == GDP_MIG_NONE) {
        return "MIG devices are not advertised with --mig-strategy=none";
    }
    return "no advertised resource selects it under the current configuration";
}

static json_t *
unadvertised_json(const struct gdp_manager *m)
{
    json_t *a = json_array();
    const struct gdp_node *node = m->cur->inv.node;
    for (size_t i = 0; node != NULL && i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (!advertised(m->cur->inv.set, d)) {
            (void)json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o}", "uuid", d->uuid,
                                                     "index", d->index_str, "why",
                                                     unadvertised_why(&m->cur->cfg, d), "gpu",
                                                     gpu_json(node, d)));
        }
    }
    for (size_t i = 0; node != NULL && i < node->n_problems; i++) {
        (void)json_array_append_new(a, json_pack("{s:n, s:s, s:s}", "uuid", "index",
                                                 node->problems[i].index_str, "why",
                                                 node->problems[i].reason));
    }
    return a;
}

char *
gdp_observe_state_json(const struct gdp_manager *m, size_t *ret_len)
{
    char why[256] = "";
    bool ready = gdp_observe_ready(m, why, sizeof why);
    json_t *res = json_array();
    const struct gdp_resource_set *set = m->cur->inv.set;
    for (size_t i = 0; set != NULL && i < set->n_resources; i++) {
        (void)json_array_append_new(res, resource_json(m, &set->resources[i]));
    }
    json_t *doc = json_pack("{s:i, s:b, s:s, s:s, s:o, s:o}", "schemaVersion", STATE_SCHEMA_VERSION,
                            "ready", ready, "notReadyReason", why, "migStrategy",
                            gdp_mig_strategy_name(m->cur->cfg.mig_strategy), "resources", res,
                            "unadvertised", set != NULL ? unadvertised_json(m) : json_array());
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    if (text == NULL) {
        gdp_oom();
    }
    *ret_len = strlen(text);
    return text;
}
