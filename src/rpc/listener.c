/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server's listener and admission: the unix socket (mode 0600 under any umask),
 * accepting without spinning when descriptors run out (a reserved descriptor takes the
 * pending connection, accepting pauses), the connection cap that evicts the connection idle
 * for longest instead of refusing the newcomer, and the handshake and idle deadlines.
 * Warnings about refused connections and failed accepts are rate-limited.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
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
#include "rpc/server_int.h"

#define ACCEPT_PAUSE_MS 100u /* after EMFILE/ENFILE, before accepting again */

/* " (N similar lines left out)" when lines were suppressed, else "". */
static const char *
left_out_note(unsigned n, char *buf, size_t size)
{
    buf[0] = '\0';
    if (n > 0) {
        (void)snprintf(buf, size, " (%u similar lines left out)", n);
    }
    return buf;
}

/* ---- deadlines ---- */

uint64_t
gdp_rpc_server_sweep_interval(const struct gdp_rpc_server *s)
{
    uint64_t t = s->opts.handshake_ms < s->opts.idle_ms ? s->opts.handshake_ms : s->opts.idle_ms;
    t /= 4;
    return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

/* Applies c's handshake or idle deadline at now; closed connections are reaped by the hook. */
static void
sweep_conn(const struct gdp_rpc_server *s, struct conn *c, uint64_t now)
{
    if (c->closing || c->n_calls > 0) {
        return;
    }
    if (c->goaway || (!c->handshaken && now - c->since_ms >= s->opts.handshake_ms)) {
        log_debug("rpc: closing connection on %s: %s", s->path,
                  c->goaway ? "idle" : "no HTTP/2 handshake in time");
        c->closing = true;
    } else if (now - c->since_ms >= s->opts.idle_ms) {
        (void)nghttp2_session_terminate_session(c->h2.session, NGHTTP2_NO_ERROR);
        c->goaway = true; /* the GOAWAY goes out with the next flush; the socket next sweep */
    }
}

void
gdp_rpc_server_sweep(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer, void *userdata)
{
    struct gdp_rpc_server *s = userdata;
    uint64_t now = gdp_loop_now_ms();
    for (struct conn *c = s->conns; c != NULL; c = c->next) {
        sweep_conn(s, c, now);
    }
    if (s->n_conns == 0) {
        (void)gdp_loop_timer_set(timer, 0, 0);
    }
}

/* ---- admission ---- */

static size_t
live_conns(const struct gdp_rpc_server *s)
{
    size_t n = 0;
    for (const struct conn *c = s->conns; c != NULL; c = c->next) {
        n += c->closing ? 0 : 1;
    }
    return n;
}

/* Closes the connection idle for longest (no open call). False if every one has a call. */
static bool
evict_idle(struct gdp_rpc_server *s)
{
    struct conn *victim = NULL;
    for (struct conn *c = s->conns; c != NULL; c = c->next) {
        if (!c->closing && c->n_calls == 0 && (victim == NULL || c->since_ms <= victim->since_ms)) {
            victim = c;
        }
    }
    if (victim == NULL) {
        return false;
    }
    log_debug("rpc: connection limit on %s: closing the connection idle for longest", s->path);
    victim->closing = true; /* reaped by the hook; its descriptor is closed there */
    return true;
}

int
gdp_rpc_server_adopt(struct gdp_rpc_server *server, int fd, struct gdp_diag *diag)
{
    _cleanup_close_ int owned = fd;
    if (server->draining) {
        return gdp_diag_set(diag, -ESHUTDOWN, "server is shutting down");
    }
    if (live_conns(server) >= server->opts.max_connections && !evict_idle(server)) {
        return gdp_diag_set(diag, -EMFILE,
                            "connection limit (%u) reached and every connection has a call",
                            server->opts.max_connections);
    }
    int fl = fcntl(owned, F_GETFL);
    if (fl < 0 || fcntl(owned, F_SETFL, fl | O_NONBLOCK) < 0) {
        return gdp_diag_set(diag, -errno, "fcntl(O_NONBLOCK): %s", strerror(errno));
    }
    int r = gdp_rpc_conn_new(server, owned, diag);
    if (r >= 0) {
        (void)TAKE_FD(owned); /* the connection owns it now */
    }
    return r;
}

static void
log_adopt_failure(struct gdp_rpc_server *s, int r, const struct gdp_diag *diag)
{
    unsigned n = 0;
    char note[48];
    if (r < 0 && gdp_ratelimit_pass(&s->refused_rl, gdp_loop_now_ms(), &n)) {
        log_warn("rpc: refusing connection on %s: %s%s", s->path, diag->msg,
                 left_out_note(n, note, sizeof note));
    }
}

/*
 * accept() failed for lack of descriptors. Level-triggered epoll would report the pending
 * connection again at once, so: spend the reserved descriptor to take it and close it (the
 * peer sees EOF instead of hanging), and stop watching the listener for ACCEPT_PAUSE_MS.
 */
static void
accept_exhausted(struct gdp_rpc_server *s, int err)
{
    unsigned left_out = 0;
    char note[48];
    if (s->reserve_fd >= 0) {
        (void)close(s->reserve_fd);
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            (void)close(fd);
        }
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (s->resume != NULL && gdp_loop_mod_fd(s->loop, s->listen_fd, 0) == 0) {
        (void)gdp_loop_timer_set(s->resume, ACCEPT_PAUSE_MS, 0);
    }
    if (gdp_ratelimit_pass(&s->accept_rl, gdp_loop_now_ms(), &left_out)) {
        log_warn("rpc: accept on %s: %s; refusing connections for %u ms%s", s->path, strerror(err),
                 ACCEPT_PAUSE_MS, left_out_note(left_out, note, sizeof note));
    }
}

static void
on_resume(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    struct gdp_rpc_server *s = userdata;
    if (s->listen_fd >= 0) {
        (void)gdp_loop_mod_fd(s->loop, s->listen_fd, EPOLLIN);
    }
}

static void
warn_accept_error(struct gdp_rpc_server *s, int err)
{
    unsigned n = 0;
    char note[48];
    if (gdp_ratelimit_pass(&s->accept_rl, gdp_loop_now_ms(), &n)) {
        log_warn("rpc: accept on %s: %s, ignoring%s", s->path, strerror(err),
                 left_out_note(n, note, sizeof note));
    }
}

static void
on_accept(struct gdp_loop *loop _unused_, int fd, uint32_t events _unused_, void *userdata)
{
    struct gdp_rpc_server *s = userdata;
    int cfd = -1;
    /*
     * At most the connection cap per round: a connection evicted or closed in this round is
     * freed after it, so a burst of connections never holds more than twice the cap's
     * memory; the rest wait in the backlog for the next round (the listener stays ready).
     */
    for (unsigned n = 0; n < s->opts.max_connections; n++) {
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            break;
        }
        struct gdp_diag diag = {0};
        int r = gdp_rpc_server_adopt(s, cfd, &diag);
        log_adopt_failure(s, r, &diag);
    }
    if (cfd >= 0) {
        return;
    }
    int err = errno;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        accept_exhausted(s, err);
    } else if (err != EAGAIN && err != EINTR) {
        warn_accept_error(s, err);
    }
}

