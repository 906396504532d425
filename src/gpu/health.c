/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XID policy, health configuration from the environment, and the per-device health state
 * machine (see health.h). Runs on the loop thread only and owns nothing shared: the health
 * thread's records arrive by value.
 *
 * A device is unhealthy while at least one cause holds:
 *   BASE      discovery already found it unhealthy (never cleared here);
 *   REGISTER  its GPU could not be registered for events (never cleared);
 *   LOST      the probe found its GPU not answering (cleared when it answers again);
 *   RESET     a reset-class or unlisted XID (cleared when the GPU answers again after a
 *             failed probe);
 *   XID       a transient or operator-listed XID (cleared after the quiet period without
 *             further XIDs).
 * With recovery off, nothing is ever cleared, as in NVIDIA's plugin.
 */
#include "gpu/health.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "nvml/watcher.h"

#define NS_PER_MS 1000000u

/* ---- XID table ------------------------------------------------------------------------- */

struct xid_info {
    unsigned xid;
    bool reset; /* the documented remedy is a GPU reset or a reboot */
    const char *text;
};

/* Our reading of NVIDIA's public XID catalogue; docs/health.md has the same table. */
static const struct xid_info xid_table[] = {
        {13, false, "graphics engine exception"},
        {31, false, "GPU memory page fault"},
        {32, false, "invalid or corrupted push buffer stream"},
        {43, false, "GPU stopped processing"},
        {45, false, "preemptive cleanup"},
        {48, true, "double-bit ECC error"},
        {61, true, "internal micro-controller breakpoint/warning"},
        {62, true, "internal micro-controller halt"},
        {63, true, "ECC page retirement or row remapping recorded"},
        {64, true, "ECC page retirement or row remapping failure"},
        {68, false, "video processor exception"},
        {69, false, "graphics engine class error"},
        {74, true, "NVLink error"},
        {79, true, "GPU has fallen off the bus"},
        {92, false, "high single-bit ECC error rate"},
        {94, true, "contained ECC error"},
        {95, true, "uncontained ECC error"},
        {109, false, "context switch timeout"},
        {119, true, "GSP RPC timeout"},
        {120, true, "GSP error"},
        {140, true, "unrecovered ECC error"},
        {143, true, "GPU initialization failure"},
        {154, true, "GPU recovery action changed"},
};

/* NVIDIA's default ignore list. */
static const unsigned default_ignored[] = {13, 31, 43, 45, 68, 109};

static const struct xid_info *
xid_find(uint64_t xid)
{
    for (size_t i = 0; i < ELEMENTSOF(xid_table); i++) {
        if (xid_table[i].xid == xid) {
            return &xid_table[i];
        }
    }
    return NULL;
}

bool
gdp_health_xid_needs_reset(uint64_t xid)
{
    const struct xid_info *x = xid_find(xid);
    return x != NULL && x->reset;
}

const char *
gdp_health_xid_text(uint64_t xid)
{
    const struct xid_info *x = xid_find(xid);
    return x != NULL ? x->text : NULL;
}

static bool
bit_get(const uint8_t *bits, uint64_t xid)
{
    return xid < GDP_XID_LIMIT && (bits[xid / 8] & (1u << (xid % 8))) != 0;
}

static void
bit_set(uint8_t *bits, uint64_t xid, bool on)
{
    uint8_t m = (uint8_t)(1u << (xid % 8));
    bits[xid / 8] = on ? (uint8_t)(bits[xid / 8] | m) : (uint8_t)(bits[xid / 8] & ~m);
}

void
gdp_health_config_set_recover(struct gdp_health_config *cfg, const unsigned *xids, size_t n)
{
    memset(cfg->xid_recover, 0, sizeof cfg->xid_recover);
    for (size_t i = 0; i < n; i++) {
        if (xids[i] < GDP_XID_LIMIT) {
            bit_set(cfg->xid_recover, xids[i], true);
        }
    }
}

