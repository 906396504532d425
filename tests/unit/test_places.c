/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for gpu/places.c: what a re-discovery must read again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/places.h"

/* A node of GPUs 0..n_gpus-1; GPU 1 carries MIG slots 1:0 and 1:1. */
static void
make_node(struct gdp_node *node, struct gdp_device *devs, unsigned n_gpus)
{
    size_t n = 0;
    for (unsigned i = 0; i < n_gpus; i++) {
        devs[n] = (struct gdp_device){.kind = GDP_DEVICE_GPU, .index = i, .healthy = true};
        (void)snprintf(devs[n].index_str, sizeof devs[n].index_str, "%u", i);
        (void)snprintf(devs[n].uuid, sizeof devs[n].uuid, "GPU-%u", i);
        n++;
        for (unsigned j = 0; i == 1 && j < 2; j++, n++) {
            devs[n] = (struct gdp_device){.kind = GDP_DEVICE_MIG, .index = j, .healthy = true};
            (void)snprintf(devs[n].index_str, sizeof devs[n].index_str, "1:%u", j);
            (void)snprintf(devs[n].uuid, sizeof devs[n].uuid, "MIG-1-%u", j);
        }
    }
    *node = (struct gdp_node){.n_gpus = n_gpus, .devices = devs, .n_devices = n};
}

static void
the_same_node_misses_nothing(void **state _unused_)
{
    struct gdp_device devs[8];
    struct gdp_node node;
    struct gdp_places p;
    make_node(&node, devs, 3);
    gdp_places_of(&node, &p);
    assert_int_equal(p.n, 5);
    assert_int_equal(gdp_places_missed(&p, &node, "", NULL, NULL), 0);
    gdp_places_done(&p);
}

static void
a_device_failing_discovery_is_missed(void **state _unused_)
{
    struct gdp_device devs[8], again[8];
    struct gdp_node node, next;
    struct gdp_places p, missed = {0};
    struct gdp_diag diag = {0};
    make_node(&node, devs, 3);
    devs[0].healthy = false; /* failed the first discovery: not expected again */
    gdp_places_of(&node, &p);
    assert_int_equal(p.n, 4);
    make_node(&next, again, 3);
    again[0].healthy = false;
    again[4].healthy = false;
    (void)gdp_strlcpy(again[4].reason, "nvmlDeviceGetName: Unknown Error", GDP_REASON_MAX);
    assert_int_equal(gdp_places_missed(&p, &next, "", &missed, &diag), 1);
    assert_int_equal(missed.n, 1);
    assert_string_equal(missed.index[0], "2");
    assert_string_equal(diag.msg, "device 2 (GPU-2): nvmlDeviceGetName: Unknown Error");
    /* what the new discovery failed, added once each to what was missed */
    gdp_places_failed(&next, &missed);
    assert_int_equal(missed.n, 2);
    assert_string_equal(missed.index[1], "0");
    gdp_places_done(&missed);
    gdp_places_done(&p);
}

static void
a_problem_or_a_lost_gpu_is_missed_an_empty_mig_slot_is_not(void **state _unused_)
{
    struct gdp_device devs[8], again[8];
    struct gdp_node node, next;
    struct gdp_places p;
    struct gdp_diag diag = {0};
    make_node(&node, devs, 3);
    gdp_places_of(&node, &p);
    /* MIG slot 1:1 gone (repartitioned), GPU 2 no longer counted */
    make_node(&next, again, 2);
    next.n_devices = 2 + 1;
    assert_int_equal(gdp_places_missed(&p, &next, "", NULL, &diag), 1);
    assert_string_equal(diag.msg, "GPU 2 is no longer enumerated (NVML counts 2 GPUs)");
    /* MIG slot 1:0 read with an error: a problem entry */
    struct gdp_problem problem = {.index_str = "1:0", .reason = "nvmlDeviceGetUUID: Unknown"};
    make_node(&next, again, 3);
    next.problems = &problem;
    next.n_problems = 1;
    memmove(&again[2], &again[3], 2 * sizeof again[0]); /* 1:1 stays, 1:0 is the problem */
    next.n_devices = 4;
    assert_int_equal(gdp_places_missed(&p, &next, "", NULL, &diag), 1);
    assert_string_equal(diag.msg, "device 1:0: nvmlDeviceGetUUID: Unknown");
    /* no NVML at all */
    assert_int_equal(gdp_places_missed(&p, NULL, "driver gone", NULL, &diag), 5);
    assert_string_equal(diag.msg, "NVML unavailable: driver gone");
    gdp_places_done(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(the_same_node_misses_nothing),
            cmocka_unit_test(a_device_failing_discovery_is_missed),
            cmocka_unit_test(a_problem_or_a_lost_gpu_is_missed_an_empty_mig_slot_is_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
