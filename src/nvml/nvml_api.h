/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Our declaration of the subset of NVIDIA's NVML ABI (libnvidia-ml.so.1) that the plugin and
 * the mock library use: handle types, return codes, constants, struct layouts (checked below
 * with _Static_assert against the documented x86-64 sizes and offsets) and the prototypes of
 * the exported symbols, under their exact versioned names. No NVIDIA header is used.
 * Only src/nvml/ and tests/mock-nvml/ include this file.
 */
#pragma once

#include <stddef.h>

/* Opaque handles: pointers to incomplete structs, passed by value. */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;

typedef enum nvmlReturn_enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_INSUFFICIENT_POWER = 8,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_IRQ_ISSUE = 11,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_CORRUPTED_INFOROM = 14,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_RESET_REQUIRED = 16,
    NVML_ERROR_OPERATING_SYSTEM = 17,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_IN_USE = 19,
    NVML_ERROR_MEMORY = 20,
    NVML_ERROR_NO_DATA = 21,
    NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
    NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
    NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_DEPRECATED = 26,
    NVML_ERROR_NOT_READY = 27,
    NVML_ERROR_GPU_NOT_FOUND = 28,
    NVML_ERROR_INVALID_STATE = 29,
    NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30,
    NVML_ERROR_UNKNOWN = 999,
} nvmlReturn_t;

typedef enum nvmlEnableState_enum {
    NVML_FEATURE_DISABLED = 0,
    NVML_FEATURE_ENABLED = 1,
} nvmlEnableState_t;

typedef enum nvmlGpuLevel_enum {
    NVML_TOPOLOGY_INTERNAL = 0,
    NVML_TOPOLOGY_SINGLE = 10,
    NVML_TOPOLOGY_MULTIPLE = 20,
    NVML_TOPOLOGY_HOSTBRIDGE = 30,
    NVML_TOPOLOGY_NODE = 40,
    NVML_TOPOLOGY_SYSTEM = 50,
} nvmlGpuTopologyLevel_t;

typedef enum nvmlGpuP2PStatus_enum {
    NVML_P2P_STATUS_OK = 0,
    NVML_P2P_STATUS_CHIPSET_NOT_SUPPORTED = 1,
    NVML_P2P_STATUS_GPU_NOT_SUPPORTED = 2,
    NVML_P2P_STATUS_IOH_TOPOLOGY_NOT_SUPPORTED = 3,
    NVML_P2P_STATUS_DISABLED_BY_REGKEY = 4,
    NVML_P2P_STATUS_NOT_SUPPORTED = 5,
    NVML_P2P_STATUS_UNKNOWN = 6,
} nvmlGpuP2PStatus_t;

typedef enum nvmlGpuP2PCapsIndex_enum {
    NVML_P2P_CAPS_INDEX_READ = 0,
    NVML_P2P_CAPS_INDEX_WRITE = 1,
    NVML_P2P_CAPS_INDEX_NVLINK = 2,
    NVML_P2P_CAPS_INDEX_ATOMICS = 3,
    NVML_P2P_CAPS_INDEX_PCI = 4,
    NVML_P2P_CAPS_INDEX_UNKNOWN = 5,
} nvmlGpuP2PCapsIndex_t;

typedef enum nvmlBrandType_enum {
    NVML_BRAND_UNKNOWN = 0,
    NVML_BRAND_QUADRO = 1,
    NVML_BRAND_TESLA = 2,
    NVML_BRAND_NVS = 3,
    NVML_BRAND_GRID = 4,
    NVML_BRAND_GEFORCE = 5,
    NVML_BRAND_TITAN = 6,
    NVML_BRAND_NVIDIA_VAPPS = 7,
    NVML_BRAND_NVIDIA_VPC = 8,
    NVML_BRAND_NVIDIA_VCS = 9,
    NVML_BRAND_NVIDIA_VWS = 10,
    NVML_BRAND_NVIDIA_CLOUD_GAMING = 11,
    NVML_BRAND_QUADRO_RTX = 12,
    NVML_BRAND_NVIDIA_RTX = 13,
    NVML_BRAND_NVIDIA = 14,
    NVML_BRAND_GEFORCE_RTX = 15,
    NVML_BRAND_TITAN_RTX = 16,
    NVML_BRAND_COUNT = 18,
} nvmlBrandType_t;

