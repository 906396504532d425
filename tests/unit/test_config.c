/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/config/: defaults, every flag form of urfave/cli + Go's flag package,
 * aliases, environment variables and their precedence, list flags, validation messages,
 * --help and the "not implemented yet" notices. The environment is always passed explicitly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h needs setjmp.h, stdarg.h, stddef.h and stdint.h first */
#include <cmocka.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE      ((const char *const *)NULL)

struct run {
    struct gdp_config c;
    struct gdp_diag diag;
    bool help;
    int r;
};

static char **
dup_list(const char *const *in, int *ret_n)
{
    int n = 0;
    while (in != NULL && in[n] != NULL) {
        n++;
    }
    char **out = gdp_calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) {
        out[i] = gdp_strdup(in[i]);
    }
    *ret_n = n;
    return out;
}

static void
free_list(char **l)
{
    for (size_t i = 0; l[i] != NULL; i++) {
        free(l[i]);
    }
    free(l);
}

/* Parses args with env for cmd into a fresh config in t (caller runs gdp_config_done). */
static int
run_cmd(struct run *t, enum gdp_cmd cmd, const char *const *args, const char *const *env)
{
    int argc, envc;
    char **argv = dup_list(args, &argc);
    char **envp = dup_list(env, &envc);
    memset(t, 0, sizeof *t);
    gdp_config_init(&t->c);
    t->r = gdp_config_parse_args(&t->c, cmd, argc, argv, envp, &t->diag);
    t->help = t->c.help;
    free_list(argv);
    free_list(envp);
    return t->r;
}

static int
run_serve(struct run *t, const char *const *args, const char *const *env)
{
    return run_cmd(t, GDP_CMD_SERVE, args, env);
}

/* Expects parsing to fail with GDP_E_CONFIG and the message to contain every needle. */
static void
expect_error(enum gdp_cmd cmd, const char *const *args, const char *const *env,
             const char *const *needles)
{
    struct run t;
    assert_int_equal(run_cmd(&t, cmd, args, env), GDP_E_CONFIG);
    for (size_t i = 0; needles[i] != NULL; i++) {
        if (strstr(t.diag.msg, needles[i]) == NULL) {
            fail_msg("diag \"%s\" lacks \"%s\"", t.diag.msg, needles[i]);
        }
    }
    gdp_config_done(&t.c);
}

static void
defaults(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_serve(&t, NONE, NONE), 0);
    const struct gdp_config *c = &t.c;
    assert_int_equal(c->mig_strategy, GDP_MIG_NONE);
    assert_true(c->fail_on_init_error);
    assert_string_equal(c->driver_root, "/");
    assert_string_equal(c->dev_root, "");
    assert_false(c->pass_device_specs);
    assert_int_equal(c->device_list_strategy, GDP_LIST_ENVVAR);
    assert_int_equal(c->device_id_strategy, GDP_ID_UUID);
    assert_false(c->gdrcopy_enabled || c->gds_enabled || c->mofed_enabled);
    assert_string_equal(c->cdi_annotation_prefix, "cdi.k8s.io/");
    assert_string_equal(c->nvidia_cdi_hook_path, "/usr/bin/nvidia-ctk");
    assert_string_equal(c->driver_root_ctr_path, "/driver-root");
    assert_string_equal(c->mps_root, "");
    assert_int_equal(c->shared_devices_allocation_policy, GDP_ALLOC_DISTRIBUTED);
    assert_int_equal(c->device_discovery_strategy, GDP_DISCOVERY_AUTO);
    assert_int_equal(c->n_imex_channel_ids, 0);
    assert_false(c->imex_required);
    assert_string_equal(c->kubelet_socket, "/var/lib/kubelet/device-plugins/kubelet.sock");
    assert_string_equal(c->config_file, "");
    assert_int_equal(c->cdi_feature_flags.n, 0);
    assert_int_equal(c->cdi_disable_hooks.n, 0);
    assert_int_equal(c->log_level, GDP_LOG_INFO);
    assert_int_equal(c->log_format, GDP_LOG_TEXT);
    assert_false(c->json);
    assert_false(t.help);
    assert_false(gdp_config_is_set(c, "mig-strategy"));
    assert_int_equal(gdp_config_finish(&t.c, &t.diag), 0);
    assert_string_equal(c->dev_root, "/");
    gdp_config_done(&t.c);
}

