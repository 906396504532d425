# SPDX-License-Identifier: Apache-2.0
"""`cdi generate` on every mock node: the gpu spec names every GPU and MIG device as the
device ID strategy says, with the device nodes `list --json` reports, the driver files of the
fake driver root rewritten to --driver-root, and the spec directory form with extra kinds."""
import json
import os

import pytest

from conftest import NODE_FILES, gpus_of, load_node, mig_devices, stderr_lines

VERSION = "550.54.15"  # every mock node's driver_version
VENDOR = "k8s.device-plugin.nvidia.com"


def fake_driver(plugin):
    """Driver files and /dev nodes (plain files) inside the plugin's fake driver root."""
    root = plugin.driver_root
    for rel in (f"usr/lib64/libcuda.so.{VERSION}", f"usr/lib64/libnvidia-ml.so.{VERSION}",
                "usr/bin/nvidia-smi", f"lib/firmware/nvidia/{VERSION}/gsp_ga10x.bin",
                "dev/nvidiactl", "dev/nvidia-uvm"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    return root


def expected_names(node, index):
    names = []
    for i, gpu in enumerate(gpus_of(node)):
        names.append(str(i) if index else gpu["uuid"])
        for j, m in enumerate(mig_devices(gpu)):
            names.append(f"{i}:{j}" if index else m["uuid"])
    return names


def generate(plugin, node, *args):
    out = plugin.tmp / "spec.json"
    p = plugin.run("cdi", "generate", f"--output={out}", *args, node=node)
    assert p.returncode == 0, p.stderr
    return json.loads(out.read_text())


GPU_NODES = [n for n in NODE_FILES if gpus_of(load_node(n))]


@pytest.mark.parametrize("node", GPU_NODES)
@pytest.mark.parametrize("ids", ["uuid", "index"])
def test_gpu_spec_per_node(plugin, node, ids):
    fake_driver(plugin)
    spec = generate(plugin, node, f"--device-id-strategy={ids}")
    assert spec["kind"] == f"{VENDOR}/gpu"
    # uuid names start with a letter and the host dev root is "/": nothing beyond 0.3.0
    assert spec["cdiVersion"] == ("0.5.0" if ids == "index" else "0.3.0")
    names = [d["name"] for d in spec["devices"]]
    assert names == expected_names(load_node(node), ids == "index")
    listed = plugin.list_json("--mig-strategy=none", node=node)
    assert listed  # list is tested on its own; it gives the device nodes per device
    nodes_by_index = {}
    for res in listed["resources"]:
        for d in res["devices"]:
            nodes_by_index[d["index"]] = d["deviceNodes"]
    for d in spec["devices"]:
        paths = [n["path"] for n in d["containerEdits"]["deviceNodes"]]
        assert all("hostPath" not in n for n in d["containerEdits"]["deviceNodes"])
        if ids == "index" and d["name"] in nodes_by_index:
            assert paths == nodes_by_index[d["name"]]
        assert paths[0].startswith("/dev/nvidia")
    edits = spec["containerEdits"]
    assert edits["env"] == ["NVIDIA_VISIBLE_DEVICES=void"]
    assert [n["path"] for n in edits["deviceNodes"]] == ["/dev/nvidiactl", "/dev/nvidia-uvm"]


def test_paths_rewritten_to_host_driver_root(plugin):
    fake_driver(plugin)
    spec = generate(plugin, "single-gpu.yaml", "--driver-root=/run/nvidia/driver",
                    "--nvidia-cdi-hook-path=/usr/local/nvidia/toolkit/nvidia-cdi-hook")
    assert spec["cdiVersion"] == "0.5.0"  # device nodes now carry a hostPath
    mounts = {m["containerPath"]: m for m in spec["containerEdits"]["mounts"]}
    assert set(mounts) == {f"/usr/lib64/libcuda.so.{VERSION}",
                           f"/usr/lib64/libnvidia-ml.so.{VERSION}", "/usr/bin/nvidia-smi",
                           f"/lib/firmware/nvidia/{VERSION}/gsp_ga10x.bin"}
    for path, m in mounts.items():
        assert m["hostPath"] == "/run/nvidia/driver" + path
        assert m["options"] == ["ro", "nosuid", "nodev", "bind"]
    node = spec["devices"][0]["containerEdits"]["deviceNodes"][0]
    assert node == {"path": "/dev/nvidia0", "hostPath": "/run/nvidia/driver/dev/nvidia0"}
    hooks = spec["containerEdits"]["hooks"]
    assert [h["args"][:2] for h in hooks] == [["nvidia-cdi-hook", "create-symlinks"],
                                             ["nvidia-cdi-hook", "enable-cuda-compat"],
                                             ["nvidia-cdi-hook", "update-ldcache"],
                                             ["nvidia-cdi-hook", "disable-device-node-modification"]]
    assert hooks[0]["args"][2:] == ["--link", "libcuda.so.1::/usr/lib64/libcuda.so"]
    assert hooks[1]["args"][2:] == [f"--host-driver-version={VERSION}"]
    assert hooks[2]["args"][2:] == ["--folder", "/usr/lib64"]
    assert hooks[3]["args"][2:] == []
    assert all(h["hookName"] == "createContainer" for h in hooks)
    assert all(h["path"] == "/usr/local/nvidia/toolkit/nvidia-cdi-hook" for h in hooks)


def test_disable_hooks(plugin):
    fake_driver(plugin)
    spec = generate(plugin, "single-gpu.yaml", "--cdi-disable-hooks=all")
    assert "hooks" not in spec["containerEdits"]


def test_stdout(plugin):
    fake_driver(plugin)
    p = plugin.run("cdi", "generate", "--output", "-", node="pcie-t4x4.yaml")
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["devices"]) == 4


def test_spec_dir_with_extra_kinds(plugin):
    root = fake_driver(plugin)
    (root / "dev" / "nvidia-fs0").write_text("")
    spec_dir = plugin.tmp / "cdi"
    stale = spec_dir / f"{VENDOR}-mofed.json"
    spec_dir.mkdir()
    stale.write_text("{}")
    p = plugin.run("cdi", "generate", node="dgx-a100.yaml",
                   env={"CDI_SPEC_DIR": str(spec_dir), "GDS_ENABLED": "true",
                        "MOFED_ENABLED": "true"})
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(spec_dir)) == [f"{VENDOR}-gds.json", f"{VENDOR}-gpu.json"]
    gds = json.loads((spec_dir / f"{VENDOR}-gds.json").read_text())
    assert gds["kind"] == f"{VENDOR}/gds"
    assert gds["devices"] == [{"name": "all", "containerEdits": {
        "deviceNodes": [{"path": "/dev/nvidia-fs0"}]}}]
    assert any("wrote CDI spec" in line and "gds.json" in line for line in stderr_lines(p))


def test_errors(plugin):
    p = plugin.run("cdi", "--output=x", node="single-gpu.yaml")
    assert p.returncode == 2
    assert "generate" in p.stderr
    p = plugin.run("cdi", "generate", "--fail-on-init-error=false", node="single-gpu.yaml",
                   driver_root=False, env={"DRIVER_ROOT_CTR_PATH": str(plugin.tmp / "none")})
    assert p.returncode == 1
    assert "NVML" in p.stderr
    p = plugin.run("cdi", "generate", "--output=-", node="no-gpus.yaml")
    assert p.returncode == 1
    assert "no devices" in p.stderr
