/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDI (Container Device Interface) specs for the kinds the plugin hands out in Allocate:
 * k8s.device-plugin.nvidia.com/gpu (one device per GPU and MIG device, named by the device ID
 * strategy, plus the driver's common edits) and the extra kinds imex-channel, gdrcopy, gds and
 * mofed. Specs are rendered as JSON text and written atomically into the spec directory the
 * container runtime reads.
 */
#pragma once

#include <stdbool.h>

struct gdp_config;
struct gdp_diag;
struct gdp_imex;
struct gdp_node;

#define GDP_CDI_VENDOR "k8s.device-plugin.nvidia.com"

/* The spec kinds ("<vendor>/<class>"); also a bit set. */
enum gdp_cdi_kind {
    GDP_CDI_GPU = 1u << 0,     /* class "gpu" */
    GDP_CDI_IMEX = 1u << 1,    /* class "imex-channel" */
    GDP_CDI_GDRCOPY = 1u << 2, /* class "gdrcopy" */
    GDP_CDI_GDS = 1u << 3,     /* class "gds" */
    GDP_CDI_MOFED = 1u << 4,   /* class "mofed" */
};

#define GDP_CDI_ALL_KINDS \
    (GDP_CDI_GPU | GDP_CDI_IMEX | GDP_CDI_GDRCOPY | GDP_CDI_GDS | GDP_CDI_MOFED)

/* The class name of one kind ("gpu", "imex-channel", ...); static string, NULL if not one kind. */
const char *gdp_cdi_class(enum gdp_cdi_kind kind);

/* Optional inputs of gdp_cdi_render(); all borrowed. */
struct gdp_cdi_opts {
    const struct gdp_imex *imex; /* channels of the imex-channel kind; NULL = none */
    const char
            *dev_root_ctr; /* where device nodes are looked up; NULL = gdp_paths_dev_root_ctr() */
};

/*
 * Renders the spec of one kind for node under cfg as JSON text. Driver files are searched
 * under cfg->driver_root_ctr_path (libraries versioned by node->driver_version) and device
 * nodes under the container dev root (opts, may be NULL); every host path is rewritten to
 * cfg->driver_root / cfg->dev_root. Returns 1 and *ret_json (caller frees with free()), 0 with
 * *ret_json NULL when the kind has nothing to offer on this node (such a spec is not written),
 * -ENODATA when NVML reported no driver version, -ENOENT for a MIG device without capability
 * minors, or -EINVAL for a kind that is not exactly one GDP_CDI_* bit; diag says why.
 */
int gdp_cdi_render(const struct gdp_config *cfg, const struct gdp_node *node,
                   const struct gdp_cdi_opts *opts, enum gdp_cdi_kind kind, char **ret_json,
                   struct gdp_diag *diag);

/*
 * Writes text to path atomically: a temporary file in the same directory, fsync, rename over
 * path, fsync of the directory. Readers see the old file or the new one, never a part.
 * Returns 0 or a negative errno (diag names the path); on failure no temporary file is left.
 */
int gdp_cdi_write_atomic(const char *path, const char *text, struct gdp_diag *diag);

/*
 * Generates every spec the configuration calls for into dir (created if missing): the gpu
 * spec always, imex-channel when IMEX channels are configured and present (gdp_imex_check()),
 * and gdrcopy/gds/mofed when enabled. A kind with nothing to offer is not written, and a
 * stale file of ours for it is removed, as are temporary spec files older than 10 s (left by
 * a writer killed before its rename). Returns the GDP_CDI_* bits of the specs written
 * (>= 0; kept as gdp_snapshot.cdi_kinds for Allocate), or a negative error from
 * rendering, the IMEX check or writing, with diag set; specs already written stay valid.
 */
int gdp_cdi_write_specs(const struct gdp_config *cfg, const struct gdp_node *node, const char *dir,
                        struct gdp_diag *diag);

/*
 * NVIDIA's start-up rule: a cdi-* device list strategy needs NVML. Returns 0 when no cdi-*
 * strategy is selected or have_nvml is true, else GDP_E_CONFIG with diag explaining.
 */
int gdp_cdi_check_platform(const struct gdp_config *cfg, bool have_nvml, struct gdp_diag *diag);
