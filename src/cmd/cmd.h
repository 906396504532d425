/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subcommands. Each takes the parsed configuration and returns the process exit status
 * (0 success, 1 failure, 2 usage error). They are the edge: they log and print.
 */
#pragma once

struct gdp_config;
struct gdp_config_source;

#define GDP_EXIT_OK      0
#define GDP_EXIT_FAILURE 1
#define GDP_EXIT_USAGE   2

int gdp_cmd_list(const struct gdp_config *cfg);

/*
 * `config print [flags]` and `config check [--strict-config] FILE...`: argv starts after
 * "config"; envp is the environment ("K=V", NULL-terminated). Returns the exit status.
 */
int gdp_cmd_config(int argc, char **argv, char **envp);
/* Runs the daemon. Takes over cfg's contents (cfg is left empty); src is parsed again on
 * reloads (SIGHUP, config file changes). */
int gdp_cmd_serve(struct gdp_config *cfg, const struct gdp_config_source *src);
int gdp_cmd_version(void);

/*
 * `gpu-feature-discovery [flags]`: writes the node labels once (--oneshot) or every
 * --sleep-interval until SIGTERM/SIGINT/SIGQUIT; SIGHUP reloads from src. Works on cfg in
 * place (a reload replaces its contents; the caller still releases it). Returns the exit
 * status.
 */
int gdp_cmd_gfd(struct gdp_config *cfg, const struct gdp_config_source *src);

/*
 * `cdi generate [--output FILE] [flags]`: parses its own arguments (argv[0..argc) after "cdi")
 * with environment envp, then writes the CDI specs. Returns the exit status.
 */
int gdp_cmd_cdi(int argc, char **argv, char **envp);

/*
 * `mps-control-daemon [flags]`: parses the serve flags (argv[0..argc) after the subcommand,
 * environment envp; both kept for SIGHUP reloads), then runs one MPS control daemon per
 * MPS-shared resource until SIGTERM/SIGINT/SIGQUIT (docs/mps.md). Returns the exit status.
 */
int gdp_cmd_mps_control_daemon(int argc, char **argv, char **envp);

/*
 * `config-manager [flags]`: NVIDIA's config-manager (docs/kube-api.md): selects the config
 * file named by a node label, links --config-file-dst to it and signals the plugin; once
 * (--oneshot) or following the label. argv[0..argc) are the arguments after the subcommand,
 * envp the environment. Returns the exit status.
 */
int gdp_cmd_config_manager(int argc, char **argv, char **envp);

/*
 * `explain [DEVICE-ID | --pod NAMESPACE/NAME] [--metrics-address ADDR]
 * [--pod-resources-socket PATH]`: argv starts after "explain"; envp supplies METRICS_ADDRESS.
 * Reads a running plugin's /debug/state (and the kubelet's PodResources List for --pod) and
 * prints the explanation. Returns the exit status (1: not found or unreachable).
 */
int gdp_cmd_explain(int argc, char **argv, char **envp);
