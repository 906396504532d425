/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML loader and typed wrappers. The library is loaded once with dlopen(RTLD_NOW|RTLD_LOCAL);
 * each symbol is resolved by its versioned name (a string lookup bypasses the header's
 * #define remapping), with the older name as fallback where go-nvml has one.
 */
#include "nvml/nvml.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/metrics.h"
#include "core/util.h"
#include "nvml/nvml_api.h"

#define NVML_SONAME "libnvidia-ml.so.1"

/* declares a struct member: the replacement list cannot be parenthesized */
#define GDP_NVML_FN(name) __typeof__(nvml##name) *name /* NOLINT(bugprone-macro-parentheses) */

struct gdp_nvml_fns {
    GDP_NVML_FN(Init_v2);
    GDP_NVML_FN(Shutdown);
    GDP_NVML_FN(ErrorString);
    GDP_NVML_FN(SystemGetDriverVersion);
    GDP_NVML_FN(SystemGetCudaDriverVersion);
    GDP_NVML_FN(DeviceGetCount_v2);
    GDP_NVML_FN(DeviceGetHandleByIndex_v2);
    GDP_NVML_FN(DeviceGetHandleByUUID);
    GDP_NVML_FN(DeviceGetName);
    GDP_NVML_FN(DeviceGetUUID);
    GDP_NVML_FN(DeviceGetMemoryInfo);
    GDP_NVML_FN(DeviceGetPciInfo_v3);
    GDP_NVML_FN(DeviceGetMinorNumber);
    GDP_NVML_FN(DeviceGetCudaComputeCapability);
    GDP_NVML_FN(DeviceGetMigMode);
    GDP_NVML_FN(DeviceGetMaxMigDeviceCount);
    GDP_NVML_FN(DeviceGetMigDeviceHandleByIndex);
    GDP_NVML_FN(DeviceIsMigDeviceHandle);
    GDP_NVML_FN(DeviceGetGpuInstanceId);
    GDP_NVML_FN(DeviceGetComputeInstanceId);
    GDP_NVML_FN(DeviceGetDeviceHandleFromMigDeviceHandle);
    GDP_NVML_FN(DeviceGetAttributes_v2);
    GDP_NVML_FN(DeviceGetGpuInstanceProfileInfo);
    GDP_NVML_FN(DeviceGetGpuInstanceById);
    GDP_NVML_FN(GpuInstanceGetInfo);
    GDP_NVML_FN(GpuInstanceGetComputeInstanceProfileInfo);
    GDP_NVML_FN(GpuInstanceGetComputeInstanceById);
    GDP_NVML_FN(ComputeInstanceGetInfo_v2);
    GDP_NVML_FN(EventSetCreate);
    GDP_NVML_FN(DeviceGetSupportedEventTypes);
    GDP_NVML_FN(DeviceRegisterEvents);
    GDP_NVML_FN(EventSetWait_v2);
    GDP_NVML_FN(EventSetFree);
    GDP_NVML_FN(DeviceGetTopologyCommonAncestor);
    GDP_NVML_FN(DeviceGetNvLinkState);
    GDP_NVML_FN(DeviceGetNvLinkRemotePciInfo_v2);
    GDP_NVML_FN(DeviceGetGpuFabricInfo);
};

/*
 * After gdp_nvml_open() the struct is read-only, so the health thread may share it. The last
 * failed return code is per thread for the same reason.
 */
struct gdp_nvml {
    void *dl;
    char *path;
    struct gdp_nvml_fns fn;
};

static _Thread_local int last_return;
static _Atomic unsigned long long n_calls; /* NVML calls made through check(), all threads */

_Static_assert(GDP_NVML_RC_NOT_SUPPORTED == NVML_ERROR_NOT_SUPPORTED, "NOT_SUPPORTED");
_Static_assert(GDP_NVML_RC_TIMEOUT == NVML_ERROR_TIMEOUT, "TIMEOUT");
_Static_assert(GDP_NVML_NVLINK_MAX == NVML_NVLINK_MAX_LINKS, "NVLink count");
_Static_assert(GDP_NVML_RC_GPU_IS_LOST == NVML_ERROR_GPU_IS_LOST, "GPU_IS_LOST");
_Static_assert(GDP_NVML_EVENT_SBE == nvmlEventTypeSingleBitEccError, "SBE bit");
_Static_assert(GDP_NVML_EVENT_DBE == nvmlEventTypeDoubleBitEccError, "DBE bit");
_Static_assert(GDP_NVML_EVENT_XID == nvmlEventTypeXidCriticalError, "XID bit");

struct sym {
    const char *name;
    const char *fallback;
    size_t off;
    bool required;
};

#define REQ(f)                                                  \
    {                                                           \
        "nvml" #f, NULL, offsetof(struct gdp_nvml_fns, f), true \
    }
#define REQ2(f, o)                                                  \
    {                                                               \
        "nvml" #f, "nvml" o, offsetof(struct gdp_nvml_fns, f), true \
    }
#define OPT(f)                                                   \
    {                                                            \
        "nvml" #f, NULL, offsetof(struct gdp_nvml_fns, f), false \
    }
#define OPT2(f, o)                                                   \
    {                                                                \
        "nvml" #f, "nvml" o, offsetof(struct gdp_nvml_fns, f), false \
    }

static const struct sym syms[] = {
        REQ2(Init_v2, "Init"),
        REQ(Shutdown),
        REQ(ErrorString),
        REQ(SystemGetDriverVersion),
        OPT(SystemGetCudaDriverVersion),
        REQ2(DeviceGetCount_v2, "DeviceGetCount"),
        REQ2(DeviceGetHandleByIndex_v2, "DeviceGetHandleByIndex"),
        REQ(DeviceGetHandleByUUID),
        REQ(DeviceGetName),
        REQ(DeviceGetUUID),
        REQ(DeviceGetMemoryInfo),
        REQ2(DeviceGetPciInfo_v3, "DeviceGetPciInfo_v2"),
        REQ(DeviceGetMinorNumber),
        REQ(DeviceGetCudaComputeCapability),
        OPT(DeviceGetMigMode),
        OPT(DeviceGetMaxMigDeviceCount),
        OPT(DeviceGetMigDeviceHandleByIndex),
        OPT(DeviceIsMigDeviceHandle),
        OPT(DeviceGetGpuInstanceId),
        OPT(DeviceGetComputeInstanceId),
        OPT(DeviceGetDeviceHandleFromMigDeviceHandle),
        OPT2(DeviceGetAttributes_v2, "DeviceGetAttributes"),
        OPT(DeviceGetGpuFabricInfo),
        OPT(DeviceGetGpuInstanceProfileInfo),
        OPT(DeviceGetGpuInstanceById),
        OPT(GpuInstanceGetInfo),
        OPT(GpuInstanceGetComputeInstanceProfileInfo),
        OPT(GpuInstanceGetComputeInstanceById),
        OPT2(ComputeInstanceGetInfo_v2, "ComputeInstanceGetInfo"),
        REQ(EventSetCreate),
        REQ(DeviceGetSupportedEventTypes),
        REQ(DeviceRegisterEvents),
        REQ2(EventSetWait_v2, "EventSetWait"),
        REQ(EventSetFree),
        OPT(DeviceGetTopologyCommonAncestor),
        OPT(DeviceGetNvLinkState),
        OPT2(DeviceGetNvLinkRemotePciInfo_v2, "DeviceGetNvLinkRemotePciInfo"),
};

/* The library directories NVIDIA's plugin searches under the container driver root. */
static const char *const lib_dirs[] = {
        "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
        "/lib64",     "/lib/x86_64-linux-gnu",     "/lib/aarch64-linux-gnu",
};

char *
gdp_nvml_library_path(const char *driver_root_ctr)
{
    if (driver_root_ctr == NULL || driver_root_ctr[0] == '\0' || streq(driver_root_ctr, "/")) {
        return gdp_strdup(NVML_SONAME);
    }
    for (size_t i = 0; i < ELEMENTSOF(lib_dirs); i++) {
        _cleanup_free_ char *dir = gdp_path_join(driver_root_ctr, lib_dirs[i]);
        _cleanup_free_ char *candidate = gdp_asprintf("%s/%s", dir, NVML_SONAME);
        char resolved[PATH_MAX];
        if (access(candidate, F_OK) == 0 && realpath(candidate, resolved) != NULL) {
            return gdp_strdup(resolved);
        }
    }
    return gdp_strdup(NVML_SONAME);
}

static int
resolve_symbols(struct gdp_nvml *nv, struct gdp_diag *diag)
{
    for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
        const struct sym *s = &syms[i];
        void *p = dlsym(nv->dl, s->name);
        if (p == NULL && s->fallback != NULL) {
            p = dlsym(nv->dl, s->fallback);
        }
        if (p == NULL && s->required) {
            return gdp_diag_set(diag, -ENOSYS, "%s: required symbol %s not found", nv->path,
                                s->name);
        }
        memcpy((char *)&nv->fn + s->off, &p, sizeof p);
    }
    return 0;
}

