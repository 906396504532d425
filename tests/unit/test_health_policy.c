/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gpu/health.c: the XID policy from the environment, and the device state
 * machine on a hand-built node (a MIG GPU with three MIG devices, a plain GPU, and a GPU that
 * discovery already found unhealthy). No thread, no NVML: records are built by hand.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/health.h"
#include "nvml/watcher.h"

#define GPU_A "GPU-aaaaaaaa-0000-4000-8000-000000000001"
#define GPU_B "GPU-bbbbbbbb-0000-4000-8000-000000000002"
#define GPU_C "GPU-cccccccc-0000-4000-8000-000000000003"
#define NO_ID GDP_NVML_NO_ID

/* [0] GPU A (MIG), [1] A gi1/ci0, [2] A gi2/ci0, [3] A gi2/ci1, [4] GPU B, [5] GPU C (bad) */
static struct gdp_node *
make_node(void)
{
    struct gdp_node *node = gdp_calloc(1, sizeof *node);
    node->n_devices = 6;
    node->devices = gdp_calloc(node->n_devices, sizeof *node->devices);
    struct gdp_device *d = node->devices;
    for (size_t i = 0; i < node->n_devices; i++) {
        d[i] = (struct gdp_device){.kind = GDP_DEVICE_GPU, .parent = -1, .healthy = true};
    }
    (void)gdp_strlcpy(d[0].uuid, GPU_A, sizeof d[0].uuid);
    d[0].mig_enabled = true;
    d[0].n_mig = 3;
    const unsigned gi[] = {1, 2, 2}, ci[] = {0, 0, 1};
    for (size_t i = 1; i <= 3; i++) {
        d[i].kind = GDP_DEVICE_MIG;
        d[i].parent = 0;
        d[i].gi = gi[i - 1];
        d[i].ci = ci[i - 1];
        (void)snprintf(d[i].uuid, sizeof d[i].uuid, "MIG-0000000%zu-0000-4000-8000-000000000000",
                       i);
    }
    (void)gdp_strlcpy(d[4].uuid, GPU_B, sizeof d[4].uuid);
    (void)gdp_strlcpy(d[5].uuid, GPU_C, sizeof d[5].uuid);
    d[5].healthy = false;
    (void)gdp_strlcpy(d[5].reason, "nvmlDeviceGetName: Unknown Error", sizeof d[5].reason);
    node->n_gpus = 3;
    return node;
}

/* The health configuration from an environment, read through the settings table as serve
 * reads it. */
static int
parse_env(char **envp, struct gdp_health_config *ret, struct gdp_health_warnings *w,
          struct gdp_diag *diag)
{
    struct gdp_config c;
    struct gdp_diag ignored = {0};
    *ret = (struct gdp_health_config){0};
    if (w != NULL) {
        *w = (struct gdp_health_warnings){0};
    }
    gdp_config_init(&c);
    int r = gdp_config_parse_args(&c, GDP_CMD_SERVE, 0, NULL, envp, diag ? diag : &ignored);
    if (r >= 0) {
        gdp_health_config_parse(&c, ret, w);
    }
    gdp_config_done(&c);
    return r;
}

static struct gdp_health_config
config_from(const char *a, const char *b)
{
    char *envp[] = {(char *)a, (char *)b, NULL};
    struct gdp_health_config cfg;
    struct gdp_diag diag = {0};
    int r = parse_env(envp, &cfg, NULL, &diag);
    if (r < 0) {
        fail_msg("gdp_health_config_parse: %s", diag.msg);
    }
    return cfg;
}

static struct gdp_watcher_record
xid_rec(const char *uuid, uint64_t xid, uint32_t gi, uint32_t ci)
{
    struct gdp_watcher_record rec = {.kind = GDP_WATCHER_REC_EVENT,
                                     .event_type = GDP_NVML_EVENT_XID,
                                     .xid = xid,
                                     .gi = gi,
                                     .ci = ci};
    (void)gdp_strlcpy(rec.uuid, uuid, sizeof rec.uuid);
    return rec;
}

