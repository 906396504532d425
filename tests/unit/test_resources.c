/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for resource/resources.c: NVIDIA's MIG strategies on hand-built nodes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/resources.h"

#define MAX_DEVICES 16

struct fixture {
    struct gdp_node node;
    struct gdp_device devices[MAX_DEVICES];
};

static struct gdp_device *
add_gpu(struct fixture *f, bool mig_enabled)
{
    struct gdp_device *d = &f->devices[f->node.n_devices++];
    unsigned gpus = 0;
    for (size_t i = 0; i + 1 < f->node.n_devices; i++) {
        gpus += f->devices[i].kind == GDP_DEVICE_GPU;
    }
    *d = (struct gdp_device){.kind = GDP_DEVICE_GPU,
                             .index = gpus,
                             .parent = -1,
                             .mig_capable = true,
                             .mig_enabled = mig_enabled,
                             .healthy = true};
    (void)snprintf(d->index_str, sizeof d->index_str, "%u", gpus);
    (void)snprintf(d->uuid, sizeof d->uuid, "GPU-%08u-0000-0000-0000-000000000000", gpus);
    f->node.devices = f->devices;
    return d;
}

static struct gdp_device *
add_mig(struct fixture *f, const char *profile, unsigned gi_slices, unsigned ci_slices)
{
    int parent = (int)f->node.n_devices - 1;
    while (f->devices[parent].kind != GDP_DEVICE_GPU) {
        parent--;
    }
    struct gdp_device *p = &f->devices[parent];
    struct gdp_device *d = &f->devices[f->node.n_devices++];
    *d = (struct gdp_device){.kind = GDP_DEVICE_MIG,
                             .index = p->n_mig,
                             .parent = parent,
                             .gi_slices = gi_slices,
                             .ci_slices = ci_slices,
                             .healthy = true,
                             .mig_memory_mib = 4864ull * gi_slices};
    (void)snprintf(d->index_str, sizeof d->index_str, "%u:%u", p->index, p->n_mig);
    (void)snprintf(d->uuid, sizeof d->uuid, "MIG-%08u-0000-0000-0000-%012u", p->index, p->n_mig);
    (void)gdp_strlcpy(d->profile, profile, sizeof d->profile);
    p->n_mig++;
    return d;
}

static const struct gdp_resource *
expect_resource(const struct gdp_resource_set *set, const char *name, size_t n)
{
    const struct gdp_resource *r = gdp_resource_find(set, name);
    assert_non_null(r);
    assert_int_equal(r->n_devices, n);
    return r;
}

static void
none_advertises_mig_gpus_whole(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    (void)add_gpu(&f, true);
    (void)add_mig(&f, "1g.5gb", 1, 1);
    assert_int_equal(gdp_resources_build(&f.node, GDP_MIG_NONE, &set, &diag), 0);
    assert_int_equal(set.n_resources, 1);
    const struct gdp_resource *r = expect_resource(&set, "nvidia.com/gpu", 2);
    assert_string_equal(r->devices[1].dev->index_str, "1");
    gdp_resource_set_done(&set);
}

static void
single_uniform_mig_is_gpu(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    for (int g = 0; g < 2; g++) {
        (void)add_gpu(&f, true);
        (void)add_mig(&f, "2g.10gb", 2, 2);
        (void)add_mig(&f, "2g.10gb", 2, 2);
    }
    assert_int_equal(gdp_resources_build(&f.node, GDP_MIG_SINGLE, &set, &diag), 0);
    assert_int_equal(set.n_resources, 1);
    const struct gdp_resource *r = expect_resource(&set, "nvidia.com/gpu", 4);
    assert_string_equal(r->devices[3].dev->index_str, "1:1");
    gdp_resource_set_done(&set);
}

static void
single_without_mig_is_like_none(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    (void)add_gpu(&f, false);
    assert_int_equal(gdp_resources_build(&f.node, GDP_MIG_SINGLE, &set, &diag), 0);
    (void)expect_resource(&set, "nvidia.com/gpu", 2);
    gdp_resource_set_done(&set);
}

