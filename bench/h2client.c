/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A deliberately small gRPC client for measuring the plugin: one unix-socket connection, one
 * nghttp2 client session driven with mem_send/mem_recv, poll() for waiting. Each call owns a
 * slot; responses are collected in nghttp2 callbacks and checked when the stream closes.
 * The socket is written with short blocking waits on POLLOUT, which is safe for the tiny
 * requests sent here.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "bench.h"
#include "core/util.h"
#include "rpc/grpc.h"
#include "rpc/h2conn.h"

#define MAX_SLOTS       256u
#define MAX_RESPONSE    ((size_t)4 << 20)
#define OUT_CAP         ((size_t)64 * 1024)
#define STALL_MS        5000
#define STATUS_TEXT_MAX 256

#if NGHTTP2_VERSION_NUM >= 0x013c00
#define h2_mem_recv nghttp2_session_mem_recv2
#define h2_mem_send nghttp2_session_mem_send2
#else
#define h2_mem_recv nghttp2_session_mem_recv
#define h2_mem_send nghttp2_session_mem_send
#endif

struct slot {
    struct gdp_bench_conn *conn;
    bool busy, closed, trailers;
    int32_t stream_id;
    unsigned index; /* call number, for messages */
    uint64_t start_ns, end_ns;
    const uint8_t *req; /* framed request, shared by all slots */
    size_t req_len, req_off;
    struct gdp_grpc_msgbuf resp;
    int resp_err; /* first error from gdp_grpc_msgbuf_append */
    int http_status, grpc_status;
    uint32_t h2_error;
    char grpc_message[STATUS_TEXT_MAX];
};

struct gdp_bench_conn {
    int fd;
    nghttp2_session *session;
    uint8_t out[OUT_CAP];
    size_t out_len;
    bool eof;
};

uint64_t
gdp_bench_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- nghttp2 callbacks ---- */

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags _unused_, void *user_data _unused_)
{
    struct slot *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL || frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    const char *n = (const char *)name, *v = (const char *)value;
    if (namelen == 7 && memcmp(n, ":status", 7) == 0) {
        s->http_status = gdp_grpc_status_parse(v, valuelen); /* three digits, like a status */
    } else if (namelen == 11 && memcmp(n, "grpc-status", 11) == 0) {
        s->grpc_status = gdp_grpc_status_parse(v, valuelen);
    } else if (namelen == 12 && memcmp(n, "grpc-message", 12) == 0) {
        (void)gdp_grpc_message_decode(v, valuelen, s->grpc_message, sizeof s->grpc_message);
    }
    return 0;
}

static int
on_data_chunk(nghttp2_session *session, uint8_t flags _unused_, int32_t stream_id,
              const uint8_t *data, size_t len, void *user_data _unused_)
{
    struct slot *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL && s->resp_err == 0) {
        /* -E2BIG once bytes follow the first message: a unary answer carries exactly one */
        s->resp_err = gdp_grpc_msgbuf_append(&s->resp, data, len, MAX_RESPONSE);
    }
    return 0;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data _unused_)
{
    if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    struct slot *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s != NULL) {
        s->trailers = true;
        s->end_ns = gdp_bench_now_ns();
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                void *user_data _unused_)
{
    struct slot *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL) {
        s->closed = true;
        s->h2_error = error_code;
        if (s->end_ns == 0) {
            s->end_ns = gdp_bench_now_ns();
        }
    }
    return 0;
}

static gdp_h2_ssize
read_request(nghttp2_session *session _unused_, int32_t stream_id _unused_, uint8_t *buf,
             size_t length, uint32_t *data_flags, nghttp2_data_source *source,
             void *user_data _unused_)
{
    struct slot *s = source->ptr;
    size_t n = s->req_len - s->req_off;
    n = n < length ? n : length;
    memcpy(buf, s->req + s->req_off, n);
    s->req_off += n;
    if (s->req_off == s->req_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF; /* END_STREAM on the last DATA frame */
    }
    return (gdp_h2_ssize)n;
}

