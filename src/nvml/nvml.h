/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVML binding: finds libnvidia-ml.so.1 under the container driver root, dlopens it,
 * resolves a typed symbol table (required symbols fail fast, optional ones stay NULL) and
 * offers the calls the rest of the plugin needs with NVML's types hidden. Every failure
 * returns GDP_E_NVML with diag reading "<nvml function>: <nvmlErrorString text>".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdp_diag;
struct gdp_nvml;

/* Opaque NVML handles (device or MIG device, GPU instance, compute instance). */
struct gdp_nvml_device;
struct gdp_nvml_event_set;

#define GDP_NVML_UUID_MAX    96
#define GDP_NVML_NAME_MAX    96
#define GDP_NVML_BUSID_MAX   32
#define GDP_NVML_VERSION_MAX 80

/*
 * Resolves the library path for a container driver root, as NVIDIA's plugin does: for an
 * empty root or "/" the bare soname; otherwise the first of the six library directories under
 * root holding libnvidia-ml.so.1 (symlinks resolved), else the bare soname.
 * Caller frees the result with free().
 */
char *gdp_nvml_library_path(const char *driver_root_ctr);

/*
 * Loads NVML from driver_root_ctr (see above), resolves its symbols and calls nvmlInit_v2.
 * Returns 0 and *ret (caller frees with gdp_nvml_free()), GDP_E_NVML_MISSING when the
 * library cannot be loaded, -ENOSYS when a required symbol is missing, or GDP_E_NVML when
 * nvmlInit_v2 fails.
 */
int gdp_nvml_open(const char *driver_root_ctr, struct gdp_nvml **ret, struct gdp_diag *diag);

/* Calls nvmlShutdown and unloads the library. Accepts NULL. */
void gdp_nvml_free(struct gdp_nvml *nv);

/*
 * The raw NVML return code of the last failed call made by the calling thread (0 if none),
 * for callers that must tell e.g. GDP_NVML_RC_GPU_IS_LOST apart. Per thread, so that the
 * health thread and the loop thread can share one struct gdp_nvml. Only meaningful right
 * after a wrapper failed.
 */
int gdp_nvml_last_return(const struct gdp_nvml *nv);

/*
 * How many NVML calls the binding has made in this process (all threads), for the benchmark
 * and tests that check a path makes none.
 */
unsigned long long gdp_nvml_call_count(void);

/* The NVML return codes callers need to tell apart (values of nvmlReturn_t). */
#define GDP_NVML_RC_NOT_SUPPORTED 3
#define GDP_NVML_RC_TIMEOUT       10
#define GDP_NVML_RC_GPU_IS_LOST   15

/* System. Buffers must hold GDP_NVML_VERSION_MAX bytes. cuda: e.g. 12040. */
int gdp_nvml_driver_version(struct gdp_nvml *nv, char *buf, size_t len, struct gdp_diag *diag);
int gdp_nvml_cuda_driver_version(struct gdp_nvml *nv, int *ret, struct gdp_diag *diag);

/* Enumeration of physical GPUs. */
int gdp_nvml_device_count(struct gdp_nvml *nv, unsigned *ret, struct gdp_diag *diag);
int gdp_nvml_device_by_index(struct gdp_nvml *nv, unsigned index, struct gdp_nvml_device **ret,
                             struct gdp_diag *diag);

/* Attributes (GPU or MIG handle unless noted). Buffers sized by the GDP_NVML_*_MAX above. */
int gdp_nvml_device_uuid(struct gdp_nvml *nv, struct gdp_nvml_device *d, char *buf, size_t len,
                         struct gdp_diag *diag);
int gdp_nvml_device_name(struct gdp_nvml *nv, struct gdp_nvml_device *d, char *buf, size_t len,
                         struct gdp_diag *diag);
int gdp_nvml_device_memory(struct gdp_nvml *nv, struct gdp_nvml_device *d, uint64_t *ret_total,
                           struct gdp_diag *diag);
