/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for resource/resources.c and resource/replicas.c: NVIDIA's MIG strategies on
 * hand-built nodes, then time-slicing/MPS replication from config files (all, count, list,
 * rename, renameByDefault, our per-device overrides) and its errors.
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

/* Builds the set under MIG strategy s and, when yaml is not NULL, that config file. */
static int
build_with(const struct gdp_node *node, enum gdp_mig_strategy s, const char *yaml,
           struct gdp_resource_set *set, struct gdp_diag *diag)
{
    struct gdp_config cfg;
    gdp_config_init(&cfg);
    cfg.mig_strategy = s;
    if (yaml != NULL) {
        int r = gdp_config_load_buffer(&cfg, "test.yaml", yaml, strlen(yaml), diag);
        if (r != 0) {
            print_error("config: %s\n", diag->msg);
        }
        assert_int_equal(r, 0);
    }
    int r = gdp_resources_build(node, &cfg, set, diag);
    gdp_config_done(&cfg);
    return r;
}

static int
build(const struct gdp_node *node, enum gdp_mig_strategy s, struct gdp_resource_set *set,
      struct gdp_diag *diag)
{
    return build_with(node, s, NULL, set, diag);
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
    assert_int_equal(build(&f.node, GDP_MIG_NONE, &set, &diag), 0);
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
    assert_int_equal(build(&f.node, GDP_MIG_SINGLE, &set, &diag), 0);
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
    assert_int_equal(build(&f.node, GDP_MIG_SINGLE, &set, &diag), 0);
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
    assert_int_equal(build(&mixed_types.node, GDP_MIG_SINGLE, &set, &diag), GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "more than one MIG device type present on node"));
    gdp_resource_set_done(&set);

    struct fixture mixed_modes = {0};
    (void)add_gpu(&mixed_modes, false);
    (void)add_gpu(&mixed_modes, true);
    (void)add_mig(&mixed_modes, "1g.5gb", 1, 1);
    assert_int_equal(build(&mixed_modes.node, GDP_MIG_SINGLE, &set, &diag), GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "same migEnabled value"));
    gdp_resource_set_done(&set);

    struct fixture empty = {0};
    (void)add_gpu(&empty, true);
    assert_int_equal(build(&empty.node, GDP_MIG_SINGLE, &set, &diag), GDP_E_MIG);
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
    assert_int_equal(build(&f.node, GDP_MIG_MIXED, &set, &diag), 0);
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
    assert_int_equal(build(&f.node, GDP_MIG_MIXED, &set, &diag), GDP_E_MIG);
    assert_non_null(strstr(diag.msg, "1c.2g.10gb"));
    gdp_resource_set_done(&set);
}

/* --- replication ------------------------------------------------------------------------- */

static void
name_gpu(struct gdp_device *d, const char *product)
{
    (void)gdp_strlcpy(d->name, product, sizeof d->name);
}

static void
expect_replicas(const struct gdp_resource *r, size_t first, const struct gdp_device *d, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        const struct gdp_rdev *rd = &r->devices[first + k];
        char id[GDP_DEVICE_ID_MAX];
        (void)snprintf(id, sizeof id, "%s::%u", d->uuid, k);
        assert_string_equal(rd->id, id);
        assert_ptr_equal(rd->dev, d);
        assert_int_equal(rd->replica, k);
        assert_int_equal(rd->replicas, n);
    }
}

static void
time_slicing_replicates_every_gpu(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    for (int g = 0; g < 3; g++) {
        (void)add_gpu(&f, false);
    }
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "version: v1\n"
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    resources:\n"
                                "    - name: nvidia.com/gpu\n"
                                "      replicas: 4\n",
                                &set, &diag),
                     0);
    assert_int_equal(set.n_resources, 1);
    const struct gdp_resource *r = expect_resource(&set, "nvidia.com/gpu", 12);
    for (size_t g = 0; g < 3; g++) {
        expect_replicas(r, 4 * g, &f.devices[g], 4);
    }
    assert_int_equal(set.n_warnings, 0);
    gdp_resource_set_done(&set);
}

