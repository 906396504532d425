/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/config/: the config-file walker shared by config_file.c (document, flags,
 * gfd, imex) and config_sharing.c (resources, sharing). A libyaml document is walked against
 * the schema; every value is checked where it is read, and every message carries the file
 * name and the 1-based line and column of the node it is about, then the key path
 * ("sharing.mps.resources[0].replicas").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "core/util.h"

struct gdp_config;
struct gdp_diag;

/* Bounds on a config file's structure, checked while it is parsed (gdp_y_check_limits). */
#define GDP_YAML_MAX_DEPTH 64u
#define GDP_YAML_MAX_NODES 65536u

/* Longest key path kept for messages; deeper paths are cut (the position still locates). */
#define GDP_YPATH_MAX 192

struct gdp_yfile {
    const char *name; /* file name for messages */
    yaml_document_t *doc;
    struct gdp_config *c;
    size_t budget; /* nodes left to visit: bounds alias expansion */
    struct gdp_diag *diag;
};

/* What a scalar resolves to under YAML's core schema (plain style); quoted is always STR. */
enum gdp_ytype {
    GDP_Y_NULL,
    GDP_Y_BOOL,
    GDP_Y_INT,
    GDP_Y_FLOAT,
    GDP_Y_STR,
    GDP_Y_SEQ,
    GDP_Y_MAP,
};

/* Parses one mapping value; obj is the struct the field table belongs to. */
typedef int gdp_yfield_fn(struct gdp_yfile *f, yaml_node_t *v, const char *path, void *obj);

struct gdp_yfield {
    const char *name;
    gdp_yfield_fn *fn;
};

/*
 * Formats "<file>:<line>:<column>: <path>: <message>" into f->diag for node n (NULL: no
 * position) and returns GDP_E_CONFIG.
 */
int gdp_y_error(struct gdp_yfile *f, const yaml_node_t *n, const char *path, const char *fmt, ...)
        _printf_(4, 5);

/* Appends the same text to the config's warnings (bounded in number). Returns 0. */
int gdp_y_warn(struct gdp_yfile *f, const yaml_node_t *n, const char *path, const char *fmt, ...)
        _printf_(4, 5);

/*
 * Reports an unknown or duplicate key: an error under --strict-config, else a warning ending
 * in ", ignoring" (the later of two duplicates wins). Returns 0 or GDP_E_CONFIG.
 */
int gdp_y_issue(struct gdp_yfile *f, const yaml_node_t *n, const char *path, bool duplicate,
                const char *expected);

/* Node id of the document (NULL if invalid). Counts against f->budget: GDP_E_CONFIG when
 * exhausted, with diag set. */
int gdp_y_node(struct gdp_yfile *f, int id, const char *path, yaml_node_t **ret);

enum gdp_ytype gdp_y_type(const yaml_node_t *n);

/* "<parent>.<key>" (or key at the top), cut to fit. */
void gdp_y_path(char *buf, size_t size, const char *parent, const char *key);

/* "<parent>[i]" */
void gdp_y_path_index(char *buf, size_t size, const char *parent, size_t i);

/* A string scalar (also a plain number when allow_number, as written). Borrowed from the
 * document. Errors: not a scalar, a boolean/number/null, an embedded NUL. */
int gdp_y_string(struct gdp_yfile *f, const yaml_node_t *n, const char *path, bool allow_number,
                 const char **ret);

/* A YAML boolean (true/false, and YAML 1.1's yes/no/on/off). */
int gdp_y_bool(struct gdp_yfile *f, const yaml_node_t *n, const char *path, bool *ret);

/* A plain decimal integer (callers check the range with their own message). */
int gdp_y_int(struct gdp_yfile *f, const yaml_node_t *n, const char *path, long long *ret);

/*
 * Walks mapping n (null counts as empty) against fields (ended by an entry with a NULL name,
 * at most 32): each known key's value goes to its fn with obj; unknown and duplicate keys go
 * to gdp_y_issue(). *ret_seen (may be NULL) gets bit i for each field i present.
 */
