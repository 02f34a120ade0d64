"""Two operator releases whose namespaces overlap, on a real control plane: a cluster-wide one and
a namespaced one with another runtime image. The first to write a resource's status claims it
(``status.operator``); the other writes nothing to it, posts one ManagedElsewhere Warning and
logs it once, and the Deployment's generation stops moving. A release uninstalled, another
installed in its namespace takes its resources over by itself (the claim's Lease released or deleted).
Then a child the garbage collector is still removing (a resource deleted and applied again under
its name) is waited for without a ChildConflict Warning."""

from __future__ import annotations

import json

import pytest

from tests.cluster.conftest import (
    TROUBLE,
    ControlPlane,
    InstallOperator,
    NamespaceMaker,
    OperatorProcess,
    add_secrets,
    agentos_body,
    child_versions,
    condition,
    events_about,
    eventually,
    wait_settled,
    wait_until_condition,
    warnings_about,
)

OTHER_IMAGE = "registry.example/agentos-runtime:other"


def troubles(operator: OperatorProcess) -> list[str]:
    """The operator's log lines above info."""
    lines = [json.loads(line) for line in operator.output().splitlines() if line.startswith("{")]
    return [str(line.get("message")) for line in lines if line.get("severity") in TROUBLE]


def test_a_second_release_watching_the_namespace_stays_out_of_a_resource_the_first_serves(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    first = install_operator()  # cluster-wide
    serving = first.start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    body = wait_settled(control_plane, namespace, "demo")
    holder = f"{first.release_namespace}/agentos-operator"
    assert body["status"]["operator"] == holder
    generation = control_plane.get("deployment", "demo", namespace)["metadata"]["generation"]  # type: ignore[index]

    second = install_operator(namespace)
    mark = control_plane.audit_mark()
    aside = second.start(AGENTOS_RUNTIME_IMAGE=OTHER_IMAGE, AGENTOS_RESYNC_SECONDS="0.5")
    eventually(lambda: aside.reconciles("elsewhere") >= 10, timeout=30, what="ten reconciles of the second")

    deployment = control_plane.get("deployment", "demo", namespace) or {}
    assert deployment["metadata"]["generation"] == generation, "the generation stopped moving"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] != OTHER_IMAGE
    told = [(reason, message) for reason, message in warnings_about(control_plane, namespace, "demo")]
    assert [reason for reason, _ in told] == ["ManagedElsewhere"]
    message = told[0][1]
    assert f"'{holder}' (status.operator)" in message and f"'{second.release_namespace}/agentos-operator'" in message
    assert "narrow this release's rbac.namespaces or uninstall this release" in message
    assert "runs without leader election" in message and "kubectl patch agentosconfig demo" in message
    written = [(w["verb"], w["objectRef"]["resource"]) for w in second.writes(mark)]
    assert written == [("create", "events")], "the second wrote one Event and nothing else"
    assert [line for line in troubles(aside) if "ManagedElsewhere" not in line] == []
    assert len([line for line in troubles(aside) if "ManagedElsewhere" in line]) == 1
    after = control_plane.get("agentosconfig", "demo", namespace) or {}
    assert after["status"]["operator"] == holder and condition(after, "Ready")["status"] == "True"
    # Cluster-wide, it may also see resources other tests left, claimed by releases now gone: only this namespace counts.
    assert [line for line in troubles(serving) if f"{namespace}/" in line] == []


