/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for labels/ and gpu/vgpu.c: sanitising and value fitting, the label rules on
 * hand-built nodes (mixed models, MIG single layouts, sharing), the feature-file format and
 * its size bound, the atomic write, and vGPU detection from a fake sysfs.
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
#include "gpu/vgpu.h"
#include "labels/labels.h"

static void
sanitise_like_nvidia(void **state _unused_)
{
    char buf[128];
    gdp_labels_sanitise("Tesla P100-PCIE-16GB (Pascal)", buf, sizeof buf);
    assert_string_equal(buf, "Tesla-P100-PCIE-16GB-Pascal");
    gdp_labels_sanitise("  NVIDIA   A100-SXM4-40GB \n", buf, sizeof buf);
    assert_string_equal(buf, "NVIDIA-A100-SXM4-40GB");
    gdp_labels_sanitise("1g.10gb+me", buf, sizeof buf);
    assert_string_equal(buf, "1g.10gbme");
    gdp_labels_sanitise("VMware20,1", buf, sizeof buf);
    assert_string_equal(buf, "VMware201");
    gdp_labels_sanitise("abcdef", buf, 4);
    assert_string_equal(buf, "abc");
}

static void
fit_value_is_valid_and_deterministic(void **state _unused_)
{
    char a[256], b[256], c[256];
    const char *long1 = "NVIDIA-Super-Long-Experimental-Accelerator-Board-With-A-Very-Long-"
                        "Marketing-Name-MIG-1g.10gb-SHARED";
    (void)snprintf(a, sizeof a, "%s", long1);
    (void)snprintf(b, sizeof b, "%s", long1);
    (void)snprintf(c, sizeof c, "%s-x", long1);
    assert_true(gdp_labels_fit_value(a));
    assert_true(gdp_labels_fit_value(b));
    assert_true(gdp_labels_fit_value(c));
    assert_in_range(strlen(a), GDP_LABEL_MAX - 9, GDP_LABEL_MAX);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_true(gdp_labels_valid_value(a));
    assert_int_equal(strncmp(a, long1, 50), 0);

    char d[64] = "-_abc.-";
    assert_false(gdp_labels_fit_value(d));
    assert_string_equal(d, "abc");
    assert_true(gdp_labels_valid_value(""));
    assert_true(gdp_labels_valid_value("a"));
    assert_false(gdp_labels_valid_value("a+b"));
    assert_false(gdp_labels_valid_value("-a"));
}

/* ---- rules on hand-built nodes ---- */

struct fixture {
    struct gdp_node node;
    struct gdp_device dev[8];
    struct gdp_config cfg;
    struct gdp_labels l;
};

static struct gdp_device *
add_gpu(struct fixture *f, const char *name, bool mig)
{
    struct gdp_device *d = &f->dev[f->node.n_devices++];
    *d = (struct gdp_device){.kind = GDP_DEVICE_GPU,
                             .parent = -1,
                             .cc_major = 8,
                             .memory_bytes = (uint64_t)40960 << 20,
                             .mig_capable = mig,
                             .mig_enabled = mig,
                             .pci_class = 0x030200};
    (void)gdp_strlcpy(d->name, name, sizeof d->name);
    return d;
}

static void
add_mig(struct fixture *f, const char *profile)
{
    int parent = (int)f->node.n_devices - 1;
    struct gdp_device *d = &f->dev[f->node.n_devices++];
    *d = (struct gdp_device){.kind = GDP_DEVICE_MIG,
                             .parent = parent,
                             .mig_memory_mib = 4864,
                             .multiprocessors = 14,
                             .gi_slices = 1,
                             .ci_slices = 1,
                             .engines_copy = 1};
    (void)gdp_strlcpy(d->profile, profile, sizeof d->profile);
    f->dev[parent].n_mig++;
}

static int
build(struct fixture *f)
{
    struct gdp_diag diag = {0};
    f->node.devices = f->dev;
    (void)gdp_strlcpy(f->node.driver_version, "550.54.15", sizeof f->node.driver_version);
    f->node.cuda_version = 12040;
    f->cfg.gfd.no_timestamp = true;
    const struct gdp_labels_input in = {.node = &f->node, .cfg = &f->cfg, .machine_type = NULL};
    return gdp_labels_build(&in, &f->l, &diag);
}

