"""The runtime Deployment: one container running ``agentos serve`` on the rendered config.

Pods run under the restricted Pod Security profile (non-root, read-only root filesystem, no
capabilities); ``/tmp`` is an emptyDir and ``/data`` a PersistentVolumeClaim when SQLite is
used; knowledge sources in ConfigMaps and the JWKS Secret are read-only volumes. The config
hash annotation rolls the pods whenever their config or secrets change (not the JWKS, which
rotates in place: ``render.jwks``).

Pod template revisions: a change to the pod template restarts every pod of the Deployment, so
a change to how the operator renders it would restart every AgentOS server in the cluster on an
operator upgrade, with nothing asked of them. What the operator adds to the pod template of its
own accord is therefore versioned (``POD_TEMPLATE_REVISION``), and each Deployment records the
revision its template was rendered at (``agentos.dev/pod-template-revision``, with the digest of
that template). ``keep_revision`` renders an existing Deployment at its own revision for as long
as that renders the template it records: an upgrade of the operator alone changes no pod. The
first change that rolls the pods anyway (the spec, the runtime image, a rotated Secret, the
config) renders at the newest revision. What a spec field asks for is rendered at every
revision: only the operator's own additions are gated.

- Revision 1: the rendering before revisions were recorded (no annotation).
- Revision 2: a ``preStop`` sleep, ``terminationGracePeriodSeconds`` and
  ``AGENTOS_RUN_GRACE_SECONDS`` (graceful shutdown of runs in flight).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from agentos_operator import GROUP, drift
from agentos_operator.quantities import canonical_resource_quantity
from agentos_operator.render import layout
from agentos_operator.render.environment import Environment
from agentos_operator.render.jwks import JWKS_FILE_ENV, jwks_env, jwks_mounts, jwks_volumes
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

# With the ids left to the platform (``fixed_user_ids`` false) the pods name no user.
PLATFORM_IDS_EXPLANATION = {
    "CKV_K8S_40": "The operator runs with fixed user ids off: the platform assigns the user (OpenShift's restricted SCC, a high range per namespace); runAsNonRoot stays",
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
# The newest revision of the pod template's rendering (see the module's docstring), and the first.
POD_TEMPLATE_REVISION = 2
UNRECORDED_REVISION = 1
REVISION_ANNOTATION = f"{GROUP}/pod-template-revision"
TEMPLATE_DIGEST_ANNOTATION = f"{GROUP}/pod-template-digest"


def render_deployment(
    resource: AgentOSResource,
    *,
    image: str,
    config_hash: str,
    environment: Environment,
    revision: int = POD_TEMPLATE_REVISION,
    fixed_user_ids: bool = True,
) -> dict[str, Any]:
    """The Deployment, its pod template rendered at ``revision``; ``replicas`` is left out when an
    autoscaler owns it. ``fixed_user_ids``: the pods run as ``RUNTIME_UID`` (user, group and
    fsGroup); false leaves the ids to the platform, the pods still refused to run as root."""
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
                "labels": {**(spec.pod_labels or {}), **layout.labels(name)},
                "annotations": {
                    **_scrape_annotations(resource),
                    **(spec.pod_annotations or {}),
                    layout.CONFIG_HASH_ANNOTATION: config_hash,
                },
            },
            "spec": _pod_spec(resource, image, environment, revision, fixed_user_ids=fixed_user_ids),
        },
    }
    if not autoscaling:
        deployment_spec["replicas"] = 1 if spec.replicas is None else spec.replicas
    if spec.progress_deadline_seconds is not None:
        deployment_spec["progressDeadlineSeconds"] = spec.progress_deadline_seconds
    metadata = layout.object_metadata(name, resource.namespace, owner_name=name, owner_uid=resource.uid)
    explained = {**SCAN_EXPLANATIONS, **({} if fixed_user_ids else PLATFORM_IDS_EXPLANATION)}
    metadata["annotations"] = {
        f"checkov.io/skip{index}": f"{check}={reason}"
        for index, (check, reason) in enumerate(sorted(explained.items()), start=1)
    }
    if revision > UNRECORDED_REVISION:
        metadata["annotations"][REVISION_ANNOTATION] = str(revision)
        metadata["annotations"][TEMPLATE_DIGEST_ANNOTATION] = template_digest(deployment_spec["template"])
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": deployment_spec}


def template_digest(template: Mapping[str, Any]) -> str:
    """The sha256 (hex) of a pod template as rendered."""
    canonical = json.dumps(template, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def keep_revision(live: Mapping[str, Any] | None, render_at: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """The Deployment ``render_at`` gives at ``live``'s revision while that renders the template
    ``live`` runs, else at the newest revision (a new Deployment, or one whose pods roll anyway).

    ``live`` records its revision and its template's digest; one without them was rendered
    before revisions were recorded (revision 1), and is compared field by field instead. A
    revision this operator does not know (a newer operator's, after a rollback) renders the newest.
    """
    if live is None:
        return render_at(POD_TEMPLATE_REVISION)
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(REVISION_ANNOTATION)
    revision = int(recorded) if recorded is not None and recorded.isdigit() else UNRECORDED_REVISION
    if not UNRECORDED_REVISION <= revision < POD_TEMPLATE_REVISION:
        return render_at(POD_TEMPLATE_REVISION)
    kept = render_at(revision)
    digest = annotations.get(TEMPLATE_DIGEST_ANNOTATION)
    template = kept["spec"]["template"]
    if digest is not None:
        same = digest == template_digest(template)
    else:
        same = drift.holds((live.get("spec") or {}).get("template"), drift.server_quantities(template))
    return kept if same else render_at(POD_TEMPLATE_REVISION)


def _pod_spec(
    resource: AgentOSResource, image: str, environment: Environment, revision: int, *, fixed_user_ids: bool
) -> dict[str, Any]:
    spec = resource.spec
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": layout.config_map_name(resource.name)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if spec.uses_sqlite:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": layout.data_claim_name(resource.name)}})
    volumes.extend(sidecar_volumes(resource))
    volumes.extend(knowledge_volumes(resource))
    volumes.extend(jwks_volumes(resource))
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        # Service links would inject AGENTOS_PORT=tcp://... and the like into the runtime's env.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            **({"runAsUser": RUNTIME_UID, "runAsGroup": RUNTIME_UID, "fsGroup": RUNTIME_UID} if fixed_user_ids else {}),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(resource, image, revision)],
        "volumes": volumes,
    }
    if revision >= 2 or spec.termination_grace_period_seconds is not None:
        pod["terminationGracePeriodSeconds"] = _termination_grace(resource)
    pull_secrets = None if spec.image_pull_secrets is None else [{"name": s.name} for s in spec.image_pull_secrets]
    optional = {
        "serviceAccountName": spec.service_account_name,
        "priorityClassName": spec.priority_class_name,
        "imagePullSecrets": pull_secrets,
        "topologySpreadConstraints": spec.topology_spread_constraints,
        "nodeSelector": spec.node_selector,
        "tolerations": spec.tolerations,
        "affinity": spec.affinity,
    }
    pod.update({key: value for key, value in optional.items() if value is not None})
    sidecars = render_sidecars(resource, environment)
    if sidecars:
        pod["initContainers"] = sidecars
    return pod


def _container(resource: AgentOSResource, image: str, revision: int) -> dict[str, Any]:
    spec = resource.spec
    mounts = [
        {"name": "config", "mountPath": layout.CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.uses_sqlite:
        mounts.append({"name": "data", "mountPath": layout.DATA_DIR})
    mounts.extend(knowledge_mounts(resource))
    mounts.extend(jwks_mounts(resource))
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
        "resources": _resources(resource),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if revision >= 2:
        # Kubernetes' own sleep: the image needs no shell or sleep binary.
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}
    env = _env(resource, revision)
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


def _env(resource: AgentOSResource, revision: int) -> list[dict[str, Any]]:
    user = [variable.model_dump(mode="json", by_alias=True, exclude_none=True) for variable in resource.spec.env or []]
    user_names = {variable["name"] for variable in user}
    ours = []
    if resource.spec.uses_sqlite and layout.DATA_DIR_ENV not in user_names:
        ours.append({"name": layout.DATA_DIR_ENV, "value": layout.DATA_DIR})
    if METRICS_PORT_ENV not in user_names:
        metrics = resource.spec.prometheus
        ours.append({"name": METRICS_PORT_ENV, "value": str(metrics.port if metrics.enabled else 0)})
    if JWKS_FILE_ENV not in user_names:
        ours.extend(jwks_env(resource))
    asked = revision >= 2 or resource.spec.termination_grace_period_seconds is not None
    if RUN_GRACE_ENV not in user_names and asked:
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
