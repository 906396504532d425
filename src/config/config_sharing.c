/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The config file's resources and sharing sections: resources.gpus/mig patterns,
 * sharing.timeSlicing and sharing.mps with NVIDIA's rules (resource names, replicas >= 2,
 * device selectors, renameByDefault, MPS's failRequestsGreaterThanOne default), the choice of
 * sharing strategy, and our per-device "overrides" extension with the helpers the resource
 * layer uses to apply it.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/options.h"
#include "config/yfile.h"
#include "core/util.h"

#define RESOURCE_PREFIX   "nvidia.com/"
#define RESOURCE_NAME_MAX 63
#define MAX_RESOURCES     64
#define MAX_OVERRIDES     64
#define MAX_DEVICE_IDS    1024
/*
 * NVIDIA sets no cap. Ours keeps a resource's ID list bounded: 16384 replicas of one GPU are
 * about 1.1 MB of ListAndWatch and 2 MiB of memory; docs/config.md says so.
 */
#define MAX_REPLICAS 16384

/* ---- names, patterns, device ids ---- */

static bool
dns_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* RFC 1123 subdomain, as Kubernetes checks it. */
static bool
dns_subdomain_ok(const char *s)
{
    if (strlen(s) > 253) {
        return false;
    }
    for (;;) {
        size_t n = strcspn(s, ".");
        if (!dns_label_ok(s, n)) {
            return false;
        }
        if (s[n] == '\0') {
            return true;
        }
        s += n + 1;
    }
}

/* A resource name: "nvidia.com/" prepended when missing, then NVIDIA's checks. */
static int
resource_name(struct gdp_yfile *f, const yaml_node_t *v, const char *path, char **ret)
{
    const char *s;
    int r = gdp_y_string(f, v, path, false, &s);
    if (r < 0) {
        return r;
    }
    _cleanup_free_ char *full =
            startswith(s, RESOURCE_PREFIX) ? gdp_strdup(s) : gdp_asprintf(RESOURCE_PREFIX "%s", s);
    if (strlen(full) > RESOURCE_NAME_MAX) {
        return gdp_y_error(f, v, path,
                           "invalid resource name \"%.128s\": the fully-qualified name must be "
                           "%d characters or less",
                           full, RESOURCE_NAME_MAX);
    }
    if (!dns_subdomain_ok(full + strlen(RESOURCE_PREFIX))) {
        return gdp_y_error(f, v, path,
                           "invalid resource name \"%.128s\": the part after \"" RESOURCE_PREFIX
                           "\" must be a DNS subdomain (lowercase letters, digits, '-' and '.', "
                           "starting and ending with a letter or digit)",
                           full);
    }
    free(*ret);
    *ret = TAKE_PTR(full);
    return 0;
}

static bool
digits_ok(const char *s, size_t n)
{
    return n > 0 && strspn(s, "0123456789") >= n;
}

/* 8-4-4-4-12 hex digits. */
static bool
uuid_ok(const char *s, size_t n)
{
    if (n != 36) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = strchr("0123456789abcdefABCDEF", s[i]) != NULL && s[i] != '\0';
        if (dash ? s[i] != '-' : !hex) {
            return false;
        }
    }
    return true;
}

/* "<uuid>/<gi>/<ci>" of a legacy MIG-GPU- id. */
static bool
legacy_mig_ok(const char *s)
{
    if (strlen(s) < 36 || !uuid_ok(s, 36) || s[36] != '/') {
        return false;
    }
    const char *gi = s + 37;
    const char *slash = strchr(gi, '/');
    return slash != NULL && digits_ok(gi, (size_t)(slash - gi)) &&
           digits_ok(slash + 1, strlen(slash + 1));
}

static bool
device_id_ok(const char *s)
{
    size_t n = strlen(s);
    const char *colon = strchr(s, ':');
    if (digits_ok(s, n)) {
        return true;
    }
    if (colon != NULL) {
        return digits_ok(s, (size_t)(colon - s)) && digits_ok(colon + 1, strlen(colon + 1));
    }
    if (startswith(s, "GPU-")) {
        return uuid_ok(s + 4, n - 4);
    }
    if (startswith(s, "MIG-GPU-")) {
        return legacy_mig_ok(s + 8);
    }
    return startswith(s, "MIG-") && uuid_ok(s + 4, n - 4);
}

