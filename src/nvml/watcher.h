/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVML watcher (the health thread): the only thread besides the loop. It owns one NVML
 * event set, registers the watched GPUs for XID and ECC events, waits for events with a short
 * timeout, probes every GPU periodically with a cheap NVML query (lost GPUs, GPUs answering again)
 * and reports everything as fixed-size struct gdp_watcher_record posted to the loop with
 * gdp_loop_post(). It decides nothing: the loop thread applies the records (gpu/health.h).
 *
 * Thread safety: the thread reads its own copy of the options, calls NVML through the shared,
 * read-only struct gdp_nvml (NVML is thread-safe; the last-error code is per thread), and
 * touches no loop-thread state: gdp_loop_post() is its only way out, and it never blocks (a
 * full queue drops the record and counts it). gdp_watcher_start()/gdp_watcher_stop() are called
 * on the loop thread; the stop flag is atomic and the join is bounded by the wait timeout.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvml/nvml.h"

struct gdp_diag;
struct gdp_loop;

/* What a record reports. */
enum gdp_watcher_kind {
    GDP_WATCHER_REC_EVENT = 1,  /* an NVML event: event_type, xid (event data), gi, ci */
    GDP_WATCHER_REC_WAIT_ERROR, /* nvmlEventSetWait_v2 failed (count in a row); marks nothing */
    GDP_WATCHER_REC_PROBE,      /* the probe of gpu changed: nvml_rc 0 = answering again */
    GDP_WATCHER_REC_REGISTER_FAILED, /* events cannot be watched on gpu: mark it unhealthy */
    GDP_WATCHER_REC_NOT_MONITORED,   /* gpu supports none of the event types: warn, mark nothing */
    GDP_WATCHER_REC_DROPPED,         /* count records were lost to a full queue before this one */
    GDP_WATCHER_REC_REGISTERED,      /* events are watched on gpu again after REGISTER_FAILED */
};

#define GDP_WATCHER_DETAIL_MAX 160

/*
 * One report from the health thread, copied by value through the loop's queue. Set the
 * loop's post handler up with rec_size = sizeof(struct gdp_watcher_record).
 */
struct gdp_watcher_record {
    uint32_t kind;       /* enum gdp_watcher_kind */
    uint32_t generation; /* gdp_watcher_opts.generation: tells a stopped thread's records apart */
    int32_t gpu;         /* index into gdp_watcher_opts.uuids; -1 when unknown / not per GPU */
    int32_t nvml_rc;     /* NVML return code of the failure; 0 for success / none */
    uint64_t event_type; /* EVENT: one GDP_NVML_EVENT_* bit */
    uint64_t xid;        /* EVENT: the event data (the XID for XID events) */
    uint32_t gi;         /* EVENT: GPU instance id or GDP_NVML_NO_ID */
    uint32_t ci;         /* EVENT: compute instance id or GDP_NVML_NO_ID */
    uint64_t count;      /* DROPPED: records lost; WAIT_ERROR: failures in a row */
    char uuid[GDP_NVML_UUID_MAX];        /* the GPU's UUID; empty when not per GPU */
    char detail[GDP_WATCHER_DETAIL_MAX]; /* the NVML failure as text ("call: text (code N)") */
};

/* Suggested capacity of the loop's post queue (records). */
#define GDP_WATCHER_QUEUE_RECORDS 1024
/* Most GPUs one thread watches. */
#define GDP_WATCHER_MAX_GPUS 256

struct gdp_watcher_opts {
    struct gdp_nvml *nv;        /* borrowed: must stay open until gdp_watcher_stop() returns */
    struct gdp_loop *loop;      /* borrowed: post handler already set up (see above) */
    const char *const *uuids;   /* GPU UUIDs to watch (copied); full GPUs only */
    const bool *lost;           /* per UUID, or NULL: GPUs the loop holds as not answering */
    size_t n_uuids;             /* <= GDP_WATCHER_MAX_GPUS; 0 is allowed (probe-less idle) */
    uint64_t probe_interval_ms; /* 0: no periodic probe */
    unsigned wait_timeout_ms;   /* longest single event wait; 0: 500 ms. Bounds stop time */
    uint32_t generation;        /* copied into every record */
};

/* A running health thread. */
struct gdp_watcher;

/*
 * Starts the health thread. The thread creates its event set, registers every GPU (posting
 * REGISTER_FAILED / NOT_MONITORED records as needed), probes once, then waits for events.
 * A probe reports a GPU whose answer differs from what the loop holds: a GPU in opts->lost
 * that answers is reported at the first probe.
 * Returns 0 and *ret (stop and free with gdp_watcher_stop()), -EINVAL for bad options, or
 * -errno from pthread_create with diag filled.
 */
int gdp_watcher_start(const struct gdp_watcher_opts *opts, struct gdp_watcher **ret,
                      struct gdp_diag *diag);

/*
 * Asks the thread to stop, joins it (within about wait_timeout_ms), frees its event set and
 * the object. Records already posted stay in the loop's queue. Accepts NULL.
 */
void gdp_watcher_stop(struct gdp_watcher *h);

/* Human-readable name of a record kind ("event", "wait-error", ...). Static storage. */
const char *gdp_watcher_kind_name(uint32_t kind);
