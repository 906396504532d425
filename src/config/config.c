/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The settings table and everything that works on values: defaults, typed setters that
 * validate as they parse (NVIDIA's validateFlags rules for single values), the cross-field
 * checks of gdp_config_finish(), and the "accepted but not implemented yet" notices. Command
 * line and environment parsing and --help live in flags.c, the config file in config_file.c;
 * both use the same table.
 */
#include "config/config.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/options.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

/* Value names; the index of a name is the enum value (or bit number for sets). */
static const char *const mig_names[] = {"none", "single", "mixed", NULL};
static const char *const id_names[] = {"uuid", "index", NULL};
static const char *const list_names[] = {"envvar", "volume-mounts", "cdi-annotations", "cdi-cri",
                                         NULL};
static const char *const policy_names[] = {"distributed", "packed", NULL};
static const char *const discovery_names[] = {"auto", "nvml", "tegra", NULL};
static const char *const level_names[] = {"error", "warning", "info", "debug", NULL};
static const char *const format_names[] = {"text", "json", NULL};

/* BOOL with .onoff: also these, in any case (true, false, 1, 0 of gdp_bool_names included) */
static const char *const onoff_names[] = {"on",    "off", "yes", "no", "true",
                                          "false", "1",   "0",   NULL};

#define NS_PER_MS   INT64_C(1000000)
#define NS_PER_HOUR (INT64_C(3600) * 1000 * NS_PER_MS)
#define DAY_MS      86400000u

_Static_assert(GDP_MIG_NONE == 0 && GDP_MIG_SINGLE == 1 && GDP_MIG_MIXED == 2, "mig_names");
_Static_assert(GDP_ID_UUID == 0 && GDP_ID_INDEX == 1, "id_names");
_Static_assert(GDP_LIST_ENVVAR == 1u << 0 && GDP_LIST_VOLUME_MOUNTS == 1u << 1 &&
                       GDP_LIST_CDI_ANNOTATIONS == 1u << 2 && GDP_LIST_CDI_CRI == 1u << 3,
               "list_names");
_Static_assert(GDP_ALLOC_DISTRIBUTED == 0 && GDP_ALLOC_PACKED == 1, "policy_names");
_Static_assert(GDP_DISCOVERY_AUTO == 0 && GDP_DISCOVERY_NVML == 1 && GDP_DISCOVERY_TEGRA == 2,
               "discovery_names");
_Static_assert(GDP_LOG_ERR == 0 && GDP_LOG_WARN == 1 && GDP_LOG_INFO == 2 && GDP_LOG_DEBUG == 3,
               "level_names");
_Static_assert(GDP_LOG_TEXT == 0 && GDP_LOG_JSON == 1, "format_names");
/* ENUM fields are written as unsigned through memcpy. */
_Static_assert(sizeof(enum gdp_mig_strategy) == sizeof(unsigned) &&
                       sizeof(enum gdp_id_strategy) == sizeof(unsigned) &&
                       sizeof(enum gdp_alloc_policy) == sizeof(unsigned) &&
                       sizeof(enum gdp_discovery_strategy) == sizeof(unsigned) &&
                       sizeof(enum gdp_log_level) == sizeof(unsigned) &&
                       sizeof(enum gdp_log_format) == sizeof(unsigned),
               "enum size");

#define OPT(n, t, f)   .name = (n), .type = GDP_OPT_##t, .off = offsetof(struct gdp_config, f)
#define STRS(...)      ((const char *const[]){__VA_ARGS__, NULL})
#define SERVE_AND_LIST (GDP_CMD_SERVE | GDP_CMD_LIST)

/*
 * Every setting. Order is the --help order. NVIDIA's flags first (names, aliases, env vars,
 * defaults and config-file keys of cmd/nvidia-device-plugin/main.go), then ours.
 * `.implemented` is the one place that says whether this build acts on a flag: flip it when
 * the feature lands. Flags with `.implemented = false` are parsed and validated, and
 * gdp_config_log_unimplemented() reports them when set explicitly.
 */
const struct gdp_opt gdp_opts[] = {
        {
                OPT("mig-strategy", ENUM, mig_strategy),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .gfd_env = STRS("GFD_MIG_STRATEGY", "MIG_STRATEGY"),
                .env = STRS("MIG_STRATEGY"),
                .values = mig_names,
                .def = "none",
                .key = "flags.migStrategy",
                .help = "How MIG devices are advertised: none (whole GPUs only), single (every GPU "
                        "uses one MIG profile, advertised as nvidia.com/gpu) or mixed (one resource "
                        "per MIG profile).",
        },
        {
                OPT("fail-on-init-error", BOOL, fail_on_init_error),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .gfd_env = STRS("GFD_FAIL_ON_INIT_ERROR", "FAIL_ON_INIT_ERROR"),
                .env = STRS("FAIL_ON_INIT_ERROR"),
                .def = "true",
                .key = "flags.failOnInitError",
                .help = "Exit when initialization fails (for example when NVML cannot be loaded); "
                        "when false, log the error and wait idle instead.",
        },
        {
                OPT("driver-root", STRING, driver_root),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .aliases = STRS("nvidia-driver-root"),
                .env = STRS("NVIDIA_DRIVER_ROOT"),
                .def = "/",
                .arg = "PATH",
                .key = "flags.nvidiaDriverRoot",
                .help = "Root of the NVIDIA driver installation on the host (/ or /run/nvidia/driver); "
                        "target root of generated CDI specs.",
        },
        {
                OPT("dev-root", STRING, dev_root),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .aliases = STRS("nvidia-dev-root"),
                .env = STRS("NVIDIA_DEV_ROOT"),
                .def = "",
                .arg = "PATH",
                .key = "flags.nvidiaDevRoot",
                .help = "Root on the host under which the /dev/nvidia* nodes live; host prefix of "
                        "device specs. Empty means the driver root.",
        },
        {
                OPT("pass-device-specs", BOOL, pass_device_specs),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("PASS_DEVICE_SPECS"),
                .def = "false",
                .key = "flags.plugin.passDeviceSpecs",
                .help = "Also return the device nodes (DeviceSpecs) in Allocate responses, for the "
                        "kubelet CPU manager's static policy.",
        },
        {
                OPT("device-list-strategy", SET, device_list_strategy),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("DEVICE_LIST_STRATEGY"),
                .values = list_names,
                .def = "envvar",
                .arg = "LIST",
                .key = "flags.plugin.deviceListStrategy",
                .help = "How allocated devices are passed to containers: a comma-separated "
                        "combination of envvar, volume-mounts, cdi-annotations and cdi-cri.",
        },
        {
                OPT("device-id-strategy", ENUM, device_id_strategy),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("DEVICE_ID_STRATEGY"),
                .values = id_names,
                .def = "uuid",
                .key = "flags.plugin.deviceIDStrategy",
                .help = "How devices are named in the list passed to containers: uuid or index.",
        },
        {
                OPT("gdrcopy-enabled", BOOL, gdrcopy_enabled),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("GDRCOPY_ENABLED"),
                .def = "false",
                .key = "flags.gdrcopyEnabled",
                .help = "Request GDRCopy in allocated containers (NVIDIA_GDRCOPY=enabled, CDI "
                        "gdrcopy=all).",
        },
        {
                OPT("gds-enabled", BOOL, gds_enabled),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("GDS_ENABLED"),
                .def = "false",
                .key = "flags.gdsEnabled",
                .help = "Request GPUDirect Storage in allocated containers (NVIDIA_GDS=enabled, CDI "
                        "gds=all).",
        },
        {
                OPT("mofed-enabled", BOOL, mofed_enabled),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("MOFED_ENABLED"),
                .def = "false",
                .key = "flags.mofedEnabled",
                .help = "Request MOFED in allocated containers (NVIDIA_MOFED=enabled, CDI "
                        "mofed=all).",
        },
        {
                OPT("cdi-annotation-prefix", STRING, cdi_annotation_prefix),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("CDI_ANNOTATION_PREFIX"),
                .def = "cdi.k8s.io/",
                .arg = "PREFIX",
                .key = "flags.plugin.cdiAnnotationPrefix",
                .help = "Key prefix of the CDI annotations put into Allocate responses.",
        },
        {
                OPT("nvidia-cdi-hook-path", STRING, nvidia_cdi_hook_path),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .aliases = STRS("nvidia-ctk-path"),
                .env = STRS("NVIDIA_CDI_HOOK_PATH", "NVIDIA_CTK_PATH"),
                .def = "/usr/bin/nvidia-ctk",
                .arg = "PATH",
                .key = "flags.plugin.nvidiaCTKPath",
                .help = "Host path of the hook binary (nvidia-cdi-hook or nvidia-ctk) that generated "
                        "CDI specs run.",
        },
        {
                OPT("driver-root-ctr-path", STRING, driver_root_ctr_path),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .aliases = STRS("container-driver-root"),
                .env = STRS("DRIVER_ROOT_CTR_PATH", "CONTAINER_DRIVER_ROOT"),
                .def = "/driver-root",
                .arg = "PATH",
                .key = "flags.plugin.containerDriverRoot",
                .help = "Where the host driver root is mounted inside this container; "
                        "libnvidia-ml.so.1 is looked up there first.",
        },
        {
                OPT("mps-root", STRING, mps_root),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("MPS_ROOT"),
                .def = "",
                .arg = "PATH",
                .key = "flags.mpsRoot",
                .help = "Host directory for MPS pipes, logs and shared memory; required when MPS "
                        "sharing is configured.",
        },
        {
                OPT("shared-devices-allocation-policy", ENUM, shared_devices_allocation_policy),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("SHARED_DEVICES_ALLOCATION_POLICY"),
                .values = policy_names,
                .def = "distributed",
                .key = "flags.plugin.sharedDevicesAllocationPolicy",
                .help = "How replicas of shared and MIG resources are picked: distributed (spread "
                        "over GPUs) or packed (fill one GPU first).",
        },
        {
                OPT("shared-devices-allocation-strict", BOOL, shared_devices_allocation_strict),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("SHARED_DEVICES_ALLOCATION_STRICT"),
                .def = "false",
                .key = "flags.plugin.sharedDevicesAllocationStrict",
                .help = "Never give one container two replicas of the same GPU while another GPU "
                        "has a free replica (applies on top of the allocation policy).",
        },
        {
                OPT("device-discovery-strategy", ENUM, device_discovery_strategy),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .env = STRS("DEVICE_DISCOVERY_STRATEGY"),
                .values = discovery_names,
                .def = "auto",
                .key = "flags.deviceDiscoveryStrategy",
                .help = "How GPUs are found: auto, nvml or tegra (tegra is accepted; this build "
                        "discovers through NVML).",
        },
        {
                OPT("imex-channel-ids", UINT_LIST, imex_channel_ids),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .off_n = offsetof(struct gdp_config, n_imex_channel_ids),
                .max_n = 1,
                .max_value = 0,
                .allowed = "only channel 0 is supported; allowed values are an empty list or 0",
                .env = STRS("IMEX_CHANNEL_IDS"),
                .def = "",
                .arg = "IDS",
                .key = "imex.channelIDs",
                .help = "IMEX channels to inject into allocated containers (comma-separated; only "
                        "an empty list or 0).",
        },
        {
                OPT("imex-required", BOOL, imex_required),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("IMEX_REQUIRED"),
                .def = "false",
                .key = "imex.required",
                .help = "Fail startup when a requested IMEX channel device node is missing.",
        },
        {
                OPT("kubelet-socket", STRING, kubelet_socket),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("KUBELET_SOCKET"),
                .def = "/var/lib/kubelet/device-plugins/kubelet.sock",
                .arg = "PATH",
                .help = "Kubelet registration socket; its directory is watched for kubelet restarts. "
                        "Empty: serve without registering.",
        },
        {
                OPT("config-file", STRING, config_file),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .gfd_env = STRS("GFD_CONFIG_FILE", "CONFIG_FILE"),
                .env = STRS("CONFIG_FILE"),
                .def = "",
                .arg = "PATH",
                .help = "Path of a v1 config file (YAML or JSON); explicitly set flags and "
                        "environment variables override it.",
        },
        {
                OPT("cdi-feature-flags", STRV, cdi_feature_flags),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("CDI_FEATURE_FLAGS"),
                .def = "",
                .arg = "LIST",
                .help = "Comma-separated feature flags for CDI spec generation: "
                        "enable-explicit-driver-libraries, disable-ipc-discoverer and "
                        "no-additional-gids-for-device-nodes act; NVIDIA's other flags are "
                        "accepted.",
        },
        {
                OPT("cdi-disable-hooks", STRV, cdi_disable_hooks),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("CDI_DISABLE_HOOKS"),
                .def = "",
                .arg = "LIST",
                .help = "Comma-separated hooks to leave out of generated CDI specs: all, "
                        "create-symlinks, enable-cuda-compat, update-ldcache, "
                        "disable-device-node-modification.",
        },
        {
                OPT("oneshot", BOOL, gfd.oneshot),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("GFD_ONESHOT"),
                .def = "false",
                .help = "Write the labels once and exit (config file: flags.gfd.oneshot).",
        },
        {
                OPT("no-timestamp", BOOL, gfd.no_timestamp),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("GFD_NO_TIMESTAMP"),
                .def = "false",
                .help = "Leave out the nvidia.com/gfd.timestamp label (config file: "
                        "flags.gfd.noTimestamp).",
        },
        {
                OPT("sleep-interval", DURATION, gfd.sleep_interval_ns),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("GFD_SLEEP_INTERVAL"),
                .def = "60s",
                .arg = "DURATION",
                .help = "Time between two labelling passes, a duration such as 60s, or infinite "
                        "(label once, then wait for a signal) (config file: flags.gfd.sleepInterval).",
        },
        {
                OPT("output-file", STRING, gfd.output_file),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .aliases = STRS("output", "o"),
                .env = STRS("GFD_OUTPUT_FILE"),
                .def = "/etc/kubernetes/node-feature-discovery/features.d/gfd",
                .arg = "PATH",
                .help = "The node-feature-discovery feature file the labels are written to; empty "
                        "writes them to standard output (config file: flags.gfd.outputFile).",
        },
        {
                OPT("machine-type-file", STRING, gfd.machine_type_file),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("GFD_MACHINE_TYPE_FILE"),
                .def = "/sys/class/dmi/id/product_name",
                .arg = "PATH",
                .help = "File whose content becomes the nvidia.com/gpu.machine label (config file: "
                        "flags.gfd.machineTypeFile).",
        },
        {
                OPT("use-node-feature-api", OPTBOOL, gfd.use_node_feature_api),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("GFD_USE_NODE_FEATURE_API", "USE_NODE_FEATURE_API"),
                .def = "",
                .arg = "BOOL",
                .help = "Publish the labels as the NodeFeature object nvidia-features-for-<node> "
                        "instead of the feature file (unset means true, NVIDIA's default; needs "
                        "--node-name and the Kubernetes API) (config file: "
                        "flags.useNodeFeatureAPI).",
        },
        {
                OPT("kubeconfig", STRING, gfd_kubeconfig),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("KUBECONFIG"),
                .def = "",
                .arg = "PATH",
                .help = "Kubernetes client configuration for the NodeFeature API (empty: in-cluster).",
        },
        {
                OPT("kube-api-qps", STRING, gfd_kube_api_qps),
                .implemented = false,
                .scope = GDP_CMD_GFD,
                .env = STRS("KUBE_API_QPS"),
                .def = "5",
                .arg = "QPS",
                .help = "Queries per second to the Kubernetes API.",
        },
        {
                OPT("kube-api-burst", STRING, gfd_kube_api_burst),
                .implemented = false,
                .scope = GDP_CMD_GFD,
                .env = STRS("KUBE_API_BURST"),
                .def = "10",
                .arg = "N",
                .help = "Burst of queries to the Kubernetes API.",
        },
        {
                OPT("namespace", STRING, gfd_namespace),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("NAMESPACE"),
                .def = "default",
                .arg = "NAME",
                .help = "Namespace of the NodeFeature object.",
        },
        {
                OPT("node-name", STRING, gfd_node_name),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("NODE_NAME"),
                .def = "",
                .arg = "NAME",
                .help = "Node the NodeFeature object labels.",
        },
        {
                OPT("pod-name", STRING, gfd_pod_name),
                .implemented = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("POD_NAME"),
                .def = "",
                .arg = "NAME",
                .help = "This pod's name, for the NodeFeature object's owner references.",
        },
        {
                OPT("strict-config", BOOL, strict_config),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_CHECK | GDP_CMD_GFD,
                .env = STRS("STRICT_CONFIG"),
                .def = "false",
                .help = "Treat unknown and duplicate keys in the config file as errors instead of "
                        "warnings.",
        },
        {
                OPT("cdi-spec-dir", STRING, cdi_spec_dir),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("CDI_SPEC_DIR"),
                .def = "/var/run/cdi",
                .arg = "DIR",
                .help = "Directory the CDI specs are written to when a cdi-* device list strategy is "
                        "selected (ours; NVIDIA's plugin always uses /var/run/cdi).",
        },
        {
                OPT("labels-output-file", STRING, labels_output_file),
                .implemented = true,
                .scope = GDP_CMD_SERVE,
                .env = STRS("LABELS_OUTPUT_FILE"),
                .def = "",
                .arg = "PATH",
                .help = "Also write the node labels of gpu-feature-discovery to this "
                        "node-feature-discovery feature file, after every start, reload and "
                        "health change (ours; one DaemonSet instead of two). Empty: no labels.",
        },
        {
                OPT("metrics-address", STRING, metrics_address),
                .implemented = true,
                .scope = GDP_CMD_SERVE,
                .env = STRS("METRICS_ADDRESS"),
                .def = "",
                .arg = "ADDR",
                .key = "flags.plugin.metricsAddress",
                .help = "Serve /metrics, /healthz, /readyz and /debug/state over HTTP on HOST:PORT "
                        "or unix:PATH (ours). Empty: no endpoint.",
        },
        {
                OPT("max-serve-outage", UINT_LIST, max_serve_outage_s),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .off_n = offsetof(struct gdp_config, n_max_serve_outage_s),
                .max_n = 1,
                .max_value = 86400,
                .allowed = "allowed values are whole seconds from 0 to 86400",
                .env = STRS("MAX_SERVE_OUTAGE"),
                .def = "300",
                .arg = "SECONDS",
                .help = "Exit non-zero (so that the DaemonSet restarts the plugin) when a resource "
                        "has been unable to serve its socket for this many seconds, failures being "
                        "retried with backoff meanwhile (ours; 0: never exit).",
        },
        {
                OPT("log-level", ENUM, log_level),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .env = STRS("LOG_LEVEL"),
                .values = level_names,
                .def = "info",
                .help = "Log verbosity: error, warning, info or debug.",
        },
        {
                OPT("log-format", ENUM, log_format),
                .implemented = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .env = STRS("LOG_FORMAT"),
                .values = format_names,
                .def = "text",
                .help = "Log line format: text (klog style) or json (one object per line).",
        },
        {
                OPT("json", BOOL, json),
                .implemented = true,
                .scope = GDP_CMD_LIST,
                .def = "false",
                .help = "Print the devices as JSON instead of a table.",
        },
        {
                OPT("topology", BOOL, topology),
                .implemented = true,
                .scope = GDP_CMD_LIST,
                .def = "false",
                .help = "Also print the GPU topology matrix, as nvidia-smi topo -m does.",
        },
        {
                OPT("health-recover-xids", UINT_LIST, health_recover_xids),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .off_n = offsetof(struct gdp_config, n_health_recover_xids),
                .max_n = GDP_HEALTH_RECOVER_XIDS_MAX,
                .max_value = 1023,
                .allowed = "at most 64 XIDs, each from 0 to 1023",
                .env = STRS("GDP_HEALTH_RECOVER_XIDS"),
                .def = "",
                .arg = "XIDS",
                .key = "flags.healthRecoverXIDs",
                .help = "XIDs after which a device becomes healthy again once the quiet period "
                        "passes, besides the transient ones of docs/health.md; any other fatal XID "
                        "keeps it unhealthy until its GPU is seen reset (ours).",
        },
        {
                OPT("driver-capabilities", STRV, driver_capabilities),
                .implemented = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("NVIDIA_DRIVER_CAPABILITIES"),
                .def = "",
                .arg = "LIST",
                .help = "Driver capabilities the CDI gpu spec provides (NVIDIA's image sets "
                        "compute,utility); graphics, display or all add the graphics files "
                        "(ours).",
        },
        /* environment only: knobs NVIDIA reads from the environment, and ours */
        {
                OPT("dp-disable-healthchecks", STRING, dp_disable_healthchecks),
                .implemented = true,
                .env_only = true,
                .scope = GDP_CMD_SERVE,
                .env = STRS("DP_DISABLE_HEALTHCHECKS"),
                .def = "",
                .help = "Comma-separated XIDs to ignore besides NVIDIA's default list, or 'all' "
                        "(or 'xids') to turn health checks off (docs/health.md).",
        },
        {
                OPT("dp-enable-healthchecks", STRING, dp_enable_healthchecks),
                .implemented = true,
                .env_only = true,
                .scope = GDP_CMD_SERVE,
                .env = STRS("DP_ENABLE_HEALTHCHECKS"),
                .def = "",
                .help = "Comma-separated XIDs that mark devices even when ignored, or 'all' (or "
                        "'xids') for every XID.",
        },
        {
                OPT("health-recovery", BOOL, health_recovery),
                .implemented = true,
                .env_only = true,
                .onoff = true,
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_HEALTH_RECOVERY"),
                .def = "on",
                .help = "on or off (also true/false, yes/no, 1/0): whether an unhealthy device "
                        "can become healthy again (ours).",
        },
        {
                OPT("health-quiet-period", DURATION, health_quiet_period_ns),
                .implemented = true,
                .env_only = true,
                .bare_seconds = true,
                .min_ns = 100 * NS_PER_MS,
                .max_ns = 168 * NS_PER_HOUR,
                .allowed = "expected a duration from 100ms to 168h such as 30s, 5m or 1m30s (a "
                           "bare number is seconds)",
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_HEALTH_QUIET_PERIOD"),
                .def = "5m",
                .help = "How long without fatal XIDs before a device recovers: 100ms to 168h "
                        "(ours).",
        },
        {
                OPT("health-probe-interval", DURATION, health_probe_interval_ns),
                .implemented = true,
                .env_only = true,
                .bare_seconds = true,
                .zero_off = true,
                .min_ns = 100 * NS_PER_MS,
                .max_ns = NS_PER_HOUR,
                .allowed = "expected 0 (off) or a duration from 100ms to 1h such as 5s or 500ms "
                           "(a bare number is seconds)",
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_HEALTH_PROBE_INTERVAL"),
                .def = "5s",
                .help = "How often every GPU is probed for being lost: 0 (off) or 100ms to 1h "
                        "(ours).",
        },
        {
                OPT("dev-root-ctr", STRING, dev_root_ctr_override),
                .implemented = true,
                .env_only = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("GDP_DEV_ROOT_CTR"),
                .def = "",
                .help = "Where this container sees the host's /dev; empty: the container driver "
                        "root if it has a dev/, else / (ours).",
        },
        {
                OPT("mps-root-ctr", STRING, mps_root_ctr_override),
                .implemented = true,
                .env_only = true,
                .scope = SERVE_AND_LIST,
                .env = STRS("GDP_MPS_ROOT_CTR"),
                .def = "",
                .help = "Where this container sees --mps-root; empty: /mps if it is a directory, "
                        "else --mps-root (ours).",
        },
        {
                OPT("sysfs-root", STRING, sysfs_root),
                .implemented = true,
                .env_only = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .env = STRS("GDP_SYSFS_ROOT"),
                .def = "",
                .help = "Directory sysfs is read under instead of / (tests and development).",
        },
        {
                OPT("proc-root", STRING, proc_root),
                .implemented = true,
                .env_only = true,
                .scope = SERVE_AND_LIST | GDP_CMD_GFD,
                .env = STRS("GDP_PROC_ROOT"),
                .def = "",
                .help = "Directory procfs is read under instead of / (tests and development).",
        },
        {
                OPT("watchdog-interval-ms", UINT, watchdog_interval_ms),
                .implemented = true,
                .env_only = true,
                .min_value = 10,
                .max_value = DAY_MS,
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_WATCHDOG_INTERVAL_MS"),
                .def = "30000",
                .help = "Milliseconds between the registration watchdog's PodResources checks "
                        "(docs/metrics.md) (ours).",
        },
        {
                OPT("watchdog-grace-ms", UINT, watchdog_grace_ms),
                .implemented = true,
                .env_only = true,
                .min_value = 10,
                .max_value = DAY_MS,
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_WATCHDOG_GRACE_MS"),
                .def = "60000",
                .help = "Milliseconds a drift between the kubelet's devices and ours may last "
                        "before the resource registers again (ours).",
        },
        {
                OPT("mps-retry-interval-ms", UINT, mps_retry_interval_ms),
                .implemented = true,
                .env_only = true,
                .min_value = 1,
                .max_value = DAY_MS,
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_MPS_RETRY_INTERVAL_MS"),
                .def = "30000",
                .help = "mps-control-daemon: milliseconds before a daemon that failed to start "
                        "is tried again (docs/mps.md) (ours).",
        },
        {
                OPT("mps-command-timeout-ms", UINT, mps_command_timeout_ms),
                .implemented = true,
                .env_only = true,
                .min_value = 1,
                .max_value = DAY_MS,
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_MPS_COMMAND_TIMEOUT_MS"),
                .def = "60000",
                .help = "mps-control-daemon: milliseconds one nvidia-cuda-mps-control command may "
                        "take (ours).",
        },
        {
                OPT("serviceaccount-dir", STRING, gfd_serviceaccount_dir),
                .implemented = true,
                .env_only = true,
                .scope = GDP_CMD_GFD,
                .env = STRS("GDP_SERVICEACCOUNT_DIR"),
                .def = "",
                .help = "The service-account directory the NodeFeature output reads its token "
                        "and CA from; empty: the in-cluster one (tests) (ours).",
        },
        {
                OPT("rediscovery-interval", DURATION, rediscovery_interval_ns),
                .implemented = true,
                .env_only = true,
                .scope = GDP_CMD_SERVE,
                .env = STRS("GDP_REDISCOVERY_INTERVAL"),
                .def = "60s",
                .help = "How often a device the discovery could not read (an NVML error, a GPU "
                        "not answering) is looked for again; once it reads, a reload serves it. "
                        "0 or infinite: never (ours).",
        },
};

const size_t gdp_n_opts = ELEMENTSOF(gdp_opts);

_Static_assert(ELEMENTSOF(gdp_opts) <= 64, "set_mask has one bit per option");

static void *
field_of(struct gdp_config *c, size_t off)
{
    return (char *)c + off;
}

static const void *
cfield_of(const struct gdp_config *c, size_t off)
{
    return (const char *)c + off;
}

static int
index_of(const char *const *values, const char *s, size_t *ret)
{
    for (size_t i = 0; values[i] != NULL; i++) {
        if (streq(values[i], s)) {
            *ret = i;
            return 0;
        }
    }
    return -1;
}

static size_t
count_of(const char *const *values)
{
    size_t n = 0;
    while (values[n] != NULL) {
        n++;
    }
    return n;
}

static void
join_values(const char *const *values, char *buf, size_t size)
{
    size_t len = strlen(buf);
    for (size_t i = 0; values[i] != NULL && len < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i > 0 ? ", " : "", values[i]);
        if (n < 0) {
            return;
        }
        len += (size_t)n;
    }
}

