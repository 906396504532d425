/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC server: one nghttp2 server session per connection, a method table, request
 * validation, request buffers capped per connection and per server, per-call response queues
 * fed to nghttp2 through deferred data providers, Trailers-Only errors, deadlines and graceful
 * shutdown. The listener, admission and connection deadlines are in listener.c.
 *
 * Lifetimes: a call lives from the first request HEADERS until nghttp2 closes its stream
 * (on_stream_close) or its connection is reaped. A connection is reaped only from the loop
 * hook, never from its own I/O callback.
 */
#include "rpc/server.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/grpc.h"
#include "rpc/h2conn.h"
#include "rpc/server_int.h"

#define DEFAULT_MAX_CONNECTIONS 16u
#define DEFAULT_MAX_STREAMS     100u
#define DEFAULT_MAX_SEND_QUEUE  (8u << 20)
#define MAX_HEADER_LIST         ((size_t)16 * 1024) /* SETTINGS_MAX_HEADER_LIST_SIZE, enforced */
#define MAX_PATH_LEN            256u
#define DEFAULT_CONN_BUFFERED   ((size_t)8 << 20)
#define DEFAULT_BUFFERED        ((size_t)16 << 20)
#define DEFAULT_HANDSHAKE_MS    10000u
#define DEFAULT_IDLE_MS         300000u
#define TRIM_THRESHOLD          ((size_t)1 << 20)  /* held at once: give memory back afterwards, */
#define TRIM_LOW                ((size_t)64 << 10) /* once no more than this is held */
#define TRIM_CHURN              64u /* connections gone: give memory back once few are left */
#define WARN_INTERVAL_MS        10000u
#define WARN_BURST              5u

enum call_flags {
    CALL_BAD_METHOD = 1u << 0,   /* :method is not POST */
    CALL_BAD_CTYPE = 1u << 1,    /* content-type is not application/grpc[+...|;...] */
    CALL_BAD_ENCODING = 1u << 2, /* grpc-encoding other than identity */
    CALL_BAD_TIMEOUT = 1u << 3,  /* malformed grpc-timeout */
    CALL_HAS_TIMEOUT = 1u << 4,
    CALL_REQ_ENDED = 1u << 5,     /* END_STREAM received */
    CALL_ANSWERED = 1u << 6,      /* final status decided; nothing more may be queued */
    CALL_HEADERS_SENT = 1u << 7,  /* response HEADERS submitted with a data provider */
    CALL_DEFERRED = 1u << 8,      /* data provider returned NGHTTP2_ERR_DEFERRED */
    CALL_TRAILERS_SENT = 1u << 9, /* our END_STREAM went out */
    CALL_DISPATCHED = 1u << 10,   /* handler ran */
};

struct out_msg {
    struct out_msg *next;
    size_t len, off;
    uint8_t data[]; /* 5-byte prefix + message */
};

struct gdp_rpc_call {
    struct conn *conn;
    struct gdp_rpc_call *prev, *next;
    int32_t stream_id;
    unsigned flags;
    size_t header_bytes;
    uint64_t timeout_ms;
    char *path;
    const struct gdp_rpc_method *method;
    struct gdp_grpc_msgbuf req;
    struct out_msg *q_head, *q_tail;
    size_t q_bytes;
    int status;
    char *message; /* percent-encoded grpc-message, or NULL */
    struct gdp_loop_timer *deadline;
    size_t held; /* request bytes counted in conn->buffered and server->buffered */
    gdp_rpc_done_fn done_fn;
    void *done_userdata;
};

/* ---- response queue and data provider ---- */

static void
queue_push(struct gdp_rpc_call *call, const void *msg, size_t len)
{
    struct out_msg *m = gdp_malloc(sizeof *m + GDP_GRPC_FRAME_HDR + len);
    m->next = NULL;
    m->len = GDP_GRPC_FRAME_HDR + len;
    m->off = 0;
    gdp_grpc_frame_header(m->data, len);
    if (len > 0) {
        memcpy(m->data + GDP_GRPC_FRAME_HDR, msg, len);
    }
    if (call->q_tail != NULL) {
        call->q_tail->next = m;
    } else {
        call->q_head = m;
    }
    call->q_tail = m;
    call->q_bytes += m->len;
}

