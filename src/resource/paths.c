/* SPDX-License-Identifier: Apache-2.0 */
#include "resource/paths.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "config/config.h"
#include "core/util.h"

static bool
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *
gdp_paths_dev_root_host(const struct gdp_config *cfg)
{
    return gdp_nonempty(cfg->dev_root) != NULL ? cfg->dev_root : cfg->driver_root;
}

char *
gdp_paths_dev_root_ctr(const struct gdp_config *cfg)
{
    if (gdp_nonempty(cfg->dev_root_ctr_override) != NULL) {
        return gdp_strdup(cfg->dev_root_ctr_override);
    }
    const char *root = cfg->driver_root_ctr_path;
    if (gdp_nonempty(root) != NULL) {
        _cleanup_free_ char *dev = gdp_path_join(root, "/dev");
        if (is_dir(dev)) {
            return gdp_strdup(root);
        }
    }
    return gdp_strdup("/");
}

char *
gdp_paths_mps_root_ctr(const struct gdp_config *cfg)
{
    if (gdp_nonempty(cfg->mps_root_ctr_override) != NULL) {
        return gdp_strdup(cfg->mps_root_ctr_override);
    }
    if (is_dir(GDP_MPS_CONTAINER_ROOT)) {
        return gdp_strdup(GDP_MPS_CONTAINER_ROOT);
    }
    return gdp_nonempty(cfg->mps_root) != NULL ? gdp_strdup(cfg->mps_root) : NULL;
}
