# SPDX-License-Identifier: Apache-2.0
"""Health end to end: XIDs injected through the mock NVML's control FIFO reach every open
ListAndWatch stream of the affected resources as one update, and devices come back."""
import queue
import signal
import threading
import time

import pytest
import yaml

from conftest import gpus_of, load_node, mig_devices
from daemon import Daemon

A100 = load_node("dgx-a100.yaml")
A100_IDS = [g["uuid"] for g in gpus_of(A100)]
H100 = load_node("h100x2-mig-mixed.yaml")


class Watcher:
    """Collects ListAndWatch messages from a stream in the background."""

    def __init__(self, client):
        self.stream = client.list_and_watch()
        self.messages = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()
        self.first = self.next(10)

    def _run(self):
        try:
            for msg in self.stream:
                self.messages.put({d.ID: d.health for d in msg.devices})
        except Exception:  # the stream ends with the test
            pass

    def next(self, timeout=5):
        return self.messages.get(timeout=timeout)

    def quiet(self, seconds=0.5):
        try:
            self.messages.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


@pytest.fixture
def health(plugin, tmp_path):
    started = []

    def start(node="dgx-a100.yaml", env=None, args=()):
        fifo = tmp_path / "control"
        d = Daemon(plugin, tmp_path, node=node, args=args,
                   env={"MOCK_NVML_CONTROL": str(fifo), **(env or {})})
        started.append(d)
        d.kubelet.wait_registration()

        def control(line):
            with open(fifo, "w") as f:
                f.write(line + "\n")

        d.control = control
        return d

    yield start
    for d in started:
        d.close()


def test_fatal_xid_marks_the_gpu_on_every_stream(health):
    d = health()
    watchers = [Watcher(d.client()) for _ in range(2)]
    assert set(watchers[0].first.values()) == {"Healthy"}
    d.control(f"xid {A100_IDS[3]} 48")
    for w in watchers:
        msg = w.next()
        assert msg[A100_IDS[3]] == "Unhealthy"
        assert all(h == "Healthy" for i, h in msg.items() if i != A100_IDS[3])
    d.wait_log("unhealthy xid=48")


@pytest.mark.parametrize("xid", [13, 31, 43, 45, 68, 109])
def test_default_ignored_xids_change_nothing(health, xid):
    d = health()
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[0]} {xid}")
    assert w.quiet(0.5)
    assert d.client().allocate([A100_IDS[0]]).container_responses


def test_disable_healthchecks_env(health):
    d = health(env={"DP_DISABLE_HEALTHCHECKS": "48"})
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[1]} 48")
    assert w.quiet(0.5)
    d.control(f"xid {A100_IDS[1]} 79")
    assert w.next()[A100_IDS[1]] == "Unhealthy"


def test_mig_scoped_xid_marks_one_mig_device(health):
    d = health(node="h100x2-mig-mixed.yaml", args=["--mig-strategy=mixed"])
    # GPU 0 carries two 1g.10gb devices; an XID scoped to one leaves its sibling healthy
    w = Watcher(d.client("nvidia-mig-1g.10gb.sock"))
    first, second = [m["uuid"] for m in mig_devices(gpus_of(H100)[0]) if m["profile"] == "1g.10gb"]
    d.control(f"xid {first} 94")
    msg = w.next()
    assert msg[first] == "Unhealthy" and msg[second] == "Healthy"


def test_gpu_xid_marks_all_its_mig_devices_across_resources(health):
    d = health(node="h100x2-mig-mixed.yaml", args=["--mig-strategy=mixed"])
    gpu0 = gpus_of(H100)[0]
    w_small = Watcher(d.client("nvidia-mig-1g.10gb.sock"))
    w_big = Watcher(d.client("nvidia-mig-3g.40gb.sock"))
    w_other = Watcher(d.client("nvidia-mig-4g.40gb.sock"))  # on GPU 1
    d.control(f"xid {gpu0['uuid']} 79")
    assert set(w_small.next().values()) == {"Unhealthy"}
    assert set(w_big.next().values()) == {"Unhealthy"}
    assert w_other.quiet(0.5)