/* Turns an NVML return code into 0 or GDP_E_NVML with "<call>: <text>" in diag. */
static int
check(const struct gdp_nvml *nv, nvmlReturn_t rc, const char *call, struct gdp_diag *diag)
{
    n_calls++;
    if (rc == NVML_SUCCESS) {
        return 0;
    }
    last_return = (int)rc;
    gdp_metrics_nvml_error(call);
    const char *text = nv->fn.ErrorString != NULL ? nv->fn.ErrorString(rc) : NULL;
    return gdp_diag_set(diag, GDP_E_NVML, "%s: %s (code %d)", call,
                        text != NULL ? text : "unknown error", (int)rc);
}

static int
missing(const char *name, struct gdp_diag *diag)
{
    return gdp_diag_set(diag, -ENOSYS, "%s: not provided by this NVML library", name);
}

int
gdp_nvml_open(const char *driver_root_ctr, struct gdp_nvml **ret, struct gdp_diag *diag)
{
    struct gdp_nvml *nv = gdp_calloc(1, sizeof *nv);
    nv->path = gdp_nvml_library_path(driver_root_ctr);
    nv->dl = dlopen(nv->path, RTLD_NOW | RTLD_LOCAL);
    if (nv->dl == NULL) {
        const char *err = dlerror();
        int r = gdp_diag_set(diag, GDP_E_NVML_MISSING, "cannot load %s: %s", nv->path,
                             err != NULL ? err : "unknown dlopen error");
        gdp_nvml_free(nv);
        return r;
    }
    int r = resolve_symbols(nv, diag);
    if (r >= 0) {
        r = check(nv, nv->fn.Init_v2(), "nvmlInit_v2", diag);
    }
    if (r < 0) {
        nv->fn.Shutdown = NULL; /* not initialized: nothing to shut down */
        gdp_nvml_free(nv);
        return r;
    }
    *ret = nv;
    return 0;
}

