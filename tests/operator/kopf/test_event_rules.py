"""Pure rules of Events: one per decision, none for a resync that changed nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from agentos_operator import conditions, events
from agentos_operator.events import Notice
from agentos_operator.kube.children import Change
from agentos_operator.kube.client import ApiError

T0 = "2026-01-01T00:00:00Z"


def ready(status: str, reason: str, message: str = "") -> list[dict[str, object]]:
    return conditions.merge([], [conditions.Condition("Ready", status, reason, message)], now=T0, generation=1)  # type: ignore[arg-type]


def test_the_changes_of_one_reconcile_are_one_event_per_kind_of_change_naming_each_child() -> None:
    changes = [
        Change("created", "ConfigMap", "demo-config"),
        Change("pruned", "HorizontalPodAutoscaler", "demo"),
        Change("created", "Deployment", "demo"),
    ]

    assert events.for_changes(changes) == [
        Notice("Normal", "Created", "Created ConfigMap 'demo-config', Deployment 'demo'"),
        Notice("Normal", "Pruned", "Deleted HorizontalPodAutoscaler 'demo'"),
    ]


def test_no_change_is_no_event() -> None:
    assert events.for_changes([]) == []


def test_an_unchanged_condition_is_no_event() -> None:
    same = ready("False", "InvalidSpec", "spec.x: bad")

    assert events.for_transition(same, same) == []


def test_a_problem_warns_once_and_again_only_when_it_changes() -> None:
    first = ready("False", "InvalidSpec", "spec.x: bad")
    other = ready("False", "InvalidSpec", "spec.y: bad")

    assert events.for_transition([], first) == [Notice("Warning", "InvalidSpec", "spec.x: bad")]
    assert events.for_transition(first, other) == [Notice("Warning", "InvalidSpec", "spec.y: bad")]


def test_becoming_available_is_announced_but_pods_coming_and_going_are_not() -> None:
    assert events.for_transition(ready("False", "DeploymentUnavailable"), ready("True", "Available", "1 of 1")) == [
        Notice("Normal", "Available", "1 of 1")
    ]
    assert events.for_transition([], ready("False", "DeploymentUnavailable", "0 of 1")) == []
    assert events.for_transition(ready("True", "Available", "1 of 1"), ready("True", "Available", "2 of 2")) == []


def test_becoming_paused_is_announced_once_however_the_paused_resources_pods_come_and_go() -> None:
    note = "spec.paused is true: children are left as they are"
    serving, down = ready("True", "Paused", f"{note}; 1 of 1 pods ready"), ready("False", "Paused", f"{note}; 0 of 1")

    assert events.for_transition(ready("True", "Available", "1 of 1"), serving) == [
        Notice("Normal", "Paused", f"{note}; 1 of 1 pods ready")
    ]
    assert events.for_transition(serving, down) == []
    assert events.for_transition(down, serving) == []


def test_an_event_names_the_resource_and_the_operator() -> None:
    involved = {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "metadata": {"name": "d", "namespace": "n", "uid": "u"},
    }

    event = events.build_event(
        Notice("Warning", "SecretNotFound", "m" * 2000), involved=involved, now=T0, instance="pod-1"
    )

    assert event["involvedObject"] == {
        "apiVersion": "agentos.dev/v1alpha1",
        "kind": "AgentOSConfig",
        "name": "d",
        "namespace": "n",
        "uid": "u",
    }
    assert (event["type"], event["reason"], event["metadata"]["namespace"]) == ("Warning", "SecretNotFound", "n")
    assert len(event["message"].encode()) <= conditions.MESSAGE_MAX_LENGTH
    assert event["message"].endswith(" more characters]")
    assert event["reportingInstance"] == "pod-1"


def test_pods_the_cluster_refuses_warn_once_and_their_coming_is_announced() -> None:
    refused = ready("False", "PodsNotCreated", "the cluster refuses the pods (forbidden: exceeded quota: q)")
    late = ready("False", "ProgressDeadlineExceeded", "the rollout made no progress")

    assert events.for_transition(ready("False", "DeploymentUnavailable", "0 of 1"), refused) == [
        Notice("Warning", "PodsNotCreated", "the cluster refuses the pods (forbidden: exceeded quota: q)")
    ]
    assert events.for_transition(refused, refused) == []
    assert events.for_transition([], late) == [
        Notice("Warning", "ProgressDeadlineExceeded", "the rollout made no progress")
    ]
    assert events.for_transition(refused, ready("True", "Available", "1 of 1")) == [
        Notice("Normal", "Available", "1 of 1")
    ]


def test_whether_the_previous_pods_serve_is_no_new_warning_but_a_new_cause_is() -> None:
    cause = "the cluster refuses the pods (forbidden: exceeded quota: q)"
    serving = ready("False", "PodsNotCreated", f"{cause}; the previous pods serve meanwhile")
    not_serving = ready("False", "PodsNotCreated", cause)
    another = "the cluster refuses the pods (forbidden: exceeded quota: r)"

    assert events.for_transition(serving, not_serving) == []
    assert events.for_transition(not_serving, serving) == []
    assert events.for_transition(serving, ready("False", "PodsNotCreated", another)) == [
        Notice("Warning", "PodsNotCreated", another)
    ]


def test_a_blocked_reconcile_is_one_warning_whether_or_not_the_previous_pods_serve_meanwhile() -> None:
    cause = "Secret 'openai' not found (spec.models[0].apiKeySecretRef): create it in the resource's namespace"

    def blocked(message: str, *, serving: bool) -> list[dict[str, Any]]:
        return conditions.merge(
            [], conditions.blocked("SecretNotFound", message, serving=serving), now=T0, generation=1
        )

    first = events.for_transition(ready("True", "Available", "2 of 2"), blocked(cause, serving=True))

    assert first == [Notice("Warning", "SecretNotFound", f"{cause}; {conditions.PREVIOUS_PODS_SERVE}")]
    assert events.for_transition(blocked(cause, serving=True), blocked(cause, serving=False)) == []
    assert events.for_transition(blocked(cause, serving=False), blocked(cause, serving=True)) == []
    assert events.for_transition(blocked(cause, serving=True), blocked("Secret 'x' not found", serving=True)) == [
        Notice("Warning", "SecretNotFound", f"Secret 'x' not found; {conditions.PREVIOUS_PODS_SERVE}")
    ]


def test_a_blocked_cause_too_long_for_a_condition_is_one_warning_whether_or_not_the_previous_pods_serve() -> None:
    cause = "; ".join(f"Secret 'key-{i}' not found (spec.models[{i}].apiKeySecretRef)" for i in range(60))

    def blocked(*, serving: bool) -> list[dict[str, Any]]:
        return conditions.merge([], conditions.blocked("SecretNotFound", cause, serving=serving), now=T0, generation=1)

    assert events.for_transition(blocked(serving=True), blocked(serving=False)) == []
    assert events.for_transition(blocked(serving=False), blocked(serving=True)) == []


class RefusingApi:
    """Refuses every create with ``error``; counts the creates."""

    def __init__(self, error: ApiError | None) -> None:
        self.error = error
        self.created = 0

    async def create(self, body: Mapping[str, Any], *, field_manager: str) -> dict[str, Any]:
        self.created += 1
        if self.error is not None:
            raise self.error
        return dict(body)


INVOLVED = {
    "apiVersion": "agentos.dev/v1alpha1",
    "kind": "AgentOSConfig",
    "metadata": {"name": "demo", "namespace": "ns1", "uid": "u"},
}
MISSING = Notice("Warning", "SecretNotFound", "Secret 'openai' not found")


async def post_logged(api: RefusingApi, caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    logger = logging.getLogger("test-events")
    with caplog.at_level(logging.DEBUG, logger="test-events"):
        await events.post(
            api,  # type: ignore[arg-type]
            [MISSING],
            involved=INVOLVED,
            now="2026-01-01T00:00:00Z",
            instance="op-0",
            field_manager="op",
            logger=logger,
        )
    return [(record.levelno, record.getMessage()) for record in caplog.records]


async def test_a_warning_is_posted_and_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    api = RefusingApi(None)

    assert await post_logged(api, caplog) == [(logging.WARNING, "ns1/demo SecretNotFound: Secret 'openai' not found")]
    assert api.created == 1


async def test_a_warning_its_terminating_namespace_refuses_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """A namespace being deleted takes the resource's Secrets first: no trouble (seen on a real control plane)."""
    terminating = ApiError(
        verb="create",
        path="/api/v1/namespaces/ns1/events",
        status=403,
        reason="Forbidden",
        message='events "demo.1" is forbidden: unable to create new content in namespace ns1 because it is being terminated',
    )

    logged = await post_logged(RefusingApi(terminating), caplog)

    assert logged == [
        (logging.INFO, "ns1/demo SecretNotFound (its namespace is being deleted): Secret 'openai' not found")
    ]


async def test_a_warning_refused_otherwise_is_logged_with_why(caplog: pytest.LogCaptureFixture) -> None:
    refused = ApiError(
        verb="create", path="/api/v1/namespaces/ns1/events", status=403, reason="Forbidden", message="no"
    )

    logged = await post_logged(RefusingApi(refused), caplog)

    assert [level for level, _ in logged] == [logging.WARNING, logging.WARNING]
    assert logged[1][1].startswith("could not post the SecretNotFound event: ")


def test_a_child_restored_after_a_hand_edit_is_a_normal_event_saying_what_was_taken_back() -> None:
    changes = [
        Change("restored", "Service", "demo", ("spec.ports[port=8000,protocol=TCP]",)),
        Change("updated", "ConfigMap", "demo-config"),
    ]

    assert events.for_changes(changes) == [
        Notice("Normal", "Restored", "Restored Service 'demo' (edited by hand: spec.ports[port=8000,protocol=TCP])"),
        Notice("Normal", "Updated", "Updated ConfigMap 'demo-config'"),
    ]
