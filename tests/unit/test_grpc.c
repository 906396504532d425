/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for rpc/grpc.c: framing, the one-message buffer, status, grpc-message, timeouts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* after the headers cmocka.h relies on (it includes none itself) */
#include <cmocka.h>

#include "core/util.h"
#include "rpc/grpc.h"

#define MAX (4u << 20)

static void
frame_decodes_complete(void **state _unused_)
{
    const uint8_t in[] = {0x00, 0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0xee};
    struct gdp_slice msg;
    assert_int_equal(gdp_grpc_frame_decode(in, sizeof in, MAX, &msg), 8);
    assert_int_equal(msg.len, 3);
    assert_memory_equal(msg.data, "abc", 3);
}

static void
frame_reports_incomplete(void **state _unused_)
{
    const uint8_t in[] = {0x00, 0x00, 0x00, 0x00, 0x03, 'a', 'b'};
    struct gdp_slice msg;
    for (size_t n = 0; n < sizeof in; n++) {
        assert_int_equal(gdp_grpc_frame_decode(in, n, MAX, &msg), 0);
    }
}

static void
frame_decodes_empty_message(void **state _unused_)
{
    const uint8_t in[] = {0x00, 0x00, 0x00, 0x00, 0x00};
    struct gdp_slice msg;
    assert_int_equal(gdp_grpc_frame_decode(in, sizeof in, MAX, &msg), 5);
    assert_int_equal(msg.len, 0);
}

static void
frame_rejects_oversize(void **state _unused_)
{
    const uint8_t in[] = {0x00, 0x7f, 0xff, 0xff, 0xff};   /* uncompressed, 2 GiB length */
    const uint8_t edge[] = {0x00, 0x00, 0x40, 0x00, 0x01}; /* 4 MiB + 1 */
    struct gdp_slice msg;
    assert_int_equal(gdp_grpc_frame_decode(in, sizeof in, MAX, &msg), -EMSGSIZE);
    assert_int_equal(gdp_grpc_frame_decode(edge, sizeof edge, MAX, &msg), -EMSGSIZE);
}

static void
frame_rejects_compressed(void **state _unused_)
{
    const uint8_t in[] = {0x01, 0x00, 0x00, 0x00, 0x01, 'x'};
    struct gdp_slice msg;
    assert_int_equal(gdp_grpc_frame_decode(in, sizeof in, MAX, &msg), -EPROTO);
}

static void
frame_header_round_trips(void **state _unused_)
{
    uint8_t buf[GDP_GRPC_FRAME_HDR + 300];
    struct gdp_slice msg;
    gdp_grpc_frame_header(buf, 300);
    assert_memory_equal(buf, ((const uint8_t[]){0, 0, 0, 0x01, 0x2c}), 5);
    memset(buf + 5, 'z', 300);
    assert_int_equal(gdp_grpc_frame_decode(buf, sizeof buf, MAX, &msg), (ssize_t)sizeof buf);
    assert_int_equal(msg.len, 300);
}

static void
msgbuf_assembles_byte_by_byte(void **state _unused_)
{
    const uint8_t in[] = {0x00, 0x00, 0x00, 0x00, 0x04, 'p', 'i', 'n', 'g'};
    struct gdp_grpc_msgbuf b;
    struct gdp_slice msg;
    gdp_grpc_msgbuf_init(&b);
    for (size_t i = 0; i < sizeof in; i++) {
        assert_int_equal(gdp_grpc_msgbuf_finish(&b, &msg), -ENODATA);
        assert_int_equal(gdp_grpc_msgbuf_append(&b, in + i, 1, MAX), 0);
    }
    assert_int_equal(gdp_grpc_msgbuf_finish(&b, &msg), 0);
    assert_int_equal(msg.len, 4);
    assert_memory_equal(msg.data, "ping", 4);
    gdp_grpc_msgbuf_done(&b);
}

static void
msgbuf_rejects_bad_input(void **state _unused_)
{
    const uint8_t big[] = {0x00, 0x00, 0x40, 0x00, 0x01};
    const uint8_t zip[] = {0x01, 0x00, 0x00, 0x00, 0x00};
    const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0};
    const uint8_t empty[] = {0, 0, 0, 0, 0};
    struct gdp_grpc_msgbuf b;
    struct gdp_slice msg;
    gdp_grpc_msgbuf_init(&b);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, big, sizeof big, MAX), -EMSGSIZE);
    assert_null(b.body); /* nothing allocated for an oversize declaration */
    gdp_grpc_msgbuf_done(&b);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, zip, sizeof zip, MAX), -EPROTO);
    gdp_grpc_msgbuf_done(&b);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, two, sizeof two, MAX), -E2BIG);
    gdp_grpc_msgbuf_done(&b);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, empty, sizeof empty, MAX), 0);
    assert_int_equal(gdp_grpc_msgbuf_finish(&b, &msg), 0);
    assert_int_equal(msg.len, 0);
    gdp_grpc_msgbuf_done(&b);
}

