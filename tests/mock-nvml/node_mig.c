/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mig section of a GPU in the node file: MIG capability and mode, and the MIG devices,
 * each named by its go-nvlib profile name ("1g.5gb", "1c.2g.10gb", "1g.5gb+me"). Builds the
 * GPU instances (grouping devices that share a GI id), checks that they fit the GPU
 * (instance counts, slices, memory placements) and creates the compute instances and MIG
 * devices.
 */
#include <stdio.h>
#include <string.h>

#include "node.h"

static const struct mock_name mode_names[] = {
        {"disabled", NVML_DEVICE_MIG_DISABLE},
        {"enabled", NVML_DEVICE_MIG_ENABLE},
        {NULL, 0},
};

struct mig_spec {
    bool capable;
    unsigned int mode;
    unsigned int pending;
    char model[32];
    yaml_node_t *devices;
};

struct dev_spec {
    char uuid[MOCK_STR_LEN];
    char profile[64];
    unsigned int gi, ci, index, placement;
    yaml_node_t *node;
    const struct mock_gi_profile *gip;
    unsigned int ci_profile, ci_slices;
    unsigned int plan; /* index into the GPU-instance plan */
};

struct gi_plan {
    unsigned int id;
    const struct mock_gi_profile *p;
    unsigned int start; /* MOCK_NO_ID until placed */
    bool fixed;         /* start given in the node file */
    unsigned int ci_used;
    yaml_node_t *node;
};

struct mig_build {
    struct nvmlDevice_st *gpu;
    struct dev_spec dev[MOCK_MAX_MIG];
    unsigned int n_dev;
    struct gi_plan gi[MOCK_MAX_MIG];
    unsigned int n_gi;
};

static int
mig_devices(struct pctx *c, yaml_node_t *v, void *obj)
{
    ((struct mig_spec *)obj)->devices = v;
    return node_items(c, v, "devices", &(size_t){0}) != NULL ? 0 : -1;
}

static const struct field mig_fields[] = {
        F_BOOL_("capable", struct mig_spec, capable),
        F_ENUM_("mode", struct mig_spec, mode, mode_names),
        F_ENUM_("pending", struct mig_spec, pending, mode_names),
        F_STR_("model", struct mig_spec, model),
        F_FN_("devices", mig_devices),
};

static int
dev_uuid(struct pctx *c, yaml_node_t *v, void *obj)
{
    return node_uuid(c, v, "MIG-", ((struct dev_spec *)obj)->uuid);
}

static const struct field dev_fields[] = {
        {.key = "uuid", .type = F_FN, .fn = dev_uuid, .required = true},
        {.key = "profile",
         .type = F_STR,
         .off = offsetof(struct dev_spec, profile),
         .size = FIELD_SIZE_(struct dev_spec, profile),
         .required = true},
        F_UINT_("gi", struct dev_spec, gi, 15),
        F_UINT_("ci", struct dev_spec, ci, 7),
        F_UINT_("index", struct dev_spec, index, MOCK_MAX_MIG - 1),
        F_UINT_("placement", struct dev_spec, placement, MOCK_MEM_SLICES - 1),
};