enum gdp_xid_rule
gdp_health_xid_rule(const struct gdp_health_config *cfg, uint64_t xid)
{
    if (bit_get(cfg->xid_recover, xid)) {
        return GDP_XID_RULE_LISTED;
    }
    const struct xid_info *x = xid_find(xid);
    if (x == NULL) {
        return GDP_XID_RULE_UNLISTED;
    }
    return x->reset ? GDP_XID_RULE_RESET : GDP_XID_RULE_TRANSIENT;
}

const char *
gdp_health_xid_rule_name(enum gdp_xid_rule rule)
{
    switch (rule) {
    case GDP_XID_RULE_TRANSIENT:
        return "transient";
    case GDP_XID_RULE_LISTED:
        return "listed in --health-recover-xids";
    case GDP_XID_RULE_RESET:
        return "reset-class";
    case GDP_XID_RULE_UNLISTED:
        return "not a known transient XID";
    }
    return "unknown";
}

bool
gdp_health_xid_fatal(const struct gdp_health_config *cfg, uint64_t xid)
{
    if (!cfg->enabled) {
        return false;
    }
    return bit_get(cfg->xid_listed, xid) ? !cfg->xid_default_fatal : cfg->xid_default_fatal;
}

/* ---- configuration ----------------------------------------------------------------------- */

static void
warn(struct gdp_health_warnings *w, const char *var, const char *entry, const char *why)
{
    if (w == NULL) {
        return;
    }
    if (w->n == GDP_HEALTH_WARN_MAX) {
        w->more++;
        return;
    }
    (void)snprintf(w->msg[w->n++], GDP_HEALTH_WARN_LEN, "%s: ignoring XID entry '%.40s': %s", var,
                   entry, why);
}

struct xid_list {
    bool all; /* "all" or "xids" */
    bool any; /* at least one XID */
    uint8_t bits[GDP_XID_LIMIT / 8];
};

/* Parses one trimmed, non-empty entry of a DP_*_HEALTHCHECKS list. */
static void
list_entry(char *tok, const char *var, struct xid_list *l, struct gdp_health_warnings *w)
{
    long v = 0;
    for (char *p = tok; *p != '\0'; p++) {
        *p = gdp_ascii_lower(*p);
    }
    if (streq(tok, "all") || streq(tok, "xids")) {
        l->all = true;
    } else if (gdp_parse_long(tok, 0, LONG_MAX, &v) < 0) {
        warn(w, var, tok, "not a number");
    } else if (v >= GDP_XID_LIMIT) {
        warn(w, var, tok, "out of range");
    } else {
        bit_set(l->bits, (uint64_t)v, true);
        l->any = true;
    }
}

/* Parses a comma list ("all", "xids" or XID numbers; blanks around entries are ignored). */
static void
parse_list(const char *value, const char *var, struct xid_list *l, struct gdp_health_warnings *w)
{
    _cleanup_free_ char *copy = gdp_strdup(value != NULL ? value : "");
    char *p = copy;
    while (p != NULL) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            p[--n] = '\0';
        }
        if (n > 0) {
            list_entry(p, var, l, w);
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
}

/* NVIDIA v0.18+ semantics, except that an explicit enable list beats "disable all". */
static void
combine_lists(const struct xid_list *dis, const struct xid_list *en, struct gdp_health_config *c)
{
    c->enabled = true;
    c->xid_default_fatal = true;
    memset(c->xid_listed, 0, sizeof c->xid_listed);
    if (en->all) {
        return; /* every XID is fatal */
    }
    if (dis->all) {
        c->enabled = en->any;
        c->xid_default_fatal = false; /* only the enabled XIDs are fatal */
        memcpy(c->xid_listed, en->bits, sizeof c->xid_listed);
        return;
    }
    for (size_t i = 0; i < ELEMENTSOF(default_ignored); i++) {
        bit_set(c->xid_listed, default_ignored[i], true);
    }
    for (size_t i = 0; i < sizeof c->xid_listed; i++) {
        c->xid_listed[i] = (uint8_t)((c->xid_listed[i] | dis->bits[i]) & ~en->bits[i]);
    }
}

