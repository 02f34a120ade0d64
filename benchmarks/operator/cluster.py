"""The real API server of the benchmark: a Kubernetes control plane started for one scenario.

``scripts/control-plane.sh`` starts kube-apiserver, etcd, kube-controller-manager,
kube-scheduler and kwok (fake nodes whose pods become Running and Ready) in a directory of the
benchmark's own. What the emulator gives by itself is read here from the control plane:

- **Requests** from the API server's audit log, filtered by the operator's user. The operator
  runs as a ServiceAccount of its own bound to ``cluster-admin`` (a token from
  ``kubectl create token``), not as the control plane's admin, whose reads the audit policy
  leaves out: so its GETs, LISTs and WATCHes are recorded too. Its RBAC is not the chart's
  (``tests/cluster`` checks that one); the benchmark measures cost, not permissions.
- **Progress** from a watch on every AgentOSConfig, held by the benchmark as the admin.
- **Volumes**: the resources use embedded SQLite, so each renders a PersistentVolumeClaim. No
  provisioner runs here; one PersistentVolume (hostPath, no class) per resource is created
  beforehand, as a provisioner would have, so claims bind and pods get scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks.operator import counts, workload
from benchmarks.operator.progress import Progress
from benchmarks.runtime import procstat
from tests.support.emulator import AGENTOS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "control-plane.sh"
CRD = ROOT / "crds" / "agentosconfigs.agentos.dev.yaml"
KUBECTL = Path(sys.executable).parent / "kubectl"
OPERATOR_NAMESPACE = "agentos-operator"
OPERATOR_ACCOUNT = "agentos-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
VOLUMES = "v1/persistentvolumes"
COMPONENTS = ("apiserver", "etcd", "controller-manager", "scheduler", "kwok")
# The benchmark's own requests in flight when it creates or edits every resource: one at a time,
# 1000 edits took 170 s on the loaded 2-CPU machine (88 ms each), which is no burst.
WRITERS = 16
AUDIT_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "patch": "PATCH",
    "update": "PUT",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}
Key = tuple[str, str]


def versions() -> list[str]:
    """The Kubernetes versions the project tests, newest first (``control-plane.sh versions``)."""
    found = subprocess.run(["bash", str(SCRIPT), "versions"], capture_output=True, text=True, check=True)
    return found.stdout.split()


def cached_binaries(version: str) -> Path | None:
    """The control plane's binaries for ``version`` when already built, else None.

    Read from the script's own pins (its cache is keyed by them), so that a caller can decide
    not to start a build that takes many minutes.
    """
    text = SCRIPT.read_text()
    pins = dict(re.findall(r"^(ETCD_VERSION|KWOK_VERSION)=(\S+)$", text, re.M))
    cache = Path(os.environ.get("AGENTOS_K8S_CACHE") or Path.home() / ".cache" / "kube-agentos" / "k8s")
    found = cache / "binaries" / f"{version}-etcd{pins.get('ETCD_VERSION')}-kwok{pins.get('KWOK_VERSION')}"
    return found if (found / "kwok").exists() else None


def resource_path(resource: str, namespace: str | None = None, name: str | None = None) -> str:
    """The URL path of ``group/version/plural`` (``v1/...`` for the core group)."""
    *group_version, plural = resource.split("/")
    prefix = "/api/v1" if group_version == ["v1"] else "/apis/" + "/".join(group_version)
    path = prefix + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"
    return path + (f"/{name}" if name else "")


class Client:
    """The benchmark's own client of the API server: the admin's client certificate, over aiohttp."""

    def __init__(self, server: str, state: Path) -> None:
        context = ssl.create_default_context(cafile=str(state / "ca.crt"))
        context.load_cert_chain(str(state / "admin.crt"), str(state / "admin.key"))
        self.server = server
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=20), timeout=aiohttp.ClientTimeout(total=None)
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> dict[str, Any]:
        """One request; its JSON answer. Raises RuntimeError on an error status, with the API server's words."""
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method, self.server + path, data=data, headers={"Content-Type": "application/json", **headers}
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {text[:500]}")
            answer: dict[str, Any] = json.loads(text)
            return answer

    async def create(self, resource: str, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        return await self.call("POST", resource_path(resource, namespace), body)

    async def patch(self, resource: str, namespace: str | None, name: str, patch: Any) -> dict[str, Any]:
        path = resource_path(resource, namespace, name)
        return await self.call("PATCH", path, patch, **{"Content-Type": "application/merge-patch+json"})

    async def list(self, resource: str) -> list[dict[str, Any]]:
        """Every object of ``resource`` in the cluster, listed in pages."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = await self.call("GET", resource_path(resource) + f"?limit=500&continue={token}")
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    async def follow(self, resource: str, seen: Progress) -> None:
        """Feed ``seen`` every object of ``resource`` as it changes, until cancelled.

        Lists, then watches from the list's version; lists again whenever the watch ends (the
        API server closes watches after a while, or answers 410 once the version is too old),
        or a second later when the API server could not be reached.
        """
        while True:
            try:
                await self._follow_once(resource, seen)
            except (aiohttp.ClientError, RuntimeError, ValueError):
                await asyncio.sleep(1)

    async def _follow_once(self, resource: str, seen: Progress) -> None:
        page = await self.call("GET", resource_path(resource))
        for item in page.get("items") or []:
            seen.observe(item)
        version = page["metadata"]["resourceVersion"]
        query = f"?watch=1&allowWatchBookmarks=true&resourceVersion={version}"
        async with self.session.get(self.server + resource_path(resource) + query) as response:
            while line := await response.content.readline():
                event = json.loads(line)
                if event["type"] == "ERROR":
                    return
                if event["type"] in ("ADDED", "MODIFIED"):
                    seen.observe(event["object"])


class AuditLog:
    """The operator's requests, read as they are appended to the API server's audit log.

    With ``RequestReceived`` omitted, a request is recorded once its answer is complete; a
    watch also when it starts, which is when it is counted (its end is only activity).
    """

    def __init__(self, path: Path, user: str) -> None:
        self.path = path
        self.user = user
        self.requests: list[counts.Request] = []
        self.activity = 0  # every event of the user's, a watch's end included
        self._offset = 0
        self._partial = b""

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip() and self.user.encode() in line:
                self._add(json.loads(line))

    def _add(self, event: dict[str, Any]) -> None:
        if event.get("user", {}).get("username") != self.user:
            return
        self.activity += 1
        verb, stage = event.get("verb", ""), event.get("stage")
        if stage != ("ResponseStarted" if verb == "watch" else "ResponseComplete"):
            return
        ref = event.get("objectRef") or {}
        plural = ref.get("resource") or "discovery"
        plural += f"/{ref['subresource']}" if ref.get("subresource") else ""
        counted = AUDIT_VERBS.get(verb, verb.upper())
        if counted in counts.WRITE_VERBS and "dryRun=" in event.get("requestURI", ""):
            counted = "DRY-RUN"
        code = (event.get("responseStatus") or {}).get("code")
        self.requests.append(counts.Request(counted, plural, code, None if verb == "watch" else _server_ms(event)))


def _server_ms(event: dict[str, Any]) -> float | None:
    """Milliseconds from the API server's receiving a request to its answer being complete."""
    try:
        received = datetime.datetime.fromisoformat(event["requestReceivedTimestamp"])
        complete = datetime.datetime.fromisoformat(event["stageTimestamp"])
    except (KeyError, ValueError):
        return None
    return (complete - received).total_seconds() * 1000


