/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin mps-control-daemon`: NVIDIA's mps-control-daemon. From the same flags and
 * config file as `serve` it computes the same MPS-shared resources, then for each one sets
 * its GPUs to EXCLUSIVE_PROCESS (nvidia-smi), starts `nvidia-cuda-mps-control -d` with the
 * resource's pipe and log directories under --mps-root and its GPUs visible, sets the default
 * pinned device memory limit per GPU and the default active thread percentage from the
 * replica counts, and writes the .started / .ready markers the plugin waits for. Failed starts
 * are retried (every 30 s; $GDP_MPS_RETRY_INTERVAL_MS). SIGTERM/SIGINT/SIGQUIT stop every
 * daemon (`quit`, compute mode back to DEFAULT, markers removed); SIGHUP reloads the config
 * and restarts the daemons when the new one is valid.
 *
 * The tools are found on PATH (tests put fakes first). Each runs with a bounded wait: this
 * process serves nothing else, so its loop callbacks may wait for a child, never forever.
 *
 * `mps-control-daemon mount-shm` is the init step NVIDIA's chart and the GPU Operator run
 * first: a tmpfs at <mps-root>/shm for the MPS servers' shared memory. Run under NVIDIA's
 * program name `mps-control-daemon`, --mps-root defaults to /mps, NVIDIA's container path.
 */
#define _GNU_SOURCE /* pipe2 */
#include "resource/mps.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "resource/inventory.h"
#include "resource/resources.h"

#define MPS_CONTROL      "nvidia-cuda-mps-control"
#define NVIDIA_SMI       "nvidia-smi"
#define ENV_MAX          4 /* extra environment entries a child gets */
#define PROGRAM_NAME     "mps-control-daemon"
#define MPS_ROOT_DEFAULT "/mps" /* NVIDIA's fixed MPS root inside its containers */
#define SHM_FALLBACK_KB  65536UL
#define SHM_FLAGS        (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME)
#define MEMINFO_MAX      (64u << 10)

struct mps_cmd {
    int argc;
    char **argv;
    char **envp;
    struct gdp_config cfg;
    struct gdp_mps_plan plan;
    bool *running; /* per plan daemon: started, so `quit` is owed */
    struct gdp_loop *loop;
    struct gdp_loop_timer *retry;
    bool as_program; /* run as NVIDIA's `mps-control-daemon`: --mps-root defaults to /mps */
};

/* One child command: argv, extra "K=V" environment, optional stdin text. */
struct child {
    const char *const *argv;
    const char *env[ENV_MAX + 1];
    const char *input;
};

static bool
env_overridden(const char *entry, const char *const *extra)
{
    for (size_t i = 0; extra[i] != NULL; i++) {
        size_t klen = (size_t)(strchr(extra[i], '=') - extra[i]) + 1;
        if (strncmp(entry, extra[i], klen) == 0) {
            return true;
        }
    }
    return false;
}

/* envp without the keys extra sets, then extra. Caller frees the array (not the strings). */
static char **
child_env(char **envp, const char *const *extra)
{
    size_t n = 0;
    while (envp != NULL && envp[n] != NULL) {
        n++;
    }
    char **out = gdp_calloc(n + ENV_MAX + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!env_overridden(envp[i], extra)) {
            out[k++] = envp[i];
        }
    }
    for (size_t i = 0; extra[i] != NULL; i++) {
        out[k++] = (char *)extra[i]; /* posix_spawn's envp is not const; it is not modified */
    }
    return out;
}

static char *
argv_text(const char *const *argv)
{
    size_t len = 1;
    for (size_t i = 0; argv[i] != NULL; i++) {
        len += strlen(argv[i]) + 1;
    }
    char *s = gdp_calloc(1, len);
    char *p = s;
    for (size_t i = 0; argv[i] != NULL; i++) {
        p = stpcpy(p, i > 0 ? " " : "");
        p = stpcpy(p, argv[i]);
    }
    return s;
}

/* A pipe already holding text (tiny: fits the pipe buffer), for a child's stdin. */
static int
input_pipe(const char *text, int *ret_read_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        return -errno;
    }
    size_t len = strlen(text);
    ssize_t n = write(fds[1], text, len);
    int r = n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
    (void)close(fds[1]);
    if (r < 0) {
        (void)close(fds[0]);
        return r;
    }
    *ret_read_fd = fds[0];
    return 0;
}

static int
spawn_setup(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa, int in_fd)
{
    /* The loop blocks the signals it handles; a child must start with a clean mask. */
    sigset_t none;
    sigset_t def;
    (void)sigemptyset(&none);
    (void)sigfillset(&def);
    (void)sigdelset(&def, SIGKILL);
    (void)sigdelset(&def, SIGSTOP);
    int r = posix_spawnattr_init(attr);
    r = r != 0 ? r : posix_spawnattr_setsigmask(attr, &none);
    r = r != 0 ? r : posix_spawnattr_setsigdefault(attr, &def);
    r = r != 0 ? r : posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = r != 0 ? r : posix_spawn_file_actions_init(fa);
    if (r == 0 && in_fd >= 0) {
        r = posix_spawn_file_actions_adddup2(fa, in_fd, STDIN_FILENO);
    } else if (r == 0) {
        r = posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    return -r;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    (void)nanosleep(&ts, NULL);
}

/* Waits for pid at most timeout_ms; kills it after that. Returns its wait status or -errno. */
static int
wait_bounded(pid_t pid, uint64_t timeout_ms, int *ret_status)
{
    uint64_t deadline = gdp_loop_now_ms() + timeout_ms;
    unsigned nap = 1;
    for (;;) {
        pid_t w = waitpid(pid, ret_status, WNOHANG);
        if (w == pid) {
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            return -errno;
        }
        if (gdp_loop_now_ms() >= deadline) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, ret_status, 0);
            return -ETIMEDOUT;
        }
        sleep_ms(nap);
        nap = nap < 50 ? nap * 2 : nap;
    }
}

static int
status_error(int st, const char *what, struct gdp_diag *diag)
{
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        return 0;
    }
    if (WIFEXITED(st)) {
        return gdp_diag_set(diag, -EIO, "%s: exited with status %d", what, WEXITSTATUS(st));
    }
    return gdp_diag_set(diag, -EIO, "%s: killed by signal %d", what, WTERMSIG(st));
}

/* Runs one child on PATH and waits for it (bounded). Returns 0 when it exits with 0. */
static int
run_child(const struct mps_cmd *m, const struct child *c, struct gdp_diag *diag)
{
    _cleanup_free_ char *what = argv_text(c->argv);
    _cleanup_close_ int in_fd = -1;
    int r = c->input != NULL ? input_pipe(c->input, &in_fd) : 0;
    if (r < 0) {
        return gdp_diag_set(diag, r, "%s: cannot create a pipe: %s", what, gdp_strerror(r));
    }
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    r = spawn_setup(&attr, &fa, in_fd);
    _cleanup_free_ char **env = child_env(m->envp, c->env);
    pid_t pid = -1;
    if (r == 0) {
        /* posix_spawnp's argv is not const-qualified; it does not modify it. */
        r = -posix_spawnp(&pid, c->argv[0], &fa, &attr, (char *const *)c->argv, env);
    }
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)posix_spawnattr_destroy(&attr);
    if (r < 0) {
        return gdp_diag_set(diag, r, "cannot run %s: %s", what, gdp_strerror(r));
    }
    int st = 0;
    r = wait_bounded(pid, (uint64_t)m->cfg.mps_command_timeout_ms, &st);
    if (r == -ETIMEDOUT) {
        return gdp_diag_set(diag, r, "%s: no exit after %u ms, killed", what,
                            m->cfg.mps_command_timeout_ms);
    }
    if (r < 0) {
        return gdp_diag_set(diag, r, "%s: waitpid: %s", what, gdp_strerror(r));
    }
    return status_error(st, what, diag);
}

static int
set_compute_mode(const struct mps_cmd *m, const char *uuid, const char *mode, struct gdp_diag *diag)
{
    const char *const argv[] = {NVIDIA_SMI, "-i", uuid, "-c", mode, NULL};
    struct child c = {.argv = argv};
    return run_child(m, &c, diag);
}

/* Runs nvidia-cuda-mps-control for daemon d: with -d when input is NULL, else as a client
 * fed the command line input. */
static int
mps_control(const struct mps_cmd *m, const struct gdp_mps_daemon_plan *d, const char *input,
            struct gdp_diag *diag)
{
    const char *root = m->cfg.mps_root;
    _cleanup_free_ char *pipe = gdp_mps_pipe_dir(root, d->resource);
    _cleanup_free_ char *log = gdp_mps_log_dir(root, d->resource);
    _cleanup_free_ char *pipe_env = gdp_asprintf(GDP_MPS_PIPE_ENV "=%s", pipe);
    _cleanup_free_ char *log_env = gdp_asprintf(GDP_MPS_LOG_ENV "=%s", log);
    _cleanup_free_ char *vis_env = gdp_asprintf("CUDA_VISIBLE_DEVICES=%s", d->visible_devices);
    const char *const daemon_argv[] = {MPS_CONTROL, "-d", NULL};
    const char *const client_argv[] = {MPS_CONTROL, NULL};
    struct child c = {
            .argv = input == NULL ? daemon_argv : client_argv,
            .env = {pipe_env, log_env, vis_env, NULL},
            .input = input,
    };
    int r = run_child(m, &c, diag);
    if (r < 0 && input != NULL) {
        (void)gdp_diag_prefix(diag, r, "sending \"%.*s\"", (int)strcspn(input, "\n"), input);
    }
    return r;
}

static int
mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = gdp_strdup(path);
    for (char *s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            return -errno;
        }
        *s = '/';
    }
    return mkdir(p, mode) < 0 && errno != EEXIST ? -errno : 0;
}

static int
make_dirs(const char *root, const char *resource, struct gdp_diag *diag)
{
    char *dirs[] = {gdp_mps_pipe_dir(root, resource), gdp_mps_log_dir(root, resource),
                    gdp_mps_shm_dir(root)};
    int r = 0;
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        int e = r < 0 ? 0 : mkdir_p(dirs[i], 0755);
        if (e < 0) {
            r = gdp_diag_set(diag, e, "cannot create %s: %s", dirs[i], gdp_strerror(e));
        }
        free(dirs[i]);
    }
    return r;
}

static int
write_marker(const char *path, const char *text, struct gdp_diag *diag)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int r = -errno;
        return gdp_diag_set(diag, r, "cannot create %s: %s", path, gdp_strerror(r));
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        return gdp_diag_set(diag, -EIO, "cannot write %s", path);
    }
    return 0;
}

static void
remove_marker(const char *path)
{
    if (unlink(path) < 0 && errno != ENOENT) {
        log_warn_errno(-errno, "cannot remove %s, ignoring", path);
    }
}

/* The per-GPU pinned memory limits and the active thread percentage, as NVIDIA sets them. */
static int
set_limits(const struct mps_cmd *m, const struct gdp_mps_daemon_plan *d, struct gdp_diag *diag)
{
    for (size_t i = 0; i < d->n_gpus; i++) {
        const struct gdp_mps_gpu *g = &d->gpus[i];
        if (g->mem_limit_mb == 0) {
            continue;
        }
        _cleanup_free_ char *line = gdp_asprintf("set_default_device_pinned_mem_limit %u %lluM\n",
                                                 g->ordinal, (unsigned long long)g->mem_limit_mb);
        int r = mps_control(m, d, line, diag);
        if (r < 0) {
            return r;
        }
    }
    _cleanup_free_ char *line =
            gdp_asprintf("set_default_active_thread_percentage %u\n", d->thread_percent);
    return mps_control(m, d, line, diag);
}

static int
daemon_start(struct mps_cmd *m, size_t i, struct gdp_diag *diag)
{
    const struct gdp_mps_daemon_plan *d = &m->plan.daemons[i];
    for (size_t g = 0; g < d->n_gpus; g++) {
        int r = set_compute_mode(m, d->gpus[g].uuid, "EXCLUSIVE_PROCESS", diag);
        if (r < 0) {
            return r;
        }
    }
    int r = make_dirs(m->cfg.mps_root, d->resource, diag);
    r = r < 0 ? r : mps_control(m, d, NULL, diag);
    if (r < 0) {
        return r;
    }
    m->running[i] = true;
    r = set_limits(m, d, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_free_ char *started = gdp_mps_started_path(m->cfg.mps_root, d->resource);
    return write_marker(started, "", diag);
}

static void
reset_compute_mode(const struct mps_cmd *m, const char *resource, const char *uuid)
{
    struct gdp_diag diag = {0};
    if (set_compute_mode(m, uuid, "DEFAULT", &diag) < 0) {
        log_warn("%s: %s, ignoring", resource, diag.msg);
    }
}

static void
daemon_stop(struct mps_cmd *m, size_t i)
{
    const struct gdp_mps_daemon_plan *d = &m->plan.daemons[i];
    struct gdp_diag diag = {0};
    if (m->running[i] && mps_control(m, d, "quit\n", &diag) < 0) {
        log_warn("%s: stopping the MPS control daemon: %s, ignoring", d->resource, diag.msg);
    }
    m->running[i] = false;
    for (size_t g = 0; g < d->n_gpus; g++) {
        reset_compute_mode(m, d->resource, d->gpus[g].uuid);
    }
    log_info("stopped MPS control daemon resource=%s", d->resource);
}

static void
remove_markers(const struct mps_cmd *m)
{
    _cleanup_free_ char *ready = gdp_mps_ready_path(m->cfg.mps_root);
    remove_marker(ready);
    for (size_t i = 0; i < m->plan.n_daemons; i++) {
        _cleanup_free_ char *started =
                gdp_mps_started_path(m->cfg.mps_root, m->plan.daemons[i].resource);
        remove_marker(started);
    }
}

static void
stop_all(struct mps_cmd *m)
{
    remove_markers(m);
    for (size_t i = 0; i < m->plan.n_daemons; i++) {
        daemon_stop(m, i);
    }
}

static int
start_one(struct mps_cmd *m, size_t i)
{
    const struct gdp_mps_daemon_plan *d = &m->plan.daemons[i];
    struct gdp_diag diag = {0};
    int r = daemon_start(m, i, &diag);
    if (r < 0) {
        log_error("%s: starting the MPS control daemon: %s; retrying in %u ms", d->resource,
                  diag.msg, m->cfg.mps_retry_interval_ms);
        return r;
    }
    log_info("started MPS control daemon resource=%s gpus=%s thread_percentage=%u", d->resource,
             d->visible_devices, d->thread_percent);
    return 0;
}

static int
write_ready(const struct mps_cmd *m)
{
    struct gdp_diag diag = {0};
    _cleanup_free_ char *ready = gdp_mps_ready_path(m->cfg.mps_root);
    int r = write_marker(ready, "", &diag);
    if (r < 0) {
        log_error("%s; retrying in %u ms", diag.msg, m->cfg.mps_retry_interval_ms);
        return r;
    }
    log_info("all %zu MPS control daemons started; wrote %s", m->plan.n_daemons, ready);
    return 0;
}

/* Starts every daemon; after a failure stops them all and arms the retry timer. */
static void
start_all(struct mps_cmd *m)
{
    if (m->plan.n_daemons == 0) {
        log_info("no resource is shared with MPS; waiting for a signal");
        return;
    }
    int r = 0;
    for (size_t i = 0; i < m->plan.n_daemons && r >= 0; i++) {
        r = start_one(m, i);
    }
    r = r < 0 ? r : write_ready(m);
    if (r < 0) {
        stop_all(m);
        (void)gdp_loop_timer_set(m->retry, m->cfg.mps_retry_interval_ms, 0);
    }
}

/* Under NVIDIA's program name an unset --mps-root is /mps; the config file may still set it. */
static void
default_mps_root(struct gdp_config *cfg, bool as_program)
{
    if (as_program && (cfg->mps_root == NULL || cfg->mps_root[0] == '\0')) {
        free(cfg->mps_root);
        cfg->mps_root = gdp_strdup(MPS_ROOT_DEFAULT);
    }
}

/* Parses the flags and config file, discovers the node and computes the daemons. */
static int
load(const struct mps_cmd *m, struct gdp_config *cfg, struct gdp_mps_plan *plan,
     struct gdp_diag *diag)
{
    gdp_config_init(cfg);
    int n = gdp_config_parse_args(cfg, GDP_CMD_SERVE, m->argc, m->argv, m->envp, diag);
    if (n >= 0 && !cfg->help && n < m->argc) {
        n = gdp_diag_set(diag, GDP_E_CONFIG, "unexpected argument \"%s\"", m->argv[n]);
    }
    if (n < 0 || cfg->help) {
        return n;
    }
    default_mps_root(cfg, m->as_program);
    int r = gdp_config_finish(cfg, diag);
    if (r < 0) {
        return r;
    }
    if (cfg->sharing.strategy == GDP_SHARING_MPS) {
        cfg->fail_on_init_error = true; /* no GPUs means nothing to run: say why */
    }
    _cleanup_(gdp_inventory_done) struct gdp_inventory inv = {0};
    r = gdp_inventory_load(cfg, &inv, diag);
    if (r < 0) {
        return gdp_diag_prefix(diag, r, "discovery%s", gdp_inventory_hint(r));
    }
    return gdp_mps_plan_build(cfg, inv.set, plan, diag);
}

static void
swap_in(struct mps_cmd *m, struct gdp_config *cfg, struct gdp_mps_plan *plan)
{
    gdp_config_done(&m->cfg);
    gdp_mps_plan_done(&m->plan);
    free(m->running);
    m->cfg = *cfg;
    m->plan = *plan;
    *cfg = (struct gdp_config){0};
    *plan = (struct gdp_mps_plan){0};
    m->running = gdp_calloc(m->plan.n_daemons + 1, sizeof(bool));
}

static void
reload(struct mps_cmd *m)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    _cleanup_(gdp_mps_plan_done) struct gdp_mps_plan plan = {0};
    int r = load(m, &cfg, &plan, &diag);
    if (r < 0) {
        log_error("reload: %s; keeping the running MPS control daemons", diag.msg);
        return;
    }
    log_info("SIGHUP: restarting the MPS control daemons");
    (void)gdp_loop_timer_set(m->retry, 0, 0);
    stop_all(m);
    swap_in(m, &cfg, &plan);
    gdp_log_level = m->cfg.log_level;
    start_all(m);
}

static void
on_signal(struct gdp_loop *loop, int signo, void *userdata)
{
    struct mps_cmd *m = userdata;
    if (signo == SIGHUP) {
        reload(m);
        return;
    }
    log_info("signal %d: stopping the MPS control daemons", signo);
    (void)gdp_loop_timer_set(m->retry, 0, 0);
    stop_all(m);
    gdp_loop_quit(loop, 0);
}

static void
on_retry(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    start_all(userdata);
}

static int
setup_loop(struct mps_cmd *m, struct gdp_diag *diag)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};
    int r = gdp_loop_new(&m->loop, diag);
    r = r < 0 ? r : gdp_loop_timer_new(m->loop, on_retry, m, &m->retry, diag);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(signals); i++) {
        r = gdp_loop_add_signal(m->loop, signals[i], on_signal, m);
        if (r < 0) {
            (void)gdp_diag_set(diag, r, "cannot watch signal %d: %s", signals[i], gdp_strerror(r));
        }
    }
    return r;
}

static void
mps_cmd_done(struct mps_cmd *m)
{
    gdp_loop_timer_free(m->retry);
    gdp_loop_free(m->loop);
    gdp_mps_plan_done(&m->plan);
    gdp_config_done(&m->cfg);
    free(m->running);
}

/* Half of MemTotal in KiB, NVIDIA's size for the MPS tmpfs; its fallback when unknown. */
static unsigned long
shm_size_kb(void)
{
    _cleanup_free_ char *text = NULL;
    unsigned long kb = 0;
    if (gdp_read_file("/proc/meminfo", MEMINFO_MAX, &text) < 0) {
        return SHM_FALLBACK_KB;
    }
    const char *p = strstr(text, "MemTotal:");
    if (p == NULL || sscanf(p, "MemTotal: %lu kB", &kb) != 1 || kb < 2) {
        return SHM_FALLBACK_KB;
    }
    return kb / 2;
}

/* Mounts a fresh tmpfs at <root>/shm; ret_opts gets its size option for the log line. */
static int
mount_shm(const char *root, char *ret_opts, size_t opts_len, struct gdp_diag *diag)
{
    _cleanup_free_ char *dir = gdp_asprintf("%s/shm", root);
    int r = mkdir_p(dir, 0755);
    if (r < 0) {
        return gdp_diag_set(diag, r, "cannot create %s: %s", dir, gdp_strerror(r));
    }
    /* replace what an earlier run mounted rather than stack on it; nothing there is fine */
    (void)umount2(dir, 0);
    (void)snprintf(ret_opts, opts_len, "size=%luk", shm_size_kb());
    if (mount("tmpfs", dir, "tmpfs", SHM_FLAGS, ret_opts) < 0) {
        r = -errno;
        return gdp_diag_set(diag, r, "cannot mount a tmpfs at %s: %s", dir, gdp_strerror(r));
    }
    return 0;
}

static void
usage(FILE *f)
{
    (void)fprintf(f, "Usage: gpu-device-plugin mps-control-daemon --mps-root=DIR [serve flags]\n"
                     "       gpu-device-plugin mps-control-daemon mount-shm --mps-root=DIR\n"
                     "Runs one MPS control daemon per resource shared with MPS (sharing.mps of "
                     "--config-file). mount-shm mounts a tmpfs for MPS at DIR/shm "
                     "(rw,nosuid,nodev,noexec,relatime, size half of MemTotal), then exits.\n"
                     "Run as mps-control-daemon (the program name in the image), --mps-root "
                     "defaults to " MPS_ROOT_DEFAULT ".\n");
}

/* `mount-shm [--mps-root=DIR]`: argv starts after "mount-shm". */
static int
cmd_mount_shm(int argc, char **argv, char **envp, bool as_program)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    gdp_config_init(&cfg);
    int n = gdp_config_parse_args(&cfg, GDP_CMD_SERVE, argc, argv, envp, &diag);
    if (n >= 0 && !cfg.help && n < argc) {
        n = gdp_diag_set(&diag, GDP_E_CONFIG, "unexpected argument \"%s\"", argv[n]);
    }
    if (n >= 0 && cfg.help) {
        usage(stdout);
        return GDP_EXIT_OK;
    }
    default_mps_root(&cfg, as_program);
    if (n >= 0 && (cfg.mps_root == NULL || cfg.mps_root[0] == '\0')) {
        n = gdp_diag_set(&diag, GDP_E_CONFIG, "--mps-root is required");
    }
    if (n < 0) {
        (void)fprintf(stderr, "gpu-device-plugin mps-control-daemon mount-shm: %s\n", diag.msg);
        return GDP_EXIT_USAGE;
    }
    gdp_log_level = cfg.log_level;
    gdp_log_format = cfg.log_format;
    char opts[64];
    if (mount_shm(cfg.mps_root, opts, sizeof opts, &diag) < 0) {
        log_error("mount-shm: %s", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    log_info("mounted a tmpfs at %s/shm (%s)", cfg.mps_root, opts);
    return GDP_EXIT_OK;
}

int
gdp_cmd_mps_control_daemon(int argc, char **argv, char **envp)
{
    bool as_program = streq(program_invocation_short_name, PROGRAM_NAME);
    if (argc > 0 && streq(argv[0], "mount-shm")) {
        return cmd_mount_shm(argc - 1, argv + 1, envp, as_program);
    }
    _cleanup_(mps_cmd_done) struct mps_cmd m = {
            .argc = argc, .argv = argv, .envp = envp, .as_program = as_program};
    struct gdp_diag diag = {0};
    struct gdp_config cfg = {0};
    struct gdp_mps_plan plan = {0};
    int r = load(&m, &cfg, &plan, &diag);
    swap_in(&m, &cfg, &plan);
    if (r >= 0 && m.cfg.help) {
        usage(stdout);
        gdp_config_print_help(stdout, GDP_CMD_SERVE);
        return GDP_EXIT_OK;
    }
    if (r < 0) {
        (void)fprintf(stderr, "gpu-device-plugin mps-control-daemon: %s\n", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    gdp_log_level = m.cfg.log_level;
    gdp_log_format = m.cfg.log_format;
    for (size_t i = 0; i < m.cfg.warnings.n; i++) {
        log_warn("%s", m.cfg.warnings.v[i]);
    }
    r = setup_loop(&m, &diag);
    if (r < 0) {
        log_error("mps-control-daemon: %s", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    remove_markers(&m); /* what a previous run left behind is stale */
    start_all(&m);
    r = gdp_loop_run(m.loop);
    return r < 0 ? GDP_EXIT_FAILURE : GDP_EXIT_OK;
}