/* ---- listening ---- */

int
gdp_rpc_server_listen(struct gdp_rpc_server *server, const char *path, struct gdp_diag *diag)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (server->listen_fd >= 0) {
        return gdp_diag_set(diag, -EBUSY, "already listening on %s", server->path);
    }
    if (gdp_strlcpy(sa.sun_path, path, sizeof sa.sun_path) < 0) {
        return gdp_diag_set(diag, -ENAMETOOLONG, "socket path too long: %s", path);
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return gdp_diag_set(diag, -errno, "socket: %s", strerror(errno));
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        return gdp_diag_set(diag, -errno, "removing stale %s: %s", path, strerror(errno));
    }
    /* Linux gives the socket file the inode's mode minus the umask: 0600 under any umask */
    if (fchmod(fd, 0600) < 0) {
        return gdp_diag_set(diag, -errno, "fchmod %s: %s", path, strerror(errno));
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        return gdp_diag_set(diag, -errno, "bind %s: %s", path, strerror(errno));
    }
    if (listen(fd, 64) < 0) {
        return gdp_diag_set(diag, -errno, "listen %s: %s", path, strerror(errno));
    }
    int r = gdp_loop_add_fd(server->loop, fd, EPOLLIN, on_accept, server);
    if (r < 0) {
        (void)unlink(path);
        return gdp_diag_set(diag, r, "watching %s: %s", path, gdp_strerror(r));
    }
    server->listen_fd = TAKE_FD(fd);
    free(server->path);
    server->path = gdp_strdup(path);
    server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (server->resume == NULL) {
        (void)gdp_loop_timer_new(server->loop, on_resume, server, &server->resume, NULL);
    }
    return 0;
}

void
gdp_rpc_server_stop_listening(struct gdp_rpc_server *s)
{
    if (s->listen_fd < 0) {
        return;
    }
    (void)gdp_loop_del_fd(s->loop, s->listen_fd);
    (void)close(s->listen_fd);
    s->listen_fd = -1;
    (void)unlink(s->path);
    if (s->reserve_fd >= 0) {
        (void)close(s->reserve_fd);
        s->reserve_fd = -1;
    }
    gdp_loop_timer_free(s->resume);
    s->resume = NULL;
}
