/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for nvml/watcher.c: the health thread against the mock NVML (MOCK_NVML_LIB, set
 * by CMake) on the h100x2-mig-mixed node, driven through the mock's control FIFO, with its
 * records arriving through a real gdp_loop and applied to a gpu/health.c state. The mock
 * reads its node file once per process, so every test shares one NVML and one node; each
 * test starts and stops its own thread and clears the mock's fault state at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/health.h"
#include "nvml/nvml.h"
#include "nvml/watcher.h"

#define WAIT_MS  100u
#define PROBE_MS 100ull
#define MAX_RECS 4096

static char root[PATH_MAX];
static char fifo[PATH_MAX + 16];
static struct gdp_nvml *nv;
static struct gdp_node *node;
static const char *gpu_uuids[2];

struct ctx {
    struct gdp_loop *loop;
    struct gdp_watcher_record recs[MAX_RECS];
    size_t n;         /* stored */
    size_t total;     /* received */
    uint64_t seen_ms; /* when the last record arrived */
};

static struct ctx ctx;

static void
on_record(struct gdp_loop *loop _unused_, const void *rec, void *userdata)
{
    struct ctx *c = userdata;
    if (c->n < MAX_RECS) {
        memcpy(&c->recs[c->n++], rec, sizeof c->recs[0]);
    }
    c->total++;
    c->seen_ms = gdp_loop_now_ms();
}

static void control(const char *fmt, ...) _printf_(1, 2);

static void
control(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line - 1);
    line[n++] = '\n';
    _cleanup_close_ int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, line, (size_t)n), n);
}

static int
setup(void **state _unused_)
{
    struct gdp_diag diag = {0};
    (void)snprintf(root, sizeof root, "/tmp/gdp-health-XXXXXX");
    assert_non_null(mkdtemp(root));
    (void)snprintf(fifo, sizeof fifo, "%s/control", root);
    _cleanup_free_ char *cmd =
            gdp_asprintf("mkdir -p '%s/usr/lib64' && ln -sf '%s' '%s/usr/lib64/libnvidia-ml.so.1'",
                         root, MOCK_NVML_LIB, root);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(setenv("MOCK_NVML_NODE", MOCK_NVML_NODES "/h100x2-mig-mixed.yaml", 1), 0);
    assert_int_equal(setenv("MOCK_NVML_CONTROL", fifo, 1), 0);
    if (gdp_nvml_open(root, &nv, &diag) < 0 || gdp_discover(nv, NULL, &node, &diag) < 0) {
        fail_msg("mock NVML: %s", diag.msg);
    }
    assert_int_equal(node->n_devices, 9);
    gpu_uuids[0] = node->devices[0].uuid;
    gpu_uuids[1] = node->devices[5].uuid;
    assert_int_equal(gdp_loop_new(&ctx.loop, &diag), 0);
    assert_int_equal(gdp_loop_set_post_handler(ctx.loop, sizeof(struct gdp_watcher_record),
                                               GDP_WATCHER_QUEUE_RECORDS, on_record, &ctx, &diag),
                     0);
    return 0;
}

