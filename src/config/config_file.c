/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The v1 config file (NVIDIA's api/config/v1 schema, YAML or JSON): reading it with a size
 * limit, parsing it with libyaml's document API, and walking it against the schema. Keys that
 * are also flags come from the option table (options.h), so a value is validated by the same
 * setter whether it came from a flag, the environment or the file; the file-only scalar
 * settings (GFD's) are in gdp_fkeys below; resources and sharing are in config_sharing.c.
 * A setting set explicitly by a flag or environment variable keeps that value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config/config.h"
#include "config/options.h"
#include "config/yfile.h"
#include "core/diag.h"
#include "core/util.h"

/* Nodes a walk may visit: far above any real file, low enough to stop alias bombs. */
#define NODE_BUDGET (1u << 18)
/* Items accepted in a list-valued flag (deviceListStrategy, channelIDs). */
#define MAX_LIST   64

#define NS_PER_SEC INT64_C(1000000000)

static gdp_yfield_fn parse_version;

#define FK(k, t, field) .key = (k), .type = GDP_FKEY_##t, .off = offsetof(struct gdp_config, field)

/* Sections and the settings that exist only in the file; flag settings are in gdp_opts[]. */
const struct gdp_fkey gdp_fkeys[] = {
        {.key = "version", .type = GDP_FKEY_CUSTOM, .fn = parse_version},
        {.key = "flags", .type = GDP_FKEY_SECTION},
        {.key = "flags.plugin", .type = GDP_FKEY_SECTION},
        {.key = "flags.gfd", .type = GDP_FKEY_SECTION},
        {FK("flags.useNodeFeatureAPI", OPTBOOL, gfd.use_node_feature_api),
         .flag = "use-node-feature-api"},
        {FK("flags.gfd.oneshot", BOOL, gfd.oneshot), .flag = "oneshot"},
        {FK("flags.gfd.noTimestamp", BOOL, gfd.no_timestamp), .flag = "no-timestamp"},
        {FK("flags.gfd.sleepInterval", DURATION, gfd.sleep_interval_ns), .flag = "sleep-interval"},
        {FK("flags.gfd.outputFile", STRING, gfd.output_file), .flag = "output-file"},
        {FK("flags.gfd.machineTypeFile", STRING, gfd.machine_type_file),
         .flag = "machine-type-file"},
        {.key = "resources", .type = GDP_FKEY_SECTION},
        {FK("resources.gpus", CUSTOM, resource_gpus), .fn = gdp_y_resource_patterns},
        {FK("resources.mig", CUSTOM, resource_mig), .fn = gdp_y_resource_patterns},
        {.key = "sharing", .type = GDP_FKEY_SECTION},
        {FK("sharing.timeSlicing", CUSTOM, sharing.time_slicing), .fn = gdp_y_time_slicing},
        {FK("sharing.mps", CUSTOM, sharing.mps), .fn = gdp_y_mps},
        {.key = "imex", .type = GDP_FKEY_SECTION},
};

const size_t gdp_n_fkeys = ELEMENTSOF(gdp_fkeys);

void
gdp_file_defaults(struct gdp_config *c)
{
    /* the other flags.gfd defaults come from their flags' entries in gdp_opts[] */
    c->gfd.use_node_feature_api = -1;
}

void
gdp_file_done(struct gdp_config *c)
{
    free(c->gfd.output_file);
    c->gfd.output_file = NULL;
    free(c->gfd.machine_type_file);
    c->gfd.machine_type_file = NULL;
    gdp_sharing_done(c);
    gdp_strv_clear(&c->warnings);
}

static void *
field_of(struct gdp_config *c, size_t off)
{
    return (char *)c + off;
}

static int
parse_version(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj _unused_)
{
    const char *s;
    if (gdp_y_type(v) == GDP_Y_NULL) {
        return 0;
    }
    int r = gdp_y_string(f, v, path, true, &s);
    if (r == 0 && !streq(s, "v1")) {
        return gdp_y_error(f, v, path, "unknown version \"%.64s\": expected v1", s);
    }
    return r;
}

/* ---- durations: Go's time.ParseDuration syntax ---- */

static const struct {
    const char *name;
    int64_t ns;
} duration_units[] = {
        {"h", 3600 * NS_PER_SEC},
        {"m", 60 * NS_PER_SEC},
        {"s", NS_PER_SEC},
        {"ms", 1000000},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 */
        {"\xce\xbcs", 1000},
        {"ns", 1}, /* U+03BC */
};

static int64_t
unit_ns(const char *s, size_t len)
{
    for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
        if (strlen(duration_units[i].name) == len && strncmp(duration_units[i].name, s, len) == 0) {
            return duration_units[i].ns;
        }
    }
    return 0;
}

/* One "<number><unit>" element at *s; adds its nanoseconds to *total. */
static int
duration_element(const char **s, uint64_t *total)
{
    const char *p = *s;
    uint64_t whole = 0;
    double frac = 0, scale = 1;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (__builtin_mul_overflow(whole, 10, &whole) ||
            __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole)) {
            return -ERANGE;
        }
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            frac = frac * 10 + (*p - '0');
            scale *= 10;
        }
    }
    size_t ulen = strcspn(p, "0123456789.");
    int64_t unit = unit_ns(p, ulen);
    if (digits == 0 || unit == 0) {
        return -EINVAL;
    }
    uint64_t v;
    if (__builtin_mul_overflow(whole, (uint64_t)unit, &v) ||
        __builtin_add_overflow(v, (uint64_t)(frac / scale * (double)unit), &v) ||
        __builtin_add_overflow(*total, v, total) || *total > (uint64_t)INT64_MAX) {
        return -ERANGE;
    }
    *s = p + ulen;
    return 0;
}

