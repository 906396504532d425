/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walking a libyaml document against the config-file schema: positioned messages, warnings,
 * YAML core-schema scalar resolution (as Kubernetes' YAML-to-JSON conversion sees it: plain
 * scalars may be null, booleans or numbers, quoted ones are strings), typed scalar readers and
 * the mapping walker that reports unknown and duplicate keys.
 */
#include "config/yfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/options.h"
#include "core/diag.h"

/* Warnings kept per file; one more line says that some were left out. */
#define MAX_WARNINGS 64
/* The longest value quoted back in messages. */
#define QUOTE_MAX 64

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
/* YAML 1.2 core booleans and YAML 1.1's, which Kubernetes' converter also accepts. */
static const char *const true_words[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                         "y",    "Y",    "on",   "On",  "ON",  NULL};
static const char *const false_words[] = {"false", "False", "FALSE", "no",  "No",  "NO",
                                          "n",     "N",     "off",   "Off", "OFF", NULL};
static const char *const float_words[] = {".inf",  ".Inf",  ".INF",  "-.inf", "-.Inf",
                                          "-.INF", "+.inf", "+.Inf", "+.INF", ".nan",
                                          ".NaN",  ".NAN",  NULL};

static bool
in_list(const char *const *words, const char *s)
{
    for (size_t i = 0; words[i] != NULL; i++) {
        if (streq(words[i], s)) {
            return true;
        }
    }
    return false;
}

static size_t
span_digits(const char *s)
{
    return strspn(s, "0123456789");
}

static bool
is_int(const char *s)
{
    s += (*s == '-' || *s == '+') ? 1 : 0;
    size_t n = span_digits(s);
    return n > 0 && s[n] == '\0';
}

static bool
is_float(const char *s)
{
    if (in_list(float_words, s)) {
        return true;
    }
    s += (*s == '-' || *s == '+') ? 1 : 0;
    size_t whole = span_digits(s), frac = 0;
    s += whole;
    if (*s == '.') {
        frac = span_digits(s + 1);
        s += 1 + frac;
    }
    if (whole + frac == 0) {
        return false;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        s += (*s == '-' || *s == '+') ? 1 : 0;
        size_t exp = span_digits(s);
        s += exp;
        if (exp == 0) {
            return false;
        }
    }
    return *s == '\0';
}

enum gdp_ytype
gdp_y_type(const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        return GDP_Y_SEQ;
    }
    if (n->type == YAML_MAPPING_NODE) {
        return GDP_Y_MAP;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return GDP_Y_STR;
    }
    if (in_list(null_words, s)) {
        return GDP_Y_NULL;
    }
    if (in_list(true_words, s) || in_list(false_words, s)) {
        return GDP_Y_BOOL;
    }
    if (is_int(s)) {
        return GDP_Y_INT;
    }
    return is_float(s) ? GDP_Y_FLOAT : GDP_Y_STR;
}

/* "a boolean (yes)", "a list", ... for "expected X, got Y" messages. */
static void
describe(const yaml_node_t *n, char *buf, size_t size)
{
    static const char *const names[] = {
            [GDP_Y_NULL] = "null",      [GDP_Y_BOOL] = "a boolean", [GDP_Y_INT] = "a number",
            [GDP_Y_FLOAT] = "a number", [GDP_Y_STR] = "a string",   [GDP_Y_SEQ] = "a list",
            [GDP_Y_MAP] = "a mapping",
    };
    enum gdp_ytype t = gdp_y_type(n);
    if (t == GDP_Y_SEQ || t == GDP_Y_MAP || t == GDP_Y_NULL) {
        (void)snprintf(buf, size, "%s", names[t]);
        return;
    }
    (void)snprintf(buf, size, "%s (\"%.*s\")", names[t], QUOTE_MAX,
                   (const char *)n->data.scalar.value);
}

