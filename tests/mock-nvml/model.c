/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Built-in MIG profile tables of the GPU models the mock knows (A100-SXM4-40GB, A100 80GB,
 * H100 80GB), the compute-instance rules shared by all of them, and the go-nvlib style
 * profile name ("1g.5gb", "1c.2g.10gb", "1g.10gb+me") derived from slice counts and memory
 * exactly as go-nvlib derives it, so that node files name MIG devices the way the plugin will.
 */
#include <stdio.h>
#include <string.h>

#include "mock.h"

/*
 * Columns: enum, driver profile id, slices, instances, SMs, CE, decoders, encoders, JPEG, OFA,
 * memory slices, memory MiB. The driver profile ids are the ones nvidia-smi lists (they
 * differ from the enum values, as on real drivers). The A100-40GB rows follow the reference
 * fixture (nvml-abi.md, Appendix A).
 */
static const struct mock_gi_profile a100_40gb[] = {
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE, 19, 1, 7, 14, 1, 0, 0, 0, 0, 1, 4864},
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 20, 1, 1, 14, 1, 1, 0, 1, 1, 1, 4864},
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2, 15, 1, 4, 14, 1, 1, 0, 0, 0, 2, 9856},
        {NVML_GPU_INSTANCE_PROFILE_2_SLICE, 14, 2, 3, 28, 2, 1, 0, 0, 0, 2, 9856},
        {NVML_GPU_INSTANCE_PROFILE_3_SLICE, 9, 3, 2, 42, 3, 2, 0, 0, 0, 4, 19968},
        {NVML_GPU_INSTANCE_PROFILE_4_SLICE, 5, 4, 1, 56, 4, 2, 0, 0, 0, 4, 19968},
        {NVML_GPU_INSTANCE_PROFILE_7_SLICE, 0, 7, 1, 98, 7, 5, 0, 1, 1, 8, 40192},
};

static const struct mock_gi_profile a100_80gb[] = {
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE, 19, 1, 7, 14, 1, 0, 0, 0, 0, 1, 9728},
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 20, 1, 1, 14, 1, 1, 0, 1, 1, 1, 9728},
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2, 15, 1, 4, 14, 1, 1, 0, 0, 0, 2, 19968},
        {NVML_GPU_INSTANCE_PROFILE_2_SLICE, 14, 2, 3, 28, 2, 1, 0, 0, 0, 2, 19968},
        {NVML_GPU_INSTANCE_PROFILE_3_SLICE, 9, 3, 2, 42, 3, 2, 0, 0, 0, 4, 39936},
        {NVML_GPU_INSTANCE_PROFILE_4_SLICE, 5, 4, 1, 56, 4, 2, 0, 0, 0, 4, 39936},
        {NVML_GPU_INSTANCE_PROFILE_7_SLICE, 0, 7, 1, 98, 7, 5, 0, 1, 1, 8, 80384},
};

static const struct mock_gi_profile h100_80gb[] = {
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE, 19, 1, 7, 16, 1, 1, 0, 1, 0, 1, 9856},
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 20, 1, 1, 16, 1, 1, 0, 1, 1, 1, 9856},
        {NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2, 15, 1, 4, 16, 1, 1, 0, 1, 0, 2, 19968},
        {NVML_GPU_INSTANCE_PROFILE_2_SLICE, 14, 2, 3, 32, 2, 2, 0, 2, 0, 2, 19968},
        {NVML_GPU_INSTANCE_PROFILE_3_SLICE, 9, 3, 2, 60, 3, 3, 0, 3, 0, 4, 40192},
        {NVML_GPU_INSTANCE_PROFILE_4_SLICE, 5, 4, 1, 64, 4, 4, 0, 4, 0, 4, 40192},
        {NVML_GPU_INSTANCE_PROFILE_7_SLICE, 0, 7, 1, 132, 8, 7, 0, 7, 1, 8, 80384},
};