void
gdp_opt_describe_allowed(const struct gdp_opt *o, char *buf, size_t size)
{
    assert(size > 0);
    buf[0] = '\0';
    switch (o->type) {
    case GDP_OPT_BOOL:
    case GDP_OPT_OPTBOOL:
        (void)gdp_strlcpy(buf, "allowed values are ", size);
        join_values(o->onoff ? onoff_names : gdp_bool_names, buf, size);
        break;
    case GDP_OPT_DURATION:
        (void)gdp_strlcpy(buf,
                          o->allowed != NULL
                                  ? o->allowed
                                  : "expected a duration such as 60s or 1m30s, or infinite",
                          size);
        break;
    case GDP_OPT_UINT:
        (void)snprintf(buf, size, "allowed values are %u to %u", o->min_value, o->max_value);
        break;
    case GDP_OPT_ENUM:
    case GDP_OPT_SET:
        (void)gdp_strlcpy(buf, "allowed values are ", size);
        join_values(o->values, buf, size);
        break;
    case GDP_OPT_UINT_LIST:
        (void)gdp_strlcpy(buf, o->allowed != NULL ? o->allowed : "expected unsigned integers",
                          size);
        break;
    case GDP_OPT_STRING:
    case GDP_OPT_STRV:
        break;
    }
}