static int
setup(void **state)
{
    struct fixture *f = gdp_calloc(1, sizeof *f);
    gdp_config_init(&f->cfg);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    gdp_labels_done(&f->l);
    gdp_config_done(&f->cfg);
    free(f);
    return 0;
}

static bool
has_warning(const struct gdp_labels *l, const char *needle)
{
    for (size_t i = 0; i < l->n_warnings; i++) {
        if (strstr(l->warnings[i], needle) != NULL) {
            return true;
        }
    }
    return false;
}

static void
mixed_models_pick_the_most_gpus(void **state)
{
    struct fixture *f = *state;
    add_gpu(f, "Tesla T4", false);
    add_gpu(f, "NVIDIA A100-SXM4-40GB", false);
    add_gpu(f, "NVIDIA A100-SXM4-40GB", false);
    assert_int_equal(build(f), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.product"), "NVIDIA-A100-SXM4-40GB");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.count"), "2");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.count.Tesla-T4"), "1");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.count.NVIDIA-A100-SXM4-40GB"), "2");
    assert_true(has_warning(&f->l, "2 GPU models"));
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.mode"), "compute");
    /* sorted */
    for (size_t i = 1; i < f->l.n; i++) {
        assert_true(strcmp(f->l.v[i - 1].key, f->l.v[i].key) < 0);
    }
}

static void
mixed_models_tie_goes_to_the_first(void **state)
{
    struct fixture *f = *state;
    add_gpu(f, "Tesla T4", false);
    add_gpu(f, "NVIDIA A100-SXM4-40GB", false);
    f->dev[1].pci_class = 0x030000;
    assert_int_equal(build(f), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.product"), "Tesla-T4");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.mode"), "unknown");
}

static void
full_gpus_win_over_mig_enabled(void **state)
{
    struct fixture *f = *state;
    add_gpu(f, "NVIDIA A100-SXM4-40GB", true);
    add_mig(f, "1g.5gb");
    add_gpu(f, "NVIDIA A100-SXM4-40GB", true);
    add_mig(f, "1g.5gb");
    add_gpu(f, "Tesla T4", false);
    assert_int_equal(build(f), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.product"), "Tesla-T4");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.replicas"), "1");
}

static void
single_strategy_invalid_layouts(void **state)
{
    struct fixture *f = *state;
    f->cfg.mig_strategy = GDP_MIG_SINGLE;
    add_gpu(f, "NVIDIA A100-SXM4-40GB", true);
    add_mig(f, "1g.5gb");
    add_gpu(f, "NVIDIA A100-SXM4-40GB", true);
    add_mig(f, "2g.10gb");
    assert_int_equal(build(f), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.product"),
                        "NVIDIA-A100-SXM4-40GB-MIG-INVALID");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.count"), "0");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.replicas"), "0");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.memory"), "0");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.sharing-strategy"), "");
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/mig.strategy"), "single");
    assert_true(has_warning(&f->l, "more than one MIG device type"));
}

static void
single_strategy_empty_mig_gpu(void **state)
{
    struct fixture *f = *state;
    f->cfg.mig_strategy = GDP_MIG_SINGLE;
    add_gpu(f, "NVIDIA A100-SXM4-40GB", true);
    assert_int_equal(build(f), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.product"),
                        "NVIDIA-A100-SXM4-40GB-MIG-INVALID");
    assert_true(has_warning(&f->l, "enabled but empty"));
}

static void
long_product_is_shortened(void **state)
{
    struct fixture *f = *state;
    add_gpu(f,
            "NVIDIA Super Long Experimental Accelerator Board With A Very Long Marketing "
            "Name (Rev 2)",
            false);
    assert_int_equal(build(f), 0);
    const char *p = gdp_labels_get(&f->l, "nvidia.com/gpu.product");
    assert_non_null(p);
    assert_in_range(strlen(p), GDP_LABEL_MAX - 9, GDP_LABEL_MAX);
    assert_true(gdp_labels_valid_value(p));
    assert_true(has_warning(&f->l, "NVIDIA-Super-Long-Experimental-Accelerator-Board-With-A-"
                                   "Very-Long-Marketing-Name-Rev-2"));
    for (size_t i = 0; i < f->l.n; i++) {
        const char *slash = strchr(f->l.v[i].key, '/');
        assert_true(strlen(slash + 1) <= GDP_LABEL_MAX);
    }
}