/* Matches "[<C>c.]<G>g.<GB>gb[suffix]" against the model's profiles on this GPU. */
static int
resolve_profile(struct pctx *c, const struct nvmlDevice_st *gpu, struct dev_spec *s)
{
    const char *rest = s->profile;
    unsigned int cs = 0;
    int used = 0;
    char name[64], known[512] = "";
    size_t len = 0;

    if (sscanf(s->profile, "%uc.%n", &cs, &used) == 1 && used > 0) {
        rest += used;
    }
    for (size_t i = 0; i < gpu->model->n_gi && s->gip == NULL; i++) {
        mock_profile_name(&gpu->model->gi[i], gpu->model->gi[i].slices, gpu->mem_mib, name,
                          sizeof name);
        len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "", name);
        s->gip = strcmp(name, rest) == 0 ? &gpu->model->gi[i] : NULL;
    }
    if (s->gip == NULL) {
        return node_err(c, s->node, "unknown MIG profile '%s' for %s with %llu MiB (known: %s)",
                        s->profile, gpu->name, gpu->mem_mib, known);
    }
    if (used > 0 && (cs == 0 || cs >= s->gip->slices)) {
        return node_err(
                c, s->node,
                "profile '%s': a compute instance of %u slices needs a larger GPU instance (write '%s' for a whole one)",
                s->profile, cs, rest);
    }
    s->ci_slices = used > 0 ? cs : s->gip->slices;
    for (unsigned int e = 0; e < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; e++) {
        if (mock_ci_offered(s->gip, e) && mock_ci_slices(e) == s->ci_slices) {
            s->ci_profile = e;
            return 0;
        }
    }
    return node_err(c, s->node,
                    "profile '%s': no %u-slice compute-instance profile in a %ug GPU instance",
                    s->profile, s->ci_slices, s->gip->slices);
}

/* Finds or creates the GPU-instance plan of a device (explicit gi ids are shared). */
static int
plan_gi(struct pctx *c, struct mig_build *b, struct dev_spec *s)
{
    for (unsigned int i = 0; s->gi != MOCK_NO_ID && i < b->n_gi; i++) {
        if (b->gi[i].id == s->gi) {
            if (b->gi[i].p != s->gip) {
                return node_err(c, s->node, "GPU instance %u is used with two different profiles",
                                s->gi);
            }
            s->plan = i;
            return 0;
        }
    }
    s->plan = b->n_gi++;
    b->gi[s->plan] =
            (struct gi_plan){.id = s->gi, .p = s->gip, .start = s->placement, .node = s->node};
    return 0;
}

static bool
placement_ok(const struct mock_gi_profile *p, unsigned int start, unsigned int used_mask)
{
    unsigned int mask = ((1u << p->mem_slices) - 1) << start;

    if (start % p->mem_slices != 0 || start + p->mem_slices > MOCK_MEM_SLICES) {
        return false;
    }
    if (p->mem_slices == 1 && start == MOCK_MEM_SLICES - 1) {
        return false; /* the last memory slice only ever belongs to a 7-slice instance */
    }
    return (mask & used_mask) == 0;
}

static unsigned int
slice_mask(const struct gi_plan *g, unsigned int start)
{
    return ((1u << g->p->mem_slices) - 1) << start;
}

/* Places GIs i.. in the free memory slices, backtracking (at most 7 GIs, 8 starts each). */
static bool
place_from(struct mig_build *b, unsigned int i, unsigned int used)
{
    struct gi_plan *g = &b->gi[i];

    if (i == b->n_gi) {
        return true;
    }
    if (g->fixed) {
        return placement_ok(g->p, g->start, used) &&
               place_from(b, i + 1, used | slice_mask(g, g->start));
    }
    for (unsigned int start = 0; start < MOCK_MEM_SLICES; start++) {
        if (placement_ok(g->p, start, used) && place_from(b, i + 1, used | slice_mask(g, start))) {
            g->start = start;
            return true;
        }
    }
    return false;
}

/* Checks instance counts and slices, and collects the explicit GI ids. */
static int
count_gis(struct pctx *c, struct mig_build *b, unsigned int *ret_ids)
{
    unsigned int slices = 0;

    *ret_ids = 0;
    for (unsigned int i = 0; i < b->n_gi; i++) {
        unsigned int same = 0;
        for (unsigned int j = 0; j <= i; j++) {
            same += b->gi[j].p == b->gi[i].p;
        }
        slices += b->gi[i].p->slices;
        if (same > b->gi[i].p->instances) {
            return node_err(c, b->gi[i].node,
                            "MIG devices do not fit the GPU (too many instances of this profile)");
        }
        if (slices > MOCK_MAX_MIG) {
            return node_err(c, b->gi[i].node,
                            "MIG devices do not fit the GPU (more than %u slices)", MOCK_MAX_MIG);
        }
        *ret_ids |= b->gi[i].id != MOCK_NO_ID ? 1u << b->gi[i].id : 0;
    }
    return 0;
}

