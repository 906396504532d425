/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC framing, status codes, grpc-message percent-encoding and grpc-timeout values. */
#include "rpc/grpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

ssize_t
gdp_grpc_frame_decode(const uint8_t *buf, size_t len, size_t max_len, struct gdp_slice *ret_msg)
{
    if (len < GDP_GRPC_FRAME_HDR) {
        return 0;
    }
    if (buf[0] != 0) {
        return -EPROTO;
    }
    size_t need = be32(buf + 1);
    if (need > max_len) {
        return -EMSGSIZE;
    }
    if (len - GDP_GRPC_FRAME_HDR < need) {
        return 0;
    }
    *ret_msg = (struct gdp_slice){.data = buf + GDP_GRPC_FRAME_HDR, .len = need};
    return (ssize_t)(GDP_GRPC_FRAME_HDR + need);
}

void
gdp_grpc_frame_header(uint8_t hdr[GDP_GRPC_FRAME_HDR], size_t len)
{
    uint32_t n = (uint32_t)len;
    hdr[0] = 0;
    hdr[1] = (uint8_t)(n >> 24);
    hdr[2] = (uint8_t)(n >> 16);
    hdr[3] = (uint8_t)(n >> 8);
    hdr[4] = (uint8_t)n;
}

void
gdp_grpc_msgbuf_init(struct gdp_grpc_msgbuf *b)
{
    *b = (struct gdp_grpc_msgbuf){0};
}

void
gdp_grpc_msgbuf_done(struct gdp_grpc_msgbuf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->body);
    gdp_grpc_msgbuf_init(b);
}

/* Grows body to hold need bytes (need <= body_need, itself bounded by max_len). */
static void
msgbuf_reserve(struct gdp_grpc_msgbuf *b, size_t need)
{
    if (need <= b->body_cap) {
        return;
    }
    size_t cap = b->body_cap == 0 ? GDP_GRPC_MSGBUF_FIRST : b->body_cap * 2;
    cap = cap < need ? need : cap;
    cap = cap > b->body_need ? b->body_need : cap;
    b->body = gdp_reallocarray(b->body, cap, 1);
    b->body_cap = cap;
}

int
gdp_grpc_msgbuf_append(struct gdp_grpc_msgbuf *b, const uint8_t *p, size_t n, size_t max_len)
{
    if (b->hdr_len < GDP_GRPC_FRAME_HDR && n > 0) {
        size_t take = GDP_GRPC_FRAME_HDR - b->hdr_len;
        take = take < n ? take : n;
        memcpy(b->hdr + b->hdr_len, p, take);
        b->hdr_len += take;
        p += take;
        n -= take;
        if (b->hdr_len < GDP_GRPC_FRAME_HDR) {
            return 0;
        }
        if (b->hdr[0] != 0) {
            return -EPROTO;
        }
        b->body_need = be32(b->hdr + 1);
        if (b->body_need > max_len) {
            return -EMSGSIZE;
        }
        b->complete = b->body_need == 0;
    }
    if (n == 0) {
        return 0;
    }
    if (n > b->body_need - b->body_len) {
        return -E2BIG;
    }
    msgbuf_reserve(b, b->body_len + n);
    memcpy(b->body + b->body_len, p, n);
    b->body_len += n;
    b->complete = b->body_len == b->body_need;
    return 0;
}

int
gdp_grpc_msgbuf_finish(const struct gdp_grpc_msgbuf *b, struct gdp_slice *ret_msg)
{
    if (!b->complete) {
        return -ENODATA;
    }
    static const uint8_t empty[1];
    *ret_msg = (struct gdp_slice){.data = b->body != NULL ? b->body : empty, .len = b->body_len};
    return 0;
}

