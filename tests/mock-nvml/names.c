/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Name tables of the mock NVML library: exported function names (for injected failures),
 * NVML return-code names (for init_error, fail rules and nvmlErrorString) and event-type
 * names, shared by the node-file parser and the control channel.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock.h"

#define MOCK_FN_NAME_(name, ret, params) #name,
const char *const mock_fn_names[MOCK_FN_COUNT_] = {NVML_FUNCTIONS(MOCK_FN_NAME_)};
#undef MOCK_FN_NAME_

#define RC(x)                                  \
    {                                          \
#x, (unsigned long long)NVML_ERROR_##x \
    }
const struct mock_name mock_return_names[] = {
        {"SUCCESS", NVML_SUCCESS},
        RC(UNINITIALIZED),
        RC(INVALID_ARGUMENT),
        RC(NOT_SUPPORTED),
        RC(NO_PERMISSION),
        RC(ALREADY_INITIALIZED),
        RC(NOT_FOUND),
        RC(INSUFFICIENT_SIZE),
        RC(INSUFFICIENT_POWER),
        RC(DRIVER_NOT_LOADED),
        RC(TIMEOUT),
        RC(IRQ_ISSUE),
        RC(LIBRARY_NOT_FOUND),
        RC(FUNCTION_NOT_FOUND),
        RC(CORRUPTED_INFOROM),
        RC(GPU_IS_LOST),
        RC(RESET_REQUIRED),
        RC(OPERATING_SYSTEM),
        RC(LIB_RM_VERSION_MISMATCH),
        RC(IN_USE),
        RC(MEMORY),
        RC(NO_DATA),
        RC(VGPU_ECC_NOT_SUPPORTED),
        RC(INSUFFICIENT_RESOURCES),
        RC(FREQ_NOT_SUPPORTED),
        RC(ARGUMENT_VERSION_MISMATCH),
        RC(DEPRECATED),
        RC(NOT_READY),
        RC(GPU_NOT_FOUND),
        RC(INVALID_STATE),
        RC(RESET_TYPE_NOT_SUPPORTED),
        RC(UNKNOWN),
        {NULL, 0},
};
#undef RC

const struct mock_name mock_event_names[] = {
        {"sbe", nvmlEventTypeSingleBitEccError},
        {"dbe", nvmlEventTypeDoubleBitEccError},
        {"pstate", nvmlEventTypePState},
        {"xid", nvmlEventTypeXidCriticalError},
        {"clock", nvmlEventTypeClock},
        {"power_source", nvmlEventTypePowerSourceChange},
        {"mig_config_change", nvmlEventMigConfigChange},
        {"sbe_storm", nvmlEventTypeSingleBitEccErrorStorm},
        {"dram_retirement", nvmlEventTypeDramRetirementEvent},
        {"dram_retirement_failure", nvmlEventTypeDramRetirementFailure},
        {"non_fatal_poison", nvmlEventTypeNonFatalPoisonError},
        {"fatal_poison", nvmlEventTypeFatalPoisonError},
        {"gpu_unavailable", nvmlEventTypeGpuUnavailableError},
        {"gpu_recovery_action", nvmlEventTypeGpuRecoveryAction},
        {NULL, 0},
};

int
mock_fn_lookup(const char *name)
{
    for (size_t i = 0; i < MOCK_FN_COUNT_; i++) {
        if (strcmp(mock_fn_names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

bool
mock_name_lookup(const struct mock_name *table, const char *name, unsigned long long *ret)
{
    for (const struct mock_name *n = table; n->name != NULL; n++) {
        if (strcasecmp(n->name, name) == 0) {
            *ret = n->value;
            return true;
        }
    }
    return false;
}

bool
mock_return_parse(const char *s, nvmlReturn_t *ret)
{
    unsigned long long v;
    char *end;

    if (strncasecmp(s, "NVML_ERROR_", 11) == 0) {
        s += 11;
    } else if (strcasecmp(s, "NVML_SUCCESS") == 0) {
        s = "SUCCESS";
    }
    if (mock_name_lookup(mock_return_names, s, &v)) {
        *ret = (nvmlReturn_t)v;
        return true;
    }
    if (*s < '0' || *s > '9') {
        return false;
    }
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v > 999) {
        return false;
    }
    *ret = (nvmlReturn_t)v;
    return true;
}
