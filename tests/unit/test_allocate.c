/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for resource/allocate.c and resource/imex.c: every device-list strategy
 * combination, UUID and index IDs, MIG index form, replica folding, volume mounts, CDI
 * annotations and CDI devices, device specs (MIG capabilities included), GDS/MOFED/GDRCopy
 * and IMEX, failRequestsGreaterThanOne. Expected values are written from NVIDIA's
 * getAllocateResponse as described in the reference (section 5), not from our output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "fake_root.h"
#include "gpu/device.h"
#include "resource/allocate.h"
#include "resource/cdi.h"
#include "resource/imex.h"
#include "resource/resources.h"
#include "resource/snapshot.h"

#define GPU0  "GPU-8f3c1a52-0000-4000-8000-000000000000"
#define GPU1  "GPU-0b7d2e91-0000-4000-8000-000000000001"
#define MIG10 "MIG-5d1e7c33-0000-4000-8000-000000000010"
#define MIG11 "MIG-93aa04f2-0000-4000-8000-000000000011"
#define VMR   "/var/run/nvidia-container-devices"
#define KIND  "k8s.device-plugin.nvidia.com/gpu="

/* bytes 00 01 .. 0f as a version-4 UUID */
#define FIXED_UUID "00010203-0405-4607-8809-0a0b0c0d0e0f"

struct fixture {
    struct gdp_node node;
    struct gdp_device devices[4];
    struct gdp_rdev rdevs[8];
    struct gdp_resource res;
    struct gdp_snapshot snap; /* its cfg is the configuration under test */
    struct gdp_imex imex;
    char prefix[64];
    char root_slash[2];
    char host_root[64];
    char *dev_ctr; /* a fake container dev root with dev/nvidiactl and dev/nvidia-uvm */
};

static int
fixed_random(void *buf, size_t len)
{
    unsigned char *b = buf;
    for (size_t i = 0; i < len; i++) {
        b[i] = (unsigned char)i;
    }
    return 0;
}

static int
failing_random(void *buf _unused_, size_t len _unused_)
{
    return -EIO;
}

static void
add_device(struct fixture *f, enum gdp_device_kind kind, const char *uuid, const char *index,
           unsigned minor)
{
    struct gdp_device *d = &f->devices[f->node.n_devices++];
    *d = (struct gdp_device){.kind = kind,
                             .minor = minor,
                             .parent = -1,
                             .healthy = true,
                             .gi_cap_minor = -1,
                             .ci_cap_minor = -1};
    (void)gdp_strlcpy(d->uuid, uuid, sizeof d->uuid);
    (void)gdp_strlcpy(d->index_str, index, sizeof d->index_str);
}

static void
add_rdev(struct fixture *f, const char *id, size_t dev)
{
    struct gdp_rdev *rd = &f->rdevs[f->res.n_devices++];
    *rd = (struct gdp_rdev){.dev = &f->devices[dev]};
    (void)gdp_strlcpy(rd->id, id, sizeof rd->id);
    const char *k = strstr(id, "::");
    if (k != NULL) { /* GPU 0 is shared two ways */
        rd->replica = (unsigned)(k[2] - '0');
        rd->replicas = 2;
    }
}

