"""The optional Prometheus Operator PodMonitor scraping the runtime pods' metrics port.

Its kind is served only where the Prometheus Operator's CRDs are installed: rendered only when
``spec.prometheus.podMonitor.enabled`` asks for it, so a resource that does not ask renders
nothing that cluster may lack (``kube.kinds.POD_MONITOR`` is optional).
"""

from __future__ import annotations

from typing import Any

from agentos_operator.render import layout
from agentos_operator.render.deployment import METRICS_PORT_NAME
from agentos_operator.resources import AgentOSResource

METRICS_PATH = "/metrics"
# The field that asks for a PodMonitor, and what makes a cluster serve its kind.
ENABLED_BY = "spec.prometheus.podMonitor.enabled"
CRD_NAME = "podmonitors.monitoring.coreos.com"


def render_pod_monitor(resource: AgentOSResource) -> dict[str, Any] | None:
    """A PodMonitor named as the resource, selecting its pods by the selector labels and scraping
    the container port named ``metrics`` at ``/metrics``; None unless enabled."""
    metrics = resource.spec.prometheus
    monitor = metrics.pod_monitor
    if monitor is None or not monitor.enabled or not metrics.enabled:
        return None
    endpoint: dict[str, Any] = {"port": METRICS_PORT_NAME, "path": METRICS_PATH}
    if monitor.interval is not None:
        endpoint["interval"] = monitor.interval
    metadata = layout.object_metadata(
        resource.name, resource.namespace, owner_name=resource.name, owner_uid=resource.uid
    )
    metadata["labels"] = {**(monitor.labels or {}), **metadata["labels"]}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": layout.selector_labels(resource.name)},
            "podMetricsEndpoints": [endpoint],
        },
    }


def missing_crd_message() -> str:
    """Pure: the ``Ready`` message of a resource asking for a PodMonitor in a cluster that serves none."""
    return (
        f"{ENABLED_BY} is true, but this cluster does not serve monitoring.coreos.com/v1 PodMonitors"
        f" (the CustomResourceDefinition {CRD_NAME} is not installed): install the Prometheus Operator's"
        f" CRDs (the resource converges on its own once they are), or set {ENABLED_BY} to false"
    )
