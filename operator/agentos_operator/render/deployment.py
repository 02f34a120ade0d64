"""The runtime Deployment: one container running ``agentos serve`` on the rendered config.

Pods run under the restricted Pod Security profile (non-root, read-only root filesystem, no
capabilities); ``/tmp`` is an emptyDir and ``/data`` a PersistentVolumeClaim when SQLite is
used; knowledge sources in ConfigMaps are read-only volumes. The config hash annotation rolls
the pods whenever their config or secrets change.
"""

from __future__ import annotations

from typing import Any

from agentos_operator.quantities import canonical_resource_quantity
from agentos_operator.render import layout
from agentos_operator.render.environment import Environment
from agentos_operator.render.knowledge import knowledge_mounts, knowledge_volumes
from agentos_operator.render.sidecars import render_sidecars, sidecar_volumes
from agentos_operator.resources import AgentOSResource

# Findings of the security scan (checkov) that are deliberate, each with its reason. They ride on
# the Deployment as `checkov.io/skipN` annotations so the scan of rendered output explains itself.
SCAN_EXPLANATIONS = {
    "CKV_K8S_11": "No CPU limit by default: CPU limits throttle streaming responses; set spec.resources.limits.cpu to add one",
    "CKV_K8S_15": "IfNotPresent suits immutable version tags; spec.imagePullPolicy can say Always",
    "CKV_K8S_35": "The runtime reads OPENAI_API_KEY, DATABASE_URL, REDIS_URL and OS_SECURITY_KEY from its environment, as AgentOS does; the values come from an owned Secret, never the pod spec",
    "CKV_K8S_43": "The image is whatever spec.image or the operator default names; pin a digest there (image@sha256:...) to pin by digest",
    "CKV2_K8S_6": "spec.networkPolicy.enabled renders a NetworkPolicy; it is off by default because the allowed peers differ per cluster",
}

# A fixed non-root uid/gid (the image's `agentos` user) so fsGroup makes /data writable.
RUNTIME_UID = 10001
CONTAINER_NAME = "agentos"
METRICS_PORT_NAME = "metrics"
METRICS_PORT_ENV = "AGENTOS_METRICS_PORT"
# A stopping pod: the preStop hook holds SIGTERM back while the Service and the proxies forget
# the pod (a request routed to it in that time is still served); then the runtime stops taking
# requests and lets runs finish for AGENTOS_RUN_GRACE_SECONDS, then takes 5 s to close their
# streams and 5 s to record the last ones. Kubernetes kills at terminationGracePeriodSeconds.
DEFAULT_TERMINATION_GRACE_SECONDS = 30
PRE_STOP_SECONDS = 5
SHUTDOWN_OVERHEAD_SECONDS = PRE_STOP_SECONDS + 5 + 5 + 2  # and a margin
RUN_GRACE_ENV = "AGENTOS_RUN_GRACE_SECONDS"


def render_deployment(
    resource: AgentOSResource, *, image: str, config_hash: str, environment: Environment
) -> dict[str, Any]:
    """The Deployment; ``replicas`` is left out when an autoscaler owns it."""
    spec = resource.spec
    name = resource.name
    autoscaling = spec.autoscaling is not None and spec.autoscaling.enabled
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": layout.selector_labels(name)},
        # SQLite lives on a ReadWriteOnce volume: the old pod must let go before the new one starts.
        "strategy": {"type": "Recreate"}
        if spec.uses_sqlite
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {
                "labels": layout.labels(name),
                "annotations": {
                    **_scrape_annotations(resource),
                    **(spec.pod_annotations or {}),
                    layout.CONFIG_HASH_ANNOTATION: config_hash,
                },
            },
            "spec": _pod_spec(resource, image, environment),
        },
    }
    if not autoscaling:
        deployment_spec["replicas"] = 1 if spec.replicas is None else spec.replicas
    metadata = layout.object_metadata(name, resource.namespace, owner_name=name, owner_uid=resource.uid)
    metadata["annotations"] = {
        f"checkov.io/skip{index}": f"{check}={reason}"
        for index, (check, reason) in enumerate(sorted(SCAN_EXPLANATIONS.items()), start=1)
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": deployment_spec}


def _pod_spec(resource: AgentOSResource, image: str, environment: Environment) -> dict[str, Any]:
    spec = resource.spec
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": layout.config_map_name(resource.name)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if spec.uses_sqlite:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": layout.data_claim_name(resource.name)}})
    volumes.extend(sidecar_volumes(resource))
    volumes.extend(knowledge_volumes(resource))
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        # Service links would inject AGENTOS_PORT=tcp://... and the like into the runtime's env.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(resource, image)],
        "volumes": volumes,
        "terminationGracePeriodSeconds": _termination_grace(resource),
    }
    optional = {
        "serviceAccountName": spec.service_account_name,
        "nodeSelector": spec.node_selector,
        "tolerations": spec.tolerations,
        "affinity": spec.affinity,
    }
    pod.update({key: value for key, value in optional.items() if value is not None})
    sidecars = render_sidecars(resource, environment)
    if sidecars:
        pod["initContainers"] = sidecars
    return pod


