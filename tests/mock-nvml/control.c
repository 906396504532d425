/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control channel: a FIFO named by MOCK_NVML_CONTROL through which a test injects
 * events, marks GPUs lost or back and makes calls fail. Lines are applied by a background
 * reader thread and also, synchronously, at the start of every NVML call (so a line
 * written before a call is always applied before that call runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock.h"

#define LINE_MAX_LEN 1024u
#define MAX_TOKENS   8

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int ctl_fd = -1;
static int stop_pipe[2] = {-1, -1};
static pthread_t reader;
static bool reader_running;
static char pending[LINE_MAX_LEN]; /* partial line, under ctl_lock */
static size_t pending_len;
static bool discarding; /* skipping the rest of an over-long line */

struct command {
    const char *name;
    int min_args, max_args;
    const char *(*apply)(char **argv, int argc); /* NULL or the reason to ignore the line */
};

static bool
parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
    char *end;

    if (*s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    *ret = strtoull(s, &end, 0);
    return errno == 0 && *end == '\0' && *ret <= max;
}

static const char *
cmd_xid(char **argv, int argc)
{
    struct nvmlDevice_st *d = mock_find_uuid(argv[1]);
    unsigned long long xid, gi = MOCK_NO_ID, ci = MOCK_NO_ID;

    if (d == NULL) {
        return "unknown UUID";
    }
    if (!parse_uint(argv[2], ~0ULL, &xid)) {
        return "bad XID number";
    }
    if (argc == 5 &&
        (!parse_uint(argv[3], MOCK_NO_ID, &gi) || !parse_uint(argv[4], MOCK_NO_ID, &ci))) {
        return "bad GI/CI id";
    }
    if (argc == 4) {
        return "give both GI and CI ids";
    }
    if (d->parent != NULL && argc == 3) {
        gi = d->gi->id;
        ci = d->ci->id;
    }
    mock_event_inject(mock_gpu_of(d), nvmlEventTypeXidCriticalError, xid, (unsigned int)gi,
                      (unsigned int)ci);
    return NULL;
}

static const char *
cmd_event(char **argv, int argc)
{
    struct nvmlDevice_st *d = mock_find_uuid(argv[1]);
    unsigned long long type, data = 0;
    unsigned int gi = MOCK_NO_ID, ci = MOCK_NO_ID;

    if (d == NULL) {
        return "unknown UUID";
    }
    if (!mock_name_lookup(mock_event_names, argv[2], &type) &&
        !parse_uint(argv[2], nvmlEventTypeAll, &type)) {
        return "unknown event type";
    }
    if (type == 0 || (type & (type - 1)) != 0) {
        return "event type must be exactly one bit";
    }
    if (argc == 4 && !parse_uint(argv[3], ~0ULL, &data)) {
        return "bad event data";
    }
    if (d->parent != NULL) {
        gi = d->gi->id;
        ci = d->ci->id;
    }
    mock_event_inject(mock_gpu_of(d), type, data, gi, ci);
    return NULL;
}

static const char *
cmd_lost(char **argv, int argc)
{
    struct nvmlDevice_st *d = mock_find_uuid(argv[1]);

    (void)argc;
    if (d == NULL) {
        return "unknown UUID";
    }
    mock_set_lost(mock_gpu_of(d), strcmp(argv[0], "lost") == 0);
    return NULL;
}

static const char *
cmd_fail(char **argv, int argc)
{
    struct mock_fail_rule rule = {.once = false};
    int fn = mock_fn_lookup(argv[1]);

    if (fn < 0 || fn == MOCK_FN_nvmlErrorString) {
        return "unknown or unfailable NVML function";
    }
    rule.fn = (enum mock_fn)fn;
    if (!mock_return_parse(argv[2], &rule.code) || rule.code == NVML_SUCCESS) {
        return "unknown return code";
    }
    for (int i = 3; i < argc; i++) {
        if (strcasecmp(argv[i], "once") == 0 || strcasecmp(argv[i], "always") == 0) {
            rule.once = strcasecmp(argv[i], "once") == 0;
        } else if ((rule.target = mock_find_uuid(argv[i])) == NULL) {
            return "unknown UUID or mode";
        }
    }
    return mock_fail_add(&rule) ? NULL : "too many fail rules";
}

static const char *
cmd_clear(char **argv, int argc)
{
    (void)argv;
    (void)argc;
    mock_reset_faults();
    return NULL;
}

static const struct command commands[] = {
        {"xid", 3, 5, cmd_xid},   {"event", 3, 4, cmd_event}, {"lost", 2, 2, cmd_lost},
        {"back", 2, 2, cmd_lost}, {"fail", 3, 5, cmd_fail},   {"clear", 1, 1, cmd_clear},
};

static void
apply_line(char *line)
{
    char copy[LINE_MAX_LEN];
    char *argv[MAX_TOKENS + 1], *save = NULL;
    int argc = 0;
    const char *why = "unknown command";

    (void)snprintf(copy, sizeof copy, "%s", line);
    for (char *t = strtok_r(line, " \t\r", &save); t != NULL; t = strtok_r(NULL, " \t\r", &save)) {
        if (argc == MAX_TOKENS) {
            argc++;
            break;
        }
        argv[argc++] = t;
    }
    if (argc == 0 || argv[0][0] == '#') {
        return;
    }
    for (size_t i = 0; i < MOCK_ELEMENTSOF(commands); i++) {
        if (strcmp(argv[0], commands[i].name) == 0) {
            bool ok = argc >= commands[i].min_args && argc <= commands[i].max_args;
            why = ok ? commands[i].apply(argv, argc) : "wrong number of arguments";
            break;
        }
    }
    if (why != NULL) {
        mock_log("control: ignoring '%s': %s", copy, why);
    } else if (mock_debug) {
        mock_log("control: applied '%s'", copy);
    }
}

/* Called with ctl_lock held: applies every complete line in pending[]. */
static void
split_lines_locked(void)
{
    char *start = pending, *nl;

    while ((nl = memchr(start, '\n', pending_len - (size_t)(start - pending))) != NULL) {
        *nl = '\0';
        if (discarding) {
            discarding = false;
        } else {
            apply_line(start);
        }
        start = nl + 1;
    }
    pending_len -= (size_t)(start - pending);
    memmove(pending, start, pending_len);
    if (pending_len == sizeof pending - 1) {
        if (!discarding) {
            mock_log("control: ignoring a line longer than %u bytes", LINE_MAX_LEN - 2);
        }
        discarding = true;
        pending_len = 0;
    }
}

void
mock_control_drain(void)
{
    int fd = atomic_load(&ctl_fd);
    ssize_t n;

    if (fd < 0) {
        return;
    }
    (void)pthread_mutex_lock(&ctl_lock);
    for (;;) {
        n = read(fd, pending + pending_len, sizeof pending - 1 - pending_len);
        if (n <= 0) {
            break;
        }
        pending_len += (size_t)n;
        split_lines_locked();
    }
    (void)pthread_mutex_unlock(&ctl_lock);
}

static void *
reader_main(void *arg)
{
    struct pollfd p[2] = {{.fd = atomic_load(&ctl_fd), .events = POLLIN},
                          {.fd = stop_pipe[0], .events = POLLIN}};

    (void)arg;
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            mock_log("control: poll: %s, reader stops", strerror(errno));
            return NULL;
        }
        if (p[1].revents != 0) {
            return NULL;
        }
        if (p[0].revents != 0) {
            mock_control_drain();
        }
    }
}