/* Anchored match where '*' is the only wildcard (NVIDIA's resource patterns). */
static bool
pattern_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s != '\0') {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star != NULL) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*') {
        p++;
    }
    return *p == '\0';
}

/* ---- freeing ---- */

static void
selector_clear(struct gdp_device_selector *sel)
{
    gdp_strv_clear(&sel->ids);
    sel->kind = GDP_DEVICES_ALL;
    sel->count = 0;
}

static void
resource_done(struct gdp_replicated_resource *res)
{
    free(res->name);
    free(res->rename);
    selector_clear(&res->devices);
    for (size_t i = 0; i < res->n_overrides; i++) {
        selector_clear(&res->overrides[i].devices);
        free(res->overrides[i].product);
        free(res->overrides[i].rename);
    }
    free(res->overrides);
    memset(res, 0, sizeof *res);
}

static void
replication_done(struct gdp_replication *rep)
{
    for (size_t i = 0; i < rep->n_resources; i++) {
        resource_done(&rep->resources[i]);
    }
    free(rep->resources);
    free(rep->where);
    memset(rep, 0, sizeof *rep);
}

static void
patterns_clear(struct gdp_resource_patterns *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].pattern);
        free(ps->v[i].name);
    }
    free(ps->v);
    ps->v = NULL;
    ps->n = 0;
}

void
gdp_sharing_done(struct gdp_config *c)
{
    replication_done(&c->sharing.time_slicing);
    replication_done(&c->sharing.mps);
    c->sharing.strategy = GDP_SHARING_NONE;
    patterns_clear(&c->resource_gpus);
    patterns_clear(&c->resource_mig);
}

/* ---- resources.gpus / resources.mig ---- */

static int
f_pattern(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_resource_pattern *p = obj;
    const char *s;
    int r = gdp_y_string(f, v, path, true, &s);
    if (r == 0 && s[0] == '\0') {
        r = gdp_y_error(f, v, path, "expected a non-empty pattern");
    }
    if (r == 0) {
        free(p->pattern);
        p->pattern = gdp_strdup(s);
    }
    return r;
}

static int
f_pattern_name(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return resource_name(f, v, path, &((struct gdp_resource_pattern *)obj)->name);
}

static const struct gdp_yfield pattern_fields[] = {
        {"pattern", f_pattern},
        {"name", f_pattern_name},
        {NULL, NULL},
};

/* Runs the fields walk on item i of a list; the node is returned for messages. */
static int
list_item(struct gdp_yfile *f, const yaml_node_item_t *items, size_t i, const char *path,
          char *child, yaml_node_t **ret)
{
    gdp_y_path_index(child, GDP_YPATH_MAX, path, i);
    int r = gdp_y_node(f, items[i], child, ret);
    if (r == 0 && gdp_y_type(*ret) != GDP_Y_MAP) {
        return gdp_y_error(f, *ret, child, "expected a mapping");
    }
    return r;
}

int
gdp_y_resource_patterns(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_resource_patterns *ps = obj;
    yaml_node_item_t *items;
    size_t n;
    int r = gdp_y_seq(f, v, path, MAX_RESOURCES, &items, &n);
    if (r < 0) {
        return r;
    }
    patterns_clear(ps);
    ps->v = gdp_calloc(n, sizeof *ps->v);
    for (size_t i = 0; i < n; i++) {
        char child[GDP_YPATH_MAX];
        yaml_node_t *item;
        unsigned seen;
        ps->n = i + 1;
        r = list_item(f, items, i, path, child, &item);
        r = r < 0 ? r : gdp_y_fields(f, item, child, pattern_fields, &ps->v[i], &seen);
        if (r == 0 && (ps->v[i].pattern == NULL || ps->v[i].name == NULL)) {
            r = gdp_y_error(f, item, child, "missing key \"%s\"",
                            ps->v[i].pattern == NULL ? "pattern" : "name");
        }
        if (r < 0) {
            return r;
        }
    }
    if (n > 0) {
        (void)gdp_y_warn(f, v, path,
                         "customizing resource names is not supported yet, ignoring: the "
                         "built-in names are used");
    }
    return 0;
}

