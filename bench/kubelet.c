/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake kubelet for timing registration: our own gRPC server (src/rpc) serving only
 * Registration.Register, which takes its timestamp first thing in the handler, i.e. once the
 * whole request has been received and decoded from HTTP/2. Unlike the real kubelet it
 * answers at once instead of dialing the plugin back first: the figure measured is the time
 * until the Register request arrives, which the dial-back comes after.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deviceplugin_v1beta1.pb-c.h>

#include "bench.h"
#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/grpc.h"
#include "rpc/server.h"

#define REGISTER_METHOD "/v1beta1.Registration/Register"
#define POLL_MS         1

struct gdp_bench_kubelet {
    struct gdp_loop *loop;
    const char *path;
    struct gdp_rpc_server *server;
    unsigned registers, invalid;
    uint64_t last_ns;
};

static bool
request_valid(const uint8_t *req, size_t len)
{
    V1beta1__RegisterRequest *r = v1beta1__register_request__unpack(NULL, len, req);
    if (r == NULL) {
        return false;
    }
    bool ok = streq_ptr(r->version, "v1beta1") && streq_ptr(r->resource_name, "nvidia.com/gpu") &&
              r->endpoint != NULL && r->endpoint[0] != '\0';
    v1beta1__register_request__free_unpacked(r, NULL);
    return ok;
}

static void
on_register(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    struct gdp_bench_kubelet *k = userdata;
    static const uint8_t empty[1];
    k->last_ns = gdp_bench_now_ns();
    k->registers++;
    if (!request_valid(req, len)) {
        k->invalid++;
        (void)gdp_rpc_call_finish(call, GDP_GRPC_INVALID_ARGUMENT, "unexpected RegisterRequest");
        return;
    }
    (void)gdp_rpc_call_reply(call, empty, 0); /* google.protobuf.Empty */
}

int
gdp_bench_kubelet_new(struct gdp_loop *loop, const char *socket_path,
                      struct gdp_bench_kubelet **ret_kubelet)
{
    struct gdp_bench_kubelet *k = gdp_calloc(1, sizeof *k);
    k->loop = loop;
    k->path = socket_path;
    *ret_kubelet = k;
    return 0;
}

void
gdp_bench_kubelet_stop(struct gdp_bench_kubelet *k)
{
    gdp_rpc_server_free(k->server); /* unlinks the socket file */
    k->server = NULL;
}

void
gdp_bench_kubelet_free(struct gdp_bench_kubelet *k)
{
    if (k == NULL) {
        return;
    }
    gdp_bench_kubelet_stop(k);
    free(k);
}

int
gdp_bench_kubelet_start(struct gdp_bench_kubelet *k, uint64_t *ret_bind_ns)
{
    const struct gdp_rpc_method methods[] = {
            {REGISTER_METHOD, GDP_RPC_UNARY, on_register, k},
    };
    struct gdp_diag diag = {0};
    gdp_bench_kubelet_stop(k);
    int r = gdp_rpc_server_new(k->loop, methods, ELEMENTSOF(methods), NULL, &k->server, &diag);
    if (r < 0) {
        (void)fprintf(stderr, "kubelet: %s\n", diag.msg);
        return r;
    }
    *ret_bind_ns = gdp_bench_now_ns(); /* listen = socket + bind + listen: microseconds */
    r = gdp_rpc_server_listen(k->server, k->path, &diag);
    if (r < 0) {
        (void)fprintf(stderr, "kubelet: %s\n", diag.msg);
    }
    return r;
}

unsigned
gdp_bench_kubelet_registers(const struct gdp_bench_kubelet *k)
{
    return k->registers;
}

unsigned
gdp_bench_kubelet_invalid(const struct gdp_bench_kubelet *k)
{
    return k->invalid;
}

uint64_t
gdp_bench_kubelet_last_ns(const struct gdp_bench_kubelet *k)
{
    return k->last_ns;
}

int
gdp_bench_kubelet_wait(struct gdp_bench_kubelet *k, unsigned count, int timeout_ms)
{
    uint64_t deadline = gdp_bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (k->registers < count) {
        if (gdp_bench_now_ns() >= deadline) {
            return -ETIMEDOUT;
        }
        int r = gdp_loop_run_once(k->loop, POLL_MS);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

int
gdp_bench_kubelet_settle(struct gdp_bench_kubelet *k, int quiet_ms, int timeout_ms)
{
    uint64_t now = gdp_bench_now_ns();
    uint64_t deadline = now + (uint64_t)timeout_ms * 1000000u;
    uint64_t quiet_ns = (uint64_t)quiet_ms * 1000000u;
    while ((k->server != NULL && gdp_rpc_server_connections(k->server) > 0) ||
           now - k->last_ns < quiet_ns) {
        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        int r = gdp_loop_run_once(k->loop, POLL_MS);
        if (r < 0) {
            return r;
        }
        now = gdp_bench_now_ns();
    }
    return 0;
}
