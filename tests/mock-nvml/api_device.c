/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML entry points for per-device attributes: names and identifiers, memory, PCI
 * information, minor number, index, compute capability, NUMA node, CPU affinity, fabric
 * information and addressing mode. Calls that only make sense on a full GPU return
 * NOT_SUPPORTED on MIG handles, so that a consumer that forgets to switch to the parent
 * is caught.
 */
#include <stdio.h>
#include <string.h>

#include "mock.h"

/* Shared body of the string getters; field is the offset of the string in the device. */
static nvmlReturn_t
get_string(enum mock_fn fn, nvmlDevice_t h, char *buf, unsigned int len, size_t field)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter_dev(fn, h, MOCK_ANY, &d);
    const char *s;

    if (r != NVML_SUCCESS) {
        return r;
    }
    s = (const char *)d + field;
    if (fn == MOCK_FN_nvmlDeviceGetSerial || fn == MOCK_FN_nvmlDeviceGetBoardPartNumber) {
        /* serial and part number belong to the board: reported for full GPUs only */
        if (d->parent != NULL || *s == '\0') {
            return NVML_ERROR_NOT_SUPPORTED;
        }
    }
    return mock_copy_str(buf, len, s);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    return get_string(MOCK_FN_nvmlDeviceGetName, device, name, length,
                      offsetof(struct nvmlDevice_st, name));
}

MOCK_API nvmlReturn_t
nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    return get_string(MOCK_FN_nvmlDeviceGetUUID, device, uuid, length,
                      offsetof(struct nvmlDevice_st, uuid));
}

MOCK_API nvmlReturn_t
nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length)
{
    return get_string(MOCK_FN_nvmlDeviceGetSerial, device, serial, length,
                      offsetof(struct nvmlDevice_st, serial));
}

MOCK_API nvmlReturn_t
nvmlDeviceGetBoardPartNumber(nvmlDevice_t device, char *partNumber, unsigned int length)
{
    return get_string(MOCK_FN_nvmlDeviceGetBoardPartNumber, device, partNumber, length,
                      offsetof(struct nvmlDevice_st, part_number));
}

/* Prologue for getters that write one value: returns the device or NULL with *r set. */
static struct nvmlDevice_st *
get_value(enum mock_fn fn, nvmlDevice_t h, enum mock_scope scope, const void *out, nvmlReturn_t *r)
{
    struct nvmlDevice_st *d = NULL;

    *r = mock_enter_dev(fn, h, scope, &d);
    if (*r == NVML_SUCCESS && out == NULL) {
        *r = NVML_ERROR_INVALID_ARGUMENT;
    }
    return *r == NVML_SUCCESS ? d : NULL;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d = get_value(MOCK_FN_nvmlDeviceGetBrand, device, MOCK_ANY, type, &r);

    if (d != NULL) {
        *type = (nvmlBrandType_t)mock_gpu_of(d)->brand;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetArchitecture, device, MOCK_ANY, arch, &r);

    if (d != NULL) {
        *arch = mock_gpu_of(d)->arch;
    }
    return r;
}

static unsigned long long
total_bytes(const struct nvmlDevice_st *d)
{
    unsigned long long mib = d->parent != NULL ? d->gi->profile->mem_mib : d->mem_mib;

    return mib << 20;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetMemoryInfo, device, MOCK_ANY, memory, &r);

    if (d != NULL) {
        memory->total = total_bytes(d);
        memory->free = memory->total;
        memory->used = 0;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetMemoryInfo_v2, device, MOCK_ANY, memory, &r);

    if (d == NULL) {
        return r;
    }
    if (memory->version != nvmlMemory_v2) {
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    }
    memory->total = total_bytes(d);
    memory->reserved = 0;
    memory->free = memory->total;
    memory->used = 0;
    return NVML_SUCCESS;
}

void
mock_fill_pci(const struct nvmlDevice_st *d, nvmlPciInfo_t *pci, bool subsystem)
{
    memset(pci, 0, sizeof *pci);
    (void)snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X",
                   d->pci_domain & 0xFFFFu, d->pci_bus, d->pci_dev, d->pci_fn);
    (void)snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", d->pci_domain, d->pci_bus,
                   d->pci_dev, d->pci_fn);
    pci->domain = d->pci_domain;
    pci->bus = d->pci_bus;
    pci->device = d->pci_dev;
    pci->pciDeviceId = d->pci_device_id;
    pci->pciSubSystemId = subsystem ? d->pci_subsystem_id : 0;
}

