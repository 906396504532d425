/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command line and environment for the settings table, with the semantics of urfave/cli v2 on
 * Go's flag package (what NVIDIA's plugin uses): one or two dashes, "name=value" or "name value",
 * booleans only take a value after "=", parsing stops at "--" or the first non-option, an
 * explicit flag beats its environment variables, and the first listed environment variable
 * that is present wins. Also writes --help from the same table.
 */
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "config/options.h"
#include "core/diag.h"
#include "core/util.h"

/* Longest name we quote back in messages; longer names are never ours anyway. */
#define NAME_QUOTE_MAX 64

enum arg_kind {
    ARG_OPTION,   /* an option (and its value) was consumed */
    ARG_STOP,     /* first non-option argument: not consumed */
    ARG_END_OPTS, /* "--" consumed */
    ARG_HELP,     /* --help / -h consumed */
};

struct parse_state {
    struct gdp_config *c;
    enum gdp_cmd cmd;
    uint64_t flag_mask; /* options given in argv during this call */
};

static bool
name_is(const char *candidate, const char *name, size_t len)
{
    return strlen(candidate) == len && strncmp(candidate, name, len) == 0;
}

static bool
opt_matches(const struct gdp_opt *o, const char *name, size_t len)
{
    if (name_is(o->name, name, len)) {
        return true;
    }
    for (const char *const *a = o->aliases; a != NULL && *a != NULL; a++) {
        if (name_is(*a, name, len)) {
            return true;
        }
    }
    return false;
}

/* Returns the table index of the option called name (or an alias) valid for cmd, or -1. */
static int
find_opt(enum gdp_cmd cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if ((gdp_opts[i].scope & (unsigned)cmd) != 0 && !gdp_opts[i].env_only &&
            opt_matches(&gdp_opts[i], name, len)) {
            return (int)i;
        }
    }
    return -1;
}

static int
quote_len(size_t len)
{
    return len > NAME_QUOTE_MAX ? NAME_QUOTE_MAX : (int)len;
}

/* --help, -h, -help, --h, optionally with "=<bool>" as any Go boolean flag. */
static int
parse_help(const char *name, size_t len, const char *value, struct gdp_diag *diag)
{
    bool on = true;
    if (value != NULL && streq(value, "false")) {
        on = false;
    } else if (value != NULL && !streq(value, "true")) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "invalid value \"%.128s\" for flag --%.*s: allowed values are true, "
                            "false",
                            value, quote_len(len), name);
    }
    return on ? ARG_HELP : ARG_OPTION;
}

static int
apply_flag(struct parse_state *st, size_t idx, const char *name, size_t len, const char *value,
           struct gdp_diag *diag)
{
    char origin[NAME_QUOTE_MAX + 16];
    (void)snprintf(origin, sizeof origin, "flag --%.*s", quote_len(len), name);
    /* the first occurrence of a list flag replaces the default, later ones accumulate */
    bool append = (st->flag_mask & gdp_opt_bit(idx)) != 0;
    int r = gdp_opt_set(st->c, &gdp_opts[idx], value, append, origin, diag);
    if (r < 0) {
        return r;
    }
    st->flag_mask |= gdp_opt_bit(idx);
    return ARG_OPTION;
}

/* Parses argv[*i] (and its value, if separate); advances *i past what it consumed. */
static int
parse_one(struct parse_state *st, int argc, char **argv, int *i, struct gdp_diag *diag)
{
    const char *arg = argv[*i];
    if (arg[0] != '-' || arg[1] == '\0') {
        return ARG_STOP;
    }
    const char *name = arg[1] == '-' ? arg + 2 : arg + 1;
    if (name[0] == '\0') {
        (*i)++;
        return ARG_END_OPTS;
    }
    if (name[0] == '-' || name[0] == '=') {
        return gdp_diag_set(diag, GDP_E_CONFIG, "bad flag syntax: %.128s", arg);
    }
    const char *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const char *value = eq != NULL ? eq + 1 : NULL;
    int idx = find_opt(st->cmd, name, len);
    if (idx < 0) {
        if (name_is("help", name, len) || name_is("h", name, len)) {
            (*i)++;
            return parse_help(name, len, value, diag);
        }
        return gdp_diag_set(diag, GDP_E_CONFIG, "unknown flag: --%.*s", quote_len(len), name);
    }
    if (gdp_opts[idx].type == GDP_OPT_BOOL && value == NULL) {
        value = "true";
    } else if (value == NULL) {
        if (*i + 1 >= argc) {
            return gdp_diag_set(diag, GDP_E_CONFIG, "flag needs an argument: --%.*s",
                                quote_len(len), name);
        }
        value = argv[++(*i)];
    }
    (*i)++;
    return apply_flag(st, (size_t)idx, name, len, value, diag);
}

