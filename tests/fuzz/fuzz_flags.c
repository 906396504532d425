/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: command-line and environment parsing. The input is split on NUL bytes;
 * words up to the first empty word are arguments, the rest are "KEY=VALUE" environment
 * entries.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *buf = gdp_malloc(size + 1);
    char *argv[MAX_WORDS + 1] = {0}, *envp[MAX_WORDS + 1] = {0};
    int argc = 0, envc = 0;
    bool in_env = false;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (char *p = buf; p <= buf + size && argc < MAX_WORDS && envc < MAX_WORDS;
         p += strlen(p) + 1) {
        if (*p == '\0') {
            in_env = true;
        } else if (in_env) {
            envp[envc++] = p;
        } else {
            argv[argc++] = p;
        }
    }
    gdp_log_level = GDP_LOG_ERR;
    for (unsigned cmd = GDP_CMD_SERVE; cmd <= GDP_CMD_GFD; cmd <<= 1) {
        struct gdp_config cfg;
        struct gdp_diag diag = {0};
        gdp_config_init(&cfg);
        if (gdp_config_parse_args(&cfg, (enum gdp_cmd)cmd, argc, argv, envp, &diag) >= 0) {
            (void)gdp_config_finish(&cfg, &diag);
        }
        gdp_config_done(&cfg);
    }
    return 0;
}
