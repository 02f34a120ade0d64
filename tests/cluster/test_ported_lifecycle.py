"""A resource's life under the real operator on a real API server: owned children and a full
status, nothing written on the resource but its status, an edit rolled out and told, events once,
a generated key kept across restarts, a restart that writes nothing, fifty resources at once."""

from __future__ import annotations

from typing import Any

from agentos_operator.spec import AgentOSConfigStatus

from tests.cluster.conftest import (
    IMAGE,
    POSTGRES,
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    children_told,
    condition,
    events_about,
    eventually,
    running_and_ready,
    wait_quiet,
    wait_ready,
    wait_settled,
)

CHILDREN = (
    ("configmap", "demo-config"),
    ("secret", "demo-env"),
    ("secret", "demo-security-key"),
    ("service", "demo"),
    ("deployment", "demo"),
    ("persistentvolumeclaim", "demo-data"),
)


def config_hash(cluster: ControlPlane, namespace: str, name: str = "demo") -> str:
    deployment = cluster.get("deployment", name, namespace)
    assert deployment is not None
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["agentos.dev/config-hash"])


def announced(cluster: ControlPlane, namespace: str, *names: str) -> bool:
    """Whether each resource's Available event is posted (the reconcile that made it Ready posts it last)."""
    return all(any(e["reason"] == "Available" for e in events_about(cluster, namespace, n)) for n in names)


