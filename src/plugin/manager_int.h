/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's private state, shared by manager.c (lifecycle, reload, signals),
 * registration.c (kubelet registration per resource), watch.c (socket directory and config
 * file watches) and health_glue.c (health records to ListAndWatch). Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "gpu/health.h"
#include "gpu/places.h"
#include "plugin/manager.h"
#include "resource/snapshot.h"

struct gdp_watcher;
struct gdp_health_state;
struct gdp_loop;
struct gdp_loop_timer;
struct gdp_observe;
struct gdp_plugin;
struct gdp_resource;
struct gdp_rpc_client_call;

enum gdp_reg_state {
    GDP_REG_IDLE = 0,
    GDP_REG_IN_FLIGHT,
    GDP_REG_DONE,
    GDP_REG_WAITING,    /* failed; the retry timer is armed */
    GDP_REG_WAIT_MPS,   /* not served yet: the MPS control daemon is not ready */
    GDP_REG_WAIT_SERVE, /* listening failed; the retry timer is armed */
};

/* One served resource: its server and its registration with the kubelet. Heap-allocated
 * and never moved, since timers and calls hold its address. */
struct gdp_entry {
    struct gdp_manager *m;
    struct gdp_plugin *plugin;
    struct gdp_rpc_client_call *call;
    struct gdp_loop_timer *retry;
    unsigned backoff_ms;
    enum gdp_reg_state state;
    bool complained;            /* the current failure streak was logged */
    unsigned serve_failures;    /* consecutive failures to listen */
    unsigned reg_failures;      /* consecutive failed registrations */
    uint64_t unserved_since_ms; /* first failure of the current serve streak; 0: serving */
};

struct gdp_manager {
    struct gdp_loop *loop;
    struct gdp_config_source src;
    struct gdp_snapshot *cur;
    char *socket_dir;         /* fixed at start: a reload does not move sockets */
    char *kubelet_socket;     /* fixed at start; NULL: serve without registering */
    const char *kubelet_name; /* basename of kubelet_socket */
    struct gdp_entry **entries;
    size_t n_entries;
    /* watches */
    int inotify_fd;
    int socket_wd;
    int config_wd[2];                    /* the file's directory and its symlink target's */
    char *config_name;                   /* basename of the config file */
    uint64_t config_hash;                /* of the content last loaded */
    struct gdp_loop_timer *config_timer; /* debounces bursts of file events */
    struct gdp_loop_timer *stop_timer;   /* set once stopping: watches then change nothing */
    struct gdp_loop_timer *dir_timer;    /* polls for a deleted socket directory to return */
    unsigned dir_backoff_ms;
    /* health */
    struct gdp_health_config health_cfg;
    struct gdp_watcher *watcher; /* the NVML event and probe thread */
    struct gdp_health_state *health_state;
    struct gdp_loop_timer *health_timer;
    uint32_t generation; /* bumped on every reload, once the stopped thread's records are in */
    /* re-discovery: a reload that cannot read a device the served node read is retried */
    struct gdp_places places;             /* what the served node's discovery read */
    struct gdp_places missing;            /* given up on by a reload; looked for again */
    struct gdp_loop_timer *reload_timer;  /* retries a deferred reload, or looks for them */
    unsigned reload_tries;                /* deferred attempts in a row */
    gdp_manager_snapshot_fn *on_snapshot; /* or NULL */
    void *on_snapshot_data;
    /* observe.c: the HTTP endpoint, health history, registration watchdog */
    struct gdp_observe *observe;
};

/* manager.c: calls the on_snapshot hook, if any, with the current snapshot. */
void gdp_manager_snapshot_changed(struct gdp_manager *m);

/* registration.c */
struct gdp_entry *gdp_entry_new(struct gdp_manager *m, const struct gdp_resource *res);
void gdp_entry_free(struct gdp_entry *e);
int gdp_entry_serve(struct gdp_entry *e);
/* Serves and registers, unless an MPS resource waits for its control daemon (retried). */
void gdp_entry_start(struct gdp_entry *e);
void gdp_entry_register(struct gdp_entry *e);
void gdp_entry_cancel_registration(struct gdp_entry *e);
void gdp_entry_reset_backoff(struct gdp_entry *e);

/* watch.c */
int gdp_watch_setup(struct gdp_manager *m, struct gdp_diag *diag);
void gdp_watch_done(struct gdp_manager *m);
uint64_t gdp_watch_config_hash(const char *path);

/* manager.c: reloads the configuration and devices, applying only the difference. */
void gdp_manager_reload(struct gdp_manager *m, const char *why);

/* health_glue.c */
int gdp_manager_health_setup(struct gdp_manager *m, struct gdp_diag *diag);
/*
 * Starts health checks on m->cur's node. was (may be NULL) is the state of the node served
 * before a reload, from gdp_manager_health_stop(): what it knew carries over (taken, freed).
 */
void gdp_manager_health_start(struct gdp_manager *m, struct gdp_health_state *was);
/* Stops them; returns the state (caller passes it to the next start, or frees it). */
struct gdp_health_state *gdp_manager_health_stop(struct gdp_manager *m);
