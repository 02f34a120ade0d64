"""The real operator against an emulated API server: fixtures and the vocabulary tests speak.

``cluster`` is the emulator (tests/support/emulator.py) on 127.0.0.1 with the built-in kinds,
the AgentOSConfig resource and two namespaces. ``start_operator`` runs ``operate()`` (what
``agentos operator`` runs) in its own thread with its own event loop, as kopf needs, and stops
it at teardown. Nothing here sleeps to wait: ``eventually`` polls a condition until a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kmock
import kopf
import pytest
from agentos_operator.metrics import Metrics
from agentos_operator.running import operate
from agentos_operator.settings import OperatorSettings

from tests.support.emulator import AGENTOS, Emulator, declare_resources

DEPLOYMENTS = "apps/v1/deployments"
CONFIGMAPS = "v1/configmaps"
SECRETS = "v1/secrets"
SERVICES = "v1/services"
EVENTS = "v1/events"
NAMESPACES = ("ns1", "ns2")
IMAGE = "registry.example/agentos-runtime:test"
T = TypeVar("T")


async def eventually(probe: Callable[[], T | Awaitable[T]], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds (long: it only
    bounds how long a failing test takes, and an operator in its thread converges slowly on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or probe}")
        await asyncio.sleep(0.02)


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


def encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@dataclass
class Cluster:
    """The emulator plus what tests do to a cluster and ask of it."""

    api: Emulator

    async def create_agentos(self, name: str, namespace: str = "ns1", **kwargs: Any) -> dict[str, Any]:
        return await self.api.create(AGENTOS, agentos_body(name, **kwargs), namespace=namespace)

    async def create_secret(self, name: str, namespace: str = "ns1", **data: str) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque"}
        body["data"] = {key.replace("_", "-"): encoded(value) for key, value in data.items()}
        return await self.api.create(SECRETS, body, namespace=namespace)

    def get(self, resource: str, name: str, namespace: str = "ns1") -> dict[str, Any] | None:
        return self.api.read(resource, namespace, name)

    def agentos(self, name: str, namespace: str = "ns1") -> dict[str, Any]:
        body = self.get(AGENTOS, name, namespace)
        assert body is not None, f"AgentOSConfig {namespace}/{name} is gone"
        return body

    def condition(self, name: str, type_: str, namespace: str = "ns1") -> dict[str, Any]:
        body = self.get(AGENTOS, name, namespace) or {}
        found = [c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == type_]
        return found[0] if found else {}

    def events_about(self, name: str, namespace: str = "ns1") -> list[dict[str, Any]]:
        return [e for e in self.api.list_objects(EVENTS, namespace) if e["involvedObject"]["name"] == name]

    def children_told(self, name: str, reason: str, namespace: str = "ns1") -> list[str]:
        """Each child (``Kind 'name'``) the resource's events of ``reason`` name, once per mention.

        A change event names every child of one kind of change: ``Created ConfigMap 'a', Service 'b'``.
        """
        told: list[str] = []
        for event in self.events_about(name, namespace):
            if event["reason"] == reason:
                told += event["message"].split(" ", 1)[1].split(", ")
        return told

    async def watched(self, plural: str) -> None:
        """Wait until someone watches ``plural``: an operator that got that far stops cleanly."""
        await eventually(
            lambda: any(
                r.params.get("watch") == "true" and r.url.path.endswith(plural) for r in self.api.requests_since(0)
            ),
            what=f"a watch on {plural}",
        )

    async def roll_out(self, name: str, namespace: str = "ns1") -> None:
        """Do what the Deployment controller would: report every desired pod updated and ready."""
        deployment = self.get(DEPLOYMENTS, name, namespace)
        assert deployment is not None
        replicas = deployment["spec"].get("replicas", 1)
        counts = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"), replicas)
        status = {**counts, "observedGeneration": deployment["metadata"]["generation"]}
        await self.api.patch(DEPLOYMENTS, namespace, name, {"status": status}, subresource="status")

    async def ready(self, name: str, namespace: str = "ns1", timeout: float = 30.0) -> dict[str, Any]:
        """Play the Deployment controller until the resource's status says Ready for its current state."""

        async def settled() -> dict[str, Any] | None:
            deployment = self.get(DEPLOYMENTS, name, namespace)
            if deployment is None:
                return None
            if (deployment.get("status") or {}).get("observedGeneration") != deployment["metadata"]["generation"]:
                await self.roll_out(name, namespace)
                return None
            body = self.agentos(name, namespace)
            status = body.get("status") or {}
            pods_hash = deployment["spec"]["template"]["metadata"]["annotations"].get("agentos.dev/config-hash")
            current = status.get("observedGeneration") == body["metadata"]["generation"]
            ready = self.condition(name, "Ready", namespace).get("status") == "True"
            return body if ready and current and status.get("configHash") == pods_hash else None

        return await eventually(settled, timeout=timeout, what=f"{namespace}/{name} Ready")


@dataclass
class RunningOperator:
    settings: OperatorSettings
    metrics: Metrics
    thread: threading.Thread
    stop_flag: threading.Event
    result: dict[str, int] = field(default_factory=dict)

    async def stop(self) -> int | None:
        self.stop_flag.set()
        await asyncio.to_thread(self.thread.join, 15)
        assert not self.thread.is_alive(), "the operator did not stop"
        return self.result.get("exit")

    def reconciling(self) -> bool:
        """Whether kopf runs (with leader election: whether this replica holds the Lease)."""
        return bool(self.metrics.reconciling._value.get())

    def reconciles(self, result: str | None = None) -> float:
        """How many reconciles ended with ``result`` (all of them when None), from the operator's metrics."""
        total = 0.0
        for metric in self.metrics.reconciles.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and (result is None or sample.labels["result"] == result):
                    total += sample.value
        return total


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with Emulator() as api, kmock.Server(api):
        declare_resources(api)
        for namespace in NAMESPACES:
            await api.create(
                "v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        yield Cluster(api)


StartOperator = Callable[..., RunningOperator]


@pytest.fixture
async def start_operator(cluster: Cluster) -> AsyncIterator[StartOperator]:
    running: list[RunningOperator] = []
    server = str(cluster.api.url).rstrip("/")

    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server, insecure=True, default_namespace="ns1")

    def start(**overrides: Any) -> RunningOperator:
        defaults: dict[str, Any] = {
            "runtime_image": IMAGE,
            "metrics_port": 0,
            "health_port": 0,
            "resync_seconds": 60.0,
            "secret_retry_seconds": 0.3,
            "error_retry_seconds": 0.05,
            "error_retry_max_seconds": 0.5,
        }
        settings = OperatorSettings(**{**defaults, **overrides})
        operator = RunningOperator(settings, Metrics(), threading.Thread(), threading.Event())

        def main() -> None:
            code = asyncio.run(operate(settings, login=login, stop_flag=operator.stop_flag, metrics=operator.metrics))
            operator.result["exit"] = code

        operator.thread = threading.Thread(target=main, name="operator", daemon=True)
        operator.thread.start()
        running.append(operator)
        return operator

    yield start
    for operator in running:
        if operator.thread.is_alive():
            await operator.stop()