static void
rename_by_default_and_rename(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    (void)add_gpu(&f, false);
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    renameByDefault: true\n"
                                "    resources:\n"
                                "    - name: gpu\n"
                                "      replicas: 2\n",
                                &set, &diag),
                     0);
    assert_int_equal(set.n_resources, 1);
    expect_replicas(expect_resource(&set, "nvidia.com/gpu.shared", 4), 2, &f.devices[1], 2);
    gdp_resource_set_done(&set);

    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    renameByDefault: true\n"
                                "    resources:\n"
                                "    - name: gpu\n"
                                "      rename: gpu-sliced\n"
                                "      replicas: 3\n",
                                &set, &diag),
                     0);
    assert_int_equal(set.n_resources, 1);
    expect_replicas(expect_resource(&set, "nvidia.com/gpu-sliced", 6), 0, &f.devices[0], 3);
    gdp_resource_set_done(&set);
}

static void
devices_count_and_list_leave_the_rest_whole(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    for (int g = 0; g < 4; g++) {
        (void)add_gpu(&f, false);
    }
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    renameByDefault: true\n"
                                "    resources:\n"
                                "    - name: gpu\n"
                                "      devices: 2\n"
                                "      replicas: 2\n",
                                &set, &diag),
                     0);
    assert_int_equal(set.n_resources, 2);
    const struct gdp_resource *whole = expect_resource(&set, "nvidia.com/gpu", 2);
    assert_string_equal(whole->devices[0].id, f.devices[2].uuid);
    assert_int_equal(whole->devices[0].replicas, 0);
    assert_string_equal(whole->devices[1].id, f.devices[3].uuid);
    const struct gdp_resource *shared = expect_resource(&set, "nvidia.com/gpu.shared", 4);
    expect_replicas(shared, 0, &f.devices[0], 2);
    expect_replicas(shared, 2, &f.devices[1], 2);
    gdp_resource_set_done(&set);

    /* by index and by UUID, without a rename: shared and whole under one name */
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    resources:\n"
                                "    - name: gpu\n"
                                "      devices: [\"3\", GPU-00000001-0000-0000-0000-000000000000]\n"
                                "      replicas: 2\n",
                                &set, &diag),
                     0);
    const struct gdp_resource *r = expect_resource(&set, "nvidia.com/gpu", 6);
    assert_string_equal(r->devices[0].id, f.devices[0].uuid);
    expect_replicas(r, 1, &f.devices[1], 2);
    assert_string_equal(r->devices[3].id, f.devices[2].uuid);
    expect_replicas(r, 4, &f.devices[3], 2);
    gdp_resource_set_done(&set);
}

/* docs/config.md's example: GPUs 0-1 whole, H100s 8 ways under their own name, others 4. */
static void
overrides_per_index_and_product(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    for (int g = 0; g < 6; g++) {
        name_gpu(add_gpu(&f, false), g < 4 ? "NVIDIA A100-SXM4-40GB" : "NVIDIA H100 80GB HBM3");
    }
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    renameByDefault: true\n"
                                "    resources:\n"
                                "    - name: nvidia.com/gpu\n"
                                "      replicas: 4\n"
                                "      overrides:\n"
                                "      - devices: [\"0\", \"1\"]\n"
                                "        replicas: 1\n"
                                "      - product: \"*H100*\"\n"
                                "        replicas: 8\n"
                                "        rename: gpu.h100-shared\n",
                                &set, &diag),
                     0);
    assert_int_equal(set.n_resources, 3);
    const struct gdp_resource *whole = expect_resource(&set, "nvidia.com/gpu", 2);
    assert_string_equal(whole->devices[1].id, f.devices[1].uuid);
    const struct gdp_resource *shared = expect_resource(&set, "nvidia.com/gpu.shared", 8);
    expect_replicas(shared, 0, &f.devices[2], 4);
    expect_replicas(shared, 4, &f.devices[3], 4);
    const struct gdp_resource *h100 = expect_resource(&set, "nvidia.com/gpu.h100-shared", 16);
    expect_replicas(h100, 8, &f.devices[5], 8);
    assert_string_equal(set.resources[0].name, "nvidia.com/gpu"); /* still sorted */
    gdp_resource_set_done(&set);
}

