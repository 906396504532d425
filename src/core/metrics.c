/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry: the catalog of families (one table: name, type, help, label names,
 * buckets), their series in bounded arrays behind one mutex, and the text exposition
 * renderer. The lock is held only for a lookup and an add, or while rendering.
 */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

enum metric_type {
    COUNTER,
    GAUGE,
    HISTOGRAM,
};

#define N_BUCKETS 12

static const double request_buckets[N_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

struct family {
    const char *name;
    enum metric_type type;
    const char *help;
    const char *labels[GDP_METRIC_LABELS_MAX + 1]; /* NULL-terminated */
};

#define P "gpu_device_plugin_"

static const struct family catalog[GDP_M_COUNT] = {
        [GDP_M_BUILD_INFO] = {P "build_info",
                              GAUGE,
                              "Version and commit of the running plugin.",
                              {"version", "commit"}},
        [GDP_M_DEVICES] = {P "devices",
                           GAUGE,
                           "Devices advertised, by resource and health.",
                           {"resource", "health"}},
        [GDP_M_UNHEALTHY_DEVICES] = {P "unhealthy_devices",
                                     GAUGE,
                                     "Unhealthy devices, by resource and reason.",
                                     {"resource", "reason"}},
        [GDP_M_XID_EVENTS] = {P "xid_events_total",
                              COUNTER,
                              "XID events reported by NVML, by GPU and XID.",
                              {"gpu", "xid"}},
        [GDP_M_REGISTRATIONS] = {P "registrations_total",
                                 COUNTER,
                                 "Registrations accepted by the kubelet (the first and every "
                                 "re-registration), by resource.",
                                 {"resource"}},
        [GDP_M_REGISTRATION_FAILURES] = {P "registration_failures_total",
                                         COUNTER,
                                         "Register calls that failed, by resource.",
                                         {"resource"}},
        [GDP_M_KUBELET_RESTARTS] = {P "kubelet_restarts_total",
                                    COUNTER,
                                    "Kubelet restarts seen (a new registration socket).",
                                    {NULL}},
        [GDP_M_REQUESTS] = {P "requests_total",
                            COUNTER,
                            "Kubelet calls answered, by method and resource.",
                            {"method", "resource"}},
        [GDP_M_REQUEST_ERRORS] = {P "request_errors_total",
                                  COUNTER,
                                  "Kubelet calls answered with an error, by method and resource.",
                                  {"method", "resource"}},
        [GDP_M_REQUEST_DURATION] = {P "request_duration_seconds",
                                    HISTOGRAM,
                                    "Time to answer a kubelet call, by method and resource.",
                                    {"method", "resource"}},
        [GDP_M_LISTANDWATCH_STREAMS] = {P "listandwatch_streams",
                                        GAUGE,
                                        "Open ListAndWatch streams, by resource.",
                                        {"resource"}},
        [GDP_M_CONFIG_RELOADS] =
                {P "config_reloads_total",
                 COUNTER,
                 "Configuration reloads, by result (applied, deferred or rejected).",
                 {"result"}},
        [GDP_M_NVML_ERRORS] = {P "nvml_errors_total",
                               COUNTER,
                               "NVML calls that returned an error, by function.",
                               {"function"}},
        [GDP_M_READY] = {P "ready",
                         GAUGE,
                         "1 when every resource is registered and its ListAndWatch stream open.",
                         {NULL}},
        [GDP_M_WATCHDOG_CHECKS] = {P "watchdog_checks_total",
                                   COUNTER,
                                   "Registration watchdog comparisons with the kubelet's "
                                   "allocatable devices, by result.",
                                   {"result"}},
        [GDP_M_WATCHDOG_REREGISTRATIONS] = {P "watchdog_reregistrations_total",
                                            COUNTER,
                                            "Re-registrations the watchdog made after drift, by "
                                            "resource.",
                                            {"resource"}},
        [GDP_M_HTTP_REQUESTS] = {P "http_requests_total",
                                 COUNTER,
                                 "Requests to the metrics endpoint, by path and status code.",
                                 {"path", "code"}},
        [GDP_M_SERIES_DROPPED] = {P "metric_series_dropped_total",
                                  COUNTER,
                                  "Updates dropped because a metric reached its series limit.",
                                  {"metric"}},
};

struct series {
    char labels[GDP_METRIC_LABELS_MAX][GDP_METRIC_LABEL_VALUE_MAX];
    double value; /* counter, gauge; histogram: the sum */
    uint64_t count;
    uint64_t buckets[N_BUCKETS];
};

struct store {
    struct series *v;
    size_t n;
    size_t cap;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct store stores[GDP_M_COUNT];
static gdp_metrics_collect_fn collector;
static void *collector_data;

static size_t
n_labels(const struct family *f)
{
    size_t n = 0;
    while (n < GDP_METRIC_LABELS_MAX && f->labels[n] != NULL) {
        n++;
    }
    return n;
}

static bool
series_matches(const struct series *s, const char *const *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): one value per name */
        if (strncmp(s->labels[i], labels[i] != NULL ? labels[i] : "",
                    GDP_METRIC_LABEL_VALUE_MAX - 1) != 0) {
            return false;
        }
    }
    return true;
}

