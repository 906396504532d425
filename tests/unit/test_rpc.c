/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for rpc/server.c and rpc/client.c together: our client calls our server over a
 * unix socket, both on one event loop. What each side promises in its header: answers and
 * statuses, the receive and response limits, deadlines, cancellation, streaming calls ended
 * by shutdown, and the listening socket's checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* after the headers cmocka.h relies on (it includes none itself) */
#include <cmocka.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/client.h"
#include "rpc/grpc.h"
#include "rpc/server.h"

#define WAIT_MS 5000u

struct reply {
    bool done;
    int status;
    char message[256];
    uint8_t data[64];
    size_t len;
};

struct stream {
    struct gdp_rpc_call *call; /* open streaming call, NULL once done */
    bool held;                 /* the server has the call */
    bool done;
    bool cancelled;
};

struct fixture {
    struct gdp_loop *loop;
    struct gdp_rpc_server *server;
    char dir[64];
    char path[128];
    struct stream stream;
    bool drained;
};

static void
echo(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata _unused_)
{
    assert_int_equal(gdp_rpc_call_reply(call, req, len), 0);
    assert_int_equal(gdp_rpc_call_reply(call, req, len), -EALREADY);
}

static void
refuse(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_,
       void *userdata _unused_)
{
    assert_int_equal(gdp_rpc_call_finish(call, GDP_GRPC_INVALID_ARGUMENT, "bad device \"x\"%\n"),
                     0);
}

static void
silent(struct gdp_rpc_call *call _unused_, const uint8_t *req _unused_, size_t len _unused_,
       void *userdata _unused_)
{
}

static void
stream_done(struct gdp_rpc_call *call, bool cancelled, void *userdata)
{
    struct stream *s = userdata;
    assert_ptr_equal(call, s->call);
    s->call = NULL;
    s->done = true;
    s->cancelled = cancelled;
}

/* Keeps the call open without sending anything. */
static void
hold(struct gdp_rpc_call *call, const uint8_t *req _unused_, size_t len _unused_, void *userdata)
{
    struct stream *s = userdata;
    s->call = call;
    s->held = true;
    gdp_rpc_call_set_done(call, stream_done, s);
}

static void
on_reply(const struct gdp_rpc_result *res, void *userdata)
{
    struct reply *r = userdata;
    assert_false(r->done);
    r->done = true;
    r->status = res->status;
    (void)gdp_strlcpy(r->message, res->message, sizeof r->message);
    r->len = res->len < sizeof r->data ? res->len : sizeof r->data;
    if (res->data != NULL) {
        memcpy(r->data, res->data, r->len);
    }
}

static void
on_drained(struct gdp_rpc_server *server _unused_, void *userdata)
{
    *(bool *)userdata = true;
}

/* Runs the loop until *flag or WAIT_MS; returns *flag. */
static bool
run_until(struct gdp_loop *loop, const bool *flag)
{
    uint64_t end = gdp_loop_now_ms() + WAIT_MS;
    while (!*flag && gdp_loop_now_ms() < end) {
        assert_true(gdp_loop_run_once(loop, 50) >= 0);
    }
    return *flag;
}

