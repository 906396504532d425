/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device health on the loop thread: the XID policy (NVIDIA's default ignore list plus
 * DP_DISABLE_HEALTHCHECKS / DP_ENABLE_HEALTHCHECKS), our recovery knobs, and the per-device
 * state machine that applies the health thread's records (nvml/watcher.h) to the node's
 * devices and says which devices changed. Pure logic: no threads, no clock (callers pass
 * now_ms), no logging, no getenv. docs/health.md describes the policy for operators.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/device.h"

struct gdp_config;
struct gdp_diag;
struct gdp_watcher_record;

#define GDP_XID_LIMIT 1024 /* XIDs 0..1023 can be listed; larger ones follow the default */

struct gdp_health_config {
    bool enabled;               /* false: no health checking at all (no thread, no probe) */
    bool recovery;              /* GDP_HEALTH_RECOVERY: devices may become healthy again */
    uint64_t quiet_period_ms;   /* GDP_HEALTH_QUIET_PERIOD */
    uint64_t probe_interval_ms; /* GDP_HEALTH_PROBE_INTERVAL; 0: no probe */
    bool xid_default_fatal;     /* what an XID not in xid_listed means */
    uint8_t xid_listed[GDP_XID_LIMIT / 8];  /* XIDs that mean the opposite of the default */
    uint8_t xid_recover[GDP_XID_LIMIT / 8]; /* --health-recover-xids: quiet-period recovery */
};

/* Which recovery rule a fatal XID falls under (docs/health.md, "Recovery"). */
enum gdp_xid_rule {
    GDP_XID_RULE_TRANSIENT = 0, /* documented transient: healthy after the quiet period */
    GDP_XID_RULE_LISTED,        /* in --health-recover-xids: healthy after the quiet period */
    GDP_XID_RULE_RESET,         /* documented reset-class: healthy once the GPU is seen reset */
    GDP_XID_RULE_UNLISTED,      /* any other XID: as reset-class (NVIDIA never recovers) */
};

/* Sets cfg's operator-listed XIDs (--health-recover-xids); XIDs >= GDP_XID_LIMIT are skipped. */
void gdp_health_config_set_recover(struct gdp_health_config *cfg, const unsigned *xids, size_t n);

/* The recovery rule for xid under cfg: the operator's list first, then our XID table. */
enum gdp_xid_rule gdp_health_xid_rule(const struct gdp_health_config *cfg, uint64_t xid);

/* Short name of a rule for reasons and logs ("transient", "reset-class", ...); static. */
const char *gdp_health_xid_rule_name(enum gdp_xid_rule rule);

#define GDP_HEALTH_WARN_MAX         8
#define GDP_HEALTH_WARN_LEN         160
#define GDP_HEALTH_DEFAULT_QUIET_MS 300000u /* 5 min */
#define GDP_HEALTH_DEFAULT_PROBE_MS 5000u   /* 5 s */

/* Problems an operator should see that did not stop parsing (malformed XID entries). */
struct gdp_health_warnings {
    char msg[GDP_HEALTH_WARN_MAX][GDP_HEALTH_WARN_LEN];
    size_t n;    /* stored in msg */
    size_t more; /* not stored for lack of room */
};

/*
 * Builds the health configuration from the health settings of src (NULL: the defaults):
 * GDP_HEALTH_RECOVERY, GDP_HEALTH_QUIET_PERIOD and GDP_HEALTH_PROBE_INTERVAL, which the config
 * layer parsed and range-checked, and NVIDIA's XID lists DP_DISABLE_HEALTHCHECKS and
 * DP_ENABLE_HEALTHCHECKS, parsed here as NVIDIA does: a malformed entry is skipped and described
 * in *ret_warn (may be NULL), never an error.
 */
void gdp_health_config_parse(const struct gdp_config *src, struct gdp_health_config *ret,
                             struct gdp_health_warnings *ret_warn);

/* True when an XID event with this XID makes a device unhealthy under cfg. */
bool gdp_health_xid_fatal(const struct gdp_health_config *cfg, uint64_t xid);

/* True for XIDs whose documented remedy is a GPU reset (or reboot): see docs/health.md. */
bool gdp_health_xid_needs_reset(uint64_t xid);

/* Short description of an XID from our table ("GPU has fallen off the bus"), or NULL. */
const char *gdp_health_xid_text(uint64_t xid);

/* What applying a record meant, for the edge to log (at the level given). */
enum gdp_health_outcome {
    GDP_HEALTH_APPLIED = 0,    /* state updated; changes lists health flips (may be none) */
    GDP_HEALTH_IGNORED_XID,    /* XID in the ignore set (debug) */
    GDP_HEALTH_IGNORED_EVENT,  /* an ECC event: not acted upon, as NVIDIA's plugin (debug) */
    GDP_HEALTH_UNKNOWN_DEVICE, /* UUID not on this node (debug) */
    GDP_HEALTH_WAIT_ERROR,     /* event wait failed; probing instead (warn) */
    GDP_HEALTH_NOT_MONITORED,  /* GPU cannot be event-monitored (warn) */
    GDP_HEALTH_DROPPED,        /* records were lost to a full queue (warn) */
};

/* One device whose health flipped. */
struct gdp_health_change {
    size_t device;               /* index into node->devices */
    bool healthy;                /* the new health */
    uint64_t xid;                /* the XID involved; 0 if none */
    char reason[GDP_REASON_MAX]; /* unhealthy: why (= the device's reason); healthy: why again */
};

struct gdp_health_result {
    enum gdp_health_outcome outcome;
    const struct gdp_health_change
            *changes; /* borrowed from the state, valid until its next call */
    size_t n_changes; /* each device at most once */
};

/* The state machine for one node. */
struct gdp_health_state;

/*
 * Creates the state for node (borrowed, mutable: the state sets devices' healthy/reason; it
 * must outlive the state). Devices already unhealthy (discovery failures) stay so for good.
 * cfg is copied. Returns the state; caller frees with gdp_health_state_free().
 */
struct gdp_health_state *gdp_health_state_new(const struct gdp_health_config *cfg,
                                              struct gdp_node *node);

/* Frees the state (not the node). Accepts NULL. */
void gdp_health_state_free(struct gdp_health_state *st);

/*
 * Carries what old (the state of the node served before a reload) knew into st: for each
 * device of st's node with a UUID old's node has, every cause of ill health but the
 * discovery failure (this discovery decides that one), with its XID, quiet period and reset
 * tracking. Records no change: the devices were already advertised so. Returns how many
 * devices stay unhealthy through it.
 */
size_t gdp_health_state_carry(struct gdp_health_state *st, const struct gdp_health_state *old);

/*
 * Applies one record from the health thread at time now_ms (monotonic). The caller checks
 * the record's generation first. Fills *ret. Returns 0, or -EINVAL for an unknown kind.
 */
int gdp_health_state_apply(struct gdp_health_state *st, const struct gdp_watcher_record *rec,
                           uint64_t now_ms, struct gdp_health_result *ret);

/*
 * Ends the quiet periods that are over at now_ms (call it from a timer). Fills *ret
 * (outcome GDP_HEALTH_APPLIED) with the devices that became healthy.
 */
void gdp_health_state_tick(struct gdp_health_state *st, uint64_t now_ms,
                           struct gdp_health_result *ret);

/* Whether the GPU at position device of the node was last found not answering NVML. */
bool gdp_health_state_gpu_lost(const struct gdp_health_state *st, size_t device);

/* When the next quiet period ends (monotonic ms), or UINT64_MAX if none is running. */
uint64_t gdp_health_state_next_deadline(const struct gdp_health_state *st);