/* GPU handles only: PCI bus id exactly as NVML reports it ("00000000:3B:00.0"). */
int gdp_nvml_device_bus_id(struct gdp_nvml *nv, struct gdp_nvml_device *d, char *buf, size_t len,
                           struct gdp_diag *diag);
int gdp_nvml_device_minor(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned *ret,
                          struct gdp_diag *diag);
int gdp_nvml_device_cuda_cc(struct gdp_nvml *nv, struct gdp_nvml_device *d, int *ret_major,
                            int *ret_minor, struct gdp_diag *diag);

/*
 * MIG mode of a GPU. NOT_SUPPORTED or a library without nvmlDeviceGetMigMode means "not
 * MIG-capable" (returns 0 with both false).
 */
int gdp_nvml_device_mig_mode(struct gdp_nvml *nv, struct gdp_nvml_device *d, bool *ret_capable,
                             bool *ret_enabled, struct gdp_diag *diag);

/* Number of MIG slots of a GPU (0 when MIG is off). */
int gdp_nvml_device_mig_slots(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned *ret,
                              struct gdp_diag *diag);

/* MIG device in slot `index`. Returns -ENOENT for an empty slot (NOT_FOUND/INVALID_ARGUMENT). */
int gdp_nvml_device_mig_by_index(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned index,
                                 struct gdp_nvml_device **ret, struct gdp_diag *diag);

/* What the plugin needs to know about a MIG device, as go-nvlib derives it. */
struct gdp_nvml_mig_info {
    unsigned gi_id;
    unsigned ci_id;
    unsigned gi_profile; /* NVML GPU-instance profile enum (0..17) */
    unsigned ci_profile; /* NVML compute-instance profile enum (0..8) */
    uint64_t memory_mib; /* memorySizeMB attribute */
    unsigned multiprocessors;
    unsigned gi_slices;
    unsigned ci_slices;
    unsigned engines_copy; /* shared engine counts of the instance */
    unsigned engines_decoder;
    unsigned engines_encoder;
    unsigned engines_jpeg;
    unsigned engines_ofa;
};

/*
 * Fills *ret for a MIG handle: GI/CI ids, attributes, and the GI/CI profile enums found by
 * matching the instances' profile ids against the parent's profile tables.
 */
int gdp_nvml_mig_info(struct gdp_nvml *nv, struct gdp_nvml_device *parent,
                      struct gdp_nvml_device *mig, struct gdp_nvml_mig_info *ret,
                      struct gdp_diag *diag);

/* A GPU's NVLink fabric membership (IMEX domains). */
struct gdp_nvml_fabric {
    bool attached;         /* registration with the fabric completed successfully */
    char cluster_uuid[40]; /* "8-4-4-4-12" lower-case hex; empty unless attached */
    unsigned clique_id;
};

/*
 * Fabric membership of a GPU handle. A library or GPU without fabric support, or a
 * registration that is not complete, did not succeed or has no cluster UUID, gives 0 with
 * ret->attached false.
 * Returns GDP_E_NVML with diag on any other NVML failure.
 */
int gdp_nvml_device_fabric(struct gdp_nvml *nv, struct gdp_nvml_device *d,
                           struct gdp_nvml_fabric *ret, struct gdp_diag *diag);

/*
 * Thread safety: after gdp_nvml_open() a struct gdp_nvml is only read, and NVML itself is
 * thread-safe, so the calls below may run on the health thread while the loop thread makes
 * others. gdp_nvml_free() must wait until no other thread uses the handle.
 */

/* Handle of a GPU or MIG device by UUID (GPU_IS_LOST for a lost GPU, NOT_FOUND unknown). */
int gdp_nvml_device_by_uuid(struct gdp_nvml *nv, const char *uuid, struct gdp_nvml_device **ret,
                            struct gdp_diag *diag);

