/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `config print` (the effective configuration after flags, environment and config file, as a
 * v1 config file in JSON) and `config check` (validates config files without starting
 * anything). Both are edges: they print the config layer's warnings and errors.
 */
#include "config/config.h"

#include <stdio.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/diag.h"
#include "core/util.h"

static void
usage(FILE *f)
{
    (void)fputs("Usage: gpu-device-plugin config print [--all] [flags]\n"
                "       gpu-device-plugin config check [--strict-config] FILE...\n"
                "\n"
                "print: the effective configuration (defaults, then the config file, then "
                "environment\n"
                "       variables and flags) as a v1 config file in JSON. Takes the flags of "
                "serve\n"
                "       (see 'gpu-device-plugin serve --help'), including --config-file.\n"
                "       --all: every setting of serve instead, the file's and those a file "
                "cannot\n"
                "       hold (flags, environment-only variables), as {\"config\": FILE, "
                "\"settings\": {...}}.\n"
                "check: validates each FILE as a v1 config file (YAML or JSON); prints "
                "\"FILE: ok\" or the\n"
                "       error with its line and column. Exit status 1 if any FILE is invalid.\n",
                f);
}

static void
print_warnings(const struct gdp_config *cfg)
{
    for (size_t i = 0; i < cfg->warnings.n; i++) {
        (void)fprintf(stderr, "warning: %s\n", cfg->warnings.v[i]);
    }
}

/* Removes "--all" from argv (every occurrence); returns whether it was there. */
static bool
take_all_flag(int *argc, char **argv)
{
    int k = 0;
    bool all = false;
    for (int i = 0; i < *argc; i++) {
        if (streq(argv[i], "--all")) {
            all = true;
        } else {
            argv[k++] = argv[i];
        }
    }
    *argc = k;
    return all;
}

static json_t *
output_json(const struct gdp_config *cfg, bool all)
{
    json_t *file = gdp_config_to_json(cfg);
    if (!all) {
        return file;
    }
    return json_pack("{s:o, s:o}", "config", file, "settings",
                     gdp_config_settings_json(cfg, GDP_CMD_SERVE));
}

static int
config_print(int argc, char **argv, char **envp)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    gdp_config_init(&cfg);
    bool all = take_all_flag(&argc, argv);
    int n = gdp_config_parse_args(&cfg, GDP_CMD_SERVE, argc, argv, envp, &diag);
    if (n >= 0 && cfg.help) {
        usage(stdout);
        return GDP_EXIT_OK;
    }
    if (n >= 0 && n < argc) {
        n = gdp_diag_set(&diag, GDP_E_CONFIG, "unexpected argument \"%s\"", argv[n]);
    }
    if (n < 0) {
        (void)fprintf(stderr, "gpu-device-plugin config print: %s\n", diag.msg);
        usage(stderr);
        return GDP_EXIT_USAGE;
    }
    int r = gdp_config_finish(&cfg, &diag);
    print_warnings(&cfg);
    if (r < 0) {
        (void)fprintf(stderr, "gpu-device-plugin config print: %s\n", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    json_t *j = output_json(&cfg, all);
    r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    (void)fputc('\n', stdout);
    return r == 0 && fflush(stdout) == 0 ? GDP_EXIT_OK : GDP_EXIT_FAILURE;
}

static int
check_one(const char *path, bool strict)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    gdp_config_init(&cfg);
    cfg.strict_config = strict;
    int r = gdp_config_load_file(&cfg, path, &diag);
    print_warnings(&cfg);
    if (r < 0) {
        (void)fprintf(stderr, "%s\n", diag.msg);
        return GDP_EXIT_FAILURE;
    }
    (void)printf("%s: ok\n", path);
    return GDP_EXIT_OK;
}

static int
config_check(int argc, char **argv, char **envp)
{
    struct gdp_diag diag = {0};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    gdp_config_init(&cfg);
    int n = gdp_config_parse_args(&cfg, GDP_CMD_CHECK, argc, argv, envp, &diag);
    if (n >= 0 && cfg.help) {
        usage(stdout);
        return GDP_EXIT_OK;
    }
    if (n >= 0 && n >= argc) {
        n = gdp_diag_set(&diag, GDP_E_CONFIG, "missing FILE");
    }
    if (n < 0) {
        (void)fprintf(stderr, "gpu-device-plugin config check: %s\n", diag.msg);
        usage(stderr);
        return GDP_EXIT_USAGE;
    }
    int status = GDP_EXIT_OK;
    for (int i = n; i < argc; i++) {
        if (check_one(argv[i], cfg.strict_config) != GDP_EXIT_OK) {
            status = GDP_EXIT_FAILURE;
        }
    }
    return status;
}

int
gdp_cmd_config(int argc, char **argv, char **envp)
{
    if (argc >= 1 && streq(argv[0], "print")) {
        return config_print(argc - 1, argv + 1, envp);
    }
    if (argc >= 1 && streq(argv[0], "check")) {
        return config_check(argc - 1, argv + 1, envp);
    }
    if (argc >= 1 && (streq(argv[0], "help") || streq(argv[0], "--help") || streq(argv[0], "-h"))) {
        usage(stdout);
        return GDP_EXIT_OK;
    }
    if (argc >= 1) {
        (void)fprintf(stderr, "gpu-device-plugin config: unknown command \"%s\"\n", argv[0]);
    }
    usage(stderr);
    return GDP_EXIT_USAGE;
}
