/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for topology-aware preferred allocation (gpu/topology.c, resource/topo_search.c,
 * resource/preferred.c): on random topologies of up to 12 GPUs, and on the mock's node files
 * read through NVML (argv[1]: a node file; the mock reads one per process), every answer's set
 * score equals an exhaustive reference's best for every size and must-include combination,
 * and answers make no NVML call. On small nodes the tie-break (best partition of the GPUs left
 * over) is checked against a brute-force partition too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/topology.h"
#include "nvml/nvml.h"
#include "resource/preferred.h"
#include "resource/resources.h"
#include "resource/topo_search.h"

#define MAX_GPUS 24

static const char *node_file; /* argv[1], or NULL for the random topologies */

/* ---- the exhaustive reference ---- */

struct ref {
    const struct gdp_topology *t;
    const int *row; /* per local GPU: its topology row */
    size_t n;
    uint64_t best;
    uint64_t best_part; /* best partition value of what is left, among best sets */
    uint64_t pool;      /* available GPUs (local bits) */
    size_t size;
    bool with_parts;
};

static uint64_t
pair(const struct ref *rf, size_t a, size_t b)
{
    return gdp_topology_score(rf->t, rf->row[a], rf->row[b]);
}

static uint64_t
set_score(const struct ref *rf, uint64_t m)
{
    uint64_t s = 0;
    for (size_t a = 0; a < rf->n; a++) {
        for (size_t b = a + 1; b < rf->n; b++) {
            s += (m >> a & 1u) && (m >> b & 1u) ? pair(rf, a, b) : 0;
        }
    }
    return s;
}

/* Brute-force best partition of m into sets of k plus one smaller set (no memo). */
static uint64_t
brute_part(const struct ref *rf, uint64_t m, bool short_used)
{
    if (m == 0) {
        return 0;
    }
    size_t low = (size_t)__builtin_ctzll(m), k = rf->size;
    uint64_t best = 0;
    bool any = false;
    for (uint64_t s = m; s != 0; s = (s - 1) & m) { /* every subset holding the lowest GPU */
        size_t c = (size_t)__builtin_popcountll(s);
        bool full = c == k, shortset = c < k && !short_used;
        if ((s >> low & 1u) == 0 || !(full || shortset)) {
            continue;
        }
        size_t rest = (size_t)__builtin_popcountll(m & ~s);
        if (shortset && rest % k != 0) {
            continue; /* the smaller set holds exactly the remainder */
        }
        uint64_t v = set_score(rf, s) + brute_part(rf, m & ~s, short_used || shortset);
        best = !any || v > best ? v : best;
        any = true;
    }
    return best;
}

/* Every set of rf->size pool GPUs holding must, enumerated with incremental scores. */
static void
ref_rec(struct ref *rf, uint64_t must, size_t idx, uint64_t chosen, size_t count, uint64_t score)
{
    if (count == rf->size) {
        if ((chosen & must) != must) {
            return;
        }
        uint64_t p = rf->with_parts ? brute_part(rf, rf->pool & ~chosen, false) : 0;
        if (score > rf->best || (score == rf->best && p > rf->best_part)) {
            rf->best_part = score > rf->best ? p : (p > rf->best_part ? p : rf->best_part);
            rf->best = score;
        }
        return;
    }
    if (count + (rf->n - idx) < rf->size) {
        return;
    }
    bool in_pool = rf->pool >> idx & 1u, forced = must >> idx & 1u;
    if (in_pool) {
        uint64_t add = 0;
        for (uint64_t c = chosen; c != 0; c &= c - 1) {
            add += pair(rf, (size_t)__builtin_ctzll(c), idx);
        }
        ref_rec(rf, must, idx + 1, chosen | 1ull << idx, count + 1, score + add);
    }
    if (!forced) {
        ref_rec(rf, must, idx + 1, chosen, count, score);
    }
}

static void
ref_search(struct ref *rf, uint64_t must)
{
    rf->best = 0;
    rf->best_part = 0;
    ref_rec(rf, must, 0, 0, 0, 0);
}

/* ---- a resource over GPUs with given topology rows ---- */

struct rig {
    struct gdp_device devs[MAX_GPUS];
    struct gdp_rdev rdevs[MAX_GPUS];
    struct gdp_resource r;
    int row[MAX_GPUS];
};