void
gdp_nvml_free(struct gdp_nvml *nv)
{
    if (nv == NULL) {
        return;
    }
    if (nv->fn.Shutdown != NULL) {
        (void)nv->fn.Shutdown();
    }
    if (nv->dl != NULL) {
        (void)dlclose(nv->dl);
    }
    free(nv->path);
    free(nv);
}

int
gdp_nvml_last_return(const struct gdp_nvml *nv _unused_)
{
    return last_return;
}

unsigned long long
gdp_nvml_call_count(void)
{
    return n_calls;
}

static nvmlDevice_t
h(struct gdp_nvml_device *d)
{
    return (nvmlDevice_t)(void *)d;
}

int
gdp_nvml_driver_version(struct gdp_nvml *nv, char *buf, size_t len, struct gdp_diag *diag)
{
    return check(nv, nv->fn.SystemGetDriverVersion(buf, (unsigned)len),
                 "nvmlSystemGetDriverVersion", diag);
}

int
gdp_nvml_cuda_driver_version(struct gdp_nvml *nv, int *ret, struct gdp_diag *diag)
{
    if (nv->fn.SystemGetCudaDriverVersion == NULL) {
        return missing("nvmlSystemGetCudaDriverVersion", diag);
    }
    return check(nv, nv->fn.SystemGetCudaDriverVersion(ret), "nvmlSystemGetCudaDriverVersion",
                 diag);
}

int
gdp_nvml_device_count(struct gdp_nvml *nv, unsigned *ret, struct gdp_diag *diag)
{
    return check(nv, nv->fn.DeviceGetCount_v2(ret), "nvmlDeviceGetCount_v2", diag);
}

int
gdp_nvml_device_by_index(struct gdp_nvml *nv, unsigned index, struct gdp_nvml_device **ret,
                         struct gdp_diag *diag)
{
    nvmlDevice_t d = NULL;
    int r = check(nv, nv->fn.DeviceGetHandleByIndex_v2(index, &d), "nvmlDeviceGetHandleByIndex_v2",
                  diag);
    *ret = (struct gdp_nvml_device *)(void *)d;
    return r;
}

