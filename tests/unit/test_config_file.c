/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the v1 config file (src/config/config_file.c, config_sharing.c,
 * config_json.c): every schema section, YAML and JSON forms, NVIDIA's examples and error
 * texts, positions in messages, unknown keys (warning, or error with --strict-config), size
 * limits, precedence against flags and environment, the MPS rules of gdp_config_finish(),
 * our "overrides" extension and the printed form loading back unchanged.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs setjmp.h, stdarg.h, stddef.h and stdint.h first */
#include <cmocka.h>
#include <jansson.h>

#include "config/config.h"
#include "config/yfile.h"
#include "core/diag.h"
#include "core/util.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct loaded {
    struct gdp_config c;
    struct gdp_diag diag;
    int r;
};

static int
load_strict(struct loaded *t, const char *yaml, bool strict)
{
    memset(t, 0, sizeof *t);
    gdp_config_init(&t->c);
    t->c.strict_config = strict;
    t->r = gdp_config_load_buffer(&t->c, "config.yaml", yaml, strlen(yaml), &t->diag);
    return t->r;
}

static int
load(struct loaded *t, const char *yaml)
{
    return load_strict(t, yaml, false);
}

/* Expects the load to fail with exactly msg (or, when msg ends in '*', to start with it). */
static void
expect_error(const char *yaml, const char *msg)
{
    struct loaded t;
    assert_int_equal(load(&t, yaml), GDP_E_CONFIG);
    size_t n = strlen(msg);
    if (n > 0 && msg[n - 1] == '*') {
        if (strncmp(t.diag.msg, msg, n - 1) != 0) {
            fail_msg("diag \"%s\" does not start with \"%.*s\"", t.diag.msg, (int)n - 1, msg);
        }
    } else {
        assert_string_equal(t.diag.msg, msg);
    }
    gdp_config_done(&t.c);
}

/* Writes text to a new temporary file; returns its path (caller unlinks and frees). */
static char *
temp_file(const char *text)
{
    char *path = gdp_strdup("/tmp/test_config_file.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    (void)close(fd);
    return path;
}

static void
empty_files_mean_defaults(void **state _unused_)
{
    const char *const cases[] = {"", "\n", "# only a comment\n", "---\n", "~\n", "{}\n"};
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct loaded t;
        assert_int_equal(load(&t, cases[i]), 0);
        assert_int_equal(t.c.mig_strategy, GDP_MIG_NONE);
        assert_true(t.c.fail_on_init_error);
        assert_int_equal(t.c.sharing.strategy, GDP_SHARING_NONE);
        assert_int_equal(t.c.warnings.n, 0);
        gdp_config_done(&t.c);
    }
    char *path = temp_file("");
    struct gdp_config c;
    gdp_config_init(&c);
    assert_int_equal(gdp_config_load_file(&c, path, NULL), 0);
    assert_int_equal(gdp_config_load_file(&c, "/dev/null", NULL), 0);
    gdp_config_done(&c);
    (void)unlink(path);
    free(path);
}

static void
version(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, "version: v1\n"), 0);
    gdp_config_done(&t.c);
    assert_int_equal(load(&t, "version:\n"), 0);
    gdp_config_done(&t.c);
    expect_error("version: v2\n", "config.yaml:1:10: version: unknown version \"v2\": expected v1");
    expect_error("flags: {}\nversion: 1\n",
                 "config.yaml:2:10: version: unknown version \"1\": expected v1");
}

static const char all_flags[] = "version: v1\n"
                                "flags:\n"
                                "  migStrategy: mixed\n"
                                "  failOnInitError: false\n"
                                "  mpsRoot: /run/nvidia/mps\n"
                                "  nvidiaDriverRoot: /run/nvidia/driver\n"
                                "  nvidiaDevRoot: /dev-root\n"
                                "  gdrcopyEnabled: true\n"
                                "  gdsEnabled: yes\n"
                                "  mofedEnabled: True\n"
                                "  useNodeFeatureAPI: false\n"
                                "  deviceDiscoveryStrategy: nvml\n"
                                "  plugin:\n"
                                "    passDeviceSpecs: true\n"
                                "    deviceListStrategy: volume-mounts\n"
                                "    deviceIDStrategy: index\n"
                                "    cdiAnnotationPrefix: cdi.example.com/\n"
                                "    nvidiaCTKPath: /usr/local/bin/nvidia-ctk\n"
                                "    containerDriverRoot: /host-driver\n"
                                "    sharedDevicesAllocationPolicy: packed\n"
                                "  gfd:\n"
                                "    oneshot: true\n"
                                "    noTimestamp: true\n"
                                "    sleepInterval: 1h2m3.5s\n"
                                "    outputFile: /out\n"
                                "    machineTypeFile: /machine\n"
                                "imex:\n"
                                "  channelIDs: [0]\n"
                                "  required: true\n";

