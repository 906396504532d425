# SPDX-License-Identifier: Apache-2.0
"""`list --json` on every mock node file and every MIG strategy: resource names and device
IDs as NVIDIA's plugin names them, computed here independently from the node file."""
import json
import re

import pytest
import yaml

from conftest import (NODE_FILES, gpu_bus_id, gpu_minor, gpu_numa, gpus_of, load_node,
                      mig_cap_minor, mig_devices, stderr_lines, sysfs_bus_id)

STRATEGIES = ["none", "single", "mixed"]


def mig_enabled(gpu):
    return (gpu.get("mig") or {}).get("mode") == "enabled"


def expected_resources(node, strategy):
    """{resource name: [device ids]} in NVML order, or ('error', text) as NVIDIA refuses."""
    res = {}
    gpus = gpus_of(node)
    for gpu in gpus:
        if strategy == "none" or not mig_enabled(gpu):
            res.setdefault("nvidia.com/gpu", []).append(gpu["uuid"])
    if strategy == "none":
        return res
    migs = [m for g in gpus for m in mig_devices(g)]
    if strategy == "single":
        if any(mig_enabled(g) and not mig_devices(g) for g in gpus):
            return ("error", "no MIG devices")
        if len({m["profile"] for m in migs}) > 1:
            return ("error", "more than one MIG device type present on node")
        if res and migs:
            return ("error", "same migEnabled value")
        for m in migs:
            res.setdefault("nvidia.com/gpu", []).append(m["uuid"])
        return res
    for m in migs:
        if re.match(r"^\d+c\.", m["profile"]):
            return ("error", m["profile"])
        res.setdefault("nvidia.com/mig-" + m["profile"].replace("+", "."), []).append(m["uuid"])
    return res


CASES = [(n, s) for n in NODE_FILES for s in STRATEGIES]


@pytest.mark.parametrize("node_file,strategy", CASES)
def test_resources_and_ids_match_nvidia_naming(plugin, node_file, strategy):
    node = load_node(node_file)
    want = expected_resources(node, strategy)
    p = plugin.run("list", "--json", f"--mig-strategy={strategy}", node=node_file)
    if isinstance(want, tuple):
        assert p.returncode == 1
        assert p.stdout == ""
        lines = stderr_lines(p)
        assert len(lines) == 1 and want[1] in lines[0], p.stderr
        return
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    got = {r["name"]: [d["id"] for d in r["devices"]] for r in out["resources"]}
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in want.items()}
    assert [r["name"] for r in out["resources"]] == sorted(want)
    for r in out["resources"]:
        assert r["count"] == len(r["devices"])
        assert r["socket"] == "nvidia-" + r["name"].split("/", 1)[1] + ".sock"
        for d in r["devices"]:
            assert d["health"] == "Healthy" and d["reason"] is None
    assert out["migStrategy"] == strategy
    assert out["nvml"]["gpuCount"] == len(gpus_of(node))
    assert out["problems"] == []


def devices_by_id(out):
    return {d["id"]: d for r in out["resources"] for d in r["devices"]}


@pytest.mark.parametrize("node_file", NODE_FILES)
def test_gpu_attributes_come_from_nvml_and_sysfs(plugin, node_file):
    node = load_node(node_file)
    out = plugin.list_json(node=node_file)
    devs = devices_by_id(out)
    for i, gpu in enumerate(gpus_of(node)):
        d = devs[gpu["uuid"]]
        assert d["index"] == str(i) and d["type"] == "gpu"
        assert d["name"] == gpu["name"]
        assert d["memoryMiB"] == gpu["memory_mib"]
        assert d["computeCapability"] == gpu["compute_capability"]
        assert d["numaNode"] == gpu_numa(gpu)
        assert d["gpu"]["pciBusId"] == sysfs_bus_id(gpu_bus_id(gpu))
        assert d["deviceNodes"] == [f"/dev/nvidia{gpu_minor(gpu, i)}"]
    if gpus_of(node):
        assert out["nvml"]["driverVersion"] == node["driver_version"]
        v = node["cuda_driver_version"]
        assert out["nvml"]["cudaDriverVersion"] == f"{v // 1000}.{v % 1000 // 10}"