static void
clique_only_when_the_fabric_agrees(void **state)
{
    struct fixture *f = *state;
    struct gdp_device *a = add_gpu(f, "NVIDIA H100 80GB HBM3", false);
    struct gdp_device *b = add_gpu(f, "NVIDIA H100 80GB HBM3", false);
    add_gpu(f, "NVIDIA H100 80GB HBM3", false); /* not attached: not considered */
    a->fabric_attached = b->fabric_attached = true;
    a->clique_id = b->clique_id = 7;
    (void)gdp_strlcpy(a->cluster_uuid, "5b0f3c2a-9d1e-4f6b-8a7c-2e3d4c5b6a70",
                      sizeof a->cluster_uuid);
    (void)gdp_strlcpy(b->cluster_uuid, a->cluster_uuid, sizeof b->cluster_uuid);
    assert_int_equal(build(f), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gpu.clique"),
                        "5b0f3c2a-9d1e-4f6b-8a7c-2e3d4c5b6a70.7");
    gdp_labels_done(&f->l);
    b->clique_id = 8;
    assert_int_equal(build(f), 0);
    assert_null(gdp_labels_get(&f->l, "nvidia.com/gpu.clique"));
    assert_true(has_warning(&f->l, "disagree"));
}

static void
bad_driver_version_fails(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    add_gpu(f, "Tesla T4", false);
    f->node.devices = f->dev;
    (void)gdp_strlcpy(f->node.driver_version, "550", sizeof f->node.driver_version);
    const struct gdp_labels_input in = {.node = &f->node, .cfg = &f->cfg};
    assert_int_equal(gdp_labels_build(&in, &f->l, &diag), -EPROTO);
    assert_non_null(strstr(diag.msg, "X.Y[.Z]"));
    (void)gdp_strlcpy(f->node.driver_version, "550.54.15.1", sizeof f->node.driver_version);
    assert_int_equal(gdp_labels_build(&in, &f->l, &diag), -EPROTO);
    gdp_labels_done(&f->l);
    (void)gdp_strlcpy(f->node.driver_version, "560.28.03-beta", sizeof f->node.driver_version);
    assert_int_equal(gdp_labels_build(&in, &f->l, &diag), 0);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/cuda.driver-version.revision"),
                        "03-beta");
}

static void
no_gpus_only_timestamp(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    const struct gdp_labels_input in = {.node = NULL, .cfg = &f->cfg, .now = 1700000000};
    assert_int_equal(gdp_labels_build(&in, &f->l, &diag), 0);
    assert_int_equal(f->l.n, 1);
    assert_string_equal(gdp_labels_get(&f->l, "nvidia.com/gfd.timestamp"), "1700000000");
}

/* ---- file format and writing ---- */

static void
format_has_expiry_and_bound(void **state _unused_)
{
    struct gdp_labels l = {0};
    struct gdp_diag diag = {0};
    gdp_labels_set(&l, "nvidia.com/a", "%s", "1");
    gdp_labels_set(&l, "nvidia.com/b", "%s", "x");
    gdp_labels_set(&l, "nvidia.com/a", "%s", "2");
    _cleanup_free_ char *text = NULL;
    assert_int_equal(gdp_labels_format(&l, 1700000180, &text, &diag), 0);
    assert_string_equal(text,
                        "# +expiry-time=2023-11-14T22:16:20Z\nnvidia.com/a=2\nnvidia.com/b=x\n");
    free(text);
    text = NULL;
    assert_int_equal(gdp_labels_format(&l, 0, &text, &diag), 0);
    assert_string_equal(text, "nvidia.com/a=2\nnvidia.com/b=x\n");
    for (int i = 0; i < 2000; i++) {
        char key[64];
        (void)snprintf(key, sizeof key, "nvidia.com/k%04d", i);
        gdp_labels_set(&l, key, "%s", "0123456789012345678901234567890123456789");
    }
    free(text);
    text = NULL;
    assert_int_equal(gdp_labels_format(&l, 0, &text, &diag), -EMSGSIZE);
    assert_null(text);
    gdp_labels_done(&l);
}