/* ---- device selectors ---- */

static int
selector_list(struct gdp_yfile *f, yaml_node_t *v, const char *path,
              struct gdp_device_selector *sel)
{
    yaml_node_item_t *items;
    size_t n;
    int r = gdp_y_seq(f, v, path, MAX_DEVICE_IDS, &items, &n);
    if (r == 0 && n == 0) {
        r = gdp_y_error(f, v, path, "expected at least one device");
    }
    sel->kind = GDP_DEVICES_LIST;
    for (size_t i = 0; r == 0 && i < n; i++) {
        char child[GDP_YPATH_MAX];
        yaml_node_t *item;
        const char *s;
        gdp_y_path_index(child, sizeof child, path, i);
        r = gdp_y_node(f, items[i], child, &item);
        r = r < 0 ? r : gdp_y_string(f, item, child, true, &s);
        if (r == 0 && !device_id_ok(s)) {
            r = gdp_y_error(f, item, child,
                            "invalid device \"%.64s\": expected a GPU index (\"0\"), a MIG index "
                            "(\"0:1\"), a GPU UUID (\"GPU-<uuid>\") or a MIG UUID "
                            "(\"MIG-<uuid>\", \"MIG-GPU-<uuid>/<gi>/<ci>\")",
                            s);
        }
        if (r == 0) {
            gdp_strv_push(&sel->ids, s);
        }
    }
    return r;
}

static int
parse_selector(struct gdp_yfile *f, yaml_node_t *v, const char *path,
               struct gdp_device_selector *sel)
{
    long long n;
    const char *s;
    selector_clear(sel);
    switch (gdp_y_type(v)) {
    case GDP_Y_NULL:
        return 0;
    case GDP_Y_SEQ:
        return selector_list(f, v, path, sel);
    case GDP_Y_INT: {
        int r = gdp_y_int(f, v, path, &n);
        if (r == 0 && (n < 1 || n > MAX_DEVICE_IDS)) {
            return gdp_y_error(f, v, path, "number of devices must be between 1 and %d, got %lld",
                               MAX_DEVICE_IDS, n);
        }
        sel->kind = GDP_DEVICES_COUNT;
        sel->count = (unsigned)n;
        return r;
    }
    case GDP_Y_STR:
        if (gdp_y_string(f, v, path, false, &s) == 0 && streq(s, "all")) {
            return 0;
        }
        break;
    default:
        break;
    }
    return gdp_y_error(f, v, path,
                       "invalid devices: expected \"all\", a positive number of devices, or a list "
                       "of GPU indices, MIG indices or UUIDs");
}

/* ---- replicated resources ---- */

static int
parse_replicas(struct gdp_yfile *f, yaml_node_t *v, const char *path, long long min, unsigned *ret)
{
    long long n;
    int r = gdp_y_int(f, v, path, &n);
    if (r == 0 && n < min) {
        return gdp_y_error(f, v, path, "number of replicas must be >= %lld", min);
    }
    if (r == 0 && n > MAX_REPLICAS) {
        return gdp_y_error(f, v, path, "number of replicas must be <= %d", MAX_REPLICAS);
    }
    if (r == 0) {
        *ret = (unsigned)n;
    }
    return r;
}

/* rename: empty means "not renamed", as in NVIDIA's plugin. */
static int
parse_rename(struct gdp_yfile *f, yaml_node_t *v, const char *path, char **ret)
{
    const char *s;
    if (gdp_y_type(v) == GDP_Y_NULL) {
        return 0;
    }
    int r = gdp_y_string(f, v, path, false, &s);
    if (r == 0 && s[0] == '\0') {
        free(*ret);
        *ret = NULL;
        return 0;
    }
    return r < 0 ? r : resource_name(f, v, path, ret);
}

static int
f_ov_devices(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_selector(f, v, path, &((struct gdp_replica_override *)obj)->devices);
}

static int
f_ov_product(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_replica_override *o = obj;
    const char *s;
    int r = gdp_y_string(f, v, path, true, &s);
    if (r == 0 && s[0] == '\0') {
        r = gdp_y_error(f, v, path, "expected a non-empty product pattern");
    }
    if (r == 0) {
        free(o->product);
        o->product = gdp_strdup(s);
    }
    return r;
}