static int
bad_value(const struct gdp_opt *o, const char *value, const char *origin, struct gdp_diag *diag)
{
    char allowed[256];
    gdp_opt_describe_allowed(o, allowed, sizeof allowed);
    if (origin == NULL) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "invalid value \"%.128s\": %s", value, allowed);
    }
    if (o->type == GDP_OPT_SET) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "invalid value \"%.128s\" for %s: %s (comma-separated, at least one)",
                            value, origin, allowed);
    }
    return gdp_diag_set(diag, GDP_E_CONFIG, "invalid value \"%.128s\" for %s: %s", value, origin,
                        allowed);
}

/* A BOOL option's value: Go's spellings, and with .onoff also on/off and yes/no in any case. */
static int
parse_opt_bool(const struct gdp_opt *o, const char *s, bool *ret)
{
    if (!o->onoff) {
        return gdp_parse_bool(s, ret);
    }
    for (size_t i = 0; onoff_names[i] != NULL; i++) {
        if (strcasecmp(s, onoff_names[i]) == 0) {
            *ret = i % 2 == 0; /* onoff_names alternates too */
            return 0;
        }
    }
    return -1;
}

/* A DURATION option's value, within the option's range when it has one. */
static int
parse_opt_duration(const struct gdp_opt *o, const char *value, int64_t *ret)
{
    char with_unit[32];
    if (o->bare_seconds && value[0] != '\0' && strspn(value, "0123456789") == strlen(value) &&
        strlen(value) < sizeof with_unit - 1) {
        (void)snprintf(with_unit, sizeof with_unit, "%ss", value);
        value = with_unit;
    }
    int64_t ns = 0;
    if (gdp_duration_parse(value, &ns) < 0) {
        return -1;
    }
    bool in_range =
            o->max_ns <= 0 || (ns >= o->min_ns && ns <= o->max_ns) || (o->zero_off && ns == 0);
    if (!in_range) {
        return -1;
    }
    *ret = ns;
    return 0;
}

