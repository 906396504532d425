/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's single-threaded event loop: epoll over file descriptors, timers (timerfd),
 * signals (signalfd), a bounded queue of fixed-size records posted from other threads
 * (eventfd-signalled) and "after dispatch" hooks that run before the loop sleeps again.
 *
 * Everything except gdp_loop_post() must be called on the loop thread. Callbacks may add or
 * remove any source, including the one being dispatched: removed sources are never called
 * again, and their memory is released only after the dispatch round.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdp_diag;
struct gdp_loop;
struct gdp_loop_timer;

/* I/O readiness: events is the EPOLL* mask reported by epoll_wait. */
typedef void (*gdp_loop_io_fn)(struct gdp_loop *loop, int fd, uint32_t events, void *userdata);
/* A timer expired. The timer may be re-armed or freed from here. */
typedef void (*gdp_loop_timer_fn)(struct gdp_loop *loop, struct gdp_loop_timer *timer,
                                  void *userdata);
/* A registered signal arrived (delivered synchronously through signalfd). */
typedef void (*gdp_loop_signal_fn)(struct gdp_loop *loop, int signo, void *userdata);
/* After-dispatch hook; also used for posted records (rec points to rec_size bytes). */
typedef void (*gdp_loop_hook_fn)(struct gdp_loop *loop, void *userdata);
typedef void (*gdp_loop_post_fn)(struct gdp_loop *loop, const void *rec, void *userdata);

/*
 * Creates a loop (epoll instance). Returns 0 and *ret_loop (caller frees with
 * gdp_loop_free()), or -errno from epoll_create1 with diag filled.
 */
int gdp_loop_new(struct gdp_loop **ret_loop, struct gdp_diag *diag);

/*
 * Frees the loop: closes its epoll/signal/event descriptors, frees every timer and source
 * record, and restores the signal mask saved when the first signal was added. Descriptors
 * added with gdp_loop_add_fd() are not closed: their owners close them. Accepts NULL.
 */
void gdp_loop_free(struct gdp_loop *loop);

/*
 * Watches fd (not owned) for events (EPOLLIN, EPOLLOUT, ...; level-triggered unless EPOLLET
 * is given). fn is called with userdata (borrowed) on readiness.
 * Returns 0, -EEXIST if fd is already watched, -EINVAL for fd < 0, or -errno from epoll_ctl.
 */
int gdp_loop_add_fd(struct gdp_loop *loop, int fd, uint32_t events, gdp_loop_io_fn fn,
                    void *userdata);

/* Changes the event mask of a watched fd. Returns 0, -ENOENT if not watched, or -errno. */
int gdp_loop_mod_fd(struct gdp_loop *loop, int fd, uint32_t events);

/*
 * Stops watching fd; its callback is not called again, even for events already collected in
 * this round. Call before closing fd. Returns 0 or -ENOENT if not watched.
 */
int gdp_loop_del_fd(struct gdp_loop *loop, int fd);

/*
 * Creates a disarmed timer; arm it with gdp_loop_timer_set(). fn is called with userdata
 * (borrowed) on expiry. Returns 0 and *ret_timer (caller frees with gdp_loop_timer_free(); the
 * loop frees timers still alive in gdp_loop_free()), or -errno from timerfd_create / epoll_ctl
 * with diag filled.
 */
int gdp_loop_timer_new(struct gdp_loop *loop, gdp_loop_timer_fn fn, void *userdata,
                       struct gdp_loop_timer **ret_timer, struct gdp_diag *diag);

/*
 * Arms a timer to fire after first_ms, then every interval_ms (0: one-shot); first_ms == 0
 * disarms it. Re-arming replaces the previous schedule. Returns 0 or -errno from timerfd_settime.
 */
int gdp_loop_timer_set(struct gdp_loop_timer *timer, uint64_t first_ms, uint64_t interval_ms);

/* Cancels and frees a timer; safe from inside its own callback. Accepts NULL. */
void gdp_loop_timer_free(struct gdp_loop_timer *timer);

/*
 * Delivers signo to fn on the loop thread. The signal is blocked with sigprocmask (call this
 * before starting other threads, so that they inherit the mask). One handler per signal; a
 * second registration replaces the first. Returns 0, -EINVAL for a bad signo, or -errno.
 */
int gdp_loop_add_signal(struct gdp_loop *loop, int signo, gdp_loop_signal_fn fn, void *userdata);

/*
 * Adds a hook run after every dispatch round, before the loop sleeps (flush output, reap
 * closed connections). Hooks run in the order added. Returns 0.
 */
int gdp_loop_add_hook(struct gdp_loop *loop, gdp_loop_hook_fn fn, void *userdata);

/* Removes the hook added with the same fn and userdata; safe from inside hooks. */
void gdp_loop_del_hook(struct gdp_loop *loop, gdp_loop_hook_fn fn, void *userdata);

/*
 * Sets up the cross-thread queue: up to capacity records of rec_size bytes each (both > 0,
 * rec_size <= 4096), delivered one by one to fn on the loop thread in posting order.
 * Call once, before any thread posts. Returns 0, -EINVAL, -EBUSY if already set up, or -errno.
 */
int gdp_loop_set_post_handler(struct gdp_loop *loop, size_t rec_size, size_t capacity,
                              gdp_loop_post_fn fn, void *userdata, struct gdp_diag *diag);

/*
 * Thread-safe: copies rec (rec_size bytes) into the queue and wakes the loop. Never blocks on
 * the loop. Returns 0, -EAGAIN if the queue is full (the record is dropped; the poster decides
 * what to do), or -ENOTCONN if no handler is set up.
 */
int gdp_loop_post(struct gdp_loop *loop, const void *rec);

/*
 * Delivers the records queued now to the post handler, without waiting for the loop to see
 * them (e.g. right after joining the thread that posted them). Loop thread only.
 */
void gdp_loop_deliver_posts(struct gdp_loop *loop);

/*
 * Runs until gdp_loop_quit(). Returns the code passed to gdp_loop_quit(), or -errno if
 * epoll_wait fails.
 */
int gdp_loop_run(struct gdp_loop *loop);

/*
 * Waits at most timeout_ms (-1: forever, 0: poll) for events, dispatches one round and runs
 * the hooks. Returns the number of sources dispatched, or -errno. For tests and fuzzers.
 */
int gdp_loop_run_once(struct gdp_loop *loop, int timeout_ms);

/* Makes gdp_loop_run() return code after the current round. */
void gdp_loop_quit(struct gdp_loop *loop, int code);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t gdp_loop_now_ms(void);
