/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Diagnostics: a fixed-size, caller-owned message buffer filled by the innermost failure,
 * and the project's error codes beyond errno.
 */
#pragma once

#include <stddef.h>

#include "core/util.h"

#define GDP_DIAG_MAX 512

struct gdp_diag {
    char msg[GDP_DIAG_MAX];
};

/* Project-specific error codes (negative, outside the errno range). */
enum {
    GDP_E_NVML = -1001,         /* an NVML call failed; diag names the call and NVML's text */
    GDP_E_NVML_MISSING = -1002, /* libnvidia-ml.so.1 could not be loaded */
    GDP_E_CONFIG = -1003,       /* invalid configuration (flag, env var, file) */
    GDP_E_MIG = -1004,          /* MIG layout not servable with the selected strategy */
};

/*
 * Formats a message into diag (which may be NULL) and returns r unchanged, so that
 * `return gdp_diag_set(diag, -EINVAL, "...")` reports and fails in one statement.
 */
int gdp_diag_set(struct gdp_diag *diag, int r, const char *fmt, ...) _printf_(3, 4);

/* Prefixes the message already in diag with "<prefix>: ". Returns r. */
int gdp_diag_prefix(struct gdp_diag *diag, int r, const char *fmt, ...) _printf_(3, 4);

/* Text for a negative errno or GDP_E_* code. Never NULL; static storage. */
const char *gdp_strerror(int r);
