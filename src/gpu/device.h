/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device model every later layer reads: the node's GPUs and MIG devices as discovered
 * through NVML, with the attributes Allocate, health, sharing and labels need. A GPU that
 * fails an NVML call is kept (when it can be identified) and marked unhealthy with a reason;
 * one bad GPU never hides the others.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdp_diag;
struct gdp_nvml;

#define GDP_UUID_MAX    96
#define GDP_NAME_MAX    96
#define GDP_BUSID_MAX   32
#define GDP_PROFILE_MAX 32
#define GDP_REASON_MAX  192
#define GDP_PATH_MAX    64

enum gdp_device_kind {
    GDP_DEVICE_GPU = 0,
    GDP_DEVICE_MIG,
};

/* PCIe relation of two GPUs, from farthest to closest (go-gpuallocator's order). */
enum gdp_pcie_link {
    GDP_PCIE_UNKNOWN = 0, /* its topology calls failed */
    GDP_PCIE_SYS,         /* across sockets */
    GDP_PCIE_NODE,        /* same NUMA node, different host bridges */
    GDP_PCIE_PHB,         /* same host bridge */
    GDP_PCIE_PXB,         /* multiple PCIe switches */
    GDP_PCIE_PIX,         /* a single PCIe switch */
    GDP_PCIE_BOARD,       /* same board */
};

/*
 * How the node's GPUs are joined, read once per discovery (topology.c): per pair of rows
 * (GPUs in node order) the PCIe relation, the NVLinks joining them and NVIDIA's pair score.
 * NVLinks through NVSwitches count as the fewer of the two GPUs' switch links.
 */
struct gdp_topology {
    size_t n;          /* rows (GPUs) */
    uint8_t *pcie;     /* n*n enum gdp_pcie_link; the diagonal is GDP_PCIE_BOARD */
    uint8_t *nvlinks;  /* n*n */
    uint8_t *nvswitch; /* n*n: 1 when the pair's NVLinks go through NVSwitches */
    uint32_t *score;   /* n*n: gdp_topology_pair_score(); 0 on the diagonal */
    unsigned failed;   /* GPUs whose topology calls failed (kept, with no links) */
};

struct gdp_device {
    enum gdp_device_kind kind;
    unsigned index;             /* GPU: NVML index; MIG: slot index under the parent */
    int parent;                 /* MIG: position of the parent GPU in node->devices; GPU: -1 */
    char index_str[16];         /* NVIDIA's index ID: "3" or "3:1" */
    char uuid[GDP_UUID_MAX];    /* "GPU-..." or "MIG-..." */
    char name[GDP_NAME_MAX];    /* NVML product name (MIG: "<product> MIG <profile>") */
    char bus_id[GDP_BUSID_MAX]; /* sysfs form "0000:3b:00.0" (MIG: the parent's) */
    uint64_t memory_bytes;      /* total memory (MIG: the instance's) */
    unsigned minor;             /* /dev/nvidia<minor> (MIG: the parent's) */
    int cc_major;               /* CUDA compute capability (MIG: the parent's) */
    int cc_minor;
    int numa_node;    /* from sysfs; -1 when unknown (MIG: the parent's) */
    bool mig_capable; /* GPU only */
    bool mig_enabled; /* GPU only */
    unsigned n_mig;   /* GPU only: MIG devices discovered on it */
    int pci_class; /* GPU only: PCI class code from sysfs (0x030200, 3D controller); -1 unknown */
    /* GPU only: NVLink fabric membership (registration complete, with a cluster UUID) */
    bool fabric_attached;
    char cluster_uuid[40];
    unsigned clique_id;
    /* MIG only */
    unsigned gi;
    unsigned ci;
    unsigned gi_slices;
    unsigned ci_slices;
    uint64_t mig_memory_mib; /* memorySizeMB attribute, compared by the single strategy */
    unsigned multiprocessors;
    unsigned engines_copy; /* shared engines of the instance (nvmlDeviceGetAttributes) */
    unsigned engines_decoder;
    unsigned engines_encoder;
    unsigned engines_jpeg;
    unsigned engines_ofa;
    char profile[GDP_PROFILE_MAX]; /* go-nvlib profile name, e.g. "1g.5gb", "1g.10gb+me" */
    int gi_cap_minor;              /* nvidia-cap minor of gpu<minor>/gi<gi>/access, -1 unknown */
    int ci_cap_minor;              /* nvidia-cap minor of .../ci<ci>/access, -1 unknown */
    int topo;                      /* row in node->topology (MIG: the parent's); -1 when none */
    /* health */
    bool healthy;
    char reason[GDP_REASON_MAX]; /* why unhealthy; empty when healthy */
};

