"""A spec change the data claim cannot take is named at the spec's field, with both ways out,
found by comparing the claim as it exists with the spec (not from the API server's Go diff)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from agentos_operator import render
from agentos_operator.kube.children import ChildRejectedError, first_line
from agentos_operator.kube.client import ApiError
from agentos_operator.resources import parse_resource

from tests.operator.offline.inputs import resource_body

MODEL = {"id": "gpt-4o-mini", "apiKeySecretRef": {"name": "openai", "key": "api-key"}}
AGENTS = [{"id": "a"}]
# What a real API server (1.37.2) answers a claim's class changed: a first line, then a Go struct diff.
GO_DIFF = (
    'PersistentVolumeClaim "demo-data" is invalid: spec: Forbidden: spec is immutable after creation except'
    " resources.requests and volumeAttributesClassName for bound claims\n@@ -10,7 +10,7 @@\n   }\n  },\n"
    '  "VolumeName": "",\n- "StorageClassName": "fast",\n+ "StorageClassName": "slow",\n'
)


def resource(**persistence: Any) -> Any:
    return parse_resource(resource_body({"models": [MODEL], "agents": AGENTS, "persistence": persistence}))


def claim(storage: str = "1Gi", storage_class: str | None = "fast") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"kind": "PersistentVolumeClaim", "metadata": {"name": "demo-data"}, "spec": spec}


def said(problems: list[Any]) -> list[str]:
    return [str(problem) for problem in problems]


def test_a_changed_class_is_named_at_the_spec_field_with_the_previous_value_and_the_deletion() -> None:
    problems = said(render.claim_change_problems(resource(storageClassName="slow"), claim()))

    assert problems == [
        "spec.persistence.storageClassName: a claim's class cannot change once made: PersistentVolumeClaim"
        " 'demo-data' has 'fast': put 'fast' back, or delete PersistentVolumeClaim 'demo-data' (its data with"
        " it) to have it made again"
    ]


def test_a_class_removed_from_the_spec_is_named_when_nothing_else_changed() -> None:
    assert [p.split(":")[0] for p in said(render.claim_change_problems(resource(), claim()))] == [
        "spec.persistence.storageClassName"
    ]


@pytest.mark.parametrize(
    ("size", "words"),
    [
        ("512Mi", "a claim cannot shrink: PersistentVolumeClaim 'demo-data' requests 1Gi: put 1Gi back"),
        ("2Gi", "grows only once bound"),
    ],
)
def test_a_changed_size_is_named_at_spec_persistence_size(size: str, words: str) -> None:
    problems = said(render.claim_change_problems(resource(size=size, storageClassName="fast"), claim()))

    assert len(problems) == 1 and problems[0].startswith("spec.persistence.size: "), problems
    assert words in problems[0]
    assert "delete PersistentVolumeClaim 'demo-data' (its data with it)" in problems[0]


def test_a_size_written_another_way_is_no_change() -> None:
    assert render.claim_change_problems(resource(size="1024Mi", storageClassName="fast"), claim("1Gi")) == []


def test_nothing_is_named_for_a_claim_made_anew_or_without_sqlite() -> None:
    assert render.claim_change_problems(resource(storageClassName="slow"), None) == []
    body = resource_body(
        {
            "models": [MODEL],
            "agents": AGENTS,
            "databases": [{"id": "main", "type": "postgres", "urlSecretRef": {"name": "pg", "key": "uri"}}],
        }
    )
    assert render.claim_change_problems(parse_resource(body), claim()) == []


def test_the_refusal_quotes_only_the_first_line_of_a_go_diff_and_names_the_field() -> None:
    error = ApiError(verb="dry-run apply", path="/", status=422, reason="Invalid", message=GO_DIFF)
    problems = said(render.claim_change_problems(resource(storageClassName="slow"), claim()))

    refused = ChildRejectedError("PersistentVolumeClaim", "demo-data", error, live=claim(), held=True).naming(problems)

    message = str(refused)
    assert "@@" not in message and "StorageClassName" not in message and "\n" not in message
    assert first_line(GO_DIFF) in message
    assert ": fix spec.persistence.storageClassName: a claim's class cannot change once made" in message
    assert message.endswith("; until then no child is written")
    assert "or delete PersistentVolumeClaim 'demo-data' to have it made again" not in message


def test_a_refused_child_of_ours_that_holds_no_data_may_be_deleted_to_be_made_again() -> None:
    error = ApiError(verb="dry-run apply", path="/", status=422, reason="Invalid", message="spec.x: Invalid value")
    service = {"kind": "Service", "metadata": {"name": "demo"}}

    told = str(ChildRejectedError("Service", "demo", error, live=copy.deepcopy(service), made_again=True))
    after = str(
        ChildRejectedError("Service", "demo", error, made_again=True, taken_back=["spec.ports[port=8000,protocol=TCP]"])
    )

    assert told.endswith(
        "fix the spec, or delete Service 'demo' to have it made again (another client may have changed it)"
    )
    assert after.startswith(
        "the API server refuses Service 'demo' even with what another client changed in it taken back"
        " (spec.ports[port=8000,protocol=TCP]): spec.x: Invalid value: fix the spec, or delete Service 'demo'"
    )
    named = ChildRejectedError("Service", "demo", error, made_again=True).naming(["spec.service.port: why"])
    assert str(named).endswith("fix spec.service.port: why"), "a field at fault is the fix, not a deletion"


def bound(storage_class: str | None = None) -> dict[str, Any]:
    held = claim(storage_class=storage_class)
    held["spec"]["volumeName"] = "pool-7"
    return held


def test_a_class_set_on_a_bound_claim_made_without_one_is_refused_naming_both_ways_out() -> None:
    problems = said(render.claim_class_problems(resource(storageClassName="fast"), bound()))

    assert problems == [
        "spec.persistence.storageClassName: PersistentVolumeClaim 'demo-data' was made without a class and is"
        " bound to volume 'pool-7': a class set now ('fast') could never be taken back and changes nothing;"
        " remove storageClassName, or delete PersistentVolumeClaim 'demo-data' (its data with it) to have it made"
        " again with class 'fast'"
    ]


@pytest.mark.parametrize(
    ("spec_class", "held"),
    [
        (None, bound()),  # nothing asked
        ("fast", claim(storage_class=None)),  # still waiting for a volume: a class is how it finds one
        ("fast", bound("fast")),  # the class it has: unchanged
        ("slow", bound("fast")),  # a change of class: the API server refuses it (claim_change_problems)
        ("fast", None),  # made anew with it
    ],
)
def test_a_class_is_left_to_the_api_server_unless_it_would_be_set_on_a_bound_claim_without_one(
    spec_class: str | None, held: dict[str, Any] | None
) -> None:
    persistence = {"storageClassName": spec_class} if spec_class is not None else {}
    assert render.claim_class_problems(resource(**persistence), held) == []
