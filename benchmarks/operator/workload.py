"""What the benchmark asks of the operator: N AgentOSConfig resources over a few namespaces.

Each resource is the common shape: one model keyed from its namespace's Secret, one agent,
embedded SQLite (so a volume claim too), and a CPU request written as ``0.5``, which an API
server stores as ``500m``: an operator that compares quantities as text re-applies the
Deployment on every resync. The spec change edits every agent's instructions, which changes
the ConfigMap and rolls the Deployment.

The objects are written through ``Writer``: the emulator itself, or a client of a real API server.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from tests.support.emulator import AGENTOS

NAMESPACES = "v1/namespaces"
SECRETS = "v1/secrets"
SECRET_NAME = "openai"
RESOURCES_PER_NAMESPACE = 100
FOREIGN_SECRET_BYTES = 3 * 1024  # 4 KiB once base64-encoded
FOREIGN_NAMESPACES = 50
Key = tuple[str, str]
# Kinds the operator writes for a resource; events are counted apart (they are not children).
CHILD_KINDS = (
    "v1/configmaps",
    "v1/secrets",
    "v1/services",
    "v1/persistentvolumeclaims",
    "apps/v1/deployments",
    "autoscaling/v2/horizontalpodautoscalers",
    "policy/v1/poddisruptionbudgets",
    "networking.k8s.io/v1/networkpolicies",
)


class Writer(Protocol):
    """Where the workload is written: resources are named ``group/version/plural`` (``v1/secrets``)."""

    async def create(self, resource: str, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]: ...

    async def patch(self, resource: str, namespace: str | None, name: str, patch: Any) -> dict[str, Any]: ...


def keys(count: int) -> list[Key]:
    """(namespace, name) of every resource: ``bench-NN/agent-NNNN``, 100 to a namespace."""
    return [(f"bench-{index // RESOURCES_PER_NAMESPACE:02d}", f"agent-{index:04d}") for index in range(count)]


def namespaces(count: int) -> list[str]:
    return sorted({namespace for namespace, _ in keys(count)})


def agentos_body(name: str, *, instructions: str = "Be brief.") -> dict[str, Any]:
    return {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "metadata": {"name": name},
        "spec": {
            "models": [{"id": "gpt-4o-mini", "apiKeySecretRef": {"name": SECRET_NAME, "key": "api-key"}}],
            "agents": [{"id": "assistant", "model": "gpt-4o-mini", "instructions": [instructions]}],
            "resources": {"requests": {"cpu": "0.5", "memory": "128Mi"}, "limits": {"memory": "0.5Gi"}},
        },
    }


async def prepare_namespaces(api: Writer, count: int, *, foreign_secrets: int = 0) -> None:
    """The namespaces and, in each, the Secret every resource there references; plus foreign Secrets.

    Foreign Secrets belong to other tenants (a Helm release's, 4 KiB each), in namespaces of
    their own: a cluster-wide Secret watch streams them all the same.
    """
    for index in range(foreign_secrets):
        foreign = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"release-{index:05d}", "labels": {"owner": "helm"}},
            "type": "helm.sh/release.v1",
            "data": {"release": base64.b64encode(bytes(FOREIGN_SECRET_BYTES)).decode()},
        }
        await api.create(SECRETS, foreign, namespace=f"tenant-{index % FOREIGN_NAMESPACES:02d}")
    for namespace in namespaces(count):
        await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET_NAME},
            "type": "Opaque",
            "data": {"api-key": base64.b64encode(f"sk-bench-{namespace}".encode()).decode()},
        }
        await api.create(SECRETS, secret, namespace=namespace)


async def create_resources(api: Writer, count: int, *, writers: int = 1) -> dict[Key, float]:
    """Create every resource, ``writers`` requests at a time; returns when (monotonic seconds) each was created."""
    created: dict[Key, float] = {}

    async def one(namespace: str, name: str) -> None:
        await api.create(AGENTOS, agentos_body(name), namespace=namespace)
        created[(namespace, name)] = time.monotonic()

    await _each(one, keys(count), writers)
    return created


async def change_resources(api: Writer, count: int, *, writers: int = 1) -> dict[Key, tuple[int, float]]:
    """Edit every resource's spec, ``writers`` at a time; returns each one's new generation and when it was edited."""
    changed: dict[Key, tuple[int, float]] = {}

    async def one(namespace: str, name: str) -> None:
        body = agentos_body(name, instructions="Be brief. Answer in English.")
        patched = await api.patch(AGENTOS, namespace, name, {"spec": body["spec"]})
        changed[(namespace, name)] = (patched["metadata"]["generation"], time.monotonic())

    await _each(one, keys(count), writers)
    return changed


async def _each(write: Callable[[str, str], Awaitable[None]], targets: list[Key], writers: int) -> None:
    """``write`` every target in order, with at most ``writers`` requests in flight.

    One at a time (the emulator's way: it answers in microseconds, in the benchmark's own loop),
    the burst is as fast as the API server answers; a real API server answers in milliseconds,
    and a burst written one request at a time would be spread over minutes.
    """
    if writers <= 1:
        for namespace, name in targets:
            await write(namespace, name)
        return
    limit = asyncio.Semaphore(writers)

    async def limited(namespace: str, name: str) -> None:
        async with limit:
            await write(namespace, name)

    await asyncio.gather(*(limited(namespace, name) for namespace, name in targets))


def children_per_resource(objects: Iterable[dict[str, Any]], count: int) -> float:
    """How many of ``objects`` an AgentOSConfig controls, per resource (what the operator made)."""
    owned = 0
    for body in objects:
        refs = body["metadata"].get("ownerReferences") or []
        owned += any(ref.get("kind") == "AgentOSConfig" and ref.get("controller") for ref in refs)
    return owned / count