/* GPU 0 (minor 0, advertised as two replicas only), GPU 1 (minor 1) with MIG 1:0, 1:1. */
static int
setup(void **state)
{
    struct fixture *f = gdp_calloc(1, sizeof *f);
    f->node.devices = f->devices;
    add_device(f, GDP_DEVICE_GPU, GPU0, "0", 0);
    add_device(f, GDP_DEVICE_GPU, GPU1, "1", 1);
    add_device(f, GDP_DEVICE_MIG, MIG10, "1:0", 1);
    add_device(f, GDP_DEVICE_MIG, MIG11, "1:1", 1);
    f->devices[2].parent = f->devices[3].parent = 1;
    f->devices[2].gi = 1;
    f->devices[2].gi_cap_minor = 12; /* gpu1/gi1/access */
    f->devices[2].ci_cap_minor = 13; /* gpu1/gi1/ci0/access */
    f->devices[3].gi = 2;            /* caps minors unknown */
    (void)strcpy(f->res.name, "nvidia.com/gpu");
    f->res.devices = f->rdevs;
    add_rdev(f, GPU0 "::0", 0);
    add_rdev(f, GPU0 "::1", 0);
    add_rdev(f, GPU1, 1);
    add_rdev(f, MIG10, 2);
    add_rdev(f, MIG11, 3);
    (void)strcpy(f->prefix, "cdi.k8s.io/");
    (void)strcpy(f->root_slash, "/");
    (void)strcpy(f->host_root, "/run/nvidia/driver");
    f->snap.cfg = (struct gdp_config){.device_list_strategy = GDP_LIST_ENVVAR,
                                      .device_id_strategy = GDP_ID_UUID,
                                      .cdi_annotation_prefix = f->prefix,
                                      .driver_root = f->root_slash,
                                      .dev_root = f->root_slash};
    f->dev_ctr = fake_root_new();
    fake_root_file(f->dev_ctr, "dev/nvidiactl", NULL);
    fake_root_file(f->dev_ctr, "dev/nvidia-uvm", NULL);
    f->snap.inv.node = &f->node;
    f->snap.dev_root_ctr = f->dev_ctr;
    f->snap.random = fixed_random;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    fake_root_remove(f->dev_ctr);
    free(f);
    return 0;
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
alloc_ok(struct fixture *f, const char *const *ids, size_t n, struct gdp_container_alloc *a)
{
    struct gdp_diag diag = {0};
    int r = gdp_allocate_container(&f->snap, &f->res, ids, n, a, &diag);
    if (r != 0) {
        print_error("allocate: %d %s\n", r, diag.msg);
    }
    assert_int_equal(r, 0);
}

/* --- every strategy combination, UUID and index ------------------------------------------ */

struct combo {
    unsigned strategies;
    enum gdp_id_strategy id;
    const char *visible;    /* NVIDIA_VISIBLE_DEVICES, NULL = absent */
    size_t n_envs;          /* all envs */
    size_t n_mounts;        /* /dev/null volume mounts */
    const char *annotation; /* the CDI annotation's value, NULL = no annotation */
    size_t n_cdi;           /* CDIDevices */
    size_t n_devices;       /* DeviceSpecs with --pass-device-specs */
};

#define E         GDP_LIST_ENVVAR
#define V         GDP_LIST_VOLUME_MOUNTS
#define CA        GDP_LIST_CDI_ANNOTATIONS
#define CC        GDP_LIST_CDI_CRI

#define ANN_UUID  KIND GPU0 "," KIND MIG10
#define ANN_INDEX KIND "0," KIND "1:0"

/*
 * Request: GPU0::1, MIG10, GPU0::0 -> devices GPU0, MIG10 (deduplicated, request order).
 * Device specs: nvidiactl, nvidia-uvm (present in the fake dev root), then per requested ID:
 * nvidia0; nvidia1 + 2 caps; nvidia0 = 7.
 */
static const struct combo combos[] = {
        {E, GDP_ID_UUID, GPU0 "," MIG10, 1, 0, NULL, 0, 7},
        {E, GDP_ID_INDEX, "0,1:0", 1, 0, NULL, 0, 7},
        {V, GDP_ID_UUID, VMR, 1, 2, NULL, 0, 7},
        {V, GDP_ID_INDEX, VMR, 1, 2, NULL, 0, 7},
        {E | V, GDP_ID_UUID, VMR, 1, 2, NULL, 0, 7},
        {CA, GDP_ID_UUID, NULL, 0, 0, ANN_UUID, 0, 0},
        {CA, GDP_ID_INDEX, NULL, 0, 0, ANN_INDEX, 0, 0},
        {CC, GDP_ID_UUID, NULL, 0, 0, NULL, 2, 0},
        {CA | CC, GDP_ID_INDEX, NULL, 0, 0, ANN_INDEX, 2, 0},
        {E | CA, GDP_ID_UUID, GPU0 "," MIG10, 1, 0, ANN_UUID, 0, 7},
        {E | CC, GDP_ID_INDEX, "0,1:0", 1, 0, NULL, 2, 7},
        {V | CA, GDP_ID_UUID, VMR, 1, 2, ANN_UUID, 0, 7},
        {V | CC, GDP_ID_UUID, VMR, 1, 2, NULL, 2, 7},
        {E | V | CA | CC, GDP_ID_INDEX, VMR, 1, 2, ANN_INDEX, 2, 7},
};

static void
check_combo(struct fixture *f, const struct combo *c)
{
    static const char *const ids[] = {GPU0 "::1", MIG10, GPU0 "::0"};
    struct gdp_container_alloc a;
    f->snap.cfg.device_list_strategy = c->strategies;
    f->snap.cfg.device_id_strategy = c->id;
    f->snap.cfg.pass_device_specs = true;
    alloc_ok(f, ids, ELEMENTSOF(ids), &a);
    const char *visible = env_of(&a, "NVIDIA_VISIBLE_DEVICES");
    if (c->visible == NULL) {
        assert_null(visible);
    } else {
        assert_non_null(visible);
        assert_string_equal(visible, c->visible);
    }
    assert_int_equal(a.n_envs, c->n_envs);
    assert_int_equal(a.n_mounts, c->n_mounts);
    assert_int_equal(a.n_annotations, c->annotation != NULL ? 1 : 0);
    if (c->annotation != NULL) {
        assert_string_equal(a.annotations[0].key, "cdi.k8s.io/nvidia-device-plugin_" FIXED_UUID);
        assert_string_equal(a.annotations[0].value, c->annotation);
    }
    assert_int_equal(a.n_cdi_devices, c->n_cdi);
    if (c->n_cdi > 0) {
        assert_string_equal(a.cdi_devices[0], c->id == GDP_ID_UUID ? KIND GPU0 : KIND "0");
        assert_string_equal(a.cdi_devices[1], c->id == GDP_ID_UUID ? KIND MIG10 : KIND "1:0");
    }
    assert_int_equal(a.n_devices, c->n_devices);
    gdp_container_alloc_done(&a);
}

static void
every_strategy_combination(void **state)
{
    for (size_t i = 0; i < ELEMENTSOF(combos); i++) {
        print_message("combo %zu: strategies %#x id %d\n", i, combos[i].strategies,
                      (int)combos[i].id);
        check_combo(*state, &combos[i]);
    }
}

/* --- details --------------------------------------------------------------------------------- */

static void
envvar_is_the_default_answer(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1};
    struct gdp_container_alloc a;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_envs, 1);
    assert_string_equal(a.envs[0].key, "NVIDIA_VISIBLE_DEVICES");
    assert_string_equal(a.envs[0].value, GPU1);
    assert_int_equal(a.n_mounts + a.n_devices + a.n_annotations + a.n_cdi_devices, 0);
    gdp_container_alloc_done(&a);
}