@dataclass
class RealServer:
    """A running control plane, as a scenario uses an API server (``scenarios.ApiServer``)."""

    client: Client
    audit: AuditLog
    progress: Progress
    kubeconfig: Path
    name: str
    state: Path
    runs_pods: bool = True
    # The control plane's processes need both CPUs; the operator competes for them like any pod.
    pin_operator: bool = False

    def mark(self) -> int:
        self.audit.read()
        return len(self.audit.requests)

    def requests_since(self, mark: int) -> list[counts.Request]:
        self.audit.read()
        return self.audit.requests[mark:]

    async def wait_quiet(self, *, quiet: float, timeout: float) -> None:
        """Wait until the audit log recorded nothing of the operator's for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        self.audit.read()
        seen, since = self.audit.activity, time.monotonic()
        while time.monotonic() - since < quiet:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the operator kept making requests for {timeout:.0f}s")
            await asyncio.sleep(0.1)
            self.audit.read()
            if self.audit.activity != seen:
                seen, since = self.audit.activity, time.monotonic()

    async def prepare(self, count: int, *, foreign_secrets: int) -> None:
        await add_volumes(self.client, count)
        await workload.prepare_namespaces(self.client, count, foreign_secrets=foreign_secrets)

    async def create_resources(self, count: int) -> dict[Key, float]:
        return await workload.create_resources(self.client, count, writers=WRITERS)

    async def change_resources(self, count: int) -> dict[Key, tuple[int, float]]:
        return await workload.change_resources(self.client, count, writers=WRITERS)

    async def children_per_resource(self, count: int) -> float:
        objects = [body for kind in workload.CHILD_KINDS for body in await self.client.list(kind)]
        return workload.children_per_resource(objects, count)

    def usage(self) -> dict[str, Any]:
        """Each control-plane process's CPU seconds and peak RSS (MiB) so far, from /proc."""
        found: dict[str, Any] = {}
        for name in COMPONENTS:
            pid_file = self.state / f"{name}.pid"
            with contextlib.suppress(OSError, ValueError, KeyError):
                pid = int(pid_file.read_text())
                found[name] = {
                    "cpu_seconds": round(procstat.cpu_seconds(pid), 1),
                    "peak_rss_mb": round(procstat.memory_mb(pid)[1], 1),
                }
        return found