static int
parse_opt_uint(const struct gdp_opt *o, const char *value, unsigned *ret)
{
    long v = 0;
    if (gdp_parse_long(value, (long)o->min_value, (long)o->max_value, &v) < 0) {
        return -1;
    }
    *ret = (unsigned)v;
    return 0;
}

static void
list_clear(struct gdp_config *c, const struct gdp_opt *o)
{
    if (o->type == GDP_OPT_SET) {
        *(unsigned *)field_of(c, o->off) = 0;
    } else if (o->type == GDP_OPT_STRV) {
        gdp_strv_clear(field_of(c, o->off));
    } else {
        *(size_t *)field_of(c, o->off_n) = 0;
    }
}

/* One trimmed item of a comma list; whole is the full value, named in UINT_LIST errors. */
static int
list_add(struct gdp_config *c, const struct gdp_opt *o, const char *item, const char *whole,
         const char *origin, struct gdp_diag *diag)
{
    size_t idx;
    long v;
    switch (o->type) {
    case GDP_OPT_SET:
        if (index_of(o->values, item, &idx) < 0) {
            return bad_value(o, item, origin, diag);
        }
        *(unsigned *)field_of(c, o->off) |= 1u << idx;
        return 0;
    case GDP_OPT_STRV:
        if (item[0] != '\0') {
            gdp_strv_push(field_of(c, o->off), item);
        }
        return 0;
    default:
        break;
    }
    if (item[0] == '\0') {
        return 0;
    }
    size_t *n = field_of(c, o->off_n);
    if (gdp_parse_long(item, 0, (long)o->max_value, &v) < 0 || *n >= o->max_n) {
        return bad_value(o, whole, origin, diag);
    }
    ((unsigned *)field_of(c, o->off))[(*n)++] = (unsigned)v;
    return 0;
}