/* Go's time.ParseDuration, without negative values. */
static int
parse_duration(const char *s, int64_t *ret)
{
    if (streq(s, "infinite")) {
        *ret = GDP_DURATION_INFINITE;
        return 0;
    }
    uint64_t total = 0;
    s += *s == '+' ? 1 : 0;
    if (streq(s, "0")) {
        *ret = 0;
        return 0;
    }
    if (*s == '\0') {
        return -EINVAL;
    }
    while (*s != '\0') {
        int r = duration_element(&s, &total);
        if (r < 0) {
            return r;
        }
    }
    *ret = (int64_t)total;
    return 0;
}

int
gdp_duration_parse(const char *s, int64_t *ret)
{
    return parse_duration(s, ret);
}

void
gdp_duration_format(int64_t ns, char *buf, size_t size)
{
    if (ns == GDP_DURATION_INFINITE) {
        (void)snprintf(buf, size, "infinite");
        return;
    }

    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"h", 3600 * NS_PER_SEC}, {"m", 60 * NS_PER_SEC}, {"s", NS_PER_SEC},
                 {"ms", 1000000},          {"us", 1000},           {"ns", 1}};

    size_t i = 0;
    while (ns != 0 && ns % units[i].ns != 0) {
        i++; /* ends at "ns" at the latest */
    }
    if (ns == 0) {
        i = 2; /* "0s" */
    }
    (void)snprintf(buf, size, "%lld%s", (long long)(ns / units[i].ns), units[i].name);
}

static int
parse_duration_node(struct gdp_yfile *f, yaml_node_t *v, const char *path, int64_t *ret)
{
    long long n;
    const char *s;
    if (gdp_y_type(v) == GDP_Y_INT) {
        int r = gdp_y_int(f, v, path, &n);
        if (r == 0 && n < 0) {
            return gdp_y_error(f, v, path, "invalid duration %lld: must not be negative", n);
        }
        *ret = (int64_t)n;
        return r;
    }
    int r = gdp_y_string(f, v, path, false, &s);
    if (r < 0) {
        return r;
    }
    if (streq(s, "infinite")) {
        *ret = GDP_DURATION_INFINITE;
        return 0;
    }
    if (parse_duration(s, ret) < 0) {
        return gdp_y_error(f, v, path,
                           "invalid duration \"%.64s\": expected a duration such as \"60s\" or "
                           "\"1m30s\", a number of nanoseconds, or \"infinite\"",
                           s);
    }
    return 0;
}