int
gdp_nvml_device_uuid(struct gdp_nvml *nv, struct gdp_nvml_device *d, char *buf, size_t len,
                     struct gdp_diag *diag)
{
    return check(nv, nv->fn.DeviceGetUUID(h(d), buf, (unsigned)len), "nvmlDeviceGetUUID", diag);
}

int
gdp_nvml_device_name(struct gdp_nvml *nv, struct gdp_nvml_device *d, char *buf, size_t len,
                     struct gdp_diag *diag)
{
    return check(nv, nv->fn.DeviceGetName(h(d), buf, (unsigned)len), "nvmlDeviceGetName", diag);
}

int
gdp_nvml_device_memory(struct gdp_nvml *nv, struct gdp_nvml_device *d, uint64_t *ret_total,
                       struct gdp_diag *diag)
{
    nvmlMemory_t m = {0};
    int r = check(nv, nv->fn.DeviceGetMemoryInfo(h(d), &m), "nvmlDeviceGetMemoryInfo", diag);
    *ret_total = m.total;
    return r;
}

int
gdp_nvml_device_bus_id(struct gdp_nvml *nv, struct gdp_nvml_device *d, char *buf, size_t len,
                       struct gdp_diag *diag)
{
    nvmlPciInfo_t pci = {0};
    int r = check(nv, nv->fn.DeviceGetPciInfo_v3(h(d), &pci), "nvmlDeviceGetPciInfo_v3", diag);
    if (r < 0) {
        return r;
    }
    pci.busId[sizeof pci.busId - 1] = '\0';
    if (gdp_strlcpy(buf, pci.busId, len) < 0) {
        return gdp_diag_set(diag, -EPROTO, "nvmlDeviceGetPciInfo_v3: bus id too long");
    }
    return 0;
}

int
gdp_nvml_device_minor(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned *ret,
                      struct gdp_diag *diag)
{
    return check(nv, nv->fn.DeviceGetMinorNumber(h(d), ret), "nvmlDeviceGetMinorNumber", diag);
}

int
gdp_nvml_device_cuda_cc(struct gdp_nvml *nv, struct gdp_nvml_device *d, int *ret_major,
                        int *ret_minor, struct gdp_diag *diag)
{
    return check(nv, nv->fn.DeviceGetCudaComputeCapability(h(d), ret_major, ret_minor),
                 "nvmlDeviceGetCudaComputeCapability", diag);
}

int
gdp_nvml_device_mig_mode(struct gdp_nvml *nv, struct gdp_nvml_device *d, bool *ret_capable,
                         bool *ret_enabled, struct gdp_diag *diag)
{
    unsigned current = 0, pending = 0;
    *ret_capable = *ret_enabled = false;
    if (nv->fn.DeviceGetMigMode == NULL) {
        return 0;
    }
    nvmlReturn_t rc = nv->fn.DeviceGetMigMode(h(d), &current, &pending);
    if (rc == NVML_ERROR_NOT_SUPPORTED) {
        return 0;
    }
    int r = check(nv, rc, "nvmlDeviceGetMigMode", diag);
    if (r < 0) {
        return r;
    }
    *ret_capable = true;
    *ret_enabled = current == NVML_DEVICE_MIG_ENABLE;
    return 0;
}

int
gdp_nvml_device_mig_slots(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned *ret,
                          struct gdp_diag *diag)
{
    if (nv->fn.DeviceGetMaxMigDeviceCount == NULL) {
        return missing("nvmlDeviceGetMaxMigDeviceCount", diag);
    }
    return check(nv, nv->fn.DeviceGetMaxMigDeviceCount(h(d), ret), "nvmlDeviceGetMaxMigDeviceCount",
                 diag);
}

int
gdp_nvml_device_mig_by_index(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned index,
                             struct gdp_nvml_device **ret, struct gdp_diag *diag)
{
    nvmlDevice_t mig = NULL;
    if (nv->fn.DeviceGetMigDeviceHandleByIndex == NULL) {
        return missing("nvmlDeviceGetMigDeviceHandleByIndex", diag);
    }
    nvmlReturn_t rc = nv->fn.DeviceGetMigDeviceHandleByIndex(h(d), index, &mig);
    if (rc == NVML_ERROR_NOT_FOUND || rc == NVML_ERROR_INVALID_ARGUMENT) {
        return -ENOENT;
    }
    *ret = (struct gdp_nvml_device *)(void *)mig;
    return check(nv, rc, "nvmlDeviceGetMigDeviceHandleByIndex", diag);
}