@pytest.mark.parametrize("lease", ["released", "deleted"])
def test_a_release_installed_after_another_was_uninstalled_takes_its_resources_over(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, lease: str
) -> None:
    first = install_operator(namespace)
    serving = first.start_elected()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    gone = f"{first.release_namespace}/{first.service_account}"
    assert wait_settled(control_plane, namespace, "demo")["status"]["operator"] == gone

    # Uninstalled as Helm does it: the pod stopped (it releases the Lease), then the release's objects deleted.
    assert serving.stop() == 0
    control_plane.helm("uninstall", first.release, "-n", first.release_namespace)
    assert first.lease().get("holderIdentity") is None, "the Lease was released"
    if lease == "deleted":  # as when the release's namespace goes with it
        control_plane.run("delete", "lease", first.service_account, "-n", first.release_namespace)
    # Reinstalled under another name in the same namespace, with another runtime image.
    second = install_operator(namespace, release_namespace=first.release_namespace)
    taker = second.start_elected(AGENTOS_RUNTIME_IMAGE=OTHER_IMAGE)
    identity = f"{second.release_namespace}/{second.service_account}"

    def image() -> str:
        deployment = control_plane.get("deployment", "demo", namespace) or {}
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    eventually(lambda: image() == OTHER_IMAGE, timeout=40, what="the new release's image")
    body = wait_settled(control_plane, namespace, "demo")
    assert body["status"]["operator"] == identity and condition(body, "Ready")["status"] == "True"
    [taken] = [e for e in events_about(control_plane, namespace, "demo") if e["reason"] == "TakenOver"]
    assert taken["type"] == "Normal"
    assert f"'{gone}'" in taken["message"] and f"'{identity}'" in taken["message"]
    assert ("is held by no one" if lease == "released" else "does not exist") in taken["message"]
    assert warnings_about(control_plane, namespace, "demo") == []
    assert troubles(taker) == []


