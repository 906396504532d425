/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal interface of the mock NVML library (tests/mock-nvml): the node model loaded from a
 * node description file (GPUs, MIG devices, GPU and compute instances), the built-in MIG
 * profile tables, the shared call prologue (init check, handle validation, injected failures,
 * lost GPUs) and the hooks of the event and control-channel code. Nothing declared here is
 * exported from the shared object; only the NVML entry points are (see MOCK_API).
 */
#pragma once

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "nvml/nvml_api.h"

/* Marks an NVML entry point as exported; everything else is built with -fvisibility=hidden. */
#define MOCK_API           __attribute__((visibility("default")))

#define MOCK_PRINTF(a, b)  __attribute__((format(printf, a, b)))

#define MOCK_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define MOCK_MAX_GPUS      64u
#define MOCK_MAX_MIG       7u /* MIG devices (compute instances) and GPU instances per GPU */
#define MOCK_MAX_DEVS      (MOCK_MAX_GPUS * (1u + MOCK_MAX_MIG))
#define MOCK_MAX_SWITCHES  16u /* remote PCI "00000001:<s + 0x10>:00.0" */
#define MOCK_MAX_GIS       (MOCK_MAX_GPUS * MOCK_MAX_MIG)
#define MOCK_STR_LEN       96u
#define MOCK_NO_ID         0xFFFFFFFFu
#define MOCK_MEM_SLICES    8u /* memory slices of a MIG-capable GPU, for GI placement */

/* One enumerator per exported function: MOCK_FN_nvmlInit_v2, ... */
#define MOCK_FN_ENUM_(name, ret, params) MOCK_FN_##name,

enum mock_fn {
    NVML_FUNCTIONS(MOCK_FN_ENUM_) MOCK_FN_COUNT_
};

#undef MOCK_FN_ENUM_

/* A row of a GPU model's GPU-instance profile table. */
struct mock_gi_profile {
    unsigned int profile; /* NVML_GPU_INSTANCE_PROFILE_* (the argument callers pass) */
    unsigned int id;      /* the driver's profile id, reported in info.id / info.profileId */
    unsigned int slices;
    unsigned int instances;
    unsigned int sms;
    unsigned int ce, dec, enc, jpeg, ofa;
    unsigned int mem_slices; /* placement size, in memory slices of MOCK_MEM_SLICES */
    unsigned long long mem_mib;
};

/* A built-in MIG profile table, selected by product name or by mig.model in the node file. */
struct mock_gpu_model {
    const char *key;
    const char *names[4];
    unsigned int sms_per_slice;
    const struct mock_gi_profile *gi;
    size_t n_gi;
};

struct mock_link {
    int peer;     /* GPU index of the remote end, -1 for none */
    int nvswitch; /* NVSwitch number of the remote end, -1 for none; both -1: disabled */
};

struct mock_fabric {
    bool present;
    unsigned char cluster_uuid[NVML_GPU_FABRIC_UUID_LEN];
    unsigned int clique_id;
    unsigned int state;
    nvmlReturn_t status;
};

/* A GPU or a MIG device; handles (nvmlDevice_t) point at these. */
struct nvmlDevice_st {
    struct nvmlDevice_st *parent; /* NULL for a full GPU */
    unsigned int index;           /* NVML index, or MIG index under the parent */
    char name[MOCK_STR_LEN];
    char uuid[MOCK_STR_LEN];
    atomic_bool lost;

    /* full GPUs only */
    char serial[MOCK_STR_LEN];
    char part_number[MOCK_STR_LEN];
    unsigned int brand;
    unsigned int arch;
    unsigned long long mem_mib;
    unsigned int pci_domain, pci_bus, pci_dev, pci_fn;
    unsigned int pci_device_id, pci_subsystem_id;
    unsigned int minor;
    unsigned int cc_major, cc_minor;
    int numa_node; /* -1: none */
    bool accessible;
    unsigned long long event_types;
    unsigned int nvlink_count;
    struct mock_link links[NVML_NVLINK_MAX_LINKS];
    struct mock_fabric fabric;
    bool has_addressing_mode;
    unsigned int addressing_mode;
    bool mig_capable;
    unsigned int mig_current, mig_pending;
    const struct mock_gpu_model *model;
    struct nvmlDevice_st *mig_slots[MOCK_MAX_MIG];