/* Drops every queued message except one already partly on the wire. */
static void
queue_drop_unstarted(struct gdp_rpc_call *call)
{
    struct out_msg *keep = (call->q_head != NULL && call->q_head->off > 0) ? call->q_head : NULL;
    struct out_msg *m = keep != NULL ? keep->next : call->q_head;
    while (m != NULL) {
        struct out_msg *next = m->next;
        call->q_bytes -= m->len;
        free(m);
        m = next;
    }
    if (keep != NULL) {
        keep->next = NULL;
    }
    call->q_head = call->q_tail = keep;
}

static void
queue_clear(struct gdp_rpc_call *call)
{
    while (call->q_head != NULL) {
        struct out_msg *m = call->q_head;
        call->q_head = m->next;
        free(m);
    }
    call->q_tail = NULL;
    call->q_bytes = 0;
}

static size_t
status_nv(const struct gdp_rpc_call *call, char code[4], nghttp2_nv *nva)
{
    int n = snprintf(code, 4, "%d", call->status);
    nva[0] = GDP_H2_NV("grpc-status", code, (size_t)(n > 0 ? n : 0));
    if (call->message == NULL || call->message[0] == '\0') {
        return 1;
    }
    nva[1] = GDP_H2_NV("grpc-message", call->message, strlen(call->message));
    return 2;
}

static int
submit_trailers(nghttp2_session *session, struct gdp_rpc_call *call)
{
    char code[4];
    nghttp2_nv nva[2];
    size_t n = status_nv(call, code, nva);
    return nghttp2_submit_trailer(session, call->stream_id, nva, n);
}

