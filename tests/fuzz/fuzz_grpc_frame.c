/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the gRPC length-prefix decoder and the one-message receive buffer, fed
 * the same bytes in chunks whose sizes come from the input, plus the grpc-message decoder
 * and grpc-timeout parser on the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "rpc/grpc.h"

#define MAX_MSG 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decode_all(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct gdp_slice msg;
        ssize_t n = gdp_grpc_frame_decode(data + off, size - off, MAX_MSG, &msg);
        if (n <= 0) {
            break;
        }
        if (msg.len > 0 && (msg.data < data || msg.data + msg.len > data + size)) {
            __builtin_trap();
        }
        off += (size_t)n;
    }
}

static void
feed_chunked(const uint8_t *data, size_t size)
{
    struct gdp_grpc_msgbuf b;
    struct gdp_slice msg;
    size_t off = 1;
    size_t step = size > 0 ? (size_t)(data[0] % 7) + 1 : 1;
    gdp_grpc_msgbuf_init(&b);
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        if (gdp_grpc_msgbuf_append(&b, data + off, n, MAX_MSG) < 0) {
            break;
        }
        off += n;
    }
    if (gdp_grpc_msgbuf_finish(&b, &msg) == 0 && msg.len > MAX_MSG) {
        __builtin_trap();
    }
    gdp_grpc_msgbuf_done(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256];
    uint64_t ms;
    decode_all(data, size);
    feed_chunked(data, size);
    (void)gdp_grpc_message_decode((const char *)data, size, text, sizeof text);
    (void)gdp_grpc_timeout_parse((const char *)data, size, &ms);
    (void)gdp_grpc_status_parse((const char *)data, size);
    return 0;
}