static struct gdp_watcher_record
probe_rec(const char *uuid, int rc)
{
    struct gdp_watcher_record rec = {.kind = GDP_WATCHER_REC_PROBE, .nvml_rc = rc};
    (void)gdp_strlcpy(rec.uuid, uuid, sizeof rec.uuid);
    if (rc != 0) {
        (void)gdp_strlcpy(rec.detail, "nvmlDeviceGetHandleByUUID: GPU is lost (code 15)",
                          sizeof rec.detail);
    }
    return rec;
}

struct fixture {
    struct gdp_node *node;
    struct gdp_health_state *st;
    struct gdp_health_result res;
};

static struct fixture
fixture_new(const struct gdp_health_config *cfg)
{
    struct fixture f = {.node = make_node()};
    f.st = gdp_health_state_new(cfg, f.node);
    return f;
}

static void
fixture_done(struct fixture *f)
{
    gdp_health_state_free(f->st);
    gdp_node_free(f->node);
}

static void
apply(struct fixture *f, struct gdp_watcher_record rec, uint64_t now)
{
    assert_int_equal(gdp_health_state_apply(f->st, &rec, now, &f->res), 0);
}

/* Healthy flags of all six devices as a string such as "110011" (1 = healthy). */
static const char *
health_of(const struct fixture *f)
{
    static char s[8];
    for (size_t i = 0; i < 6; i++) {
        s[i] = f->node->devices[i].healthy ? '1' : '0';
    }
    s[6] = '\0';
    return s;
}

static void
default_ignored_xids_leave_devices_healthy(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    const uint64_t ignored[] = {13, 31, 43, 45, 68, 109};
    for (size_t i = 0; i < ELEMENTSOF(ignored); i++) {
        apply(&f, xid_rec(GPU_A, ignored[i], NO_ID, NO_ID), 0);
        assert_int_equal(f.res.outcome, GDP_HEALTH_IGNORED_XID);
        assert_int_equal(f.res.n_changes, 0);
    }
    assert_string_equal(health_of(&f), "111110");
    fixture_done(&f);
}

static void
fatal_xid_marks_gpu_and_all_mig_devices(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    apply(&f, xid_rec(GPU_A, 69, NO_ID, NO_ID), 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_APPLIED);
    assert_int_equal(f.res.n_changes, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(f.res.changes[i].device, i);
        assert_false(f.res.changes[i].healthy);
        assert_int_equal(f.res.changes[i].xid, 69);
    }
    assert_string_equal(health_of(&f), "000010");
    assert_non_null(strstr(f.node->devices[2].reason, "XID 69 (graphics engine class error)"));
    assert_non_null(strstr(f.node->devices[2].reason, "healthy again after 5m"));
    /* the same XID again changes nothing: one update, however many events */
    apply(&f, xid_rec(GPU_A, 69, NO_ID, NO_ID), 1);
    assert_int_equal(f.res.n_changes, 0);
    fixture_done(&f);
}

static void
mig_scoped_xid_marks_one_mig_device(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    /* GI 2 / CI 1: that MIG device, and the GPU entry (advertised only as a whole GPU) */
    apply(&f, xid_rec(GPU_A, 69, 2, 1), 0);
    assert_int_equal(f.res.n_changes, 2);
    assert_string_equal(health_of(&f), "011010");
    assert_non_null(strstr(f.node->devices[3].reason, "XID 69 on GI 2 CI 1"));
    fixture_done(&f);

    /* a GI without a CI: every MIG device of that GPU instance */
    f = fixture_new(&cfg);
    apply(&f, xid_rec(GPU_A, 69, 2, NO_ID), 0);
    assert_string_equal(health_of(&f), "010010");
    fixture_done(&f);

    /* a GI/CI on a GPU without MIG devices marks the GPU */
    f = fixture_new(&cfg);
    apply(&f, xid_rec(GPU_B, 69, 1, 0), 0);
    assert_string_equal(health_of(&f), "111100");
    fixture_done(&f);
}

