/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Optional libraries loaded at run time (dlopen), so that a command or a feature that does
 * not use them maps none of their pages: libcurl for the Kubernetes API client, libmicrohttpd
 * for the metrics endpoint. Each user declares a table of typed function pointers and the
 * symbol names with their offsets in it.
 */
#pragma once

#include <stddef.h>

struct gdp_diag;

struct gdp_dl_sym {
    const char *name; /* exported symbol */
    size_t off;       /* offset of its pointer in the caller's table */
};

/*
 * Opens soname (RTLD_NOW | RTLD_LOCAL; it stays loaded) and stores each symbol's address at
 * its offset in table, a struct of function pointers only. Returns 0, or -ENOENT (library
 * missing: diag names it and the Debian package pkg) / -ENOSYS (a symbol missing).
 */
int gdp_dl_bind(const char *soname, const char *pkg, const struct gdp_dl_sym *syms, size_t n,
                void *table, struct gdp_diag *diag);