/* A declared length costs nothing until the bytes arrive; the buffer follows what came. */
static void
msgbuf_grows_with_arriving_bytes(void **state _unused_)
{
    const size_t declared = 4u << 20;
    const uint8_t hdr[] = {0x00, 0x00, 0x40, 0x00, 0x00}; /* 4 MiB */
    static uint8_t chunk[100 * 1024];
    struct gdp_grpc_msgbuf b;
    struct gdp_slice msg;
    gdp_grpc_msgbuf_init(&b);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, hdr, sizeof hdr, declared), 0);
    assert_true(b.body_cap == 0);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, chunk, 1, declared), 0);
    assert_true(b.body_cap <= GDP_GRPC_MSGBUF_FIRST);
    assert_int_equal(gdp_grpc_msgbuf_append(&b, chunk, sizeof chunk, declared), 0);
    assert_true(b.body_cap >= b.body_len && b.body_cap <= 2 * b.body_len);
    size_t left = declared - b.body_len;
    while (left > 0) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        memset(chunk, (int)(left & 0xff), n);
        assert_int_equal(gdp_grpc_msgbuf_append(&b, chunk, n, declared), 0);
        left -= n;
    }
    assert_int_equal(b.body_cap, declared); /* never past the declared length */
    assert_int_equal(gdp_grpc_msgbuf_finish(&b, &msg), 0);
    assert_int_equal(msg.len, declared);
    gdp_grpc_msgbuf_done(&b);
}