def _container(resource: AgentOSResource, image: str) -> dict[str, Any]:
    spec = resource.spec
    mounts = [
        {"name": "config", "mountPath": layout.CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.uses_sqlite:
        mounts.append({"name": "data", "mountPath": layout.DATA_DIR})
    mounts.extend(knowledge_mounts(resource))
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "args": [
            "serve",
            "--config",
            f"{layout.CONFIG_DIR}/{layout.CONFIG_KEY}",
            "--host",
            "0.0.0.0",
            "--port",
            str(layout.PORT),
        ],
        "ports": _ports(resource),
        "envFrom": [
            {"secretRef": {"name": layout.env_secret_name(resource.name)}},
            *(spec.env_from or []),
        ],
        # Readiness includes the databases (`/ready`): a pod that cannot reach its storage leaves
        # the Service. Liveness (`/health`) does not, so a database outage never restarts pods, and
        # it is slower to give up: a busy pod leaves the Service, not the node.
        "readinessProbe": _probe("/ready", period_seconds=5, failure_threshold=3),
        "livenessProbe": _probe("/health", period_seconds=10, failure_threshold=6),
        # Kubernetes' own sleep: the image needs no shell or sleep binary.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "resources": _resources(resource),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    env = _env(resource)
    if env:
        container["env"] = env
    if spec.image_pull_policy is not None:
        container["imagePullPolicy"] = spec.image_pull_policy
    return container


def _scrape_annotations(resource: AgentOSResource) -> dict[str, str]:
    """The conventional `prometheus.io/*` hints, for scrapers configured by annotation."""
    metrics = resource.spec.prometheus
    if not metrics.enabled:
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(metrics.port), "prometheus.io/path": "/metrics"}


def _ports(resource: AgentOSResource) -> list[dict[str, Any]]:
    ports = [{"name": layout.PORT_NAME, "containerPort": layout.PORT, "protocol": "TCP"}]
    if resource.spec.prometheus.enabled:
        ports.append({"name": METRICS_PORT_NAME, "containerPort": resource.spec.prometheus.port, "protocol": "TCP"})
    return ports


def _probe(path: str, *, period_seconds: int, failure_threshold: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": layout.PORT_NAME},
        "periodSeconds": period_seconds,
        "failureThreshold": failure_threshold,
    }


def _env(resource: AgentOSResource) -> list[dict[str, Any]]:
    user = [variable.model_dump(mode="json", by_alias=True, exclude_none=True) for variable in resource.spec.env or []]
    user_names = {variable["name"] for variable in user}
    ours = []
    if resource.spec.uses_sqlite and layout.DATA_DIR_ENV not in user_names:
        ours.append({"name": layout.DATA_DIR_ENV, "value": layout.DATA_DIR})
    if METRICS_PORT_ENV not in user_names:
        metrics = resource.spec.prometheus
        ours.append({"name": METRICS_PORT_ENV, "value": str(metrics.port if metrics.enabled else 0)})
    if RUN_GRACE_ENV not in user_names:
        ours.append({"name": RUN_GRACE_ENV, "value": str(_termination_grace(resource) - SHUTDOWN_OVERHEAD_SECONDS)})
    return [*ours, *user]


def _termination_grace(resource: AgentOSResource) -> int:
    seconds = resource.spec.termination_grace_period_seconds
    return DEFAULT_TERMINATION_GRACE_SECONDS if seconds is None else seconds


def _resources(resource: AgentOSResource) -> dict[str, Any]:
    """Requests and limits, quantities as the API server stores them (``0.5`` CPU is ``500m``)."""
    resources = resource.spec.resources.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        kind: {name: canonical_resource_quantity(amount) for name, amount in amounts.items()}
        for kind, amounts in resources.items()
        if amounts
    }