static void
every_flag_key(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, all_flags), 0);
    const struct gdp_config *c = &t.c;
    assert_int_equal(c->mig_strategy, GDP_MIG_MIXED);
    assert_false(c->fail_on_init_error);
    assert_string_equal(c->mps_root, "/run/nvidia/mps");
    assert_string_equal(c->driver_root, "/run/nvidia/driver");
    assert_string_equal(c->dev_root, "/dev-root");
    assert_true(c->gdrcopy_enabled && c->gds_enabled && c->mofed_enabled);
    assert_int_equal(c->gfd.use_node_feature_api, 0);
    assert_int_equal(c->device_discovery_strategy, GDP_DISCOVERY_NVML);
    assert_true(c->pass_device_specs);
    assert_int_equal(c->device_list_strategy, GDP_LIST_VOLUME_MOUNTS);
    assert_int_equal(c->device_id_strategy, GDP_ID_INDEX);
    assert_string_equal(c->cdi_annotation_prefix, "cdi.example.com/");
    assert_string_equal(c->nvidia_cdi_hook_path, "/usr/local/bin/nvidia-ctk");
    assert_string_equal(c->driver_root_ctr_path, "/host-driver");
    assert_int_equal(c->shared_devices_allocation_policy, GDP_ALLOC_PACKED);
    assert_true(c->gfd.oneshot && c->gfd.no_timestamp);
    assert_int_equal(c->gfd.sleep_interval_ns, INT64_C(3723500000000));
    assert_string_equal(c->gfd.output_file, "/out");
    assert_string_equal(c->gfd.machine_type_file, "/machine");
    assert_int_equal(c->n_imex_channel_ids, 1);
    assert_int_equal(c->imex_channel_ids[0], 0);
    assert_true(c->imex_required);
    assert_int_equal(c->warnings.n, 0);
    gdp_config_done(&t.c);
}

static void
list_and_null_forms(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, "flags:\n  plugin:\n    deviceListStrategy: [envvar, cdi-cri]\n"), 0);
    assert_int_equal(t.c.device_list_strategy, GDP_LIST_ENVVAR | GDP_LIST_CDI_CRI);
    gdp_config_done(&t.c);
    /* null keeps the default, as Go's nil pointers do */
    assert_int_equal(load(&t, "flags:\n  migStrategy:\n  failOnInitError: ~\n  plugin:\nimex:\n"
                              "  channelIDs: []\n"),
                     0);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_NONE);
    assert_true(t.c.fail_on_init_error);
    assert_int_equal(t.c.device_list_strategy, GDP_LIST_ENVVAR);
    assert_int_equal(t.c.n_imex_channel_ids, 0);
    assert_int_equal(t.c.gfd.use_node_feature_api, -1);
    gdp_config_done(&t.c);
}

static void
durations(void **state _unused_)
{
    const struct {
        const char *text;
        int64_t ns;
    } ok[] = {
            {"60s", INT64_C(60000000000)},
            {"1m30s", INT64_C(90000000000)},
            {"1.5h", INT64_C(5400000000000)},
            {"250ms", INT64_C(250000000)},
            {"10us", INT64_C(10000)},
            {"\"7ns\"", 7},
            {"0", 0},
            {"5000000000", INT64_C(5000000000)},
            {"infinite", GDP_DURATION_INFINITE},
    };

    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        struct loaded t;
        char *yaml = gdp_asprintf("flags:\n  gfd:\n    sleepInterval: %s\n", ok[i].text);
        assert_int_equal(load(&t, yaml), 0);
        assert_int_equal(t.c.gfd.sleep_interval_ns, ok[i].ns);
        gdp_config_done(&t.c);
        free(yaml);
    }
    expect_error("flags:\n  gfd:\n    sleepInterval: 5 minutes\n",
                 "config.yaml:3:20: flags.gfd.sleepInterval: invalid duration \"5 minutes\": "
                 "expected a duration such as \"60s\" or \"1m30s\", a number of nanoseconds, or "
                 "\"infinite\"");
    expect_error("flags:\n  gfd:\n    sleepInterval: 10\n    oneshot: 1\n",
                 "config.yaml:4:14: flags.gfd.oneshot: expected a boolean (true or false), got a "
                 "number (\"1\")");
    expect_error("flags:\n  gfd:\n    sleepInterval: -5\n", "config.yaml:3:20: *");
    expect_error("flags:\n  gfd:\n    sleepInterval: 99999999999h\n", "config.yaml:3:20: *");
}