    /* MIG devices only */
    struct nvmlGpuInstance_st *gi;
    struct nvmlComputeInstance_st *ci;
};

struct nvmlGpuInstance_st {
    struct nvmlDevice_st *parent;
    unsigned int id;
    const struct mock_gi_profile *profile;
    unsigned int start, size; /* placement in memory slices */
    unsigned int ci_slices_used;
};

struct nvmlComputeInstance_st {
    struct nvmlGpuInstance_st *gi;
    struct nvmlDevice_st *dev;
    unsigned int id;
    unsigned int profile; /* NVML_COMPUTE_INSTANCE_PROFILE_* */
    unsigned int start, size;
};

struct mock_fail_rule {
    enum mock_fn fn;
    nvmlReturn_t code;
    bool once;
    const struct nvmlDevice_st *target; /* NULL: every call of fn */
};

/* The node model: built once by mock_node_load() and never freed, so handles stay valid. */
struct mock_node {
    char driver_version[MOCK_STR_LEN];
    char nvml_version[MOCK_STR_LEN];
    int cuda_driver_version;
    nvmlReturn_t init_error;
    unsigned int n_gpus; /* devs[0 .. n_gpus-1] are the GPUs, in NVML index order */
    unsigned int n_devs;
    unsigned int n_gis, n_cis;
    bool has_topology;
    nvmlGpuTopologyLevel_t topology[MOCK_MAX_GPUS][MOCK_MAX_GPUS];
    unsigned int n_fail;
    struct mock_fail_rule fail[16];
    struct nvmlDevice_st devs[MOCK_MAX_DEVS];
    struct nvmlGpuInstance_st gis[MOCK_MAX_GIS];
    struct nvmlComputeInstance_st cis[MOCK_MAX_GIS];
};

struct mock_name {
    const char *name;
    unsigned long long value;
};

/* ---- names.c: name tables shared by the node parser and the control channel ---- */

extern const char *const mock_fn_names[MOCK_FN_COUNT_];
extern const struct mock_name mock_return_names[];
extern const struct mock_name mock_event_names[];

/* Index of an exported function by name, or -1. */
int mock_fn_lookup(const char *name);

/* Looks name up in a NULL-terminated table, case-insensitively. Returns true and *ret. */
bool mock_name_lookup(const struct mock_name *table, const char *name, unsigned long long *ret);

/* Parses "NVML_ERROR_UNKNOWN", "UNKNOWN", "SUCCESS" or a decimal code. */
bool mock_return_parse(const char *s, nvmlReturn_t *ret);

/* ---- model.c: built-in MIG profile tables and go-nvlib style profile names ---- */

/* The model whose key or product name equals s, or NULL. */
const struct mock_gpu_model *mock_model_find(const char *s);

/* The GI profile with enum value `profile` in the model, or NULL. */
const struct mock_gi_profile *mock_model_gi(const struct mock_gpu_model *m, unsigned int profile);

/* Slice count of a compute-instance profile enum (0 for an unknown one). */
unsigned int mock_ci_slices(unsigned int ci_profile);

/* Whether the GI profile offers the compute-instance profile (engine profile 0). */
bool mock_ci_offered(const struct mock_gi_profile *gi, unsigned int ci_profile);

/* Writes "<C>c.<G>g.<GB>gb<suffix>" (or without "<C>c." when C == G) into buf. */
void mock_profile_name(const struct mock_gi_profile *gi, unsigned int ci_slices,
                       unsigned long long total_mib, char *buf, size_t len);

/* ---- node.c / node_gpu.c / node_mig.c: the node description file ---- */

/* The embedded default node file (nodes/dgx-a100.yaml), generated at build time. */
extern const unsigned char mock_default_node[];
extern const size_t mock_default_node_len;

