/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/kube/: libcurl, loaded with dlopen when the first client is created, so the
 * commands that never talk to the API server (serve, list, ...) do not map libcurl and the
 * libraries it pulls in (measured in docs/kube-api.md). The symbols are typed with
 * __typeof__ of curl.h's prototypes, as the NVML table is.
 */
#pragma once

#include <curl/curl.h>

struct gdp_diag;

#define GDP_CURL_FN(name) __typeof__(curl_##name) *name

struct gdp_curl_fns {
    GDP_CURL_FN(global_init);
    GDP_CURL_FN(easy_init);
    GDP_CURL_FN(easy_setopt);
    GDP_CURL_FN(easy_getinfo);
    GDP_CURL_FN(easy_cleanup);
    GDP_CURL_FN(easy_strerror);
    GDP_CURL_FN(multi_init);
    GDP_CURL_FN(multi_setopt);
    GDP_CURL_FN(multi_add_handle);
    GDP_CURL_FN(multi_remove_handle);
    GDP_CURL_FN(multi_socket_action);
    GDP_CURL_FN(multi_info_read);
    GDP_CURL_FN(multi_cleanup);
    GDP_CURL_FN(slist_append);
    GDP_CURL_FN(slist_free_all);
};

#undef GDP_CURL_FN

/*
 * Loads libcurl.so.4 (once; it stays loaded) and runs curl_global_init. Returns the symbol
 * table (static storage) or NULL with diag filled (library or a symbol missing).
 */
const struct gdp_curl_fns *gdp_curl_load(struct gdp_diag *diag);