static void
replicas_fold_into_their_device(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU0 "::0", GPU0 "::1"};
    struct gdp_container_alloc a;
    f->snap.cfg.device_id_strategy = GDP_ID_INDEX;
    alloc_ok(f, ids, 2, &a);
    assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), "0");
    gdp_container_alloc_done(&a);
}

static void
mig_index_form(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {MIG11, MIG10};
    struct gdp_container_alloc a;
    f->snap.cfg.device_id_strategy = GDP_ID_INDEX;
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR | GDP_LIST_CDI_CRI;
    alloc_ok(f, ids, 2, &a);
    assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), "1:1,1:0");
    assert_int_equal(a.n_cdi_devices, 2);
    assert_string_equal(a.cdi_devices[0], KIND "1:1");
    assert_string_equal(a.cdi_devices[1], KIND "1:0");
    gdp_container_alloc_done(&a);
}

static void
volume_mount_paths(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1, MIG10};
    struct gdp_container_alloc a;
    f->snap.cfg.device_list_strategy = GDP_LIST_VOLUME_MOUNTS;
    alloc_ok(f, ids, 2, &a);
    assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), VMR);
    assert_int_equal(a.n_mounts, 2);
    assert_string_equal(a.mounts[0].host_path, "/dev/null");
    assert_string_equal(a.mounts[0].container_path, VMR "/" GPU1);
    assert_string_equal(a.mounts[1].host_path, "/dev/null");
    assert_string_equal(a.mounts[1].container_path, VMR "/" MIG10);
    assert_false(a.mounts[0].read_only);
    gdp_container_alloc_done(&a);
}

