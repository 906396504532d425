/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for resource/preferred.c: NVIDIA's greedy distributed and packed policies for
 * replicas (reference 6.3) on a fresh and on a partly allocated node, must-include devices,
 * deterministic ties, the strict mode, ties going to the best-linked GPU, unknown IDs
 * skipped, requests bounded by the resource, and NVML order for whole devices without
 * topology (test_topology.c covers the topology search).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/topology.h"
#include "resource/preferred.h"
#include "resource/resources.h"

#define N_GPUS   3
#define REPLICAS 4

struct fixture {
    struct gdp_device devices[N_GPUS];
    struct gdp_rdev rdevs[N_GPUS * REPLICAS];
    struct gdp_resource shared; /* 3 GPUs x 4 replicas */
    struct gdp_resource whole;  /* the same 3 GPUs, not shared */
    struct gdp_rdev whole_rdevs[N_GPUS];
};

/* "G<g>::<k>"-style IDs are spelled out by id(): "GPU-0000000<g>-...::<k>". */
static const char *
id(const struct fixture *f, unsigned g, unsigned k)
{
    return f->rdevs[g * REPLICAS + k].id;
}

static void
make(struct fixture *f)
{
    *f = (struct fixture){0};
    (void)gdp_strlcpy(f->shared.name, "nvidia.com/gpu.shared", sizeof f->shared.name);
    (void)gdp_strlcpy(f->whole.name, "nvidia.com/gpu", sizeof f->whole.name);
    f->shared.devices = f->rdevs;
    f->whole.devices = f->whole_rdevs;
    for (unsigned g = 0; g < N_GPUS; g++) {
        struct gdp_device *d = &f->devices[g];
        *d = (struct gdp_device){.kind = GDP_DEVICE_GPU, .index = g, .parent = -1};
        (void)snprintf(d->uuid, sizeof d->uuid, "GPU-0000000%u-0000-0000-0000-000000000000", g);
        for (unsigned k = 0; k < REPLICAS; k++) {
            struct gdp_rdev *rd = &f->rdevs[f->shared.n_devices++];
            *rd = (struct gdp_rdev){.dev = d, .replica = k, .replicas = REPLICAS};
            (void)snprintf(rd->id, sizeof rd->id, "%s::%u", d->uuid, k);
        }
        struct gdp_rdev *w = &f->whole_rdevs[f->whole.n_devices++];
        *w = (struct gdp_rdev){.dev = d};
        (void)gdp_strlcpy(w->id, d->uuid, sizeof w->id);
    }
}

/* Every replica except those of `used` (pairs of GPU, replica), in the given direction. */
static size_t
available_except(const struct fixture *f, const unsigned (*used)[2], size_t n_used, bool reverse,
                 const char **ret)
{
    size_t n = 0;
    for (size_t i = 0; i < f->shared.n_devices; i++) {
        size_t pos = reverse ? f->shared.n_devices - 1 - i : i;
        bool in_use = false;
        for (size_t u = 0; u < n_used; u++) {
            in_use |= pos == used[u][0] * REPLICAS + used[u][1];
        }
        if (!in_use) {
            ret[n++] = f->shared.devices[pos].id;
        }
    }
    return n;
}

static void
expect(const struct fixture *f, const struct gdp_pref_request *req, const char *const *want,
       size_t n_want)
{
    const char *got[N_GPUS * REPLICAS];
    struct gdp_diag diag = {0};
    int n = gdp_preferred_allocation(&f->shared, req, got, &diag);
    if (n < 0) {
        print_error("preferred: %d %s\n", n, diag.msg);
    }
    assert_int_equal(n, (int)n_want);
    for (size_t i = 0; i < n_want; i++) {
        assert_string_equal(got[i], want[i]);
    }
}