static void
flag_forms(void **state _unused_)
{
    const struct {
        const char *const *args;
        int consumed;
    } cases[] = {
            {ARGS("--mig-strategy", "single"), 2},
            {ARGS("--mig-strategy=single"), 1},
            {ARGS("-mig-strategy", "single"), 2},
            {ARGS("-mig-strategy=single"), 1},
            {ARGS("--mig-strategy=mixed", "--mig-strategy=single"), 2}, /* last one wins */
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct run t;
        assert_int_equal(run_serve(&t, cases[i].args, NONE), cases[i].consumed);
        assert_int_equal(t.c.mig_strategy, GDP_MIG_SINGLE);
        assert_true(gdp_config_is_set(&t.c, "mig-strategy"));
        gdp_config_done(&t.c);
    }
}

static void
value_may_start_with_dash(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_serve(&t, ARGS("--driver-root", "-x", "--kubelet-socket="), NONE), 3);
    assert_string_equal(t.c.driver_root, "-x");
    assert_string_equal(t.c.kubelet_socket, "");
    gdp_config_done(&t.c);
}

static void
aliases(void **state _unused_)
{
    struct run t;
    assert_int_equal(
            run_serve(&t,
                      ARGS("--nvidia-driver-root=/run/nvidia/driver", "--container-driver-root",
                           "/host", "-nvidia-ctk-path=/ctk", "--nvidia-dev-root", "/devroot"),
                      NONE),
            6);
    assert_string_equal(t.c.driver_root, "/run/nvidia/driver");
    assert_string_equal(t.c.driver_root_ctr_path, "/host");
    assert_string_equal(t.c.nvidia_cdi_hook_path, "/ctk");
    assert_string_equal(t.c.dev_root, "/devroot");
    assert_true(gdp_config_is_set(&t.c, "driver-root"));
    assert_true(gdp_config_is_set(&t.c, "nvidia-cdi-hook-path"));
    assert_int_equal(gdp_config_finish(&t.c, &t.diag), 0);
    assert_string_equal(t.c.dev_root, "/devroot");
    gdp_config_done(&t.c);
}

static void
env_vars(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_serve(&t, NONE,
                               ARGS("PATH=/bin", "MIG_STRATEGY=mixed",
                                    "NVIDIA_DRIVER_ROOT=/run/nvidia/driver",
                                    "CONTAINER_DRIVER_ROOT=/ctr", "NVIDIA_CTK_PATH=/old-ctk",
                                    "DEVICE_ID_STRATEGY=index", "KUBELET_SOCKET=",
                                    "SHARED_DEVICES_ALLOCATION_POLICY=packed", "LOG_LEVEL=debug",
                                    "LOG_FORMAT=json", "DEVICE_DISCOVERY_STRATEGY=tegra")),
                     0);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_MIXED);
    assert_string_equal(t.c.driver_root, "/run/nvidia/driver");
    assert_string_equal(t.c.driver_root_ctr_path, "/ctr");
    assert_string_equal(t.c.nvidia_cdi_hook_path, "/old-ctk");
    assert_int_equal(t.c.device_id_strategy, GDP_ID_INDEX);
    assert_string_equal(t.c.kubelet_socket, "");
    assert_int_equal(t.c.shared_devices_allocation_policy, GDP_ALLOC_PACKED);
    assert_int_equal(t.c.log_level, GDP_LOG_DEBUG);
    assert_int_equal(t.c.log_format, GDP_LOG_JSON);
    assert_int_equal(t.c.device_discovery_strategy, GDP_DISCOVERY_TEGRA);
    assert_true(gdp_config_is_set(&t.c, "kubelet-socket"));
    assert_true(gdp_config_is_set(&t.c, "driver-root-ctr-path"));
    assert_false(gdp_config_is_set(&t.c, "mps-root"));
    assert_false(gdp_config_is_set(&t.c, "no-such-flag"));
    assert_int_equal(gdp_config_finish(&t.c, &t.diag), 0);
    assert_string_equal(t.c.dev_root, "/run/nvidia/driver");
    gdp_config_done(&t.c);
}

static void
env_first_name_wins(void **state _unused_)
{
    struct run t;
    /* order in envp does not matter; order in the table does */
    assert_int_equal(run_serve(&t, NONE,
                               ARGS("CONTAINER_DRIVER_ROOT=/second", "NVIDIA_CTK_PATH=/second",
                                    "DRIVER_ROOT_CTR_PATH=/first", "NVIDIA_CDI_HOOK_PATH=/first",
                                    "DRIVER_ROOT_CTR_PATH=/duplicate")),
                     0);
    assert_string_equal(t.c.driver_root_ctr_path, "/first");
    assert_string_equal(t.c.nvidia_cdi_hook_path, "/first");
    gdp_config_done(&t.c);
}