static void
rig_make(struct rig *g, const struct gdp_topology *t, size_t n)
{
    memset(g, 0, sizeof *g);
    (void)gdp_strlcpy(g->r.name, "nvidia.com/gpu", sizeof g->r.name);
    g->r.devices = g->rdevs;
    g->r.n_devices = n;
    g->r.topology = t;
    for (size_t i = 0; i < n; i++) {
        g->devs[i] = (struct gdp_device){.kind = GDP_DEVICE_GPU,
                                         .index = (unsigned)i,
                                         .parent = -1,
                                         .topo = (int)i,
                                         .healthy = true};
        g->row[i] = (int)i;
        g->rdevs[i].dev = &g->devs[i];
        (void)snprintf(g->rdevs[i].id, sizeof g->rdevs[i].id, "GPU-%zu", i);
    }
}

/* Asks for `size` of the pool with must; checks the score (and tie-break) against ref. */
static void
check_request(const struct rig *g, struct ref *rf, uint64_t must)
{
    const char *avail[MAX_GPUS], *musts[MAX_GPUS], *got[MAX_GPUS];
    size_t n_avail = 0, n_must = 0;
    for (size_t i = rf->n; i-- > 0;) { /* the kubelet's order is not NVML order */
        if (rf->pool >> i & 1u) {
            avail[n_avail++] = g->r.devices[i].id;
        }
        if (must >> i & 1u) {
            musts[n_must++] = g->r.devices[i].id;
        }
    }
    struct gdp_pref_request req = {.available = avail,
                                   .n_available = n_avail,
                                   .must_include = musts,
                                   .n_must_include = n_must,
                                   .size = rf->size};
    struct gdp_diag diag = {0};
    int n = gdp_preferred_allocation(&g->r, &req, got, &diag);
    if (n != (int)rf->size) {
        fail_msg("size %zu must %#llx: %d %s", rf->size, (unsigned long long)must, n, diag.msg);
    }
    uint64_t chosen = 0;
    for (int i = 0; i < n; i++) {
        size_t idx = 0;
        while (idx < rf->n && !streq(g->r.devices[idx].id, got[i])) {
            idx++;
        }
        assert_true(idx < rf->n);
        assert_true((rf->pool >> idx & 1u) && (chosen >> idx & 1u) == 0);
        chosen |= 1ull << idx;
    }
    assert_true((chosen & must) == must);
    ref_search(rf, must);
    if (set_score(rf, chosen) != rf->best) {
        fail_msg("size %zu must %#llx: score %llu, best %llu", rf->size, (unsigned long long)must,
                 (unsigned long long)set_score(rf, chosen), (unsigned long long)rf->best);
    }
    if (rf->with_parts) {
        assert_int_equal(brute_part(rf, rf->pool & ~chosen, false), rf->best_part);
    }
}

/* ---- random topologies ---- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static unsigned
rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void
random_topology(struct gdp_topology *t, size_t n)
{
    gdp_topology_init(t, n);
    bool sparse = rnd(2) == 0; /* DGX-like few links, or many */
    for (size_t a = 0; a < n; a++) {
        for (size_t b = a + 1; b < n; b++) {
            unsigned links = sparse ? (rnd(3) == 0 ? rnd(3) : 0) : rnd(5);
            gdp_topology_set(t, a, b, (enum gdp_pcie_link)(1 + rnd(6)), links, false);
        }
    }
}

static void
random_topologies(void **state _unused_)
{
    for (unsigned round = 0; round < 120; round++) {
        size_t n = 2 + rnd(11); /* 2..12 GPUs */
        struct gdp_topology t;
        struct rig g;
        random_topology(&t, n);
        rig_make(&g, &t, n);
        struct ref rf = {.t = &t, .row = g.row, .n = n, .with_parts = n <= 7};
        rf.pool = (1ull << n) - 1;
        if (rnd(3) == 0) { /* some GPUs already taken */
            rf.pool &= ~(1ull << rnd((unsigned)n));
        }
        size_t avail = (size_t)__builtin_popcountll(rf.pool);
        for (rf.size = 1; rf.size <= avail; rf.size++) {
            check_request(&g, &rf, 0);
            for (unsigned k = 0; k < 4; k++) { /* random must-include sets within the pool */
                uint64_t must = 0;
                for (size_t i = 0, want = rnd((unsigned)rf.size + 1); i < want; i++) {
                    must |= 1ull << rnd((unsigned)n);
                }
                must &= rf.pool;
                if ((size_t)__builtin_popcountll(must) <= rf.size) {
                    check_request(&g, &rf, must);
                }
            }
        }
        gdp_topology_done(&t);
    }
}

/*
 * Above GDP_TOPO_EXACT_MAX GPUs the search is budgeted: every answer is a valid set, and when
 * the search reports it finished, its score is the exhaustive best.
 */
