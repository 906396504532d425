/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML entry points for library lifetime, error text, system versions and device
 * enumeration (by index, UUID and PCI bus id).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mock.h"

MOCK_API nvmlReturn_t
nvmlInit_v2(void)
{
    return mock_init(MOCK_FN_nvmlInit_v2);
}

MOCK_API nvmlReturn_t
nvmlInit(void)
{
    return mock_init(MOCK_FN_nvmlInit);
}

MOCK_API nvmlReturn_t
nvmlInitWithFlags(unsigned int flags)
{
    (void)flags; /* NO_GPUS / NO_ATTACH / FORCE_INIT change nothing in the mock */
    return mock_init(MOCK_FN_nvmlInitWithFlags);
}

MOCK_API nvmlReturn_t
nvmlShutdown(void)
{
    return mock_shutdown();
}

static const char *const error_text[] = {
        [NVML_SUCCESS] = "Success",
        [NVML_ERROR_UNINITIALIZED] = "Uninitialized",
        [NVML_ERROR_INVALID_ARGUMENT] = "Invalid Argument",
        [NVML_ERROR_NOT_SUPPORTED] = "Not Supported",
        [NVML_ERROR_NO_PERMISSION] = "Insufficient Permissions",
        [NVML_ERROR_ALREADY_INITIALIZED] = "Already Initialized",
        [NVML_ERROR_NOT_FOUND] = "Not Found",
        [NVML_ERROR_INSUFFICIENT_SIZE] = "Insufficient Size",
        [NVML_ERROR_INSUFFICIENT_POWER] = "Insufficient External Power",
        [NVML_ERROR_DRIVER_NOT_LOADED] = "Driver Not Loaded",
        [NVML_ERROR_TIMEOUT] = "Timeout",
        [NVML_ERROR_IRQ_ISSUE] = "Interrupt Request Issue",
        [NVML_ERROR_LIBRARY_NOT_FOUND] = "NVML Shared Library Not Found",
        [NVML_ERROR_FUNCTION_NOT_FOUND] = "Function Not Found",
        [NVML_ERROR_CORRUPTED_INFOROM] = "Corrupted infoROM",
        [NVML_ERROR_GPU_IS_LOST] = "GPU is lost",
        [NVML_ERROR_RESET_REQUIRED] = "GPU requires reset",
        [NVML_ERROR_OPERATING_SYSTEM] = "GPU access blocked by the operating system",
        [NVML_ERROR_LIB_RM_VERSION_MISMATCH] = "Driver/library version mismatch",
        [NVML_ERROR_IN_USE] = "In use by another client",
        [NVML_ERROR_MEMORY] = "Insufficient Memory",
        [NVML_ERROR_NO_DATA] = "No data",
        [NVML_ERROR_VGPU_ECC_NOT_SUPPORTED] = "ECC not supported for vGPU",
        [NVML_ERROR_INSUFFICIENT_RESOURCES] = "Insufficient resources",
        [NVML_ERROR_FREQ_NOT_SUPPORTED] = "Frequency not supported",
        [NVML_ERROR_ARGUMENT_VERSION_MISMATCH] = "Argument version mismatch",
        [NVML_ERROR_DEPRECATED] = "Deprecated",
        [NVML_ERROR_NOT_READY] = "Not ready",
        [NVML_ERROR_GPU_NOT_FOUND] = "GPU not found",
        [NVML_ERROR_INVALID_STATE] = "Invalid state",
        [NVML_ERROR_RESET_TYPE_NOT_SUPPORTED] = "Reset type not supported",
};

MOCK_API const char *
nvmlErrorString(nvmlReturn_t result)
{
    unsigned int i = (unsigned int)result;

    if (result == NVML_ERROR_UNKNOWN) {
        return "Unknown Error";
    }
    if (i < MOCK_ELEMENTSOF(error_text) && error_text[i] != NULL) {
        return error_text[i];
    }
    return "Unknown Error (unrecognized return code)";
}

MOCK_API nvmlReturn_t
nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    nvmlReturn_t r = mock_enter(MOCK_FN_nvmlSystemGetDriverVersion);

    if (r == NVML_SUCCESS) {
        r = mock_check(MOCK_FN_nvmlSystemGetDriverVersion, NULL);
    }
    return r != NVML_SUCCESS ? r : mock_copy_str(version, length, mock_node_get()->driver_version);
}

/* The two version calls do not document UNINITIALIZED: they work before nvmlInit too. */
static struct mock_node *
version_node(enum mock_fn fn, nvmlReturn_t *ret)
{
    struct mock_node *n;

    mock_control_drain();
    n = mock_node_load_once(ret);
    if (n != NULL) {
        *ret = mock_check(fn, NULL);
    }
    return *ret == NVML_SUCCESS ? n : NULL;
}

