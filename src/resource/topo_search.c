/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Best-connected GPU sets. A greedy pick improved by one-for-one swaps seeds a branch and
 * bound over bitmasks: GPUs are taken in NVML order, each node bounds what the remaining picks
 * can add (each candidate's score to the set so far plus half its best pair score to every
 * other pick), and subtrees that cannot reach the best score are cut, so ties survive. Up to
 * GDP_TOPO_EXACT_MAX GPUs the search is complete and ties are broken by the best partition of
 * the GPUs left over (memoized over bitmasks), as go-gpuallocator prefers; above, the search
 * stops after NODE_BUDGET nodes and keeps the best set seen (never worse than the seed).
 */
#include "resource/topo_search.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define NODE_BUDGET 200000u /* branch-and-bound nodes above GDP_TOPO_EXACT_MAX GPUs */
#define SWAP_ROUNDS 64u     /* local-search rounds of the seed */
#define TIE_STATES  1024u   /* partitions of left-over GPUs the tie-break may solve */
#define MEMO_SLOTS  4096u   /* hash slots for them: more than twice TIE_STATES */

struct search {
    const struct gdp_topo_problem *p;
    uint8_t cand[GDP_TOPO_SEARCH_MAX]; /* GPUs not in must, NVML order */
    size_t n_cand;
    uint64_t rowmax[GDP_TOPO_SEARCH_MAX]; /* best score from a GPU to any candidate */
    uint64_t gain[GDP_TOPO_SEARCH_MAX];   /* score from a GPU to the current set */
    uint64_t best;
    bool have_best;
    uint64_t *ties;
    size_t n_ties, cap_ties;
    bool keep_ties;
    uint64_t nodes, budget;
};

static inline uint32_t
w(const struct gdp_topo_problem *p, size_t a, size_t b)
{
    return p->w[a * p->n + b];
}

static inline size_t
lowest(uint64_t m)
{
    return (size_t)__builtin_ctzll(m);
}

uint64_t
gdp_topo_set_score(const struct gdp_topo_problem *p, uint64_t mask)
{
    uint64_t s = 0;
    for (uint64_t a = mask; a != 0; a &= a - 1) {
        size_t i = lowest(a);
        for (uint64_t b = a & (a - 1); b != 0; b &= b - 1) {
            s += w(p, i, lowest(b));
        }
    }
    return s;
}

/* Score of x to every GPU of mask. */
static uint64_t
score_to(const struct gdp_topo_problem *p, size_t x, uint64_t mask)
{
    uint64_t s = 0;
    for (; mask != 0; mask &= mask - 1) {
        s += w(p, x, lowest(mask));
    }
    return s;
}

/* ---- seed: greedy, then one-for-one swaps while they raise the score ---- */

static uint64_t
greedy(const struct gdp_topo_problem *p, uint64_t set)
{
    while ((size_t)__builtin_popcountll(set) < p->size) {
        size_t pick = SIZE_MAX;
        uint64_t pick_gain = 0;
        for (size_t v = 0; v < p->n; v++) {
            uint64_t g = score_to(p, v, set);
            if ((set >> v & 1u) == 0 && (pick == SIZE_MAX || g > pick_gain)) {
                pick = v;
                pick_gain = g;
            }
        }
        if (pick == SIZE_MAX) {
            break; /* fewer GPUs than size: the caller never asks for that */
        }
        set |= 1ull << pick;
    }
    return set;
}

/* One improving swap (the best one); false when none improves. */
static bool
improve(const struct gdp_topo_problem *p, uint64_t *set)
{
    int64_t best_delta = 0;
    size_t out = 0, in = 0;
    uint64_t all = p->n == 64 ? ~0ull : (1ull << p->n) - 1;
    for (uint64_t a = *set & ~p->must; a != 0; a &= a - 1) {
        size_t u = lowest(a);
        uint64_t rest = *set & ~(1ull << u);
        int64_t lose = (int64_t)score_to(p, u, rest);
        for (uint64_t b = all & ~*set; b != 0; b &= b - 1) {
            size_t v = lowest(b);
            int64_t delta = (int64_t)score_to(p, v, rest) - lose;
            if (delta > best_delta) {
                best_delta = delta;
                out = u;
                in = v;
            }
        }
    }
    if (best_delta > 0) {
        *set = (*set & ~(1ull << out)) | 1ull << in;
    }
    return best_delta > 0;
}

static uint64_t
local_optimum(const struct gdp_topo_problem *p, uint64_t start)
{
    uint64_t set = greedy(p, start);
    for (unsigned r = 0; r < SWAP_ROUNDS && improve(p, &set); r++) {
    }
    return set;
}

