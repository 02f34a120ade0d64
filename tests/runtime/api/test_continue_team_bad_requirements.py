"""Garbage ``requirements`` sent to continue a paused broadcast team or a team nested in a team,
over HTTP on SQLite: every one is a 400 whose ``detail`` names the field, never a 5xx, and
the run stays PAUSED, so the right decisions still take it on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runtime.api.harness import Served, broadcast_document, serve_on
from tests.support.fake_openai import FakeOpenAI, FakeOpenAIServer, FakeToolCall, Reply, serve_fake_openai

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")
TO_CREW = FakeToolCall("delegate_task_to_member", '{"member_id": "crew-one", "task": "add 2 and 3"}', id="b1")
TO_ASSISTANT = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add 2 and 3"}', id="d1")


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
def plains() -> Iterator[FakeOpenAIServer]:
    with serve_fake_openai(FakeOpenAI(default=Reply.say("plain answer"))) as server:
        yield server


@pytest.fixture
async def app(fake_openai: FakeOpenAIServer, plains: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    """Team crew broadcasts to agents assistant and checker (whose calculator needs a
    confirmation); team board's one member is team crew-one, whose one member is assistant;
    agent plain answers without pausing, on a fake server of its own: a broadcast asks its
    members at once, so one script for all three would now and then give plain a call."""
    document = broadcast_document(fake_openai.base_url)
    document["models"].append({**document["models"][0], "id": "plains", "base_url": plains.base_url})
    document["agents"].append({"id": "plain", "name": "Plain", "model": "plains"})
    document["teams"] = [
        {"id": "crew", "model": "fake", "members": ["assistant", "checker", "plain"], "mode": "broadcast"},
        {"id": "crew-one", "name": "Crew one", "model": "fake", "members": ["assistant"]},
        {"id": "board", "name": "Board", "model": "fake", "members": ["crew-one"]},
    ]
    async with serve_on("sqlite", yaml.safe_dump(document), tmp_path) as running:
        yield running


async def paused_broadcast(app: Served, fake_openai: FakeOpenAIServer) -> JSON:
    fake_openai.script(Reply.call(ADD), Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    paused: JSON = (await app.client.post("/teams/crew/runs", data=form)).json()
    assert paused["status"] == "PAUSED" and len(paused["requirements"]) == 2
    return paused


async def paused_nested(app: Served, fake_openai: FakeOpenAIServer) -> JSON:
    fake_openai.script(Reply.call(TO_CREW), Reply.call(TO_ASSISTANT), Reply.call(ADD))
    form = {"message": "add", "stream": "false", "session_id": "s1"}
    paused: JSON = (await app.client.post("/teams/board/runs", data=form)).json()
    assert paused["status"] == "PAUSED" and len(paused["requirements"]) == 1
    return paused


def confirmed(requirement: JSON, **changes: Any) -> JSON:
    return {
        **requirement,
        "confirmation": True,
        "tool_execution": {**requirement["tool_execution"], "confirmed": True},
        **changes,
    }


def long_list(paused: JSON) -> Any:
    return [confirmed(paused["requirements"][0], member_run_id=f"r{i}") for i in range(2_000)]


def nested_deeply(paused: JSON) -> Any:
    deep: Any = "x"
    for _ in range(200):
        deep = {"a": deep}
    return [confirmed(r, confirmation_note=None, extra=deep) for r in paused["requirements"]]


GARBAGE: dict[str, tuple[Callable[[JSON], Any], str]] = {
    "an unknown member run": (
        lambda p: [confirmed(r, member_run_id="nobody") for r in p["requirements"]],
        "member_run_id 'nobody'",
    ),
    "a member run id that is a number": (
        lambda p: [confirmed(r, member_run_id=7) for r in p["requirements"]],
        "member_run_id 7",
    ),
    "the team run's own id as a member's": (
        lambda p: [confirmed(r, member_run_id=p["run_id"]) for r in p["requirements"]],
        "member_run_id",
    ),
    "a requirement sent twice": (
        lambda p: [confirmed(r) for r in p["requirements"]] + [confirmed(p["requirements"][0])],
        "decided twice",
    ),
    "a member's requirement missing": (
        lambda p: [confirmed(r) for r in p["requirements"][1:]] or [],
        "waits for a decision",
    ),
    "no requirement at all": (lambda p: [], "waits for a decision"),
    # one without a member_run_id is bound to the member run waiting on its call, as Agno binds it
    # (test_continue_unnamed_member_run.py); one naming a call no run waits on is still refused
    "a requirement moved to the leader, naming an unknown call": (
        lambda p: [
            confirmed(r, member_run_id=None, tool_execution={**r["tool_execution"], "tool_call_id": "nope"})
            for r in p["requirements"]
        ],
        "tool_call_id nope, which is no tool call this run waits on (it waits on: call_add of member run '",
    ),
    "an unknown call id": (
        lambda p: [
            confirmed(r, tool_execution={**r["tool_execution"], "tool_call_id": "nope", "confirmed": True})
            for r in p["requirements"]
        ],
        "tool_call_id nope",
    ),
    "an empty call id": (
        lambda p: [confirmed(r, tool_execution={**r["tool_execution"], "tool_call_id": ""}) for r in p["requirements"]],
        "names tool_call_id '', which is no tool call",
    ),
    "confirmed not a boolean": (
        lambda p: [
            {**r, "confirmation": "yes", "tool_execution": {**r["tool_execution"], "confirmed": "yes"}}
            for r in p["requirements"]
        ],
        "confirmed true or false",
    ),
    "a NUL byte in a note": (
        lambda p: [confirmed(r, confirmation_note="a\x00b") for r in p["requirements"]],
        ".confirmation_note: Text may not contain a NUL",
    ),
    "a lone surrogate in a member run id": (
        lambda p: [confirmed(r, member_run_id="\ud800") for r in p["requirements"]],
        ".member_run_id: Text may not contain a lone surrogate",
    ),
    "nesting too deep": (nested_deeply, "requirements"),
    "two thousand requirements": (long_list, "member_run_id 'r0'"),
    "a list of lists": (lambda p: [[r] for r in p["requirements"]], "entry 0 is not a JSON object"),
    "no tool_execution": (
        lambda p: [{k: v for k, v in r.items() if k != "tool_execution"} for r in p["requirements"]],
        "no tool_execution object",
    ),
    "an object, not a list": (lambda p: {"requirements": p["requirements"]}, "expected a JSON list"),
}


async def go_on(app: Served, team: str, run_id: str, requirements: str) -> Any:
    data = {"requirements": requirements, "session_id": "s1", "stream": "false"}
    return await app.client.post(f"/teams/{team}/runs/{run_id}/continue", data=data)


# Each paused team: how it is paused, and the replies that take it to its end once decided.
PAUSED_TEAMS: dict[str, tuple[Callable[[Served, FakeOpenAIServer], Awaitable[JSON]], tuple[str, ...]]] = {
    "crew": (paused_broadcast, ("5", "five", "Both say 5.")),
    "board": (paused_nested, ("5", "The crew says 5.", "The board says 5.")),
}


@pytest.mark.parametrize("team", list(PAUSED_TEAMS), ids=["broadcast", "nested"])
@pytest.mark.parametrize("case", list(GARBAGE))
async def test_garbage_requirements_are_a_400_naming_the_field_and_the_run_still_waits(
    app: Served, fake_openai: FakeOpenAIServer, team: str, case: str
) -> None:
    pause, replies = PAUSED_TEAMS[team]
    paused = await pause(app, fake_openai)
    make, named = GARBAGE[case]

    response = await go_on(app, team, paused["run_id"], json.dumps(make(paused)))

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "requirements" in detail and named in detail
    fake_openai.script(*(Reply.say(reply) for reply in replies))
    done = await go_on(app, team, paused["run_id"], json.dumps([confirmed(r) for r in paused["requirements"]]))
    assert (done.status_code, done.json()["status"]) == (200, "COMPLETED")


async def test_a_requirement_naming_a_broadcast_member_that_did_not_pause_is_a_400(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await paused_broadcast(app, fake_openai)
    run = (await app.client.get(f"/teams/crew/runs/{paused['run_id']}", params={"session_id": "s1"})).json()
    [answered] = [m for m in run["member_responses"] if m["status"] == "COMPLETED"]
    sent = [confirmed(r) for r in paused["requirements"]]
    sent.append(confirmed(paused["requirements"][0], member_run_id=answered["run_id"]))

    response = await go_on(app, "crew", paused["run_id"], json.dumps(sent))

    assert response.status_code == 400
    assert (
        f"member_run_id '{answered['run_id']}', which is no member run this run waits on" in response.json()["detail"]
    )


async def test_the_nested_teams_own_run_id_is_no_run_to_decide_when_only_its_member_waits(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    paused = await paused_nested(app, fake_openai)
    run = (await app.client.get(f"/teams/board/runs/{paused['run_id']}", params={"session_id": "s1"})).json()
    [crew_run] = run["member_responses"]
    sent = [confirmed(r) for r in paused["requirements"]]
    sent.append(confirmed(paused["requirements"][0], member_run_id=crew_run["run_id"]))

    response = await go_on(app, "board", paused["run_id"], json.dumps(sent))

    assert response.status_code == 400
    assert f"member_run_id '{crew_run['run_id']}'" in response.json()["detail"]


@pytest.mark.parametrize("stored_member_run_id", [["m"], {"m": 1}], ids=["list", "object"])
async def test_stored_requirements_naming_their_member_run_by_no_text_are_not_a_5xx(
    app: Served, fake_openai: FakeOpenAIServer, stored_member_run_id: Any
) -> None:
    """The stored requirements tell apart two member runs waiting on calls of one id for an entry
    sent without its member_run_id: one changed in the database to name its run by a list or an
    object tells nothing, so the entry stays unclear (a 400), and the run still waits."""
    paused = await paused_broadcast(app, fake_openai)
    sessions = app.database().sessions
    row = await sessions.get_session("s1")
    assert row is not None and row.runs is not None
    [stored] = [run for run in row.runs if run["run_id"] == paused["run_id"]]
    stored["requirements"] = [{**r, "member_run_id": stored_member_run_id} for r in stored["requirements"]]
    await sessions.upsert_session(row)
    unnamed = [confirmed(r, member_run_id=None) for r in paused["requirements"]]

    response = await go_on(app, "crew", paused["run_id"], json.dumps(unnamed))

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert "entry 0 has no member_run_id and names tool_call_id call_add, which member runs" in detail
    fake_openai.script(Reply.say("5"), Reply.say("five"), Reply.say("Both say 5."))
    done = await go_on(app, "crew", paused["run_id"], json.dumps([confirmed(r) for r in paused["requirements"]]))
    assert (done.status_code, done.json()["status"]) == (200, "COMPLETED")


async def test_a_call_left_undecided_or_decided_twice_is_named_with_the_member_run_holding_it(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    """Both members of the broadcast wait on a call of id call_add: the refusal says whose."""
    paused = await paused_broadcast(app, fake_openai)
    first, second = paused["requirements"]

    missing = await go_on(app, "crew", paused["run_id"], json.dumps([confirmed(second, member_run_id=None)]))
    twice = await go_on(
        app,
        "crew",
        paused["run_id"],
        json.dumps([confirmed(first), confirmed(second), confirmed(second, member_run_id=None)]),
    )

    assert (missing.status_code, twice.status_code) == (400, 400)
    assert missing.json()["detail"] == (
        f"Invalid requirements parameter: tool call call_add of member run '{first['member_run_id']}' waits for a "
        "decision: send it back with confirmed true or false"
    )
    assert twice.json()["detail"] == (
        f"Invalid requirements parameter: tool call call_add of member run '{second['member_run_id']}' is decided twice"
    )
