# SPDX-License-Identifier: Apache-2.0
"""Time-slicing end to end: `list --json` and the daemon with NVIDIA's example config, our
per-GPU overrides, failRequestsGreaterThanOne and the distributed/packed policies."""
import grpc
import pytest

from conftest import gpus_of, load_node, mig_devices
from daemon import Daemon

A100 = load_node("dgx-a100.yaml")
A100_IDS = [g["uuid"] for g in gpus_of(A100)]
H100_MIG = load_node("h100x2-mig-mixed.yaml")

# NVIDIA's README example
TIME_SLICING = """version: v1
sharing:
  timeSlicing:
    renameByDefault: true
    resources:
    - name: nvidia.com/gpu
      replicas: 4
"""

# ours: GPUs 0 and 1 whole, 6 and 7 eight ways under their own name, the rest four ways
OVERRIDES = """version: v1
sharing:
  timeSlicing:
    renameByDefault: true
    failRequestsGreaterThanOne: true
    resources:
    - name: nvidia.com/gpu
      replicas: 4
      overrides:
      - devices: ["0", "1"]
        replicas: 1
      - devices: ["6", "GPU-c6e5e3d6-ec47-4a5e-8f64-cc8e4a18e8b5"]
        replicas: 8
        rename: gpu.big-shared
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def by_name(out):
    return {r["name"]: r for r in out["resources"]}


def replica_ids(uuids, n):
    return [f"{u}::{k}" for u in uuids for k in range(n)]


def test_list_time_slicing_example(plugin, tmp_path):
    out = plugin.list_json(f"--config-file={write(tmp_path, 'ts.yaml', TIME_SLICING)}")
    (res,) = out["resources"]
    assert res["name"] == "nvidia.com/gpu.shared"
    assert res["socket"] == "nvidia-gpu.shared.sock"
    assert res["count"] == 32
    assert [d["id"] for d in res["devices"]] == replica_ids(A100_IDS, 4)
    for i, dev in enumerate(res["devices"]):
        assert dev["replica"] == i % 4 and dev["replicas"] == 4
        assert dev["runtimeId"] == A100_IDS[i // 4]
        assert dev["gpu"]["uuid"] == A100_IDS[i // 4]
    assert out["warnings"] == []


def test_list_ten_replicas_without_rename(plugin, tmp_path):
    path = write(tmp_path, "ts.yaml", "sharing:\n  timeSlicing:\n    resources:\n"
                 "    - {name: gpu, replicas: 10}\n")
    (res,) = plugin.list_json(f"--config-file={path}")["resources"]
    assert res["name"] == "nvidia.com/gpu" and res["count"] == 80
    assert [d["id"] for d in res["devices"]] == replica_ids(A100_IDS, 10)


def test_list_whole_devices_have_no_replica_fields(plugin):
    (res,) = plugin.list_json()["resources"]
    assert all("replica" not in d and "replicas" not in d for d in res["devices"])


def test_list_per_gpu_overrides(plugin, tmp_path):
    yaml = OVERRIDES.replace("GPU-c6e5e3d6-ec47-4a5e-8f64-cc8e4a18e8b5", A100_IDS[7])
    res = by_name(plugin.list_json(f"--config-file={write(tmp_path, 'o.yaml', yaml)}"))
    assert sorted(res) == ["nvidia.com/gpu", "nvidia.com/gpu.big-shared",
                           "nvidia.com/gpu.shared"]
    assert [d["id"] for d in res["nvidia.com/gpu"]["devices"]] == A100_IDS[:2]
    assert [d["id"] for d in res["nvidia.com/gpu.shared"]["devices"]] == \
        replica_ids(A100_IDS[2:6], 4)
    assert [d["id"] for d in res["nvidia.com/gpu.big-shared"]["devices"]] == \
        replica_ids(A100_IDS[6:], 8)


def test_list_devices_selection_keeps_the_rest_whole(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "sharing:\n  timeSlicing:\n    resources:\n"
                 "    - {name: gpu, rename: gpu-ts, devices: 3, replicas: 2}\n")
    res = by_name(plugin.list_json(f"--config-file={path}"))
    assert [d["id"] for d in res["nvidia.com/gpu"]["devices"]] == A100_IDS[3:]
    assert [d["id"] for d in res["nvidia.com/gpu-ts"]["devices"]] == replica_ids(A100_IDS[:3], 2)


def test_list_mig_replicas_under_mixed(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "flags: {migStrategy: mixed}\nsharing:\n  timeSlicing:\n"
                 "    resources:\n    - {name: mig-1g.10gb, replicas: 3}\n")
    res = by_name(plugin.list_json(f"--config-file={path}", node="h100x2-mig-mixed.yaml"))
    migs = [m["uuid"] for m in mig_devices(gpus_of(H100_MIG)[0]) if m["profile"] == "1g.10gb"]
    assert [d["id"] for d in res["nvidia.com/mig-1g.10gb"]["devices"]] == replica_ids(migs, 3)
    assert all(d["type"] == "mig" for d in res["nvidia.com/mig-1g.10gb"]["devices"])
    assert res["nvidia.com/mig-3g.40gb"]["count"] == 1  # not configured: whole


@pytest.mark.parametrize("resources,message", [
    ("- {name: gpu, replicas: 2, devices: [\"0\", \"8\"]}",
     "sharing.timeSlicing.resources[0]: no matching device at index 8 among the "
     "nvidia.com/gpu devices"),
    ("- {name: gpu, replicas: 2, devices: 9}",
     "sharing.timeSlicing.resources[0]: requested 9 devices to be replicated, but only 8 "
     "devices available for nvidia.com/gpu"),
])
def test_list_selection_errors(plugin, tmp_path, resources, message):
    path = write(tmp_path, "c.yaml", f"sharing:\n  timeSlicing:\n    resources:\n    {resources}\n")
    p = plugin.run("list", "--json", f"--config-file={path}")
    assert p.returncode == 1
    assert f"{path}:3:5: {message}" in p.stderr, p.stderr


@pytest.fixture
def serve(plugin, tmp_path):
    started = []

    def start(config, *args):
        d = Daemon(plugin, tmp_path, args=[f"--config-file={write(tmp_path, 'c.yaml', config)}",
                                           *args])
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def test_daemon_serves_shared_resource(serve):
    d = serve(TIME_SLICING.replace("renameByDefault: true",
                                   "renameByDefault: true\n    failRequestsGreaterThanOne: true"))
    reg = d.kubelet.wait_registration()
    assert reg.resource_name == "nvidia.com/gpu.shared"
    assert reg.endpoint == "nvidia-gpu.shared.sock"
    c = d.client("nvidia-gpu.shared.sock")
    msg = next(c.list_and_watch(timeout=5))
    assert [dev.ID for dev in msg.devices] == replica_ids(A100_IDS, 4)
    resp = c.allocate([f"{A100_IDS[3]}::2"])
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == A100_IDS[3]
    with pytest.raises(grpc.RpcError) as e:
        c.allocate([f"{A100_IDS[3]}::2", f"{A100_IDS[3]}::0"])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid request: maximum request size for shared resources is 1; found 2" in \
        e.value.details()
    with pytest.raises(grpc.RpcError) as e:  # IDs are checked first
        c.allocate([f"{A100_IDS[3]}::2", f"{A100_IDS[3]}::9"])
    assert f"unknown device: {A100_IDS[3]}::9" in e.value.details()
    assert d.stop() == 0


def test_daemon_two_replicas_allowed_by_default(serve):
    d = serve(TIME_SLICING)
    d.kubelet.wait_registration()
    resp = d.client("nvidia-gpu.shared.sock").allocate([f"{A100_IDS[1]}::0", f"{A100_IDS[1]}::3"])
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == A100_IDS[1]


def test_daemon_per_gpu_overrides_register_each_resource(serve):
    d = serve(OVERRIDES.replace("GPU-c6e5e3d6-ec47-4a5e-8f64-cc8e4a18e8b5", A100_IDS[7]))
    regs = {d.kubelet.wait_registration().resource_name for _ in range(3)}
    assert regs == {"nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/gpu.big-shared"}
    whole = next(d.client("nvidia-gpu.sock").list_and_watch(timeout=5))
    assert [dev.ID for dev in whole.devices] == A100_IDS[:2]
    big = d.client("nvidia-gpu.big-shared.sock")
    assert len(next(big.list_and_watch(timeout=5)).devices) == 16
    resp = big.allocate([f"{A100_IDS[7]}::5"])
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == A100_IDS[7]
    with pytest.raises(grpc.RpcError) as e:
        big.allocate([f"{A100_IDS[6]}::0", f"{A100_IDS[7]}::0"])
    assert "maximum request size for shared resources is 1; found 2" in e.value.details()
    # the whole GPUs are not shared: two of them are a normal request
    resp = d.client("nvidia-gpu.sock").allocate(A100_IDS[:2])
    assert resp.container_responses[0].envs["NVIDIA_VISIBLE_DEVICES"] == ",".join(A100_IDS[:2])


# GPU 0 has three replicas in use, GPU 1 two, GPU 2 one, the others none.
IN_USE = {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0)}


def partly_allocated():
    return [f"{u}::{k}" for g, u in enumerate(A100_IDS) for k in range(4) if (g, k) not in IN_USE]


@pytest.mark.parametrize("args,want", [
    ((), [(3, 0), (4, 0), (5, 0)]),  # distributed (the default): unused GPUs, in order
    (("--shared-devices-allocation-policy=distributed",), [(3, 0), (4, 0), (5, 0)]),
    (("--shared-devices-allocation-policy=packed",), [(0, 3), (1, 2), (1, 3)]),
])
def test_daemon_preferred_allocation_policies(serve, args, want):
    d = serve(TIME_SLICING, *args)
    d.kubelet.wait_registration()
    c = d.client("nvidia-gpu.shared.sock")
    available = partly_allocated()
    resp = c.preferred(available=available[::-1], must_include=[], size=3)
    assert list(resp.container_responses[0].deviceIDs) == \
        [f"{A100_IDS[g]}::{k}" for g, k in want]


@pytest.mark.parametrize("policy,want", [
    # spread: GPU 3 counts one in use now, so GPUs 4 and 5 come first
    ("distributed", [(4, 0), (5, 0)]),
    # packed: the fullest GPUs first (0 has 3 in use, 1 has 2); GPU 3 has only the one
    ("packed", [(0, 3), (1, 2)]),
])
def test_daemon_preferred_allocation_must_include(serve, policy, want):
    d = serve(TIME_SLICING, f"--shared-devices-allocation-policy={policy}")
    d.kubelet.wait_registration()
    must = f"{A100_IDS[3]}::1"
    resp = d.client("nvidia-gpu.shared.sock").preferred(available=partly_allocated(),
                                                         must_include=[must], size=3)
    assert list(resp.container_responses[0].deviceIDs) == \
        [must] + [f"{A100_IDS[g]}::{k}" for g, k in want]
