/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the mock NVML library, through dlopen as a consumer uses it. The library loads
 * its node file once per process, so the driver (no arguments) re-executes this program
 * once per scenario with its own environment (node file, control FIFO) and checks that
 * each scenario's cmocka group passed.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs stdarg.h, stddef.h and setjmp.h first */
#include <cmocka.h>

#include "nvml/nvml_api.h"

#define DECLARE_PTR_(name, ret, params) static __typeof__(name) *p_##name;
NVML_FUNCTIONS(DECLARE_PTR_)
#undef DECLARE_PTR_

/* Calls an NVML function through the dlsym'ed pointer. */
#define N(fn) p_##fn

static void *lib;
static char tmpdir[256];

static const char *
env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : fallback;
}

static int
load_lib(void **state)
{
    (void)state;
    lib = dlopen(env_or("MOCK_NVML_LIB", "libnvidia-ml.so.1"), RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        (void)fprintf(stderr, "dlopen: %s\n", dlerror());
        return -1;
    }
#define LOAD_PTR_(name, ret, params) p_##name = (__typeof__(name) *)dlsym(lib, #name);
    NVML_FUNCTIONS(LOAD_PTR_)
#undef LOAD_PTR_
    return 0;
}

static nvmlDevice_t
gpu(unsigned int i)
{
    nvmlDevice_t d = NULL;
    assert_int_equal(N(nvmlDeviceGetHandleByIndex_v2)(i, &d), NVML_SUCCESS);
    return d;
}

static const char *
uuid_of(nvmlDevice_t d)
{
    static char buf[4][NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    static unsigned int next;
    char *b = buf[next++ % 4];

    assert_int_equal(N(nvmlDeviceGetUUID)(d, b, NVML_DEVICE_UUID_V2_BUFFER_SIZE), NVML_SUCCESS);
    return b;
}

static const char *
name_of(nvmlDevice_t d)
{
    static char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE];

    assert_int_equal(N(nvmlDeviceGetName)(d, buf, sizeof buf), NVML_SUCCESS);
    return buf;
}

static double
now_s(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------- scenario "default": the embedded DGX A100 node ---------------- */

static void
every_symbol_exported(void **state)
{
    (void)state;
#define CHECK_PTR_(name, ret, params) assert_non_null(p_##name);
    NVML_FUNCTIONS(CHECK_PTR_)
#undef CHECK_PTR_
}

static void
init_refcount(void **state)
{
    unsigned int count;
    nvmlDevice_t before;

    (void)state;
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_ERROR_UNINITIALIZED);
    assert_int_equal(N(nvmlShutdown)(), NVML_ERROR_UNINITIALIZED);
    assert_non_null(N(nvmlErrorString)(NVML_ERROR_UNINITIALIZED));
    assert_non_null(N(nvmlErrorString)((nvmlReturn_t)12345));
    assert_int_equal(N(nvmlInit_v2)(), NVML_SUCCESS);
    assert_int_equal(N(nvmlInit)(), NVML_SUCCESS);
    assert_int_equal(N(nvmlInitWithFlags)(0), NVML_SUCCESS);
    before = gpu(3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_SUCCESS);
        assert_int_equal(N(nvmlShutdown)(), NVML_SUCCESS);
    }
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_ERROR_UNINITIALIZED);
    assert_int_equal(N(nvmlDeviceGetName)(before, (char[96]){0}, 96), NVML_ERROR_UNINITIALIZED);
    assert_int_equal(N(nvmlShutdown)(), NVML_ERROR_UNINITIALIZED);
    assert_int_equal(N(nvmlInit_v2)(), NVML_SUCCESS);
    assert_ptr_equal(gpu(3), before); /* handles are stable across shutdown and re-init */
}

static void
enumeration(void **state)
{
    unsigned int count;
    nvmlDevice_t d;
    char seen[8][NVML_DEVICE_UUID_V2_BUFFER_SIZE];

    (void)state;
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_SUCCESS);
    assert_int_equal(count, 8);
    assert_int_equal(N(nvmlDeviceGetCount_v2)(NULL), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetHandleByIndex_v2)(8, &d), NVML_ERROR_INVALID_ARGUMENT);
    for (unsigned int i = 0; i < count; i++) {
        unsigned int idx;
        assert_string_equal(name_of(gpu(i)), "NVIDIA A100-SXM4-40GB");
        (void)snprintf(seen[i], sizeof seen[i], "%s", uuid_of(gpu(i)));
        assert_int_equal(strlen(seen[i]), 40);
        assert_true(strncmp(seen[i], "GPU-", 4) == 0);
        for (unsigned int j = 0; j < i; j++) {
            assert_string_not_equal(seen[i], seen[j]);
        }
        assert_int_equal(N(nvmlDeviceGetHandleByUUID)(seen[i], &d), NVML_SUCCESS);
        assert_ptr_equal(d, gpu(i));
        assert_int_equal(N(nvmlDeviceGetIndex)(d, &idx), NVML_SUCCESS);
        assert_int_equal(idx, i);
    }
    assert_int_equal(N(nvmlDeviceGetHandleByUUID)("GPU-00000000-0000-0000-0000-000000000000", &d),
                     NVML_ERROR_NOT_FOUND);
    assert_int_equal(N(nvmlDeviceGetHandleByUUID)(NULL, &d), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetName)((nvmlDevice_t)(uintptr_t)0x1234, (char[96]){0}, 96),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetName)(NULL, (char[96]){0}, 96), NVML_ERROR_INVALID_ARGUMENT);
}