/* Event type bits (nvmlEventType*) the health thread registers. */
#define GDP_NVML_EVENT_SBE 0x1ull /* single-bit ECC error */
#define GDP_NVML_EVENT_DBE 0x2ull /* double-bit ECC error */
#define GDP_NVML_EVENT_XID 0x8ull /* XID critical error; data = XID */
/* GI/CI id of an event not attributed to a MIG device. */
#define GDP_NVML_NO_ID 0xFFFFFFFFu

/* One event as nvmlEventSetWait_v2 reports it. device is the full GPU's handle. */
struct gdp_nvml_event {
    struct gdp_nvml_device *device;
    uint64_t type; /* one GDP_NVML_EVENT_* bit (or another nvmlEventType bit) */
    uint64_t data; /* the XID for XID events */
    unsigned gi;   /* GPU instance id, or GDP_NVML_NO_ID */
    unsigned ci;   /* compute instance id, or GDP_NVML_NO_ID */
};

/* Creates an event set. Returns 0 and *ret (free with gdp_nvml_event_set_free()), or GDP_E_NVML. */
int gdp_nvml_event_set_new(struct gdp_nvml *nv, struct gdp_nvml_event_set **ret,
                           struct gdp_diag *diag);

/* Frees an event set. Accepts NULL. */
void gdp_nvml_event_set_free(struct gdp_nvml *nv, struct gdp_nvml_event_set *set);

/*
 * Event types a GPU supports. Returns 0 and *ret, -EOPNOTSUPP (NOT_SUPPORTED; *ret = 0) or
 * GDP_E_NVML; diag is filled on every failure.
 */
int gdp_nvml_device_supported_events(struct gdp_nvml *nv, struct gdp_nvml_device *d, uint64_t *ret,
                                     struct gdp_diag *diag);

/*
 * Registers a GPU for the event types in mask on set (idempotent). Returns 0, -EOPNOTSUPP
 * (NOT_SUPPORTED) or GDP_E_NVML; diag is filled on every failure.
 */
int gdp_nvml_device_register_events(struct gdp_nvml *nv, struct gdp_nvml_device *d, uint64_t mask,
                                    struct gdp_nvml_event_set *set, struct gdp_diag *diag);

/*
 * Waits up to timeout_ms for an event on set (blocks the calling thread). Returns 0 and *ret,
 * -ETIMEDOUT when none came (diag untouched), or GDP_E_NVML (e.g. GPU_IS_LOST; see
 * gdp_nvml_last_return()).
 */
int gdp_nvml_event_wait(struct gdp_nvml *nv, struct gdp_nvml_event_set *set, unsigned timeout_ms,
                        struct gdp_nvml_event *ret, struct gdp_diag *diag);

/*
 * PCIe common ancestor of two GPUs as NVML's level value (0 same board, 10 single switch, 20
 * multiple switches, 30 host bridge, 40 same NUMA node, 50 across sockets). Returns 0 and
 * *ret_level, -ENOSYS when the library lacks the call, or GDP_E_NVML.
 */
int gdp_nvml_device_common_ancestor(struct gdp_nvml *nv, struct gdp_nvml_device *a,
                                    struct gdp_nvml_device *b, unsigned *ret_level,
                                    struct gdp_diag *diag);

/*
 * The far end of NVLink `link` of a GPU: returns 1 with its PCI bus id (as NVML writes it,
 * buf of GDP_NVML_BUSID_MAX bytes) when the link is active, 0 when it is inactive, not
 * supported or the library lacks the calls, or GDP_E_NVML.
 */
int gdp_nvml_device_nvlink_remote(struct gdp_nvml *nv, struct gdp_nvml_device *d, unsigned link,
                                  char *buf, size_t len, struct gdp_diag *diag);

/* NVML's maximum number of NVLinks per GPU. */
#define GDP_NVML_NVLINK_MAX 36
