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

static void
emit(enum gdp_log_level lvl, const char *file, int line, const char *msg)
{
    if (gdp_log_format == GDP_LOG_JSON) {
        emit_json(lvl, file, line, msg);
    } else {
        emit_text(lvl, file, line, msg);
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
