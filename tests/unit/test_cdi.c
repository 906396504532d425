/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for resource/cdi.c: specs generated from a fake driver root (libraries carrying
 * the driver version, binaries, an IPC socket, firmware, /dev nodes as files), parsed back
 * with jansson and checked field by field against the CDI spec's rules (a small validator
 * written from the spec), the cdiVersion choice, hooks, extra kinds, and the atomic writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "fake_root.h"
#include "gpu/device.h"
#include "resource/cdi.h"
#include "resource/imex.h"
#include "resource/paths.h"

#define VER       "550.54.15"
#define HOST_ROOT "/run/nvidia/driver"
#define GPU0      "GPU-8f3c1a52-0000-4000-8000-000000000000"
#define GPU1      "GPU-0b7d2e91-0000-4000-8000-000000000001"
#define MIG10     "MIG-5d1e7c33-0000-4000-8000-000000000010"

struct fixture {
    struct gdp_node node;
    struct gdp_device devices[3];
    struct gdp_config cfg;
    char *root; /* fake driver root, also the container dev root (it has dev/) */
    char host_root[64];
    char hook[64];
    char *disable[2];
};

static void
add_device(struct fixture *f, enum gdp_device_kind kind, const char *uuid, const char *index,
           unsigned minor)
{
    struct gdp_device *d = &f->devices[f->node.n_devices++];
    *d = (struct gdp_device){.kind = kind, .minor = minor, .gi_cap_minor = -1, .ci_cap_minor = -1};
    (void)gdp_strlcpy(d->uuid, uuid, sizeof d->uuid);
    (void)gdp_strlcpy(d->index_str, index, sizeof d->index_str);
}

static void
make_driver_root(const char *r)
{
    fake_root_file(r, "usr/lib64/libnvidia-ml.so." VER, "elf");
    fake_root_file(r, "usr/lib64/libcuda.so." VER, "elf");
    fake_root_file(r, "usr/lib64/libnvidia-ptxjitcompiler.so." VER, "elf");
    fake_root_symlink(r, "usr/lib64/libcuda.so.1", "libcuda.so." VER); /* not versioned */
    fake_root_file(r, "usr/lib64/libnvidia-ml.so.535.1.1", "old driver");
    fake_root_file(r, "usr/lib64/libz.so.1.2.13", "not ours");
    fake_root_symlink(r, "lib64", "usr/lib64"); /* the same directory twice */
    fake_root_file(r, "usr/bin/nvidia-smi", "bin");
    fake_root_file(r, "usr/bin/nvidia-debugdump", "bin");
    fake_root_file(r, "run/nvidia-persistenced/socket", NULL);
    fake_root_dir(r, "tmp/nvidia-mps"); /* the MPS pipe directory */
    fake_root_file(r, "lib/firmware/nvidia/" VER "/gsp_ga10x.bin", "fw");
    fake_root_file(r, "lib/firmware/nvidia/" VER "/gsp_tu10x.bin", "fw");
    fake_root_file(r, "dev/nvidiactl", NULL);
    fake_root_file(r, "dev/nvidia-uvm", NULL);
    fake_root_file(r, "dev/nvidia-modeset", NULL);
    fake_root_file(r, "dev/nvidia0", NULL);
    fake_root_file(r, "dev/nvidia1", NULL);
    fake_root_file(r, "dev/nvidia-caps/nvidia-cap12", NULL);
    fake_root_file(r, "dev/nvidia-caps/nvidia-cap13", NULL);
}

static int
setup(void **state)
{
    struct fixture *f = gdp_calloc(1, sizeof *f);
    (void)strcpy(f->node.driver_version, VER);
    f->node.devices = f->devices;
    add_device(f, GDP_DEVICE_GPU, GPU0, "0", 0);
    add_device(f, GDP_DEVICE_GPU, GPU1, "1", 1);
    add_device(f, GDP_DEVICE_MIG, MIG10, "1:0", 1);
    f->devices[2].gi_cap_minor = 12;
    f->devices[2].ci_cap_minor = 13;
    f->root = fake_root_new();
    make_driver_root(f->root);
    (void)strcpy(f->host_root, HOST_ROOT);
    (void)strcpy(f->hook, "/usr/bin/nvidia-ctk");
    f->cfg = (struct gdp_config){.device_list_strategy = GDP_LIST_CDI_CRI,
                                 .device_id_strategy = GDP_ID_UUID,
                                 .driver_root = f->host_root,
                                 .dev_root = f->host_root,
                                 .driver_root_ctr_path = f->root,
                                 .nvidia_cdi_hook_path = f->hook};
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    fake_root_remove(f->root);
    free(f);
    return 0;
}

