/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin's settings: every flag and environment variable of NVIDIA's nvidia-device-plugin
 * (same names, aliases, env vars, defaults and validation) plus our own logging flags, held in
 * one immutable snapshot. One descriptor table (config.c) drives parsing, validation, --help
 * and printing. Precedence: explicit flag > env var > config file (v1, YAML or JSON) > default.
 * The config file's own sections (sharing, resources, gfd) live here too; config_file.c loads
 * them, config_sharing.c holds the replication schema, config_json.c prints the result.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/log.h"
#include "core/strv.h"

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
    GDP_CMD_CHECK = 1u << 2, /* `config check`: only --strict-config applies */
    GDP_CMD_GFD = 1u << 3,   /* `gpu-feature-discovery` */
};

/* Largest config file we read; bigger ones are refused before parsing. */
#define GDP_CONFIG_FILE_MAX ((size_t)1 << 20)

/* gdp_gfd_config.sleep_interval_ns for "infinite". */
#define GDP_DURATION_INFINITE INT64_C(-1)

/* flags.gfd.* and flags.useNodeFeatureAPI: GPU feature discovery's; validated and kept. */
struct gdp_gfd_config {
    int use_node_feature_api; /* -1: not given (null), 0, 1 */
    bool oneshot;
    bool no_timestamp;
    int64_t sleep_interval_ns; /* >= 0, or GDP_DURATION_INFINITE */
    char *output_file;
    char *machine_type_file;
};

/* One resources.gpus / resources.mig entry: an anchored '*' pattern and a resource name. */
struct gdp_resource_pattern {
    char *pattern;
    char *name; /* fully qualified ("nvidia.com/...") */
};

struct gdp_resource_patterns {
    struct gdp_resource_pattern *v;
    size_t n;
};

enum gdp_sharing_strategy {
    GDP_SHARING_NONE = 0,
    GDP_SHARING_TIME_SLICING,
    GDP_SHARING_MPS,
};

enum gdp_devices_kind {
    GDP_DEVICES_ALL = 0, /* every device of the resource */
    GDP_DEVICES_COUNT,   /* the first `count` devices, in discovery order */
    GDP_DEVICES_LIST,    /* the devices named in `ids` */
};

/*
 * `devices:` of a replicated resource or of an override. LIST ids are validated and kept as
 * written: "0" (GPU index), "0:1" (MIG index: GPU:MIG), "GPU-<uuid>", "MIG-<uuid>" or the
 * legacy "MIG-GPU-<uuid>/<gi>/<ci>".
 */
struct gdp_device_selector {
    enum gdp_devices_kind kind;
    unsigned count; /* COUNT: >= 1 */
    struct gdp_strv ids;
};

/*
 * Our extension (docs/config.md, "overrides"): per-device replica counts and renames inside
 * one replicated resource. Applies to the resource's selected devices that match `devices`
 * and (when set) `product`; the first matching override wins.
 */
struct gdp_replica_override {
    struct gdp_device_selector devices; /* ALL when only `product` was given */
    char *product;                      /* anchored '*' pattern on the GPU product name, or NULL */
    unsigned replicas;                  /* 0: the resource's; 1: not shared (whole device) */
    char *rename;                       /* fully qualified, or NULL: see gdp_replica_choice */
};

struct gdp_replicated_resource {
    char *name;   /* fully qualified ("nvidia.com/gpu") */
    char *rename; /* fully qualified; NULL: advertised as `name` */
    struct gdp_device_selector devices;
    unsigned replicas; /* >= 2 */
    struct gdp_replica_override *overrides;
    size_t n_overrides;
};

/* sharing.timeSlicing or sharing.mps. */
struct gdp_replication {
    bool present; /* the section was in the file (and not null) */
    bool rename_by_default;
    bool fail_requests_greater_than_one; /* mps: true unless the file says false */
    struct gdp_replicated_resource *resources;
    size_t n_resources; /* >= 1 when present */
    char *where;        /* "<file>:<line>:<column>" of the section, for messages; or NULL */
};

struct gdp_sharing {
    enum gdp_sharing_strategy strategy; /* NVIDIA's choice: MPS, else time-slicing, else none */
    struct gdp_replication time_slicing;
    struct gdp_replication mps;
};

