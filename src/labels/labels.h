/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node labels for GPU feature discovery: the set of `nvidia.com/...` labels NVIDIA's
 * gpu-feature-discovery writes (docs/labels.md), computed from the discovered node and the
 * configuration, kept valid for Kubernetes (names and values of at most 63 characters, only
 * the allowed characters), formatted sorted in node-feature-discovery's feature-file format
 * and written atomically. Knows nothing about signals or loops: cmd/gfd.c drives it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

struct gdp_config;
struct gdp_diag;
struct gdp_node;
struct gdp_vgpu_info;

/* Kubernetes' limit on a label value and on the name part of a key. */
#define GDP_LABEL_MAX 63
/* node-feature-discovery ignores feature files larger than this. */
#define GDP_LABELS_FILE_MAX    ((size_t)64 * 1024)
#define GDP_LABELS_WARNING_MAX 320

struct gdp_label {
    char *key;
    char *value;
};

struct gdp_labels {
    struct gdp_label *v;
    size_t n;
    char (*warnings)[GDP_LABELS_WARNING_MAX]; /* for the caller (an edge) to log */
    size_t n_warnings;
};

/* Sets key to the formatted value, replacing an earlier value of key. */
void gdp_labels_set(struct gdp_labels *l, const char *key, const char *fmt, ...) _printf_(3, 4);

/* The value of key, or NULL. Borrowed from l. */
const char *gdp_labels_get(const struct gdp_labels *l, const char *key);

/* Appends a formatted warning (truncated to GDP_LABELS_WARNING_MAX). */
void gdp_labels_warn(struct gdp_labels *l, const char *fmt, ...) _printf_(2, 3);

/* Frees what l owns; l is empty afterwards. Accepts a zeroed set. */
void gdp_labels_done(struct gdp_labels *l);

/*
 * NVIDIA's sanitising of a name part: drops every character outside [A-Za-z0-9-_. ] and joins
 * the remaining whitespace-separated words with '-' ("Tesla P100 (Pascal)" ->
 * "Tesla-P100-Pascal"). Writes at most size - 1 bytes to buf (always NUL-terminated).
 */
void gdp_labels_sanitise(const char *in, char *buf, size_t size);

/*
 * Makes s a valid label value in place: leading and trailing characters other than letters
 * and digits are dropped, and a value longer than GDP_LABEL_MAX is cut to 54 characters plus
 * '-' and 8 hex digits of a hash of the full value, so different long names stay different
 * and the same name always gives the same value. Returns true when s was shortened.
 */
bool gdp_labels_fit_value(char *s);

/* As gdp_labels_fit_value() with max (>= 16) in place of GDP_LABEL_MAX. */
bool gdp_labels_fit(char *s, size_t max);

/*
 * Whether value is a valid Kubernetes label value: empty, or at most 63 characters from
 * [-A-Za-z0-9_.] that begin and end with a letter or digit.
 */
bool gdp_labels_valid_value(const char *value);

/* Sorts the labels by key (byte order). */
void gdp_labels_sort(struct gdp_labels *l);

/* What gdp_labels_build() needs besides the node. */
struct gdp_labels_input {
    const struct gdp_node *node;      /* NULL or without GPUs: only the timestamp label */
    const struct gdp_config *cfg;     /* MIG strategy, sharing, gfd settings */
    const char *machine_type;         /* content of the machine type file, or NULL: "unknown" */
    const struct gdp_vgpu_info *vgpu; /* vGPU probe result, or NULL: no vGPU labels */
    int64_t now;                      /* Unix seconds for nvidia.com/gfd.timestamp */
};

/*
 * Computes the labels of in->node (docs/labels.md), sorted, every value valid. Anything an
 * operator should know (mixed models, invalid MIG layouts, shortened names) is appended to
 * ret->warnings. Returns 0, or GDP_E_CONFIG with diag when MPS sharing is configured on a
 * node with MIG enabled (NVIDIA's GFD fails then too), or -EPROTO when the driver version is
 * not X.Y or X.Y.Z. *ret must be zeroed or empty; release it with gdp_labels_done() in
 * either case.
 */
int gdp_labels_build(const struct gdp_labels_input *in, struct gdp_labels *ret,
                     struct gdp_diag *diag);

/*
 * The feature file text: "# +expiry-time=<RFC 3339 UTC>" when expiry (Unix seconds) is > 0,
 * then one "key=value" line per label in l's order. Returns 0 and *ret_text (caller frees
 * with free()), or -EMSGSIZE with diag when the text would exceed GDP_LABELS_FILE_MAX.
 */
int gdp_labels_format(const struct gdp_labels *l, int64_t expiry, char **ret_text,
                      struct gdp_diag *diag);

/*
 * Writes text to path atomically: to ".<name>.tmp" in the same directory (node-feature-
 * discovery skips dot files), fsync, then rename over path. Creates no directories.
 * Returns 0 or -errno with diag naming the path.
 */
int gdp_labels_write_file(const char *path, const char *text, struct gdp_diag *diag);
