# SPDX-License-Identifier: Apache-2.0
"""`cdi generate` on fake driver roots whose ld.so.cache is written by the system's own
`ldconfig -C FILE -r ROOT`: libraries are found through the cache (vdpau/ and the legacy
nvvm70 library included), the SONAME and special symlinks and the hooks are those of
nvcdi's rules (docs/cdi.md), and a root without a cache falls back to the directory search."""
import json
import os
import shutil
import subprocess

import pytest

VERSION = "550.54.15"  # every mock node's driver_version
LIBDIR = "/usr/lib/x86_64-linux-gnu"
LDCONFIG = shutil.which("ldconfig") or "/sbin/ldconfig"

# file name under LIBDIR -> SONAME written into the ELF object
LIBS = {
    f"libcuda.so.{VERSION}": "libcuda.so.1",
    f"libnvidia-ml.so.{VERSION}": "libnvidia-ml.so.1",
    f"libnvidia-nvvm.so.{VERSION}": "libnvidia-nvvm.so.4",
    f"libGLX_nvidia.so.{VERSION}": "libGLX_nvidia.so.0",
    f"libnvidia-opticalflow.so.{VERSION}": "libnvidia-opticalflow.so.1",
    f"vdpau/libvdpau_nvidia.so.{VERSION}": "libvdpau_nvidia.so.1",
    "libnvidia-nvvm70.so.4": "libnvidia-nvvm70.so.4",
    f"libEGL_nvidia.so.{VERSION}": "libEGL_nvidia.so.0",
    "libEGL.so.1.1.0": "libEGL.so.1",
}


def build_lib(path, soname, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-shared", f"-Wl,-soname,{soname}", "-o", str(path), str(obj)],
                   check=True)


@pytest.fixture
def driver_root(plugin, tmp_path):
    """The plugin's driver root with ELF libraries and a cache made by ldconfig."""
    root = plugin.driver_root
    src = tmp_path / "empty.c"
    src.write_text("int gdp_fake_symbol(void) { return 0; }\n")
    obj = tmp_path / "empty.o"
    subprocess.run(["cc", "-c", "-fPIC", "-o", str(obj), str(src)], check=True)
    for rel, soname in LIBS.items():
        build_lib(root / LIBDIR.lstrip("/") / rel, soname, obj)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "ld.so.conf").write_text(f"{LIBDIR}\n{LIBDIR}/vdpau\n")
    for rel in ("usr/bin/nvidia-smi", "usr/bin/nvidia-imex", "usr/bin/nvidia-imex-ctl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    p = subprocess.run([LDCONFIG, "-C", "/etc/ld.so.cache", "-r", str(root)],
                       capture_output=True, text=True)
    if p.returncode != 0 or not (root / "etc" / "ld.so.cache").exists():
        pytest.skip(f"ldconfig -r needs chroot (root): {p.stderr.strip()}")
    return root