static void
unknown_uuids_and_ecc_events_are_ignored(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    apply(&f, xid_rec("GPU-ffffffff-0000-4000-8000-00000000000f", 79, NO_ID, NO_ID), 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_UNKNOWN_DEVICE);
    struct gdp_watcher_record ecc = xid_rec(GPU_A, 0, NO_ID, NO_ID);
    ecc.event_type = GDP_NVML_EVENT_DBE;
    apply(&f, ecc, 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_IGNORED_EVENT);
    apply(&f, probe_rec("GPU-ffffffff-0000-4000-8000-00000000000f", 15), 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_UNKNOWN_DEVICE);
    assert_string_equal(health_of(&f), "111110");
    fixture_done(&f);
}

static void
warning_records_mark_nothing(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    struct gdp_watcher_record rec = {.kind = GDP_WATCHER_REC_WAIT_ERROR, .gpu = -1, .count = 1};
    apply(&f, rec, 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_WAIT_ERROR);
    rec.kind = GDP_WATCHER_REC_NOT_MONITORED;
    (void)gdp_strlcpy(rec.uuid, GPU_A, sizeof rec.uuid);
    apply(&f, rec, 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_NOT_MONITORED);
    rec.kind = GDP_WATCHER_REC_DROPPED;
    apply(&f, rec, 0);
    assert_int_equal(f.res.outcome, GDP_HEALTH_DROPPED);
    assert_string_equal(health_of(&f), "111110");
    rec.kind = 77;
    assert_int_equal(gdp_health_state_apply(f.st, &rec, 0, &f.res), -EINVAL);
    fixture_done(&f);
}

static void
registration_failure_ends_when_registered_again(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    struct gdp_watcher_record rec = {.kind = GDP_WATCHER_REC_REGISTER_FAILED};
    (void)gdp_strlcpy(rec.uuid, GPU_A, sizeof rec.uuid);
    apply(&f, rec, 0);
    assert_string_equal(health_of(&f), "000010");
    rec.kind = GDP_WATCHER_REC_REGISTERED;
    apply(&f, rec, 1);
    assert_int_equal(f.res.n_changes, 4);
    assert_string_equal(health_of(&f), "111110");
    assert_string_equal(f.res.changes[0].reason, "events can be watched again");
    fixture_done(&f);
    /* with recovery off it stays unhealthy */
    struct gdp_health_config off = config_from("GDP_HEALTH_RECOVERY=off", NULL);
    f = fixture_new(&off);
    rec.kind = GDP_WATCHER_REC_REGISTER_FAILED;
    apply(&f, rec, 0);
    rec.kind = GDP_WATCHER_REC_REGISTERED;
    apply(&f, rec, 1);
    assert_string_equal(health_of(&f), "000010");
    fixture_done(&f);
}

static void
registration_failure_marks_gpu_for_good(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    struct gdp_watcher_record rec = {.kind = GDP_WATCHER_REC_REGISTER_FAILED};
    (void)gdp_strlcpy(rec.uuid, GPU_A, sizeof rec.uuid);
    (void)gdp_strlcpy(rec.detail, "nvmlDeviceRegisterEvents: Unknown Error (code 999)",
                      sizeof rec.detail);
    apply(&f, rec, 0);
    assert_int_equal(f.res.n_changes, 4);
    assert_string_equal(health_of(&f), "000010");
    assert_non_null(strstr(f.node->devices[1].reason, "nvmlDeviceRegisterEvents"));
    apply(&f, probe_rec(GPU_A, 15), 1);
    apply(&f, probe_rec(GPU_A, 0), 2);
    assert_string_equal(health_of(&f), "000010");
    fixture_done(&f);
}

