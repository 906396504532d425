/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GPU topology: read through NVML once when the node is discovered (PCIe common ancestor per
 * pair, NVLinks per GPU with their far ends), kept as matrices in the device model with
 * NVIDIA's pair scores precomputed, so that preferred allocation and `list --topology` never
 * call NVML. One GPU failing its calls loses only its own links.
 */
#include "gpu/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "nvml/nvml.h"

void
gdp_topology_init(struct gdp_topology *t, size_t n)
{
    *t = (struct gdp_topology){.n = n};
    size_t cells = n * n > 0 ? n * n : 1;
    t->pcie = gdp_calloc(cells, sizeof *t->pcie);
    t->nvlinks = gdp_calloc(cells, sizeof *t->nvlinks);
    t->nvswitch = gdp_calloc(cells, sizeof *t->nvswitch);
    t->score = gdp_calloc(cells, sizeof *t->score);
    for (size_t i = 0; i < n; i++) {
        t->pcie[i * n + i] = GDP_PCIE_BOARD;
    }
}

void
gdp_topology_done(struct gdp_topology *t)
{
    if (t == NULL) {
        return;
    }
    free(t->pcie);
    free(t->nvlinks);
    free(t->nvswitch);
    free(t->score);
    *t = (struct gdp_topology){0};
}

unsigned
gdp_topology_pair_score(enum gdp_pcie_link pcie, unsigned nvlinks)
{
    return (unsigned)pcie * 10u + GDP_TOPO_NVLINK_SCORE * nvlinks;
}

void
gdp_topology_set(struct gdp_topology *t, size_t a, size_t b, enum gdp_pcie_link pcie,
                 unsigned nvlinks, bool nvswitch)
{
    size_t n = t->n;
    uint8_t k = (uint8_t)(nvlinks > GDP_NVML_NVLINK_MAX ? GDP_NVML_NVLINK_MAX : nvlinks);
    uint32_t score = gdp_topology_pair_score(pcie, k);
    t->pcie[a * n + b] = t->pcie[b * n + a] = (uint8_t)pcie;
    t->nvlinks[a * n + b] = t->nvlinks[b * n + a] = k;
    t->nvswitch[a * n + b] = t->nvswitch[b * n + a] = nvswitch && k > 0;
    t->score[a * n + b] = t->score[b * n + a] = score;
}

enum gdp_pcie_link
gdp_topology_from_nvml_level(unsigned level)
{
    switch (level) {
    case 0:
        return GDP_PCIE_BOARD;
    case 10:
        return GDP_PCIE_PIX;
    case 20:
        return GDP_PCIE_PXB;
    case 30:
        return GDP_PCIE_PHB;
    case 40:
        return GDP_PCIE_NODE;
    case 50:
        return GDP_PCIE_SYS;
    default:
        return GDP_PCIE_UNKNOWN;
    }
}

const char *
gdp_topology_label(const struct gdp_topology *t, size_t a, size_t b, char *buf, size_t len)
{
    static const char *const names[] = {"N/A", "SYS", "NODE", "PHB", "PXB", "PIX", "BRD"};
    if (a == b) {
        (void)gdp_strlcpy(buf, "X", len);
    } else if (t->nvlinks[a * t->n + b] > 0) {
        (void)snprintf(buf, len, "NV%u", (unsigned)t->nvlinks[a * t->n + b]);
    } else {
        (void)gdp_strlcpy(buf, names[t->pcie[a * t->n + b] % ELEMENTSOF(names)], len);
    }
    return buf;
}

/* What one GPU's NVLinks reach: links per other row, and links to NVSwitches. */
struct gpu_links {
    struct gdp_nvml_device *h; /* NULL: no handle */
    uint8_t *to;               /* per row */
    unsigned switch_links;
    bool failed; /* some topology call failed: its NVLinks are dropped */
};

struct reader {
    struct gdp_nvml *nv;
    struct gdp_node *node;
    size_t *dev_of; /* row -> position in node->devices */
    struct gpu_links *links;
};

