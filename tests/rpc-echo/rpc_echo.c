/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpc-echo: the test peer for src/rpc/.
 *
 *   rpc-echo serve SOCKET [--register KUBELET_SOCKET]
 *       Serves /echo.Echo/{Unary,Fail,Stream,Big,Stats}; prints "ready" once listening.
 *       With --register, calls /v1beta1.Registration/Register on KUBELET_SOCKET while
 *       serving (the kubelet dials back before answering) and prints "register ...".
 *       SIGTERM/SIGINT: graceful shutdown (streams end UNAVAILABLE, GOAWAY), exit 0.
 *       Server limits from the environment (0 or unset: the defaults):
 *       RPC_ECHO_MAX_CONNS, RPC_ECHO_HANDSHAKE_MS, RPC_ECHO_IDLE_MS,
 *       RPC_ECHO_CONN_BUFFERED, RPC_ECHO_BUFFERED (bytes).
 *   rpc-echo call SOCKET METHOD TIMEOUT_MS [PAYLOAD]
 *       One unary call; prints "status=N len=N message=TEXT" and "body=BYTES".
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/client.h"
#include "rpc/grpc.h"
#include "rpc/server.h"

#define STREAM_INTERVAL_MS 10
#define DRAIN_TIMEOUT_MS   5000

struct stream;

struct app {
    struct gdp_loop *loop;
    struct gdp_rpc_server *server;
    struct gdp_loop_timer *drain_timer;
    struct stream *streams;
    unsigned active, cancelled, finished;
};

struct stream {
    struct app *app;
    struct gdp_rpc_call *call;
    struct gdp_loop_timer *timer;
    struct stream *prev, *next;
    unsigned left, sent;
    bool finish;
};

static void
echo_unary(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata _unused_)
{
    (void)gdp_rpc_call_reply(call, req, len);
}

static void
echo_fail(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata _unused_)
{
    _cleanup_free_ char *text = gdp_strndup((const char *)req, len);
    (void)gdp_rpc_call_finish(call, GDP_GRPC_INVALID_ARGUMENT, text);
}

static void
echo_big(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata _unused_)
{
    _cleanup_free_ char *text = gdp_strndup((const char *)req, len);
    long size = 0;
    if (gdp_parse_long(text, 0, 64L << 20, &size) < 0) {
        (void)gdp_rpc_call_finish(call, GDP_GRPC_INVALID_ARGUMENT, "size expected");
        return;
    }
    _cleanup_free_ uint8_t *buf = gdp_malloc((size_t)size);
    memset(buf, 'x', (size_t)size);
    int r = gdp_rpc_call_reply(call, buf, (size_t)size);
    if (r == -EMSGSIZE) {
        (void)gdp_rpc_call_finish(call, GDP_GRPC_RESOURCE_EXHAUSTED, "response too large");
    }
}

static void
echo_stats(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
           void *userdata)
{
    struct app *app = userdata;
    char buf[160];
    int n = snprintf(buf, sizeof buf, "streams=%u cancelled=%u finished=%u conns=%zu buffered=%zu",
                     app->active, app->cancelled, app->finished,
                     gdp_rpc_server_connections(app->server), gdp_rpc_server_buffered(app->server));
    (void)gdp_rpc_call_reply(call, buf, (size_t)n);
}

static void
stream_tick(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer, void *userdata)
{
    struct stream *st = userdata;
    char msg[32];
    if (st->left == 0) {
        (void)gdp_loop_timer_set(timer, 0, 0);
        if (st->finish) {
            (void)gdp_rpc_call_finish(st->call, GDP_GRPC_OK, NULL);
        }
        return;
    }
    int n = snprintf(msg, sizeof msg, "msg-%u", st->sent);
    if (gdp_rpc_call_send(st->call, msg, (size_t)n, 0) == 0) {
        st->sent++;
        st->left--;
    }
}

static void
stream_done(struct gdp_rpc_call *call _unused_, bool cancelled, void *userdata)
{
    struct stream *st = userdata;
    struct app *app = st->app;
    if (st->prev != NULL) {
        st->prev->next = st->next;
    } else {
        app->streams = st->next;
    }
    if (st->next != NULL) {
        st->next->prev = st->prev;
    }
    app->active--;
    if (cancelled) {
        app->cancelled++;
    } else {
        app->finished++;
    }
    gdp_loop_timer_free(st->timer);
    free(st);
}