static void
write_file_replaces_atomically(void **state _unused_)
{
    char dir[] = "/tmp/gdp-labels-XXXXXX";
    struct gdp_diag diag = {0};
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = gdp_asprintf("%s/gfd", dir);
    _cleanup_free_ char *tmp = gdp_asprintf("%s/.gfd.tmp", dir);
    assert_int_equal(gdp_labels_write_file(path, "a=1\n", &diag), 0);
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(gdp_labels_write_file(path, "a=2\n", &diag), 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino); /* a new file renamed over, never rewritten */
    assert_int_equal(access(tmp, F_OK), -1);
    _cleanup_free_ char *text = NULL;
    assert_int_equal(gdp_read_file(path, 64, &text), 0);
    assert_string_equal(text, "a=2\n");
    _cleanup_free_ char *missing = gdp_asprintf("%s/no/such/gfd", dir);
    assert_int_equal(gdp_labels_write_file(missing, "a=1\n", &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, missing));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- gpu-feature-discovery's flags through the option table ---- */

/* A writable string, as argv and envp entries are. */
#define W(s) ((char[]){s})

static int
parse_gfd(struct gdp_config *c, char **argv, char **envp, const char *file_text,
          struct gdp_diag *diag)
{
    int argc = 0;
    while (argv[argc] != NULL) {
        argc++;
    }
    gdp_config_init(c);
    int r = gdp_config_parse_args(c, GDP_CMD_GFD, argc, argv, envp, diag);
    if (r >= 0 && file_text != NULL) {
        r = gdp_config_load_buffer(c, "cfg.yaml", file_text, strlen(file_text), diag);
    }
    return r;
}

static void
gfd_flags_env_and_file(void **state _unused_)
{
    struct gdp_config c;
    struct gdp_diag diag = {0};
    char *no_args[] = {NULL};
    char *env[] = {W("MIG_STRATEGY=single"), W("GFD_MIG_STRATEGY=mixed"),
                   W("GFD_SLEEP_INTERVAL=1m30s"), W("USE_NODE_FEATURE_API=false"), NULL};
    assert_int_equal(parse_gfd(&c, no_args, env, NULL, &diag), 0);
    assert_int_equal(c.mig_strategy, GDP_MIG_MIXED); /* GFD_ first, as NVIDIA's GFD */
    assert_int_equal(c.gfd.sleep_interval_ns, INT64_C(90000000000));
    assert_int_equal(c.gfd.use_node_feature_api, 0);
    assert_string_equal(c.gfd.output_file, "/etc/kubernetes/node-feature-discovery/features.d/gfd");
    gdp_config_done(&c);

    /* an explicit flag beats flags.gfd of the file; an unset one takes the file's value */
    char *args[] = {W("-o"), W("/x/gfd"), W("--oneshot=false"), NULL};
    char *no_env[] = {NULL};
    const char *file = "flags:\n  gfd:\n    oneshot: true\n    outputFile: /y\n"
                       "    noTimestamp: true\n    sleepInterval: infinite\n";
    assert_int_equal(parse_gfd(&c, args, no_env, file, &diag), 0);
    assert_string_equal(c.gfd.output_file, "/x/gfd");
    assert_false(c.gfd.oneshot);
    assert_true(c.gfd.no_timestamp);
    assert_int_equal(c.gfd.sleep_interval_ns, GDP_DURATION_INFINITE);
    gdp_config_done(&c);

    /* the plugin does not read GFD's names, and GFD's flags are not the plugin's */
    struct gdp_config s;
    gdp_config_init(&s);
    assert_int_equal(gdp_config_parse_args(&s, GDP_CMD_SERVE, 0, no_args, env, &diag), 0);
    assert_int_equal(s.mig_strategy, GDP_MIG_SINGLE);
    char *oneshot[] = {W("--oneshot"), NULL};
    assert_int_equal(gdp_config_parse_args(&s, GDP_CMD_SERVE, 1, oneshot, no_env, &diag),
                     GDP_E_CONFIG);
    gdp_config_done(&s);

    char *bad[] = {W("--sleep-interval=5 minutes"), NULL};
    assert_int_equal(parse_gfd(&c, bad, no_env, NULL, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "--sleep-interval"));
    gdp_config_done(&c);
}

/* ---- vGPU ---- */

static void
write_device(const char *root, const char *name, const char *vendor, const uint8_t *cfg, size_t len)
{
    _cleanup_free_ char *dir = gdp_asprintf("%s/bus/pci/devices/%s", root, name);
    _cleanup_free_ char *cmd = gdp_asprintf("mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    _cleanup_free_ char *vp = gdp_asprintf("%s/vendor", dir);
    _cleanup_free_ char *cp = gdp_asprintf("%s/config", dir);
    FILE *f = fopen(vp, "w");
    assert_non_null(f);
    (void)fprintf(f, "%s\n", vendor);
    (void)fclose(f);
    f = fopen(cp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(cfg, 1, len, f), len);
    (void)fclose(f);
}

static void
vgpu_from_vendor_capability(void **state _unused_)
{
    char root[] = "/tmp/gdp-vgpu-XXXXXX";
    struct gdp_diag diag = {0};
    struct gdp_vgpu_info info;
    assert_non_null(mkdtemp(root));
    uint8_t cfg[256] = {0x10, 0xde};
    write_device(root, "0000:00:01.0", "0x8086", cfg, sizeof cfg); /* not NVIDIA: skipped */
    cfg[0x06] = 0x10;                                              /* capability list present */
    cfg[0x34] = 0x40;
    const uint8_t cap[] = {0x09, 0x00, 27, 'V', 'F', 0x00, 22,  '4', '6', '0', '.', '1',
                           '6',  0,    0,  0,   0,   'r',  '4', '6', '0', '_', '0', '0'};
    memcpy(cfg + 0x40, cap, sizeof cap);
    write_device(root, "0000:3b:00.0", "0x10de", cfg, sizeof cfg);
    assert_int_equal(gdp_vgpu_probe(root, &info, &diag), 0);
    assert_true(info.present);
    assert_string_equal(info.host_driver_version, "460.16");
    assert_string_equal(info.host_driver_branch, "r460_00");

    write_device(root, "0000:3b:00.0", "0x10de", cfg, 64); /* unprivileged read */
    assert_int_equal(gdp_vgpu_probe(root, &info, &diag), -EACCES);
    assert_non_null(strstr(diag.msg, "privileged"));
    _cleanup_free_ char *rm = gdp_asprintf("rm -rf '%s'", root);
    assert_int_equal(system(rm), 0);
    assert_int_equal(gdp_vgpu_probe(root, &info, &diag), 0);
    assert_false(info.present);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(sanitise_like_nvidia),
            cmocka_unit_test(fit_value_is_valid_and_deterministic),
            cmocka_unit_test_setup_teardown(mixed_models_pick_the_most_gpus, setup, teardown),
            cmocka_unit_test_setup_teardown(mixed_models_tie_goes_to_the_first, setup, teardown),
            cmocka_unit_test_setup_teardown(full_gpus_win_over_mig_enabled, setup, teardown),
            cmocka_unit_test_setup_teardown(single_strategy_invalid_layouts, setup, teardown),
            cmocka_unit_test_setup_teardown(single_strategy_empty_mig_gpu, setup, teardown),
            cmocka_unit_test_setup_teardown(long_product_is_shortened, setup, teardown),
            cmocka_unit_test_setup_teardown(clique_only_when_the_fabric_agrees, setup, teardown),
            cmocka_unit_test_setup_teardown(bad_driver_version_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(no_gpus_only_timestamp, setup, teardown),
            cmocka_unit_test(format_has_expiry_and_bound),
            cmocka_unit_test(write_file_replaces_atomically),
            cmocka_unit_test(gfd_flags_env_and_file),
            cmocka_unit_test(vgpu_from_vendor_capability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
