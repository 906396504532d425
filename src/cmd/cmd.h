/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subcommands. Each takes the parsed configuration and returns the process exit status
 * (0 success, 1 failure, 2 usage error). They are the edge: they log and print.
 */
#pragma once

struct gdp_config;
struct gdp_diag;
struct gdp_node;
struct gdp_nvml;
struct gdp_resource_set;

#define GDP_EXIT_OK      0
#define GDP_EXIT_FAILURE 1
#define GDP_EXIT_USAGE   2

/* What the node offers under a configuration: NVML, the discovered node and its resources. */
struct gdp_inventory {
    struct gdp_nvml *nv;          /* NULL when NVML could not be loaded or initialised */
    struct gdp_node *node;        /* NULL when NVML is unavailable */
    struct gdp_resource_set *set; /* always set; empty without NVML */
    char nvml_error[512];         /* why NVML is unavailable; empty otherwise */
    char library[256];            /* the NVML library path that was (or would be) loaded */
};

/*
 * Loads NVML, discovers the node and builds its resources under cfg. NVML load/init failures
 * return GDP_E_NVML / GDP_E_NVML_MISSING when cfg->fail_on_init_error is set; otherwise they
 * leave an empty inventory with nvml_error filled and return 0. MIG layouts the strategy
 * cannot serve return GDP_E_MIG. diag explains any failure. Release with
 * gdp_inventory_done() in every case.
 */
int gdp_inventory_load(const struct gdp_config *cfg, struct gdp_inventory *inv,
                       struct gdp_diag *diag);
void gdp_inventory_done(struct gdp_inventory *inv);

/* Logs why gdp_inventory_load() failed (r, diag), with a hint on what to check. */
void gdp_inventory_log_failure(const struct gdp_config *cfg, int r, const struct gdp_diag *diag);

int gdp_cmd_list(const struct gdp_config *cfg);
int gdp_cmd_serve(const struct gdp_config *cfg);
int gdp_cmd_version(void);