/* Places every GI in the memory slices and gives the GIs without an explicit id one. */
static int
place_gis(struct pctx *c, struct mig_build *b, yaml_node_t *devices)
{
    unsigned int ids;

    if (count_gis(c, b, &ids) < 0) {
        return -1;
    }
    for (unsigned int i = 0; i < b->n_gi; i++) {
        b->gi[i].fixed = b->gi[i].start != MOCK_NO_ID;
    }
    if (!place_from(b, 0, 0)) {
        return node_err(c, devices,
                        "MIG devices do not fit the GPU (no placement in its memory slices)");
    }
    for (unsigned int i = 0; i < b->n_gi; i++) {
        struct gi_plan *g = &b->gi[i];
        for (unsigned int id = g->p->slices == 7 ? 0 : 1; g->id == MOCK_NO_ID; id++) {
            if ((ids & (1u << id)) == 0) {
                g->id = id;
                ids |= 1u << id;
            }
        }
    }
    return 0;
}

/* Gives each device its compute-instance id and its slot under the GPU. */
static int
assign_cis(struct pctx *c, struct mig_build *b)
{
    unsigned int slots = 0, ci_ids[MOCK_MAX_MIG] = {0};

    for (unsigned int i = 0; i < b->n_dev; i++) {
        struct dev_spec *s = &b->dev[i];
        if (s->ci != MOCK_NO_ID && (ci_ids[s->plan] & (1u << s->ci)) != 0) {
            return node_err(c, s->node, "duplicate compute instance id %u in one GPU instance",
                            s->ci);
        }
        if (s->index != MOCK_NO_ID && (slots & (1u << s->index)) != 0) {
            return node_err(c, s->node, "duplicate MIG device index %u", s->index);
        }
        ci_ids[s->plan] |= s->ci != MOCK_NO_ID ? 1u << s->ci : 0;
        slots |= s->index != MOCK_NO_ID ? 1u << s->index : 0;
    }
    for (unsigned int i = 0; i < b->n_dev; i++) {
        struct dev_spec *s = &b->dev[i];
        for (unsigned int id = 0; s->ci == MOCK_NO_ID; id++) {
            s->ci = (ci_ids[s->plan] & (1u << id)) == 0 ? id : MOCK_NO_ID;
        }
        for (unsigned int slot = 0; s->index == MOCK_NO_ID; slot++) {
            s->index = (slots & (1u << slot)) == 0 ? slot : MOCK_NO_ID;
        }
        ci_ids[s->plan] |= 1u << s->ci;
        slots |= 1u << s->index;
    }
    return 0;
}

/* Creates the GPU instances, compute instances and MIG devices of a checked build. */
static int
create(struct pctx *c, struct mig_build *b)
{
    struct mock_node *n = c->node;
    struct nvmlGpuInstance_st *gis = &n->gis[n->n_gis];
    char name[64];

    for (unsigned int i = 0; i < b->n_gi; i++) {
        gis[i] = (struct nvmlGpuInstance_st){.parent = b->gpu,
                                             .id = b->gi[i].id,
                                             .profile = b->gi[i].p,
                                             .start = b->gi[i].start,
                                             .size = b->gi[i].p->mem_slices};
    }
    n->n_gis += b->n_gi;
    for (unsigned int i = 0; i < b->n_dev; i++) {
        struct dev_spec *s = &b->dev[i];
        struct nvmlGpuInstance_st *gi = &gis[s->plan];
        struct nvmlComputeInstance_st *ci = &n->cis[n->n_cis++];
        struct nvmlDevice_st *d = &n->devs[n->n_devs++];

        if (gi->ci_slices_used + s->ci_slices > gi->profile->slices) {
            return node_err(c, s->node, "compute instances overflow GPU instance %u", gi->id);
        }
        *ci = (struct nvmlComputeInstance_st){.gi = gi,
                                              .dev = d,
                                              .id = s->ci,
                                              .profile = s->ci_profile,
                                              .start = gi->ci_slices_used,
                                              .size = s->ci_slices};
        gi->ci_slices_used += s->ci_slices;
        mock_profile_name(gi->profile, s->ci_slices, b->gpu->mem_mib, name, sizeof name);
        d->parent = b->gpu;
        d->index = s->index;
        d->gi = gi;
        d->ci = ci;
        if (snprintf(d->name, sizeof d->name, "%s MIG %s", b->gpu->name, name) >=
            (int)sizeof d->name) {
            return node_err(c, s->node, "the MIG device name would be too long");
        }
        (void)snprintf(d->uuid, sizeof d->uuid, "%s", s->uuid);
        b->gpu->mig_slots[s->index] = d;
    }
    return 0;
}

