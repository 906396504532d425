/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostic messages and error-code text. */
#include "core/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
gdp_diag_set(struct gdp_diag *diag, int r, const char *fmt, ...)
{
    if (diag == NULL) {
        return r;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
    va_end(ap);
    return r;
}

static size_t
append(char *dst, size_t used, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (used + n >= cap) {
        n = cap - 1 - used;
    }
    memcpy(dst + used, src, n);
    dst[used + n] = '\0';
    return used + n;
}

int
gdp_diag_prefix(struct gdp_diag *diag, int r, const char *fmt, ...)
{
    if (diag == NULL) {
        return r;
    }
    char prefix[GDP_DIAG_MAX];
    char old[GDP_DIAG_MAX];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, diag->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t used = append(diag->msg, 0, sizeof diag->msg, prefix);
    if (old[0] != '\0') {
        used = append(diag->msg, used, sizeof diag->msg, ": ");
        (void)append(diag->msg, used, sizeof diag->msg, old);
    }
    return r;
}

const char *
gdp_strerror(int r)
{
    switch (r) {
    case GDP_E_NVML:
        return "NVML call failed";
    case GDP_E_NVML_MISSING:
        return "NVML library not found";
    case GDP_E_CONFIG:
        return "invalid configuration";
    case GDP_E_MIG:
        return "unsupported MIG configuration";
    default:
        break;
    }
    if (r < 0 && r > -4096) {
        return strerror(-r);
    }
    return "unknown error";
}
