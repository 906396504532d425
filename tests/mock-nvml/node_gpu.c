/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-GPU keys of the node file: identity, memory, PCI location, compute capability,
 * NUMA node, event types, fabric, addressing mode and NVLink peers, with their defaults.
 */
#include <stdio.h>
#include <string.h>

#include "node.h"

static const struct mock_name brand_names[] = {
        {"unknown", NVML_BRAND_UNKNOWN},
        {"quadro", NVML_BRAND_QUADRO},
        {"tesla", NVML_BRAND_TESLA},
        {"nvs", NVML_BRAND_NVS},
        {"grid", NVML_BRAND_GRID},
        {"geforce", NVML_BRAND_GEFORCE},
        {"titan", NVML_BRAND_TITAN},
        {"nvidia_vapps", NVML_BRAND_NVIDIA_VAPPS},
        {"nvidia_vpc", NVML_BRAND_NVIDIA_VPC},
        {"nvidia_vcs", NVML_BRAND_NVIDIA_VCS},
        {"nvidia_vws", NVML_BRAND_NVIDIA_VWS},
        {"nvidia_cloud_gaming", NVML_BRAND_NVIDIA_CLOUD_GAMING},
        {"quadro_rtx", NVML_BRAND_QUADRO_RTX},
        {"nvidia_rtx", NVML_BRAND_NVIDIA_RTX},
        {"nvidia", NVML_BRAND_NVIDIA},
        {"geforce_rtx", NVML_BRAND_GEFORCE_RTX},
        {"titan_rtx", NVML_BRAND_TITAN_RTX},
        {NULL, 0},
};

static const struct mock_name arch_names[] = {
        {"kepler", NVML_DEVICE_ARCH_KEPLER},
        {"maxwell", NVML_DEVICE_ARCH_MAXWELL},
        {"pascal", NVML_DEVICE_ARCH_PASCAL},
        {"volta", NVML_DEVICE_ARCH_VOLTA},
        {"turing", NVML_DEVICE_ARCH_TURING},
        {"ampere", NVML_DEVICE_ARCH_AMPERE},
        {"ada", NVML_DEVICE_ARCH_ADA},
        {"hopper", NVML_DEVICE_ARCH_HOPPER},
        {"blackwell", NVML_DEVICE_ARCH_BLACKWELL},
        {"rubin", NVML_DEVICE_ARCH_RUBIN},
        {NULL, 0},
};

static const struct mock_name addressing_names[] = {
        {"none", NVML_DEVICE_ADDRESSING_MODE_NONE},
        {"hmm", NVML_DEVICE_ADDRESSING_MODE_HMM},
        {"ats", NVML_DEVICE_ADDRESSING_MODE_ATS},
        {NULL, 0},
};

static const struct mock_name fabric_state_names[] = {
        {"not_supported", NVML_GPU_FABRIC_STATE_NOT_SUPPORTED},
        {"not_started", NVML_GPU_FABRIC_STATE_NOT_STARTED},
        {"in_progress", NVML_GPU_FABRIC_STATE_IN_PROGRESS},
        {"completed", NVML_GPU_FABRIC_STATE_COMPLETED},
        {NULL, 0},
};

static int
gpu_uuid(struct pctx *c, yaml_node_t *v, void *obj)
{
    return node_uuid(c, v, "GPU-", ((struct nvmlDevice_st *)obj)->uuid);
}