static void
strings(void **state)
{
    char buf[96];
    int cuda;

    (void)state;
    assert_int_equal(N(nvmlDeviceGetUUID)(gpu(0), buf, 40), NVML_ERROR_INSUFFICIENT_SIZE);
    assert_int_equal(N(nvmlDeviceGetUUID)(gpu(0), buf, 41), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetUUID)(gpu(0), NULL, 96), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetName)(gpu(0), buf, 4), NVML_ERROR_INSUFFICIENT_SIZE);
    assert_int_equal(N(nvmlSystemGetDriverVersion)(buf, sizeof buf), NVML_SUCCESS);
    assert_string_equal(buf, "550.54.15");
    assert_int_equal(N(nvmlSystemGetDriverVersion)(buf, 9), NVML_ERROR_INSUFFICIENT_SIZE);
    assert_int_equal(N(nvmlSystemGetNVMLVersion)(buf, sizeof buf), NVML_SUCCESS);
    assert_string_equal(buf, "12.550.54.15");
    assert_int_equal(N(nvmlSystemGetCudaDriverVersion)(&cuda), NVML_SUCCESS);
    assert_int_equal(cuda, 12040);
    assert_int_equal(N(nvmlDeviceGetSerial)(gpu(0), buf, sizeof buf), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetBoardPartNumber)(gpu(0), buf, sizeof buf), NVML_SUCCESS);
}

static void
pci_and_attributes(void **state)
{
    nvmlPciInfo_t pci;
    nvmlMemory_t mem;
    nvmlMemory_v2_t mem2 = {.version = 0};
    nvmlDevice_t d;
    unsigned int u, cur, pend;
    int major, minor;
    nvmlDeviceArchitecture_t arch;
    nvmlDeviceAttributes_t attr;

    (void)state;
    assert_int_equal(N(nvmlDeviceGetPciInfo_v3)(gpu(1), &pci), NVML_SUCCESS);
    assert_string_equal(pci.busId, "00000000:0F:00.0");
    assert_string_equal(pci.busIdLegacy, "0000:0F:00.0");
    assert_int_equal(pci.bus, 0x0F);
    assert_int_equal(pci.pciDeviceId, 0x20B010DE);
    assert_int_equal(N(nvmlDeviceGetHandleByPciBusId_v2)("0000:0f:00.0", &d), NVML_SUCCESS);
    assert_ptr_equal(d, gpu(1));
    assert_int_equal(N(nvmlDeviceGetHandleByPciBusId_v2)("00000000:BD:00.0", &d), NVML_SUCCESS);
    assert_ptr_equal(d, gpu(7));
    assert_int_equal(N(nvmlDeviceGetHandleByPciBusId_v2)("0000:99:00.0", &d), NVML_ERROR_NOT_FOUND);
    assert_int_equal(N(nvmlDeviceGetMemoryInfo)(gpu(0), &mem), NVML_SUCCESS);
    assert_int_equal(mem.total, 40960ULL << 20);
    assert_int_equal(N(nvmlDeviceGetMemoryInfo_v2)(gpu(0), &mem2),
                     NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    mem2.version = nvmlMemory_v2;
    assert_int_equal(N(nvmlDeviceGetMemoryInfo_v2)(gpu(0), &mem2), NVML_SUCCESS);
    assert_int_equal(mem2.total, 40960ULL << 20);
    assert_int_equal(N(nvmlDeviceGetMinorNumber)(gpu(5), &u), NVML_SUCCESS);
    assert_int_equal(u, 5);
    assert_int_equal(N(nvmlDeviceGetCudaComputeCapability)(gpu(0), &major, &minor), NVML_SUCCESS);
    assert_int_equal(major * 10 + minor, 80);
    assert_int_equal(N(nvmlDeviceGetArchitecture)(gpu(0), &arch), NVML_SUCCESS);
    assert_int_equal(arch, NVML_DEVICE_ARCH_AMPERE);
    assert_int_equal(N(nvmlDeviceGetNumaNodeId)(gpu(2), &u), NVML_SUCCESS);
    assert_int_equal(u, 1);
    assert_int_equal(N(nvmlDeviceGetMigMode)(gpu(0), &cur, &pend), NVML_SUCCESS);
    assert_int_equal(cur, NVML_DEVICE_MIG_DISABLE);
    assert_int_equal(N(nvmlDeviceGetMaxMigDeviceCount)(gpu(0), &u), NVML_SUCCESS);
    assert_int_equal(u, 0);
    assert_int_equal(N(nvmlDeviceGetMigDeviceHandleByIndex)(gpu(0), 0, &d),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetAttributes_v2)(gpu(0), &attr), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceIsMigDeviceHandle)(gpu(0), &u), NVML_SUCCESS);
    assert_int_equal(u, 0);
}

static void
mig_profiles_disabled(void **state)
{
    nvmlGpuInstanceProfileInfo_t info;
    nvmlGpuInstance_t gi;
    nvmlGpuFabricInfo_t fab;
    nvmlDeviceAddressingMode_t mode = {.version = nvmlDeviceAddressingMode_v1};

    (void)state;
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfo)(gpu(0), 0, &info), NVML_SUCCESS);
    assert_int_equal(info.sliceCount, 1);
    assert_int_equal(info.memorySizeMB, 4864);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfo)(gpu(0), 5, &info),
                     NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfo)(gpu(0), 18, &info),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceById)(gpu(0), 1, &gi), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceGetGpuFabricInfo)(gpu(0), &fab), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceGetAddressingMode)(gpu(0), &mode), NVML_ERROR_NOT_SUPPORTED);
}

