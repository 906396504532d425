/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP endpoint on libmicrohttpd, driven by our loop: MHD runs without a thread of its
 * own (MHD_USE_EPOLL), its epoll descriptor is watched by the loop, MHD_run() does the
 * non-blocking work when it is readable, and a loop timer follows MHD_get_timeout() so that
 * idle or slow connections are closed on time. We create and bind the listening socket
 * ourselves, which gives unix sockets and one address parser. The blocking GET client for
 * command-line tools lives here too.
 */
#include "rpc/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/dl.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

/*
 * libmicrohttpd is loaded when the first endpoint starts, so that a plugin without one maps
 * neither it nor the TLS libraries Debian builds it with. Typed as microhttpd.h declares.
 */
#define MHD_FN(name) __typeof__(MHD_##name) *name /* NOLINT(bugprone-macro-parentheses) */

static struct {
    MHD_FN(start_daemon);
    MHD_FN(stop_daemon);
    MHD_FN(get_daemon_info);
    MHD_FN(run);
    MHD_FN(get_timeout);
    MHD_FN(create_response_from_buffer);
    MHD_FN(add_response_header);
    MHD_FN(queue_response);
    MHD_FN(destroy_response);
} mhd;

#undef MHD_FN

#define SYM(name)                                     \
    {                                                 \
        "MHD_" #name, offsetof(__typeof__(mhd), name) \
    }
static const struct gdp_dl_sym mhd_syms[] = {
        SYM(start_daemon),        SYM(stop_daemon),
        SYM(get_daemon_info),     SYM(run),
        SYM(get_timeout),         SYM(create_response_from_buffer),
        SYM(add_response_header), SYM(queue_response),
        SYM(destroy_response),
};
#undef SYM

static int
load_mhd(struct gdp_diag *diag)
{
    static bool loaded;
    if (!loaded) {
        int r = gdp_dl_bind("libmicrohttpd.so.12", "libmicrohttpd12", mhd_syms,
                            ELEMENTSOF(mhd_syms), &mhd, diag);
        if (r < 0) {
            return r;
        }
        loaded = true;
    }
    return 0;
}

struct gdp_http_server {
    struct gdp_loop *loop;
    struct MHD_Daemon *mhd;
    struct gdp_loop_timer *timer;
    int listen_fd;
    int epoll_fd;
    char *unix_path; /* removed on free */
    gdp_http_handler_fn fn;
    void *userdata;
};

/* ---- addresses ---- */

static int
parse_unix(const char *path, struct sockaddr_storage *ret, socklen_t *ret_len,
           struct gdp_diag *diag)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ret;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sun->sun_path) {
        return gdp_diag_set(diag, -EINVAL, "unix socket path must have 1 to %zu characters",
                            sizeof sun->sun_path - 1);
    }
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n + 1);
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static int
parse_host(const char *host, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ret;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
    size_t n = strlen(host);
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        char buf[INET6_ADDRSTRLEN];
        if (n - 2 >= sizeof buf) {
            return -EINVAL;
        }
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *ret_len = sizeof *in6;
        return inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
    }
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    *ret_len = sizeof *in4;
    if (n == 0) {
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (streq(host, "localhost")) {
        host = "127.0.0.1";
    }
    return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -EINVAL;
}

int
gdp_http_parse_address(const char *address, struct sockaddr_storage *ret, socklen_t *ret_len,
                       struct gdp_diag *diag)
{
    memset(ret, 0, sizeof *ret);
    if (startswith(address, "unix:")) {
        return parse_unix(address + 5, ret, ret_len, diag);
    }
    const char *colon = strrchr(address, ':');
    long port = 0;
    if (colon == NULL || gdp_parse_long(colon + 1, 0, 65535, &port) < 0) {
        return gdp_diag_set(diag, -EINVAL,
                            "invalid address \"%s\": expected HOST:PORT (port 0-65535) or "
                            "unix:PATH",
                            address);
    }
    char host[64];
    size_t n = (size_t)(colon - address);
    if (n >= sizeof host) {
        return gdp_diag_set(diag, -EINVAL, "invalid address \"%s\": host too long", address);
    }
    memcpy(host, address, n);
    host[n] = '\0';
    if (parse_host(host, (uint16_t)port, ret, ret_len) < 0) {
        return gdp_diag_set(diag, -EINVAL,
                            "invalid address \"%s\": host must be a numeric IPv4 address, "
                            "[IPv6], localhost or empty",
                            address);
    }
    return 0;
}

/* ---- server ---- */

static int
listen_on(const char *address, char **ret_unix_path, struct gdp_diag *diag)
{
    struct sockaddr_storage sa;
    socklen_t len = 0;
    int r = gdp_http_parse_address(address, &sa, &len, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_close_ int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return gdp_diag_set(diag, -errno, "socket: %s", strerror(errno));
    }
    int one = 1;
    if (sa.ss_family == AF_UNIX) {
        (void)unlink(((struct sockaddr_un *)&sa)->sun_path);
    } else {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 16) < 0) {
        return gdp_diag_set(diag, -errno, "cannot listen on %s: %s", address, strerror(errno));
    }
    if (sa.ss_family == AF_UNIX) {
        *ret_unix_path = gdp_strdup(((struct sockaddr_un *)&sa)->sun_path);
    }
    return TAKE_FD(fd);
}