/* The environment variables option o is read from by subcommand cmd. */
static const char *const *
env_names(const struct gdp_opt *o, enum gdp_cmd cmd)
{
    return cmd == GDP_CMD_GFD && o->gfd_env != NULL ? o->gfd_env : o->env;
}

/* Applies the environment to option idx. Returns 1 if a variable was present, 0, or < 0. */
static int
apply_env(struct gdp_config *c, enum gdp_cmd cmd, size_t idx, char **envp, struct gdp_diag *diag)
{
    const struct gdp_opt *o = &gdp_opts[idx];
    for (const char *const *name = env_names(o, cmd); name != NULL && *name != NULL; name++) {
        const char *value = gdp_env_get(envp, *name);
        if (value == NULL) {
            continue;
        }
        /* our environment-only settings: empty means not set, the default stays */
        if (o->env_only && value[0] == '\0') {
            return 0;
        }
        /* urfave/cli: a boolean variable that is present but empty means false */
        if ((o->type == GDP_OPT_BOOL || o->type == GDP_OPT_OPTBOOL) && value[0] == '\0') {
            value = "false";
        }
        /* ... and an empty integer-list variable is ignored: the file or default stays */
        if (o->type == GDP_OPT_UINT_LIST && value[0] == '\0') {
            return 0;
        }
        char origin[160];
        (void)snprintf(origin, sizeof origin, "environment variable %s%s%s%s", *name,
                       o->env_only ? "" : " (flag --", o->env_only ? "" : o->name,
                       o->env_only ? "" : ")");
        int r = gdp_opt_set(c, o, value, false, origin, diag);
        return r < 0 ? r : 1;
    }
    return 0;
}

static int
parse_env(struct parse_state *st, char **envp, struct gdp_diag *diag)
{
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if ((gdp_opts[i].scope & (unsigned)st->cmd) == 0 || (st->flag_mask & gdp_opt_bit(i)) != 0) {
            continue;
        }
        int r = apply_env(st->c, st->cmd, i, envp, diag);
        if (r < 0) {
            return r;
        }
        if (r > 0) {
            st->c->set_mask |= gdp_opt_bit(i);
        }
    }
    return 0;
}

int
gdp_config_parse_args(struct gdp_config *c, enum gdp_cmd cmd, int argc, char **argv, char **envp,
                      struct gdp_diag *diag)
{
    struct parse_state st = {.c = c, .cmd = cmd};
    int i = 0;
    c->cmd = (unsigned)cmd;
    c->help = false;
    /* flags first, so that an overridden environment variable is never even parsed */
    while (i < argc) {
        int r = parse_one(&st, argc, argv, &i, diag);
        if (r < 0) {
            return r;
        }
        if (r == ARG_HELP) {
            c->help = true;
            return i;
        }
        if (r == ARG_STOP || r == ARG_END_OPTS) {
            break;
        }
    }
    c->set_mask |= st.flag_mask;
    int r = parse_env(&st, envp, diag);
    return r < 0 ? r : i;
}

/* Writes text word-wrapped at width, each line indented by indent spaces. */
static void
print_wrapped(FILE *f, const char *text, int indent, int width)
{
    int col = 0;
    const char *p = text;
    while (*p != '\0') {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > width) {
            (void)fputc('\n', f);
            col = 0;
        }
        if (col == 0) {
            col = fprintf(f, "%*s", indent, "");
        } else {
            col += fprintf(f, " ");
        }
        col += fprintf(f, "%.*s", (int)w, p);
        p += w;
        p += strspn(p, " ");
    }
    (void)fputc('\n', f);
}