static void
cdi_annotation_key_and_prefix(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU0 "::1"};
    struct gdp_container_alloc a;
    (void)strcpy(f->prefix, "nvidia.cdi.k8s.io/");
    f->snap.cfg.device_list_strategy = GDP_LIST_CDI_ANNOTATIONS;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_envs, 0);
    assert_int_equal(a.n_annotations, 1);
    assert_string_equal(a.annotations[0].key, "nvidia.cdi.k8s.io/nvidia-device-plugin_" FIXED_UUID);
    /* name part after the prefix fits a Kubernetes name (63) */
    assert_true(strlen(a.annotations[0].key) - strlen(f->prefix) <= 63);
    assert_string_equal(a.annotations[0].value, KIND GPU0);
    gdp_container_alloc_done(&a);
}

static void
cdi_key_is_random_per_response(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1};
    struct gdp_container_alloc a;
    struct gdp_container_alloc b;
    f->snap.random = NULL; /* getrandom */
    f->snap.cfg.device_list_strategy = GDP_LIST_CDI_ANNOTATIONS;
    alloc_ok(f, ids, 1, &a);
    alloc_ok(f, ids, 1, &b);
    const char *k = a.annotations[0].key + strlen("cdi.k8s.io/nvidia-device-plugin_");
    assert_int_equal(strlen(k), 36);
    assert_int_equal(k[14], '4'); /* version 4 */
    assert_string_not_equal(a.annotations[0].key, b.annotations[0].key);
    gdp_container_alloc_done(&a);
    gdp_container_alloc_done(&b);
}

static void
cdi_only_ignores_device_specs(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1};
    struct gdp_container_alloc a;
    f->snap.cfg.device_list_strategy = GDP_LIST_CDI_CRI;
    f->snap.cfg.pass_device_specs = true;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_devices, 0);
    assert_int_equal(a.n_envs, 0);
    assert_int_equal(a.n_cdi_devices, 1);
    assert_string_equal(a.cdi_devices[0], KIND GPU1);
    gdp_container_alloc_done(&a);
}

static void
device_specs_paths(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {MIG10, GPU0 "::0", GPU0 "::1"};
    static const char *const want[] = {"/dev/nvidiactl",
                                       "/dev/nvidia-uvm",
                                       "/dev/nvidia1",
                                       "/dev/nvidia-caps/nvidia-cap12",
                                       "/dev/nvidia-caps/nvidia-cap13",
                                       "/dev/nvidia0",
                                       "/dev/nvidia0"};
    struct gdp_container_alloc a;
    f->snap.cfg.pass_device_specs = true;
    f->snap.cfg.dev_root = f->host_root;
    alloc_ok(f, ids, ELEMENTSOF(ids), &a);
    assert_int_equal(a.n_devices, ELEMENTSOF(want));
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        _cleanup_free_ char *host = gdp_asprintf("/run/nvidia/driver%s", want[i]);
        assert_string_equal(a.devices[i].container_path, want[i]);
        assert_string_equal(a.devices[i].host_path, host);
        assert_string_equal(a.devices[i].permissions, "rw");
    }
    gdp_container_alloc_done(&a);
}