static int
gpu_bus_id(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;
    const char *s = node_scalar(c, v, "bus_id");
    unsigned int dom, bus, dev, fn;
    int used = 0;

    if (s == NULL) {
        return -1;
    }
    if ((strlen(s) != 12 && strlen(s) != 16) ||
        sscanf(s, "%8x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &used) != 4 || s[used] != '\0' ||
        dev > 0x1f || fn > 7) {
        return node_err(c, v, "malformed PCI bus id '%s' (want DDDD:BB:DD.F or DDDDDDDD:BB:DD.F)",
                        s);
    }
    for (unsigned int i = 0; i < d->index; i++) {
        const struct nvmlDevice_st *o = &c->node->devs[i];
        if (o->pci_domain == dom && o->pci_bus == bus && o->pci_dev == dev && o->pci_fn == fn) {
            return node_err(c, v, "duplicate PCI bus id '%s' (also GPU %u)", s, i);
        }
    }
    d->pci_domain = dom;
    d->pci_bus = bus;
    d->pci_dev = dev;
    d->pci_fn = fn;
    return 0;
}

static const struct field pci_fields[] = {
        {.key = "bus_id", .type = F_FN, .fn = gpu_bus_id, .required = true},
        {.key = "device_id",
         .type = F_UINT,
         .off = offsetof(struct nvmlDevice_st, pci_device_id),
         .size = FIELD_SIZE_(struct nvmlDevice_st, pci_device_id),
         .max = 0xFFFFFFFFu,
         .required = true},
        F_UINT_("subsystem_id", struct nvmlDevice_st, pci_subsystem_id, 0xFFFFFFFFu),
};

static int
gpu_pci(struct pctx *c, yaml_node_t *v, void *obj)
{
    return node_fields(c, v, pci_fields, MOCK_ELEMENTSOF(pci_fields), obj, "pci");
}

static int
gpu_cc(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;
    const char *s = node_scalar(c, v, "compute_capability");
    int used = 0;

    if (s == NULL) {
        return -1;
    }
    if (sscanf(s, "%2u.%1u%n", &d->cc_major, &d->cc_minor, &used) != 2 || s[used] != '\0') {
        return node_err(c, v, "compute_capability: want MAJOR.MINOR such as 8.0, not '%s'", s);
    }
    return 0;
}

static int
gpu_numa(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;
    const char *s = node_scalar(c, v, "numa_node");
    unsigned long long u;

    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "none") == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || *s == '\0') {
        d->numa_node = -1;
        return 0;
    }
    if (node_uint(c, v, 1023, "numa_node", &u) < 0) {
        return -1;
    }
    d->numa_node = (int)u;
    return 0;
}

static int
gpu_events(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;
    size_t n;
    yaml_node_item_t *items;
    unsigned long long bit;

    if (v->type == YAML_SCALAR_NODE) {
        return node_uint(c, v, nvmlEventTypeAll, "event_types", &d->event_types);
    }
    items = node_items(c, v, "event_types", &n);
    if (items == NULL) {
        return -1;
    }
    d->event_types = 0;
    for (size_t i = 0; i < n; i++) {
        if (node_enum(c, node_get(c, items[i]), mock_event_names, "event type", &bit) < 0) {
            return -1;
        }
        d->event_types |= bit;
    }
    return 0;
}

static int
hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static int
fabric_uuid(struct pctx *c, yaml_node_t *v, void *obj)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    struct nvmlDevice_st *d = obj;
    const char *s = node_scalar(c, v, "cluster_uuid");
    bool ok;
    size_t k = 0;

    if (s == NULL) {
        return -1;
    }
    ok = strlen(s) == sizeof shape - 1;
    for (size_t i = 0; ok && i < sizeof shape - 1; i++) {
        int nib = hex_digit(s[i]);
        ok = shape[i] == '-' ? s[i] == '-' : nib >= 0;
        if (ok && shape[i] != '-') {
            d->fabric.cluster_uuid[k / 2] =
                    (unsigned char)((unsigned int)d->fabric.cluster_uuid[k / 2] << 4 |
                                    (unsigned int)nib);
            k++;
        }
    }
    if (!ok) {
        return node_err(c, v, "cluster_uuid: want %s (hex), not '%s'", shape, s);
    }
    return 0;
}

static int
fabric_status(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;
    const char *s = node_scalar(c, v, "status");

    if (s != NULL && !mock_return_parse(s, &d->fabric.status)) {
        return node_err(c, v, "status: unknown NVML return code '%s'", s);
    }
    return s == NULL ? -1 : 0;
}

static const struct field fabric_fields[] = {
        {.key = "cluster_uuid", .type = F_FN, .fn = fabric_uuid, .required = true},
        {.key = "clique_id",
         .type = F_UINT,
         .off = offsetof(struct nvmlDevice_st, fabric.clique_id),
         .size = FIELD_SIZE_(struct nvmlDevice_st, fabric.clique_id),
         .max = 0xFFFFFFFFu,
         .required = true},
        F_ENUM_("state", struct nvmlDevice_st, fabric.state, fabric_state_names),
        F_FN_("status", fabric_status),
};

static int
gpu_fabric(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;

    d->fabric.present = true;
    d->fabric.state = NVML_GPU_FABRIC_STATE_COMPLETED;
    return node_fields(c, v, fabric_fields, MOCK_ELEMENTSOF(fabric_fields), obj, "fabric");
}