static void
flag_beats_env(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_serve(&t,
                               ARGS("--mig-strategy=single", "--device-list-strategy=cdi-cri",
                                    "--fail-on-init-error=false", "--nvidia-ctk-path=/flag"),
                               ARGS("MIG_STRATEGY=bogus", "DEVICE_LIST_STRATEGY=volume-mounts",
                                    "FAIL_ON_INIT_ERROR=true", "NVIDIA_CDI_HOOK_PATH=/env")),
                     4);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_SINGLE);
    assert_int_equal(t.c.device_list_strategy, GDP_LIST_CDI_CRI);
    assert_false(t.c.fail_on_init_error);
    assert_string_equal(t.c.nvidia_cdi_hook_path, "/flag");
    gdp_config_done(&t.c);
}

static void
bool_forms(void **state _unused_)
{
    static const char *const truthy[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const falsy[] = {"0", "f", "F", "FALSE", "false", "False"};
    char arg[64];
    for (size_t i = 0; i < ELEMENTSOF(truthy); i++) {
        struct run t;
        (void)snprintf(arg, sizeof arg, "--gds-enabled=%s", truthy[i]);
        assert_int_equal(run_serve(&t, ARGS(arg), NONE), 1);
        assert_true(t.c.gds_enabled);
        gdp_config_done(&t.c);
        (void)snprintf(arg, sizeof arg, "-fail-on-init-error=%s", falsy[i]);
        assert_int_equal(run_serve(&t, ARGS(arg), NONE), 1);
        assert_false(t.c.fail_on_init_error);
        gdp_config_done(&t.c);
        (void)snprintf(arg, sizeof arg, "IMEX_REQUIRED=%s", truthy[i]);
        assert_int_equal(run_serve(&t, NONE, ARGS(arg)), 0);
        assert_true(t.c.imex_required);
        gdp_config_done(&t.c);
    }
}

static void
bool_without_value(void **state _unused_)
{
    struct run t;
    /* "false" is not consumed: it is the first positional argument */
    assert_int_equal(run_serve(&t, ARGS("--pass-device-specs", "false", "--gds-enabled"), NONE), 1);
    assert_true(t.c.pass_device_specs);
    assert_false(t.c.gds_enabled);
    gdp_config_done(&t.c);

    /* urfave/cli: a present but empty boolean variable means false */
    assert_int_equal(run_serve(&t, NONE, ARGS("FAIL_ON_INIT_ERROR=")), 0);
    assert_false(t.c.fail_on_init_error);
    assert_true(gdp_config_is_set(&t.c, "fail-on-init-error"));
    gdp_config_done(&t.c);
}

static void
bool_invalid(void **state _unused_)
{
    expect_error(GDP_CMD_SERVE, ARGS("--gds-enabled=yes"), NONE,
                 ARGS("invalid value \"yes\" for flag --gds-enabled: allowed values are true, "
                      "false, 1, 0, t, f"));
    expect_error(GDP_CMD_SERVE, ARGS("--gds-enabled="), NONE,
                 ARGS("invalid value \"\" for flag --gds-enabled"));
    expect_error(GDP_CMD_SERVE, NONE, ARGS("FAIL_ON_INIT_ERROR=nope"),
                 ARGS("invalid value \"nope\" for environment variable FAIL_ON_INIT_ERROR "
                      "(flag --fail-on-init-error): allowed values are true, false"));
}

static void
list_flags(void **state _unused_)
{
    struct run t;
    /* an explicit flag replaces the default "envvar"; repeats accumulate */
    assert_int_equal(run_serve(&t,
                               ARGS("--device-list-strategy=cdi-annotations",
                                    "--device-list-strategy", "volume-mounts, cdi-cri",
                                    "--cdi-feature-flags", "a,b", "-cdi-feature-flags=c"),
                               ARGS("DEVICE_LIST_STRATEGY=envvar", "CDI_FEATURE_FLAGS=env")),
                     6);
    assert_int_equal(t.c.device_list_strategy,
                     GDP_LIST_CDI_ANNOTATIONS | GDP_LIST_VOLUME_MOUNTS | GDP_LIST_CDI_CRI);
    assert_int_equal(t.c.cdi_feature_flags.n, 3);
    assert_string_equal(t.c.cdi_feature_flags.v[0], "a");
    assert_string_equal(t.c.cdi_feature_flags.v[1], "b");
    assert_string_equal(t.c.cdi_feature_flags.v[2], "c");
    assert_null(t.c.cdi_feature_flags.v[3]);
    gdp_config_done(&t.c);

    assert_int_equal(
            run_serve(&t, NONE,
                      ARGS("DEVICE_LIST_STRATEGY=envvar, cdi-cri", "CDI_DISABLE_HOOKS=all,,chmod")),
            0);
    assert_int_equal(t.c.device_list_strategy, GDP_LIST_ENVVAR | GDP_LIST_CDI_CRI);
    assert_int_equal(t.c.cdi_disable_hooks.n, 2);
    assert_string_equal(t.c.cdi_disable_hooks.v[0], "all");
    assert_string_equal(t.c.cdi_disable_hooks.v[1], "chmod");
    gdp_config_done(&t.c);
}

static void
list_invalid(void **state _unused_)
{
    static const char allowed[] =
            "allowed values are envvar, volume-mounts, cdi-annotations, cdi-cri";
    expect_error(GDP_CMD_SERVE, ARGS("--device-list-strategy=envvar,foo"), NONE,
                 ARGS("invalid value \"foo\" for flag --device-list-strategy: ", allowed));
    expect_error(GDP_CMD_SERVE, ARGS("--device-list-strategy="), NONE,
                 ARGS("invalid value \"\" for flag --device-list-strategy", allowed));
    expect_error(GDP_CMD_SERVE, NONE, ARGS("DEVICE_LIST_STRATEGY="),
                 ARGS("invalid value \"\" for environment variable DEVICE_LIST_STRATEGY "
                      "(flag --device-list-strategy)",
                      allowed));
}

static void
imex(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_serve(&t, ARGS("--imex-channel-ids=0"), NONE), 1);
    assert_int_equal(t.c.n_imex_channel_ids, 1);
    assert_int_equal(t.c.imex_channel_ids[0], 0);
    gdp_config_done(&t.c);

    assert_int_equal(run_serve(&t, ARGS("--imex-channel-ids", ""), ARGS("IMEX_CHANNEL_IDS=0")), 2);
    assert_int_equal(t.c.n_imex_channel_ids, 0);
    gdp_config_done(&t.c);

    assert_int_equal(run_serve(&t, NONE, ARGS("IMEX_CHANNEL_IDS= 0 ")), 0);
    assert_int_equal(t.c.n_imex_channel_ids, 1);
    gdp_config_done(&t.c);

    static const char *const bad[] = {"1", "0,0", "x", "-1"};
    char arg[64];
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        (void)snprintf(arg, sizeof arg, "--imex-channel-ids=%s", bad[i]);
        expect_error(GDP_CMD_SERVE, ARGS(arg), NONE,
                     ARGS("for flag --imex-channel-ids", "only channel 0 is supported",
                          "allowed values are an empty list or 0"));
    }
    expect_error(GDP_CMD_SERVE, ARGS("--imex-channel-ids", "0", "--imex-channel-ids", "0"), NONE,
                 ARGS("only channel 0 is supported"));
    expect_error(GDP_CMD_SERVE, NONE, ARGS("IMEX_CHANNEL_IDS=3"),
                 ARGS("invalid value \"3\" for environment variable IMEX_CHANNEL_IDS"));
}

