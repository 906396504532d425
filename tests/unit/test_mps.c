/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for resource/mps.c: the MPS client limit by compute capability, the paths under
 * an MPS root, which resources count as MPS-shared, the start-up checks (MIG devices, replicas
 * above the client limit), the control daemon's plan (memory / replicas in MiB, 100 / replicas
 * percent, CUDA_VISIBLE_DEVICES order) and the Allocate additions (reference sections 5.6, 9).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/allocate.h"
#include "resource/mps.h"
#include "resource/paths.h"
#include "resource/resources.h"
#include "resource/snapshot.h"

#define GPU0  "GPU-8f3c1a52-0000-4000-8000-000000000000"
#define GPU1  "GPU-0b7d2e91-0000-4000-8000-000000000001"
#define GPU2  "GPU-77aa0000-0000-4000-8000-000000000002"
#define MIG10 "MIG-5d1e7c33-0000-4000-8000-000000000010"
#define GIB   ((uint64_t)1 << 30)

struct fixture {
    struct gdp_node node;
    struct gdp_device devices[4];
    struct gdp_rdev rdevs[16];
    struct gdp_resource res;
    struct gdp_resource_set set;
    struct gdp_snapshot snap; /* its cfg is the configuration under test */
};

static void
add_device(struct fixture *f, const char *uuid, unsigned index, uint64_t mem, int cc_major)
{
    struct gdp_device *d = &f->devices[f->node.n_devices++];
    *d = (struct gdp_device){.kind = GDP_DEVICE_GPU,
                             .index = index,
                             .parent = -1,
                             .memory_bytes = mem,
                             .cc_major = cc_major,
                             .cc_minor = 0,
                             .healthy = true};
    (void)gdp_strlcpy(d->uuid, uuid, sizeof d->uuid);
    (void)snprintf(d->index_str, sizeof d->index_str, "%u", index);
}

/* replicas > 0: that many "<uuid>::<k>" devices; 0: the whole device. */
static void
add_replicas(struct fixture *f, size_t dev, unsigned replicas)
{
    for (unsigned k = 0; k < (replicas == 0 ? 1 : replicas); k++) {
        struct gdp_rdev *rd = &f->rdevs[f->res.n_devices++];
        *rd = (struct gdp_rdev){.dev = &f->devices[dev], .replica = k, .replicas = replicas};
        char *id = replicas == 0 ? gdp_strdup(f->devices[dev].uuid)
                                 : gdp_asprintf("%s::%u", f->devices[dev].uuid, k);
        (void)gdp_strlcpy(rd->id, id, sizeof rd->id);
        free(id);
    }
}

/* GPU 0 (40 GiB, cc 8.0) and GPU 1 (80 GiB, cc 8.0) with 4 replicas each; GPU 2 whole. */
static int
setup(void **state)
{
    struct fixture *f = gdp_calloc(1, sizeof *f);
    f->node.devices = f->devices;
    add_device(f, GPU0, 0, 40 * GIB, 8);
    add_device(f, GPU1, 1, 80 * GIB, 8);
    add_device(f, GPU2, 2, 16 * GIB, 7);
    add_device(f, MIG10, 0, 10 * GIB, 8);
    f->devices[3].kind = GDP_DEVICE_MIG;
    (void)strcpy(f->res.name, "nvidia.com/gpu");
    f->res.devices = f->rdevs;
    add_replicas(f, 0, 4);
    add_replicas(f, 1, 4);
    add_replicas(f, 2, 0);
    f->set = (struct gdp_resource_set){.resources = &f->res, .n_resources = 1};
    gdp_config_init(&f->snap.cfg);
    f->snap.cfg.sharing.strategy = GDP_SHARING_MPS;
    free(f->snap.cfg.mps_root);
    f->snap.cfg.mps_root = gdp_strdup("/run/nvidia/mps");
    f->snap.inv.node = &f->node;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    gdp_config_done(&f->snap.cfg);
    free(f);
    return 0;
}

static void
client_limit_by_compute_capability(void **state _unused_)
{
    assert_int_equal(gdp_mps_max_clients(7, 5), 48);
    assert_int_equal(gdp_mps_max_clients(8, 0), 48);
    assert_int_equal(gdp_mps_max_clients(9, 0), 48);
    assert_int_equal(gdp_mps_max_clients(7, 0), 16);
    assert_int_equal(gdp_mps_max_clients(6, 1), 16);
}

static void
paths_under_root(void **state _unused_)
{
    char *p = gdp_mps_pipe_dir("/run/nvidia/mps", "nvidia.com/gpu");
    assert_string_equal(p, "/run/nvidia/mps/nvidia.com/gpu/pipe");
    free(p);
    p = gdp_mps_log_dir("/mps/", "nvidia.com/gpu.shared");
    assert_string_equal(p, "/mps/nvidia.com/gpu.shared/log");
    free(p);
    p = gdp_mps_started_path("/mps", "nvidia.com/gpu");
    assert_string_equal(p, "/mps/nvidia.com/gpu/.started");
    free(p);
    p = gdp_mps_ready_path("/mps");
    assert_string_equal(p, "/mps/.ready");
    free(p);
    p = gdp_mps_shm_dir("/run/nvidia/mps");
    assert_string_equal(p, "/run/nvidia/mps/shm");
    free(p);
}

