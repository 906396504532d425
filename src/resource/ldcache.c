/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ld.so.cache parsing (see ldcache.h). The layouts, from glibc's sysdeps/generic/dl-cache.h:
 *
 * old: "ld.so-1.7.0" (11 bytes + 1 padding), uint32 nlibs, nlibs x {int32 flags, uint32 key,
 *      uint32 value}; string offsets count from the end of that table. A new-layout part may
 *      follow, 8-byte aligned.
 * new: "glibc-ld.so.cache" "1.1" (20 bytes), uint32 nlibs, uint32 len_strings, uint8 flags,
 *      3 padding, uint32 extension_offset, 3 x uint32 unused (48 bytes in all), then nlibs x
 *      {int32 flags, uint32 key, uint32 value, uint32 osversion, uint64 hwcap} (24 bytes);
 *      string offsets count from the start of the new header.
 *
 * Integers are in the byte order of the machine that wrote the file: ours.
 */
#include "resource/ldcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"

#define OLD_MAGIC      "ld.so-1.7.0"
#define OLD_HEADER     16u /* magic + padding (12) + nlibs */
#define OLD_ENTRY      12u
#define NEW_MAGIC      "glibc-ld.so.cache1.1"
#define NEW_MAGIC_LEN  20u
#define NEW_HEADER     48u
#define NEW_ENTRY      24u
#define CACHE_REL_PATH "/etc/ld.so.cache"

static uint32_t
u32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The NUL-terminated string at base + off inside buf[0..len), or NULL. */
static const char *
string_at(const uint8_t *buf, size_t len, size_t base, uint32_t off)
{
    if (base > len || off >= len - base) {
        return NULL;
    }
    const uint8_t *s = buf + base + off;
    return memchr(s, '\0', len - base - off) != NULL ? (const char *)s : NULL;
}

/* Parses the new layout starting at buf + start. */
static int
parse_new(const uint8_t *buf, size_t len, size_t start, struct gdp_ldcache *ret,
          struct gdp_diag *diag)
{
    if (len - start < NEW_HEADER || memcmp(buf + start, NEW_MAGIC, NEW_MAGIC_LEN) != 0) {
        return gdp_diag_set(diag, -EBADMSG, "not an ld.so.cache file (no glibc-ld.so.cache1.1)");
    }
    uint32_t n = u32_at(buf + start + NEW_MAGIC_LEN);
    if (n > (len - start - NEW_HEADER) / NEW_ENTRY) {
        return gdp_diag_set(diag, -EBADMSG, "ld.so.cache truncated: %u entries announced", n);
    }
    ret->entries = gdp_calloc(n > 0 ? n : 1, sizeof *ret->entries);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = buf + start + NEW_HEADER + (size_t)i * NEW_ENTRY;
        const char *key = string_at(buf, len, start, u32_at(e + 4));
        const char *value = string_at(buf, len, start, u32_at(e + 8));
        if (key == NULL || value == NULL) {
            gdp_ldcache_done(ret);
            return gdp_diag_set(diag, -EBADMSG, "ld.so.cache entry %u: string out of range", i);
        }
        ret->entries[ret->n++] = (struct gdp_ldcache_entry){
                .soname = gdp_strdup(key), .path = gdp_strdup(value), .flags = u32_at(e)};
    }
    return 0;
}

int
gdp_ldcache_parse(const uint8_t *buf, size_t len, struct gdp_ldcache *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_ldcache){0};
    size_t start = 0;
    if (len >= OLD_HEADER && memcmp(buf, OLD_MAGIC, sizeof OLD_MAGIC - 1) == 0) {
        /* only the new part that follows is read: it has the same libraries and more */
        uint32_t n = u32_at(buf + 12);
        if (n > (len - OLD_HEADER) / OLD_ENTRY) {
            return gdp_diag_set(diag, -EBADMSG, "ld.so.cache truncated: %u old entries", n);
        }
        start = (OLD_HEADER + (size_t)n * OLD_ENTRY + 7u) & ~(size_t)7u;
        if (start >= len) {
            return gdp_diag_set(diag, -EBADMSG,
                                "ld.so.cache has only the old layout, which is not supported");
        }
    }
    return parse_new(buf, len, start, ret, diag);
}

static int
read_all(int fd, uint8_t *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r < 0 ? -errno : -EIO;
        }
        got += (size_t)r;
    }
    return 0;
}

int
gdp_ldcache_load(const char *root, struct gdp_ldcache *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_ldcache){0};
    _cleanup_free_ char *path = gdp_path_join(root, CACHE_REL_PATH);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int r = -errno;
        return gdp_diag_set(diag, r, "%s: %s", path, gdp_strerror(r));
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)GDP_LDCACHE_MAX_SIZE) {
        return gdp_diag_set(diag, -EFBIG, "%s: not a regular file of at most %u bytes", path,
                            GDP_LDCACHE_MAX_SIZE);
    }
    _cleanup_free_ uint8_t *buf = gdp_malloc((size_t)st.st_size + 1);
    int r = read_all(fd, buf, (size_t)st.st_size);
    if (r < 0) {
        return gdp_diag_set(diag, r, "%s: %s", path, gdp_strerror(r));
    }
    r = gdp_ldcache_parse(buf, (size_t)st.st_size, ret, diag);
    return r < 0 ? gdp_diag_prefix(diag, r, "%s", path) : 0;
}

bool
gdp_ldcache_entry_64bit(const struct gdp_ldcache_entry *e)
{
    uint32_t arch = e->flags & GDP_LDCACHE_FLAG_ARCH_MASK;
    return (e->flags & GDP_LDCACHE_FLAG_TYPE_MASK) == GDP_LDCACHE_FLAG_ELF_LIBC6 &&
           (arch == GDP_LDCACHE_FLAG_X8664 || arch == GDP_LDCACHE_FLAG_AARCH64);
}

void
gdp_ldcache_done(struct gdp_ldcache *cache)
{
    for (size_t i = 0; i < cache->n; i++) {
        free(cache->entries[i].soname);
        free(cache->entries[i].path);
    }
    free(cache->entries);
    *cache = (struct gdp_ldcache){0};
}