def test_quiet_period_recovery(health):
    d = health(env={"GDP_HEALTH_QUIET_PERIOD": "500ms"})
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[2]} 32")
    assert w.next()[A100_IDS[2]] == "Unhealthy"
    assert w.next(5)[A100_IDS[2]] == "Healthy"
    d.wait_log("healthy again")


def test_unlisted_xid_stays_unhealthy_unless_listed(health):
    d = health(env={"GDP_HEALTH_QUIET_PERIOD": "300ms"})
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[1]} 200")
    assert w.next()[A100_IDS[1]] == "Unhealthy"
    assert w.quiet(1.0)  # well past the quiet period: still unhealthy
    d.wait_log("not a known transient XID, waiting for a GPU reset")
    d.close()
    listed = health(env={"GDP_HEALTH_QUIET_PERIOD": "300ms"}, args=["--health-recover-xids=200"])
    w = Watcher(listed.client())
    listed.control(f"xid {A100_IDS[1]} 200")
    assert w.next()[A100_IDS[1]] == "Unhealthy"
    assert w.next(5)[A100_IDS[1]] == "Healthy"
    listed.wait_log("listed in --health-recover-xids")
    listed.wait_log("--health-recover-xids=[200] recover after the quiet period")


def test_gpu_lost_and_back(health):
    d = health(env={"GDP_HEALTH_PROBE_INTERVAL": "200ms"})
    w = Watcher(d.client())
    d.control(f"lost {A100_IDS[5]}")
    assert w.next()[A100_IDS[5]] == "Unhealthy"
    d.control(f"back {A100_IDS[5]}")
    assert w.next()[A100_IDS[5]] == "Healthy"


def test_event_storm_keeps_the_daemon_responsive(health):
    d = health()
    w = Watcher(d.client())
    with open(d.dir.parent / "control", "w") as f:
        for i in range(1000):
            f.write(f"xid {A100_IDS[i % 8]} 13\n")  # ignored XIDs: no updates at all
        f.write(f"xid {A100_IDS[7]} 48\n")
    start = time.monotonic()
    assert d.client().allocate([A100_IDS[0]]).container_responses
    assert time.monotonic() - start < 1.0
    msg = w.next()
    assert msg[A100_IDS[7]] == "Unhealthy"
    assert w.quiet(0.3)  # one coalesced update, not a flood


def test_a_reload_keeps_an_unhealthy_gpu_unhealthy(health):
    d = health()
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[5]} 79")
    assert w.next()[A100_IDS[5]] == "Unhealthy"
    d.send(signal.SIGHUP)
    d.wait_log("SIGHUP: reloading")
    d.wait_log(f"device={A100_IDS[5]} index=5 still unhealthy after the reload: XID 79")
    # a stream opened after the reload sees it too; the open one is never told it is Healthy
    after = Watcher(d.client()).first
    assert after[A100_IDS[5]] == "Unhealthy"
    assert all(h == "Healthy" for i, h in after.items() if i != A100_IDS[5])
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        try:
            assert w.next(0.2)[A100_IDS[5]] == "Unhealthy"
        except queue.Empty:
            pass


def test_a_reload_keeps_the_quiet_period_running(health):
    d = health(env={"GDP_HEALTH_QUIET_PERIOD": "1500ms"})
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[2]} 32")
    assert w.next()[A100_IDS[2]] == "Unhealthy"
    d.send(signal.SIGHUP)
    d.wait_log(f"device={A100_IDS[2]} index=2 still unhealthy after the reload")
    assert Watcher(d.client()).first[A100_IDS[2]] == "Unhealthy"
    d.wait_log(f"device={A100_IDS[2]} index=2 healthy again:", timeout=10)
    assert Watcher(d.client()).first[A100_IDS[2]] == "Healthy"


