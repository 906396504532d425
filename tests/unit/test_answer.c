/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for plugin/answer.c: request bytes in, the answer or a gRPC status out, as the
 * gRPC handlers send them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <deviceplugin_v1beta1.pb-c.h>

#include "config/config.h"
#include "core/util.h"
#include "gpu/device.h"
#include "plugin/answer.h"
#include "resource/resources.h"
#include "resource/snapshot.h"
#include "rpc/grpc.h"

#define GPU0 "GPU-8f3c1a52-0000-4000-8000-000000000000"
#define GPU1 "GPU-0b7d2e91-0000-4000-8000-000000000001"

/* protobuf-c takes char *: writable copies of the IDs for the requests */
static char id0[] = GPU0, id_unknown[] = "GPU-nope";

struct fixture {
    struct gdp_device devices[2];
    struct gdp_node node;
    struct gdp_rdev rdevs[2];
    struct gdp_resource res;
    struct gdp_snapshot snap;
};

static int
setup(void **state)
{
    struct fixture *f = gdp_calloc(1, sizeof *f);
    const char *uuids[] = {GPU0, GPU1};
    for (size_t i = 0; i < 2; i++) {
        f->devices[i] = (struct gdp_device){.kind = GDP_DEVICE_GPU,
                                            .index = (unsigned)i,
                                            .parent = -1,
                                            .minor = (unsigned)i,
                                            .healthy = true,
                                            .numa_node = (int)i - 1};
        (void)gdp_strlcpy(f->devices[i].uuid, uuids[i], sizeof f->devices[i].uuid);
        f->rdevs[i] = (struct gdp_rdev){.dev = &f->devices[i]};
        (void)gdp_strlcpy(f->rdevs[i].id, uuids[i], sizeof f->rdevs[i].id);
    }
    f->devices[1].healthy = false;
    f->node = (struct gdp_node){.devices = f->devices, .n_devices = 2, .n_gpus = 2};
    (void)strcpy(f->res.name, "nvidia.com/gpu");
    f->res.devices = f->rdevs;
    f->res.n_devices = 2;
    f->snap.cfg = (struct gdp_config){.device_list_strategy = GDP_LIST_ENVVAR,
                                      .device_id_strategy = GDP_ID_UUID};
    f->snap.inv.node = &f->node;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    free(*state);
    return 0;
}

/* An AllocateRequest with one container per ID list (NULL-terminated lists). */
static uint8_t *
allocate_request(size_t *len, char **c0, char **c1)
{
    V1beta1__ContainerAllocateRequest c[2] = {V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT,
                                              V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT};
    V1beta1__ContainerAllocateRequest *ptrs[2] = {&c[0], &c[1]};
    char **ids[2] = {c0, c1};
    V1beta1__AllocateRequest req = V1BETA1__ALLOCATE_REQUEST__INIT;
    for (size_t i = 0; i < 2 && ids[i] != NULL; i++, req.n_container_requests++) {
        c[i].devices_ids = ids[i];
        while (ids[i][c[i].n_devices_ids] != NULL) {
            c[i].n_devices_ids++;
        }
    }
    req.container_requests = ptrs;
    uint8_t *buf = gdp_malloc(v1beta1__allocate_request__get_packed_size(&req) + 1);
    *len = v1beta1__allocate_request__pack(&req, buf);
    return buf;
}

static const char *
env_of(const V1beta1__ContainerAllocateResponse *c, const char *key)
{
    for (size_t i = 0; i < c->n_envs; i++) {
        if (streq(c->envs[i]->key, key)) {
            return c->envs[i]->value;
        }
    }
    return NULL;
}

static void
allocate_answers_every_container(void **state)
{
    struct fixture *f = *state;
    char *c0[] = {id0, NULL}, *c1[] = {id0, NULL};
    size_t len = 0;
    _cleanup_free_ uint8_t *req = allocate_request(&len, c0, c1);
    struct gdp_answer a = {0};
    assert_int_equal(gdp_answer_allocate(&f->snap, &f->res, req, len, &a), 0);
    assert_int_equal(a.status, GDP_GRPC_OK);
    V1beta1__AllocateResponse *resp = v1beta1__allocate_response__unpack(NULL, a.len, a.msg);
    assert_non_null(resp);
    assert_int_equal(resp->n_container_responses, 2);
    assert_string_equal(env_of(resp->container_responses[1], "NVIDIA_VISIBLE_DEVICES"), GPU0);
    v1beta1__allocate_response__free_unpacked(resp, NULL);
    gdp_answer_done(&a);
}

