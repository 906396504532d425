/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC wire details that are independent of HTTP/2 sessions: the 5-byte length-prefixed
 * message framing, a bounded one-message receive buffer, status codes, the percent-encoding
 * of grpc-message and the grpc-timeout header. Pure functions, no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GDP_GRPC_FRAME_HDR   5u
#define GDP_GRPC_MAX_RECV    (4u << 20) /* grpc-go's default receive limit */
#define GDP_GRPC_MESSAGE_MAX 1024u      /* raw grpc-message bytes we send or keep */
#define GDP_GRPC_TIMEOUT_MAX 16u        /* "99999999m" plus NUL, rounded up */

enum gdp_grpc_status {
    GDP_GRPC_OK = 0,
    GDP_GRPC_CANCELLED = 1,
    GDP_GRPC_UNKNOWN = 2,
    GDP_GRPC_INVALID_ARGUMENT = 3,
    GDP_GRPC_DEADLINE_EXCEEDED = 4,
    GDP_GRPC_NOT_FOUND = 5,
    GDP_GRPC_ALREADY_EXISTS = 6,
    GDP_GRPC_PERMISSION_DENIED = 7,
    GDP_GRPC_RESOURCE_EXHAUSTED = 8,
    GDP_GRPC_FAILED_PRECONDITION = 9,
    GDP_GRPC_ABORTED = 10,
    GDP_GRPC_OUT_OF_RANGE = 11,
    GDP_GRPC_UNIMPLEMENTED = 12,
    GDP_GRPC_INTERNAL = 13,
    GDP_GRPC_UNAVAILABLE = 14,
    GDP_GRPC_DATA_LOSS = 15,
    GDP_GRPC_UNAUTHENTICATED = 16,
};

/* A borrowed byte range. */
struct gdp_slice {
    const uint8_t *data;
    size_t len;
};

/*
 * Decodes one length-prefixed gRPC message at the start of buf.
 * Returns bytes consumed (> 0), 0 if the frame is still incomplete, or
 * -EMSGSIZE (declared length > max_len) / -EPROTO (compressed flag set; we only speak
 * identity). Size errors are reported as soon as the 5-byte prefix is complete.
 * On success ret_msg points into buf (borrowed; valid while buf is unchanged).
 */
ssize_t gdp_grpc_frame_decode(const uint8_t *buf, size_t len, size_t max_len,
                              struct gdp_slice *ret_msg);

/* Writes the 5-byte prefix for an uncompressed message of len bytes (len <= UINT32_MAX). */
void gdp_grpc_frame_header(uint8_t hdr[GDP_GRPC_FRAME_HDR], size_t len);

/*
 * Collects exactly one request or response message from DATA chunks of any size.
 * Nothing is allocated before the prefix is known and the declared length checked; the
 * buffer then grows with the bytes that actually arrive (starting at
 * GDP_GRPC_MSGBUF_FIRST, doubling, never past the declared length), so a peer that declares
 * 4 MiB and sends 5 bytes costs GDP_GRPC_MSGBUF_FIRST, not 4 MiB.
 */
#define GDP_GRPC_MSGBUF_FIRST ((size_t)16 * 1024)

struct gdp_grpc_msgbuf {
    uint8_t hdr[GDP_GRPC_FRAME_HDR];
    size_t hdr_len;
    uint8_t *body; /* owned */
    size_t body_len, body_need;
    size_t body_cap; /* bytes allocated for body */
    bool complete;
};

void gdp_grpc_msgbuf_init(struct gdp_grpc_msgbuf *b);
void gdp_grpc_msgbuf_done(struct gdp_grpc_msgbuf *b);

/*
 * Appends n bytes. Returns 0, -EMSGSIZE (declared length > max_len), -EPROTO (compressed
 * flag), or -E2BIG (bytes beyond the first complete message: a second message).
 * After an error the buffer must not be fed again.
 */
int gdp_grpc_msgbuf_append(struct gdp_grpc_msgbuf *b, const uint8_t *p, size_t n, size_t max_len);

/*
 * At end of stream: returns 0 and the message in *ret_msg (borrowed from b, valid until
 * gdp_grpc_msgbuf_done()), or -ENODATA if no complete message arrived.
 */
int gdp_grpc_msgbuf_finish(const struct gdp_grpc_msgbuf *b, struct gdp_slice *ret_msg);

/* Upper-case status name ("DEADLINE_EXCEEDED"); "UNKNOWN" for codes outside 0..16. */
const char *gdp_grpc_status_name(int status);

/* Parses a grpc-status value: decimal, 1-3 digits, no sign. Returns the code or -EINVAL. */
int gdp_grpc_status_parse(const char *s, size_t len);

/* Status for a response without grpc-status, from its HTTP :status (gRPC's mapping). */
int gdp_grpc_status_from_http(int http_status);

/* Status for a stream reset with an HTTP/2 error code before any grpc-status arrived. */
int gdp_grpc_status_from_h2_error(uint32_t error_code);

/*
 * Percent-encodes msg (NUL-terminated, may be NULL) for grpc-message: bytes outside 0x20-0x7E
 * and '%' become "%XX". At most GDP_GRPC_MESSAGE_MAX input bytes are used; the output never
 * cuts an escape. Writes a NUL-terminated string into out (size >= 1) and returns its length.
 */
size_t gdp_grpc_message_encode(const char *msg, char *out, size_t size);

/*
 * Decodes a grpc-message value of len bytes into out (size >= 1, NUL-terminated, truncated
 * to fit). Invalid escapes are kept literally, never rejected. Returns the output length.
 */
size_t gdp_grpc_message_decode(const char *in, size_t len, char *out, size_t size);

/*
 * Parses a grpc-timeout value ("<1-8 digits><H|M|S|m|u|n>") of len bytes into milliseconds,
 * rounded up (so that "1n" still expires). Returns 0 and *ret_ms, or -EINVAL if malformed.
 */
int gdp_grpc_timeout_parse(const char *s, size_t len, uint64_t *ret_ms);

/*
 * Formats a timeout in milliseconds for grpc-timeout, in the finest unit that fits 8 digits
 * (m, then S, M, H). out needs GDP_GRPC_TIMEOUT_MAX bytes. Returns the length written.
 */
size_t gdp_grpc_timeout_format(uint64_t ms, char out[GDP_GRPC_TIMEOUT_MAX]);
