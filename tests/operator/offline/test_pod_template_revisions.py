"""Pod template revisions: an operator upgrade alone restarts no runtime pod.

A change to a Deployment's pod template restarts its pods, so what the operator adds to the
template of its own accord is versioned, and an existing Deployment keeps the revision it was
rendered at until something else rolls its pods (its spec, the runtime image, a Secret, the
config). Each revision's rendering of a few fixed resources is frozen in golden files
(``golden/pod-templates/revision-N/``): a change to how the pod template is rendered fails them.
Render such a change only at a new revision (``POD_TEMPLATE_REVISION``, gated in
``render/deployment.py``); UPDATE_GOLDEN=1 writes the files of a revision that has none yet (delete
the directory of a revision not yet released to write it again).
"""

import copy
import os
from typing import Any

import pytest
import yaml
from agentos_operator import drift, render
from agentos_operator.render import deployment as deployments
from agentos_operator.render.environment import plan_environment
from agentos_operator.resources import AgentOSResource, parse_resource

from tests.operator.offline.inputs import GOLDEN, resource_body

IMAGE = "registry.example/agentos-runtime:1.0.0"
SETTINGS = render.RenderSettings(default_image=IMAGE)
KEY = {"name": "openai", "key": "api-key"}
PG = {"id": "main", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "uri"}}
MODELS = [{"id": "gpt-4o-mini", "apiKeySecretRef": KEY}]
AGENTS = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Be brief."]}]
TEMPLATES = GOLDEN / "pod-templates"

# Resources of varied shapes, written out here (not the examples, which change with the project)
# so that their rendering at a revision may never change.
SHAPES: dict[str, dict[str, Any]] = {
    "sqlite": {"models": MODELS, "agents": AGENTS},
    "postgres-tuned": {
        "models": MODELS,
        "agents": AGENTS,
        "databases": [PG],
        "replicas": 2,
        "image": "registry.example/custom-runtime:2.0.0",
        "imagePullPolicy": "Always",
        "resources": {"requests": {"cpu": "0.5", "memory": "256Mi"}, "limits": {"memory": "0.5Gi"}},
        "env": [
            {"name": "FOO", "value": "bar"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "extra"}}],
        "service": {"type": "NodePort"},
        "podAnnotations": {"team": "a"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "agents", "effect": "NoSchedule"}],
        "prometheus": {"enabled": True, "port": 9500},
    },
    "autoscaled": {
        "models": MODELS,
        "agents": AGENTS,
        "databases": [PG],
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5},
        "networkPolicy": {"enabled": True},
        "prometheus": {"enabled": False},
    },
    "mcp-sidecar": {
        "models": MODELS,
        "mcpServers": [
            {
                "id": "github",
                "url": "http://github-mcp.tools.svc:8080/mcp",
                "headers": [{"name": "Authorization", "valueSecretRef": {"name": "github-mcp", "key": "token"}}],
            },
            {
                "id": "time",
                "sidecar": {
                    "image": "registry.example/mcp-time:1.0.0",
                    "port": 8081,
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                },
            },
        ],
        "agents": [{"id": "triage", "model": "gpt-4o-mini", "tools": ["mcp:github", "mcp:time"]}],
    },
    "knowledge": {
        "models": MODELS,
        "databases": [PG],
        "knowledgeBases": [
            {
                "id": "handbook",
                "db": "main",
                "embedder": {"model": "text-embedding-3-small", "apiKeySecretRef": KEY},
                "sources": [{"configMap": {"name": "handbook"}}],
            }
        ],
        "agents": [{"id": "helpdesk", "model": "gpt-4o-mini", "knowledge": "handbook"}],
    },
}
REVISIONS = range(1, deployments.POD_TEMPLATE_REVISION + 1)


def resource(spec: dict[str, Any]) -> AgentOSResource:
    body = resource_body(copy.deepcopy(spec))
    body["metadata"]["uid"] = "uid-1"
    return parse_resource(body)


def template_at(spec: dict[str, Any], revision: int) -> dict[str, Any]:
    """The pod template ``spec`` renders at ``revision``; the config hash, which follows the config, left out."""
    res = resource(spec)
    rendered = deployments.render_deployment(
        res,
        image=res.spec.image or IMAGE,
        config_hash="<config-hash>",
        environment=plan_environment(res),
        revision=revision,
    )
    template: dict[str, Any] = rendered["spec"]["template"]
    return template


