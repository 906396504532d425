/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File-system watches (one inotify descriptor on the loop):
 *  - the socket directory: a new kubelet.sock means a restarted kubelet (serve what is
 *    missing, register again); a deleted plugin socket (the kubelet removes them when it
 *    starts) means serving it anew and registering again; a deleted or moved directory is
 *    polled for (with backoff) until it exists again, then watched, served and registered
 *    anew;
 *  - the config file: its directory, and the directory its symlink points into, so both an
 *    edit and the symlink swap NVIDIA's config-manager does (or a ConfigMap's ..data swap)
 *    are seen; bursts are debounced and a reload happens only when the content changed.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "plugin/manager_int.h"
#include "plugin/server.h"

#define CONFIG_SETTLE_MS 100
#define CONFIG_FILE_MAX  (1u << 20)
#define DIR_EVENTS       (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE)
#define SOCKET_DIR_EVENTS \
    (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF)
#define DIR_POLL_FIRST_MS 50
#define DIR_POLL_MAX_MS   2000

uint64_t
gdp_watch_config_hash(const char *path)
{
    _cleanup_free_ char *text = NULL;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    if (path == NULL || gdp_read_file(path, CONFIG_FILE_MAX, &text) < 0) {
        return 0;
    }
    for (const char *p = text; *p != '\0'; p++) {
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    }
    return h;
}

static void
kubelet_appeared(struct gdp_manager *m)
{
    log_info("kubelet socket %s created: registering again", m->kubelet_socket);
    gdp_metric_add(GDP_M_KUBELET_RESTARTS, NULL, 1);
    for (size_t i = 0; i < m->n_entries; i++) {
        struct gdp_entry *e = m->entries[i];
        if (e->state == GDP_REG_WAIT_MPS ||
            (!gdp_plugin_socket_present(e->plugin) && gdp_entry_serve(e) < 0)) {
            continue;
        }
        gdp_entry_reset_backoff(e);
        gdp_entry_register(e);
    }
}

static void
socket_removed(struct gdp_manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        struct gdp_entry *e = m->entries[i];
        if (!streq(name, gdp_plugin_endpoint(e->plugin)) || gdp_plugin_socket_present(e->plugin) ||
            e->state == GDP_REG_WAIT_MPS) {
            continue;
        }
        log_info("resource=%s socket %s was removed: serving and registering again",
                 gdp_plugin_resource(e->plugin), gdp_plugin_socket(e->plugin));
        if (gdp_entry_serve(e) >= 0) {
            gdp_entry_register(e);
        }
    }
}

static void
config_settled(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_,
               void *userdata)
{
    struct gdp_manager *m = userdata;
    uint64_t h = gdp_watch_config_hash(m->cur->cfg.config_file);
    if (h == 0 || h == m->config_hash) {
        return; /* gone for a moment (symlink swap) or unchanged */
    }
    gdp_manager_reload(m, "config file changed");
}

/* Serves every resource anew and registers it: the directory came back. */
static void
serve_all_again(struct gdp_manager *m)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        struct gdp_entry *e = m->entries[i];
        if (e->state == GDP_REG_WAIT_MPS) {
            continue;
        }
        if (gdp_plugin_socket_present(e->plugin) || gdp_entry_serve(e) >= 0) {
            gdp_entry_reset_backoff(e);
            gdp_entry_register(e);
        }
    }
}

static int
add_socket_dir_watch(struct gdp_manager *m)
{
    m->socket_wd = inotify_add_watch(m->inotify_fd, m->socket_dir, SOCKET_DIR_EVENTS);
    return m->socket_wd < 0 ? -errno : 0;
}

static void
dir_poll(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer, void *userdata)
{
    struct gdp_manager *m = userdata;
    if (m->stop_timer != NULL || m->socket_wd >= 0) {
        return;
    }
    if (add_socket_dir_watch(m) < 0) {
        m->dir_backoff_ms =
                m->dir_backoff_ms * 2 > DIR_POLL_MAX_MS ? DIR_POLL_MAX_MS : m->dir_backoff_ms * 2;
        (void)gdp_loop_timer_set(timer, m->dir_backoff_ms, 0);
        return;
    }
    log_info("socket directory %s is back: serving and registering again", m->socket_dir);
    serve_all_again(m);
}

/* The watch on the socket directory ended (deleted, moved, unmounted): wait for it. */
static void
socket_dir_lost(struct gdp_manager *m)
{
    log_warn("socket directory %s is gone; serving again once it exists", m->socket_dir);
    (void)inotify_rm_watch(m->inotify_fd, m->socket_wd); /* still set after IN_MOVE_SELF */
    m->socket_wd = -1;
    m->dir_backoff_ms = DIR_POLL_FIRST_MS;
    if (m->dir_timer != NULL) {
        (void)gdp_loop_timer_set(m->dir_timer, m->dir_backoff_ms, 0);
    }
    /* serving fails now and is retried, so that the outage counts (--max-serve-outage) */
    for (size_t i = 0; i < m->n_entries; i++) {
        struct gdp_entry *e = m->entries[i];
        if (e->state != GDP_REG_WAIT_MPS && e->state != GDP_REG_WAIT_SERVE &&
            !gdp_plugin_socket_present(e->plugin) && gdp_entry_serve(e) >= 0) {
            gdp_entry_register(e);
        }
    }
}