static int
teardown(void **state _unused_)
{
    gdp_loop_free(ctx.loop);
    gdp_node_free(node);
    gdp_nvml_free(nv);
    _cleanup_free_ char *cmd = gdp_asprintf("rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct gdp_watcher *
start(uint32_t generation)
{
    struct gdp_watcher_opts opts = {.nv = nv,
                                    .loop = ctx.loop,
                                    .uuids = gpu_uuids,
                                    .n_uuids = 2,
                                    .probe_interval_ms = PROBE_MS,
                                    .wait_timeout_ms = WAIT_MS,
                                    .generation = generation};
    struct gdp_watcher *h = NULL;
    struct gdp_diag diag = {0};
    ctx.n = ctx.total = 0;
    assert_int_equal(gdp_watcher_start(&opts, &h, &diag), 0);
    return h;
}

/* Stops h, checking that the join is prompt, then drains and clears what is left. */
static void
stop(struct gdp_watcher *h)
{
    uint64_t t0 = gdp_loop_now_ms();
    gdp_watcher_stop(h);
    uint64_t took = gdp_loop_now_ms() - t0;
    assert_true(took < WAIT_MS + 200);
    control("clear");
    while (gdp_loop_run_once(ctx.loop, 0) > 0) {
        continue;
    }
}

/* The first stored record from index `from` of this kind (and GPU, if >= 0), or NULL. */
static const struct gdp_watcher_record *
find(size_t from, uint32_t kind, int gpu, uint64_t xid)
{
    for (size_t i = from; i < ctx.n; i++) {
        const struct gdp_watcher_record *r = &ctx.recs[i];
        if (r->kind == kind && (gpu < 0 || r->gpu == gpu) &&
            (kind != GDP_WATCHER_REC_EVENT || r->xid == xid)) {
            return r;
        }
    }
    return NULL;
}

/* Runs the loop until find() succeeds or timeout_ms passes. */
static const struct gdp_watcher_record *
await(size_t from, uint32_t kind, int gpu, uint64_t xid, uint64_t timeout_ms)
{
    uint64_t deadline = gdp_loop_now_ms() + timeout_ms;
    const struct gdp_watcher_record *r;
    while ((r = find(from, kind, gpu, xid)) == NULL && gdp_loop_now_ms() < deadline) {
        assert_true(gdp_loop_run_once(ctx.loop, 10) >= 0);
    }
    return r;
}

static void
xid_record_reaches_the_loop(void **state _unused_)
{
    struct gdp_watcher *h = start(7);
    /* let the thread register before injecting: an event before registration is lost */
    assert_null(await(0, GDP_WATCHER_REC_REGISTER_FAILED, -1, 0, 2 * PROBE_MS));
    uint64_t t0 = gdp_loop_now_ms();
    control("xid %s 48", gpu_uuids[1]);
    const struct gdp_watcher_record *r = await(0, GDP_WATCHER_REC_EVENT, 1, 48, 2000);
    assert_non_null(r);
    assert_true(ctx.seen_ms - t0 < 500);
    assert_int_equal(r->generation, 7);
    assert_string_equal(r->uuid, gpu_uuids[1]);
    assert_int_equal(r->event_type, GDP_NVML_EVENT_XID);
    assert_int_equal(r->gi, GDP_NVML_NO_ID);
    assert_int_equal(r->ci, GDP_NVML_NO_ID);

    struct gdp_health_config cfg = {0};
    gdp_health_config_parse(NULL, &cfg, NULL);
    struct gdp_health_state *st = gdp_health_state_new(&cfg, node);
    struct gdp_health_result res;
    assert_int_equal(gdp_health_state_apply(st, r, gdp_loop_now_ms(), &res), 0);
    assert_int_equal(res.n_changes, 4); /* GPU 1 and its three MIG devices */
    assert_true(node->devices[0].healthy);
    assert_false(node->devices[8].healthy);
    gdp_health_state_free(st);
    for (size_t i = 0; i < node->n_devices; i++) {
        node->devices[i].healthy = true;
        node->devices[i].reason[0] = '\0';
    }
    stop(h);
}

static void
mig_event_carries_gi_and_ci(void **state _unused_)
{
    struct gdp_watcher *h = start(1);
    const struct gdp_device *mig = &node->devices[3];
    assert_int_equal(mig->kind, GDP_DEVICE_MIG);
    assert_null(await(0, GDP_WATCHER_REC_REGISTER_FAILED, -1, 0, 2 * PROBE_MS));
    control("xid %s 31", mig->uuid);
    const struct gdp_watcher_record *r = await(0, GDP_WATCHER_REC_EVENT, 0, 31, 2000);
    assert_non_null(r);
    assert_int_equal(r->gi, mig->gi);
    assert_int_equal(r->ci, mig->ci);
    stop(h);
}

static void
lost_and_back_found_by_the_probe(void **state _unused_)
{
    struct gdp_watcher *h = start(1);
    assert_null(await(0, GDP_WATCHER_REC_PROBE, -1, 0, 2 * PROBE_MS));
    control("lost %s", gpu_uuids[0]);
    const struct gdp_watcher_record *r = await(0, GDP_WATCHER_REC_PROBE, 0, 0, 2000);
    assert_non_null(r);
    assert_int_equal(r->nvml_rc, GDP_NVML_RC_GPU_IS_LOST);
    assert_non_null(strstr(r->detail, "code 15"));
    size_t mark = ctx.n;
    /* the GPU does not answer: nothing more to report while it stays lost */
    assert_null(await(mark, GDP_WATCHER_REC_PROBE, -1, 0, 3 * PROBE_MS));
    control("back %s", gpu_uuids[0]);
    r = await(mark, GDP_WATCHER_REC_PROBE, 0, 0, 2000);
    assert_non_null(r);
    assert_int_equal(r->nvml_rc, 0);
    /* registered again: events flow */
    mark = ctx.n;
    control("xid %s 79", gpu_uuids[0]);
    assert_non_null(await(mark, GDP_WATCHER_REC_EVENT, 0, 79, 2000));
    assert_null(find(0, GDP_WATCHER_REC_PROBE, 1, 0)); /* GPU 1 was never in trouble */
    stop(h);
}

static void
failed_wait_marks_nothing(void **state _unused_)
{
    struct gdp_watcher *h = start(1);
    control("fail nvmlEventSetWait_v2 UNKNOWN once");
    const struct gdp_watcher_record *r = await(0, GDP_WATCHER_REC_WAIT_ERROR, -1, 0, 2000);
    assert_non_null(r);
    assert_int_equal(r->count, 1);
    assert_int_equal(r->nvml_rc, 999);
    assert_non_null(strstr(r->detail, "nvmlEventSetWait_v2"));
    /* the probe right after the failure finds both GPUs answering: no probe record */
    (void)await(0, GDP_WATCHER_REC_PROBE, -1, 0, 3 * PROBE_MS);
    assert_null(find(0, GDP_WATCHER_REC_PROBE, -1, 0));
    control("xid %s 79", gpu_uuids[1]);
    assert_non_null(await(0, GDP_WATCHER_REC_EVENT, 1, 79, 2000));
    stop(h);
}

static void
registration_problems_are_reported(void **state _unused_)
{
    control("fail nvmlDeviceRegisterEvents UNKNOWN once %s", gpu_uuids[0]);
    control("fail nvmlDeviceGetSupportedEventTypes NOT_SUPPORTED once %s", gpu_uuids[1]);
    struct gdp_watcher *h = start(1);
    const struct gdp_watcher_record *r = await(0, GDP_WATCHER_REC_REGISTER_FAILED, 0, 0, 2000);
    assert_non_null(r);
    assert_int_equal(r->nvml_rc, 999);
    assert_non_null(strstr(r->detail, "nvmlDeviceRegisterEvents"));
    r = await(0, GDP_WATCHER_REC_NOT_MONITORED, 1, 0, 2000);
    assert_non_null(r);
    assert_int_equal(r->nvml_rc, GDP_NVML_RC_NOT_SUPPORTED);
    /* the failure was once: the next probe registers GPU 0 and says so, once */
    assert_non_null(await(0, GDP_WATCHER_REC_REGISTERED, 0, 0, 2000));
    size_t mark = ctx.n;
    assert_null(await(mark, GDP_WATCHER_REC_REGISTERED, -1, 0, 3 * PROBE_MS));
    assert_null(find(0, GDP_WATCHER_REC_REGISTERED, 1, 0)); /* never failed: nothing to say */
    stop(h);
}

/* A repeating loop timer: how late it ever fired shows whether the loop stayed responsive. */
struct ticker {
    uint64_t last_ms;
    uint64_t worst_gap_ms;
};

static void
on_tick(struct gdp_loop *loop _unused_, struct gdp_loop_timer *t _unused_, void *userdata)
{
    struct ticker *tk = userdata;
    uint64_t now = gdp_loop_now_ms();
    if (now - tk->last_ms > tk->worst_gap_ms) {
        tk->worst_gap_ms = now - tk->last_ms;
    }
    tk->last_ms = now;
}

static void
event_storm_stays_bounded(void **state _unused_)
{
    struct gdp_watcher *h = start(1);
    struct gdp_health_config cfg = {0};
    gdp_health_config_parse(NULL, &cfg, NULL);
    struct gdp_health_state *st = gdp_health_state_new(&cfg, node);
    struct ticker tk = {.last_ms = gdp_loop_now_ms()};
    struct gdp_loop_timer *timer = NULL;
    assert_int_equal(gdp_loop_timer_new(ctx.loop, on_tick, &tk, &timer, NULL), 0);
    assert_int_equal(gdp_loop_timer_set(timer, 10, 10), 0);
    assert_null(await(0, GDP_WATCHER_REC_REGISTER_FAILED, -1, 0, 2 * PROBE_MS));

    uint64_t t0 = gdp_loop_now_ms();
    for (int i = 0; i < 1000; i++) {
        control("xid %s %d", gpu_uuids[i % 2], i % 2 == 0 ? 62 : 13);
        if (i % 50 == 0) {
            (void)gdp_loop_run_once(ctx.loop, 0);
        }
    }
    assert_true(gdp_loop_now_ms() - t0 < 1000);
    control("xid %s 94", gpu_uuids[1]);
    assert_non_null(await(0, GDP_WATCHER_REC_EVENT, 1, 94, 3000));

    size_t changes = 0;
    for (size_t i = 0; i < ctx.n; i++) {
        struct gdp_health_result res;
        assert_int_equal(gdp_health_state_apply(st, &ctx.recs[i], t0, &res), 0);
        changes += res.n_changes;
    }
    /* at most the mock's 256-event queue per GPU was lost; never more records than events */
    assert_true(ctx.total <= 1001 + 4);
    assert_true(ctx.total >= 2);
    assert_int_equal(changes, node->n_devices); /* each device flipped once */
    assert_true(tk.worst_gap_ms < 250);
    gdp_loop_timer_free(timer);
    gdp_health_state_free(st);
    stop(h);
}

static void
start_rejects_bad_options(void **state _unused_)
{
    struct gdp_watcher *h = NULL;
    struct gdp_diag diag = {0};
    const char *bad[] = {""};
    struct gdp_watcher_opts opts = {.nv = nv, .loop = ctx.loop, .uuids = bad, .n_uuids = 1};
    assert_int_equal(gdp_watcher_start(&opts, &h, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "GPU 0"));
    opts.loop = NULL;
    assert_int_equal(gdp_watcher_start(&opts, &h, &diag), -EINVAL);
    assert_null(h);
    gdp_watcher_stop(NULL);
    assert_string_equal(gdp_watcher_kind_name(GDP_WATCHER_REC_DROPPED), "dropped");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(xid_record_reaches_the_loop),
            cmocka_unit_test(mig_event_carries_gi_and_ci),
            cmocka_unit_test(lost_and_back_found_by_the_probe),
            cmocka_unit_test(failed_wait_marks_nothing),
            cmocka_unit_test(registration_problems_are_reported),
            cmocka_unit_test(event_storm_stays_bounded),
            cmocka_unit_test(start_rejects_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
