"""The object kinds the operator reads and writes, and where each lives in the API.

A small fixed table instead of API discovery: the operator only ever touches these kinds, and
knowing their paths up front saves a discovery round-trip per start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from agentos_operator import GROUP, KIND, PLURAL, VERSION
from agentos_operator.errors import OperatorError


class UnknownKindError(OperatorError):
    """A manifest of a kind this operator does not manage."""


@dataclass(frozen=True)
class Kind:
    """A kind and where it lives. ``optional``: served only where its CustomResourceDefinition is
    installed, which many clusters lack: there, a 404 listing it means that none exist (nothing to
    watch, nothing to prune), and one writing it that the cluster cannot take it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True
    optional: bool = False

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection (no name) or of one object."""
        root = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        parts = [root]
        if self.namespaced and namespace is not None:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource is not None:
                parts.append(subresource)
        return "/".join(parts)


AGENTOS_CONFIG = Kind(f"{GROUP}/{VERSION}", KIND, PLURAL)
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps")
SECRET = Kind("v1", "Secret", "secrets")
SERVICE = Kind("v1", "Service", "services")
PERSISTENT_VOLUME_CLAIM = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
EVENT = Kind("v1", "Event", "events")
POD = Kind("v1", "Pod", "pods")  # only listed, to say why an unready resource's pods are not ready
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
HORIZONTAL_POD_AUTOSCALER = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
POD_DISRUPTION_BUDGET = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
INGRESS = Kind("networking.k8s.io/v1", "Ingress", "ingresses")
# Served only where the Prometheus Operator's CRDs are installed.
POD_MONITOR = Kind("monitoring.coreos.com/v1", "PodMonitor", "podmonitors", optional=True)
LEASE = Kind("coordination.k8s.io/v1", "Lease", "leases")

KINDS = {
    (k.api_version, k.kind): k
    for k in (
        AGENTOS_CONFIG,
        CONFIG_MAP,
        SECRET,
        SERVICE,
        PERSISTENT_VOLUME_CLAIM,
        EVENT,
        DEPLOYMENT,
        HORIZONTAL_POD_AUTOSCALER,
        POD_DISRUPTION_BUDGET,
        NETWORK_POLICY,
        INGRESS,
        POD_MONITOR,
        LEASE,
    )
}


def kind_of(body: Mapping[str, Any]) -> Kind:
    """The kind of a manifest; raises ``UnknownKindError`` for a kind not in the table."""
    try:
        return KINDS[(body.get("apiVersion", ""), body.get("kind", ""))]
    except KeyError:
        raise UnknownKindError(f"unsupported kind {body.get('apiVersion')}/{body.get('kind')}") from None