static void
enum_errors(void **state _unused_)
{
    static const struct {
        const char *flag;
        const char *env;
        const char *allowed;
    } cases[] = {
            {"mig-strategy", "MIG_STRATEGY", "none, single, mixed"},
            {"device-id-strategy", "DEVICE_ID_STRATEGY", "uuid, index"},
            {"shared-devices-allocation-policy", "SHARED_DEVICES_ALLOCATION_POLICY",
             "distributed, packed"},
            {"device-discovery-strategy", "DEVICE_DISCOVERY_STRATEGY", "auto, nvml, tegra"},
            {"log-level", "LOG_LEVEL", "error, warning, info, debug"},
            {"log-format", "LOG_FORMAT", "text, json"},
    };

    char arg[128], want[256];
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        (void)snprintf(arg, sizeof arg, "--%s=foo", cases[i].flag);
        (void)snprintf(want, sizeof want,
                       "invalid value \"foo\" for flag --%s: allowed values are %s", cases[i].flag,
                       cases[i].allowed);
        expect_error(GDP_CMD_SERVE, ARGS(arg), NONE, ARGS(want));
        (void)snprintf(arg, sizeof arg, "%s=foo", cases[i].env);
        (void)snprintf(want, sizeof want,
                       "invalid value \"foo\" for environment variable %s (flag --%s): allowed "
                       "values are %s",
                       cases[i].env, cases[i].flag, cases[i].allowed);
        expect_error(GDP_CMD_LIST, NONE, ARGS(arg), ARGS(want));
    }
}