typedef unsigned int nvmlDeviceArchitecture_t;
#define NVML_DEVICE_ARCH_KEPLER    2
#define NVML_DEVICE_ARCH_MAXWELL   3
#define NVML_DEVICE_ARCH_PASCAL    4
#define NVML_DEVICE_ARCH_VOLTA     5
#define NVML_DEVICE_ARCH_TURING    6
#define NVML_DEVICE_ARCH_AMPERE    7
#define NVML_DEVICE_ARCH_ADA       8
#define NVML_DEVICE_ARCH_HOPPER    9
#define NVML_DEVICE_ARCH_BLACKWELL 10
#define NVML_DEVICE_ARCH_RUBIN     13
#define NVML_DEVICE_ARCH_UNKNOWN   0xffffffffu

typedef unsigned char nvmlGpuFabricState_t;
#define NVML_GPU_FABRIC_STATE_NOT_SUPPORTED 0
#define NVML_GPU_FABRIC_STATE_NOT_STARTED   1
#define NVML_GPU_FABRIC_STATE_IN_PROGRESS   2
#define NVML_GPU_FABRIC_STATE_COMPLETED     3

/* Buffer sizes callers pass (go-nvml passes the _V2 sizes). */
#define NVML_DEVICE_UUID_BUFFER_SIZE           80
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE        96
#define NVML_DEVICE_UUID_ASCII_LEN             41
#define NVML_DEVICE_UUID_BINARY_LEN            16
#define NVML_DEVICE_NAME_BUFFER_SIZE           64
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE        96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE   80
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE     32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE  16
#define NVML_DEVICE_SERIAL_BUFFER_SIZE         30
#define NVML_DEVICE_PART_NUMBER_BUFFER_SIZE    80
#define NVML_GPU_FABRIC_UUID_LEN               16
#define NVML_NVLINK_MAX_LINKS                  36
#define NVML_VALUE_NOT_AVAILABLE               (-1)

/* MIG */
#define NVML_DEVICE_MIG_DISABLE                     0u
#define NVML_DEVICE_MIG_ENABLE                      1u

#define NVML_GPU_INSTANCE_PROFILE_1_SLICE           0x0u
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE           0x1u
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE           0x2u
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE           0x3u
#define NVML_GPU_INSTANCE_PROFILE_7_SLICE           0x4u
#define NVML_GPU_INSTANCE_PROFILE_8_SLICE           0x5u
#define NVML_GPU_INSTANCE_PROFILE_6_SLICE           0x6u
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1      0x7u
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1      0x8u
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2      0x9u
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX       0xAu
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX       0xBu
#define NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX       0xCu
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME     0xDu
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME     0xEu
#define NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME    0xFu
#define NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME    0x10u
#define NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX       0x11u
#define NVML_GPU_INSTANCE_PROFILE_COUNT             0x12u

#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE       0x0u
#define NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE       0x1u
#define NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE       0x2u
#define NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE       0x3u
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE       0x4u
#define NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE       0x5u
#define NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE       0x6u
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1  0x7u
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL   0x8u
#define NVML_COMPUTE_INSTANCE_PROFILE_COUNT         0x9u

#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0x0u
#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT  0x1u

/* Event type bits. */
#define nvmlEventTypeNone                   0x0ULL
#define nvmlEventTypeSingleBitEccError      0x1ULL
#define nvmlEventTypeDoubleBitEccError      0x2ULL
#define nvmlEventTypePState                 0x4ULL
#define nvmlEventTypeXidCriticalError       0x8ULL
#define nvmlEventTypeClock                  0x10ULL
#define nvmlEventTypePowerSourceChange      0x80ULL
#define nvmlEventMigConfigChange            0x100ULL
#define nvmlEventTypeSingleBitEccErrorStorm 0x200ULL
#define nvmlEventTypeDramRetirementEvent    0x400ULL
#define nvmlEventTypeDramRetirementFailure  0x800ULL
#define nvmlEventTypeNonFatalPoisonError    0x1000ULL
#define nvmlEventTypeFatalPoisonError       0x2000ULL
#define nvmlEventTypeGpuUnavailableError    0x4000ULL
#define nvmlEventTypeGpuRecoveryAction      0x8000ULL
#define nvmlEventTypeAll                    0xFF9FULL

/* nvmlInitWithFlags flags */
#define NVML_INIT_FLAG_NO_GPUS    1u
#define NVML_INIT_FLAG_NO_ATTACH  2u
#define NVML_INIT_FLAG_FORCE_INIT 4u

