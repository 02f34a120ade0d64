"""Scaling objects: the HorizontalPodAutoscaler and the PodDisruptionBudget of the runtime."""

from __future__ import annotations

from typing import Any

from agentos_operator.render import layout
from agentos_operator.resources import AgentOSResource


def render_autoscaler(resource: AgentOSResource) -> dict[str, Any] | None:
    """An ``autoscaling/v2`` HPA on CPU utilisation when autoscaling is enabled; else None."""
    autoscaling = resource.spec.autoscaling
    if autoscaling is None or not autoscaling.enabled:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(resource),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": resource.name},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def render_disruption_budget(resource: AgentOSResource) -> dict[str, Any] | None:
    """A PDB letting one pod go at a time, when there can be more than one; else None."""
    spec = resource.spec
    autoscaling = spec.autoscaling is not None and spec.autoscaling.enabled
    most = spec.autoscaling.max_replicas if autoscaling and spec.autoscaling else (spec.replicas or 1)
    if most <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(resource),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": layout.selector_labels(resource.name)}},
    }


def _metadata(resource: AgentOSResource) -> dict[str, Any]:
    return layout.object_metadata(resource.name, resource.namespace, owner_name=resource.name, owner_uid=resource.uid)
