/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin config-manager`: NVIDIA's config-manager. It reads the node label
 * (--node-label, default nvidia.com/device-plugin.config) of --node-name from the API server,
 * picks the file of that name in --config-file-srcdir (or a fallback when the label is unset),
 * points --config-file-dst at it with a symbolic link replaced atomically (rename), and
 * signals the process whose command name is --process-to-signal. --oneshot does this once
 * (the init container); otherwise it watches the node and follows label changes (the
 * sidecar). Ours also reports the outcome on the node: label "<node-label>.state" (success or
 * failed) and an annotation of the same name with the reason. A failure in the sidecar keeps
 * the current configuration and waits for the next label change instead of exiting.
 *
 * The file system work is a few local system calls per label change; this process serves
 * nothing else, so the loop callbacks do it inline.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "kube/kube.h"

#define FALLBACKS_MAX 8
#define CONFIGS_MAX   4096
#define CMDLINE_MAX   4096
#define NAMED_DEFAULT "default"

struct cm_opts {
    bool oneshot, send_signal, help;
    const char *kubeconfig, *node_name, *node_label, *srcdir, *dst, *default_config, *process;
    char fallbacks[256]; /* comma-separated */
    long signal;
    /* environment only, for tests: the API client's knobs */
    const char *sa_dir;   /* GDP_SERVICEACCOUNT_DIR */
    long kube_timeout_ms; /* 0: the client's default */
    long kube_watch_timeout_ms;
    long kube_backoff_ms; /* 0: the client's default */
};

enum cm_type {
    CM_STR,
    CM_BOOL,
    CM_INT,
    CM_LIST,
    CM_MS, /* milliseconds, 0 to CM_MS_MAX */
};

#define CM_MS_MAX 3600000L

struct cm_flag {
    const char *name, *env;
    enum cm_type type;
    size_t off;
    const char *def, *usage;
};

#define F(n, e, t, field, d, u)                             \
    {                                                       \
        n, e, CM_##t, offsetof(struct cm_opts, field), d, u \
    }
static const struct cm_flag cm_flags[] = {
        F("oneshot", "ONESHOT", BOOL, oneshot, "false",
          "check and update the config only once and then exit"),
        F("kubeconfig", "KUBECONFIG", STR, kubeconfig, "",
          "absolute path to the kubeconfig file (empty: in-cluster configuration)"),
        F("node-name", "NODE_NAME", STR, node_name, "",
          "the name of the node to watch for label changes on"),
        F("node-label", "NODE_LABEL", STR, node_label, "nvidia.com/device-plugin.config",
          "the name of the node label to use for selecting a config"),
        F("config-file-srcdir", "CONFIG_FILE_SRCDIR", STR, srcdir, "",
          "the path to the directory containing available device configuration files"),
        F("config-file-dst", "CONFIG_FILE_DST", STR, dst, "",
          "the path to destination device configuration file"),
        F("default-config", "DEFAULT_CONFIG", STR, default_config, "",
          "the default config to use if no label is set"),
        F("fallback-strategies", "FALLBACK_STRATEGIES", LIST, fallbacks, "",
          "ordered list of fallback strategies (named, single, empty) to use to set a default "
          "config when none is provided"),
        F("send-signal", "SEND_SIGNAL", BOOL, send_signal, "true",
          "send a signal to <process-to-signal> once a config change is made"),
        F("signal", "SIGNAL", INT, signal, "1",
          "the signal to send to <process-to-signal> if <send-signal> is set"),
        F("process-to-signal", "PROCESS_TO_SIGNAL", STR, process, "nvidia-device-plugin",
          "the name of the process to signal if <send-signal> is set"),
        /* environment only (no flag): ours, for tests */
        F(NULL, "GDP_SERVICEACCOUNT_DIR", STR, sa_dir, "",
          "the service-account directory (empty: the in-cluster one)"),
        F(NULL, "GDP_KUBE_TIMEOUT_MS", MS, kube_timeout_ms, "0",
          "API request timeout in milliseconds (0: the client's default)"),
        F(NULL, "GDP_KUBE_WATCH_TIMEOUT_MS", MS, kube_watch_timeout_ms, "300000",
          "how long one node watch lasts before it is made again, in milliseconds"),
        F(NULL, "GDP_KUBE_BACKOFF_MS", MS, kube_backoff_ms, "0",
          "first retry delay after an API error, in milliseconds (0: the client's default)"),
};
#undef F

static int
set_value(struct cm_opts *o, const struct cm_flag *f, const char *v, bool append,
          struct gdp_diag *diag)
{
    void *field = (char *)o + f->off;
    switch (f->type) {
    case CM_STR:
        *(const char **)field = v;
        return 0;
    case CM_BOOL:
        return gdp_parse_bool(v, field) < 0
                       ? gdp_diag_set(diag, -EINVAL, "invalid boolean \"%s\" for %s", v, f->name)
                       : 0;
    case CM_MS:
        return gdp_parse_long(v, 0, CM_MS_MAX, field) < 0
                       ? gdp_diag_set(diag, -EINVAL,
                                      "invalid value \"%s\": allowed values are 0 to %ld "
                                      "(milliseconds)",
                                      v, CM_MS_MAX)
                       : 0;
    case CM_INT:
        return gdp_parse_long(v, 1, 64, field) < 0
                       ? gdp_diag_set(diag, -EINVAL, "invalid signal number \"%s\" for %s", v,
                                      f->name)
                       : 0;
    case CM_LIST:
        if (append && o->fallbacks[0] != '\0') {
            (void)strncat(o->fallbacks, ",", sizeof o->fallbacks - strlen(o->fallbacks) - 1);
            (void)strncat(o->fallbacks, v, sizeof o->fallbacks - strlen(o->fallbacks) - 1);
            return 0;
        }
        return gdp_strlcpy(o->fallbacks, v, sizeof o->fallbacks) < 0
                       ? gdp_diag_set(diag, -EINVAL, "%s: value too long", f->name)
                       : 0;
    }
    return -EINVAL;
}

static const struct cm_flag *
find_flag(const char *arg, size_t len)
{
    for (size_t i = 0; i < ELEMENTSOF(cm_flags); i++) {
        const char *name = cm_flags[i].name;
        if (name != NULL && strlen(name) == len && strncmp(name, arg, len) == 0) {
            return &cm_flags[i];
        }
    }
    return NULL;
}

/* One "--flag[=value]" (or "--flag value") at argv[*i]. */
static int
parse_arg(struct cm_opts *o, int argc, char **argv, int *i, bool *seen_list, struct gdp_diag *diag)
{
    const char *arg = argv[*i];
    const char *name = arg + (startswith(arg, "--") ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    if (arg[0] != '-' || streq(arg, "-") || streq(arg, "--")) {
        return gdp_diag_set(diag, -EINVAL, "unexpected argument \"%s\"", arg);
    }
    if ((len == 4 && strncmp(name, "help", 4) == 0) || (len == 1 && name[0] == 'h')) {
        o->help = true;
        return 0;
    }
    const struct cm_flag *f = find_flag(name, len);
    if (f == NULL) {
        return gdp_diag_set(diag, -EINVAL, "unknown flag \"%s\"", arg);
    }
    const char *v = eq != NULL ? eq + 1 : NULL;
    if (v == NULL && f->type == CM_BOOL) {
        v = "true";
    } else if (v == NULL) {
        if (*i + 1 >= argc) {
            return gdp_diag_set(diag, -EINVAL, "flag --%s needs a value", f->name);
        }
        v = argv[++*i];
    }
    int r = set_value(o, f, v, f->type == CM_LIST && *seen_list, diag);
    *seen_list = *seen_list || f->type == CM_LIST;
    return r;
}

static int
check_opts(const struct cm_opts *o, struct gdp_diag *diag)
{
    static const char *const required[] = {"node-name", "node-label", "config-file-srcdir",
                                           "config-file-dst"};
    const char *values[] = {o->node_name, o->node_label, o->srcdir, o->dst};
    for (size_t i = 0; i < ELEMENTSOF(required); i++) {
        if (values[i] == NULL || values[i][0] == '\0') {
            return gdp_diag_set(diag, -EINVAL, "invalid <%s>: must not be empty string",
                                required[i]);
        }
    }
    _cleanup_free_ char *list = gdp_strdup(o->fallbacks);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (!streq(t, "named") && !streq(t, "single") && !streq(t, "empty")) {
            return gdp_diag_set(diag, -EINVAL,
                                "unknown fallback strategy \"%s\" (expected named, single or "
                                "empty)",
                                t);
        }
    }
    return 0;
}

static int
parse_opts(struct cm_opts *o, int argc, char **argv, char **envp, struct gdp_diag *diag)
{
    bool seen_list = false;
    int r = 0;
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(cm_flags); i++) {
        const char *env = gdp_env_get(envp, cm_flags[i].env);
        r = set_value(o, &cm_flags[i], cm_flags[i].def, false, diag);
        if (r >= 0 && env != NULL) {
            r = set_value(o, &cm_flags[i], env, false, diag);
            r = r < 0 ? gdp_diag_prefix(diag, r, "$%s", cm_flags[i].env) : r;
        }
    }
    for (int i = 0; r >= 0 && i < argc; i++) {
        r = parse_arg(o, argc, argv, &i, &seen_list, diag);
    }
    return r < 0 || o->help ? r : check_opts(o, diag);
}

static void
print_help(FILE *f)
{
    (void)fprintf(f, "Usage: gpu-device-plugin config-manager [flags]\n\n"
                     "Selects the device plugin's config file from a node label.\n\nFlags:\n");
    for (size_t i = 0; i < ELEMENTSOF(cm_flags); i++) {
        const struct cm_flag *fl = &cm_flags[i];
        if (fl->name != NULL) {
            (void)fprintf(f, "  --%s%s\n        %s (default: \"%s\") [$%s]\n", fl->name,
                          fl->type == CM_BOOL ? "" : " value", fl->usage, fl->def, fl->env);
        }
    }
    (void)fprintf(f, "\nEnvironment variables without a flag:\n");
    for (size_t i = 0; i < ELEMENTSOF(cm_flags); i++) {
        const struct cm_flag *fl = &cm_flags[i];
        if (fl->name == NULL) {
            (void)fprintf(f, "  %s\n        %s (default: \"%s\")\n", fl->env, fl->usage, fl->def);
        }
    }
}

/* The daemon's state: options, the API client and the label last acted on. */
struct cm {
    struct cm_opts o;
    char **envp;
    struct gdp_loop *loop;
    struct gdp_kube_config kcfg;
    struct gdp_kube_client *client;
    struct gdp_kube_watch *watch;
    char *label; /* value last acted on; NULL before the first */
    bool seen;
    int result; /* oneshot: exit status once the report is done */
    unsigned pending_reports;
};

static bool
is_config_entry(const struct dirent *e)
{
    return e->d_name[0] != '\0' && !startswith(e->d_name, "..") && !streq(e->d_name, ".") &&
           e->d_type != DT_DIR;
}

/* Names of the configs in srcdir (ConfigMap volumes keep "..data" and such: skipped). */
static int
list_configs(const char *dir, char ***ret, size_t *ret_n, struct gdp_diag *diag)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return gdp_diag_set(diag, -errno, "error reading directory %s: %s", dir,
                            gdp_strerror(-errno));
    }
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < CONFIGS_MAX) {
        if (is_config_entry(e)) {
            v = gdp_reallocarray(v, n + 1, sizeof *v);
            v[n++] = gdp_strdup(e->d_name);
        }
    }
    (void)closedir(d);
    *ret = v;
    *ret_n = n;
    return 0;
}

static void
free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static bool
has_name(char **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (streq(v[i], name)) {
            return true;
        }
    }
    return false;
}

/* Walks the fallback strategies; *ret is borrowed from names, or "" for empty. */
static int
pick_fallback(const struct cm_opts *o, char **names, size_t n, const char **ret,
              struct gdp_diag *diag)
{
    _cleanup_free_ char *list = gdp_strdup(o->fallbacks);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (streq(t, "named") && has_name(names, n, NAMED_DEFAULT)) {
            *ret = NAMED_DEFAULT;
            return 0;
        }
        if (streq(t, "single") && n == 1) {
            *ret = names[0];
            return 0;
        }
        if (streq(t, "empty")) {
            *ret = "";
            return 0;
        }
    }
    return gdp_diag_set(diag, -ENOENT,
                        "no config was set, no default was provided, and all fallbacks failed "
                        "(strategies: %s)",
                        o->fallbacks[0] != '\0' ? o->fallbacks : "none");
}

/* The config to use for label value (may be ""); *ret is a new string, "" for empty. */
static int
select_config(const struct cm_opts *o, const char *value, char **ret, struct gdp_diag *diag)
{
    char **names = NULL;
    size_t n = 0;
    int r = list_configs(o->srcdir, &names, &n, diag);
    if (r < 0) {
        return r;
    }
    const char *pick = NULL;
    if (n == 0) {
        r = gdp_diag_set(diag, -ENOENT, "no configuration files available in %s", o->srcdir);
    } else if (value[0] != '\0') {
        pick = value;
        r = has_name(names, n, value)
                    ? 0
                    : gdp_diag_set(diag, -ENOENT, "specified config \"%s\" does not exist in %s",
                                   value, o->srcdir);
    } else if (o->default_config[0] != '\0') {
        pick = o->default_config;
        r = has_name(names, n, pick)
                    ? 0
                    : gdp_diag_set(diag, -ENOENT, "default config \"%s\" does not exist in %s",
                                   pick, o->srcdir);
    } else {
        r = pick_fallback(o, names, n, &pick, diag);
    }
    if (r >= 0) {
        *ret = gdp_strdup(pick);
    }
    free_names(names, n);
    return r;
}

/*
 * Points dst at src with a symbolic link made beside it and renamed over it, so readers see
 * the old link or the new one, never a missing or half-written file. Returns 1 if changed,
 * 0 if dst already resolves to src, or -errno with diag filled.
 */
static int
replace_link(const char *src, const char *dst, struct gdp_diag *diag)
{
    char want[PATH_MAX], have[PATH_MAX];
    if (realpath(src, want) != NULL && realpath(dst, have) != NULL && streq(want, have)) {
        return 0;
    }
    _cleanup_free_ char *tmp = gdp_asprintf("%s.tmp.%ld", dst, (long)getpid());
    (void)unlink(tmp);
    if (symlink(src, tmp) < 0) {
        return gdp_diag_set(diag, -errno, "error creating symlink %s: %s", tmp,
                            gdp_strerror(-errno));
    }
    if (rename(tmp, dst) < 0) {
        int r = -errno;
        (void)unlink(tmp);
        return gdp_diag_set(diag, r, "error replacing %s: %s", dst, gdp_strerror(r));
    }
    return 1;
}

/* The first process (other than us) whose cmdline[0] is exactly name, or -ESRCH. */
static int
find_process(const char *name, pid_t *ret, struct gdp_diag *diag)
{
    DIR *d = opendir("/proc");
    if (d == NULL) {
        return gdp_diag_set(diag, -errno, "/proc: %s", gdp_strerror(-errno));
    }
    struct dirent *e;
    int r = gdp_diag_set(diag, -ESRCH, "no process named \"%s\" found", name);
    while (r < 0 && (e = readdir(d)) != NULL) {
        long pid = 0;
        if (gdp_parse_long(e->d_name, 1, INT_MAX, &pid) < 0 || pid == (long)getpid()) {
            continue;
        }
        _cleanup_free_ char *path = gdp_asprintf("/proc/%ld/cmdline", pid);
        _cleanup_free_ char *cmdline = NULL;
        if (gdp_read_file(path, CMDLINE_MAX, &cmdline) == 0 && streq(cmdline, name)) {
            *ret = (pid_t)pid;
            r = 0;
        }
    }
    (void)closedir(d);
    return r;
}

static int
signal_process(const struct cm_opts *o, struct gdp_diag *diag)
{
    pid_t pid = 0;
    int r = find_process(o->process, &pid, diag);
    if (r < 0) {
        return r;
    }
    if (kill(pid, (int)o->signal) < 0) {
        return gdp_diag_set(diag, -errno, "error sending signal %ld to %s (pid %ld): %s", o->signal,
                            o->process, (long)pid, gdp_strerror(-errno));
    }
    log_info("sent signal %ld to %s (pid %ld)", o->signal, o->process, (long)pid);
    return 0;
}

static int
update_config(struct cm *cm, const char *value, char **ret_msg, struct gdp_diag *diag)
{
    _cleanup_free_ char *name = NULL;
    int r = select_config(&cm->o, value, &name, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_free_ char *src =
            name[0] != '\0' ? gdp_asprintf("%s/%s", cm->o.srcdir, name) : gdp_strdup("/dev/null");
    r = replace_link(src, cm->o.dst, diag);
    if (r < 0) {
        return r;
    }
    if (r == 0) {
        log_info("already configured with %s%s, skipping update", name[0] != '\0' ? "config " : "",
                 name[0] != '\0' ? name : "the empty config");
    } else {
        log_info("updated %s to %s%s", cm->o.dst, name[0] != '\0' ? "config " : "",
                 name[0] != '\0' ? name : "the empty config");
    }
    if (r > 0 && cm->o.send_signal) {
        r = signal_process(&cm->o, diag);
    }
    *ret_msg = gdp_asprintf("config \"%s\" applied", name[0] != '\0' ? name : "(empty)");
    return r < 0 ? r : 0;
}

static void
maybe_quit(struct cm *cm)
{
    if (cm->o.oneshot && cm->result >= 0 && cm->pending_reports == 0) {
        gdp_loop_quit(cm->loop, cm->result);
    }
}

static void
on_reported(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res, void *userdata)
{
    struct cm *cm = userdata;
    cm->pending_reports--;
    if (res->r < 0) {
        log_warn("cannot report the config state on node %s: %s, ignoring", cm->o.node_name,
                 res->diag->msg);
    }
    maybe_quit(cm);
}

/* Label "<node-label>.state" = success|failed and the reason as an annotation. */
static void
report(struct cm *cm, bool ok, const char *msg)
{
    struct gdp_diag diag = {0};
    _cleanup_free_ char *key = gdp_asprintf("%s.state", cm->o.node_label);
    json_t *patch = json_pack("{s:{s:{s:s},s:{s:s}}}", "metadata", "labels", key,
                              ok ? "success" : "failed", "annotations", key, msg);
    const struct gdp_kube_ref ref = {.version = "v1", .resource = "nodes", .name = cm->o.node_name};
    const struct gdp_kube_call call = {GDP_KUBE_PATCH, &ref, NULL, patch, on_reported, cm};
    int r = gdp_kube_request(cm->client, &call, NULL, &diag);
    json_decref(patch);
    if (r < 0) {
        log_warn("cannot report the config state on node %s: %s, ignoring", cm->o.node_name,
                 diag.msg);
        return;
    }
    cm->pending_reports++;
}

static void
act(struct cm *cm, const char *value)
{
    struct gdp_diag diag = {0};
    _cleanup_free_ char *msg = NULL;
    log_info("label %s=%s on node %s", cm->o.node_label, value, cm->o.node_name);
    int r = update_config(cm, value, &msg, &diag);
    if (r < 0) {
        log_error("cannot update the config for %s=%s: %s%s", cm->o.node_label, value, diag.msg,
                  cm->o.oneshot ? "" : "; keeping the current one until the label changes");
    }
    report(cm, r >= 0, r >= 0 ? msg : diag.msg);
    cm->result = r < 0 ? GDP_EXIT_FAILURE : GDP_EXIT_OK;
    maybe_quit(cm);
}

static void
on_event(struct gdp_kube_watch *w _unused_, enum gdp_kube_event type, json_t *obj, void *userdata)
{
    struct cm *cm = userdata;
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    const char *value = json_string_value(json_object_get(labels, cm->o.node_label));
    if (type == GDP_KUBE_DELETED || value == NULL) {
        value = "";
    }
    if (cm->o.oneshot && cm->seen) {
        return;
    }
    if (cm->seen && streq(cm->label, value)) {
        return;
    }
    free(cm->label);
    cm->label = gdp_strdup(value);
    cm->seen = true;
    act(cm, value);
}

static void
on_trouble(struct gdp_kube_watch *w _unused_, int r _unused_, const struct gdp_diag *diag,
           uint64_t retry_ms, void *userdata)
{
    struct cm *cm = userdata;
    log_error("watching node %s: %s; retrying in %llu ms", cm->o.node_name, diag->msg,
              (unsigned long long)retry_ms);
}

static void
on_signal(struct gdp_loop *loop, int signo, void *userdata _unused_)
{
    log_info("received signal %d, stopping", signo);
    gdp_loop_quit(loop, GDP_EXIT_OK);
}

static int
cm_start(struct cm *cm, struct gdp_diag *diag)
{
    const struct gdp_kube_opts kopts = {
            .timeout_ms = (uint64_t)cm->o.kube_timeout_ms,
            .user_agent = "gpu-device-plugin-config-manager",
    };
    int r = gdp_kube_config_load(&cm->kcfg, cm->o.kubeconfig, cm->envp, gdp_nonempty(cm->o.sa_dir),
                                 diag);
    if (r < 0) {
        return r;
    }
    if (cm->kcfg.insecure) {
        log_warn("kubeconfig sets insecure-skip-tls-verify: the API server's certificate is NOT "
                 "verified");
    }
    r = gdp_loop_new(&cm->loop, diag);
    r = r < 0 ? r : gdp_kube_client_new(cm->loop, &cm->kcfg, &kopts, &cm->client, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_free_ char *fsel = gdp_asprintf("metadata.name=%s", cm->o.node_name);
    const struct gdp_kube_ref nodes = {.version = "v1", .resource = "nodes"};
    const struct gdp_kube_watch_opts wopts = {
            .ref = &nodes,
            .field_selector = fsel,
            .timeout_s = (unsigned)(cm->o.kube_watch_timeout_ms / 1000),
            .backoff_min_ms = (uint64_t)cm->o.kube_backoff_ms,
            .on_event = on_event,
            .on_trouble = on_trouble,
            .userdata = cm,
    };
    static const int signals[] = {SIGTERM, SIGINT, SIGQUIT};
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(signals); i++) {
        r = gdp_loop_add_signal(cm->loop, signals[i], on_signal, cm);
    }
    return r < 0 ? gdp_diag_set(diag, r, "cannot set up signals")
                 : gdp_kube_watch_start(cm->client, &wopts, &cm->watch, diag);
}

static void
cm_done(struct cm *cm)
{
    gdp_kube_watch_free(cm->watch);
    gdp_kube_client_free(cm->client);
    gdp_loop_free(cm->loop);
    gdp_kube_config_done(&cm->kcfg);
    free(cm->label);
}

int
gdp_cmd_config_manager(int argc, char **argv, char **envp)
{
    struct gdp_diag diag = {0};
    _cleanup_(cm_done) struct cm cm = {.envp = envp, .result = -1};
    if (parse_opts(&cm.o, argc, argv, envp, &diag) < 0) {
        (void)fprintf(stderr, "gpu-device-plugin config-manager: %s\n", diag.msg);
        print_help(stderr);
        return GDP_EXIT_USAGE;
    }
    if (cm.o.help) {
        print_help(stdout);
        return GDP_EXIT_OK;
    }
    log_info("starting config-manager for node %s (label %s, %s)", cm.o.node_name, cm.o.node_label,
             cm.o.oneshot ? "oneshot" : "watching");
    if (cm_start(&cm, &diag) < 0) {
        log_error("cannot start: %s", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    int r = gdp_loop_run(cm.loop);
    if (r < 0) {
        log_error_errno(r, "event loop failed");
        return GDP_EXIT_FAILURE;
    }
    return r;
}
