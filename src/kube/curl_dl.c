/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading libcurl at run time: dlopen once, every symbol resolved into a typed table, then
 * curl_global_init. Only the loop thread calls this.
 */
#include "kube/curl_dl.h"

#include <errno.h>
#include <stddef.h>

#include "core/diag.h"
#include "core/dl.h"
#include "core/util.h"

#define LIBCURL "libcurl.so.4"

static struct gdp_curl_fns fns;
static bool loaded;

#define SYM(name)                                          \
    {                                                      \
        "curl_" #name, offsetof(struct gdp_curl_fns, name) \
    }

static const struct gdp_dl_sym syms[] = {
        SYM(global_init),         SYM(easy_init),           SYM(easy_setopt),
        SYM(easy_getinfo),        SYM(easy_cleanup),        SYM(easy_strerror),
        SYM(multi_init),          SYM(multi_setopt),        SYM(multi_add_handle),
        SYM(multi_remove_handle), SYM(multi_socket_action), SYM(multi_info_read),
        SYM(multi_cleanup),       SYM(slist_append),        SYM(slist_free_all),
};

#undef SYM

const struct gdp_curl_fns *
gdp_curl_load(struct gdp_diag *diag)
{
    if (loaded) {
        return &fns;
    }
    if (gdp_dl_bind(LIBCURL, "libcurl4", syms, ELEMENTSOF(syms), &fns, diag) < 0) {
        return NULL;
    }
    if (fns.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        (void)gdp_diag_set(diag, -EIO, "curl_global_init failed");
        return NULL;
    }
    loaded = true;
    return &fns;
}
