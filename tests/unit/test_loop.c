/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/loop.c: fds, removal during dispatch, timers, signals, posts, hooks. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* after the headers cmocka.h relies on (it includes none itself) */
#include <cmocka.h>

#include "core/loop.h"
#include "core/util.h"

static struct gdp_loop *
new_loop(void)
{
    struct gdp_loop *loop = NULL;
    assert_int_equal(gdp_loop_new(&loop, NULL), 0);
    return loop;
}

struct pair {
    int fd[2];
    int hits;
    struct gdp_loop *loop;
    struct pair *other;
};

static void
on_readable(struct gdp_loop *loop _unused_, int fd, uint32_t events, void *userdata)
{
    struct pair *p = userdata;
    char buf[16];
    assert_true(events & EPOLLIN);
    assert_true(read(fd, buf, sizeof buf) > 0);
    p->hits++;
}

static void
fd_dispatch_and_modify(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct pair p = {0};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p.fd), 0);
    assert_int_equal(gdp_loop_add_fd(loop, p.fd[0], EPOLLIN, on_readable, &p), 0);
    assert_int_equal(gdp_loop_add_fd(loop, p.fd[0], EPOLLIN, on_readable, &p), -EEXIST);
    assert_int_equal(gdp_loop_add_fd(loop, -1, EPOLLIN, on_readable, &p), -EINVAL);
    assert_int_equal(gdp_loop_run_once(loop, 0), 0);
    assert_int_equal(write(p.fd[1], "x", 1), 1);
    assert_int_equal(gdp_loop_run_once(loop, 1000), 1);
    assert_int_equal(p.hits, 1);
    assert_int_equal(gdp_loop_mod_fd(loop, p.fd[0], 0), 0);
    assert_int_equal(write(p.fd[1], "x", 1), 1);
    assert_int_equal(gdp_loop_run_once(loop, 0), 0);
    assert_int_equal(gdp_loop_del_fd(loop, p.fd[0]), 0);
    assert_int_equal(gdp_loop_del_fd(loop, p.fd[0]), -ENOENT);
    assert_int_equal(gdp_loop_mod_fd(loop, p.fd[0], EPOLLIN), -ENOENT);
    gdp_loop_free(loop);
    close(p.fd[0]);
    close(p.fd[1]);
}

/* Each callback removes (and closes) both its own fd and the other pair's. */
static void
on_readable_remove_both(struct gdp_loop *loop, int fd, uint32_t events _unused_, void *userdata)
{
    struct pair *p = userdata;
    p->hits++;
    assert_int_equal(gdp_loop_del_fd(loop, fd), 0);
    (void)gdp_loop_del_fd(loop, p->other->fd[0]);
}

static void
fd_removal_during_dispatch(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct pair a = {0}, b = {0};
    a.other = &b;
    b.other = &a;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a.fd), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b.fd), 0);
    assert_int_equal(gdp_loop_add_fd(loop, a.fd[0], EPOLLIN, on_readable_remove_both, &a), 0);
    assert_int_equal(gdp_loop_add_fd(loop, b.fd[0], EPOLLIN, on_readable_remove_both, &b), 0);
    assert_int_equal(write(a.fd[1], "x", 1), 1);
    assert_int_equal(write(b.fd[1], "x", 1), 1);
    usleep(1000);
    assert_int_equal(gdp_loop_run_once(loop, 1000), 2); /* both were collected ... */
    assert_int_equal(a.hits + b.hits, 1);               /* ... only the first ran */
    gdp_loop_free(loop);
    for (int i = 0; i < 2; i++) {
        close(a.fd[i]);
        close(b.fd[i]);
    }
}

struct tick {
    int fired;
    int free_at;
    struct gdp_loop_timer *timer;
};

static void
on_tick(struct gdp_loop *loop, struct gdp_loop_timer *timer, void *userdata)
{
    struct tick *t = userdata;
    t->fired++;
    if (t->fired == t->free_at) {
        gdp_loop_timer_free(timer); /* from inside its own callback */
        t->timer = NULL;
        gdp_loop_quit(loop, 7);
    }
}

static void
timer_periodic_and_free_in_callback(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct tick t = {.free_at = 3};
    assert_int_equal(gdp_loop_timer_new(loop, on_tick, &t, &t.timer, NULL), 0);
    assert_int_equal(gdp_loop_timer_set(t.timer, 1, 2), 0);
    assert_int_equal(gdp_loop_run(loop), 7);
    assert_int_equal(t.fired, 3);
    assert_null(t.timer);
    gdp_loop_free(loop);
}

static void
timer_one_shot_and_cancel(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct tick once = {.free_at = -1}, cancelled = {.free_at = -1};
    assert_int_equal(gdp_loop_timer_new(loop, on_tick, &once, &once.timer, NULL), 0);
    assert_int_equal(gdp_loop_timer_new(loop, on_tick, &cancelled, &cancelled.timer, NULL), 0);
    assert_int_equal(gdp_loop_timer_set(once.timer, 1, 0), 0);
    assert_int_equal(gdp_loop_timer_set(cancelled.timer, 1, 0), 0);
    assert_int_equal(gdp_loop_timer_set(cancelled.timer, 0, 0), 0); /* disarm */
    uint64_t t0 = gdp_loop_now_ms();
    while (gdp_loop_now_ms() - t0 < 30) {
        assert_true(gdp_loop_run_once(loop, 10) >= 0);
    }
    assert_int_equal(once.fired, 1);
    assert_int_equal(cancelled.fired, 0);
    gdp_loop_timer_free(once.timer);
    gdp_loop_free(loop); /* frees the timer still alive */
}

