"""The end of a reconcile: the Event telling the children's writes goes out with the status, not
after it; the Event telling the Ready condition's move once the status holds it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from agentos_operator import conditions
from agentos_operator.kube import kinds
from agentos_operator.kube.children import Change
from agentos_operator.kube.client import FORBIDDEN_REMEDY, ApiError
from agentos_operator.kube.store import Store
from agentos_operator.reconcile import Context, Outcome, RefusedForNowError, _conclude
from agentos_operator.settings import OperatorSettings

from tests.operator.offline.inputs import resource_body

DONE = conditions.Rollout(desired=1, ready=1, available=1, updated=1, current=True, total=1)
CREATED = [Change("created", "ConfigMap", "demo-config"), Change("created", "Deployment", "demo")]


class Api:
    """Answers the status PATCH only once an Event went out (``hold``), and logs each call."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.event_posted = asyncio.Event()
        self.hold = True
        self.refuse: ApiError | None = None

    async def patch(
        self,
        kind: kinds.Kind,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        field_manager: str,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        self.log.append("status sent")
        if self.hold:
            await self.event_posted.wait()
        self.log.append("status written")
        if self.refuse is not None:
            raise self.refuse
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u", "resourceVersion": "9"}, **patch}

    async def create(self, body: Mapping[str, Any], *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        self.log.append(f"Event {body['reason']}")
        self.event_posted.set()
        return {**body}


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
async def ctx(api: Api) -> AsyncIterator[Context]:
    store = Store(api, consistency_seconds=5)  # type: ignore[arg-type]
    store.watch(kinds.AGENTOS_CONFIG, trust_absence=True)
    yield Context(
        api=api,  # type: ignore[arg-type]
        store=store,
        settings=OperatorSettings(),
        logger=logging.getLogger("tests.status_with_events"),
        clock=lambda: "2030-01-01T00:00:00Z",
    )
    store.close()


def body() -> dict[str, Any]:
    resource = resource_body({"models": [{"id": "m", "apiKeySecretRef": {"name": "openai", "key": "k"}}]})
    resource["metadata"].update(name="demo", namespace="ns1", uid="uid-demo", generation=1)
    return resource


async def conclude(ctx: Context, rollout: conditions.Rollout | None) -> Outcome:
    # A guard, not a timing: told one after the other, the status would wait for the Event forever.
    return await asyncio.wait_for(
        _conclude(ctx, body(), conditions.applied(rollout), None, "converged", changes=CREATED), timeout=10
    )


async def test_the_event_telling_the_writes_goes_out_while_the_status_is_written(api: Api, ctx: Context) -> None:
    outcome = await conclude(ctx, None)

    assert api.log == ["status sent", "Event Created", "status written"]
    assert outcome.verdict == "converged"


async def test_the_ready_move_is_told_once_the_status_holds_it(api: Api, ctx: Context) -> None:
    await conclude(ctx, DONE)

    assert api.log == ["status sent", "Event Created", "status written", "Event Available"]


async def test_a_status_refused_still_tells_the_writes_made_but_not_a_ready_move_it_does_not_hold(
    api: Api, ctx: Context
) -> None:
    api.refuse = ApiError(verb="patch", path="/", status=422, reason="Invalid", message="too large")

    outcome = await conclude(ctx, DONE)

    assert api.log == ["status sent", "Event Created", "status written", "Event StatusRefused"]
    assert outcome.verdict == "invalid"


async def test_a_status_refused_again_is_told_once_until_a_status_is_written(api: Api, ctx: Context) -> None:
    """A resource at etcd's size limit is reconciled again by its children's changes (a rollout
    moving on): the same refusal is not told at each; after a status is written, it is again."""
    api.hold = False
    too_large = ApiError(
        verb="patch", path="/", status=500, reason="InternalError", message="etcdserver: request is too large"
    )
    api.refuse = too_large

    outcomes = [await conclude(ctx, DONE), await conclude(ctx, DONE)]
    assert [line for line in api.log if line == "Event StatusRefused"] == ["Event StatusRefused"]
    assert [outcome.verdict for outcome in outcomes] == ["invalid", "invalid"]

    api.refuse = None  # the resource made smaller: written
    assert (await conclude(ctx, DONE)).verdict == "converged"
    api.refuse = too_large
    await conclude(ctx, DONE)
    assert [line for line in api.log if line == "Event StatusRefused"] == ["Event StatusRefused"] * 2


async def test_a_status_that_failed_for_now_is_retried_and_the_writes_stay_told(api: Api, ctx: Context) -> None:
    api.refuse = ApiError(verb="patch", path="/", status=503, reason="ServiceUnavailable", message="")

    with pytest.raises(ApiError, match="503"):
        await conclude(ctx, DONE)

    assert api.log == ["status sent", "Event Created", "status written"]


RBAC_REFUSAL = (
    'agentosconfigs.agentos.dev "demo" is forbidden: User "system:serviceaccount:ops:agentos" cannot patch'
    ' resource "agentosconfigs/status" in API group "agentos.dev" in the namespace "ns1"'
)


async def test_a_status_the_authorizer_refuses_is_retried_quietly_then_told_once_and_retried(
    api: Api, ctx: Context
) -> None:
    now = [100.0]
    ctx = dataclasses.replace(ctx, monotonic=lambda: now[0])
    api.hold = False
    api.refuse = ApiError(verb="patch", path="/", status=403, reason="Forbidden", message=RBAC_REFUSAL)

    with pytest.raises(RefusedForNowError):
        await conclude(ctx, DONE)
    now[0] += ctx.settings.failure_grace_seconds - 1
    with pytest.raises(RefusedForNowError, match="refused for 29 s"):
        await conclude(ctx, DONE)
    assert [line for line in api.log if line.startswith("Event")] == ["Event Created", "Event Created"]

    now[0] += 1
    first, again = await conclude(ctx, DONE), await conclude(ctx, DONE)

    told = [line for line in api.log if line.startswith("Event") and line != "Event Created"]
    assert told == ["Event StatusRefused"], "told once, not at each retry"
    assert first.verdict == again.verdict == "blocked", "retried, not left until the next edit"
    assert 'cannot patch resource "agentosconfigs/status"' in first.message and FORBIDDEN_REMEDY in first.message
    assert "make the spec smaller" not in first.message

    api.refuse = None  # given back: written, and a later refusal gets a grace of its own
    assert (await conclude(ctx, DONE)).verdict == "converged"
    api.refuse = ApiError(verb="patch", path="/", status=403, reason="Forbidden", message=RBAC_REFUSAL)
    with pytest.raises(RefusedForNowError, match="refused for 0 s"):
        await conclude(ctx, DONE)
