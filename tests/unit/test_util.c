/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/: strings, parsing, files, diagnostics, error text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

static void
path_join_handles_roots(void **state _unused_)
{
    _cleanup_free_ char *a = gdp_path_join(NULL, "/sys/x");
    _cleanup_free_ char *b = gdp_path_join("/", "/sys/x");
    _cleanup_free_ char *c = gdp_path_join("/tmp/root/", "/sys/x");
    _cleanup_free_ char *d = gdp_path_join("/tmp/root", "sys/x");
    assert_string_equal(a, "/sys/x");
    assert_string_equal(b, "/sys/x");
    assert_string_equal(c, "/tmp/root/sys/x");
    assert_string_equal(d, "/tmp/root/sys/x");
}

static void
parse_long_bounds(void **state _unused_)
{
    long v = 0;
    assert_int_equal(gdp_parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(gdp_parse_long("-1", -1, 100, &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(gdp_parse_long("-1", 0, 100, &v), -EINVAL);
    assert_int_equal(gdp_parse_long("101", 0, 100, &v), -ERANGE);
    assert_int_equal(gdp_parse_long("4x", 0, 100, &v), -EINVAL);
    assert_int_equal(gdp_parse_long("", 0, 100, &v), -EINVAL);
    assert_int_equal(gdp_parse_long("99999999999999999999999", 0, 100, &v), -ERANGE);
}

static void
strlcpy_truncates_and_reports(void **state _unused_)
{
    char buf[4];
    assert_int_equal(gdp_strlcpy(buf, "abc", sizeof buf), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(gdp_strlcpy(buf, "abcd", sizeof buf), -ENAMETOOLONG);
    assert_string_equal(buf, "abc");
}

static void
read_file_limits_size(void **state _unused_)
{
    char path[] = "/tmp/gdp-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    (void)close(fd);
    _cleanup_free_ char *buf = NULL;
    assert_int_equal(gdp_read_file(path, 64, &buf), 0);
    assert_string_equal(buf, "0123456789");
    char *too_big = NULL;
    assert_int_equal(gdp_read_file(path, 5, &too_big), -EFBIG);
    assert_null(too_big);
    (void)unlink(path);
    char *missing = NULL;
    assert_int_equal(gdp_read_file(path, 64, &missing), -ENOENT);
}

static void
diag_set_and_prefix(void **state _unused_)
{
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_diag_set(&diag, -EINVAL, "bad %s", "thing"), -EINVAL);
    assert_string_equal(diag.msg, "bad thing");
    assert_int_equal(gdp_diag_prefix(&diag, -EINVAL, "GPU %d", 3), -EINVAL);
    assert_string_equal(diag.msg, "GPU 3: bad thing");
    assert_int_equal(gdp_diag_set(NULL, -EIO, "ignored"), -EIO);
    char long_text[2 * GDP_DIAG_MAX];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    (void)gdp_diag_set(&diag, -EIO, "%s", long_text);
    (void)gdp_diag_prefix(&diag, -EIO, "%s", long_text);
    assert_int_equal(strlen(diag.msg), GDP_DIAG_MAX - 1);
}

static void
strerror_covers_project_codes(void **state _unused_)
{
    assert_string_equal(gdp_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(gdp_strerror(GDP_E_NVML_MISSING), "NVML library not found");
    assert_string_equal(gdp_strerror(GDP_E_MIG), "unsupported MIG configuration");
    assert_non_null(gdp_strerror(-99999));
}

static void
log_level_names(void **state _unused_)
{
    enum gdp_log_level lvl = GDP_LOG_ERR;
    enum gdp_log_format fmt = GDP_LOG_TEXT;
    assert_int_equal(gdp_log_level_from_string("debug", &lvl), 0);
    assert_int_equal(lvl, GDP_LOG_DEBUG);
    assert_int_equal(gdp_log_level_from_string("warn", &lvl), 0);
    assert_int_equal(lvl, GDP_LOG_WARN);
    assert_int_equal(gdp_log_level_from_string("loud", &lvl), -EINVAL);
    assert_int_equal(gdp_log_format_from_string("json", &fmt), 0);
    assert_int_equal(fmt, GDP_LOG_JSON);
    assert_int_equal(gdp_log_format_from_string("xml", &fmt), -EINVAL);
}

/* A peer-supplied newline cannot forge a log line; bad UTF-8 cannot make the log binary. */
static void
log_escape_newlines_and_bad_utf8(void **state _unused_)
{
    char out[128];
    assert_int_equal(
            gdp_log_escape("GPU-1\nE1206 00:00:00.000000 1 x.c:1] forged", out, sizeof out),
            strlen("GPU-1\\nE1206 00:00:00.000000 1 x.c:1] forged"));
    assert_string_equal(out, "GPU-1\\nE1206 00:00:00.000000 1 x.c:1] forged");
    (void)gdp_log_escape("a\r\tb\x01\x7f", out, sizeof out);
    assert_string_equal(out, "a\\r\\tb\\x01\\x7f");
    (void)gdp_log_escape("caf\xc3\xa9 \xe2\x9c\x93", out, sizeof out); /* valid: kept */
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x9c\x93");
    (void)gdp_log_escape("x\xff\xc3(\xc0\xaf\xed\xa0\x80", out, sizeof out);
    assert_string_equal(out, "x\\xff\\xc3(\\xc0\\xaf\\xed\\xa0\\x80");
    (void)gdp_log_escape("\n\n\n", out, 5); /* never cuts an escape */
    assert_string_equal(out, "\\n\\n");
}

static void
ratelimit_bounds_lines_per_window(void **state _unused_)
{
    struct gdp_ratelimit rl = {.interval_ms = 1000, .burst = 3};
    unsigned passed = 0, suppressed = 99;
    for (int i = 0; i < 100; i++) {
        passed += gdp_ratelimit_pass(&rl, 5000 + (uint64_t)i, NULL) ? 1 : 0;
    }
    assert_int_equal(passed, 3);
    assert_true(gdp_ratelimit_pass(&rl, 6000, &suppressed));
    assert_int_equal(suppressed, 97);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(path_join_handles_roots),
            cmocka_unit_test(parse_long_bounds),
            cmocka_unit_test(strlcpy_truncates_and_reports),
            cmocka_unit_test(read_file_limits_size),
            cmocka_unit_test(diag_set_and_prefix),
            cmocka_unit_test(strerror_covers_project_codes),
            cmocka_unit_test(log_level_names),
            cmocka_unit_test(log_escape_newlines_and_bad_utf8),
            cmocka_unit_test(ratelimit_bounds_lines_per_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