/* --- a CDI validator written from the spec ------------------------------------------------------
 */

static bool
name_chars_ok(const char *s, const char *extra)
{
    for (; *s != '\0'; s++) {
        bool alnum =
                (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9');
        if (!alnum && strchr(extra, *s) == NULL) {
            return false;
        }
    }
    return true;
}

static void
check_kind(const char *kind)
{
    const char *slash = strchr(kind, '/');
    assert_non_null(slash);
    _cleanup_free_ char *vendor = gdp_strndup(kind, (size_t)(slash - kind));
    assert_true(vendor[0] != '\0' && name_chars_ok(vendor, "-_."));
    assert_true(slash[1] != '\0' && name_chars_ok(slash + 1, "-_"));
}

static void
check_edits(const json_t *edits, bool must_be_nonempty)
{
    assert_true(json_is_object(edits));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)edits, key, v)
    {
        assert_true(streq(key, "env") || streq(key, "deviceNodes") || streq(key, "hooks") ||
                    streq(key, "mounts"));
        assert_true(json_is_array(v) && json_array_size(v) > 0);
    }
    assert_true(!must_be_nonempty || json_object_size(edits) > 0);
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(edits, "env"), i, e)
    {
        assert_non_null(strchr(json_string_value(e), '='));
    }
    json_array_foreach(json_object_get(edits, "deviceNodes"), i, e)
    {
        assert_int_equal(json_string_value(json_object_get(e, "path"))[0], '/');
    }
    json_array_foreach(json_object_get(edits, "mounts"), i, e)
    {
        assert_int_equal(json_string_value(json_object_get(e, "hostPath"))[0], '/');
        assert_int_equal(json_string_value(json_object_get(e, "containerPath"))[0], '/');
    }
    json_array_foreach(json_object_get(edits, "hooks"), i, e)
    {
        const char *name = json_string_value(json_object_get(e, "hookName"));
        assert_true(streq(name, "prestart") || streq(name, "createRuntime") ||
                    streq(name, "createContainer") || streq(name, "startContainer") ||
                    streq(name, "poststart") || streq(name, "poststop"));
        assert_int_equal(json_string_value(json_object_get(e, "path"))[0], '/');
    }
}

/* Parses and validates a spec; returns it (caller json_decref()s). */
static json_t *
parse_spec(const char *text)
{
    json_error_t err;
    json_t *spec = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (spec == NULL) {
        fail_msg("bad JSON: %s at %d:%d", err.text, err.line, err.column);
    }
    const char *version = json_string_value(json_object_get(spec, "cdiVersion"));
    assert_non_null(version);
    assert_true(streq(version, "0.3.0") || streq(version, "0.4.0") || streq(version, "0.5.0"));
    check_kind(json_string_value(json_object_get(spec, "kind")));
    const json_t *devices = json_object_get(spec, "devices");
    assert_true(json_array_size(devices) > 0);
    size_t i;
    const json_t *d;
    json_array_foreach(devices, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        assert_true(name != NULL && name[0] != '\0' && name_chars_ok(name, "-_.:"));
        bool letter = (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z');
        assert_true(letter || !streq(version, "0.3.0"));
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(
                    name, json_string_value(json_object_get(json_array_get(devices, j), "name")));
        }
        check_edits(json_object_get(d, "containerEdits"), true);
    }
    if (json_object_get(spec, "containerEdits") != NULL) {
        check_edits(json_object_get(spec, "containerEdits"), false);
    }
    return spec;
}

static json_t *
render(struct fixture *f, enum gdp_cdi_kind kind, const struct gdp_imex *imex)
{
    struct gdp_diag diag = {0};
    _cleanup_free_ char *text = NULL;
    int r = gdp_cdi_render(&f->cfg, &f->node, &(struct gdp_cdi_opts){.imex = imex}, kind, &text,
                           &diag);
    if (r != 1) {
        fail_msg("render %#x: %d %s", (unsigned)kind, r, diag.msg);
    }
    return parse_spec(text);
}

