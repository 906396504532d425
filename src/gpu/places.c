/* SPDX-License-Identifier: Apache-2.0 */
/* The places a discovery read (see places.h). */
#include "gpu/places.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"

static void
add(struct gdp_places *p, const char *index_str)
{
    for (size_t i = 0; i < p->n; i++) {
        if (streq(p->index[i], index_str)) {
            return;
        }
    }
    p->index = gdp_reallocarray(p->index, p->n + 1, sizeof *p->index);
    (void)gdp_strlcpy(p->index[p->n++], index_str, sizeof *p->index);
}

void
gdp_places_of(const struct gdp_node *node, struct gdp_places *ret)
{
    *ret = (struct gdp_places){0};
    for (size_t i = 0; node != NULL && i < node->n_devices; i++) {
        if (node->devices[i].healthy) {
            add(ret, node->devices[i].index_str);
        }
    }
}

void
gdp_places_failed(const struct gdp_node *node, struct gdp_places *ret)
{
    for (size_t i = 0; node != NULL && i < node->n_problems; i++) {
        add(ret, node->problems[i].index_str);
    }
    for (size_t i = 0; node != NULL && i < node->n_devices; i++) {
        if (!node->devices[i].healthy) {
            add(ret, node->devices[i].index_str);
        }
    }
}

void
gdp_places_done(struct gdp_places *p)
{
    free(p->index);
    *p = (struct gdp_places){0};
}

/* Whether node reads place; if not, why in diag. */
static bool
reads(const struct gdp_node *node, const char *nvml_error, const char *place, struct gdp_diag *diag)
{
    if (node == NULL) {
        (void)gdp_diag_set(diag, -ENODEV, "NVML unavailable: %s", nvml_error);
        return false;
    }
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (streq(d->index_str, place)) {
            if (!d->healthy) {
                (void)gdp_diag_set(diag, -EIO, "device %s (%s): %s", place, d->uuid, d->reason);
            }
            return d->healthy;
        }
    }
    for (size_t i = 0; i < node->n_problems; i++) {
        if (streq(node->problems[i].index_str, place)) {
            (void)gdp_diag_set(diag, -EIO, "device %s: %s", place, node->problems[i].reason);
            return false;
        }
    }
    if (strchr(place, ':') != NULL) {
        return true; /* an empty MIG slot: the GPU was repartitioned */
    }
    (void)gdp_diag_set(diag, -ENODEV, "GPU %s is no longer enumerated (NVML counts %u GPUs)", place,
                       node->n_gpus);
    return false;
}

size_t
gdp_places_missed(const struct gdp_places *p, const struct gdp_node *node, const char *nvml_error,
                  struct gdp_places *missed, struct gdp_diag *diag)
{
    size_t n = 0;
    struct gdp_diag first = {0}, why = {0};
    for (size_t i = 0; i < p->n; i++) {
        if (reads(node, nvml_error, p->index[i], &why)) {
            continue;
        }
        if (n++ == 0) {
            first = why;
        }
        if (missed != NULL) {
            add(missed, p->index[i]);
        }
    }
    if (n > 0 && diag != NULL) {
        *diag = first;
    }
    return n;
}