static struct series *
add_series(struct store *st, const char *const *labels, size_t n)
{
    if (st->n == st->cap) {
        st->cap = st->cap == 0 ? 4 : st->cap * 2;
        st->v = gdp_reallocarray(st->v, st->cap, sizeof *st->v);
    }
    struct series *s = &st->v[st->n++];
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        (void)snprintf(s->labels[i], sizeof s->labels[i], "%s", labels[i] != NULL ? labels[i] : "");
    }
    return s;
}

/* The series of id for labels, created when new; NULL when the family is full. Locked. */
static struct series *
find_series(enum gdp_metric id, const char *const *labels)
{
    struct store *st = &stores[id];
    size_t n = n_labels(&catalog[id]);
    for (size_t i = 0; i < st->n; i++) {
        if (series_matches(&st->v[i], labels, n)) {
            return &st->v[i];
        }
    }
    if (st->n < GDP_METRIC_SERIES_MAX) {
        return add_series(st, labels, n);
    }
    if (id != GDP_M_SERIES_DROPPED) {
        const char *name[] = {catalog[id].name};
        struct series *d = find_series(GDP_M_SERIES_DROPPED, name);
        if (d != NULL) {
            d->value += 1;
        }
    }
    return NULL;
}

void
gdp_metric_add(enum gdp_metric id, const char *const *labels, double v)
{
    (void)pthread_mutex_lock(&lock);
    struct series *s = find_series(id, labels);
    if (s != NULL) {
        s->value += v;
    }
    (void)pthread_mutex_unlock(&lock);
}

void
gdp_metric_inc1(enum gdp_metric id, const char *v)
{
    const char *labels[] = {v};
    gdp_metric_add(id, labels, 1);
}

void
gdp_metric_set(enum gdp_metric id, const char *const *labels, double v)
{
    (void)pthread_mutex_lock(&lock);
    struct series *s = find_series(id, labels);
    if (s != NULL) {
        s->value = v;
    }
    (void)pthread_mutex_unlock(&lock);
}

void
gdp_metric_observe(enum gdp_metric id, const char *const *labels, double v)
{
    (void)pthread_mutex_lock(&lock);
    struct series *s = find_series(id, labels);
    if (s != NULL) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < N_BUCKETS; i++) {
            s->buckets[i] += v <= request_buckets[i];
        }
    }
    (void)pthread_mutex_unlock(&lock);
}

void
gdp_metric_clear(enum gdp_metric id)
{
    (void)pthread_mutex_lock(&lock);
    stores[id].n = 0;
    (void)pthread_mutex_unlock(&lock);
}

void
gdp_metrics_reset(void)
{
    (void)pthread_mutex_lock(&lock);
    for (size_t i = 0; i < GDP_M_COUNT; i++) {
        free(stores[i].v);
        stores[i] = (struct store){0};
    }
    collector = NULL;
    collector_data = NULL;
    (void)pthread_mutex_unlock(&lock);
}

void
gdp_metrics_set_collector(gdp_metrics_collect_fn fn, void *userdata)
{
    collector = fn;
    collector_data = userdata;
}