/* ---- settings that are also flags ---- */

/* Appends item to a comma list being built in *buf. */
static void
join(char **buf, const char *item)
{
    char *old = *buf;
    *buf = old == NULL ? gdp_strdup(item) : gdp_asprintf("%s,%s", old, item);
    free(old);
}

/* A list value (or, for sets, a single string) as the comma list the flag setter reads. */
static int
list_text(struct gdp_yfile *f, const struct gdp_opt *o, yaml_node_t *v, const char *path,
          char **ret)
{
    yaml_node_item_t *items;
    size_t n;
    bool numbers = o->type == GDP_OPT_UINT_LIST;
    int r = gdp_y_seq(f, v, path, MAX_LIST, &items, &n);
    if (r < 0) {
        return r;
    }
    if (n == 0 && !numbers) {
        return gdp_y_error(f, v, path, "expected at least one value");
    }
    _cleanup_free_ char *text = NULL;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item;
        const char *s;
        char child[GDP_YPATH_MAX];
        gdp_y_path_index(child, sizeof child, path, i);
        r = gdp_y_node(f, items[i], child, &item);
        if (r == 0 && numbers && gdp_y_type(item) != GDP_Y_INT) {
            r = gdp_y_error(f, item, child, "expected an integer");
        }
        r = r < 0 ? r : gdp_y_string(f, item, child, numbers, &s);
        if (r < 0) {
            return r;
        }
        join(&text, s);
    }
    *ret = text != NULL ? TAKE_PTR(text) : gdp_strdup("");
    return 0;
}

/* The value of v as the text a flag would carry, after checking its YAML type. */
static int
opt_text(struct gdp_yfile *f, const struct gdp_opt *o, yaml_node_t *v, const char *path, char **ret)
{
    const char *s;
    bool b;
    int r;
    switch (o->type) {
    case GDP_OPT_BOOL:
        b = false;
        r = gdp_y_bool(f, v, path, &b);
        s = b ? "true" : "false";
        break;
    case GDP_OPT_SET:
        if (gdp_y_type(v) == GDP_Y_SEQ) {
            return list_text(f, o, v, path, ret);
        }
        r = gdp_y_string(f, v, path, false, &s);
        break;
    case GDP_OPT_UINT_LIST:
        return list_text(f, o, v, path, ret);
    case GDP_OPT_STRING:
    case GDP_OPT_ENUM:
        r = gdp_y_string(f, v, path, false, &s);
        break;
    default:
        return gdp_y_error(f, v, path, "cannot be set in the config file");
    }
    if (r == 0) {
        *ret = gdp_strdup(s);
    }
    return r;
}

static int
apply_opt(struct gdp_yfile *f, size_t idx, yaml_node_t *v, const char *path)
{
    const struct gdp_opt *o = &gdp_opts[idx];
    _cleanup_free_ char *text = NULL;
    if (gdp_y_type(v) == GDP_Y_NULL) {
        return 0; /* as Go's nil pointer: the default (or the flag) stays */
    }
    int r = opt_text(f, o, v, path, &text);
    if (r < 0) {
        return r;
    }
    /*
     * An explicit flag or env var wins. As in NVIDIA's plugin, the file's value then only has
     * to have the right YAML type (checked above): its value is never validated, because
     * validation applies to the final value.
     */
    if ((f->c->set_mask & gdp_opt_bit(idx)) != 0) {
        return 0;
    }
    r = gdp_opt_set(f->c, o, text, false, NULL, f->diag);
    if (r < 0) {
        return gdp_diag_prefix(f->diag, r, "%s:%zu:%zu: %s", f->name, v->start_mark.line + 1,
                               v->start_mark.column + 1, path);
    }
    return 0;
}

/* ---- the path-driven walk over flags, gfd, imex and the sections ---- */