static void
large_topologies(void **state _unused_)
{
    for (unsigned round = 0; round < 12; round++) {
        size_t n = 17 + rnd(8); /* 17..24 GPUs */
        struct gdp_topology t;
        struct rig g;
        uint32_t w[MAX_GPUS * MAX_GPUS];
        random_topology(&t, n);
        rig_make(&g, &t, n);
        for (size_t a = 0; a < n; a++) {
            for (size_t b = 0; b < n; b++) {
                w[a * n + b] = t.score[a * n + b];
            }
        }
        struct ref rf = {.t = &t, .row = g.row, .n = n, .pool = (1ull << n) - 1};
        const size_t sizes[] = {1, 2, 3, 4, n - 2, n - 1, n};
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
            uint64_t must = round % 2 == 0 ? 0 : 1ull << rnd((unsigned)n);
            struct gdp_topo_problem p = {.n = n, .w = w, .must = must, .size = sizes[i]};
            struct gdp_topo_stats st = {0};
            uint64_t m = gdp_topo_search(&p, &st);
            assert_int_equal(__builtin_popcountll(m), (int)sizes[i]);
            assert_true((m & must) == must && (m & ~rf.pool) == 0);
            rf.size = sizes[i];
            ref_search(&rf, must);
            if (st.exact) {
                assert_int_equal(gdp_topo_set_score(&p, m), rf.best);
            }
        }
        gdp_topology_done(&t);
    }
}

/* Uniform scores: everything ties, and the first GPUs in NVML order are the answer. */
static void
ties_go_to_nvml_order(void **state _unused_)
{
    struct gdp_topology t;
    struct rig g;
    gdp_topology_init(&t, 16);
    for (size_t a = 0; a < 16; a++) {
        for (size_t b = a + 1; b < 16; b++) {
            gdp_topology_set(&t, a, b, GDP_PCIE_NODE, 0, false);
        }
    }
    rig_make(&g, &t, 16);
    for (size_t size = 1; size <= 16; size++) {
        uint32_t w[16 * 16];
        for (size_t i = 0; i < 256; i++) {
            w[i] = t.score[i];
        }
        struct gdp_topo_problem p = {.n = 16, .w = w, .size = size};
        struct gdp_topo_stats st = {0};
        uint64_t m = gdp_topo_search(&p, &st);
        assert_int_equal(m, (1ull << size) - 1);
        assert_int_equal(st.exact, 1);
    }
    gdp_topology_done(&t);
}

/* ---- the mock's node files, read through NVML ---- */

static struct gdp_node *
discover(void)
{
    char root[] = "/tmp/gdp-topo-XXXXXX";
    assert_non_null(mkdtemp(root));
    _cleanup_free_ char *cmd = gdp_asprintf("mkdir -p '%s/usr/lib64' && ln -s '%s' "
                                            "'%s/usr/lib64/libnvidia-ml.so.1'",
                                            root, MOCK_NVML_LIB, root);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(setenv("MOCK_NVML_NODE", node_file, 1), 0);
    struct gdp_diag diag = {0};
    struct gdp_nvml *nv = NULL;
    if (gdp_nvml_open(root, &nv, &diag) < 0) {
        fail_msg("gdp_nvml_open: %s", diag.msg);
    }
    struct gdp_node *node = NULL;
    assert_int_equal(gdp_discover(nv, NULL, &node, &diag), 0);
    gdp_nvml_free(nv);
    _cleanup_free_ char *rm = gdp_asprintf("rm -rf '%s'", root);
    assert_int_equal(system(rm), 0);
    return node;
}

/* Every size; must-include: every subset up to 8 GPUs, else none, each GPU and a few more. */
static void
node_file_answers(void **state _unused_)
{
    struct gdp_node *node = discover();
    struct gdp_config cfg;
    struct gdp_resource_set set = {0};
    struct gdp_diag diag = {0};
    gdp_config_init(&cfg);
    assert_int_equal(gdp_resources_build(node, &cfg, &set, &diag), 0);
    const struct gdp_resource *r = gdp_resource_find(&set, "nvidia.com/gpu");
    assert_non_null(r);
    size_t n = r->n_devices;
    assert_true(n <= MAX_GPUS && node->topology.failed == 0);
    struct rig g;
    rig_make(&g, &node->topology, n);
    g.r = *r; /* the real resource: its IDs, index and topology */
    for (size_t i = 0; i < n; i++) {
        g.row[i] = r->devices[i].dev->topo;
    }
    unsigned long long calls = gdp_nvml_call_count();
    struct ref rf = {.t = &node->topology,
                     .row = g.row,
                     .n = n,
                     .pool = (1ull << n) - 1,
                     .with_parts = false};
    for (rf.size = 1; rf.size <= n; rf.size++) {
        for (uint64_t must = 0; must < (1ull << n); must++) {
            bool wanted = n <= 8 || must == 0 || must == 1 || must == 0x20 || must == 0x8000 ||
                          must == 0x8001 || must == 0x0218 || must == 0x00F0;
            if (wanted && (size_t)__builtin_popcountll(must) <= rf.size) {
                check_request(&g, &rf, must);
            }
        }
    }
    assert_true(gdp_nvml_call_count() == calls); /* answers never call NVML */
    gdp_resource_set_done(&set);
    gdp_config_done(&cfg);
    gdp_node_free(node);
}