/* A GPU NVML could not identify (no UUID): reported, never advertised. */
struct gdp_problem {
    char index_str[16]; /* "3" or "3:1" */
    char reason[GDP_REASON_MAX];
};

struct gdp_node {
    char driver_version[80];
    int cuda_version;           /* e.g. 12040; 0 unknown */
    unsigned n_gpus;            /* what NVML counted */
    struct gdp_device *devices; /* GPUs in NVML order, each followed by its MIG devices */
    size_t n_devices;
    struct gdp_problem *problems;
    size_t n_problems;
    struct gdp_topology topology;
};

struct gdp_discover_opts {
    const char *sysfs_root; /* NULL = "/sys" */
    const char *proc_root;  /* NULL = "/proc" */
};

/*
 * Discovers the node through an open NVML. Per-GPU failures are recorded (device unhealthy
 * with a reason, or a problem entry) and do not fail the call. Returns 0 and *ret (caller
 * frees with gdp_node_free()), or GDP_E_NVML when the node itself cannot be enumerated.
 */
int gdp_discover(struct gdp_nvml *nv, const struct gdp_discover_opts *opts, struct gdp_node **ret,
                 struct gdp_diag *diag);

/* Frees a node. Accepts NULL. */
void gdp_node_free(struct gdp_node *node);

/* The parent GPU of a MIG device, or the device itself for a GPU. Borrowed from node. */
const struct gdp_device *gdp_device_gpu(const struct gdp_node *node, const struct gdp_device *d);

/*
 * go-nvlib's MIG profile name from the GI/CI profile enums, the instance memory (MiB) and the
 * parent's total memory (bytes): "<G>g.<GB>gb" or "<C>c.<G>g.<GB>gb" plus "+me", "+me.all",
 * "+gfx" or "-me". Returns 0, or -EINVAL for a profile enum go-nvlib does not handle.
 */
int gdp_mig_profile_name(unsigned gi_profile, unsigned ci_profile, uint64_t mem_mib,
                         uint64_t parent_total_bytes, char *buf, size_t len);

/*
 * Normalizes an NVML bus id for sysfs: a leading "0000" of an 8-digit domain is dropped and
 * hex is lower-cased ("00000000:3B:00.0" -> "0000:3b:00.0"). buf holds GDP_BUSID_MAX bytes.
 */
void gdp_bus_id_normalize(const char *nvml_bus_id, char *buf, size_t len);

/* MIG capability minors parsed from /proc/driver/nvidia-caps/mig-minors. */
struct gdp_migcap {
    unsigned gpu; /* GPU minor number */
    unsigned gi;
    int ci; /* -1 for the GPU-instance access capability */
    unsigned minor;
};

struct gdp_migcaps {
    struct gdp_migcap *caps;
    size_t n;
};

/*
 * Parses the mig-minors text ("gpu<G>/gi<I>/access <minor>", "gpu<G>/gi<I>/ci<C>/access
 * <minor>"; "config"/"monitor" and unparsable lines are skipped). Never fails; caller
 * releases with gdp_migcaps_done().
 */
void gdp_migcaps_parse(const char *text, struct gdp_migcaps *ret);
void gdp_migcaps_done(struct gdp_migcaps *caps);

/* Minor for (gpu minor, gi, ci or -1), or -ENOENT. */
int gdp_migcaps_lookup(const struct gdp_migcaps *caps, unsigned gpu, unsigned gi, int ci);
