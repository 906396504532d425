# SPDX-License-Identifier: Apache-2.0
"""Smoke test of the container image (scripts/build-image.sh): unpacked with umoci and run
with runc, the mock NVML library mounted as the driver root, the way a node runs it.

Needs root, runc and umoci. Without them every test skips, unless GDP_IMAGE_REQUIRE_RUNC=1
(CI sets it: CI runs as root on Debian 12, where runc works), in which case they fail.
The image is read from $GDP_IMAGE_OUT (default build/image); the mock NVML library and the
kubelet's generated protobuf classes from $GDP_BUILD_DIR (default build-image).
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("GDP_BUILD_DIR", str(ROOT / "build-image"))
BUILD = Path(os.environ["GDP_BUILD_DIR"]).resolve()
IMAGE = (ROOT / os.environ.get("GDP_IMAGE_OUT", "build/image")).resolve()
MOCK_LIB_DIR = BUILD / "tests" / "mock-nvml"
NODES = ROOT / "tests" / "mock-nvml" / "nodes"
PROGRAMS = ["gpu-device-plugin", "nvidia-device-plugin", "gpu-feature-discovery",
            "config-manager", "mps-control-daemon"]

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from kubelet import FakeKubelet  # noqa: E402


def _why_not_runnable():
    if os.geteuid() != 0:
        return "runc needs root here"
    for tool in ("runc", "umoci"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-deps.sh)"
    return None


@pytest.fixture(scope="session")
def image():
    why = _why_not_runnable()
    if why is not None:
        if os.environ.get("GDP_IMAGE_REQUIRE_RUNC") == "1":
            pytest.fail(f"the image smoke test must run here: {why}")
        pytest.skip(why)
    layout = IMAGE / "oci"
    assert layout.is_dir(), f"build the image first (scripts/build-image.sh): {layout} is missing"
    assert (MOCK_LIB_DIR / "libnvidia-ml.so.1").exists(), f"build the mock NVML in {BUILD}"
    index = json.loads((layout / "index.json").read_text())
    tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    return layout, tag


@pytest.fixture(scope="session")
def bundle(image, tmp_path_factory):
    layout, tag = image
    path = tmp_path_factory.mktemp("bundle") / "b"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(path)], check=True,
                   capture_output=True)
    return path


class Runc:
    """runc with its own state directory; one container per run."""

    def __init__(self, bundle, tmp):
        self.rootfs = bundle / "rootfs"
        self.base = json.loads((bundle / "config.json").read_text())
        self.tmp = tmp
        self.state = tmp / "runc-state"
        self.count = 0

    def _config(self, args, env, mounts, readonly, caps):
        c = copy.deepcopy(self.base)
        p = c["process"]
        p["terminal"] = False
        for kind in ("bounding", "effective", "permitted"):
            p.setdefault("capabilities", {}).setdefault(kind, []).extend(caps)
        p["env"] = [*p.get("env", []), *(f"{k}={v}" for k, v in env.items())]
        if args is not None:
            p["args"] = args
        c["root"] = {"path": str(self.rootfs), "readonly": readonly}
        linux = c["linux"]
        # no user or network namespace and no cgroup limits: the smallest setup runc accepts
        # on any host, the way a privileged DaemonSet pod sees the node
        linux["namespaces"] = [n for n in linux.get("namespaces", [])
                               if n["type"] not in ("user", "network", "cgroup")]
        for key in ("uidMappings", "gidMappings", "resources", "cgroupsPath"):
            linux.pop(key, None)
        c["mounts"] = [m for m in c["mounts"] if m.get("type") != "cgroup"]
        c["mounts"].append({"destination": "/driver-root/usr/lib64", "type": "bind",
                            "source": str(MOCK_LIB_DIR), "options": ["rbind", "ro"]})
        c["mounts"].append({"destination": "/mock", "type": "bind", "source": str(NODES),
                            "options": ["rbind", "ro"]})
        for src, dst in mounts:
            c["mounts"].append({"destination": dst, "type": "bind", "source": str(src),
                                "options": ["rbind", "rw"]})
        return c

    def start(self, args=None, env=None, mounts=(), readonly=True, caps=()):
        """Starts a container in the foreground of a child process; returns (Popen, id)."""
        self.count += 1
        cid = f"gdp-smoke-{os.getpid()}-{self.count}"
        b = self.tmp / cid
        b.mkdir()
        env = {"MOCK_NVML_NODE": "/mock/dgx-a100.yaml", **(env or {})}
        (b / "config.json").write_text(json.dumps(self._config(args, env, mounts, readonly, caps)))
        p = subprocess.Popen(["runc", "--root", str(self.state), "run", "--bundle", str(b), cid],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        return p, cid

    def run(self, args=None, **kw):
        p, cid = self.start(args, **kw)
        try:
            out, err = p.communicate(timeout=60)
        finally:
            self.delete(cid)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def delete(self, cid):
        subprocess.run(["runc", "--root", str(self.state), "delete", "--force", cid],
                       capture_output=True)


@pytest.fixture
def runc(bundle, tmp_path):
    return Runc(bundle, tmp_path)


def test_image_config_matches_nvidias_contract(runc):
    p = runc.base["process"]
    assert p["args"] == ["nvidia-device-plugin"]
    assert (p["user"]["uid"], p["user"]["gid"]) == (0, 0)
    for env in ("NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
                "NVIDIA_DISABLE_REQUIRE=true"):
        assert env in p["env"]
    path = next(e for e in p["env"] if e.startswith("PATH="))
    assert "/busybox" in path.split("=", 1)[1].split(":")
    assert (runc.rootfs / "licenses" / "LICENSE").is_file()


def test_list_shows_the_mock_gpus(runc):
    node = yaml.safe_load((NODES / "dgx-a100.yaml").read_text())
    p = runc.run(["nvidia-device-plugin", "list"])
    assert p.returncode == 0, p.stderr
    assert "loaded from /driver-root/usr/lib64/libnvidia-ml.so.1" in p.stdout + p.stderr
    for gpu in node["gpus"]:
        assert gpu["uuid"] in p.stdout


def test_list_follows_the_node_file(runc):
    p = runc.run(["nvidia-device-plugin", "list", "--json"],
                 env={"MOCK_NVML_NODE": "/mock/h100x2-mig-mixed.yaml"})
    assert p.returncode == 0, p.stderr
    node = yaml.safe_load((NODES / "h100x2-mig-mixed.yaml").read_text())
    assert sorted(g["uuid"] for g in node["gpus"])[0] in p.stdout


def test_every_program_name_resolves_on_path(runc):
    script = "for p in " + " ".join(PROGRAMS) + "; do command -v $p || exit 1; done"
    p = runc.run(["sh", "-c", script])
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == [f"/usr/bin/{name}" for name in PROGRAMS]


def test_program_names_pick_their_subcommand(runc):
    p = runc.run(["mps-control-daemon", "--help"])
    assert p.returncode == 0, p.stderr
    assert "mount-shm" in p.stdout
    for name in ("gpu-feature-discovery", "config-manager"):
        p = runc.run([name, "--help"])
        assert "Usage: gpu-device-plugin [serve" not in p.stdout, name
        assert p.returncode == 0 or "not available in this build" in p.stderr, p.stderr


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_config_manager_reaches_for_the_api_server(runc, tmp_path):
    """libcurl, loaded at run time, is in the image with its libraries: config-manager gets as
    far as connecting (to a closed port here) instead of failing to load it."""
    kube = tmp_path / "kube"
    kube.mkdir()
    (kube / "config").write_text(KUBECONFIG)
    script = ("timeout 3 config-manager --oneshot --kubeconfig=/kube/config --node-name=n "
              "--config-file-srcdir=/kube --config-file-dst=/tmp/config --send-signal=false")
    p = runc.run(["sh", "-c", script], mounts=[(kube, "/kube")])
    assert "cannot load" not in p.stderr, p.stderr
    assert "list nodes: https://127.0.0.1:1" in p.stderr, p.stderr


def test_mount_shm_in_the_image(runc, tmp_path):
    """The MPS DaemonSet's init container: `mps-control-daemon mount-shm`, /mps mounted."""
    mps = tmp_path / "mps"
    mps.mkdir()
    script = "mps-control-daemon mount-shm && grep ' /mps/shm ' /proc/self/mountinfo"
    p = runc.run(["sh", "-c", script], mounts=[(mps, "/mps")], caps=["CAP_SYS_ADMIN"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "rw,nosuid,nodev,noexec,relatime - tmpfs" in p.stdout
    assert "mounted a tmpfs at /mps/shm" in p.stderr


def test_operator_style_shell_wrapper(runc, tmp_path):
    """The GPU Operator's init and entrypoint scripts: busybox's sh, [, sleep, cat, grep,
    lsmod (which may find no /proc/modules in a sandbox), a file in the working directory,
    then exec of the plugin by name."""
    validations = tmp_path / "validations"
    validations.mkdir()
    (validations / "driver-ready").write_text("IS_HOST_DRIVER=true\n")
    script = ("until [ -f /run/nvidia/validations/driver-ready ]; do sleep 1; done; "
              "set -o allexport; . /run/nvidia/validations/driver-ready; "
              "cat /run/nvidia/validations/driver-ready | grep -q IS_HOST_DRIVER=true || exit 3; "
              "if lsmod 2>/dev/null | grep -q '^gdrdrv '; then echo GDRCOPY_ENABLED=true; "
              "else echo GDRCOPY_ENABLED=false; fi > feature-flags.env; "
              "cat feature-flags.env; "
              '[ "$IS_HOST_DRIVER" = true ] && exec nvidia-device-plugin --version')
    p = runc.run(["/bin/sh", "-c", script], mounts=[(validations, "/run/nvidia/validations")],
                 readonly=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "GDRCOPY_ENABLED=false" in p.stdout
    assert "gpu-device-plugin version" in p.stdout


def test_serve_registers_through_a_bind_mounted_socket_dir(runc, tmp_path):
    """The image's ENTRYPOINT with flags only, as NVIDIA's DaemonSet runs it, on a read-only
    root filesystem."""
    sock_dir = tmp_path / "device-plugins"
    sock_dir.mkdir()
    kubelet = FakeKubelet(sock_dir).start()
    p, cid = runc.start(["nvidia-device-plugin", "--fail-on-init-error=true"],
                        mounts=[(sock_dir, "/var/lib/kubelet/device-plugins")])
    try:
        req = kubelet.wait_registration(timeout=30)
        assert req.resource_name == "nvidia.com/gpu"
        assert req.endpoint == "nvidia-gpu.sock"
        assert (sock_dir / "nvidia-gpu.sock").exists()
        subprocess.run(["runc", "--root", str(runc.state), "kill", cid, "TERM"], check=True)
        p.communicate(timeout=30)
        assert p.returncode == 0
        deadline = time.monotonic() + 5
        while (sock_dir / "nvidia-gpu.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not (sock_dir / "nvidia-gpu.sock").exists()
    finally:
        if p.poll() is None:
            p.kill()
        runc.delete(cid)
        kubelet.stop()
