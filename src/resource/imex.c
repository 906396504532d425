/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IMEX channel discovery at start: a configured channel is usable when its device node is a
 * character device, under the container's view of the host /dev or at /dev itself.
 */
#include "resource/imex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "resource/paths.h"

static bool
is_char_device(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

int
gdp_imex_check(const struct gdp_config *cfg, struct gdp_imex *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_imex){0};
    _cleanup_free_ char *root = gdp_paths_dev_root_ctr(cfg);
    for (size_t i = 0; i < cfg->n_imex_channel_ids && i < GDP_IMEX_MAX; i++) {
        unsigned id = cfg->imex_channel_ids[i];
        char path[64];
        (void)snprintf(path, sizeof path, GDP_IMEX_CHANNEL_DIR "/channel%u", id);
        _cleanup_free_ char *under_root = gdp_path_join(root, path);
        if (is_char_device(under_root) || is_char_device(path)) {
            ret->ids[ret->n++] = id;
            continue;
        }
        if (cfg->imex_required) {
            *ret = (struct gdp_imex){0};
            return gdp_diag_set(diag, -ENODEV,
                                "IMEX channel %u is required (--imex-required) but no character "
                                "device was found at %s or %s",
                                id, under_root, path);
        }
        ret->missing[ret->n_missing++] = id;
    }
    return 0;
}
