/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the /proc/driver/nvidia-caps/mig-minors parser and its lookups. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "gpu/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *text = gdp_strndup((const char *)data, size);
    struct gdp_migcaps caps;
    gdp_migcaps_parse(text, &caps);
    for (size_t i = 0; i < caps.n; i++) {
        int minor = gdp_migcaps_lookup(&caps, caps.caps[i].gpu, caps.caps[i].gi, caps.caps[i].ci);
        if (minor < 0) {
            __builtin_trap(); /* every parsed entry must be found again */
        }
    }
    gdp_migcaps_done(&caps);
    return 0;
}