static void
topology(void **state)
{
    nvmlGpuTopologyLevel_t level;
    nvmlEnableState_t on;
    nvmlPciInfo_t pci;
    nvmlGpuP2PStatus_t p2p;

    (void)state;
    assert_int_equal(N(nvmlDeviceGetTopologyCommonAncestor)(gpu(0), gpu(1), &level), NVML_SUCCESS);
    assert_int_equal(level, NVML_TOPOLOGY_NODE);
    assert_int_equal(N(nvmlDeviceGetTopologyCommonAncestor)(gpu(0), gpu(7), &level), NVML_SUCCESS);
    assert_int_equal(level, NVML_TOPOLOGY_SYSTEM);
    for (unsigned int link = 0; link < 12; link++) {
        assert_int_equal(N(nvmlDeviceGetNvLinkState)(gpu(0), link, &on), NVML_SUCCESS);
        assert_int_equal(on, link < 7 ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED);
    }
    assert_int_equal(N(nvmlDeviceGetNvLinkState)(gpu(0), 12, &on), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceGetNvLinkState)(gpu(0), 36, &on), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlDeviceGetNvLinkRemotePciInfo_v2)(gpu(0), 0, &pci), NVML_SUCCESS);
    assert_string_equal(pci.busId, "00000000:0F:00.0");
    assert_int_equal(pci.pciSubSystemId, 0);
    assert_int_equal(N(nvmlDeviceGetP2PStatus)(gpu(0), gpu(1), NVML_P2P_CAPS_INDEX_NVLINK, &p2p),
                     NVML_SUCCESS);
    assert_int_equal(p2p, NVML_P2P_STATUS_OK);
}

static void
events_without_fifo(void **state)
{
    nvmlEventSet_t set;
    nvmlEventData_t ev;
    unsigned long long types;
    double t0;

    (void)state;
    assert_int_equal(N(nvmlEventSetCreate)(&set), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetSupportedEventTypes)(gpu(0), &types), NVML_SUCCESS);
    assert_true((types & 0xB) == 0xB);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(gpu(0), 0xB, set), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(gpu(0), 0xB, set), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(gpu(0), nvmlEventTypeGpuRecoveryAction, set),
                     NVML_ERROR_NOT_SUPPORTED);
    t0 = now_s();
    assert_int_equal(N(nvmlEventSetWait_v2)(set, &ev, 100), NVML_ERROR_TIMEOUT);
    assert_true(now_s() - t0 >= 0.09);
    assert_int_equal(N(nvmlEventSetFree)(set), NVML_SUCCESS);
}

static const struct CMUnitTest default_tests[] = {
        cmocka_unit_test(every_symbol_exported),
        cmocka_unit_test(init_refcount),
        cmocka_unit_test(enumeration),
        cmocka_unit_test(strings),
        cmocka_unit_test(pci_and_attributes),
        cmocka_unit_test(mig_profiles_disabled),
        cmocka_unit_test(topology),
        cmocka_unit_test(events_without_fifo),
};

/* ------------- scenario "nodes": every shipped node file, MIG names as go-nvlib ------------- */

static const unsigned int gi_slices[NVML_GPU_INSTANCE_PROFILE_COUNT] = {1, 2, 3, 4, 7, 8, 6, 1, 2,
                                                                        1, 1, 2, 4, 1, 2, 1, 2, 3};
static const char *const gi_suffix[NVML_GPU_INSTANCE_PROFILE_COUNT] = {
        [7] = "+me",  [8] = "+me",  [10] = "+gfx",    [11] = "+gfx",    [12] = "+gfx",
        [13] = "-me", [14] = "-me", [15] = "+me.all", [16] = "+me.all",
};
static const unsigned int ci_slices[NVML_COMPUTE_INSTANCE_PROFILE_COUNT] = {1, 2, 3, 4, 7,
                                                                            8, 6, 1, 7};

/* The GI and CI profile enums of a MIG device, found the way go-nvlib's GetProfile does. */
static void
mig_profiles(nvmlDevice_t mig, nvmlDevice_t parent, unsigned int *ret_gp, unsigned int *ret_cp)
{
    unsigned int gi_id, ci_id;
    nvmlGpuInstance_t gi;
    nvmlComputeInstance_t ci;
    nvmlGpuInstanceInfo_t gii;
    nvmlComputeInstanceInfo_t cii;
    nvmlGpuInstanceProfileInfo_t gpi;
    nvmlComputeInstanceProfileInfo_t cpi;

    *ret_gp = *ret_cp = ~0u;
    assert_int_equal(N(nvmlDeviceGetGpuInstanceId)(mig, &gi_id), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetComputeInstanceId)(mig, &ci_id), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceById)(parent, gi_id, &gi), NVML_SUCCESS);
    assert_int_equal(N(nvmlGpuInstanceGetInfo)(gi, &gii), NVML_SUCCESS);
    assert_ptr_equal(gii.device, parent);
    assert_int_equal(gii.id, gi_id);
    for (unsigned int p = 0; p < NVML_GPU_INSTANCE_PROFILE_COUNT; p++) {
        if (N(nvmlDeviceGetGpuInstanceProfileInfo)(parent, p, &gpi) == NVML_SUCCESS &&
            gpi.id == gii.profileId) {
            *ret_gp = p;
        }
    }
    assert_int_equal(N(nvmlGpuInstanceGetComputeInstanceById)(gi, ci_id, &ci), NVML_SUCCESS);
    assert_int_equal(N(nvmlComputeInstanceGetInfo_v2)(ci, &cii), NVML_SUCCESS);
    assert_ptr_equal(cii.gpuInstance, gi);
    for (unsigned int p = 0; p < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; p++) {
        if (N(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, p, 0, &cpi) == NVML_SUCCESS &&
            cpi.id == cii.profileId) {
            *ret_cp = p;
            break;
        }
    }
    assert_true(*ret_gp < NVML_GPU_INSTANCE_PROFILE_COUNT);
    assert_true(*ret_cp < NVML_COMPUTE_INSTANCE_PROFILE_COUNT);
}

