/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nghttp2 driven I/O-less from the loop: recv() until EAGAIN into nghttp2_session_mem_recv,
 * nghttp2_session_mem_send batched into one send(), EPOLLOUT only while output is pending.
 */
#include "rpc/h2conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

#define READ_CHUNK     ((size_t)16 * 1024)
#define READS_PER_FEED 16 /* then yield to other connections; level-triggered epoll returns */

#if NGHTTP2_VERSION_NUM >= 0x013c00
#define h2_mem_recv nghttp2_session_mem_recv2
#define h2_mem_send nghttp2_session_mem_send2
#else
#define h2_mem_recv nghttp2_session_mem_recv
#define h2_mem_send nghttp2_session_mem_send
#endif

int
gdp_h2conn_init(struct gdp_h2conn *c, struct gdp_loop *loop, int fd, nghttp2_session *session,
                gdp_loop_io_fn fn, void *userdata)
{
    *c = (struct gdp_h2conn){.loop = loop, .fd = -1, .events = EPOLLIN};
    int r = gdp_loop_add_fd(loop, fd, c->events, fn, userdata);
    if (r < 0) {
        return r;
    }
    c->fd = fd;
    c->session = session;
    return 0;
}

void
gdp_h2conn_done(struct gdp_h2conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        (void)gdp_loop_del_fd(c->loop, c->fd);
        (void)close(c->fd);
        c->fd = -1;
    }
    nghttp2_session_del(c->session);
    c->session = NULL;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
}

int
gdp_h2conn_feed(struct gdp_h2conn *c)
{
    uint8_t buf[READ_CHUNK];
    for (int i = 0; i < READS_PER_FEED; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0) {
            c->eof = true;
            return -ECONNRESET;
        }
        if (n < 0) {
            if (errno == EAGAIN) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            c->eof = true;
            return -errno;
        }
        if (h2_mem_recv(c->session, buf, (size_t)n) < 0) {
            return -EPROTO;
        }
    }
    return 0;
}

static int
write_pending(struct gdp_h2conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return (errno == EAGAIN) ? 0 : -errno;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Gathers nghttp2 output up to GDP_H2_OUT_BATCH (plus at most one frame). */
static int
gather(struct gdp_h2conn *c)
{
    while (c->out_len < GDP_H2_OUT_BATCH) {
        const uint8_t *data;
        gdp_h2_ssize n = h2_mem_send(c->session, &data);
        if (n < 0) {
            return -EPROTO;
        }
        if (n == 0) {
            break;
        }
        if (c->out_len + (size_t)n > c->out_cap) {
            size_t cap = c->out_len + (size_t)n;
            cap = cap < GDP_H2_OUT_BATCH ? GDP_H2_OUT_BATCH : cap;
            c->out = gdp_reallocarray(c->out, cap, 1);
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, data, (size_t)n);
        c->out_len += (size_t)n;
    }
    return 0;
}

static int
set_events(struct gdp_h2conn *c, uint32_t events)
{
    if (events == c->events) {
        return 0;
    }
    c->events = events;
    return gdp_loop_mod_fd(c->loop, c->fd, events);
}

int
gdp_h2conn_flush(struct gdp_h2conn *c)
{
    for (;;) {
        int r = write_pending(c);
        if (r < 0) {
            return r;
        }
        if (c->out_len > 0) {
            break; /* socket full: wait for EPOLLOUT */
        }
        r = gather(c);
        if (r < 0) {
            return r;
        }
        if (c->out_len == 0) {
            break;
        }
    }
    return set_events(c, EPOLLIN | (c->out_len > 0 ? (uint32_t)EPOLLOUT : 0u));
}

bool
gdp_h2conn_alive(const struct gdp_h2conn *c)
{
    if (c->eof || c->session == NULL) {
        return false;
    }
    return c->out_len > c->out_off || nghttp2_session_want_read(c->session) ||
           nghttp2_session_want_write(c->session);
}

int
gdp_h2_submit_response(nghttp2_session *s, int32_t stream_id, const nghttp2_nv *nva, size_t n,
                       gdp_h2_read_cb read_cb, void *source)
{
#if NGHTTP2_VERSION_NUM >= 0x013c00
    nghttp2_data_provider2 prd = {.source.ptr = source, .read_callback = read_cb};
    return nghttp2_submit_response2(s, stream_id, nva, n, read_cb != NULL ? &prd : NULL);
#else
    nghttp2_data_provider prd = {.source.ptr = source, .read_callback = read_cb};
    return nghttp2_submit_response(s, stream_id, nva, n, read_cb != NULL ? &prd : NULL);
#endif
}

int32_t
gdp_h2_submit_request(nghttp2_session *s, const nghttp2_nv *nva, size_t n, gdp_h2_read_cb read_cb,
                      void *stream_user_data)
{
#if NGHTTP2_VERSION_NUM >= 0x013c00
    nghttp2_data_provider2 prd = {.source.ptr = stream_user_data, .read_callback = read_cb};
    return nghttp2_submit_request2(s, NULL, nva, n, &prd, stream_user_data);
#else
    nghttp2_data_provider prd = {.source.ptr = stream_user_data, .read_callback = read_cb};
    return nghttp2_submit_request(s, NULL, nva, n, &prd, stream_user_data);
#endif
}
