/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The set search behind topology-aware preferred allocation, on plain data: n GPUs with
 * NVIDIA's pair scores, must-include GPUs and a size. Exact for up to GDP_TOPO_EXACT_MAX GPUs
 * (branch and bound over bitmasks, then the tie-break on the best partition of the GPUs left
 * over, as go-gpuallocator does); above that a seeded, budgeted search (docs/allocation.md).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define GDP_TOPO_EXACT_MAX  16u /* exact search up to this many GPUs */
#define GDP_TOPO_SEARCH_MAX 64u /* GPUs one search handles (bits of a mask) */

struct gdp_topo_problem {
    size_t n;          /* GPUs, in NVML order; at most GDP_TOPO_SEARCH_MAX */
    const uint32_t *w; /* n*n symmetric pair scores, 0 on the diagonal; borrowed */
    uint64_t must;     /* GPUs that must be in the answer */
    size_t size;       /* GPUs wanted: popcount(must) <= size <= n */
};

struct gdp_topo_stats {
    uint64_t nodes;     /* branch-and-bound nodes visited */
    uint64_t ties;      /* sets with the best score */
    uint64_t dp_states; /* partitions of left-over GPUs solved for the tie-break */
    int exact;          /* 1 when the answer is proven optimal */
};

/*
 * Chooses `size` GPUs holding every must GPU with the highest set score (the sum of their
 * pair scores). Among equal scores, up to GDP_TOPO_EXACT_MAX GPUs, the set that leaves the
 * best partition of the other GPUs into sets of `size` (one smaller set for the remainder),
 * then the first in NVML order (the set whose lowest differing GPU comes first). Returns the
 * chosen mask. stats may be NULL.
 */
uint64_t gdp_topo_search(const struct gdp_topo_problem *p, struct gdp_topo_stats *stats);

/* The set score of mask: the sum of w over its pairs. */
uint64_t gdp_topo_set_score(const struct gdp_topo_problem *p, uint64_t mask);