/* go-nvlib's profile name of a MIG device, from attributes and the GI/CI profile tables. */
static void
derive_name(nvmlDevice_t mig, nvmlDevice_t parent, char *buf, size_t len)
{
    nvmlDeviceAttributes_t a;
    nvmlMemory_t mem;
    unsigned int gp, cp, g, c;
    unsigned long long eighths, gb;

    assert_int_equal(N(nvmlDeviceGetAttributes_v2)(mig, &a), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetMemoryInfo)(parent, &mem), NVML_SUCCESS);
    mig_profiles(mig, parent, &gp, &cp);
    g = gi_slices[gp];
    c = ci_slices[cp];
    assert_int_equal(a.gpuInstanceSliceCount, g);
    assert_int_equal(a.computeInstanceSliceCount, c);
    /* GB = round(ceil(8 * mem / total) / 8 * ceil(total / 1 GiB)) */
    eighths = ((8 * a.memorySizeMB << 20) + mem.total - 1) / mem.total;
    gb = (eighths * ((mem.total + (1ULL << 30) - 1) >> 30) + 4) / 8;
    if (c < g) {
        (void)snprintf(buf, len, "%uc.%ug.%llugb%s", c, g, gb, gi_suffix[gp] ? gi_suffix[gp] : "");
    } else {
        (void)snprintf(buf, len, "%ug.%llugb%s", g, gb, gi_suffix[gp] ? gi_suffix[gp] : "");
    }
}

/* Checks one MIG device: handles, UUID lookups, memory, and the name go-nvlib would give. */
static void
check_mig(nvmlDevice_t parent, unsigned int slot, nvmlDevice_t mig, char *ret_profile)
{
    char legacy[128], expect[256], derived[64];
    unsigned int u, gi_id, ci_id;
    nvmlDevice_t h;
    nvmlDeviceAttributes_t a;
    nvmlMemory_t mem;

    assert_int_equal(N(nvmlDeviceIsMigDeviceHandle)(mig, &u), NVML_SUCCESS);
    assert_int_equal(u, 1);
    assert_int_equal(N(nvmlDeviceGetDeviceHandleFromMigDeviceHandle)(mig, &h), NVML_SUCCESS);
    assert_ptr_equal(h, parent);
    assert_int_equal(N(nvmlDeviceGetIndex)(mig, &u), NVML_SUCCESS);
    assert_int_equal(u, slot);
    assert_true(strncmp(uuid_of(mig), "MIG-", 4) == 0);
    assert_int_equal(N(nvmlDeviceGetHandleByUUID)(uuid_of(mig), &h), NVML_SUCCESS);
    assert_ptr_equal(h, mig);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceId)(mig, &gi_id), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetComputeInstanceId)(mig, &ci_id), NVML_SUCCESS);
    (void)snprintf(legacy, sizeof legacy, "MIG-%s/%u/%u", uuid_of(parent), gi_id, ci_id);
    assert_int_equal(N(nvmlDeviceGetHandleByUUID)(legacy, &h), NVML_SUCCESS);
    assert_ptr_equal(h, mig);
    assert_int_equal(N(nvmlDeviceGetAttributes_v2)(mig, &a), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetMemoryInfo)(mig, &mem), NVML_SUCCESS);
    assert_int_equal(mem.total, a.memorySizeMB << 20);
    assert_int_equal(N(nvmlDeviceGetMinorNumber)(mig, &u), NVML_ERROR_NOT_SUPPORTED);
    derive_name(mig, parent, derived, sizeof derived);
    (void)snprintf(expect, sizeof expect, "%s MIG %s", name_of(parent), derived);
    assert_string_equal(name_of(mig), expect);
    (void)snprintf(ret_profile, 64, "%s", derived);
}

struct node_expect {
    const char *file;
    unsigned int count;
    const char *name;
    const char *mig[2]; /* space-separated profile names per GPU slot order, "" for none */
};

static const struct node_expect node_expects[] = {
        {"dgx-a100.yaml", 8, "NVIDIA A100-SXM4-40GB", {"", ""}},
        {"pcie-t4x4.yaml", 4, "Tesla T4", {"", ""}},
        {"single-gpu.yaml", 1, "NVIDIA L4", {"", ""}},
        {"no-gpus.yaml", 0, "", {"", ""}},
        {"a100-mig-single.yaml",
         2,
         "NVIDIA A100-SXM4-40GB",
         {"1g.5gb 1g.5gb 1g.5gb 1g.5gb 1g.5gb 1g.5gb 1g.5gb",
          "1g.5gb 1g.5gb 1g.5gb 1g.5gb 1g.5gb 1g.5gb 1g.5gb"}},
        {"a100-mig-cisplit.yaml",
         1,
         "NVIDIA A100-SXM4-40GB",
         {"3g.20gb 1c.2g.10gb 1c.2g.10gb 2g.10gb", ""}},
        {"h100x2-mig-mixed.yaml",
         2,
         "NVIDIA H100 80GB HBM3",
         {"3g.40gb 2g.20gb 1g.10gb 1g.10gb", "4g.40gb 1g.20gb 1g.10gb+me"}},
};

static void
check_gpu_migs(nvmlDevice_t g, const char *expect)
{
    char got[256] = "", profile[64];
    unsigned int max = 0;
    nvmlDevice_t mig;

    assert_int_equal(N(nvmlDeviceGetMaxMigDeviceCount)(g, &max), NVML_SUCCESS);
    for (unsigned int slot = 0; slot < max; slot++) {
        nvmlReturn_t r = N(nvmlDeviceGetMigDeviceHandleByIndex)(g, slot, &mig);
        if (r == NVML_ERROR_NOT_FOUND) {
            continue;
        }
        assert_int_equal(r, NVML_SUCCESS);
        check_mig(g, slot, mig, profile);
        (void)snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", *got ? " " : "",
                       profile);
    }
    assert_int_equal(N(nvmlDeviceGetMigDeviceHandleByIndex)(g, max, &mig),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_string_equal(got, expect);
}