#define GDP_HEALTH_RECOVER_XIDS_MAX 64 /* --health-recover-xids entries */

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
    bool shared_devices_allocation_strict; /* ours: one replica per GPU while others have one */
    enum gdp_discovery_strategy device_discovery_strategy;
    unsigned imex_channel_ids[1];
    size_t n_imex_channel_ids; /* 0 or 1 (only channel 0 is accepted, as NVIDIA) */
    bool imex_required;
    char *kubelet_socket; /* "" = serve without registering */
    char *config_file;
    struct gdp_strv cdi_feature_flags;
    struct gdp_strv cdi_disable_hooks;
    char *cdi_spec_dir;             /* ours: where CDI specs are written, default /var/run/cdi */
    unsigned max_serve_outage_s[1]; /* ours: exit after this long unable to serve; 0 = never */
    size_t n_max_serve_outage_s;    /* 0 (empty value) also means never */
    /* ours: the HTTP endpoint (metrics, probes, state); "" = none */
    char *metrics_address;
    /* ours */
    enum gdp_log_level log_level;
    enum gdp_log_format log_format;
    bool json;          /* list --json */
    bool topology;      /* list --topology */
    bool help;          /* --help was given: print help, do nothing else */
    bool strict_config; /* unknown config-file keys are errors, not warnings */
    unsigned health_recover_xids[GDP_HEALTH_RECOVER_XIDS_MAX]; /* recover after the quiet period */
    size_t n_health_recover_xids;
    struct gdp_strv driver_capabilities; /* NVIDIA_DRIVER_CAPABILITIES, for CDI graphics files */
    /* from the environment only (no flag, no file key); empty = not set */
    char *dp_disable_healthchecks;    /* DP_DISABLE_HEALTHCHECKS: NVIDIA's XID list, see health */
    char *dp_enable_healthchecks;     /* DP_ENABLE_HEALTHCHECKS */
    bool health_recovery;             /* GDP_HEALTH_RECOVERY: devices can become healthy again */
    int64_t health_quiet_period_ns;   /* GDP_HEALTH_QUIET_PERIOD: 100ms..168h */
    int64_t health_probe_interval_ns; /* GDP_HEALTH_PROBE_INTERVAL: 0 (off) or 100ms..1h */
    char *dev_root_ctr_override;   /* GDP_DEV_ROOT_CTR: where this container sees the host /dev */
    char *mps_root_ctr_override;   /* GDP_MPS_ROOT_CTR: where this container sees the MPS root */
    char *sysfs_root;              /* GDP_SYSFS_ROOT: sysfs is read under it (tests) */
    char *proc_root;               /* GDP_PROC_ROOT: procfs is read under it (tests) */
    unsigned watchdog_interval_ms; /* GDP_WATCHDOG_INTERVAL_MS: registration watchdog period */
    unsigned watchdog_grace_ms; /* GDP_WATCHDOG_GRACE_MS: drift tolerated before re-registering */
    unsigned mps_retry_interval_ms;  /* GDP_MPS_RETRY_INTERVAL_MS: mps-control-daemon's retry */
    unsigned mps_command_timeout_ms; /* GDP_MPS_COMMAND_TIMEOUT_MS: one nvidia-cuda-mps-control */
    int64_t rediscovery_interval_ns; /* GDP_REDISCOVERY_INTERVAL; <= 0 or infinite: never */
    /* from the config file only */
    struct gdp_gfd_config gfd;
    /* gpu-feature-discovery's NodeFeature API client settings: accepted, not used yet */
    char *gfd_kubeconfig;
    char *gfd_kube_api_qps;
    char *gfd_kube_api_burst;
    char *gfd_namespace;
    char *gfd_node_name;
    char *gfd_pod_name;
    char *gfd_serviceaccount_dir; /* GDP_SERVICEACCOUNT_DIR: for tests; "" = in-cluster one */
    /* ours: `serve` also writes the gpu-feature-discovery labels to this file; "" = no */
    char *labels_output_file;
    struct gdp_resource_patterns resource_gpus; /* resources.gpus */
    struct gdp_resource_patterns resource_mig;  /* resources.mig */
    struct gdp_sharing sharing;
    /* what loading the config file found worth a warning ("<file>:<l>:<c>: <key>: ..."), for
     * the caller (an edge) to log; the config layer itself never logs them */
    struct gdp_strv warnings;
    /* the GDP_CMD_* bit the flags were parsed for (gdp_config_parse_args) */
    unsigned cmd;
    /* private to src/config/: bit i set = table entry i was set explicitly (flag or env) */
    uint64_t set_mask;
};

/* Where a configuration comes from: the arguments after the subcommand and the environment.
 * All borrowed. A reload parses the same source again (the file may have changed). */