def generate(plugin, *args, env=None):
    out = plugin.tmp / "spec.json"
    p = plugin.run("cdi", "generate", f"--output={out}", *args, node="single-gpu.yaml", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(out.read_text())


def hooks_by_name(spec):
    """name -> arguments; `nvidia-ctk hook <name>` and `nvidia-cdi-hook <name>` alike."""
    out = {}
    for h in spec["containerEdits"].get("hooks", []):
        args = h["args"][2:] if h["args"][1] == "hook" else h["args"][1:]
        out[args[0]] = args[1:]
    return out


def test_libraries_links_and_hooks_follow_nvcdi(plugin, driver_root):
    spec = generate(plugin, "--nvidia-cdi-hook-path=/usr/bin/nvidia-cdi-hook")
    mounts = [m["containerPath"] for m in spec["containerEdits"]["mounts"]]
    libs = [m for m in mounts if ".so" in m]
    d = LIBDIR
    assert libs == [f"{d}/libEGL_nvidia.so.{VERSION}", f"{d}/libGLX_nvidia.so.{VERSION}",
                    f"{d}/libcuda.so.{VERSION}", f"{d}/libnvidia-ml.so.{VERSION}",
                    f"{d}/libnvidia-nvvm.so.{VERSION}",
                    f"{d}/libnvidia-opticalflow.so.{VERSION}",
                    f"{d}/vdpau/libvdpau_nvidia.so.{VERSION}",
                    f"{d}/libnvidia-nvvm70.so.4"]
    assert "/usr/bin/nvidia-imex" in mounts and "/usr/bin/nvidia-imex-ctl" in mounts
    hooks = hooks_by_name(spec)
    assert list(hooks) == ["create-symlinks", "enable-cuda-compat", "update-ldcache",
                           "disable-device-node-modification"]
    links = hooks["create-symlinks"][1::2]
    assert hooks["create-symlinks"][0::2] == ["--link"] * len(links)
    assert links == [
        f"libEGL_nvidia.so.{VERSION}::{d}/libEGL_nvidia.so.0",
        f"libGLX_nvidia.so.{VERSION}::{d}/libGLX_nvidia.so.0",
        f"libGLX_nvidia.so.{VERSION}::{d}/libGLX_indirect.so.0",
        f"libcuda.so.{VERSION}::{d}/libcuda.so.1",
        f"libcuda.so.1::{d}/libcuda.so",
        f"libnvidia-ml.so.{VERSION}::{d}/libnvidia-ml.so.1",
        f"libnvidia-nvvm.so.{VERSION}::{d}/libnvidia-nvvm.so.4",
        f"libnvidia-opticalflow.so.{VERSION}::{d}/libnvidia-opticalflow.so.1",
        f"libnvidia-opticalflow.so.1::{d}/libnvidia-opticalflow.so",
        f"libvdpau_nvidia.so.{VERSION}::{d}/vdpau/libvdpau_nvidia.so.1",
    ]
    assert hooks["enable-cuda-compat"] == [f"--host-driver-version={VERSION}"]
    assert hooks["update-ldcache"] == ["--folder", d, "--folder", f"{d}/vdpau"]
    assert hooks["disable-device-node-modification"] == []


def test_explicit_driver_libraries_feature_flag(plugin, driver_root):
    plain = generate(plugin)
    explicit = generate(plugin, "--cdi-feature-flags=enable-explicit-driver-libraries")
    added = ({m["containerPath"] for m in explicit["containerEdits"]["mounts"]}
             - {m["containerPath"] for m in plain["containerEdits"]["mounts"]})
    assert added == {f"{LIBDIR}/libEGL.so.1.1.0"}


def test_without_cache_the_directory_search_is_used(plugin, driver_root):
    os.unlink(driver_root / "etc" / "ld.so.cache")
    spec = generate(plugin)
    libs = [m["containerPath"] for m in spec["containerEdits"]["mounts"]
            if ".so" in m["containerPath"]]
    # the directory of libcuda and its vdpau/; no cache, so no legacy nvvm70 and no SONAMEs
    assert f"{LIBDIR}/vdpau/libvdpau_nvidia.so.{VERSION}" in libs
    assert f"{LIBDIR}/libnvidia-nvvm70.so.4" not in libs
    links = hooks_by_name(spec)["create-symlinks"][1::2]
    assert links == [f"libGLX_nvidia.so.{VERSION}::{LIBDIR}/libGLX_indirect.so.0",
                     f"libcuda.so.1::{LIBDIR}/libcuda.so",
                     f"libnvidia-opticalflow.so.1::{LIBDIR}/libnvidia-opticalflow.so"]


def test_ipc_discoverer_and_gids_feature_flags(plugin, driver_root):
    sock = driver_root / "run" / "nvidia-persistenced" / "socket"
    sock.parent.mkdir(parents=True)
    sock.write_text("")
    dev = driver_root / "dev"
    dev.mkdir(exist_ok=True)
    for name in ("nvidiactl", "nvidia0"):
        (dev / name).write_text("")
        os.chown(dev / name, 0, 44)
    spec = generate(plugin)
    assert spec["cdiVersion"] == "0.7.0"
    assert spec["containerEdits"]["additionalGids"] == [44]
    assert spec["devices"][0]["containerEdits"]["additionalGids"] == [44]
    assert any(m["containerPath"] == "/run/nvidia-persistenced/socket"
               for m in spec["containerEdits"]["mounts"])
    spec = generate(plugin, "--cdi-feature-flags=disable-ipc-discoverer,"
                            "no-additional-gids-for-device-nodes")
    assert "additionalGids" not in spec["containerEdits"]
    assert "additionalGids" not in spec["devices"][0]["containerEdits"]
    assert not any("persistenced" in m["containerPath"] for m in spec["containerEdits"]["mounts"])


def test_graphics_files_when_driver_capabilities_ask(plugin, driver_root):
    files = ["usr/share/glvnd/egl_vendor.d/10_nvidia.json",
             "etc/vulkan/icd.d/nvidia_icd.json",
             "usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json",
             "usr/share/nvidia/nvoptix.bin",
             f"{LIBDIR.lstrip('/')}/nvidia/xorg/nvidia_drv.so",
             f"{LIBDIR.lstrip('/')}/nvidia/xorg/libglxserver_nvidia.so.{VERSION}",
             "usr/share/X11/xorg.conf.d/10-nvidia.conf"]
    for rel in files:
        (driver_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (driver_root / rel).write_text("")
    compute = generate(plugin, env={"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"})
    mounts = {m["containerPath"] for m in compute["containerEdits"]["mounts"]}
    assert not any(("/" + rel) in mounts for rel in files)
    for caps in ("graphics", "compute,display", "all"):
        spec = generate(plugin, env={"NVIDIA_DRIVER_CAPABILITIES": caps})
        mounts = [m["containerPath"] for m in spec["containerEdits"]["mounts"]]
        assert mounts[-len(files):] == ["/" + rel for rel in files], caps
        links = hooks_by_name(spec)["create-symlinks"][1::2]
        assert (f"libglxserver_nvidia.so.{VERSION}::{LIBDIR}/nvidia/xorg/libglxserver_nvidia.so"
                in links)