def test_a_release_whose_lease_passes_to_its_next_pod_keeps_its_resources_from_an_overlapping_one(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    # Two releases in one namespace, both watching `namespace`: the second may read the first's Lease.
    first = install_operator(namespace)
    serving = first.start_elected(duration=15)
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    holder = f"{first.release_namespace}/{first.service_account}"
    assert wait_settled(control_plane, namespace, "demo")["status"]["operator"] == holder
    second = install_operator(namespace, release_namespace=first.release_namespace)
    aside = second.start_elected(AGENTOS_RUNTIME_IMAGE=OTHER_IMAGE, AGENTOS_RESYNC_SECONDS="0.5")
    eventually(lambda: aside.reconciles("elsewhere") >= 3, timeout=30, what="the second staying out")
    versions = child_versions(control_plane, namespace, "demo")

    # The first release's pod replaced (as in a node drain): it releases the Lease as it stops, and
    # its next pod takes it a few seconds later. The second, resyncing every 0.5 s meanwhile, waits.
    mark = control_plane.audit_mark()
    assert serving.stop() == 0
    assert first.lease().get("holderIdentity") is None
    seen = aside.reconciles("elsewhere")
    following = first.start_elected(duration=15)
    eventually(following.reconciling, timeout=30, what="the first release's next pod holding its Lease")
    eventually(lambda: aside.reconciles("elsewhere") >= seen + 6, timeout=30, what="the second's resyncs")

    body = control_plane.get("agentosconfig", "demo", namespace) or {}
    assert body["status"]["operator"] == holder
    assert [e["reason"] for e in events_about(control_plane, namespace, "demo") if e["reason"] == "TakenOver"] == []
    written = [w["objectRef"]["resource"] for w in second.writes(mark) if w["objectRef"]["resource"] != "leases"]
    assert written == [], "the second wrote nothing but its own Lease, not even an Event"
    assert child_versions(control_plane, namespace, "demo") == versions
    assert [reason for reason, _ in warnings_about(control_plane, namespace, "demo")] == ["ManagedElsewhere"]
    assert troubles(following) == [] and [line for line in troubles(aside) if "ManagedElsewhere" not in line] == []

    # Deleted while its claimant is gone and the other stays out: nothing holds it (no finalizer).
    assert following.stop() == 0
    assert not body["metadata"].get("finalizers")
    control_plane.run("delete", "agentosconfig", "demo", "-n", namespace, "--wait=true", "--timeout=30s")
    eventually(lambda: control_plane.get("deployment", "demo", namespace) is None, timeout=60, what="the collection")


def test_a_release_narrowed_away_from_a_namespace_leaves_its_resources_there_to_another(
    control_plane: ControlPlane, namespace: str, make_namespace: NamespaceMaker, install_operator: InstallOperator
) -> None:
    elsewhere = make_namespace(f"{namespace}-b")
    first = install_operator(namespace, elsewhere)
    serving = first.start_elected(duration=15)
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    holder = f"{first.release_namespace}/{first.service_account}"
    assert wait_settled(control_plane, namespace, "demo")["status"]["operator"] == holder
    lease = control_plane.get("lease", first.service_account, first.release_namespace) or {}
    assert json.loads(lease["metadata"]["annotations"]["agentos.dev/watched-namespaces"]) == [namespace, elsewhere]
    second = install_operator(namespace, release_namespace=first.release_namespace)
    taker = second.start_elected(AGENTOS_RUNTIME_IMAGE=OTHER_IMAGE, AGENTOS_RESYNC_SECONDS="1")
    eventually(lambda: taker.reconciles("elsewhere") >= 2, timeout=30, what="the second staying out")
    [(_, told)] = warnings_about(control_plane, namespace, "demo")
    assert f"drop '{namespace}' from its rbac.namespaces" in told and "kubectl patch" not in told

    # The first release narrowed to the other namespace (a helm upgrade): its new pod takes its Lease.
    assert serving.stop() == 0
    narrowed = first.start_elected(f"--namespace={elsewhere}", duration=15)
    eventually(narrowed.reconciling, timeout=30, what="the narrowed release holding its Lease")

    identity = f"{second.release_namespace}/{second.service_account}"
    eventually(
        lambda: (control_plane.get("agentosconfig", "demo", namespace) or {})["status"]["operator"] == identity,
        timeout=40,
        what="the takeover",
    )
    body = wait_settled(control_plane, namespace, "demo")
    assert condition(body, "Ready")["status"] == "True"
    # Posted right after the claim is written, which the wait above may have seen first.
    [taken] = eventually(
        lambda: [e for e in events_about(control_plane, namespace, "demo") if e["reason"] == "TakenOver"],
        timeout=30,
        what="the TakenOver event",
    )
    assert f"no longer watches namespace '{namespace}' (it watches {elsewhere})" in taken["message"]
    assert first.lease().get("holderIdentity"), "the first release is alive: it was not judged gone"
    assert troubles(narrowed) == []


def test_a_child_of_the_previous_resource_of_this_name_is_waited_for_while_it_is_collected(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    operator = installed.start()
    add_secrets(control_plane, namespace)
    control_plane.apply(agentos_body("demo"), namespace)
    old_uid = wait_settled(control_plane, namespace, "demo")["metadata"]["uid"]
    # A finalizer holds the old ConfigMap while the garbage collector deletes it, as pvc-protection
    # holds a claim whose pods are still stopping.
    control_plane.run(
        "patch", "configmap", "demo-config", "-n", namespace, "--type=merge",
        "-p", '{"metadata":{"finalizers":["example.com/hold"]}}',
    )  # fmt: skip
    control_plane.run("delete", "agentosconfig", "demo", "-n", namespace, "--wait=true")
    control_plane.apply(agentos_body("demo"), namespace)

    waiting = wait_until_condition(control_plane, namespace, "Ready", reason="ChildBeingRemoved", timeout=30)
    # Whichever child the operator meets first: the generated key is looked at before the others.
    assert "garbage collector" in waiting["message"] and "'demo-" in waiting["message"]
    control_plane.run(
        "patch", "configmap", "demo-config", "-n", namespace, "--type=json",
        "-p", '[{"op":"remove","path":"/metadata/finalizers"}]',
    )  # fmt: skip
    body = wait_settled(control_plane, namespace, "demo")

    assert body["metadata"]["uid"] != old_uid
    config = control_plane.get("configmap", "demo-config", namespace) or {}
    assert config["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
    assert [reason for reason, _ in warnings_about(control_plane, namespace, "demo")] == []
    assert troubles(operator) == []
