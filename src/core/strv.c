/* SPDX-License-Identifier: Apache-2.0 */
#include "core/strv.h"

#include <stdlib.h>

#include "core/util.h"

void
gdp_strv_take(struct gdp_strv *sv, char *owned)
{
    sv->v = gdp_reallocarray(sv->v, sv->n + 2, sizeof *sv->v);
    sv->v[sv->n++] = owned;
    sv->v[sv->n] = NULL;
}

void
gdp_strv_push(struct gdp_strv *sv, const char *s)
{
    gdp_strv_take(sv, gdp_strdup(s));
}

void
gdp_strv_clear(struct gdp_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->v[i]);
    }
    free(sv->v);
    *sv = (struct gdp_strv){0};
}
