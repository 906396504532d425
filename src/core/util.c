/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers, cleanup helpers and small parsing utilities. */
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void
gdp_oom(void)
{
    /* one write, no formatting: the logger itself may need memory */
    static const char msg[] = "gpu-device-plugin: out of memory, aborting\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    abort();
}

void *
gdp_malloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);
    if (p == NULL) {
        gdp_oom();
    }
    return p;
}

void *
gdp_calloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL) {
        gdp_oom();
    }
    return p;
}

void *
gdp_calloc_ptrs(size_t n)
{
    return gdp_calloc(n, sizeof(void *));
}

void *
gdp_reallocarray(void *p, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        gdp_oom();
    }
    void *q = realloc(p, n * size == 0 ? 1 : n * size);
    if (q == NULL) {
        gdp_oom();
    }
    return q;
}

char *
gdp_strdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        gdp_oom();
    }
    return d;
}

char *
gdp_strndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (d == NULL) {
        gdp_oom();
    }
    return d;
}

char *
gdp_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        gdp_oom();
    }
    char *s = gdp_malloc((size_t)n + 1);
    va_start(ap, fmt);
    (void)vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void
gdp_freep(void *p)
{
    free(*(void **)p);
}

void
gdp_closep(const int *fd)
{
    if (*fd >= 0) {
        (void)close(*fd);
    }
}

void
gdp_fclosep(FILE **f)
{
    if (*f != NULL) {
        (void)fclose(*f);
    }
}

int
gdp_strlcpy(char *dst, const char *src, size_t dst_size)
{
    size_t n = strlen(src);
    if (n >= dst_size) {
        memcpy(dst, src, dst_size - 1);
        dst[dst_size - 1] = '\0';
        return -ENAMETOOLONG;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int
gdp_parse_long(const char *s, long min, long max, long *ret)
{
    char *end = NULL;
    if (s == NULL || *s == '\0' || (min >= 0 && *s == '-')) {
        return -EINVAL;
    }
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || end == s) {
        return -EINVAL;
    }
    if (errno == ERANGE || v < min || v > max) {
        return -ERANGE;
    }
    *ret = v;
    return 0;
}

const char *const gdp_bool_names[] = {"true", "false", "1",     "0",    "t",     "f", "T",
                                      "F",    "TRUE",  "FALSE", "True", "False", NULL};

int
gdp_parse_bool(const char *s, bool *ret)
{
    for (size_t i = 0; s != NULL && gdp_bool_names[i] != NULL; i++) {
        if (streq(s, gdp_bool_names[i])) {
            *ret = i % 2 == 0;
            return 0;
        }
    }
    return -EINVAL;
}

int
gdp_read_file(const char *path, size_t max_size, char **ret_buf)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = gdp_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= max_size) {
                return -EFBIG;
            }
            cap = cap * 2 > max_size ? max_size : cap * 2;
            buf = gdp_reallocarray(buf, cap + 1, 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    if (len > max_size) {
        return -EFBIG;
    }
    buf[len] = '\0';
    *ret_buf = TAKE_PTR(buf);
    return 0;
}

char *
gdp_path_join(const char *root, const char *path)
{
    if (root == NULL || root[0] == '\0' || streq(root, "/")) {
        return gdp_strdup(path);
    }
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') {
        rl--;
    }
    while (path[0] == '/' && path[1] == '/') {
        path++;
    }
    return gdp_asprintf("%.*s%s%s", (int)rl, root, path[0] == '/' ? "" : "/", path);
}

const char *
gdp_env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return *e + n + 1;
        }
    }
    return NULL;
}