/*
 * Loads the node file named by MOCK_NVML_NODE, or the embedded default. On failure prints
 * one "mock-nvml: <file>:<line>:<column>: <problem>" line to stderr and returns
 * NVML_ERROR_OPERATING_SYSTEM (file unreadable) or NVML_ERROR_UNKNOWN (bad content).
 * On success *ret is a heap model the caller keeps forever.
 */
nvmlReturn_t mock_node_load(struct mock_node **ret);

/* ---- state.c: global state and the call prologue ---- */

extern bool mock_debug;

/* The loaded model (NULL before the first successful load). */
struct mock_node *mock_node_get(void);

/* nvmlInit*: loads the model on first use, applies init_error and fail rules, counts up. */
nvmlReturn_t mock_init(enum mock_fn fn);

/* nvmlShutdown: counts down; UNINITIALIZED when already 0. */
nvmlReturn_t mock_shutdown(void);

/* The model, loading it if needed without touching the init count (NULL and *ret on error). */
struct mock_node *mock_node_load_once(nvmlReturn_t *ret);

/* Drains pending control lines, then checks the init count. */
nvmlReturn_t mock_enter(enum mock_fn fn);

/* Injected failures and lost GPUs for a call concerning dev (may be NULL). */
nvmlReturn_t mock_check(enum mock_fn fn, const struct nvmlDevice_st *dev);

enum mock_scope {
    MOCK_ANY,
    MOCK_GPU_ONLY, /* NOT_SUPPORTED on MIG handles */
    MOCK_MIG_ONLY, /* NOT_SUPPORTED on full-GPU handles */
};

/* mock_enter() + handle validation + mock_check() + scope check. */
nvmlReturn_t mock_enter_dev(enum mock_fn fn, nvmlDevice_t h, enum mock_scope scope,
                            struct nvmlDevice_st **ret);

/* The device behind a handle, or NULL if h is not one of ours. */
struct nvmlDevice_st *mock_dev_get(nvmlDevice_t h);
struct nvmlGpuInstance_st *mock_gi_get(nvmlGpuInstance_t h);
struct nvmlComputeInstance_st *mock_ci_get(nvmlComputeInstance_t h);

/* Finds a GPU or MIG device by UUID (also the legacy MIG-GPU-<uuid>/<gi>/<ci> form). */
struct nvmlDevice_st *mock_find_uuid(const char *uuid);

/* The full GPU of dev (dev itself for a GPU). */
struct nvmlDevice_st *mock_gpu_of(struct nvmlDevice_st *dev);

/* Copies s into an NVML string buffer: INVALID_ARGUMENT for NULL, INSUFFICIENT_SIZE if short. */
nvmlReturn_t mock_copy_str(char *buf, unsigned int len, const char *s);

/* Adds an injected failure; returns false when the table is full. */
bool mock_fail_add(const struct mock_fail_rule *rule);

/* Clears every injected failure and lost flag. */
void mock_reset_faults(void);

/* Marks a GPU lost or back; a newly lost GPU also makes waiting event sets report it. */
void mock_set_lost(struct nvmlDevice_st *gpu, bool lost);

/* Prints "mock-nvml: ..." to stderr as one line. */
void mock_log(const char *fmt, ...) MOCK_PRINTF(1, 2);

/* ---- api_device.c ---- */

/* Fills an nvmlPciInfo_t for a GPU; pciSubSystemId stays 0 unless subsystem is set. */
void mock_fill_pci(const struct nvmlDevice_st *gpu, nvmlPciInfo_t *pci, bool subsystem);

/* ---- api_events.c ---- */

/* Queues an event on every event set that registered this GPU for this type. */
void mock_event_inject(struct nvmlDevice_st *gpu, unsigned long long type, unsigned long long data,
                       unsigned int gi, unsigned int ci);

/* Makes every set with a registration on gpu return GPU_IS_LOST from its next wait. */
void mock_event_gpu_lost(const struct nvmlDevice_st *gpu);

/* ---- control.c ---- */

/* Creates the FIFO named by MOCK_NVML_CONTROL (if set) and starts the reader thread, once. */
void mock_control_start(void);

/* Applies every complete control line already written to the FIFO (non-blocking). */
void mock_control_drain(void);
