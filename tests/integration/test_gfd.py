# SPDX-License-Identifier: Apache-2.0
"""`gpu-feature-discovery`: the node labels NVIDIA's GFD writes, on every mock node, MIG
strategy and sharing configuration (golden files in gfd/golden/), the feature-file format,
atomic replacement, oneshot vs loop, SIGHUP reload and SIGTERM.

The golden files hold exactly what `--oneshot --no-timestamp` writes. Regenerate them after an
intended change with GDP_UPDATE_GOLDEN=1 and review the diff: each one must still be what
NVIDIA's GFD v0.20.0 writes for that node (same keys, same values) plus the additions listed in
docs/labels.md."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import (BINARY, NODES, ROOT, VALGRIND, gpu_bus_id, gpus_of, stderr_lines,
                      sysfs_bus_id)
from kubeapi import FakeApiServer, make_pki

HERE = Path(__file__).resolve().parent
GFD_NODES = HERE / "gfd" / "nodes"
GOLDEN = HERE / "gfd" / "golden"
UPDATE = os.environ.get("GDP_UPDATE_GOLDEN") == "1"

ALL_NODES = sorted([p for p in NODES.glob("*.yaml")] + [p for p in GFD_NODES.glob("*.yaml")])
STRATEGIES = ["none", "single", "mixed"]
SHARING = {
    "none": None,
    "time-slicing": """
version: v1
sharing:
  timeSlicing:
    resources:
    - {name: nvidia.com/gpu, replicas: 4}
    - {name: nvidia.com/mig-1g.10gb, replicas: 2}
""",
    "time-slicing-rename": """
version: v1
sharing:
  timeSlicing:
    renameByDefault: true
    resources:
    - {name: nvidia.com/gpu, replicas: 3}
""",
    "mps": """
version: v1
sharing:
  mps:
    resources:
    - {name: nvidia.com/gpu, replicas: 2}
""",
}
# the nodes whose GPUs show a VGA controller class (nvidia.com/gpu.mode=graphics)
GRAPHICS_NODES = {"long-name.yaml"}

LABEL_RE = re.compile(r"^([a-z0-9.-]+/[A-Za-z0-9._-]+)=(.*)$")
VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def node_data(path):
    return yaml.safe_load(Path(path).read_text()) or {}


def fake_sysfs(tmp, node_path):
    """PCI class files for the node's GPUs (the rest of the fake /sys comes from conftest)."""
    cls = "0x030000" if Path(node_path).name in GRAPHICS_NODES else "0x030200"
    for gpu in gpus_of(node_data(node_path)):
        d = tmp / "sys" / "bus" / "pci" / "devices" / sysfs_bus_id(gpu_bus_id(gpu))
        d.mkdir(parents=True, exist_ok=True)
        (d / "class").write_text(cls + "\n")


def gfd(plugin, node, *args, sharing="none", env=None, machine="DGX A100 (test)"):
    fake_sysfs(plugin.tmp, node)
    extra = {}
    if SHARING[sharing] is not None:
        cfg = plugin.tmp / f"{sharing}.yaml"
        cfg.write_text(SHARING[sharing])
        extra["CONFIG_FILE"] = str(cfg)
    mt = plugin.tmp / "product_name"
    mt.write_text(machine + "\n")
    extra["GFD_MACHINE_TYPE_FILE"] = str(mt)
    extra["GFD_USE_NODE_FEATURE_API"] = "false"
    extra.update(env or {})
    return plugin.run("gpu-feature-discovery", *args, node=node, env=extra)


def parse(text):
    """{key: value} of a feature file, checking every line's syntax and validity."""
    labels = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = LABEL_RE.match(line)
        assert m, f"bad line {line!r}"
        key, value = m.groups()
        assert len(key.split("/", 1)[1]) <= 63, key
        assert VALUE_RE.match(value) and len(value) <= 63, f"invalid value {line!r}"
        assert key not in labels, f"duplicate {key}"
        labels[key] = value
    return labels


def matrix():
    for node in ALL_NODES:
        for strategy in STRATEGIES:
            for sharing in SHARING:
                # under valgrind (slow) the code paths, not every combination: no sharing
                # everywhere, the sharing configurations on one MIG and one plain node
                if VALGRIND and sharing != "none" and node.stem not in ("h100x2-mig-mixed",
                                                                        "pcie-t4x4"):
                    continue
                if VALGRIND and strategy != "none" and "mig" not in node.stem:
                    continue
                yield pytest.param(node, strategy, sharing,
                                   id=f"{node.stem}-{strategy}-{sharing}")