static const char *
str_at(const json_t *j, const char *path)
{
    /* "a.0.b": objects by key, arrays by index */
    _cleanup_free_ char *copy = gdp_strdup(path);
    char *save = NULL;
    for (char *t = strtok_r(copy, ".", &save); t != NULL && j != NULL;
         t = strtok_r(NULL, ".", &save)) {
        j = json_is_array(j) ? json_array_get(j, strtoul(t, NULL, 10)) : json_object_get(j, t);
    }
    return json_string_value(j);
}

/* Every host path in edits exists in the fake tree once HOST_ROOT is mapped back onto it. */
static void
host_paths_exist(const struct fixture *f, const json_t *edits)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(edits, "mounts"), i, e)
    {
        const char *host = json_string_value(json_object_get(e, "hostPath"));
        assert_true(startswith(host, HOST_ROOT "/"));
        _cleanup_free_ char *p = gdp_asprintf("%s%s", f->root, host + strlen(HOST_ROOT));
        assert_int_equal(access(p, F_OK), 0);
        assert_string_equal(json_string_value(json_object_get(e, "containerPath")),
                            host + strlen(HOST_ROOT));
    }
    json_array_foreach(json_object_get(edits, "deviceNodes"), i, e)
    {
        const char *host = json_string_value(json_object_get(e, "hostPath"));
        assert_non_null(host);
        _cleanup_free_ char *p = gdp_asprintf("%s%s", f->root, host + strlen(HOST_ROOT));
        assert_int_equal(access(p, F_OK), 0);
    }
}

/* --- the gpu spec --------------------------------------------------------------------------------
 */

static void
gpu_spec_devices(void **state)
{
    struct fixture *f = *state;
    json_t *spec = render(f, GDP_CDI_GPU, NULL);
    assert_string_equal(str_at(spec, "kind"), "k8s.device-plugin.nvidia.com/gpu");
    assert_string_equal(str_at(spec, "cdiVersion"), "0.5.0"); /* hostPath on device nodes */
    const json_t *devices = json_object_get(spec, "devices");
    assert_int_equal(json_array_size(devices), 3);
    assert_string_equal(str_at(devices, "0.name"), GPU0);
    assert_string_equal(str_at(devices, "0.containerEdits.deviceNodes.0.path"), "/dev/nvidia0");
    assert_string_equal(str_at(devices, "0.containerEdits.deviceNodes.0.hostPath"),
                        HOST_ROOT "/dev/nvidia0");
    assert_string_equal(str_at(devices, "2.name"), MIG10);
    const json_t *mig = json_object_get(
            json_object_get(json_array_get(devices, 2), "containerEdits"), "deviceNodes");
    assert_int_equal(json_array_size(mig), 3);
    assert_string_equal(str_at(mig, "0.path"), "/dev/nvidia1");
    assert_string_equal(str_at(mig, "1.path"), "/dev/nvidia-caps/nvidia-cap12");
    assert_string_equal(str_at(mig, "2.path"), "/dev/nvidia-caps/nvidia-cap13");
    for (size_t i = 0; i < 3; i++) {
        host_paths_exist(f, json_object_get(json_array_get(devices, i), "containerEdits"));
    }
    json_decref(spec);

    f->cfg.device_id_strategy = GDP_ID_INDEX;
    spec = render(f, GDP_CDI_GPU, NULL);
    assert_string_equal(str_at(spec, "devices.0.name"), "0");
    assert_string_equal(str_at(spec, "devices.2.name"), "1:0");
    json_decref(spec);
}

