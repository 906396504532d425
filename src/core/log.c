/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log writer: klog text lines or Kubernetes-style JSON lines on stderr. Each line is built in
 * one buffer and written with a single write(2), so lines from the health thread and the loop
 * thread never interleave.
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/diag.h"

enum gdp_log_level gdp_log_level = GDP_LOG_INFO;
enum gdp_log_format gdp_log_format = GDP_LOG_TEXT;

#define LOG_LINE_MAX 4096

static const char *
basename_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash != NULL ? slash + 1 : file;
}

static void
write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void
emit_text(enum gdp_log_level lvl, const char *file, int line, const char *msg)
{
    static const char letters[] = {'E', 'W', 'I', 'I'};
    struct timespec ts;
    struct tm tm;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)localtime_r(&ts.tv_sec, &tm);
    char buf[LOG_LINE_MAX];
    int n = snprintf(buf, sizeof buf, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] %s\n",
                     letters[lvl], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000, (int)getpid(), basename_of(file), line, msg);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    if (buf[len - 1] != '\n') {
        buf[len - 1] = '\n';
    }
    write_all(buf, len);
}

static void
emit_json(enum gdp_log_level lvl, const char *file, int line, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    struct timespec ts;
    char caller[256];
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)snprintf(caller, sizeof caller, "%s:%d", basename_of(file), line);
    json_t *o = json_object();
    if (o == NULL) {
        return;
    }
    (void)json_object_set_new(o, "ts", json_real((double)ts.tv_sec + (double)ts.tv_nsec / 1e9));
    (void)json_object_set_new(o, "caller", json_string(caller));
    (void)json_object_set_new(o, "level", json_string(names[lvl]));
    (void)json_object_set_new(o, "msg", json_string(msg));
    (void)json_object_set_new(o, "v", json_integer(lvl == GDP_LOG_DEBUG ? 4 : 0));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL) {
        return;
    }
    size_t len = strlen(s);
    s[len] = '\0';
    write_all(s, len);
    write_all("\n", 1);
    free(s);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if there is none. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned min;
    if (p[0] < 0x80) {
        return 1;
    } else if ((p[0] & 0xe0) == 0xc0) {
        len = 2, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    unsigned cp = p[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* overlong forms, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8 */
    return (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) ? 0 : len;
}

/* The escape for byte c outside valid printable UTF-8, written to esc (5 bytes). */
static size_t
escape_byte(unsigned char c, char esc[5])
{
    static const char hex[] = "0123456789abcdef";
    esc[0] = '\\';
    switch (c) {
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    default:
        esc[1] = 'x';
        esc[2] = hex[c >> 4];
        esc[3] = hex[c & 15];
        return 4;
    }
}

size_t
gdp_log_escape(const char *msg, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)msg;
    size_t n = strlen(msg), o = 0;
    while (n > 0) {
        char esc[5];
        const char *src = esc;
        size_t len = (p[0] < 0x20 || p[0] == 0x7f) ? 0 : utf8_len(p, n);
        size_t take = len > 0 ? len : 1;
        if (len > 0) {
            src = (const char *)p;
        } else {
            len = escape_byte(p[0], esc);
        }
        if (o + len >= size) {
            break;
        }
        memcpy(out + o, src, len);
        o += len;
        p += take;
        n -= take;
    }
    out[o] = '\0';
    return o;
}

bool
gdp_ratelimit_pass(struct gdp_ratelimit *rl, uint64_t now_ms, unsigned *ret_suppressed)
{
    if (rl->begin_ms == 0 || now_ms - rl->begin_ms >= rl->interval_ms) {
        rl->begin_ms = now_ms != 0 ? now_ms : 1;
        rl->n = 0;
    }
    if (rl->n >= rl->burst) {
        rl->suppressed++;
        return false;
    }
    rl->n++;
    if (ret_suppressed != NULL) {
        *ret_suppressed = rl->suppressed;
    }
    rl->suppressed = 0;
    return true;
}

static void
emit(enum gdp_log_level lvl, const char *file, int line, const char *msg)
{
    char safe[LOG_LINE_MAX - 64];
    (void)gdp_log_escape(msg, safe, sizeof safe);
    if (gdp_log_format == GDP_LOG_JSON) {
        emit_json(lvl, file, line, safe);
    } else {
        emit_text(lvl, file, line, safe);
    }
}

void
gdp_log_write(enum gdp_log_level lvl, const char *file, int line, const char *fmt, ...)
{
    int saved = errno;
    char msg[LOG_LINE_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(lvl, file, line, msg);
    errno = saved;
}

int
gdp_log_errno(enum gdp_log_level lvl, int r, const char *file, int line, const char *fmt, ...)
{
    if (lvl > gdp_log_level) {
        return r;
    }
    char msg[LOG_LINE_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof msg) {
        (void)snprintf(msg + n, sizeof msg - (size_t)n, ": %s", gdp_strerror(r));
    }
    emit(lvl, file, line, msg);
    return r;
}

int
gdp_log_level_from_string(const char *s, enum gdp_log_level *ret)
{
    static const struct {
        const char *name;
        enum gdp_log_level lvl;
    } names[] = {
            {"error", GDP_LOG_ERR}, {"warning", GDP_LOG_WARN}, {"warn", GDP_LOG_WARN},
            {"info", GDP_LOG_INFO}, {"debug", GDP_LOG_DEBUG},
    };

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        if (streq(s, names[i].name)) {
            *ret = names[i].lvl;
            return 0;
        }
    }
    return -EINVAL;
}

int
gdp_log_format_from_string(const char *s, enum gdp_log_format *ret)
{
    if (streq(s, "text")) {
        *ret = GDP_LOG_TEXT;
    } else if (streq(s, "json")) {
        *ret = GDP_LOG_JSON;
    } else {
        return -EINVAL;
    }
    return 0;
}