/* From the must GPUs alone, and with many GPUs also from each other GPU as the first pick. */
static uint64_t
seed(const struct gdp_topo_problem *p)
{
    uint64_t best_set = local_optimum(p, p->must);
    uint64_t best = gdp_topo_set_score(p, best_set);
    bool more = p->n > GDP_TOPO_EXACT_MAX && (size_t)__builtin_popcountll(p->must) < p->size;
    for (size_t v = 0; more && v < p->n; v++) {
        if ((p->must >> v & 1u) == 0) {
            uint64_t set = local_optimum(p, p->must | 1ull << v);
            uint64_t sc = gdp_topo_set_score(p, set);
            if (sc > best) {
                best_set = set;
                best = sc;
            }
        }
    }
    return best_set;
}

/* ---- branch and bound ---- */

static void
record(struct search *s, uint64_t score, uint64_t set)
{
    if (!s->have_best || score > s->best) {
        s->best = score;
        s->have_best = true;
        s->n_ties = 0;
    } else if (score < s->best || (!s->keep_ties && s->n_ties > 0)) {
        return;
    }
    if (s->n_ties == s->cap_ties) {
        s->cap_ties = s->cap_ties == 0 ? 64 : s->cap_ties * 2;
        s->ties = gdp_reallocarray(s->ties, s->cap_ties, sizeof *s->ties);
    }
    s->ties[s->n_ties++] = set;
}

/* Twice the most the r remaining picks from cand[idx..] can add. */
static uint64_t
bound2(const struct search *s, size_t idx, size_t r)
{
    uint64_t top[GDP_TOPO_SEARCH_MAX];
    size_t n_top = 0;
    for (size_t j = idx; j < s->n_cand; j++) {
        size_t v = s->cand[j];
        uint64_t key = 2 * s->gain[v] + (r - 1) * s->rowmax[v];
        size_t k;
        if (n_top < r) {
            k = n_top++;
        } else if (key > top[r - 1]) {
            k = r - 1;
        } else {
            continue;
        }
        while (k > 0 && top[k - 1] < key) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = key;
    }
    uint64_t sum = 0;
    for (size_t j = 0; j < n_top; j++) {
        sum += top[j];
    }
    return sum;
}

static void
add_gains(struct search *s, size_t v, bool add)
{
    for (size_t j = 0; j < s->n_cand; j++) {
        size_t u = s->cand[j];
        s->gain[u] = add ? s->gain[u] + w(s->p, v, u) : s->gain[u] - w(s->p, v, u);
    }
}

static void
branch(struct search *s, size_t idx, size_t r, uint64_t score, uint64_t set)
{
    if (s->nodes++ >= s->budget) {
        return;
    }
    if (r == 0) {
        record(s, score, set);
        return;
    }
    if (s->n_cand - idx < r || (s->have_best && 2 * score + bound2(s, idx, r) < 2 * s->best)) {
        return;
    }
    size_t v = s->cand[idx];
    uint64_t g = s->gain[v];
    add_gains(s, v, true);
    branch(s, idx + 1, r - 1, score + g, set | 1ull << v);
    add_gains(s, v, false);
    branch(s, idx + 1, r, score, set);
}

static void
search_init(struct search *s, const struct gdp_topo_problem *p)
{
    *s = (struct search){.p = p, .keep_ties = p->n <= GDP_TOPO_EXACT_MAX};
    for (size_t v = 0; v < p->n; v++) {
        if ((p->must >> v & 1u) == 0) {
            s->cand[s->n_cand++] = (uint8_t)v;
        }
        s->gain[v] = score_to(p, v, p->must);
    }
    for (size_t v = 0; v < p->n; v++) {
        for (size_t j = 0; j < s->n_cand; j++) {
            if (s->cand[j] != v && w(p, v, s->cand[j]) > s->rowmax[v]) {
                s->rowmax[v] = w(p, v, s->cand[j]);
            }
        }
    }
    s->budget = p->n <= GDP_TOPO_EXACT_MAX ? UINT64_MAX : NODE_BUDGET;
}

/* ---- tie-break: the best partition of the GPUs left over ---- */

struct memo_slot {
    uint32_t mask; /* 0: empty (the empty mask is never stored) */
    uint32_t value;
};

struct parts {
    const struct gdp_topo_problem *p;
    struct memo_slot *memo; /* MEMO_SLOTS, open addressing on the mask */
    uint64_t block;         /* the best score of any `size` GPUs: bounds each full set */
    uint64_t wmax;          /* the best pair score: bounds the smaller set */
    uint64_t states;
    bool out_of_budget; /* more than TIE_STATES: values from now on are not exact */
};

static struct memo_slot *
memo_slot(struct parts *d, uint64_t mask)
{
    size_t i = (size_t)((mask * 0x9E3779B97F4A7C15ull) >> 52) & (MEMO_SLOTS - 1);
    while (d->memo[i].mask != 0 && d->memo[i].mask != (uint32_t)mask) {
        i = (i + 1) & (MEMO_SLOTS - 1);
    }
    return &d->memo[i];
}

/* An upper bound of the best partition of n_left GPUs. */
static uint64_t
part_bound(const struct parts *d, size_t n_left)
{
    size_t k = d->p->size, rem = n_left % k;
    return (n_left / k) * d->block + rem * (rem - 1) / 2 * d->wmax;
}

