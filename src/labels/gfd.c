/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The labelling rules of NVIDIA's gpu-feature-discovery v0.20.0 (internal/lm/), applied to our
 * device model: versions, machine type, MIG and MPS capability, GPU mode, IMEX clique, and the
 * per-resource labels under each MIG strategy with the sharing section's replicas. Where
 * NVIDIA's result depends on Go map order (several GPU models) we pick a documented winner;
 * every key and value is made valid for Kubernetes (docs/labels.md lists each difference).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "gpu/vgpu.h"
#include "labels/labels.h"

#define P        "nvidia.com/"
#define GPU_RES  P "gpu"
#define NAME_BUF 192

/* PCI class codes of a VGA controller and a 3D controller. */
#define PCI_CLASS_VGA 0x030000
#define PCI_CLASS_3D  0x030200

/* How one resource is labelled: its name and its replication (NVIDIA's resourceLabeler). */
struct res {
    const char *name;                          /* "nvidia.com/gpu", "nvidia.com/mig-1g.5gb" */
    bool sharing;                              /* false: labels without sharing information */
    const struct gdp_replicated_resource *rep; /* the sharing entry for name, or NULL */
    enum gdp_sharing_strategy strategy;
};

struct ctx {
    const struct gdp_labels_input *in;
    const struct gdp_node *node;
    struct gdp_labels *l;
};

static void
res_init(struct res *r, const struct ctx *c, const char *name, bool sharing)
{
    const struct gdp_sharing *s = &c->in->cfg->sharing;
    *r = (struct res){.name = name, .sharing = sharing, .strategy = s->strategy};
    if (!sharing || s->strategy == GDP_SHARING_NONE) {
        return;
    }
    const struct gdp_replication *rep = gdp_sharing_replication(s);
    for (size_t i = 0; i < rep->n_resources; i++) {
        if (streq(rep->resources[i].name, name)) {
            r->rep = &rep->resources[i];
        }
    }
}

static unsigned
res_replicas(const struct res *r)
{
    if (!r->sharing) {
        return 0;
    }
    return r->rep != NULL && r->rep->replicas > 0 ? r->rep->replicas : 1;
}

/* Sets "<resource>.<suffix>". */
static void
res_set(const struct ctx *c, const struct res *r, const char *suffix, const char *value)
{
    char key[256];
    (void)snprintf(key, sizeof key, "%s.%s", r->name, suffix);
    gdp_labels_set(c->l, key, "%s", value);
}

/* NVIDIA's name of a MIG device: its profile with '+' turned into '.' ("1g.10gb.me"). */
static void
mig_name(const struct gdp_device *m, char *buf, size_t size)
{
    (void)gdp_strlcpy(buf, m->profile, size);
    for (char *p = strchr(buf, '+'); p != NULL; p = strchr(p, '+')) {
        *p = '.';
    }
}

static void
res_setu(const struct ctx *c, const struct res *r, const char *suffix, uint64_t v)
{
    char buf[32];
    (void)snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    res_set(c, r, suffix, buf);
}

/*
 * "<model>-<part>-..." of the sanitised parts, "-SHARED" when replicated and not renamed.
 * Our rule: when that is longer than a label value may be, the model part (first) is
 * shortened (gdp_labels_fit) so that the MIG profile and -SHARED stay readable.
 */
/* Appends "-" and s to buf (of size size), cutting what does not fit. */
static void
append_part(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);
    if (len + 1 < size) {
        buf[len++] = '-';
        buf[len] = '\0';
        (void)gdp_strlcpy(buf + len, s, size - len);
    }
}

static void
product_name(const struct ctx *c, const struct res *r, const char *const *parts, size_t n,
             char *buf, size_t size)
{
    char model[NAME_BUF], rest[NAME_BUF] = "";
    gdp_labels_sanitise(parts[0], model, sizeof model);
    for (size_t i = 1; i < n; i++) {
        char part[NAME_BUF];
        gdp_labels_sanitise(parts[i], part, sizeof part);
        append_part(rest, sizeof rest, part);
    }
    if (res_replicas(r) > 1 && r->rep != NULL && r->rep->rename == NULL) {
        append_part(rest, sizeof rest, "SHARED");
    }
    (void)snprintf(buf, size, "%s%s", model, model[0] != '\0' ? rest : rest + 1);
    size_t room = strlen(rest) < GDP_LABEL_MAX - 16 ? GDP_LABEL_MAX - strlen(rest) : 16;
    if (strlen(buf) > GDP_LABEL_MAX && gdp_labels_fit(model, room)) {
        gdp_labels_warn(c->l,
                        "%s.product: \"%s\" is longer than %d characters; written as "
                        "\"%s%s\"",
                        r->name, buf, GDP_LABEL_MAX, model, rest);
        (void)snprintf(buf, size, "%s%s", model, rest);
    }
}