static void
shared_needs_mps_and_replicas(void **state)
{
    struct fixture *f = *state;
    assert_true(gdp_mps_shared(&f->snap.cfg, &f->res));
    f->snap.cfg.sharing.strategy = GDP_SHARING_TIME_SLICING;
    assert_false(gdp_mps_shared(&f->snap.cfg, &f->res));
    f->snap.cfg.sharing.strategy = GDP_SHARING_MPS;
    struct gdp_resource whole = {.name = "nvidia.com/gpu", .devices = &f->rdevs[8], .n_devices = 1};
    assert_false(gdp_mps_shared(&f->snap.cfg, &whole));
}

static void
check_accepts_limits(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), 0);
    for (size_t i = 0; i < f->res.n_devices; i++) {
        if (f->rdevs[i].replicas > 0) {
            f->rdevs[i].replicas = 48; /* the count only matters, not the number of entries */
        }
    }
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), 0);
}

static void
check_refuses_replicas_above_client_limit(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    f->rdevs[4].replicas = 49; /* GPU1, cc 8.0: 48 clients */
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "maximum allowed replicas exceeded"));
    assert_non_null(strstr(diag.msg, GPU1));
    assert_non_null(strstr(diag.msg, "at most 48"));
    /* A pre-7.5 GPU allows 16 clients. */
    f->rdevs[4].replicas = 4;
    f->rdevs[8].replicas = 17;
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "at most 16"));
    assert_non_null(strstr(diag.msg, "7.0"));
    /* Not MPS: nothing to check. */
    f->snap.cfg.sharing.strategy = GDP_SHARING_TIME_SLICING;
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), 0);
}

static void
check_refuses_mig_devices(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    f->rdevs[0].dev = &f->devices[3]; /* a replica */
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "sharing using MPS is not supported for MIG devices"));
    assert_non_null(strstr(diag.msg, MIG10));
}

static void
plan_limits_from_replicas(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct gdp_mps_plan plan = {0};
    assert_int_equal(gdp_mps_plan_build(&f->snap.cfg, &f->set, &plan, &diag), 0);
    assert_int_equal(plan.n_daemons, 1);
    const struct gdp_mps_daemon_plan *d = &plan.daemons[0];
    assert_string_equal(d->resource, "nvidia.com/gpu");
    assert_int_equal(d->n_gpus, 2); /* the whole GPU 2 is not the daemon's */
    assert_string_equal(d->visible_devices, GPU0 "," GPU1);
    assert_int_equal(d->gpus[0].ordinal, 0);
    assert_int_equal(d->gpus[0].mem_limit_mb, 10240); /* 40 GiB / 4 */
    assert_int_equal(d->gpus[1].ordinal, 1);
    assert_int_equal(d->gpus[1].mem_limit_mb, 20480); /* 80 GiB / 4 */
    assert_int_equal(d->thread_percent, 25);
    gdp_mps_plan_done(&plan);
}

static void
plan_thread_percent_from_most_replicas(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct gdp_mps_plan plan = {0};
    for (size_t i = 4; i < 8; i++) {
        f->rdevs[i].replicas = 3; /* GPU1 with 3 replicas (an override), GPU0 keeps 4 */
    }
    f->devices[1].memory_bytes = UINT64_C(1000000000); /* not a MiB multiple: rounded down */
    assert_int_equal(gdp_mps_plan_build(&f->snap.cfg, &f->set, &plan, &diag), 0);
    assert_int_equal(plan.daemons[0].thread_percent, 25);
    assert_int_equal(plan.daemons[0].gpus[1].mem_limit_mb, 317); /* 1e9 / 3 / 2^20 */
    gdp_mps_plan_done(&plan);
    f->snap.cfg.sharing.strategy = GDP_SHARING_TIME_SLICING;
    assert_int_equal(gdp_mps_plan_build(&f->snap.cfg, &f->set, &plan, &diag), 0);
    assert_int_equal(plan.n_daemons, 0);
    gdp_mps_plan_done(&plan);
}

static const char *
env_of(const struct gdp_container_alloc *a, const char *key)
{
    for (size_t i = 0; i < a->n_envs; i++) {
        if (streq(a->envs[i].key, key)) {
            return a->envs[i].value;
        }
    }
    return NULL;
}

static void
allocate_adds_pipe_env_and_mounts(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct gdp_container_alloc a = {0};
    const char *ids[] = {GPU1 "::2"};
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR;
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, ids, 1, &a, &diag), 0);
    assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), GPU1);
    assert_string_equal(env_of(&a, "CUDA_MPS_PIPE_DIRECTORY"), "/mps/nvidia.com/gpu/pipe");
    assert_int_equal(a.n_mounts, 2);
    assert_string_equal(a.mounts[0].host_path, "/run/nvidia/mps/nvidia.com/gpu/pipe");
    assert_string_equal(a.mounts[0].container_path, "/mps/nvidia.com/gpu/pipe");
    assert_string_equal(a.mounts[1].host_path, "/run/nvidia/mps/shm");
    assert_string_equal(a.mounts[1].container_path, "/dev/shm");
    gdp_container_alloc_done(&a);
}

