/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pieces of gdp-bench-client: a minimal blocking gRPC client over one HTTP/2 connection
 * (h2client.c) and a fake kubelet Registration server that timestamps each Register as it
 * arrives (kubelet.c). Benchmark code: it fails loudly (message on stderr, negative return)
 * instead of recovering.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allocate calls made, unmeasured, on each connection before the measured ones. */
#define GDP_BENCH_WARMUP_CALLS 500u

struct gdp_loop;
struct gdp_bench_conn;
struct gdp_bench_kubelet;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t gdp_bench_now_ns(void);

/*
 * Connects to the unix socket at path and starts an HTTP/2 client session (preface and
 * SETTINGS are queued, sent with the first request). Returns 0 and *ret_conn (caller frees
 * with gdp_bench_conn_free()), or -errno with a message on stderr.
 */
int gdp_bench_conn_open(const char *path, struct gdp_bench_conn **ret_conn);

/* Closes the socket and deletes the session. Accepts NULL. */
void gdp_bench_conn_free(struct gdp_bench_conn *conn);

/* What a unary load run sends and what it measured. */
struct gdp_bench_unary {
    const char *method;   /* ":path", e.g. "/v1beta1.DevicePlugin/Allocate"; borrowed */
    const uint8_t *msg;   /* request message (unframed); borrowed */
    size_t len;           /* its length */
    unsigned calls;       /* number of calls */
    unsigned concurrency; /* streams kept in flight (1..256) */
    uint64_t *lat_ns;     /* out: calls entries, round trip of each call, in completion order */
};

/*
 * Sends u->calls unary calls on conn with u->concurrency streams in flight, each timed from
 * submission to its trailers. Every call must end with :status 200, grpc-status 0, exactly
 * one response message and no stream error. Returns 0, or -EPROTO (a call failed; the call
 * and its status are printed), -ETIMEDOUT (no progress for 5 s) or -errno from the socket.
 */
int gdp_bench_unary_run(struct gdp_bench_conn *conn, struct gdp_bench_unary *u);

/*
 * Opens a server-streaming call on conn and waits (at most timeout_ms) for its first
 * response message. Returns 0 and *ret_msg / *ret_len (caller frees with free()), or
 * -ETIMEDOUT, -EPROTO (the call ended or failed first) or -errno.
 */
int gdp_bench_stream_first(struct gdp_bench_conn *conn, const char *method, const uint8_t *msg,
                           size_t len, int timeout_ms, uint8_t **ret_msg, size_t *ret_len);

/*
 * Fake kubelet: serves /v1beta1.Registration/Register on socket_path (string borrowed, must
 * outlive it) from loop. Each Register is checked (version v1beta1, resource nvidia.com/gpu,
 * an endpoint) and answered at once with an empty message; it does not dial the plugin back.
 * Returns 0 and *ret_kubelet (caller frees with gdp_bench_kubelet_free()); it is not
 * listening until gdp_bench_kubelet_start().
 */
int gdp_bench_kubelet_new(struct gdp_loop *loop, const char *socket_path,
                          struct gdp_bench_kubelet **ret_kubelet);

/* Stops listening (removes the socket file, drops connections) and frees. Accepts NULL. */
void gdp_bench_kubelet_free(struct gdp_bench_kubelet *k);

/*
 * Creates the socket: what a kubelet start looks like on disk. Returns 0 and, in
 * *ret_bind_ns, the time taken just before the socket file appeared; or -errno.
 */
int gdp_bench_kubelet_start(struct gdp_bench_kubelet *k, uint64_t *ret_bind_ns);

/* Stops listening, removes kubelet.sock and closes every connection (a kubelet exit). */
void gdp_bench_kubelet_stop(struct gdp_bench_kubelet *k);

/* Registers received since creation (valid or not), and when the last one arrived. */
unsigned gdp_bench_kubelet_registers(const struct gdp_bench_kubelet *k);
uint64_t gdp_bench_kubelet_last_ns(const struct gdp_bench_kubelet *k);

/* Number of Register requests that failed the checks (answered INVALID_ARGUMENT). */
unsigned gdp_bench_kubelet_invalid(const struct gdp_bench_kubelet *k);

/*
 * Runs the loop until count Registers have arrived in total. Returns 0, -ETIMEDOUT after
 * timeout_ms, or -errno from the loop.
 */
int gdp_bench_kubelet_wait(struct gdp_bench_kubelet *k, unsigned count, int timeout_ms);

/*
 * Runs the loop until the kubelet has no open connection and no Register arrived for
 * quiet_ms (so that the plugin has its answer and no retry is pending). Returns 0,
 * -ETIMEDOUT after timeout_ms, or -errno from the loop.
 */
int gdp_bench_kubelet_settle(struct gdp_bench_kubelet *k, int quiet_ms, int timeout_ms);

/* ---- measurements (gdp-bench-client.c) and the whole-node run (node.c) ---- */

struct gdp_bench_opts {
    const char *socket, *device, *plugin, *driver_root, *dir, *log;
    unsigned calls, concurrency, runs, restarts;
};

/* Percentiles in nanoseconds. */
struct gdp_bench_stats {
    double p50, p90, p99, max;
};

struct gdp_bench_load {
    struct gdp_bench_stats st;
    double per_s; /* calls per second over the measured calls */
};

/* Nearest-rank p50/p90/p99/max of n > 0 values; sorts v in place. */
struct gdp_bench_stats gdp_bench_stats_of(uint64_t *v, size_t n);

/*
 * On one new connection to socket: a warm-up of 500 Allocate calls for device, then calls
 * measured ones with conc streams in flight. Returns 0 and *ret, or a negative error (the
 * failure is printed).
 */
int gdp_bench_allocate_load(const char *socket, const char *device, unsigned calls, unsigned conc,
                            struct gdp_bench_load *ret);

/*
 * runs times: connect to socket, open ListAndWatch, wait for its first message, close; each
 * timed from before socket(). If ret_device is not NULL, the first device ID of the first
 * message is returned there (caller frees with free()) and the device count in *ret_count.
 * Returns 0 and *ret, or a negative error (printed).
 */
int gdp_bench_watch_runs(const char *socket, unsigned runs, struct gdp_bench_stats *ret,
                         char **ret_device, size_t *ret_count);

/*
 * The whole benchmark (o->plugin, o->driver_root, o->dir, o->log, o->calls, o->runs,
 * o->restarts): starts the plugin against a fake kubelet in o->dir and prints the table of
 * docs/performance.md. Returns 0, or a negative error after printing what failed.
 */
int gdp_bench_node(const struct gdp_bench_opts *o);