/* product, count, replicas and sharing-strategy (NVIDIA's baseLabeler). */
static void
base_labels(const struct ctx *c, const struct res *r, size_t count, const char *const *parts,
            size_t n)
{
    char product[NAME_BUF * 2];
    product_name(c, r, parts, n, product, sizeof product);
    unsigned replicas = res_replicas(r);
    res_set(c, r, "product", product);
    res_setu(c, r, "count", count);
    res_setu(c, r, "replicas", replicas);
    res_set(c, r, "sharing-strategy",
            r->sharing && replicas > 1 ? gdp_sharing_strategy_name(r->strategy) : "none");
}

static const char *
arch_family(int major, int minor)
{
    static const char *const by_major[] = {NULL,        "tesla",  "fermi",     "kepler", NULL,
                                           "maxwell",   "pascal", NULL,        NULL,     "hopper",
                                           "blackwell", NULL,     "blackwell", "rubin"};
    if (major == 7) {
        return minor < 5 ? "volta" : "turing";
    }
    if (major == 8) {
        return minor < 9 ? "ampere" : "ada-lovelace";
    }
    if (major >= 0 && (size_t)major < ELEMENTSOF(by_major) && by_major[major] != NULL) {
        return by_major[major];
    }
    return "undefined";
}

/* The labels of a full GPU model (NVIDIA's NewGPUResourceLabeler). */
static void
gpu_model_labels(const struct ctx *c, const struct gdp_device *d, size_t count, bool sharing)
{
    struct res r;
    res_init(&r, c, GPU_RES, sharing);
    const char *parts[] = {d->name};
    base_labels(c, &r, count, parts, 1);
    uint64_t mib = d->memory_bytes >> 20;
    if (mib != 0) {
        res_setu(c, &r, "memory", mib);
    }
    if (d->cc_major != 0) {
        res_set(c, &r, "family", arch_family(d->cc_major, d->cc_minor));
        res_setu(c, &r, "compute.major", (uint64_t)d->cc_major);
        res_setu(c, &r, "compute.minor", (uint64_t)d->cc_minor);
    }
}

/* The labels of one MIG resource (NVIDIA's NewMIGResourceLabeler). */
static void
mig_labels(const struct ctx *c, const char *name, const struct gdp_device *m, size_t count)
{
    struct res r;
    res_init(&r, c, name, true);
    const struct gdp_device *parent = gdp_device_gpu(c->node, m);
    char profile[GDP_PROFILE_MAX];
    mig_name(m, profile, sizeof profile);
    const char *parts[] = {parent->name, "MIG", profile};
    base_labels(c, &r, count, parts, 3);
    res_setu(c, &r, "memory", m->mig_memory_mib);
    res_setu(c, &r, "multiprocessors", m->multiprocessors);
    res_setu(c, &r, "slices.gi", m->gi_slices);
    res_setu(c, &r, "slices.ci", m->ci_slices);
    res_setu(c, &r, "engines.copy", m->engines_copy);
    res_setu(c, &r, "engines.decoder", m->engines_decoder);
    res_setu(c, &r, "engines.encoder", m->engines_encoder);
    res_setu(c, &r, "engines.jpeg", m->engines_jpeg);
    res_setu(c, &r, "engines.ofa", m->engines_ofa);
}

static bool
is_gpu(const struct gdp_device *d)
{
    return d->kind == GDP_DEVICE_GPU;
}

/* GPUs named like d, and the first of them (the model's representative). */
static size_t
model_count(const struct gdp_node *node, const char *name, size_t *ret_first)
{
    size_t n = 0;
    for (size_t i = node->n_devices; i-- > 0;) {
        if (is_gpu(&node->devices[i]) && streq(node->devices[i].name, name)) {
            *ret_first = i;
            n++;
        }
    }
    return n;
}

/* Whether GPU i is the first of its model (so each model is visited once). */
static bool
first_of_model(const struct gdp_node *node, size_t i)
{
    size_t first = i;
    (void)model_count(node, node->devices[i].name, &first);
    return first == i;
}

/*
 * The model whose labels go under nvidia.com/gpu.*. NVIDIA writes every model's labels to the
 * same keys in Go map order, full GPUs after MIG-enabled ones; we keep "full GPUs win" and
 * break the tie by the most GPUs, then the lowest NVML index.
 */
