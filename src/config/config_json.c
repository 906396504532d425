/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The effective configuration as a v1 config file in JSON (`config print`), built from the
 * same tables that parse the file: every option with a config-file key, the file-only
 * settings of gdp_fkeys[], then resources and sharing. The output loads back unchanged.
 */
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "config/options.h"
#include "config/yfile.h"
#include "core/util.h"

static const void *
cfield_of(const struct gdp_config *c, size_t off)
{
    return (const char *)c + off;
}

/* A JSON string, or null when s is NULL or not UTF-8 (jansson refuses those). */
static json_t *
str_json(const char *s)
{
    json_t *j = s != NULL ? json_string(s) : NULL;
    return j != NULL ? j : json_null();
}

/* Stores value at a dotted key path, creating the objects on the way. Takes value. */
static void
set_path(json_t *root, const char *key, json_t *value)
{
    char part[64];
    json_t *obj = root;
    for (;;) {
        size_t n = strcspn(key, ".");
        (void)snprintf(part, sizeof part, "%.*s", (int)n, key);
        if (key[n] == '\0') {
            (void)json_object_set_new(obj, part, value);
            return;
        }
        json_t *next = json_object_get(obj, part);
        if (next == NULL) {
            next = json_object();
            (void)json_object_set_new(obj, part, next);
        }
        obj = next;
        key += n + 1;
    }
}

/* The names of the bits set in mask, as a JSON array. */
static json_t *
set_json(unsigned mask, const char *const *values)
{
    json_t *a = json_array();
    for (unsigned i = 0; values[i] != NULL; i++) {
        if ((mask & (1u << i)) != 0) {
            (void)json_array_append_new(a, json_string(values[i]));
        }
    }
    return a;
}

static json_t *
strv_json(const struct gdp_strv *sv)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sv->n; i++) {
        (void)json_array_append_new(a, str_json(sv->v[i]));
    }
    return a;
}

static json_t *
duration_json(int64_t ns)
{
    char buf[64];
    gdp_duration_format(ns, buf, sizeof buf);
    return json_string(buf);
}

static json_t *
opt_json(const struct gdp_config *c, const struct gdp_opt *o)
{
    const void *field = cfield_of(c, o->off);
    unsigned u;
    switch (o->type) {
    case GDP_OPT_BOOL:
        return json_boolean(*(const bool *)field);
    case GDP_OPT_OPTBOOL:
        return *(const int *)field < 0 ? json_null() : json_boolean(*(const int *)field != 0);
    case GDP_OPT_DURATION:
        return duration_json(*(const int64_t *)field);
    case GDP_OPT_UINT:
        memcpy(&u, field, sizeof u);
        return json_integer(u);
    case GDP_OPT_STRING:
        return str_json(*(char *const *)field);
    case GDP_OPT_ENUM:
        memcpy(&u, field, sizeof u);
        return json_string(o->values[u]);
    case GDP_OPT_SET:
        memcpy(&u, field, sizeof u);
        return set_json(u, o->values);
    case GDP_OPT_STRV:
        return strv_json(field);
    case GDP_OPT_UINT_LIST: {
        json_t *a = json_array();
        size_t n = *(const size_t *)cfield_of(c, o->off_n);
        for (size_t i = 0; i < n; i++) {
            (void)json_array_append_new(a, json_integer(((const unsigned *)field)[i]));
        }
        return a;
    }
    }
    return json_null();
}

static json_t *
fkey_json(const struct gdp_config *c, const struct gdp_fkey *k)
{
    const void *field = cfield_of(c, k->off);
    switch (k->type) {
    case GDP_FKEY_BOOL:
        return json_boolean(*(const bool *)field);
    case GDP_FKEY_OPTBOOL:
        return *(const int *)field < 0 ? json_null() : json_boolean(*(const int *)field != 0);
    case GDP_FKEY_STRING:
        return str_json(*(char *const *)field);
    case GDP_FKEY_DURATION:
        return duration_json(*(const int64_t *)field);
    default:
        return NULL;
    }
}