static gdp_h2_ssize /* NOLINTNEXTLINE(readability-function-size): nghttp2 callback */
call_read(nghttp2_session *session, int32_t stream_id _unused_, uint8_t *buf, size_t len,
          uint32_t *data_flags, nghttp2_data_source *source, void *user_data _unused_)
{
    struct gdp_rpc_call *call = source->ptr;
    size_t n = 0;
    while (n < len && call->q_head != NULL) {
        struct out_msg *m = call->q_head;
        size_t take = m->len - m->off < len - n ? m->len - m->off : len - n;
        memcpy(buf + n, m->data + m->off, take);
        m->off += take;
        n += take;
        if (m->off == m->len) {
            call->q_head = m->next;
            if (call->q_head == NULL) {
                call->q_tail = NULL;
            }
            call->q_bytes -= m->len;
            free(m);
        }
    }
    if (call->q_head == NULL && (call->flags & CALL_ANSWERED)) {
        /* trailers from inside the provider, so they cannot overtake queued DATA */
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        if (submit_trailers(session, call) != 0) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return (gdp_h2_ssize)n;
    }
    if (n == 0) {
        call->flags |= CALL_DEFERRED;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (gdp_h2_ssize)n;
}

static void
resume(struct gdp_rpc_call *call)
{
    if (call->flags & CALL_DEFERRED) {
        call->flags &= ~(unsigned)CALL_DEFERRED;
        (void)nghttp2_session_resume_data(call->conn->h2.session, call->stream_id);
    }
}

static int
start_response(struct gdp_rpc_call *call)
{
    const nghttp2_nv nva[] = {
            GDP_H2_NV_LIT(":status", "200"),
            GDP_H2_NV_LIT("content-type", "application/grpc"),
    };
    int r = gdp_h2_submit_response(call->conn->h2.session, call->stream_id, nva, ELEMENTSOF(nva),
                                   call_read, call);
    if (r != 0) {
        return -EPROTO;
    }
    call->flags |= CALL_HEADERS_SENT;
    return 0;
}

/* A response that is only HEADERS + END_STREAM: Trailers-Only, or an HTTP-level error. */
static void
submit_headers_only(struct gdp_rpc_call *call, const char *http_status)
{
    char code[4];
    nghttp2_nv nva[4] = {
            GDP_H2_NV(":status", http_status, strlen(http_status)),
            GDP_H2_NV_LIT("content-type", "application/grpc"),
    };
    size_t n = 2 + status_nv(call, code, nva + 2);
    (void)gdp_h2_submit_response(call->conn->h2.session, call->stream_id, nva, n, NULL, NULL);
}

static void
set_status(struct gdp_rpc_call *call, int status, const char *message)
{
    char enc[GDP_GRPC_MESSAGE_MAX * 3 + 1];
    call->status = status;
    free(call->message);
    call->message = NULL;
    if (message != NULL && message[0] != '\0') {
        (void)gdp_grpc_message_encode(message, enc, sizeof enc);
        call->message = gdp_strdup(enc);
    }
    call->flags |= CALL_ANSWERED;
}

/* Frees the request buffer and takes its bytes off the connection's and server's counts. */
static void
req_release(struct gdp_rpc_call *call)
{
    struct conn *c = call->conn;
    c->buffered -= call->held;
    c->server->buffered -= call->held;
    call->held = 0;
    gdp_grpc_msgbuf_done(&call->req);
}

/* Ends the call with an error status from any state; the connection keeps serving. */
static void
call_fail_http(struct gdp_rpc_call *call, const char *http_status, int status, const char *msg)
{
    if (call->flags & CALL_ANSWERED) {
        return;
    }
    set_status(call, status, msg);
    req_release(call);
    if (call->flags & CALL_HEADERS_SENT) {
        queue_drop_unstarted(call); /* a message half on the wire must still complete */
        resume(call);
    } else {
        submit_headers_only(call, http_status);
    }
}

static void
call_fail(struct gdp_rpc_call *call, int status, const char *msg)
{
    call_fail_http(call, "200", status, msg);
}

/* ---- public call API ---- */

const char *
gdp_rpc_call_path(const struct gdp_rpc_call *call)
{
    return call->path != NULL ? call->path : "";
}

int
gdp_rpc_call_send(struct gdp_rpc_call *call, const void *msg, size_t len, unsigned flags)
{
    const struct gdp_rpc_server_options *o = &call->conn->server->opts;
    if (call->flags & CALL_ANSWERED) {
        return -EALREADY;
    }
    if (len > o->max_send_message) {
        return -EMSGSIZE;
    }
    if (flags & GDP_RPC_SEND_COALESCE) {
        queue_drop_unstarted(call);
    }
    if (call->q_bytes + GDP_GRPC_FRAME_HDR + len > o->max_send_queue) {
        return -ENOBUFS;
    }
    if (!(call->flags & CALL_HEADERS_SENT) && start_response(call) < 0) {
        return -EPROTO;
    }
    queue_push(call, msg, len);
    resume(call);
    return 0;
}

int
gdp_rpc_call_finish(struct gdp_rpc_call *call, int status, const char *message)
{
    if (call->flags & CALL_ANSWERED) {
        return -EALREADY;
    }
    set_status(call, status, message);
    if (call->flags & CALL_HEADERS_SENT) {
        resume(call);
    } else {
        submit_headers_only(call, "200");
    }
    return 0;
}

int
gdp_rpc_call_reply(struct gdp_rpc_call *call, const void *msg, size_t len)
{
    int r = gdp_rpc_call_send(call, msg, len, 0);
    return r < 0 ? r : gdp_rpc_call_finish(call, 0, NULL);
}

void
gdp_rpc_call_set_done(struct gdp_rpc_call *call, gdp_rpc_done_fn fn, void *userdata)
{
    call->done_fn = fn;
    call->done_userdata = userdata;
}

/* ---- call lifecycle ---- */

static struct gdp_rpc_call *
call_new(struct conn *c, int32_t stream_id)
{
    struct gdp_rpc_call *call = gdp_calloc(1, sizeof *call);
    call->conn = c;
    call->stream_id = stream_id;
    c->n_calls++;
    gdp_grpc_msgbuf_init(&call->req);
    call->next = c->calls;
    if (c->calls != NULL) {
        c->calls->prev = call;
    }
    c->calls = call;
    return call;
}

static void
call_free(struct gdp_rpc_call *call, bool cancelled)
{
    struct conn *c = call->conn;
    if (call->prev != NULL) {
        call->prev->next = call->next;
    } else {
        c->calls = call->next;
    }
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }
    /* the done callback must see a call that refuses further sends */
    call->flags |= CALL_ANSWERED;
    if (call->done_fn != NULL) {
        call->done_fn(call, cancelled, call->done_userdata);
    }
    gdp_loop_timer_free(call->deadline);
    queue_clear(call);
    req_release(call);
    if (--c->n_calls == 0) {
        c->since_ms = gdp_loop_now_ms();
    }
    free(call->path);
    free(call->message);
    free(call);
}