static void
fresh_node(void **state _unused_)
{
    struct fixture f;
    const char *avail[N_GPUS * REPLICAS];
    make(&f);
    for (int reverse = 0; reverse < 2; reverse++) { /* the kubelet's order does not matter */
        size_t n = available_except(&f, NULL, 0, reverse != 0, avail);
        struct gdp_pref_request req = {.available = avail, .n_available = n, .size = 3};
        const char *spread[] = {id(&f, 0, 0), id(&f, 1, 0), id(&f, 2, 0)};
        expect(&f, &req, spread, 3);
        req.policy = GDP_ALLOC_PACKED;
        const char *packed[] = {id(&f, 0, 0), id(&f, 0, 1), id(&f, 0, 2)};
        expect(&f, &req, packed, 3);
        req.size = 6; /* packed fills GPU 0, then goes on with GPU 1 */
        const char *more[] = {id(&f, 0, 0), id(&f, 0, 1), id(&f, 0, 2),
                              id(&f, 0, 3), id(&f, 1, 0), id(&f, 1, 1)};
        expect(&f, &req, more, 6);
        req.policy = GDP_ALLOC_DISTRIBUTED; /* distributed comes back to GPU 0 after GPU 2 */
        const char *round[] = {id(&f, 0, 0), id(&f, 1, 0), id(&f, 2, 0),
                               id(&f, 0, 1), id(&f, 1, 1), id(&f, 2, 1)};
        expect(&f, &req, round, 6);
    }
}

/* GPU 0 has two replicas in use, GPU 1 one, GPU 2 none. */
static void
partly_allocated_node(void **state _unused_)
{
    static const unsigned used[][2] = {{0, 0}, {0, 1}, {1, 0}};
    struct fixture f;
    const char *avail[N_GPUS * REPLICAS];
    make(&f);
    size_t n = available_except(&f, used, ELEMENTSOF(used), false, avail);
    struct gdp_pref_request req = {.available = avail, .n_available = n, .size = 2};
    /* least used first: GPU 2; then GPU 1 and GPU 2 are tied on use (1 each) and GPU 1
     * holds none of this answer yet */
    const char *spread[] = {id(&f, 2, 0), id(&f, 1, 1)};
    expect(&f, &req, spread, 2);
    req.policy = GDP_ALLOC_PACKED; /* most used first: GPU 0 until it is full */
    req.size = 3;
    const char *packed[] = {id(&f, 0, 2), id(&f, 0, 3), id(&f, 1, 1)};
    expect(&f, &req, packed, 3);
}

static void
must_include_first(void **state _unused_)
{
    struct fixture f;
    const char *avail[N_GPUS * REPLICAS];
    make(&f);
    size_t n = available_except(&f, NULL, 0, true, avail);
    const char *must[] = {id(&f, 1, 2)};
    struct gdp_pref_request req = {.available = avail,
                                   .n_available = n,
                                   .must_include = must,
                                   .n_must_include = 1,
                                   .size = 3};
    /* GPU 1 counts as used by the must-include replica: the others come first */
    const char *spread[] = {id(&f, 1, 2), id(&f, 0, 0), id(&f, 2, 0)};
    expect(&f, &req, spread, 3);
    req.policy = GDP_ALLOC_PACKED; /* ... or are packed next to it */
    const char *packed[] = {id(&f, 1, 2), id(&f, 1, 0), id(&f, 1, 1)};
    expect(&f, &req, packed, 3);
    req.size = 1;
    expect(&f, &req, must, 1);
}

static void
whole_devices_keep_nvml_order(void **state _unused_)
{
    struct fixture f;
    make(&f);
    const char *avail[] = {f.whole_rdevs[2].id, f.whole_rdevs[1].id, f.whole_rdevs[0].id};
    const char *must[] = {f.whole_rdevs[2].id};
    struct gdp_pref_request req = {.available = avail,
                                   .n_available = 3,
                                   .must_include = must,
                                   .n_must_include = 1,
                                   .size = 2,
                                   .policy = GDP_ALLOC_PACKED};
    const char *got[3];
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_preferred_allocation(&f.whole, &req, got, &diag), 2);
    assert_string_equal(got[0], f.whole_rdevs[2].id);
    assert_string_equal(got[1], f.whole_rdevs[0].id);
}