static int
f_ov_replicas(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_replicas(f, v, path, 1, &((struct gdp_replica_override *)obj)->replicas);
}

static int
f_ov_rename(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_rename(f, v, path, &((struct gdp_replica_override *)obj)->rename);
}

static const struct gdp_yfield override_fields[] = {
        {"devices", f_ov_devices},
        {"product", f_ov_product},
        {"replicas", f_ov_replicas},
        {"rename", f_ov_rename},
        {NULL, NULL},
};

static int
parse_override(struct gdp_yfile *f, yaml_node_t *v, const char *path,
               struct gdp_replica_override *o)
{
    unsigned seen;
    int r = gdp_y_fields(f, v, path, override_fields, o, &seen);
    if (r < 0) {
        return r;
    }
    if (o->product == NULL && (seen & 1u) == 0) {
        return gdp_y_error(f, v, path, "an override needs \"devices\" or \"product\"");
    }
    if (o->replicas == 0 && o->rename == NULL) {
        return gdp_y_error(f, v, path, "an override needs \"replicas\" or \"rename\"");
    }
    return 0;
}

static int
f_res_name(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    if (gdp_y_type(v) == GDP_Y_NULL) {
        return 0;
    }
    return resource_name(f, v, path, &((struct gdp_replicated_resource *)obj)->name);
}

static int
f_res_rename(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_rename(f, v, path, &((struct gdp_replicated_resource *)obj)->rename);
}

static int
f_res_devices(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_selector(f, v, path, &((struct gdp_replicated_resource *)obj)->devices);
}

static int
f_res_replicas(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    if (gdp_y_type(v) == GDP_Y_NULL) {
        return 0;
    }
    return parse_replicas(f, v, path, 2, &((struct gdp_replicated_resource *)obj)->replicas);
}