static const struct mock_gpu_model models[] = {
        {"a100-40gb",
         {"NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB", NULL, NULL},
         14,
         a100_40gb,
         MOCK_ELEMENTSOF(a100_40gb)},
        {"a100-80gb",
         {"NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", NULL, NULL},
         14,
         a100_80gb,
         MOCK_ELEMENTSOF(a100_80gb)},
        {"h100-80gb",
         {"NVIDIA H100 80GB HBM3", "NVIDIA H100-SXM5-80GB", "NVIDIA H100 PCIe", NULL},
         16,
         h100_80gb,
         MOCK_ELEMENTSOF(h100_80gb)},
};

/* go-nvlib's attribute suffix per GPU-instance profile enum. */
static const char *const gi_suffix[NVML_GPU_INSTANCE_PROFILE_COUNT] = {
        [NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1] = "+me",
        [NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1] = "+me",
        [NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX] = "+gfx",
        [NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX] = "+gfx",
        [NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX] = "+gfx",
        [NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME] = "-me",
        [NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME] = "-me",
        [NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME] = "+me.all",
        [NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME] = "+me.all",
        [NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX] = "+gfx",
};

static const unsigned int ci_slices[NVML_COMPUTE_INSTANCE_PROFILE_COUNT] = {1, 2, 3, 4, 7,
                                                                            8, 6, 1, 7};

const struct mock_gpu_model *
mock_model_find(const char *s)
{
    for (size_t i = 0; i < MOCK_ELEMENTSOF(models); i++) {
        if (strcmp(models[i].key, s) == 0) {
            return &models[i];
        }
        for (size_t j = 0; j < MOCK_ELEMENTSOF(models[i].names) && models[i].names[j]; j++) {
            if (strcmp(models[i].names[j], s) == 0) {
                return &models[i];
            }
        }
    }
    return NULL;
}

const struct mock_gi_profile *
mock_model_gi(const struct mock_gpu_model *m, unsigned int profile)
{
    for (size_t i = 0; m != NULL && i < m->n_gi; i++) {
        if (m->gi[i].profile == profile) {
            return &m->gi[i];
        }
    }
    return NULL;
}

unsigned int
mock_ci_slices(unsigned int ci_profile)
{
    return ci_profile < NVML_COMPUTE_INSTANCE_PROFILE_COUNT ? ci_slices[ci_profile] : 0;
}

bool
mock_ci_offered(const struct mock_gi_profile *gi, unsigned int ci_profile)
{
    /* Bit i set: CI profile i is offered; the same rule for every model (Appendix A). */
    unsigned int mask;

    switch (gi->slices) {
    case 2:
        mask = 0x3;
        break;
    case 3:
        mask = 0x7;
        break;
    case 4:
        mask = 0xB;
        break;
    case 7:
        mask = 0x1F;
        break;
    default:
        mask = 0x1;
        break;
    }
    return ci_profile < NVML_COMPUTE_INSTANCE_PROFILE_COUNT && (mask & (1u << ci_profile)) != 0;
}

void
mock_profile_name(const struct mock_gi_profile *gi, unsigned int ci_slices_n,
                  unsigned long long total_mib, char *buf, size_t len)
{
    /*
     * go-nvlib: GB = round(ceil(8 * mem / total) / 8 * ceil(total / 1 GiB)); the MiB factor
     * of mem and total cancels, so integer arithmetic gives the same result.
     */
    unsigned long long eighths = total_mib ? (8 * gi->mem_mib + total_mib - 1) / total_mib : 0;
    unsigned long long total_gib = (total_mib + 1023) / 1024;
    unsigned long long gb = (eighths * total_gib + 4) / 8;
    const char *suffix = gi->profile < NVML_GPU_INSTANCE_PROFILE_COUNT ? gi_suffix[gi->profile] : 0;

    if (ci_slices_n < gi->slices) {
        (void)snprintf(buf, len, "%uc.%ug.%llugb%s", ci_slices_n, gi->slices, gb,
                       suffix ? suffix : "");
    } else {
        (void)snprintf(buf, len, "%ug.%llugb%s", gi->slices, gb, suffix ? suffix : "");
    }
}