static void
call_on_deadline(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer, void *userdata)
{
    struct gdp_rpc_call *call = userdata;
    gdp_loop_timer_free(timer);
    call->deadline = NULL;
    log_debug("rpc: deadline exceeded path=%s", gdp_rpc_call_path(call));
    call_fail(call, GDP_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static const struct gdp_rpc_method *
find_method(const struct gdp_rpc_server *s, const char *path)
{
    for (size_t i = 0; i < s->n_methods; i++) {
        if (streq(s->methods[i].path, path)) {
            return &s->methods[i];
        }
    }
    return NULL;
}

/* The request headers are complete: validate them before any body arrives. */
static void
call_headers_done(struct gdp_rpc_call *call)
{
    struct gdp_rpc_server *s = call->conn->server;
    char msg[MAX_PATH_LEN + 64];
    if (call->flags & CALL_BAD_METHOD) {
        call_fail_http(call, "405", GDP_GRPC_INTERNAL, "method must be POST");
    } else if (call->flags & CALL_BAD_CTYPE) {
        call_fail_http(call, "415", GDP_GRPC_INTERNAL, "invalid gRPC request content-type");
    } else if (s->draining) {
        call_fail(call, GDP_GRPC_UNAVAILABLE, s->drain_message);
    } else if ((call->method = find_method(s, gdp_rpc_call_path(call))) == NULL) {
        (void)snprintf(msg, sizeof msg, "unknown method %s", gdp_rpc_call_path(call));
        call_fail(call, GDP_GRPC_UNIMPLEMENTED, msg);
    } else if (call->flags & CALL_BAD_ENCODING) {
        call_fail(call, GDP_GRPC_UNIMPLEMENTED, "only identity encoding is supported");
    } else if (call->flags & CALL_BAD_TIMEOUT) {
        call_fail(call, GDP_GRPC_INTERNAL, "malformed grpc-timeout");
    } else if (call->flags & CALL_HAS_TIMEOUT) {
        if (gdp_loop_timer_new(s->loop, call_on_deadline, call, &call->deadline, NULL) < 0 ||
            gdp_loop_timer_set(call->deadline, call->timeout_ms > 0 ? call->timeout_ms : 1, 0) <
                    0) {
            call_fail(call, GDP_GRPC_INTERNAL, "cannot arm deadline timer");
        }
    }
}

/* END_STREAM from the client: the request is complete; run the handler. */
static void
call_request_end(struct gdp_rpc_call *call)
{
    struct gdp_slice req;
    call->flags |= CALL_REQ_ENDED;
    if (call->flags & (CALL_ANSWERED | CALL_DISPATCHED)) {
        return;
    }
    if (gdp_grpc_msgbuf_finish(&call->req, &req) < 0) {
        call_fail(call, GDP_GRPC_INTERNAL, "request carries no complete message");
        return;
    }
    call->flags |= CALL_DISPATCHED;
    log_debug("rpc: call path=%s len=%zu", call->method->path, req.len);
    call->method->handler(call, req.data, req.len, call->method->userdata);
    if (call->method->kind == GDP_RPC_UNARY && !(call->flags & CALL_ANSWERED)) {
        call_fail(call, GDP_GRPC_INTERNAL, "handler did not answer");
    }
}

/* Counts len more request bytes, or fails the call when a buffer cap would be passed. */
static bool
req_admit(struct gdp_rpc_call *call, size_t len)
{
    struct conn *c = call->conn;
    struct gdp_rpc_server *s = c->server;
    char msg[160];
    if (c->buffered + len > s->opts.max_conn_buffered || s->buffered + len > s->opts.max_buffered) {
        (void)snprintf(msg, sizeof msg,
                       "request buffer limit reached (%zu bytes per connection, %zu per server)",
                       s->opts.max_conn_buffered, s->opts.max_buffered);
        call_fail(call, GDP_GRPC_RESOURCE_EXHAUSTED, msg);
        return false;
    }
    call->held += len;
    c->buffered += len;
    s->buffered += len;
    s->trim = s->trim || s->buffered >= TRIM_THRESHOLD;
    return true;
}

static void
call_data(struct gdp_rpc_call *call, const uint8_t *data, size_t len)
{
    size_t max = call->conn->server->opts.max_recv_message;
    char msg[128];
    if ((call->flags & (CALL_ANSWERED | CALL_DISPATCHED)) || !req_admit(call, len)) {
        return;
    }
    switch (gdp_grpc_msgbuf_append(&call->req, data, len, max)) {
    case 0:
        return;
    case -EMSGSIZE:
        (void)snprintf(msg, sizeof msg, "received message larger than max (%zu vs. %zu)",
                       call->req.body_need, max);
        call_fail(call, GDP_GRPC_RESOURCE_EXHAUSTED, msg);
        return;
    case -EPROTO:
        call_fail(call, GDP_GRPC_UNIMPLEMENTED, "compressed messages are not supported");
        return;
    default:
        call_fail(call, GDP_GRPC_INTERNAL, "more than one request message");
        return;
    }
}

static bool
grpc_content_type(const uint8_t *v, size_t len)
{
    static const char ct[] = "application/grpc";
    size_t n = sizeof ct - 1;
    if (len < n || memcmp(v, ct, n) != 0) {
        return false;
    }
    return len == n || v[n] == '+' || v[n] == ';';
}

#define HDR_IS(name, lit) \
    ((name).len == sizeof(lit) - 1 && memcmp((name).data, lit, (name).len) == 0)

static void
call_header(struct gdp_rpc_call *call, struct gdp_slice name, struct gdp_slice value)
{
    if (HDR_IS(name, ":method")) {
        if (!HDR_IS(value, "POST")) {
            call->flags |= CALL_BAD_METHOD;
        }
    } else if (HDR_IS(name, ":path")) {
        free(call->path);
        call->path = gdp_strndup((const char *)value.data,
                                 value.len < MAX_PATH_LEN ? value.len : MAX_PATH_LEN);
    } else if (HDR_IS(name, "content-type")) {
        if (!grpc_content_type(value.data, value.len)) {
            call->flags |= CALL_BAD_CTYPE;
        }
    } else if (HDR_IS(name, "grpc-encoding")) {
        if (!HDR_IS(value, "identity")) {
            call->flags |= CALL_BAD_ENCODING;
        }
    } else if (HDR_IS(name, "grpc-timeout")) {
        bool ok =
                gdp_grpc_timeout_parse((const char *)value.data, value.len, &call->timeout_ms) == 0;
        call->flags |= ok ? CALL_HAS_TIMEOUT : CALL_BAD_TIMEOUT;
    }
}

/* ---- nghttp2 callbacks (user_data is the struct conn) ---- */

static struct gdp_rpc_call *
stream_call(nghttp2_session *session, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int
on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    struct gdp_rpc_call *call = call_new(user_data, frame->hd.stream_id);
    if (nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call) != 0) {
        call_free(call, true);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    /* a request without :content-type still needs one to be valid */
    call->flags |= CALL_BAD_CTYPE;
    return 0;
}

static int /* NOLINTNEXTLINE(readability-function-size): nghttp2 callback */
on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags _unused_, void *user_data _unused_)
{
    struct gdp_rpc_call *call = stream_call(session, frame->hd.stream_id);
    if (call == NULL || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* trailers from a client: nothing in them concerns us */
    }
    call->header_bytes += namelen + valuelen + 32; /* RFC 9113 header list size */
    if (call->header_bytes > MAX_HEADER_LIST) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
    }
    if (namelen == sizeof "content-type" - 1 && memcmp(name, "content-type", namelen) == 0) {
        call->flags &= ~(unsigned)CALL_BAD_CTYPE;
    }
    call_header(call, (struct gdp_slice){name, namelen}, (struct gdp_slice){value, valuelen});
    return 0;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        ((struct conn *)user_data)->handshaken = true;
    }
    struct gdp_rpc_call *call = stream_call(session, frame->hd.stream_id);
    if (call == NULL) {
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        call_headers_done(call);
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        call_request_end(call);
    }
    return 0;
}