static int
row_of_bus(const struct reader *rd, const char *nvml_bus_id)
{
    char bus[GDP_BUSID_MAX];
    gdp_bus_id_normalize(nvml_bus_id, bus, sizeof bus);
    for (size_t i = 0; i < rd->node->topology.n; i++) {
        if (streq(rd->node->devices[rd->dev_of[i]].bus_id, bus)) {
            return (int)i;
        }
    }
    return -1;
}

/* Walks every link of the GPU in row i; on any failure the GPU keeps no NVLinks. */
static void
read_links(struct reader *rd, size_t i)
{
    struct gpu_links *g = &rd->links[i];
    struct gdp_diag diag = {0};
    for (unsigned l = 0; l < GDP_NVML_NVLINK_MAX; l++) {
        char bus[GDP_NVML_BUSID_MAX];
        int r = gdp_nvml_device_nvlink_remote(rd->nv, g->h, l, bus, sizeof bus, &diag);
        if (r < 0) {
            memset(g->to, 0, rd->node->topology.n);
            g->switch_links = 0;
            g->failed = true;
            return;
        }
        if (r == 0) {
            continue;
        }
        int peer = row_of_bus(rd, bus);
        if (peer < 0) {
            g->switch_links++;
        } else if ((size_t)peer != i && g->to[peer] < UINT8_MAX) {
            g->to[peer]++;
        }
    }
}

static void
read_pair(struct reader *rd, size_t a, size_t b)
{
    struct gpu_links *ga = &rd->links[a], *gb = &rd->links[b];
    struct gdp_diag diag = {0};
    unsigned level = 0;
    enum gdp_pcie_link pcie = GDP_PCIE_UNKNOWN;
    if (ga->h != NULL && gb->h != NULL) {
        if (gdp_nvml_device_common_ancestor(rd->nv, ga->h, gb->h, &level, &diag) == 0) {
            pcie = gdp_topology_from_nvml_level(level);
        } else {
            ga->failed = gb->failed = true;
        }
    }
    /* both ends must see a direct link; a GPU that failed sees none */
    unsigned direct = ga->to[b] < gb->to[a] ? ga->to[b] : gb->to[a];
    unsigned via_switch = ga->switch_links < gb->switch_links ? ga->switch_links : gb->switch_links;
    bool sw = direct == 0 && via_switch > 0;
    gdp_topology_set(&rd->node->topology, a, b, pcie, sw ? via_switch : direct, sw);
}

/* Rows are the node's GPUs in order; MIG devices share their parent's row. */
static size_t
assign_rows(struct gdp_node *node, size_t *dev_of)
{
    size_t n = 0;
    for (size_t i = 0; i < node->n_devices; i++) {
        struct gdp_device *d = &node->devices[i];
        if (d->kind == GDP_DEVICE_GPU) {
            dev_of[n] = i;
            d->topo = (int)n++;
        } else {
            d->topo = d->parent >= 0 ? node->devices[d->parent].topo : -1;
        }
    }
    return n;
}

void
gdp_topology_read(struct gdp_nvml *nv, struct gdp_node *node)
{
    _cleanup_free_ size_t *dev_of = gdp_calloc(node->n_devices + 1, sizeof *dev_of);
    size_t n = assign_rows(node, dev_of);
    gdp_topology_done(&node->topology);
    gdp_topology_init(&node->topology, n);
    _cleanup_free_ struct gpu_links *links = gdp_calloc(n + 1, sizeof *links);
    _cleanup_free_ uint8_t *to = gdp_calloc(n * n + 1, 1);
    struct reader rd = {.nv = nv, .node = node, .dev_of = dev_of, .links = links};
    for (size_t i = 0; i < n; i++) {
        struct gdp_diag diag = {0};
        links[i].to = &to[i * n];
        if (gdp_nvml_device_by_index(nv, node->devices[dev_of[i]].index, &links[i].h, &diag) < 0) {
            links[i].h = NULL;
            links[i].failed = true;
            continue;
        }
        read_links(&rd, i);
    }
    for (size_t a = 0; a < n; a++) {
        for (size_t b = a + 1; b < n; b++) {
            read_pair(&rd, a, b);
        }
    }
    for (size_t a = 0; a < n; a++) {
        node->topology.failed += links[a].failed;
    }
}