static enum MHD_Result
queue(struct MHD_Connection *conn, struct gdp_http_response *resp, bool head)
{
    struct MHD_Response *r = mhd.create_response_from_buffer(
            head ? 0 : resp->len, head ? (void *)"" : resp->body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    (void)mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    enum MHD_Result ret = mhd.queue_response(conn, resp->status, r);
    mhd.destroy_response(r);
    return ret;
}

static void
set_text(struct gdp_http_response *resp, unsigned status, const char *text)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = gdp_strdup(text);
    resp->len = strlen(text);
}

/* libmicrohttpd's request callback; its signature has 8 parameters */
static enum MHD_Result
/* NOLINTNEXTLINE(readability-function-size) */
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version _unused_, const char *upload _unused_, size_t *upload_size,
           void **con_cls _unused_)
{
    struct gdp_http_server *s = cls;
    struct gdp_http_response resp = {0};
    bool head = streq(method, MHD_HTTP_METHOD_HEAD);
    if (!head && !streq(method, MHD_HTTP_METHOD_GET)) {
        set_text(&resp, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served\n");
    } else if (*upload_size > 0) {
        set_text(&resp, MHD_HTTP_BAD_REQUEST, "a request body is not accepted\n");
    } else {
        s->fn(url, &resp, s->userdata);
    }
    *upload_size = 0;
    enum MHD_Result r = queue(conn, &resp, head);
    free(resp.body);
    return r;
}

/* MHD's own messages, at debug level: a client's bad request is not our failure. */
_printf_(2, 0) static void mhd_log(void *cls _unused_, const char *fmt, va_list ap)
{
    char buf[256];
    (void)vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("metrics endpoint: %s", buf);
}

static void
run_mhd(struct gdp_http_server *s)
{
    (void)mhd.run(s->mhd);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (mhd.get_timeout(s->mhd, &ms) == MHD_YES) {
        /* 0 means "work is pending now": 1 ms, since a 0 would disarm the timer */
        (void)gdp_loop_timer_set(s->timer, ms == 0 ? 1 : (uint64_t)ms, 0);
    }
}

static void
on_epoll(struct gdp_loop *loop _unused_, int fd _unused_, uint32_t events _unused_, void *userdata)
{
    run_mhd(userdata);
}

static void
on_timer(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    run_mhd(userdata);
}

static int
start_mhd(struct gdp_http_server *s, struct gdp_diag *diag)
{
    int r = load_mhd(diag);
    if (r < 0) {
        return r;
    }
    s->mhd = mhd.start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)GDP_HTTP_MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)GDP_HTTP_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GDP_HTTP_REQUEST_MAX,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (s->mhd == NULL) {
        return gdp_diag_set(diag, -EIO, "cannot start the HTTP server");
    }
    const union MHD_DaemonInfo *info = mhd.get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL) {
        return gdp_diag_set(diag, -EIO, "the HTTP server has no epoll descriptor");
    }
    s->epoll_fd = info->epoll_fd;
    r = gdp_loop_add_fd(s->loop, s->epoll_fd, EPOLLIN, on_epoll, s);
    if (r < 0) {
        return gdp_diag_set(diag, r, "cannot watch the HTTP server: %s", gdp_strerror(r));
    }
    return gdp_loop_timer_new(s->loop, on_timer, s, &s->timer, diag);
}

int
gdp_http_server_new(struct gdp_loop *loop, const char *address, gdp_http_handler_fn fn,
                    void *userdata, struct gdp_http_server **ret, struct gdp_diag *diag)
{
    struct gdp_http_server *s = gdp_calloc(1, sizeof *s);
    s->loop = loop;
    s->fn = fn;
    s->userdata = userdata;
    s->epoll_fd = -1;
    s->listen_fd = listen_on(address, &s->unix_path, diag);
    int r = s->listen_fd < 0 ? s->listen_fd : start_mhd(s, diag);
    if (r < 0) {
        gdp_http_server_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void
gdp_http_server_free(struct gdp_http_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->epoll_fd >= 0) {
        (void)gdp_loop_del_fd(s->loop, s->epoll_fd);
    }
    gdp_loop_timer_free(s->timer);
    if (s->mhd != NULL) {
        mhd.stop_daemon(s->mhd); /* closes the listening socket it was given */
        s->listen_fd = -1;
    }
    if (s->listen_fd >= 0) {
        (void)close(s->listen_fd);
    }
    if (s->unix_path != NULL) {
        (void)unlink(s->unix_path);
        free(s->unix_path);
    }
    free(s);
}