static int
on_data_chunk_recv(nghttp2_session *session, uint8_t flags _unused_, int32_t stream_id,
                   const uint8_t *data, size_t len, void *user_data _unused_)
{
    struct gdp_rpc_call *call = stream_call(session, stream_id);
    if (call != NULL) {
        call_data(call, data, len);
    }
    return 0;
}

static int
on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data _unused_)
{
    struct gdp_rpc_call *call = stream_call(session, frame->hd.stream_id);
    if (call == NULL || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    call->flags |= CALL_TRAILERS_SENT;
    if (!(call->flags & CALL_REQ_ENDED)) {
        /* we answered before the client finished sending: tell it to stop (gRPC spec) */
        (void)nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, call->stream_id,
                                        NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                void *user_data _unused_)
{
    struct gdp_rpc_call *call = stream_call(session, stream_id);
    if (call != NULL) {
        (void)nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        bool finished = (call->flags & CALL_TRAILERS_SENT) && error_code == NGHTTP2_NO_ERROR;
        call_free(call, !finished);
    }
    return 0;
}

static nghttp2_session_callbacks *
make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        gdp_oom();
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

/* ---- connections ---- */

static void
conn_free(struct conn *c)
{
    struct gdp_rpc_server *s = c->server;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->n_conns--;
    /* nghttp2_session_del runs no stream callbacks: free our calls ourselves */
    gdp_h2conn_done(&c->h2);
    struct gdp_rpc_call *next;
    for (struct gdp_rpc_call *call = c->calls; call != NULL; call = next) {
        next = call->next;
        call_free(call, true);
    }
    free(c);
}

static void
conn_on_io(struct gdp_loop *loop _unused_, int fd _unused_, uint32_t events, void *userdata)
{
    struct conn *c = userdata;
    int r = 0;
    if (c->closing) {
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        r = gdp_h2conn_feed(&c->h2);
    }
    if (r >= 0) {
        r = gdp_h2conn_flush(&c->h2);
    }
    if (r < 0 && r != -ECONNRESET) {
        log_debug("rpc: closing connection: %s", gdp_strerror(r));
    }
    if (r < 0 || !gdp_h2conn_alive(&c->h2)) {
        c->closing = true; /* reaped after dispatch, never freed here */
    }
}

int
gdp_rpc_conn_new(struct gdp_rpc_server *s, int fd, struct gdp_diag *diag)
{
    struct conn *c = gdp_calloc(1, sizeof *c);
    nghttp2_session *session;
    c->server = s;
    if (nghttp2_session_server_new(&session, s->cbs, c) != 0) {
        gdp_oom();
    }
    const nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->opts.max_streams},
            {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST},
    };
    /* grpc-go's dial is not READY until it reads our SETTINGS: queue them at once */
    (void)nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings));
    int r = gdp_h2conn_init(&c->h2, s->loop, fd, session, conn_on_io, c);
    if (r < 0) {
        nghttp2_session_del(session);
        free(c);
        return gdp_diag_set(diag, r, "watching connection: %s", gdp_strerror(r));
    }
    c->since_ms = gdp_loop_now_ms();
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    if (s->n_conns++ == 0) {
        (void)gdp_loop_timer_set(s->sweep, gdp_rpc_server_sweep_interval(s),
                                 gdp_rpc_server_sweep_interval(s));
    }
    return 0;
}

