/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a server-side HTTP/2 + gRPC session fed arbitrary bytes. The input is
 * written into one end of a socketpair whose other end the rpc server adopts; the loop then
 * runs until the server closes the connection or a few idle rounds pass. Methods: a unary
 * echo and a stream that sends one message and stays open.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/server.h"

#define MAX_ROUNDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
echo(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata _unused_)
{
    (void)gdp_rpc_call_reply(call, req, len);
}

static void
stream_done(struct gdp_rpc_call *call _unused_, bool cancelled _unused_, void *userdata)
{
    int *open = userdata;
    (*open)--;
}

static void
stream(struct gdp_rpc_call *call, const uint8_t *req, size_t len, void *userdata)
{
    int *open = userdata;
    (void)gdp_rpc_call_send(call, req, len, GDP_RPC_SEND_COALESCE);
    (*open)++;
    gdp_rpc_call_set_done(call, stream_done, open);
}

static void
drain(int fd)
{
    uint8_t buf[4096];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
        continue;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gdp_loop *loop = NULL;
    struct gdp_rpc_server *server = NULL;
    int open = 0, sv[2];
    const struct gdp_rpc_method methods[] = {
            {"/echo.Echo/Unary", GDP_RPC_UNARY, echo, NULL},
            {"/echo.Echo/Stream", GDP_RPC_SERVER_STREAM, stream, &open},
    };
    const struct gdp_rpc_server_options opts = {.max_recv_message = 1024, .max_streams = 8};
    gdp_log_level = GDP_LOG_ERR;
    if (gdp_loop_new(&loop, NULL) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    if (gdp_rpc_server_new(loop, methods, ELEMENTSOF(methods), &opts, &server, NULL) < 0 ||
        gdp_rpc_server_adopt(server, sv[0], NULL) < 0) {
        abort();
    }
    /* inputs are small (libFuzzer's -max_len): they fit in the socket buffer */
    (void)send(sv[1], data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < MAX_ROUNDS && gdp_rpc_server_connections(server) > 0; i++) {
        (void)gdp_loop_run_once(loop, 0);
        drain(sv[1]);
    }
    gdp_rpc_server_free(server); /* also ends streams still open */
    if (open != 0) {
        abort();
    }
    gdp_loop_free(loop);
    (void)close(sv[1]);
    return 0;
}