def test_a_reload_during_an_nvml_error_keeps_every_gpu(health):
    d = health()
    w = Watcher(d.client())
    assert len(w.first) == 8
    d.control(f"fail nvmlDeviceGetUUID UNKNOWN once {A100_IDS[3]}")
    d.send(signal.SIGHUP)
    d.wait_log("reload deferred, still serving the current devices: device 3:")
    d.wait_log("retry: reloading the configuration")
    # the retry reads GPU 3 again: it is never dropped from the lists, nor marked
    after = Watcher(d.client()).first
    assert after == {i: "Healthy" for i in A100_IDS}
    while not w.messages.empty():  # and the open stream never lost it either
        assert len(w.next()) == 8


def test_a_reload_while_a_gpu_is_lost_keeps_it_and_brings_it_back(health):
    d = health(env={"GDP_HEALTH_PROBE_INTERVAL": "200ms"})
    w = Watcher(d.client())
    d.control(f"lost {A100_IDS[5]}")
    assert w.next()[A100_IDS[5]] == "Unhealthy"
    d.send(signal.SIGHUP)
    d.wait_log("reload deferred, still serving the current devices: device 5:")
    assert Watcher(d.client()).first[A100_IDS[5]] == "Unhealthy"  # still listed, still unhealthy
    d.control(f"back {A100_IDS[5]}")
    d.wait_log("retry: reloading the configuration")
    # answered NVML before or after the reload went through: healthy either way
    deadline = time.monotonic() + 10
    while Watcher(d.client()).first != {i: "Healthy" for i in A100_IDS}:
        assert time.monotonic() < deadline, d.log
        time.sleep(0.2)


def test_an_xid_that_comes_while_a_reload_runs_is_kept(health):
    d = health()
    w = Watcher(d.client())
    d.send(signal.SIGHUP)
    d.control(f"xid {A100_IDS[2]} 79")  # seen by the health thread the reload is stopping
    d.wait_log("SIGHUP: reloading")
    d.wait_log(f"device={A100_IDS[2]} index=2 unhealthy xid=79")
    d.wait_for(lambda: sum("health recovery:" in line for line in d.stderr_lines) == 2,
               "the reload's health checks")
    assert Watcher(d.client()).first[A100_IDS[2]] == "Unhealthy"
    assert w.next()[A100_IDS[2]] == "Unhealthy"


def test_a_lost_gpu_that_answers_during_a_reload_comes_back(health):
    d = health(env={"GDP_HEALTH_PROBE_INTERVAL": "200ms"})
    w = Watcher(d.client())
    d.control(f"lost {A100_IDS[5]}")
    assert w.next()[A100_IDS[5]] == "Unhealthy"
    d.control(f"back {A100_IDS[5]}")
    d.send(signal.SIGHUP)  # re-discovers it answering, carries it as lost
    deadline = time.monotonic() + 5
    while Watcher(d.client()).first[A100_IDS[5]] != "Healthy":
        assert time.monotonic() < deadline, d.log
        time.sleep(0.2)


def test_a_failed_event_registration_is_retried(health, tmp_path):
    node = load_node("dgx-a100.yaml")
    node["fail"] = [{"function": "nvmlDeviceRegisterEvents", "code": "UNKNOWN", "mode": "once",
                     "uuid": A100_IDS[4]}]
    path = tmp_path / "register-once.yaml"
    path.write_text(yaml.safe_dump(node))
    d = health(node=str(path), env={"GDP_HEALTH_PROBE_INTERVAL": "200ms"})
    d.wait_log(f"device={A100_IDS[4]} index=4 unhealthy xid=0: events cannot be watched")
    d.wait_log(f"device={A100_IDS[4]} index=4 healthy again: events can be watched again")
    assert Watcher(d.client()).first[A100_IDS[4]] == "Healthy"
    # and it is watched: an XID on it marks it
    w = Watcher(d.client())
    d.control(f"xid {A100_IDS[4]} 79")
    assert w.next()[A100_IDS[4]] == "Unhealthy"
