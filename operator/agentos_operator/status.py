"""The ``AgentOSConfig`` status: built from what a reconcile saw, and compared before it is written.

Pure. The reconciler writes status only when ``changed`` says so, which is what keeps a resync
of an unchanged resource free of writes. Nothing here ever holds a Secret value: the status
carries names, counts, a hash and conditions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentos_operator.conditions import AVAILABLE, READY, Obstacle, Rollout, find
from agentos_operator.ownership import controller_uid
from agentos_operator.render.layout import CONFIG_HASH_ANNOTATION

# The keys this operator owns under ``status``; anything else there (kopf's bookkeeping) is left alone.
OWNED_KEYS = (
    "observedGeneration",
    "conditions",
    "replicas",
    "readyReplicas",
    "selector",
    "url",
    "ingressUrl",
    "configHash",
    "operator",
)


@dataclass(frozen=True)
class Learnt:
    """What a reconcile that applied the children knows of them; one that could not (an invalid
    spec, a missing Secret, a refused child, paused) learns nothing, and the status keeps what
    an earlier one learnt."""

    url: str  # the Service's URL
    ingress_url: str | None  # the URL through the Ingress; None: there is no Ingress
    config_hash: str | None  # the pods' config hash; None: the Deployment does not say yet (kept)


def previous_pods_serve(deployment: Mapping[str, Any] | None, owner_uid: str | None) -> bool:
    """Whether the resource's own Deployment (controlled by ``owner_uid``) has as many pods
    available as it wants: a reconcile that stops before writing it leaves them serving."""
    if deployment is None or owner_uid is None or controller_uid(deployment) != owner_uid:
        return False
    rollout = rollout_of(deployment)
    return rollout is not None and rollout.serving and rollout.total > 0


def rollout_of(deployment: Mapping[str, Any] | None) -> Rollout | None:
    """Read a Deployment's progress; None when there is no Deployment."""
    if deployment is None:
        return None
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation") or 0
    desired = spec.get("replicas")
    current = int(status.get("observedGeneration") or 0) >= int(generation)
    return Rollout(
        desired=1 if desired is None else int(desired),  # the API server's default
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        current=current,
        total=int(status.get("replicas") or 0),
        # What the controller said of an earlier spec is not said of this one.
        obstacle=obstacle_of(status.get("conditions") or []) if current else None,
        selector=format_selector((spec.get("selector") or {}).get("matchLabels") or {}),
    )


def scaled_since_ready(
    rollout: Rollout | None,
    previous: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    generation: int | None,
) -> Rollout | None:
    """``rollout``, taken as seen by the Deployment controller when only the Deployment's scale
    can have changed since the status said it was rolled out: a ``kubectl scale deploy`` the
    operator puts back is a new Deployment generation, which its controller takes a moment to
    see, yet no pod of another template is coming.

    That is: the previous status' ``Ready`` was true (``Available``) for this same resource
    ``generation``, and its ``configHash`` is the one the Deployment's pod template carries (a
    rotated Secret or a changed mounted ConfigMap changes it; any other change of the template
    comes with a new generation). Else, or when the controller saw the latest spec, ``rollout``
    as it is.
    """
    if rollout is None or rollout.current or deployment is None or generation is None:
        return rollout
    ready = find((previous.get("conditions") or []), READY) or {}
    if (ready.get("status"), ready.get("reason"), ready.get("observedGeneration")) != ("True", AVAILABLE, generation):
        return rollout
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    pods_hash = (template.get("annotations") or {}).get(CONFIG_HASH_ANNOTATION)
    if pods_hash is None or pods_hash != previous.get("configHash"):
        return rollout
    return replace(rollout, current=True)


def obstacle_of(deployment_conditions: Sequence[Mapping[str, Any]]) -> Obstacle | None:
    """What stops a rollout, from a Deployment's conditions: its ReplicaSet's ``FailedCreate``,
    which the Deployment controller copies as ``ReplicaFailure``, and its progress deadline."""
    refused = deadline = None
    for condition in deployment_conditions:
        kind, state, reason = condition.get("type"), condition.get("status"), condition.get("reason")
        message = str(condition.get("message") or "")
        if kind == "ReplicaFailure" and state == "True" and reason in ("FailedCreate", None):
            refused = message or "no message"
        elif kind == "Progressing" and state == "False" and reason == "ProgressDeadlineExceeded":
            deadline = message or "no message"
    if refused is None and deadline is None:
        return None
    return Obstacle(pods_refused=refused, deadline=deadline)


def format_selector(match_labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))


def build(
    *,
    previous: Mapping[str, Any],
    owner: tuple[str, str],
    generation: int | None,
    conditions: Sequence[Mapping[str, Any]],
    deployment: Mapping[str, Any] | None,
    learnt: Learnt | None = None,
    operator: str | None = None,
) -> dict[str, Any]:
    """The new status: ``learnt`` by a reconcile that applied the children, or, when it is None,
    the URLs and hash of the ``previous`` status, kept as the operator writes them.

    A kept ``url`` must be the Service URL of ``owner`` (name, namespace), and a kept
    ``ingressUrl`` an http(s) URL: one someone else patched into the status is dropped, not
    carried along. ``operator``: the instance writing it, which claims the resource (None keeps
    the ``previous`` claim).
    """
    status: dict[str, Any] = {"observedGeneration": generation, "conditions": list(conditions)}
    if learnt is None:
        url = previous.get("url")
        ingress_url = previous.get("ingressUrl")
        learnt = Learnt(
            url=url if isinstance(url, str) and _service_url_of(url, *owner) else "",
            ingress_url=ingress_url if isinstance(ingress_url, str) and re.match(r"https?://", ingress_url) else None,
            config_hash=None,
        )
    if deployment is not None:
        live = deployment.get("status") or {}
        status["replicas"] = int(live.get("replicas") or 0)
        status["readyReplicas"] = int(live.get("readyReplicas") or 0)
        match_labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if match_labels:
            status["selector"] = format_selector(match_labels)
    elif previous.get("selector"):
        status["selector"] = previous["selector"]
    if learnt.url:
        status["url"] = learnt.url
    if learnt.ingress_url is not None:
        status["ingressUrl"] = learnt.ingress_url
    config_hash = learnt.config_hash if learnt.config_hash is not None else previous.get("configHash")
    if config_hash is not None:
        status["configHash"] = config_hash
    holder = operator if operator is not None else previous.get("operator")
    if isinstance(holder, str) and holder:
        status["operator"] = holder
    return status


def changed(previous: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether writing ``status`` would change any key this operator owns."""
    return any(previous.get(key) != status.get(key) for key in OWNED_KEYS)


def patch(previous: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch turning ``previous`` into ``status`` for the owned keys (None removes a key)."""
    return {key: status.get(key) for key in OWNED_KEYS if previous.get(key) != status.get(key)}


def service_url(name: str, namespace: str, port: int) -> str:
    return f"http://{name}.{namespace}.svc:{port}"


def _service_url_of(url: str, name: str, namespace: str) -> bool:
    return re.fullmatch(rf"http://{re.escape(name)}\.{re.escape(namespace)}\.svc:[0-9]{{1,5}}", url) is not None
