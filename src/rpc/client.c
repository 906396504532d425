/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unary gRPC client: one connection and one stream per call. The result is collected inside
 * nghttp2 callbacks and handed to the caller only after nghttp2 has returned, from the I/O
 * or timer callback; the call is freed by its loop hook, never inside its own callbacks.
 */
#include "rpc/client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/grpc.h"
#include "rpc/h2conn.h"

#ifndef GDP_VERSION
#define GDP_VERSION "0"
#endif

enum call_state {
    CALL_RUNNING,   /* waiting for the response */
    CALL_RESULT,    /* result collected, not yet delivered */
    CALL_DELIVERED, /* callback ran (or cancelled): reap */
};

struct gdp_rpc_client_call {
    struct gdp_loop *loop;
    struct gdp_h2conn h2;
    struct gdp_loop_timer *deadline;
    gdp_rpc_reply_fn fn;
    void *userdata;
    enum call_state state;
    bool connecting, in_callback;
    int32_t stream_id;
    uint8_t *req; /* framed request */
    size_t req_len, req_off, max_response;
    struct gdp_grpc_msgbuf resp;
    int http_status, grpc_status, status;
    bool grpc_ctype;
    char message[GDP_GRPC_MESSAGE_MAX + 1];
};

static void
set_result(struct gdp_rpc_client_call *c, int status, const char *message)
{
    if (c->state != CALL_RUNNING) {
        return;
    }
    c->state = CALL_RESULT;
    c->status = status;
    (void)gdp_strlcpy(c->message, message, sizeof c->message);
}

/* Runs the callback once, outside nghttp2; the hook frees the call afterwards. */
static void
deliver(struct gdp_rpc_client_call *c)
{
    if (c->state != CALL_RESULT) {
        return;
    }
    struct gdp_rpc_result res = {.status = c->status, .message = c->message};
    struct gdp_slice msg;
    if (res.status == 0 && gdp_grpc_msgbuf_finish(&c->resp, &msg) == 0) {
        res.data = msg.data;
        res.len = msg.len;
    }
    c->state = CALL_DELIVERED;
    c->in_callback = true;
    c->fn(&res, c->userdata);
    c->in_callback = false;
}

/* The stream is over: derive the status from what arrived (gRPC's HTTP/2 mapping). */
static void
finish_stream(struct gdp_rpc_client_call *c, uint32_t error_code)
{
    char text[96];
    if (c->grpc_status >= 0) {
        struct gdp_slice msg;
        if (c->grpc_status == 0 && gdp_grpc_msgbuf_finish(&c->resp, &msg) < 0) {
            set_result(c, GDP_GRPC_INTERNAL, "response carries no complete message");
        } else {
            set_result(c, c->grpc_status, c->message);
        }
    } else if (error_code != NGHTTP2_NO_ERROR) {
        (void)snprintf(text, sizeof text, "stream reset by server (HTTP/2 error %u)", error_code);
        set_result(c, gdp_grpc_status_from_h2_error(error_code), text);
    } else if (c->http_status != 200 && c->http_status != 0) {
        (void)snprintf(text, sizeof text, "unexpected HTTP status %d", c->http_status);
        set_result(c, gdp_grpc_status_from_http(c->http_status), text);
    } else if (!c->grpc_ctype) {
        set_result(c, GDP_GRPC_INTERNAL, "malformed header: missing gRPC content-type");
    } else {
        set_result(c, GDP_GRPC_INTERNAL, "server closed the stream without sending trailers");
    }
}

/* ---- nghttp2 callbacks (user_data is the call) ---- */

static gdp_h2_ssize /* NOLINTNEXTLINE(readability-function-size): nghttp2 callback */
req_read(nghttp2_session *session _unused_, int32_t stream_id _unused_, uint8_t *buf, size_t len,
         uint32_t *data_flags, nghttp2_data_source *source, void *user_data _unused_)
{
    struct gdp_rpc_client_call *c = source->ptr;
    size_t n = c->req_len - c->req_off < len ? c->req_len - c->req_off : len;
    memcpy(buf, c->req + c->req_off, n);
    c->req_off += n;
    if (c->req_off == c->req_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF; /* END_STREAM on the last DATA frame */
    }
    return (gdp_h2_ssize)n;
}

#define NAME_IS(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp((p), (lit), (n)) == 0)