int gdp_y_fields(struct gdp_yfile *f, yaml_node_t *n, const char *path,
                 const struct gdp_yfield *fields, void *obj, unsigned *ret_seen);

/* Returns 1 when n is a mapping, 0 when null, GDP_E_CONFIG otherwise ("expected a mapping"). */
int gdp_y_expect_map(struct gdp_yfile *f, const yaml_node_t *n, const char *path);

/* The key node, value node and key text of a mapping pair (counted against the budget). */
int gdp_y_pair(struct gdp_yfile *f, const yaml_node_pair_t *pair, const char *path,
               yaml_node_t **ret_key, yaml_node_t **ret_value, const char **ret_name);

/* Sequence n (null counts as empty): the items and their number, borrowed from the
 * document. At most max items (GDP_E_CONFIG beyond). */
int gdp_y_seq(struct gdp_yfile *f, yaml_node_t *n, const char *path, size_t max,
              yaml_node_item_t **ret_items, size_t *ret_n);

/* config_sharing.c: the fields for resources.gpus/mig and sharing.timeSlicing/mps. */
gdp_yfield_fn gdp_y_resource_patterns;
gdp_yfield_fn gdp_y_time_slicing;
gdp_yfield_fn gdp_y_mps;

/* config_sharing.c: picks c->sharing.strategy after loading (NVIDIA's rule). */
void gdp_sharing_select(struct gdp_config *c);

/* config_sharing.c: frees sections and patterns. */
void gdp_sharing_done(struct gdp_config *c);

/* config_file.c: the file-only scalar settings, shared with config_json.c for printing. */
enum gdp_fkey_type {
    GDP_FKEY_SECTION, /* a mapping of further keys */
    GDP_FKEY_BOOL,
    GDP_FKEY_OPTBOOL, /* int: -1 null, 0, 1 */
    GDP_FKEY_STRING,
    GDP_FKEY_DURATION, /* int64_t nanoseconds or GDP_DURATION_INFINITE */
    GDP_FKEY_CUSTOM,   /* parsed by fn with the config as obj; printed by config_json.c */
};

struct gdp_fkey {
    const char *key; /* full path: "flags.gfd.sleepInterval" */
    enum gdp_fkey_type type;
    size_t off; /* offsetof(struct gdp_config, ...) */
    gdp_yfield_fn *fn;
    const char *flag; /* gdp_opts name setting the same field: when set explicitly, it wins */
};

extern const struct gdp_fkey gdp_fkeys[];
extern const size_t gdp_n_fkeys;

/* Formats a duration the way gdp_y parses it back ("60s", "1500ms", "infinite"). */
void gdp_duration_format(int64_t ns, char *buf, size_t size);

/*
 * Streams the YAML in buf (len bytes) through libyaml's event parser and fails as soon as
 * collections nest deeper than GDP_YAML_MAX_DEPTH or more than GDP_YAML_MAX_NODES nodes
 * appear, before any document is built: libyaml's scanner costs grow with the square of the
 * nesting depth, so a deep file must be stopped early, not after loading. Syntax errors are
 * reported here too. Every message reads "<name>:<line>:<column>: <problem>" (for invalid
 * UTF-8 as well, whose position libyaml gives only as a byte offset).
 * Returns 0, or GDP_E_CONFIG with diag filled.
 */
int gdp_y_check_limits(const char *name, const char *buf, size_t len, struct gdp_diag *diag);

/*
 * Formats parser p's error (after a failed yaml_parser_parse/load of buf, len bytes) as
 * "<name>:<line>:<column>: <problem>" into diag. Returns GDP_E_CONFIG.
 */
int gdp_y_syntax_error(const yaml_parser_t *p, const char *name, const char *buf, size_t len,
                       struct gdp_diag *diag);