async def add_volumes(client: Client, count: int) -> None:
    """``count`` PersistentVolumes a provisioner would have made: claims without a class bind to them."""
    limit = asyncio.Semaphore(8)

    async def one(index: int) -> None:
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"bench-pool-{index:05d}"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": f"/tmp/agentos-bench-pool-{index:05d}"},
            },
        }
        async with limit:
            await client.create(VOLUMES, volume)

    await asyncio.gather(*(one(index) for index in range(count)))


async def _run(*argv: str | Path, log: Path, timeout: float = 120) -> str:
    """Run a command to completion, its stderr appended to ``log``; returns its stdout. Raises on failure."""
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            *(str(arg) for arg in argv), stdout=asyncio.subprocess.PIPE, stderr=sink
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    if process.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(str(a) for a in argv)} exited {process.returncode}: {' / '.join(tail)}")
    return out.decode()


async def _kubectl(state: Path, *args: str, log: Path) -> str:
    return await _run(KUBECTL, "--kubeconfig", state / "kubeconfig", *args, log=log)


async def operator_identity(state: Path, *, log: Path) -> Path:
    """A ServiceAccount bound to ``cluster-admin`` and a kubeconfig with a token the API server issued."""
    await _kubectl(state, "create", "namespace", OPERATOR_NAMESPACE, log=log)
    await _kubectl(state, "create", "serviceaccount", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, log=log)
    account = f"--serviceaccount={OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
    await _kubectl(
        state, "create", "clusterrolebinding", "agentos-bench", "--clusterrole=cluster-admin", account, log=log
    )
    token = await _kubectl(
        state, "create", "token", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=12h", log=log
    )
    config = yaml.safe_load((state / "kubeconfig").read_text())
    config["users"] = [{"name": "operator", "user": {"token": token.strip()}}]
    config["contexts"] = [
        {"name": "operator", "context": {"cluster": config["clusters"][0]["name"], "user": "operator"}}
    ]
    config["current-context"] = "operator"
    path = state / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def install_crd(client: Client, state: Path, *, log: Path, timeout: float = 60) -> None:
    """``kubectl apply --server-side`` the CRD, then wait until it is Established and its resources are served.

    Polled with the benchmark's own client rather than ``kubectl wait``: just after the API server
    started, kubectl's discovery could fail to resolve ``crd/...`` (seen once in a few starts).
    """
    deadline = time.monotonic() + timeout
    apply = ("apply", "--server-side", "--field-manager=platform-team", "-f", str(CRD))
    while True:
        try:
            await _kubectl(state, *apply, log=log)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/agentosconfigs.agentos.dev"
    while True:
        with contextlib.suppress(RuntimeError, aiohttp.ClientError):
            status = (await client.call("GET", crd)).get("status") or {}
            established = any(
                c.get("type") == "Established" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            if established:
                await client.call("GET", resource_path(AGENTOS) + "?limit=1")
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the CRD was not served within {timeout:.0f}s")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serve(work: Path, version: str) -> AsyncIterator[RealServer]:
    """A fresh control plane in a new directory under ``work``, the CRD installed; stopped afterwards."""
    state = work / f"control-plane-{int(time.time() * 1000)}"
    log = work / f"{state.name}.log"
    await _run("bash", SCRIPT, "start", version, state, log=log, timeout=1800)
    client: Client | None = None
    follower: asyncio.Task[None] | None = None
    try:
        server = yaml.safe_load((state / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
        client = Client(server, state)
        await install_crd(client, state, log=log)
        kubeconfig = await operator_identity(state, log=log)
        progress = Progress()
        follower = asyncio.create_task(client.follow(AGENTOS, progress))
        audit = AuditLog(state / "audit.log", OPERATOR_USER)
        yield RealServer(client, audit, progress, kubeconfig, name=f"Kubernetes v{version}", state=state)
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
        if client is not None:
            await client.close()
        await _run("bash", SCRIPT, "stop", state, log=log)