@pytest.mark.parametrize("revision", REVISIONS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_revision_renders_the_pod_template_frozen_in_its_golden_files(shape: str, revision: int) -> None:
    text = yaml.safe_dump(template_at(SHAPES[shape], revision), sort_keys=True)
    golden = TEMPLATES / f"revision-{revision}" / f"{shape}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1" and not golden.parent.exists():
        golden.parent.mkdir(parents=True)
    if os.environ.get("UPDATE_GOLDEN") == "1" and not golden.exists():
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file for revision {revision}: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == golden.read_text(encoding="utf-8"), (
        f"the pod template of revision {revision} changed: Deployments in clusters run it, and a changed"
        " template restarts every pod on an operator upgrade; render the change only at a new revision"
        " (POD_TEMPLATE_REVISION, gated in render/deployment.py), then UPDATE_GOLDEN=1 writes its files"
    )


def test_the_newest_revision_changes_the_template_of_some_shape() -> None:
    # A revision that changes nothing would be no revision: each one is a rendering of its own.
    newest = deployments.POD_TEMPLATE_REVISION
    assert any(template_at(spec, newest) != template_at(spec, newest - 1) for spec in SHAPES.values())


# ---- which revision an existing Deployment is rendered at

SECRETS = {
    ("openai", "api-key"): "sk-1",
    ("pg", "uri"): "postgresql://u:p@db:5432/app",
    ("demo-security-key", "security-key"): "generated-key",
}


def rendered(
    spec: dict[str, Any],
    *,
    live: dict[str, Any] | None = None,
    secrets: dict[tuple[str, str], str] = SECRETS,
    image: str = IMAGE,
) -> dict[str, Any]:
    """The Deployment the operator applies for ``spec``, beside the Deployment ``live``."""
    manifests = render.render(
        resource(spec), secrets, settings=render.RenderSettings(default_image=image), live_deployment=live
    )
    return next(m for m in manifests if m["kind"] == "Deployment")


def as_stored(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` as applied (stamped) and stored by the API server, with the defaults it adds."""
    stored = drift.stamped(copy.deepcopy(manifest))
    stored["metadata"].update(uid="d-1", resourceVersion="7", generation=3)
    pod = stored["spec"]["template"]["spec"]
    pod.setdefault("terminationGracePeriodSeconds", 30)
    pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler")
    for container in pod["containers"]:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container["terminationMessagePath"] = "/dev/termination-log"
    stored["status"] = {"observedGeneration": 3, "replicas": 1}
    return stored


def before_revisions(spec: dict[str, Any], *, secrets: dict[tuple[str, str], str] = SECRETS) -> dict[str, Any]:
    """The Deployment an operator of before revisions applied for ``spec`` (revision 1, nothing recorded)."""
    newest = rendered(spec, secrets=secrets)
    res = resource(spec)
    config_hash = newest["spec"]["template"]["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION]
    return deployments.render_deployment(
        res, image=res.spec.image or IMAGE, config_hash=config_hash, environment=plan_environment(res), revision=1
    )


def pre_stop(deployment: dict[str, Any]) -> Any:
    return deployment["spec"]["template"]["spec"]["containers"][0].get("lifecycle")


def revision_of(deployment: dict[str, Any]) -> str | None:
    return (deployment["metadata"].get("annotations") or {}).get(deployments.REVISION_ANNOTATION)


def test_a_new_deployment_is_rendered_at_the_newest_revision_which_it_records() -> None:
    deployment = rendered(SHAPES["sqlite"])
    annotations = deployment["metadata"]["annotations"]
    assert annotations[deployments.REVISION_ANNOTATION] == str(deployments.POD_TEMPLATE_REVISION)
    assert annotations[deployments.TEMPLATE_DIGEST_ANNOTATION] == deployments.template_digest(
        deployment["spec"]["template"]
    )
    assert pre_stop(deployment) == {"preStop": {"sleep": {"seconds": 5}}}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_deployment_from_before_revisions_is_rendered_exactly_as_it_was_so_nothing_is_written(shape: str) -> None:
    secrets = {**SECRETS, ("github-mcp", "token"): "gh-1"}
    old = before_revisions(SHAPES[shape], secrets=secrets)
    assert revision_of(old) is None and pre_stop(old) is None
    live = as_stored(old)
    desired = rendered(SHAPES[shape], live=live, secrets=secrets)
    assert desired == old
    assert not drift.drifted(live, drift.stamped(desired))


def test_a_spec_change_rolls_the_pods_onto_the_newest_revision() -> None:
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    desired = rendered({**SHAPES["sqlite"], "env": [{"name": "FOO", "value": "bar"}]}, live=live)
    assert revision_of(desired) == str(deployments.POD_TEMPLATE_REVISION)
    assert pre_stop(desired) is not None


def test_a_rotated_secret_rolls_the_pods_onto_the_newest_revision() -> None:
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    desired = rendered(SHAPES["sqlite"], live=live, secrets={**SECRETS, ("openai", "api-key"): "sk-2"})
    assert revision_of(desired) == str(deployments.POD_TEMPLATE_REVISION)


def test_a_new_runtime_image_rolls_the_pods_onto_the_newest_revision() -> None:
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    desired = rendered(SHAPES["sqlite"], live=live, image="registry.example/agentos-runtime:1.1.0")
    assert revision_of(desired) == str(deployments.POD_TEMPLATE_REVISION)


def test_a_grace_period_set_in_the_spec_is_rendered_whatever_the_revision() -> None:
    # What a spec field asks for is no addition of the operator's: setting it rolls the pods.
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    desired = rendered({**SHAPES["sqlite"], "terminationGracePeriodSeconds": 60}, live=live)
    pod = desired["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 60
    assert {"name": "AGENTOS_RUN_GRACE_SECONDS", "value": "43"} in pod["containers"][0]["env"]
    assert revision_of(desired) == str(deployments.POD_TEMPLATE_REVISION)


def test_a_variable_another_manager_added_is_no_reason_to_roll_the_pods() -> None:
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "DEBUG", "value": "1"})  # kubectl set env
    desired = rendered(SHAPES["sqlite"], live=live)
    assert revision_of(desired) is None
    assert not drift.drifted(live, drift.stamped(desired))


def test_a_hand_edit_of_the_pod_template_is_undone_at_the_newest_revision() -> None:
    # The edit rolled the pods, and undoing it rolls them again: at the newest revision, at no extra cost.
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/patched:1"
    desired = rendered(SHAPES["sqlite"], live=live)
    assert revision_of(desired) == str(deployments.POD_TEMPLATE_REVISION)
    assert drift.drifted(live, drift.stamped(desired))


def test_a_hand_edit_beside_the_pod_template_is_undone_without_rolling_the_pods() -> None:
    live = as_stored(before_revisions(SHAPES["sqlite"]))
    live["spec"]["replicas"] = 3
    desired = rendered(SHAPES["sqlite"], live=live)
    assert desired["spec"]["template"] == before_revisions(SHAPES["sqlite"])["spec"]["template"]
    assert drift.drifted(live, drift.stamped(desired))


@pytest.mark.parametrize("recorded", ["99", "two", "0"])
def test_a_revision_this_operator_does_not_know_is_rendered_at_the_newest(recorded: str) -> None:
    # A newer operator's revision, after a rollback: its rendering is unknown here.
    live = as_stored(rendered(SHAPES["sqlite"]))
    live["metadata"]["annotations"][deployments.REVISION_ANNOTATION] = recorded
    assert revision_of(rendered(SHAPES["sqlite"], live=live)) == str(deployments.POD_TEMPLATE_REVISION)


def test_a_recorded_revision_is_kept_while_its_template_digest_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    # As once a revision newer than the current one exists: a Deployment of the current revision
    # keeps it while the resource renders the same template there, removals included.
    current = deployments.POD_TEMPLATE_REVISION
    with_env = {**SHAPES["sqlite"], "env": [{"name": "FOO", "value": "bar"}]}
    live = as_stored(rendered(with_env))
    monkeypatch.setattr(deployments, "POD_TEMPLATE_REVISION", current + 1)
    assert revision_of(rendered(with_env, live=live)) == str(current)
    # Removing the variable keeps every other field: only the digest tells the template changed.
    assert revision_of(rendered(SHAPES["sqlite"], live=live)) == str(current + 1)