static int walk_section(struct gdp_yfile *f, yaml_node_t *n, const char *path);

static int
apply_fkey(struct gdp_yfile *f, const struct gdp_fkey *k, yaml_node_t *v, const char *path)
{
    /* An explicit flag or env var wins, but the file's value must still be valid. */
    _cleanup_(gdp_config_done) struct gdp_config scratch = {0};
    bool overridden = k->flag != NULL && gdp_config_is_set(f->c, k->flag);
    void *field = field_of(overridden ? &scratch : f->c, k->off);
    bool b;
    const char *s;
    int r = 0;
    if (k->type == GDP_FKEY_SECTION) {
        return walk_section(f, v, path);
    }
    if (k->type == GDP_FKEY_CUSTOM) {
        return k->fn(f, v, path, field);
    }
    if (gdp_y_type(v) == GDP_Y_NULL) {
        if (k->type == GDP_FKEY_OPTBOOL) {
            *(int *)field = -1;
        }
        return 0;
    }
    switch (k->type) {
    case GDP_FKEY_BOOL:
    case GDP_FKEY_OPTBOOL:
        r = gdp_y_bool(f, v, path, &b);
        if (r == 0 && k->type == GDP_FKEY_BOOL) {
            *(bool *)field = b;
        } else if (r == 0) {
            *(int *)field = b ? 1 : 0;
        }
        return r;
    case GDP_FKEY_STRING:
        r = gdp_y_string(f, v, path, false, &s);
        if (r == 0) {
            free(*(char **)field);
            *(char **)field = gdp_strdup(s);
        }
        return r;
    default:
        return parse_duration_node(f, v, path, field);
    }
}

/* The table entry for a full key path: an option index (*ret_opt) or an fkey (*ret_fkey). */
static bool
find_key(const char *path, size_t *ret_opt, const struct gdp_fkey **ret_fkey)
{
    *ret_fkey = NULL;
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if (gdp_opts[i].key != NULL && streq(gdp_opts[i].key, path)) {
            *ret_opt = i;
            return true;
        }
    }
    for (size_t i = 0; i < gdp_n_fkeys; i++) {
        if (streq(gdp_fkeys[i].key, path)) {
            *ret_fkey = &gdp_fkeys[i];
            return true;
        }
    }
    return false;
}

/* Appends key's last part to buf when key is a direct child of parent. */
static void
add_child(const char *parent, const char *key, char *buf, size_t size)
{
    size_t plen = strlen(parent);
    if (plen > 0 && (strncmp(key, parent, plen) != 0 || key[plen] != '.')) {
        return;
    }
    const char *rest = plen > 0 ? key + plen + 1 : key;
    if (strchr(rest, '.') != NULL) {
        return;
    }
    size_t len = strlen(buf);
    (void)snprintf(buf + len, size - len, "%s%s", len > 0 ? ", " : "", rest);
}

static void
children_of(const char *parent, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if (gdp_opts[i].key != NULL) {
            add_child(parent, gdp_opts[i].key, buf, size);
        }
    }
    for (size_t i = 0; i < gdp_n_fkeys; i++) {
        add_child(parent, gdp_fkeys[i].key, buf, size);
    }
}

/* Keys already seen in one mapping, to report duplicates (a section has fewer than 32). */
struct seen_keys {
    const void *v[32];
    size_t n;
};

static int
check_duplicate(struct gdp_yfile *f, struct seen_keys *seen, const void *entry,
                const yaml_node_t *k, const char *path)
{
    for (size_t i = 0; i < seen->n; i++) {
        if (seen->v[i] == entry) {
            return gdp_y_issue(f, k, path, true, NULL);
        }
    }
    if (seen->n < ELEMENTSOF(seen->v)) {
        seen->v[seen->n++] = entry;
    }
    return 0;
}

