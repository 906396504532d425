/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubelet's DevicePlugin requests answered as pure functions: the request's bytes, the
 * serving snapshot and the resource in, the packed answer or a gRPC status with
 * its message out. No I/O, no logging, no state: server.c decodes nothing itself, it hands
 * the bytes here and sends what comes back; the fuzz target and the unit tests call the same
 * functions.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"
#include "resource/resources.h"

struct gdp_snapshot;

struct gdp_answer {
    uint8_t *msg; /* the packed response message; NULL when status is not OK */
    size_t len;
    int status; /* GDP_GRPC_OK, or the gRPC status to end the call with */
    char message[GDP_DIAG_MAX + GDP_RESOURCE_NAME_MAX + 64]; /* the status message */
};

/*
 * Allocate: every container's devices as the configured device-list strategies give them.
 * Returns 0, or -EINVAL with ret->status INVALID_ARGUMENT (a malformed request, no
 * container, an unknown ID, a NUL in an ID, ...). Release with
 * gdp_answer_done().
 */
int gdp_answer_allocate(const struct gdp_snapshot *s, const struct gdp_resource *res,
                        const uint8_t *req, size_t len, struct gdp_answer *ret);

/* GetPreferredAllocation: the preferred IDs per container. Returns as gdp_answer_allocate(). */
int gdp_answer_preferred(const struct gdp_snapshot *s, const struct gdp_resource *res,
                         const uint8_t *req, size_t len, struct gdp_answer *ret);

/* GetDevicePluginOptions: GetPreferredAllocation available, no PreStartContainer. */
void gdp_answer_options(struct gdp_answer *ret);

/* PreStartContainer: the empty response. */
void gdp_answer_pre_start(struct gdp_answer *ret);

/* The ListAndWatch message: every device of the resource with its health and NUMA node. */
void gdp_answer_device_list(const struct gdp_resource *r, struct gdp_answer *ret);

/* Frees the message. Accepts a zeroed or released answer. */
void gdp_answer_done(struct gdp_answer *a);