static int
gpu_addressing(struct pctx *c, yaml_node_t *v, void *obj)
{
    struct nvmlDevice_st *d = obj;
    unsigned long long u;

    if (node_enum(c, v, addressing_names, "addressing_mode", &u) < 0) {
        return -1;
    }
    d->has_addressing_mode = true;
    d->addressing_mode = (unsigned int)u;
    return 0;
}

static int
gpu_nvlink(struct pctx *c, yaml_node_t *v, void *obj)
{
    c->nvlink[((struct nvmlDevice_st *)obj)->index] = v;
    return 0;
}

static int
gpu_mig(struct pctx *c, yaml_node_t *v, void *obj)
{
    (void)obj;
    c->mig = v;
    return 0;
}

static const struct field gpu_fields[] = {
        {.key = "name",
         .type = F_STR,
         .off = offsetof(struct nvmlDevice_st, name),
         .size = FIELD_SIZE_(struct nvmlDevice_st, name),
         .required = true},
        {.key = "uuid", .type = F_FN, .fn = gpu_uuid, .required = true},
        F_STR_("serial", struct nvmlDevice_st, serial),
        F_STR_("board_part_number", struct nvmlDevice_st, part_number),
        F_ENUM_("brand", struct nvmlDevice_st, brand, brand_names),
        F_ENUM_("architecture", struct nvmlDevice_st, arch, arch_names),
        {.key = "memory_mib",
         .type = F_UINT,
         .off = offsetof(struct nvmlDevice_st, mem_mib),
         .size = FIELD_SIZE_(struct nvmlDevice_st, mem_mib),
         .max = 1u << 24,
         .required = true},
        {.key = "pci", .type = F_FN, .fn = gpu_pci, .required = true},
        F_UINT_("minor", struct nvmlDevice_st, minor, 254),
        {.key = "compute_capability", .type = F_FN, .fn = gpu_cc, .required = true},
        F_FN_("numa_node", gpu_numa),
        F_FN_("nvlink", gpu_nvlink),
        F_FN_("event_types", gpu_events),
        F_BOOL_("accessible", struct nvmlDevice_st, accessible),
        F_FN_("fabric", gpu_fabric),
        F_FN_("addressing_mode", gpu_addressing),
        F_FN_("mig", gpu_mig),
};

/* The architecture a compute capability implies, for GPUs that do not name it. */
static unsigned int
arch_of(unsigned int major, unsigned int minor)
{
    static const unsigned int by_major[] = {
            [3] = NVML_DEVICE_ARCH_KEPLER,     [5] = NVML_DEVICE_ARCH_MAXWELL,
            [6] = NVML_DEVICE_ARCH_PASCAL,     [7] = NVML_DEVICE_ARCH_VOLTA,
            [8] = NVML_DEVICE_ARCH_AMPERE,     [9] = NVML_DEVICE_ARCH_HOPPER,
            [10] = NVML_DEVICE_ARCH_BLACKWELL, [12] = NVML_DEVICE_ARCH_BLACKWELL,
    };

    if (major == 7 && minor >= 5) {
        return NVML_DEVICE_ARCH_TURING;
    }
    if (major == 8 && minor == 9) {
        return NVML_DEVICE_ARCH_ADA;
    }
    if (major < MOCK_ELEMENTSOF(by_major) && by_major[major] != 0) {
        return by_major[major];
    }
    return NVML_DEVICE_ARCH_UNKNOWN;
}

int
node_gpu(struct pctx *c, yaml_node_t *map, unsigned int index)
{
    struct nvmlDevice_st *d = &c->node->devs[index];

    d->index = index;
    d->minor = index;
    d->numa_node = -1;
    d->accessible = true;
    d->brand = NVML_BRAND_NVIDIA;
    d->arch = NVML_DEVICE_ARCH_UNKNOWN;
    d->event_types = ~0ULL;
    d->fabric.status = NVML_SUCCESS;
    for (unsigned int i = 0; i < NVML_NVLINK_MAX_LINKS; i++) {
        d->links[i].peer = -1;
        d->links[i].nvswitch = -1;
    }
    c->mig = NULL;
    if (node_fields(c, map, gpu_fields, MOCK_ELEMENTSOF(gpu_fields), d, "a GPU") < 0) {
        return -1;
    }
    for (unsigned int i = 0; i < index; i++) {
        if (c->node->devs[i].minor == d->minor) {
            return node_err(c, map, "GPU %u has the same minor number %u as GPU %u", index,
                            d->minor, i);
        }
    }
    if (d->arch == NVML_DEVICE_ARCH_UNKNOWN) {
        d->arch = arch_of(d->cc_major, d->cc_minor);
    }
    if (c->mig != NULL && node_mig(c, c->mig, d) < 0) {
        return -1;
    }
    if (d->event_types == ~0ULL) {
        /* default: ECC, P-state, XID and clock events, plus MIG changes on MIG-capable GPUs */
        d->event_types = nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError |
                         nvmlEventTypePState | nvmlEventTypeXidCriticalError | nvmlEventTypeClock |
                         (d->mig_capable ? nvmlEventMigConfigChange : 0);
    }
    return 0;
}