static void
flag_value_errors(void **state _unused_)
{
    expect_error("version: v1\nflags:\n  migStrategy: both\n",
                 "config.yaml:3:16: flags.migStrategy: invalid value \"both\": allowed values are "
                 "none, single, mixed");
    expect_error("flags:\n  failOnInitError: \"true\"\n",
                 "config.yaml:2:20: flags.failOnInitError: expected a boolean (true or false), got "
                 "a string (\"true\")");
    expect_error("flags:\n  plugin:\n    deviceListStrategy: [envvar, foo]\n",
                 "config.yaml:3:25: flags.plugin.deviceListStrategy: invalid value \"foo\": "
                 "allowed values are envvar, volume-mounts, cdi-annotations, cdi-cri");
    expect_error("flags:\n  plugin:\n    deviceListStrategy: []\n",
                 "config.yaml:3:25: flags.plugin.deviceListStrategy: expected at least one value");
    expect_error("flags:\n  plugin:\n    deviceIDStrategy: serial\n",
                 "config.yaml:3:23: flags.plugin.deviceIDStrategy: invalid value \"serial\": "
                 "allowed values are uuid, index");
    expect_error("flags:\n  plugin:\n    sharedDevicesAllocationPolicy: spread\n",
                 "config.yaml:3:36: *");
    expect_error("flags:\n  deviceDiscoveryStrategy: vfio\n",
                 "config.yaml:2:28: flags.deviceDiscoveryStrategy: invalid value \"vfio\": allowed "
                 "values are auto, nvml, tegra");
    expect_error("imex:\n  channelIDs: [1]\n",
                 "config.yaml:2:15: imex.channelIDs: invalid value \"1\": only channel 0 is "
                 "supported; allowed values are an empty list or 0");
    expect_error("imex:\n  channelIDs: [0, 0]\n", "config.yaml:2:15: imex.channelIDs: *");
    expect_error("imex:\n  channelIDs: [\"0\"]\n",
                 "config.yaml:2:16: imex.channelIDs[0]: expected an integer");
    expect_error("imex:\n  channelIDs: 0\n",
                 "config.yaml:2:15: imex.channelIDs: expected a list, got a number (\"0\")");
    expect_error("flags:\n  nvidiaDriverRoot: [a]\n",
                 "config.yaml:2:21: flags.nvidiaDriverRoot: expected a string, got a list");
    expect_error("flags: 3\n", "config.yaml:1:8: flags: expected a mapping, got a number (\"3\")");
    expect_error("- a\n",
                 "config.yaml:1:1: expected a mapping (a v1 config file) at the top level");
    expect_error("flags:\n  migStrategy: [none\n", "config.yaml:3:1: *");
    expect_error("flags:\n\tmigStrategy: none\n", "config.yaml:*");
}

static void
resource_patterns(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, "resources:\n  gpus:\n  - pattern: \"*A100*\"\n    name: a100\n"
                              "  mig:\n  - {pattern: \"1g.5gb\", name: nvidia.com/mig-small}\n"),
                     0);
    assert_int_equal(t.c.resource_gpus.n, 1);
    assert_string_equal(t.c.resource_gpus.v[0].pattern, "*A100*");
    assert_string_equal(t.c.resource_gpus.v[0].name, "nvidia.com/a100");
    assert_int_equal(t.c.resource_mig.n, 1);
    assert_string_equal(t.c.resource_mig.v[0].name, "nvidia.com/mig-small");
    /* like NVIDIA's plugin, the built-in names are used, with a warning per list */
    assert_int_equal(t.c.warnings.n, 2);
    assert_non_null(strstr(t.c.warnings.v[0], "config.yaml:3:3: resources.gpus: customizing"));
    gdp_config_done(&t.c);
    expect_error("resources:\n  gpus:\n  - name: a100\n",
                 "config.yaml:3:5: resources.gpus[0]: missing key \"pattern\"");
    expect_error("resources:\n  mig:\n  - pattern: x\n",
                 "config.yaml:3:5: resources.mig[0]: missing key \"name\"");
    expect_error("resources:\n  gpus: [x]\n",
                 "config.yaml:2:10: resources.gpus[0]: expected a mapping");
}

/* NVIDIA's README example: time-slicing, 4 replicas, renameByDefault. */
static const char nvidia_time_slicing[] = "version: v1\n"
                                          "flags:\n"
                                          "  migStrategy: none\n"
                                          "sharing:\n"
                                          "  timeSlicing:\n"
                                          "    renameByDefault: true\n"
                                          "    resources:\n"
                                          "    - name: nvidia.com/gpu\n"
                                          "      replicas: 4\n";

static void
time_slicing_example(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, nvidia_time_slicing), 0);
    const struct gdp_sharing *s = &t.c.sharing;
    assert_int_equal(s->strategy, GDP_SHARING_TIME_SLICING);
    assert_true(s->time_slicing.present);
    assert_false(s->mps.present);
    assert_ptr_equal(gdp_sharing_replication(s), &s->time_slicing);
    assert_true(s->time_slicing.rename_by_default);
    assert_false(s->time_slicing.fail_requests_greater_than_one);
    assert_int_equal(s->time_slicing.n_resources, 1);
    const struct gdp_replicated_resource *r = &s->time_slicing.resources[0];
    assert_string_equal(r->name, "nvidia.com/gpu");
    assert_string_equal(r->rename, "nvidia.com/gpu.shared");
    assert_int_equal(r->devices.kind, GDP_DEVICES_ALL);
    assert_int_equal(r->replicas, 4);
    assert_string_equal(s->time_slicing.where, "config.yaml:6:5");
    gdp_config_done(&t.c);
}