static int
set_list(struct gdp_config *c, const struct gdp_opt *o, const char *value, bool append,
         const char *origin, struct gdp_diag *diag)
{
    if (!append) {
        list_clear(c, o);
    }
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        _cleanup_free_ char *item = gdp_strndup(p, len);
        int r = list_add(c, o, item, value, origin, diag);
        if (r < 0 || comma == NULL) {
            return r;
        }
        p = comma + 1;
    }
}

/* The types whose field is not a bool, a string or a list: durations and optional bools. */
static int
set_gfd_value(struct gdp_config *c, const struct gdp_opt *o, const char *value, const char *origin,
              struct gdp_diag *diag)
{
    bool b;
    if (o->type == GDP_OPT_DURATION) {
        return parse_opt_duration(o, value, field_of(c, o->off)) < 0
                       ? bad_value(o, value, origin, diag)
                       : 0;
    }
    if (value[0] == '\0') {
        *(int *)field_of(c, o->off) = -1;
        return 0;
    }
    if (gdp_parse_bool(value, &b) < 0) {
        return bad_value(o, value, origin, diag);
    }
    *(int *)field_of(c, o->off) = b ? 1 : 0;
    return 0;
}

int
gdp_opt_set(struct gdp_config *c, const struct gdp_opt *o, const char *value, bool append,
            const char *origin, struct gdp_diag *diag)
{
    size_t idx;
    switch (o->type) {
    case GDP_OPT_BOOL:
        if (parse_opt_bool(o, value, field_of(c, o->off)) < 0) {
            return bad_value(o, value, origin, diag);
        }
        return 0;
    case GDP_OPT_UINT:
        if (parse_opt_uint(o, value, field_of(c, o->off)) < 0) {
            return bad_value(o, value, origin, diag);
        }
        return 0;
    case GDP_OPT_STRING: {
        char **s = field_of(c, o->off);
        free(*s);
        *s = gdp_strdup(value);
        return 0;
    }
    case GDP_OPT_ENUM: {
        if (index_of(o->values, value, &idx) < 0) {
            return bad_value(o, value, origin, diag);
        }
        unsigned u = (unsigned)idx;
        memcpy(field_of(c, o->off), &u, sizeof u);
        return 0;
    }
    case GDP_OPT_SET:
    case GDP_OPT_STRV:
    case GDP_OPT_UINT_LIST:
        return set_list(c, o, value, append, origin, diag);
    case GDP_OPT_DURATION:
    case GDP_OPT_OPTBOOL:
        return set_gfd_value(c, o, value, origin, diag);
    }
    return 0;
}