void
gdp_health_config_parse(const struct gdp_config *src, struct gdp_health_config *ret,
                        struct gdp_health_warnings *ret_warn)
{
    struct gdp_health_config c = {
            .recovery = true,
            .quiet_period_ms = GDP_HEALTH_DEFAULT_QUIET_MS,
            .probe_interval_ms = GDP_HEALTH_DEFAULT_PROBE_MS,
    };
    struct xid_list dis = {0}, en = {0};
    if (ret_warn != NULL) {
        *ret_warn = (struct gdp_health_warnings){0};
    }
    if (src != NULL) {
        /* the config layer checked the range: 0 or at least 100ms, at most 168h */
        c.recovery = src->health_recovery;
        c.quiet_period_ms = (uint64_t)src->health_quiet_period_ns / NS_PER_MS;
        c.probe_interval_ms = (uint64_t)src->health_probe_interval_ns / NS_PER_MS;
        parse_list(gdp_nonempty(src->dp_disable_healthchecks), "DP_DISABLE_HEALTHCHECKS", &dis,
                   ret_warn);
        parse_list(gdp_nonempty(src->dp_enable_healthchecks), "DP_ENABLE_HEALTHCHECKS", &en,
                   ret_warn);
    }
    combine_lists(&dis, &en, &c);
    *ret = c;
}

/* ---- state machine ------------------------------------------------------------------------ */

enum cause {
    CAUSE_BASE = 1u << 0,
    CAUSE_REGISTER = 1u << 1,
    CAUSE_LOST = 1u << 2,
    CAUSE_RESET = 1u << 3,
    CAUSE_XID = 1u << 4,
};

struct dev_state {
    unsigned causes;
    uint64_t xid;          /* CAUSE_XID: the last one */
    uint64_t xid_until_ms; /* CAUSE_XID: end of the quiet period */
    uint64_t reset_xid;    /* CAUSE_RESET: the last one */
    uint64_t reset_epoch;  /* CAUSE_RESET: the GPU's epoch when it came */
    uint64_t epoch;        /* GPU entries: GPU came back after failing this many times */
    bool lost;             /* GPU entries: the probe says it is not answering */
    char scope[40];        /* " on GI 1 CI 0" for a MIG-scoped XID */
    char base[GDP_REASON_MAX];
    char detail[GDP_REASON_MAX]; /* CAUSE_REGISTER / CAUSE_LOST text */
};

struct gdp_health_state {
    struct gdp_health_config cfg;
    struct gdp_node *node;
    struct dev_state *dev;
    struct gdp_health_change *changes;
    size_t n_changes;
};

struct gdp_health_state *
gdp_health_state_new(const struct gdp_health_config *cfg, struct gdp_node *node)
{
    struct gdp_health_state *st = gdp_calloc(1, sizeof *st);
    size_t n = node->n_devices > 0 ? node->n_devices : 1;
    st->cfg = *cfg;
    st->node = node;
    st->dev = gdp_calloc(n, sizeof *st->dev);
    st->changes = gdp_calloc(n, sizeof *st->changes);
    for (size_t i = 0; i < node->n_devices; i++) {
        if (!node->devices[i].healthy) {
            st->dev[i].causes = CAUSE_BASE;
            (void)gdp_strlcpy(st->dev[i].base, node->devices[i].reason, sizeof st->dev[i].base);
        }
    }
    return st;
}

void
gdp_health_state_free(struct gdp_health_state *st)
{
    if (st == NULL) {
        return;
    }
    free(st->dev);
    free(st->changes);
    free(st);
}

static void
format_duration(uint64_t ms, char *buf, size_t len)
{
    if (ms % 60000 == 0) {
        (void)snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
    } else if (ms % 1000 == 0) {
        (void)snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
    } else {
        (void)snprintf(buf, len, "%" PRIu64 "ms", ms);
    }
}