static void
status_names_and_parsing(void **state _unused_)
{
    assert_string_equal(gdp_grpc_status_name(0), "OK");
    assert_string_equal(gdp_grpc_status_name(GDP_GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    assert_string_equal(gdp_grpc_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(gdp_grpc_status_name(17), "UNKNOWN");
    assert_string_equal(gdp_grpc_status_name(-1), "UNKNOWN");
    assert_int_equal(gdp_grpc_status_parse("0", 1), 0);
    assert_int_equal(gdp_grpc_status_parse("14", 2), 14);
    assert_int_equal(gdp_grpc_status_parse("", 0), -EINVAL);
    assert_int_equal(gdp_grpc_status_parse("-1", 2), -EINVAL);
    assert_int_equal(gdp_grpc_status_parse("1234", 4), -EINVAL);
}

static void
status_from_http_and_rst(void **state _unused_)
{
    assert_int_equal(gdp_grpc_status_from_http(400), GDP_GRPC_INTERNAL);
    assert_int_equal(gdp_grpc_status_from_http(401), GDP_GRPC_UNAUTHENTICATED);
    assert_int_equal(gdp_grpc_status_from_http(403), GDP_GRPC_PERMISSION_DENIED);
    assert_int_equal(gdp_grpc_status_from_http(404), GDP_GRPC_UNIMPLEMENTED);
    assert_int_equal(gdp_grpc_status_from_http(503), GDP_GRPC_UNAVAILABLE);
    assert_int_equal(gdp_grpc_status_from_http(418), GDP_GRPC_UNKNOWN);
    assert_int_equal(gdp_grpc_status_from_h2_error(0x7), GDP_GRPC_UNAVAILABLE);
    assert_int_equal(gdp_grpc_status_from_h2_error(0x8), GDP_GRPC_CANCELLED);
    assert_int_equal(gdp_grpc_status_from_h2_error(0xb), GDP_GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(gdp_grpc_status_from_h2_error(0x2), GDP_GRPC_INTERNAL);
}

static void
message_percent_encoding(void **state _unused_)
{
    char out[64];
    assert_int_equal(gdp_grpc_message_encode("plain text", out, sizeof out), 10);
    assert_string_equal(out, "plain text");
    gdp_grpc_message_encode("100% \xc3\xbc\n", out, sizeof out);
    assert_string_equal(out, "100%25 %C3%BC%0A");
    gdp_grpc_message_encode(NULL, out, sizeof out);
    assert_string_equal(out, "");
    /* never cuts an escape in half */
    assert_int_equal(gdp_grpc_message_encode("ab\n", out, 5), 2);
    assert_string_equal(out, "ab");
}

static void
message_percent_decoding(void **state _unused_)
{
    char out[64];
    const char *in = "100%25 %C3%bc%0A";
    gdp_grpc_message_decode(in, strlen(in), out, sizeof out);
    assert_string_equal(out, "100% \xc3\xbc\n");
    /* bad escapes stay literal */
    in = "50%zz and %4";
    gdp_grpc_message_decode(in, strlen(in), out, sizeof out);
    assert_string_equal(out, "50%zz and %4");
    in = "%";
    gdp_grpc_message_decode(in, 1, out, sizeof out);
    assert_string_equal(out, "%");
    /* truncation keeps the output terminated */
    gdp_grpc_message_decode("abcdef", 6, out, 4);
    assert_string_equal(out, "abc");
}

static void
message_round_trips_all_bytes(void **state _unused_)
{
    char raw[256], enc[800], dec[256];
    for (int i = 1; i < 256; i++) {
        raw[i - 1] = (char)i;
    }
    raw[255] = '\0';
    size_t n = gdp_grpc_message_encode(raw, enc, sizeof enc);
    for (size_t i = 0; i < n; i++) {
        assert_true(enc[i] >= 0x20 && enc[i] <= 0x7e);
    }
    gdp_grpc_message_decode(enc, n, dec, sizeof dec);
    assert_string_equal(dec, raw);
}

static void
timeout_parsing(void **state _unused_)
{
    uint64_t ms = 0;
    assert_int_equal(gdp_grpc_timeout_parse("29999985u", 9, &ms), 0); /* kubelet PreStart */
    assert_int_equal(ms, 30000);
    assert_int_equal(gdp_grpc_timeout_parse("1n", 2, &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(gdp_grpc_timeout_parse("0m", 2, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(gdp_grpc_timeout_parse("5S", 2, &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(gdp_grpc_timeout_parse("2M", 2, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(gdp_grpc_timeout_parse("99999999H", 9, &ms), 0);
    assert_int_equal(ms, 99999999ull * 3600000ull);
    assert_int_equal(gdp_grpc_timeout_parse("", 0, &ms), -EINVAL);
    assert_int_equal(gdp_grpc_timeout_parse("S", 1, &ms), -EINVAL);
    assert_int_equal(gdp_grpc_timeout_parse("123456789S", 10, &ms), -EINVAL);
    assert_int_equal(gdp_grpc_timeout_parse("10x", 3, &ms), -EINVAL);
    assert_int_equal(gdp_grpc_timeout_parse("-1S", 3, &ms), -EINVAL);
    assert_int_equal(gdp_grpc_timeout_parse("1 S", 3, &ms), -EINVAL);
}

static void
timeout_formatting(void **state _unused_)
{
    char out[GDP_GRPC_TIMEOUT_MAX];
    uint64_t ms = 0;
    assert_int_equal(gdp_grpc_timeout_format(5000, out), 5);
    assert_string_equal(out, "5000m");
    gdp_grpc_timeout_format(99999999, out);
    assert_string_equal(out, "99999999m");
    gdp_grpc_timeout_format(100000000, out);
    assert_string_equal(out, "100000S");
    gdp_grpc_timeout_format(100000001, out);
    assert_string_equal(out, "100001S"); /* rounded up, never earlier */
    gdp_grpc_timeout_format(UINT64_MAX, out);
    assert_string_equal(out, "99999999H");
    gdp_grpc_timeout_format(123456, out);
    assert_int_equal(gdp_grpc_timeout_parse(out, strlen(out), &ms), 0);
    assert_int_equal(ms, 123456);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(frame_decodes_complete),
            cmocka_unit_test(frame_reports_incomplete),
            cmocka_unit_test(frame_decodes_empty_message),
            cmocka_unit_test(frame_rejects_oversize),
            cmocka_unit_test(frame_rejects_compressed),
            cmocka_unit_test(frame_header_round_trips),
            cmocka_unit_test(msgbuf_assembles_byte_by_byte),
            cmocka_unit_test(msgbuf_rejects_bad_input),
            cmocka_unit_test(msgbuf_grows_with_arriving_bytes),
            cmocka_unit_test(status_names_and_parsing),
            cmocka_unit_test(status_from_http_and_rst),
            cmocka_unit_test(message_percent_encoding),
            cmocka_unit_test(message_percent_decoding),
            cmocka_unit_test(message_round_trips_all_bytes),
            cmocka_unit_test(timeout_parsing),
            cmocka_unit_test(timeout_formatting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