static void
mps_example(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, "sharing:\n  mps:\n    resources:\n    - name: gpu\n"
                              "      rename: gpu-mps\n      replicas: 10\n"),
                     0);
    const struct gdp_sharing *s = &t.c.sharing;
    assert_int_equal(s->strategy, GDP_SHARING_MPS);
    assert_true(s->mps.fail_requests_greater_than_one); /* defaulted when absent */
    assert_false(s->mps.rename_by_default);
    assert_string_equal(s->mps.resources[0].name, "nvidia.com/gpu");
    assert_string_equal(s->mps.resources[0].rename, "nvidia.com/gpu-mps");
    assert_ptr_equal(gdp_sharing_replication(s), &s->mps);
    gdp_config_done(&t.c);
    /* explicit false is honoured; mps wins over timeSlicing */
    assert_int_equal(load(&t, "sharing:\n  timeSlicing:\n    resources:\n    - {name: gpu, "
                              "replicas: 3}\n  mps:\n    failRequestsGreaterThanOne: false\n"
                              "    resources:\n    - {name: gpu, replicas: 2}\n"),
                     0);
    assert_int_equal(t.c.sharing.strategy, GDP_SHARING_MPS);
    assert_false(t.c.sharing.mps.fail_requests_greater_than_one);
    assert_true(t.c.sharing.time_slicing.present);
    gdp_config_done(&t.c);
}

static void
devices_forms(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(
            load(&t, "sharing:\n  timeSlicing:\n    resources:\n"
                     "    - {name: a, replicas: 2, devices: all}\n"
                     "    - {name: b, replicas: 2, devices: 3}\n"
                     "    - name: c\n      replicas: 2\n      devices:\n      - \"0\"\n      - 1\n"
                     "      - \"0:1\"\n      - GPU-8f3c1d2e-1111-2222-3333-444455556666\n"
                     "      - MIG-5d1e0a2b-1111-2222-3333-444455556666\n"
                     "      - MIG-GPU-8f3c1d2e-1111-2222-3333-444455556666/1/0\n"),
            0);
    const struct gdp_replicated_resource *r = t.c.sharing.time_slicing.resources;
    assert_int_equal(r[0].devices.kind, GDP_DEVICES_ALL);
    assert_int_equal(r[1].devices.kind, GDP_DEVICES_COUNT);
    assert_int_equal(r[1].devices.count, 3);
    assert_int_equal(r[2].devices.kind, GDP_DEVICES_LIST);
    assert_int_equal(r[2].devices.ids.n, 6);
    assert_string_equal(r[2].devices.ids.v[1], "1");
    assert_string_equal(r[2].devices.ids.v[5], "MIG-GPU-8f3c1d2e-1111-2222-3333-444455556666/1/0");
    assert_true(gdp_device_selector_matches(&r[1].devices, 2, "7", "GPU-x"));
    assert_false(gdp_device_selector_matches(&r[1].devices, 3, "7", "GPU-x"));
    assert_true(gdp_device_selector_matches(&r[2].devices, 9, "0:1", "MIG-y"));
    assert_false(gdp_device_selector_matches(&r[2].devices, 0, "2", "GPU-z"));
    gdp_config_done(&t.c);

    const char *prefix = "sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n"
                         "      replicas: 2\n      devices: ";

    const struct {
        const char *devices;
        const char *msg;
    } bad[] = {
            {"some\n", "config.yaml:6:16: sharing.timeSlicing.resources[0].devices: invalid "
                       "devices: expected \"all\", a positive number of devices, or a list of GPU "
                       "indices, MIG indices or UUIDs"},
            {"0\n", "config.yaml:6:16: sharing.timeSlicing.resources[0].devices: number of "
                    "devices must be between 1 and 1024, got 0"},
            {"[]\n", "config.yaml:6:16: sharing.timeSlicing.resources[0].devices: expected at "
                     "least one device"},
            {"[\"GPU-1234\"]\n", "config.yaml:6:17: sharing.timeSlicing.resources[0].devices[0]: "
                                 "invalid device \"GPU-1234\": *"},
            {"[\"0:\"]\n", "config.yaml:6:17: *"},
            {"[\"-1\"]\n", "config.yaml:6:17: *"},
    };

    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char *yaml = gdp_asprintf("%s%s", prefix, bad[i].devices);
        expect_error(yaml, bad[i].msg);
        free(yaml);
    }
}

static void
sharing_errors(void **state _unused_)
{
    expect_error("sharing:\n  timeSlicing:\n    resources: []\n",
                 "config.yaml:3:16: sharing.timeSlicing.resources: no resources specified");
    expect_error("sharing:\n  mps:\n    renameByDefault: true\n",
                 "config.yaml:3:5: sharing.mps: no resources specified");
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n      replicas: 1\n",
                 "config.yaml:5:17: sharing.timeSlicing.resources[0].replicas: number of replicas "
                 "must be >= 2");
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n      replicas: -3\n",
                 "config.yaml:5:17: sharing.timeSlicing.resources[0].replicas: number of replicas "
                 "must be >= 2");
    expect_error(
            "sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n      replicas: 16385\n",
            "config.yaml:5:17: sharing.timeSlicing.resources[0].replicas: number of replicas "
            "must be <= 16384");
    struct loaded t;
    assert_int_equal(load(&t, "sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n"
                              "      replicas: 16384\n"),
                     0);
    assert_int_equal(t.c.sharing.time_slicing.resources[0].replicas, 16384);
    gdp_config_done(&t.c);
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - replicas: 2\n",
                 "config.yaml:4:7: sharing.timeSlicing.resources[0]: missing key \"name\"");
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n",
                 "config.yaml:4:7: sharing.timeSlicing.resources[0]: missing key \"replicas\"");
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - {name: GPU, replicas: 2}\n",
                 "config.yaml:4:14: sharing.timeSlicing.resources[0].name: invalid resource name "
                 "\"nvidia.com/GPU\": the part after \"nvidia.com/\" must be a DNS subdomain "
                 "(lowercase letters, digits, '-' and '.', starting and ending with a letter or "
                 "digit)");
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - {name: "
                 "a123456789012345678901234567890123456789012345678901234, replicas: 2}\n",
                 "config.yaml:4:14: sharing.timeSlicing.resources[0].name: invalid resource name "
                 "\"nvidia.com/a123456789012345678901234567890123456789012345678901234\": the "
                 "fully-qualified name must be 63 characters or less");
    expect_error("sharing:\n  timeSlicing:\n    resources:\n    - {name: example.com/gpu, "
                 "replicas: 2}\n",
                 "config.yaml:4:14: *");
    expect_error("sharing:\n  timeSlicing:\n    renameByDefault: maybe\n    resources: []\n",
                 "config.yaml:3:22: *");
}