uint64_t
gdp_metrics_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
gdp_metrics_request(const char *method, const char *resource, uint64_t t0_ns, int r)
{
    const char *labels[] = {method, resource};
    gdp_metric_add(GDP_M_REQUESTS, labels, 1);
    if (r < 0) {
        gdp_metric_add(GDP_M_REQUEST_ERRORS, labels, 1);
    }
    gdp_metric_observe(GDP_M_REQUEST_DURATION, labels,
                       (double)(gdp_metrics_now_ns() - t0_ns) / 1e9);
}

void
gdp_metrics_nvml_error(const char *function)
{
    gdp_metric_inc1(GDP_M_NVML_ERRORS, function);
}

/* ---- exposition ---- */

static void
put_value(FILE *f, double v)
{
    if (isinf(v)) {
        (void)fputs(v > 0 ? "+Inf" : "-Inf", f);
    } else if (v > -9.0e15 && v < 9.0e15 && v == (double)(long long)v) {
        (void)fprintf(f, "%lld", (long long)v);
    } else {
        (void)fprintf(f, "%.17g", v);
    }
}

static void
put_escaped(FILE *f, const char *s)
{
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): label values are arrays, never NULL */
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            (void)fputc('\\', f);
            (void)fputc(*s, f);
        } else if (*s == '\n') {
            (void)fputs("\\n", f);
        } else {
            (void)fputc(*s, f);
        }
    }
}

/* Writes {a="x",b="y"[,le="..."]}; nothing when there are no labels at all. */
static void
put_labels(FILE *f, const struct family *fam, const struct series *s, const char *le)
{
    size_t n = n_labels(fam);
    if (n == 0 && le == NULL) {
        return;
    }
    (void)fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        (void)fprintf(f, "%s%s=\"", i > 0 ? "," : "", fam->labels[i]);
        put_escaped(f, s->labels[i]);
        (void)fputc('"', f);
    }
    if (le != NULL) {
        (void)fprintf(f, "%sle=\"%s\"", n > 0 ? "," : "", le);
    }
    (void)fputc('}', f);
}

static void
put_histogram(FILE *f, const struct family *fam, const struct series *s)
{
    char le[32];
    for (size_t i = 0; i < N_BUCKETS; i++) {
        (void)snprintf(le, sizeof le, "%g", request_buckets[i]);
        (void)fprintf(f, "%s_bucket", fam->name);
        put_labels(f, fam, s, le);
        (void)fprintf(f, " %llu\n", (unsigned long long)s->buckets[i]);
    }
    (void)fprintf(f, "%s_bucket", fam->name);
    put_labels(f, fam, s, "+Inf");
    (void)fprintf(f, " %llu\n%s_sum", (unsigned long long)s->count, fam->name);
    put_labels(f, fam, s, NULL);
    (void)fputc(' ', f);
    put_value(f, s->value);
    (void)fprintf(f, "\n%s_count", fam->name);
    put_labels(f, fam, s, NULL);
    (void)fprintf(f, " %llu\n", (unsigned long long)s->count);
}

static void
put_family(FILE *f, const struct family *fam, const struct store *st)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    (void)fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
                  types[fam->type]);
    /* unlabelled counters and gauges exist from the start, at 0 */
    if (st->n == 0 && n_labels(fam) == 0 && fam->type != HISTOGRAM) {
        (void)fprintf(f, "%s 0\n", fam->name);
    }
    for (size_t i = 0; i < st->n; i++) {
        const struct series *s = &st->v[i];
        if (fam->type == HISTOGRAM) {
            put_histogram(f, fam, s);
            continue;
        }
        (void)fputs(fam->name, f);
        put_labels(f, fam, s, NULL);
        (void)fputc(' ', f);
        put_value(f, s->value);
        (void)fputc('\n', f);
    }
}

char *
gdp_metrics_render(size_t *ret_len)
{
    if (collector != NULL) {
        collector(collector_data);
    }
    const char *build[] = {GDP_VERSION, GDP_GIT_VERSION};
    gdp_metric_set(GDP_M_BUILD_INFO, build, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        gdp_oom();
    }
    (void)pthread_mutex_lock(&lock);
    for (size_t i = 0; i < GDP_M_COUNT; i++) {
        put_family(f, &catalog[i], &stores[i]);
    }
    (void)pthread_mutex_unlock(&lock);
    if (fclose(f) != 0) {
        gdp_oom();
    }
    *ret_len = len;
    return text;
}
