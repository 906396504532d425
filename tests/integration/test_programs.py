# SPDX-License-Identifier: Apache-2.0
"""The binary under NVIDIA's program names (the image's symlinks): the name picks the
subcommand, argv[0] stays as given, and `mps-control-daemon mount-shm` mounts the MPS tmpfs."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BINARY, ROOT, VALGRIND, VALGRIND_ERROR

SERVE_USAGE = "Usage: gpu-device-plugin [serve"


def run_as(tmp_path, name, *args, env=None, prefix=()):
    """Runs the binary through a symlink called name; prefix goes before it (e.g. unshare)."""
    link = tmp_path / name
    if not link.exists():
        link.symlink_to(BINARY)
    cmd = [str(link), *args]
    if VALGRIND:
        cmd = ["valgrind", "--quiet", f"--error-exitcode={VALGRIND_ERROR}",
               "--leak-check=full", "--errors-for-leak-kinds=definite,indirect,possible",
               f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    p = subprocess.run([*prefix, *cmd], env={**base, **(env or {})}, capture_output=True,
                       text=True, timeout=300 if VALGRIND else 30)
    assert p.returncode != VALGRIND_ERROR, f"valgrind found errors:\n{p.stderr}"
    return p


def test_nvidia_device_plugin_name_serves(tmp_path):
    p = run_as(tmp_path, "nvidia-device-plugin", "--help")
    assert p.returncode == 0, p.stderr
    assert SERVE_USAGE in p.stdout
    assert "--mig-strategy" in p.stdout


def test_nvidia_device_plugin_name_keeps_subcommands(tmp_path):
    p = run_as(tmp_path, "nvidia-device-plugin", "version")
    assert p.returncode == 0, p.stderr
    assert "version" in p.stdout


@pytest.mark.parametrize("name", ["gpu-feature-discovery", "config-manager"])
def test_other_programs_never_fall_back_to_serve(tmp_path, name):
    """Either the program exists in this build, or it says it does not: it never serves."""
    p = run_as(tmp_path, name, "--help")
    out = p.stdout + p.stderr
    assert SERVE_USAGE not in out
    if p.returncode != 0:
        assert p.returncode == 1
        assert f"{name}: not available in this build of gpu-device-plugin" in p.stderr
    else:
        assert name in out


def test_mps_control_daemon_name_runs_the_mps_subcommand(tmp_path):
    p = run_as(tmp_path, "mps-control-daemon", "--help")
    assert p.returncode == 0, p.stderr
    assert "mount-shm" in p.stdout
    assert "defaults to /mps" in p.stdout


def test_mount_shm_rejects_extra_arguments(tmp_path):
    p = run_as(tmp_path, "mps-control-daemon", "mount-shm", "--mps-root=/x", "extra")
    assert p.returncode == 2
    assert 'unexpected argument "extra"' in p.stderr


def test_mount_shm_needs_mps_root_under_the_plugins_own_name(tmp_path):
    p = run_as(tmp_path, "gpu-device-plugin", "mps-control-daemon", "mount-shm")
    assert p.returncode == 2
    assert "--mps-root is required" in p.stderr


def _as_nobody():
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")


def test_mount_shm_defaults_to_slash_mps_as_mps_control_daemon():
    """Unprivileged, so nothing is created or mounted: the error names the default path."""
    with tempfile.TemporaryDirectory() as d:  # pytest's tmp_path is closed to other users
        os.chmod(d, 0o755)
        p = run_as(Path(d), "mps-control-daemon", "mount-shm", prefix=_as_nobody())
    assert p.returncode == 1
    assert re.search(r"mount-shm: cannot (create|mount a tmpfs at) /mps/shm", p.stderr), p.stderr


def _mem_total_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    raise AssertionError("no MemTotal in /proc/meminfo")


def _unshare():
    """A private mount namespace (as root), or a user+mount namespace otherwise."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    prefix = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix.insert(1, "--map-root-user")
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a mount namespace here")
    return prefix


def test_mount_shm_mounts_a_tmpfs_with_nvidias_options(tmp_path):
    """Twice in one mount namespace: the second replaces the first instead of stacking."""
    root = tmp_path / "mps"
    root.mkdir()
    link = tmp_path / "mps-control-daemon"
    link.symlink_to(BINARY)
    wrap = "valgrind --quiet --error-exitcode=99 " if VALGRIND else ""
    script = (f'{wrap}"{link}" mount-shm --mps-root="{root}" && '
              f'{wrap}"{link}" mount-shm && '
              f'grep " {root}/shm " /proc/self/mountinfo')
    p = subprocess.run([*_unshare(), "sh", "-c", script], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", ""), "MPS_ROOT": str(root)},
                       timeout=300 if VALGRIND else 30)
    assert p.returncode == 0, p.stderr
    mounts = p.stdout.splitlines()
    assert len(mounts) == 1, p.stdout
    fields = mounts[0].split()
    assert fields[5].split(",") == ["rw", "nosuid", "nodev", "noexec", "relatime"]
    fstype = fields[fields.index("-") + 1]
    assert fstype == "tmpfs"
    size_kb = int(re.search(r"size=(\d+)k", fields[-1]).group(1))
    want = _mem_total_kb() // 2
    assert want <= size_kb < want + 4, (size_kb, want)  # the kernel rounds up to a page
    assert f"mounted a tmpfs at {root}/shm (size={want}k)" in p.stderr
    assert not (root / "shm").is_mount()  # nothing leaked out of the namespace