MOCK_API nvmlReturn_t
nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    nvmlReturn_t r;
    struct mock_node *n = version_node(MOCK_FN_nvmlSystemGetNVMLVersion, &r);

    return n == NULL ? r : mock_copy_str(version, length, n->nvml_version);
}

static nvmlReturn_t
cuda_version(enum mock_fn fn, int *out)
{
    nvmlReturn_t r;
    struct mock_node *n = version_node(fn, &r);

    if (n == NULL) {
        return r;
    }
    if (out == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *out = n->cuda_driver_version;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    return cuda_version(MOCK_FN_nvmlSystemGetCudaDriverVersion, cudaDriverVersion);
}

MOCK_API nvmlReturn_t
nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return cuda_version(MOCK_FN_nvmlSystemGetCudaDriverVersion_v2, cudaDriverVersion);
}

static nvmlReturn_t
device_count(enum mock_fn fn, unsigned int *count)
{
    nvmlReturn_t r = mock_enter(fn);

    if (r == NVML_SUCCESS) {
        r = mock_check(fn, NULL);
    }
    if (r == NVML_SUCCESS && count == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (r == NVML_SUCCESS) {
        *count = mock_node_get()->n_gpus;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    return device_count(MOCK_FN_nvmlDeviceGetCount_v2, deviceCount);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return device_count(MOCK_FN_nvmlDeviceGetCount, deviceCount);
}

/* Common tail of the handle lookups: failures, lost GPUs, inaccessible GPUs. */
static nvmlReturn_t
hand_out(enum mock_fn fn, struct nvmlDevice_st *d, nvmlDevice_t *device)
{
    nvmlReturn_t r = mock_check(fn, d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (!mock_gpu_of(d)->accessible) {
        return NVML_ERROR_NO_PERMISSION;
    }
    *device = d;
    return NVML_SUCCESS;
}

static nvmlReturn_t
handle_by_index(enum mock_fn fn, unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t r = mock_enter(fn);
    struct mock_node *n = mock_node_get();

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (device == NULL || index >= n->n_gpus) {
        r = mock_check(fn, NULL);
        return r != NVML_SUCCESS ? r : NVML_ERROR_INVALID_ARGUMENT;
    }
    return hand_out(fn, &n->devs[index], device);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    return handle_by_index(MOCK_FN_nvmlDeviceGetHandleByIndex_v2, index, device);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return handle_by_index(MOCK_FN_nvmlDeviceGetHandleByIndex, index, device);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    const enum mock_fn fn = MOCK_FN_nvmlDeviceGetHandleByUUID;
    nvmlReturn_t r = mock_enter(fn);
    struct nvmlDevice_st *d;

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (uuid == NULL || device == NULL) {
        r = mock_check(fn, NULL);
        return r != NVML_SUCCESS ? r : NVML_ERROR_INVALID_ARGUMENT;
    }
    d = mock_find_uuid(uuid);
    if (d == NULL) {
        r = mock_check(fn, NULL);
        return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_FOUND;
    }
    return hand_out(fn, d, device);
}

/* Parses "DDDDDDDD:BB:DD.F", "DDDD:BB:DD.F" or "BB:DD.F" (hex, any case). */
static bool
parse_bus_id(const char *s, unsigned int v[4])
{
    int used = 0;
    size_t colons = 0;

    for (const char *p = s; *p; p++) {
        colons += *p == ':';
    }
    v[0] = 0;
    if (colons == 2 && sscanf(s, "%8x:%2x:%2x.%1x%n", &v[0], &v[1], &v[2], &v[3], &used) == 4) {
        return s[used] == '\0';
    }
    if (colons == 1 && sscanf(s, "%2x:%2x.%1x%n", &v[1], &v[2], &v[3], &used) == 3) {
        return s[used] == '\0';
    }
    return false;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    const enum mock_fn fn = MOCK_FN_nvmlDeviceGetHandleByPciBusId_v2;
    nvmlReturn_t r = mock_enter(fn);
    struct mock_node *n = mock_node_get();
    unsigned int v[4];

    if (r == NVML_SUCCESS) {
        r = mock_check(fn, NULL);
    }
    if (r != NVML_SUCCESS) {
        return r;
    }
    if (pciBusId == NULL || device == NULL || !parse_bus_id(pciBusId, v)) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    for (unsigned int i = 0; i < n->n_gpus; i++) {
        struct nvmlDevice_st *d = &n->devs[i];
        if (d->pci_domain == v[0] && d->pci_bus == v[1] && d->pci_dev == v[2] &&
            d->pci_fn == v[3]) {
            return hand_out(fn, d, device);
        }
    }
    return NVML_ERROR_NOT_FOUND;
}
