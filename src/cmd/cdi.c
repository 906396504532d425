/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin cdi generate [--output FILE] [flags]`: the CDI specs the daemon writes at
 * start, on demand. Without --output every spec goes into --cdi-spec-dir (as the daemon does);
 * with --output FILE only the gpu spec is written, atomically, to FILE ("-": stdout). Takes
 * the daemon's flags, so the spec matches what `serve` would write.
 */
#include "resource/cdi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/inventory.h"

struct cdi_args {
    bool generate;      /* the "generate" verb was given */
    const char *output; /* --output value, or NULL */
    char **rest;        /* everything else, for the flag parser */
    int n_rest;
};

static void
cdi_usage(FILE *f)
{
    (void)fprintf(f, "Usage: gpu-device-plugin cdi generate [--output FILE] [flags]\n"
                     "Writes the CDI specs for this node into --cdi-spec-dir, or only the gpu spec "
                     "into FILE (\"-\" for stdout).\n");
}

static bool
is_output_flag(const char *a)
{
    return streq(a, "--output") || streq(a, "-output") || streq(a, "-o");
}

/*
 * Takes the verb and --output out of argv, wherever they are: the test harness and people
 * alike put flags before or after "generate". Returns 0, or -EINVAL for --output without a
 * value.
 */
static int
split_args(int argc, char **argv, struct cdi_args *ret)
{
    ret->rest = gdp_calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!ret->generate && streq(a, "generate")) {
            ret->generate = true;
        } else if (startswith(a, "--output=") || startswith(a, "-output=")) {
            ret->output = strchr(a, '=') + 1;
        } else if (is_output_flag(a)) {
            if (i + 1 >= argc) {
                return -EINVAL;
            }
            ret->output = argv[++i];
        } else {
            ret->rest[ret->n_rest++] = argv[i];
        }
    }
    return 0;
}

static int
parse(struct cdi_args *args, struct gdp_config *cfg, char **envp, struct gdp_diag *diag)
{
    int n = gdp_config_parse_args(cfg, GDP_CMD_SERVE, args->n_rest, args->rest, envp, diag);
    if (n < 0 || cfg->help) {
        return n;
    }
    if (n < args->n_rest) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "unexpected argument \"%s\"", args->rest[n]);
    }
    if (!args->generate) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "missing the \"generate\" command");
    }
    if (args->output != NULL && args->output[0] == '\0') {
        return gdp_diag_set(diag, GDP_E_CONFIG, "--output needs a file name");
    }
    return gdp_config_finish(cfg, diag);
}

static int
write_output(const struct gdp_config *cfg, const struct gdp_node *node, const char *output,
             struct gdp_diag *diag)
{
    _cleanup_free_ char *text = NULL;
    int r = gdp_cdi_render(cfg, node, NULL, GDP_CDI_GPU, &text, diag);
    if (r <= 0) {
        return r < 0 ? r : gdp_diag_set(diag, -ENODEV, "no devices for the CDI spec");
    }
    if (streq(output, "-")) {
        if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
            return gdp_diag_set(diag, -EIO, "cannot write the spec to stdout");
        }
        return 0;
    }
    r = gdp_cdi_write_atomic(output, text, diag);
    if (r == 0) {
        log_info("wrote CDI spec %s", output);
    }
    return r;
}

static void
log_written(const char *dir, unsigned kinds)
{
    for (unsigned k = GDP_CDI_GPU; (k & GDP_CDI_ALL_KINDS) != 0; k <<= 1) {
        if ((kinds & k) == 0) {
            continue;
        }
        log_info("wrote CDI spec %s/" GDP_CDI_VENDOR "-%s.json", dir, gdp_cdi_class(k));
    }
}

static int
generate(const struct gdp_config *cfg, const char *output, struct gdp_diag *diag)
{
    _cleanup_(gdp_inventory_done) struct gdp_inventory inv = {0};
    int r = gdp_inventory_load(cfg, &inv, diag);
    if (r < 0) {
        return r;
    }
    if (inv.node == NULL) {
        return gdp_diag_set(diag, GDP_E_NVML, "CDI specs need NVML: %s", inv.nvml_error);
    }
    if (output != NULL) {
        return write_output(cfg, inv.node, output, diag);
    }
    r = gdp_cdi_write_specs(cfg, inv.node, cfg->cdi_spec_dir, diag);
    if (r >= 0) {
        log_written(cfg->cdi_spec_dir, (unsigned)r);
    }
    return r < 0 ? r : 0;
}

int
gdp_cmd_cdi(int argc, char **argv, char **envp)
{
    struct gdp_diag diag = {0};
    struct cdi_args args = {0};
    _cleanup_(gdp_config_done) struct gdp_config cfg = {0};
    gdp_config_init(&cfg);
    int r = split_args(argc, argv, &args);
    r = r < 0 ? gdp_diag_set(&diag, GDP_E_CONFIG, "--output needs a value")
              : parse(&args, &cfg, envp, &diag);
    free(args.rest);
    if (r >= 0 && cfg.help) {
        cdi_usage(stdout);
        gdp_config_print_help(stdout, GDP_CMD_SERVE);
        return GDP_EXIT_OK;
    }
    if (r < 0) {
        (void)fprintf(stderr, "gpu-device-plugin cdi: %s\n", diag.msg);
        cdi_usage(stderr);
        return GDP_EXIT_USAGE;
    }
    gdp_log_level = cfg.log_level;
    gdp_log_format = cfg.log_format;
    for (size_t i = 0; i < cfg.warnings.n; i++) {
        log_warn("%s", cfg.warnings.v[i]);
    }
    r = generate(&cfg, args.output, &diag);
    if (r < 0) {
        log_error("cdi generate: %s%s", diag.msg, gdp_inventory_hint(r));
        return GDP_EXIT_FAILURE;
    }
    return GDP_EXIT_OK;
}
