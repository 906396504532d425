/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gdp-bench-preferred: the in-process cost of a GetPreferredAllocation answer for whole GPUs.
 *
 *   gdp-bench-preferred --driver-root=DIR --node=FILE [--repeat=N]
 *
 * Opens NVML under DIR (the mock, reading node file FILE), discovers the node as `serve` does
 * (counting the NVML calls that takes, topology included), then answers, for every size 1..n,
 * requests with all GPUs available and must_include empty, each single GPU, and the first and
 * last GPU together, N times each (default 200). Prints p50, p99 and max per size, the
 * slowest must-include case, and the NVML calls made while answering (the target is 0).
 * Each answer is timed twice: wall clock, and the thread's CPU time, which leaves out the
 * time the thread was preempted (what a shared machine adds).
 */
#include "resource/preferred.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "nvml/nvml.h"
#include "resource/resources.h"

#define MAX_GPUS 64

static uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    (void)clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct sizes {
    uint64_t *samples; /* every answer of one size: wall-clock time */
    uint64_t *cpu;     /* the same answers: this thread's CPU time (no preemption) */
    size_t n;
    uint64_t worst_must; /* mask of the must-include case with the slowest answer */
    uint64_t worst_ns;
};

/* Times `repeat` answers of one request; returns the slowest. */
static uint64_t
time_request(const struct gdp_resource *r, size_t size, uint64_t must, unsigned repeat,
             struct sizes *out)
{
    const char *avail[MAX_GPUS], *musts[MAX_GPUS], *got[MAX_GPUS];
    size_t n_must = 0, n = r->n_devices;
    for (size_t i = 0; i < n; i++) {
        avail[i] = r->devices[n - 1 - i].id; /* the kubelet's order is its own */
        if (must >> i & 1u) {
            musts[n_must++] = r->devices[i].id;
        }
    }
    struct gdp_pref_request req = {.available = avail,
                                   .n_available = n,
                                   .must_include = musts,
                                   .n_must_include = n_must,
                                   .size = size};
    uint64_t worst = 0;
    for (unsigned k = 0; k < repeat; k++) {
        struct gdp_diag diag = {0};
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t t0 = now_ns();
        int got_n = gdp_preferred_allocation(r, &req, got, &diag);
        uint64_t dt = now_ns() - t0;
        out->cpu[out->n] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (got_n != (int)size) {
            fprintf(stderr, "gdp-bench-preferred: size %zu: %s\n", size, diag.msg);
            exit(1);
        }
        out->samples[out->n++] = dt;
        worst = dt > worst ? dt : worst;
    }
    return worst;
}

static void
bench_size(const struct gdp_resource *r, size_t size, unsigned repeat)
{
    size_t n = r->n_devices;
    uint64_t musts[MAX_GPUS + 2];
    size_t n_musts = 0;
    musts[n_musts++] = 0;
    for (size_t g = 0; g < n && size >= 1; g++) {
        musts[n_musts++] = 1ull << g;
    }
    if (size >= 2) {
        musts[n_musts++] = 1ull | 1ull << (n - 1);
    }
    struct sizes s = {.samples = gdp_calloc(n_musts * repeat, sizeof *s.samples),
                      .cpu = gdp_calloc(n_musts * repeat, sizeof *s.cpu)};
    for (size_t i = 0; i < n_musts; i++) {
        uint64_t worst = time_request(r, size, musts[i], repeat, &s);
        if (worst > s.worst_ns) {
            s.worst_ns = worst;
            s.worst_must = musts[i];
        }
    }
    qsort(s.samples, s.n, sizeof *s.samples, cmp_u64);
    qsort(s.cpu, s.n, sizeof *s.cpu, cmp_u64);
    printf("  size %2zu  %8.2f %8.2f %9.2f   %8.2f %8.2f   %5zu  %#llx\n", size,
           (double)s.samples[s.n / 2] / 1e3, (double)s.samples[(s.n * 99) / 100] / 1e3,
           (double)s.samples[s.n - 1] / 1e3, (double)s.cpu[s.n / 2] / 1e3,
           (double)s.cpu[(s.n * 99) / 100] / 1e3, s.n, (unsigned long long)s.worst_must);
    free(s.samples);
    free(s.cpu);
}

static int
run(const char *root, unsigned repeat)
{
    struct gdp_diag diag = {0};
    struct gdp_nvml *nv = NULL;
    if (gdp_nvml_open(root, &nv, &diag) < 0) {
        fprintf(stderr, "gdp-bench-preferred: %s\n", diag.msg);
        return 1;
    }
    struct gdp_node *node = NULL;
    unsigned long long c0 = gdp_nvml_call_count();
    uint64_t t0 = now_ns();
    if (gdp_discover(nv, NULL, &node, &diag) < 0) {
        fprintf(stderr, "gdp-bench-preferred: %s\n", diag.msg);
        return 1;
    }
    printf("discovery with topology: %.2f ms, %llu NVML calls (once, at start)\n",
           (double)(now_ns() - t0) / 1e6, gdp_nvml_call_count() - c0);
    struct gdp_config cfg;
    struct gdp_resource_set set = {0};
    gdp_config_init(&cfg);
    const struct gdp_resource *r = NULL;
    if (gdp_resources_build(node, &cfg, &set, &diag) < 0 ||
        (r = gdp_resource_find(&set, "nvidia.com/gpu")) == NULL || r->n_devices > MAX_GPUS) {
        fprintf(stderr, "gdp-bench-preferred: no whole GPUs to answer for\n");
        return 1;
    }
    printf("%zu GPUs, %u repeats of each request; times in us\n", r->n_devices, repeat);
    printf("            wall p50 wall p99  wall max    cpu p50  cpu p99  answers  slowest "
           "must_include\n");
    unsigned long long c1 = gdp_nvml_call_count();
    for (size_t size = 1; size <= r->n_devices; size++) {
        bench_size(r, size, repeat);
    }
    printf("NVML calls while answering: %llu\n", gdp_nvml_call_count() - c1);
    gdp_resource_set_done(&set);
    gdp_config_done(&cfg);
    gdp_node_free(node);
    gdp_nvml_free(nv);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"driver-root", required_argument, NULL, 'r'},
            {"node", required_argument, NULL, 'n'},
            {"repeat", required_argument, NULL, 'k'},
            {0},
    };
    const char *root = NULL;
    unsigned repeat = 200;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r') {
            root = optarg;
        } else if (c == 'n') {
            (void)setenv("MOCK_NVML_NODE", optarg, 1);
        } else if (c == 'k') {
            repeat = (unsigned)strtoul(optarg, NULL, 10);
        } else {
            return 2;
        }
    }
    if (root == NULL || repeat == 0) {
        fprintf(stderr, "usage: gdp-bench-preferred --driver-root=DIR --node=FILE [--repeat=N]\n");
        return 2;
    }
    return run(root, repeat);
}