static void
device_specs_control_nodes_when_present(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1};
    struct gdp_container_alloc a;
    fake_root_file(f->dev_ctr, "dev/nvidia-uvm-tools", NULL);
    fake_root_file(f->dev_ctr, "dev/nvidia-modeset", NULL);
    f->snap.cfg.pass_device_specs = true;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_devices, 5);
    assert_string_equal(a.devices[2].container_path, "/dev/nvidia-uvm-tools");
    assert_string_equal(a.devices[3].container_path, "/dev/nvidia-modeset");
    assert_string_equal(a.devices[4].host_path, "/dev/nvidia1");
    gdp_container_alloc_done(&a);
}

static void
device_specs_missing_mig_caps_fail(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1, MIG11};
    struct gdp_container_alloc a;
    struct gdp_diag diag = {0};
    f->snap.cfg.pass_device_specs = true;
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, ids, 2, &a, &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, MIG11));
    assert_non_null(strstr(diag.msg, "nvidia-caps"));
    assert_int_equal(a.n_envs + a.n_devices, 0);
    assert_null(a.envs);
    /* without device specs the caps are not needed */
    f->snap.cfg.pass_device_specs = false;
    alloc_ok(f, ids, 2, &a);
    gdp_container_alloc_done(&a);
}

static void
gds_mofed_gdrcopy(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU1};
    struct gdp_container_alloc a;
    f->snap.cfg.gds_enabled = true;
    f->snap.cfg.mofed_enabled = true;
    f->snap.cfg.gdrcopy_enabled = true;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_envs, 4);
    assert_string_equal(env_of(&a, "NVIDIA_GDS"), "enabled");
    assert_string_equal(env_of(&a, "NVIDIA_MOFED"), "enabled");
    assert_string_equal(env_of(&a, "NVIDIA_GDRCOPY"), "enabled");
    gdp_container_alloc_done(&a);

    /* CDI: the extra kinds are named only when their spec was written; envs regardless */
    f->snap.cfg.device_list_strategy = GDP_LIST_CDI_CRI | GDP_LIST_CDI_ANNOTATIONS;
    f->snap.cdi_kinds = GDP_CDI_GPU | GDP_CDI_GDS | GDP_CDI_GDRCOPY;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_envs, 3);
    assert_null(env_of(&a, "NVIDIA_VISIBLE_DEVICES"));
    assert_int_equal(a.n_cdi_devices, 3);
    assert_string_equal(a.cdi_devices[0], KIND GPU1);
    assert_string_equal(a.cdi_devices[1], "k8s.device-plugin.nvidia.com/gdrcopy=all");
    assert_string_equal(a.cdi_devices[2], "k8s.device-plugin.nvidia.com/gds=all");
    assert_string_equal(a.annotations[0].value, KIND GPU1 ",k8s.device-plugin.nvidia.com/"
                                                          "gdrcopy=all,k8s.device-plugin.nvidia."
                                                          "com/gds=all");
    gdp_container_alloc_done(&a);
}

static void
imex_channels_per_strategy(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {GPU0 "::0"};
    struct gdp_container_alloc a;
    f->imex = (struct gdp_imex){.ids = {0}, .n = 1};
    f->snap.imex = f->imex;
    f->snap.cfg.pass_device_specs = true;
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR;
    alloc_ok(f, ids, 1, &a);
    assert_string_equal(env_of(&a, "NVIDIA_IMEX_CHANNELS"), "0");
    assert_int_equal(a.n_devices, 4);
    assert_string_equal(a.devices[3].container_path, "/dev/nvidia-caps-imex-channels/channel0");
    assert_string_equal(a.devices[3].host_path, "/dev/nvidia-caps-imex-channels/channel0");
    gdp_container_alloc_done(&a);

    f->snap.cfg.device_list_strategy = GDP_LIST_VOLUME_MOUNTS;
    alloc_ok(f, ids, 1, &a);
    assert_null(env_of(&a, "NVIDIA_IMEX_CHANNELS"));
    assert_int_equal(a.n_mounts, 2);
    assert_string_equal(a.mounts[1].container_path, VMR "/imex/0");
    assert_string_equal(a.mounts[1].host_path, "/dev/null");
    gdp_container_alloc_done(&a);

    f->snap.cfg.device_list_strategy = GDP_LIST_CDI_CRI;
    alloc_ok(f, ids, 1, &a);
    assert_int_equal(a.n_cdi_devices, 2);
    assert_string_equal(a.cdi_devices[1], "k8s.device-plugin.nvidia.com/imex-channel=0");
    gdp_container_alloc_done(&a);
}

