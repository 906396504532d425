/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC server over HTTP/2 on a unix socket, driven by the event loop. It moves bytes only:
 * handlers receive the raw request message and answer with raw response messages; the
 * layer above packs and unpacks protobuf.
 *
 * Two kinds of methods:
 *  - unary: the handler answers before returning, with gdp_rpc_call_reply() or
 *    gdp_rpc_call_finish() (an error status). If it does neither, the call fails INTERNAL.
 *  - server streaming: the handler may send messages at once and/or keep the call to send
 *    more later from any loop event (gdp_rpc_call_send), then end it (gdp_rpc_call_finish).
 *    To keep it, register a done callback (gdp_rpc_call_set_done): the call is valid until
 *    that callback returns, and it always runs exactly once, whether the call finished, the
 *    peer cancelled, the connection dropped or the server was freed.
 *
 * Errors before any response message are sent as Trailers-Only responses; unknown methods
 * get UNIMPLEMENTED, requests over the receive limit RESOURCE_EXHAUSTED, and the connection
 * keeps serving. Connections are never freed inside their own callbacks: they are marked and
 * reaped in a loop hook, which also flushes output queued from other events.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdp_diag;
struct gdp_loop;
struct gdp_rpc_call;
struct gdp_rpc_server;

enum gdp_rpc_kind {
    GDP_RPC_UNARY = 0,
    GDP_RPC_SERVER_STREAM = 1,
};

/* Flags for gdp_rpc_call_send(). */
enum gdp_rpc_send_flags {
    /* Drop queued messages not yet started on the wire before queueing this one: for
     * snapshot streams (ListAndWatch), where only the newest message matters. */
    GDP_RPC_SEND_COALESCE = 1u << 0,
};

/*
 * Runs when the whole request message has arrived. req/len are borrowed for the duration
 * of the call. call is valid until the handler returns, or, for a streaming call with a done
 * callback, until that callback returns.
 */
typedef void (*gdp_rpc_handler_fn)(struct gdp_rpc_call *call, const uint8_t *req, size_t len,
                                   void *userdata);

/*
 * A streaming call ended. cancelled is false when it ended because we finished it and the
 * status went out, true when the peer reset it, the connection dropped, or the server was
 * freed. Must not use call after returning, nor call gdp_rpc_call_* on it from here.
 */
typedef void (*gdp_rpc_done_fn)(struct gdp_rpc_call *call, bool cancelled, void *userdata);

/* Every connection is gone after gdp_rpc_server_shutdown(). The server may be freed here. */
typedef void (*gdp_rpc_drained_fn)(struct gdp_rpc_server *server, void *userdata);

struct gdp_rpc_method {
    const char *path; /* "/package.Service/Method"; borrowed, must outlive the server */
    enum gdp_rpc_kind kind;
    gdp_rpc_handler_fn handler;
    void *userdata;
};

/* Zero fields take the defaults in brackets. */
struct gdp_rpc_server_options {
    /* [16] at the limit a new connection evicts the connection idle for longest (no open
     * call); only when every connection has a call is the new one closed */
    unsigned max_connections;
    unsigned max_streams;     /* [100] SETTINGS_MAX_CONCURRENT_STREAMS */
    size_t max_recv_message;  /* [4 MiB] larger requests: RESOURCE_EXHAUSTED */
    size_t max_send_message;  /* [4 MiB] larger responses are refused with -EMSGSIZE */
    size_t max_send_queue;    /* [8 MiB] bytes queued per call before -ENOBUFS */
    size_t max_conn_buffered; /* [8 MiB] request bytes held per connection, all calls */
    size_t max_buffered;      /* [16 MiB] request bytes held by the whole server; a call
                               * that would pass either cap fails RESOURCE_EXHAUSTED */
    uint64_t handshake_ms;    /* [10 s] HTTP/2 preface and SETTINGS must arrive by then */
    uint64_t idle_ms;         /* [5 min] a connection without calls for this long is closed
                               * with GOAWAY */
};