/* Versioned-struct words: sizeof(struct) | (version << 24). */
#define NVML_STRUCT_VERSION(size, ver) ((unsigned int)(size) | ((unsigned int)(ver) << 24))
#define nvmlMemory_v2                  0x02000028u
#define nvmlGpuFabricInfo_v2           0x02000024u
#define nvmlGpuFabricInfo_v3           0x03000028u
#define nvmlDeviceAddressingMode_v1    0x01000008u
#define nvmlGpuInstanceProfileInfo_v2  0x02000098u
#define nvmlGpuInstanceProfileInfo_v3  0x03000098u

typedef struct nvmlPciInfo_st {
    char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

typedef struct nvmlMemory_st {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlMemory_v2_st {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;

typedef struct nvmlEventData_st {
    nvmlDevice_t device;
    unsigned long long eventType;
    unsigned long long eventData;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlEventData_t;

typedef struct nvmlDeviceAttributes_st {
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
    unsigned int gpuInstanceSliceCount;
    unsigned int computeInstanceSliceCount;
    unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

typedef struct nvmlGpuInstanceProfileInfo_st {
    unsigned int id;
    unsigned int isP2pSupported;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB;
} nvmlGpuInstanceProfileInfo_t;

typedef struct nvmlGpuInstanceProfileInfo_v2_st {
    unsigned int version;
    unsigned int id;
    unsigned int isP2pSupported;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
} nvmlGpuInstanceProfileInfo_v2_t;

typedef struct nvmlGpuInstanceProfileInfo_v3_st {
    unsigned int version;
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned int capabilities;
} nvmlGpuInstanceProfileInfo_v3_t;

typedef struct nvmlGpuInstancePlacement_st {
    unsigned int start;
    unsigned int size;
} nvmlGpuInstancePlacement_t;

typedef struct nvmlGpuInstanceInfo_st {
    nvmlDevice_t device;
    unsigned int id;
    unsigned int profileId;
    nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct nvmlComputeInstanceProfileInfo_st {
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

typedef struct nvmlComputeInstancePlacement_st {
    unsigned int start;
    unsigned int size;
} nvmlComputeInstancePlacement_t;

typedef struct nvmlComputeInstanceInfo_st {
    nvmlDevice_t device;
    nvmlGpuInstance_t gpuInstance;
    unsigned int id;
    unsigned int profileId;
    nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

typedef struct nvmlGpuFabricInfo_st {
    unsigned char clusterUuid[NVML_GPU_FABRIC_UUID_LEN];
    nvmlReturn_t status;
    unsigned int cliqueId;
    nvmlGpuFabricState_t state;
} nvmlGpuFabricInfo_t;

typedef struct nvmlGpuFabricInfo_v2_st {
    unsigned int version;
    unsigned char clusterUuid[NVML_GPU_FABRIC_UUID_LEN];
    nvmlReturn_t status;
    unsigned int cliqueId;
    nvmlGpuFabricState_t state;
    unsigned int healthMask;
} nvmlGpuFabricInfo_v2_t;

typedef struct nvmlGpuFabricInfo_v3_st {
    unsigned int version;
    unsigned char clusterUuid[NVML_GPU_FABRIC_UUID_LEN];
    nvmlReturn_t status;
    unsigned int cliqueId;
    nvmlGpuFabricState_t state;
    unsigned int healthMask;
    unsigned char healthSummary;
} nvmlGpuFabricInfoV_t;

typedef struct nvmlDeviceAddressingMode_st {
    unsigned int version;
    unsigned int value;
} nvmlDeviceAddressingMode_t;

#define NVML_DEVICE_ADDRESSING_MODE_NONE 0u
#define NVML_DEVICE_ADDRESSING_MODE_HMM  1u
#define NVML_DEVICE_ADDRESSING_MODE_ATS  2u

/* Layout checks against the documented x86-64 ABI. */
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t size");
_Static_assert(offsetof(nvmlPciInfo_t, domain) == 16, "nvmlPciInfo_t.domain");
_Static_assert(offsetof(nvmlPciInfo_t, pciDeviceId) == 28, "nvmlPciInfo_t.pciDeviceId");
_Static_assert(offsetof(nvmlPciInfo_t, busId) == 36, "nvmlPciInfo_t.busId");
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t size");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t size");
_Static_assert(offsetof(nvmlMemory_v2_t, total) == 8, "nvmlMemory_v2_t.total");
_Static_assert(offsetof(nvmlMemory_v2_t, used) == 32, "nvmlMemory_v2_t.used");
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t size");
_Static_assert(offsetof(nvmlEventData_t, eventType) == 8, "nvmlEventData_t.eventType");
_Static_assert(offsetof(nvmlEventData_t, eventData) == 16, "nvmlEventData_t.eventData");
_Static_assert(offsetof(nvmlEventData_t, gpuInstanceId) == 24, "nvmlEventData_t.gpuInstanceId");
_Static_assert(offsetof(nvmlEventData_t, computeInstanceId) == 28, "nvmlEventData_t.ciId");
_Static_assert(sizeof(nvmlDeviceAttributes_t) == 40, "nvmlDeviceAttributes_t size");
_Static_assert(offsetof(nvmlDeviceAttributes_t, memorySizeMB) == 32, "attributes.memorySizeMB");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_t) == 48, "GI profile info v1 size");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_t, memorySizeMB) == 40, "GI profile memory");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_v2_t) == 152, "GI profile info v2 size");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v2_t, memorySizeMB) == 48, "GI v2 memory");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v2_t, name) == 56, "GI v2 name");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_v3_t) == 152, "GI profile info v3 size");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v3_t, memorySizeMB) == 40, "GI v3 memory");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v3_t, capabilities) == 144, "GI v3 caps");
_Static_assert(sizeof(nvmlGpuInstanceInfo_t) == 24, "nvmlGpuInstanceInfo_t size");
_Static_assert(offsetof(nvmlGpuInstanceInfo_t, profileId) == 12, "GI info profileId");
_Static_assert(offsetof(nvmlGpuInstanceInfo_t, placement) == 16, "GI info placement");
_Static_assert(sizeof(nvmlComputeInstanceProfileInfo_t) == 36, "CI profile info v1 size");
_Static_assert(sizeof(nvmlComputeInstanceInfo_t) == 32, "nvmlComputeInstanceInfo_t size");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, id) == 16, "CI info id");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, placement) == 24, "CI info placement");
_Static_assert(sizeof(nvmlGpuFabricInfo_t) == 28, "nvmlGpuFabricInfo_t size");
_Static_assert(offsetof(nvmlGpuFabricInfo_t, state) == 24, "fabric info state");
_Static_assert(sizeof(nvmlGpuFabricInfo_v2_t) == 36, "nvmlGpuFabricInfo_v2_t size");
_Static_assert(offsetof(nvmlGpuFabricInfo_v2_t, healthMask) == 32, "fabric v2 healthMask");
_Static_assert(sizeof(nvmlGpuFabricInfoV_t) == 40, "nvmlGpuFabricInfoV_t size");
_Static_assert(sizeof(nvmlDeviceAddressingMode_t) == 8, "nvmlDeviceAddressingMode_t size");

