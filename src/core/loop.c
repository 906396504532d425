/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The epoll event loop. Every watched descriptor, the loop's own included (timerfd, signalfd,
 * eventfd), is a heap "source" that epoll's data pointer refers to. Removing a source marks it
 * dead and moves it to a graveyard that is emptied only after the dispatch round, so events
 * already collected for it are skipped instead of touching freed memory.
 */
#include "core/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"

#define MAX_EVENTS   64
#define MAX_REC_SIZE 4096
#define N_SIGNALS    65

struct source {
    int fd;
    gdp_loop_io_fn fn;
    void *userdata;
    bool dead;
    struct source *next_dead;
};

struct hook {
    gdp_loop_hook_fn fn;
    void *userdata;
};

struct gdp_loop_timer {
    struct gdp_loop *loop;
    int fd;
    gdp_loop_timer_fn fn;
    void *userdata;
    struct gdp_loop_timer *prev, *next;
};

struct post_queue {
    pthread_mutex_t mu;
    uint8_t *ring;
    size_t rec_size, capacity, head, count;
    int evfd;
    gdp_loop_post_fn fn;
    void *userdata;
};

struct gdp_loop {
    int epfd;
    struct source **by_fd; /* indexed by descriptor number */
    size_t n_by_fd;
    struct source *graveyard;

    struct hook *hooks;
    size_t n_hooks;
    unsigned hooks_running;
    bool hooks_dirty;

    struct gdp_loop_timer *timers;

    int sigfd;
    sigset_t sigmask, old_sigmask;
    bool sigmask_saved;

    struct {
        gdp_loop_signal_fn fn;
        void *userdata;
    } sig[N_SIGNALS];

    struct post_queue post;
    bool post_ready;

    bool quit;
    int exit_code;
};

uint64_t
gdp_loop_now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
gdp_loop_new(struct gdp_loop **ret_loop, struct gdp_diag *diag)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        return gdp_diag_set(diag, -errno, "epoll_create1: %s", strerror(errno));
    }
    struct gdp_loop *loop = gdp_calloc(1, sizeof *loop);
    loop->epfd = epfd;
    loop->sigfd = -1;
    loop->post.evfd = -1;
    sigemptyset(&loop->sigmask);
    *ret_loop = loop;
    return 0;
}

static void timer_destroy(struct gdp_loop_timer *t);

static void
empty_graveyard(struct gdp_loop *loop)
{
    while (loop->graveyard != NULL) {
        struct source *s = loop->graveyard;
        loop->graveyard = s->next_dead;
        free(s);
    }
}

static void
drain_signals(struct gdp_loop *loop)
{
    struct signalfd_siginfo si;
    while (loop->sigfd >= 0 && read(loop->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        continue;
    }
}

void
gdp_loop_free(struct gdp_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    struct gdp_loop_timer *next;
    for (struct gdp_loop_timer *t = loop->timers; t != NULL; t = next) {
        next = t->next;
        timer_destroy(t);
    }
    loop->timers = NULL;
    if (loop->sigfd >= 0) {
        (void)gdp_loop_del_fd(loop, loop->sigfd);
        drain_signals(loop);
        (void)close(loop->sigfd);
    }
    if (loop->sigmask_saved) {
        (void)sigprocmask(SIG_SETMASK, &loop->old_sigmask, NULL);
    }
    if (loop->post_ready) {
        (void)gdp_loop_del_fd(loop, loop->post.evfd);
        (void)close(loop->post.evfd);
        (void)pthread_mutex_destroy(&loop->post.mu);
        free(loop->post.ring);
    }
    for (size_t i = 0; i < loop->n_by_fd; i++) {
        free(loop->by_fd[i]);
    }
    empty_graveyard(loop);
    free(loop->by_fd);
    free(loop->hooks);
    (void)close(loop->epfd);
    free(loop);
}

static struct source *
find_source(const struct gdp_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->n_by_fd) {
        return NULL;
    }
    return loop->by_fd[fd];
}

