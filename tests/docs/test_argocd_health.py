"""The Argo CD health check the docs give (docs/argocd-health.lua), run by a Lua interpreter over
the statuses the operator writes: Healthy once rolled out, Progressing during a rollout or
before the operator observed the spec, Degraded while a person must act, Suspended when paused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agentos_operator import conditions
from agentos_operator.conditions import Condition, Obstacle, Rollout
from lupa import LuaRuntime

SCRIPT = (Path(__file__).resolve().parents[2] / "docs" / "argocd-health.lua").read_text()
ROLLING = Rollout(desired=2, ready=1, available=1, updated=1, current=True, total=2)
DONE = Rollout(desired=2, ready=2, available=2, updated=2, current=True, total=2)
REFUSED = Rollout(1, 0, 0, 0, True, total=0, obstacle=Obstacle(pods_refused="exceeded quota: q", deadline=None))
TIMED_OUT = Rollout(1, 0, 0, 1, True, total=1, obstacle=Obstacle(pods_refused=None, deadline="timed out progressing"))


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """What Argo CD shows for ``obj``: the script runs with the resource as the global ``obj``."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    answer = lua.execute(SCRIPT)
    return answer["status"], answer["message"]


def resource(written: list[Condition] | None, *, generation: int = 3, observed: int = 3) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "demo", "generation": generation}}
    if written is not None:
        entries = conditions.merge([], written, now="2026-01-01T00:00:00Z", generation=observed)
        obj["status"] = {"observedGeneration": observed, "conditions": entries}
    return obj


@pytest.mark.parametrize(
    ("obj", "shown"),
    [
        (resource(None), "Progressing"),
        (resource(conditions.applied(DONE), observed=2), "Progressing"),
        (resource(conditions.applied(None)), "Progressing"),
        (resource(conditions.applied(ROLLING)), "Progressing"),
        (resource(conditions.applied(DONE)), "Healthy"),
        (resource(conditions.blocked(conditions.INVALID_SPEC, "spec.agents[0].model: unknown model")), "Degraded"),
        (resource(conditions.blocked(conditions.SECRET_NOT_FOUND, "Secret 'openai' not found")), "Degraded"),
        (resource(conditions.paused(DONE, None, generation=3)), "Suspended"),
        (resource(conditions.paused(DONE, "ConfigMap 'demo-config' differs from it", generation=3)), "Suspended"),
        (resource(conditions.applied(REFUSED)), "Progressing"),
        (resource(conditions.applied(TIMED_OUT)), "Degraded"),
    ],
    ids=[
        "no-status",
        "spec-not-observed",
        "no-deployment",
        "rolling-out",
        "rolled-out",
        "invalid",
        "secret",
        "paused",
        "paused-with-an-edit-unapplied",
        "pods-refused",
        "past-progress-deadline",
    ],
)
def test_argo_cd_shows_the_state_the_status_says(obj: dict[str, Any], shown: str) -> None:
    assert health(obj)[0] == shown


def test_a_degraded_resource_shows_what_to_fix() -> None:
    obj = resource(conditions.blocked(conditions.SECRET_NOT_FOUND, "Secret 'openai' not found"))

    assert health(obj) == ("Degraded", "Secret 'openai' not found")


def test_pods_the_cluster_refuses_show_why_while_kubernetes_retries() -> None:
    shown, message = health(resource(conditions.applied(REFUSED)))

    assert shown == "Progressing" and "exceeded quota: q" in message
