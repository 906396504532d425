/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The label set itself: insertion with overwrite (later rules win, as NVIDIA's merge of its
 * labelers), NVIDIA's name sanitising, our value fitting for Kubernetes' limits, sorting, the
 * node-feature-discovery feature-file format and the atomic write of that file.
 */
#include "labels/labels.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"

void
gdp_labels_set(struct gdp_labels *l, const char *key, const char *fmt, ...)
{
    va_list ap;
    char buf[1024]; /* values are names and numbers; longer text is cut (and then fitted) */
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *value = gdp_strdup(buf);
    for (size_t i = 0; i < l->n; i++) {
        if (streq(l->v[i].key, key)) {
            free(l->v[i].value);
            l->v[i].value = value;
            return;
        }
    }
    l->v = gdp_reallocarray(l->v, l->n + 1, sizeof *l->v);
    l->v[l->n++] = (struct gdp_label){.key = gdp_strdup(key), .value = value};
}

const char *
gdp_labels_get(const struct gdp_labels *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++) {
        if (streq(l->v[i].key, key)) {
            return l->v[i].value;
        }
    }
    return NULL;
}

void
gdp_labels_warn(struct gdp_labels *l, const char *fmt, ...)
{
    va_list ap;
    l->warnings = gdp_reallocarray(l->warnings, l->n_warnings + 1, sizeof *l->warnings);
    va_start(ap, fmt);
    (void)vsnprintf(l->warnings[l->n_warnings++], sizeof *l->warnings, fmt, ap);
    va_end(ap);
}

void
gdp_labels_done(struct gdp_labels *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    free(l->warnings);
    *l = (struct gdp_labels){0};
}

static bool
is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
is_value_char(char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

void
gdp_labels_sanitise(const char *in, char *buf, size_t size)
{
    size_t n = 0;
    bool pending_space = false;
    if (size == 0) {
        return;
    }
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f') {
            pending_space = n > 0;
            continue;
        }
        if (!is_value_char(*p)) {
            continue; /* Go's regexp drops it; the words around it stay joined */
        }
        if (pending_space && n + 1 < size) {
            buf[n++] = '-';
        }
        pending_space = false;
        if (n + 1 < size) {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
}

/* 32-bit FNV-1a: stable across builds and machines. */
static uint32_t
fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

static void
trim(char *s)
{
    size_t len = strlen(s), start = 0;
    while (start < len && !is_alnum(s[start])) {
        start++;
    }
    while (len > start && !is_alnum(s[len - 1])) {
        len--;
    }
    memmove(s, s + start, len - start);
    s[len - start] = '\0';
}

bool
gdp_labels_fit_value(char *s)
{
    return gdp_labels_fit(s, GDP_LABEL_MAX);
}

bool
gdp_labels_fit(char *s, size_t max)
{
    assert(max >= 16);
    /* anything that is not a value character cannot appear: drop it first */
    size_t w = 0;
    for (size_t r = 0; s[r] != '\0'; r++) {
        if (is_value_char(s[r])) {
            s[w++] = s[r];
        }
    }
    s[w] = '\0';
    trim(s);
    if (strlen(s) <= max) {
        return false;
    }
    uint32_t h = fnv1a(s);
    s[max - 9] = '\0';
    trim(s);
    char suffix[16];
    (void)snprintf(suffix, sizeof suffix, "-%08x", h);
    memcpy(s + strlen(s), suffix, strlen(suffix) + 1);
    return true;
}

bool
gdp_labels_valid_value(const char *value)
{
    size_t len = strlen(value);
    if (len == 0) {
        return true;
    }
    if (len > GDP_LABEL_MAX || !is_alnum(value[0]) || !is_alnum(value[len - 1])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_value_char(value[i])) {
            return false;
        }
    }
    return true;
}

static int
cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct gdp_label *)a)->key, ((const struct gdp_label *)b)->key);
}

void
gdp_labels_sort(struct gdp_labels *l)
{
    if (l->n > 1) {
        qsort(l->v, l->n, sizeof *l->v, cmp_label);
    }
}

/* Appends one formatted piece to text (of size *cap, length *len), growing it. */
static void
append(char **text, size_t *len, size_t *cap, const char *a, const char *b, const char *c)
{
    size_t need = strlen(a) + strlen(b) + strlen(c);
    while (*len + need + 1 > *cap) {
        *cap = *cap == 0 ? 4096 : *cap * 2;
        *text = gdp_reallocarray(*text, *cap, 1);
    }
    *len += (size_t)snprintf(*text + *len, *cap - *len, "%s%s%s", a, b, c);
}

int
gdp_labels_format(const struct gdp_labels *l, int64_t expiry, char **ret_text,
                  struct gdp_diag *diag)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0, cap = 0;
    append(&text, &len, &cap, "", "", "");
    if (expiry > 0) {
        char stamp[40];
        time_t t = (time_t)expiry;
        struct tm tm;
        (void)gmtime_r(&t, &tm);
        (void)strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        append(&text, &len, &cap, "# +expiry-time=", stamp, "\n");
    }
    for (size_t i = 0; i < l->n; i++) {
        append(&text, &len, &cap, l->v[i].key, "=", l->v[i].value);
        append(&text, &len, &cap, "\n", "", "");
        if (len > GDP_LABELS_FILE_MAX) {
            return gdp_diag_set(diag, -EMSGSIZE,
                                "%zu labels need more than node-feature-discovery's %zu-byte "
                                "feature file limit",
                                l->n, GDP_LABELS_FILE_MAX);
        }
    }
    *ret_text = TAKE_PTR(text);
    return 0;
}

static int
write_all(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

int
gdp_labels_write_file(const char *path, const char *text, struct gdp_diag *diag)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    if (base[0] == '\0') {
        return gdp_diag_set(diag, -EISDIR, "%s: output file names a directory", path);
    }
    _cleanup_free_ char *tmp = gdp_asprintf("%.*s.%s.tmp", (int)(base - path), path, base);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    int r = fd < 0 ? -errno : write_all(fd, text);
    if (r == 0 && fsync(fd) < 0) {
        r = -errno;
    }
    if (r == 0 && close(TAKE_FD(fd)) < 0) {
        r = -errno;
    }
    if (r == 0 && rename(tmp, path) < 0) {
        r = -errno;
    }
    if (r < 0) {
        (void)unlink(tmp);
        return gdp_diag_set(diag, r, "cannot write %s: %s", path, gdp_strerror(r));
    }
    return 0;
}
