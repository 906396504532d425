/* SPDX-License-Identifier: Apache-2.0 */
/* The serving snapshot (see snapshot.h): built whole, in an order that writes last. */
#include "resource/snapshot.h"

#include <errno.h>
#include <stdlib.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/places.h"
#include "resource/cdi.h"
#include "resource/mps.h"
#include "resource/paths.h"

struct gdp_snapshot *
gdp_snapshot_new(struct gdp_config *cfg)
{
    struct gdp_snapshot *s = gdp_calloc(1, sizeof *s);
    s->cfg = *cfg;
    *cfg = (struct gdp_config){0};
    return s;
}

void
gdp_snapshot_free(struct gdp_snapshot *s)
{
    if (s == NULL) {
        return;
    }
    gdp_inventory_done(&s->inv);
    gdp_config_done(&s->cfg);
    free(s->dev_root_ctr);
    free(s);
}

/* IMEX channels and CDI specs, before serving (NVIDIA writes the specs first too). */
static int
prepare_allocations(struct gdp_snapshot *s, struct gdp_diag *diag)
{
    const unsigned cdi = GDP_LIST_CDI_ANNOTATIONS | GDP_LIST_CDI_CRI;
    int r = gdp_imex_check(&s->cfg, &s->imex, diag);
    if (r < 0 || !(s->cfg.device_list_strategy & cdi)) {
        return r;
    }
    r = gdp_cdi_check_platform(&s->cfg, s->inv.nv != NULL, diag);
    if (r >= 0 && s->inv.node != NULL) {
        r = gdp_cdi_write_specs(&s->cfg, s->inv.node, s->cfg.cdi_spec_dir, diag);
    }
    if (r < 0) {
        return r;
    }
    s->cdi_kinds = (unsigned)r;
    return 0;
}

int
gdp_snapshot_build(struct gdp_config *cfg, const struct gdp_places *expect,
                   struct gdp_snapshot **ret, struct gdp_diag *diag)
{
    struct gdp_snapshot *s = gdp_snapshot_new(cfg);
    s->dev_root_ctr = gdp_paths_dev_root_ctr(&s->cfg);
    int r = gdp_inventory_discover(&s->cfg, &s->inv, diag);
    if (r >= 0 && expect != NULL &&
        gdp_places_missed(expect, s->inv.node, s->inv.nvml_error, NULL, diag) > 0) {
        r = -EAGAIN;
    }
    if (r >= 0) {
        r = gdp_inventory_build(&s->cfg, &s->inv, diag);
    }
    if (r >= 0) {
        r = gdp_mps_check(&s->cfg, s->inv.set, diag);
    }
    if (r >= 0) { /* last: a refused snapshot leaves the specs the served one names */
        r = prepare_allocations(s, diag);
    }
    if (r < 0) {
        gdp_snapshot_free(s);
        return r;
    }
    *ret = s;
    return 0;
}