static void
single_errors(void **state _unused_)
{
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    struct fixture mixed_types = {0};
    (void)add_gpu(&mixed_types, true);
    (void)add_mig(&mixed_types, "1g.5gb", 1, 1);
    (void)add_mig(&mixed_types, "2g.10gb", 2, 2);
    assert_int_equal(gdp_resources_build(&mixed_types.node, GDP_MIG_SINGLE, &set, &diag),
                     GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "more than one MIG device type present on node"));
    gdp_resource_set_done(&set);

    struct fixture mixed_modes = {0};
    (void)add_gpu(&mixed_modes, false);
    (void)add_gpu(&mixed_modes, true);
    (void)add_mig(&mixed_modes, "1g.5gb", 1, 1);
    assert_int_equal(gdp_resources_build(&mixed_modes.node, GDP_MIG_SINGLE, &set, &diag),
                     GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "same migEnabled value"));
    gdp_resource_set_done(&set);

    struct fixture empty = {0};
    (void)add_gpu(&empty, true);
    assert_int_equal(gdp_resources_build(&empty.node, GDP_MIG_SINGLE, &set, &diag), GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "GPU 0"));
    assert_non_null(strstr(diag.msg, "no MIG devices"));
    gdp_resource_set_done(&set);
}

static void
mixed_names_per_profile(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    (void)add_gpu(&f, true);
    (void)add_mig(&f, "3g.40gb", 3, 3);
    (void)add_mig(&f, "1g.10gb+me", 1, 1);
    (void)add_mig(&f, "1g.10gb", 1, 1);
    (void)add_mig(&f, "1g.10gb", 1, 1);
    (void)add_gpu(&f, true); /* MIG enabled, no MIG devices: a warning under mixed */
    assert_int_equal(gdp_resources_build(&f.node, GDP_MIG_MIXED, &set, &diag), 0);
    assert_int_equal(set.n_resources, 4);
    assert_string_equal(set.resources[0].name, "nvidia.com/gpu"); /* sorted by name */
    (void)expect_resource(&set, "nvidia.com/gpu", 1);
    (void)expect_resource(&set, "nvidia.com/mig-3g.40gb", 1);
    (void)expect_resource(&set, "nvidia.com/mig-1g.10gb.me", 1);
    (void)expect_resource(&set, "nvidia.com/mig-1g.10gb", 2);
    assert_int_equal(set.n_warnings, 1);
    assert_non_null(strstr(set.warnings[0], "GPU 2"));
    gdp_resource_set_done(&set);
}

static void
mixed_rejects_partial_compute_profiles(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, true);
    (void)add_mig(&f, "1c.2g.10gb", 2, 1);
    assert_int_equal(gdp_resources_build(&f.node, GDP_MIG_MIXED, &set, &diag), GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "1c.2g.10gb"));
    gdp_resource_set_done(&set);
}

static void
socket_names_follow_nvidia(void **state _unused_)
{
    char buf[96];
    assert_int_equal(gdp_resource_socket_name("nvidia.com/gpu", buf, sizeof buf), 0);
    assert_string_equal(buf, "nvidia-gpu.sock");
    assert_int_equal(gdp_resource_socket_name("nvidia.com/mig-1g.5gb", buf, sizeof buf), 0);
    assert_string_equal(buf, "nvidia-mig-1g.5gb.sock");
    assert_int_equal(gdp_resource_socket_name("nvidia.com/gpu", buf, 8), -ENAMETOOLONG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(none_advertises_mig_gpus_whole),
            cmocka_unit_test(single_uniform_mig_is_gpu),
            cmocka_unit_test(single_without_mig_is_like_none),
            cmocka_unit_test(single_errors),
            cmocka_unit_test(mixed_names_per_profile),
            cmocka_unit_test(mixed_rejects_partial_compute_profiles),
            cmocka_unit_test(socket_names_follow_nvidia),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
