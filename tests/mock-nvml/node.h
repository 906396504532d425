/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal interface of the node-file parser (node.c, node_gpu.c, node_mig.c): the parse
 * context, the descriptor-table driven mapping parser and the typed scalar readers. Every
 * reader reports the first problem with its line and column and returns -1.
 */
#pragma once

#include <yaml.h>

#include "mock.h"

struct pctx {
    yaml_document_t *doc;
    const char *file;
    struct mock_node *node;
    bool failed;
    char msg[768];
    yaml_node_t *nvlink[MOCK_MAX_GPUS]; /* resolved once every GPU is known */
    yaml_node_t *mig;                   /* of the GPU being parsed, resolved after its keys */
    yaml_node_t *topology;
    yaml_node_t *fail;
};

enum ftype {
    F_STR,  /* char[size] */
    F_UINT, /* unsigned integer of `size` bytes, at most max */
    F_BOOL, /* bool */
    F_ENUM, /* names[] value into an unsigned integer of `size` bytes */
    F_FN,   /* fn(c, value, obj) */
};

typedef int (*field_fn)(struct pctx *c, yaml_node_t *v, void *obj);

struct field {
    const char *key;
    enum ftype type;
    size_t off;
    size_t size;
    unsigned long long max;
    const struct mock_name *names;
    field_fn fn;
    bool required;
};

#define FIELD_SIZE_(T, m) sizeof(((T *)0)->m)
#define F_STR_(k, T, m)                                                             \
    {                                                                               \
        .key = (k), .type = F_STR, .off = offsetof(T, m), .size = FIELD_SIZE_(T, m) \
    }
#define F_UINT_(k, T, m, mx)                                                                      \
    {                                                                                             \
        .key = (k), .type = F_UINT, .off = offsetof(T, m), .size = FIELD_SIZE_(T, m), .max = (mx) \
    }
#define F_BOOL_(k, T, m)                                  \
    {                                                     \
        .key = (k), .type = F_BOOL, .off = offsetof(T, m) \
    }
#define F_ENUM_(k, T, m, tbl)                                                         \
    {                                                                                 \
        .key = (k), .type = F_ENUM, .off = offsetof(T, m), .size = FIELD_SIZE_(T, m), \
        .names = (tbl)                                                                \
    }
#define F_FN_(k, f)                         \
    {                                       \
        .key = (k), .type = F_FN, .fn = (f) \
    }

/* Records the first error ("<file>:<line>:<column>: <text>"); always returns -1. */
int node_err(struct pctx *c, const yaml_node_t *n, const char *fmt, ...) MOCK_PRINTF(3, 4);

/* Parses a mapping with a field table into obj; unknown and duplicate keys are errors. */
int node_fields(struct pctx *c, yaml_node_t *map, const struct field *f, size_t n, void *obj,
                const char *what);

/* The text of a scalar node, or NULL (error recorded) if v is not a scalar. */
const char *node_scalar(struct pctx *c, yaml_node_t *v, const char *what);

/* An unsigned integer (decimal or 0x hex) in [0, max]. */
int node_uint(struct pctx *c, yaml_node_t *v, unsigned long long max, const char *what,
              unsigned long long *ret);

/* A name of the table (case-insensitive). */
int node_enum(struct pctx *c, yaml_node_t *v, const struct mock_name *names, const char *what,
              unsigned long long *ret);

/* A sequence node's items (NULL + error if v is not a sequence). */
yaml_node_item_t *node_items(struct pctx *c, yaml_node_t *v, const char *what, size_t *ret_n);

/* The node of an item or pair id. */
yaml_node_t *node_get(struct pctx *c, int id);

/* Checks "<prefix>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower-case hex) and uniqueness. */
int node_uuid(struct pctx *c, yaml_node_t *v, const char *prefix, char *dst);

/* Writes value into an unsigned integer field of size 1, 4 or 8 at p. */
void node_store(void *p, size_t size, unsigned long long value);

/* node_gpu.c: parses gpus[index]; node_gpu_links() resolves its nvlink section later. */
int node_gpu(struct pctx *c, yaml_node_t *map, unsigned int index);
int node_gpu_links(struct pctx *c, unsigned int index);

/* node_mig.c: the mig section of a GPU, after the GPU's other keys. */
int node_mig(struct pctx *c, yaml_node_t *v, struct nvmlDevice_st *gpu);