static void
quiet_period_recovery(void **state _unused_)
{
    struct gdp_health_config cfg = config_from("GDP_HEALTH_QUIET_PERIOD=1s", NULL);
    struct fixture f = fixture_new(&cfg);
    assert_int_equal(gdp_health_state_next_deadline(f.st), UINT64_MAX);
    apply(&f, xid_rec(GPU_B, 69, NO_ID, NO_ID), 10000);
    assert_string_equal(health_of(&f), "111100");
    assert_int_equal(gdp_health_state_next_deadline(f.st), 11000);
    gdp_health_state_tick(f.st, 10999, &f.res);
    assert_int_equal(f.res.n_changes, 0);
    /* a further XID restarts the quiet period */
    apply(&f, xid_rec(GPU_B, 69, NO_ID, NO_ID), 10500);
    assert_int_equal(f.res.n_changes, 0);
    gdp_health_state_tick(f.st, 11000, &f.res);
    assert_int_equal(f.res.n_changes, 0);
    gdp_health_state_tick(f.st, 11500, &f.res);
    assert_int_equal(f.res.n_changes, 1);
    assert_int_equal(f.res.changes[0].device, 4);
    assert_true(f.res.changes[0].healthy);
    assert_int_equal(f.res.changes[0].xid, 69);
    assert_non_null(strstr(f.res.changes[0].reason, "no fatal XID for 1s"));
    assert_string_equal(health_of(&f), "111110");
    assert_string_equal(f.node->devices[4].reason, "");
    assert_int_equal(gdp_health_state_next_deadline(f.st), UINT64_MAX);
    fixture_done(&f);
}

static void
reset_xid_waits_for_the_probe(void **state _unused_)
{
    struct gdp_health_config cfg = config_from("GDP_HEALTH_QUIET_PERIOD=1s", NULL);
    struct fixture f = fixture_new(&cfg);
    const uint64_t reset_xids[] = {48, 79, 94, 95, 119, 120};
    for (size_t i = 0; i < ELEMENTSOF(reset_xids); i++) {
        assert_true(gdp_health_xid_needs_reset(reset_xids[i]));
    }
    assert_false(gdp_health_xid_needs_reset(69));
    apply(&f, xid_rec(GPU_A, 79, NO_ID, NO_ID), 0);
    assert_string_equal(health_of(&f), "000010");
    assert_non_null(strstr(f.node->devices[0].reason, "waiting for a GPU reset"));
    assert_int_equal(gdp_health_state_next_deadline(f.st), UINT64_MAX);
    gdp_health_state_tick(f.st, 3600000, &f.res);
    assert_int_equal(f.res.n_changes, 0);
    /* answering without having failed is no reset */
    apply(&f, probe_rec(GPU_A, 0), 1);
    assert_string_equal(health_of(&f), "000010");
    apply(&f, probe_rec(GPU_A, 15), 2);
    assert_int_equal(f.res.n_changes, 0);
    assert_non_null(strstr(f.node->devices[0].reason, "GPU not answering NVML"));
    apply(&f, probe_rec(GPU_A, 0), 3);
    assert_int_equal(f.res.n_changes, 4);
    assert_true(f.res.changes[0].healthy);
    assert_int_equal(f.res.changes[0].xid, 79);
    assert_non_null(strstr(f.res.changes[0].reason, "reset observed"));
    assert_string_equal(health_of(&f), "111110");
    /* a reset XID arriving after the GPU came back needs another reset */
    apply(&f, xid_rec(GPU_A, 48, NO_ID, NO_ID), 4);
    apply(&f, probe_rec(GPU_A, 0), 5);
    assert_string_equal(health_of(&f), "000010");
    fixture_done(&f);
}

