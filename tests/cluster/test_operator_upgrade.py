"""An operator upgrade on a real API server restarts no AgentOS server: the Deployments an older
operator wrote keep their pod template until something else rolls their pods.

The older operator is stood in for by its write: the Deployment an operator of before pod
template revisions applied (revision 1) is applied with the operator's field manager, as that
operator did, and its pods roll out. This checkout's operator then starts, as after
``helm upgrade``.
"""

from __future__ import annotations

from typing import Any

from agentos_operator import drift, render
from agentos_operator.render import deployment as deployments
from agentos_operator.render.environment import plan_environment
from agentos_operator.resources import parse_resource
from agentos_operator.settings import FIELD_MANAGER

from tests.cluster.conftest import (
    IMAGE,
    POSTGRES,
    ControlPlane,
    InstallOperator,
    add_secrets,
    agentos_body,
    eventually,
    wait_quiet,
    wait_ready,
    wait_settled,
)


def applied_before_revisions(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The Deployment an operator of before pod template revisions applied for the resource as it is now."""
    body = cluster.get("agentosconfig", name, namespace)
    running = cluster.get("deployment", name, namespace)
    assert body is not None and running is not None
    resource = parse_resource(body)
    config_hash = running["spec"]["template"]["metadata"]["annotations"][render.CONFIG_HASH_ANNOTATION]
    environment = plan_environment(resource)
    manifest = deployments.render_deployment(
        resource, image=IMAGE, config_hash=config_hash, environment=environment, revision=1
    )
    return drift.stamped(manifest)


def rolled_out(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    """The Deployment once every pod runs its current template and no other pod is left."""
    found = cluster.get("deployment", name, namespace)
    if found is None:
        return None
    status = found.get("status") or {}
    wanted = found["spec"].get("replicas")
    current = status.get("observedGeneration") == found["metadata"]["generation"]
    counts = (status.get("updatedReplicas"), status.get("replicas"), status.get("availableReplicas"))
    return found if current and counts == (wanted, wanted, wanted) else None


def pod_uids(cluster: ControlPlane, namespace: str, name: str) -> set[str]:
    return {
        pod["metadata"]["uid"] for pod in cluster.items("pods", namespace, "-l", f"app.kubernetes.io/instance={name}")
    }


def pre_stop(deployment: dict[str, Any]) -> Any:
    return deployment["spec"]["template"]["spec"]["containers"][0].get("lifecycle")


def test_an_operator_upgrade_writes_no_deployment_and_restarts_no_pod_until_the_spec_changes(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed = install_operator(namespace)
    add_secrets(control_plane, namespace, postgres=True)
    control_plane.apply(agentos_body("kept", databases=POSTGRES, replicas=2), namespace)
    older = installed.start()
    wait_ready(control_plane, namespace, "kept")
    older.stop()
    control_plane.apply(
        applied_before_revisions(control_plane, namespace, "kept"), namespace, f"--field-manager={FIELD_MANAGER}"
    )
    before = eventually(
        lambda: (found := rolled_out(control_plane, namespace, "kept")) and pre_stop(found) is None and found,
        what="the older operator's pod template rolled out",
    )
    pods = pod_uids(control_plane, namespace, "kept")
    mark = control_plane.audit_mark()

    upgraded = installed.start()
    wait_quiet(installed, upgraded, 1)

    after = control_plane.get("deployment", "kept", namespace)
    assert after is not None
    assert [w["requestURI"] for w in installed.writes(mark) if w["objectRef"]["resource"] == "deployments"] == []
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]
    assert pod_uids(control_plane, namespace, "kept") == pods
    assert wait_ready(control_plane, namespace, "kept")["status"]["observedGeneration"] == 1

    # The first change that rolls the pods anyway brings the newest rendering with it.
    changed = agentos_body("kept", databases=POSTGRES, replicas=2, env=[{"name": "FOO", "value": "bar"}])
    control_plane.apply(changed, namespace)
    wait_settled(control_plane, namespace, "kept")
    rolled = control_plane.get("deployment", "kept", namespace)
    assert rolled is not None and pre_stop(rolled) is not None
    assert rolled["metadata"]["annotations"][deployments.REVISION_ANNOTATION] == str(deployments.POD_TEMPLATE_REVISION)