/* "<file>:<line>:<column>: <path>: <msg>" into buf. */
static void
format_at(const struct gdp_yfile *f, const yaml_node_t *n, const char *path, const char *msg,
          char *buf, size_t size)
{
    const char *sep = path[0] != '\0' ? ": " : "";
    if (n != NULL) {
        (void)snprintf(buf, size, "%s:%zu:%zu: %s%s%s", f->name, n->start_mark.line + 1,
                       n->start_mark.column + 1, path, sep, msg);
    } else {
        (void)snprintf(buf, size, "%s: %s%s%s", f->name, path, sep, msg);
    }
}

int
gdp_y_error(struct gdp_yfile *f, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    if (f->diag == NULL) {
        return GDP_E_CONFIG;
    }
    char msg[GDP_DIAG_MAX];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    format_at(f, n, path, msg, f->diag->msg, sizeof f->diag->msg);
    return GDP_E_CONFIG;
}

int
gdp_y_warn(struct gdp_yfile *f, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    struct gdp_strv *w = &f->c->warnings;
    if (w->n > MAX_WARNINGS) {
        return 0;
    }
    char buf[GDP_DIAG_MAX];
    if (w->n == MAX_WARNINGS) {
        (void)snprintf(buf, sizeof buf, "%s: more than %d warnings, not reporting the rest",
                       f->name, MAX_WARNINGS);
    } else {
        char msg[GDP_DIAG_MAX];
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        format_at(f, n, path, msg, buf, sizeof buf);
    }
    gdp_strv_push(w, buf);
    return 0;
}

int
gdp_y_issue(struct gdp_yfile *f, const yaml_node_t *n, const char *path, bool duplicate,
            const char *expected)
{
    const char *what = duplicate ? "duplicate key" : "unknown key";
    const char *sep = expected != NULL ? "; expected one of: " : "";
    expected = expected != NULL ? expected : "";
    if (f->c->strict_config) {
        return gdp_y_error(f, n, path, "%s (--strict-config)%s%s", what, sep, expected);
    }
    return gdp_y_warn(f, n, path, "%s, %s%s%s", what,
                      duplicate ? "the later value wins" : "ignoring", sep, expected);
}

int
gdp_y_node(struct gdp_yfile *f, int id, const char *path, yaml_node_t **ret)
{
    yaml_node_t *n = yaml_document_get_node(f->doc, id);
    *ret = n;
    if (n == NULL) {
        (void)gdp_y_error(f, NULL, path, "invalid YAML node");
        return GDP_E_CONFIG; /* spelled out for the static analyzer */
    }
    if (f->budget == 0) {
        return gdp_y_error(f, n, path, "too many values (after expanding aliases)");
    }
    f->budget--;
    return 0;
}

void
gdp_y_path(char *buf, size_t size, const char *parent, const char *key)
{
    const char *dot = parent[0] != '\0' ? "." : "";
    (void)snprintf(buf, size, "%s%s%.*s", parent, dot, QUOTE_MAX, key);
}

void
gdp_y_path_index(char *buf, size_t size, const char *parent, size_t i)
{
    (void)snprintf(buf, size, "%s[%zu]", parent, i);
}

int
gdp_y_string(struct gdp_yfile *f, const yaml_node_t *n, const char *path, bool allow_number,
             const char **ret)
{
    enum gdp_ytype t = gdp_y_type(n);
    if (t != GDP_Y_STR && !(allow_number && t == GDP_Y_INT)) {
        char got[QUOTE_MAX + 32];
        describe(n, got, sizeof got);
        return gdp_y_error(f, n, path, "expected a string, got %s", got);
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        return gdp_y_error(f, n, path, "expected a string without NUL characters");
    }
    *ret = s;
    return 0;
}

int
gdp_y_bool(struct gdp_yfile *f, const yaml_node_t *n, const char *path, bool *ret)
{
    if (gdp_y_type(n) != GDP_Y_BOOL) {
        char got[QUOTE_MAX + 32];
        describe(n, got, sizeof got);
        return gdp_y_error(f, n, path, "expected a boolean (true or false), got %s", got);
    }
    *ret = in_list(true_words, (const char *)n->data.scalar.value);
    return 0;
}

