"""The operator against a real Kubernetes control plane: fixtures and the vocabulary tests speak.

``control_plane`` is kube-apiserver, etcd, kube-controller-manager, kube-scheduler and kwok
(``scripts/control-plane.sh``): the one ``AGENTOS_TEST_CONTROL_PLANE`` names (a directory that
``control-plane.sh start`` filled, as ``scripts/test.sh`` does), else one started for the
session. The CRD is installed with ``kubectl apply --server-side``, as a platform team would.

``install_operator`` installs the chart with real helm and runs the real ``agentos operator``
process with the chart's ServiceAccount token, so every request it makes passes the RBAC the
chart grants, no more. The API server's audit log (every write, by whom) is how tests count the
operator's writes. Nothing sleeps to wait: ``eventually`` polls a condition until a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CRD = ROOT / "crds" / "agentosconfigs.agentos.dev.yaml"
CHART = ROOT / "charts" / "agentos-operator"
SCRIPT = ROOT / "scripts" / "control-plane.sh"
STATE_ENV = "AGENTOS_TEST_CONTROL_PLANE"
VERSION_ENV = "AGENTOS_TEST_KUBERNETES_VERSION"
IMAGE = "registry.example/agentos-runtime:test"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
SCOPE_FLAGS = frozenset({"-n", "--namespace", "-A", "--all-namespaces"})
# The severities of kopf's JSON log above info: it writes "warn" and "fatal", not "warning" and "critical".
TROUBLE = frozenset({"warn", "error", "fatal"})
T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or probe}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Kubectl:
    """Real kubectl (and helm) with one kubeconfig."""

    kubeconfig: Path

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        home = Path(tempfile.gettempdir()) / "agentos-helm-home"
        env = {**os.environ, "HOME": str(home), "HELM_CACHE_HOME": str(home / "cache")}
        env.update(HELM_CONFIG_HOME=str(home / "config"), HELM_DATA_HOME=str(home / "data"))
        result = subprocess.run(
            [str(BIN / "helm"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        scope = ["-n", namespace] if namespace else []
        result = self.run("get", kind, name, *scope, "-o", "json", "--ignore-not-found")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def items(self, kind: str, namespace: str, *selector: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(
            self.run("get", kind, "-n", namespace, *selector, "-o", "json").stdout
        )["items"]
        return found

    def apply(self, body: dict[str, Any] | str, namespace: str | None = None, *args: str) -> str:
        """``kubectl apply --server-side``, as GitOps tools apply (no last-applied annotation to outgrow)."""
        text = body if isinstance(body, str) else json.dumps(body)
        scope = ["-n", namespace] if namespace else []
        return self.run("apply", "--server-side", "--force-conflicts", *scope, *args, "-f", "-", input=text).stdout


@dataclass
class ControlPlane(Kubectl):
    """The control plane's kubectl (cluster-admin), its state directory and its audit log."""

    state: Path = Path()
    version: str = ""

    def audit_mark(self) -> int:
        """A point in the audit log: writes after it are counted by ``writes``."""
        path = self.state / "audit.log"
        return path.stat().st_size if path.exists() else 0

    def requests(self, user: str, since: int = 0) -> list[dict[str, Any]]:
        """Every request ``user`` made since ``since`` (answered), as the API server's audit log recorded it."""
        with (self.state / "audit.log").open("rb") as log:
            log.seek(max(since - 1, 0))
            text = log.read() if since else b"\n" + log.read()
        # The API server writes a line in pieces: a mark may fall inside one (its request answered
        # before the mark: left out), and the last line may still be being written (left for later).
        lines = text.split(b"\n")[1:-1]
        events = [json.loads(line) for line in lines if line.strip()]
        return [e for e in events if e.get("stage") == "ResponseComplete" and e["user"]["username"] == user]

    def writes(self, user: str, since: int = 0) -> list[dict[str, Any]]:
        """Every write ``user`` made since ``since``; dry runs store nothing and are not writes."""
        return [
            event
            for event in self.requests(user, since)
            if event["verb"] in WRITE_VERBS and "dryRun=All" not in event["requestURI"]
        ]

    def refused(self, user: str, since: int = 0) -> list[str]:
        """``verb uri: code`` of each of ``user``'s requests the API server answered 401 or 403."""
        return [
            f"{e['verb']} {e['requestURI']}: {e['responseStatus']['code']}"
            for e in self.requests(user, since)
            if e.get("responseStatus", {}).get("code") in (401, 403)
        ]


