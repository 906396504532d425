/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon lifecycle on the loop: plugins, kubelet registration, the socket-directory watch and
 * signals. One entry per advertised resource pairs its server with its registration state.
 */
#include "plugin/manager.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

extern char **environ;

#include <deviceplugin_v1beta1.pb-c.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/health.h"
#include "nvml/health.h"
#include "plugin/server.h"
#include "resource/cdi.h"
#include "resource/imex.h"
#include "resource/inventory.h"
#include "resource/resources.h"
#include "rpc/client.h"
#include "rpc/grpc.h"

#define DEFAULT_SOCKET_DIR  "/var/lib/kubelet/device-plugins"
#define REGISTER_METHOD     "/v1beta1.Registration/Register"
#define REGISTER_TIMEOUT_MS 10000
/* A new kubelet.sock appears at the kubelet's bind(), a moment before its listen(): the
 * first retry comes quickly so that such a refused connection costs milliseconds. */
#define RETRY_FIRST_MS 5
#define RETRY_MAX_MS   5000
#define STOP_GRACE_MS  100

enum reg_state {
    REG_IDLE = 0,
    REG_IN_FLIGHT,
    REG_DONE,
    REG_WAITING, /* failed; a retry timer is armed */
};

struct entry {
    struct gdp_manager *m;
    struct gdp_plugin *plugin;
    struct gdp_rpc_client_call *call;
    struct gdp_loop_timer *retry;
    unsigned backoff_ms;
    enum reg_state state;
    bool complained; /* the current failure streak was logged */
};

struct gdp_manager {
    struct gdp_loop *loop;
    const struct gdp_config *cfg;
    char *socket_dir;
    const char *kubelet_name; /* basename of cfg->kubelet_socket, or NULL: no registration */
    struct gdp_inventory inv;
    bool inv_loaded;
    struct entry *entries;
    size_t n_entries;
    int inotify_fd;
    struct gdp_loop_timer *stop_timer; /* set once stopping: the watch then changes nothing */
    unsigned registrations;
    /* health: the thread, the loop-side state, and the timer for quiet-period recoveries */
    struct gdp_health_config health_cfg;
    struct gdp_health *health;
    struct gdp_health_state *health_state;
    struct gdp_loop_timer *health_timer;
    uint32_t generation; /* bumped on every reload; older records are dropped */
    /* what Allocate needs beyond the device model, found at start */
    struct gdp_imex imex;
    char *dev_root_ctr;
    unsigned cdi_kinds;
};

unsigned
gdp_manager_registrations(const struct gdp_manager *m)
{
    return m->registrations;
}

/* ---- registration ---- */

static void register_now(struct entry *e);

static void
retry_fired(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    register_now(userdata);
}

static void
schedule_retry(struct entry *e, const char *why)
{
    const char *res = gdp_plugin_resource(e->plugin);
    if (!e->complained) {
        log_warn("resource=%s registration with the kubelet at %s failed: %s; retrying", res,
                 e->m->cfg->kubelet_socket, why);
        e->complained = true;
    } else {
        log_debug("resource=%s registration retry failed: %s", res, why);
    }
    struct gdp_diag diag = {0};
    if (e->retry == NULL && gdp_loop_timer_new(e->m->loop, retry_fired, e, &e->retry, &diag) < 0) {
        log_error("resource=%s cannot arm the registration retry: %s", res, diag.msg);
        e->state = REG_IDLE;
        return;
    }
    e->backoff_ms = e->backoff_ms == 0 ? RETRY_FIRST_MS : e->backoff_ms * 2;
    if (e->backoff_ms > RETRY_MAX_MS) {
        e->backoff_ms = RETRY_MAX_MS;
    }
    (void)gdp_loop_timer_set(e->retry, e->backoff_ms, 0);
    e->state = REG_WAITING;
}

static void
registered(const struct gdp_rpc_result *res, void *userdata)
{
    struct entry *e = userdata;
    e->call = NULL;
    if (res->status != GDP_GRPC_OK) {
        char why[GDP_GRPC_MESSAGE_MAX + 64];
        (void)snprintf(why, sizeof why, "%s (gRPC status %d)", res->message, res->status);
        schedule_retry(e, why);
        return;
    }
    e->state = REG_DONE;
    e->complained = false;
    e->backoff_ms = 0;
    e->m->registrations++;
    log_info("resource=%s registered with the kubelet endpoint=%s devices=%zu",
             gdp_plugin_resource(e->plugin), gdp_plugin_endpoint(e->plugin),
             gdp_resource_find(e->m->inv.set, gdp_plugin_resource(e->plugin))->n_devices);
}