static const struct gdp_device *
winning_model(const struct gdp_node *node, size_t *ret_models, size_t *ret_count, bool *ret_full)
{
    const struct gdp_device *best = NULL;
    size_t best_n = 0, first = 0;
    bool best_full = false;
    *ret_models = 0;
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (!is_gpu(d) || !first_of_model(node, i)) {
            continue;
        }
        (*ret_models)++;
        size_t n = model_count(node, d->name, &first);
        bool full = false;
        for (size_t j = i; j < node->n_devices; j++) {
            const struct gdp_device *e = &node->devices[j];
            full = full || (is_gpu(e) && !e->mig_enabled && streq(e->name, d->name));
        }
        if (best == NULL || (full && !best_full) || (full == best_full && n > best_n)) {
            best = d;
            best_n = n;
            best_full = full;
        }
    }
    *ret_count = best_n;
    *ret_full = best_full;
    return best;
}

/* Our addition: nvidia.com/gpu.count.<model> for every model on the node. */
static void
per_model_counts(const struct ctx *c)
{
    const struct gdp_node *node = c->node;
    for (size_t i = 0; i < node->n_devices; i++) {
        if (!is_gpu(&node->devices[i]) || !first_of_model(node, i)) {
            continue;
        }
        size_t first = i;
        size_t n = model_count(node, node->devices[i].name, &first);
        char model[NAME_BUF], key[NAME_BUF + 32];
        gdp_labels_sanitise(node->devices[i].name, model, sizeof model);
        /* the name part ("gpu.count." + model) must stay within 63 characters */
        (void)gdp_labels_fit(model, GDP_LABEL_MAX - strlen("gpu.count."));
        (void)snprintf(key, sizeof key, GPU_RES ".count.%s", model);
        gdp_labels_set(c->l, key, "%zu", n);
    }
}

static void
full_gpu_labels(const struct ctx *c)
{
    size_t models = 0, count = 0;
    bool full = false;
    const struct gdp_device *win = winning_model(c->node, &models, &count, &full);
    if (win == NULL) {
        return;
    }
    if (models > 1) {
        gdp_labels_warn(c->l,
                        "%zu GPU models on this node; nvidia.com/gpu.* labels describe %s (%zu "
                        "GPUs), nvidia.com/gpu.count.<model> counts each model",
                        models, win->name, count);
    }
    /* MIG-enabled GPUs are labelled without sharing information (replicas 0) */
    gpu_model_labels(c, win, count, full);
    per_model_counts(c);
}

/* NVIDIA's labels for an invalid mig-strategy=single layout (product <model>-MIG-INVALID). */
static void
mig_invalid_labels(const struct ctx *c, const struct gdp_device *gpu, const char *why)
{
    struct res r;
    char model[NAME_BUF];
    res_init(&r, c, GPU_RES, false);
    gdp_labels_warn(c->l, "invalid configuration detected for mig-strategy=single: %s", why);
    gdp_labels_sanitise(gpu->name, model, sizeof model);
    (void)snprintf(model + strlen(model), sizeof model - strlen(model), "-MIG-INVALID");
    res_set(c, &r, "product", model);
    res_setu(c, &r, "count", 0);
    res_setu(c, &r, "replicas", 0);
    res_setu(c, &r, "memory", 0);
    res_set(c, &r, "sharing-strategy", "");
}

/* MIG devices with profile `profile`, and the first of them. */
static size_t
profile_count(const struct gdp_node *node, const char *profile, size_t *ret_first)
{
    size_t n = 0;
    for (size_t i = node->n_devices; i-- > 0;) {
        const struct gdp_device *d = &node->devices[i];
        if (d->kind == GDP_DEVICE_MIG && streq(d->profile, profile)) {
            *ret_first = i;
            n++;
        }
    }
    return n;
}

static bool
first_of_profile(const struct gdp_node *node, size_t i)
{
    size_t first = i;
    (void)profile_count(node, node->devices[i].profile, &first);
    return first == i;
}

static void
mig_single_labels(const struct ctx *c)
{
    const struct gdp_node *node = c->node;
    const struct gdp_device *first_mig_gpu = NULL, *mig = NULL;
    bool empty = false, non_mig = false;
    size_t profiles = 0;
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (is_gpu(d)) {
            first_mig_gpu = first_mig_gpu == NULL && d->mig_enabled ? d : first_mig_gpu;
            empty = empty || (d->mig_enabled && d->n_mig == 0);
            non_mig = non_mig || !d->mig_enabled;
        } else if (first_of_profile(node, i)) {
            mig = mig == NULL ? d : mig;
            profiles++;
        }
    }
    if (first_mig_gpu == NULL) {
        return; /* no MIG-enabled GPU: the same as mig-strategy=none */
    }
    if (empty) {
        mig_invalid_labels(c, first_mig_gpu, "at least one MIG device is enabled but empty");
    } else if (non_mig) {
        mig_invalid_labels(c, first_mig_gpu, "devices with MIG enabled and disable detected");
    } else if (profiles != 1) {
        mig_invalid_labels(c, first_mig_gpu, "more than one MIG device type present on node");
    } else {
        size_t first = 0;
        mig_labels(c, GPU_RES, mig, profile_count(node, mig->profile, &first));
    }
}