static void
unlisted_xid_waits_for_a_reset_unless_listed(void **state _unused_)
{
    struct gdp_health_config cfg = config_from("GDP_HEALTH_QUIET_PERIOD=1s", NULL);
    assert_int_equal(gdp_health_xid_rule(&cfg, 69), GDP_XID_RULE_TRANSIENT);
    assert_int_equal(gdp_health_xid_rule(&cfg, 79), GDP_XID_RULE_RESET);
    assert_int_equal(gdp_health_xid_rule(&cfg, 200), GDP_XID_RULE_UNLISTED);
    struct fixture f = fixture_new(&cfg);
    /* an XID not known as transient: no quiet-period recovery, as NVIDIA never recovers */
    apply(&f, xid_rec(GPU_B, 200, NO_ID, NO_ID), 0);
    assert_string_equal(health_of(&f), "111100");
    assert_non_null(strstr(f.node->devices[4].reason, "not a known transient XID"));
    assert_non_null(strstr(f.node->devices[4].reason, "waiting for a GPU reset"));
    assert_int_equal(gdp_health_state_next_deadline(f.st), UINT64_MAX);
    gdp_health_state_tick(f.st, 3600000, &f.res);
    assert_string_equal(health_of(&f), "111100");
    /* ... until the GPU is seen reset */
    apply(&f, probe_rec(GPU_B, 15), 1);
    apply(&f, probe_rec(GPU_B, 0), 2);
    assert_string_equal(health_of(&f), "111110");
    fixture_done(&f);

    /* listed by the operator (even a reset-class one): the quiet period applies */
    const unsigned listed[] = {200, 79, 5000};
    gdp_health_config_set_recover(&cfg, listed, ELEMENTSOF(listed));
    assert_int_equal(gdp_health_xid_rule(&cfg, 200), GDP_XID_RULE_LISTED);
    assert_int_equal(gdp_health_xid_rule(&cfg, 79), GDP_XID_RULE_LISTED);
    f = fixture_new(&cfg);
    apply(&f, xid_rec(GPU_B, 200, NO_ID, NO_ID), 0);
    assert_non_null(strstr(f.node->devices[4].reason, "listed in --health-recover-xids"));
    assert_non_null(strstr(f.node->devices[4].reason, "healthy again after 1s"));
    gdp_health_state_tick(f.st, 1000, &f.res);
    assert_string_equal(health_of(&f), "111110");
    /* a transient one says so */
    apply(&f, xid_rec(GPU_B, 69, NO_ID, NO_ID), 2000);
    assert_non_null(strstr(f.node->devices[4].reason, "transient, healthy again after 1s"));
    fixture_done(&f);
}

static void
lost_gpu_and_back(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    apply(&f, probe_rec(GPU_A, 15), 0);
    assert_int_equal(f.res.n_changes, 4);
    assert_string_equal(health_of(&f), "000010");
    assert_non_null(strstr(f.node->devices[3].reason, "GPU is lost"));
    /* a quiet-period XID while lost: answering again does not end the quiet period */
    apply(&f, xid_rec(GPU_A, 69, NO_ID, NO_ID), 0);
    apply(&f, probe_rec(GPU_A, 0), 1);
    assert_int_equal(f.res.n_changes, 0);
    assert_non_null(strstr(f.node->devices[0].reason, "XID 69"));
    gdp_health_state_tick(f.st, 300000, &f.res);
    assert_int_equal(f.res.n_changes, 4);
    assert_string_equal(health_of(&f), "111110");
    fixture_done(&f);
}

static void
recovery_off_keeps_devices_unhealthy(void **state _unused_)
{
    struct gdp_health_config cfg = config_from("GDP_HEALTH_RECOVERY=off", NULL);
    struct fixture f = fixture_new(&cfg);
    apply(&f, xid_rec(GPU_B, 69, NO_ID, NO_ID), 0);
    apply(&f, xid_rec(GPU_A, 79, NO_ID, NO_ID), 0);
    assert_string_equal(f.node->devices[4].reason, "XID 69 (graphics engine class error)");
    assert_int_equal(gdp_health_state_next_deadline(f.st), UINT64_MAX);
    gdp_health_state_tick(f.st, UINT64_MAX - 1, &f.res);
    apply(&f, probe_rec(GPU_A, 15), 1);
    apply(&f, probe_rec(GPU_A, 0), 2);
    assert_int_equal(f.res.n_changes, 0);
    assert_string_equal(health_of(&f), "000000");
    fixture_done(&f);
}

