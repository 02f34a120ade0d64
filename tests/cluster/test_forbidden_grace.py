"""403 Forbidden on a real control plane: the operator's grace for refusals that pass, and its
report of those that last (``failure_grace_seconds``, 30 s by default, waited for in full: the
chart does not set it).

The chart's Role in the watched namespace loses a grant while a resource is being reconciled
(an edit changes its config, so its Deployment and its status must be written), as an RBAC
change rolled out in two steps would refuse. Given back within the grace (the Deployments'
writes, or the status's), the resource converges as if nothing happened: no Warning, no blocked
reconcile, nothing logged above info. Kept away longer, the status says which permission is
missing and where it is granted, one Warning says it, and the operator keeps retrying; given
back, the resource converges without a restart. Last, the API server is restarted under the
running operator: a new server refuses what its authorizer has not read yet.

The Role is put back whatever happens, and the API server is ready again before the test ends
(other files share it); each RBAC change is waited for until the authorizer applies it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agentos_operator.settings import OperatorSettings

from tests.cluster.conftest import (
    ControlPlane,
    Installed,
    InstallOperator,
    OperatorProcess,
    agentos_body,
    condition,
    eventually,
    operator_running,
    wait_settled,
    warnings_about,
)
from tests.cluster.test_competing_writers import troubles
from tests.cluster.test_secret_watch_gone import api_server_ready, start_api_server, stop_api_server


@dataclass(frozen=True)
class Grant:
    """Verbs of one resource in the chart's Role, named as its rule and the audit log name it
    (``agentosconfigs/status``), and as ``kubectl auth can-i`` does (``qualified``)."""

    resource: str
    qualified: str
    verbs: frozenset[str]

    def allowed(self, installed: Installed, namespace: str) -> bool:
        """Whether the operator may ``patch`` it now, by the API server's authorizer."""
        plural, _, subresource = self.resource.partition("/")
        name = self.qualified + (f" --subresource={subresource}" if subresource else "")
        result = installed.cluster.run(
            "auth", "can-i", "patch", *name.split(), "-n", namespace, f"--as={installed.user}", check=False
        )
        return result.stdout.strip() == "yes"


FORBIDDEN_GRACE_SECONDS = OperatorSettings.model_fields["failure_grace_seconds"].default
DEPLOYMENT_WRITES = Grant("deployments", "deployments.apps", frozenset({"create", "patch", "delete"}))
STATUS_WRITES = Grant("agentosconfigs/status", "agentosconfigs.agentos.dev", frozenset({"patch"}))


def chart_role(installed: Installed, namespace: str) -> dict[str, Any]:
    """The Role the chart made for ``namespace`` (its rules for the operator's own resources)."""
    [role] = installed.cluster.items("roles", namespace, "-l", f"app.kubernetes.io/instance={installed.release}")
    return role


@contextlib.contextmanager
def taken_away(installed: Installed, namespace: str, grant: Grant) -> Iterator[None]:
    """The chart's Role in ``namespace`` without ``grant``'s verbs, until the block ends; put back
    as it was, even when the block fails. Each change is waited for: the API server's authorizer
    follows RBAC objects through a watch of its own."""
    cluster, role = installed.cluster, chart_role(installed, namespace)
    rules = role["rules"]
    narrowed = [
        {**rule, "verbs": [v for v in rule["verbs"] if v not in grant.verbs]}
        if grant.resource in rule.get("resources", [])
        else rule
        for rule in rules
    ]
    narrowed = [rule for rule in narrowed if rule["verbs"]]  # a rule must grant some verb
    assert narrowed != rules, f"the chart's Role grants {grant}"
    name = role["metadata"]["name"]

    def set_rules(new: list[dict[str, Any]]) -> None:
        patch = json.dumps({"rules": new})
        cluster.run("patch", "role", name, "-n", namespace, "--type=merge", "-p", patch)

    set_rules(narrowed)
    try:
        eventually(lambda: not grant.allowed(installed, namespace), what=f"{grant.resource} taken away")
        yield
    finally:
        set_rules(rules)
        eventually(lambda: grant.allowed(installed, namespace), what=f"{grant.resource} given back")


def edited(name: str = "demo") -> dict[str, Any]:
    """``agentos_body`` with other instructions: a new config, so a new Deployment template."""
    body = agentos_body(name)
    body["spec"]["agents"][0]["instructions"] = ["Be brief, and kind."]
    return body


def refused_resource(request: dict[str, Any]) -> str:
    ref = request["objectRef"]
    return ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")


def refusals(installed: Installed, since: int) -> list[dict[str, Any]]:
    """The operator's requests the API server answered 403 since ``since``, as its audit log has them."""
    return [r for r in installed.requests(since) if (r.get("responseStatus") or {}).get("code") == 403]


def received(event: dict[str, Any]) -> float:
    """When the API server received the audited request, in seconds."""
    stamp = event["requestReceivedTimestamp"].replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).timestamp()


def status_writes(installed: Installed, since: int) -> list[dict[str, Any]]:
    return [w for w in installed.writes(since) if (w.get("objectRef") or {}).get("subresource") == "status"]


def settled_on_new_config(cluster: ControlPlane, namespace: str, before: str) -> dict[str, Any]:
    body = wait_settled(cluster, namespace, "demo", timeout=60)
    assert body["status"]["configHash"] != before, "the edit rolled out"
    return body