@pytest.mark.parametrize("node,strategy,sharing", list(matrix()))
def test_golden(plugin, node, strategy, sharing):
    out = plugin.tmp / "features.d" / "gfd"
    out.parent.mkdir()
    p = gfd(plugin, node, "--oneshot", "--no-timestamp", f"--mig-strategy={strategy}",
            f"--output-file={out}", sharing=sharing)
    if p.returncode == 0:
        got = out.read_text()
        keys = list(parse(got))
        assert keys == sorted(keys), "lines are not sorted by key"
    else:
        assert not out.exists()
        got = "!error " + stderr_lines(p)[-1].split("] ", 1)[1] + "\n"
    golden = GOLDEN / f"{node.stem}-{strategy}-{sharing}.txt"
    if UPDATE:
        golden.write_text(got)
    assert golden.exists(), f"no golden file {golden.name} (GDP_UPDATE_GOLDEN=1 writes it)"
    assert got == golden.read_text()


# NVIDIA's test outputs (tests/expected-output*.txt of k8s-device-plugin v0.20.0) as key sets:
# every key NVIDIA writes on a node of that kind must be in ours.
NVIDIA_KEYS = {
    "common": [
        "gfd.timestamp", "cuda.driver.major", "cuda.driver.minor", "cuda.driver.rev",
        "cuda.runtime.major", "cuda.runtime.minor", "cuda.driver-version.major",
        "cuda.driver-version.minor", "cuda.driver-version.revision", "cuda.driver-version.full",
        "cuda.runtime-version.major", "cuda.runtime-version.minor", "cuda.runtime-version.full",
        "gpu.machine", "gpu.count", "gpu.replicas", "gpu.sharing-strategy", "gpu.product",
        "gpu.memory", "gpu.family", "gpu.mode", "mig.capable", "gpu.compute.major",
        "gpu.compute.minor", "mps.capable",
    ],
    "single": ["mig.strategy", "gpu.multiprocessors", "gpu.engines.copy", "gpu.engines.decoder",
               "gpu.engines.encoder", "gpu.engines.jpeg", "gpu.engines.ofa", "gpu.slices.gi",
               "gpu.slices.ci"],
    "mixed": ["mig.strategy"] + [f"mig-1g.5gb.{s}" for s in (
        "product", "count", "replicas", "sharing-strategy", "memory", "multiprocessors",
        "engines.copy", "engines.decoder", "engines.encoder", "engines.jpeg", "engines.ofa",
        "slices.gi", "slices.ci")],
}


@pytest.mark.parametrize("node,strategy", [("dgx-a100.yaml", "none"),
                                           ("a100-mig-single.yaml", "single"),
                                           ("a100-mig-single.yaml", "mixed")])
def test_nvidia_key_sets(plugin, node, strategy):
    p = gfd(plugin, NODES / node, "--oneshot", f"--mig-strategy={strategy}", "-o", "")
    assert p.returncode == 0, p.stderr
    labels = parse(p.stdout)
    want = NVIDIA_KEYS["common"] + NVIDIA_KEYS.get(strategy, [])
    missing = [k for k in want if "nvidia.com/" + k not in labels]
    assert not missing
    assert re.fullmatch(r"[0-9]{10}", labels["nvidia.com/gfd.timestamp"])
    assert labels["nvidia.com/gpu.machine"] == "DGX-A100-test"


def test_output_flag_aliases_and_stdout(plugin, tmp_path):
    node = NODES / "single-gpu.yaml"
    for flag in ("--output-file", "--output", "-o"):
        out = tmp_path / f"out{flag.strip('-')}"
        p = gfd(plugin, node, "--oneshot", "--no-timestamp", f"{flag}={out}")
        assert p.returncode == 0, p.stderr
        assert parse(out.read_text())["nvidia.com/gpu.product"] == "NVIDIA-L4"
    p = gfd(plugin, node, "--oneshot", "--no-timestamp", env={"GFD_OUTPUT_FILE": ""})
    assert p.returncode == 0, p.stderr
    assert parse(p.stdout)["nvidia.com/gpu.count"] == "1"