/* Request "N": N messages STREAM_INTERVAL_MS apart, then wait; "N!": then finish OK. */
static void
echo_stream(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    struct app *app = userdata;
    _cleanup_free_ char *text = gdp_strndup((const char *)req, len);
    bool finish = len > 0 && text[len - 1] == '!';
    long n = 0;
    if (finish) {
        text[len - 1] = '\0';
    }
    if (gdp_parse_long(text, 0, 100000, &n) < 0) {
        (void)gdp_rpc_call_finish(call, GDP_GRPC_INVALID_ARGUMENT, "count expected");
        return;
    }
    struct stream *st = gdp_calloc(1, sizeof *st);
    *st = (struct stream){.app = app, .call = call, .left = (unsigned)n, .finish = finish};
    if (gdp_loop_timer_new(app->loop, stream_tick, st, &st->timer, NULL) < 0 ||
        gdp_loop_timer_set(st->timer, 1, STREAM_INTERVAL_MS) < 0) {
        gdp_loop_timer_free(st->timer);
        free(st);
        (void)gdp_rpc_call_finish(call, GDP_GRPC_INTERNAL, "no timer");
        return;
    }
    st->next = app->streams;
    if (app->streams != NULL) {
        app->streams->prev = st;
    }
    app->streams = st;
    app->active++;
    gdp_rpc_call_set_done(call, stream_done, st);
}

static void
on_drained(struct gdp_rpc_server *server _unused_, void *userdata)
{
    struct app *app = userdata;
    gdp_loop_quit(app->loop, 0);
}

static void
on_drain_timeout(struct gdp_loop *loop, struct gdp_loop_timer *timer _unused_,
                 void *userdata _unused_)
{
    log_warn("rpc-echo: connections did not drain in time, closing them");
    gdp_loop_quit(loop, 0);
}

static void
on_signal(struct gdp_loop *loop, int signo, void *userdata)
{
    struct app *app = userdata;
    log_info("rpc-echo: signal %d, shutting down", signo);
    if (app->drain_timer == NULL &&
        gdp_loop_timer_new(loop, on_drain_timeout, app, &app->drain_timer, NULL) == 0) {
        (void)gdp_loop_timer_set(app->drain_timer, DRAIN_TIMEOUT_MS, 0);
    }
    gdp_rpc_server_shutdown(app->server, "server shutting down", on_drained, app);
}

static void
on_register_reply(const struct gdp_rpc_result *res, void *userdata _unused_)
{
    printf("register status=%d len=%zu message=%s\n", res->status, res->len, res->message);
    (void)fflush(stdout);
}

static int
start_register(struct app *app, const char *kubelet_sock)
{
    static const char payload[] = "register-me";
    struct gdp_diag diag = {0};
    const struct gdp_rpc_request req = {
            .socket_path = kubelet_sock,
            .method = "/v1beta1.Registration/Register",
            .data = (const uint8_t *)payload,
            .len = sizeof payload - 1,
            .timeout_ms = 5000,
    };
    int r = gdp_rpc_client_call(app->loop, &req, on_register_reply, app, NULL, &diag);
    if (r < 0) {
        printf("register status=-1 len=0 message=%s\n", diag.msg);
        (void)fflush(stdout);
    }
    return r;
}

static uint64_t
env_u64(const char *name)
{
    const char *v = getenv(name);
    long n = 0;
    return (v != NULL && gdp_parse_long(v, 0, LONG_MAX, &n) == 0) ? (uint64_t)n : 0;
}

static void
options_from_env(struct gdp_rpc_server_options *o)
{
    o->max_connections = (unsigned)env_u64("RPC_ECHO_MAX_CONNS");
    o->handshake_ms = env_u64("RPC_ECHO_HANDSHAKE_MS");
    o->idle_ms = env_u64("RPC_ECHO_IDLE_MS");
    o->max_conn_buffered = env_u64("RPC_ECHO_CONN_BUFFERED");
    o->max_buffered = env_u64("RPC_ECHO_BUFFERED");
}

