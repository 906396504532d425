/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: what the API client reads from outside: kubeconfig documents (first byte
 * even) and watch event lines (first byte odd), plus base64 of the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/diag.h"
#include "core/util.h"
#include "kube/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    struct gdp_diag diag = {0};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if ((data[0] & 1) == 0) {
        struct gdp_kube_config cfg = {0};
        (void)gdp_kube_config_parse(&cfg, text, len, NULL, &diag);
        gdp_kube_config_done(&cfg);
    } else {
        enum gdp_kube_event type;
        json_t *obj = NULL;
        if (gdp_kube_watch_parse(text, len, &type, &obj, &diag) == 0) {
            json_decref(obj);
        }
    }
    _cleanup_free_ char *s = gdp_strndup(text, len);
    char *out = NULL;
    size_t n = 0;
    if (gdp_kube_base64_decode(s, &out, &n) == 0) {
        free(out);
    }
    return 0;
}