static void
expect_invalid(struct fixture *f, const uint8_t *req, size_t len, const char *why)
{
    struct gdp_answer a = {0};
    char want[512];
    (void)snprintf(want, sizeof want, "invalid allocation request for 'nvidia.com/gpu': %s", why);
    assert_int_equal(gdp_answer_allocate(&f->snap, &f->res, req, len, &a), -EINVAL);
    assert_int_equal(a.status, GDP_GRPC_INVALID_ARGUMENT);
    assert_null(a.msg);
    assert_string_equal(a.message, want);
    gdp_answer_done(&a);
}

static void
allocate_refuses_with_a_status_and_a_message(void **state)
{
    struct fixture *f = *state;
    size_t len = 0;
    expect_invalid(f, (const uint8_t *)"\xff\xff\xff", 3, "malformed AllocateRequest");
    expect_invalid(f, (const uint8_t *)"", 0, "no container requests");
    /* field 1 (container request) holding field 1 (an ID) "a\0b" */
    expect_invalid(f,
                   (const uint8_t *)"\x0a\x05\x0a\x03"
                                    "a\0b",
                   7, "a device ID contains a NUL byte");
    char *unknown[] = {id_unknown, NULL};
    struct gdp_answer a = {0};
    _cleanup_free_ uint8_t *r2 = allocate_request(&len, unknown, NULL);
    assert_int_equal(gdp_answer_allocate(&f->snap, &f->res, r2, len, &a), -EINVAL);
    assert_non_null(strstr(a.message, "GPU-nope"));
    gdp_answer_done(&a);
}

static uint8_t *
preferred_request(size_t *len, char **available, size_t n, int size)
{
    V1beta1__ContainerPreferredAllocationRequest c =
            V1BETA1__CONTAINER_PREFERRED_ALLOCATION_REQUEST__INIT;
    V1beta1__ContainerPreferredAllocationRequest *ptr = &c;
    c.available_deviceids = available;
    c.n_available_deviceids = n;
    c.allocation_size = size;
    V1beta1__PreferredAllocationRequest req = V1BETA1__PREFERRED_ALLOCATION_REQUEST__INIT;
    req.n_container_requests = 1;
    req.container_requests = &ptr;
    uint8_t *buf = gdp_malloc(v1beta1__preferred_allocation_request__get_packed_size(&req) + 1);
    *len = v1beta1__preferred_allocation_request__pack(&req, buf);
    return buf;
}

static void
preferred_answers_or_refuses(void **state)
{
    struct fixture *f = *state;
    char *available[] = {id0};
    size_t len = 0;
    _cleanup_free_ uint8_t *ok = preferred_request(&len, available, 1, 1);
    struct gdp_answer a = {0};
    assert_int_equal(gdp_answer_preferred(&f->snap, &f->res, ok, len, &a), 0);
    V1beta1__PreferredAllocationResponse *resp =
            v1beta1__preferred_allocation_response__unpack(NULL, a.len, a.msg);
    assert_non_null(resp);
    assert_int_equal(resp->container_responses[0]->n_deviceids, 1);
    assert_string_equal(resp->container_responses[0]->deviceids[0], GPU0);
    v1beta1__preferred_allocation_response__free_unpacked(resp, NULL);
    gdp_answer_done(&a);
    _cleanup_free_ uint8_t *zero = preferred_request(&len, available, 1, 0);
    assert_int_equal(gdp_answer_preferred(&f->snap, &f->res, zero, len, &a), -EINVAL);
    assert_string_equal(a.message, "invalid allocation request for 'nvidia.com/gpu': "
                                   "allocation size 0 with 1 devices available");
    gdp_answer_done(&a);
}

static void
device_list_and_options(void **state)
{
    struct fixture *f = *state;
    struct gdp_answer a = {0};
    gdp_answer_device_list(&f->res, &a);
    V1beta1__ListAndWatchResponse *l = v1beta1__list_and_watch_response__unpack(NULL, a.len, a.msg);
    assert_non_null(l);
    assert_int_equal(l->n_devices, 2);
    assert_string_equal(l->devices[0]->health, "Healthy");
    assert_null(l->devices[0]->topology); /* NUMA node unknown */
    assert_string_equal(l->devices[1]->health, "Unhealthy");
    assert_int_equal(l->devices[1]->topology->nodes[0]->id, 0);
    v1beta1__list_and_watch_response__free_unpacked(l, NULL);
    gdp_answer_done(&a);
    gdp_answer_options(&a);
    V1beta1__DevicePluginOptions *o = v1beta1__device_plugin_options__unpack(NULL, a.len, a.msg);
    assert_non_null(o);
    assert_true(o->get_preferred_allocation_available);
    assert_false(o->pre_start_required);
    v1beta1__device_plugin_options__free_unpacked(o, NULL);
    gdp_answer_done(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(allocate_answers_every_container, setup, teardown),
            cmocka_unit_test_setup_teardown(allocate_refuses_with_a_status_and_a_message, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(preferred_answers_or_refuses, setup, teardown),
            cmocka_unit_test_setup_teardown(device_list_and_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