def test_environment_and_config_file(plugin, tmp_path):
    """GFD's env names and flags.gfd of the config file; an explicit flag beats the file."""
    out = tmp_path / "gfd"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"version: v1\nflags:\n  migStrategy: mixed\n  gfd:\n    oneshot: true\n"
                   f"    noTimestamp: true\n    outputFile: {out}\n")
    p = gfd(plugin, NODES / "a100-mig-single.yaml", env={"GFD_CONFIG_FILE": str(cfg)})
    assert p.returncode == 0, p.stderr
    labels = parse(out.read_text())
    assert labels["nvidia.com/mig.strategy"] == "mixed"
    assert "nvidia.com/gfd.timestamp" not in labels
    p = gfd(plugin, NODES / "a100-mig-single.yaml", "--no-timestamp=false",
            env={"GFD_CONFIG_FILE": str(cfg), "GFD_MIG_STRATEGY": "single"})
    assert p.returncode == 0, p.stderr
    labels = parse(out.read_text())
    assert labels["nvidia.com/mig.strategy"] == "single"
    assert "nvidia.com/gfd.timestamp" in labels
    p = gfd(plugin, NODES / "a100-mig-single.yaml", "--sleep-interval=soon")
    assert p.returncode == 2
    assert "--sleep-interval" in p.stderr
    p = gfd(plugin, NODES / "a100-mig-single.yaml", "--sleep-interval=0s", "-o", "")
    assert p.returncode == 2 and p.stdout == ""
    assert "without pause" in p.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def api(tmp_path, pki):
    server = FakeApiServer(tmp_path, pki, namespace="gpu-operator")
    server.add_node("node-1")
    yield server
    server.stop()


def node_feature(api, name="nvidia-features-for-node-1", namespace="gpu-operator"):
    with api.lock:
        return api.nodefeatures.get((namespace, name))


def test_node_feature_object_is_created_then_updated(plugin, api):
    api.add_pod("gpu-operator", "gfd-abcde", "pod-uid-1", daemonset=("gfd", "ds-uid-1"))
    env = {**api.env(), "GFD_USE_NODE_FEATURE_API": "true", "NODE_NAME": "node-1",
           "NAMESPACE": "gpu-operator", "POD_NAME": "gfd-abcde"}
    d = Daemon(plugin, NODES / "single-gpu.yaml", "--sleep-interval=300ms", env=env)
    try:
        wait_for(lambda: node_feature(api) is not None)
        nf = node_feature(api)
        assert nf["kind"] == "NodeFeature" and nf["apiVersion"] == "nfd.k8s-sigs.io/v1alpha1"
        meta = nf["metadata"]
        assert meta["labels"] == {"nfd.node.kubernetes.io/node-name": "node-1"}
        owners = {(o["kind"], o["name"], o["uid"], o.get("controller", False))
                  for o in meta["ownerReferences"]}
        assert owners == {("DaemonSet", "gfd", "ds-uid-1", True),
                          ("Pod", "gfd-abcde", "pod-uid-1", False)}
        labels = nf["spec"]["labels"]
        assert labels["nvidia.com/gpu.count"] == "1" and "nvidia.com/gfd.timestamp" in labels
        first = meta["resourceVersion"]
        # the timestamp changes each pass: the object is updated, not created again
        wait_for(lambda: node_feature(api)["metadata"]["resourceVersion"] != first)
        assert not (plugin.tmp / "gfd").exists()
    finally:
        rc, err = d.stop()
    assert rc == 0, err
    assert "NodeFeature gpu-operator/nvidia-features-for-node-1 holds" in err
    posts = api.statuses("POST", "/apis/nfd.k8s-sigs.io/v1alpha1/namespaces/gpu-operator")
    assert posts == [201], posts  # created once


def test_node_feature_unchanged_labels_are_not_written_again(plugin, api):
    env = {**api.env(), "GFD_USE_NODE_FEATURE_API": "true", "NODE_NAME": "node-1",
           "NAMESPACE": "gpu-operator"}
    d = Daemon(plugin, NODES / "single-gpu.yaml", "--sleep-interval=200ms", "--no-timestamp",
               env=env)
    try:
        wait_for(lambda: node_feature(api) is not None)
        time.sleep(1.0)  # five passes
        assert "ownerReferences" not in node_feature(api)["metadata"]  # no --pod-name
        puts = api.statuses("PUT", "/apis/nfd.k8s-sigs.io")
        assert puts == [], puts
    finally:
        rc, err = d.stop()
    assert rc == 0, err