def ready_and_quiet(
    cluster: ControlPlane, namespace: str, install: InstallOperator
) -> tuple[Installed, OperatorProcess, str]:
    installed, operator = operator_running(cluster, namespace, install)
    cluster.apply(agentos_body("demo"), namespace)
    body = wait_settled(cluster, namespace, "demo")
    assert warnings_about(cluster, namespace, "demo") == []
    return installed, operator, body["status"]["configHash"]


@pytest.mark.parametrize("grant", [DEPLOYMENT_WRITES, STATUS_WRITES], ids=lambda grant: grant.resource)
def test_a_permission_given_back_within_the_grace_is_retried_without_a_word(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator, grant: Grant
) -> None:
    installed, operator, before = ready_and_quiet(control_plane, namespace, install_operator)
    logged, blocked = len(operator.output()), operator.reconciles("blocked")

    with taken_away(installed, namespace, grant):
        mark = control_plane.audit_mark()
        started = time.monotonic()
        control_plane.apply(edited(), namespace)
        # Refused, and retried: the reconcile is under way while the permission is away.
        eventually(lambda: len(refusals(installed, mark)) >= 3, timeout=20, what="three refusals")
    assert time.monotonic() - started < FORBIDDEN_GRACE_SECONDS - 5, "given back well within the grace"

    body = settled_on_new_config(control_plane, namespace, before)
    assert {refused_resource(r) for r in refusals(installed, mark)} == {grant.resource}
    assert warnings_about(control_plane, namespace, "demo") == []
    assert condition(body, "Ready")["status"] == "True"
    assert operator.reconciles("blocked") == blocked, "never reported as blocked (ApplyFailed, ChildRejected)"
    assert operator.reconciles("invalid") == 0, "never reported as a status too large to store"
    assert troubles(operator, logged) == []
    assert operator.alive()


def test_a_permission_away_longer_than_the_grace_is_reported_once_and_given_back_converges(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    installed, operator, before = ready_and_quiet(control_plane, namespace, install_operator)

    with taken_away(installed, namespace, DEPLOYMENT_WRITES):
        mark = control_plane.audit_mark()
        control_plane.apply(edited(), namespace)
        ready = eventually(
            lambda: (
                (found := condition(control_plane.get("agentosconfig", "demo", namespace), "Ready")).get("reason")
                == "ApplyFailed"
                and found
            ),
            timeout=FORBIDDEN_GRACE_SECONDS + 30,
            what="Ready=False for ApplyFailed",
        )
        first_refusal = received(refusals(installed, mark)[0])
        first_status = received(status_writes(installed, mark)[0])
        # The API server's own clock: nothing was said of it during the grace.
        assert first_status - first_refusal >= FORBIDDEN_GRACE_SECONDS - 1, (first_refusal, first_status)
        assert ready["status"] == "False"
        message = ready["message"]
        assert 'cannot patch resource "deployments"' in message, message
        assert installed.service_account in message, "names who lacks it"
        assert "grant it" in message and "Role" in message, "says where it is granted"
        assert "sk-test-1" not in message
        # Still retried, and told once.
        told = len(refusals(installed, mark))
        eventually(lambda: len(refusals(installed, mark)) >= told + 3, timeout=20, what="more retries")
        warnings = warnings_about(control_plane, namespace, "demo")
        assert [reason for reason, _ in warnings] == ["ApplyFailed"], warnings
        assert 'cannot patch resource "deployments"' in warnings[0][1]
        assert operator.alive()
        given_back = control_plane.audit_mark()

    body = settled_on_new_config(control_plane, namespace, before)
    assert condition(body, "Ready")["status"] == "True"
    assert "ApplyFailed" not in json.dumps(body["status"]["conditions"])
    assert installed.writes(given_back), "written by the same process, not restarted"
    assert operator.alive()
    assert len(warnings_about(control_plane, namespace, "demo")) == 1


def test_an_api_server_restarted_under_the_operator_gives_no_warning(
    control_plane: ControlPlane, namespace: str, install_operator: InstallOperator
) -> None:
    """A new API server refuses (403) what its authorizer has not read the RBAC objects for yet:
    a 1.37 one refused each of the operator's watches, reconnecting at once, in every run seen;
    a 1.33 one answered them 429 "storage is (re)initializing" instead. Nothing here depends on
    either: neither, nor the edit made as soon as the server takes it, gives a Warning, a blocked
    reconcile, or a 403 logged above info by the operator's own code."""
    installed, operator, before = ready_and_quiet(control_plane, namespace, install_operator)
    blocked, logged = operator.reconciles("blocked"), len(operator.output())
    body = json.dumps(edited())

    def edit() -> bool:
        """The edit, as soon as the new API server takes it (cluster-admin passes before RBAC is read)."""
        applied = control_plane.run("apply", "--server-side", "-n", namespace, "-f", "-", input=body, check=False)
        return applied.returncode == 0

    stop_api_server(control_plane)
    try:
        start_api_server(control_plane)
        eventually(edit, timeout=120, what="the edit taken by the restarted API server")
    finally:
        eventually(lambda: api_server_ready(control_plane), timeout=120, what="the API server ready again")

    settled_on_new_config(control_plane, namespace, before)
    assert warnings_about(control_plane, namespace, "demo") == []
    assert operator.reconciles("blocked") == blocked
    assert operator.alive()
    # kopf's own watch of the resources logs its retries, a 403 too, at warning: not the operator's.
    said = [line for line in troubles(operator, logged) if "403" in line and not line.startswith("Request attempt")]
    assert said == []
