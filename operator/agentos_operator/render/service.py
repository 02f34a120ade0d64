"""The Service in front of the runtime pods, and the optional NetworkPolicy guarding them."""

from __future__ import annotations

from typing import Any

from agentos_operator.render import layout
from agentos_operator.render.egress import egress_rules
from agentos_operator.resources import AgentOSResource


def render_service(resource: AgentOSResource) -> dict[str, Any]:
    service = resource.spec.service
    port: dict[str, Any] = {
        "name": layout.PORT_NAME,
        "port": service.port,
        "targetPort": layout.PORT_NAME,
        "protocol": "TCP",
    }
    if service.node_port is not None:
        port["nodePort"] = service.node_port
    metadata = _metadata(resource)
    if service.annotations:
        metadata["annotations"] = dict(service.annotations)
    spec: dict[str, Any] = {
        "type": service.type,
        "selector": layout.selector_labels(resource.name),
        "ports": [port],
    }
    if service.load_balancer_source_ranges is not None:
        spec["loadBalancerSourceRanges"] = list(service.load_balancer_source_ranges)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def render_network_policy(resource: AgentOSResource) -> dict[str, Any] | None:
    """Ingress to the runtime port from the listed peers (every pod of the namespace by default); None when off."""
    policy = resource.spec.network_policy
    if policy is None or not policy.enabled:
        return None
    peers = policy.ingress_from if policy.ingress_from is not None else [{"podSelector": {}}]
    # The same peers may scrape the metrics port (a Prometheus in another namespace is one of ingressFrom).
    ports = [{"port": layout.PORT, "protocol": "TCP"}]
    if resource.spec.prometheus.enabled:
        ports.append({"port": resource.spec.prometheus.port, "protocol": "TCP"})
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": layout.selector_labels(resource.name)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": ports}],
    }
    if policy.restrict_egress:
        spec["policyTypes"] = ["Ingress", "Egress"]
        spec["egress"] = egress_rules(resource)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(resource),
        "spec": spec,
    }


def unadmitted_ingress(resource: AgentOSResource) -> str | None:
    """Why the Ingress likely cannot reach the pods: the NetworkPolicy admits only the namespace's
    own pods (``ingressFrom`` omitted) and ingress controllers run elsewhere. Advice, not a
    refusal (a controller in the resource's namespace is admitted); None when it does not apply."""
    policy, ingress = resource.spec.network_policy, resource.spec.ingress
    if policy is None or not policy.enabled or policy.ingress_from is not None:
        return None
    if ingress is None or not ingress.enabled:
        return None
    return (
        f"spec.ingress is enabled but spec.networkPolicy admits only pods of namespace '{resource.namespace}'"
        " (spec.networkPolicy.ingressFrom is omitted): an ingress controller running in another namespace is"
        " refused and the Ingress answers 502/504; admit its pods in spec.networkPolicy.ingressFrom, e.g."
        " `- namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}`"
    )


def _metadata(resource: AgentOSResource) -> dict[str, Any]:
    return layout.object_metadata(resource.name, resource.namespace, owner_name=resource.name, owner_uid=resource.uid)