static int
open_fifo(const char *path)
{
    struct stat st;
    int fd;

    if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
        mock_log("control: cannot create FIFO %s: %s", path, strerror(errno));
        return -1;
    }
    if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        mock_log("control: %s exists and is not a FIFO; control channel disabled", path);
        return -1;
    }
    /* O_RDWR: we are a writer too, so the FIFO never reports end-of-file */
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        mock_log("control: cannot open FIFO %s: %s", path, strerror(errno));
    }
    return fd;
}

void
mock_control_start(void)
{
    const char *path = getenv("MOCK_NVML_CONTROL");
    sigset_t all, old;
    int fd;

    if (path == NULL || *path == '\0' || (fd = open_fifo(path)) < 0) {
        return;
    }
    if (pipe2(stop_pipe, O_CLOEXEC) < 0) {
        mock_log("control: pipe: %s; control channel disabled", strerror(errno));
        (void)close(fd);
        return;
    }
    atomic_store(&ctl_fd, fd);
    /* the reader must never take the process's signals (the plugin uses signalfd) */
    (void)sigfillset(&all);
    (void)pthread_sigmask(SIG_SETMASK, &all, &old);
    reader_running = pthread_create(&reader, NULL, reader_main, NULL) == 0;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!reader_running) {
        mock_log("control: cannot start the reader thread; lines apply on NVML calls only");
    }
}

/* Stops the reader before the library goes away (it is linked -z nodelete: at exit). */
__attribute__((destructor)) static void
control_stop(void)
{
    if (reader_running) {
        const char b = 'q';
        (void)!write(stop_pipe[1], &b, 1);
        (void)pthread_join(reader, NULL);
        reader_running = false;
    }
}