static void
overrides_extension(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, "sharing:\n  timeSlicing:\n    renameByDefault: true\n"
                              "    resources:\n    - name: gpu\n      replicas: 4\n"
                              "      overrides:\n"
                              "      - devices: [\"0\", GPU-8f3c1d2e-1111-2222-3333-444455556666]\n"
                              "        replicas: 1\n"
                              "      - product: \"*H100*\"\n        replicas: 8\n"
                              "        rename: gpu.h100\n"
                              "      - devices: 2\n        rename: gpu.first\n"),
                     0);
    const struct gdp_replicated_resource *r = &t.c.sharing.time_slicing.resources[0];
    assert_int_equal(r->n_overrides, 3);
    assert_int_equal(r->overrides[1].devices.kind, GDP_DEVICES_ALL);
    assert_string_equal(r->overrides[1].product, "*H100*");
    struct gdp_replica_choice ch;
    /* by index: unshared, under the original name */
    gdp_replicated_resource_resolve(r, 5, "0", "GPU-aaaa", "NVIDIA A100", &ch);
    assert_int_equal(ch.replicas, 1);
    assert_string_equal(ch.name, "nvidia.com/gpu");
    gdp_replicated_resource_resolve(r, 5, "3", "GPU-8f3c1d2e-1111-2222-3333-444455556666", NULL,
                                    &ch);
    assert_int_equal(ch.replicas, 1);
    /* by product */
    gdp_replicated_resource_resolve(r, 5, "4", "GPU-b", "NVIDIA H100 80GB HBM3", &ch);
    assert_int_equal(ch.replicas, 8);
    assert_string_equal(ch.name, "nvidia.com/gpu.h100");
    /* by position: rename only, the resource's replicas */
    gdp_replicated_resource_resolve(r, 1, "5", "GPU-c", "NVIDIA A100", &ch);
    assert_int_equal(ch.replicas, 4);
    assert_string_equal(ch.name, "nvidia.com/gpu.first");
    /* no override: the resource's settings */
    gdp_replicated_resource_resolve(r, 6, "6", "GPU-d", "NVIDIA A100", &ch);
    assert_int_equal(ch.replicas, 4);
    assert_string_equal(ch.name, "nvidia.com/gpu.shared");
    gdp_config_done(&t.c);

    const char *head = "sharing:\n  timeSlicing:\n    resources:\n    - name: gpu\n"
                       "      replicas: 4\n      overrides:\n";
    char *yaml = gdp_asprintf("%s      - replicas: 2\n", head);
    expect_error(yaml, "config.yaml:7:9: sharing.timeSlicing.resources[0].overrides[0]: an "
                       "override needs \"devices\" or \"product\"");
    free(yaml);
    yaml = gdp_asprintf("%s      - devices: [\"1\"]\n", head);
    expect_error(yaml, "config.yaml:7:9: sharing.timeSlicing.resources[0].overrides[0]: an "
                       "override needs \"replicas\" or \"rename\"");
    free(yaml);
    yaml = gdp_asprintf("%s      - {devices: [\"1\"], replicas: 0}\n", head);
    expect_error(yaml, "config.yaml:7:36: sharing.timeSlicing.resources[0].overrides[0].replicas: "
                       "number of replicas must be >= 1");
    free(yaml);
}