/* ---- connection ---- */

static nghttp2_session *
session_new(struct gdp_bench_conn *conn)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session *session = NULL;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        gdp_oom();
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int r = nghttp2_session_client_new(&session, cbs, conn);
    nghttp2_session_callbacks_del(cbs);
    if (r != 0) {
        gdp_oom();
    }
    const nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_SLOTS},
    };
    (void)nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings));
    return session;
}

int
gdp_bench_conn_open(const char *path, struct gdp_bench_conn **ret_conn)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (gdp_strlcpy(sa.sun_path, path, sizeof sa.sun_path) < 0) {
        (void)fprintf(stderr, "socket path too long: %s\n", path);
        return -ENAMETOOLONG;
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int r = -errno;
        (void)fprintf(stderr, "connect %s: %s\n", path, strerror(errno));
        return r;
    }
    struct timeval tv = {.tv_sec = 1};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct gdp_bench_conn *conn = gdp_calloc(1, sizeof *conn);
    conn->fd = TAKE_FD(fd);
    conn->session = session_new(conn);
    *ret_conn = conn;
    return 0;
}

void
gdp_bench_conn_free(struct gdp_bench_conn *conn)
{
    if (conn == NULL) {
        return;
    }
    nghttp2_session_del(conn->session);
    (void)close(conn->fd);
    free(conn);
}

static int
send_out(struct gdp_bench_conn *conn)
{
    size_t off = 0;
    while (off < conn->out_len) {
        ssize_t n = send(conn->fd, conn->out + off, conn->out_len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            (void)fprintf(stderr, "send: %s\n", strerror(errno));
            return -errno;
        }
        off += (size_t)n;
    }
    conn->out_len = 0;
    return 0;
}

/* Drains nghttp2's output into the socket, batched into as few send() calls as fit. */
static int
flush(struct gdp_bench_conn *conn)
{
    for (;;) {
        const uint8_t *data;
        gdp_h2_ssize n = h2_mem_send(conn->session, &data);
        if (n < 0) {
            (void)fprintf(stderr, "nghttp2 send: %s\n", nghttp2_strerror((int)n));
            return -EPROTO;
        }
        if (n == 0) {
            break;
        }
        if (conn->out_len + (size_t)n > OUT_CAP) {
            int r = send_out(conn);
            if (r < 0) {
                return r;
            }
        }
        if ((size_t)n > OUT_CAP) {
            (void)fprintf(stderr, "nghttp2 frame larger than the output buffer\n");
            return -EMSGSIZE;
        }
        memcpy(conn->out + conn->out_len, data, (size_t)n);
        conn->out_len += (size_t)n;
    }
    return send_out(conn);
}

/* Waits up to timeout_ms for input and feeds everything readable to nghttp2. Returns the
 * number of bytes read (0 on timeout) or a negative error. */
static ssize_t
feed(struct gdp_bench_conn *conn, int timeout_ms)
{
    struct pollfd p = {.fd = conn->fd, .events = POLLIN};
    int pr = poll(&p, 1, timeout_ms);
    if (pr <= 0) {
        return pr < 0 && errno != EINTR ? -errno : 0;
    }
    uint8_t buf[16 * 1024];
    ssize_t total = 0;
    for (;;) {
        ssize_t n = recv(conn->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            conn->eof = true;
            (void)fprintf(stderr, "connection closed by the server\n");
            return -ECONNRESET;
        }
        if (n < 0) {
            return errno == EAGAIN ? total : -errno;
        }
        total += n;
        if (h2_mem_recv(conn->session, buf, (size_t)n) < 0) {
            (void)fprintf(stderr, "nghttp2 rejected the server's bytes\n");
            return -EPROTO;
        }
    }
}

/* ---- calls ---- */

