# SPDX-License-Identifier: Apache-2.0
"""The config file from the command line: `config check` (exit codes, positions, warnings,
--strict-config), `config print` (precedence flag > env > file > default, output that loads
back), and `list`/`serve` reading --config-file / CONFIG_FILE."""
import json

import pytest

from conftest import stderr_lines

TIME_SLICING = """\
version: v1
flags:
  migStrategy: none
sharing:
  timeSlicing:
    renameByDefault: true
    resources:
    - name: nvidia.com/gpu
      replicas: 4
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def check(plugin, *args, env=None):
    return plugin.run("config", "check", *args, env=env, driver_root=False)


def print_config(plugin, *args, env=None):
    p = plugin.run("config", "print", *args, env=env, driver_root=False)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_check_ok(plugin, tmp_path):
    path = write(tmp_path, "ok.yaml", TIME_SLICING)
    p = check(plugin, path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{path}: ok\n"
    assert p.stderr == ""


def test_check_reports_file_line_column_and_allowed_values(plugin, tmp_path):
    path = write(tmp_path, "bad.yaml", "version: v1\nflags:\n  migStrategy: both\n")
    p = check(plugin, path)
    assert p.returncode == 1
    assert p.stdout == ""
    assert stderr_lines(p) == [f'{path}:3:16: flags.migStrategy: invalid value "both": '
                               "allowed values are none, single, mixed"]


@pytest.mark.parametrize("text,where,message", [
    ("version: v2\n", "1:10", 'version: unknown version "v2": expected v1'),
    ("sharing:\n  timeSlicing:\n    resources: []\n", "3:16",
     "sharing.timeSlicing.resources: no resources specified"),
    ("sharing:\n  mps:\n    resources:\n    - name: gpu\n      replicas: 1\n", "5:17",
     "sharing.mps.resources[0].replicas: number of replicas must be >= 2"),
    ("flags:\n  failOnInitError: \"no\"\n", "2:20",
     "flags.failOnInitError: expected a boolean (true or false)"),
    ("flags: [\n", "2:1", ""),
])
def test_check_errors(plugin, tmp_path, text, where, message):
    path = write(tmp_path, "bad.yaml", text)
    p = check(plugin, path)
    assert p.returncode == 1
    lines = stderr_lines(p)
    assert len(lines) == 1 and lines[0].startswith(f"{path}:{where}: {message}"), p.stderr


def test_check_unknown_keys_warn_or_fail_when_strict(plugin, tmp_path):
    path = write(tmp_path, "extra.yaml", "flags:\n  migStrategy: single\n  fooBar: 1\n")
    p = check(plugin, path)
    assert p.returncode == 0
    assert p.stdout == f"{path}: ok\n"
    assert stderr_lines(p)[0].startswith(f"warning: {path}:3:3: flags.fooBar: unknown key, ignoring")
    for p in (check(plugin, "--strict-config", path), check(plugin, path, env={"STRICT_CONFIG": "true"})):
        assert p.returncode == 1
        assert stderr_lines(p)[0].startswith(f"{path}:3:3: flags.fooBar: unknown key (--strict-config)")


def test_check_several_files_and_missing_ones(plugin, tmp_path):
    good = write(tmp_path, "good.json", '{"version": "v1", "flags": {"migStrategy": "mixed"}}')
    bad = write(tmp_path, "bad.json", '{"flags": {"migStrategy": 1}}')
    missing = str(tmp_path / "missing.yaml")
    p = check(plugin, good, bad, missing)
    assert p.returncode == 1
    assert p.stdout == f"{good}: ok\n"
    lines = stderr_lines(p)
    assert lines[0].startswith(f"{bad}:1:27: flags.migStrategy: expected a string")
    assert lines[1] == f"cannot open config file {missing}: No such file or directory"
    p = check(plugin)
    assert p.returncode == 2
    assert "missing FILE" in p.stderr


def test_print_precedence_flag_env_file_default(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "flags:\n  migStrategy: single\n  plugin:\n"
                 "    deviceIDStrategy: index\n")
    flags = print_config(plugin)["flags"]
    assert flags["migStrategy"] == "none" and flags["plugin"]["deviceIDStrategy"] == "uuid"
    flags = print_config(plugin, f"--config-file={path}")["flags"]
    assert flags["migStrategy"] == "single" and flags["plugin"]["deviceIDStrategy"] == "index"
    flags = print_config(plugin, env={"CONFIG_FILE": path, "MIG_STRATEGY": "mixed"})["flags"]
    assert flags["migStrategy"] == "mixed" and flags["plugin"]["deviceIDStrategy"] == "index"
    flags = print_config(plugin, "--mig-strategy=none",
                         env={"CONFIG_FILE": path, "MIG_STRATEGY": "mixed"})["flags"]
    assert flags["migStrategy"] == "none" and flags["plugin"]["deviceIDStrategy"] == "index"


def test_overridden_file_value_is_not_validated(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "flags:\n  migStrategy: both\n")
    assert print_config(plugin, f"--config-file={path}", "--mig-strategy=mixed")["flags"][
        "migStrategy"] == "mixed"
    assert print_config(plugin, env={"CONFIG_FILE": path, "MIG_STRATEGY": "single"})["flags"][
        "migStrategy"] == "single"
    p = check(plugin, path)
    assert p.returncode != 0 and "both" in p.stderr
    # the YAML type is still checked, as NVIDIA's unmarshalling does
    typed = write(tmp_path, "t.yaml", "flags:\n  migStrategy: [a]\n")
    p = plugin.run("config", "print", f"--config-file={typed}", "--mig-strategy=mixed",
                   driver_root=False)
    assert p.returncode != 0 and "migStrategy" in p.stderr


def test_empty_imex_channel_ids_variable_is_ignored(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "version: v1\nimex:\n  channelIDs: [0]\n")
    cfg = print_config(plugin, f"--config-file={path}", env={"IMEX_CHANNEL_IDS": ""})
    assert cfg["imex"]["channelIDs"] == [0]
    cfg = print_config(plugin, f"--config-file={path}", "--imex-channel-ids=")
    assert cfg["imex"]["channelIDs"] == []


def test_print_time_slicing_example_and_round_trip(plugin, tmp_path):
    path = write(tmp_path, "ts.yaml", TIME_SLICING)
    out = print_config(plugin, f"--config-file={path}")
    assert out["version"] == "v1"
    ts = out["sharing"]["timeSlicing"]
    assert ts["renameByDefault"] is True and ts["failRequestsGreaterThanOne"] is False
    assert ts["resources"] == [{"name": "nvidia.com/gpu", "rename": "nvidia.com/gpu.shared",
                                "devices": "all", "replicas": 4}]
    again = write(tmp_path, "again.json", json.dumps(out))
    p = check(plugin, "--strict-config", again)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert print_config(plugin, f"--config-file={again}") == out


def test_print_mps_needs_mps_root(plugin, tmp_path):
    path = write(tmp_path, "mps.yaml", "sharing:\n  mps:\n    resources:\n"
                 "    - {name: gpu, replicas: 4}\n")
    p = plugin.run("config", "print", f"--config-file={path}", driver_root=False)
    assert p.returncode == 1
    assert f"{path}:3:5: sharing.mps: using MPS requires --mps-root to be specified" in p.stderr
    out = print_config(plugin, f"--config-file={path}", "--mps-root=/run/nvidia/mps")
    assert out["sharing"]["mps"]["failRequestsGreaterThanOne"] is True


def test_list_takes_mig_strategy_from_the_file(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "version: v1\nflags:\n  migStrategy: single\n")
    out = plugin.list_json(f"--config-file={path}", node="a100-mig-single.yaml")
    assert out["migStrategy"] == "single"
    out = plugin.list_json(node="a100-mig-single.yaml", env={"CONFIG_FILE": path})
    assert out["migStrategy"] == "single"
    out = plugin.list_json(f"--config-file={path}", "--mig-strategy=none",
                           node="a100-mig-single.yaml")
    assert out["migStrategy"] == "none"


def test_list_logs_config_warnings_and_fails_on_errors(plugin, tmp_path):
    path = write(tmp_path, "c.yaml", "flags:\n  migStrategy: none\n  unknownFlag: true\n")
    p = plugin.run("list", "--json", f"--config-file={path}", node="single-gpu.yaml")
    assert p.returncode == 0, p.stderr
    assert any(f"{path}:3:3: flags.unknownFlag: unknown key, ignoring" in line
               for line in stderr_lines(p)), p.stderr
    p = plugin.run("list", "--json", "--strict-config", f"--config-file={path}",
                   node="single-gpu.yaml")
    assert p.returncode != 0
    assert f"{path}:3:3: flags.unknownFlag: unknown key (--strict-config)" in p.stderr
    p = plugin.run("list", f"--config-file={tmp_path / 'nope.yaml'}", node="single-gpu.yaml")
    assert p.returncode != 0
    assert "No such file or directory" in p.stderr


def env_only_names(plugin):
    """The variables `serve --help` lists under "Environment variables without a flag"."""
    p = plugin.run("serve", "--help", driver_root=False)
    assert p.returncode == 0, p.stderr
    section = p.stdout.split("Environment variables without a flag:", 1)[1]
    return [line.strip() for line in section.splitlines()
            if line.startswith("  ") and not line.startswith("   ")]


def test_print_all_shows_every_setting_including_environment_only_ones(plugin, tmp_path):
    env = {"GDP_HEALTH_QUIET_PERIOD": "90", "GDP_HEALTH_RECOVERY": "OFF",
           "GDP_WATCHDOG_INTERVAL_MS": "250", "DP_DISABLE_HEALTHCHECKS": "all",
           "GDP_HEALTH_PROBE_INTERVAL": ""}
    out = print_config(plugin, "--all", "--kubelet-socket=/run/k.sock", env=env)
    assert out["config"] == print_config(plugin, "--kubelet-socket=/run/k.sock", env=env)
    s = out["settings"]
    assert s["kubelet-socket"] == "/run/k.sock" and s["mig-strategy"] == "none"
    assert s["GDP_HEALTH_QUIET_PERIOD"] == "90s"  # a bare number is seconds
    assert s["GDP_HEALTH_RECOVERY"] is False
    assert s["GDP_WATCHDOG_INTERVAL_MS"] == 250
    assert s["DP_DISABLE_HEALTHCHECKS"] == "all"
    assert s["GDP_HEALTH_PROBE_INTERVAL"] == "5s"  # empty is not set: the default
    assert s["GDP_REDISCOVERY_INTERVAL"] == "1m"
    names = env_only_names(plugin)
    assert "GDP_MPS_COMMAND_TIMEOUT_MS" in names and "DP_ENABLE_HEALTHCHECKS" in names
    assert [n for n in names if n not in s] == []


@pytest.mark.parametrize("var,value,allowed", [
    ("GDP_WATCHDOG_INTERVAL_MS", "5", "allowed values are 10 to 86400000"),
    ("GDP_WATCHDOG_GRACE_MS", "1m", "allowed values are 10 to 86400000"),
    ("GDP_MPS_RETRY_INTERVAL_MS", "0", "allowed values are 1 to 86400000"),
    ("GDP_HEALTH_RECOVERY", "maybe", "allowed values are on, off, yes, no, true, false, 1, 0"),
    ("GDP_HEALTH_QUIET_PERIOD", "0", "expected a duration from 100ms to 168h"),
    ("GDP_HEALTH_PROBE_INTERVAL", "2h", "expected 0 (off) or a duration from 100ms to 1h"),
    ("GDP_REDISCOVERY_INTERVAL", "soon", "expected a duration such as 60s"),
])
def test_bad_environment_only_values_are_refused_by_name(plugin, var, value, allowed):
    want = f'invalid value "{value}" for environment variable {var}: {allowed}'
    p = plugin.run("config", "print", env={var: value}, driver_root=False)
    assert p.returncode == 2 and want in p.stderr, p.stderr
    p = plugin.run("serve", env={var: value}, driver_root=False)
    assert p.returncode == 2 and want in p.stderr, p.stderr