static void
unknown_and_duplicate_keys(void **state _unused_)
{
    const char *yaml = "version: v1\nflags:\n  migStrategy: single\n  migStrategi: mixed\n"
                       "extra: 1\nsharing:\n  timeSlicing:\n    resources:\n"
                       "    - {name: gpu, replicas: 2, sharedMemory: 1}\n"
                       "flags:\n  failOnInitError: false\n";
    struct loaded t;
    assert_int_equal(load(&t, yaml), 0);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_SINGLE);
    assert_false(t.c.fail_on_init_error);
    assert_int_equal(t.c.warnings.n, 4);
    assert_string_equal(
            t.c.warnings.v[0],
            "config.yaml:4:3: flags.migStrategi: unknown key, ignoring; expected one of: "
            "migStrategy, failOnInitError, nvidiaDriverRoot, nvidiaDevRoot, "
            "gdrcopyEnabled, gdsEnabled, mofedEnabled, mpsRoot, "
            "deviceDiscoveryStrategy, healthRecoverXIDs, plugin, gfd, useNodeFeatureAPI");
    assert_string_equal(t.c.warnings.v[1], "config.yaml:5:1: extra: unknown key, ignoring; "
                                           "expected one of: version, flags, resources, "
                                           "sharing, imex");
    assert_string_equal(t.c.warnings.v[2],
                        "config.yaml:9:32: sharing.timeSlicing.resources[0].sharedMemory: unknown "
                        "key, ignoring; expected one of: name, rename, devices, replicas, "
                        "overrides");
    assert_string_equal(t.c.warnings.v[3],
                        "config.yaml:10:1: flags: duplicate key, the later value wins");
    gdp_config_done(&t.c);

    assert_int_equal(load_strict(&t, yaml, true), GDP_E_CONFIG);
    assert_string_equal(
            t.diag.msg,
            "config.yaml:4:3: flags.migStrategi: unknown key "
            "(--strict-config); expected one of: migStrategy, "
            "failOnInitError, nvidiaDriverRoot, nvidiaDevRoot, "
            "gdrcopyEnabled, gdsEnabled, mofedEnabled, mpsRoot, "
            "deviceDiscoveryStrategy, healthRecoverXIDs, plugin, gfd, useNodeFeatureAPI");
    gdp_config_done(&t.c);

    /* warnings are bounded */
    char *many = gdp_strdup("flags:\n");
    for (int i = 0; i < 100; i++) {
        char *next = gdp_asprintf("%s  k%d: 1\n", many, i);
        free(many);
        many = next;
    }
    assert_int_equal(load(&t, many), 0);
    assert_int_equal(t.c.warnings.n, 65);
    assert_non_null(strstr(t.c.warnings.v[64], "more than 64 warnings"));
    gdp_config_done(&t.c);
    free(many);
}

static void
json_form(void **state _unused_)
{
    struct loaded t;
    assert_int_equal(load(&t, "{\"version\": \"v1\", \"flags\": {\"migStrategy\": \"single\", "
                              "\"failOnInitError\": false, \"plugin\": {\"deviceListStrategy\": "
                              "[\"envvar\", \"cdi-annotations\"]}}, \"sharing\": {\"timeSlicing\":"
                              " {\"resources\": [{\"name\": \"nvidia.com/gpu\", \"replicas\": 10,"
                              " \"devices\": [\"0\", \"1\"]}]}}, \"imex\": {\"channelIDs\": []}}"),
                     0);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_SINGLE);
    assert_false(t.c.fail_on_init_error);
    assert_int_equal(t.c.device_list_strategy, GDP_LIST_ENVVAR | GDP_LIST_CDI_ANNOTATIONS);
    assert_int_equal(t.c.sharing.time_slicing.resources[0].replicas, 10);
    assert_int_equal(t.c.sharing.time_slicing.resources[0].devices.ids.n, 2);
    gdp_config_done(&t.c);
    expect_error("{\"flags\": {\"migStrategy\": \"both\"}}",
                 "config.yaml:1:27: flags.migStrategy: invalid value \"both\": allowed values are "
                 "none, single, mixed");
}

static const char *
deep_brackets(void)
{
    static char b[65];
    memset(b, '[', 64);
    return b;
}

static const char *
deep_ends(void)
{
    static char b[65];
    memset(b, ']', 64);
    return b;
}