static void
errors_leave_nothing(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {GPU1, "GPU-nope"};
    struct gdp_container_alloc a;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, bad, 0, &a, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "no device IDs"));
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, bad, 2, &a, &diag), -ENOENT);
    assert_string_equal(diag.msg, "invalid request: unknown device: GPU-nope");
    assert_null(a.envs);
    /* GPU0 is advertised only as its replicas: the bare UUID is not one of our IDs */
    static const char *const replica_less[] = {GPU0};
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, replica_less, 1, &a, &diag),
                     -ENOENT);

    f->snap.random = failing_random;
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR | GDP_LIST_CDI_ANNOTATIONS;
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, bad, 1, &a, &diag), -EIO);
    assert_non_null(strstr(diag.msg, "random"));
    assert_null(a.envs);
    assert_null(a.annotations);
}

/* --- failRequestsGreaterThanOne --------------------------------------------------------- */

static void
shared_requests_of_more_than_one_fail(void **state)
{
    struct fixture *f = *state;
    static const char *const two[] = {GPU0 "::0", GPU0 "::1"};
    static const char *const mixed[] = {GPU1, GPU0 "::1"};
    static const char *const whole[] = {GPU1, MIG10};
    static const char *const unknown[] = {GPU0 "::0", GPU0 "::7"};
    struct gdp_container_alloc a;
    struct gdp_diag diag = {0};

    /* time-slicing without the flag (NVIDIA's default): allowed, one device */
    f->snap.cfg.sharing.strategy = GDP_SHARING_TIME_SLICING;
    f->snap.cfg.sharing.time_slicing.present = true;
    alloc_ok(f, two, 2, &a);
    assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), GPU0);
    gdp_container_alloc_done(&a);

    f->snap.cfg.sharing.time_slicing.fail_requests_greater_than_one = true;
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, two, 2, &a, &diag), -EINVAL);
    assert_string_equal(diag.msg,
                        "invalid request: maximum request size for shared resources is 1; found 2");
    assert_null(a.envs);
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, mixed, 2, &a, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "found 2"));
    /* IDs are validated first */
    assert_int_equal(gdp_allocate_container(&f->snap, &f->res, unknown, 2, &a, &diag), -ENOENT);
    assert_string_equal(diag.msg, "invalid request: unknown device: " GPU0 "::7");
    /* one replica, or devices that are not replicas, are fine */
    alloc_ok(f, two, 1, &a);
    gdp_container_alloc_done(&a);
    alloc_ok(f, whole, 2, &a);
    gdp_container_alloc_done(&a);
}

/* MPS: the flag defaults to true when the file leaves it out; an explicit false is honoured. */
static void
mps_fails_shared_requests_by_default(void **state)
{
    struct fixture *f = *state;
    static const char *const two[] = {GPU0 "::1", GPU0 "::0"};
    char mps_root[] = "/run/nvidia/mps";
    static const char *const yaml[] = {
            "sharing: {mps: {resources: [{name: gpu, replicas: 2}]}}\n",
            "sharing: {mps: {failRequestsGreaterThanOne: false, resources: [{name: gpu, "
            "replicas: 2}]}}\n",
    };
    f->snap.cfg.mps_root = mps_root;
    for (size_t i = 0; i < ELEMENTSOF(yaml); i++) {
        struct gdp_config loaded;
        struct gdp_container_alloc a;
        struct gdp_diag diag = {0};
        gdp_config_init(&loaded);
        assert_int_equal(gdp_config_load_buffer(&loaded, "t.yaml", yaml[i], strlen(yaml[i]), &diag),
                         0);
        assert_int_equal(loaded.sharing.strategy, GDP_SHARING_MPS);
        f->snap.cfg.sharing = loaded.sharing; /* borrowed for the call */
        int r = gdp_allocate_container(&f->snap, &f->res, two, 2, &a, &diag);
        f->snap.cfg.sharing = (struct gdp_sharing){0};
        gdp_config_done(&loaded);
        if (i == 0) {
            assert_int_equal(r, -EINVAL);
            assert_string_equal(
                    diag.msg,
                    "invalid request: maximum request size for shared resources is 1; found 2");
        } else {
            assert_int_equal(r, 0);
            assert_string_equal(env_of(&a, "NVIDIA_VISIBLE_DEVICES"), GPU0);
            gdp_container_alloc_done(&a);
        }
    }
    f->snap.cfg.mps_root = NULL; /* mps_root is local */
}

