# SPDX-License-Identifier: Apache-2.0
"""The command line a user sees: subcommands, --help, flag and env validation, exit codes."""
import re

import pytest

from conftest import stderr_lines

# Every flag of NVIDIA's nvidia-device-plugin v0.20.0, with its aliases and env vars.
NVIDIA_FLAGS = {
    "--mig-strategy": ["MIG_STRATEGY"],
    "--fail-on-init-error": ["FAIL_ON_INIT_ERROR"],
    "--driver-root": ["NVIDIA_DRIVER_ROOT"],
    "--nvidia-driver-root": [],
    "--dev-root": ["NVIDIA_DEV_ROOT"],
    "--nvidia-dev-root": [],
    "--pass-device-specs": ["PASS_DEVICE_SPECS"],
    "--device-list-strategy": ["DEVICE_LIST_STRATEGY"],
    "--device-id-strategy": ["DEVICE_ID_STRATEGY"],
    "--gdrcopy-enabled": ["GDRCOPY_ENABLED"],
    "--gds-enabled": ["GDS_ENABLED"],
    "--mofed-enabled": ["MOFED_ENABLED"],
    "--cdi-annotation-prefix": ["CDI_ANNOTATION_PREFIX"],
    "--nvidia-cdi-hook-path": ["NVIDIA_CDI_HOOK_PATH", "NVIDIA_CTK_PATH"],
    "--nvidia-ctk-path": [],
    "--driver-root-ctr-path": ["DRIVER_ROOT_CTR_PATH", "CONTAINER_DRIVER_ROOT"],
    "--container-driver-root": [],
    "--mps-root": ["MPS_ROOT"],
    "--shared-devices-allocation-policy": ["SHARED_DEVICES_ALLOCATION_POLICY"],
    "--device-discovery-strategy": ["DEVICE_DISCOVERY_STRATEGY"],
    "--imex-channel-ids": ["IMEX_CHANNEL_IDS"],
    "--imex-required": ["IMEX_REQUIRED"],
    "--kubelet-socket": ["KUBELET_SOCKET"],
    "--config-file": ["CONFIG_FILE"],
    "--cdi-feature-flags": ["CDI_FEATURE_FLAGS"],
    "--cdi-disable-hooks": ["CDI_DISABLE_HOOKS"],
}


@pytest.mark.parametrize("cmd", [["help"], ["--help"], ["serve", "--help"], ["list", "--help"]])
def test_help_documents_every_flag_and_env_var(plugin, cmd):
    p = plugin.run(*cmd, driver_root=False)
    assert p.returncode == 0, p.stderr
    for flag, envs in NVIDIA_FLAGS.items():
        assert re.search(re.escape(flag) + r"\b", p.stdout), f"{flag} missing from {cmd} help"
        for env in envs:
            assert env in p.stdout, f"{env} missing from {cmd} help"


def test_list_help_has_json_but_serve_does_not(plugin):
    assert "--json" in plugin.run("list", "--help", driver_root=False).stdout
    assert "--json" not in plugin.run("serve", "--help", driver_root=False).stdout


@pytest.mark.parametrize("flag,value,allowed", [
    ("--mig-strategy", "both", ["none", "single", "mixed"]),
    ("--device-id-strategy", "serial", ["uuid", "index"]),
    ("--device-list-strategy", "envvar,cdi", ["envvar", "volume-mounts", "cdi-annotations", "cdi-cri"]),
    ("--shared-devices-allocation-policy", "spread", ["distributed", "packed"]),
    ("--device-discovery-strategy", "wsl", ["auto", "nvml", "tegra"]),
    ("--fail-on-init-error", "maybe", ["true", "false"]),
    ("--imex-channel-ids", "1", ["0"]),
])
def test_bad_flag_value_exits_2_naming_flag_value_and_allowed(plugin, flag, value, allowed):
    p = plugin.run("list", f"{flag}={value}")
    assert p.returncode == 2
    assert p.stdout == ""
    first = stderr_lines(p)[0]
    assert flag in first and value.split(",")[-1] in first
    for a in allowed:
        assert a in first


def test_bad_env_value_names_the_variable(plugin):
    p = plugin.run("list", env={"DEVICE_ID_STRATEGY": "serial"})
    assert p.returncode == 2
    assert "DEVICE_ID_STRATEGY" in p.stderr and "serial" in p.stderr
    assert "uuid" in p.stderr and "index" in p.stderr


def test_flag_beats_env(plugin):
    out = plugin.list_json("--device-id-strategy=uuid", env={"DEVICE_ID_STRATEGY": "index"})
    assert out["deviceIdStrategy"] == "uuid"
    out = plugin.list_json(env={"DEVICE_ID_STRATEGY": "index"})
    assert out["deviceIdStrategy"] == "index"


def test_second_env_name_and_alias_are_honoured(plugin, tmp_path):
    # CONTAINER_DRIVER_ROOT is the second env name of --driver-root-ctr-path
    out = plugin.list_json(env={"CONTAINER_DRIVER_ROOT": str(plugin.driver_root)},
                           driver_root=False)
    assert out["nvml"]["loaded"]
    p = plugin.run("list", "--json", f"--container-driver-root={tmp_path / 'nothing'}",
                   "--fail-on-init-error=false", driver_root=False)
    assert p.returncode == 0


@pytest.mark.parametrize("args", [["list", "--no-such-flag"], ["serve", "--json"],
                                  ["list", "--mig-strategy"], ["list", "extra-argument"]])
def test_usage_errors_exit_2(plugin, args):
    p = plugin.run(*args, driver_root=False)
    assert p.returncode == 2
    assert "Usage: gpu-device-plugin" in p.stderr


def test_version(plugin):
    for args in (["version"], ["--version"]):
        p = plugin.run(*args, driver_root=False)
        assert p.returncode == 0
        assert p.stdout.startswith("gpu-device-plugin version ")


def test_every_flag_is_implemented(plugin):
    p = plugin.run("list", "--mps-root=/x", "--cdi-feature-flags=a", "--cdi-feature-flags=b")
    assert p.returncode == 0, p.stderr
    assert not [l for l in stderr_lines(p) if "not implemented yet" in l]


def test_json_log_format(plugin, tmp_path):
    import json
    p = plugin.run("list", "--log-format=json", "--fail-on-init-error=false",
                   f"--driver-root-ctr-path={tmp_path / 'empty'}", driver_root=False)
    lines = stderr_lines(p)
    assert lines and all(json.loads(l)["msg"] for l in lines)


def test_no_subcommand_means_serve(plugin, tmp_path):
    import signal
    import subprocess
    import time
    from conftest import BINARY
    sock = tmp_path / "nvidia-gpu.sock"
    p = subprocess.Popen([str(BINARY), f"--driver-root-ctr-path={plugin.driver_root}",
                          f"--kubelet-socket={tmp_path / 'kubelet.sock'}"],
                         env=plugin.env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sock.exists()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    assert not sock.exists()