static void
node_file(void **state)
{
    const char *path = env_or("MOCK_NVML_NODE", "");
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const struct node_expect *e = NULL;
    unsigned int count;

    (void)state;
    for (size_t i = 0; i < sizeof node_expects / sizeof node_expects[0]; i++) {
        e = strcmp(node_expects[i].file, base) == 0 ? &node_expects[i] : e;
    }
    assert_non_null(e);
    assert_int_equal(N(nvmlInit_v2)(), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_SUCCESS);
    assert_int_equal(count, e->count);
    for (unsigned int i = 0; i < count; i++) {
        nvmlDevice_t h;
        assert_string_equal(name_of(gpu(i)), e->name);
        assert_int_equal(N(nvmlDeviceGetHandleByUUID)(uuid_of(gpu(i)), &h), NVML_SUCCESS);
        assert_ptr_equal(h, gpu(i));
        check_gpu_migs(gpu(i), i < 2 ? e->mig[i] : "");
    }
    assert_int_equal(N(nvmlShutdown)(), NVML_SUCCESS);
}

static const struct CMUnitTest nodes_tests[] = {cmocka_unit_test(node_file)};

/* ---------------- scenario "mig": details on h100x2-mig-mixed ---------------- */

/* Group setup of the scenarios that run initialized. */
static int
control_setup(void **state)
{
    (void)state;
    return N(nvmlInit_v2)() == NVML_SUCCESS ? 0 : -1;
}

static nvmlDevice_t
mig_at(unsigned int g, unsigned int slot)
{
    nvmlDevice_t d = NULL;
    assert_int_equal(N(nvmlDeviceGetMigDeviceHandleByIndex)(gpu(g), slot, &d), NVML_SUCCESS);
    return d;
}

static void
mig_details(void **state)
{
    nvmlDevice_t d, m = mig_at(0, 2);
    nvmlDeviceAttributes_t a;
    nvmlMemory_t mem;
    nvmlPciInfo_t pci;
    nvmlEventSet_t set;
    unsigned int u, cur, pend;

    (void)state;
    assert_int_equal(N(nvmlDeviceGetMigMode)(gpu(0), &cur, &pend), NVML_SUCCESS);
    assert_int_equal(cur, NVML_DEVICE_MIG_ENABLE);
    assert_int_equal(N(nvmlDeviceGetMaxMigDeviceCount)(gpu(0), &u), NVML_SUCCESS);
    assert_int_equal(u, 7);
    assert_int_equal(N(nvmlDeviceGetMigDeviceHandleByIndex)(gpu(0), 4, &d), NVML_ERROR_NOT_FOUND);
    assert_int_equal(N(nvmlDeviceGetMigDeviceHandleByIndex)(gpu(0), 7, &d),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_string_equal(name_of(m), "NVIDIA H100 80GB HBM3 MIG 1g.10gb");
    assert_string_equal(name_of(mig_at(1, 2)), "NVIDIA H100 80GB HBM3 MIG 1g.10gb+me");
    assert_int_equal(N(nvmlDeviceGetAttributes_v2)(m, &a), NVML_SUCCESS);
    assert_int_equal(a.memorySizeMB, 9856);
    assert_int_equal(a.gpuInstanceSliceCount, 1);
    assert_int_equal(a.computeInstanceSliceCount, 1);
    assert_int_equal(N(nvmlDeviceGetMemoryInfo)(m, &mem), NVML_SUCCESS);
    assert_int_equal(mem.total, 9856ULL << 20);
    assert_int_equal(N(nvmlDeviceGetMemoryInfo)(gpu(0), &mem), NVML_SUCCESS);
    assert_int_equal(mem.total, 81559ULL << 20);
    assert_int_equal(N(nvmlDeviceGetPciInfo_v3)(m, &pci), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceId)(gpu(0), &u), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlDeviceGetAttributes_v2)(gpu(0), &a), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlEventSetCreate)(&set), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(m, nvmlEventTypeXidCriticalError, set),
                     NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(N(nvmlEventSetFree)(set), NVML_SUCCESS);
}

static void
mig_profile_tables(void **state)
{
    nvmlGpuInstanceProfileInfo_t info;
    nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = nvmlGpuInstanceProfileInfo_v2};
    nvmlComputeInstanceProfileInfo_t ci;
    nvmlGpuInstance_t gi;
    unsigned int gi_id;

    (void)state;
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfo)(gpu(0), 4, &info), NVML_SUCCESS);
    assert_int_equal(info.sliceCount, 7);
    assert_int_equal(info.memorySizeMB, 80384);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfo)(gpu(0), 9, &info), NVML_SUCCESS);
    assert_int_equal(info.memorySizeMB, 19968);
    assert_int_equal(info.instanceCount, 4);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfoV)(gpu(0), 0, &v2), NVML_SUCCESS);
    assert_string_equal(v2.name, "MIG 1g.10gb");
    v2.version = 1;
    assert_int_equal(N(nvmlDeviceGetGpuInstanceProfileInfoV)(gpu(0), 0, &v2),
                     NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    /* slot 0 of GPU 0 is the 3g.40gb: CI profiles 0, 1, 2 offered */
    assert_int_equal(N(nvmlDeviceGetGpuInstanceId)(mig_at(0, 0), &gi_id), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceById)(gpu(0), gi_id, &gi), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceById)(gpu(0), 15, &gi), NVML_ERROR_NOT_FOUND);
    assert_int_equal(N(nvmlDeviceGetGpuInstanceById)(gpu(0), gi_id, &gi), NVML_SUCCESS);
    for (unsigned int p = 0; p < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; p++) {
        assert_int_equal(N(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, p, 0, &ci),
                         p <= 2 ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED);
    }
    assert_int_equal(N(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, 9, 0, &ci),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, 0, 1, &ci),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(N(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, 1, 0, &ci), NVML_SUCCESS);
    assert_int_equal(ci.sliceCount, 2);
    assert_int_equal(ci.instanceCount, 1);
}