static int
slot_submit(struct gdp_bench_conn *conn, struct slot *s, const char *method, unsigned index)
{
    const nghttp2_nv nva[] = {
            GDP_H2_NV_LIT(":method", "POST"),
            GDP_H2_NV_LIT(":scheme", "http"),
            GDP_H2_NV(":path", method, strlen(method)),
            GDP_H2_NV_LIT(":authority", "localhost"),
            GDP_H2_NV_LIT("content-type", "application/grpc"),
            GDP_H2_NV_LIT("user-agent", "gdp-bench-client"),
            GDP_H2_NV_LIT("te", "trailers"),
    };
    gdp_grpc_msgbuf_done(&s->resp);
    gdp_grpc_msgbuf_init(&s->resp);
    s->busy = true;
    s->closed = s->trailers = false;
    s->index = index;
    s->req_off = 0;
    s->resp_err = 0;
    s->http_status = s->grpc_status = -1;
    s->h2_error = 0;
    s->grpc_message[0] = '\0';
    s->end_ns = 0;
    s->start_ns = gdp_bench_now_ns();
    s->stream_id = gdp_h2_submit_request(conn->session, nva, ELEMENTSOF(nva), read_request, s);
    if (s->stream_id < 0) {
        (void)fprintf(stderr, "nghttp2_submit_request: %s\n", nghttp2_strerror(s->stream_id));
        return -EPROTO;
    }
    return 0;
}

/* A finished unary call: everything must say OK. */
static int
slot_check(const struct slot *s, const char *method)
{
    struct gdp_slice msg;
    const char *what = NULL;
    if (s->h2_error != 0) {
        what = "stream reset";
    } else if (!s->trailers || s->grpc_status < 0) {
        what = "no grpc-status trailer";
    } else if (s->grpc_status != 0) {
        what = "grpc-status is not 0";
    } else if (s->http_status != 200) {
        what = ":status is not 200";
    } else if (s->resp_err < 0 || gdp_grpc_msgbuf_finish(&s->resp, &msg) < 0) {
        what = "not exactly one response message";
    }
    if (what == NULL) {
        return 0;
    }
    (void)fprintf(stderr,
                  "FAILED: call #%u %s (stream %d): %s: grpc-status=%d (%s) grpc-message=\"%s\" "
                  ":status=%d h2-error=%u\n",
                  s->index, method, s->stream_id, what, s->grpc_status,
                  s->grpc_status >= 0 ? gdp_grpc_status_name(s->grpc_status) : "none",
                  s->grpc_message, s->http_status, s->h2_error);
    return -EPROTO;
}

static uint8_t *
frame_request(const uint8_t *msg, size_t len, size_t *ret_len)
{
    uint8_t *framed = gdp_malloc(GDP_GRPC_FRAME_HDR + len);
    gdp_grpc_frame_header(framed, len);
    if (len > 0) {
        memcpy(framed + GDP_GRPC_FRAME_HDR, msg, len);
    }
    *ret_len = GDP_GRPC_FRAME_HDR + len;
    return framed;
}

struct run {
    struct gdp_bench_conn *conn;
    struct gdp_bench_unary *u;
    struct slot *slots;
    unsigned started, done, in_flight;
};

/* Collects finished calls; frees their slots for new ones. */
static int
reap(struct run *run)
{
    for (unsigned i = 0; i < run->u->concurrency; i++) {
        struct slot *s = &run->slots[i];
        if (!s->busy || !s->closed) {
            continue;
        }
        int r = slot_check(s, run->u->method);
        if (r < 0) {
            return r;
        }
        run->u->lat_ns[run->done++] = s->end_ns - s->start_ns;
        s->busy = false;
        run->in_flight--;
    }
    return 0;
}

static int
fill(struct run *run)
{
    for (unsigned i = 0; i < run->u->concurrency && run->started < run->u->calls; i++) {
        struct slot *s = &run->slots[i];
        if (s->busy) {
            continue;
        }
        int r = slot_submit(run->conn, s, run->u->method, run->started);
        if (r < 0) {
            return r;
        }
        run->started++;
        run->in_flight++;
    }
    return flush(run->conn);
}

