/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MIG naming and capability minors: the profile names NVIDIA's go-nvlib derives (which become
 * resource names under the mixed strategy) and the parser for the driver's mig-minors table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "gpu/device.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MIB (1024ull * 1024ull)

/* Slice count and name suffix per GPU-instance profile enum; 0 slices = not handled. */
static const struct {
    unsigned slices;
    const char *suffix;
} gi_profiles[] = {
        [0x0] = {1, ""},         [0x1] = {2, ""},    [0x2] = {3, ""},     [0x3] = {4, ""},
        [0x4] = {7, ""},         [0x5] = {8, ""},    [0x6] = {6, ""},     [0x7] = {1, "+me"},
        [0x8] = {2, "+me"},      [0x9] = {1, ""},    [0xA] = {1, "+gfx"}, [0xB] = {2, "+gfx"},
        [0xC] = {4, "+gfx"},     [0xD] = {1, "-me"}, [0xE] = {2, "-me"},  [0xF] = {1, "+me.all"},
        [0x10] = {2, "+me.all"},
};

static const unsigned ci_slices[] = {1, 2, 3, 4, 7, 8, 6, 1, 7};

int
gdp_mig_profile_name(unsigned gi_profile, unsigned ci_profile, uint64_t mem_mib,
                     uint64_t parent_total_bytes, char *buf, size_t len)
{
    if (gi_profile >= ELEMENTSOF(gi_profiles) || gi_profiles[gi_profile].slices == 0 ||
        ci_profile >= ELEMENTSOF(ci_slices) || parent_total_bytes == 0) {
        return -EINVAL;
    }
    unsigned g = gi_profiles[gi_profile].slices;
    unsigned c = ci_slices[ci_profile];
    /* eighths of the GPU's memory, rounded up, times the GPU's size in whole GiB, rounded */
    uint64_t eighths = (8 * mem_mib * MIB + parent_total_bytes - 1) / parent_total_bytes;
    uint64_t total_gb = (parent_total_bytes + GIB - 1) / GIB;
    uint64_t gb = (eighths * total_gb + 4) / 8;
    int n;
    if (c == g) {
        n = snprintf(buf, len, "%ug.%llugb%s", g, (unsigned long long)gb,
                     gi_profiles[gi_profile].suffix);
    } else {
        n = snprintf(buf, len, "%uc.%ug.%llugb%s", c, g, (unsigned long long)gb,
                     gi_profiles[gi_profile].suffix);
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool
parse_cap_line(const char *line, struct gdp_migcap *cap)
{
    unsigned gpu, gi, ci, minor;
    int end = 0;
    if (sscanf(line, "gpu%u/gi%u/ci%u/access %u%n", &gpu, &gi, &ci, &minor, &end) == 4 &&
        line[end] == '\0') {
        *cap = (struct gdp_migcap){.gpu = gpu, .gi = gi, .ci = (int)ci, .minor = minor};
        return ci <= 0xffff && minor <= 0xfffff;
    }
    end = 0;
    if (sscanf(line, "gpu%u/gi%u/access %u%n", &gpu, &gi, &minor, &end) == 3 && line[end] == '\0') {
        *cap = (struct gdp_migcap){.gpu = gpu, .gi = gi, .ci = -1, .minor = minor};
        return minor <= 0xfffff;
    }
    return false;
}

static void
append_cap(struct gdp_migcaps *caps, size_t *cap, const struct gdp_migcap *c)
{
    if (caps->n == *cap) {
        *cap = *cap == 0 ? 64 : *cap * 2;
        caps->caps = gdp_reallocarray(caps->caps, *cap, sizeof *caps->caps);
    }
    caps->caps[caps->n++] = *c;
}

void
gdp_migcaps_parse(const char *text, struct gdp_migcaps *ret)
{
    size_t cap = 0;
    *ret = (struct gdp_migcaps){0};
    while (*text != '\0') {
        const char *nl = strchr(text, '\n');
        size_t len = nl != NULL ? (size_t)(nl - text) : strlen(text);
        char line[128];
        struct gdp_migcap c;
        if (len < sizeof line) {
            memcpy(line, text, len);
            line[len] = '\0';
            if (parse_cap_line(line, &c)) {
                append_cap(ret, &cap, &c);
            }
        }
        text += len + (nl != NULL ? 1 : 0);
    }
}

void
gdp_migcaps_done(struct gdp_migcaps *caps)
{
    if (caps == NULL) {
        return;
    }
    free(caps->caps);
    *caps = (struct gdp_migcaps){0};
}

int
gdp_migcaps_lookup(const struct gdp_migcaps *caps, unsigned gpu, unsigned gi, int ci)
{
    for (size_t i = 0; i < caps->n; i++) {
        const struct gdp_migcap *c = &caps->caps[i];
        if (c->gpu == gpu && c->gi == gi && c->ci == ci) {
            return (int)c->minor;
        }
    }
    return -ENOENT;
}