static int
f_res_overrides(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_replicated_resource *res = obj;
    yaml_node_item_t *items;
    size_t n;
    int r = gdp_y_seq(f, v, path, MAX_OVERRIDES, &items, &n);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < res->n_overrides; i++) {
        selector_clear(&res->overrides[i].devices);
        free(res->overrides[i].product);
        free(res->overrides[i].rename);
    }
    free(res->overrides);
    res->overrides = gdp_calloc(n, sizeof *res->overrides);
    res->n_overrides = 0;
    for (size_t i = 0; i < n; i++) {
        char child[GDP_YPATH_MAX];
        yaml_node_t *item;
        res->n_overrides = i + 1;
        r = list_item(f, items, i, path, child, &item);
        r = r < 0 ? r : parse_override(f, item, child, &res->overrides[i]);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static const struct gdp_yfield resource_fields[] = {
        {"name", f_res_name},
        {"rename", f_res_rename},
        {"devices", f_res_devices},
        {"replicas", f_res_replicas},
        {"overrides", f_res_overrides}, /* ours; NVIDIA's parser ignores it */
        {NULL, NULL},
};

static int
parse_resource(struct gdp_yfile *f, yaml_node_t *v, const char *path,
               struct gdp_replicated_resource *res)
{
    int r = gdp_y_fields(f, v, path, resource_fields, res, NULL);
    if (r < 0) {
        return r;
    }
    if (res->name == NULL) {
        return gdp_y_error(f, v, path, "missing key \"name\"");
    }
    if (res->replicas == 0) {
        return gdp_y_error(f, v, path, "missing key \"replicas\"");
    }
    return 0;
}

/* ---- sharing.timeSlicing / sharing.mps ---- */

static int
f_rename_by_default(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_replication *rep = obj;
    return gdp_y_type(v) == GDP_Y_NULL ? 0 : gdp_y_bool(f, v, path, &rep->rename_by_default);
}

static int
f_fail_requests(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_replication *rep = obj;
    return gdp_y_type(v) == GDP_Y_NULL
                   ? 0
                   : gdp_y_bool(f, v, path, &rep->fail_requests_greater_than_one);
}

static int
f_resources(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    struct gdp_replication *rep = obj;
    yaml_node_item_t *items;
    size_t n;
    int r = gdp_y_seq(f, v, path, MAX_RESOURCES, &items, &n);
    if (r == 0 && n == 0) {
        r = gdp_y_error(f, v, path, "no resources specified");
    }
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < rep->n_resources; i++) {
        resource_done(&rep->resources[i]);
    }
    free(rep->resources);
    rep->resources = gdp_calloc(n, sizeof *rep->resources);
    rep->n_resources = 0;
    for (size_t i = 0; i < n; i++) {
        char child[GDP_YPATH_MAX];
        yaml_node_t *item;
        rep->n_resources = i + 1;
        r = list_item(f, items, i, path, child, &item);
        r = r < 0 ? r : parse_resource(f, item, child, &rep->resources[i]);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static const struct gdp_yfield replication_fields[] = {
        {"renameByDefault", f_rename_by_default},
        {"failRequestsGreaterThanOne", f_fail_requests},
        {"resources", f_resources},
        {NULL, NULL},
};

static int
parse_replication(struct gdp_yfile *f, yaml_node_t *v, const char *path,
                  struct gdp_replication *rep, bool mps)
{
    unsigned seen;
    replication_done(rep);
    if (gdp_y_type(v) == GDP_Y_NULL) {
        return 0;
    }
    rep->present = true;
    rep->fail_requests_greater_than_one = mps; /* NVIDIA: MPS defaults to true */
    rep->where =
            gdp_asprintf("%s:%zu:%zu", f->name, v->start_mark.line + 1, v->start_mark.column + 1);
    int r = gdp_y_fields(f, v, path, replication_fields, rep, &seen);
    if (r == 0 && (seen & 4u) == 0) {
        r = gdp_y_error(f, v, path, "no resources specified");
    }
    for (size_t i = 0; r == 0 && i < rep->n_resources; i++) {
        struct gdp_replicated_resource *res = &rep->resources[i];
        if (rep->rename_by_default && res->rename == NULL) {
            res->rename = gdp_asprintf("%s.shared", res->name);
        }
    }
    return r;
}

int
gdp_y_time_slicing(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_replication(f, v, path, obj, false);
}

int
gdp_y_mps(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj)
{
    return parse_replication(f, v, path, obj, true);
}

static bool
replicated(const struct gdp_replication *rep)
{
    for (size_t i = 0; rep->present && i < rep->n_resources; i++) {
        if (rep->resources[i].replicas > 1) {
            return true;
        }
    }
    return false;
}

void
gdp_sharing_select(struct gdp_config *c)
{
    struct gdp_sharing *s = &c->sharing;
    s->strategy = replicated(&s->mps)            ? GDP_SHARING_MPS
                  : replicated(&s->time_slicing) ? GDP_SHARING_TIME_SLICING
                                                 : GDP_SHARING_NONE;
}

const struct gdp_replication *
gdp_sharing_replication(const struct gdp_sharing *s)
{
    return s->mps.present ? &s->mps : &s->time_slicing;
}

bool
gdp_device_selector_matches(const struct gdp_device_selector *sel, size_t pos, const char *index,
                            const char *uuid)
{
    switch (sel->kind) {
    case GDP_DEVICES_ALL:
        return true;
    case GDP_DEVICES_COUNT:
        return pos < sel->count;
    case GDP_DEVICES_LIST:
        for (size_t i = 0; i < sel->ids.n; i++) {
            if (streq_ptr(sel->ids.v[i], index) || streq_ptr(sel->ids.v[i], uuid)) {
                return true;
            }
        }
        return false;
    }
    return false;
}

void
gdp_replicated_resource_resolve(const struct gdp_replicated_resource *r, size_t pos,
                                const char *index, const char *uuid, const char *product,
                                struct gdp_replica_choice *ret)
{
    ret->replicas = r->replicas;
    ret->name = r->rename != NULL ? r->rename : r->name;
    for (size_t i = 0; i < r->n_overrides; i++) {
        const struct gdp_replica_override *o = &r->overrides[i];
        if (!gdp_device_selector_matches(&o->devices, pos, index, uuid) ||
            (o->product != NULL && (product == NULL || !pattern_match(o->product, product)))) {
            continue;
        }
        ret->replicas = o->replicas != 0 ? o->replicas : r->replicas;
        if (o->rename != NULL) {
            ret->name = o->rename;
        } else if (ret->replicas == 1) {
            ret->name = r->name;
        }
        return;
    }
}