static void
bad_requests(void **state _unused_)
{
    struct fixture f;
    const char *got[4];
    struct gdp_diag diag = {0};
    make(&f);
    const char *avail[] = {id(&f, 0, 0), id(&f, 1, 1)};
    const char *unknown[] = {id(&f, 0, 0), "GPU-00000000-0000-0000-0000-000000000000::9"};
    const char *must[] = {id(&f, 2, 2)};
    struct gdp_pref_request req = {.available = avail, .n_available = 2, .size = 3};
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), -EINVAL);
    req.size = 1;
    req.must_include = must;
    req.n_must_include = 1;
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "must be included but is not available"));
    /* IDs the resource does not advertise are skipped, not fatal */
    req.available = unknown;
    req.n_must_include = 0;
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), 1);
    assert_string_equal(got[0], id(&f, 0, 0));
    req.must_include = unknown + 1;
    req.n_must_include = 1;
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), 1);
    assert_string_equal(got[0], id(&f, 0, 0));
    req.size = 2; /* one known device: not enough */
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), -EINVAL);
    assert_string_equal(diag.msg, "not enough available devices to satisfy allocation");
}

/* The request's lists are bounded by the resource before any work: a huge one is refused. */
static void
request_bounded_by_resource(void **state _unused_)
{
    struct fixture f;
    const char *got[1];
    struct gdp_diag diag = {0};
    make(&f);
    size_t n = 1000000;
    const char **avail = gdp_calloc(n, sizeof *avail);
    for (size_t i = 0; i < n; i++) {
        avail[i] = id(&f, (unsigned)(i % N_GPUS), (unsigned)(i % REPLICAS));
    }
    struct gdp_pref_request req = {.available = avail, .n_available = n, .size = 1};
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), -EINVAL);
    assert_string_equal(diag.msg, "request lists 1000000 available devices but "
                                  "nvidia.com/gpu.shared has 12 devices");
    req.n_available = f.shared.n_devices; /* at the bound: answered */
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), 1);
    free(avail);
}

/* Strict: a second replica of a GPU only once every GPU with a free replica has one. */
static void
strict_one_replica_per_gpu(void **state _unused_)
{
    struct fixture f;
    const char *avail[N_GPUS * REPLICAS];
    make(&f);
    /* GPU 0 is busy (3 in use), GPUs 1 and 2 idle: packed would take both of GPU 0's... */
    const unsigned used[][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}};
    size_t n = available_except(&f, used, ELEMENTSOF(used), false, avail);
    struct gdp_pref_request req = {
            .available = avail, .n_available = n, .size = 3, .policy = GDP_ALLOC_PACKED};
    const char *packed[] = {id(&f, 0, 3), id(&f, 1, 3), id(&f, 2, 0)};
    expect(&f, &req, packed, 3);
    req.size = 4; /* packed alone returns to GPU 2 after the fullest ones */
    const char *loose[] = {id(&f, 0, 3), id(&f, 1, 3), id(&f, 2, 0), id(&f, 2, 1)};
    expect(&f, &req, loose, 4);
    req.strict = true; /* every GPU has one already: a second is allowed, on the fullest */
    expect(&f, &req, loose, 4);
    /* distributed on a fresh node: strict never doubles up while a GPU has none */
    n = available_except(&f, NULL, 0, false, avail);
    req = (struct gdp_pref_request){.available = avail,
                                    .n_available = n,
                                    .size = 3,
                                    .policy = GDP_ALLOC_PACKED,
                                    .strict = true};
    const char *spread[] = {id(&f, 0, 0), id(&f, 1, 0), id(&f, 2, 0)};
    expect(&f, &req, spread, 3);
    req.strict = false;
    const char *fill[] = {id(&f, 0, 0), id(&f, 0, 1), id(&f, 0, 2)};
    expect(&f, &req, fill, 3);
}

