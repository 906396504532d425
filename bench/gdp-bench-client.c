/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gdp-bench-client: measures gpu-device-plugin from the kubelet's side, in C so that the
 * client adds microseconds, not the 50-100 us per call of python grpcio.
 *
 *   allocate --socket=PATH [--device=ID] [--calls=N] [--concurrency=C]
 *       N unary Allocate calls over one HTTP/2 connection with C streams in flight.
 *   watch --socket=PATH [--runs=N]
 *       time from connect() to the first ListAndWatch message, on a new connection each run.
 *   node --plugin=BIN --driver-root=DIR --dir=DIR [--log=FILE] [--calls=N] [--restarts=N]
 *        [--runs=N]
 *       the whole benchmark of docs/performance.md: starts the plugin against a fake kubelet
 *       in DIR and prints every figure next to its target.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deviceplugin_v1beta1.pb-c.h>

#include "bench.h"
#include "core/log.h"
#include "core/util.h"

#define ALLOCATE_METHOD "/v1beta1.DevicePlugin/Allocate"
#define WATCH_METHOD    "/v1beta1.DevicePlugin/ListAndWatch"
#define WAIT_MS         10000
#define NS_PER_US       1000.0

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentiles; sorts v. */
struct gdp_bench_stats
gdp_bench_stats_of(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
#define RANK(p) ((double)v[(size_t)((p) * (double)n + 0.999999) - 1])
    return (struct gdp_bench_stats){
            .p50 = RANK(0.50), .p90 = RANK(0.90), .p99 = RANK(0.99), .max = RANK(1.0)};
#undef RANK
}

/* ---- requests ---- */

static uint8_t *
pack_allocate(const char *device, size_t *ret_len)
{
    char *ids[] = {(char *)device};
    V1beta1__ContainerAllocateRequest creq = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
    V1beta1__ContainerAllocateRequest *creqs[] = {&creq};
    V1beta1__AllocateRequest req = V1BETA1__ALLOCATE_REQUEST__INIT;
    creq.n_devices_ids = 1;
    creq.devices_ids = ids;
    req.n_container_requests = 1;
    req.container_requests = creqs;
    uint8_t *buf = gdp_malloc(v1beta1__allocate_request__get_packed_size(&req));
    *ret_len = v1beta1__allocate_request__pack(&req, buf);
    return buf;
}

/* Device ID and count from a ListAndWatchResponse; the ID is NULL if there is none. */
static char *
first_device(const uint8_t *msg, size_t len, size_t *ret_count)
{
    V1beta1__ListAndWatchResponse *r = v1beta1__list_and_watch_response__unpack(NULL, len, msg);
    if (r == NULL) {
        (void)fprintf(stderr, "FAILED: undecodable ListAndWatchResponse\n");
        return NULL;
    }
    *ret_count = r->n_devices;
    char *id = r->n_devices > 0 ? gdp_strdup(r->devices[0]->id) : NULL;
    v1beta1__list_and_watch_response__free_unpacked(r, NULL);
    return id;
}

/* ---- measurements ---- */

int
gdp_bench_allocate_load(const char *socket, const char *device, unsigned calls, unsigned conc,
                        struct gdp_bench_load *ret)
{
    size_t len;
    _cleanup_free_ uint8_t *req = pack_allocate(device, &len);
    _cleanup_free_ uint64_t *lat = gdp_calloc(calls + GDP_BENCH_WARMUP_CALLS, sizeof *lat);
    struct gdp_bench_conn *conn;
    int r = gdp_bench_conn_open(socket, &conn);
    if (r < 0) {
        return r;
    }
    struct gdp_bench_unary u = {ALLOCATE_METHOD, req, len, GDP_BENCH_WARMUP_CALLS, conc, lat};
    r = gdp_bench_unary_run(conn, &u); /* warm-up: caches, allocator, branch predictors */
    uint64_t t0 = gdp_bench_now_ns();
    if (r == 0) {
        u.calls = calls;
        r = gdp_bench_unary_run(conn, &u);
    }
    uint64_t elapsed = gdp_bench_now_ns() - t0;
    gdp_bench_conn_free(conn);
    if (r == 0) {
        ret->st = gdp_bench_stats_of(lat, calls);
        ret->per_s = (double)calls * 1e9 / (double)elapsed;
    }
    return r;
}

/* Time to the first ListAndWatch message on a new connection, runs times; the first message
 * also gives the device to allocate. */
int
gdp_bench_watch_runs(const char *socket, unsigned runs, struct gdp_bench_stats *ret,
                     char **ret_device, size_t *ret_count)
{
    _cleanup_free_ uint64_t *lat = gdp_calloc(runs, sizeof *lat);
    for (unsigned i = 0; i < runs; i++) {
        struct gdp_bench_conn *conn;
        uint8_t *msg = NULL;
        size_t len = 0;
        uint64_t t0 = gdp_bench_now_ns();
        int r = gdp_bench_conn_open(socket, &conn);
        r = r < 0 ? r : gdp_bench_stream_first(conn, WATCH_METHOD, NULL, 0, WAIT_MS, &msg, &len);
        lat[i] = gdp_bench_now_ns() - t0;
        if (r == 0) {
            gdp_bench_conn_free(conn);
        }
        if (r == 0 && i == 0 && ret_device != NULL) {
            *ret_device = first_device(msg, len, ret_count);
            r = *ret_device == NULL ? -EPROTO : 0;
        }
        free(msg);
        if (r < 0) {
            return r;
        }
    }
    *ret = gdp_bench_stats_of(lat, runs);
    return 0;
}

