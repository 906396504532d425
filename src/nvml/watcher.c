/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVML watcher thread (see watcher.h). It owns its event set and its per-GPU bookkeeping
 * (handle, whether the GPU is registered, the probe result last reported); nothing of it is
 * shared with the loop thread except through posted records.
 *
 * Thread safety, in detail:
 *  - struct gdp_watcher is written by gdp_watcher_start() before pthread_create() (which orders
 *    those writes before the thread's reads) and read by the loop thread again only after
 *    pthread_join(). While the thread runs, the loop thread touches only `stop` (atomic) and
 *    `mu`/`cv` (to wake a back-off sleep).
 *  - NVML calls go through the read-only struct gdp_nvml; NVML is thread-safe and the error
 *    code wrappers keep is thread-local.
 *  - Records leave through gdp_loop_post(), which copies them under the loop's queue lock
 *    and never blocks. A full queue drops the record; the thread counts drops and posts one
 *    DROPPED record before the next record that fits. A dropped probe result is not taken
 *    as reported, so the next probe posts it again.
 *  - The thread never logs: the loop thread logs what the records say.
 *  - All signals are blocked in the thread, so signalfd delivery stays on the loop thread.
 */
#include "nvml/watcher.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"

#define DEFAULT_WAIT_MS 500u
#define BACKOFF_MIN_MS  50u
#define BACKOFF_MAX_MS  5000u
#define REBUILD_AFTER   8u /* wait failures in a row before the event set is rebuilt */
#define WATCHED_EVENTS  (GDP_NVML_EVENT_XID | GDP_NVML_EVENT_DBE | GDP_NVML_EVENT_SBE)

struct watched {
    char uuid[GDP_NVML_UUID_MAX];
    struct gdp_nvml_device *handle; /* registered on the set; NULL when not */
    bool failing;                   /* the probe result the loop last got */
    bool need_register;             /* (re-)register once the GPU answers */
    bool register_failed;           /* the loop was told REGISTER_FAILED; retried at each probe */
};

struct gdp_watcher {
    struct gdp_watcher_opts opts; /* opts.uuids is not kept: see gpus */
    struct watched *gpus;
    size_t n_gpus;
    struct gdp_nvml_event_set *set;
    uint64_t dropped;
    uint64_t wait_failures;
    uint64_t next_probe_ms;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; signalled by gdp_watcher_stop() */
    pthread_t tid;
};

const char *
gdp_watcher_kind_name(uint32_t kind)
{
    switch (kind) {
    case GDP_WATCHER_REC_EVENT:
        return "event";
    case GDP_WATCHER_REC_WAIT_ERROR:
        return "wait-error";
    case GDP_WATCHER_REC_PROBE:
        return "probe";
    case GDP_WATCHER_REC_REGISTER_FAILED:
        return "registration-failure";
    case GDP_WATCHER_REC_NOT_MONITORED:
        return "not-monitored";
    case GDP_WATCHER_REC_DROPPED:
        return "dropped";
    case GDP_WATCHER_REC_REGISTERED:
        return "registered";
    default:
        return "unknown";
    }
}

static bool
post_raw(struct gdp_watcher *h, struct gdp_watcher_record *rec)
{
    rec->generation = h->opts.generation;
    return gdp_loop_post(h->opts.loop, rec) == 0;
}

/* Posts the pending drop count, if any. Returns false when the queue is still full. */
static bool
flush_dropped(struct gdp_watcher *h)
{
    if (h->dropped == 0) {
        return true;
    }
    struct gdp_watcher_record d = {.kind = GDP_WATCHER_REC_DROPPED, .gpu = -1, .count = h->dropped};
    if (!post_raw(h, &d)) {
        return false;
    }
    h->dropped = 0;
    return true;
}

/* Posts rec after any pending drop count. Returns true when rec was queued. */
static bool
post(struct gdp_watcher *h, struct gdp_watcher_record *rec)
{
    if (!flush_dropped(h) || !post_raw(h, rec)) {
        h->dropped++;
        return false;
    }
    return true;
}

static struct gdp_watcher_record
gpu_record(const struct gdp_watcher *h, enum gdp_watcher_kind kind, size_t i)
{
    struct gdp_watcher_record rec = {
            .kind = kind, .gpu = (int32_t)i, .gi = GDP_NVML_NO_ID, .ci = GDP_NVML_NO_ID};
    (void)gdp_strlcpy(rec.uuid, h->gpus[i].uuid, sizeof rec.uuid);
    return rec;
}

static void
set_failure(const struct gdp_watcher *h, struct gdp_watcher_record *rec,
            const struct gdp_diag *diag)
{
    int rc = gdp_nvml_last_return(h->opts.nv);
    rec->nvml_rc = rc != 0 ? rc : 999; /* 0 would read as success: NVML_ERROR_UNKNOWN */
    (void)gdp_strlcpy(rec->detail, diag->msg, sizeof rec->detail);
}

/* Tells the loop that GPU i, reported REGISTER_FAILED, is watched again (retried if the
 * record does not fit the queue). */
static void
report_registered(struct gdp_watcher *h, size_t i)
{
    struct gdp_watcher_record rec = gpu_record(h, GDP_WATCHER_REC_REGISTERED, i);
    if (post(h, &rec)) {
        h->gpus[i].register_failed = false;
    }
}

/* Reports a failure to register GPU i once per streak; the probe retries it. */
static void
report_register_failure(struct gdp_watcher *h, size_t i, const struct gdp_diag *diag)
{
    struct watched *g = &h->gpus[i];
    g->need_register = true;
    if (g->register_failed) {
        return;
    }
    struct gdp_watcher_record rec = gpu_record(h, GDP_WATCHER_REC_REGISTER_FAILED, i);
    set_failure(h, &rec, diag);
    g->register_failed = post(h, &rec);
}

/*
 * Registers GPU i on the event set. A GPU that is lost now is left to the probe, which
 * registers it again once it answers; another failure is reported and retried at each probe.
 */
static void
register_gpu(struct gdp_watcher *h, size_t i)
{
    struct watched *g = &h->gpus[i];
    struct gdp_diag diag = {0};
    struct gdp_nvml_device *d = NULL;
    uint64_t supported = 0;

    g->handle = NULL;
    g->need_register = false;
    int r = gdp_nvml_device_by_uuid(h->opts.nv, g->uuid, &d, &diag);
    if (r >= 0) {
        r = gdp_nvml_device_supported_events(h->opts.nv, d, &supported, &diag);
    }
    uint64_t mask = supported & WATCHED_EVENTS;
    if (r >= 0 && mask != 0) {
        r = gdp_nvml_device_register_events(h->opts.nv, d, mask, h->set, &diag);
        if (r >= 0) {
            g->handle = d;
            if (g->register_failed) {
                report_registered(h, i);
            }
            return;
        }
    }
    if (r < 0 && gdp_nvml_last_return(h->opts.nv) == GDP_NVML_RC_GPU_IS_LOST) {
        g->need_register = true;
        return;
    }
    if (r < 0 && r != -EOPNOTSUPP) {
        report_register_failure(h, i, &diag);
        return;
    }
    struct gdp_watcher_record rec = gpu_record(h, GDP_WATCHER_REC_NOT_MONITORED, i);
    if (r >= 0) {
        (void)snprintf(rec.detail, sizeof rec.detail,
                       "supports none of the XID/ECC event types (supported mask 0x%llx)",
                       (unsigned long long)supported);
    } else {
        set_failure(h, &rec, &diag);
    }
    (void)post(h, &rec);
}

/* Creates the event set (if missing) and registers every GPU on it. */
static void
register_all(struct gdp_watcher *h)
{
    struct gdp_diag diag = {0};
    if (h->set == NULL && gdp_nvml_event_set_new(h->opts.nv, &h->set, &diag) < 0) {
        /* like NVIDIA's plugin: without an event set, no GPU is event-monitored */
        for (size_t i = 0; i < h->n_gpus; i++) {
            struct gdp_watcher_record rec = gpu_record(h, GDP_WATCHER_REC_NOT_MONITORED, i);
            set_failure(h, &rec, &diag);
            (void)post(h, &rec);
        }
        return;
    }
    for (size_t i = 0; i < h->n_gpus; i++) {
        register_gpu(h, i);
    }
}

/*
 * Probes GPU i with two cheap calls (handle by UUID, minor number) and reports a change of
 * the result. A GPU answering again after failing is registered again, since its old
 * handle and registration may be gone with the GPU.
 */
static void
probe_gpu(struct gdp_watcher *h, size_t i)
{
    struct watched *g = &h->gpus[i];
    struct gdp_diag diag = {0};
    struct gdp_nvml_device *d = NULL;
    unsigned minor = 0;

    int r = gdp_nvml_device_by_uuid(h->opts.nv, g->uuid, &d, &diag);
    if (r >= 0) {
        r = gdp_nvml_device_minor(h->opts.nv, d, &minor, &diag);
    }
    bool failing = r < 0;
    if (failing != g->failing) {
        struct gdp_watcher_record rec = gpu_record(h, GDP_WATCHER_REC_PROBE, i);
        if (failing) {
            set_failure(h, &rec, &diag);
        }
        if (post(h, &rec)) {
            g->failing = failing;
            g->need_register = true;
        }
    }
    if (!g->failing && g->need_register && h->set != NULL) {
        register_gpu(h, i);
    } else if (!g->failing && g->register_failed && g->handle != NULL) {
        report_registered(h, i); /* registered, but the record did not fit the queue then */
    }
}

static void
probe_all(struct gdp_watcher *h)
{
    for (size_t i = 0; i < h->n_gpus && !atomic_load(&h->stop); i++) {
        probe_gpu(h, i);
    }
}

/* Sleeps up to ms, returning early when the thread is asked to stop. */
static void
sleep_ms(struct gdp_watcher *h, unsigned ms)
{
    struct timespec deadline;
    (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(ms / 1000u);
    deadline.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    (void)pthread_mutex_lock(&h->mu);
    while (!atomic_load(&h->stop)) {
        if (pthread_cond_timedwait(&h->cv, &h->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    (void)pthread_mutex_unlock(&h->mu);
}

/* The index of the watched GPU an event names, or -1 (then *uuid holds what NVML said). */
static int32_t
event_gpu(struct gdp_watcher *h, const struct gdp_nvml_event *ev, char *uuid, size_t len)
{
    struct gdp_diag diag = {0};
    for (size_t i = 0; i < h->n_gpus; i++) {
        if (h->gpus[i].handle != NULL && h->gpus[i].handle == ev->device) {
            (void)gdp_strlcpy(uuid, h->gpus[i].uuid, len);
            return (int32_t)i;
        }
    }
    if (gdp_nvml_device_uuid(h->opts.nv, ev->device, uuid, len, &diag) < 0) {
        uuid[0] = '\0';
        return -1;
    }
    for (size_t i = 0; i < h->n_gpus; i++) {
        if (streq(h->gpus[i].uuid, uuid)) {
            return (int32_t)i;
        }
    }
    return -1;
}

static void
post_event(struct gdp_watcher *h, const struct gdp_nvml_event *ev)
{
    struct gdp_watcher_record rec = {
            .kind = GDP_WATCHER_REC_EVENT,
            .event_type = ev->type,
            .xid = ev->data,
            .gi = ev->gi,
            .ci = ev->ci,
    };
    rec.gpu = event_gpu(h, ev, rec.uuid, sizeof rec.uuid);
    (void)post(h, &rec);
}

static unsigned
backoff_ms(uint64_t failures)
{
    uint64_t ms = BACKOFF_MIN_MS;
    for (uint64_t k = 1; k < failures && ms < BACKOFF_MAX_MS; k++) {
        ms *= 2;
    }
    return (unsigned)(ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS);
}

/*
 * A failed wait marks nothing: it is reported (the 1st, 2nd, 4th, 8th... failure in a row),
 * every GPU is probed at once (the probe decides), and the wait is retried after a back-off.
 * A set that keeps failing is rebuilt.
 */
static void
wait_failed(struct gdp_watcher *h, const struct gdp_diag *diag)
{
    uint64_t n = ++h->wait_failures;
    if ((n & (n - 1)) == 0) {
        struct gdp_watcher_record rec = {.kind = GDP_WATCHER_REC_WAIT_ERROR, .gpu = -1, .count = n};
        set_failure(h, &rec, diag);
        (void)post(h, &rec);
    }
    probe_all(h);
    if (n % REBUILD_AFTER == 0) {
        gdp_nvml_event_set_free(h->opts.nv, h->set);
        h->set = NULL;
        register_all(h);
    }
    sleep_ms(h, backoff_ms(n));
}

static void
wait_once(struct gdp_watcher *h, unsigned timeout_ms)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml_event ev;

    if (h->set == NULL) {
        sleep_ms(h, timeout_ms);
        return;
    }
    int r = gdp_nvml_event_wait(h->opts.nv, h->set, timeout_ms, &ev, &diag);
    if (r == -ETIMEDOUT) {
        h->wait_failures = 0;
    } else if (r >= 0) {
        h->wait_failures = 0;
        post_event(h, &ev);
    } else {
        wait_failed(h, &diag);
    }
}

/* How long the next wait may take: until the next probe, at most the wait timeout. */
static unsigned
wait_budget(const struct gdp_watcher *h, uint64_t now)
{
    uint64_t budget = h->opts.wait_timeout_ms;
    if (h->opts.probe_interval_ms > 0 && h->next_probe_ms - now < budget) {
        budget = h->next_probe_ms - now;
    }
    return budget > 0 ? (unsigned)budget : 1u;
}

static void *
run(void *arg)
{
    struct gdp_watcher *h = arg;

    register_all(h);
    probe_all(h);
    h->next_probe_ms = gdp_loop_now_ms() + h->opts.probe_interval_ms;
    while (!atomic_load(&h->stop)) {
        uint64_t now = gdp_loop_now_ms();
        if (h->opts.probe_interval_ms > 0 && now >= h->next_probe_ms) {
            probe_all(h);
            h->next_probe_ms = now + h->opts.probe_interval_ms;
        }
        (void)flush_dropped(h);
        wait_once(h, wait_budget(h, now));
    }
    gdp_nvml_event_set_free(h->opts.nv, h->set);
    h->set = NULL;
    return NULL;
}

static int
check_opts(const struct gdp_watcher_opts *opts, struct gdp_diag *diag)
{
    if (opts == NULL || opts->nv == NULL || opts->loop == NULL ||
        (opts->uuids == NULL && opts->n_uuids > 0)) {
        return gdp_diag_set(diag, -EINVAL, "health: missing NVML handle, loop or UUID list");
    }
    if (opts->n_uuids > GDP_WATCHER_MAX_GPUS) {
        return gdp_diag_set(diag, -EINVAL, "health: %zu GPUs, at most %d can be watched",
                            opts->n_uuids, GDP_WATCHER_MAX_GPUS);
    }
    for (size_t i = 0; i < opts->n_uuids; i++) {
        if (opts->uuids[i] == NULL || opts->uuids[i][0] == '\0' ||
            strlen(opts->uuids[i]) >= GDP_NVML_UUID_MAX) {
            return gdp_diag_set(diag, -EINVAL, "health: GPU %zu has no usable UUID", i);
        }
    }
    return 0;
}

static void
health_free(struct gdp_watcher *h)
{
    (void)pthread_cond_destroy(&h->cv);
    (void)pthread_mutex_destroy(&h->mu);
    free(h->gpus);
    free(h);
}

static struct gdp_watcher *
health_new(const struct gdp_watcher_opts *opts)
{
    struct gdp_watcher *h = gdp_calloc(1, sizeof *h);
    pthread_condattr_t ca;

    h->opts = *opts;
    h->opts.uuids = NULL;
    if (h->opts.wait_timeout_ms == 0) {
        h->opts.wait_timeout_ms = DEFAULT_WAIT_MS;
    }
    h->n_gpus = opts->n_uuids;
    h->gpus = gdp_calloc(h->n_gpus > 0 ? h->n_gpus : 1, sizeof *h->gpus);
    for (size_t i = 0; i < h->n_gpus; i++) {
        (void)gdp_strlcpy(h->gpus[i].uuid, opts->uuids[i], sizeof h->gpus[i].uuid);
        h->gpus[i].failing = opts->lost != NULL && opts->lost[i];
    }
    atomic_init(&h->stop, false);
    (void)pthread_mutex_init(&h->mu, NULL);
    (void)pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&h->cv, &ca);
    (void)pthread_condattr_destroy(&ca);
    return h;
}

int
gdp_watcher_start(const struct gdp_watcher_opts *opts, struct gdp_watcher **ret,
                  struct gdp_diag *diag)
{
    int r = check_opts(opts, diag);
    if (r < 0) {
        return r;
    }
    struct gdp_watcher *h = health_new(opts);
    sigset_t all, old;
    /* the thread inherits a full mask: signals stay with the loop's signalfd */
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&h->tid, NULL, run, h);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        health_free(h);
        return gdp_diag_set(diag, -r, "health: pthread_create: %s", strerror(r));
    }
    *ret = h;
    return 0;
}

void
gdp_watcher_stop(struct gdp_watcher *h)
{
    if (h == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&h->mu);
    atomic_store(&h->stop, true);
    (void)pthread_cond_broadcast(&h->cv);
    (void)pthread_mutex_unlock(&h->mu);
    (void)pthread_join(h->tid, NULL);
    health_free(h);
}