/* Parses the devices list of a GPU in MIG mode. */
static int
parse_devices(struct pctx *c, struct nvmlDevice_st *gpu, yaml_node_t *v)
{
    struct mig_build b = {.gpu = gpu};
    size_t count;
    yaml_node_item_t *items = node_items(c, v, "devices", &count);

    if (items == NULL) {
        return -1;
    }
    if (count > MOCK_MAX_MIG) {
        return node_err(c, v, "at most %u MIG devices per GPU", MOCK_MAX_MIG);
    }
    for (size_t i = 0; i < count; i++) {
        struct dev_spec *s = &b.dev[b.n_dev++];
        s->node = node_get(c, items[i]);
        s->gi = s->ci = s->index = s->placement = MOCK_NO_ID;
        if (node_fields(c, s->node, dev_fields, MOCK_ELEMENTSOF(dev_fields), s, "a MIG device") <
                    0 ||
            resolve_profile(c, gpu, s) < 0 || plan_gi(c, &b, s) < 0) {
            return -1;
        }
        for (unsigned int j = 0; j + 1 < b.n_dev; j++) {
            if (strcmp(b.dev[j].uuid, s->uuid) == 0) {
                return node_err(c, s->node, "duplicate UUID '%s'", s->uuid);
            }
        }
    }
    if (place_gis(c, &b, v) < 0 || assign_cis(c, &b) < 0) {
        return -1;
    }
    return create(c, &b);
}

int
node_mig(struct pctx *c, yaml_node_t *v, struct nvmlDevice_st *gpu)
{
    struct mig_spec s = {.capable = true, .pending = MOCK_NO_ID};

    if (node_fields(c, v, mig_fields, MOCK_ELEMENTSOF(mig_fields), &s, "mig") < 0) {
        return -1;
    }
    gpu->mig_capable = s.capable;
    gpu->mig_current = s.mode;
    gpu->mig_pending = s.pending == MOCK_NO_ID ? s.mode : s.pending;
    if (!s.capable) {
        return gpu->mig_current || gpu->mig_pending || s.devices
                       ? node_err(c, v, "mig: mode, pending and devices need capable: true")
                       : 0;
    }
    gpu->model = mock_model_find(s.model[0] != '\0' ? s.model : gpu->name);
    if (gpu->model == NULL) {
        return node_err(
                c, v,
                "mig: no built-in MIG profiles for '%s' (set model: to a100-40gb, a100-80gb or h100-80gb)",
                s.model[0] != '\0' ? s.model : gpu->name);
    }
    if (s.devices != NULL &&
        s.devices->data.sequence.items.start != s.devices->data.sequence.items.top &&
        s.mode != NVML_DEVICE_MIG_ENABLE) {
        return node_err(c, s.devices, "mig: devices need mode: enabled");
    }
    return s.devices != NULL ? parse_devices(c, gpu, s.devices) : 0;
}