static void
xid_reason(const struct gdp_health_state *st, const struct dev_state *s, bool reset, char *buf,
           size_t len)
{
    uint64_t xid = reset ? s->reset_xid : s->xid;
    const char *text = gdp_health_xid_text(xid);
    const char *rule = gdp_health_xid_rule_name(gdp_health_xid_rule(&st->cfg, xid));
    char until[128] = "";
    if (st->cfg.recovery && reset) {
        (void)snprintf(until, sizeof until, ": %s, waiting for a GPU reset", rule);
    } else if (st->cfg.recovery) {
        char period[32];
        format_duration(st->cfg.quiet_period_ms, period, sizeof period);
        (void)snprintf(until, sizeof until, ": %s, healthy again after %s without XIDs", rule,
                       period);
    }
    (void)snprintf(buf, len, "XID %" PRIu64 "%s (%s)%s", xid, s->scope,
                   text != NULL ? text : "fatal", until);
}

/* The reason for the strongest cause that holds. */
static void
compose_reason(const struct gdp_health_state *st, size_t i, char *buf, size_t len)
{
    const struct dev_state *s = &st->dev[i];
    if (s->causes & CAUSE_BASE) {
        (void)gdp_strlcpy(buf, s->base, len);
    } else if (s->causes & (CAUSE_REGISTER | CAUSE_LOST)) {
        (void)gdp_strlcpy(buf, s->detail, len);
    } else if (s->causes & CAUSE_RESET) {
        xid_reason(st, s, true, buf, len);
    } else {
        xid_reason(st, s, false, buf, len);
    }
}

/*
 * Sets and clears causes of device i, updates the device's health and reason, and records a
 * change when its health flipped (why: the text for a device that became healthy).
 */
static void
update(struct gdp_health_state *st, size_t i, unsigned set, unsigned clear, uint64_t xid,
       const char *why)
{
    struct dev_state *s = &st->dev[i];
    struct gdp_device *d = &st->node->devices[i];
    bool was = s->causes == 0;
    s->causes = (s->causes | set) & ~clear;
    d->healthy = s->causes == 0;
    if (d->healthy) {
        d->reason[0] = '\0';
    } else {
        compose_reason(st, i, d->reason, sizeof d->reason);
    }
    if (d->healthy == was) {
        return;
    }
    struct gdp_health_change *c = &st->changes[st->n_changes++];
    *c = (struct gdp_health_change){.device = i, .healthy = d->healthy, .xid = xid};
    (void)gdp_strlcpy(c->reason, d->healthy ? why : d->reason, sizeof c->reason);
}

