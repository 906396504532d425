/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IMEX channels: which of the configured channel device nodes
 * (/dev/nvidia-caps-imex-channels/channel<N>) exist on this node, checked once at start, as
 * NVIDIA's plugin does. Allocate and CDI generation add the channels found to every
 * container.
 */
#pragma once

#include <stddef.h>

struct gdp_config;
struct gdp_diag;

#define GDP_IMEX_MAX         4
#define GDP_IMEX_CHANNEL_DIR "/dev/nvidia-caps-imex-channels"

struct gdp_imex {
    unsigned ids[GDP_IMEX_MAX]; /* channels present, in configured order */
    size_t n;
    unsigned missing[GDP_IMEX_MAX]; /* configured but absent (skipped; warn about them) */
    size_t n_missing;
};

/*
 * Looks up each channel of cfg->imex_channel_ids as a character device at
 * <dev root>/dev/nvidia-caps-imex-channels/channel<N> (dev root from
 * gdp_paths_dev_root_ctr()) and then at /dev/... Returns 0 and fills *ret (channels found,
 * channels missing), or -ENODEV when a channel is missing and cfg->imex_required is set
 * (diag names the channel and the paths tried).
 */
int gdp_imex_check(const struct gdp_config *cfg, struct gdp_imex *ret, struct gdp_diag *diag);
