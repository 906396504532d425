/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry point: picks the subcommand (none means `serve`, so the binary is a drop-in for
 * NVIDIA's, which takes flags only), parses flags and environment, and dispatches. Invoked
 * under one of NVIDIA's program names (the basename of argv[0], e.g. a symlink in the image),
 * the name picks the subcommand instead; argv[0] itself is never changed, since NVIDIA's
 * config-manager finds the plugin by it.
 */
#define _GNU_SOURCE /* basename() that leaves its argument alone */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

extern char **environ;

struct subcommand {
    const char *name;
    enum gdp_cmd cmd; /* 0: takes no flags */
};

static const struct subcommand subcommands[] = {
        {"serve", GDP_CMD_SERVE},
        {"list", GDP_CMD_LIST},
        {"cdi", 0},                /* parses its own arguments (cmd/cdi.c) */
        {"config", 0},             /* parses its own arguments (cmd/config.c) */
        {"mps-control-daemon", 0}, /* parses its own arguments (cmd/mps.c) */
        {"config-manager", 0},     /* parses its own arguments (cmd/config_manager.c) */
        {"explain", 0},            /* parses its own arguments (cmd/explain.c) */
        {"version", 0},
        {"help", 0},
        {"gpu-feature-discovery", GDP_CMD_GFD},
};

/* NVIDIA's program names, each the name of one of our subcommands. */
struct program {
    const char *name;
    const char *subcommand;
};

static const struct program programs[] = {
        {"nvidia-device-plugin", "serve"},
        {"gpu-feature-discovery", "gpu-feature-discovery"},
        {"config-manager", "config-manager"},
        {"mps-control-daemon", "mps-control-daemon"},
};

static const struct subcommand *
find_subcommand(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(subcommands); i++) {
        if (streq(name, subcommands[i].name)) {
            return &subcommands[i];
        }
    }
    return NULL;
}

/* The program name argv[0] gives, or NULL for any other name (gpu-device-plugin). */
static const struct program *
find_program(const char *argv0)
{
    const char *base = argv0 == NULL ? "" : basename(argv0);
    for (size_t i = 0; i < ELEMENTSOF(programs); i++) {
        if (streq(base, programs[i].name)) {
            return &programs[i];
        }
    }
    return NULL;
}

static void
usage(FILE *f)
{
    (void)fprintf(f, "Usage: gpu-device-plugin [serve|list|cdi generate|config|mps-control-daemon|"
                     "gpu-feature-discovery|explain|version|help] [flags]\n"
                     "       gpu-device-plugin config-manager [flags]\n"
                     "Run 'gpu-device-plugin help' or 'gpu-device-plugin <command> --help' for the "
                     "flags.\n");
}

static int
run(const struct subcommand *sc, int argc, char **argv)
{
    struct gdp_diag diag = {0};
    const struct gdp_config_source src = {sc->cmd, argc, argv, environ};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    if (gdp_config_load(&cfg, &src, &diag) < 0) {
        (void)fprintf(stderr, "gpu-device-plugin %s: %s\n", sc->name, diag.msg);
        usage(stderr);
        return GDP_EXIT_USAGE;
    }
    if (cfg.help) {
        gdp_config_print_help(stdout, sc->cmd);
        return GDP_EXIT_OK;
    }
    gdp_log_level = cfg.log_level;
    gdp_log_format = cfg.log_format;
    for (size_t i = 0; i < cfg.warnings.n; i++) {
        log_warn("%s", cfg.warnings.v[i]);
    }
    gdp_config_log_unimplemented(&cfg);
    if (sc->cmd == GDP_CMD_GFD) {
        return gdp_cmd_gfd(&cfg, &src);
    }
    return sc->cmd == GDP_CMD_LIST ? gdp_cmd_list(&cfg) : gdp_cmd_serve(&cfg, &src);
}

int
main(int argc, char **argv)
{
    const struct subcommand *sc = &subcommands[0];
    int first = 1;
    const struct program *prog = find_program(argv[0]);
    bool fixed = prog != NULL && !streq(prog->subcommand, "serve"); /* serve takes subcommands */
    if (fixed) {
        sc = find_subcommand(prog->subcommand);
        if (sc == NULL) {
            (void)fprintf(stderr, "%s: not available in this build of gpu-device-plugin\n",
                          prog->name);
            return GDP_EXIT_FAILURE;
        }
    }
    for (size_t i = 0; !fixed && argc > 1 && i < ELEMENTSOF(subcommands); i++) {
        if (streq(argv[1], subcommands[i].name)) {
            sc = &subcommands[i];
            first = 2;
        }
    }
    if (argc > 1 &&
        (streq(argv[1], "--version") || streq(argv[1], "-version") || streq(argv[1], "-v"))) {
        return gdp_cmd_version();
    }
    if (streq(sc->name, "version")) {
        return gdp_cmd_version();
    }
    if (streq(sc->name, "cdi")) {
        return gdp_cmd_cdi(argc - first, argv + first, environ);
    }
    if (streq(sc->name, "config")) {
        return gdp_cmd_config(argc - first, argv + first, environ);
    }
    if (streq(sc->name, "mps-control-daemon")) {
        return gdp_cmd_mps_control_daemon(argc - first, argv + first, environ);
    }
    if (streq(sc->name, "config-manager")) {
        return gdp_cmd_config_manager(argc - first, argv + first, environ);
    }
    if (streq(sc->name, "explain")) {
        return gdp_cmd_explain(argc - first, argv + first, environ);
    }
    if (streq(sc->name, "help")) {
        usage(stdout);
        gdp_config_print_help(stdout, GDP_CMD_SERVE);
        return GDP_EXIT_OK;
    }
    return run(sc, argc - first, argv + first);
}
