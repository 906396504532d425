# SPDX-License-Identifier: Apache-2.0
"""Fault injection: NVML missing, init failing, one GPU's calls failing, bad node files."""
import os

import pytest
import yaml

from conftest import MOCK_LIB, gpus_of, load_node, mig_devices, stderr_lines


def node_with(tmp_path, base, **changes):
    node = load_node(base)
    node.update(changes)
    path = tmp_path / f"node-{len(list(tmp_path.glob('node-*')))}.yaml"
    path.write_text(yaml.safe_dump(node))
    return str(path), node


def test_missing_nvml_fails_with_one_clear_line(plugin, tmp_path):
    p = plugin.run("list", f"--driver-root-ctr-path={tmp_path / 'empty'}", driver_root=False)
    assert p.returncode == 1 and p.stdout == ""
    (line,) = stderr_lines(p)
    assert line.startswith("E") and "libnvidia-ml.so.1" in line
    assert "--driver-root-ctr-path" in line and "--fail-on-init-error=false" in line


def test_missing_nvml_without_fail_on_init_error_lists_nothing_and_says_why(plugin, tmp_path):
    out = plugin.list_json("--fail-on-init-error=false",
                           f"--driver-root-ctr-path={tmp_path / 'empty'}", driver_root=False)
    assert out["resources"] == []
    assert out["nvml"]["loaded"] is False
    assert "cannot load libnvidia-ml.so.1" in out["nvml"]["error"]
    p = plugin.run("list", "--fail-on-init-error=false",
                   f"--driver-root-ctr-path={tmp_path / 'empty'}", driver_root=False)
    assert p.returncode == 0
    assert "NVML unavailable" in p.stdout
    assert any(l.startswith("W") and "NVML unavailable" in l for l in stderr_lines(p))


@pytest.mark.parametrize("code", ["DRIVER_NOT_LOADED", "NO_PERMISSION", "LIB_RM_VERSION_MISMATCH"])
def test_init_failure(plugin, tmp_path, code):
    path, _ = node_with(tmp_path, "dgx-a100.yaml", init_error=code)
    p = plugin.run("list", node=path)
    assert p.returncode == 1
    (line,) = stderr_lines(p)
    assert "nvmlInit_v2" in line
    out = plugin.list_json("--fail-on-init-error=false", node=path)
    assert out["resources"] == [] and "nvmlInit_v2" in out["nvml"]["error"]


@pytest.mark.parametrize("function,code", [
    ("nvmlDeviceGetName", "UNKNOWN"),
    ("nvmlDeviceGetCudaComputeCapability", "GPU_IS_LOST"),
    ("nvmlDeviceGetPciInfo_v3", "UNKNOWN"),
    ("nvmlDeviceGetMinorNumber", "GPU_IS_LOST"),
])
def test_one_gpu_failing_is_unhealthy_and_others_are_served(plugin, tmp_path, function, code):
    base = load_node("dgx-a100.yaml")
    bad = base["gpus"][3]["uuid"]
    path, _ = node_with(tmp_path, "dgx-a100.yaml",
                        fail=[{"function": function, "code": code, "uuid": bad}])
    out = plugin.list_json(node=path)
    (res,) = out["resources"]
    assert res["count"] == 8
    for d in res["devices"]:
        if d["id"] == bad:
            assert d["health"] == "Unhealthy"
            assert function in d["reason"]
        else:
            assert d["health"] == "Healthy", d
    p = plugin.run("list", node=path)
    line = next(l for l in p.stdout.splitlines() if bad in l)
    assert "Unhealthy" in line and function in line


@pytest.mark.parametrize("code", ["NOT_SUPPORTED", "UNKNOWN"])
def test_memory_info_failure_leaves_gpu_healthy_with_memory_unknown(plugin, tmp_path, code):
    base = load_node("dgx-a100.yaml")
    bad = base["gpus"][2]["uuid"]
    path, _ = node_with(tmp_path, "dgx-a100.yaml",
                        fail=[{"function": "nvmlDeviceGetMemoryInfo", "code": code, "uuid": bad}])
    out = plugin.list_json(node=path)
    (res,) = out["resources"]
    assert res["count"] == 8
    for d in res["devices"]:
        assert d["health"] == "Healthy" and d["reason"] is None, d
        assert (d["memoryMiB"] is None) == (d["id"] == bad), d


