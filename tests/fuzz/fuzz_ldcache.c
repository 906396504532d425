/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the ld.so.cache parser (both layouts), with its output checked. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/diag.h"
#include "resource/ldcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gdp_ldcache cache;
    struct gdp_diag diag = {0};
    if (gdp_ldcache_parse(data, size, &cache, &diag) < 0) {
        if (cache.n != 0 || diag.msg[0] == '\0') {
            __builtin_trap(); /* a failure leaves nothing behind and says why */
        }
        return 0;
    }
    for (size_t i = 0; i < cache.n; i++) {
        /* every string came from inside the input */
        if (strlen(cache.entries[i].soname) >= size || strlen(cache.entries[i].path) >= size) {
            __builtin_trap();
        }
        (void)gdp_ldcache_entry_64bit(&cache.entries[i]);
    }
    gdp_ldcache_done(&cache);
    return 0;
}
