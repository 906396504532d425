/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asynchronous unary gRPC client calls over a unix socket, on the event loop. Each call uses
 * its own short-lived HTTP/2 connection (the kubelet's Register is one call per
 * registration), sends no keepalive pings (the kubelet's server would answer them with
 * GOAWAY too_many_pings), and never blocks: the loop keeps serving other sockets, which the
 * kubelet needs because it dials the plugin back before answering Register.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct gdp_diag;
struct gdp_loop;
struct gdp_rpc_client_call;

struct gdp_rpc_request {
    const char *socket_path; /* unix socket to dial */
    const char *method;      /* "/v1beta1.Registration/Register" */
    const uint8_t *data;     /* request message (copied); may be NULL when len == 0 */
    size_t len;
    uint64_t timeout_ms; /* deadline, sent as grpc-timeout and enforced here; 0: none */
    size_t max_response; /* 0: 4 MiB; larger responses fail RESOURCE_EXHAUSTED */
};

struct gdp_rpc_result {
    int status;          /* enum gdp_grpc_status */
    const char *message; /* decoded grpc-message or our own description; never NULL */
    const uint8_t *data; /* the response message when status is OK, else NULL */
    size_t len;
};

/*
 * The call completed. res and everything it points to are borrowed until return; the call
 * handle is invalid once this returns. Runs from a loop callback, never from inside
 * gdp_rpc_client_call(). It may start new calls.
 */
typedef void (*gdp_rpc_reply_fn)(const struct gdp_rpc_result *res, void *userdata);

/*
 * Starts a unary call. Connecting is non-blocking; failures to connect that are known at
 * once (no such socket, connection refused) are returned here and then fn is never called.
 * Returns 0 and, if ret_call is not NULL, a handle for gdp_rpc_client_call_cancel() (owned by
 * the loop: freed after fn runs); fn (userdata borrowed) then runs exactly once unless the
 * call is cancelled. Errors: -EINVAL (bad request), -ENAMETOOLONG (path does not fit
 * sun_path), -EMSGSIZE (len > 4 GiB - 1), or -errno from socket/connect, with diag filled.
 */
int gdp_rpc_client_call(struct gdp_loop *loop, const struct gdp_rpc_request *req,
                        gdp_rpc_reply_fn fn, void *userdata, struct gdp_rpc_client_call **ret_call,
                        struct gdp_diag *diag);

/*
 * Abandons a call that has not completed: fn will not run; the connection is closed and the
 * memory released after the current dispatch round. From inside fn it does nothing; after
 * fn returned the handle is gone and must not be passed here.
 */
void gdp_rpc_client_call_cancel(struct gdp_rpc_client_call *call);