int
gdp_y_int(struct gdp_yfile *f, const yaml_node_t *n, const char *path, long long *ret)
{
    char got[QUOTE_MAX + 32];
    if (gdp_y_type(n) != GDP_Y_INT) {
        describe(n, got, sizeof got);
        return gdp_y_error(f, n, path, "expected an integer, got %s", got);
    }
    errno = 0;
    long long v = strtoll((const char *)n->data.scalar.value, NULL, 10);
    if (errno == ERANGE) {
        describe(n, got, sizeof got);
        return gdp_y_error(f, n, path, "integer out of range: %s", got);
    }
    *ret = v;
    return 0;
}

int
gdp_y_seq(struct gdp_yfile *f, yaml_node_t *n, const char *path, size_t max,
          yaml_node_item_t **ret_items, size_t *ret_n)
{
    enum gdp_ytype t = gdp_y_type(n);
    *ret_items = NULL;
    *ret_n = 0;
    if (t == GDP_Y_NULL) {
        return 0;
    }
    if (t != GDP_Y_SEQ) {
        char got[QUOTE_MAX + 32];
        describe(n, got, sizeof got);
        return gdp_y_error(f, n, path, "expected a list, got %s", got);
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > max) {
        return gdp_y_error(f, n, path, "too many items: %zu (at most %zu)", count, max);
    }
    *ret_items = n->data.sequence.items.start;
    *ret_n = count;
    return 0;
}

/* The key of a mapping pair as text (any scalar; complex keys are errors). */
static int
key_text(struct gdp_yfile *f, const yaml_node_t *k, const char *path, const char **ret)
{
    *ret = "";
    if (k->type != YAML_SCALAR_NODE) {
        return gdp_y_error(f, k, path, "expected a string key");
    }
    *ret = (const char *)k->data.scalar.value;
    return 0;
}

/* "a, b, c" into buf. */
static void
field_names(const struct gdp_yfield *fields, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; fields[i].name != NULL && len < size; i++) {
        int w = snprintf(buf + len, size - len, "%s%s", i > 0 ? ", " : "", fields[i].name);
        len += w > 0 ? (size_t)w : 0;
    }
}

struct fields_walk {
    const struct gdp_yfield *fields;
    void *obj;
    unsigned seen;
};

/* One pair of a fixed-shape mapping. */
static int
field_pair(struct gdp_yfile *f, const yaml_node_pair_t *pair, const char *path,
           struct fields_walk *w)
{
    yaml_node_t *k = NULL, *v = NULL;
    const char *name = "";
    char child[GDP_YPATH_MAX];
    int r = gdp_y_pair(f, pair, path, &k, &v, &name);
    if (r < 0 || v == NULL) {
        return r < 0 ? r : GDP_E_CONFIG;
    }
    gdp_y_path(child, sizeof child, path, name);
    size_t i = 0;
    while (w->fields[i].name != NULL && !streq(w->fields[i].name, name)) {
        i++;
    }
    if (w->fields[i].name == NULL) {
        char expected[256];
        field_names(w->fields, expected, sizeof expected);
        return gdp_y_issue(f, k, child, false, expected);
    }
    if ((w->seen & (1u << i)) != 0) {
        r = gdp_y_issue(f, k, child, true, NULL);
        if (r < 0) {
            return r;
        }
    }
    w->seen |= 1u << i;
    return w->fields[i].fn(f, v, child, w->obj);
}

int
gdp_y_expect_map(struct gdp_yfile *f, const yaml_node_t *n, const char *path)
{
    enum gdp_ytype t = gdp_y_type(n);
    if (t == GDP_Y_MAP || t == GDP_Y_NULL) {
        return t == GDP_Y_MAP;
    }
    char got[QUOTE_MAX + 32];
    describe(n, got, sizeof got);
    return gdp_y_error(f, n, path, "expected a mapping, got %s", got);
}

