/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Binding an optional library's symbols into a caller's table of function pointers.
 */
#include "core/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "core/diag.h"

int
gdp_dl_bind(const char *soname, const char *pkg, const struct gdp_dl_sym *syms, size_t n,
            void *table, struct gdp_diag *diag)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        return gdp_diag_set(diag, -ENOENT, "cannot load %s (Debian package %s): %s", soname, pkg,
                            dlerror());
    }
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, syms[i].name);
        if (p == NULL) {
            return gdp_diag_set(diag, -ENOSYS, "%s: symbol %s missing", soname, syms[i].name);
        }
        memcpy((char *)table + syms[i].off, &p, sizeof p); /* the table holds only pointers */
    }
    return 0;
}