static void
mig_mixed_labels(const struct ctx *c)
{
    const struct gdp_node *node = c->node;
    for (size_t i = 0; i < node->n_devices; i++) {
        const struct gdp_device *d = &node->devices[i];
        if (d->kind != GDP_DEVICE_MIG || !first_of_profile(node, i)) {
            continue;
        }
        char name[GDP_PROFILE_MAX + 32], profile[GDP_PROFILE_MAX];
        size_t first = 0;
        mig_name(d, profile, sizeof profile);
        (void)snprintf(name, sizeof name, P "mig-%s", profile);
        mig_labels(c, name, d, profile_count(node, d->profile, &first));
    }
}

/* Splits v on '.' into at most 3 parts of out (each < 32 bytes); returns the part count. */
static size_t
split_version(const char *v, char out[3][32])
{
    size_t n = 0;
    for (const char *p = v;; n++) {
        size_t len = strcspn(p, ".");
        if (n < 3) {
            (void)snprintf(out[n], sizeof out[n], "%.*s", (int)(len < 31 ? len : 31), p);
        }
        if (p[len] == '\0') {
            return n + 1;
        }
        p += len + 1;
    }
}

static int
version_labels(const struct ctx *c, struct gdp_diag *diag)
{
    const char *v = c->node->driver_version;
    char parts[3][32] = {"", "", ""};
    size_t n = split_version(v, parts);
    const char *major = parts[0], *minor = parts[1], *rev = parts[2];
    /* NVIDIA's rule: two or three dot-separated parts */
    if (n < 2 || n > 3) {
        return gdp_diag_set(diag, -EPROTO,
                            "error getting driver version: version \"%s\" does not match "
                            "format \"X.Y[.Z]\"",
                            v);
    }
    int cuda = c->node->cuda_version;
    gdp_labels_set(c->l, P "cuda.driver.major", "%s", major);
    gdp_labels_set(c->l, P "cuda.driver.minor", "%s", minor);
    gdp_labels_set(c->l, P "cuda.driver.rev", "%s", rev);
    gdp_labels_set(c->l, P "cuda.driver-version.major", "%s", major);
    gdp_labels_set(c->l, P "cuda.driver-version.minor", "%s", minor);
    gdp_labels_set(c->l, P "cuda.driver-version.revision", "%s", rev);
    gdp_labels_set(c->l, P "cuda.driver-version.full", "%s", v);
    gdp_labels_set(c->l, P "cuda.runtime.major", "%d", cuda / 1000);
    gdp_labels_set(c->l, P "cuda.runtime.minor", "%d", cuda % 1000 / 10);
    gdp_labels_set(c->l, P "cuda.runtime-version.major", "%d", cuda / 1000);
    gdp_labels_set(c->l, P "cuda.runtime-version.minor", "%d", cuda % 1000 / 10);
    gdp_labels_set(c->l, P "cuda.runtime-version.full", "%d.%d", cuda / 1000, cuda % 1000 / 10);
    return 0;
}

static int
capability_labels(const struct ctx *c, struct gdp_diag *diag)
{
    bool mig_capable = false, mig_enabled = false;
    for (size_t i = 0; i < c->node->n_devices; i++) {
        const struct gdp_device *d = &c->node->devices[i];
        mig_capable = mig_capable || (is_gpu(d) && d->mig_capable);
        mig_enabled = mig_enabled || (is_gpu(d) && d->mig_enabled);
    }
    gdp_labels_set(c->l, P "mig.capable", "%s", mig_capable ? "true" : "false");
    bool mps = c->in->cfg->sharing.strategy == GDP_SHARING_MPS;
    if (mps && mig_enabled) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "failed to check MPS-capable: MPS sharing is not supported for MIG "
                            "devices (a GPU has MIG enabled)");
    }
    gdp_labels_set(c->l, P "mps.capable", "%s", mps ? "true" : "false");
    return 0;
}