static void
gpu_spec_common_edits(void **state)
{
    struct fixture *f = *state;
    json_t *spec = render(f, GDP_CDI_GPU, NULL);
    const json_t *edits = json_object_get(spec, "containerEdits");
    assert_string_equal(str_at(edits, "env.0"), "NVIDIA_VISIBLE_DEVICES=void");
    assert_int_equal(json_array_size(json_object_get(edits, "env")), 1);
    const json_t *nodes = json_object_get(edits, "deviceNodes");
    assert_int_equal(json_array_size(nodes), 3); /* no nvidia-uvm-tools in the fake root */
    assert_string_equal(str_at(nodes, "0.path"), "/dev/nvidiactl");
    assert_string_equal(str_at(nodes, "1.path"), "/dev/nvidia-uvm");
    assert_string_equal(str_at(nodes, "2.path"), "/dev/nvidia-modeset");
    static const char *const want[] = {
            "/usr/lib64/libcuda.so." VER,
            "/usr/lib64/libnvidia-ml.so." VER,
            "/usr/lib64/libnvidia-ptxjitcompiler.so." VER,
            "/usr/bin/nvidia-smi",
            "/usr/bin/nvidia-debugdump",
            "/run/nvidia-persistenced/socket",
            "/tmp/nvidia-mps",
            "/lib/firmware/nvidia/" VER "/gsp_ga10x.bin",
            "/lib/firmware/nvidia/" VER "/gsp_tu10x.bin",
    };
    const json_t *mounts = json_object_get(edits, "mounts");
    assert_int_equal(json_array_size(mounts), ELEMENTSOF(want));
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        const json_t *m = json_array_get(mounts, i);
        assert_string_equal(str_at(m, "containerPath"), want[i]);
        _cleanup_free_ char *host = gdp_asprintf(HOST_ROOT "%s", want[i]);
        assert_string_equal(str_at(m, "hostPath"), host);
        bool ipc = strstr(want[i], "socket") != NULL || strstr(want[i], "mps") != NULL;
        assert_string_equal(str_at(m, "options.0"), ipc ? "rw" : "ro");
        assert_string_equal(str_at(m, "options.3"), "bind");
        size_t n_opts = json_array_size(json_object_get(m, "options"));
        assert_int_equal(n_opts, ipc ? 5 : 4);
        if (ipc) {
            assert_string_equal(str_at(m, "options.4"), "noexec");
        }
    }
    host_paths_exist(f, edits);
    json_decref(spec);
}

/* The args of hooks[i] equal want[0..n) exactly. */
static void
hook_args_are(const json_t *hooks, size_t i, const char *const *want, size_t n)
{
    const json_t *args = json_object_get(json_array_get(hooks, i), "args");
    assert_int_equal(json_array_size(args), n);
    for (size_t k = 0; k < n; k++) {
        assert_string_equal(json_string_value(json_array_get(args, k)), want[k]);
    }
}

static void
gpu_spec_hooks(void **state)
{
    struct fixture *f = *state;
    json_t *spec = render(f, GDP_CDI_GPU, NULL);
    const json_t *hooks = json_object_get(json_object_get(spec, "containerEdits"), "hooks");
    assert_int_equal(json_array_size(hooks), 4);
    assert_string_equal(str_at(hooks, "0.hookName"), "createContainer");
    assert_string_equal(str_at(hooks, "0.path"), "/usr/bin/nvidia-ctk");
    static const char *const symlinks[] = {"nvidia-ctk", "hook", "create-symlinks", "--link",
                                           "libcuda.so.1::/usr/lib64/libcuda.so"};
    static const char *const compat[] = {"nvidia-ctk", "hook", "enable-cuda-compat",
                                         ("--host-driver-version=" VER)};
    static const char *const ldcache[] = {"nvidia-ctk", "hook", "update-ldcache", "--folder",
                                          "/usr/lib64"};
    static const char *const nodes[] = {"nvidia-ctk", "hook", "disable-device-node-modification"};
    hook_args_are(hooks, 0, symlinks, ELEMENTSOF(symlinks));
    hook_args_are(hooks, 1, compat, ELEMENTSOF(compat));
    hook_args_are(hooks, 2, ldcache, ELEMENTSOF(ldcache));
    hook_args_are(hooks, 3, nodes, ELEMENTSOF(nodes));
    json_decref(spec);

    (void)strcpy(f->hook, "/usr/local/bin/nvidia-cdi-hook");
    f->disable[0] = (char *)"create-symlinks";
    f->disable[1] = (char *)"enable-cuda-compat";
    f->cfg.cdi_disable_hooks = (struct gdp_strv){.v = f->disable, .n = 2};
    spec = render(f, GDP_CDI_GPU, NULL);
    hooks = json_object_get(json_object_get(spec, "containerEdits"), "hooks");
    assert_int_equal(json_array_size(hooks), 2);
    assert_string_equal(str_at(hooks, "0.path"), "/usr/local/bin/nvidia-cdi-hook");
    assert_string_equal(str_at(hooks, "0.args.0"), "nvidia-cdi-hook");
    assert_string_equal(str_at(hooks, "0.args.1"), "update-ldcache");
    assert_string_equal(str_at(hooks, "1.args.1"), "disable-device-node-modification");
    json_decref(spec);

    f->disable[0] = (char *)"all";
    f->cfg.cdi_disable_hooks.n = 1;
    spec = render(f, GDP_CDI_GPU, NULL);
    assert_null(json_object_get(json_object_get(spec, "containerEdits"), "hooks"));
    json_decref(spec);
}

