# SPDX-License-Identifier: Apache-2.0
"""Topology-aware preferred allocation as a user sees it: `list --topology` against the mock's
node files, GetPreferredAllocation on the DGX-1-like mesh over gRPC, and requests whose size
is bounded by the resource (a huge one is refused quickly with a clear status)."""
import time

import grpc
import pytest

from conftest import VALGRIND, gpus_of, load_node, stderr_lines  # noqa: F401
from daemon import Daemon

LEVELS = {"x": "X", "internal": "X", "single": "PIX", "pix": "PIX", "multiple": "PXB",
          "pxb": "PXB", "hostbridge": "PHB", "phb": "PHB", "node": "NODE", "system": "SYS",
          "sys": "SYS"}


def links(gpu):
    """(GPU peer -> links, NVSwitch links) of a GPU's nvlink section."""
    peers, switch = {}, 0
    for p in (gpu.get("nvlink") or {}).get("peers") or []:
        if isinstance(p, int):
            peers[p] = peers.get(p, 0) + 1
        elif "nvswitch" in p:
            switch += p.get("links", 1)
        else:
            peers[p["gpu"]] = peers.get(p["gpu"], 0) + p.get("links", 1)
    return peers, switch


def expected_matrix(node):
    gpus = gpus_of(node)
    topo = node.get("topology")
    rows = []
    for i, a in enumerate(gpus):
        pa, sa = links(a)
        row = []
        for j, b in enumerate(gpus):
            pb_, sb = links(b)
            nv = min(pa.get(j, 0), pb_.get(i, 0)) or (min(sa, sb) if sa and sb else 0)
            if i == j:
                row.append("X")
            elif nv:
                row.append(f"NV{nv}")
            elif topo:
                row.append(LEVELS[str(topo[i][j]).lower()])
            else:
                row.append("NODE" if a.get("numa_node") == b.get("numa_node") else "SYS")
        rows.append(row)
    return rows


def printed_matrix(out):
    lines = out.splitlines()
    start = lines.index("GPU topology:") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("GPU"):
            break
        rows.append(line.split()[1:-1])  # drop the row name and the NUMA affinity
    return rows


@pytest.mark.parametrize("node_file", ["dgx1-v100.yaml", "pcie-8gpu-2switch.yaml",
                                       "dgx2-v100x16.yaml", "dgx-a100.yaml", "pcie-t4x4.yaml"])
def test_list_topology_matches_node_file(plugin, node_file):
    node = load_node(node_file)
    p = plugin.run("list", "--topology", node=node_file)
    assert p.returncode == 0, p.stderr
    assert printed_matrix(p.stdout) == expected_matrix(node)
    assert "NV#  = Connection traversing a bonded set of # NVLinks" in p.stdout
    out = plugin.list_json("--topology", node=node_file)
    assert out["topology"]["matrix"] == expected_matrix(node)
    assert out["topology"]["gpus"] == [g["uuid"] for g in gpus_of(node)]


def test_list_without_topology_flag_prints_no_matrix(plugin):
    p = plugin.run("list", node="dgx1-v100.yaml")
    assert p.returncode == 0 and "GPU topology:" not in p.stdout
    assert "topology" not in plugin.list_json(node="dgx1-v100.yaml")


DGX1 = [g["uuid"] for g in gpus_of(load_node("dgx1-v100.yaml"))]
A100 = [g["uuid"] for g in gpus_of(load_node("dgx-a100.yaml"))]


@pytest.fixture
def dgx1(plugin, tmp_path):
    d = Daemon(plugin, tmp_path, node="dgx1-v100.yaml")
    d.kubelet.wait_registration()
    yield d.client()
    d.close()


def ids(resp):
    return list(resp.container_responses[0].deviceIDs)


def test_preferred_allocation_best_connected_on_the_mesh(dgx1):
    # the example: size 4 with GPU 4 required is 4,5,6,7 (NVLinks 1,1,2,2,1,2 and two
    # shared PCIe switches), not 0,1,2,4 (NVML order)
    assert ids(dgx1.preferred(DGX1[::-1], [DGX1[4]], 4)) == DGX1[4:8]
    # size 2: a pair joined by two NVLinks under one PCIe switch (2,3 or 6,7)
    assert ids(dgx1.preferred(DGX1, [], 2)) in (DGX1[2:4], DGX1[6:8])
    # with GPU 7 taken: GPU 6's best partner is 5 (NV2) over 4 (NV1)
    assert ids(dgx1.preferred(DGX1[:7], [DGX1[6]], 2)) == [DGX1[6], DGX1[5]]
    # every GPU: must-include first, then NVML order
    assert ids(dgx1.preferred(DGX1[::-1], [DGX1[3]], 8)) == [DGX1[3]] + DGX1[:3] + DGX1[4:]


def test_preferred_allocation_skips_unknown_devices(dgx1):
    unknown = "GPU-00000000-0000-4000-8000-00000000dead"
    assert ids(dgx1.preferred([unknown] + DGX1[4:8], [unknown, DGX1[4]], 4)) == DGX1[4:8]
    with pytest.raises(grpc.RpcError) as e:  # what is left cannot satisfy the size
        dgx1.preferred([unknown] + DGX1[:2], [], 3)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not enough available devices to satisfy allocation" in e.value.details()


def test_huge_requests_are_refused_quickly(plugin, tmp_path):
    """Request lists are bounded by the resource's size before any work: 90,000 IDs (3.8 MB)
    are refused with a clear status, and an ordinary call right after is still quick."""
    d = Daemon(plugin, tmp_path)
    try:
        d.kubelet.wait_registration()
        c = d.client()
        huge = [f"{A100[i % 8][:-5]}{i:05d}" for i in range(90000)]
        bound = 5.0 * (20 if VALGRIND else 1)  # generous: the answer takes milliseconds
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            c.preferred(huge, [], 1)
        assert time.monotonic() - t0 < bound
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "request lists 90000 available devices but nvidia.com/gpu has 8 devices" in \
            e.value.details()
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            c.allocate(huge)
        assert time.monotonic() - t0 < bound
        assert "90000 device IDs requested but nvidia.com/gpu has 8 devices" in e.value.details()
        assert len(ids(c.preferred(A100, [], 8))) == 8  # still serving
    finally:
        d.close()