static const char *const status_names[] = {
        [GDP_GRPC_OK] = "OK",
        [GDP_GRPC_CANCELLED] = "CANCELLED",
        [GDP_GRPC_UNKNOWN] = "UNKNOWN",
        [GDP_GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [GDP_GRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [GDP_GRPC_NOT_FOUND] = "NOT_FOUND",
        [GDP_GRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [GDP_GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [GDP_GRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [GDP_GRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [GDP_GRPC_ABORTED] = "ABORTED",
        [GDP_GRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
        [GDP_GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
        [GDP_GRPC_INTERNAL] = "INTERNAL",
        [GDP_GRPC_UNAVAILABLE] = "UNAVAILABLE",
        [GDP_GRPC_DATA_LOSS] = "DATA_LOSS",
        [GDP_GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *
gdp_grpc_status_name(int status)
{
    if (status < 0 || (size_t)status >= ELEMENTSOF(status_names)) {
        return "UNKNOWN";
    }
    return status_names[status];
}

int
gdp_grpc_status_parse(const char *s, size_t len)
{
    int v = 0;
    if (len == 0 || len > 3) {
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int
gdp_grpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400:
        return GDP_GRPC_INTERNAL;
    case 401:
        return GDP_GRPC_UNAUTHENTICATED;
    case 403:
        return GDP_GRPC_PERMISSION_DENIED;
    case 404:
        return GDP_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return GDP_GRPC_UNAVAILABLE;
    default:
        return GDP_GRPC_UNKNOWN;
    }
}

int
gdp_grpc_status_from_h2_error(uint32_t error_code)
{
    /* HTTP/2 error codes (RFC 9113 section 7) */
    switch (error_code) {
    case 0x7: /* REFUSED_STREAM: never processed, safe to retry */
        return GDP_GRPC_UNAVAILABLE;
    case 0x8: /* CANCEL */
        return GDP_GRPC_CANCELLED;
    case 0xb: /* ENHANCE_YOUR_CALM */
        return GDP_GRPC_RESOURCE_EXHAUSTED;
    case 0xc: /* INADEQUATE_SECURITY */
        return GDP_GRPC_PERMISSION_DENIED;
    default:
        return GDP_GRPC_INTERNAL;
    }
}

size_t
gdp_grpc_message_encode(const char *msg, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; msg != NULL && msg[i] != '\0' && i < GDP_GRPC_MESSAGE_MAX; i++) {
        unsigned char c = (unsigned char)msg[i];
        bool plain = c >= 0x20 && c <= 0x7e && c != '%';
        size_t w = plain ? 1 : 3;
        if (o + w >= size) {
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    out[o] = '\0';
    return o;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

size_t
gdp_grpc_message_decode(const char *in, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        int hi = -1, lo = -1;
        if (in[i] == '%' && i + 2 < len) {
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return o;
}

int
gdp_grpc_timeout_parse(const char *s, size_t len, uint64_t *ret_ms)
{
    uint64_t v = 0;
    if (len < 2 || len > 9) {
        return -EINVAL;
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    switch (s[len - 1]) {
    case 'H':
        *ret_ms = v * 3600000u;
        return 0;
    case 'M':
        *ret_ms = v * 60000u;
        return 0;
    case 'S':
        *ret_ms = v * 1000u;
        return 0;
    case 'm':
        *ret_ms = v;
        return 0;
    case 'u':
        *ret_ms = (v + 999u) / 1000u;
        return 0;
    case 'n':
        *ret_ms = (v + 999999u) / 1000000u;
        return 0;
    default:
        return -EINVAL;
    }
}

size_t
gdp_grpc_timeout_format(uint64_t ms, char out[GDP_GRPC_TIMEOUT_MAX])
{
    static const struct {
        uint64_t div;
        char unit;
    } units[] = {{1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'}};

    uint64_t v = ms;
    char unit = 'H';
    for (size_t i = 0; i < ELEMENTSOF(units); i++) {
        /* round up so the peer's deadline is never earlier than ours */
        v = ms / units[i].div + (ms % units[i].div != 0);
        unit = units[i].unit;
        if (v <= 99999999u) {
            break;
        }
    }
    if (v > 99999999u) {
        v = 99999999u;
    }
    int n = snprintf(out, GDP_GRPC_TIMEOUT_MAX, "%llu%c", (unsigned long long)v, unit);
    return n < 0 ? 0 : (size_t)n;
}