static const struct CMUnitTest mig_tests[] = {
        cmocka_unit_test(mig_details),
        cmocka_unit_test(mig_profile_tables),
};

/* ---------------- scenario "control": the FIFO on the default node ---------------- */

static void ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
ctl(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int fd = open(env_or("MOCK_NVML_CONTROL", "/nonexistent"), O_WRONLY | O_CLOEXEC);
    size_t len;

    assert_true(fd >= 0);
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    len = strlen(line);
    line[len++] = '\n';
    assert_int_equal(write(fd, line, len), (ssize_t)len);
    (void)close(fd);
}

static void
xid_injection(void **state)
{
    nvmlEventSet_t a, b;
    nvmlEventData_t ev;

    (void)state;
    assert_int_equal(N(nvmlEventSetCreate)(&a), NVML_SUCCESS);
    assert_int_equal(N(nvmlEventSetCreate)(&b), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(gpu(0), 0xB, a), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(gpu(0), nvmlEventTypeDoubleBitEccError, b),
                     NVML_SUCCESS);
    ctl("xid %s 79", uuid_of(gpu(0)));
    assert_int_equal(N(nvmlEventSetWait_v2)(a, &ev, 1000), NVML_SUCCESS);
    assert_ptr_equal(ev.device, gpu(0));
    assert_int_equal(ev.eventType, nvmlEventTypeXidCriticalError);
    assert_int_equal(ev.eventData, 79);
    assert_int_equal(ev.gpuInstanceId, 0xFFFFFFFFu);
    assert_int_equal(ev.computeInstanceId, 0xFFFFFFFFu);
    assert_int_equal(N(nvmlEventSetWait_v2)(a, &ev, 20), NVML_ERROR_TIMEOUT);
    assert_int_equal(N(nvmlEventSetWait_v2)(b, &ev, 20), NVML_ERROR_TIMEOUT); /* not registered */
    ctl("xid %s 31 3 0", uuid_of(gpu(1))); /* GPU 1 is registered nowhere */
    assert_int_equal(N(nvmlEventSetWait_v2)(a, &ev, 20), NVML_ERROR_TIMEOUT);
    ctl("event %s dbe", uuid_of(gpu(0)));
    assert_int_equal(N(nvmlEventSetWait)(b, &ev, 1000), NVML_SUCCESS);
    assert_int_equal(ev.eventType, nvmlEventTypeDoubleBitEccError);
    assert_int_equal(N(nvmlEventSetWait_v2)(a, &ev, 1000), NVML_SUCCESS); /* a has DBE too */
    assert_int_equal(N(nvmlEventSetFree)(a), NVML_SUCCESS);
    assert_int_equal(N(nvmlEventSetFree)(b), NVML_SUCCESS);
}

static void *
late_writer(void *arg)
{
    (void)arg;
    (void)usleep(150 * 1000);
    ctl("xid %s 48", uuid_of(gpu(2)));
    return NULL;
}

static void
xid_while_waiting(void **state)
{
    nvmlEventSet_t set;
    nvmlEventData_t ev;
    pthread_t t;
    double t0 = now_s();

    (void)state;
    assert_int_equal(N(nvmlEventSetCreate)(&set), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(gpu(2), nvmlEventTypeXidCriticalError, set),
                     NVML_SUCCESS);
    assert_int_equal(pthread_create(&t, NULL, late_writer, NULL), 0);
    assert_int_equal(N(nvmlEventSetWait_v2)(set, &ev, 5000), NVML_SUCCESS);
    assert_int_equal(ev.eventData, 48);
    assert_ptr_equal(ev.device, gpu(2));
    assert_true(now_s() - t0 < 3.0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(N(nvmlEventSetFree)(set), NVML_SUCCESS);
}

static void
lost_and_back(void **state)
{
    nvmlEventSet_t set;
    nvmlEventData_t ev;
    nvmlDevice_t h, g0 = gpu(0);
    char uuid[96], name[96];

    (void)state;
    assert_int_equal(N(nvmlEventSetCreate)(&set), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceRegisterEvents)(g0, nvmlEventTypeXidCriticalError, set),
                     NVML_SUCCESS);
    (void)snprintf(uuid, sizeof uuid, "%s", uuid_of(g0));
    ctl("lost %s", uuid);
    assert_int_equal(N(nvmlDeviceGetName)(g0, name, sizeof name), NVML_ERROR_GPU_IS_LOST);
    assert_int_equal(N(nvmlDeviceGetHandleByIndex_v2)(0, &h), NVML_ERROR_GPU_IS_LOST);
    assert_string_equal(name_of(gpu(1)), "NVIDIA A100-SXM4-40GB");
    assert_int_equal(N(nvmlEventSetWait_v2)(set, &ev, 1000), NVML_ERROR_GPU_IS_LOST);
    assert_int_equal(N(nvmlEventSetWait_v2)(set, &ev, 20), NVML_ERROR_TIMEOUT);
    ctl("back %s", uuid);
    assert_string_equal(name_of(g0), "NVIDIA A100-SXM4-40GB");
    assert_int_equal(N(nvmlEventSetFree)(set), NVML_SUCCESS);
}

static void
fail_rules(void **state)
{
    char buf[96];
    unsigned int count;

    (void)state;
    ctl("fail nvmlDeviceGetName UNKNOWN once");
    assert_int_equal(N(nvmlDeviceGetName)(gpu(0), buf, sizeof buf), NVML_ERROR_UNKNOWN);
    assert_int_equal(N(nvmlDeviceGetName)(gpu(0), buf, sizeof buf), NVML_SUCCESS);
    ctl("fail nvmlDeviceGetName NVML_ERROR_NO_PERMISSION always %s", uuid_of(gpu(1)));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(N(nvmlDeviceGetName)(gpu(1), buf, sizeof buf), NVML_ERROR_NO_PERMISSION);
        assert_int_equal(N(nvmlDeviceGetName)(gpu(0), buf, sizeof buf), NVML_SUCCESS);
    }
    ctl("fail nvmlDeviceGetCount_v2 DRIVER_NOT_LOADED once");
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_ERROR_DRIVER_NOT_LOADED);
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_SUCCESS);
    ctl("this is not a command");
    ctl("fail nvmlNoSuchFunction UNKNOWN");
    ctl("clear");
    assert_int_equal(N(nvmlDeviceGetName)(gpu(1), buf, sizeof buf), NVML_SUCCESS);
}