void
gdp_config_init(struct gdp_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < gdp_n_opts; i++) {
        int r = gdp_opt_set(c, &gdp_opts[i], gdp_opts[i].def, false, "default", NULL);
        assert(r == 0); /* the table's defaults are valid */
        (void)r;
    }
    gdp_file_defaults(c);
}

void
gdp_config_done(struct gdp_config *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < gdp_n_opts; i++) {
        const struct gdp_opt *o = &gdp_opts[i];
        if (o->type == GDP_OPT_STRING) {
            char **s = field_of(c, o->off);
            free(*s);
            *s = NULL;
        } else if (o->type == GDP_OPT_STRV) {
            gdp_strv_clear(field_of(c, o->off));
        }
    }
    gdp_file_done(c);
}

/*
 * Re-checks one stored value. The setters already reject bad input; this catches values that
 * reach the struct another way (a future config-file loader, a caller filling fields).
 */
static int
check_opt(const struct gdp_config *c, const struct gdp_opt *o, struct gdp_diag *diag)
{
    unsigned u;
    switch (o->type) {
    case GDP_OPT_ENUM:
        memcpy(&u, cfield_of(c, o->off), sizeof u);
        if (u >= count_of(o->values)) {
            return gdp_diag_set(diag, GDP_E_CONFIG, "invalid --%s: value %u out of range", o->name,
                                u);
        }
        return 0;
    case GDP_OPT_SET:
        memcpy(&u, cfield_of(c, o->off), sizeof u);
        if (u == 0 || u >= 1u << count_of(o->values)) {
            char allowed[256];
            gdp_opt_describe_allowed(o, allowed, sizeof allowed);
            return gdp_diag_set(diag, GDP_E_CONFIG, "invalid --%s: empty or unknown entries; %s",
                                o->name, allowed);
        }
        return 0;
    case GDP_OPT_UINT_LIST: {
        size_t n = *(const size_t *)cfield_of(c, o->off_n);
        const unsigned *v = cfield_of(c, o->off);
        bool ok = n <= o->max_n;
        for (size_t i = 0; ok && i < n; i++) {
            ok = v[i] <= o->max_value;
        }
        if (!ok) {
            return gdp_diag_set(diag, GDP_E_CONFIG, "invalid --%s: %s", o->name, o->allowed);
        }
        return 0;
    }
    default:
        return 0;
    }
}

