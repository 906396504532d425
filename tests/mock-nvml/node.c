/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node description file: loading (MOCK_NVML_NODE or the embedded default), the generic
 * descriptor-table mapping parser and scalar readers, and the top-level keys (versions,
 * init_error, gpus, topology, fail). Problems are reported as one
 * "mock-nvml: <file>:<line>:<column>: <text>" line.
 */
#include "node.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
node_err(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (c->failed) {
        return -1;
    }
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    (void)snprintf(c->msg, sizeof c->msg, "%s:%zu:%zu: %s", c->file,
                   n != NULL ? n->start_mark.line + 1 : 1, n != NULL ? n->start_mark.column + 1 : 1,
                   text);
    c->failed = true;
    return -1;
}

yaml_node_t *
node_get(struct pctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

const char *
node_scalar(struct pctx *c, yaml_node_t *v, const char *what)
{
    if (v->type != YAML_SCALAR_NODE) {
        (void)node_err(c, v, "%s must be a single value", what);
        return NULL;
    }
    return (const char *)v->data.scalar.value;
}

yaml_node_item_t *
node_items(struct pctx *c, yaml_node_t *v, const char *what, size_t *ret_n)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        (void)node_err(c, v, "%s must be a list", what);
        return NULL;
    }
    *ret_n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    return v->data.sequence.items.start;
}

int
node_uint(struct pctx *c, yaml_node_t *v, unsigned long long max, const char *what,
          unsigned long long *ret)
{
    const char *s = node_scalar(c, v, what);
    bool hex;
    char *end;

    if (s == NULL) {
        return -1;
    }
    hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (!isdigit((unsigned char)s[0])) {
        return node_err(c, v, "%s: '%s' is not an unsigned number", what, s);
    }
    errno = 0;
    *ret = strtoull(s, &end, hex ? 16 : 10);
    if (errno != 0 || *end != '\0') {
        return node_err(c, v, "%s: '%s' is not an unsigned number", what, s);
    }
    if (*ret > max) {
        return node_err(c, v, "%s: %llu is out of range (at most %llu)", what, *ret, max);
    }
    return 0;
}

int
node_enum(struct pctx *c, yaml_node_t *v, const struct mock_name *names, const char *what,
          unsigned long long *ret)
{
    const char *s = node_scalar(c, v, what);
    char known[256] = "";
    size_t len = 0;

    if (s == NULL) {
        return -1;
    }
    if (mock_name_lookup(names, s, ret)) {
        return 0;
    }
    for (const struct mock_name *n = names; n->name != NULL && len < sizeof known; n++) {
        len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "", n->name);
    }
    return node_err(c, v, "%s: unknown value '%s' (one of: %s)", what, s, known);
}

void
node_store(void *p, size_t size, unsigned long long value)
{
    if (size == sizeof(unsigned char)) {
        *(unsigned char *)p = (unsigned char)value;
    } else if (size == sizeof(unsigned int)) {
        *(unsigned int *)p = (unsigned int)value;
    } else {
        *(unsigned long long *)p = value;
    }
}

static const struct mock_name bool_names[] = {
        {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1}, {"off", 0}, {NULL, 0},
};

static int
parse_field(struct pctx *c, const struct field *f, yaml_node_t *v, void *obj)
{
    char *p = (char *)obj + f->off;
    unsigned long long u;
    const char *s;

    switch (f->type) {
    case F_STR:
        s = node_scalar(c, v, f->key);
        if (s != NULL && strlen(s) >= f->size) {
            return node_err(c, v, "%s: longer than %zu characters", f->key, f->size - 1);
        }
        return s == NULL ? -1 : (memcpy(p, s, strlen(s) + 1), 0);
    case F_UINT:
        return node_uint(c, v, f->max, f->key, &u) < 0 ? -1 : (node_store(p, f->size, u), 0);
    case F_BOOL:
        return node_enum(c, v, bool_names, f->key, &u) < 0 ? -1 : (*(bool *)p = u != 0, 0);
    case F_ENUM:
        return node_enum(c, v, f->names, f->key, &u) < 0 ? -1 : (node_store(p, f->size, u), 0);
    case F_FN:
        return f->fn(c, v, obj);
    }
    return -1;
}