/* "=none|single|mixed", "=PATH", "[=BOOL]" */
static void
print_placeholder(FILE *f, const struct gdp_opt *o)
{
    switch (o->type) {
    case GDP_OPT_BOOL:
        (void)fputs("[=BOOL]", f);
        break;
    case GDP_OPT_ENUM:
        for (const char *const *v = o->values; *v != NULL; v++) {
            (void)fprintf(f, "%c%s", v == o->values ? '=' : '|', *v);
        }
        break;
    default:
        (void)fprintf(f, "=%s", o->arg != NULL ? o->arg : "VALUE");
        break;
    }
}

static void
print_opt(FILE *f, const struct gdp_opt *o, enum gdp_cmd cmd)
{
    const char *const *env = env_names(o, cmd);
    (void)fprintf(f, "  --%s", o->name);
    print_placeholder(f, o);
    for (const char *const *a = o->aliases; a != NULL && *a != NULL; a++) {
        (void)fprintf(f, ", --%s", *a);
        print_placeholder(f, o);
    }
    (void)fputs(o->implemented ? "\n" : "  [not implemented yet]\n", f);
    print_wrapped(f, o->help, 8, 100);
    (void)fputs("        ", f);
    for (const char *const *e = env; e != NULL && *e != NULL; e++) {
        (void)fprintf(f, "%s%s", e == env ? "env: " : ", ", *e);
    }
    if (env != NULL && env[0] != NULL) {
        (void)fputs(env[1] != NULL ? " (first set wins); " : "; ", f);
    }
    (void)fprintf(f, "default: \"%s\"\n", o->def);
}

/* The settings read from the environment only. */
static void
print_env_only(FILE *f, enum gdp_cmd cmd)
{
    bool first = true;
    for (size_t i = 0; i < gdp_n_opts; i++) {
        const struct gdp_opt *o = &gdp_opts[i];
        if ((o->scope & (unsigned)cmd) == 0 || !o->env_only) {
            continue;
        }
        if (first) {
            (void)fputs("\nEnvironment variables without a flag:\n\n", f);
            first = false;
        }
        (void)fprintf(f, "  %s\n", o->env[0]);
        print_wrapped(f, o->help, 8, 100);
        if (o->def[0] != '\0') {
            (void)fprintf(f, "        default: \"%s\"\n", o->def);
        }
    }
}

void
gdp_config_print_help(FILE *f, enum gdp_cmd cmd)
{
    bool list = cmd == GDP_CMD_LIST;
    bool gfd = cmd == GDP_CMD_GFD;
    const char *what = list ? "list: print the GPUs and MIG devices that would be advertised."
                            : "serve: discover GPUs and serve them to the kubelet as a "
                              "device plugin.";
    if (gfd) {
        what = "gpu-feature-discovery: write the node labels NVIDIA's GPU feature discovery "
               "writes\n"
               "(docs/labels.md), once or every --sleep-interval; SIGHUP reloads the "
               "config file.";
    }
    if (gfd) {
        (void)fputs("Usage: gpu-feature-discovery [flags]\n"
                    "       gpu-device-plugin gpu-feature-discovery [flags]\n",
                    f);
    } else {
        (void)fputs("Usage: gpu-device-plugin [serve|list|cdi generate|config|mps-control-daemon|"
                    "gpu-feature-discovery|\n"
                    "                         config-manager|explain|version|help] [flags]\n\n"
                    "Without a subcommand gpu-device-plugin runs serve, so that it can stand in "
                    "for NVIDIA's\nnvidia-device-plugin binary.\n",
                    f);
    }
    (void)fprintf(f, "\n%s\n", what);
    (void)fprintf(f,
                  "\nFlags for %s. A flag may start with - or --; a value follows after = or as "
                  "the next argument\n(booleans only after =). A flag given on the command line "
                  "beats its environment variable,\nwhich beats the default. List values are "
                  "comma-separated; a repeated list flag accumulates.\n\n",
                  list  ? "list"
                  : gfd ? "gpu-feature-discovery"
                        : "serve");
    for (size_t i = 0; i < gdp_n_opts; i++) {
        if ((gdp_opts[i].scope & (unsigned)cmd) != 0 && !gdp_opts[i].env_only) {
            print_opt(f, &gdp_opts[i], cmd);
        }
    }
    (void)fputs("  -h, --help\n        Show this help and exit.\n", f);
    print_env_only(f, cmd);
    (void)fputs("\nFlags marked [not implemented yet] are accepted and validated for "
                "compatibility, but this build\nignores them (and says so at startup when one "
                "is set).\n",
                f);
}