def start_control_plane(version: str, state: Path) -> None:
    subprocess.run(["bash", str(SCRIPT), "start", version, str(state)], check=True, timeout=1800)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    given = os.environ.get(STATE_ENV)
    version = os.environ.get(VERSION_ENV) or ""
    if given:
        state = Path(given)
    else:
        state = tmp_path_factory.mktemp("control-plane")
        version = (
            version
            or subprocess.run(
                ["bash", str(SCRIPT), "versions"], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
        start_control_plane(version, state)
    cluster = ControlPlane(kubeconfig=state / "kubeconfig", state=state, version=version)
    try:
        cluster.run("apply", "--server-side", "--field-manager=platform-team", "-f", str(CRD))
        wait_for_condition(cluster, "Established", "crd/agentosconfigs.agentos.dev", timeout="60s")
        add_volumes(cluster)
        yield cluster
    finally:
        if not given:
            subprocess.run(["bash", str(SCRIPT), "stop", str(state)], check=False, timeout=60)


def add_volumes(cluster: ControlPlane, count: int = 120) -> None:
    """PersistentVolumes a provisioner would have made: claims without a class bind to them.

    A volume serves one claim: released with its namespace, it is deleted (its reclaim policy),
    so the pool is what a whole session's embedded-SQLite resources may claim.
    """
    volumes = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"pool-{index}"},
            "spec": {
                "capacity": {"storage": "100Gi"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": f"/tmp/agentos-pool-{index}"},
            },
        }
        for index in range(count)
    ]
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": volumes})


@contextlib.contextmanager
def fresh_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A new namespace, once Kubernetes made its default ServiceAccount (as in any namespace in
    use: pods created before it are refused); deleted at the end (children go with it)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.run("create", "namespace", name)
    eventually(lambda: control_plane.get("serviceaccount", "default", name), what=f"{name}'s default ServiceAccount")
    try:
        yield name
    finally:
        control_plane.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace for one test (``fresh_namespace``)."""
    with fresh_namespace(control_plane) as name:
        yield name


NamespaceMaker = Callable[[str], str]


@pytest.fixture
def make_namespace(control_plane: ControlPlane) -> Iterator[NamespaceMaker]:
    """Create namespaces by name for one test (a test that needs more than one, or chosen names)."""
    made: list[str] = []

    def make(name: str) -> str:
        control_plane.run("create", "namespace", name)
        made.append(name)
        return name

    yield make
    for name in made:
        control_plane.run("delete", "namespace", name, "--wait=false", check=False)


@dataclass
class OperatorProcess:
    """One ``agentos operator`` process, its log and its metrics."""

    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int
    pod_name: str  # its identity, as POD_NAME gives it in a pod

    def alive(self) -> bool:
        return self.process.poll() is None

    def resync(self) -> None:
        """SIGUSR1: reconcile every resource now."""
        self.process.send_signal(signal.SIGUSR1)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` (with ``labels``) the operator's /metrics shows."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            sample, _, tail = head.partition("{")
            if sample != name or not all(f'{k}="{v}"' in tail for k, v in labels.items()):
                continue
            total += float(value)
        return total

    def reconciles(self, result: str | None = None) -> float:
        """How many reconciles ended (with ``result``, when given), from the operator's metrics."""
        labels = {"result": result} if result is not None else {}
        return self.metric("agentos_operator_reconciles_total", **labels)

    def resynced(self, count: int, timeout: float = 30.0) -> None:
        """SIGUSR1, then wait until ``count`` more reconciles ended (one per resource it serves)."""
        before = self.reconciles()
        self.resync()
        eventually(lambda: self.reconciles() >= before + count, timeout=timeout, what=f"{count} resynced")

    def reconciling(self) -> bool:
        """Whether it runs its reconciler (with leader election: whether it holds the Lease)."""
        return self.metric("agentos_operator_reconciling") > 0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.alive():
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Installed:
    """The chart installed for one test: its release, the operator's identity and its processes."""

    cluster: ControlPlane
    release: str
    release_namespace: str
    watched: tuple[str, ...]
    service_account: str
    kubeconfig: Path
    processes: list[OperatorProcess] = field(default_factory=list)

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.release_namespace}:{self.service_account}"

    def start(self, *args: str, **env: str) -> OperatorProcess:
        """Run ``agentos operator`` as the chart's ServiceAccount, watching what the chart grants.

        ``args`` that name a scope (``--namespace=team-*``) replace the one the install implies.
        """
        # Named after the release: two releases installed in one test share the directory.
        log = self.kubeconfig.with_name(f"{self.release}-operator-{len(self.processes)}.log")
        port = free_port()
        scoped = any(arg.partition("=")[0] in SCOPE_FLAGS for arg in args)
        scope = [] if scoped else [f"--namespace={ns}" for ns in self.watched] or ["--all-namespaces"]
        environment = {
            "PATH": os.environ.get("PATH", ""),
            # The code of this checkout, whichever one the virtualenv's `agentos` was installed from.
            "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("operator", "runtime", "")),
            "KUBECONFIG": str(self.kubeconfig),
            "AGENTOS_RUNTIME_IMAGE": IMAGE,
            "AGENTOS_METRICS_PORT": str(port),
            "AGENTOS_HEALTH_PORT": "0",
            "AGENTOS_LOG_FORMAT": "json",
            "AGENTOS_SECRET_RETRY_SECONDS": "1",
            "AGENTOS_ERROR_RETRY_SECONDS": "0.2",
            "AGENTOS_ERROR_RETRY_MAX_SECONDS": "2",
            "POD_NAMESPACE": self.release_namespace,
            "POD_NAME": f"{self.release}-{len(self.processes)}",
            **env,
        }
        pod_name = environment["POD_NAME"]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(BIN / "agentos"), "operator", *scope, *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        running = OperatorProcess(process, log, port, pod_name)
        self.processes.append(running)
        eventually(lambda: running_or_fail(running), timeout=30, what="the operator's metrics endpoint")
        return running

    def start_elected(self, *args: str, duration: int = 4, **env: str) -> OperatorProcess:
        """A replica electing a leader with the chart's Lease (its name and its grant), ``duration`` seconds long."""
        return self.start(
            "--leader-election",
            *args,
            AGENTOS_LEASE_NAME=self.service_account,
            AGENTOS_LEASE_DURATION_SECONDS=str(duration),
            AGENTOS_LEASE_RETRY_SECONDS="0.3",
            **env,
        )

    def lease(self) -> dict[str, Any]:
        """The spec of the chart's leader Lease (empty before anyone took it)."""
        found = self.cluster.get("lease", self.service_account, self.release_namespace)
        return (found or {}).get("spec") or {}

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self.cluster.requests(self.user, since)

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        return self.cluster.writes(self.user, since)

    def refused(self, since: int = 0) -> list[str]:
        return self.cluster.refused(self.user, since)