static uint8_t *
pack_register_request(const struct entry *e, size_t *ret_len)
{
    V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
    V1beta1__RegisterRequest req = V1BETA1__REGISTER_REQUEST__INIT;
    opts.get_preferred_allocation_available = true;
    req.version = (char *)"v1beta1";
    req.endpoint = (char *)gdp_plugin_endpoint(e->plugin);
    req.resource_name = (char *)gdp_plugin_resource(e->plugin);
    req.options = &opts;
    size_t len = v1beta1__register_request__get_packed_size(&req);
    uint8_t *buf = gdp_malloc(len);
    *ret_len = v1beta1__register_request__pack(&req, buf);
    return buf;
}

static void
cancel_registration(struct entry *e)
{
    if (e->call != NULL) {
        gdp_rpc_client_call_cancel(e->call);
        e->call = NULL;
    }
    if (e->retry != NULL) {
        (void)gdp_loop_timer_set(e->retry, 0, 0);
    }
    e->state = REG_IDLE;
}

static void
register_now(struct entry *e)
{
    if (e->m->kubelet_name == NULL) {
        return; /* --kubelet-socket="": serve without registering */
    }
    cancel_registration(e);
    size_t len = 0;
    _cleanup_free_ uint8_t *buf = pack_register_request(e, &len);
    const struct gdp_rpc_request req = {
            .socket_path = e->m->cfg->kubelet_socket,
            .method = REGISTER_METHOD,
            .data = buf,
            .len = len,
            .timeout_ms = REGISTER_TIMEOUT_MS,
    };
    struct gdp_diag diag = {0};
    int r = gdp_rpc_client_call(e->m->loop, &req, registered, e, &e->call, &diag);
    if (r < 0) {
        e->call = NULL;
        schedule_retry(e, diag.msg);
        return;
    }
    e->state = REG_IN_FLIGHT;
}

/* ---- health ---- */

static void
log_change(const struct gdp_device *d, const struct gdp_health_change *c)
{
    if (c->healthy) {
        log_info("device=%s index=%s healthy again: %s", d->uuid, d->index_str, c->reason);
    } else {
        log_warn("device=%s index=%s unhealthy xid=%llu: %s", d->uuid, d->index_str,
                 (unsigned long long)c->xid, c->reason);
    }
}

/* Whether resource r advertises a device whose health changed. */
static bool
resource_touched(const struct gdp_resource *r, const struct gdp_node *node,
                 const struct gdp_health_result *res)
{
    for (size_t i = 0; i < res->n_changes; i++) {
        const struct gdp_device *changed = &node->devices[res->changes[i].device];
        for (size_t j = 0; j < r->n_devices; j++) {
            if (r->devices[j].dev == changed) {
                return true;
            }
        }
    }
    return false;
}

/* One coalesced ListAndWatch update per resource that has a changed device. */
static void
publish_changes(struct gdp_manager *m, const struct gdp_health_result *res)
{
    const struct gdp_node *node = m->inv.node;
    for (size_t i = 0; i < res->n_changes; i++) {
        log_change(&node->devices[res->changes[i].device], &res->changes[i]);
    }
    for (size_t e = 0; e < m->n_entries && res->n_changes > 0; e++) {
        const struct gdp_resource *r =
                gdp_resource_find(m->inv.set, gdp_plugin_resource(m->entries[e].plugin));
        if (r != NULL && resource_touched(r, node, res)) {
            gdp_plugin_devices_changed(m->entries[e].plugin);
        }
    }
}

static void
arm_health_timer(struct gdp_manager *m)
{
    uint64_t deadline = gdp_health_state_next_deadline(m->health_state);
    if (m->health_timer == NULL || deadline == UINT64_MAX) {
        return;
    }
    uint64_t now = gdp_loop_now_ms();
    (void)gdp_loop_timer_set(m->health_timer, deadline > now ? deadline - now : 1, 0);
}

static void
health_tick(struct gdp_loop *loop _unused_, struct gdp_loop_timer *timer _unused_, void *userdata)
{
    struct gdp_manager *m = userdata;
    struct gdp_health_result res;
    if (m->health_state == NULL) {
        return;
    }
    gdp_health_state_tick(m->health_state, gdp_loop_now_ms(), &res);
    publish_changes(m, &res);
    arm_health_timer(m);
}