static json_t *
selector_json(const struct gdp_device_selector *sel)
{
    switch (sel->kind) {
    case GDP_DEVICES_COUNT:
        return json_integer(sel->count);
    case GDP_DEVICES_LIST:
        return strv_json(&sel->ids);
    default:
        return json_string("all");
    }
}

static json_t *
override_json(const struct gdp_replica_override *o)
{
    json_t *j = json_object();
    if (o->devices.kind != GDP_DEVICES_ALL || o->product == NULL) {
        (void)json_object_set_new(j, "devices", selector_json(&o->devices));
    }
    if (o->product != NULL) {
        (void)json_object_set_new(j, "product", str_json(o->product));
    }
    if (o->replicas != 0) {
        (void)json_object_set_new(j, "replicas", json_integer(o->replicas));
    }
    if (o->rename != NULL) {
        (void)json_object_set_new(j, "rename", str_json(o->rename));
    }
    return j;
}

static json_t *
resource_json(const struct gdp_replicated_resource *r)
{
    json_t *j = json_object();
    (void)json_object_set_new(j, "name", str_json(r->name));
    if (r->rename != NULL) {
        (void)json_object_set_new(j, "rename", str_json(r->rename));
    }
    (void)json_object_set_new(j, "devices", selector_json(&r->devices));
    (void)json_object_set_new(j, "replicas", json_integer(r->replicas));
    if (r->n_overrides > 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_overrides; i++) {
            (void)json_array_append_new(a, override_json(&r->overrides[i]));
        }
        (void)json_object_set_new(j, "overrides", a);
    }
    return j;
}

static json_t *
replication_json(const struct gdp_replication *rep)
{
    json_t *res = json_array();
    for (size_t i = 0; i < rep->n_resources; i++) {
        (void)json_array_append_new(res, resource_json(&rep->resources[i]));
    }
    return json_pack("{s:b, s:b, s:o}", "renameByDefault", rep->rename_by_default,
                     "failRequestsGreaterThanOne", rep->fail_requests_greater_than_one, "resources",
                     res);
}

static json_t *
patterns_json(const struct gdp_resource_patterns *ps)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ps->n; i++) {
        (void)json_array_append_new(a,
                                    json_pack("{s:o, s:o}", "pattern", str_json(ps->v[i].pattern),
                                              "name", str_json(ps->v[i].name)));
    }
    return a;
}

json_t *
gdp_config_to_json(const struct gdp_config *c)
{
    json_t *root = json_object();
    (void)json_object_set_new(root, "version", json_string("v1"));
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if (gdp_opts[i].key != NULL) {
            set_path(root, gdp_opts[i].key, opt_json(c, &gdp_opts[i]));
        }
    }
    for (size_t i = 0; i < gdp_n_fkeys; i++) {
        json_t *v = fkey_json(c, &gdp_fkeys[i]);
        if (v != NULL) {
            set_path(root, gdp_fkeys[i].key, v);
        }
    }
    if (c->resource_gpus.n > 0) {
        set_path(root, "resources.gpus", patterns_json(&c->resource_gpus));
    }
    if (c->resource_mig.n > 0) {
        set_path(root, "resources.mig", patterns_json(&c->resource_mig));
    }
    if (c->sharing.time_slicing.present) {
        set_path(root, "sharing.timeSlicing", replication_json(&c->sharing.time_slicing));
    }
    if (c->sharing.mps.present) {
        set_path(root, "sharing.mps", replication_json(&c->sharing.mps));
    }
    return root;
}

json_t *
gdp_config_settings_json(const struct gdp_config *c, enum gdp_cmd cmd)
{
    json_t *root = json_object();
    for (size_t i = 0; i < gdp_n_opts; i++) {
        const struct gdp_opt *o = &gdp_opts[i];
        if ((o->scope & (unsigned)cmd) != 0) {
            (void)json_object_set_new(root, o->env_only ? o->env[0] : o->name, opt_json(c, o));
        }
    }
    return root;
}