/* --- IMEX start-up check ------------------------------------------------------------------------
 */

static void
imex_check(void **state)
{
    struct fixture *f = *state;
    struct gdp_imex imex;
    struct gdp_diag diag = {0};
    f->snap.cfg.dev_root_ctr_override = f->dev_ctr; /* GDP_DEV_ROOT_CTR */
    f->snap.cfg.n_imex_channel_ids = 1;
    f->snap.cfg.imex_channel_ids[0] = 0;

    assert_int_equal(gdp_imex_check(&f->snap.cfg, &imex, &diag), 0);
    assert_int_equal(imex.n, 0);
    assert_int_equal(imex.n_missing, 1);

    f->snap.cfg.imex_required = true;
    assert_int_equal(gdp_imex_check(&f->snap.cfg, &imex, &diag), -ENODEV);
    assert_non_null(strstr(diag.msg, "channel0"));

    /* a regular file is not a channel; a character device is */
    fake_root_file(f->dev_ctr, "dev/nvidia-caps-imex-channels/channel0", NULL);
    assert_int_equal(gdp_imex_check(&f->snap.cfg, &imex, &diag), -ENODEV);
    _cleanup_free_ char *p = gdp_asprintf("%s/dev/nvidia-caps-imex-channels/channel0", f->dev_ctr);
    assert_int_equal(unlink(p), 0);
    fake_root_symlink(f->dev_ctr, "dev/nvidia-caps-imex-channels/channel0", "/dev/null");
    assert_int_equal(gdp_imex_check(&f->snap.cfg, &imex, &diag), 0);
    assert_int_equal(imex.n, 1);
    assert_int_equal(imex.ids[0], 0);

    f->snap.cfg.n_imex_channel_ids = 0;
    assert_int_equal(gdp_imex_check(&f->snap.cfg, &imex, &diag), 0);
    assert_int_equal(imex.n + imex.n_missing, 0);
    f->snap.cfg.dev_root_ctr_override = NULL;
}

static void
cdi_needs_nvml(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_cdi_check_platform(&f->snap.cfg, false, &diag), 0);
    f->snap.cfg.device_list_strategy = GDP_LIST_ENVVAR | GDP_LIST_CDI_CRI;
    assert_int_equal(gdp_cdi_check_platform(&f->snap.cfg, true, &diag), 0);
    assert_int_equal(gdp_cdi_check_platform(&f->snap.cfg, false, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "cdi-cri"));
    assert_non_null(strstr(diag.msg, "NVML"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
            T(every_strategy_combination),
            T(envvar_is_the_default_answer),
            T(replicas_fold_into_their_device),
            T(mig_index_form),
            T(volume_mount_paths),
            T(cdi_annotation_key_and_prefix),
            T(cdi_key_is_random_per_response),
            T(cdi_only_ignores_device_specs),
            T(device_specs_paths),
            T(device_specs_control_nodes_when_present),
            T(device_specs_missing_mig_caps_fail),
            T(gds_mofed_gdrcopy),
            T(imex_channels_per_strategy),
            T(errors_leave_nothing),
            T(shared_requests_of_more_than_one_fail),
            T(mps_fails_shared_requests_by_default),
            T(imex_check),
            T(cdi_needs_nvml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
