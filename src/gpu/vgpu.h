/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vGPU detection inside a virtual machine: an NVIDIA PCI device whose vendor-specific PCI
 * capability carries the "VF" signature is a vGPU, and the capability's records name the
 * host's vGPU manager driver version and branch (what NVIDIA's GFD labels as
 * nvidia.com/vgpu.*). Read from sysfs; no NVML involved.
 */
#pragma once

#include <stdbool.h>

struct gdp_diag;

struct gdp_vgpu_info {
    bool present;                 /* at least one vGPU device */
    char host_driver_version[16]; /* e.g. "460.16"; may be empty */
    char host_driver_branch[16];  /* e.g. "r460_00"; may be empty */
};

/*
 * Scans <sysfs_root>/bus/pci/devices (sysfs_root NULL means "/sys") for NVIDIA devices and
 * parses their vendor-specific capability. Returns 0 (ret->present false when there is no
 * vGPU, also when the directory is missing), or -EACCES with diag when an NVIDIA device's
 * configuration space cannot be read whole (reading past 64 bytes needs privileges) or
 * -EPROTO when a vGPU capability holds no driver version record.
 */
int gdp_vgpu_probe(const char *sysfs_root, struct gdp_vgpu_info *ret, struct gdp_diag *diag);
