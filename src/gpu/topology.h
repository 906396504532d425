/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's GPU topology (struct gdp_topology in gpu/device.h): read through NVML once per
 * discovery, scored as NVIDIA's go-gpuallocator scores pairs, and printed as
 * `nvidia-smi topo -m` prints it. Nothing here calls NVML after discovery.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "gpu/device.h"

struct gdp_diag;
struct gdp_nvml;

#define GDP_TOPO_NVLINK_SCORE 100u /* per NVLink joining two GPUs */
#define GDP_TOPO_LABEL_MAX    8    /* "NV36", "NODE", "X" ... */

/*
 * Reads the topology of node's GPUs through an open NVML into node->topology and sets each
 * device's `topo` row: per pair one nvmlDeviceGetTopologyCommonAncestor, per GPU each link's
 * nvmlDeviceGetNvLinkState and nvmlDeviceGetNvLinkRemotePciInfo_v2. A link whose far end is
 * another GPU of the node joins that pair; one whose far end is no GPU of the node is an
 * NVSwitch link, and two GPUs on NVSwitches are joined by the fewer of their switch links. A
 * GPU whose NVLink calls fail is kept with no NVLinks; a pair whose common-ancestor call
 * fails has an unknown PCIe relation; either counts the GPU in node->topology.failed. Never
 * fails; replaces any earlier topology.
 */
void gdp_topology_read(struct gdp_nvml *nv, struct gdp_node *node);

/* Allocates an n-GPU topology with unknown relations and no links. Release with _done(). */
void gdp_topology_init(struct gdp_topology *t, size_t n);

/* Frees what t owns and zeroes it. Accepts a zeroed topology. */
void gdp_topology_done(struct gdp_topology *t);

/* Sets the (symmetric) relation of rows a != b and its score. */
void gdp_topology_set(struct gdp_topology *t, size_t a, size_t b, enum gdp_pcie_link pcie,
                      unsigned nvlinks, bool nvswitch);

/*
 * NVIDIA's pair score: across sockets 10, same NUMA node 20, host bridge 30, multiple switches
 * 40, single switch 50, same board 60 (unknown 0), plus 100 per NVLink.
 */
unsigned gdp_topology_pair_score(enum gdp_pcie_link pcie, unsigned nvlinks);

/* Maps NVML's level value (0, 10, ..., 50) to the relation; unknown values give UNKNOWN. */
enum gdp_pcie_link gdp_topology_from_nvml_level(unsigned level);

/*
 * The cell of `nvidia-smi topo -m` for rows a and b into buf (GDP_TOPO_LABEL_MAX bytes): "X"
 * on the diagonal, "NV<k>" for k NVLinks, else PIX, PXB, PHB, NODE, SYS, "BRD" for two GPUs
 * of one board (nvidia-smi has no label for it) or "N/A" when unknown. Returns buf.
 */
const char *gdp_topology_label(const struct gdp_topology *t, size_t a, size_t b, char *buf,
                               size_t len);

/* The score of two rows, 0 when either is outside t (e.g. -1, a GPU without topology). */
static inline unsigned
gdp_topology_score(const struct gdp_topology *t, int a, int b)
{
    if (t == NULL || a < 0 || b < 0 || (size_t)a >= t->n || (size_t)b >= t->n) {
        return 0;
    }
    return t->score[(size_t)a * t->n + (size_t)b];
}
