/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin gpu-feature-discovery`: NVIDIA's gpu-feature-discovery. Each pass loads
 * NVML, discovers the node, computes the labels (labels/) and writes them to the
 * node-feature-discovery feature file (atomically, with an expiry time of three sleep
 * intervals so that a dead process's labels go away) or to standard output. With --oneshot it
 * stops after one pass; otherwise it sleeps --sleep-interval (or until a signal when
 * "infinite"). SIGHUP reloads the configuration and relabels at once; SIGTERM, SIGINT and
 * SIGQUIT stop it, removing the file it kept up to date. This process serves nothing else, so
 * it waits for signals with sigtimedwait() instead of an event loop.
 */
#include "cmd/gfd.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/vgpu.h"
#include "labels/labels.h"
#include "nvml/nvml.h"

#define NS_PER_SEC       INT64_C(1000000000)
#define MACHINE_TYPE_MAX 4096
/* Expiry of the feature file, in sleep intervals: a pass may be late, three are not. */
#define EXPIRY_INTERVALS 3

enum wake {
    WAKE_TIMER,
    WAKE_RELOAD,
    WAKE_STOP,
};

/* Warnings of one pass; one already logged by the previous pass is not logged again. */
struct warnings {
    char *seen;    /* the previous pass's, each as "\n<text>\n" */
    char *pending; /* this pass's */
};

static void warn_once(struct warnings *w, const char *fmt, ...) _printf_(2, 3);

static void
warn_once(struct warnings *w, const char *fmt, ...)
{
    char text[GDP_LABELS_WARNING_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    _cleanup_free_ char *entry = gdp_asprintf("\n%s\n", text);
    if (w->seen == NULL || strstr(w->seen, entry) == NULL) {
        log_warn("%s", text);
    }
    char *old = w->pending;
    w->pending = gdp_asprintf("%s%s", old != NULL ? old : "", entry);
    free(old);
}

static void
warnings_done(struct warnings *w)
{
    free(w->seen);
    free(w->pending);
}

struct gdp_gfd_writer {
    struct warnings warned;
};

static void
warnings_next_pass(struct warnings *w)
{
    free(w->seen);
    w->seen = TAKE_PTR(w->pending);
}

static char *
read_machine_type(const char *path, struct warnings *w)
{
    char *text = NULL;
    if (path == NULL || path[0] == '\0') {
        return NULL;
    }
    int r = gdp_read_file(path, MACHINE_TYPE_MAX, &text);
    if (r < 0) {
        warn_once(w,
                  "cannot read machine type file %s: %s; labelling nvidia.com/gpu.machine=unknown",
                  path, gdp_strerror(r));
        return NULL;
    }
    return text;
}

/* Loads NVML and discovers the node; *ret stays NULL when NVML is unavailable and allowed. */
static int
discover(const struct gdp_config *cfg, struct warnings *w, struct gdp_nvml **ret_nv,
         struct gdp_node **ret)
{
    struct gdp_diag diag = {0};
    const struct gdp_discover_opts opts = {
            .sysfs_root = gdp_nonempty(cfg->sysfs_root),
            .proc_root = gdp_nonempty(cfg->proc_root),
    };
    int r = gdp_nvml_open(cfg->driver_root_ctr_path, ret_nv, &diag);
    if (r >= 0) {
        r = gdp_discover(*ret_nv, &opts, ret, &diag);
    }
    if (r < 0 && cfg->fail_on_init_error) {
        return log_error_errno(r, "failed to initialize NVML: %s", diag.msg);
    }
    if (r < 0) {
        warn_once(w,
                  "failed to initialize NVML: %s; labelling without GPUs "
                  "(--fail-on-init-error=false)",
                  diag.msg);
    }
    return 0;
}

static void
probe_vgpu(const struct gdp_config *cfg, struct warnings *w, struct gdp_vgpu_info *ret)
{
    struct gdp_diag diag = {0};
    if (gdp_vgpu_probe(gdp_nonempty(cfg->sysfs_root), ret, &diag) < 0) {
        warn_once(w, "vGPU detection failed, no nvidia.com/vgpu.* labels: %s", diag.msg);
        ret->present = false;
    }
}

/* Writes the labels to path (empty: standard output) with an expiry line when expiry > 0. */
static int
output(const char *path, const struct gdp_labels *labels, int64_t expiry)
{
    struct gdp_diag diag = {0};
    _cleanup_free_ char *text = NULL;
    int r = gdp_labels_format(labels, expiry, &text, &diag);
    if (r < 0) {
        return log_error_errno(r, "%s", diag.msg);
    }
    if (path == NULL || path[0] == '\0') {
        (void)fputs(text, stdout);
        return fflush(stdout) == 0 ? 0 : log_error_errno(-EIO, "cannot write the labels");
    }
    r = gdp_labels_write_file(path, text, &diag);
    if (r < 0) {
        return log_error_errno(r, "%s", diag.msg);
    }
    log_debug("wrote %zu labels to %s", labels->n, path);
    return 0;
}

/* Three sleep intervals from now in loop mode with a finite interval, else 0 (none). */
static int64_t
expiry_of(const struct gdp_config *cfg, int64_t now)
{
    int64_t interval = cfg->gfd.sleep_interval_ns;
    if (cfg->gfd.oneshot || interval <= 0) {
        return 0;
    }
    return now + (interval + NS_PER_SEC - 1) / NS_PER_SEC * EXPIRY_INTERVALS;
}

/* Computes the labels of node; logs and returns a negative code on failure. */
static int
compute(const struct gdp_config *cfg, const struct gdp_node *node, struct warnings *w, int64_t now,
        struct gdp_labels *ret)
{
    struct gdp_diag diag = {0};
    struct gdp_vgpu_info vgpu = {0};
    probe_vgpu(cfg, w, &vgpu);
    _cleanup_free_ char *machine = read_machine_type(cfg->gfd.machine_type_file, w);
    const struct gdp_labels_input in = {
            .node = node, .cfg = cfg, .machine_type = machine, .vgpu = &vgpu, .now = now};
    int r = gdp_labels_build(&in, ret, &diag);
    for (size_t i = 0; i < ret->n_warnings; i++) {
        warn_once(w, "%s", ret->warnings[i]);
    }
    if (r < 0) {
        log_error("cannot generate labels: %s", diag.msg); /* diag already says why */
        return r;
    }
    if (node == NULL || node->n_devices == 0) {
        warn_once(w, "no GPUs found: only the timestamp label is written");
    }
    return 0;
}

/* The NodeFeature object instead of the file; a failure is logged and tried again next pass. */
static int
publish(struct gdp_gfd_api *api, const struct gdp_labels *labels)
{
    struct gdp_diag diag = {0};
    int r = gdp_gfd_api_publish(api, labels, &diag);
    if (r < 0) {
        log_error("cannot store the labels in the NodeFeature object: %s", diag.msg);
    }
    return r;
}

/* One labelling pass. Returns 0 or a negative code (already logged). */
static int
label_once(const struct gdp_config *cfg, struct gdp_gfd_api *api, struct warnings *w)
{
    struct gdp_nvml *nv = NULL;
    struct gdp_node *node = NULL;
    struct gdp_labels labels = {0};
    const int64_t now = (int64_t)time(NULL);
    int r = discover(cfg, w, &nv, &node);
    r = r < 0 ? r : compute(cfg, node, w, now, &labels);
    if (r >= 0 && api != NULL) {
        r = publish(api, &labels);
    } else if (r >= 0) {
        r = output(cfg->gfd.output_file, &labels, expiry_of(cfg, now));
    }
    gdp_labels_done(&labels);
    gdp_node_free(node);
    gdp_nvml_free(nv);
    warnings_next_pass(w);
    return r;
}

static enum wake
wait_signal(const sigset_t *set, int64_t interval_ns)
{
    for (;;) {
        int sig;
        if (interval_ns == GDP_DURATION_INFINITE) {
            sig = sigwaitinfo(set, NULL);
        } else {
            struct timespec ts = {.tv_sec = (time_t)(interval_ns / NS_PER_SEC),
                                  .tv_nsec = (long)(interval_ns % NS_PER_SEC)};
            sig = sigtimedwait(set, NULL, &ts);
        }
        if (sig < 0 && errno == EAGAIN) {
            return WAKE_TIMER;
        }
        if (sig > 0) {
            return sig == SIGHUP ? WAKE_RELOAD : WAKE_STOP;
        }
        /* EINTR from a signal outside the set: wait again (a shorter wait is harmless) */
    }
}

static void
reload(struct gdp_config *cfg, const struct gdp_config_source *src)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_config_done) struct gdp_config next = {0};
    int r = gdp_config_load(&next, src, &diag);
    if (r < 0) {
        log_error("SIGHUP: invalid configuration, keeping the current one: %s", diag.msg);
        return;
    }
    for (size_t i = 0; i < next.warnings.n; i++) {
        log_warn("%s", next.warnings.v[i]);
    }
    gdp_config_done(cfg);
    *cfg = next;
    next = (struct gdp_config){0};
    log_info("SIGHUP: configuration reloaded");
}

static void
gdp_gfd_api_freep(struct gdp_gfd_api **api)
{
    gdp_gfd_api_free(*api);
}

/* The API client for --use-node-feature-api (NVIDIA's default). Logs why it cannot. */
static int
open_api(const struct gdp_config *cfg, const struct gdp_config_source *src,
         struct gdp_gfd_api **ret)
{
    struct gdp_diag diag = {0};
    int r = gdp_gfd_api_new(cfg, src->envp, ret, &diag);
    if (r < 0) {
        log_error("--use-node-feature-api%s: %s",
                  cfg->gfd.use_node_feature_api < 0 ? " (default)" : "", diag.msg);
    }
    return r;
}

/* On stop: labels of a GFD that no longer refreshes them must go (NVIDIA's rule). */
static void
remove_output(const struct gdp_config *cfg)
{
    log_info("stop signal received, shutting down");
    const char *path = cfg->gfd.output_file;
    if (path != NULL && path[0] != '\0' && cfg->gfd.sleep_interval_ns != GDP_DURATION_INFINITE &&
        unlink(path) < 0 && errno != ENOENT) {
        log_warn("cannot remove %s: %s", path, strerror(errno));
    }
}

int
gdp_cmd_gfd(struct gdp_config *cfg, const struct gdp_config_source *src)
{
    sigset_t set;
    (void)sigemptyset(&set);
    (void)sigaddset(&set, SIGHUP);
    (void)sigaddset(&set, SIGTERM);
    (void)sigaddset(&set, SIGINT);
    (void)sigaddset(&set, SIGQUIT);
    (void)sigprocmask(SIG_BLOCK, &set, NULL);
    if (!cfg->gfd.oneshot && cfg->gfd.sleep_interval_ns == 0) {
        /* NVIDIA's GFD would relabel in a busy loop */
        log_error("--sleep-interval=0 would relabel without pause: use a positive duration, "
                  "infinite, or --oneshot");
        return GDP_EXIT_USAGE;
    }
    _cleanup_(gdp_gfd_api_freep) struct gdp_gfd_api *api = NULL;
    if (cfg->gfd.use_node_feature_api != 0 && open_api(cfg, src, &api) < 0) {
        return GDP_EXIT_FAILURE;
    }
    _cleanup_(warnings_done) struct warnings warned = {0};
    for (;;) {
        int r = label_once(cfg, api, &warned);
        if (cfg->gfd.oneshot || (r < 0 && api == NULL)) {
            return r < 0 ? GDP_EXIT_FAILURE : GDP_EXIT_OK;
        }
        enum wake w = wait_signal(&set, cfg->gfd.sleep_interval_ns);
        if (w == WAKE_STOP) {
            remove_output(cfg);
            return GDP_EXIT_OK;
        }
        if (w == WAKE_RELOAD) {
            reload(cfg, src);
        }
    }
}

struct gdp_gfd_writer *
gdp_gfd_writer_new(void)
{
    return gdp_calloc(1, sizeof(struct gdp_gfd_writer));
}

void
gdp_gfd_writer_free(struct gdp_gfd_writer *w)
{
    if (w != NULL) {
        warnings_done(&w->warned);
        free(w);
    }
}

int
gdp_gfd_writer_write(struct gdp_gfd_writer *w, const struct gdp_config *cfg,
                     const struct gdp_node *node, const char *path)
{
    struct gdp_labels labels = {0};
    const int64_t now = (int64_t)time(NULL);
    /* no expiry: the plugin rewrites on events only, not on a period */
    int r = compute(cfg, node, &w->warned, now, &labels);
    r = r < 0 ? r : output(path, &labels, 0);
    gdp_labels_done(&labels);
    warnings_next_pass(&w->warned);
    return r;
}