/* The GPU entry with this UUID, or -1. */
static ssize_t
find_gpu(const struct gdp_node *node, const char *uuid)
{
    for (size_t i = 0; i < node->n_devices; i++) {
        if (node->devices[i].kind == GDP_DEVICE_GPU && streq(node->devices[i].uuid, uuid)) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* True when device i is GPU g itself or one of its MIG devices. */
static bool
on_gpu(const struct gdp_node *node, size_t i, size_t g)
{
    return i == g || (node->devices[i].kind == GDP_DEVICE_MIG && node->devices[i].parent == (int)g);
}

static bool
scope_matches(const struct gdp_device *d, const struct gdp_watcher_record *rec)
{
    if (rec->gi == GDP_NVML_NO_ID || d->kind == GDP_DEVICE_GPU) {
        return true; /* GPU-wide event, or the GPU entry itself */
    }
    return d->gi == rec->gi && (rec->ci == GDP_NVML_NO_ID || d->ci == rec->ci);
}

static void
mark_xid(struct gdp_health_state *st, size_t i, size_t g, const struct gdp_watcher_record *rec,
         uint64_t now_ms)
{
    struct dev_state *s = &st->dev[i];
    enum gdp_xid_rule rule = gdp_health_xid_rule(&st->cfg, rec->xid);
    bool reset = rule == GDP_XID_RULE_RESET || rule == GDP_XID_RULE_UNLISTED;
    s->scope[0] = '\0';
    if (rec->gi != GDP_NVML_NO_ID) {
        (void)snprintf(s->scope, sizeof s->scope, " on GI %u CI %d", rec->gi,
                       rec->ci == GDP_NVML_NO_ID ? -1 : (int)rec->ci);
    }
    if (reset) {
        s->reset_xid = rec->xid;
        s->reset_epoch = st->dev[g].epoch;
    } else {
        s->xid = rec->xid;
        s->xid_until_ms = now_ms + st->cfg.quiet_period_ms;
    }
    update(st, i, reset ? CAUSE_RESET : CAUSE_XID, 0, rec->xid, "");
}

/* The device (GPU or MIG) with this UUID, or -1. */
static ssize_t
find_device(const struct gdp_node *node, const char *uuid)
{
    for (size_t i = 0; i < node->n_devices; i++) {
        if (streq(node->devices[i].uuid, uuid)) {
            return (ssize_t)i;
        }
    }
    return -1;
}

bool
gdp_health_state_gpu_lost(const struct gdp_health_state *st, size_t device)
{
    return device < st->node->n_devices && st->dev[device].lost;
}

size_t
gdp_health_state_carry(struct gdp_health_state *st, const struct gdp_health_state *old)
{
    size_t n = 0;
    for (size_t i = 0; i < st->node->n_devices; i++) {
        ssize_t j = find_device(old->node, st->node->devices[i].uuid);
        if (j < 0) {
            continue;
        }
        struct dev_state *s = &st->dev[i];
        struct dev_state was = old->dev[j];
        was.causes = (was.causes & ~(unsigned)CAUSE_BASE) | (s->causes & CAUSE_BASE);
        (void)gdp_strlcpy(was.base, s->base, sizeof was.base);
        *s = was;
        update(st, i, 0, 0, 0, ""); /* the device's health and reason from the causes */
        n += !st->node->devices[i].healthy;
    }
    st->n_changes = 0;
    return n;
}

static enum gdp_health_outcome
apply_event(struct gdp_health_state *st, const struct gdp_watcher_record *rec, uint64_t now_ms)
{
    if (rec->event_type != GDP_NVML_EVENT_XID) {
        return GDP_HEALTH_IGNORED_EVENT;
    }
    if (!gdp_health_xid_fatal(&st->cfg, rec->xid)) {
        return GDP_HEALTH_IGNORED_XID;
    }
    ssize_t g = find_gpu(st->node, rec->uuid);
    if (g < 0) {
        return GDP_HEALTH_UNKNOWN_DEVICE;
    }
    for (size_t i = (size_t)g; i < st->node->n_devices; i++) {
        if (on_gpu(st->node, i, (size_t)g) && scope_matches(&st->node->devices[i], rec)) {
            mark_xid(st, i, (size_t)g, rec, now_ms);
        }
    }
    return GDP_HEALTH_APPLIED;
}

static void
probe_failed(struct gdp_health_state *st, size_t g, const struct gdp_watcher_record *rec)
{
    st->dev[g].lost = true;
    for (size_t i = g; i < st->node->n_devices; i++) {
        if (on_gpu(st->node, i, g)) {
            (void)snprintf(st->dev[i].detail, sizeof st->dev[i].detail,
                           "GPU not answering NVML: %s", rec->detail);
            update(st, i, CAUSE_LOST, 0, 0, "");
        }
    }
}

/* Events are watched on GPU g again: what its registration failure marked recovers. */
static void
registered_again(struct gdp_health_state *st, size_t g)
{
    for (size_t i = g; st->cfg.recovery && i < st->node->n_devices; i++) {
        if (on_gpu(st->node, i, g)) {
            update(st, i, 0, CAUSE_REGISTER, 0, "events can be watched again");
        }
    }
}

static void
probe_answered(struct gdp_health_state *st, size_t g)
{
    if (st->dev[g].lost) {
        st->dev[g].lost = false;
        st->dev[g].epoch++;
    }
    if (!st->cfg.recovery) {
        return;
    }
    for (size_t i = g; i < st->node->n_devices; i++) {
        if (!on_gpu(st->node, i, g)) {
            continue;
        }
        struct dev_state *s = &st->dev[i];
        bool reset_done = (s->causes & CAUSE_RESET) && s->reset_epoch < st->dev[g].epoch;
        update(st, i, 0, CAUSE_LOST | (reset_done ? CAUSE_RESET : 0u),
               reset_done ? s->reset_xid : 0,
               reset_done ? "GPU answers NVML again after failing (reset observed)"
                          : "GPU answers NVML again");
    }
}

static enum gdp_health_outcome
apply_gpu_record(struct gdp_health_state *st, const struct gdp_watcher_record *rec)
{
    ssize_t g = find_gpu(st->node, rec->uuid);
    if (g < 0) {
        return GDP_HEALTH_UNKNOWN_DEVICE;
    }
    if (rec->kind == GDP_WATCHER_REC_PROBE && rec->nvml_rc == 0) {
        probe_answered(st, (size_t)g);
    } else if (rec->kind == GDP_WATCHER_REC_PROBE) {
        probe_failed(st, (size_t)g, rec);
    } else if (rec->kind == GDP_WATCHER_REC_REGISTERED) {
        registered_again(st, (size_t)g);
    } else {
        for (size_t i = (size_t)g; i < st->node->n_devices; i++) {
            if (on_gpu(st->node, i, (size_t)g)) {
                (void)snprintf(st->dev[i].detail, sizeof st->dev[i].detail,
                               "events cannot be watched: %s", rec->detail);
                update(st, i, CAUSE_REGISTER, 0, 0, "");
            }
        }
    }
    return GDP_HEALTH_APPLIED;
}

int
gdp_health_state_apply(struct gdp_health_state *st, const struct gdp_watcher_record *rec,
                       uint64_t now_ms, struct gdp_health_result *ret)
{
    enum gdp_health_outcome o;
    st->n_changes = 0;
    switch (rec->kind) {
    case GDP_WATCHER_REC_EVENT:
        o = apply_event(st, rec, now_ms);
        break;
    case GDP_WATCHER_REC_PROBE:
    case GDP_WATCHER_REC_REGISTER_FAILED:
    case GDP_WATCHER_REC_REGISTERED:
        o = apply_gpu_record(st, rec);
        break;
    case GDP_WATCHER_REC_WAIT_ERROR:
        o = GDP_HEALTH_WAIT_ERROR;
        break;
    case GDP_WATCHER_REC_NOT_MONITORED:
        o = GDP_HEALTH_NOT_MONITORED;
        break;
    case GDP_WATCHER_REC_DROPPED:
        o = GDP_HEALTH_DROPPED;
        break;
    default:
        return -EINVAL;
    }
    *ret = (struct gdp_health_result){
            .outcome = o, .changes = st->changes, .n_changes = st->n_changes};
    return 0;
}

void
gdp_health_state_tick(struct gdp_health_state *st, uint64_t now_ms, struct gdp_health_result *ret)
{
    char why[GDP_REASON_MAX], period[32];
    st->n_changes = 0;
    format_duration(st->cfg.quiet_period_ms, period, sizeof period);
    for (size_t i = 0; st->cfg.recovery && i < st->node->n_devices; i++) {
        struct dev_state *s = &st->dev[i];
        if ((s->causes & CAUSE_XID) && s->xid_until_ms <= now_ms) {
            (void)snprintf(why, sizeof why, "no fatal XID for %s after XID %" PRIu64, period,
                           s->xid);
            update(st, i, 0, CAUSE_XID, s->xid, why);
        }
    }
    *ret = (struct gdp_health_result){
            .outcome = GDP_HEALTH_APPLIED, .changes = st->changes, .n_changes = st->n_changes};
}

uint64_t
gdp_health_state_next_deadline(const struct gdp_health_state *st)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; st->cfg.recovery && i < st->node->n_devices; i++) {
        const struct dev_state *s = &st->dev[i];
        if ((s->causes & CAUSE_XID) && s->xid_until_ms < next) {
            next = s->xid_until_ms;
        }
    }
    return next;
}