static void
discovery_failures_stay_unhealthy(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    struct fixture f = fixture_new(&cfg);
    apply(&f, xid_rec(GPU_C, 69, NO_ID, NO_ID), 0);
    assert_int_equal(f.res.n_changes, 0);
    apply(&f, probe_rec(GPU_C, 15), 1);
    apply(&f, probe_rec(GPU_C, 0), 2);
    gdp_health_state_tick(f.st, 1000000, &f.res);
    assert_false(f.node->devices[5].healthy);
    assert_string_equal(f.node->devices[5].reason, "nvmlDeviceGetName: Unknown Error");
    fixture_done(&f);
}

/* ---- environment knobs ---- */

static bool
fatal(const char *a, const char *b, uint64_t xid)
{
    struct gdp_health_config cfg = config_from(a, b);
    return gdp_health_xid_fatal(&cfg, xid);
}

static void
env_disable_and_enable_lists(void **state _unused_)
{
    struct gdp_health_config cfg = config_from(NULL, NULL);
    assert_true(cfg.enabled && cfg.recovery);
    assert_int_equal(cfg.quiet_period_ms, 300000);
    assert_int_equal(cfg.probe_interval_ms, 5000);
    assert_false(fatal(NULL, NULL, 13));
    assert_true(fatal(NULL, NULL, 79));
    assert_true(fatal(NULL, NULL, 999));
    assert_true(fatal(NULL, NULL, 1u << 20)); /* beyond the table: the default */
    /* extra ignored XIDs add to the defaults */
    assert_false(fatal("DP_DISABLE_HEALTHCHECKS=48, 79", NULL, 79));
    assert_false(fatal("DP_DISABLE_HEALTHCHECKS=48,79", NULL, 31));
    assert_true(fatal("DP_DISABLE_HEALTHCHECKS=48", NULL, 94));
    /* an explicit enable removes from the ignore set, defaults included */
    assert_true(fatal("DP_ENABLE_HEALTHCHECKS=13", NULL, 13));
    assert_false(fatal("DP_ENABLE_HEALTHCHECKS=13", NULL, 31));
    assert_true(fatal("DP_DISABLE_HEALTHCHECKS=48", "DP_ENABLE_HEALTHCHECKS=48", 48));
    /* enable all: every XID is fatal */
    assert_true(fatal("DP_ENABLE_HEALTHCHECKS=ALL", NULL, 43));
    assert_true(fatal("DP_DISABLE_HEALTHCHECKS=48", "DP_ENABLE_HEALTHCHECKS=all", 48));
    /* disable all / xids: no health checking */
    cfg = config_from("DP_DISABLE_HEALTHCHECKS=all", NULL);
    assert_false(cfg.enabled);
    assert_false(gdp_health_xid_fatal(&cfg, 79));
    cfg = config_from("DP_DISABLE_HEALTHCHECKS=XIDs", NULL);
    assert_false(cfg.enabled);
    /* our difference: an explicit enable list still counts then, and only it */
    cfg = config_from("DP_DISABLE_HEALTHCHECKS=all", "DP_ENABLE_HEALTHCHECKS=79,13");
    assert_true(cfg.enabled);
    assert_true(gdp_health_xid_fatal(&cfg, 79));
    assert_true(gdp_health_xid_fatal(&cfg, 13));
    assert_false(gdp_health_xid_fatal(&cfg, 48));
}

static void
env_malformed_entries_are_reported_and_skipped(void **state _unused_)
{
    char *envp[] = {(char *)"DP_DISABLE_HEALTHCHECKS=abc,,48, -3 ,2000",
                    (char *)"DP_ENABLE_HEALTHCHECKS=1x", NULL};
    struct gdp_health_config cfg;
    struct gdp_health_warnings w = {0};
    assert_int_equal(parse_env(envp, &cfg, &w, NULL), 0);
    assert_int_equal(w.n, 4);
    assert_int_equal(w.more, 0);
    assert_string_equal(w.msg[0],
                        "DP_DISABLE_HEALTHCHECKS: ignoring XID entry 'abc': not a number");
    assert_non_null(strstr(w.msg[1], "'-3'"));
    assert_non_null(strstr(w.msg[2], "'2000': out of range"));
    assert_non_null(strstr(w.msg[3], "DP_ENABLE_HEALTHCHECKS: ignoring XID entry '1x'"));
    assert_true(cfg.enabled);
    assert_false(gdp_health_xid_fatal(&cfg, 48));
    assert_true(gdp_health_xid_fatal(&cfg, 79));
}

