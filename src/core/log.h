/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr in klog's text format ("I1122 23:03:15.123456    4242 file.c:88] msg") or
 * as one JSON object per line. The level check happens in the macros, so the arguments of a
 * filtered line are not evaluated.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

enum gdp_log_level {
    GDP_LOG_ERR = 0,
    GDP_LOG_WARN = 1,
    GDP_LOG_INFO = 2,
    GDP_LOG_DEBUG = 3,
};

enum gdp_log_format {
    GDP_LOG_TEXT = 0,
    GDP_LOG_JSON = 1,
};

extern enum gdp_log_level gdp_log_level;
extern enum gdp_log_format gdp_log_format;

/* Writes one log line. Use the macros below; they skip filtered lines cheaply. */
void gdp_log_write(enum gdp_log_level lvl, const char *file, int line, const char *fmt, ...)
        _printf_(4, 5);

/* Writes "<msg>: <gdp_strerror(r)>" and returns r. */
int gdp_log_errno(enum gdp_log_level lvl, int r, const char *file, int line, const char *fmt, ...)
        _printf_(5, 6);

/*
 * Copies msg into out (size >= 1, always NUL-terminated, truncated to fit) so that it is one
 * printable line of valid UTF-8: newlines, other control bytes and bytes that are not part of
 * a valid UTF-8 sequence become "\n", "\r", "\t" or "\xNN". Log writers apply it to every
 * line, so peer-supplied text (device IDs, paths, gRPC messages) can neither forge a line nor
 * make the log binary. Returns the output length.
 */
size_t gdp_log_escape(const char *msg, char *out, size_t size);

/*
 * A token bucket for repeated warnings: at most burst lines per interval_ms. The caller owns
 * the struct (zero-initialize it, then set interval_ms and burst).
 */
struct gdp_ratelimit {
    uint64_t interval_ms;
    unsigned burst;
    uint64_t begin_ms;   /* start of the current window */
    unsigned n;          /* lines passed in the current window */
    unsigned suppressed; /* lines refused since the last one passed */
};

/*
 * True when a line may be written at now_ms. When it returns true, *ret_suppressed (may be
 * NULL) gets the number of lines refused since the previous one passed (then reset), so the
 * caller can say how many were left out.
 */
bool gdp_ratelimit_pass(struct gdp_ratelimit *rl, uint64_t now_ms, unsigned *ret_suppressed);

/* Parses "error", "warning" (or "warn"), "info" or "debug".
 * Returns 0 or -EINVAL. */
int gdp_log_level_from_string(const char *s, enum gdp_log_level *ret);

/* Parses "text|json". Returns 0 or -EINVAL. */
int gdp_log_format_from_string(const char *s, enum gdp_log_format *ret);

#define gdp_log_at(lvl, ...)                                       \
    do {                                                           \
        if ((lvl) <= gdp_log_level) {                              \
            gdp_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); \
        }                                                          \
    } while (0)

#define log_error(...)          gdp_log_at(GDP_LOG_ERR, __VA_ARGS__)
#define log_warn(...)           gdp_log_at(GDP_LOG_WARN, __VA_ARGS__)
#define log_info(...)           gdp_log_at(GDP_LOG_INFO, __VA_ARGS__)
#define log_debug(...)          gdp_log_at(GDP_LOG_DEBUG, __VA_ARGS__)

#define log_error_errno(r, ...) gdp_log_errno(GDP_LOG_ERR, (r), __FILE__, __LINE__, __VA_ARGS__)
#define log_warn_errno(r, ...)  gdp_log_errno(GDP_LOG_WARN, (r), __FILE__, __LINE__, __VA_ARGS__)
