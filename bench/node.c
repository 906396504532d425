/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole-node benchmark: the plugin on the mock node, started by us against our fake
 * kubelet, then ListAndWatch and Allocate from our C client, then kubelet restarts. Prints
 * each figure next to the target of issue 3 and NVIDIA's plugin measured on the same kind of
 * mock node, then the details that explain them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"

#define WAIT_MS          10000
#define IDLE_QUIET_MS    300 /* no Register and no kubelet connection for this long: idle */
#define RESTART_QUIET_MS 2   /* per restart: lets a second Register show up before the next */
#define SLOW_RESTART_NS  10000000u
#define START_QUIET_MS   20 /* between the timed starts */
#define STARTS           10u
#define CHECK_CALLS      100u
#define FLOOR_RUNS       20u
#define NS_PER_US        1000.0
#define NS_PER_MS        1000000.0

extern char **environ;

struct proc_stats {
    long rss_kib, anon_kib, file_kib, threads, fds;
    uint64_t cpu_ns; /* on-CPU time of the main thread (schedstat) */
};

struct node {
    const struct gdp_bench_opts *o;
    struct gdp_loop *loop;
    struct gdp_bench_kubelet *k;
    char *kubelet_socket, *plugin_socket;
    pid_t pid;
    /* results */
    struct gdp_bench_stats floor, start, watch, restart;
    struct proc_stats idle, before_restarts, warm_restarts, after_restarts;
    struct gdp_bench_load load[2]; /* concurrency 1 and 16 */
    double cpu_per_call_ns[2];
    size_t n_devices;
    unsigned warm_after, restart_registers, slow_restarts;
};

static const unsigned concurrency[2] = {1, 16};

/* ---- the plugin process ---- */

static void
read_status(FILE *f, struct proc_stats *ret)
{
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        (void)sscanf(line, "VmRSS: %ld", &ret->rss_kib);
        (void)sscanf(line, "RssAnon: %ld", &ret->anon_kib);
        (void)sscanf(line, "RssFile: %ld", &ret->file_kib);
        (void)sscanf(line, "Threads: %ld", &ret->threads);
    }
}

static int
proc_stats(pid_t pid, struct proc_stats *ret)
{
    char path[64];
    *ret = (struct proc_stats){.rss_kib = -1, .threads = -1};
    (void)snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -errno;
    }
    read_status(f, ret);
    (void)snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    _cleanup_fclose_ FILE *s = fopen(path, "re");
    if (s == NULL || fscanf(s, "%lu", &ret->cpu_ns) != 1) {
        return -EIO;
    }
    (void)snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return -errno;
    }
    for (const struct dirent *de; (de = readdir(d)) != NULL;) {
        ret->fds += de->d_name[0] != '.' ? 1 : 0;
    }
    (void)closedir(d);
    return ret->rss_kib < 0 || ret->threads < 0 ? -EIO : 0;
}

static int
spawn_argv(const char *path, char **argv, const char *log, pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    (void)posix_spawn_file_actions_init(&fa);
    (void)posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    (void)posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_APPEND,
                                           0644);
    int r = posix_spawn(ret_pid, path, &fa, NULL, argv, environ);
    (void)posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        (void)fprintf(stderr, "FAILED: cannot start %s: %s\n", path, strerror(r));
        return -r;
    }
    return 0;
}

static int
spawn_plugin(const struct gdp_bench_opts *o, const char *kubelet_socket, pid_t *ret_pid)
{
    _cleanup_free_ char *a_kubelet = gdp_asprintf("--kubelet-socket=%s", kubelet_socket);
    _cleanup_free_ char *a_root = gdp_asprintf("--driver-root-ctr-path=%s", o->driver_root);
    char *argv[] = {(char *)o->plugin, (char *)"serve", a_kubelet, a_root, NULL};
    return spawn_argv(o->plugin, argv, o->log, ret_pid);
}

/* What any start of the binary costs (exec, dynamic linking, exit): `--version`, timed from
 * spawn to reaped, FLOOR_RUNS times. */
static int
start_floor(const struct gdp_bench_opts *o, struct gdp_bench_stats *ret)
{
    uint64_t lat[FLOOR_RUNS];
    char *argv[] = {(char *)o->plugin, (char *)"--version", NULL};
    for (unsigned i = 0; i < FLOOR_RUNS; i++) {
        pid_t pid;
        int status;
        uint64_t t0 = gdp_bench_now_ns();
        int r = spawn_argv(o->plugin, argv, "/dev/null", &pid);
        if (r < 0) {
            return r;
        }
        (void)waitpid(pid, &status, 0);
        lat[i] = gdp_bench_now_ns() - t0;
    }
    *ret = gdp_bench_stats_of(lat, FLOOR_RUNS);
    return 0;
}