def test_node_feature_api_errors_are_clear_and_retried(plugin, api):
    api.forbidden.add(("create", "nodefeatures"))
    env = {**api.env(), "GFD_USE_NODE_FEATURE_API": "true", "NODE_NAME": "node-1",
           "NAMESPACE": "gpu-operator"}
    d = Daemon(plugin, NODES / "single-gpu.yaml", "--sleep-interval=200ms", env=env)
    try:
        wait_for(lambda: len(api.statuses("POST", "/apis/nfd.k8s-sigs.io")) >= 1)
        api.forbidden.clear()  # RBAC fixed: the next pass stores the labels
        wait_for(lambda: node_feature(api) is not None)
    finally:
        rc, err = d.stop()
    assert rc == 0, err
    line = next(l for l in err.splitlines() if "cannot store the labels" in l)
    assert "create" in line and "nodefeatures" in line, line


def test_node_feature_api_without_a_node_name_says_what_to_set(plugin, tmp_path):
    p = gfd(plugin, NODES / "single-gpu.yaml", "--oneshot",
            env={"GFD_USE_NODE_FEATURE_API": "true"})
    assert p.returncode == 1
    assert "NODE_NAME" in p.stderr and "--use-node-feature-api=false" in p.stderr, p.stderr


def l_startswith_w(line):
    return line.startswith("W")


def test_no_nvml_without_fail_on_init_error(plugin, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("init_error: DRIVER_NOT_LOADED\ngpus: []\n")
    p = gfd(plugin, bad, "--oneshot", "-o", "")
    assert p.returncode == 1
    p = gfd(plugin, bad, "--oneshot", "-o", "", "--fail-on-init-error=false")
    assert p.returncode == 0, p.stderr
    assert list(parse(p.stdout)) == ["nvidia.com/gfd.timestamp"]


class Daemon:
    """gpu-feature-discovery in loop mode, in the background."""

    def __init__(self, plugin, node, *args, env=None):
        fake_sysfs(plugin.tmp, node)
        cmd = [str(BINARY), "gpu-feature-discovery",
               f"--driver-root-ctr-path={plugin.driver_root}", *args]
        if VALGRIND:
            cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect,possible",
                   "--errors-for-leak-kinds=definite,indirect,possible",
                   f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}", *cmd]
        full_env = plugin.env(node, {"GFD_USE_NODE_FEATURE_API": "false",
                                     "GFD_MACHINE_TYPE_FILE": "", **(env or {})})
        self.p = subprocess.Popen(cmd, env=full_env, stderr=subprocess.PIPE, text=True)

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        _, err = self.p.communicate(timeout=60 if VALGRIND else 10)
        return self.p.returncode, err


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout * (5 if VALGRIND else 1)
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def read_labels(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def test_loop_rewrites_atomically_and_sigterm_removes(plugin, tmp_path):
    out = tmp_path / "features.d" / "gfd"
    out.parent.mkdir()
    d = Daemon(plugin, NODES / "pcie-t4x4.yaml", "--sleep-interval=1s", f"-o={out}")
    try:
        assert wait_for(lambda: read_labels(out) is not None)
        first = out.read_text()
        ino = out.stat().st_ino
        assert first.startswith("# +expiry-time=")
        expiry = first.splitlines()[0].split("=", 1)[1]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expiry)
        # a later pass renames a new file over the old one: a reader never sees it partial
        assert wait_for(lambda: out.stat().st_ino != ino)
        for _ in range(20):
            text = read_labels(out)
            assert text is not None and text.endswith("\n") and "nvidia.com/gpu.count=4" in text
            time.sleep(0.02)
        assert [p.name for p in out.parent.iterdir()] == ["gfd"]
    finally:
        rc, err = d.stop()
    assert rc == 0, err
    assert not out.exists(), "the labels of a stopped GFD must go"


