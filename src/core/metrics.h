/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's metrics registry: a fixed catalog of counter, gauge and histogram families
 * (all named gpu_device_plugin_*, docs/metrics.md lists them), each holding at most
 * GDP_METRIC_SERIES_MAX label sets, rendered in the Prometheus text exposition format.
 * Any layer may count; updates are cheap and thread-safe (the NVML health thread counts
 * NVML errors too). Label sets beyond the bound are dropped and counted in
 * gpu_device_plugin_metric_series_dropped_total, so nothing grows without bound.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define GDP_METRIC_LABELS_MAX      3   /* label names per family */
#define GDP_METRIC_SERIES_MAX      256 /* label sets per family */
#define GDP_METRIC_LABEL_VALUE_MAX 128 /* longer values are cut */

enum gdp_metric {
    GDP_M_BUILD_INFO = 0,
    GDP_M_DEVICES,                  /* gauge {resource, health}: set by the collector */
    GDP_M_UNHEALTHY_DEVICES,        /* gauge {resource, reason}: set by the collector */
    GDP_M_XID_EVENTS,               /* counter {gpu, xid} */
    GDP_M_REGISTRATIONS,            /* counter {resource}: accepted Register calls */
    GDP_M_REGISTRATION_FAILURES,    /* counter {resource} */
    GDP_M_KUBELET_RESTARTS,         /* counter: a new kubelet.sock appeared */
    GDP_M_REQUESTS,                 /* counter {method, resource} */
    GDP_M_REQUEST_ERRORS,           /* counter {method, resource} */
    GDP_M_REQUEST_DURATION,         /* histogram {method, resource}, seconds */
    GDP_M_LISTANDWATCH_STREAMS,     /* gauge {resource}: set by the collector */
    GDP_M_CONFIG_RELOADS,           /* counter {result="applied"|"deferred"|"rejected"} */
    GDP_M_NVML_ERRORS,              /* counter {function} */
    GDP_M_READY,                    /* gauge: /readyz's answer, set by the collector */
    GDP_M_WATCHDOG_CHECKS,          /* counter {result="ok"|"drift"|"error"} */
    GDP_M_WATCHDOG_REREGISTRATIONS, /* counter {resource} */
    GDP_M_HTTP_REQUESTS,            /* counter {path, code} */
    GDP_M_SERIES_DROPPED,           /* counter {metric} */
    GDP_M_COUNT,
};

/* Adds v (>= 0) to a counter, or to a gauge, for the label values labels[] (as many as the
 * family has label names; NULL when it has none). */
void gdp_metric_add(enum gdp_metric id, const char *const *labels, double v);

/* Sets a gauge. */
void gdp_metric_set(enum gdp_metric id, const char *const *labels, double v);

/* Records one observation v in a histogram. */
void gdp_metric_observe(enum gdp_metric id, const char *const *labels, double v);

/* Removes every series of a family (a collector's gauges before it sets them again). */
void gdp_metric_clear(enum gdp_metric id);

/* Clears every family and drops the collector (tests). */
void gdp_metrics_reset(void);

/* Called by gdp_metrics_render() first, on the rendering thread, to set the gauges that are
 * read from state rather than counted (devices, streams, readiness). One collector. */
typedef void (*gdp_metrics_collect_fn)(void *userdata);
void gdp_metrics_set_collector(gdp_metrics_collect_fn fn, void *userdata);

/*
 * Runs the collector, then writes every family in the Prometheus text exposition format
 * (version 0.0.4). Returns the text, NUL-terminated, with its length in *ret_len; caller
 * frees with free().
 */
char *gdp_metrics_render(size_t *ret_len);

/* Convenience for the request hooks: counts a kubelet call of method on resource, its
 * duration since t0_ns (gdp_metrics_now_ns()) and, when r < 0, an error. */
void gdp_metrics_request(const char *method, const char *resource, uint64_t t0_ns, int r);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t gdp_metrics_now_ns(void);

/* Convenience for NVML failures: counts one error of the named NVML function. */
void gdp_metrics_nvml_error(const char *function);

/* Convenience for single-label counters: adds 1 for label value v. */
void gdp_metric_inc1(enum gdp_metric id, const char *v);