static int
run_loop(struct run *run)
{
    while (run->done < run->u->calls) {
        int r = fill(run);
        if (r < 0) {
            return r;
        }
        ssize_t n = feed(run->conn, STALL_MS);
        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            (void)fprintf(stderr, "FAILED: no answer for %d ms (%u of %u calls done)\n", STALL_MS,
                          run->done, run->u->calls);
            return -ETIMEDOUT;
        }
        r = reap(run);
        if (r < 0) {
            return r;
        }
    }
    return flush(run->conn); /* WINDOW_UPDATEs and the like */
}

int
gdp_bench_unary_run(struct gdp_bench_conn *conn, struct gdp_bench_unary *u)
{
    if (u->concurrency == 0 || u->concurrency > MAX_SLOTS) {
        (void)fprintf(stderr, "concurrency must be 1..%u\n", MAX_SLOTS);
        return -EINVAL;
    }
    size_t framed_len;
    _cleanup_free_ uint8_t *framed = frame_request(u->msg, u->len, &framed_len);
    _cleanup_free_ struct slot *slots = gdp_calloc(u->concurrency, sizeof *slots);
    for (unsigned i = 0; i < u->concurrency; i++) {
        slots[i] = (struct slot){.conn = conn, .req = framed, .req_len = framed_len};
        gdp_grpc_msgbuf_init(&slots[i].resp);
    }
    struct run run = {.conn = conn, .u = u, .slots = slots};
    int r = run_loop(&run);
    for (unsigned i = 0; i < u->concurrency; i++) {
        if (slots[i].busy) {
            nghttp2_session_set_stream_user_data(conn->session, slots[i].stream_id, NULL);
        }
        gdp_grpc_msgbuf_done(&slots[i].resp);
    }
    return r;
}

static int
stream_wait(struct gdp_bench_conn *conn, struct slot *s, const char *method, int timeout_ms)
{
    uint64_t deadline = gdp_bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (!s->resp.complete) {
        if (s->closed) {
            (void)slot_check(s, method);
            (void)fprintf(stderr, "FAILED: %s ended before its first message\n", method);
            return -EPROTO;
        }
        uint64_t now = gdp_bench_now_ns();
        if (now >= deadline) {
            (void)fprintf(stderr, "FAILED: no %s message within %d ms\n", method, timeout_ms);
            return -ETIMEDOUT;
        }
        ssize_t n = feed(conn, (int)((deadline - now) / 1000000u) + 1);
        if (n < 0) {
            return (int)n;
        }
    }
    return 0;
}

int
gdp_bench_stream_first(struct gdp_bench_conn *conn, const char *method, const uint8_t *msg,
                       size_t len, int timeout_ms, uint8_t **ret_msg, size_t *ret_len)
{
    size_t framed_len;
    _cleanup_free_ uint8_t *framed = frame_request(msg, len, &framed_len);
    struct slot s = {.conn = conn, .req = framed, .req_len = framed_len};
    gdp_grpc_msgbuf_init(&s.resp);
    int r = slot_submit(conn, &s, method, 0);
    r = r < 0 ? r : flush(conn);
    r = r < 0 ? r : stream_wait(conn, &s, method, timeout_ms);
    if (r == 0) {
        struct gdp_slice first;
        (void)gdp_grpc_msgbuf_finish(&s.resp, &first);
        *ret_msg = gdp_malloc(first.len > 0 ? first.len : 1);
        memcpy(*ret_msg, first.data, first.len);
        *ret_len = first.len;
    }
    if (s.stream_id > 0 && !s.closed) {
        nghttp2_session_set_stream_user_data(conn->session, s.stream_id, NULL);
    }
    gdp_grpc_msgbuf_done(&s.resp);
    return r;
}