int
gdp_loop_add_fd(struct gdp_loop *loop, int fd, uint32_t events, gdp_loop_io_fn fn, void *userdata)
{
    if (fd < 0 || fn == NULL) {
        return -EINVAL;
    }
    if (find_source(loop, fd) != NULL) {
        return -EEXIST;
    }
    if ((size_t)fd >= loop->n_by_fd) {
        size_t n = (size_t)fd + 16;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        loop->by_fd = gdp_reallocarray(loop->by_fd, n, sizeof(struct source *));
        for (size_t i = loop->n_by_fd; i < n; i++) {
            loop->by_fd[i] = NULL;
        }
        loop->n_by_fd = n;
    }
    struct source *s = gdp_calloc(1, sizeof *s);
    *s = (struct source){.fd = fd, .fn = fn, .userdata = userdata};
    struct epoll_event ev = {.events = events, .data.ptr = s};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int r = -errno;
        free(s);
        return r;
    }
    loop->by_fd[fd] = s;
    return 0;
}

int
gdp_loop_mod_fd(struct gdp_loop *loop, int fd, uint32_t events)
{
    struct source *s = find_source(loop, fd);
    if (s == NULL) {
        return -ENOENT;
    }
    struct epoll_event ev = {.events = events, .data.ptr = s};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int
gdp_loop_del_fd(struct gdp_loop *loop, int fd)
{
    struct source *s = find_source(loop, fd);
    if (s == NULL) {
        return -ENOENT;
    }
    /* fails only if fd was already closed, which removed it from epoll anyway */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->by_fd[fd] = NULL;
    s->dead = true;
    s->next_dead = loop->graveyard;
    loop->graveyard = s;
    return 0;
}

/* ---- timers ---- */

/* Stops watching and frees a timer without touching the loop's timer list. */
static void
timer_destroy(struct gdp_loop_timer *t)
{
    (void)gdp_loop_del_fd(t->loop, t->fd);
    (void)close(t->fd);
    free(t);
}

static void
timer_on_io(struct gdp_loop *loop, int fd, uint32_t events _unused_, void *userdata)
{
    struct gdp_loop_timer *t = userdata;
    uint64_t expirations;
    /* EAGAIN: disarmed or re-armed after the event was collected; not an expiry */
    if (read(fd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations) {
        return;
    }
    t->fn(loop, t, t->userdata); /* may free t: touch nothing after this */
}

int
gdp_loop_timer_new(struct gdp_loop *loop, gdp_loop_timer_fn fn, void *userdata,
                   struct gdp_loop_timer **ret_timer, struct gdp_diag *diag)
{
    _cleanup_close_ int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        return gdp_diag_set(diag, -errno, "timerfd_create: %s", strerror(errno));
    }
    struct gdp_loop_timer *t = gdp_calloc(1, sizeof *t);
    int r = gdp_loop_add_fd(loop, fd, EPOLLIN, timer_on_io, t);
    if (r < 0) {
        free(t);
        return gdp_diag_set(diag, r, "watching timerfd: %s", gdp_strerror(r));
    }
    *t = (struct gdp_loop_timer){.loop = loop, .fd = TAKE_FD(fd), .fn = fn, .userdata = userdata};
    t->next = loop->timers;
    if (loop->timers != NULL) {
        loop->timers->prev = t;
    }
    loop->timers = t;
    *ret_timer = t;
    return 0;
}

static struct timespec
ms_to_timespec(uint64_t ms)
{
    return (struct timespec){.tv_sec = (time_t)(ms / 1000u),
                             .tv_nsec = (long)(ms % 1000u) * 1000000L};
}

int
gdp_loop_timer_set(struct gdp_loop_timer *timer, uint64_t first_ms, uint64_t interval_ms)
{
    struct itimerspec its = {
            .it_value = ms_to_timespec(first_ms),
            .it_interval = ms_to_timespec(first_ms == 0 ? 0 : interval_ms),
    };
    return timerfd_settime(timer->fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void
gdp_loop_timer_free(struct gdp_loop_timer *timer)
{
    if (timer == NULL) {
        return;
    }
    struct gdp_loop *loop = timer->loop;
    if (timer->prev != NULL) {
        timer->prev->next = timer->next;
    } else {
        loop->timers = timer->next;
    }
    if (timer->next != NULL) {
        timer->next->prev = timer->prev;
    }
    timer_destroy(timer);
}

/* ---- signals ---- */

static void
signal_on_io(struct gdp_loop *loop, int fd, uint32_t events _unused_, void *userdata _unused_)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        int signo = (int)si.ssi_signo;
        if (signo > 0 && signo < N_SIGNALS && loop->sig[signo].fn != NULL) {
            loop->sig[signo].fn(loop, signo, loop->sig[signo].userdata);
        }
    }
}

int
gdp_loop_add_signal(struct gdp_loop *loop, int signo, gdp_loop_signal_fn fn, void *userdata)
{
    sigset_t one;
    if (signo <= 0 || signo >= N_SIGNALS || fn == NULL) {
        return -EINVAL;
    }
    sigemptyset(&one);
    if (sigaddset(&one, signo) < 0 || sigaddset(&loop->sigmask, signo) < 0) {
        return -EINVAL;
    }
    if (sigprocmask(SIG_BLOCK, &one, loop->sigmask_saved ? NULL : &loop->old_sigmask) < 0) {
        return -errno;
    }
    loop->sigmask_saved = true;
    int fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (loop->sigfd < 0) {
        int r = gdp_loop_add_fd(loop, fd, EPOLLIN, signal_on_io, NULL);
        if (r < 0) {
            (void)close(fd);
            return r;
        }
        loop->sigfd = fd;
    }
    loop->sig[signo].fn = fn;
    loop->sig[signo].userdata = userdata;
    return 0;
}

/* ---- hooks ---- */

int
gdp_loop_add_hook(struct gdp_loop *loop, gdp_loop_hook_fn fn, void *userdata)
{
    loop->hooks = gdp_reallocarray(loop->hooks, loop->n_hooks + 1, sizeof *loop->hooks);
    loop->hooks[loop->n_hooks++] = (struct hook){.fn = fn, .userdata = userdata};
    return 0;
}

static void
compact_hooks(struct gdp_loop *loop)
{
    size_t n = 0;
    for (size_t i = 0; i < loop->n_hooks; i++) {
        if (loop->hooks[i].fn != NULL) {
            loop->hooks[n++] = loop->hooks[i];
        }
    }
    loop->n_hooks = n;
    loop->hooks_dirty = false;
}

void
gdp_loop_del_hook(struct gdp_loop *loop, gdp_loop_hook_fn fn, void *userdata)
{
    for (size_t i = 0; i < loop->n_hooks; i++) {
        if (loop->hooks[i].fn == fn && loop->hooks[i].userdata == userdata) {
            loop->hooks[i].fn = NULL; /* compacted when no hook is running */
            loop->hooks_dirty = true;
            break;
        }
    }
    if (loop->hooks_running == 0 && loop->hooks_dirty) {
        compact_hooks(loop);
    }
}

static void
run_hooks(struct gdp_loop *loop)
{
    loop->hooks_running++;
    /* index-based: hooks may be added (array reallocated) or removed while running */
    for (size_t i = 0; i < loop->n_hooks; i++) {
        struct hook h = loop->hooks[i];
        if (h.fn != NULL) {
            h.fn(loop, h.userdata);
        }
    }
    loop->hooks_running--;
    if (loop->hooks_running == 0 && loop->hooks_dirty) {
        compact_hooks(loop);
    }
    empty_graveyard(loop);
}

/* ---- cross-thread posts ---- */

void
gdp_loop_deliver_posts(struct gdp_loop *loop)
{
    struct post_queue *q = &loop->post;
    if (!loop->post_ready) {
        return;
    }
    _cleanup_free_ uint8_t *rec = gdp_malloc(q->rec_size);
    for (;;) {
        (void)pthread_mutex_lock(&q->mu);
        bool have = q->count > 0;
        if (have) {
            memcpy(rec, q->ring + q->head * q->rec_size, q->rec_size);
            q->head = (q->head + 1) % q->capacity;
            q->count--;
        }
        (void)pthread_mutex_unlock(&q->mu);
        if (!have) {
            break;
        }
        q->fn(loop, rec, q->userdata);
    }
}

static void
post_on_io(struct gdp_loop *loop, int fd, uint32_t events _unused_, void *userdata _unused_)
{
    uint64_t n;
    /* resets the counter; EAGAIN (nothing pending) is harmless: the queue is checked anyway */
    ssize_t got = read(fd, &n, sizeof n);
    (void)got;
    gdp_loop_deliver_posts(loop);
}

int
gdp_loop_set_post_handler(struct gdp_loop *loop, size_t rec_size, size_t capacity,
                          gdp_loop_post_fn fn, void *userdata, struct gdp_diag *diag)
{
    if (rec_size == 0 || rec_size > MAX_REC_SIZE || capacity == 0 || capacity > 65536 ||
        fn == NULL) {
        return gdp_diag_set(diag, -EINVAL, "invalid post queue geometry");
    }
    if (loop->post_ready) {
        return gdp_diag_set(diag, -EBUSY, "post handler already set");
    }
    _cleanup_close_ int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        return gdp_diag_set(diag, -errno, "eventfd: %s", strerror(errno));
    }
    int r = gdp_loop_add_fd(loop, fd, EPOLLIN, post_on_io, NULL);
    if (r < 0) {
        return gdp_diag_set(diag, r, "watching eventfd: %s", gdp_strerror(r));
    }
    struct post_queue *q = &loop->post;
    (void)pthread_mutex_init(&q->mu, NULL);
    q->ring = gdp_calloc(capacity, rec_size);
    q->rec_size = rec_size;
    q->capacity = capacity;
    q->fn = fn;
    q->userdata = userdata;
    q->evfd = TAKE_FD(fd);
    loop->post_ready = true;
    return 0;
}