/* compute (3D controller), graphics (VGA controller), or unknown (mixed, other, unreadable). */
static void
mode_label(const struct ctx *c)
{
    int class = -2;
    bool same = true;
    for (size_t i = 0; i < c->node->n_devices; i++) {
        const struct gdp_device *d = &c->node->devices[i];
        if (!is_gpu(d)) {
            continue;
        }
        same = same && (class == -2 || class == d->pci_class) && d->pci_class >= 0;
        class = d->pci_class;
    }
    const char *mode = "unknown";
    if (same && class == PCI_CLASS_3D) {
        mode = "compute";

    } else if (same && class == PCI_CLASS_VGA) {
        mode = "graphics";
    }

    gdp_labels_set(c->l, P "gpu.mode", "%s", mode);
}

/* "<cluster UUID>.<clique id>" when every fabric-attached GPU agrees. */
static void
clique_label(const struct ctx *c)
{
    const struct gdp_device *first = NULL;
    for (size_t i = 0; i < c->node->n_devices; i++) {
        const struct gdp_device *d = &c->node->devices[i];
        if (!is_gpu(d) || !d->fabric_attached) {
            continue;
        }
        if (first == NULL) {
            first = d;
        } else if (!streq(first->cluster_uuid, d->cluster_uuid) ||
                   first->clique_id != d->clique_id) {
            gdp_labels_warn(c->l,
                            "GPUs disagree on their NVLink fabric cluster or clique "
                            "(%s.%u vs %s.%u); no nvidia.com/gpu.clique label",
                            first->cluster_uuid, first->clique_id, d->cluster_uuid, d->clique_id);
            return;
        }
    }
    if (first != NULL) {
        gdp_labels_set(c->l, P "gpu.clique", "%s.%u", first->cluster_uuid, first->clique_id);
    }
}

static void
machine_label(const struct ctx *c)
{
    char machine[NAME_BUF] = "unknown";
    if (c->in->machine_type != NULL) {
        gdp_labels_sanitise(c->in->machine_type, machine, sizeof machine);
    }
    gdp_labels_set(c->l, P "gpu.machine", "%s", machine);
}

static size_t
n_gpus(const struct gdp_node *node)
{
    size_t n = 0;
    for (size_t i = 0; node != NULL && i < node->n_devices; i++) {
        n += is_gpu(&node->devices[i]) ? 1 : 0;
    }
    return n;
}

/* Our rule: every value valid for Kubernetes; a shortened one is named in a warning. */
static void
fit_values(struct gdp_labels *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (gdp_labels_valid_value(l->v[i].value)) {
            continue;
        }
        _cleanup_free_ char *full = gdp_strdup(l->v[i].value);
        (void)gdp_labels_fit_value(l->v[i].value);
        gdp_labels_warn(l,
                        "label %s: \"%s\" is not a valid Kubernetes label value (at most %d "
                        "characters of [A-Za-z0-9_.-]); written as \"%s\"",
                        l->v[i].key, full, GDP_LABEL_MAX, l->v[i].value);
    }
}

static int
device_labels(const struct ctx *c, struct gdp_diag *diag)
{
    machine_label(c);
    int r = version_labels(c, diag);
    r = r < 0 ? r : capability_labels(c, diag);
    if (r < 0) {
        return r;
    }
    full_gpu_labels(c);
    enum gdp_mig_strategy s = c->in->cfg->mig_strategy;
    if (s != GDP_MIG_NONE) {
        gdp_labels_set(c->l, P "mig.strategy", "%s", gdp_mig_strategy_name(s));
    }
    if (s == GDP_MIG_SINGLE) {
        mig_single_labels(c);
    } else if (s == GDP_MIG_MIXED) {
        mig_mixed_labels(c);
    }
    mode_label(c);
    clique_label(c);
    return 0;
}

int
gdp_labels_build(const struct gdp_labels_input *in, struct gdp_labels *ret, struct gdp_diag *diag)
{
    struct ctx c = {.in = in, .node = in->node, .l = ret};
    if (!in->cfg->gfd.no_timestamp) {
        gdp_labels_set(ret, P "gfd.timestamp", "%lld", (long long)in->now);
    }
    if (n_gpus(in->node) > 0) {
        int r = device_labels(&c, diag);
        if (r < 0) {
            return r;
        }
    }
    if (in->vgpu != NULL && in->vgpu->present) {
        gdp_labels_set(ret, P "vgpu.present", "%s", "true");
        gdp_labels_set(ret, P "vgpu.host-driver-version", "%s", in->vgpu->host_driver_version);
        gdp_labels_set(ret, P "vgpu.host-driver-branch", "%s", in->vgpu->host_driver_branch);
    }
    fit_values(ret);
    gdp_labels_sort(ret);
    return 0;
}