/* SIGTERM, then the exit status must be 0 within 10 s. */
static int
stop_plugin(pid_t pid)
{
    int status = 0;
    (void)kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (!ok) {
                (void)fprintf(stderr, "FAILED: plugin exit status 0x%x after SIGTERM\n", status);
            }
            return ok ? 0 : -EPROTO;
        }
        (void)usleep(10000);
    }
    (void)kill(pid, SIGKILL);
    (void)waitpid(pid, &status, 0);
    (void)fprintf(stderr, "FAILED: plugin did not exit within 10 s of SIGTERM\n");
    return -ETIMEDOUT;
}

/* ---- phases ---- */

static int
fail(int r, const char *what)
{
    (void)fprintf(stderr, "FAILED: %s: %s\n", what, gdp_strerror(r));
    return r;
}

static int
snapshot(const struct node *n, struct proc_stats *ret)
{
    int r = proc_stats(n->pid, ret);
    return r < 0 ? fail(r, "reading /proc/<plugin>/status") : 0;
}

/* Spawns the plugin and waits for its first Register; returns the time between the two. */
static int
start_once(struct node *n, uint64_t *ret_ns)
{
    unsigned before = gdp_bench_kubelet_registers(n->k);
    uint64_t t0 = gdp_bench_now_ns();
    int r = spawn_plugin(n->o, n->kubelet_socket, &n->pid);
    if (r < 0) {
        return r;
    }
    r = gdp_bench_kubelet_wait(n->k, before + 1, WAIT_MS);
    if (r < 0) {
        return fail(r, "waiting for the first Register (see the plugin's log)");
    }
    *ret_ns = gdp_bench_kubelet_last_ns(n->k) - t0;
    return 0;
}

/* Kubelet first, then the plugin, STARTS times (stopped with SIGTERM in between): time from
 * spawning it to its Register. The last one stays, for the idle figures and the rest. */
static int
phase_start(struct node *n)
{
    uint64_t bind_ns, lat[STARTS];
    int r = start_floor(n->o, &n->floor);
    r = r < 0 ? r : gdp_bench_kubelet_start(n->k, &bind_ns);
    for (unsigned i = 0; r == 0 && i < STARTS; i++) {
        r = start_once(n, &lat[i]);
        if (r == 0 && i + 1 < STARTS) {
            r = gdp_bench_kubelet_settle(n->k, START_QUIET_MS, WAIT_MS);
            int s = stop_plugin(n->pid);
            n->pid = -1;
            r = r < 0 ? r : s;
        }
    }
    if (r < 0) {
        return r;
    }
    n->start = gdp_bench_stats_of(lat, STARTS);
    r = gdp_bench_kubelet_settle(n->k, IDLE_QUIET_MS, WAIT_MS);
    if (r < 0) {
        return fail(r, "waiting for the plugin to become idle after registering");
    }
    return snapshot(n, &n->idle);
}

static int
phase_serve(struct node *n)
{
    _cleanup_free_ char *device = NULL;
    int r = gdp_bench_watch_runs(n->plugin_socket, n->o->runs, &n->watch, &device, &n->n_devices);
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(concurrency); i++) {
        struct proc_stats a, b;
        r = snapshot(n, &a);
        r = r < 0 ? r
                  : gdp_bench_allocate_load(n->plugin_socket, device, n->o->calls, concurrency[i],
                                            &n->load[i]);
        r = r < 0 ? r : snapshot(n, &b);
        if (r == 0) {
            n->cpu_per_call_ns[i] =
                    (double)(b.cpu_ns - a.cpu_ns) / (n->o->calls + GDP_BENCH_WARMUP_CALLS);
        }
    }
    return r < 0 ? r : snapshot(n, &n->before_restarts);
}

/* One kubelet restart as the kubelet does it: its socket goes, it deletes the plugin sockets,
 * its new socket appears. Returns the time from that socket's bind to the first Register. */
static int
restart_once(struct node *n, uint64_t *ret_ns)
{
    uint64_t bind_ns;
    gdp_bench_kubelet_stop(n->k);
    if (unlink(n->plugin_socket) < 0 && errno != ENOENT) {
        return fail(-errno, "removing the plugin socket");
    }
    unsigned before = gdp_bench_kubelet_registers(n->k);
    int r = gdp_bench_kubelet_start(n->k, &bind_ns);
    if (r < 0) {
        return r;
    }
    r = gdp_bench_kubelet_wait(n->k, before + 1, WAIT_MS);
    if (r < 0) {
        return fail(r, "waiting for Register after a kubelet restart");
    }
    *ret_ns = gdp_bench_kubelet_last_ns(n->k) - bind_ns;
    r = gdp_bench_kubelet_settle(n->k, RESTART_QUIET_MS, WAIT_MS);
    return r < 0 ? fail(r, "waiting for the plugin to settle after a restart") : 0;
}