static void
print_load(const char *what, const struct gdp_bench_load *l)
{
    (void)printf("%s: p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us  %.0f calls/s\n", what,
                 l->st.p50 / NS_PER_US, l->st.p90 / NS_PER_US, l->st.p99 / NS_PER_US,
                 l->st.max / NS_PER_US, l->per_s);
}

static int
cmd_allocate(const struct gdp_bench_opts *o)
{
    _cleanup_free_ char *found = NULL;
    const char *device = o->device;
    if (device == NULL) {
        struct gdp_bench_stats st;
        size_t count = 0;
        int r = gdp_bench_watch_runs(o->socket, 1, &st, &found, &count);
        if (r < 0) {
            return r;
        }
        device = found;
    }
    struct gdp_bench_load l;
    int r = gdp_bench_allocate_load(o->socket, device, o->calls, o->concurrency, &l);
    if (r < 0) {
        return r;
    }
    char what[128];
    (void)snprintf(what, sizeof what, "Allocate %s x%u c=%u", device, o->calls, o->concurrency);
    print_load(what, &l);
    return 0;
}

static int
cmd_watch(const struct gdp_bench_opts *o)
{
    struct gdp_bench_stats st;
    int r = gdp_bench_watch_runs(o->socket, o->runs, &st, NULL, NULL);
    if (r < 0) {
        return r;
    }
    (void)printf("ListAndWatch first message x%u: p50 %.1f us  p90 %.1f us  p99 %.1f us  max "
                 "%.1f us\n",
                 o->runs, st.p50 / NS_PER_US, st.p90 / NS_PER_US, st.p99 / NS_PER_US,
                 st.max / NS_PER_US);
    return 0;
}

static int
parse_uint(const char *s, unsigned *ret)
{
    long v;
    if (gdp_parse_long(s, 1, 100000000, &v) < 0) {
        (void)fprintf(stderr, "not a positive number: %s\n", s);
        return -EINVAL;
    }
    *ret = (unsigned)v;
    return 0;
}

static int
parse_opts(int argc, char **argv, struct gdp_bench_opts *o)
{
    static const struct option longopts[] = {
            {"socket", required_argument, NULL, 's'},
            {"device", required_argument, NULL, 'd'},
            {"calls", required_argument, NULL, 'n'},
            {"concurrency", required_argument, NULL, 'c'},
            {"runs", required_argument, NULL, 'r'},
            {"restarts", required_argument, NULL, 'R'},
            {"plugin", required_argument, NULL, 'p'},
            {"driver-root", required_argument, NULL, 'D'},
            {"dir", required_argument, NULL, 'k'},
            {"log", required_argument, NULL, 'l'},
            {NULL, 0, NULL, 0},
    };
    int c, r = 0;
    while (r == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->socket = optarg;
            break;
        case 'd':
            o->device = optarg;
            break;
        case 'n':
            r = parse_uint(optarg, &o->calls);
            break;
        case 'c':
            r = parse_uint(optarg, &o->concurrency);
            break;
        case 'r':
            r = parse_uint(optarg, &o->runs);
            break;
        case 'R':
            r = parse_uint(optarg, &o->restarts);
            break;
        case 'p':
            o->plugin = optarg;
            break;
        case 'D':
            o->driver_root = optarg;
            break;
        case 'k':
            o->dir = optarg;
            break;
        case 'l':
            o->log = optarg;
            break;
        default:
            r = -EINVAL;
            break;
        }
    }
    return r;
}

int
main(int argc, char **argv)
{
    struct gdp_bench_opts o = {
            .calls = 10000, .concurrency = 1, .runs = 200, .restarts = 1000, .log = "/dev/null"};
    const char *cmd = argc > 1 ? argv[1] : "";
    gdp_log_level = GDP_LOG_ERR;
    if (parse_opts(argc - 1, argv + 1, &o) < 0 || optind < argc - 1) {
        cmd = "";
    }
    int r = -EINVAL;
    if (streq(cmd, "allocate") && o.socket != NULL) {
        r = cmd_allocate(&o);
    } else if (streq(cmd, "watch") && o.socket != NULL) {
        r = cmd_watch(&o);
    } else if (streq(cmd, "node") && o.plugin != NULL && o.driver_root != NULL && o.dir != NULL) {
        r = gdp_bench_node(&o);
    } else {
        (void)fprintf(stderr,
                      "usage: %s allocate|watch --socket=PATH [options]\n"
                      "       %s node --plugin=BIN --driver-root=DIR --dir=DIR "
                      "[options]\n(see the comment at the top of bench/gdp-bench-client.c)\n",
                      argv[0], argv[0]);
        return 2;
    }
    return r < 0 ? 1 : 0;
}