static void
log_health_outcome(const struct gdp_health_record *rec, const struct gdp_health_result *res)
{
    switch (res->outcome) {
    case GDP_HEALTH_IGNORED_XID:
    case GDP_HEALTH_IGNORED_EVENT:
    case GDP_HEALTH_UNKNOWN_DEVICE:
        log_debug("health %s device=%s xid=%llu ignored (%s)", gdp_health_kind_name(rec->kind),
                  rec->uuid, (unsigned long long)rec->xid, rec->detail);
        break;
    case GDP_HEALTH_WAIT_ERROR:
    case GDP_HEALTH_NOT_MONITORED:
    case GDP_HEALTH_DROPPED:
        log_warn("health %s device=%s: %s", gdp_health_kind_name(rec->kind), rec->uuid,
                 rec->detail);
        break;
    default:
        break;
    }
}

static void
health_record(struct gdp_loop *loop _unused_, const void *data, void *userdata)
{
    struct gdp_manager *m = userdata;
    const struct gdp_health_record *rec = data;
    struct gdp_health_result res;
    if (m->health_state == NULL || rec->generation != m->generation) {
        return; /* from before a reload */
    }
    if (gdp_health_state_apply(m->health_state, rec, gdp_loop_now_ms(), &res) < 0) {
        return;
    }
    log_health_outcome(rec, &res);
    publish_changes(m, &res);
    arm_health_timer(m);
}

static void
health_stop(struct gdp_manager *m)
{
    gdp_health_stop(m->health);
    m->health = NULL;
    gdp_health_state_free(m->health_state);
    m->health_state = NULL;
    if (m->health_timer != NULL) {
        (void)gdp_loop_timer_set(m->health_timer, 0, 0);
    }
    m->generation++;
}

static void
health_start(struct gdp_manager *m)
{
    struct gdp_node *node = m->inv.node;
    struct gdp_diag diag = {0};
    if (!m->health_cfg.enabled || node == NULL || m->inv.nv == NULL) {
        return;
    }
    _cleanup_free_ const char **uuids = gdp_calloc_ptrs(node->n_devices);
    size_t n = 0;
    for (size_t i = 0; i < node->n_devices && n < GDP_HEALTH_MAX_GPUS; i++) {
        if (node->devices[i].kind == GDP_DEVICE_GPU) {
            uuids[n++] = node->devices[i].uuid;
        }
    }
    m->health_state = gdp_health_state_new(&m->health_cfg, node);
    const struct gdp_health_opts opts = {
            .nv = m->inv.nv,
            .loop = m->loop,
            .uuids = uuids,
            .n_uuids = n,
            .probe_interval_ms = m->health_cfg.probe_interval_ms,
            .generation = m->generation,
    };
    if (gdp_health_start(&opts, &m->health, &diag) < 0) {
        log_error("health checks are off: %s", diag.msg);
        gdp_health_state_free(m->health_state);
        m->health_state = NULL;
    }
}

static int
health_setup(struct gdp_manager *m, struct gdp_diag *diag)
{
    struct gdp_health_warnings warn = {0};
    int r = gdp_health_config_parse(environ, &m->health_cfg, &warn, diag);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < warn.n; i++) {
        log_warn("%s", warn.msg[i]);
    }
    if (!m->health_cfg.enabled) {
        log_info("health checks disabled by DP_DISABLE_HEALTHCHECKS");
        return 0;
    }
    r = gdp_loop_set_post_handler(m->loop, sizeof(struct gdp_health_record),
                                  GDP_HEALTH_QUEUE_RECORDS, health_record, m, diag);
    if (r >= 0) {
        r = gdp_loop_timer_new(m->loop, health_tick, m, &m->health_timer, diag);
    }
    return r;
}

/* ---- plugins ---- */

static int
serve_entry(struct entry *e)
{
    struct gdp_diag diag = {0};
    int r = gdp_plugin_listen(e->plugin, &diag);
    if (r < 0) {
        log_error("resource=%s cannot serve on %s: %s", gdp_plugin_resource(e->plugin),
                  gdp_plugin_socket(e->plugin), diag.msg);
        return r;
    }
    log_info("resource=%s serving on %s", gdp_plugin_resource(e->plugin),
             gdp_plugin_socket(e->plugin));
    return 0;
}

static void
stop_entries(struct gdp_manager *m)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        struct entry *e = &m->entries[i];
        cancel_registration(e);
        gdp_loop_timer_free(e->retry);
        gdp_plugin_free(e->plugin);
    }
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}

