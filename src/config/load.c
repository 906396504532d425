/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration pipeline in one call, for start-up and for reloads. */
#include <errno.h>

#include "config/config.h"
#include "core/diag.h"

int
gdp_config_load(struct gdp_config *c, const struct gdp_config_source *src, struct gdp_diag *diag)
{
    gdp_config_init(c);
    int n = gdp_config_parse_args(c, src->cmd, src->argc, src->argv, src->envp, diag);
    if (n < 0 || c->help) {
        return n < 0 ? n : 0;
    }
    if (n < src->argc) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "unexpected argument \"%s\"", src->argv[n]);
    }
    return gdp_config_finish(c, diag);
}