static void
mig_replicas_under_mixed(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    (void)add_gpu(&f, true);
    const struct gdp_device *m0 = add_mig(&f, "1g.5gb", 1, 1);
    const struct gdp_device *m1 = add_mig(&f, "1g.5gb", 1, 1);
    (void)add_mig(&f, "3g.20gb", 3, 3);
    assert_int_equal(build_with(&f.node, GDP_MIG_MIXED,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    resources:\n"
                                "    - name: mig-1g.5gb\n"
                                "      devices: [\"1:0\", \"1:1\"]\n"
                                "      replicas: 2\n"
                                "    - name: mig-3g.20gb\n"
                                "      rename: mig-3g.20gb.shared\n"
                                "      replicas: 3\n"
                                "    - name: mig-7g.40gb\n" /* not on this node: a warning */
                                "      replicas: 2\n",
                                &set, &diag),
                     0);
    assert_int_equal(set.n_resources, 3);
    (void)expect_resource(&set, "nvidia.com/gpu", 1);
    const struct gdp_resource *r = expect_resource(&set, "nvidia.com/mig-1g.5gb", 4);
    expect_replicas(r, 0, m0, 2);
    expect_replicas(r, 2, m1, 2);
    (void)expect_resource(&set, "nvidia.com/mig-3g.20gb.shared", 3);
    assert_int_equal(set.n_warnings, 1);
    assert_non_null(strstr(set.warnings[0], "nvidia.com/mig-7g.40gb"));
    gdp_resource_set_done(&set);
}

static void
mps_replicates_like_time_slicing(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  mps:\n"
                                "    resources:\n"
                                "    - name: gpu\n"
                                "      replicas: 10\n",
                                &set, &diag),
                     0);
    expect_replicas(expect_resource(&set, "nvidia.com/gpu", 10), 0, &f.devices[0], 10);
    gdp_resource_set_done(&set);
}

struct share_error {
    enum gdp_mig_strategy strategy;
    bool mig; /* node: GPU 0 whole, GPU 1 with MIG 1g.5gb x2 and 2g.10gb; else 3 GPUs */
    const char *yaml;
    const char *message;
};

static const struct share_error share_errors[] = {
        {GDP_MIG_NONE, false, "    - {name: gpu, replicas: 2, devices: [\"0\", \"9\"]}\n",
         "test.yaml:3:5: sharing.timeSlicing.resources[0]: no matching device at index 9 among "
         "the nvidia.com/gpu devices"},
        {GDP_MIG_NONE, false,
         "    - {name: gpu, replicas: 2, devices: [GPU-00000007-0000-0000-0000-000000000000]}\n",
         "no matching device with UUID GPU-00000007-0000-0000-0000-000000000000"},
        {GDP_MIG_NONE, false, "    - {name: gpu, replicas: 2, devices: 4}\n",
         "sharing.timeSlicing.resources[0]: requested 4 devices to be replicated, but only 3 "
         "devices available for nvidia.com/gpu"},
        {GDP_MIG_NONE, false,
         "    - {name: gpu, replicas: 2, overrides: [{devices: [\"5\"], replicas: 4}]}\n",
         "resources[0]: overrides[0]: no matching device at index 5"},
        {GDP_MIG_NONE, false,
         "    - {name: gpu, replicas: 2, devices: [\"0\", \"1\"]}\n"
         "    - {name: gpu, replicas: 4, devices: [\"1\", \"2\"]}\n",
         "sharing.timeSlicing.resources[1]: device 1 (GPU-00000001-0000-0000-0000-000000000000) "
         "is already selected by resources[0]"},
        {GDP_MIG_MIXED, true, "    - {name: mig-1g.5gb, replicas: 2, rename: gpu}\n",
         "sharing: resource nvidia.com/gpu would hold both GPUs and MIG devices"},
        {GDP_MIG_MIXED, true, "    - {name: mig-1g.5gb, replicas: 2, rename: mig-2g.10gb}\n",
         "sharing: resource nvidia.com/mig-2g.10gb would hold MIG devices of different profiles"},
};