static bool
mig_calls_present(const struct gdp_nvml_fns *fn)
{
    return fn->DeviceGetGpuInstanceId != NULL && fn->DeviceGetComputeInstanceId != NULL &&
           fn->DeviceGetAttributes_v2 != NULL && fn->DeviceGetGpuInstanceProfileInfo != NULL &&
           fn->DeviceGetGpuInstanceById != NULL && fn->GpuInstanceGetInfo != NULL &&
           fn->GpuInstanceGetComputeInstanceProfileInfo != NULL &&
           fn->GpuInstanceGetComputeInstanceById != NULL && fn->ComputeInstanceGetInfo_v2 != NULL;
}

/* Finds the GPU-instance profile enum whose profile-info id equals profile_id. */
static int
find_gi_profile(struct gdp_nvml *nv, nvmlDevice_t parent, unsigned profile_id, unsigned *ret,
                struct gdp_diag *diag)
{
    for (unsigned p = 0; p < NVML_GPU_INSTANCE_PROFILE_COUNT; p++) {
        nvmlGpuInstanceProfileInfo_t info = {0};
        nvmlReturn_t rc = nv->fn.DeviceGetGpuInstanceProfileInfo(parent, p, &info);
        if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_INVALID_ARGUMENT) {
            continue;
        }
        int r = check(nv, rc, "nvmlDeviceGetGpuInstanceProfileInfo", diag);
        if (r < 0) {
            return r;
        }
        if (info.id == profile_id) {
            *ret = p;
            return 0;
        }
    }
    return gdp_diag_set(diag, -ENOENT, "no GPU instance profile with id %u", profile_id);
}

/* Finds the compute-instance profile enum whose profile-info id equals profile_id. */
static int
find_ci_profile(struct gdp_nvml *nv, nvmlGpuInstance_t gi, unsigned profile_id, unsigned *ret,
                struct gdp_diag *diag)
{
    for (unsigned p = 0; p < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; p++) {
        nvmlComputeInstanceProfileInfo_t info = {0};
        nvmlReturn_t rc = nv->fn.GpuInstanceGetComputeInstanceProfileInfo(
                gi, p, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info);
        if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_INVALID_ARGUMENT) {
            continue;
        }
        int r = check(nv, rc, "nvmlGpuInstanceGetComputeInstanceProfileInfo", diag);
        if (r < 0) {
            return r;
        }
        if (info.id == profile_id) {
            *ret = p;
            return 0;
        }
    }
    return gdp_diag_set(diag, -ENOENT, "no compute instance profile with id %u", profile_id);
}

static int
mig_instances(struct gdp_nvml *nv, nvmlDevice_t parent, struct gdp_nvml_mig_info *m,
              struct gdp_diag *diag)
{
    nvmlGpuInstance_t gi = NULL;
    nvmlComputeInstance_t ci = NULL;
    nvmlGpuInstanceInfo_t gi_info = {0};
    nvmlComputeInstanceInfo_t ci_info = {0};
    int r = check(nv, nv->fn.DeviceGetGpuInstanceById(parent, m->gi_id, &gi),
                  "nvmlDeviceGetGpuInstanceById", diag);
    if (r >= 0) {
        r = check(nv, nv->fn.GpuInstanceGetInfo(gi, &gi_info), "nvmlGpuInstanceGetInfo", diag);
    }
    if (r >= 0) {
        r = check(nv, nv->fn.GpuInstanceGetComputeInstanceById(gi, m->ci_id, &ci),
                  "nvmlGpuInstanceGetComputeInstanceById", diag);
    }
    if (r >= 0) {
        r = check(nv, nv->fn.ComputeInstanceGetInfo_v2(ci, &ci_info),
                  "nvmlComputeInstanceGetInfo_v2", diag);
    }
    if (r >= 0) {
        r = find_gi_profile(nv, parent, gi_info.profileId, &m->gi_profile, diag);
    }
    if (r >= 0) {
        r = find_ci_profile(nv, gi, ci_info.profileId, &m->ci_profile, diag);
    }
    return r;
}