/* The example on the DGX-1 mesh: size 4 with GPU 4 required is 4,5,6,7 (1120). */
static void
dgx1_example(void **state _unused_)
{
    if (strstr(node_file, "dgx1") == NULL) {
        skip();
    }
    struct gdp_node *node = discover();
    const struct gdp_topology *t = &node->topology;
    struct rig g;
    rig_make(&g, t, 8);
    const char *avail[8], *must[1], *got[4];
    for (size_t i = 0; i < 8; i++) {
        avail[i] = g.rdevs[i].id;
    }
    must[0] = g.rdevs[4].id;
    struct gdp_pref_request req = {.available = avail,
                                   .n_available = 8,
                                   .must_include = must,
                                   .n_must_include = 1,
                                   .size = 4};
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_preferred_allocation(&g.r, &req, got, &diag), 4);
    const char *want[] = {"GPU-4", "GPU-5", "GPU-6", "GPU-7"};
    unsigned score = 0;
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(got[i], want[i]);
        for (size_t j = i + 1; j < 4; j++) {
            score += gdp_topology_score(t, (int)i + 4, (int)j + 4);
        }
    }
    assert_int_equal(score, 1120);
    gdp_node_free(node);
}

/*
 * argv[2] "fail": GPU 0 of the node file fails every NVLink call. It is kept, with no links
 * and its PCIe relations; the other GPUs keep theirs.
 */
static void
failing_gpu_keeps_no_links(void **state _unused_)
{
    struct gdp_node *node = discover();
    const struct gdp_topology *t = &node->topology;
    assert_int_equal(t->n, 8);
    assert_int_equal(t->failed, 1);
    assert_true(node->devices[0].healthy);
    for (size_t b = 1; b < t->n; b++) {
        assert_int_equal(t->nvlinks[b], 0);
        assert_int_equal(t->nvlinks[b * t->n], 0);
        assert_int_not_equal(t->pcie[b], GDP_PCIE_UNKNOWN);
    }
    assert_int_equal(t->nvlinks[1 * t->n + 2], 2); /* dgx1: GPUs 1 and 2 share two */
    char label[GDP_TOPO_LABEL_MAX];
    assert_string_equal(gdp_topology_label(t, 0, 1, label, sizeof label), "PIX");
    assert_string_equal(gdp_topology_label(t, 1, 2, label, sizeof label), "NV2");
    gdp_node_free(node);
}

/* A copy of node file `path` where GPU 0 fails nvmlDeviceGetNvLinkState; caller frees. */
static char *
failing_copy(const char *path)
{
    char tmpl[] = "/tmp/gdp-topo-node-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(close(fd), 0);
    _cleanup_free_ char *cmd = gdp_asprintf(
            "cp '%s' '%s' && uuid=$(sed -n 's/^ *uuid: //p' '%s' | head -n1) && printf "
            "'fail:\n  - {function: nvmlDeviceGetNvLinkState, code: UNKNOWN, uuid: %%s}\n' "
            "\"$uuid\" >> '%s'",
            path, tmpl, path, tmpl);
    assert_int_equal(system(cmd), 0);
    return gdp_strdup(tmpl);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest random[] = {
            cmocka_unit_test(random_topologies),
            cmocka_unit_test(large_topologies),
            cmocka_unit_test(ties_go_to_nvml_order),
    };
    const struct CMUnitTest nodes[] = {
            cmocka_unit_test(node_file_answers),
            cmocka_unit_test(dgx1_example),
    };
    const struct CMUnitTest failing[] = {
            cmocka_unit_test(failing_gpu_keeps_no_links),
    };
    if (argc > 2 && streq(argv[2], "fail")) {
        _cleanup_free_ char *copy = failing_copy(argv[1]);
        node_file = copy;
        int r = cmocka_run_group_tests(failing, NULL, NULL);
        (void)unlink(copy);
        return r;
    }
    if (argc > 1) {
        node_file = argv[1];
        return cmocka_run_group_tests(nodes, NULL, NULL);
    }
    return cmocka_run_group_tests(random, NULL, NULL);
}
