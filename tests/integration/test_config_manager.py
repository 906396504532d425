# SPDX-License-Identifier: Apache-2.0
"""`gpu-device-plugin config-manager` against the fake API server: the node label selects the
config, every fallback strategy, atomic replacement of the destination, the signal reaching
the right process only, following label changes, the outcome reported on the node, and the
plugin reloading without dropping its registration."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import BINARY, VALGRIND
from daemon import SLOW, Background
from kubeapi import FakeApiServer, make_pki
from kubelet import FakeKubelet, PluginClient

LABEL = "nvidia.com/device-plugin.config"
STATE = LABEL + ".state"
NODE = "node-1"
# variants that run the same C paths as their first case: ASan covers them, valgrind once
ASAN_ONLY = pytest.mark.skipif(VALGRIND, reason="same code paths as the first case")


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def api(tmp_path, pki):
    server = FakeApiServer(tmp_path, pki)
    server.add_node(NODE)
    yield server
    server.stop()


@pytest.fixture
def configs(tmp_path):
    src = tmp_path / "available-configs"
    src.mkdir()
    for name in ("a", "b"):
        (src / name).write_text(f"version: v1\n# config {name}\n")
    # what a ConfigMap volume holds besides the keys: skipped
    (src / "..2026_01_01").mkdir()
    (src / "..data").symlink_to("..2026_01_01")
    dst_dir = tmp_path / "config"
    dst_dir.mkdir()
    return src, dst_dir / "config.yaml"


class Unwrapped(Background):
    """A background process never run under valgrind: its cmdline[0] must be its own."""

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()


class Target:
    """A process whose command name is `name`, counting the SIGHUPs it gets."""

    SCRIPT = ("import signal, sys, time\n"
              "n = 0\n"
              "def on(s, f):\n"
              "    global n\n"
              "    n += 1\n"
              "    open(sys.argv[1], 'w').write(str(n))\n"
              "signal.signal(signal.SIGHUP, on)\n"
              "open(sys.argv[1], 'w').write('0')\n"
              "while True:\n"
              "    time.sleep(1)\n")

    def __init__(self, tmp_path, name, argv0=None):
        self.count_file = tmp_path / f"hups-{abs(hash((name, argv0)))}"
        self.proc = subprocess.Popen(
            ["bash", "-c", 'exec -a "$0" "$1" -c "$2" "$3"', argv0 or name, sys.executable,
             self.SCRIPT, str(self.count_file)])
        deadline = time.monotonic() + 10
        while not self.count_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    @property
    def hups(self):
        return int(self.count_file.read_text() or 0)

    def close(self):
        self.proc.kill()
        self.proc.wait(5)


def cm_env(api, src, dst, **extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NODE_NAME": NODE,
           "CONFIG_FILE_SRCDIR": str(src), "CONFIG_FILE_DST": str(dst),
           "GDP_KUBE_BACKOFF_MS": "100", **api.env()}
    if "PROCESS_TO_SIGNAL" not in extra:
        env["SEND_SIGNAL"] = "false"  # never the default name: other processes may carry it
    env.update({k: str(v) for k, v in extra.items()})
    return env


def oneshot(api, src, dst, *args, **extra):
    """Runs `config-manager --oneshot`; returns (exit status, log)."""
    env = cm_env(api, src, dst, ONESHOT="true", SEND_SIGNAL="false", **extra)
    b = Background([str(BINARY), "config-manager", *args], env)
    try:
        rc = b.proc.wait(20 * SLOW)
    finally:
        b.close()
    b._reader.join(5)
    assert rc != 99, f"valgrind found errors:\n{b.log}"
    return rc, b.log


def sidecar(api, src, dst, *args, **extra):
    return Background([str(BINARY), "config-manager", *args], cm_env(api, src, dst, **extra))


def target_of(dst):
    return os.readlink(dst) if os.path.islink(dst) else None


def wait_for(cond, what, timeout=10):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_oneshot_follows_the_label_and_reports_on_the_node(api, configs):
    src, dst = configs
    api.set_label(NODE, LABEL, "b")
    rc, log = oneshot(api, src, dst)
    assert rc == 0, log
    assert target_of(dst) == str(src / "b")
    assert dst.read_text() == "version: v1\n# config b\n"
    meta = api.node(NODE)["metadata"]
    assert meta["labels"][STATE] == "success"
    assert meta["annotations"][STATE] == 'config "b" applied'
    # the same label again: nothing to do, still success
    rc, log = oneshot(api, src, dst)
    assert rc == 0 and "already configured" in log, log


@pytest.mark.parametrize("files,env,expected", [
    (["a", "b"], {"DEFAULT_CONFIG": "b"}, "b"),
    pytest.param(["a", "default"], {"FALLBACK_STRATEGIES": "named,single"}, "default",
                 marks=ASAN_ONLY),
    pytest.param(["only"], {"FALLBACK_STRATEGIES": "named,single"}, "only", marks=ASAN_ONLY),
    (["a", "b"], {"FALLBACK_STRATEGIES": "named,single,empty"}, "/dev/null"),
])
def test_fallback_strategies_when_the_label_is_unset(api, tmp_path, files, env, expected):
    src = tmp_path / "src"
    src.mkdir()
    for f in files:
        (src / f).write_text(f"# {f}\n")
    dst = tmp_path / "config.yaml"
    rc, log = oneshot(api, src, dst, **env)
    assert rc == 0, log
    assert target_of(dst) == (expected if expected == "/dev/null" else str(src / expected))


@pytest.mark.parametrize("files,env,message", [
    (["a", "b"], {"FALLBACK_STRATEGIES": "named,single"},
     "no config was set, no default was provided, and all fallbacks failed"),
    pytest.param(["a", "b"], {"DEFAULT_CONFIG": "zz"}, 'default config "zz" does not exist',
                 marks=ASAN_ONLY),
    pytest.param([], {"FALLBACK_STRATEGIES": "empty"}, "no configuration files available",
                 marks=ASAN_ONLY),
])
def test_fallbacks_that_fail(api, tmp_path, files, env, message):
    src = tmp_path / "src"
    src.mkdir()
    for f in files:
        (src / f).write_text("# x\n")
    dst = tmp_path / "config.yaml"
    rc, log = oneshot(api, src, dst, **env)
    assert rc == 1 and message in log, log
    assert not os.path.lexists(dst)
    assert api.node(NODE)["metadata"]["labels"][STATE] == "failed"


def test_flags_beat_the_environment_and_bad_flags_are_usage_errors(api, configs):
    src, dst = configs
    api.set_label(NODE, "custom/label", "a")
    rc, log = oneshot(api, src, dst, "--node-label=custom/label", NODE_LABEL="ignored/label")
    assert rc == 0 and target_of(dst) == str(src / "a"), log
    assert api.node(NODE)["metadata"]["labels"]["custom/label.state"] == "success"
    p = subprocess.run([str(BINARY), "config-manager", "--fallback-strategies=named,bogus"],
                       env=cm_env(api, src, dst), capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and 'unknown fallback strategy "bogus"' in p.stderr
    p = subprocess.run([str(BINARY), "config-manager"], env={"PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "invalid <node-name>: must not be empty string" in p.stderr


def test_bad_api_client_knobs_are_usage_errors_and_help_lists_them(api, configs):
    src, dst = configs
    for var, value in (("GDP_KUBE_TIMEOUT_MS", "5s"), ("GDP_KUBE_BACKOFF_MS", "-1"),
                       ("GDP_KUBE_WATCH_TIMEOUT_MS", "3600001")):
        p = subprocess.run([str(BINARY), "config-manager"],
                           env={**cm_env(api, src, dst), var: value}, capture_output=True,
                           text=True, timeout=10)
        want = f'${var}: invalid value "{value}": allowed values are 0 to 3600000 (milliseconds)'
        assert p.returncode == 2 and want in p.stderr, p.stderr
    p = subprocess.run([str(BINARY), "config-manager", "--help"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0
    env_only = p.stdout.split("Environment variables without a flag:", 1)[1]
    for var in ("GDP_SERVICEACCOUNT_DIR", "GDP_KUBE_TIMEOUT_MS", "GDP_KUBE_WATCH_TIMEOUT_MS",
                "GDP_KUBE_BACKOFF_MS"):
        assert f"\n  {var}\n" in env_only


def test_label_naming_a_missing_config_keeps_the_destination(api, configs):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    assert oneshot(api, src, dst)[0] == 0
    api.set_label(NODE, LABEL, "nope")
    rc, log = oneshot(api, src, dst)
    assert rc == 1 and 'specified config "nope" does not exist' in log, log
    assert target_of(dst) == str(src / "a")
    meta = api.node(NODE)["metadata"]
    assert meta["labels"][STATE] == "failed" and "nope" in meta["annotations"][STATE]


def test_sidecar_follows_label_changes_and_signals_only_the_right_process(api, configs,
                                                                          tmp_path):
    src, dst = configs
    name = str(tmp_path / "nvidia-device-plugin")
    target = Target(tmp_path, name)
    decoys = [Target(tmp_path, name + "-other"), Target(tmp_path, "python3", argv0="python3")]
    api.set_label(NODE, LABEL, "a")
    cm = sidecar(api, src, dst, PROCESS_TO_SIGNAL=name)
    try:
        wait_for(lambda: target.hups == 1, "the first signal")
        assert target_of(dst) == str(src / "a")
        # a reader polling the destination during the swap always finds a whole config
        seen, stop = set(), threading.Event()

        def read():
            while not stop.is_set():
                seen.add(dst.read_text())
        reader = threading.Thread(target=read)
        reader.start()
        try:
            api.set_label(NODE, LABEL, "b")
            wait_for(lambda: target.hups == 2, "the signal after the change")
        finally:
            stop.set()
            reader.join(5)
        assert seen == {"version: v1\n# config a\n", "version: v1\n# config b\n"}
        assert target_of(dst) == str(src / "b")
        # a missing config: error, destination and process left alone, state on the node
        api.set_label(NODE, LABEL, "missing")
        cm.wait_log('specified config "missing" does not exist')
        wait_for(lambda: api.node(NODE)["metadata"]["labels"][STATE] == "failed", "failed state")
        assert target_of(dst) == str(src / "b") and target.hups == 2
        # unrelated node updates change nothing
        api.set_label(NODE, "unrelated", "x")
        api.set_label(NODE, LABEL, "a")
        wait_for(lambda: target.hups == 3, "the signal after recovery")
        assert target_of(dst) == str(src / "a")
        wait_for(lambda: api.node(NODE)["metadata"]["labels"][STATE] == "success", "success")
        assert all(d.hups == 0 for d in decoys)
        assert cm.proc.poll() is None
        assert cm.stop() == 0
    finally:
        cm.close()
        for t in [target, *decoys]:
            t.close()
    assert not any(p.name.startswith("config.yaml.tmp") for p in dst.parent.iterdir())


def test_sidecar_with_signal_number_and_no_process(api, configs, tmp_path):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    cm = sidecar(api, src, dst, "--signal=10", PROCESS_TO_SIGNAL=str(tmp_path / "absent"))
    try:
        cm.wait_log("no process named")
        assert target_of(dst) == str(src / "a")  # the file is in place all the same
        assert cm.proc.poll() is None
    finally:
        cm.close()


def wait_watching(api, cm):
    wait_for(lambda: api.watch_rvs(), "a watch request")


@pytest.mark.parametrize("fault,log", [
    ("gone", "410 Gone"),
    ("drop", "watching node node-1"),
    ("garbage", "malformed watch event"),
])
def test_watch_faults_recover(api, configs, fault, log):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    cm = sidecar(api, src, dst, SEND_SIGNAL="false")
    try:
        wait_for(lambda: target_of(dst) == str(src / "a"), "config a")
        wait_watching(api, cm)
        lists = len(api.statuses("GET", "/api/v1/nodes")) - len(api.watch_rvs())
        api.watch_action(fault)
        cm.wait_log(log)
        api.set_label(NODE, LABEL, "b")
        wait_for(lambda: target_of(dst) == str(src / "b"), "config b after the fault")
        relisted = len(api.statuses("GET", "/api/v1/nodes")) - len(api.watch_rvs()) > lists
        assert relisted == (fault == "gone")
        errors = [l for l in cm.stderr_lines if l.startswith("E")]
        assert len(errors) == 1, cm.log  # one clear line per fault
        assert cm.proc.poll() is None
    finally:
        cm.close()


def test_watch_resumes_from_a_bookmark(api, configs):
    src, dst = configs
    cm = sidecar(api, src, dst, SEND_SIGNAL="false", DEFAULT_CONFIG="a")
    try:
        wait_watching(api, cm)
        api.add_node("other-node")  # moves the server's resourceVersion on, unseen by us
        api.watch_action("bookmark")
        time.sleep(0.2)
        api.watch_action("drop")
        wait_for(lambda: len(api.watch_rvs()) >= 2, "a second watch")
        first, second = api.watch_rvs()[:2]
        assert int(second) > int(first)
        assert second == api.node("other-node")["metadata"]["resourceVersion"]
    finally:
        cm.close()


@pytest.mark.parametrize("fault", ["malformed", pytest.param("slow", marks=ASAN_ONLY), "timeout",
                                   pytest.param("status500", marks=ASAN_ONLY)])
def test_list_faults_recover(api, configs, fault):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    extra = {}
    if fault == "malformed":
        api.inject("GET", "/api/v1/nodes", watch=False, status=200, raw=b'{"items": [{"meta')
    elif fault == "slow":
        api.inject("GET", "/api/v1/nodes", watch=False, delay=1.0)
    elif fault == "timeout":
        # under valgrind a TLS handshake alone can take most of a second
        api.inject("GET", "/api/v1/nodes", watch=False, delay=0.3 * SLOW + 1.2)
        extra["GDP_KUBE_TIMEOUT_MS"] = str(300 * SLOW)
    else:
        api.inject("GET", "/api/v1/nodes", watch=False, status=500,
                   body={"kind": "Status", "message": "etcdserver: leader changed", "code": 500})
    rc, log = oneshot(api, src, dst, **extra)
    assert rc == 0 and target_of(dst) == str(src / "a"), log
    errors = [l for l in log.splitlines() if l.startswith("E")]
    expected = {"malformed": "malformed JSON", "slow": None, "timeout": "timed out",
                "status500": "etcdserver: leader changed"}[fault]
    if expected is None:
        assert errors == [], log
    else:
        assert len(errors) == 1 and expected in errors[0], log


def test_forbidden_names_the_verb_and_resource(api, configs):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    api.forbidden.add(("patch", "nodes"))  # NVIDIA's ClusterRole: nodes get, list, watch
    rc, log = oneshot(api, src, dst)
    assert rc == 0 and target_of(dst) == str(src / "a"), log
    assert 'RBAC does not allow verb "patch" on resource "nodes"' in log, log
    api.forbidden = {("watch", "nodes")}
    cm = sidecar(api, src, dst, SEND_SIGNAL="false")
    try:
        cm.wait_log('RBAC does not allow verb "watch" on resource "nodes"')
        api.forbidden = set()  # the ClusterRole is fixed: the retry gets through
        wait_for(lambda: api.statuses("GET", "/api/v1/nodes")[-1] == 200, "a successful watch")
        api.set_label(NODE, LABEL, "b")
        wait_for(lambda: target_of(dst) == str(src / "b"), "config b")
    finally:
        cm.close()


def test_rotated_token_is_reread_after_a_401(api, configs):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    cm = sidecar(api, src, dst, SEND_SIGNAL="false")
    try:
        wait_watching(api, cm)
        api.rotate_token("token-0002", keep_stat=True)  # only a 401 can tell
        api.watch_action("drop")
        wait_for(lambda: 401 in api.statuses("GET", "/api/v1/nodes"), "a 401")
        api.set_label(NODE, LABEL, "b")
        wait_for(lambda: target_of(dst) == str(src / "b"), "config b with the new token")
        assert "401 Unauthorized" not in cm.log  # re-read and retried at once: nothing to report
    finally:
        cm.close()


def test_expired_token_is_reported_until_the_file_changes(api, configs):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    api.valid_tokens = {"token-9999"}
    cm = sidecar(api, src, dst, SEND_SIGNAL="false")
    try:
        cm.wait_log("401 Unauthorized")
        assert not os.path.lexists(dst)
        api.rotate_token("token-9999")
        wait_for(lambda: target_of(dst) == str(src / "a"), "config a once the token is there")
    finally:
        cm.close()


def test_kubeconfig_with_client_certificate_and_token(api, configs, tmp_path):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    kc = api.kubeconfig(tmp_path / "kubeconfig", client_cert=True)
    env = {"KUBERNETES_SERVICE_HOST": "", "GDP_SERVICEACCOUNT_DIR": "/nonexistent"}
    rc, log = oneshot(api, src, dst, f"--kubeconfig={kc}", **env)
    assert rc == 0 and target_of(dst) == str(src / "a"), log
    api.set_label(NODE, LABEL, "b")
    kc = api.kubeconfig(tmp_path / "kubeconfig.json", token="token-0001", inline=False)
    rc, log = oneshot(api, src, dst, KUBECONFIG=str(kc), **env)
    assert rc == 0 and target_of(dst) == str(src / "b"), log


def test_server_certificate_is_verified(api, configs, tmp_path):
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    kc = api.kubeconfig(tmp_path / "kubeconfig", token="token-0001", ca="other-ca.crt")
    cm = sidecar(api, src, dst, f"--kubeconfig={kc}")
    try:
        cm.wait_log("certificate")
        assert not os.path.lexists(dst)
        assert api.statuses("GET", "/api/v1/nodes") == []
    finally:
        cm.close()


def test_bad_kubeconfig_is_a_clear_error(api, configs, tmp_path):
    src, dst = configs
    kc = tmp_path / "kubeconfig"
    kc.write_text("apiVersion: v1\ncurrent-context: nope\ncontexts: []\n")
    rc, log = oneshot(api, src, dst, f"--kubeconfig={kc}")
    assert rc == 1 and 'current-context "nope" not found' in log, log
    rc, log = oneshot(api, src, dst, KUBERNETES_SERVICE_HOST="")
    assert rc == 1 and "KUBERNETES_SERVICE_HOST" in log, log


TS = "version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: {}\n"


def test_plugin_reloads_without_dropping_its_registration(api, plugin, tmp_path):
    """The chart's wiring: an init container (oneshot, no signal), the plugin reading the
    destination, a sidecar signalling it by command name."""
    src = tmp_path / "available-configs"
    src.mkdir()
    (src / "ts2").write_text(TS.format(2))
    (src / "ts4").write_text(TS.format(4))
    dst = tmp_path / "config" / "config.yaml"
    dst.parent.mkdir()
    api.set_label(NODE, LABEL, "ts2")
    assert oneshot(api, src, dst)[0] == 0
    alias = tmp_path / "bin" / "nvidia-device-plugin"
    alias.parent.mkdir()
    alias.symlink_to(BINARY)
    sock_dir = tmp_path / "device-plugins"
    sock_dir.mkdir()
    kubelet = FakeKubelet(sock_dir)
    kubelet.start()
    p = Unwrapped([str(alias), f"--driver-root-ctr-path={plugin.driver_root}",
                    f"--kubelet-socket={sock_dir / 'kubelet.sock'}", f"--config-file={dst}"],
                   plugin.env("dgx-a100.yaml"))
    cm = sidecar(api, src, dst, PROCESS_TO_SIGNAL=str(alias), SIGNAL="1")
    try:
        assert kubelet.wait_registration().resource_name == "nvidia.com/gpu"
        stream = PluginClient(sock_dir / "nvidia-gpu.sock").list_and_watch(timeout=20)
        assert len(next(stream).devices) == 16
        api.set_label(NODE, LABEL, "ts4")
        msg = next(stream)  # the same stream: an updated list, not a new registration
        assert len(msg.devices) == 32
        cm.wait_log("sent signal 1 to " + str(alias))
        p.wait_log("reloading the configuration")
        time.sleep(0.3)
        assert kubelet.registrations.empty()
        assert p.proc.poll() is None
    finally:
        cm.close()
        p.close()
        kubelet.stop()


def test_watch_timeout_rewatches_quietly(api, configs):
    """The server ends every watch after timeoutSeconds (here 1 s) without a single event:
    the client watches again from the same resourceVersion, and logs nothing."""
    src, dst = configs
    api.set_label(NODE, LABEL, "a")
    cm = sidecar(api, src, dst, SEND_SIGNAL="false", GDP_KUBE_WATCH_TIMEOUT_MS="1000")
    try:
        wait_for(lambda: len(api.watch_rvs()) >= 3, "three watches", timeout=20)
        rvs = api.watch_rvs()  # the first watch sees our own state patch, then nothing
        assert None not in rvs and rvs[-1] == rvs[-2]
        assert len(api.statuses("GET", "/api/v1/nodes")) == len(rvs) + 1  # one list only
        api.set_label(NODE, LABEL, "b")
        wait_for(lambda: target_of(dst) == str(src / "b"), "config b")
        assert not [l for l in cm.stderr_lines if l.startswith(("E", "W"))], cm.log
    finally:
        cm.close()