int
gdp_nvml_mig_info(struct gdp_nvml *nv, struct gdp_nvml_device *parent, struct gdp_nvml_device *mig,
                  struct gdp_nvml_mig_info *ret, struct gdp_diag *diag)
{
    nvmlDeviceAttributes_t attr = {0};
    struct gdp_nvml_mig_info m = {0};
    if (!mig_calls_present(&nv->fn)) {
        return missing("MIG instance queries", diag);
    }
    int r = check(nv, nv->fn.DeviceGetGpuInstanceId(h(mig), &m.gi_id), "nvmlDeviceGetGpuInstanceId",
                  diag);
    if (r >= 0) {
        r = check(nv, nv->fn.DeviceGetComputeInstanceId(h(mig), &m.ci_id),
                  "nvmlDeviceGetComputeInstanceId", diag);
    }
    if (r >= 0) {
        r = check(nv, nv->fn.DeviceGetAttributes_v2(h(mig), &attr), "nvmlDeviceGetAttributes_v2",
                  diag);
    }
    if (r >= 0) {
        r = mig_instances(nv, h(parent), &m, diag);
    }
    if (r < 0) {
        return r;
    }
    m.memory_mib = attr.memorySizeMB;
    m.multiprocessors = attr.multiprocessorCount;
    m.gi_slices = attr.gpuInstanceSliceCount;
    m.ci_slices = attr.computeInstanceSliceCount;
    m.engines_copy = attr.sharedCopyEngineCount;
    m.engines_decoder = attr.sharedDecoderCount;
    m.engines_encoder = attr.sharedEncoderCount;
    m.engines_jpeg = attr.sharedJpegCount;
    m.engines_ofa = attr.sharedOfaCount;
    *ret = m;
    return 0;
}

int
gdp_nvml_device_fabric(struct gdp_nvml *nv, struct gdp_nvml_device *d, struct gdp_nvml_fabric *ret,
                       struct gdp_diag *diag)
{
    nvmlGpuFabricInfo_t info = {0};
    *ret = (struct gdp_nvml_fabric){0};
    if (nv->fn.DeviceGetGpuFabricInfo == NULL) {
        return 0;
    }
    nvmlReturn_t rc = nv->fn.DeviceGetGpuFabricInfo(h(d), &info);
    if (rc == NVML_ERROR_NOT_SUPPORTED) {
        return 0;
    }
    int r = check(nv, rc, "nvmlDeviceGetGpuFabricInfo", diag);
    if (r < 0) {
        return r;
    }
    static const unsigned char zero[NVML_GPU_FABRIC_UUID_LEN] = {0};
    if (info.state != NVML_GPU_FABRIC_STATE_COMPLETED || info.status != NVML_SUCCESS ||
        memcmp(info.clusterUuid, zero, sizeof zero) == 0) {
        return 0; /* go-nvlib's IsFabricAttached */
    }
    const unsigned char *u = info.clusterUuid;
    (void)snprintf(ret->cluster_uuid, sizeof ret->cluster_uuid,
                   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                   u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                   u[14], u[15]);
    ret->clique_id = info.cliqueId;
    ret->attached = true;
    return 0;
}

int
gdp_nvml_device_by_uuid(struct gdp_nvml *nv, const char *uuid, struct gdp_nvml_device **ret,
                        struct gdp_diag *diag)
{
    nvmlDevice_t d = NULL;
    int r = check(nv, nv->fn.DeviceGetHandleByUUID(uuid, &d), "nvmlDeviceGetHandleByUUID", diag);
    *ret = (struct gdp_nvml_device *)(void *)d;
    return r;
}

static nvmlEventSet_t
es(struct gdp_nvml_event_set *set)
{
    return (nvmlEventSet_t)(void *)set;
}

int
gdp_nvml_event_set_new(struct gdp_nvml *nv, struct gdp_nvml_event_set **ret, struct gdp_diag *diag)
{
    nvmlEventSet_t set = NULL;
    int r = check(nv, nv->fn.EventSetCreate(&set), "nvmlEventSetCreate", diag);
    *ret = r < 0 ? NULL : (struct gdp_nvml_event_set *)(void *)set;
    return r;
}

void
gdp_nvml_event_set_free(struct gdp_nvml *nv, struct gdp_nvml_event_set *set)
{
    if (set != NULL) {
        (void)nv->fn.EventSetFree(es(set));
    }
}