static void
bad_flags(void **state _unused_)
{
    expect_error(GDP_CMD_SERVE, ARGS("--foo"), NONE, ARGS("unknown flag: --foo"));
    expect_error(GDP_CMD_SERVE, ARGS("-foo=1"), NONE, ARGS("unknown flag: --foo"));
    expect_error(GDP_CMD_SERVE, ARGS("--json"), NONE, ARGS("unknown flag: --json"));
    expect_error(GDP_CMD_SERVE, ARGS("---mig-strategy"), NONE,
                 ARGS("bad flag syntax: ---mig-strategy"));
    expect_error(GDP_CMD_SERVE, ARGS("--json", "--mig-strategy"), NONE,
                 ARGS("unknown flag: --json"));
    expect_error(GDP_CMD_LIST, ARGS("--json", "--mig-strategy"), NONE,
                 ARGS("flag needs an argument: --mig-strategy"));
    expect_error(GDP_CMD_SERVE, ARGS("-container-driver-root"), NONE,
                 ARGS("flag needs an argument: --container-driver-root"));
}

static void
list_only_json(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_cmd(&t, GDP_CMD_LIST, ARGS("--json", "--mig-strategy=mixed"), NONE), 2);
    assert_true(t.c.json);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_MIXED);
    gdp_config_done(&t.c);
}

static void
help(void **state _unused_)
{
    static const char *const forms[] = {"--help", "-h", "-help", "--h", "--help=true"};
    for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
        struct run t;
        /* parsing stops at help: the unknown flag after it is not reported */
        assert_int_equal(run_serve(&t, ARGS("--json=bad", forms[i], "--nope"), NONE), GDP_E_CONFIG);
        gdp_config_done(&t.c);
        assert_int_equal(run_serve(&t, ARGS("--gds-enabled", forms[i], "--nope"),
                                   ARGS("MIG_STRATEGY=bogus")),
                         2);
        assert_true(t.help);
        gdp_config_done(&t.c);
    }
}

static void
end_of_options(void **state _unused_)
{
    struct run t;
    assert_int_equal(run_cmd(&t, GDP_CMD_LIST, ARGS("--json", "--", "--mig-strategy=mixed"), NONE),
                     2);
    assert_true(t.c.json);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_NONE);
    gdp_config_done(&t.c);

    assert_int_equal(run_cmd(&t, GDP_CMD_LIST, ARGS("--json", "extra", "--mig-strategy=mixed"),
                             ARGS("MIG_STRATEGY=single")),
                     1);
    assert_int_equal(t.c.mig_strategy, GDP_MIG_SINGLE);
    gdp_config_done(&t.c);

    assert_int_equal(run_serve(&t, ARGS("-", "--gds-enabled"), NONE), 0);
    assert_false(t.c.gds_enabled);
    gdp_config_done(&t.c);
}

static void
finish_checks(void **state _unused_)
{
    struct gdp_config c;
    struct gdp_diag diag = {{0}};
    gdp_config_init(&c);
    c.device_list_strategy = 0;
    assert_int_equal(gdp_config_finish(&c, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "invalid --device-list-strategy"));
    c.device_list_strategy = GDP_LIST_ENVVAR;
    c.n_imex_channel_ids = 1;
    c.imex_channel_ids[0] = 2;
    assert_int_equal(gdp_config_finish(&c, &diag), GDP_E_CONFIG);
    assert_string_equal(diag.msg, "invalid --imex-channel-ids: only channel 0 is supported; "
                                  "allowed values are an empty list or 0");
    c.imex_channel_ids[0] = 0;
    c.mig_strategy = (enum gdp_mig_strategy)7;
    assert_int_equal(gdp_config_finish(&c, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "invalid --mig-strategy"));
    c.mig_strategy = GDP_MIG_MIXED;
    assert_int_equal(gdp_config_finish(&c, &diag), 0);
    gdp_config_done(&c);
    gdp_config_done(&c); /* idempotent */
}