def test_sighup_reloads_config(plugin, tmp_path):
    out = tmp_path / "gfd"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("version: v1\n")
    d = Daemon(plugin, NODES / "pcie-t4x4.yaml", "--sleep-interval=infinite", "--no-timestamp",
               f"-o={out}", f"--config-file={cfg}")
    try:
        assert wait_for(lambda: "gpu.replicas=1" in (read_labels(out) or ""))
        assert not out.read_text().startswith("#"), "no expiry without a finite interval"
        cfg.write_text(SHARING["time-slicing"])
        d.p.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "gpu.replicas=4" in (read_labels(out) or ""))
        assert "nvidia.com/gpu.product=Tesla-T4-SHARED" in out.read_text()
        cfg.write_text("version: v9\n")
        d.p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert d.p.poll() is None, "an invalid config must not stop GFD"
    finally:
        rc, err = d.stop()
    assert rc == 0, err
    assert "configuration reloaded" in err
    assert "keeping the current one" in err and "unknown version" in err
    assert out.exists(), "with an infinite interval the labels stay (NVIDIA's rule)"


def test_oneshot_exits_and_keeps_file(plugin, tmp_path):
    out = tmp_path / "gfd"
    p = gfd(plugin, NODES / "pcie-t4x4.yaml", "--oneshot", "--sleep-interval=1s", f"-o={out}")
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert not text.startswith("#"), "a oneshot file has no expiry time"
    assert "nvidia.com/gpu.count=4" in text


def test_help_lists_gfd_flags(plugin):
    p = plugin.run("gpu-feature-discovery", "--help", driver_root=False)
    assert p.returncode == 0
    for flag in ("--oneshot", "--no-timestamp", "--sleep-interval", "--output-file",
                 "--output", "--machine-type-file", "--use-node-feature-api",
                 "--mig-strategy", "--fail-on-init-error", "--config-file",
                 "--device-discovery-strategy", "GFD_MIG_STRATEGY, MIG_STRATEGY",
                 "GFD_OUTPUT_FILE", "GFD_CONFIG_FILE, CONFIG_FILE"):
        assert flag in p.stdout, flag
    assert "--pass-device-specs" not in p.stdout


def test_loop_logs_a_warning_once(plugin, tmp_path):
    """The mixed-model warning is logged by the first pass, not by every pass after it."""
    out = tmp_path / "gfd"
    d = Daemon(plugin, GFD_NODES / "mixed-models.yaml", "--sleep-interval=200ms", f"-o={out}")
    try:
        assert wait_for(lambda: read_labels(out) is not None)
        inodes = set()

        def three_passes():
            inodes.add(out.stat().st_ino)  # each pass renames a new file into place
            return len(inodes) >= 3

        assert wait_for(three_passes)
    finally:
        rc, err = d.stop()
    assert rc == 0, err
    assert err.count("2 GPU models on this node") == 1, err


def test_serve_writes_the_labels_in_process(plugin, tmp_path):
    """`serve --labels-output-file`: the same labels from the running plugin, rewritten after
    a reload and a health change, removed when it stops."""
    from daemon import Daemon as ServeDaemon

    out = tmp_path / "labels" / "gfd"
    out.parent.mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("version: v1\n")
    fifo = tmp_path / "control"
    fake_sysfs(plugin.tmp, NODES / "pcie-t4x4.yaml")
    d = ServeDaemon(plugin, tmp_path, node="pcie-t4x4.yaml",
                    args=(f"--labels-output-file={out}", f"--config-file={cfg}"),
                    env={"MOCK_NVML_CONTROL": str(fifo), "GFD_MACHINE_TYPE_FILE": "x"})
    try:
        d.kubelet.wait_registration()
        d.wait_for(lambda: read_labels(out) is not None, "the labels file")
        labels = parse(out.read_text())
        golden = parse((GOLDEN / "pcie-t4x4-none-none.txt").read_text())
        del labels["nvidia.com/gfd.timestamp"], labels["nvidia.com/gpu.machine"]
        del golden["nvidia.com/gpu.machine"]
        assert labels == golden, "the plugin must write what gpu-feature-discovery writes"
        assert not out.read_text().startswith("#")

        cfg.write_text(SHARING["time-slicing"])
        d.send(signal.SIGHUP)
        d.wait_for(lambda: "gpu.replicas=4" in (read_labels(out) or ""), "relabel on reload")

        ino = out.stat().st_ino
        with open(fifo, "w") as f:
            f.write("xid GPU-400cb70f-964e-43c0-b4a3-165de1ab3e01 48\n")
        d.wait_for(lambda: out.stat().st_ino != ino, "relabel on a health change")
        assert "nvidia.com/gpu.count=4" in out.read_text()
        assert d.stop() == 0
    finally:
        d.close()
    assert not out.exists()
    assert "use-node-feature-api" not in d.log
