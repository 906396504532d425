/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to src/rpc/: one non-blocking socket driving one I/O-less nghttp2 session from the
 * event loop, shared by the server and the client. Also the only place that names nghttp2
 * calls whose signatures changed in 1.60 (ssize_t -> nghttp2_ssize, *2 variants).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "core/loop.h"

#if NGHTTP2_VERSION_NUM >= 0x013c00
typedef nghttp2_ssize gdp_h2_ssize;
typedef nghttp2_data_source_read_callback2 gdp_h2_read_cb;
#else
typedef ssize_t gdp_h2_ssize;
typedef nghttp2_data_source_read_callback gdp_h2_read_cb;
#endif

/* Bytes of nghttp2 output gathered before one send(); also the per-connection output bound. */
#define GDP_H2_OUT_BATCH ((size_t)64 * 1024)

/* Name/value pair for nghttp2 (copied by nghttp2 when submitted). */
#define GDP_H2_NV(n, v, vlen)               \
    ((nghttp2_nv){.name = (uint8_t *)(n),   \
                  .value = (uint8_t *)(v),  \
                  .namelen = sizeof(n) - 1, \
                  .valuelen = (vlen),       \
                  .flags = NGHTTP2_NV_FLAG_NONE})
#define GDP_H2_NV_LIT(n, v) GDP_H2_NV(n, v, sizeof(v) - 1)

struct gdp_h2conn {
    struct gdp_loop *loop;
    int fd;
    nghttp2_session *session;
    uint8_t *out; /* pending output: [out_off, out_len) */
    size_t out_off, out_len, out_cap;
    uint32_t events; /* current epoll mask */
    bool eof;
};

/*
 * Takes ownership of fd (connected, non-blocking) and session, and watches fd with fn and
 * userdata. Returns 0 or -errno from epoll; on failure c owns nothing and fd/session are
 * still the caller's.
 */
int gdp_h2conn_init(struct gdp_h2conn *c, struct gdp_loop *loop, int fd, nghttp2_session *session,
                    gdp_loop_io_fn fn, void *userdata);

/* Stops watching, closes the socket, deletes the session (no stream callbacks run). */
void gdp_h2conn_done(struct gdp_h2conn *c);

/*
 * Reads until EAGAIN (at most a bounded number of reads, for fairness) and feeds nghttp2.
 * Returns 0, -ECONNRESET on EOF, -EPROTO when nghttp2 rejects the input, or -errno.
 */
int gdp_h2conn_feed(struct gdp_h2conn *c);

/*
 * Writes pending output and drains nghttp2 until it has nothing more or the socket is full;
 * enables EPOLLOUT only while output is pending. Returns 0, -EPROTO, or -errno from send.
 */
int gdp_h2conn_flush(struct gdp_h2conn *c);

/* True while the session wants to read or write, or output is pending. */
bool gdp_h2conn_alive(const struct gdp_h2conn *c);

/* nghttp2_submit_response(): read_cb NULL sends headers only, with END_STREAM. */
int gdp_h2_submit_response(nghttp2_session *s, int32_t stream_id, const nghttp2_nv *nva, size_t n,
                           gdp_h2_read_cb read_cb, void *source);

/* nghttp2_submit_request(): returns the stream id (> 0) or a negative nghttp2 error. */
int32_t gdp_h2_submit_request(nghttp2_session *s, const nghttp2_nv *nva, size_t n,
                              gdp_h2_read_cb read_cb, void *stream_user_data);