/* Still serving after all the restarts? */
static int
check_serving(const struct node *n)
{
    struct gdp_bench_load check;
    _cleanup_free_ char *device = NULL;
    struct gdp_bench_stats st;
    size_t count;
    int r = gdp_bench_watch_runs(n->plugin_socket, 1, &st, &device, &count);
    return r < 0 ? r : gdp_bench_allocate_load(n->plugin_socket, device, CHECK_CALLS, 4, &check);
}

static int
phase_restarts(struct node *n)
{
    _cleanup_free_ uint64_t *lat = gdp_calloc(n->o->restarts, sizeof *lat);
    unsigned before = gdp_bench_kubelet_registers(n->k);
    n->warm_after = n->o->restarts / 10 > 0 ? n->o->restarts / 10 : 1;
    for (unsigned i = 0; i < n->o->restarts; i++) {
        int r = restart_once(n, &lat[i]);
        r = r < 0 || i + 1 != n->warm_after ? r : snapshot(n, &n->warm_restarts);
        if (r < 0) {
            (void)fprintf(stderr, "  (at restart %u)\n", i + 1);
            return r;
        }
        n->slow_restarts += lat[i] > SLOW_RESTART_NS ? 1 : 0;
    }
    n->restart_registers = gdp_bench_kubelet_registers(n->k) - before;
    n->restart = gdp_bench_stats_of(lat, n->o->restarts);
    int r = gdp_bench_kubelet_settle(n->k, IDLE_QUIET_MS, WAIT_MS);
    if (r < 0) {
        return fail(r, "waiting for the plugin to become idle after the restarts");
    }
    r = snapshot(n, &n->after_restarts);
    return r < 0 ? r : check_serving(n);
}

/* ---- report ---- */

static void
row(const char *figure, const char *measured, const char *target, const char *nvidia, bool ok)
{
    (void)printf("%-34s %-20s %-11s %-16s %s\n", figure, measured, target, nvidia,
                 target[0] == '-' ? "-" : (ok ? "meets" : "MISSES"));
}

static void
row_time(const char *figure, double ns, const char *target, double target_ns, const char *nvidia)
{
    char m[32];
    if (ns >= NS_PER_MS) {
        (void)snprintf(m, sizeof m, "%.2f ms", ns / NS_PER_MS);
    } else {
        (void)snprintf(m, sizeof m, "%.1f us", ns / NS_PER_US);
    }
    row(figure, m, target, nvidia, ns <= target_ns);
}

static void
print_start(const struct node *n)
{
    char m[64];
    (void)snprintf(m, sizeof m, "%.2f MiB", (double)n->idle.rss_kib / 1024.0);
    row("idle RSS after registration", m, "<= 2 MiB", "17.4 MB", n->idle.rss_kib <= 2048);
    (void)snprintf(m, sizeof m, "%ld", n->idle.threads);
    row("threads after registration", m, "<= 2", "7", n->idle.threads <= 2);
    row_time("start -> Register received p50", n->start.p50, "<= 2 ms", 2 * NS_PER_MS, "9.5 ms");
    row_time("ListAndWatch first message p50", n->watch.p50, "-", 0, "-");
}

static void
print_growth(const struct node *n)
{
    const struct proc_stats *w = &n->warm_restarts, *a = &n->after_restarts;
    char f[64], m[64];
    (void)snprintf(f, sizeof f, "RSS growth, restarts %u-%u", n->warm_after, n->o->restarts);
    (void)snprintf(m, sizeof m, "%+ld KiB", a->rss_kib - w->rss_kib);
    row(f, m, "none", "-", a->rss_kib <= w->rss_kib);
    (void)snprintf(f, sizeof f, "threads after %u restarts", n->o->restarts);
    (void)snprintf(m, sizeof m, "%ld (%+ld)", a->threads, a->threads - n->idle.threads);
    row(f, m, "no growth", "7 -> 18 (20 r.)", a->threads <= n->idle.threads);
    (void)snprintf(f, sizeof f, "fd growth, restarts %u-%u", n->warm_after, n->o->restarts);
    (void)snprintf(m, sizeof m, "%+ld", a->fds - w->fds);
    row(f, m, "none", "-", a->fds <= w->fds);
}