static int
section_pair(struct gdp_yfile *f, const yaml_node_pair_t *pair, const char *path,
             struct seen_keys *seen)
{
    yaml_node_t *k, *v;
    const char *name;
    char child[GDP_YPATH_MAX];
    size_t opt = 0;
    const struct gdp_fkey *fkey;
    int r = gdp_y_pair(f, pair, path, &k, &v, &name);
    if (r < 0) {
        return r;
    }
    gdp_y_path(child, sizeof child, path, name);
    if (!find_key(child, &opt, &fkey)) {
        char expected[512];
        children_of(path, expected, sizeof expected);
        return gdp_y_issue(f, k, child, false, expected);
    }
    r = check_duplicate(f, seen, fkey != NULL ? (const void *)fkey : &gdp_opts[opt], k, child);
    if (r < 0) {
        return r;
    }
    return fkey != NULL ? apply_fkey(f, fkey, v, child) : apply_opt(f, opt, v, child);
}

static int
walk_section(struct gdp_yfile *f, yaml_node_t *n, const char *path)
{
    struct seen_keys seen = {.n = 0};
    int r = gdp_y_expect_map(f, n, path);
    if (r <= 0) {
        return r;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        r = section_pair(f, p, path, &seen);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* ---- loading ---- */

static void
parser_deletep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static void
document_deletep(yaml_document_t *d)
{
    yaml_document_delete(d);
}

int
gdp_config_load_buffer(struct gdp_config *c, const char *name, const char *buf, size_t len,
                       struct gdp_diag *diag)
{
    if (len > GDP_CONFIG_FILE_MAX) {
        return gdp_diag_set(diag, -EFBIG, "%s: config file is larger than %zu bytes", name,
                            GDP_CONFIG_FILE_MAX);
    }
    _cleanup_(parser_deletep) yaml_parser_t parser;
    _cleanup_(document_deletep) yaml_document_t doc;
    memset(&doc, 0, sizeof doc);
    if (!yaml_parser_initialize(&parser)) {
        gdp_oom();
    }
    int r = gdp_y_check_limits(name, buf, len, diag);
    if (r < 0) {
        return r;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        return gdp_y_syntax_error(&parser, name, buf, len, diag);
    }
    struct gdp_yfile f = {.name = name, .doc = &doc, .c = c, .budget = NODE_BUDGET, .diag = diag};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && gdp_y_type(root) != GDP_Y_MAP && gdp_y_type(root) != GDP_Y_NULL) {
        return gdp_y_error(&f, root, "", "expected a mapping (a v1 config file) at the top level");
    }
    r = root != NULL ? walk_section(&f, root, "") : 0;
    if (r == 0) {
        gdp_sharing_select(c);
    }
    return r;
}

/* Reads at most GDP_CONFIG_FILE_MAX + 1 bytes without blocking on FIFOs or terminals. */
static int
read_bounded(int fd, const char *path, char **ret_buf, size_t *ret_len, struct gdp_diag *diag)
{
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = gdp_malloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > GDP_CONFIG_FILE_MAX) {
                break;
            }
            cap = cap * 2 > GDP_CONFIG_FILE_MAX + 1 ? GDP_CONFIG_FILE_MAX + 1 : cap * 2;
            buf = gdp_reallocarray(buf, cap, 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int r = -errno;
            return gdp_diag_set(diag, r, "cannot read config file %s: %s", path, gdp_strerror(r));
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    *ret_buf = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

int
gdp_config_load_file(struct gdp_config *c, const char *path, struct gdp_diag *diag)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int r = -errno;
        return gdp_diag_set(diag, r, "cannot open config file %s: %s", path, gdp_strerror(r));
    }
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && S_ISDIR(st.st_mode)) {
        r = -EISDIR;
    }
    if (r < 0) {
        return gdp_diag_set(diag, r, "cannot read config file %s: %s", path, gdp_strerror(r));
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > GDP_CONFIG_FILE_MAX) {
        return gdp_diag_set(diag, -EFBIG, "%s: config file is larger than %zu bytes", path,
                            GDP_CONFIG_FILE_MAX);
    }
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    r = read_bounded(fd, path, &buf, &len, diag);
    return r < 0 ? r : gdp_config_load_buffer(c, path, buf, len, diag);
}