static int /* NOLINTNEXTLINE(readability-function-size): nghttp2 callback */
on_header(nghttp2_session *session _unused_, const nghttp2_frame *frame, const uint8_t *name,
          size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags _unused_,
          void *user_data)
{
    struct gdp_rpc_client_call *c = user_data;
    if (frame->hd.stream_id != c->stream_id) {
        return 0;
    }
    if (NAME_IS(name, namelen, ":status")) {
        c->http_status = 0;
        for (size_t i = 0; i < valuelen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++) {
            c->http_status = c->http_status * 10 + (value[i] - '0');
        }
    } else if (NAME_IS(name, namelen, "content-type")) {
        c->grpc_ctype = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0;
    } else if (NAME_IS(name, namelen, "grpc-status")) {
        int st = gdp_grpc_status_parse((const char *)value, valuelen);
        c->grpc_status = st >= 0 ? st : GDP_GRPC_UNKNOWN;
    } else if (NAME_IS(name, namelen, "grpc-message")) {
        (void)gdp_grpc_message_decode((const char *)value, valuelen, c->message, sizeof c->message);
    }
    return 0;
}

static int
on_data_chunk_recv(nghttp2_session *session, uint8_t flags _unused_, int32_t stream_id,
                   const uint8_t *data, size_t len, void *user_data)
{
    struct gdp_rpc_client_call *c = user_data;
    if (stream_id != c->stream_id || c->state != CALL_RUNNING) {
        return 0;
    }
    int r = gdp_grpc_msgbuf_append(&c->resp, data, len, c->max_response);
    if (r == -EMSGSIZE) {
        set_result(c, GDP_GRPC_RESOURCE_EXHAUSTED, "response larger than the receive limit");
    } else if (r == -EPROTO) {
        set_result(c, GDP_GRPC_INTERNAL, "compressed response without negotiated encoding");
    } else if (r < 0) {
        set_result(c, GDP_GRPC_INTERNAL, "more than one response message in a unary call");
    }
    if (r < 0) {
        (void)nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    }
    return 0;
}

static int
on_frame_recv(nghttp2_session *session _unused_, const nghttp2_frame *frame, void *user_data)
{
    struct gdp_rpc_client_call *c = user_data;
    /* streams above last_stream_id were never processed: safe to report UNAVAILABLE */
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.last_stream_id < c->stream_id) {
        set_result(c, GDP_GRPC_UNAVAILABLE, "server is going away");
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    struct gdp_rpc_client_call *c = user_data;
    if (stream_id == c->stream_id) {
        finish_stream(c, error_code);
        /* one call per connection: say goodbye so the server can close its side */
        (void)nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static nghttp2_session *
new_session(struct gdp_rpc_client_call *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session *session;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        gdp_oom();
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int r = nghttp2_session_client_new(&session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (r != 0) {
        gdp_oom();
    }
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    (void)nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings));
    return session;
}

static int
submit_request(struct gdp_rpc_client_call *c, const struct gdp_rpc_request *req)
{
    char timeout[GDP_GRPC_TIMEOUT_MAX];
    nghttp2_nv nva[8] = {
            GDP_H2_NV_LIT(":method", "POST"),
            GDP_H2_NV_LIT(":scheme", "http"),
            GDP_H2_NV(":path", req->method, strlen(req->method)),
            GDP_H2_NV_LIT(":authority", "localhost"),
            GDP_H2_NV_LIT("content-type", "application/grpc"),
            GDP_H2_NV_LIT("user-agent", "gdp-rpc/" GDP_VERSION),
            GDP_H2_NV_LIT("te", "trailers"),
    };
    size_t n = 7;
    if (req->timeout_ms > 0) {
        size_t tlen = gdp_grpc_timeout_format(req->timeout_ms, timeout);
        nva[n++] = GDP_H2_NV("grpc-timeout", timeout, tlen);
    }
    c->stream_id = gdp_h2_submit_request(c->h2.session, nva, n, req_read, c);
    return c->stream_id > 0 ? 0 : -EPROTO;
}

/* ---- loop callbacks ---- */

static void
call_on_io(struct gdp_loop *loop _unused_, int fd, uint32_t events, void *userdata)
{
    struct gdp_rpc_client_call *c = userdata;
    int r = 0;
    if (c->state == CALL_DELIVERED) {
        return;
    }
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            set_result(c, GDP_GRPC_UNAVAILABLE, "connect failed");
            deliver(c);
            return;
        }
        c->connecting = false;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        r = gdp_h2conn_feed(&c->h2);
    }
    if (r >= 0) {
        r = gdp_h2conn_flush(&c->h2);
    }
    if (r < 0 || !gdp_h2conn_alive(&c->h2)) {
        set_result(c, GDP_GRPC_UNAVAILABLE, "connection closed before the response completed");
    }
    deliver(c);
}