/*
 * Creates a server with a copy of the method table (paths stay borrowed). opts may be NULL.
 * It serves nothing until gdp_rpc_server_listen() or gdp_rpc_server_adopt().
 * Returns 0 and *ret_server (caller frees with gdp_rpc_server_free()), or -EINVAL with diag.
 */
int gdp_rpc_server_new(struct gdp_loop *loop, const struct gdp_rpc_method *methods,
                       size_t n_methods, const struct gdp_rpc_server_options *opts,
                       struct gdp_rpc_server **ret_server, struct gdp_diag *diag);

/*
 * Listens on a unix socket at path, replacing a stale socket file; the socket is created
 * with mode 0600 whatever the umask (the kubelet connects as root). The file is removed again
 * by shutdown/free. When accept() fails for lack of descriptors, a reserved descriptor is
 * used to take and close the pending connection and accepting pauses briefly, with a
 * rate-limited warning, instead of spinning. Returns 0, -ENAMETOOLONG (does not fit sun_path),
 * -EBUSY (already listening), or -errno from socket/bind/listen, with diag filled.
 */
int gdp_rpc_server_listen(struct gdp_rpc_server *server, const char *path, struct gdp_diag *diag);

/*
 * Serves an already connected stream socket (takes ownership of fd; it is made
 * non-blocking). For tests and fuzzers. Returns 0, -EMFILE at max_connections (fd closed),
 * or -errno (fd closed).
 */
int gdp_rpc_server_adopt(struct gdp_rpc_server *server, int fd, struct gdp_diag *diag);

/*
 * Graceful stop: closes the listener, ends every unfinished call with UNAVAILABLE and
 * message, sends GOAWAY on every connection and lets them drain. drained (may be NULL) runs
 * once from a loop hook when no connection is left. Calling it twice does nothing.
 */
void gdp_rpc_server_shutdown(struct gdp_rpc_server *server, const char *message,
                             gdp_rpc_drained_fn drained, void *userdata);

/*
 * Closes everything at once; streaming calls get their done callback with cancelled=true.
 * Not from inside a handler or done callback (from the drained callback is fine).
 * Accepts NULL.
 */
void gdp_rpc_server_free(struct gdp_rpc_server *server);

/* Number of open connections. */
size_t gdp_rpc_server_connections(const struct gdp_rpc_server *server);

/* Request bytes currently held for calls whose request has not fully arrived, all
 * connections together (bounded by max_buffered). */
size_t gdp_rpc_server_buffered(const struct gdp_rpc_server *server);

/* The method path of a call ("/pkg.Svc/Method"); borrowed, valid while call is. */
const char *gdp_rpc_call_path(const struct gdp_rpc_call *call);

/*
 * Unary answer: sends msg (len bytes, copied) followed by status OK.
 * Returns 0, -EALREADY (already answered), or -EMSGSIZE (len > max_send_message).
 */
int gdp_rpc_call_reply(struct gdp_rpc_call *call, const void *msg, size_t len);

/*
 * Streaming: queues one message (copied). flags: enum gdp_rpc_send_flags.
 * Returns 0, -EALREADY (finished), -EMSGSIZE (len > max_send_message), or -ENOBUFS (the
 * peer is not reading and max_send_queue is reached; nothing was queued).
 */
int gdp_rpc_call_send(struct gdp_rpc_call *call, const void *msg, size_t len, unsigned flags);

/*
 * Ends the call with status (enum gdp_grpc_status) and message (may be NULL; plain text,
 * percent-encoded here) after the queued messages. Returns 0 or -EALREADY.
 */
int gdp_rpc_call_finish(struct gdp_rpc_call *call, int status, const char *message);

/* Registers the done callback of a streaming call (see gdp_rpc_done_fn). */
void gdp_rpc_call_set_done(struct gdp_rpc_call *call, gdp_rpc_done_fn fn, void *userdata);