struct peer_spec {
    unsigned int gpu;
    unsigned int nvswitch;
    unsigned int links;
};

#define NO_PEER 0xFFFFFFFFu

static const struct field peer_fields[] = {
        F_UINT_("gpu", struct peer_spec, gpu, MOCK_MAX_GPUS - 1),
        F_UINT_("nvswitch", struct peer_spec, nvswitch, MOCK_MAX_SWITCHES - 1),
        F_UINT_("links", struct peer_spec, links, NVML_NVLINK_MAX_LINKS),
};

/* One link item: a GPU index, {gpu: i, links: k} or {nvswitch: s, links: k}. */
static int
parse_peer(struct pctx *c, yaml_node_t *v, struct peer_spec *p)
{
    unsigned long long u;

    if (v->type == YAML_SCALAR_NODE) {
        if (node_uint(c, v, MOCK_MAX_GPUS - 1, "peer", &u) < 0) {
            return -1;
        }
        p->gpu = (unsigned int)u;
        return 0;
    }
    if (node_fields(c, v, peer_fields, MOCK_ELEMENTSOF(peer_fields), p, "a peer") < 0) {
        return -1;
    }
    if ((p->gpu == NO_PEER) == (p->nvswitch == NO_PEER)) {
        return node_err(c, v, "a peer names either gpu or nvswitch");
    }
    return 0;
}

static int
add_peer(struct pctx *c, struct nvmlDevice_st *d, yaml_node_t *v, unsigned int *used)
{
    struct peer_spec p = {.gpu = NO_PEER, .nvswitch = NO_PEER, .links = 1};

    if (parse_peer(c, v, &p) < 0) {
        return -1;
    }
    if (p.nvswitch == NO_PEER && (p.gpu >= c->node->n_gpus || p.gpu == d->index)) {
        return node_err(c, v, "nvlink peer %u is not another GPU of this node", p.gpu);
    }
    if (*used + p.links > NVML_NVLINK_MAX_LINKS) {
        return node_err(c, v, "more than %d NVLinks", NVML_NVLINK_MAX_LINKS);
    }
    for (unsigned int i = 0; i < p.links; i++) {
        d->links[*used].peer = p.nvswitch == NO_PEER ? (int)p.gpu : -1;
        d->links[(*used)++].nvswitch = p.nvswitch == NO_PEER ? -1 : (int)p.nvswitch;
    }
    return 0;
}

struct nvlink_spec {
    unsigned int links;
    yaml_node_t *peers;
};

static int
nvlink_peers(struct pctx *c, yaml_node_t *v, void *obj)
{
    ((struct nvlink_spec *)obj)->peers = v;
    return node_items(c, v, "peers", &(size_t){0}) != NULL ? 0 : -1;
}

static const struct field nvlink_fields[] = {
        {.key = "links",
         .type = F_UINT,
         .off = offsetof(struct nvlink_spec, links),
         .size = sizeof(unsigned int),
         .max = NVML_NVLINK_MAX_LINKS,
         .required = true},
        F_FN_("peers", nvlink_peers),
};

int
node_gpu_links(struct pctx *c, unsigned int index)
{
    struct nvmlDevice_st *d = &c->node->devs[index];
    yaml_node_t *v = c->nvlink[index];
    struct nvlink_spec s = {0};
    unsigned int used = 0;

    if (v == NULL) {
        return 0;
    }
    if (node_fields(c, v, nvlink_fields, MOCK_ELEMENTSOF(nvlink_fields), &s, "nvlink") < 0) {
        return -1;
    }
    for (yaml_node_item_t *it = s.peers ? s.peers->data.sequence.items.start : NULL;
         it != NULL && it < s.peers->data.sequence.items.top; it++) {
        if (add_peer(c, d, node_get(c, *it), &used) < 0) {
            return -1;
        }
    }
    if (used > s.links) {
        return node_err(c, v, "nvlink: peers use %u links but the GPU has %u", used, s.links);
    }
    d->nvlink_count = s.links;
    return 0;
}
