/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dynamic loader's cache (ld.so.cache) of a driver root: the file ldconfig writes, parsed
 * so that CDI spec generation finds the driver's libraries where the root's own loader would,
 * as nvcdi does. Both layouts glibc has written are read: the new one ("glibc-ld.so.cache",
 * version 1.1, the only one since glibc 2.32) alone, or after the old one ("ld.so-1.7.0").
 * Parsing is pure and bounded by the input; loading reads <root>/etc/ld.so.cache.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdp_diag;

#define GDP_LDCACHE_MAX_SIZE (64u << 20) /* a larger file is refused */

/* ldconfig's flags: the ELF class/ABI byte and the architecture nibble above it. */
#define GDP_LDCACHE_FLAG_TYPE_MASK 0x00ffu
#define GDP_LDCACHE_FLAG_ELF_LIBC6 0x0003u
#define GDP_LDCACHE_FLAG_ARCH_MASK 0x0f00u
#define GDP_LDCACHE_FLAG_X8664     0x0300u
#define GDP_LDCACHE_FLAG_AARCH64   0x0a00u

struct gdp_ldcache_entry {
    char *soname; /* the key, e.g. "libcuda.so.1" */
    char *path;   /* as the root's loader sees it, e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.1" */
    uint32_t flags;
};

struct gdp_ldcache {
    struct gdp_ldcache_entry *entries; /* in the file's order */
    size_t n;
};

/*
 * Parses the cache file in buf[0..len). Entries whose strings lie outside the file or are not
 * NUL-terminated inside it are an error. Returns 0 and *ret (release with gdp_ldcache_done()),
 * or -EBADMSG (not a cache file, truncated, an offset out of range; diag says which) with
 * *ret empty.
 */
int gdp_ldcache_parse(const uint8_t *buf, size_t len, struct gdp_ldcache *ret,
                      struct gdp_diag *diag);

/*
 * Reads and parses <root>/etc/ld.so.cache. Returns 0 and *ret, -ENOENT when the root has no
 * cache, -EFBIG above GDP_LDCACHE_MAX_SIZE, another -errno from reading, or
 * gdp_ldcache_parse()'s error; diag names the file. *ret is empty on failure.
 */
int gdp_ldcache_load(const char *root, struct gdp_ldcache *ret, struct gdp_diag *diag);

/* Whether an entry is a 64-bit glibc library of an architecture we run on (x86-64, arm64). */
bool gdp_ldcache_entry_64bit(const struct gdp_ldcache_entry *e);

/* Frees what cache owns and empties it. Accepts an empty cache. */
void gdp_ldcache_done(struct gdp_ldcache *cache);