static int
setup(void **state)
{
    struct fixture *f = gdp_calloc(1, sizeof *f);
    struct gdp_diag diag = {0};
    (void)gdp_strlcpy(f->dir, "/tmp/gdp-test-rpc-XXXXXX", sizeof f->dir);
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(f->path, sizeof f->path, "%s/plugin.sock", f->dir);
    assert_int_equal(gdp_loop_new(&f->loop, &diag), 0);
    const struct gdp_rpc_method methods[] = {
            {"/t.S/Echo", GDP_RPC_UNARY, echo, NULL},
            {"/t.S/Refuse", GDP_RPC_UNARY, refuse, NULL},
            {"/t.S/Silent", GDP_RPC_UNARY, silent, NULL},
            {"/t.S/Hold", GDP_RPC_SERVER_STREAM, hold, &f->stream},
    };
    const struct gdp_rpc_server_options opts = {.max_recv_message = 1024};
    assert_int_equal(
            gdp_rpc_server_new(f->loop, methods, ELEMENTSOF(methods), &opts, &f->server, &diag), 0);
    assert_int_equal(gdp_rpc_server_listen(f->server, f->path, &diag), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    gdp_rpc_server_free(f->server);
    gdp_loop_free(f->loop);
    (void)unlink(f->path);
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

/* Calls method with len bytes of data and waits for the answer. */
static struct reply
call(struct fixture *f, const char *method, const void *data, size_t len, uint64_t timeout_ms,
     size_t max_response)
{
    struct reply r = {0};
    struct gdp_diag diag = {0};
    const struct gdp_rpc_request req = {.socket_path = f->path,
                                        .method = method,
                                        .data = data,
                                        .len = len,
                                        .timeout_ms = timeout_ms,
                                        .max_response = max_response};
    assert_int_equal(gdp_rpc_client_call(f->loop, &req, on_reply, &r, NULL, &diag), 0);
    assert_true(run_until(f->loop, &r.done));
    return r;
}

static void
unary_answer_comes_back_unchanged(void **state)
{
    struct fixture *f = *state;
    struct reply r = call(f, "/t.S/Echo", "\x08\x01\x12\x03gpu", 7, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_OK);
    assert_int_equal(r.len, 7);
    assert_memory_equal(r.data, "\x08\x01\x12\x03gpu", 7);
    r = call(f, "/t.S/Echo", NULL, 0, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_OK);
    assert_int_equal(r.len, 0);
}

static void
error_status_and_message_reach_the_client(void **state)
{
    struct fixture *f = *state;
    struct reply r = call(f, "/t.S/Refuse", "x", 1, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_INVALID_ARGUMENT);
    assert_string_equal(r.message, "bad device \"x\"%\n"); /* percent-encoded on the wire */
    r = call(f, "/t.S/Nope", NULL, 0, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(r.message, "/t.S/Nope"));
    r = call(f, "/t.S/Silent", NULL, 0, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_INTERNAL);
}

static void
oversized_request_is_refused_and_the_server_goes_on(void **state)
{
    struct fixture *f = *state;
    uint8_t big[2048] = {0};
    struct reply r = call(f, "/t.S/Echo", big, sizeof big, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(gdp_rpc_server_buffered(f->server), 0);
    r = call(f, "/t.S/Echo", big, 1024, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_OK);
    assert_int_equal(r.len, sizeof r.data); /* kept the first 64 of 1024 */
}

static void
response_over_the_client_limit_fails(void **state)
{
    struct fixture *f = *state;
    uint8_t msg[100] = {0};
    struct reply r = call(f, "/t.S/Echo", msg, sizeof msg, 0, 99);
    assert_int_equal(r.status, GDP_GRPC_RESOURCE_EXHAUSTED);
    r = call(f, "/t.S/Echo", msg, sizeof msg, 0, 100);
    assert_int_equal(r.status, GDP_GRPC_OK);
}

static void
deadline_ends_a_call_the_server_never_answers(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = gdp_loop_now_ms();
    struct reply r = call(f, "/t.S/Hold", NULL, 0, 200, 0);
    assert_int_equal(r.status, GDP_GRPC_DEADLINE_EXCEEDED);
    assert_true(gdp_loop_now_ms() - t0 >= 200);
    /* the server's side ends too: by its own copy of the deadline or by the client's reset */
    assert_true(run_until(f->loop, &f->stream.done));
    assert_null(f->stream.call);
}

static void
cancelled_call_never_answers(void **state)
{
    struct fixture *f = *state;
    struct reply r = {0};
    struct gdp_diag diag = {0};
    struct gdp_rpc_client_call *c = NULL;
    const struct gdp_rpc_request req = {.socket_path = f->path, .method = "/t.S/Hold"};
    assert_int_equal(gdp_rpc_client_call(f->loop, &req, on_reply, &r, &c, &diag), 0);
    assert_true(run_until(f->loop, &f->stream.held)); /* the server holds it */
    gdp_rpc_client_call_cancel(c);
    assert_true(run_until(f->loop, &f->stream.done));
    assert_true(f->stream.cancelled);
    assert_false(r.done);
}

static void
shutdown_ends_open_streams_with_unavailable(void **state)
{
    struct fixture *f = *state;
    struct reply r = {0};
    struct gdp_diag diag = {0};
    const struct gdp_rpc_request req = {.socket_path = f->path, .method = "/t.S/Hold"};
    assert_int_equal(gdp_rpc_client_call(f->loop, &req, on_reply, &r, NULL, &diag), 0);
    assert_true(run_until(f->loop, &f->stream.held));
    gdp_rpc_server_shutdown(f->server, "plugin stopping", on_drained, &f->drained);
    assert_true(run_until(f->loop, &r.done));
    assert_int_equal(r.status, GDP_GRPC_UNAVAILABLE);
    assert_string_equal(r.message, "plugin stopping");
    assert_true(f->stream.done);
    assert_false(f->stream.cancelled); /* finished by us, the status went out */
    assert_true(run_until(f->loop, &f->drained));
    assert_int_equal(gdp_rpc_server_connections(f->server), 0);
    assert_int_equal(access(f->path, F_OK), -1); /* the socket file is gone */
}

static void
dialing_no_socket_fails_at_once(void **state)
{
    struct fixture *f = *state;
    struct reply r = {0};
    struct gdp_diag diag = {0};
    char missing[160];
    (void)snprintf(missing, sizeof missing, "%s/none.sock", f->dir);
    const struct gdp_rpc_request req = {.socket_path = missing, .method = "/t.S/Echo"};
    assert_int_equal(gdp_rpc_client_call(f->loop, &req, on_reply, &r, NULL, &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, missing));
    for (int i = 0; i < 3; i++) {
        assert_true(gdp_loop_run_once(f->loop, 10) >= 0);
    }
    assert_false(r.done);
}

static void
listening_socket_is_private_and_checked(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(gdp_rpc_server_listen(f->server, f->path, &diag), -EBUSY);

    struct gdp_rpc_server *other = NULL;
    const struct gdp_rpc_method m = {"/t.S/Echo", GDP_RPC_UNARY, echo, NULL};
    assert_int_equal(gdp_rpc_server_new(f->loop, &m, 1, NULL, &other, &diag), 0);
    char longpath[300];
    (void)snprintf(longpath, sizeof longpath, "%s/%0150d.sock", f->dir, 0);
    assert_int_equal(gdp_rpc_server_listen(other, longpath, &diag), -ENAMETOOLONG);
    gdp_rpc_server_free(other);
}

static void
idle_connections_make_room_for_a_new_one(void **state)
{
    struct fixture *f = *state;
    struct gdp_diag diag = {0};
    int keep[16];
    for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(gdp_rpc_server_adopt(f->server, sv[0], &diag), 0);
        keep[i] = sv[1];
    }
    assert_int_equal(gdp_rpc_server_connections(f->server), 16);
    /* at the cap a call still gets through: the longest idle connection is evicted */
    struct reply r = call(f, "/t.S/Echo", "ok", 2, 0, 0);
    assert_int_equal(r.status, GDP_GRPC_OK);
    assert_true(gdp_rpc_server_connections(f->server) <= 16);
    for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
        (void)close(keep[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(unary_answer_comes_back_unchanged, setup, teardown),
            cmocka_unit_test_setup_teardown(error_status_and_message_reach_the_client, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(oversized_request_is_refused_and_the_server_goes_on,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(response_over_the_client_limit_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(deadline_ends_a_call_the_server_never_answers, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(cancelled_call_never_answers, setup, teardown),
            cmocka_unit_test_setup_teardown(shutdown_ends_open_streams_with_unavailable, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(dialing_no_socket_fails_at_once, setup, teardown),
            cmocka_unit_test_setup_teardown(listening_socket_is_private_and_checked, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(idle_connections_make_room_for_a_new_one, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