static void
replication_errors(void **state _unused_)
{
    for (size_t i = 0; i < ELEMENTSOF(share_errors); i++) {
        const struct share_error *e = &share_errors[i];
        struct fixture f = {0};
        struct gdp_diag diag = {0};
        struct gdp_resource_set set;
        (void)add_gpu(&f, false);
        (void)add_gpu(&f, e->mig);
        if (e->mig) {
            (void)add_mig(&f, "1g.5gb", 1, 1);
            (void)add_mig(&f, "1g.5gb", 1, 1);
            (void)add_mig(&f, "2g.10gb", 2, 2);
        } else {
            (void)add_gpu(&f, false);
        }
        _cleanup_free_ char *yaml =
                gdp_asprintf("sharing:\n  timeSlicing:\n    resources:\n%s", e->yaml);
        int r = build_with(&f.node, e->strategy, yaml, &set, &diag);
        gdp_resource_set_done(&set);
        if (r != GDP_E_CONFIG || strstr(diag.msg, e->message) == NULL) {
            print_error("case %zu: %d %s\n", i, r, diag.msg);
        }
        assert_int_equal(r, GDP_E_CONFIG);
        assert_non_null(strstr(diag.msg, e->message));
    }
}

static void
rename_by_default_too_long(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    /* 63 characters are a valid name; ".shared" makes it too long to advertise */
    assert_int_equal(build_with(&f.node, GDP_MIG_NONE,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    renameByDefault: true\n"
                                "    resources:\n"
                                "    - {name: gpu, replicas: 2, overrides: [{devices: [\"0\"], "
                                "rename: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]}\n",
                                &set, &diag),
                     0);
    (void)expect_resource(&set, "nvidia.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                          2);
    gdp_resource_set_done(&set);
    struct gdp_config cfg;
    gdp_config_init(&cfg);
    const char *yaml = "sharing:\n"
                       "  timeSlicing:\n"
                       "    resources:\n"
                       "    - {name: gpu, replicas: 2}\n";
    assert_int_equal(gdp_config_load_buffer(&cfg, "t.yaml", yaml, strlen(yaml), &diag), 0);
    /* as the config layer would build it for a 63-character name with renameByDefault */
    free(cfg.sharing.time_slicing.resources[0].rename);
    cfg.sharing.time_slicing.resources[0].rename =
            gdp_strdup("nvidia.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.shared");
    assert_int_equal(gdp_resources_build(&f.node, &cfg, &set, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "must be 63 characters or less"));
    gdp_resource_set_done(&set);
    gdp_config_done(&cfg);
}

static void
mps_refuses_mig_devices(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, true);
    (void)add_mig(&f, "1g.5gb", 1, 1);
    assert_int_equal(build_with(&f.node, GDP_MIG_SINGLE,
                                "sharing:\n"
                                "  mps:\n"
                                "    resources:\n"
                                "    - {name: gpu, replicas: 2}\n",
                                &set, &diag),
                     GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "sharing.mps.resources[0]: sharing using MPS is not "
                                     "supported for MIG devices: 0:0"));
    gdp_resource_set_done(&set);
}

static void
warnings_are_kept(void **state _unused_)
{
    struct fixture f = {0};
    struct gdp_diag diag = {0};
    struct gdp_resource_set set;
    (void)add_gpu(&f, false);
    (void)add_gpu(&f, true); /* MIG enabled, no MIG devices: a warning under mixed */
    assert_int_equal(build_with(&f.node, GDP_MIG_MIXED,
                                "sharing:\n"
                                "  timeSlicing:\n"
                                "    resources:\n"
                                "    - {name: gpu, replicas: 2}\n",
                                &set, &diag),
                     0);
    (void)expect_resource(&set, "nvidia.com/gpu", 2);
    assert_int_equal(set.n_warnings, 1);
    assert_non_null(strstr(set.warnings[0], "GPU 1"));
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
            cmocka_unit_test(time_slicing_replicates_every_gpu),
            cmocka_unit_test(rename_by_default_and_rename),
            cmocka_unit_test(devices_count_and_list_leave_the_rest_whole),
            cmocka_unit_test(overrides_per_index_and_product),
            cmocka_unit_test(mig_replicas_under_mixed),
            cmocka_unit_test(mps_replicates_like_time_slicing),
            cmocka_unit_test(replication_errors),
            cmocka_unit_test(rename_by_default_too_long),
            cmocka_unit_test(mps_refuses_mig_devices),
            cmocka_unit_test(warnings_are_kept),
            cmocka_unit_test(socket_names_follow_nvidia),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
