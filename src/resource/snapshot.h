/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The serving snapshot: everything the kubelet's requests are answered from for one
 * configuration (the configuration itself, NVML, the node and its resources, the IMEX
 * channels present, the CDI specs written, where our container sees the host's /dev). It
 * is built whole at start and on every reload and is then only read, except the devices'
 * health, which the health glue updates in place on the loop thread. Everything that
 * answers the kubelet takes it by borrowed pointer, with the resource it answers for.
 */
#pragma once

#include <stddef.h>

#include "config/config.h"
#include "resource/imex.h"
#include "resource/inventory.h"

struct gdp_diag;
struct gdp_places;

/*
 * Fills buf[0..len) with random bytes (the CDI annotation key's UUID). Returns 0 or a
 * negative errno.
 */
typedef int gdp_random_fn(void *buf, size_t len);

struct gdp_snapshot {
    struct gdp_config cfg;
    struct gdp_inventory inv; /* NVML, the node (NULL without NVML), the resource set */
    struct gdp_imex imex;     /* IMEX channels present */
    unsigned cdi_kinds;       /* CDI specs written (GDP_CDI_* bits): what answers may name */
    char *dev_root_ctr;       /* gdp_paths_dev_root_ctr() of cfg; NULL: computed when needed */
    gdp_random_fn *random;    /* CDI annotation keys; NULL = getrandom(2) (tests set it) */
};

/*
 * Builds the snapshot for cfg (taken over): NVML and the node, then (with expect) the check
 * that the discovery read every place of expect, the resources, the MPS checks, the IMEX
 * channels and last the CDI specs, so that a refused snapshot leaves the served one's specs.
 * Returns 0 and *ret (free with gdp_snapshot_free()); -EAGAIN when the discovery missed a
 * place of expect (diag says which, nothing written); or the failure of a step, as
 * gdp_inventory_load() and the checks return it.
 */
int gdp_snapshot_build(struct gdp_config *cfg, const struct gdp_places *expect,
                       struct gdp_snapshot **ret, struct gdp_diag *diag);

/* An empty snapshot holding cfg (taken over), before anything is discovered. */
struct gdp_snapshot *gdp_snapshot_new(struct gdp_config *cfg);

/* Frees the snapshot. Accepts NULL. */
void gdp_snapshot_free(struct gdp_snapshot *s);