static void
socket_dir_event(struct gdp_manager *m, const struct inotify_event *ev)
{
    if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && m->kubelet_name != NULL &&
        streq(ev->name, m->kubelet_name)) {
        kubelet_appeared(m);
    } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
        socket_removed(m, ev->name);
    }
}

static void
inotify_event(struct gdp_manager *m, const struct inotify_event *ev)
{
    if (m->stop_timer != NULL) {
        return;
    }
    bool config = (ev->wd == m->config_wd[0] && ev->len > 0 && streq(ev->name, m->config_name)) ||
                  (ev->wd == m->config_wd[1] && m->config_wd[1] != m->config_wd[0]);
    if (config && m->config_timer != NULL) {
        (void)gdp_loop_timer_set(m->config_timer, CONFIG_SETTLE_MS, 0);
    }
    if (ev->wd == m->socket_wd && ev->len > 0) {
        socket_dir_event(m, ev);
    } else if (ev->wd == m->socket_wd &&
               (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))) {
        socket_dir_lost(m);
    }
}

static void
inotify_ready(struct gdp_loop *loop _unused_, int fd, uint32_t events _unused_, void *userdata)
{
    struct gdp_manager *m = userdata;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            return; /* EAGAIN: drained */
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            inotify_event(m, ev);
            p += sizeof *ev + ev->len;
        }
    }
}

/* The directory a symlink's target lives in, or NULL when path is no symlink. */
static char *
link_target_dir(const char *path)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) {
        return NULL;
    }
    target[n] = '\0';
    _cleanup_free_ char *copy = gdp_strdup(path);
    _cleanup_free_ char *full =
            target[0] == '/' ? gdp_strdup(target) : gdp_asprintf("%s/%s", dirname(copy), target);
    return gdp_strdup(dirname(full));
}

static void
watch_config_file(struct gdp_manager *m)
{
    const char *file = m->cur->cfg.config_file;
    struct gdp_diag diag = {0};
    if (file == NULL || file[0] == '\0') {
        return;
    }
    _cleanup_free_ char *copy = gdp_strdup(file);
    _cleanup_free_ char *target_dir = link_target_dir(file);
    m->config_name = gdp_strdup(basename(copy));
    _cleanup_free_ char *copy2 = gdp_strdup(file);
    m->config_wd[0] = inotify_add_watch(m->inotify_fd, dirname(copy2), DIR_EVENTS);
    if (target_dir != NULL) {
        m->config_wd[1] = inotify_add_watch(m->inotify_fd, target_dir, DIR_EVENTS);
    }
    if (m->config_wd[0] < 0) {
        log_warn("cannot watch config file %s: %s; reload with SIGHUP", file, strerror(errno));
        return;
    }
    m->config_hash = gdp_watch_config_hash(file);
    if (gdp_loop_timer_new(m->loop, config_settled, m, &m->config_timer, &diag) < 0) {
        log_warn("config file watch unavailable: %s; reload with SIGHUP", diag.msg);
    }
}

int
gdp_watch_setup(struct gdp_manager *m, struct gdp_diag *diag)
{
    m->config_wd[0] = m->config_wd[1] = -1;
    m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (m->inotify_fd < 0) {
        return gdp_diag_set(diag, -errno, "inotify_init1: %s", strerror(errno));
    }
    int r = add_socket_dir_watch(m);
    if (r < 0) {
        return gdp_diag_set(diag, r, "cannot watch %s: %s", m->socket_dir, gdp_strerror(r));
    }
    r = gdp_loop_timer_new(m->loop, dir_poll, m, &m->dir_timer, diag);
    if (r < 0) {
        return r;
    }
    watch_config_file(m);
    return gdp_loop_add_fd(m->loop, m->inotify_fd, EPOLLIN, inotify_ready, m);
}

void
gdp_watch_done(struct gdp_manager *m)
{
    if (m->inotify_fd >= 0) {
        (void)gdp_loop_del_fd(m->loop, m->inotify_fd);
        (void)close(m->inotify_fd);
        m->inotify_fd = -1;
    }
    gdp_loop_timer_free(m->config_timer);
    m->config_timer = NULL;
    gdp_loop_timer_free(m->dir_timer);
    m->dir_timer = NULL;
    free(m->config_name);
    m->config_name = NULL;
}
