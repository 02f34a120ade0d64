"""MCP servers run as sidecars of the runtime pod.

Each is a native sidecar (an init container with ``restartPolicy: Always``): the kubelet starts
it, waits for its startup probe (its port accepts connections), and only then starts the
runtime, so the runtime lists the server's tools at start-up. It gets the restricted Pod
Security settings of the runtime container, an emptyDir at ``/tmp`` (its root filesystem is
read-only), and each secret variable straight from the Secret key the resource names
(``valueFrom.secretKeyRef``), not through the ``<name>-env`` Secret: the runtime container loads
that one whole and must not see a sidecar's secrets, and the sidecar, naming its keys one by
one, sees none of the runtime's.
"""

from __future__ import annotations

from typing import Any

from agentos_operator.quantities import canonical_resource_quantity
from agentos_operator.render.environment import Environment
from agentos_operator.resources import AgentOSResource
from agentos_operator.spec import McpServerSpec, McpSidecar

# The same container settings the restricted Pod Security profile asks of the runtime.
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
# A sidecar has this long (1 s probes) to accept connections before the pod start fails.
STARTUP_PROBE_SECONDS = 120


def sidecar_name(server_id: str) -> str:
    return f"mcp-{server_id}"


def render_sidecars(resource: AgentOSResource, environment: Environment) -> list[dict[str, Any]]:
    """One init container per sidecar server, in declaration order."""
    return [
        _container(server, server.sidecar, environment)
        for server in resource.spec.mcp_servers
        if server.sidecar is not None
    ]


def sidecar_volumes(resource: AgentOSResource) -> list[dict[str, Any]]:
    """The ``/tmp`` emptyDir of each sidecar."""
    return [
        {"name": sidecar_name(server.id), "emptyDir": {}}
        for server in resource.spec.mcp_servers
        if server.sidecar is not None
    ]


def _container(server: McpServerSpec, sidecar: McpSidecar, environment: Environment) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": sidecar_name(server.id),
        "image": sidecar.image,
        "restartPolicy": "Always",
        "ports": [{"containerPort": sidecar.port, "protocol": "TCP"}],
        "startupProbe": {
            "tcpSocket": {"port": sidecar.port},
            "periodSeconds": 1,
            "failureThreshold": STARTUP_PROBE_SECONDS,
        },
        "securityContext": dict(RESTRICTED_CONTAINER),
        "volumeMounts": [{"name": sidecar_name(server.id), "mountPath": "/tmp"}],
    }
    if sidecar.command is not None:
        container["command"] = list(sidecar.command)
    if sidecar.args is not None:
        container["args"] = list(sidecar.args)
    env: list[dict[str, Any]] = []
    for item in sidecar.env:
        if item.value_secret_ref is None:
            env.append({"name": item.name, "value": item.value})
        else:
            name, key = environment.sidecar_env[(server.id, item.name)]
            env.append({"name": item.name, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
    if env:
        container["env"] = env
    resources = sidecar.resources.model_dump(mode="json", by_alias=True, exclude_none=True)
    resources = {
        kind: {name: canonical_resource_quantity(amount) for name, amount in amounts.items()}
        for kind, amounts in resources.items()
        if amounts
    }
    if resources:
        container["resources"] = resources
    if sidecar.image_pull_policy is not None:
        container["imagePullPolicy"] = sidecar.image_pull_policy
    return container