static void
start_entry(struct gdp_manager *m, const struct gdp_resource *res)
{
    struct gdp_diag diag = {0};
    const struct gdp_plugin_ctx ctx = {
            .cfg = m->cfg,
            .node = m->inv.node,
            .resource = res,
            .dev_root_ctr = m->dev_root_ctr,
            .imex = &m->imex,
            .cdi_kinds = m->cdi_kinds,
    };
    struct entry *e = &m->entries[m->n_entries];
    *e = (struct entry){.m = m};
    if (gdp_plugin_new(m->loop, &ctx, m->socket_dir, &e->plugin, &diag) < 0) {
        log_error("resource=%s not served: %s", res->name, diag.msg);
        return;
    }
    m->n_entries++;
    /* the retry timer exists from the start, so a first failure opens no new descriptor */
    if (gdp_loop_timer_new(m->loop, retry_fired, e, &e->retry, &diag) < 0) {
        log_warn("resource=%s registration retries unavailable: %s", res->name, diag.msg);
    }
    if (serve_entry(e) >= 0) {
        register_now(e);
    }
}

static int
start_entries(struct gdp_manager *m)
{
    const struct gdp_resource_set *set = m->inv.set;
    m->entries = gdp_calloc(set->n_resources, sizeof *m->entries);
    for (size_t i = 0; i < set->n_resources; i++) {
        start_entry(m, &set->resources[i]);
    }
    if (set->n_resources == 0) {
        log_info("No devices found. Waiting indefinitely.");
    }
    return 0;
}

static void
log_inventory(const struct gdp_manager *m)
{
    const struct gdp_inventory *inv = &m->inv;
    if (inv->nvml_error[0] != '\0') {
        log_warn("NVML unavailable and --fail-on-init-error=false: %s; serving no devices",
                 inv->nvml_error);
    }
    for (size_t i = 0; i < inv->set->n_warnings; i++) {
        log_warn("%s", inv->set->warnings[i]);
    }
}

/* IMEX channels and CDI specs, before serving (NVIDIA writes the specs first too). */
static int
prepare_allocations(struct gdp_manager *m, struct gdp_diag *diag)
{
    const unsigned cdi = GDP_LIST_CDI_ANNOTATIONS | GDP_LIST_CDI_CRI;
    int r = gdp_imex_check(m->cfg, &m->imex, diag);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < m->imex.n_missing; i++) {
        log_warn("IMEX channel %u has no device node, ignoring", m->imex.missing[i]);
    }
    m->cdi_kinds = 0;
    if (!(m->cfg->device_list_strategy & cdi)) {
        return 0;
    }
    r = gdp_cdi_check_platform(m->cfg, m->inv.nv != NULL, diag);
    if (r >= 0 && m->inv.node != NULL) {
        r = gdp_cdi_write_specs(m->cfg, m->inv.node, m->cfg->cdi_spec_dir, diag);
    }
    if (r < 0) {
        return r;
    }
    m->cdi_kinds = (unsigned)r;
    log_info("CDI specs written to %s", m->cfg->cdi_spec_dir);
    return 0;
}

static int
load_and_start(struct gdp_manager *m, struct gdp_diag *diag)
{
    int r = gdp_inventory_load(m->cfg, &m->inv, diag);
    m->inv_loaded = true;
    if (r >= 0) {
        r = prepare_allocations(m, diag);
    }
    if (r < 0) {
        return r;
    }
    log_inventory(m);
    r = start_entries(m);
    health_start(m);
    return r;
}

static void
reload(struct gdp_manager *m)
{
    struct gdp_diag diag = {0};
    log_info("SIGHUP: re-discovering devices and registering again");
    health_stop(m);
    stop_entries(m);
    gdp_inventory_done(&m->inv);
    int r = load_and_start(m, &diag);
    if (r < 0) {
        log_error("re-discovery failed, serving nothing: %s%s", diag.msg, gdp_inventory_hint(r));
    }
}

/* ---- kubelet watch ---- */

static void
kubelet_appeared(struct gdp_manager *m)
{
    log_info("kubelet socket %s created: registering again", m->cfg->kubelet_socket);
    for (size_t i = 0; i < m->n_entries; i++) {
        struct entry *e = &m->entries[i];
        if (!gdp_plugin_socket_present(e->plugin) && serve_entry(e) < 0) {
            continue;
        }
        e->complained = false;
        e->backoff_ms = 0;
        register_now(e);
    }
}

static void
socket_removed(struct gdp_manager *m, const char *name)
{
    for (size_t i = 0; i < m->n_entries; i++) {
        struct entry *e = &m->entries[i];
        if (!streq(name, gdp_plugin_endpoint(e->plugin)) || gdp_plugin_socket_present(e->plugin)) {
            continue;
        }
        log_info("resource=%s socket %s was removed: serving and registering again",
                 gdp_plugin_resource(e->plugin), gdp_plugin_socket(e->plugin));
        if (serve_entry(e) >= 0) {
            register_now(e);
        }
    }
}