# kubectl wait fails at once, instead of waiting, on an object whose status has no conditions
# yet ("status.conditions accessor error: <nil>"), as a CRD has for an instant after it is applied.
NO_CONDITIONS_YET = "accessor error"


def wait_for_condition(
    cluster: Kubectl, condition: str, resource: str, *, timeout: str, namespace: str | None = None
) -> None:
    """``kubectl wait --for=condition=<condition>``, asked again while the object has no conditions at all."""
    scope = ["-n", namespace] if namespace else []
    for _ in range(50):
        result = cluster.run(
            "wait", f"--for=condition={condition}", f"--timeout={timeout}", *scope, resource, check=False
        )
        if result.returncode == 0:
            return
        if NO_CONDITIONS_YET not in result.stderr:
            break
    raise AssertionError(f"kubectl wait for {condition} on {resource} failed: {result.stderr.strip()}")


def running_or_fail(operator: OperatorProcess) -> bool:
    if not operator.alive():
        raise AssertionError(f"the operator exited:\n{operator.output()[-4000:]}")
    with contextlib.suppress(OSError):
        operator.metric("agentos_operator_reconciles_total")
        return True
    return False


def token_kubeconfig(cluster: ControlPlane, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount, with a token the API server issued."""
    token = cluster.run("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    config = yaml.safe_load((cluster.state / "kubeconfig").read_text())
    config["users"] = [{"name": "operator", "user": {"token": token}}]
    config["contexts"] = [
        {"name": "operator", "context": {"cluster": config["clusters"][0]["name"], "user": "operator"}}
    ]
    config["current-context"] = "operator"
    path.write_text(yaml.safe_dump(config))
    return path


InstallOperator = Callable[..., Installed]


@contextlib.contextmanager
def installing(control_plane: ControlPlane, directory: Path) -> Iterator[InstallOperator]:
    """How to install the chart (namespaced on the given namespaces, or cluster-wide) and run it,
    its kubeconfigs and logs in ``directory``; every release uninstalled and its operators stopped
    at the end. ``install_operator`` for one test; a module-scoped fixture for an operator its
    tests share."""
    installed: list[Installed] = []

    def install(*watched: str, values: tuple[str, ...] = (), release_namespace: str | None = None) -> Installed:
        """``release_namespace``: install there (made if missing), the release's own name by default."""
        release = f"op-{uuid.uuid4().hex[:6]}"
        release_namespace = release_namespace or release
        rbac = ["--set", "rbac.namespaces={" + ",".join(watched) + "}"] if watched else []
        control_plane.helm(
            "install",
            release,
            str(CHART),
            "-n",
            release_namespace,
            "--create-namespace",
            "--set",
            "crds.install=false",
            *rbac,
            *values,
            "--wait=false",
        )
        account = release if release.startswith("agentos-operator") else f"{release}-agentos-operator"
        sa = control_plane.items("serviceaccounts", release_namespace, "-l", f"app.kubernetes.io/instance={release}")
        account = sa[0]["metadata"]["name"] if sa else account
        kubeconfig = token_kubeconfig(control_plane, release_namespace, account, directory / f"{release}.kubeconfig")
        result = Installed(control_plane, release, release_namespace, tuple(watched), account, kubeconfig)
        installed.append(result)
        return result

    try:
        yield install
    finally:
        for each in installed:
            for process in each.processes:
                process.stop()
            control_plane.helm("uninstall", each.release, "-n", each.release_namespace, check=False)
            control_plane.run("delete", "namespace", each.release_namespace, "--wait=false", check=False)


@pytest.fixture
def install_operator(control_plane: ControlPlane, tmp_path: Path) -> Iterator[InstallOperator]:
    """Install the chart (namespaced on the given namespaces, or cluster-wide) and return how to run it."""
    with installing(control_plane, tmp_path) as install:
        yield install


def agentos_body(name: str, *, secret: str = "openai", **spec: Any) -> dict[str, Any]:
    """A valid AgentOSConfig: one model keyed from ``secret``, one agent, embedded SQLite."""
    return {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "metadata": {"name": name},
        "spec": {
            "models": [{"id": "gpt-4o-mini", "apiKeySecretRef": {"name": secret, "key": "api-key"}}],
            "agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Be brief."]}],
            **spec,
        },
    }