static nvmlReturn_t
pci_info(enum mock_fn fn, nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d = get_value(fn, device, MOCK_GPU_ONLY, pci, &r);

    if (d != NULL) {
        mock_fill_pci(d, pci, true);
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return pci_info(MOCK_FN_nvmlDeviceGetPciInfo_v3, device, pci);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return pci_info(MOCK_FN_nvmlDeviceGetPciInfo_v2, device, pci);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return pci_info(MOCK_FN_nvmlDeviceGetPciInfo, device, pci);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetMinorNumber, device, MOCK_GPU_ONLY, minor, &r);

    if (d != NULL) {
        *minor = d->minor;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d = get_value(MOCK_FN_nvmlDeviceGetIndex, device, MOCK_ANY, index, &r);

    if (d != NULL) {
        *index = d->index;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetCudaComputeCapability, device, MOCK_GPU_ONLY, major, &r);

    if (d != NULL && minor == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (d != NULL) {
        *major = (int)d->cc_major;
        *minor = (int)d->cc_minor;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int *node)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetNumaNodeId, device, MOCK_GPU_ONLY, node, &r);

    if (d != NULL && d->numa_node < 0) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (d != NULL) {
        *node = (unsigned int)d->numa_node;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetCpuAffinity(nvmlDevice_t device, unsigned int cpuSetSize, unsigned long *cpuSet)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetCpuAffinity, device, MOCK_GPU_ONLY, cpuSet, &r);

    if (d != NULL && cpuSetSize == 0) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (d != NULL) {
        memset(cpuSet, 0, cpuSetSize * sizeof *cpuSet);
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetGpuFabricInfo(nvmlDevice_t device, nvmlGpuFabricInfo_t *gpuFabricInfo)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetGpuFabricInfo, device, MOCK_GPU_ONLY, gpuFabricInfo, &r);

    if (d != NULL && !d->fabric.present) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (d != NULL) {
        memset(gpuFabricInfo, 0, sizeof *gpuFabricInfo);
        memcpy(gpuFabricInfo->clusterUuid, d->fabric.cluster_uuid, NVML_GPU_FABRIC_UUID_LEN);
        gpuFabricInfo->status = d->fabric.status;
        gpuFabricInfo->cliqueId = d->fabric.clique_id;
        gpuFabricInfo->state = (nvmlGpuFabricState_t)d->fabric.state;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetGpuFabricInfoV(nvmlDevice_t device, nvmlGpuFabricInfoV_t *gpuFabricInfo)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d = get_value(MOCK_FN_nvmlDeviceGetGpuFabricInfoV, device, MOCK_GPU_ONLY,
                                        gpuFabricInfo, &r);
    nvmlGpuFabricInfoV_t *f = gpuFabricInfo;
    unsigned int version;

    if (d == NULL) {
        return r;
    }
    version = f->version;
    if (version != nvmlGpuFabricInfo_v2 && version != nvmlGpuFabricInfo_v3) {
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    }
    if (!d->fabric.present) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    /* a v2 caller's struct ends before healthSummary: write only its size */
    memset(f, 0, version == nvmlGpuFabricInfo_v2 ? sizeof(nvmlGpuFabricInfo_v2_t) : sizeof *f);
    f->version = version;
    memcpy(f->clusterUuid, d->fabric.cluster_uuid, NVML_GPU_FABRIC_UUID_LEN);
    f->status = d->fabric.status;
    f->cliqueId = d->fabric.clique_id;
    f->state = (nvmlGpuFabricState_t)d->fabric.state;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetAddressingMode(nvmlDevice_t device, nvmlDeviceAddressingMode_t *mode)
{
    nvmlReturn_t r;
    struct nvmlDevice_st *d =
            get_value(MOCK_FN_nvmlDeviceGetAddressingMode, device, MOCK_GPU_ONLY, mode, &r);

    if (d == NULL) {
        return r;
    }
    if (mode->version != nvmlDeviceAddressingMode_v1) {
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    }
    if (!d->has_addressing_mode) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    mode->value = d->addressing_mode;
    return NVML_SUCCESS;
}