static uint64_t part(struct parts *d, uint64_t mask);

/* A choice of the set holding a state's lowest GPU, and the best found so far. */
struct choice {
    uint64_t mask;
    uint64_t best;
    uint64_t target; /* part_bound(mask): nothing can beat it, so reaching it ends the search */
};

/* Completes a set of the lowest GPU with `need` more from `from` (set score so far bs). */
static void
blocks(struct parts *d, struct choice *c, uint64_t set, uint64_t bs, uint64_t from, size_t need)
{
    if (need == 0) {
        uint64_t rest = c->mask & ~set;
        if (bs + part_bound(d, (size_t)__builtin_popcountll(rest)) > c->best) {
            uint64_t v = bs + part(d, rest);
            c->best = v > c->best ? v : c->best;
        }
        return;
    }
    for (uint64_t f = from;
         (size_t)__builtin_popcountll(f) >= need && c->best < c->target && !d->out_of_budget;
         f &= f - 1) {
        size_t x = lowest(f);
        blocks(d, c, set | 1ull << x, bs + score_to(d->p, x, set), f & (f - 1), need - 1);
    }
}

/* The best partition of mask into sets of `size` and one smaller set (memoized). */
static uint64_t
part(struct parts *d, uint64_t mask)
{
    size_t n = (size_t)__builtin_popcountll(mask), k = d->p->size, rem = n % k;
    if (n <= k) {
        return gdp_topo_set_score(d->p, mask);
    }
    struct memo_slot *slot = memo_slot(d, mask);
    if (slot->mask != 0) {
        return slot->value;
    }
    if (++d->states > TIE_STATES) {
        d->out_of_budget = true;
        return 0;
    }
    uint64_t v = 1ull << lowest(mask);
    struct choice c = {.mask = mask, .target = part_bound(d, n)};
    blocks(d, &c, v, 0, mask & ~v, k - 1);
    if (rem > 0) { /* the lowest GPU in the one smaller set */
        blocks(d, &c, v, 0, mask & ~v, rem - 1);
    }
    if (!d->out_of_budget) {
        slot = memo_slot(d, mask); /* the table changed during the search */
        *slot = (struct memo_slot){.mask = (uint32_t)mask, .value = (uint32_t)c.best};
    }
    return c.best;
}

/* The best score of any `size` GPUs, must or not (the bound of one set of a partition). */
static uint64_t
best_block(const struct search *s)
{
    if (s->p->must == 0) {
        return s->best;
    }
    struct gdp_topo_problem q = *s->p;
    q.must = 0;
    struct search t;
    search_init(&t, &q);
    t.keep_ties = false;
    t.best = gdp_topo_set_score(&q, seed(&q));
    t.have_best = true;
    branch(&t, 0, q.size, 0, 0);
    free(t.ties);
    return t.best;
}

static uint64_t
break_ties(const struct search *s, struct gdp_topo_stats *stats)
{
    const struct gdp_topo_problem *p = s->p;
    if (s->n_ties == 1 || p->size >= p->n) {
        return s->ties[0];
    }
    uint64_t all = (1ull << p->n) - 1;
    _cleanup_free_ struct memo_slot *memo = gdp_calloc(MEMO_SLOTS, sizeof *memo);
    struct parts d = {.p = p, .memo = memo, .block = best_block(s)};
    for (size_t i = 0; i < p->n * p->n; i++) {
        d.wmax = p->w[i] > d.wmax ? p->w[i] : d.wmax;
    }
    uint64_t pick = s->ties[0], pick_value = 0;
    uint64_t bound = part_bound(&d, p->n - p->size);
    for (size_t i = 0; i < s->n_ties; i++) {
        if (i > 0 && bound <= pick_value) {
            break; /* none can do better: the first in NVML order stays */
        }
        uint64_t v = part(&d, all & ~s->ties[i]);
        if (d.out_of_budget) {
            break; /* keep what was decided exactly: the earlier ties in NVML order */
        }
        if (i == 0 || v > pick_value) {
            pick = s->ties[i];
            pick_value = v;
        }
    }
    if (stats != NULL) {
        stats->dp_states = d.states;
    }
    return pick;
}

uint64_t
gdp_topo_search(const struct gdp_topo_problem *p, struct gdp_topo_stats *stats)
{
    struct search s;
    search_init(&s, p);
    size_t m = (size_t)__builtin_popcountll(p->must);
    uint64_t start = seed(p);
    /* the seed's score is the bar from the start; sets equal to it are still found */
    s.best = gdp_topo_set_score(p, start);
    s.have_best = true;
    branch(&s, 0, p->size - m, gdp_topo_set_score(p, p->must), p->must);
    uint64_t answer = s.n_ties == 0 ? start : s.keep_ties ? break_ties(&s, stats) : s.ties[0];
    if (stats != NULL) {
        stats->nodes = s.nodes;
        stats->ties = s.n_ties;
        stats->exact = s.nodes < s.budget;
    }
    free(s.ties);
    return answer;
}