static void
cdi_version_is_the_lowest_that_fits(void **state)
{
    struct fixture *f = *state;
    char slash[] = "/";
    f->cfg.dev_root = slash; /* device nodes need no hostPath */
    json_t *spec = render(f, GDP_CDI_GPU, NULL);
    assert_string_equal(str_at(spec, "cdiVersion"), "0.3.0");
    assert_null(json_object_get(json_array_get(json_object_get(spec, "devices"), 0), "hostPath"));
    json_decref(spec);
    f->cfg.device_id_strategy = GDP_ID_INDEX; /* names starting with a digit */
    spec = render(f, GDP_CDI_GPU, NULL);
    assert_string_equal(str_at(spec, "cdiVersion"), "0.5.0");
    json_decref(spec);
}

static void
render_errors(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    char *text = NULL;
    f->devices[2].ci_cap_minor = -1;
    assert_int_equal(gdp_cdi_render(&f->cfg, &f->node, NULL, GDP_CDI_GPU, &text, &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, MIG10));
    assert_null(text);
    f->node.driver_version[0] = '\0';
    assert_int_equal(gdp_cdi_render(&f->cfg, &f->node, NULL, GDP_CDI_GPU, &text, &diag), -ENODATA);
    assert_int_equal(gdp_cdi_render(&f->cfg, &f->node, NULL, 3, &text, &diag), -EINVAL);
}

/* --- extra kinds --------------------------------------------------------------------------------
 */

static void
extra_kinds(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    char *text = NULL;
    /* nothing on this node for them yet */
    for (unsigned k = GDP_CDI_IMEX; k <= GDP_CDI_MOFED; k <<= 1) {
        assert_int_equal(gdp_cdi_render(&f->cfg, &f->node, NULL, k, &text, &diag), 0);
        assert_null(text);
    }
    fake_root_file(f->root, "dev/nvidia-fs1", NULL);
    fake_root_file(f->root, "dev/nvidia-fs0", NULL);
    fake_root_file(f->root, "etc/cufile.json", "{}");
    fake_root_file(f->root, "dev/infiniband/uverbs0", NULL);
    fake_root_file(f->root, "dev/infiniband/rdma_cm", NULL);
    fake_root_file(f->root, "dev/gdrdrv", NULL);
    json_t *gds = render(f, GDP_CDI_GDS, NULL);
    assert_string_equal(str_at(gds, "kind"), "k8s.device-plugin.nvidia.com/gds");
    assert_string_equal(str_at(gds, "cdiVersion"), "0.5.0");
    assert_int_equal(json_array_size(json_object_get(gds, "devices")), 1);
    assert_string_equal(str_at(gds, "devices.0.name"), "all");
    assert_string_equal(str_at(gds, "devices.0.containerEdits.deviceNodes.0.path"),
                        "/dev/nvidia-fs0");
    assert_string_equal(str_at(gds, "devices.0.containerEdits.deviceNodes.1.path"),
                        "/dev/nvidia-fs1");
    assert_string_equal(str_at(gds, "devices.0.containerEdits.mounts.0.hostPath"),
                        HOST_ROOT "/etc/cufile.json");
    assert_null(str_at(gds, "devices.0.containerEdits.mounts.1.hostPath"));
    json_decref(gds);
    fake_root_dir(f->root, "run/udev");
    gds = render(f, GDP_CDI_GDS, NULL);
    assert_string_equal(str_at(gds, "devices.0.containerEdits.mounts.1.hostPath"),
                        HOST_ROOT "/run/udev");
    assert_string_equal(str_at(gds, "devices.0.containerEdits.mounts.1.containerPath"),
                        "/run/udev");
    assert_null(json_object_get(gds, "containerEdits"));
    json_decref(gds);
    json_t *mofed = render(f, GDP_CDI_MOFED, NULL);
    assert_string_equal(str_at(mofed, "devices.0.containerEdits.deviceNodes.0.path"),
                        "/dev/infiniband/uverbs0");
    assert_string_equal(str_at(mofed, "devices.0.containerEdits.deviceNodes.1.path"),
                        "/dev/infiniband/rdma_cm");
    json_decref(mofed);
    json_t *gdr = render(f, GDP_CDI_GDRCOPY, NULL);
    assert_string_equal(str_at(gdr, "devices.0.containerEdits.deviceNodes.0.hostPath"),
                        HOST_ROOT "/dev/gdrdrv");
    json_decref(gdr);
    const struct gdp_imex imex = {.ids = {0}, .n = 1};
    json_t *ch = render(f, GDP_CDI_IMEX, &imex);
    assert_string_equal(str_at(ch, "kind"), "k8s.device-plugin.nvidia.com/imex-channel");
    assert_string_equal(str_at(ch, "devices.0.name"), "0");
    assert_string_equal(str_at(ch, "devices.0.containerEdits.deviceNodes.0.path"),
                        "/dev/nvidia-caps-imex-channels/channel0");
    assert_string_equal(str_at(ch, "devices.0.containerEdits.deviceNodes.0.hostPath"),
                        HOST_ROOT "/dev/nvidia-caps-imex-channels/channel0");
    json_decref(ch);
}

