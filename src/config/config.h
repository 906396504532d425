/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin's settings: every flag and environment variable of NVIDIA's nvidia-device-plugin
 * (same names, aliases, env vars, defaults and validation) plus our own logging flags, held in
 * one immutable snapshot. One descriptor table (config.c) drives parsing, validation, --help
 * and printing. Precedence: explicit flag > env var > (config file, later) > default.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/log.h"

struct gdp_diag;

enum gdp_mig_strategy {
    GDP_MIG_NONE = 0,
    GDP_MIG_SINGLE,
    GDP_MIG_MIXED,
};

enum gdp_id_strategy {
    GDP_ID_UUID = 0,
    GDP_ID_INDEX,
};

/* --device-list-strategy is a set: any combination of these bits. */
enum gdp_list_strategy {
    GDP_LIST_ENVVAR = 1u << 0,
    GDP_LIST_VOLUME_MOUNTS = 1u << 1,
    GDP_LIST_CDI_ANNOTATIONS = 1u << 2,
    GDP_LIST_CDI_CRI = 1u << 3,
};

enum gdp_alloc_policy {
    GDP_ALLOC_DISTRIBUTED = 0,
    GDP_ALLOC_PACKED,
};

enum gdp_discovery_strategy {
    GDP_DISCOVERY_AUTO = 0,
    GDP_DISCOVERY_NVML,
    GDP_DISCOVERY_TEGRA,
};

/* Subcommands a flag applies to (a flag table entry carries a mask of these). */
enum gdp_cmd {
    GDP_CMD_SERVE = 1u << 0,
    GDP_CMD_LIST = 1u << 1,
};

struct gdp_strv {
    char **v;
    size_t n;
};

struct gdp_config {
    enum gdp_mig_strategy mig_strategy;
    bool fail_on_init_error;
    char *driver_root; /* host driver root, default "/" */
    char *dev_root;    /* host dev root; empty on input means "= driver_root" */
    bool pass_device_specs;
    unsigned device_list_strategy; /* GDP_LIST_* bits, never 0 */
    enum gdp_id_strategy device_id_strategy;
    bool gdrcopy_enabled;
    bool gds_enabled;
    bool mofed_enabled;
    char *cdi_annotation_prefix;
    char *nvidia_cdi_hook_path;
    char *driver_root_ctr_path; /* driver root as mounted in our container; NVML is loaded here */
    char *mps_root;
    enum gdp_alloc_policy shared_devices_allocation_policy;
    enum gdp_discovery_strategy device_discovery_strategy;
    unsigned imex_channel_ids[1];
    size_t n_imex_channel_ids; /* 0 or 1 (only channel 0 is accepted, as NVIDIA) */
    bool imex_required;
    char *kubelet_socket; /* "" = serve without registering */
    char *config_file;
    struct gdp_strv cdi_feature_flags;
    struct gdp_strv cdi_disable_hooks;
    /* ours */
    enum gdp_log_level log_level;
    enum gdp_log_format log_format;
    bool json;
    bool help; /* --help was given: print help, do nothing else */ /* list --json */
    /* private to src/config/: bit i set = table entry i was set explicitly (flag or env) */
    uint64_t set_mask;
};

/* Fills c with the built-in defaults. Release with gdp_config_done(). */
void gdp_config_init(struct gdp_config *c);

/* Frees what c owns; accepts a zeroed or half-initialized struct. */
void gdp_config_done(struct gdp_config *c);

/*
 * Applies environment variables (from envp, NULL-terminated "K=V" strings), then the flags in
 * argv[0..argc) (argv[0] is the first argument, not the program name) for subcommand cmd
 * (a GDP_CMD_* bit). Accepts "--flag value", "--flag=value", single-dash forms, boolean flags
 * without a value, and "--" to end options. Stops at the first non-option argument.
 * A flag given in argv wins over its environment variables, which are then not looked at.
 * Returns the number of argv entries consumed (>= 0), or GDP_E_CONFIG with diag naming the
 * flag or env var, the bad value and the allowed values. Sets c->help when --help/-h was
 * given (parsing stops there).
 */
int gdp_config_parse_args(struct gdp_config *c, enum gdp_cmd cmd, int argc, char **argv,
                          char **envp, struct gdp_diag *diag);

/*
 * Checks cross-field rules (NVIDIA's validateFlags) and fills derived values (dev_root from
 * driver_root). Returns 0 or GDP_E_CONFIG with diag set.
 */
int gdp_config_finish(struct gdp_config *c, struct gdp_diag *diag);

/*
 * Logs, once each at info level, the flags that were set explicitly but are not implemented
 * yet by this build ("..., ignoring").
 */
void gdp_config_log_unimplemented(const struct gdp_config *c);

/*
 * Returns whether the flag with long name `flag` (no dashes, e.g. "mig-strategy") was set
 * explicitly by a flag or an environment variable, so that it beats the config file.
 * False for unknown names.
 */
bool gdp_config_is_set(const struct gdp_config *c, const char *flag);

/* Writes the --help text for subcommand cmd: every flag with aliases, env vars, default. */
void gdp_config_print_help(FILE *f, enum gdp_cmd cmd);

/* Names for enum values, for output ("none", "uuid", ...). Static strings. */
const char *gdp_mig_strategy_name(enum gdp_mig_strategy s);
const char *gdp_id_strategy_name(enum gdp_id_strategy s);
