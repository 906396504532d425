# SPDX-License-Identifier: Apache-2.0
"""Offline checks of the deployment files: the Helm chart rendered for a matrix of values
files (tests/deploy/render, Helm's engine from Debian's Go packages), every rendered object
and static manifest validated against Kubernetes' schemas and for unknown fields
(validate.js, npm kubernetes-models), yamllint, NVIDIA's validation failures and
securityContext cases, and NVIDIA's values rendering into the objects NVIDIA's chart makes.

The renderer is built into $GDP_DEPLOY_BUILD (default build-deploy); the npm packages are
installed into tests/deploy/node_modules (`npm ci`) when missing.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHART = ROOT / "deployments" / "helm" / "gpu-device-plugin"
STATIC = ROOT / "deployments" / "static"
BUILD = (ROOT / os.environ.get("GDP_DEPLOY_BUILD", "build-deploy")).resolve()
NAMESPACE = "nvidia-device-plugin"
RELEASE = "nvdp"
VALUES = sorted((HERE / "values").glob("*.yaml"))
NVIDIA_CASES = sorted(p.name[:-len(".values.yaml")] for p in (HERE / "nvidia").glob("*.values.yaml"))
STATIC_FILES = sorted(p for p in STATIC.iterdir() if p.suffix in (".yml", ".yaml", ".template"))


@pytest.fixture(scope="session")
def renderer():
    BUILD.mkdir(parents=True, exist_ok=True)
    out = BUILD / "render"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
           "GOCACHE": str(BUILD / "gocache"), "GOFLAGS": ""}
    p = subprocess.run(["go", "build", "-o", str(out), "."], cwd=HERE / "render", env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, f"building the renderer (golang-go, golang-github-masterminds-sprig-dev, golang-github-ghodss-yaml-dev):\n{p.stderr}"
    return out


@pytest.fixture(scope="session")
def validator():
    if not (HERE / "node_modules" / "kubernetes-models").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                       check=True)
    return ["node", str(HERE / "validate.js")]


def render(renderer, *args, namespace=NAMESPACE, check=True):
    p = subprocess.run([str(renderer), "-n", namespace, "--release", RELEASE, *args, str(CHART)],
                       capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def by_kind_name(objs):
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


@pytest.fixture(scope="session")
def rendered(renderer, tmp_path_factory):
    """Every values file of the matrix rendered into a file of its own."""
    out = tmp_path_factory.mktemp("rendered")
    files = []
    for v in VALUES:
        f = out / v.name
        f.write_text(render(renderer, "-f", str(v)).stdout)
        files.append(f)
    return files


def test_every_rendered_object_and_static_manifest_validates(rendered, validator):
    p = subprocess.run([*validator, *map(str, rendered), *map(str, STATIC_FILES)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    count = int(p.stdout.strip().splitlines()[-1].split()[1])
    assert count >= 5 * len(rendered) + len(STATIC_FILES)


def test_validator_rejects_unknown_fields_and_bad_values(validator, tmp_path):
    bad = (STATIC / "nvidia-device-plugin.yml").read_text()
    bad = bad.replace("tolerations:", "tolerationss:").replace("type: Directory", "type: Dir")
    f = tmp_path / "bad.yml"
    f.write_text(bad)
    p = subprocess.run([*validator, str(f)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert 'unknown field "DaemonSet.spec.template.spec.tolerationss"' in p.stdout
    assert "hostPath/type must be equal to one of the allowed values" in p.stdout


def test_yamllint(rendered):
    if shutil.which("yamllint") is None:
        pytest.fail("yamllint is missing (scripts/install-deps.sh)")
    files = [*rendered, *STATIC_FILES, CHART / "values.yaml", CHART / "Chart.yaml",
             *VALUES, *(HERE / "nvidia").glob("*.yaml")]
    p = subprocess.run(["yamllint", "-s", "-c", str(HERE / "yamllint.yaml"), *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_static_manifests_keep_nvidias_names(validator):
    plugin = objects((STATIC / "nvidia-device-plugin.yml").read_text())
    assert [(o["kind"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in plugin] == [
        ("DaemonSet", "nvidia-device-plugin-daemonset", "kube-system")]
    spec = plugin[0]["spec"]
    assert spec["selector"]["matchLabels"] == {"name": "nvidia-device-plugin-ds"}
    ctr = spec["template"]["spec"]["containers"][0]
    assert ctr["name"] == "nvidia-device-plugin-ctr" and "command" not in ctr
    assert ctr["securityContext"] == {"allowPrivilegeEscalation": False,
                                      "readOnlyRootFilesystem": True,
                                      "capabilities": {"drop": ["ALL"]}}
    gfd = objects((STATIC / "gpu-feature-discovery-daemonset.yaml").read_text())[0]
    assert gfd["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "gpu-feature-discovery", "app.kubernetes.io/part-of": "nvidia-gpu"}
    assert gfd["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "/usr/bin/gpu-feature-discovery"]


def _summary(objs):
    """What the parity check compares: kinds, names, selectors, containers, env names."""
    out = []
    for o in objs:
        item = {"kind": o["kind"], "name": o["metadata"]["name"]}
        if o["kind"] == "DaemonSet":
            spec = o["spec"]["template"]["spec"]
            item["selector"] = o["spec"]["selector"]["matchLabels"]
            for key in ("initContainers", "containers"):
                item[key] = {c["name"]: sorted(e["name"] for e in c.get("env") or [])
                             for c in spec.get(key) or []}
        out.append(item)
    return sorted(out, key=lambda i: (i["kind"], i["name"]))


@pytest.mark.parametrize("case", NVIDIA_CASES)
def test_nvidia_values_render_into_nvidias_objects(renderer, case):
    p = render(renderer, "-f", str(HERE / "nvidia" / f"{case}.values.yaml"),
               "--set", "nameOverride=nvidia-device-plugin")
    want = yaml.safe_load((HERE / "nvidia" / f"{case}.expected.yaml").read_text())
    assert _summary(objects(p.stdout)) == sorted(want, key=lambda i: (i["kind"], i["name"]))


def test_names_follow_the_release_and_overrides(renderer):
    objs = by_kind_name(objects(render(renderer).stdout))
    assert ("DaemonSet", "nvdp-gpu-device-plugin") in objs
    objs = by_kind_name(objects(render(renderer, "--set", "fullnameOverride=gdp").stdout))
    assert ("DaemonSet", "gdp-mps-control-daemon") in objs
    assert ("ClusterRoleBinding", "gdp-role-binding") in objs


def _plugin_container(renderer, *sets, name="nvdp-gpu-device-plugin"):
    args = [a for s in sets for a in ("--set", s)]
    ds = by_kind_name(objects(render(renderer, *args).stdout))[("DaemonSet", name)]
    return next(c for c in ds["spec"]["template"]["spec"]["containers"]
                if c["name"] == "nvidia-device-plugin-ctr")


LEAST = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
SYS_ADMIN = {"capabilities": {"add": ["SYS_ADMIN"]}}


@pytest.mark.parametrize("sets,want", [
    ((), LEAST),
    (("compatWithCPUManager=true",), {"privileged": True}),
    (("migStrategy=mixed",), SYS_ADMIN),
    (("migStrategy=single",), SYS_ADMIN),
    (("migStrategy=none",), LEAST),
    (("deviceListStrategy=volume-mounts",), SYS_ADMIN),
    (("deviceListStrategy=envvar",), LEAST),
    (("config.name=external",), SYS_ADMIN),
    (("compatWithCPUManager=true", "migStrategy=mixed"), {"privileged": True}),
])
def test_security_context_cases(renderer, sets, want):
    """NVIDIA's chart's cases; ours adds a read-only root filesystem (readOnlyRootFilesystem)."""
    ctx = _plugin_container(renderer, *sets)["securityContext"]
    assert ctx == {**want, "readOnlyRootFilesystem": True}
    ctx = _plugin_container(renderer, *sets, "readOnlyRootFilesystem=false")["securityContext"]
    assert ctx == want


def test_user_security_context_wins(renderer):
    ctx = _plugin_container(renderer, "securityContext.runAsUser=0",
                            "compatWithCPUManager=true")["securityContext"]
    assert ctx == {"runAsUser": 0}


def test_env_only_for_values_that_are_set(renderer):
    env = {e["name"]: e.get("value") for e in _plugin_container(
        renderer, "failOnInitError=false", "gdsEnabled=true", "migStrategy=mixed")["env"]}
    assert env["FAIL_ON_INIT_ERROR"] == "false"
    assert env["GDS_ENABLED"] == "true"
    assert env["MIG_STRATEGY"] == "mixed"
    assert env["NVIDIA_MIG_MONITOR_DEVICES"] == "all"
    assert "GDRCOPY_ENABLED" not in env and "PASS_DEVICE_SPECS" not in env


@pytest.mark.parametrize("args,namespace,message", [
    (("--set", "namespace=gpu"), NAMESPACE, "'namespace' (gpu) is not a value of this chart"),
    ((), "default", "refusing to install into the 'default' namespace"),
    (("--set", "namespaceOverride=gpu"), "default", "refusing to install into the 'default' namespace"),
    (("--set", "config.name=a", "--set", "config.map.x=y"), NAMESPACE, "not both"),
    (("--set", "config.map.a=x", "--set", "config.map.b=y"), NAMESPACE, "config.map has no default config"),
])
def test_nvidias_validation_failures(renderer, args, namespace, message):
    p = render(renderer, *args, namespace=namespace, check=False)
    assert p.returncode == 1
    assert message in p.stderr


@pytest.mark.parametrize("args,namespace", [
    (("--set", "allowDefaultNamespace=true"), "default"),
    (("--set", "config.map.a=x", "--set", "config.map.b=y", "--set", "config.default=a"), NAMESPACE),
    (("--set", "config.map.default=x", "--set", "config.map.b=y"), NAMESPACE),
    (("--set", "config.map.only=x"), NAMESPACE),
])
def test_accepted_where_nvidias_chart_accepts(renderer, args, namespace):
    render(renderer, *args, namespace=namespace)


def test_embedded_config_map_rolls_the_pods(renderer):
    a = by_kind_name(objects(render(renderer, "--set", "config.map.default=a").stdout))
    b = by_kind_name(objects(render(renderer, "--set", "config.map.default=b").stdout))
    key = ("DaemonSet", "nvdp-gpu-device-plugin")
    ann = [x[key]["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for x in (a, b)]
    assert ann[0] != ann[1]
    assert a[("ConfigMap", "nvdp-gpu-device-plugin-configs")]["data"] == {"default": "a"}


def test_mps_sidecar_signals_the_daemon_by_its_real_name(renderer):
    ds = by_kind_name(objects(render(renderer, "--set", "config.map.default=x").stdout))[
        ("DaemonSet", "nvdp-gpu-device-plugin-mps-control-daemon")]
    spec = ds["spec"]["template"]["spec"]
    sidecar = next(c for c in spec["containers"] if c["name"] == "mps-control-daemon-sidecar")
    ctr = next(c for c in spec["containers"] if c["name"] == "mps-control-daemon-ctr")
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["PROCESS_TO_SIGNAL"] == ctr["command"][0]
    assert spec["shareProcessNamespace"] is True and "hostPID" not in spec


def test_gfd_reads_its_documented_keys(renderer):
    ds = by_kind_name(objects(render(renderer, "--set", "gfd.enabled=true", "--set",
                                     "gfd.sleepInterval=90", "--set", "gfd.noTimestamp=true").stdout))[
        ("DaemonSet", "nvdp-gpu-device-plugin-gpu-feature-discovery")]
    env = {e["name"]: e.get("value")
           for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GFD_SLEEP_INTERVAL"] == "90s"
    assert env["GFD_NO_TIMESTAMP"] == "true"


def test_probes_and_default_resources(renderer):
    ctr = _plugin_container(renderer)
    assert "livenessProbe" not in ctr
    assert ctr["resources"]["requests"] == {"cpu": "10m", "memory": "32Mi"}
    ctr = _plugin_container(renderer, "probes.enabled=true", "resources.limits.memory=1Gi")
    assert ctr["livenessProbe"]["exec"]["command"][0] == "sh"
    assert ctr["startupProbe"]["failureThreshold"] == 60
    assert ctr["resources"] == {"limits": {"memory": "1Gi"}}
    assert "ports" not in ctr and "readinessProbe" not in ctr


def test_service_monitor(renderer):
    objs = by_kind_name(objects(render(renderer, "--set", "metrics.enabled=true").stdout))
    assert not [k for k in objs if k[0] in ("Service", "ServiceMonitor")]
    objs = by_kind_name(objects(render(renderer, "--set", "metrics.enabled=true", "--set",
                                       "metrics.serviceMonitor.enabled=true").stdout))
    svc = objs[("Service", "nvdp-gpu-device-plugin-metrics")]
    ds = objs[("DaemonSet", "nvdp-gpu-device-plugin")]
    assert svc["spec"]["selector"] == ds["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9400, "targetPort": "metrics"}]
    sm = objs[("ServiceMonitor", "nvdp-gpu-device-plugin")]
    selected = sm["spec"]["selector"]["matchLabels"]
    assert selected.items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]


def test_labels_in_process(renderer):
    ctr = _plugin_container(renderer, "labelsInProcess.enabled=true")
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["LABELS_OUTPUT_FILE"] == "/etc/kubernetes/node-feature-discovery/features.d/gfd"
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    assert mounts["nfd-features"] == "/etc/kubernetes/node-feature-discovery/features.d"
    assert "LABELS_OUTPUT_FILE" not in {e["name"] for e in _plugin_container(renderer)["env"]}
    p = render(renderer, "--set", "labelsInProcess.enabled=true", "--set", "gfd.enabled=true",
               check=False)
    assert p.returncode != 0 and "not both" in p.stderr, p.stderr


def test_metrics_endpoint_and_http_probes(renderer):
    ctr = _plugin_container(renderer, "metrics.enabled=true", "metrics.port=9500")
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["METRICS_ADDRESS"] == ":9500"
    assert ctr["ports"] == [{"name": "metrics", "containerPort": 9500, "protocol": "TCP"}]
    assert "livenessProbe" not in ctr  # probes stay opt-in
    ctr = _plugin_container(renderer, "metrics.enabled=true", "probes.enabled=true")
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert ctr["readinessProbe"]["periodSeconds"] == 30
    assert ctr["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_static_manifests_are_least_privilege():
    """Every container: read-only root filesystem; no capabilities and no privilege
    escalation unless it is privileged, which only the files that need it are."""
    privileged = set()
    for f in STATIC_FILES:
        for o in objects(f.read_text()):
            if o["kind"] not in ("DaemonSet", "Job"):
                continue
            spec = o["spec"]["template"]["spec"]
            for c in [*spec.get("initContainers", []), *spec["containers"]]:
                ctx = c["securityContext"]
                assert ctx["readOnlyRootFilesystem"] is True, (f.name, c["name"])
                if ctx.get("privileged"):
                    privileged.add(f.name)
                else:
                    assert ctx["allowPrivilegeEscalation"] is False, (f.name, c["name"])
                    assert ctx["capabilities"] == {"drop": ["ALL"]}, (f.name, c["name"])
    assert privileged == {
        "nvidia-device-plugin-compat-with-cpumanager.yml",
        "nvidia-device-plugin-privileged-with-service-account.yml",
        "gpu-feature-discovery-daemonset.yaml",
        "gpu-feature-discovery-daemonset-with-mig-single.yaml",
        "gpu-feature-discovery-daemonset-with-mig-mixed.yaml",
        "gpu-feature-discovery-job.yaml.template",
    }


# Every key NVIDIA's chart (v0.20) reads, by its path in the values. Top-level noTimestamp and
# sleepInterval are read by its templates but absent from its values.yaml, as from ours.
NVIDIA_KEYS = """
config.name config.map config.default config.fallbackStrategies compatWithCPUManager
migStrategy failOnInitError deviceListStrategy deviceIDStrategy nvidiaDriverRoot nvidiaDevRoot
gdrcopyEnabled gdsEnabled mofedEnabled deviceDiscoveryStrategy nameOverride fullnameOverride
namespaceOverride selectorLabelsOverride allowDefaultNamespace imagePullSecrets
image.repository image.tag image.pullPolicy updateStrategy podAnnotations podSecurityContext
securityContext resources nodeSelector affinity tolerations priorityClassName runtimeClassName
devicePlugin.enabled devicePlugin.enableHostNetwork gfd.enabled gfd.securityContext
gfd.enableHostNetwork nfd.nameOverride nfd.master.serviceAccount nfd.master.config.extraLabelNs
nfd.worker.tolerations nfd.worker.config.sources.pci.deviceClassWhitelist
nfd.worker.config.sources.pci.deviceLabelFields mps.root mps.enableHostPID
mps.enableHostNetwork cdi.nvidiaHookPath cdi.featureFlags
""".split()


@pytest.mark.parametrize("key", NVIDIA_KEYS)
def test_values_have_every_key_of_nvidias_chart(key):
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    node = values
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, key
        node = node[part]
