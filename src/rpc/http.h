/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/1.1 endpoint on the event loop (libmicrohttpd in external-epoll mode: its
 * epoll descriptor is one source of our loop, so no thread and nothing blocks), for GET
 * requests answered at once from memory: /metrics, the probes, the status document. Bounded:
 * connections, request size (the per-connection memory pool) and time per connection. Also a
 * blocking GET client for command-line tools. Knows nothing about GPUs.
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

struct gdp_diag;
struct gdp_loop;
struct gdp_http_server;

#define GDP_HTTP_MAX_CONNECTIONS 16
#define GDP_HTTP_REQUEST_MAX     16384      /* bytes of request line and headers */
#define GDP_HTTP_TIMEOUT_S       5          /* per connection, idle or slow */
#define GDP_HTTP_BODY_MAX        (4u << 20) /* largest body the client accepts */

/* The answer to one request. body is malloc'ed and taken over by the server. */
struct gdp_http_response {
    unsigned status;
    const char *content_type; /* static */
    char *body;
    size_t len;
};

/* Answers a GET (or HEAD) of path (no query string). Runs on the loop thread. */
typedef void (*gdp_http_handler_fn)(const char *path, struct gdp_http_response *ret,
                                    void *userdata);

/*
 * Parses an endpoint address: "unix:PATH" (an absolute or relative socket path), or
 * "HOST:PORT" with HOST a numeric IPv4 address, "[IPv6]", "localhost" or empty (every
 * interface) and PORT 0..65535. Returns 0 with the socket address, or -EINVAL with diag
 * saying what is wrong.
 */
int gdp_http_parse_address(const char *address, struct sockaddr_storage *ret, socklen_t *ret_len,
                           struct gdp_diag *diag);

/*
 * Listens on address (gdp_http_parse_address; a stale unix socket file is replaced) and serves
 * fn (with userdata, borrowed) on loop. Returns 0 and *ret (caller frees with
 * gdp_http_server_free()), -EINVAL for a bad address, or -errno from socket/bind/listen, with
 * diag filled.
 */
int gdp_http_server_new(struct gdp_loop *loop, const char *address, gdp_http_handler_fn fn,
                        void *userdata, struct gdp_http_server **ret, struct gdp_diag *diag);

/* Closes every connection and the listener (removing a unix socket file). Accepts NULL. */
void gdp_http_server_free(struct gdp_http_server *s);

/* What gdp_http_get() received. */
struct gdp_http_answer {
    unsigned status;
    char *body; /* NUL-terminated; caller frees with free() */
    size_t len;
};

/*
 * Blocking GET of path from the endpoint at address, for command-line tools (not for the
 * loop). Waits at most timeout_ms in all. Returns 0 with *ret filled; -EINVAL (address),
 * -ETIMEDOUT, -EMSGSIZE (answer over GDP_HTTP_BODY_MAX), -EPROTO (not an HTTP answer) or
 * -errno from connect/read, with diag filled.
 */
int gdp_http_get(const char *address, const char *path, int timeout_ms, struct gdp_http_answer *ret,
                 struct gdp_diag *diag);
