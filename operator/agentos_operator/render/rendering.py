"""``render``: a checked resource and its secret values in, the child manifests out.

Pure and byte-deterministic: the same inputs give the same list, sorted by kind then name,
so applying it twice changes nothing and golden files stay stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentos_operator import __version__
from agentos_operator.render import podmonitor
from agentos_operator.render.claim import render_data_claim
from agentos_operator.render.configmap import render_config_map
from agentos_operator.render.deployment import keep_revision, render_deployment
from agentos_operator.render.environment import SecretRef, plan_environment
from agentos_operator.render.hashing import config_hash
from agentos_operator.render.ingress import render_ingress
from agentos_operator.render.podmonitor import render_pod_monitor
from agentos_operator.render.scaling import render_autoscaler, render_disruption_budget
from agentos_operator.render.secret import env_values, render_env_secret
from agentos_operator.render.service import render_network_policy, render_service
from agentos_operator.resources import AgentOSResource

SecretValues = Mapping[SecretRef, str]
"""(Secret name, key) → decoded value."""

# Apply order: what pods mount or read first, then the workload, then what refers to it.
KIND_ORDER = (
    "ConfigMap",
    "Secret",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Ingress",
    "PodMonitor",
)


# The runtime image of this release; the operator's deployment overrides it (chart `runtimeImage`).
DEFAULT_RUNTIME_IMAGE = f"ghcr.io/kube-agentos/runtime:{__version__}"


@dataclass(frozen=True)
class RenderSettings:
    """What render needs beyond the resource: the operator's defaults."""

    default_image: str
    fixed_user_ids: bool = True
    """Run the pods as the image's user and group (``RUNTIME_UID``, also their fsGroup); false
    leaves them to the platform (OpenShift's restricted SCC assigns each namespace a range of its
    own and refuses a pod naming a user outside it)."""


def render(
    resource: AgentOSResource,
    secrets: SecretValues,
    *,
    settings: RenderSettings,
    mounted: Mapping[str, str] | None = None,
    live_deployment: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every child object of ``resource``, sorted by (kind order, name).

    ``live_deployment``: the resource's Deployment as it runs, whose pod template is rendered at
    the revision it was rendered at while nothing else changed it (``keep_revision``): an
    operator upgrade alone restarts no pod. Without it, the newest rendering.

    Raises ``MissingSecretsError`` when a value listed by ``required_secret_refs`` is absent
    from ``secrets``; values other than those are ignored. ``mounted``: the ``content_digest``
    of each ConfigMap listed by ``required_config_maps``, by name, so that a change of one rolls
    the pods (left out offline, where they are not read).
    """
    environment = plan_environment(resource)
    values = env_values(environment, secrets)
    config_map = render_config_map(resource, environment)
    env_secret = render_env_secret(resource.name, resource.namespace, resource.uid, values)
    sidecar_values = {ref: secrets[ref] for ref in environment.sidecar_env.values()}
    digest = config_hash([config_map, env_secret], mounted=mounted, referenced=sidecar_values)
    image = resource.spec.image or settings.default_image
    optional = (
        render_data_claim(resource),
        render_autoscaler(resource),
        render_disruption_budget(resource),
        render_network_policy(resource),
        render_ingress(resource),
        render_pod_monitor(resource),
    )
    manifests = [
        config_map,
        env_secret,
        render_service(resource),
        keep_revision(
            live_deployment,
            lambda revision: render_deployment(
                resource,
                image=image,
                config_hash=digest,
                environment=environment,
                revision=revision,
                fixed_user_ids=settings.fixed_user_ids,
            ),
        ),
        *(manifest for manifest in optional if manifest is not None),
    ]
    return sorted(manifests, key=_order)


# What to say of a child whose kind the cluster does not serve, by kind: the field asking for it and the fix.
_NOT_SERVED = {"PodMonitor": podmonitor.missing_crd_message}


def not_served_message(kind: str, otherwise: str) -> str:
    """Pure: the ``Ready`` message of a resource whose child of ``kind`` the cluster does not serve;
    ``otherwise`` for a kind without one of its own."""
    told = _NOT_SERVED.get(kind)
    return told() if told is not None else otherwise


def _order(manifest: Mapping[str, Any]) -> tuple[int, str]:
    return KIND_ORDER.index(manifest["kind"]), manifest["metadata"]["name"]