static const struct CMUnitTest control_tests[] = {
        cmocka_unit_test(xid_injection),
        cmocka_unit_test(xid_while_waiting),
        cmocka_unit_test(lost_and_back),
        cmocka_unit_test(fail_rules),
};

/* ------------- scenario "bad": init fails with MOCK_TEST_CODE and one stderr line ------------- */

static void
bad_node(void **state)
{
    char path[300], out[1024] = "";
    int code = atoi(env_or("MOCK_TEST_CODE", "999"));
    const char *expect = env_or("MOCK_TEST_EXPECT", "");
    int saved = dup(2), fd;
    unsigned int count;
    ssize_t n;

    (void)state;
    (void)snprintf(path, sizeof path, "%s/stderr", env_or("MOCK_TEST_TMP", "/tmp"));
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    (void)dup2(fd, 2);
    assert_int_equal(N(nvmlInit_v2)(), code);
    assert_int_equal(N(nvmlInit_v2)(), code); /* fails again, does not crash */
    (void)dup2(saved, 2);
    n = pread(fd, out, sizeof out - 1, 0);
    (void)close(fd);
    (void)close(saved);
    assert_true(n >= 0);
    (void)fprintf(stderr, "captured: %s", out);
    assert_non_null(strstr(out, expect));
    if (*expect == '\0') {
        assert_string_equal(out, "");
    } else {
        /* one line per failed init */
        char *second = strchr(out, '\n') + 1;
        assert_non_null(strchr(second, '\n'));
        assert_null(strchr(strchr(second, '\n') + 1, '\n'));
    }
    assert_int_equal(N(nvmlDeviceGetCount_v2)(&count), NVML_ERROR_UNINITIALIZED);
}

static const struct CMUnitTest bad_tests[] = {cmocka_unit_test(bad_node)};

/* ------------- scenario "filefail": fail rules from the node file ------------- */

static void
file_fail_rules(void **state)
{
    char buf[96];

    (void)state;
    assert_int_equal(N(nvmlInit_v2)(), NVML_ERROR_LIB_RM_VERSION_MISMATCH);
    assert_int_equal(N(nvmlInit_v2)(), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetName)(gpu(0), buf, sizeof buf), NVML_SUCCESS);
    assert_int_equal(N(nvmlDeviceGetName)(gpu(1), buf, sizeof buf), NVML_ERROR_UNKNOWN);
    assert_int_equal(N(nvmlDeviceGetName)(gpu(1), buf, sizeof buf), NVML_ERROR_UNKNOWN);
}

static const struct CMUnitTest filefail_tests[] = {cmocka_unit_test(file_fail_rules)};

/* ---------------- the driver: one child process per scenario ---------------- */

/* This program's path, read once in main(): exec'ing "/proc/self/exe" directly would start
 * valgrind's tool instead of us when the suite runs under valgrind. */
static char self_exe[4096];

/* Runs this program with a scenario name and extra environment ("NAME=value" or NULL). */
static int
run_scenario(const char *scenario, const char *env1, const char *env2, const char *env3)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        const char *envs[] = {env1, env2, env3};
        (void)unsetenv("MOCK_NVML_NODE");
        (void)unsetenv("MOCK_NVML_CONTROL");
        for (size_t i = 0; i < 3; i++) {
            if (envs[i] != NULL) {
                (void)putenv(strdup(envs[i]));
            }
        }
        (void)execl(self_exe, "test_mock", scenario, (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *
node_env(const char *file)
{
    static char buf[4][512];
    static unsigned int next;
    char *b = buf[next++ % 4];

    (void)snprintf(b, sizeof buf[0], "MOCK_NVML_NODE=%s/%s",
                   env_or("MOCK_NVML_NODES", MOCK_NODES_DIR), file);
    return b;
}

static void
driver_default(void **state)
{
    (void)state;
    assert_int_equal(run_scenario("default", NULL, NULL, NULL), 0);
}

static void
driver_nodes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof node_expects / sizeof node_expects[0]; i++) {
        assert_int_equal(run_scenario("nodes", node_env(node_expects[i].file), NULL, NULL), 0);
    }
    assert_int_equal(run_scenario("mig", node_env("h100x2-mig-mixed.yaml"), NULL, NULL), 0);
}

static void
driver_control(void **state)
{
    char env[400];

    (void)state;
    (void)snprintf(env, sizeof env, "MOCK_NVML_CONTROL=%s/ctl.fifo", tmpdir);
    assert_int_equal(run_scenario("control", env, NULL, NULL), 0);
    /* a second process reuses the FIFO that already exists */
    assert_int_equal(run_scenario("control", env, NULL, NULL), 0);
}

#define U1 "GPU-00000000-0000-4000-8000-000000000001"
#define U2 "GPU-00000000-0000-4000-8000-000000000002"
#define GPU_BLOCK(uuid, bus)                                                       \
    "  - name: NVIDIA A100-SXM4-40GB\n    uuid: " uuid "\n    memory_mib: 40960\n" \
    "    pci: {bus_id: \"" bus "\", device_id: 0x20B010DE}\n    compute_capability: \"8.0\"\n"