int
gdp_loop_post(struct gdp_loop *loop, const void *rec)
{
    struct post_queue *q = &loop->post;
    if (!loop->post_ready) {
        return -ENOTCONN;
    }
    (void)pthread_mutex_lock(&q->mu);
    bool full = q->count == q->capacity;
    if (!full) {
        size_t tail = (q->head + q->count) % q->capacity;
        memcpy(q->ring + tail * q->rec_size, rec, q->rec_size);
        q->count++;
    }
    (void)pthread_mutex_unlock(&q->mu);
    if (full) {
        return -EAGAIN;
    }
    uint64_t one = 1;
    /* EAGAIN only when the counter would overflow: the loop is awake anyway */
    ssize_t put = write(q->evfd, &one, sizeof one);
    (void)put;
    return 0;
}

/* ---- running ---- */

static int
dispatch_round(struct gdp_loop *loop, int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno != EINTR) {
            return -errno;
        }
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        struct source *s = evs[i].data.ptr;
        if (!s->dead) {
            s->fn(loop, s->fd, evs[i].events, s->userdata);
        }
    }
    run_hooks(loop);
    return n;
}

int
gdp_loop_run_once(struct gdp_loop *loop, int timeout_ms)
{
    run_hooks(loop);
    return dispatch_round(loop, timeout_ms);
}

int
gdp_loop_run(struct gdp_loop *loop)
{
    run_hooks(loop);
    while (!loop->quit) {
        int r = dispatch_round(loop, -1);
        if (r < 0) {
            return r;
        }
    }
    return loop->exit_code;
}

void
gdp_loop_quit(struct gdp_loop *loop, int code)
{
    loop->quit = true;
    loop->exit_code = code;
}
