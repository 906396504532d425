/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where things are: the host paths an answer names (device nodes under --dev-root) and where
 * this process, in its container, sees the host's /dev and the MPS root.
 */
#pragma once

struct gdp_config;

/* Where NVIDIA's DaemonSet mounts --mps-root in the plugin's container. */
#define GDP_MPS_CONTAINER_ROOT "/mps"

/* The host root of the /dev/nvidia* nodes: --dev-root, or --driver-root when it is empty. */
const char *gdp_paths_dev_root_host(const struct gdp_config *cfg);

/*
 * Where the host's /dev is visible inside our container: GDP_DEV_ROOT_CTR when set (a test
 * and development hook), else --driver-root-ctr-path when it has a dev/ directory, else "/".
 * Device nodes are looked up as <root>/dev/... Caller frees with free().
 */
char *gdp_paths_dev_root_ctr(const struct gdp_config *cfg);

/*
 * The MPS root as this process sees it: GDP_MPS_ROOT_CTR when set (tests and unusual
 * mounts), else /mps when that directory exists (NVIDIA's DaemonSet mounts --mps-root
 * there), else --mps-root (the plugin runs on the host). Caller frees with free(); NULL when
 * none applies (no --mps-root).
 */
char *gdp_paths_mps_root_ctr(const struct gdp_config *cfg);