static void
on_signal(struct gdp_loop *loop, int signo, void *userdata)
{
    int *got = userdata;
    *got = signo;
    gdp_loop_quit(loop, 0);
}

static void
signals_arrive_through_the_loop(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    int got = 0;
    assert_int_equal(gdp_loop_add_signal(loop, 0, on_signal, &got), -EINVAL);
    assert_int_equal(gdp_loop_add_signal(loop, SIGUSR1, on_signal, &got), 0);
    assert_int_equal(gdp_loop_add_signal(loop, SIGUSR2, on_signal, &got), 0);
    assert_int_equal(kill(getpid(), SIGUSR2), 0); /* blocked: becomes readable on the signalfd */
    assert_int_equal(gdp_loop_run(loop), 0);
    assert_int_equal(got, SIGUSR2);
    gdp_loop_free(loop); /* restores the original mask */
    sigset_t cur;
    assert_int_equal(sigprocmask(SIG_SETMASK, NULL, &cur), 0);
    assert_false(sigismember(&cur, SIGUSR1));
}

struct rec {
    uint32_t seq;
    uint32_t pad[3];
};

struct posts {
    struct gdp_loop *loop;
    uint32_t next, received, total;
    int full;
};

static void
on_post(struct gdp_loop *loop, const void *rec, void *userdata)
{
    struct posts *p = userdata;
    const struct rec *r = rec;
    assert_int_equal(r->seq, p->received); /* in posting order */
    p->received++;
    if (p->received == p->total) {
        gdp_loop_quit(loop, 0);
    }
}

static void *
poster(void *arg)
{
    struct posts *p = arg;
    while (p->next < p->total) {
        struct rec r = {.seq = p->next};
        if (gdp_loop_post(p->loop, &r) == -EAGAIN) {
            __atomic_add_fetch(&p->full, 1, __ATOMIC_RELAXED);
            usleep(100);
            continue;
        }
        p->next++;
    }
    return NULL;
}

static void
posts_from_another_thread(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct posts p = {.loop = loop, .total = 5000};
    struct rec r = {0};
    pthread_t th;
    assert_int_equal(gdp_loop_post(loop, &r), -ENOTCONN);
    assert_int_equal(gdp_loop_set_post_handler(loop, 0, 8, on_post, &p, NULL), -EINVAL);
    assert_int_equal(gdp_loop_set_post_handler(loop, sizeof r, 8, on_post, &p, NULL), 0);
    assert_int_equal(gdp_loop_set_post_handler(loop, sizeof r, 8, on_post, &p, NULL), -EBUSY);
    assert_int_equal(pthread_create(&th, NULL, poster, &p), 0);
    assert_int_equal(gdp_loop_run(loop), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.received, p.total);
    gdp_loop_free(loop);
}

static void
post_queue_is_bounded(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct posts p = {.loop = loop, .total = 100};
    struct rec r = {0};
    assert_int_equal(gdp_loop_set_post_handler(loop, sizeof r, 4, on_post, &p, NULL), 0);
    for (uint32_t i = 0; i < 4; i++) {
        r.seq = i;
        assert_int_equal(gdp_loop_post(loop, &r), 0);
    }
    assert_int_equal(gdp_loop_post(loop, &r), -EAGAIN);
    assert_true(gdp_loop_run_once(loop, 1000) >= 1);
    assert_int_equal(p.received, 4);
    gdp_loop_free(loop);
}

struct hooks {
    int a, b;
    struct gdp_loop *loop;
};

static void hook_b(struct gdp_loop *loop, void *userdata);

static void
hook_a(struct gdp_loop *loop, void *userdata)
{
    struct hooks *h = userdata;
    h->a++;
    if (h->a == 2) {
        gdp_loop_del_hook(loop, hook_a, h); /* itself, while hooks run */
        gdp_loop_del_hook(loop, hook_b, h);
    }
}

static void
hook_b(struct gdp_loop *loop _unused_, void *userdata)
{
    struct hooks *h = userdata;
    h->b++;
}

static void
hooks_run_after_each_round(void **state _unused_)
{
    struct gdp_loop *loop = new_loop();
    struct hooks h = {.loop = loop};
    assert_int_equal(gdp_loop_add_hook(loop, hook_a, &h), 0);
    assert_int_equal(gdp_loop_add_hook(loop, hook_b, &h), 0);
    assert_int_equal(gdp_loop_run_once(loop, 0), 0); /* before and after the round */
    assert_int_equal(h.a, 2);
    assert_int_equal(h.b, 1); /* removed by a during the second run */
    assert_int_equal(gdp_loop_run_once(loop, 0), 0);
    assert_int_equal(h.a, 2);
    assert_int_equal(h.b, 1);
    gdp_loop_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(fd_dispatch_and_modify),
            cmocka_unit_test(fd_removal_during_dispatch),
            cmocka_unit_test(timer_periodic_and_free_in_callback),
            cmocka_unit_test(timer_one_shot_and_cancel),
            cmocka_unit_test(signals_arrive_through_the_loop),
            cmocka_unit_test(posts_from_another_thread),
            cmocka_unit_test(post_queue_is_bounded),
            cmocka_unit_test(hooks_run_after_each_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