static void
print_details(const struct node *n)
{
    const struct gdp_bench_opts *o = n->o;
    const struct proc_stats *i = &n->idle, *b = &n->before_restarts, *a = &n->after_restarts;
    (void)printf("\nstart -> Register x%u: p50/p90/max %.2f/%.2f/%.2f ms; `gpu-device-plugin "
                 "--version` spawn to exit (exec, dynamic linking) x%u: p50/max %.2f/%.2f ms\n",
                 STARTS, n->start.p50 / NS_PER_MS, n->start.p90 / NS_PER_MS,
                 n->start.max / NS_PER_MS, FLOOR_RUNS, n->floor.p50 / NS_PER_MS,
                 n->floor.max / NS_PER_MS);
    (void)printf("ListAndWatch: %zu devices; x%u new connections, p50/p90/p99/max "
                 "%.1f/%.1f/%.1f/%.1f us\n",
                 n->n_devices, o->runs, n->watch.p50 / NS_PER_US, n->watch.p90 / NS_PER_US,
                 n->watch.p99 / NS_PER_US, n->watch.max / NS_PER_US);
    for (size_t k = 0; k < ELEMENTSOF(concurrency); k++) {
        const struct gdp_bench_load *l = &n->load[k];
        (void)printf("Allocate x%u c=%u, one connection: p50/p90/p99/max %.1f/%.1f/%.1f/%.1f us, "
                     "%.0f calls/s, plugin CPU %.1f us/call\n",
                     o->calls, concurrency[k], l->st.p50 / NS_PER_US, l->st.p90 / NS_PER_US,
                     l->st.p99 / NS_PER_US, l->st.max / NS_PER_US, l->per_s,
                     n->cpu_per_call_ns[k] / NS_PER_US);
    }
    (void)printf("restarts x%u: p50/p90/p99/max %.2f/%.2f/%.2f/%.2f ms; %u slower than %.0f ms; "
                 "%u Registers\n",
                 o->restarts, n->restart.p50 / NS_PER_MS, n->restart.p90 / NS_PER_MS,
                 n->restart.p99 / NS_PER_MS, n->restart.max / NS_PER_MS, n->slow_restarts,
                 SLOW_RESTART_NS / NS_PER_MS, n->restart_registers);
    (void)printf("RSS KiB (anon+file) / threads / fds: idle %ld (%ld+%ld) / %ld / %ld; after "
                 "Allocates %ld / %ld / %ld; after %u restarts %ld / %ld / %ld; after %u %ld / "
                 "%ld / %ld\n",
                 i->rss_kib, i->anon_kib, i->file_kib, i->threads, i->fds, b->rss_kib, b->threads,
                 b->fds, n->warm_after, n->warm_restarts.rss_kib, n->warm_restarts.threads,
                 n->warm_restarts.fds, o->restarts, a->rss_kib, a->threads, a->fds);
}

static void
print_table(const struct node *n)
{
    (void)printf("\n%-34s %-20s %-11s %-16s %s\n", "figure", "measured", "target",
                 "NVIDIA's plugin", "verdict");
    print_start(n);
    row_time("Allocate c=1 p50", n->load[0].st.p50, "<= 30 us", 30 * NS_PER_US, "119 us");
    row_time("Allocate c=1 p99", n->load[0].st.p99, "<= 60 us", 60 * NS_PER_US, "299 us");
    row_time("Allocate c=16 p99", n->load[1].st.p99, "<= 200 us", 200 * NS_PER_US, "1.9 ms");
    row_time("kubelet restart -> Register p50", n->restart.p50, "<= 1 ms", NS_PER_MS, "2.2 ms");
    row_time("kubelet restart -> Register p99", n->restart.p99, "-", 0, "-");
    print_growth(n);
    print_details(n);
}

/* ---- entry ---- */

static int
node_run(struct node *n)
{
    int r = phase_start(n);
    r = r < 0 ? r : phase_serve(n);
    r = r < 0 ? r : phase_restarts(n);
    if (r == 0 && gdp_bench_kubelet_invalid(n->k) > 0) {
        (void)fprintf(stderr, "FAILED: %u Register requests had unexpected fields\n",
                      gdp_bench_kubelet_invalid(n->k));
        r = -EPROTO;
    }
    if (n->pid > 0) {
        int s = stop_plugin(n->pid);
        r = r < 0 ? r : s;
    }
    return r;
}

int
gdp_bench_node(const struct gdp_bench_opts *o)
{
    struct gdp_diag diag = {0};
    struct node n = {.o = o, .pid = -1};
    if (gdp_loop_new(&n.loop, &diag) < 0) {
        (void)fprintf(stderr, "FAILED: %s\n", diag.msg);
        return -EIO;
    }
    n.kubelet_socket = gdp_asprintf("%s/kubelet.sock", o->dir);
    n.plugin_socket = gdp_asprintf("%s/nvidia-gpu.sock", o->dir);
    (void)gdp_bench_kubelet_new(n.loop, n.kubelet_socket, &n.k);
    int r = node_run(&n);
    if (r == 0) {
        print_table(&n);
    }
    gdp_bench_kubelet_free(n.k);
    gdp_loop_free(n.loop);
    free(n.kubelet_socket);
    free(n.plugin_socket);
    return r;
}
