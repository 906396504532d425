/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The places of a node a discovery read without error: GPU indexes ("3") and MIG slots
 * ("3:1"). A re-discovery of the same node must read them again; one it cannot read means an
 * NVML error (a GPU lost for a moment, a call failing once), not a change of the node. GPUs
 * are not removed while the node runs, so a GPU index no longer enumerated is a miss too; a
 * MIG slot that is simply empty is not (its GPU was repartitioned).
 */
#pragma once

#include <stddef.h>

struct gdp_diag;
struct gdp_node;

struct gdp_places {
    char (*index)[16]; /* index_str of each place */
    size_t n;
};

/* The places node (NULL: no node) read without error. Release with gdp_places_done(). */
void gdp_places_of(const struct gdp_node *node, struct gdp_places *ret);

/*
 * Adds to ret the places node (NULL: none) could not read: problems (no UUID) and devices
 * whose discovery failed. A place already in ret is not added twice.
 */
void gdp_places_failed(const struct gdp_node *node, struct gdp_places *ret);

/* Frees the list. Accepts a zeroed or released list. */
void gdp_places_done(struct gdp_places *p);

/*
 * Counts the places of p that node (NULL: NVML unavailable, nvml_error says why) does not
 * read without error. missed (may be NULL) gets them, once each; diag (may be NULL) explains the
 * first.
 */
size_t gdp_places_missed(const struct gdp_places *p, const struct gdp_node *node,
                         const char *nvml_error, struct gdp_places *missed, struct gdp_diag *diag);