int
gdp_y_fields(struct gdp_yfile *f, yaml_node_t *n, const char *path, const struct gdp_yfield *fields,
             void *obj, unsigned *ret_seen)
{
    struct fields_walk w = {.fields = fields, .obj = obj};
    if (ret_seen != NULL) {
        *ret_seen = 0;
    }
    int r = gdp_y_expect_map(f, n, path);
    if (r <= 0) {
        return r;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        r = field_pair(f, p, path, &w);
        if (r < 0) {
            return r;
        }
    }
    if (ret_seen != NULL) {
        *ret_seen = w.seen;
    }
    return 0;
}

int
gdp_y_pair(struct gdp_yfile *f, const yaml_node_pair_t *pair, const char *path,
           yaml_node_t **ret_key, yaml_node_t **ret_value, const char **ret_name)
{
    int r = gdp_y_node(f, pair->key, path, ret_key);
    r = r < 0 ? r : gdp_y_node(f, pair->value, path, ret_value);
    return r < 0 ? r : key_text(f, *ret_key, path, ret_name);
}

/* 1-based line and column (in characters) of byte offset off in buf. */
static void
offset_position(const char *buf, size_t len, size_t off, size_t *ret_line, size_t *ret_col)
{
    size_t line = 1, col = 1;
    off = off < len ? off : len;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
            col++; /* continuation bytes belong to the character before */
        }
    }
    *ret_line = line;
    *ret_col = col;
}

int
gdp_y_syntax_error(const yaml_parser_t *p, const char *name, const char *buf, size_t len,
                   struct gdp_diag *diag)
{
    if (p->error == YAML_MEMORY_ERROR) {
        gdp_oom();
    }
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        offset_position(buf, len, p->problem_offset, &line, &col);
        return gdp_diag_set(diag, GDP_E_CONFIG, "%s:%zu:%zu: %s (byte 0x%02x)", name, line, col,
                            problem, p->problem_value < 0 ? 0 : (unsigned)p->problem_value);
    }
    if (p->context != NULL) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "%s:%zu:%zu: %s (%s at line %zu)", name,
                            p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                            p->context, p->context_mark.line + 1);
    }
    return gdp_diag_set(diag, GDP_E_CONFIG, "%s:%zu:%zu: %s", name, p->problem_mark.line + 1,
                        p->problem_mark.column + 1, problem);
}

static void
parser_deletep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

/* Depth and node count after event ev; false once a bound is passed. */
static bool
count_event(const yaml_event_t *ev, size_t *depth, size_t *nodes)
{
    switch (ev->type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        ++*nodes;
        return ++*depth <= GDP_YAML_MAX_DEPTH && *nodes <= GDP_YAML_MAX_NODES;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        --*depth;
        return true;
    case YAML_SCALAR_EVENT:
    case YAML_ALIAS_EVENT:
        return ++*nodes <= GDP_YAML_MAX_NODES;
    default:
        return true;
    }
}

int
gdp_y_check_limits(const char *name, const char *buf, size_t len, struct gdp_diag *diag)
{
    _cleanup_(parser_deletep) yaml_parser_t parser;
    size_t depth = 0, nodes = 0;
    if (!yaml_parser_initialize(&parser)) {
        gdp_oom();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            return gdp_y_syntax_error(&parser, name, buf, len, diag);
        }
        bool ok = count_event(&ev, &depth, &nodes);
        yaml_event_type_t type = ev.type;
        yaml_mark_t at = ev.start_mark;
        yaml_event_delete(&ev);
        if (!ok) {
            return gdp_diag_set(diag, GDP_E_CONFIG,
                                "%s:%zu:%zu: %s (at most %u levels of nesting and %u nodes)", name,
                                at.line + 1, at.column + 1,
                                depth > GDP_YAML_MAX_DEPTH ? "nested too deeply" : "too many nodes",
                                GDP_YAML_MAX_DEPTH, GDP_YAML_MAX_NODES);
        }
        if (type == YAML_STREAM_END_EVENT) {
            return 0;
        }
    }
}