struct gdp_config_source {
    enum gdp_cmd cmd;
    int argc;
    char **argv;
    char **envp;
};

/*
 * The whole pipeline: defaults, environment, flags, config file, validation
 * (gdp_config_init + gdp_config_parse_args + gdp_config_finish), rejecting leftover
 * arguments. Returns 0 (c->help may be set: then nothing after parsing ran), or
 * GDP_E_CONFIG with diag. c is initialised in every case: release with gdp_config_done().
 */
int gdp_config_load(struct gdp_config *c, const struct gdp_config_source *src,
                    struct gdp_diag *diag);

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
 * Loads c->config_file when it is not empty (gdp_config_load_file), then checks cross-field
 * rules (NVIDIA's validateFlags, including the MPS ones that need the file's sharing section)
 * and fills derived values (dev_root from driver_root). Call once, after
 * gdp_config_parse_args(). Returns 0 or GDP_E_CONFIG (or a negative errno from reading the
 * file) with diag set; c->warnings then lists what the file had that deserves a warning.
 */
int gdp_config_finish(struct gdp_config *c, struct gdp_diag *diag);

/*
 * Reads the v1 config file at path (at most GDP_CONFIG_FILE_MAX bytes; /dev/null and empty
 * files mean "all defaults") and applies it to c with NVIDIA's precedence: a setting already
 * set explicitly by a flag or environment variable (c->set_mask) keeps its value, though the
 * file's value is still validated. Unknown or duplicate keys are appended to c->warnings, or
 * are errors when c->strict_config is set. Returns 0; -errno when the file cannot be opened or
 * read (diag names the path and the errno text); -EFBIG when it is too large; GDP_E_CONFIG
 * when it is invalid, with diag reading "<path>:<line>:<column>: <key>: <what was expected>".
 * On failure c may hold part of the file's values: discard it.
 */
int gdp_config_load_file(struct gdp_config *c, const char *path, struct gdp_diag *diag);

/* As gdp_config_load_file() on len bytes at buf (need not be NUL-terminated); name is used
 * in messages in place of the path. Returns 0, -EFBIG or GDP_E_CONFIG. */
int gdp_config_load_buffer(struct gdp_config *c, const char *name, const char *buf, size_t len,
                           struct gdp_diag *diag);

/*
 * The effective configuration as a v1 config file in JSON, with NVIDIA's camelCase keys, from
 * the same tables that parse it: loading the output back gives the same settings (settings
 * that have no config-file key, such as --kubelet-socket, are not part of it). Caller frees
 * with json_decref().
 */
struct json_t *gdp_config_to_json(const struct gdp_config *c);

/*
 * Every setting of the table that applies to cmd, with its effective value, as a JSON object:
 * keyed by flag name ("kubelet-socket"), or by variable name for the settings read only from
 * the environment ("GDP_HEALTH_QUIET_PERIOD"). Durations are Go duration strings. Caller
 * frees with json_decref().
 */
struct json_t *gdp_config_settings_json(const struct gdp_config *c, enum gdp_cmd cmd);

/* The replication settings the resource layer applies: mps when that section is present,
 * else timeSlicing (NVIDIA's rule). Borrowed from s. */
const struct gdp_replication *gdp_sharing_replication(const struct gdp_sharing *s);

/* What one device of replicated resource r is advertised as, overrides applied. */
struct gdp_replica_choice {
    unsigned replicas; /* 1: not shared */
    const char *name;  /* resource name (borrowed from r) */
};

/*
 * Whether selector sel picks a device: pos is its 0-based position among the resource's
 * devices in discovery order (for COUNT), index its "0" / "0:1" index text, uuid its GPU- or
 * MIG- UUID. A legacy "MIG-GPU-<uuid>/<gi>/<ci>" id matches when equal to uuid.
 */
bool gdp_device_selector_matches(const struct gdp_device_selector *sel, size_t pos,
                                 const char *index, const char *uuid);

/*
 * Resolves the first override of r matching the device (see gdp_device_selector_matches;
 * product is the GPU's product name, may be NULL), falling back to r's replicas and rename.
 * The device must already be selected by r->devices. Unshared devices (replicas 1) keep
 * r->name unless the override renames them.
 */
void gdp_replicated_resource_resolve(const struct gdp_replicated_resource *r, size_t pos,
                                     const char *index, const char *uuid, const char *product,
                                     struct gdp_replica_choice *ret);

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
const char *gdp_sharing_strategy_name(enum gdp_sharing_strategy s);