/*
 * Exported symbols. The X-macro lists every function the mock exports and the loader may
 * resolve: NVML_FN(name, return type, parameter list). Versioned names are spelled out;
 * the older names that go-nvml falls back to are listed too.
 */
#define NVML_FUNCTIONS(NVML_FN)                                                                    \
    NVML_FN(nvmlInit_v2, nvmlReturn_t, (void))                                                     \
    NVML_FN(nvmlInit, nvmlReturn_t, (void))                                                        \
    NVML_FN(nvmlInitWithFlags, nvmlReturn_t, (unsigned int flags))                                 \
    NVML_FN(nvmlShutdown, nvmlReturn_t, (void))                                                    \
    NVML_FN(nvmlErrorString, const char *, (nvmlReturn_t result))                                  \
    NVML_FN(nvmlSystemGetDriverVersion, nvmlReturn_t, (char *version, unsigned int length))        \
    NVML_FN(nvmlSystemGetNVMLVersion, nvmlReturn_t, (char *version, unsigned int length))          \
    NVML_FN(nvmlSystemGetCudaDriverVersion, nvmlReturn_t, (int *cudaDriverVersion))                \
    NVML_FN(nvmlSystemGetCudaDriverVersion_v2, nvmlReturn_t, (int *cudaDriverVersion))             \
    NVML_FN(nvmlDeviceGetCount_v2, nvmlReturn_t, (unsigned int *deviceCount))                      \
    NVML_FN(nvmlDeviceGetCount, nvmlReturn_t, (unsigned int *deviceCount))                         \
    NVML_FN(nvmlDeviceGetHandleByIndex_v2, nvmlReturn_t,                                           \
            (unsigned int index, nvmlDevice_t *device))                                            \
    NVML_FN(nvmlDeviceGetHandleByIndex, nvmlReturn_t, (unsigned int index, nvmlDevice_t *device))  \
    NVML_FN(nvmlDeviceGetHandleByUUID, nvmlReturn_t, (const char *uuid, nvmlDevice_t *device))     \
    NVML_FN(nvmlDeviceGetHandleByPciBusId_v2, nvmlReturn_t,                                        \
            (const char *pciBusId, nvmlDevice_t *device))                                          \
    NVML_FN(nvmlDeviceGetName, nvmlReturn_t,                                                       \
            (nvmlDevice_t device, char *name, unsigned int length))                                \
    NVML_FN(nvmlDeviceGetUUID, nvmlReturn_t,                                                       \
            (nvmlDevice_t device, char *uuid, unsigned int length))                                \
    NVML_FN(nvmlDeviceGetSerial, nvmlReturn_t,                                                     \
            (nvmlDevice_t device, char *serial, unsigned int length))                              \
    NVML_FN(nvmlDeviceGetBoardPartNumber, nvmlReturn_t,                                            \
            (nvmlDevice_t device, char *partNumber, unsigned int length))                          \
    NVML_FN(nvmlDeviceGetBrand, nvmlReturn_t, (nvmlDevice_t device, nvmlBrandType_t * type))       \
    NVML_FN(nvmlDeviceGetArchitecture, nvmlReturn_t,                                               \
            (nvmlDevice_t device, nvmlDeviceArchitecture_t * arch))                                \
    NVML_FN(nvmlDeviceGetMemoryInfo, nvmlReturn_t, (nvmlDevice_t device, nvmlMemory_t * memory))   \
    NVML_FN(nvmlDeviceGetMemoryInfo_v2, nvmlReturn_t,                                              \
            (nvmlDevice_t device, nvmlMemory_v2_t * memory))                                       \
    NVML_FN(nvmlDeviceGetPciInfo_v3, nvmlReturn_t, (nvmlDevice_t device, nvmlPciInfo_t * pci))     \
    NVML_FN(nvmlDeviceGetPciInfo_v2, nvmlReturn_t, (nvmlDevice_t device, nvmlPciInfo_t * pci))     \
    NVML_FN(nvmlDeviceGetPciInfo, nvmlReturn_t, (nvmlDevice_t device, nvmlPciInfo_t * pci))        \
    NVML_FN(nvmlDeviceGetMinorNumber, nvmlReturn_t, (nvmlDevice_t device, unsigned int *minor))    \
    NVML_FN(nvmlDeviceGetIndex, nvmlReturn_t, (nvmlDevice_t device, unsigned int *index))          \
    NVML_FN(nvmlDeviceGetCudaComputeCapability, nvmlReturn_t,                                      \
            (nvmlDevice_t device, int *major, int *minor))                                         \
    NVML_FN(nvmlDeviceGetNumaNodeId, nvmlReturn_t, (nvmlDevice_t device, unsigned int *node))      \
    NVML_FN(nvmlDeviceGetCpuAffinity, nvmlReturn_t,                                                \
            (nvmlDevice_t device, unsigned int cpuSetSize, unsigned long *cpuSet))                 \
    NVML_FN(nvmlDeviceGetGpuFabricInfo, nvmlReturn_t,                                              \
            (nvmlDevice_t device, nvmlGpuFabricInfo_t * gpuFabricInfo))                            \
    NVML_FN(nvmlDeviceGetGpuFabricInfoV, nvmlReturn_t,                                             \
            (nvmlDevice_t device, nvmlGpuFabricInfoV_t * gpuFabricInfo))                           \
    NVML_FN(nvmlDeviceGetAddressingMode, nvmlReturn_t,                                             \
            (nvmlDevice_t device, nvmlDeviceAddressingMode_t * mode))                              \
    NVML_FN(nvmlDeviceGetMigMode, nvmlReturn_t,                                                    \
            (nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode))           \
    NVML_FN(nvmlDeviceGetMaxMigDeviceCount, nvmlReturn_t,                                          \
            (nvmlDevice_t device, unsigned int *count))                                            \
    NVML_FN(nvmlDeviceGetMigDeviceHandleByIndex, nvmlReturn_t,                                     \
            (nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice))                    \
    NVML_FN(nvmlDeviceIsMigDeviceHandle, nvmlReturn_t,                                             \
            (nvmlDevice_t device, unsigned int *isMigDevice))                                      \
    NVML_FN(nvmlDeviceGetGpuInstanceId, nvmlReturn_t, (nvmlDevice_t device, unsigned int *id))     \
    NVML_FN(nvmlDeviceGetComputeInstanceId, nvmlReturn_t, (nvmlDevice_t device, unsigned int *id)) \
    NVML_FN(nvmlDeviceGetDeviceHandleFromMigDeviceHandle, nvmlReturn_t,                            \
            (nvmlDevice_t migDevice, nvmlDevice_t * device))                                       \
    NVML_FN(nvmlDeviceGetAttributes_v2, nvmlReturn_t,                                              \
            (nvmlDevice_t device, nvmlDeviceAttributes_t * attributes))                            \
    NVML_FN(nvmlDeviceGetAttributes, nvmlReturn_t,                                                 \
            (nvmlDevice_t device, nvmlDeviceAttributes_t * attributes))                            \
    NVML_FN(nvmlDeviceGetGpuInstanceProfileInfo, nvmlReturn_t,                                     \
            (nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_t *info))       \
    NVML_FN(nvmlDeviceGetGpuInstanceProfileInfoV, nvmlReturn_t,                                    \
            (nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_v2_t *info))    \
    NVML_FN(nvmlDeviceGetGpuInstanceById, nvmlReturn_t,                                            \
            (nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance))                \
    NVML_FN(nvmlGpuInstanceGetInfo, nvmlReturn_t,                                                  \
            (nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t * info))                         \
    NVML_FN(nvmlGpuInstanceGetComputeInstanceProfileInfo, nvmlReturn_t,                            \
            (nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,         \
             nvmlComputeInstanceProfileInfo_t *info))                                              \
    NVML_FN(nvmlGpuInstanceGetComputeInstanceById, nvmlReturn_t,                                   \
            (nvmlGpuInstance_t gpuInstance, unsigned int id,                                       \
             nvmlComputeInstance_t *computeInstance))                                              \
    NVML_FN(nvmlComputeInstanceGetInfo_v2, nvmlReturn_t,                                           \
            (nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t * info))             \
    NVML_FN(nvmlComputeInstanceGetInfo, nvmlReturn_t,                                              \
            (nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t * info))             \
    NVML_FN(nvmlEventSetCreate, nvmlReturn_t, (nvmlEventSet_t * set))                              \
    NVML_FN(nvmlDeviceGetSupportedEventTypes, nvmlReturn_t,                                        \
            (nvmlDevice_t device, unsigned long long *eventTypes))                                 \
    NVML_FN(nvmlDeviceRegisterEvents, nvmlReturn_t,                                                \
            (nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set))              \
    NVML_FN(nvmlEventSetWait_v2, nvmlReturn_t,                                                     \
            (nvmlEventSet_t set, nvmlEventData_t * data, unsigned int timeoutms))                  \
    NVML_FN(nvmlEventSetWait, nvmlReturn_t,                                                        \
            (nvmlEventSet_t set, nvmlEventData_t * data, unsigned int timeoutms))                  \
    NVML_FN(nvmlEventSetFree, nvmlReturn_t, (nvmlEventSet_t set))                                  \
    NVML_FN(nvmlDeviceGetTopologyCommonAncestor, nvmlReturn_t,                                     \
            (nvmlDevice_t device1, nvmlDevice_t device2, nvmlGpuTopologyLevel_t * pathInfo))       \
    NVML_FN(nvmlDeviceGetP2PStatus, nvmlReturn_t,                                                  \
            (nvmlDevice_t device1, nvmlDevice_t device2, nvmlGpuP2PCapsIndex_t p2pIndex,           \
             nvmlGpuP2PStatus_t * p2pStatus))                                                      \
    NVML_FN(nvmlDeviceGetNvLinkState, nvmlReturn_t,                                                \
            (nvmlDevice_t device, unsigned int link, nvmlEnableState_t *isActive))                 \
    NVML_FN(nvmlDeviceGetNvLinkRemotePciInfo_v2, nvmlReturn_t,                                     \
            (nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci))                          \
    NVML_FN(nvmlDeviceGetNvLinkRemotePciInfo, nvmlReturn_t,                                        \
            (nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci))

#define NVML_DECLARE_FN_(name, ret, params) ret name params;
NVML_FUNCTIONS(NVML_DECLARE_FN_)
#undef NVML_DECLARE_FN_
