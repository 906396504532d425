/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML entry points for MIG: mode, MIG device handles, GPU-instance and compute-instance
 * ids and handles, device attributes and the profile tables, consistent with each other so
 * that go-nvlib's profile-name derivation gives the names the node file used.
 */
#include <stdio.h>
#include <string.h>

#include "mock.h"

static bool
mig_enabled(const struct nvmlDevice_st *d)
{
    return d->mig_capable && d->mig_current == NVML_DEVICE_MIG_ENABLE;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(MOCK_FN_nvmlDeviceGetMigMode, device, MOCK_GPU_ONLY, &d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (!d->mig_capable) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (currentMode == NULL || pendingMode == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *currentMode = d->mig_current;
    *pendingMode = d->mig_pending;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r =
            mock_enter_dev(MOCK_FN_nvmlDeviceGetMaxMigDeviceCount, device, MOCK_GPU_ONLY, &d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (count == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *count = mig_enabled(d) ? MOCK_MAX_MIG : 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                    nvmlDevice_t *migDevice)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r =
            mock_enter_dev(MOCK_FN_nvmlDeviceGetMigDeviceHandleByIndex, device, MOCK_GPU_ONLY, &d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (migDevice == NULL || index >= (mig_enabled(d) ? MOCK_MAX_MIG : 0)) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (d->mig_slots[index] == NULL) {
        return NVML_ERROR_NOT_FOUND;
    }
    *migDevice = d->mig_slots[index];
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(MOCK_FN_nvmlDeviceIsMigDeviceHandle, device, MOCK_ANY, &d);

    if (r == NVML_SUCCESS && isMigDevice == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (r == NVML_SUCCESS) {
        *isMigDevice = d->parent != NULL;
    }
    return r;
}

static nvmlReturn_t
instance_id(enum mock_fn fn, nvmlDevice_t device, bool gi, unsigned int *id)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(fn, device, MOCK_MIG_ONLY, &d);

    if (r == NVML_SUCCESS && id == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (r == NVML_SUCCESS) {
        *id = gi ? d->gi->id : d->ci->id;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return instance_id(MOCK_FN_nvmlDeviceGetGpuInstanceId, device, true, id);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return instance_id(MOCK_FN_nvmlDeviceGetComputeInstanceId, device, false, id);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(MOCK_FN_nvmlDeviceGetDeviceHandleFromMigDeviceHandle, migDevice,
                                    MOCK_ANY, &d);

    if (r == NVML_SUCCESS && (device == NULL || d->parent == NULL)) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (r == NVML_SUCCESS) {
        *device = d->parent;
    }
    return r;
}

static nvmlReturn_t
attributes(enum mock_fn fn, nvmlDevice_t device, nvmlDeviceAttributes_t *a)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(fn, device, MOCK_MIG_ONLY, &d);
    const struct mock_gi_profile *p;
    unsigned int cs;

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (a == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    p = d->gi->profile;
    cs = mock_ci_slices(d->ci->profile);
    memset(a, 0, sizeof *a);
    a->multiprocessorCount = cs < p->slices ? cs * mock_gpu_of(d)->model->sms_per_slice : p->sms;
    a->sharedCopyEngineCount = p->ce;
    a->sharedDecoderCount = p->dec;
    a->sharedEncoderCount = p->enc;
    a->sharedJpegCount = p->jpeg;
    a->sharedOfaCount = p->ofa;
    a->gpuInstanceSliceCount = p->slices;
    a->computeInstanceSliceCount = cs;
    a->memorySizeMB = p->mem_mib;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes_)
{
    return attributes(MOCK_FN_nvmlDeviceGetAttributes_v2, device, attributes_);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetAttributes(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes_)
{
    return attributes(MOCK_FN_nvmlDeviceGetAttributes, device, attributes_);
}

/* Looks up a GI profile of a MIG-capable GPU: NOT_SUPPORTED / INVALID_ARGUMENT otherwise. */
static nvmlReturn_t
gi_profile(enum mock_fn fn, nvmlDevice_t device, unsigned int profile, const void *out,
           const struct mock_gi_profile **ret)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(fn, device, MOCK_GPU_ONLY, &d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (!d->mig_capable) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (profile >= NVML_GPU_INSTANCE_PROFILE_COUNT || out == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *ret = mock_model_gi(d->model, profile);
    return *ret != NULL ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                    nvmlGpuInstanceProfileInfo_t *info)
{
    const struct mock_gi_profile *p = NULL;
    nvmlReturn_t r =
            gi_profile(MOCK_FN_nvmlDeviceGetGpuInstanceProfileInfo, device, profile, info, &p);

    if (r != NVML_SUCCESS) {
        return r;
    }
    memset(info, 0, sizeof *info);
    info->id = p->id;
    info->sliceCount = p->slices;
    info->instanceCount = p->instances;
    info->multiprocessorCount = p->sms;
    info->copyEngineCount = p->ce;
    info->decoderCount = p->dec;
    info->encoderCount = p->enc;
    info->jpegCount = p->jpeg;
    info->ofaCount = p->ofa;
    info->memorySizeMB = p->mem_mib;
    return NVML_SUCCESS;
}

static void
fill_v3(const struct nvmlDevice_st *d, const struct mock_gi_profile *p,
        nvmlGpuInstanceProfileInfo_v3_t *v3)
{
    char name[64];

    mock_profile_name(p, p->slices, d->mem_mib, name, sizeof name);
    memset(v3, 0, sizeof *v3);
    v3->version = nvmlGpuInstanceProfileInfo_v3;
    v3->id = p->id;
    v3->sliceCount = p->slices;
    v3->instanceCount = p->instances;
    v3->multiprocessorCount = p->sms;
    v3->copyEngineCount = p->ce;
    v3->decoderCount = p->dec;
    v3->encoderCount = p->enc;
    v3->jpegCount = p->jpeg;
    v3->ofaCount = p->ofa;
    v3->memorySizeMB = p->mem_mib;
    (void)snprintf(v3->name, sizeof v3->name, "MIG %s", name);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                     nvmlGpuInstanceProfileInfo_v2_t *info)
{
    const struct mock_gi_profile *p = NULL;
    nvmlReturn_t r =
            gi_profile(MOCK_FN_nvmlDeviceGetGpuInstanceProfileInfoV, device, profile, info, &p);
    nvmlGpuInstanceProfileInfo_v3_t v3;
    unsigned int version;

    if (r != NVML_SUCCESS) {
        return r;
    }
    version = info->version;
    if (version != nvmlGpuInstanceProfileInfo_v2 && version != nvmlGpuInstanceProfileInfo_v3) {
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    }
    fill_v3(device, p, &v3);
    if (version == nvmlGpuInstanceProfileInfo_v3) {
        memcpy(info, &v3, sizeof v3);
        return NVML_SUCCESS;
    }
    memset(info, 0, sizeof *info);
    info->version = version;
    info->id = v3.id;
    info->sliceCount = v3.sliceCount;
    info->instanceCount = v3.instanceCount;
    info->multiprocessorCount = v3.multiprocessorCount;
    info->copyEngineCount = v3.copyEngineCount;
    info->decoderCount = v3.decoderCount;
    info->encoderCount = v3.encoderCount;
    info->jpegCount = v3.jpegCount;
    info->ofaCount = v3.ofaCount;
    info->memorySizeMB = v3.memorySizeMB;
    memcpy(info->name, v3.name, sizeof info->name);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r =
            mock_enter_dev(MOCK_FN_nvmlDeviceGetGpuInstanceById, device, MOCK_GPU_ONLY, &d);
    struct mock_node *n = mock_node_get();

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (!mig_enabled(d)) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (gpuInstance == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    for (unsigned int i = 0; i < n->n_gis; i++) {
        if (n->gis[i].parent == d && n->gis[i].id == id) {
            *gpuInstance = &n->gis[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

/* Prologue for GI-handle calls: validation, init, failures and lost GPUs of the parent. */
static struct nvmlGpuInstance_st *
enter_gi(enum mock_fn fn, nvmlGpuInstance_t h, const void *out, nvmlReturn_t *r)
{
    struct nvmlGpuInstance_st *gi;

    *r = mock_enter(fn);
    if (*r != NVML_SUCCESS) {
        return NULL;
    }
    gi = mock_gi_get(h);
    *r = gi == NULL ? NVML_ERROR_INVALID_ARGUMENT : mock_check(fn, gi->parent);
    if (*r == NVML_SUCCESS && out == NULL) {
        *r = NVML_ERROR_INVALID_ARGUMENT;
    }
    return *r == NVML_SUCCESS ? gi : NULL;
}

MOCK_API nvmlReturn_t
nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
    nvmlReturn_t r;
    struct nvmlGpuInstance_st *gi = enter_gi(MOCK_FN_nvmlGpuInstanceGetInfo, gpuInstance, info, &r);

    if (gi != NULL) {
        memset(info, 0, sizeof *info);
        info->device = gi->parent;
        info->id = gi->id;
        info->profileId = gi->profile->id;
        info->placement.start = gi->start;
        info->placement.size = gi->size;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlGpuInstanceGetComputeInstanceProfileInfo(nvmlGpuInstance_t gpuInstance, unsigned int profile,
                                             unsigned int engProfile,
                                             nvmlComputeInstanceProfileInfo_t *info)
{
    nvmlReturn_t r;
    struct nvmlGpuInstance_st *gi =
            enter_gi(MOCK_FN_nvmlGpuInstanceGetComputeInstanceProfileInfo, gpuInstance, info, &r);
    const struct mock_gi_profile *p;
    unsigned int cs;

    if (gi == NULL) {
        return r;
    }
    if (profile >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT ||
        engProfile >= NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    p = gi->profile;
    if (!mock_ci_offered(p, profile)) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    cs = mock_ci_slices(profile);
    memset(info, 0, sizeof *info);
    info->id = profile;
    info->sliceCount = cs;
    info->instanceCount = p->slices / cs;
    info->multiprocessorCount = cs < p->slices ? cs * gi->parent->model->sms_per_slice : p->sms;
    info->sharedCopyEngineCount = p->ce;
    info->sharedDecoderCount = p->dec;
    info->sharedEncoderCount = p->enc;
    info->sharedJpegCount = p->jpeg;
    info->sharedOfaCount = p->ofa;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlGpuInstanceGetComputeInstanceById(nvmlGpuInstance_t gpuInstance, unsigned int id,
                                      nvmlComputeInstance_t *computeInstance)
{
    nvmlReturn_t r;
    struct nvmlGpuInstance_st *gi = enter_gi(MOCK_FN_nvmlGpuInstanceGetComputeInstanceById,
                                             gpuInstance, computeInstance, &r);
    struct mock_node *n = mock_node_get();

    if (gi == NULL) {
        return r;
    }
    for (unsigned int i = 0; i < n->n_cis; i++) {
        if (n->cis[i].gi == gi && n->cis[i].id == id) {
            *computeInstance = &n->cis[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

static nvmlReturn_t
ci_info(enum mock_fn fn, nvmlComputeInstance_t h, nvmlComputeInstanceInfo_t *info)
{
    struct nvmlComputeInstance_st *ci;
    nvmlReturn_t r = mock_enter(fn);

    if (r != NVML_SUCCESS) {
        return r;
    }
    ci = mock_ci_get(h);
    r = ci == NULL ? NVML_ERROR_INVALID_ARGUMENT : mock_check(fn, ci->gi->parent);
    if (r == NVML_SUCCESS && info == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (r != NVML_SUCCESS) {
        return r;
    }
    memset(info, 0, sizeof *info);
    info->device = ci->gi->parent;
    info->gpuInstance = ci->gi;
    info->id = ci->id;
    info->profileId = ci->profile;
    info->placement.start = ci->start;
    info->placement.size = ci->size;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                              nvmlComputeInstanceInfo_t *info)
{
    return ci_info(MOCK_FN_nvmlComputeInstanceGetInfo_v2, computeInstance, info);
}

MOCK_API nvmlReturn_t
nvmlComputeInstanceGetInfo(nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t *info)
{
    return ci_info(MOCK_FN_nvmlComputeInstanceGetInfo, computeInstance, info);
}
