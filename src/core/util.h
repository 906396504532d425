/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every layer uses: cleanup attributes and ownership hand-off, allocation that
 * never returns NULL, string helpers and bounded copies.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define _unused_         __attribute__((unused))
#define _noreturn_       __attribute__((noreturn))
#define _printf_(a, b)   __attribute__((format(printf, a, b)))
#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(gdp_freep)
#define _cleanup_close_  _cleanup_(gdp_closep)
#define _cleanup_fclose_ _cleanup_(gdp_fclosep)

#define ELEMENTSOF(a)    (sizeof(a) / sizeof((a)[0]))

/* Returns p and sets the variable to NULL: ownership leaves the scope. */
#define TAKE_PTR(p)              \
    ({                           \
        __typeof__(p) tp_ = (p); \
        (p) = NULL;              \
        tp_;                     \
    })

/* Returns fd and sets the variable to -1: ownership leaves the scope. */
#define TAKE_FD(fd)      \
    ({                   \
        int tfd_ = (fd); \
        (fd) = -1;       \
        tfd_;            \
    })

/* Logs "out of memory" and aborts. Allocation failure is not a recoverable error here. */
_noreturn_ void gdp_oom(void);

/* malloc/calloc/realloc/strdup that abort through gdp_oom() instead of returning NULL.
 * Caller frees with free(). gdp_reallocarray() checks n * size for overflow. */
void *gdp_malloc(size_t size);
void *gdp_calloc(size_t n, size_t size);
void *gdp_reallocarray(void *p, size_t n, size_t size);
char *gdp_strdup(const char *s);

/* A zeroed array of n object pointers (sized as void *, which every object pointer matches on
 * our platforms). Caller frees with free(). */
void *gdp_calloc_ptrs(size_t n);
char *gdp_strndup(const char *s, size_t n);

/* Formats into a new heap string. Caller frees with free(). */
char *gdp_asprintf(const char *fmt, ...) _printf_(1, 2);

/* Cleanup-attribute helpers; each accepts a pointer to NULL / -1. */
void gdp_freep(void *p);
void gdp_closep(const int *fd);
void gdp_fclosep(FILE **f);

static inline bool
streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static inline bool
streq_ptr(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* The value of the first entry "name=..." of envp (NULL-terminated; NULL = empty), or NULL. */
const char *gdp_env_get(char *const *envp, const char *name);

/* s, or NULL when s is NULL or empty (a setting left empty means "not set"). */
static inline const char *
gdp_nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* ASCII lower-case, locale-independent (and not glibc's tolower macro, which clang-tidy
 * counts as deep nesting). */
static inline char
gdp_ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline bool
startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Copies src into dst (size dst_size, > 0), always NUL-terminating.
 * Returns 0, or -ENAMETOOLONG when src was truncated.
 */
int gdp_strlcpy(char *dst, const char *src, size_t dst_size);

/*
 * Parses a decimal integer in [min, max] that fills the whole string (no sign for unsigned
 * use: pass min >= 0). Returns 0 and sets *ret, or -EINVAL (not a number) / -ERANGE.
 */
int gdp_parse_long(const char *s, long min, long max, long *ret);

/* Go's strconv.ParseBool spellings, true and false alternating, NULL-terminated. */
extern const char *const gdp_bool_names[];

/* Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False. 0 or -EINVAL. */
int gdp_parse_bool(const char *s, bool *ret);

/*
 * Reads a whole small file into a NUL-terminated heap buffer (at most max_size bytes).
 * Returns 0 and *ret_buf (caller frees with free()), -errno from open/read, or -EFBIG.
 */
int gdp_read_file(const char *path, size_t max_size, char **ret_buf);

/* Joins a root (may be NULL or "" or "/") and an absolute path. Caller frees with free(). */
char *gdp_path_join(const char *root, const char *path);