int
node_fields(struct pctx *c, yaml_node_t *map, const struct field *f, size_t n, void *obj,
            const char *what)
{
    unsigned long long seen = 0;

    if (map->type != YAML_MAPPING_NODE) {
        return node_err(c, map, "%s must be a mapping of keys to values", what);
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_get(c, p->key);
        const char *key = node_scalar(c, k, "a key");
        size_t i = 0;

        while (key != NULL && i < n && strcmp(f[i].key, key) != 0) {
            i++;
        }
        if (key == NULL) {
            return -1;
        }
        if (i == n) {
            return node_err(c, k, "unknown key '%s' in %s", key, what);
        }
        if (seen & (1ULL << i)) {
            return node_err(c, k, "duplicate key '%s' in %s", key, what);
        }
        seen |= 1ULL << i;
        if (parse_field(c, &f[i], node_get(c, p->value), obj) < 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (f[i].required && !(seen & (1ULL << i))) {
            return node_err(c, map, "%s: missing required key '%s'", what, f[i].key);
        }
    }
    return 0;
}

int
node_uuid(struct pctx *c, yaml_node_t *v, const char *prefix, char *dst)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    const char *s = node_scalar(c, v, "uuid");
    size_t pl = strlen(prefix);
    bool ok;

    if (s == NULL) {
        return -1;
    }
    ok = strncmp(s, prefix, pl) == 0 && strlen(s) == pl + sizeof shape - 1;
    for (size_t i = 0; ok && i < sizeof shape - 1; i++) {
        char ch = s[pl + i];
        ok = shape[i] == '-' ? ch == '-' : (isdigit((unsigned char)ch) || (ch >= 'a' && ch <= 'f'));
    }
    if (!ok) {
        return node_err(c, v, "malformed UUID '%s' (want %s%s, lower-case hex)", s, prefix, shape);
    }
    for (unsigned int i = 0; i < c->node->n_devs; i++) {
        if (strcmp(c->node->devs[i].uuid, s) == 0) {
            return node_err(c, v, "duplicate UUID '%s'", s);
        }
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int
top_ignore(struct pctx *c, yaml_node_t *v, void *obj)
{
    (void)obj;
    return node_scalar(c, v, "description") != NULL ? 0 : -1;
}

static int
top_init_error(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct mock_node *n = obj;
    const char *s = node_scalar(c, v, "init_error");

    if (s != NULL && !mock_return_parse(s, &n->init_error)) {
        return node_err(c, v, "init_error: unknown NVML return code '%s'", s);
    }
    return s == NULL ? -1 : 0;
}

static int
top_gpus(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct mock_node *n = obj;
    size_t count;
    yaml_node_item_t *items = node_items(c, v, "gpus", &count);

    if (items == NULL) {
        return -1;
    }
    if (count > MOCK_MAX_GPUS) {
        return node_err(c, v, "gpus: at most %u GPUs are supported", MOCK_MAX_GPUS);
    }
    n->n_gpus = (unsigned int)count;
    n->n_devs = n->n_gpus;
    for (size_t i = 0; i < count; i++) {
        if (node_gpu(c, node_get(c, items[i]), (unsigned int)i) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
top_topology(struct pctx *c, yaml_node_t *v, void *obj)
{
    (void)obj;
    c->topology = v; /* needs every GPU: resolved after the other keys */
    return 0;
}

static int
top_fail(struct pctx *c, yaml_node_t *v, void *obj)
{
    (void)obj;
    c->fail = v; /* may name GPUs: resolved after the other keys */
    return 0;
}

static const struct field top_fields[] = {
        F_FN_("description", top_ignore),
        F_STR_("driver_version", struct mock_node, driver_version),
        F_STR_("nvml_version", struct mock_node, nvml_version),
        F_UINT_("cuda_driver_version", struct mock_node, cuda_driver_version, 999999),
        F_FN_("init_error", top_init_error),
        F_FN_("gpus", top_gpus),
        F_FN_("topology", top_topology),
        F_FN_("fail", top_fail),
};

static const struct mock_name level_names[] = {
        {"x", NVML_TOPOLOGY_INTERNAL},
        {"internal", NVML_TOPOLOGY_INTERNAL},
        {"single", NVML_TOPOLOGY_SINGLE},
        {"pix", NVML_TOPOLOGY_SINGLE},
        {"multiple", NVML_TOPOLOGY_MULTIPLE},
        {"pxb", NVML_TOPOLOGY_MULTIPLE},
        {"hostbridge", NVML_TOPOLOGY_HOSTBRIDGE},
        {"phb", NVML_TOPOLOGY_HOSTBRIDGE},
        {"node", NVML_TOPOLOGY_NODE},
        {"system", NVML_TOPOLOGY_SYSTEM},
        {"sys", NVML_TOPOLOGY_SYSTEM},
        {NULL, 0},
};

static int
parse_topology(struct pctx *c, yaml_node_t *v)
{
    struct mock_node *n = c->node;
    size_t rows, cols;
    yaml_node_item_t *row = node_items(c, v, "topology", &rows);
    unsigned long long level;

    if (row == NULL || rows != n->n_gpus) {
        return row == NULL ? -1 : node_err(c, v, "topology: want %u rows, one per GPU", n->n_gpus);
    }
    for (size_t i = 0; i < rows; i++) {
        yaml_node_t *r = node_get(c, row[i]);
        yaml_node_item_t *cell = node_items(c, r, "a topology row", &cols);
        if (cell == NULL || cols != n->n_gpus) {
            return cell == NULL ? -1 : node_err(c, r, "topology: want %u columns", n->n_gpus);
        }
        for (size_t j = 0; j < cols; j++) {
            if (node_enum(c, node_get(c, cell[j]), level_names, "topology level", &level) < 0) {
                return -1;
            }
            n->topology[i][j] = (nvmlGpuTopologyLevel_t)level;
            if (j < i && n->topology[j][i] != n->topology[i][j]) {
                return node_err(c, node_get(c, cell[j]), "topology: not symmetric");
            }
        }
    }
    n->has_topology = true;
    return 0;
}

struct fail_spec {
    char function[80];
    char code[64];
    char mode[16];
    char uuid[MOCK_STR_LEN];
};

static const struct field fail_fields[] = {
        {.key = "function",
         .type = F_STR,
         .off = offsetof(struct fail_spec, function),
         .size = FIELD_SIZE_(struct fail_spec, function),
         .required = true},
        {.key = "code",
         .type = F_STR,
         .off = offsetof(struct fail_spec, code),
         .size = FIELD_SIZE_(struct fail_spec, code),
         .required = true},
        F_STR_("mode", struct fail_spec, mode),
        F_STR_("uuid", struct fail_spec, uuid),
};

static int
parse_fail_rule(struct pctx *c, yaml_node_t *v, struct mock_fail_rule *rule)
{
    struct fail_spec s = {.mode = "always"};
    int fn;

    if (node_fields(c, v, fail_fields, MOCK_ELEMENTSOF(fail_fields), &s, "a fail rule") < 0) {
        return -1;
    }
    fn = mock_fn_lookup(s.function);
    if (fn < 0 || fn == MOCK_FN_nvmlErrorString) {
        return node_err(c, v, "fail: unknown or unfailable NVML function '%s'", s.function);
    }
    rule->fn = (enum mock_fn)fn;
    if (!mock_return_parse(s.code, &rule->code) || rule->code == NVML_SUCCESS) {
        return node_err(c, v, "fail: unknown NVML return code '%s'", s.code);
    }
    if (strcmp(s.mode, "once") != 0 && strcmp(s.mode, "always") != 0) {
        return node_err(c, v, "fail: mode must be 'once' or 'always', not '%s'", s.mode);
    }
    rule->once = strcmp(s.mode, "once") == 0;
    rule->target = NULL;
    for (unsigned int i = 0; s.uuid[0] != '\0' && i < c->node->n_devs; i++) {
        if (strcmp(c->node->devs[i].uuid, s.uuid) == 0) {
            rule->target = &c->node->devs[i];
        }
    }
    if (s.uuid[0] != '\0' && rule->target == NULL) {
        return node_err(c, v, "fail: no GPU or MIG device has UUID '%s'", s.uuid);
    }
    return 0;
}

static int
parse_fail(struct pctx *c, yaml_node_t *v)
{
    struct mock_node *n = c->node;
    size_t count;
    yaml_node_item_t *items = node_items(c, v, "fail", &count);

    if (items == NULL) {
        return -1;
    }
    if (count > MOCK_ELEMENTSOF(n->fail)) {
        return node_err(c, v, "fail: at most %zu rules", MOCK_ELEMENTSOF(n->fail));
    }
    for (size_t i = 0; i < count; i++) {
        if (parse_fail_rule(c, node_get(c, items[i]), &n->fail[n->n_fail++]) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
parse_doc(struct pctx *c)
{
    struct mock_node *n = c->node;
    yaml_node_t *root = yaml_document_get_root_node(c->doc);

    if (root == NULL) {
        return node_err(c, NULL, "the node file is empty");
    }
    (void)snprintf(n->driver_version, sizeof n->driver_version, "550.54.15");
    n->cuda_driver_version = 12040;
    if (node_fields(c, root, top_fields, MOCK_ELEMENTSOF(top_fields), n, "the node file") < 0) {
        return -1;
    }
    if (n->nvml_version[0] == '\0' && snprintf(n->nvml_version, sizeof n->nvml_version, "12.%s",
                                               n->driver_version) >= (int)sizeof n->nvml_version) {
        return node_err(c, root, "driver_version is too long");
    }
    for (unsigned int i = 0; i < n->n_gpus; i++) {
        if (node_gpu_links(c, i) < 0) {
            return -1;
        }
    }
    if (c->topology != NULL && parse_topology(c, c->topology) < 0) {
        return -1;
    }
    return c->fail != NULL ? parse_fail(c, c->fail) : 0;
}

static nvmlReturn_t
load_parsed(yaml_parser_t *parser, const char *file, struct mock_node **ret)
{
    yaml_document_t doc;
    struct pctx c = {.doc = &doc, .file = file};

    if (!yaml_parser_load(parser, &doc)) {
        mock_log("%s:%zu:%zu: %s%s%s", file, parser->problem_mark.line + 1,
                 parser->problem_mark.column + 1, parser->problem ? parser->problem : "bad YAML",
                 parser->context ? " " : "", parser->context ? parser->context : "");
        return NVML_ERROR_UNKNOWN;
    }
    c.node = calloc(1, sizeof *c.node);
    if (c.node == NULL) {
        yaml_document_delete(&doc);
        mock_log("%s:1:1: out of memory", file);
        return NVML_ERROR_MEMORY;
    }
    if (parse_doc(&c) < 0) {
        mock_log("%s", c.msg);
        free(c.node);
        c.node = NULL;
    }
    yaml_document_delete(&doc);
    *ret = c.node;
    return c.node != NULL ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

nvmlReturn_t
mock_node_load(struct mock_node **ret)
{
    const char *path = getenv("MOCK_NVML_NODE");
    yaml_parser_t parser;
    FILE *f = NULL;
    nvmlReturn_t r;

    if (path != NULL && *path != '\0') {
        f = fopen(path, "rb");
        if (f == NULL) {
            mock_log("%s:0:0: cannot open the node file: %s", path, strerror(errno));
            return NVML_ERROR_OPERATING_SYSTEM;
        }
    }
    if (!yaml_parser_initialize(&parser)) {
        if (f != NULL) {
            (void)fclose(f);
        }
        return NVML_ERROR_MEMORY;
    }
    if (f != NULL) {
        yaml_parser_set_input_file(&parser, f);
    } else {
        yaml_parser_set_input_string(&parser, mock_default_node, mock_default_node_len);
    }
    r = load_parsed(&parser, f != NULL ? path : "<built-in dgx-a100.yaml>", ret);
    yaml_parser_delete(&parser);
    if (f != NULL) {
        (void)fclose(f);
    }
    return r;
}