static double
now_s(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A file of 1 MiB of '[' (or "- " block nesting) fails at the depth bound, at once and with
 * the position of the first level too many, instead of keeping libyaml busy for minutes. */
static void
depth_and_node_limits(void **state _unused_)
{
    size_t n = GDP_CONFIG_FILE_MAX;
    char *deep = gdp_malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    double t0 = now_s();
    expect_error(deep, "config.yaml:1:65: nested too deeply (at most 64 levels of nesting and "
                       "65536 nodes)");
    assert_true(now_s() - t0 < 5.0);
    free(deep);
    char *block = gdp_strdup("");
    for (int i = 0; i < 70; i++) {
        char *next = gdp_asprintf("%s%*s- \n", block, 2 * i, "");
        free(block);
        block = next;
    }
    expect_error(block, "config.yaml:*");
    struct loaded t;
    assert_int_equal(load(&t, block), GDP_E_CONFIG);
    assert_non_null(strstr(t.diag.msg, "nested too deeply"));
    gdp_config_done(&t.c);
    free(block);
    /* 64 levels are still fine (an unknown key is only a warning) */
    char *ok = gdp_malloc(200);
    memset(ok, 0, 200);
    (void)snprintf(ok, 200, "version: v1\nx: %.*s%.*s\n", 63, deep_brackets(), 63, deep_ends());
    assert_int_equal(load(&t, ok), 0);
    gdp_config_done(&t.c);
    free(ok);
    size_t items = GDP_YAML_MAX_NODES + 10;
    char *many = gdp_malloc(2 * items + 8);
    char *p = many;
    *p++ = '[';
    for (size_t i = 0; i < items; i++) {
        *p++ = '1';
        *p++ = ',';
    }
    p[-1] = ']';
    *p = '\0';
    assert_int_equal(load(&t, many), GDP_E_CONFIG);
    assert_non_null(strstr(t.diag.msg, ": too many nodes"));
    gdp_config_done(&t.c);
    free(many);
}

/* libyaml gives only a byte offset for bad UTF-8: we report line and column. */
static void
invalid_utf8_position(void **state _unused_)
{
    expect_error("version: v1\nflags:\n  migStrategy: \"caf\xc3\xa9\xff\"\n",
                 "config.yaml:3:21: invalid leading UTF-8 octet (byte 0xff)");
}

static void
size_limits_and_open_errors(void **state _unused_)
{
    size_t n = GDP_CONFIG_FILE_MAX + 1;
    char *big = gdp_malloc(n + 1);
    memset(big, '#', n);
    big[n] = '\0';
    struct loaded t;
    assert_int_equal(load(&t, big), -EFBIG);
    assert_string_equal(t.diag.msg, "config.yaml: config file is larger than 1048576 bytes");
    gdp_config_done(&t.c);
    char *path = temp_file(big);
    struct gdp_diag diag = {0};
    gdp_config_init(&t.c);
    assert_int_equal(gdp_config_load_file(&t.c, path, &diag), -EFBIG);
    assert_non_null(strstr(diag.msg, "config file is larger than 1048576 bytes"));
    (void)unlink(path);
    free(path);
    free(big);
    assert_int_equal(gdp_config_load_file(&t.c, "/nonexistent/config.yaml", &diag), -ENOENT);
    assert_string_equal(diag.msg, "cannot open config file /nonexistent/config.yaml: No such file "
                                  "or directory");
    assert_int_equal(gdp_config_load_file(&t.c, "/", &diag), -EISDIR);
    gdp_config_done(&t.c);
    /* an alias bomb stops at the node budget instead of expanding */
    char *bomb = gdp_strdup("a: &a [x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'h'; c++) {
        char *next = gdp_asprintf("%s%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", bomb, c,
                                  c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
        free(bomb);
        bomb = next;
    }
    char *yaml = gdp_asprintf("%sflags:\n  plugin:\n    deviceListStrategy: *h\n", bomb);
    assert_int_equal(load(&t, yaml), GDP_E_CONFIG);
    gdp_config_done(&t.c);
    free(yaml);
    free(bomb);
}

/* A NULL-terminated heap copy of first (if not NULL) followed by rest. */
static char **
dup_list(const char *first, const char *const *rest, int *ret_n)
{
    char **out = gdp_calloc(18, sizeof(char *));
    int n = 0;
    if (first != NULL) {
        out[n++] = gdp_strdup(first);
    }
    for (size_t i = 0; rest != NULL && rest[i] != NULL && n < 16; i++) {
        out[n++] = gdp_strdup(rest[i]);
    }
    *ret_n = n;
    return out;
}

static void
free_list(char **l)
{
    for (size_t i = 0; l[i] != NULL; i++) {
        free(l[i]);
    }
    free(l);
}

/* Parses args and env for cmd (with --config-file=path when path is set), then finishes. */
static int
run_with_file(struct gdp_config *c, enum gdp_cmd cmd, const char *path, const char *const *args,
              const char *const *env, struct gdp_diag *diag)
{
    int argc, envc;
    char *file_arg = path != NULL ? gdp_asprintf("--config-file=%s", path) : NULL;
    char **argv = dup_list(file_arg, args, &argc);
    char **envp = dup_list(NULL, env, &envc);
    gdp_config_init(c);
    int r = gdp_config_parse_args(c, cmd, argc, argv, envp, diag);
    free(file_arg);
    free_list(argv);
    free_list(envp);
    return r < 0 ? r : gdp_config_finish(c, diag);
}

static int
serve_with_file(struct gdp_config *c, const char *path, const char *const *args,
                const char *const *env, struct gdp_diag *diag)
{
    return run_with_file(c, GDP_CMD_SERVE, path, args, env, diag);
}

static void
precedence(void **state _unused_)
{
    char *path = temp_file("flags:\n  migStrategy: single\n  failOnInitError: false\n"
                           "  plugin:\n    deviceIDStrategy: index\n    passDeviceSpecs: true\n");
    struct gdp_config c;
    struct gdp_diag diag = {0};
    /* file > default */
    assert_int_equal(serve_with_file(&c, path, NULL, NULL, &diag), 0);
    assert_int_equal(c.mig_strategy, GDP_MIG_SINGLE);
    assert_false(c.fail_on_init_error);
    assert_int_equal(c.device_id_strategy, GDP_ID_INDEX);
    assert_true(c.pass_device_specs);
    gdp_config_done(&c);
    /* env > file, flag > env > file; unset ones still come from the file */
    assert_int_equal(serve_with_file(&c, path, ARGS("--mig-strategy=mixed"),
                                     ARGS("MIG_STRATEGY=none", "FAIL_ON_INIT_ERROR=true",
                                          "DEVICE_ID_STRATEGY=uuid"),
                                     &diag),
                     0);
    assert_int_equal(c.mig_strategy, GDP_MIG_MIXED);
    assert_true(c.fail_on_init_error);
    assert_int_equal(c.device_id_strategy, GDP_ID_UUID);
    assert_true(c.pass_device_specs);
    gdp_config_done(&c);
    /* CONFIG_FILE from the environment */
    char *env = gdp_asprintf("CONFIG_FILE=%s", path);
    assert_int_equal(run_with_file(&c, GDP_CMD_LIST, NULL, NULL, ARGS(env), &diag), 0);
    assert_int_equal(c.mig_strategy, GDP_MIG_SINGLE);
    gdp_config_done(&c);
    free(env);
    (void)unlink(path);
    free(path);
    /* an overridden file value is not validated (NVIDIA validates the final value only) */
    path = temp_file("flags:\n  migStrategy: both\n");
    assert_int_equal(serve_with_file(&c, path, ARGS("--mig-strategy=none"), NULL, &diag), 0);
    assert_int_equal(c.mig_strategy, GDP_MIG_NONE);
    gdp_config_done(&c);
    assert_int_equal(serve_with_file(&c, path, NULL, NULL, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, ":2:16: flags.migStrategy: invalid value \"both\""));
    gdp_config_done(&c);
    (void)unlink(path);
    free(path);
}

static void
finish_mps_rules(void **state _unused_)
{
    char *path = temp_file("sharing:\n  mps:\n    resources:\n    - {name: gpu, replicas: 4}\n");
    struct gdp_config c;
    struct gdp_diag diag = {0};
    assert_int_equal(serve_with_file(&c, path, NULL, NULL, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, ":3:5: sharing.mps: using MPS requires --mps-root to be "
                                     "specified"));
    assert_int_equal(strncmp(diag.msg, path, strlen(path)), 0);
    gdp_config_done(&c);
    assert_int_equal(serve_with_file(&c, path,
                                     ARGS("--mps-root=/run/nvidia/mps", "--mig-strategy=mixed"),
                                     NULL, &diag),
                     GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "using --mig-strategy=mixed is not supported with MPS"));
    gdp_config_done(&c);
    assert_int_equal(serve_with_file(&c, path, ARGS("--mps-root=/run/nvidia/mps"), NULL, &diag), 0);
    assert_int_equal(c.sharing.strategy, GDP_SHARING_MPS);
    gdp_config_done(&c);
    (void)unlink(path);
    free(path);
    /* a bad file fails finish with its position */
    path = temp_file("\n\nflags:\n  migStrategy: 1\n");
    assert_int_equal(serve_with_file(&c, path, NULL, NULL, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, ":4:16: flags.migStrategy: expected a string"));
    gdp_config_done(&c);
    (void)unlink(path);
    free(path);
}

static char *
to_text(const struct gdp_config *c)
{
    json_t *j = gdp_config_to_json(c);
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void
print_round_trip(void **state _unused_)
{
    const char *const files[] = {
            all_flags,
            nvidia_time_slicing,
            "sharing:\n  mps:\n    resources:\n    - name: gpu\n      devices: [\"0\", \"1:2\"]\n"
            "      replicas: 3\n      overrides:\n      - {product: \"*A10*\", replicas: 1}\n"
            "      - {devices: 1, rename: x}\nresources:\n  gpus: [{pattern: \"*\", name: g}]\n",
    };
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        struct loaded a, b;
        assert_int_equal(load(&a, files[i]), 0);
        char *first = to_text(&a.c);
        assert_int_equal(load(&b, first), 0);
        char *second = to_text(&b.c);
        assert_string_equal(first, second);
        free(first);
        free(second);
        gdp_config_done(&a.c);
        gdp_config_done(&b.c);
    }
    struct loaded t;
    assert_int_equal(load(&t, nvidia_time_slicing), 0);
    json_t *j = gdp_config_to_json(&t.c);
    assert_string_equal(
            json_string_value(json_object_get(json_object_get(j, "flags"), "migStrategy")), "none");
    json_t *ts = json_object_get(json_object_get(j, "sharing"), "timeSlicing");
    assert_true(json_is_true(json_object_get(ts, "renameByDefault")));
    json_decref(j);
    gdp_config_done(&t.c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(empty_files_mean_defaults),
            cmocka_unit_test(version),
            cmocka_unit_test(every_flag_key),
            cmocka_unit_test(list_and_null_forms),
            cmocka_unit_test(durations),
            cmocka_unit_test(flag_value_errors),
            cmocka_unit_test(resource_patterns),
            cmocka_unit_test(time_slicing_example),
            cmocka_unit_test(mps_example),
            cmocka_unit_test(devices_forms),
            cmocka_unit_test(sharing_errors),
            cmocka_unit_test(overrides_extension),
            cmocka_unit_test(unknown_and_duplicate_keys),
            cmocka_unit_test(json_form),
            cmocka_unit_test(size_limits_and_open_errors),
            cmocka_unit_test(depth_and_node_limits),
            cmocka_unit_test(invalid_utf8_position),
            cmocka_unit_test(precedence),
            cmocka_unit_test(finish_mps_rules),
            cmocka_unit_test(print_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
