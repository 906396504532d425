/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the v1 config-file loader on arbitrary bytes (YAML or JSON), lenient and
 * strict, then the checks of gdp_config_finish(), printing, and the replica resolution the
 * resource layer will run over every loaded replicated resource.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
resolve_all(const struct gdp_replication *rep)
{
    struct gdp_replica_choice ch;
    for (size_t i = 0; i < rep->n_resources; i++) {
        gdp_replicated_resource_resolve(&rep->resources[i], i, "0", "GPU-x", "NVIDIA A100", &ch);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdp_log_level = GDP_LOG_ERR;
    for (int strict = 0; strict <= 1; strict++) {
        struct gdp_config cfg;
        struct gdp_diag diag = {0};
        gdp_config_init(&cfg);
        cfg.strict_config = strict != 0;
        if (gdp_config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, &diag) == 0) {
            resolve_all(gdp_sharing_replication(&cfg.sharing));
            (void)gdp_config_finish(&cfg, &diag);
            json_t *j = gdp_config_to_json(&cfg);
            free(json_dumps(j, JSON_COMPACT));
            json_decref(j);
        }
        gdp_config_done(&cfg);
    }
    return 0;
}