static void
env_recovery_knobs(void **state _unused_)
{
    struct gdp_health_config cfg =
            config_from("GDP_HEALTH_QUIET_PERIOD=1m30s", "GDP_HEALTH_PROBE_INTERVAL=250ms");
    assert_int_equal(cfg.quiet_period_ms, 90000);
    assert_int_equal(cfg.probe_interval_ms, 250);
    cfg = config_from("GDP_HEALTH_QUIET_PERIOD=7", "GDP_HEALTH_PROBE_INTERVAL=0");
    assert_int_equal(cfg.quiet_period_ms, 7000);
    assert_int_equal(cfg.probe_interval_ms, 0);
    cfg = config_from("GDP_HEALTH_RECOVERY=On", "GDP_HEALTH_QUIET_PERIOD=1h");
    assert_true(cfg.recovery);
    assert_int_equal(cfg.quiet_period_ms, 3600000);
    /* empty is not set, as for every setting of the table */
    cfg = config_from("GDP_HEALTH_QUIET_PERIOD=", "GDP_HEALTH_RECOVERY=");
    assert_true(cfg.recovery);
    assert_int_equal(cfg.quiet_period_ms, GDP_HEALTH_DEFAULT_QUIET_MS);

    const char *bad[] = {
            "GDP_HEALTH_RECOVERY=maybe",     "GDP_HEALTH_QUIET_PERIOD=10x",
            "GDP_HEALTH_QUIET_PERIOD=50ms",  "GDP_HEALTH_QUIET_PERIOD=0",
            "GDP_HEALTH_QUIET_PERIOD=1m30",  "GDP_HEALTH_PROBE_INTERVAL=2h",
            "GDP_HEALTH_PROBE_INTERVAL=-1s", "GDP_HEALTH_QUIET_PERIOD=99999999999999999999h",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char *envp[] = {(char *)bad[i], NULL};
        struct gdp_health_config c2;
        struct gdp_diag diag = {0};
        assert_int_equal(parse_env(envp, &c2, NULL, &diag), GDP_E_CONFIG);
        /* invalid value "<v>" for environment variable <NAME>: <what is allowed> */
        char want[128];
        size_t n = strcspn(bad[i], "=");
        (void)snprintf(want, sizeof want,
                       "invalid value \"%s\" for environment variable %.*s: ", bad[i] + n + 1,
                       (int)n, bad[i]);
        assert_non_null(strstr(diag.msg, want));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(default_ignored_xids_leave_devices_healthy),
            cmocka_unit_test(fatal_xid_marks_gpu_and_all_mig_devices),
            cmocka_unit_test(mig_scoped_xid_marks_one_mig_device),
            cmocka_unit_test(unknown_uuids_and_ecc_events_are_ignored),
            cmocka_unit_test(warning_records_mark_nothing),
            cmocka_unit_test(registration_failure_marks_gpu_for_good),
            cmocka_unit_test(registration_failure_ends_when_registered_again),
            cmocka_unit_test(quiet_period_recovery),
            cmocka_unit_test(reset_xid_waits_for_the_probe),
            cmocka_unit_test(unlisted_xid_waits_for_a_reset_unless_listed),
            cmocka_unit_test(lost_gpu_and_back),
            cmocka_unit_test(recovery_off_keeps_devices_unhealthy),
            cmocka_unit_test(discovery_failures_stay_unhealthy),
            cmocka_unit_test(env_disable_and_enable_lists),
            cmocka_unit_test(env_malformed_entries_are_reported_and_skipped),
            cmocka_unit_test(env_recovery_knobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
