/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/kube/: streaming requests (the watch is built on them) and the client's
 * bookkeeping shared by client.c and ops.c.
 */
#pragma once

#include "kube/kube.h"

/* One complete line of a streamed response (without its newline); borrowed for the call. */
typedef void (*gdp_kube_line_fn)(struct gdp_kube_req *req, const char *line, size_t len,
                                 void *userdata);

/*
 * Like gdp_kube_request() for call->method GDP_KUBE_WATCH, but the body is delivered line by
 * line to line (on the loop thread, after libcurl returned) and done gets body NULL. No
 * request timeout: call->query->timeout_s plus a grace period bounds the transfer.
 */
int gdp_kube_stream(struct gdp_kube_client *c, const struct gdp_kube_call *call,
                    gdp_kube_line_fn line, struct gdp_kube_req **ret_req, struct gdp_diag *diag);

/* Called with the request's userdata when the request is freed without its done callback
 * having run (cancelled, or the client freed): frees what userdata owns. */
typedef void (*gdp_kube_cleanup_fn)(void *userdata);

/* Sets req's cleanup (see gdp_kube_cleanup_fn). */
void gdp_kube_req_set_cleanup(struct gdp_kube_req *req, gdp_kube_cleanup_fn fn);

/* The loop the client runs on. Borrowed. */
struct gdp_loop *gdp_kube_client_loop(const struct gdp_kube_client *c);