def test_embedded_default_is_eight_a100s(plugin):
    out = plugin.list_json()  # no MOCK_NVML_NODE: the mock's built-in DGX A100
    (res,) = out["resources"]
    assert res["name"] == "nvidia.com/gpu" and res["count"] == 8
    assert {d["name"] for d in res["devices"]} == {"NVIDIA A100-SXM4-40GB"}
    assert [d["index"] for d in res["devices"]] == [str(i) for i in range(8)]


def test_numa_is_null_without_sysfs(plugin):
    out = plugin.list_json(node="dgx-a100.yaml", sysfs=False)
    assert all(d["numaNode"] is None for d in devices_by_id(out).values())


def test_index_strategy_gives_index_runtime_ids(plugin):
    out = plugin.list_json("--device-id-strategy=index", "--mig-strategy=mixed",
                           node="h100x2-mig-mixed.yaml")
    for d in devices_by_id(out).values():
        assert d["runtimeId"] == d["index"]
        assert re.fullmatch(r"[01]:\d", d["index"])
    out = plugin.list_json(node="h100x2-mig-mixed.yaml")
    assert all(d["runtimeId"] == d["id"] for d in devices_by_id(out).values())


def test_mig_devices_carry_profile_parent_and_capability_nodes(plugin):
    node = load_node("h100x2-mig-mixed.yaml")
    out = plugin.list_json("--mig-strategy=mixed", node="h100x2-mig-mixed.yaml")
    devs = devices_by_id(out)
    for i, gpu in enumerate(gpus_of(node)):
        for m in mig_devices(gpu):
            d = devs[m["uuid"]]
            assert d["type"] == "mig"
            assert d["mig"]["profile"] == m["profile"]
            assert d["index"].startswith(f"{i}:")
            assert d["gpu"]["uuid"] == gpu["uuid"]
            assert d["numaNode"] == gpu_numa(gpu)
            assert d["computeCapability"] == gpu["compute_capability"]
            assert d["name"] == f"{gpu['name']} MIG {m['profile']}"
            minor = gpu_minor(gpu, i)
            gi, ci = d["mig"]["gi"], d["mig"]["ci"]
            assert d["deviceNodes"] == [
                f"/dev/nvidia{minor}",
                f"/dev/nvidia-caps/nvidia-cap{mig_cap_minor(minor, gi)}",
                f"/dev/nvidia-caps/nvidia-cap{mig_cap_minor(minor, gi, ci)}",
            ]


def test_mig_capability_nodes_absent_without_mig_minors(plugin):
    out = plugin.list_json("--mig-strategy=mixed", node="h100x2-mig-mixed.yaml", proc=False)
    for d in devices_by_id(out).values():
        assert len(d["deviceNodes"]) == 1


def test_mig_gpu_without_devices_warns_under_mixed_and_fails_single(plugin, tmp_path):
    node = load_node("a100-mig-single.yaml")
    node["gpus"][0]["mig"]["devices"] = []
    path = tmp_path / "empty-mig.yaml"
    path.write_text(yaml.safe_dump(node))
    out = plugin.list_json("--mig-strategy=mixed", node=str(path))
    assert len(out["warnings"]) == 1 and node["gpus"][0]["uuid"] in out["warnings"][0]
    assert [r["name"] for r in out["resources"]] == ["nvidia.com/mig-1g.5gb"]
    p = plugin.run("list", "--mig-strategy=single", node=str(path))
    assert p.returncode == 1 and "no MIG devices" in p.stderr


def test_text_output_lists_every_device(plugin):
    node = load_node("pcie-t4x4.yaml")
    p = plugin.run("list", node="pcie-t4x4.yaml")
    assert p.returncode == 0, p.stderr
    assert "nvidia.com/gpu: 4 devices" in p.stdout
    for gpu in gpus_of(node):
        line = next(l for l in p.stdout.splitlines() if gpu["uuid"] in l)
        assert "Healthy" in line and gpu["name"] in line
        assert sysfs_bus_id(gpu_bus_id(gpu)) in line


def test_no_gpus_lists_nothing(plugin):
    out = plugin.list_json(node="no-gpus.yaml")
    assert out["resources"] == [] and out["nvml"]["gpuCount"] == 0
    p = plugin.run("list", node="no-gpus.yaml")
    assert p.returncode == 0 and "No devices to advertise" in p.stdout
