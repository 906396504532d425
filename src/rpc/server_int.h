/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to src/rpc/: the gRPC server's connection and server records, shared by server.c
 * (calls, nghttp2 callbacks, connection lifecycle, shutdown) and listener.c (the unix-socket
 * listener, accepting under descriptor exhaustion, the connection cap with eviction, and the
 * handshake and idle deadlines). Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "core/log.h"
#include "rpc/h2conn.h"
#include "rpc/server.h"

struct gdp_diag;
struct gdp_loop;
struct gdp_loop_timer;
struct gdp_rpc_call;

struct conn {
    struct gdp_h2conn h2;
    struct gdp_rpc_server *server;
    struct conn *prev, *next;
    struct gdp_rpc_call *calls;
    size_t n_calls;
    size_t buffered;   /* request bytes held by this connection's calls */
    uint64_t since_ms; /* accepted, or its last call ended: when it became idle */
    bool handshaken;   /* the client's SETTINGS arrived */
    bool goaway;       /* closed for idleness: GOAWAY queued, the socket goes next sweep */
    bool closing;
};

struct gdp_rpc_server {
    struct gdp_loop *loop;
    struct gdp_rpc_method *methods;
    size_t n_methods;
    struct gdp_rpc_server_options opts;
    nghttp2_session_callbacks *cbs;
    int listen_fd;
    char *path;
    struct conn *conns;
    size_t n_conns;
    size_t buffered;               /* request bytes held, all connections */
    bool trim;                     /* buffered passed 1 MiB: give memory back once it is 0 */
    unsigned churned;              /* connections freed since memory was last given back */
    int reserve_fd;                /* spent to take one connection when accept() runs out of fds */
    struct gdp_loop_timer *sweep;  /* handshake and idle deadlines; armed with connections */
    struct gdp_loop_timer *resume; /* accepting paused after EMFILE */
    struct gdp_ratelimit refused_rl, accept_rl;
    bool draining, drained_done;
    char *drain_message;
    gdp_rpc_drained_fn drained_fn;
    void *drained_userdata;
};

/*
 * Serves fd (connected, non-blocking; owned by the connection on success) on a new
 * connection of s, with our SETTINGS queued. Returns 0, or -errno from epoll with diag
 * filled (fd is still the caller's).
 */
int gdp_rpc_conn_new(struct gdp_rpc_server *s, int fd, struct gdp_diag *diag);

/* How often s's deadlines are checked: a quarter of the shorter one, within [10 ms, 1 s]. */
uint64_t gdp_rpc_server_sweep_interval(const struct gdp_rpc_server *s);

/*
 * The sweep timer's callback (userdata is the server): closes connections past their
 * handshake or idle deadline (reaped by the server's hook) and disarms itself when no
 * connection is left.
 */
void gdp_rpc_server_sweep(struct gdp_loop *loop, struct gdp_loop_timer *timer, void *userdata);

/* Closes the listener, its reserved descriptor and resume timer, and removes the socket
 * file. Does nothing when not listening. */
void gdp_rpc_server_stop_listening(struct gdp_rpc_server *s);