def create_secret(cluster: Kubectl, namespace: str, name: str, **data: str) -> None:
    args = [f"--from-literal={key.replace('_', '-')}={value}" for key, value in data.items()]
    cluster.run("create", "secret", "generic", name, "-n", namespace, *args)


# A PostgreSQL database by URL: a resource that may run several replicas (SQLite may not).
POSTGRES = [{"id": "main", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "uri"}}]


def add_secrets(cluster: Kubectl, namespace: str, *, postgres: bool = False) -> None:
    """The Secrets ``agentos_body`` resources read: the model's key, and the database URL of ``POSTGRES``."""
    create_secret(cluster, namespace, "openai", api_key="sk-test-1")
    if postgres:
        create_secret(cluster, namespace, "pg", uri="postgresql://u:p@db:5432/app")


def condition(body: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    found = [c for c in ((body or {}).get("status") or {}).get("conditions") or [] if c["type"] == type_]
    return found[0] if found else {}


def wait_ready(cluster: Kubectl, namespace: str, name: str, timeout: str = "60s") -> dict[str, Any]:
    """``kubectl wait --for=condition=Ready``, then the resource as it is now."""
    wait_for_condition(cluster, "Ready", f"agentosconfig/{name}", timeout=timeout, namespace=namespace)
    body = cluster.get("agentosconfig", name, namespace)
    assert body is not None
    return body


def wait_until_condition(
    cluster: Kubectl, namespace: str, type_: str, *, name: str = "demo", timeout: float = 30.0, **expected: str
) -> dict[str, Any]:
    """Wait until the resource's ``type_`` condition has each field of ``expected`` (``reason="Unschedulable"``,
    ``status="False"``), then return that condition."""

    def matching() -> dict[str, Any]:
        found = condition(cluster.get("agentosconfig", name, namespace), type_)
        return found if all(found.get(key) == value for key, value in expected.items()) else {}

    fields = ", ".join(f"{key}={value}" for key, value in expected.items())
    return eventually(matching, timeout=timeout, what=f"{namespace}/{name} {type_} with {fields}")


def operator_running(
    cluster: ControlPlane,
    namespace: str,
    install_operator: InstallOperator,
    *args: str,
    env: Mapping[str, str] | None = None,
    postgres: bool = False,
) -> tuple[Installed, OperatorProcess]:
    """The chart installed for ``namespace``, its operator started (with ``args`` and ``env``), and the
    Secrets ``agentos_body`` resources read (``add_secrets``)."""
    installed = install_operator(namespace)
    operator = installed.start(*args, **(env or {}))
    add_secrets(cluster, namespace, postgres=postgres)
    return installed, operator


def running_and_ready(
    cluster: ControlPlane,
    namespace: str,
    install_operator: InstallOperator,
    *,
    postgres: bool = False,
    operator_env: Mapping[str, str] | None = None,
    **spec: Any,
) -> tuple[OperatorProcess, dict[str, Any]]:
    """The chart installed, its operator running (with ``operator_env``), and ``demo``
    (``agentos_body`` with ``spec``) Ready."""
    _, operator = operator_running(cluster, namespace, install_operator, env=operator_env, postgres=postgres)
    cluster.apply(agentos_body("demo", **spec), namespace)
    return operator, wait_ready(cluster, namespace, "demo")


def wait_quiet(installed: Installed, operator: OperatorProcess, count: int, timeout: float = 60.0) -> None:
    """Wait until a resync of ``count`` resources writes nothing: readiness is reported as pods come up,
    and each Available event is posted after its status, so a last write may still be on its way."""

    def resync_writes_nothing() -> bool:
        mark = installed.cluster.audit_mark()
        operator.resynced(count)
        return installed.writes(mark) == []

    eventually(resync_writes_nothing, timeout=timeout, what="a resync writing nothing")


def settled(cluster: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    """The resource when its status says Ready for its current spec and its pods run its current config."""
    body = cluster.get("agentosconfig", name, namespace)
    deployment = cluster.get("deployment", name, namespace)
    if body is None or deployment is None:
        return None
    status = body.get("status") or {}
    pods_hash = (deployment["spec"]["template"]["metadata"].get("annotations") or {}).get("agentos.dev/config-hash")
    current = status.get("observedGeneration") == body["metadata"]["generation"]
    ready = condition(body, "Ready").get("status") == "True"
    return body if ready and current and status.get("configHash") == pods_hash else None


def wait_settled(cluster: Kubectl, namespace: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the resource is Ready for its current spec (after an edit, Ready may still be the old one)."""
    body = eventually(lambda: settled(cluster, namespace, name), timeout=timeout, what=f"{namespace}/{name} settled")
    assert body is not None
    return body


def events_about(cluster: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    """The Events about the AgentOSConfig ``name`` (not about its children of the same name)."""
    return [
        event
        for event in cluster.items("events", namespace, "--field-selector", f"involvedObject.name={name}")
        if event["involvedObject"]["kind"] == "AgentOSConfig"
    ]


def warnings_about(cluster: Kubectl, namespace: str, name: str) -> list[tuple[str, str]]:
    """(reason, message) of each Warning Event about the AgentOSConfig ``name``."""
    return [(e["reason"], e["message"]) for e in events_about(cluster, namespace, name) if e["type"] == "Warning"]


def children_told(cluster: Kubectl, namespace: str, name: str, reason: str) -> list[str]:
    """Each child (``Kind 'name'``) the resource's Events of ``reason`` name, once per mention.

    A change event names every child of one kind of change: ``Created ConfigMap 'a', Service 'b'``.
    """
    told: list[str] = []
    for event in events_about(cluster, namespace, name):
        if event["reason"] == reason:
            told += event["message"].split(" ", 1)[1].split(", ")
    return told


CHILD_RESOURCES = (
    "configmaps",
    "secrets",
    "services",
    "deployments",
    "persistentvolumeclaims",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "networkpolicies",
    "ingresses",
)


def child_versions(cluster: Kubectl, namespace: str, name: str) -> dict[str, str]:
    """Each child's ``kind/name`` -> resourceVersion: what changes whenever anyone writes a child."""
    versions = {}
    for kind in CHILD_RESOURCES:
        for item in cluster.items(kind, namespace, "-l", f"app.kubernetes.io/instance={name}"):
            versions[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return versions