static void
inotify_event(struct gdp_manager *m, const struct inotify_event *ev)
{
    if (ev->len == 0 || m->stop_timer != NULL) {
        return;
    }
    if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && m->kubelet_name != NULL &&
        streq(ev->name, m->kubelet_name)) {
        kubelet_appeared(m);
    } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
        socket_removed(m, ev->name);
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

static int
watch_socket_dir(struct gdp_manager *m, struct gdp_diag *diag)
{
    m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (m->inotify_fd < 0) {
        return gdp_diag_set(diag, -errno, "inotify_init1: %s", strerror(errno));
    }
    if (inotify_add_watch(m->inotify_fd, m->socket_dir,
                          IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM) < 0) {
        return gdp_diag_set(diag, -errno, "cannot watch %s: %s", m->socket_dir, strerror(errno));
    }
    return gdp_loop_add_fd(m->loop, m->inotify_fd, EPOLLIN, inotify_ready, m);
}

/* ---- signals ---- */

static void
stop_fired(struct gdp_loop *loop, struct gdp_loop_timer *timer _unused_, void *userdata _unused_)
{
    gdp_loop_quit(loop, 0);
}

static void
on_signal(struct gdp_loop *loop, int signo, void *userdata)
{
    struct gdp_manager *m = userdata;
    if (signo == SIGHUP) {
        reload(m);
        return;
    }
    if (m->stop_timer != NULL) {
        return; /* already stopping */
    }
    log_info("%s: stopping the device plugin servers", strsignal(signo));
    for (size_t i = 0; i < m->n_entries; i++) {
        cancel_registration(&m->entries[i]);
        gdp_plugin_shutdown(m->entries[i].plugin);
    }
    struct gdp_diag diag = {0};
    /* a short grace period lets GOAWAY and the final statuses reach the peers */
    if (gdp_loop_timer_new(loop, stop_fired, m, &m->stop_timer, &diag) < 0 ||
        gdp_loop_timer_set(m->stop_timer, STOP_GRACE_MS, 0) < 0) {
        gdp_loop_quit(loop, 0);
    }
}

/* ---- lifecycle ---- */

static char *
socket_dir_for(const struct gdp_config *cfg)
{
    if (cfg->kubelet_socket == NULL || cfg->kubelet_socket[0] == '\0') {
        return gdp_strdup(DEFAULT_SOCKET_DIR);
    }
    _cleanup_free_ char *copy = gdp_strdup(cfg->kubelet_socket);
    return gdp_strdup(dirname(copy));
}

int
gdp_manager_new(struct gdp_loop *loop, const struct gdp_config *cfg, struct gdp_manager **ret,
                struct gdp_diag *diag)
{
    struct gdp_manager *m = gdp_calloc(1, sizeof *m);
    m->loop = loop;
    m->cfg = cfg;
    m->inotify_fd = -1;
    m->socket_dir = socket_dir_for(cfg);
    m->dev_root_ctr = gdp_cdi_dev_root_ctr(cfg);
    if (cfg->kubelet_socket != NULL && cfg->kubelet_socket[0] != '\0') {
        const char *slash = strrchr(cfg->kubelet_socket, '/');
        m->kubelet_name = slash != NULL ? slash + 1 : cfg->kubelet_socket;
    }
    static const int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};
    int r = 0;
    for (size_t i = 0; i < ELEMENTSOF(signals) && r >= 0; i++) {
        r = gdp_loop_add_signal(loop, signals[i], on_signal, m);
    }
    if (r < 0) {
        (void)gdp_diag_set(diag, r, "cannot install signal handlers: %s", gdp_strerror(r));
    } else {
        r = watch_socket_dir(m, diag);
    }
    if (r >= 0) {
        r = health_setup(m, diag);
    }
    if (r < 0) {
        gdp_manager_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

int
gdp_manager_start(struct gdp_manager *m, struct gdp_diag *diag)
{
    if (m->kubelet_name == NULL) {
        log_info("--kubelet-socket is empty: serving in %s without registering", m->socket_dir);
    }
    return load_and_start(m, diag);
}

void
gdp_manager_free(struct gdp_manager *m)
{
    if (m == NULL) {
        return;
    }
    health_stop(m);
    gdp_loop_timer_free(m->health_timer);
    stop_entries(m);
    if (m->inv_loaded) {
        gdp_inventory_done(&m->inv);
    }
    if (m->inotify_fd >= 0) {
        (void)gdp_loop_del_fd(m->loop, m->inotify_fd);
        (void)close(m->inotify_fd);
    }
    gdp_loop_timer_free(m->stop_timer);
    free(m->socket_dir);
    free(m->dev_root_ctr);
    free(m);
}