/* ---- server ---- */

/*
 * glibc raises its mmap threshold each time a large mmapped block is freed, after which large
 * request buffers come from the heap and stay there. A fixed threshold keeps them mmapped,
 * so they go back to the system when freed.
 */
static void
fix_mmap_threshold(void)
{
    static bool done;
    if (!done) {
        done = true;
        (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    }
}

static void server_hook(struct gdp_loop *loop, void *userdata);

int
gdp_rpc_server_new(struct gdp_loop *loop, const struct gdp_rpc_method *methods, size_t n_methods,
                   const struct gdp_rpc_server_options *opts, struct gdp_rpc_server **ret_server,
                   struct gdp_diag *diag)
{
    for (size_t i = 0; i < n_methods; i++) {
        if (methods[i].path == NULL || methods[i].path[0] != '/' || methods[i].handler == NULL) {
            return gdp_diag_set(diag, -EINVAL,
                                "method %zu: path must start with '/' and a "
                                "handler is required",
                                i);
        }
    }
    struct gdp_rpc_server *s = gdp_calloc(1, sizeof *s);
    s->loop = loop;
    s->listen_fd = -1;
    s->methods = gdp_reallocarray(NULL, n_methods, sizeof *methods);
    if (n_methods > 0) {
        memcpy(s->methods, methods, n_methods * sizeof *methods);
    }
    s->n_methods = n_methods;
    s->opts = opts != NULL ? *opts : (struct gdp_rpc_server_options){0};
    struct gdp_rpc_server_options *o = &s->opts;
    o->max_connections = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
    o->max_streams = o->max_streams ? o->max_streams : DEFAULT_MAX_STREAMS;
    o->max_recv_message = o->max_recv_message ? o->max_recv_message : GDP_GRPC_MAX_RECV;
    o->max_send_message = o->max_send_message ? o->max_send_message : GDP_GRPC_MAX_RECV;
    o->max_send_queue = o->max_send_queue ? o->max_send_queue : DEFAULT_MAX_SEND_QUEUE;
    o->max_conn_buffered = o->max_conn_buffered ? o->max_conn_buffered : DEFAULT_CONN_BUFFERED;
    o->max_buffered = o->max_buffered ? o->max_buffered : DEFAULT_BUFFERED;
    o->handshake_ms = o->handshake_ms ? o->handshake_ms : DEFAULT_HANDSHAKE_MS;
    o->idle_ms = o->idle_ms ? o->idle_ms : DEFAULT_IDLE_MS;
    s->reserve_fd = -1;
    s->refused_rl = s->accept_rl =
            (struct gdp_ratelimit){.interval_ms = WARN_INTERVAL_MS, .burst = WARN_BURST};
    int r = gdp_loop_timer_new(loop, gdp_rpc_server_sweep, s, &s->sweep, diag);
    if (r < 0) {
        free(s->methods);
        free(s);
        return r;
    }
    fix_mmap_threshold();
    s->cbs = make_callbacks();
    (void)gdp_loop_add_hook(loop, server_hook, s);
    *ret_server = s;
    return 0;
}

static void
server_hook(struct gdp_loop *loop _unused_, void *userdata)
{
    struct gdp_rpc_server *s = userdata;
    struct conn *next;
    for (struct conn *c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (!c->closing && (gdp_h2conn_flush(&c->h2) < 0 || !gdp_h2conn_alive(&c->h2))) {
            c->closing = true;
        }
        if (c->closing) {
            conn_free(c);
            s->churned++;
        }
    }
    /* open streams keep their small requests: "nothing held" may never come */
    bool churn = s->churned >= TRIM_CHURN && s->n_conns <= 2;
    if ((s->trim && s->buffered <= TRIM_LOW) || churn) {
        s->trim = false;
        s->churned = 0;
        (void)malloc_trim(0);
    }
    if (s->draining && s->n_conns == 0 && !s->drained_done) {
        s->drained_done = true;
        if (s->drained_fn != NULL) {
            s->drained_fn(s, s->drained_userdata); /* may free s: nothing after this */
        }
    }
}

void
gdp_rpc_server_shutdown(struct gdp_rpc_server *server, const char *message,
                        gdp_rpc_drained_fn drained, void *userdata)
{
    if (server->draining) {
        return;
    }
    server->draining = true;
    server->drain_message = gdp_strdup(message != NULL ? message : "server shutting down");
    server->drained_fn = drained;
    server->drained_userdata = userdata;
    gdp_rpc_server_stop_listening(server);
    for (struct conn *c = server->conns; c != NULL; c = c->next) {
        for (struct gdp_rpc_call *call = c->calls; call != NULL; call = call->next) {
            call_fail(call, GDP_GRPC_UNAVAILABLE, server->drain_message);
        }
        nghttp2_session *session = c->h2.session;
        (void)nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
                                    nghttp2_session_get_last_proc_stream_id(session),
                                    NGHTTP2_NO_ERROR, NULL, 0);
    }
}

void
gdp_rpc_server_free(struct gdp_rpc_server *server)
{
    if (server == NULL) {
        return;
    }
    gdp_loop_del_hook(server->loop, server_hook, server);
    gdp_rpc_server_stop_listening(server);
    struct conn *next;
    for (struct conn *c = server->conns; c != NULL; c = next) {
        next = c->next;
        conn_free(c);
    }
    gdp_loop_timer_free(server->sweep);
    nghttp2_session_callbacks_del(server->cbs);
    free(server->methods);
    free(server->path);
    free(server->drain_message);
    free(server);
}

size_t
gdp_rpc_server_connections(const struct gdp_rpc_server *server)
{
    return server->n_conns;
}

size_t
gdp_rpc_server_buffered(const struct gdp_rpc_server *server)
{
    return server->buffered;
}
