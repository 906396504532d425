/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking HTTP/1.0 GET client command-line tools use to read a running plugin's
 * endpoint (`explain`): one request, the answer read until the peer closes, everything
 * within one deadline and one size bound.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"
#include "rpc/http.h"

static int64_t
now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline. Returns 0, -ETIMEDOUT or -errno. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

static int
connect_to(const char *address, int64_t deadline, struct gdp_diag *diag)
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
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
        r = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -errno;
        int err = 0;
        socklen_t elen = sizeof err;
        if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err != 0) {
            r = -err;
        }
        if (r < 0) {
            return gdp_diag_set(diag, r, "cannot connect to %s: %s", address, gdp_strerror(r));
        }
    }
    return TAKE_FD(fd);
}

static int
send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -errno;
        }
        if (n < 0) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0) {
                return r;
            }
            continue;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until EOF into *buf (at most max bytes). Returns the length or a negative errno. */
static ssize_t
recv_all(int fd, char **buf, size_t max, int64_t deadline)
{
    size_t len = 0;
    size_t cap = 4096;
    *buf = gdp_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= max) {
                return -EMSGSIZE;
            }
            cap *= 2;
            *buf = gdp_reallocarray(*buf, cap + 1, 1);
        }
        ssize_t n = recv(fd, *buf + len, cap - len, 0);
        if (n == 0) {
            (*buf)[len] = '\0';
            return (ssize_t)len;
        }
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        int r = errno == EAGAIN || errno == EINTR ? wait_fd(fd, POLLIN, deadline) : -errno;
        if (r < 0) {
            return r;
        }
    }
}

/* Splits "HTTP/1.x NNN ...\r\n...\r\n\r\nbody". */
static int
parse_answer(char *buf, size_t len, unsigned *ret_status, size_t *ret_body_off)
{
    unsigned status = 0;
    if (sscanf(buf, "HTTP/1.%*1[01] %3u", &status) != 1 || status < 100 || status > 599) {
        return -EPROTO;
    }
    const char *end = strstr(buf, "\r\n\r\n");
    if (end == NULL) {
        return -EPROTO;
    }
    *ret_status = status;
    *ret_body_off = (size_t)(end + 4 - buf);
    return *ret_body_off <= len ? 0 : -EPROTO;
}

int
gdp_http_get(const char *address, const char *path, int timeout_ms, struct gdp_http_answer *ret,
             struct gdp_diag *diag)
{
    int64_t deadline = now_ms() + timeout_ms;
    _cleanup_close_ int fd = connect_to(address, deadline, diag);
    if (fd < 0) {
        return fd;
    }
    _cleanup_free_ char *req =
            gdp_asprintf("GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    int r = send_all(fd, req, strlen(req), deadline);
    _cleanup_free_ char *buf = NULL;
    ssize_t n = r < 0 ? r : recv_all(fd, &buf, GDP_HTTP_BODY_MAX, deadline);
    if (n < 0) {
        return gdp_diag_set(diag, (int)n, "GET %s from %s: %s", path, address,
                            gdp_strerror((int)n));
    }
    size_t off = 0;
    r = parse_answer(buf, (size_t)n, &ret->status, &off);
    if (r < 0) {
        return gdp_diag_set(diag, r, "GET %s from %s: not an HTTP answer", path, address);
    }
    ret->len = (size_t)n - off;
    ret->body = gdp_strndup(buf + off, ret->len);
    return 0;
}