static void
allocate_whole_gpu_of_mps_resource_adds_nothing(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct gdp_container_alloc a = {0};
    const char *ids[] = {GPU2};
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR;
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, ids, 1, &a, &diag), 0);
    assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), GPU2);
    assert_null(env_of(&a, "CUDA_MPS_PIPE_DIRECTORY"));
    assert_int_equal(a.n_mounts, 0);
    gdp_container_alloc_done(&a);
    /* a whole MIG device next to MPS replicas is not refused either */
    f->rdevs[f->res.n_devices - 1].dev = &f->devices[3];
    assert_int_equal(gdp_mps_check(&f->snap.cfg, &f->set, &diag), 0);
    const struct gdp_device *mig[] = {&f->devices[3]};
    assert_int_equal(gdp_mps_applies(&f->snap.cfg, &f->res, mig, 1, &diag), 0);
}

static void
allocate_without_mps_adds_nothing(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct gdp_container_alloc a = {0};
    const char *ids[] = {GPU1 "::2"};
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR;
    f->snap.cfg.sharing.strategy = GDP_SHARING_TIME_SLICING;
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, ids, 1, &a, &diag), 0);
    assert_null(env_of(&a, "CUDA_MPS_PIPE_DIRECTORY"));
    assert_int_equal(a.n_mounts, 0);
    gdp_container_alloc_done(&a);
}

static void
allocate_refuses_mig_and_missing_root(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct gdp_container_alloc a = {0};
    const struct gdp_device *mig[] = {&f->devices[3]};
    f->rdevs[0].dev = &f->devices[3]; /* a replica */
    assert_int_equal(gdp_mps_applies(&f->snap.cfg, &f->res, mig, 1, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "not supported for MIG devices"));
    const struct gdp_device *gpu[] = {&f->devices[0]};
    free(f->snap.cfg.mps_root);
    f->snap.cfg.mps_root = gdp_strdup("");
    assert_int_equal(gdp_mps_applies(&f->snap.cfg, &f->res, gpu, 1, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "--mps-root"));
    /* and Allocate says so, with nothing half-built */
    const char *ids[] = {GPU1 "::0"};
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, ids, 1, &a, &diag), -EINVAL);
    assert_int_equal(a.n_envs + a.n_mounts, 0);
}

static void
ready_waits_for_started_marker(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    char root[] = "/tmp/gdp-mps-XXXXXX";
    assert_non_null(mkdtemp(root));
    char *unset = f->snap.cfg.mps_root_ctr_override;
    f->snap.cfg.mps_root_ctr_override = root; /* GDP_MPS_ROOT_CTR */
    assert_int_equal(gdp_mps_ready(&f->snap.cfg, "nvidia.com/gpu", &diag), -EAGAIN);
    assert_non_null(strstr(diag.msg, "not ready"));
    assert_non_null(strstr(diag.msg, ".started"));
    char *dir = gdp_asprintf("%s/nvidia.com/gpu", root);
    char *parent = gdp_asprintf("%s/nvidia.com", root);
    char *marker = gdp_mps_started_path(root, "nvidia.com/gpu");
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    FILE *fp = fopen(marker, "w");
    assert_non_null(fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(gdp_mps_ready(&f->snap.cfg, "nvidia.com/gpu", &diag), 0);
    assert_int_equal(unlink(marker), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(parent), 0);
    assert_int_equal(rmdir(root), 0);
    f->snap.cfg.mps_root_ctr_override = unset;
    free(marker);
    free(parent);
    free(dir);
}

static void
ready_without_root_is_invalid(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct stat st;
    if (stat(GDP_MPS_CONTAINER_ROOT, &st) == 0) {
        skip(); /* this machine has a /mps: it would be used */
    }
    free(f->snap.cfg.mps_root);
    f->snap.cfg.mps_root = NULL;
    assert_int_equal(gdp_mps_ready(&f->snap.cfg, "nvidia.com/gpu", &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "--mps-root"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(client_limit_by_compute_capability),
            cmocka_unit_test(paths_under_root),
            cmocka_unit_test_setup_teardown(shared_needs_mps_and_replicas, setup, teardown),
            cmocka_unit_test_setup_teardown(check_accepts_limits, setup, teardown),
            cmocka_unit_test_setup_teardown(check_refuses_replicas_above_client_limit, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(check_refuses_mig_devices, setup, teardown),
            cmocka_unit_test_setup_teardown(plan_limits_from_replicas, setup, teardown),
            cmocka_unit_test_setup_teardown(plan_thread_percent_from_most_replicas, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(allocate_adds_pipe_env_and_mounts, setup, teardown),
            cmocka_unit_test_setup_teardown(allocate_without_mps_adds_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(allocate_whole_gpu_of_mps_resource_adds_nothing, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(allocate_refuses_mig_and_missing_root, setup, teardown),
            cmocka_unit_test_setup_teardown(ready_waits_for_started_marker, setup, teardown),
            cmocka_unit_test_setup_teardown(ready_without_root_is_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