def test_mig_memory_info_failure_leaves_mig_device_healthy(plugin, tmp_path):
    base = load_node("h100x2-mig-mixed.yaml")
    bad = mig_devices(base["gpus"][0])[1]["uuid"]
    path, _ = node_with(tmp_path, "h100x2-mig-mixed.yaml",
                        fail=[{"function": "nvmlDeviceGetMemoryInfo", "code": "NOT_SUPPORTED",
                               "uuid": bad}])
    out = plugin.list_json("--mig-strategy=mixed", node=path)
    devs = {d["id"]: d for r in out["resources"] for d in r["devices"]}
    assert devs[bad]["health"] == "Healthy" and devs[bad]["memoryMiB"] is None
    assert all(d["health"] == "Healthy" for d in devs.values())
    assert out["warnings"] == []


@pytest.mark.parametrize("rule", [
    {"function": "nvmlDeviceGetUUID", "code": "UNKNOWN"},
    {"function": "nvmlDeviceGetHandleByIndex_v2", "code": "NO_PERMISSION"},
])
def test_gpu_that_cannot_be_identified_is_reported_not_advertised(plugin, tmp_path, rule):
    base = load_node("pcie-t4x4.yaml")
    rule = dict(rule, uuid=base["gpus"][1]["uuid"])
    path, _ = node_with(tmp_path, "pcie-t4x4.yaml", fail=[rule])
    out = plugin.list_json(node=path)
    (res,) = out["resources"]
    assert [d["index"] for d in res["devices"]] == ["0", "2", "3"]
    (problem,) = out["problems"]
    assert problem["index"] == "1" and rule["function"] in problem["reason"]
    p = plugin.run("list", node=path)
    assert "GPU 1 is not advertised" in p.stdout
    assert any(l.startswith("W") and "GPU 1 skipped" in l for l in stderr_lines(p))


def test_mig_device_failing_is_skipped_with_a_warning(plugin, tmp_path):
    base = load_node("h100x2-mig-mixed.yaml")
    bad = mig_devices(base["gpus"][1])[0]["uuid"]
    path, _ = node_with(tmp_path, "h100x2-mig-mixed.yaml",
                        fail=[{"function": "nvmlDeviceGetAttributes_v2", "code": "UNKNOWN",
                               "uuid": bad}])
    out = plugin.list_json("--mig-strategy=mixed", node=path)
    ids = {d["id"] for r in out["resources"] for d in r["devices"]}
    all_migs = {m["uuid"] for g in gpus_of(base) for m in mig_devices(g)}
    assert ids == all_migs - {bad}
    (warning,) = out["warnings"]
    assert bad in warning and "nvmlDeviceGetAttributes_v2" in warning


def test_malformed_node_file_is_an_init_error_with_position(plugin, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("driver_version: '550.54.15'\ngpus:\n  - name: X\n    uuid: not-a-uuid\n")
    p = plugin.run("list", node=str(path))
    assert p.returncode == 1
    assert f"mock-nvml: {path}:4:" in p.stderr
    assert any("nvmlInit_v2" in l for l in stderr_lines(p))


@pytest.mark.parametrize("libdir", ["usr/lib64", "usr/lib/x86_64-linux-gnu", "lib64"])
def test_library_found_under_container_driver_root(plugin, tmp_path, libdir):
    root = tmp_path / "ctr-root"
    (root / libdir).mkdir(parents=True)
    (root / libdir / "libnvidia-ml.so.1").symlink_to(MOCK_LIB)
    out = plugin.list_json(f"--driver-root-ctr-path={root}", driver_root=False)
    assert out["nvml"]["library"] == os.path.realpath(MOCK_LIB)
    assert out["resources"][0]["count"] == 8


def test_bare_soname_through_the_loader_path(plugin, tmp_path):
    out = plugin.list_json("--driver-root-ctr-path=/", driver_root=False,
                           env={"LD_LIBRARY_PATH": str(MOCK_LIB.parent)})
    assert out["nvml"]["library"] == "libnvidia-ml.so.1"
    assert out["resources"][0]["count"] == 8
