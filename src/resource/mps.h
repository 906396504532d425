/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPS sharing (sharing.mps): which resources are shared through an MPS control daemon, the
 * directories and marker files the plugin and the mps-control-daemon agree on, the rules
 * NVIDIA's plugin enforces (no MIG devices, the per-GPU MPS client limit), the plan the
 * control daemon runs (per-GPU pinned memory limits, active thread percentage) and the two
 * mounts and the environment variable a container receives. Pure data and file checks: the
 * processes are run by src/cmd/mps.c.
 *
 * Layout under an MPS root (the host's --mps-root, seen as /mps in NVIDIA's containers):
 *   <root>/shm                      the daemon's /dev/shm (tmpfs), mounted at /dev/shm
 *   <root>/<resource>/pipe          CUDA_MPS_PIPE_DIRECTORY of that resource's daemon
 *   <root>/<resource>/log           CUDA_MPS_LOG_DIRECTORY
 *   <root>/<resource>/.started      written once that daemon runs with its limits set
 *   <root>/.ready                   written once every daemon started
 * where <resource> is the full resource name ("nvidia.com/gpu": two directory levels).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdp_config;
struct gdp_device;
struct gdp_diag;
struct gdp_resource;
struct gdp_resource_set;

/* Where workload containers see the MPS root (NVIDIA's mps.ContainerRoot). */
#define GDP_MPS_PIPE_ENV     "CUDA_MPS_PIPE_DIRECTORY"
#define GDP_MPS_LOG_ENV      "CUDA_MPS_LOG_DIRECTORY"
#define GDP_MPS_READY_FILE   ".ready"
#define GDP_MPS_STARTED_FILE ".started"

/* MPS client limits: compute capability >= 7.5 (Volta MPS and later) or older GPUs. */
#define GDP_MPS_MAX_CLIENTS     48u
#define GDP_MPS_MAX_CLIENTS_OLD 16u

/* The most MPS clients one GPU of compute capability major.minor accepts (48 or 16). */
unsigned gdp_mps_max_clients(int cc_major, int cc_minor);

/*
 * Whether resource r is shared through MPS: MPS is the active sharing strategy of cfg and
 * at least one of r's devices is a replica.
 */
bool gdp_mps_shared(const struct gdp_config *cfg, const struct gdp_resource *r);

/*
 * Paths under an MPS root (see the layout above). resource may be NULL for the root-level
 * files. Caller frees each with free().
 */
char *gdp_mps_pipe_dir(const char *root, const char *resource);
char *gdp_mps_log_dir(const char *root, const char *resource);
char *gdp_mps_started_path(const char *root, const char *resource);
char *gdp_mps_ready_path(const char *root);
char *gdp_mps_shm_dir(const char *root);

/*
 * Start-up rules for MPS that need the discovered devices, beyond what gdp_config_finish()
 * already refuses (--mps-root missing, --mig-strategy=mixed): no replicated device of an
 * MPS-shared resource of set may be a MIG device ("sharing using MPS is not supported for
 * MIG devices"), and no GPU may carry more replicas than its MPS client limit
 * (gdp_mps_max_clients()). Returns 0 (also
 * when MPS is not in use) or GDP_E_CONFIG with diag naming the resource, the device and the
 * limit. The plugin calls it before serving, the control daemon before starting.
 */
int gdp_mps_check(const struct gdp_config *cfg, const struct gdp_resource_set *set,
                  struct gdp_diag *diag);

/*
 * Whether the MPS control daemon for resource (full name) is up: its .started marker exists
 * under gdp_paths_mps_root_ctr(cfg). Only looks at files, so it never blocks; the caller (the
 * plugin's manager) retries on -EAGAIN before serving the resource (NVIDIA retries every
 * 30 s). Returns 0 ready, -EAGAIN not yet (diag says which file is missing), -EINVAL when no
 * MPS root is configured, or another -errno from stat (diag names the path).
 */
int gdp_mps_ready(const struct gdp_config *cfg, const char *resource, struct gdp_diag *diag);

/*
 * Whether NVIDIA's MPS additions belong in one container's Allocate answer for devs[0..n)
 * (the backing devices of the request) of res (Allocate then adds
 * CUDA_MPS_PIPE_DIRECTORY=/mps/<resource>/pipe, a mount of <mps-root>/<resource>/pipe there
 * and one of <mps-root>/shm at /dev/shm). Returns 1 when they do, 0 when the resource is not
 * MPS-shared (gdp_mps_shared()) or none of devs is advertised as MPS replicas (a whole GPU of
 * a mixed resource is not served by the daemon), -EINVAL when a replicated device is a MIG
 * device or --mps-root is empty (diag reads as a gRPC message).
 */
int gdp_mps_applies(const struct gdp_config *cfg, const struct gdp_resource *res,
                    const struct gdp_device *const *devs, size_t n, struct gdp_diag *diag);

/* One GPU of an MPS daemon. */
struct gdp_mps_gpu {
    char *uuid;            /* "GPU-..." */
    unsigned ordinal;      /* position in CUDA_VISIBLE_DEVICES: the index MPS commands take */
    unsigned nvml_index;   /* NVML index, for messages */
    unsigned replicas;     /* replicas advertised for this GPU */
    uint64_t mem_limit_mb; /* total memory / replicas, in MiB; 0: unknown, not set */
};

/* What the control daemon runs for one MPS-shared resource. */
struct gdp_mps_daemon_plan {
    char *resource; /* full name, e.g. "nvidia.com/gpu" */
    struct gdp_mps_gpu *gpus;
    size_t n_gpus;
    char *visible_devices;   /* CUDA_VISIBLE_DEVICES: the GPUs' UUIDs joined by ',' */
    unsigned thread_percent; /* 100 / the largest replica count of the resource's GPUs */
};

struct gdp_mps_plan {
    struct gdp_mps_daemon_plan *daemons; /* one per MPS-shared resource, in set order */
    size_t n_daemons;
};

/*
 * Computes the daemons for set under cfg (after gdp_mps_check(), which it runs). Returns 0
 * and *ret (release with gdp_mps_plan_done(); empty when MPS is not in use), or
 * gdp_mps_check()'s error.
 */
int gdp_mps_plan_build(const struct gdp_config *cfg, const struct gdp_resource_set *set,
                       struct gdp_mps_plan *ret, struct gdp_diag *diag);

/* Frees what plan owns and zeroes it. Accepts a zeroed plan. */
void gdp_mps_plan_done(struct gdp_mps_plan *plan);
