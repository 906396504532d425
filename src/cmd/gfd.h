/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/cmd/: the label writer that `serve --labels-output-file` shares with
 * `gpu-feature-discovery`, so the plugin writes the same labels from the node it already
 * discovered, without a second NVML initialisation.
 */
#pragma once

struct gdp_config;
struct gdp_gfd_writer;
struct gdp_node;

/* Caller frees with gdp_gfd_writer_free() (accepts NULL). */
struct gdp_gfd_writer *gdp_gfd_writer_new(void);
void gdp_gfd_writer_free(struct gdp_gfd_writer *w);

/*
 * Computes the labels of node (borrowed; NULL means no GPUs) under cfg (MIG strategy,
 * sharing, flags.gfd) and writes them atomically to path, without an expiry line. A warning
 * already logged by the previous call of w is not logged again. Returns 0, or a negative code
 * that has been logged.
 */
int gdp_gfd_writer_write(struct gdp_gfd_writer *w, const struct gdp_config *cfg,
                         const struct gdp_node *node, const char *path);

/* GPU feature discovery's NodeFeature output (gfd_api.c). */
struct gdp_diag;
struct gdp_gfd_api;
struct gdp_labels;

/*
 * Connects to the API server (--kubeconfig, else in-cluster from envp) for node --node-name
 * in --namespace, and reads --pod-name's owners when set. Returns 0 and *ret (free with
 * gdp_gfd_api_free()), or a negative code with diag filled.
 */
int gdp_gfd_api_new(const struct gdp_config *cfg, char **envp, struct gdp_gfd_api **ret,
                    struct gdp_diag *diag);
void gdp_gfd_api_free(struct gdp_gfd_api *api);

/*
 * Creates or replaces NodeFeature nvidia-features-for-<node> with labels, unless they are
 * the labels it last stored. Returns 0, or a negative code with diag filled (the next call
 * tries again).
 */
int gdp_gfd_api_publish(struct gdp_gfd_api *api, const struct gdp_labels *labels,
                        struct gdp_diag *diag);