/* Duplicate IDs from the kubelet are taken once. */
static void
duplicates_count_once(void **state _unused_)
{
    struct fixture f;
    const char *got[4];
    struct gdp_diag diag = {0};
    make(&f);
    const char *avail[] = {id(&f, 0, 0), id(&f, 0, 0), id(&f, 1, 0)};
    const char *must[] = {id(&f, 1, 0), id(&f, 1, 0)};
    struct gdp_pref_request req = {
            .available = avail, .n_available = 3, .must_include = must, .n_must_include = 2};
    req.size = 2;
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), 2);
    assert_string_equal(got[0], id(&f, 1, 0));
    assert_string_equal(got[1], id(&f, 0, 0));
    req.size = 3;
    assert_int_equal(gdp_preferred_allocation(&f.shared, &req, got, &diag), -EINVAL);
    assert_string_equal(diag.msg, "not enough available devices to satisfy allocation");
}

/* A lost (unhealthy) GPU is skipped while the healthy ones are enough, never fatal. */
static void
lost_gpus_are_skipped(void **state _unused_)
{
    struct fixture f;
    const char *got[3];
    struct gdp_diag diag = {0};
    make(&f);
    for (unsigned g = 0; g < N_GPUS; g++) {
        f.devices[g].healthy = g != 0;
    }
    const char *avail[] = {f.whole_rdevs[0].id, f.whole_rdevs[1].id, f.whole_rdevs[2].id};
    struct gdp_pref_request req = {.available = avail, .n_available = 3, .size = 2};
    assert_int_equal(gdp_preferred_allocation(&f.whole, &req, got, &diag), 2);
    assert_string_equal(got[0], f.whole_rdevs[1].id);
    assert_string_equal(got[1], f.whole_rdevs[2].id);
    req.size = 3; /* too few healthy ones: the lost GPU is still offered */
    assert_int_equal(gdp_preferred_allocation(&f.whole, &req, got, &diag), 3);
}

/* Among equally used GPUs, the next replica goes to the GPU best linked to those chosen. */
static void
replicas_follow_links(void **state _unused_)
{
    struct fixture f;
    struct gdp_topology t;
    const char *avail[N_GPUS * REPLICAS];
    make(&f);
    gdp_topology_init(&t, N_GPUS);
    gdp_topology_set(&t, 0, 1, GDP_PCIE_SYS, 0, false);
    gdp_topology_set(&t, 0, 2, GDP_PCIE_SYS, 2, false); /* GPU 2 shares two NVLinks with 0 */
    gdp_topology_set(&t, 1, 2, GDP_PCIE_SYS, 0, false);
    for (unsigned g = 0; g < N_GPUS; g++) {
        f.devices[g].topo = (int)g;
    }
    f.shared.topology = &t;
    size_t n = available_except(&f, NULL, 0, false, avail);
    struct gdp_pref_request req = {.available = avail, .n_available = n, .size = 2};
    const char *linked[] = {id(&f, 0, 0), id(&f, 2, 0)};
    expect(&f, &req, linked, 2);
    f.shared.topology = NULL; /* without topology: NVML order */
    const char *plain[] = {id(&f, 0, 0), id(&f, 1, 0)};
    expect(&f, &req, plain, 2);
    gdp_topology_done(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(fresh_node),
            cmocka_unit_test(partly_allocated_node),
            cmocka_unit_test(must_include_first),
            cmocka_unit_test(whole_devices_keep_nvml_order),
            cmocka_unit_test(bad_requests),
            cmocka_unit_test(duplicates_count_once),
            cmocka_unit_test(request_bounded_by_resource),
            cmocka_unit_test(strict_one_replica_per_gpu),
            cmocka_unit_test(replicas_follow_links),
            cmocka_unit_test(lost_gpus_are_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