/* Runs gdp_config_log_unimplemented() with stderr captured into buf. */
static void
capture_unimplemented(const struct gdp_config *c, char *buf, size_t size)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    gdp_config_log_unimplemented(c);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    (void)close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, size - 1, tmp);
    buf[n] = '\0';
    (void)fclose(tmp);
}

static void
unimplemented_notice(void **state _unused_)
{
    struct run t;
    char out[4096];
    assert_int_equal(run_serve(&t, ARGS("--mps-root=/x", "--mig-strategy=single"),
                               ARGS("CDI_FEATURE_FLAGS=a")),
                     2);
    /* every flag is implemented now (--mps-root, --cdi-feature-flags): nothing is named */
    gdp_log_level = GDP_LOG_INFO;
    gdp_log_format = GDP_LOG_TEXT;
    capture_unimplemented(&t.c, out, sizeof out);
    assert_null(strstr(out, "mps-root"));
    assert_null(strstr(out, "cdi-feature-flags"));
    assert_null(strstr(out, "mig-strategy"));
    assert_null(strstr(out, "kubelet-socket")); /* not set explicitly */
    gdp_config_done(&t.c);
}

static char *
help_text(enum gdp_cmd cmd)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    gdp_config_print_help(f, cmd);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void
help_text_content(void **state _unused_)
{
    _cleanup_free_ char *serve = help_text(GDP_CMD_SERVE);
    _cleanup_free_ char *list = help_text(GDP_CMD_LIST);
    static const char *const needles[] = {
            "Usage: gpu-device-plugin [serve|list|cdi generate|config|mps-control-daemon|"
            "gpu-feature-discovery|\n                         config-manager|explain|version|"
            "help] [flags]",
            "--mig-strategy=none|single|mixed",
            "env: MIG_STRATEGY; default: \"none\"",
            "--driver-root=PATH, --nvidia-driver-root=PATH",
            "env: DRIVER_ROOT_CTR_PATH, CONTAINER_DRIVER_ROOT (first set wins)",
            "--fail-on-init-error[=BOOL]",
            "--device-list-strategy=LIST",
            "[not implemented yet]",
            "-h, --help",
    };
    for (size_t i = 0; i < ELEMENTSOF(needles); i++) {
        assert_non_null(strstr(serve, needles[i]));
        assert_non_null(strstr(list, needles[i]));
    }
    assert_null(strstr(serve, "--json"));
    assert_non_null(strstr(list, "--json[=BOOL]"));
    for (const char *line = serve; *line != '\0';) {
        size_t len = strcspn(line, "\n");
        assert_true(len <= 100);
        line += len + (line[len] == '\n');
    }
}

static void
names(void **state _unused_)
{
    assert_string_equal(gdp_mig_strategy_name(GDP_MIG_NONE), "none");
    assert_string_equal(gdp_mig_strategy_name(GDP_MIG_SINGLE), "single");
    assert_string_equal(gdp_mig_strategy_name(GDP_MIG_MIXED), "mixed");
    assert_string_equal(gdp_mig_strategy_name((enum gdp_mig_strategy)9), "unknown");
    assert_string_equal(gdp_id_strategy_name(GDP_ID_UUID), "uuid");
    assert_string_equal(gdp_id_strategy_name(GDP_ID_INDEX), "index");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(defaults),
            cmocka_unit_test(flag_forms),
            cmocka_unit_test(value_may_start_with_dash),
            cmocka_unit_test(aliases),
            cmocka_unit_test(env_vars),
            cmocka_unit_test(env_first_name_wins),
            cmocka_unit_test(flag_beats_env),
            cmocka_unit_test(bool_forms),
            cmocka_unit_test(bool_without_value),
            cmocka_unit_test(bool_invalid),
            cmocka_unit_test(list_flags),
            cmocka_unit_test(list_invalid),
            cmocka_unit_test(imex),
            cmocka_unit_test(enum_errors),
            cmocka_unit_test(bad_flags),
            cmocka_unit_test(list_only_json),
            cmocka_unit_test(help),
            cmocka_unit_test(end_of_options),
            cmocka_unit_test(finish_checks),
            cmocka_unit_test(unimplemented_notice),
            cmocka_unit_test(help_text_content),
            cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
