/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for resource/ldcache.c: caches built byte by byte in both layouts glibc writes,
 * and the malformed ones the parser must refuse (bad magic, counts beyond the file, string
 * offsets out of range or without their NUL), plus loading from a root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "fake_root.h"
#include "resource/ldcache.h"

struct builder {
    uint8_t buf[1024];
    size_t len;
};

static void
put(struct builder *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof b->buf);
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void
put32(struct builder *b, uint32_t v)
{
    put(b, &v, sizeof v);
}

/* A new-layout cache at b's current end with two libraries; offsets from its header. */
static void
new_layout(struct builder *b)
{
    static const char strings[] = "/usr/lib64/libcuda.so.1\0/usr/lib/libfoo.so.2";
    size_t start = b->len;
    const uint32_t str = 48 + 2 * 24;
    put(b, "glibc-ld.so.cache1.1", 20);
    put32(b, 2);              /* nlibs */
    put32(b, sizeof strings); /* len_strings */
    put32(b, 2);              /* flags + padding */
    put32(b, 0);              /* extension offset */
    put32(b, 0), put32(b, 0), put32(b, 0);
    put32(b, 0x0303), put32(b, str + 11), put32(b, str), put32(b, 0), put32(b, 0), put32(b, 0);
    put32(b, 0x0003), put32(b, str + 24 + 9), put32(b, str + 24), put32(b, 0), put32(b, 0),
            put32(b, 0);
    assert_int_equal(b->len - start, str);
    put(b, strings, sizeof strings);
}

static void
check_two(const struct gdp_ldcache *c)
{
    assert_int_equal(c->n, 2);
    assert_string_equal(c->entries[0].soname, "libcuda.so.1");
    assert_string_equal(c->entries[0].path, "/usr/lib64/libcuda.so.1");
    assert_true(gdp_ldcache_entry_64bit(&c->entries[0]));
    assert_string_equal(c->entries[1].soname, "libfoo.so.2");
    assert_false(gdp_ldcache_entry_64bit(&c->entries[1])); /* a 32-bit library */
}

static void
parses_new_layout(void **state _unused_)
{
    struct builder b = {0};
    new_layout(&b);
    struct gdp_ldcache c;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_ldcache_parse(b.buf, b.len, &c, &diag), 0);
    check_two(&c);
    gdp_ldcache_done(&c);
}

static void
parses_old_then_new_layout(void **state _unused_)
{
    struct builder b = {0};
    put(&b, "ld.so-1.7.0\0", 12);
    put32(&b, 1);
    put32(&b, 1), put32(&b, 0), put32(&b, 0); /* one old entry: 28 bytes, padded to 32 */
    put32(&b, 0);
    new_layout(&b);
    struct gdp_ldcache c;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_ldcache_parse(b.buf, b.len, &c, &diag), 0);
    check_two(&c);
    gdp_ldcache_done(&c);
    /* the old layout alone */
    assert_int_equal(gdp_ldcache_parse(b.buf, 32, &c, &diag), -EBADMSG);
    assert_non_null(strstr(diag.msg, "old layout"));
}

static void
expect_bad(const struct builder *b, size_t len, const char *needle)
{
    struct gdp_ldcache c;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_ldcache_parse(b->buf, len, &c, &diag), -EBADMSG);
    assert_int_equal(c.n, 0);
    if (strstr(diag.msg, needle) == NULL) {
        fail_msg("\"%s\" lacks \"%s\"", diag.msg, needle);
    }
}

static void
refuses_malformed_caches(void **state _unused_)
{
    struct builder b = {0};
    new_layout(&b);
    expect_bad(&b, 0, "not an ld.so.cache");
    expect_bad(&b, 47, "not an ld.so.cache");
    expect_bad(&b, 48 + 24, "truncated");      /* 2 entries announced, room for 1 */
    expect_bad(&b, b.len - 1, "out of range"); /* last string loses its NUL */
    struct builder bad = b;
    uint32_t huge = 0xfffffff0u;
    memcpy(bad.buf + 48 + 4, &huge, sizeof huge); /* key offset */
    expect_bad(&bad, bad.len, "entry 0: string out of range");
    bad = b;
    bad.buf[0] = 'G';
    expect_bad(&bad, bad.len, "not an ld.so.cache");
    struct builder old = {0};
    put(&old, "ld.so-1.7.0\0", 12);
    put32(&old, 1000);
    expect_bad(&old, old.len, "old entries");
}

static void
loads_from_a_root(void **state _unused_)
{
    char *root = fake_root_new();
    struct gdp_ldcache c;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_ldcache_load(root, &c, &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, "/etc/ld.so.cache"));
    struct builder b = {0};
    new_layout(&b);
    _cleanup_free_ char *path = gdp_asprintf("%s/etc/ld.so.cache", root);
    fake_root_dir(root, "etc");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.buf, 1, b.len, f), b.len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(gdp_ldcache_load(root, &c, &diag), 0);
    check_two(&c);
    gdp_ldcache_done(&c);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("garbage", 1, 7, f), 7);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(gdp_ldcache_load(root, &c, &diag), -EBADMSG);
    assert_non_null(strstr(diag.msg, path));
    fake_root_remove(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(parses_new_layout),
            cmocka_unit_test(parses_old_then_new_layout),
            cmocka_unit_test(refuses_malformed_caches),
            cmocka_unit_test(loads_from_a_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