static void
call_on_deadline(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_,
                 void *userdata)
{
    struct gdp_rpc_client_call *c = userdata;
    set_result(c, GDP_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
    deliver(c);
}

static void
call_free(struct gdp_rpc_client_call *c)
{
    gdp_loop_timer_free(c->deadline);
    gdp_h2conn_done(&c->h2);
    gdp_grpc_msgbuf_done(&c->resp);
    free(c->req);
    free(c);
}

static void
call_hook(struct gdp_loop *loop, void *userdata)
{
    struct gdp_rpc_client_call *c = userdata;
    if (c->state == CALL_RUNNING && !c->connecting && gdp_h2conn_flush(&c->h2) < 0) {
        set_result(c, GDP_GRPC_UNAVAILABLE, "connection lost while sending");
    }
    deliver(c);
    if (c->state == CALL_DELIVERED) {
        gdp_loop_del_hook(loop, call_hook, c);
        call_free(c);
    }
}

void
gdp_rpc_client_call_cancel(struct gdp_rpc_client_call *call)
{
    if (call == NULL || call->in_callback) {
        return;
    }
    call->state = CALL_DELIVERED; /* the hook frees it */
}

/* ---- setup ---- */

static int
dial(const char *path, bool *ret_connecting, struct gdp_diag *diag)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (gdp_strlcpy(sa.sun_path, path, sizeof sa.sun_path) < 0) {
        return gdp_diag_set(diag, -ENAMETOOLONG, "socket path too long: %s", path);
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return gdp_diag_set(diag, -errno, "socket: %s", strerror(errno));
    }
    *ret_connecting = false;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EINPROGRESS) {
            return gdp_diag_set(diag, -errno, "connect %s: %s", path, strerror(errno));
        }
        *ret_connecting = true;
    }
    return TAKE_FD(fd);
}

static int
validate(const struct gdp_rpc_request *req, struct gdp_diag *diag)
{
    if (req->socket_path == NULL || req->method == NULL || req->method[0] != '/' ||
        (req->data == NULL && req->len > 0)) {
        return gdp_diag_set(diag, -EINVAL, "invalid request");
    }
    if (req->len > UINT32_MAX) {
        return gdp_diag_set(diag, -EMSGSIZE, "request of %zu bytes does not fit a frame", req->len);
    }
    return 0;
}

static struct gdp_rpc_client_call *
call_new(struct gdp_loop *loop, const struct gdp_rpc_request *req)
{
    struct gdp_rpc_client_call *c = gdp_calloc(1, sizeof *c);
    c->loop = loop;
    c->h2.fd = -1;
    c->grpc_status = -1;
    c->max_response = req->max_response ? req->max_response : GDP_GRPC_MAX_RECV;
    c->req_len = GDP_GRPC_FRAME_HDR + req->len;
    c->req = gdp_malloc(c->req_len);
    gdp_grpc_frame_header(c->req, req->len);
    if (req->len > 0) {
        memcpy(c->req + GDP_GRPC_FRAME_HDR, req->data, req->len);
    }
    gdp_grpc_msgbuf_init(&c->resp);
    return c;
}

int
gdp_rpc_client_call(struct gdp_loop *loop, const struct gdp_rpc_request *req, gdp_rpc_reply_fn fn,
                    void *userdata, struct gdp_rpc_client_call **ret_call, struct gdp_diag *diag)
{
    bool connecting = false;
    int r = validate(req, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_close_ int fd = dial(req->socket_path, &connecting, diag);
    if (fd < 0) {
        return fd;
    }
    struct gdp_rpc_client_call *c = call_new(loop, req);
    c->fn = fn;
    c->userdata = userdata;
    c->connecting = connecting;
    nghttp2_session *session = new_session(c);
    r = gdp_h2conn_init(&c->h2, loop, fd, session, call_on_io, c);
    if (r < 0) {
        nghttp2_session_del(session);
        call_free(c);
        return gdp_diag_set(diag, r, "watching connection: %s", gdp_strerror(r));
    }
    (void)TAKE_FD(fd); /* owned by c->h2 now */
    if (submit_request(c, req) < 0 ||
        (req->timeout_ms > 0 &&
         (gdp_loop_timer_new(loop, call_on_deadline, c, &c->deadline, diag) < 0 ||
          gdp_loop_timer_set(c->deadline, req->timeout_ms, 0) < 0))) {
        call_free(c);
        return gdp_diag_set(diag, -EPROTO, "cannot start the call to %s", req->method);
    }
    (void)gdp_loop_mod_fd(loop, c->h2.fd, EPOLLIN | EPOLLOUT);
    c->h2.events = EPOLLIN | EPOLLOUT;
    (void)gdp_loop_add_hook(loop, call_hook, c);
    if (ret_call != NULL) {
        *ret_call = c;
    }
    return 0;
}