static int
serve(struct gdp_loop *loop, const char *path, const char *kubelet_sock)
{
    struct gdp_rpc_server_options opts = {0};
    struct app app = {.loop = loop};
    struct gdp_diag diag = {0};
    const struct gdp_rpc_method methods[] = {
            {"/echo.Echo/Unary", GDP_RPC_UNARY, echo_unary, &app},
            {"/echo.Echo/Fail", GDP_RPC_UNARY, echo_fail, &app},
            {"/echo.Echo/Big", GDP_RPC_UNARY, echo_big, &app},
            {"/echo.Echo/Stats", GDP_RPC_UNARY, echo_stats, &app},
            {"/echo.Echo/Stream", GDP_RPC_SERVER_STREAM, echo_stream, &app},
    };
    options_from_env(&opts);
    int r = gdp_rpc_server_new(loop, methods, ELEMENTSOF(methods), &opts, &app.server, &diag);
    if (r >= 0) {
        r = gdp_rpc_server_listen(app.server, path, &diag);
    }
    if (r < 0) {
        gdp_rpc_server_free(app.server);
        return log_error_errno(r, "rpc-echo: %s", diag.msg);
    }
    (void)gdp_loop_add_signal(loop, SIGTERM, on_signal, &app);
    (void)gdp_loop_add_signal(loop, SIGINT, on_signal, &app);
    printf("ready\n");
    (void)fflush(stdout);
    if (kubelet_sock != NULL) {
        (void)start_register(&app, kubelet_sock);
    }
    r = gdp_loop_run(loop);
    gdp_rpc_server_free(app.server);
    gdp_loop_timer_free(app.drain_timer);
    return r;
}

struct call_ctx {
    struct gdp_loop *loop;
    int rc;
};

static void
on_call_reply(const struct gdp_rpc_result *res, void *userdata)
{
    struct call_ctx *ctx = userdata;
    printf("status=%d len=%zu message=%s\nbody=%.*s\n", res->status, res->len, res->message,
           (int)(res->len < 256 ? res->len : 256),
           res->data != NULL ? (const char *)res->data : "");
    (void)fflush(stdout);
    gdp_loop_quit(ctx->loop, 0);
}

static int
call(struct gdp_loop *loop, char **argv)
{
    struct gdp_diag diag = {0};
    struct call_ctx ctx = {.loop = loop};
    long timeout = 0;
    if (gdp_parse_long(argv[2], 0, 3600000, &timeout) < 0) {
        return log_error_errno(-EINVAL, "rpc-echo: bad timeout %s", argv[2]);
    }
    const struct gdp_rpc_request req = {
            .socket_path = argv[0],
            .method = argv[1],
            .data = (const uint8_t *)(argv[3] != NULL ? argv[3] : ""),
            .len = argv[3] != NULL ? strlen(argv[3]) : 0,
            .timeout_ms = (uint64_t)timeout,
    };
    int r = gdp_rpc_client_call(loop, &req, on_call_reply, &ctx, NULL, &diag);
    if (r < 0) {
        printf("status=-1 len=0 message=%s\n", diag.msg);
        return r;
    }
    r = gdp_loop_run(loop);
    return r < 0 ? r : ctx.rc;
}

int
main(int argc, char **argv)
{
    struct gdp_loop *loop = NULL;
    struct gdp_diag diag = {0};
    int r;
    const char *level = getenv("RPC_ECHO_LOG");
    if (level != NULL) {
        (void)gdp_log_level_from_string(level, &gdp_log_level);
    }
    if (gdp_loop_new(&loop, &diag) < 0) {
        (void)fprintf(stderr, "rpc-echo: %s\n", diag.msg);
        return 1;
    }
    if (argc >= 3 && streq(argv[1], "serve")) {
        const char *kubelet = (argc >= 5 && streq(argv[3], "--register")) ? argv[4] : NULL;
        r = serve(loop, argv[2], kubelet);
    } else if (argc >= 5 && streq(argv[1], "call")) {
        r = call(loop, argv + 2);
    } else {
        (void)fprintf(stderr, "usage: rpc-echo serve SOCKET [--register KUBELET_SOCKET]\n"
                              "       rpc-echo call SOCKET METHOD TIMEOUT_MS [PAYLOAD]\n");
        r = -EINVAL;
    }
    gdp_loop_free(loop);
    return r < 0 ? 2 : 0;
}