def test_create_makes_owned_children_and_a_ready_status(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator(namespace).start()
    add_secrets(control_plane, namespace)

    control_plane.apply(agentos_body("demo"), namespace)

    body = wait_settled(control_plane, namespace, "demo")
    owner = {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "name": "demo",
        "uid": body["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for kind, name in CHILDREN:
        child = control_plane.get(kind, name, namespace)
        assert child is not None, f"{kind} {name} was not created"
        assert child["metadata"]["ownerReferences"] == [owner], name
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
    status = body["status"]
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert (status["replicas"], status["readyReplicas"]) == (1, 1)
    assert status["url"] == f"http://demo.{namespace}.svc:7777"
    assert status["configHash"] == config_hash(control_plane, namespace)
    deployment = control_plane.get("deployment", "demo", namespace)
    assert deployment is not None
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert status["selector"] == ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    by_type = {c["type"]: c for c in status["conditions"]}
    assert {t: (c["status"], c["reason"]) for t, c in by_type.items()} == {
        "Ready": ("True", "Available"),
        "Progressing": ("False", "RolloutComplete"),
        "Degraded": ("False", "AsExpected"),
        "ReferencesResolved": ("True", "Resolved"),
        "Reconciling": ("False", "RolloutComplete"),
        "Stalled": ("False", "AsExpected"),
    }
    for found in status["conditions"]:
        assert set(found) >= {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
    # What the API server kept of the status (it prunes what the CRD's schema does not declare).
    AgentOSConfigStatus.model_validate(status, by_alias=True, by_name=False)


def test_the_operator_writes_nothing_on_the_resource_but_its_status(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    installed.start()
    add_secrets(control_plane, namespace)
    mark = control_plane.audit_mark()

    control_plane.apply(agentos_body("demo"), namespace)

    body = wait_settled(control_plane, namespace, "demo")
    assert not body["metadata"].get("finalizers")
    assert not body["metadata"].get("annotations")  # no kopf bookkeeping either
    writes = [w for w in installed.writes(mark) if w["objectRef"]["resource"] == "agentosconfigs"]
    assert writes and {(w["verb"], w["objectRef"].get("subresource")) for w in writes} == {("patch", "status")}


def test_a_new_resources_children_are_created_without_first_reading_each_one(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # That a child does not exist yet is told by its dry run's answer (no resourceVersion), and
    # that the generated key does not, by its create: no GET answered 404 on the way.
    installed = install_operator(namespace)
    installed.start()
    add_secrets(control_plane, namespace)
    mark = control_plane.audit_mark()

    control_plane.apply(agentos_body("demo"), namespace)

    wait_settled(control_plane, namespace, "demo")
    requests = installed.requests(mark)
    children = {(kind + "s", name) for kind, name in CHILDREN}
    reads = [  # a request for no object (discovery, /version) has no objectRef
        r
        for r in requests
        if r["verb"] == "get"
        and "objectRef" in r
        and (r["objectRef"]["resource"], r["objectRef"].get("name")) in children
    ]
    assert reads == []
    # The PodMonitor watch lists a kind this cluster does not serve (no Prometheus Operator
    # CRDs): its own 404s, again after each backoff, whatever the resource does.
    not_found = [r for r in requests if r["responseStatus"]["code"] == 404]
    assert [r["requestURI"] for r in not_found if r.get("objectRef", {}).get("resource") != "podmonitors"] == []
    writes = [
        w
        for w in installed.writes(mark)
        if w["objectRef"]["resource"] != "events" and not w["objectRef"].get("subresource")
    ]
    assert sorted((w["objectRef"]["resource"], w["objectRef"]["name"]) for w in writes) == sorted(children)
    # The Deployment is sent once every child its pods use was written: they start on what they
    # hold. The Service is written alongside them all (no pod waits for it), whenever it ends.
    (deployment,) = [w for w in writes if w["objectRef"]["resource"] == "deployments"]
    (service,) = [w for w in writes if w["objectRef"]["resource"] == "services"]
    used = [w for w in writes if w is not deployment and w is not service]
    assert all(w["stageTimestamp"] <= deployment["requestReceivedTimestamp"] for w in used)


def test_an_edit_changes_the_config_and_its_hash_and_rolls_the_deployment(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    install_operator(namespace).start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    old_hash = wait_settled(control_plane, namespace, "demo")["status"]["configHash"]

    french = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["Answer in French."]}]
    control_plane.apply(agentos_body("demo", agents=french), namespace)

    eventually(lambda: config_hash(control_plane, namespace) != old_hash, what="a new config hash on the pod template")
    assert "Answer in French." in str(control_plane.get("configmap", "demo-config", namespace))
    after = wait_settled(control_plane, namespace, "demo")
    assert after["status"]["configHash"] == config_hash(control_plane, namespace) != old_hash
    assert after["status"]["observedGeneration"] == after["metadata"]["generation"] == 2
    eventually(
        lambda: (
            {"ConfigMap 'demo-config'", "Deployment 'demo'"}
            <= set(children_told(control_plane, namespace, "demo", "Updated"))
        ),
        what="the Updated event",
    )


def test_characters_beyond_the_basic_plane_reach_every_child_as_written(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # An emoji was once sent in a surrogate-pair escape the API server's YAML reader refuses:
    # the resource stayed Ready=False for good.
    install_operator(namespace).start()
    add_secrets(control_plane, namespace)
    robot = [{"id": "assistant", "model": "gpt-4o-mini", "instructions": ["End answers with \U0001f916"]}]
    body = agentos_body(
        "demo", agents=robot, podAnnotations={"note": "robot \U0001f916"}, env=[{"name": "HI", "value": "\U0001f44b"}]
    )

    control_plane.apply(body, namespace)

    wait_ready(control_plane, namespace, "demo")
    config = control_plane.get("configmap", "demo-config", namespace)
    assert config is not None and "End answers with \U0001f916" in config["data"]["config.yaml"]
    deployment = control_plane.get("deployment", "demo", namespace)
    assert deployment is not None
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"]["note"] == "robot \U0001f916"
    assert {"name": "HI", "value": "\U0001f44b"} in template["spec"]["containers"][0]["env"]


def test_events_tell_what_was_decided_once_and_resyncs_add_none(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator, _ = running_and_ready(control_plane, namespace, install_operator)
    eventually(lambda: announced(control_plane, namespace, "demo"), what="the Available event")

    for _ in range(3):
        operator.resynced(1)

    events = [(e["type"], e["reason"], e["message"]) for e in events_about(control_plane, namespace, "demo")]
    created = children_told(control_plane, namespace, "demo", "Created")
    for kind, name in (("ConfigMap", "demo-config"), ("Deployment", "demo"), ("Secret", "demo-security-key")):
        assert created.count(f"{kind} '{name}'") == 1, created
    assert [e for e in events if e[1] == "Created"] == [("Normal", "Created", f"Created {', '.join(created)}")]
    assert [e for e in events if e[1] == "Available"] == [("Normal", "Available", "1 of 1 pods ready")]
    assert all(e["source"]["component"] == "agentos-operator" for e in events_about(control_plane, namespace, "demo"))


def test_the_generated_security_key_is_never_regenerated(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    first = installed.start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    wait_ready(control_plane, namespace, "demo")
    key = control_plane.get("secret", "demo-security-key", namespace)
    assert key is not None and key["data"]["security-key"]

    def observed(generation: int) -> bool:
        body = control_plane.get("agentosconfig", "demo", namespace) or {}
        return (body.get("status") or {}).get("observedGeneration") == generation

    control_plane.apply(agentos_body("demo", image="registry.example/other:2"), namespace)
    eventually(lambda: observed(2), what="the first edit reconciled")
    assert first.stop() == 0
    installed.start()
    control_plane.apply(agentos_body("demo", image="registry.example/other:3"), namespace)
    eventually(lambda: observed(3), what="the second edit reconciled by a new process")

    assert control_plane.get("secret", "demo-security-key", namespace) == key


def test_a_restarted_operator_writes_nothing_for_resources_it_already_converged(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    first = installed.start()
    add_secrets(control_plane, namespace, postgres=True)
    names = [f"steady-{i}" for i in range(5)]
    bodies = [agentos_body(n, databases=POSTGRES) for n in names]
    control_plane.apply({"apiVersion": "v1", "kind": "List", "items": bodies}, namespace)
    for name in names:
        wait_ready(control_plane, namespace, name)
    eventually(lambda: announced(control_plane, namespace, *names), what="every Available event")
    wait_quiet(installed, first, len(names))
    assert first.stop() == 0
    mark = control_plane.audit_mark()

    second = installed.start()

    eventually(lambda: second.reconciles("converged") >= len(names), what="every resource looked at")
    assert [f"{w['verb']} {w['requestURI']}" for w in installed.writes(mark)] == []


def owned_children(cluster: ControlPlane, namespace: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(kind, owner name) -> [(child name, owner uid)] of every child an AgentOSConfig controls."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind in ("configmaps", "secrets", "services", "deployments"):
        for item in cluster.items(kind, namespace):
            for ref in item["metadata"].get("ownerReferences") or []:
                if ref["kind"] == "AgentOSConfig":
                    found.setdefault((kind, ref["name"]), []).append((item["metadata"]["name"], ref["uid"]))
    return found


def test_fifty_resources_created_at_once_all_become_ready_each_child_made_once(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    operator = install_operator(namespace).start()
    add_secrets(control_plane, namespace, postgres=True)
    names = [f"burst-{i:02d}" for i in range(50)]
    bodies = [agentos_body(n, databases=POSTGRES) for n in names]

    control_plane.apply({"apiVersion": "v1", "kind": "List", "items": bodies}, namespace)

    def all_ready() -> list[dict[str, Any]]:
        bodies = control_plane.items("agentosconfigs", namespace)
        ready = [b for b in bodies if condition(b, "Ready").get("status") == "True"]
        return bodies if len(ready) == len(names) else []

    bodies = eventually(all_ready, timeout=120, what="50 resources Ready")
    children = owned_children(control_plane, namespace)
    for body in bodies:
        name, uid = body["metadata"]["name"], body["metadata"]["uid"]
        assert children[("configmaps", name)] == [(f"{name}-config", uid)]
        assert sorted(children[("secrets", name)]) == [(f"{name}-env", uid), (f"{name}-security-key", uid)]
        assert children[("services", name)] == [(name, uid)]
        assert children[("deployments", name)] == [(name, uid)]
    assert len(children) == 4 * len(names)
    assert operator.reconciles("error") == 0