int
gdp_nvml_device_supported_events(struct gdp_nvml *nv, struct gdp_nvml_device *d, uint64_t *ret,
                                 struct gdp_diag *diag)
{
    unsigned long long mask = 0;
    nvmlReturn_t rc = nv->fn.DeviceGetSupportedEventTypes(h(d), &mask);
    int r = check(nv, rc, "nvmlDeviceGetSupportedEventTypes", diag);
    *ret = r < 0 ? 0 : (uint64_t)mask;
    return rc == NVML_ERROR_NOT_SUPPORTED ? -EOPNOTSUPP : r;
}

int
gdp_nvml_device_register_events(struct gdp_nvml *nv, struct gdp_nvml_device *d, uint64_t mask,
                                struct gdp_nvml_event_set *set, struct gdp_diag *diag)
{
    nvmlReturn_t rc = nv->fn.DeviceRegisterEvents(h(d), (unsigned long long)mask, es(set));
    int r = check(nv, rc, "nvmlDeviceRegisterEvents", diag);
    return rc == NVML_ERROR_NOT_SUPPORTED ? -EOPNOTSUPP : r;
}

int
gdp_nvml_event_wait(struct gdp_nvml *nv, struct gdp_nvml_event_set *set, unsigned timeout_ms,
                    struct gdp_nvml_event *ret, struct gdp_diag *diag)
{
    nvmlEventData_t ev = {0};
    nvmlReturn_t rc = nv->fn.EventSetWait_v2(es(set), &ev, timeout_ms);
    if (rc == NVML_ERROR_TIMEOUT) {
        return -ETIMEDOUT;
    }
    int r = check(nv, rc, "nvmlEventSetWait_v2", diag);
    if (r < 0) {
        return r;
    }
    *ret = (struct gdp_nvml_event){
            .device = (struct gdp_nvml_device *)(void *)ev.device,
            .type = (uint64_t)ev.eventType,
            .data = (uint64_t)ev.eventData,
            .gi = ev.gpuInstanceId,
            .ci = ev.computeInstanceId,
    };
    return 0;
}

int
gdp_nvml_device_common_ancestor(struct gdp_nvml *nv, struct gdp_nvml_device *a,
                                struct gdp_nvml_device *b, unsigned *ret_level,
                                struct gdp_diag *diag)
{
    nvmlGpuTopologyLevel_t level = NVML_TOPOLOGY_SYSTEM;
    if (nv->fn.DeviceGetTopologyCommonAncestor == NULL) {
        return gdp_diag_set(diag, -ENOSYS, "nvmlDeviceGetTopologyCommonAncestor: not in library");
    }
    int r = check(nv, nv->fn.DeviceGetTopologyCommonAncestor(h(a), h(b), &level),
                  "nvmlDeviceGetTopologyCommonAncestor", diag);
    *ret_level = (unsigned)level;
    return r;
}

int
gdp_nvml_device_nvlink_remote(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned link,
                              char *buf, size_t len, struct gdp_diag *diag)
{
    nvmlEnableState_t state = NVML_FEATURE_DISABLED;
    nvmlPciInfo_t pci = {0};
    if (nv->fn.DeviceGetNvLinkState == NULL || nv->fn.DeviceGetNvLinkRemotePciInfo_v2 == NULL) {
        return 0;
    }
    nvmlReturn_t rc = nv->fn.DeviceGetNvLinkState(h(d), link, &state);
    n_calls++;
    if (rc == NVML_ERROR_NOT_SUPPORTED || (rc == NVML_SUCCESS && state != NVML_FEATURE_ENABLED)) {
        return 0;
    }
    int r = check(nv, rc, "nvmlDeviceGetNvLinkState", diag);
    if (r < 0) {
        return r;
    }
    rc = nv->fn.DeviceGetNvLinkRemotePciInfo_v2(h(d), link, &pci);
    if (rc == NVML_ERROR_NOT_SUPPORTED) {
        n_calls++;
        return 0;
    }
    r = check(nv, rc, "nvmlDeviceGetNvLinkRemotePciInfo_v2", diag);
    if (r < 0) {
        return r;
    }
    pci.busId[sizeof pci.busId - 1] = '\0';
    if (gdp_strlcpy(buf, pci.busId, len) < 0) {
        return gdp_diag_set(diag, -EPROTO, "nvmlDeviceGetNvLinkRemotePciInfo_v2: bus id too long");
    }
    return 1;
}