#define MIG_HEAD "    mig:\n      mode: enabled\n      devices:\n"
#define MIG_DEV(n, profile) \
    "        - {uuid: MIG-00000000-0000-4000-8000-00000000010" n ", profile: " profile "}\n"

struct bad_case {
    const char *file;
    const char *yaml; /* NULL: the file does not exist */
    const char *expect;
    int code;
};

static const struct bad_case bad_cases[] = {
        {"missing.yaml", NULL, "missing.yaml:0:0: cannot open the node file", 17},
        {"empty.yaml", "", "empty.yaml:1:1: the node file is empty", 999},
        {"malformed.yaml", "gpus: [\n  {name: x\n", "malformed.yaml:", 999},
        {"unknown-key.yaml", "gpus: []\nbogus: 1\n", "unknown-key.yaml:2:1: unknown key 'bogus'",
         999},
        {"wrong-type.yaml", "gpus: {a: 1}\n", "wrong-type.yaml:1:7: gpus must be a list", 999},
        {"bad-uuid.yaml", "gpus:\n" GPU_BLOCK("GPU-1234", "0000:07:00.0"),
         "bad-uuid.yaml:3:11: malformed UUID 'GPU-1234'", 999},
        {"dup-uuid.yaml", "gpus:\n" GPU_BLOCK(U1, "0000:07:00.0") GPU_BLOCK(U1, "0000:0F:00.0"),
         "dup-uuid.yaml:8:11: duplicate UUID", 999},
        {"bad-busid.yaml", "gpus:\n" GPU_BLOCK(U1, "0000:07:00"),
         "bad-busid.yaml:5:19: malformed PCI bus id '0000:07:00'", 999},
        {"bad-profile.yaml",
         "gpus:\n" GPU_BLOCK(U1, "0000:07:00.0") MIG_HEAD MIG_DEV("1", "9g.99gb"),
         "bad-profile.yaml:10:11: unknown MIG profile '9g.99gb'", 999},
        {"mig-overfull.yaml",
         "gpus:\n" GPU_BLOCK(U1, "0000:07:00.0") MIG_HEAD MIG_DEV("1", "2g.10gb")
                 MIG_DEV("2", "2g.10gb") MIG_DEV("3", "2g.10gb") MIG_DEV("4", "2g.10gb"),
         "mig-overfull.yaml:13:11: MIG devices do not fit the GPU", 999},
        {"init-error.yaml", "init_error: DRIVER_NOT_LOADED\ngpus: []\n", "", 9},
};

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void
driver_bad_files(void **state)
{
    char node[400], expect[600], code[64];

    (void)state;
    (void)setenv("MOCK_TEST_TMP", tmpdir, 1); /* copied: putenv would keep a stack buffer */
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        (void)snprintf(node, sizeof node, "MOCK_NVML_NODE=%s/%s", tmpdir, b->file);
        if (b->yaml != NULL) {
            write_file(node + strlen("MOCK_NVML_NODE="), b->yaml);
        }
        (void)snprintf(expect, sizeof expect, "MOCK_TEST_EXPECT=%s%s%s", *b->expect ? tmpdir : "",
                       *b->expect ? "/" : "", b->expect);
        (void)snprintf(code, sizeof code, "MOCK_TEST_CODE=%d", b->code);
        assert_int_equal(run_scenario("bad", node, expect, code), 0);
    }
}

static void
driver_file_fail(void **state)
{
    char node[400];

    (void)state;
    (void)snprintf(node, sizeof node, "MOCK_NVML_NODE=%s/fail.yaml", tmpdir);
    write_file(
            node + strlen("MOCK_NVML_NODE="),
            "gpus:\n" GPU_BLOCK(U1, "0000:07:00.0") GPU_BLOCK(
                    U2,
                    "0000:0F:00.0") "fail:\n"
                                    "  - {function: nvmlInit_v2, code: LIB_RM_VERSION_MISMATCH, mode: once}\n"
                                    "  - {function: nvmlDeviceGetName, code: NVML_ERROR_UNKNOWN, uuid: " U2
                                    "}\n");
    assert_int_equal(run_scenario("filefail", node, NULL, NULL), 0);
}

static const struct CMUnitTest driver_tests[] = {
        cmocka_unit_test(driver_default),   cmocka_unit_test(driver_nodes),
        cmocka_unit_test(driver_control),   cmocka_unit_test(driver_bad_files),
        cmocka_unit_test(driver_file_fail),
};

static int
make_tmpdir(void **state)
{
    (void)state;
    (void)snprintf(tmpdir, sizeof tmpdir, "%s/mock-nvml-test.XXXXXX", env_or("TMPDIR", "/tmp"));
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
remove_tmpdir(void **state)
{
    char cmd[300];

    (void)state;
    (void)snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "";
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';

    if (strcmp(s, "default") == 0) {
        return cmocka_run_group_tests_name("default", default_tests, load_lib, NULL);
    }
    if (strcmp(s, "nodes") == 0) {
        return cmocka_run_group_tests_name(getenv("MOCK_NVML_NODE"), nodes_tests, load_lib, NULL);
    }
    if (strcmp(s, "mig") == 0) {
        return load_lib(NULL) < 0
                       ? 1
                       : cmocka_run_group_tests_name("mig", mig_tests, control_setup, NULL);
    }
    if (strcmp(s, "control") == 0) {
        return load_lib(NULL) < 0
                       ? 1
                       : cmocka_run_group_tests_name("control", control_tests, control_setup, NULL);
    }
    if (strcmp(s, "bad") == 0) {
        return cmocka_run_group_tests_name(getenv("MOCK_NVML_NODE"), bad_tests, load_lib, NULL);
    }
    if (strcmp(s, "filefail") == 0) {
        return cmocka_run_group_tests_name("filefail", filefail_tests, load_lib, NULL);
    }
    return cmocka_run_group_tests_name("mock-nvml", driver_tests, make_tmpdir, remove_tmpdir);
}