/* --- writing ------------------------------------------------------------------------------------
 */

static size_t
count_hidden(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] == '.' && !streq(e->d_name, ".") && !streq(e->d_name, "..");
    }
    (void)closedir(d);
    return n;
}

static json_t *
load_file(const char *dir, const char *name)
{
    _cleanup_free_ char *p = gdp_asprintf("%s/%s", dir, name);
    _cleanup_free_ char *text = NULL;
    assert_int_equal(gdp_read_file(p, 1 << 20, &text), 0);
    return parse_spec(text);
}

static void
write_specs_into_dir(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    _cleanup_free_ char *dir = gdp_asprintf("%s/out/cdi", f->root);
    fake_root_file(f->root, "out/cdi/k8s.device-plugin.nvidia.com-gdrcopy.json", "stale");
    fake_root_file(f->root, "out/cdi/other-vendor.json", "kept");
    fake_root_file(f->root, "dev/nvidia-fs0", NULL);
    f->cfg.gds_enabled = true;
    f->cfg.gdrcopy_enabled = true; /* no /dev/gdrdrv: not written, stale file removed */
    int r = gdp_cdi_write_specs(&f->cfg, &f->node, dir, &diag);
    if (r < 0) {
        fail_msg("write_specs: %d %s", r, diag.msg);
    }
    assert_int_equal(r, GDP_CDI_GPU | GDP_CDI_GDS);
    json_t *gpu = load_file(dir, "k8s.device-plugin.nvidia.com-gpu.json");
    assert_int_equal(json_array_size(json_object_get(gpu, "devices")), 3);
    json_decref(gpu);
    json_t *gds = load_file(dir, "k8s.device-plugin.nvidia.com-gds.json");
    json_decref(gds);
    _cleanup_free_ char *stale = gdp_asprintf("%s/k8s.device-plugin.nvidia.com-gdrcopy.json", dir);
    _cleanup_free_ char *other = gdp_asprintf("%s/other-vendor.json", dir);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(count_hidden(dir), 0);
    struct stat st;
    _cleanup_free_ char *gpath = gdp_asprintf("%s/k8s.device-plugin.nvidia.com-gpu.json", dir);
    assert_int_equal(stat(gpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* a render failure writes nothing */
    f->devices[2].gi_cap_minor = -1;
    assert_int_equal(unlink(gpath), 0);
    assert_int_equal(gdp_cdi_write_specs(&f->cfg, &f->node, dir, &diag), -ENOENT);
    assert_int_equal(access(gpath, F_OK), -1);
}

/* A writer killed between mkstemp and rename leaves ".<spec>.XXXXXX": the next write removes
 * it once it is old enough to belong to no live writer. */
static void
write_specs_removes_stale_temps(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    _cleanup_free_ char *dir = gdp_asprintf("%s/tmpcdi", f->root);
    fake_root_file(f->root, "tmpcdi/.k8s.device-plugin.nvidia.com-gpu.json.Ab12Cd", "partial");
    fake_root_file(f->root, "tmpcdi/.k8s.device-plugin.nvidia.com-gds.json.Zz99Yy", "fresh");
    fake_root_file(f->root, "tmpcdi/.other-vendor.json.Ab12Cd", "not ours");
    _cleanup_free_ char *old =
            gdp_asprintf("%s/.k8s.device-plugin.nvidia.com-gpu.json.Ab12Cd", dir);
    _cleanup_free_ char *fresh =
            gdp_asprintf("%s/.k8s.device-plugin.nvidia.com-gds.json.Zz99Yy", dir);
    _cleanup_free_ char *other = gdp_asprintf("%s/.other-vendor.json.Ab12Cd", dir);
    const struct timespec hour_ago[2] = {{.tv_sec = time(NULL) - 3600},
                                         {.tv_sec = time(NULL) - 3600}};
    assert_int_equal(utimensat(AT_FDCWD, old, hour_ago, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, other, hour_ago, 0), 0);
    assert_true(gdp_cdi_write_specs(&f->cfg, &f->node, dir, &diag) >= 0);
    assert_int_equal(access(old, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
}

static void
write_specs_imex_required(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    _cleanup_free_ char *dir = gdp_asprintf("%s/cdi", f->root);
    f->cfg.n_imex_channel_ids = 1;
    f->cfg.imex_required = true;
    assert_int_equal(gdp_cdi_write_specs(&f->cfg, &f->node, dir, &diag), -ENODEV);
    fake_root_symlink(f->root, "dev/nvidia-caps-imex-channels/channel0", "/dev/null");
    assert_int_equal(gdp_cdi_write_specs(&f->cfg, &f->node, dir, &diag),
                     GDP_CDI_GPU | GDP_CDI_IMEX);
    json_t *ch = load_file(dir, "k8s.device-plugin.nvidia.com-imex-channel.json");
    json_decref(ch);
}

static void
write_atomic(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    _cleanup_free_ char *path = gdp_asprintf("%s/spec.json", f->root);
    _cleanup_free_ char *text = NULL;
    assert_int_equal(gdp_cdi_write_atomic(path, "{\"a\": 1}", &diag), 0);
    assert_int_equal(gdp_cdi_write_atomic(path, "{\"b\": 2}", &diag), 0);
    assert_int_equal(gdp_read_file(path, 1024, &text), 0);
    assert_string_equal(text, "{\"b\": 2}");
    assert_int_equal(count_hidden(f->root), 0);
    _cleanup_free_ char *missing = gdp_asprintf("%s/no/such/dir/spec.json", f->root);
    assert_int_equal(gdp_cdi_write_atomic(missing, "{}", &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, "no/such/dir"));
    /* rename onto a directory fails after the temporary file was written: it is removed */
    _cleanup_free_ char *dirpath = gdp_asprintf("%s/adir", f->root);
    fake_root_file(f->root, "adir/x", NULL);
    assert_true(gdp_cdi_write_atomic(dirpath, "{}", &diag) < 0);
    assert_int_equal(count_hidden(f->root), 0);
}

static void
dev_root_ctr_choice(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *a = gdp_paths_dev_root_ctr(&f->cfg);
    assert_string_equal(a, f->root); /* the driver root has dev/ */
    char none[] = "/nonexistent-driver-root";
    f->cfg.driver_root_ctr_path = none;
    _cleanup_free_ char *b = gdp_paths_dev_root_ctr(&f->cfg);
    assert_string_equal(b, "/");
    char elsewhere[] = "/elsewhere";
    f->cfg.dev_root_ctr_override = elsewhere; /* GDP_DEV_ROOT_CTR */
    _cleanup_free_ char *c = gdp_paths_dev_root_ctr(&f->cfg);
    assert_string_equal(c, "/elsewhere");
    f->cfg.dev_root_ctr_override = NULL;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
            T(gpu_spec_devices),
            T(gpu_spec_common_edits),
            T(gpu_spec_hooks),
            T(cdi_version_is_the_lowest_that_fits),
            T(render_errors),
            T(extra_kinds),
            T(write_specs_into_dir),
            T(write_specs_imex_required),
            T(write_specs_removes_stale_temps),
            T(write_atomic),
            T(dev_root_ctr_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
