/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML entry points for topology: common ancestor of two GPUs (explicit matrix from the
 * node file, else derived from NUMA nodes), NVLink state and remote PCI information, and
 * peer-to-peer status. Links may end at a GPU or at an NVSwitch. All of them take full-GPU
 * handles only.
 */
#include <stdio.h>

#include "mock.h"

/* Prologue for calls on two GPUs. */
static nvmlReturn_t
enter_pair(enum mock_fn fn, nvmlDevice_t h1, nvmlDevice_t h2, struct nvmlDevice_st **d1,
           struct nvmlDevice_st **d2)
{
    nvmlReturn_t r = mock_enter_dev(fn, h1, MOCK_GPU_ONLY, d1);

    if (r != NVML_SUCCESS) {
        return r;
    }
    *d2 = mock_dev_get(h2);
    if (*d2 == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    r = mock_check(fn, *d2);
    if (r == NVML_SUCCESS && (*d2)->parent != NULL) {
        r = NVML_ERROR_NOT_SUPPORTED;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t device1, nvmlDevice_t device2,
                                    nvmlGpuTopologyLevel_t *pathInfo)
{
    struct nvmlDevice_st *a, *b;
    nvmlReturn_t r =
            enter_pair(MOCK_FN_nvmlDeviceGetTopologyCommonAncestor, device1, device2, &a, &b);
    const struct mock_node *n = mock_node_get();

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (pathInfo == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (a == b) {
        *pathInfo = NVML_TOPOLOGY_INTERNAL;
    } else if (n->has_topology) {
        *pathInfo = n->topology[a->index][b->index];
    } else {
        *pathInfo = a->numa_node == b->numa_node ? NVML_TOPOLOGY_NODE : NVML_TOPOLOGY_SYSTEM;
    }
    return NVML_SUCCESS;
}

/* Checks a link number: INVALID_ARGUMENT past the NVML maximum, NOT_SUPPORTED past ours. */
static nvmlReturn_t
enter_link(enum mock_fn fn, nvmlDevice_t h, unsigned int link, const void *out,
           struct nvmlDevice_st **d)
{
    nvmlReturn_t r = mock_enter_dev(fn, h, MOCK_GPU_ONLY, d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (link >= NVML_NVLINK_MAX_LINKS || out == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    return link < (*d)->nvlink_count ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, nvmlEnableState_t *isActive)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = enter_link(MOCK_FN_nvmlDeviceGetNvLinkState, device, link, isActive, &d);

    if (r == NVML_SUCCESS) {
        bool up = d->links[link].peer >= 0 || d->links[link].nvswitch >= 0;
        *isActive = up ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
    }
    return r;
}

static nvmlReturn_t
remote_pci(enum mock_fn fn, nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = enter_link(fn, device, link, pci, &d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (d->links[link].nvswitch >= 0) {
        /* NVSwitches sit in PCI domain 1, apart from the node file's GPUs */
        *pci = (nvmlPciInfo_t){.domain = 1,
                               .bus = 0x10u + (unsigned int)d->links[link].nvswitch,
                               .pciDeviceId = 0x1AF110DEu};
        (void)snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", pci->domain, pci->bus,
                       0u, 0u);
        (void)snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", pci->domain,
                       pci->bus, 0u, 0u);
        return NVML_SUCCESS;
    }
    if (d->links[link].peer < 0) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    mock_fill_pci(&mock_node_get()->devs[d->links[link].peer], pci, false);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
    return remote_pci(MOCK_FN_nvmlDeviceGetNvLinkRemotePciInfo_v2, device, link, pci);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetNvLinkRemotePciInfo(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
    return remote_pci(MOCK_FN_nvmlDeviceGetNvLinkRemotePciInfo, device, link, pci);
}

static bool
on_nvswitch(const struct nvmlDevice_st *d)
{
    for (unsigned int i = 0; i < d->nvlink_count; i++) {
        if (d->links[i].nvswitch >= 0) {
            return true;
        }
    }
    return false;
}

static bool
nvlinked(const struct nvmlDevice_st *a, const struct nvmlDevice_st *b)
{
    for (unsigned int i = 0; i < a->nvlink_count; i++) {
        if (a->links[i].peer == (int)b->index) {
            return true;
        }
    }
    return on_nvswitch(a) && on_nvswitch(b);
}

MOCK_API nvmlReturn_t
nvmlDeviceGetP2PStatus(nvmlDevice_t device1, nvmlDevice_t device2, nvmlGpuP2PCapsIndex_t p2pIndex,
                       nvmlGpuP2PStatus_t *p2pStatus)
{
    struct nvmlDevice_st *a, *b;
    nvmlReturn_t r = enter_pair(MOCK_FN_nvmlDeviceGetP2PStatus, device1, device2, &a, &b);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if (p2pStatus == NULL || a == b || (unsigned int)p2pIndex >= NVML_P2P_CAPS_INDEX_UNKNOWN) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    switch (p2pIndex) {
    case NVML_P2P_CAPS_INDEX_NVLINK:
    case NVML_P2P_CAPS_INDEX_ATOMICS:
        *p2pStatus = nvlinked(a, b) ? NVML_P2P_STATUS_OK : NVML_P2P_STATUS_NOT_SUPPORTED;
        break;
    default:
        *p2pStatus = NVML_P2P_STATUS_OK;
        break;
    }
    return NVML_SUCCESS;
}