/* NVIDIA's validateFlags rules on MPS, which need the config file's sharing section. */
static int
check_mps(const struct gdp_config *c, struct gdp_diag *diag)
{
    /* gpu-feature-discovery only labels MPS sharing; NVIDIA's GFD does not run these checks */
    if (c->sharing.strategy != GDP_SHARING_MPS || c->cmd == GDP_CMD_GFD) {
        return 0;
    }
    const char *where = c->sharing.mps.where != NULL ? c->sharing.mps.where : "sharing.mps";
    if (c->mig_strategy == GDP_MIG_MIXED) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "%s: sharing.mps: using --mig-strategy=mixed is not supported with MPS",
                            where);
    }
    if (c->mps_root == NULL || c->mps_root[0] == '\0') {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "%s: sharing.mps: using MPS requires --mps-root to be specified",
                            where);
    }
    return 0;
}

int
gdp_config_finish(struct gdp_config *c, struct gdp_diag *diag)
{
    if (c->config_file != NULL && c->config_file[0] != '\0') {
        int r = gdp_config_load_file(c, c->config_file, diag);
        if (r < 0) {
            return r;
        }
    }
    for (size_t i = 0; i < gdp_n_opts; i++) {
        int r = check_opt(c, &gdp_opts[i], diag);
        if (r < 0) {
            return r;
        }
    }
    /* "CDI needs NVML" needs discovery: checked there. */
    int r = check_mps(c, diag);
    if (r < 0) {
        return r;
    }
    if (c->dev_root == NULL || c->dev_root[0] == '\0') {
        free(c->dev_root);
        c->dev_root = gdp_strdup(c->driver_root != NULL ? c->driver_root : "/");
    }
    return 0;
}

void
gdp_config_log_unimplemented(const struct gdp_config *c)
{
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if ((c->set_mask & gdp_opt_bit(i)) == 0 || gdp_opts[i].implemented) {
            continue;
        }
        log_info("flag --%s is accepted but not implemented yet, ignoring", gdp_opts[i].name);
    }
}

bool
gdp_config_is_set(const struct gdp_config *c, const char *flag)
{
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if (streq(gdp_opts[i].name, flag)) {
            return (c->set_mask & gdp_opt_bit(i)) != 0;
        }
    }
    return false;
}

const char *
gdp_mig_strategy_name(enum gdp_mig_strategy s)
{
    return (size_t)s < ELEMENTSOF(mig_names) - 1 ? mig_names[s] : "unknown";
}

const char *
gdp_id_strategy_name(enum gdp_id_strategy s)
{
    return (size_t)s < ELEMENTSOF(id_names) - 1 ? id_names[s] : "unknown";
}

const char *
gdp_sharing_strategy_name(enum gdp_sharing_strategy s)
{
    static const char *const names[] = {"none", "time-slicing", "mps"};
    return (size_t)s < ELEMENTSOF(names) ? names[s] : "unknown";
}
