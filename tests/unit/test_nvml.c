/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for nvml/ and gpu/discover.c against the mock NVML library (MOCK_NVML_LIB, set
 * by CMake): library resolution under a driver root, load and symbol failures, discovery.
 */
#include <errno.h>
#include <limits.h>
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

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "nvml/nvml.h"

static char root[PATH_MAX];

static int
make_root(void **state _unused_)
{
    (void)snprintf(root, sizeof root, "/tmp/gdp-nvml-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int
remove_root(void **state _unused_)
{
    _cleanup_free_ char *cmd = gdp_asprintf("rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Links <root>/<dir>/libnvidia-ml.so.1 to target. */
static void
link_library(const char *dir, const char *target)
{
    _cleanup_free_ char *cmd =
            gdp_asprintf("mkdir -p '%s%s' && ln -sf '%s' '%s%s/libnvidia-ml.so.1'", root, dir,
                         target, root, dir);
    assert_int_equal(system(cmd), 0);
}

static void
library_path_search_order(void **state _unused_)
{
    _cleanup_free_ char *bare = gdp_nvml_library_path("/");
    _cleanup_free_ char *empty = gdp_nvml_library_path("");
    _cleanup_free_ char *missing = gdp_nvml_library_path(root);
    assert_string_equal(bare, "libnvidia-ml.so.1");
    assert_string_equal(empty, "libnvidia-ml.so.1");
    assert_string_equal(missing, "libnvidia-ml.so.1");
    link_library("/lib64", MOCK_NVML_LIB);
    link_library("/usr/lib/x86_64-linux-gnu", "/nonexistent/lib.so");
    link_library("/usr/lib64", MOCK_NVML_LIB);
    char real[PATH_MAX];
    assert_non_null(realpath(MOCK_NVML_LIB, real));
    /* /usr/lib64 comes first; a dangling link further down is never looked at */
    _cleanup_free_ char *found = gdp_nvml_library_path(root);
    assert_string_equal(found, real);
}

static void
open_reports_missing_library(void **state _unused_)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml *nv = NULL;
    _cleanup_free_ char *dir = gdp_asprintf("%s/none", root);
    /* a non-existent root resolves to the bare soname, which the loader cannot find */
    assert_int_equal(gdp_nvml_open(dir, &nv, &diag), GDP_E_NVML_MISSING);
    assert_null(nv);
    assert_non_null(strstr(diag.msg, "cannot load libnvidia-ml.so.1"));
}

static void
open_reports_missing_required_symbol(void **state _unused_)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml *nv = NULL;
    _cleanup_free_ char *dir = gdp_asprintf("%s/libm", root);
    _cleanup_free_ char *cmd =
            gdp_asprintf("mkdir -p '%s/usr/lib64' && ln -sf "
                         "\"$(ldconfig -p | awk '/libm\\.so\\.6 .*x86-64/ "
                         "{print $NF; exit}')\" '%s/usr/lib64/libnvidia-ml.so.1'",
                         dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(gdp_nvml_open(dir, &nv, &diag), -ENOSYS);
    assert_non_null(strstr(diag.msg, "required symbol nvmlInit_v2 not found"));
}

static struct gdp_nvml *
open_mock(const char *node)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml *nv = NULL;
    assert_int_equal(setenv("MOCK_NVML_NODE", node, 1), 0);
    link_library("/usr/lib64", MOCK_NVML_LIB);
    int r = gdp_nvml_open(root, &nv, &diag);
    if (r < 0) {
        fail_msg("gdp_nvml_open: %s", diag.msg);
    }
    return nv;
}

static void
discover_mixed_mig_node(void **state _unused_)
{
    struct gdp_nvml *nv = open_mock(MOCK_NVML_NODES "/h100x2-mig-mixed.yaml");
    struct gdp_diag diag = {0};
    struct gdp_node *node = NULL;
    assert_int_equal(gdp_discover(nv, NULL, &node, &diag), 0);
    assert_int_equal(node->n_gpus, 2);
    assert_int_equal(node->n_devices, 2 + 4 + 3);
    assert_string_equal(node->driver_version, "550.54.15");
    assert_int_equal(node->cuda_version, 12040);
    const struct gdp_device *gpu0 = &node->devices[0];
    assert_int_equal(gpu0->kind, GDP_DEVICE_GPU);
    assert_true(gpu0->mig_capable && gpu0->mig_enabled);
    assert_int_equal(gpu0->n_mig, 4);
    assert_int_equal(gpu0->cc_major, 9);
    assert_string_equal(gpu0->bus_id, "0000:18:00.0");
    const struct gdp_device *m = &node->devices[1];
    assert_int_equal(m->kind, GDP_DEVICE_MIG);
    assert_int_equal(m->parent, 0);
    assert_string_equal(m->index_str, "0:0");
    assert_string_equal(m->profile, "3g.40gb");
    assert_int_equal(m->gi_slices, 3);
    assert_true(m->healthy);
    assert_ptr_equal(gdp_device_gpu(node, m), gpu0);
    /* MIG devices come right after their GPU */
    assert_int_equal(node->devices[5].kind, GDP_DEVICE_GPU);
    assert_string_equal(node->devices[5].index_str, "1");
    gdp_node_free(node);
    gdp_nvml_free(nv);
}

int
main(void)
{
    /* The mock reads its node file once per process: one mock-backed test per run. */
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(library_path_search_order),
            cmocka_unit_test(open_reports_missing_library),
            cmocka_unit_test(open_reports_missing_required_symbol),
            cmocka_unit_test(discover_mixed_mig_node),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
