"""A broadcast team whose members' calls wait for a person, over HTTP on every storage backend:
the team run pauses with each member's requirements, is stored PAUSED with its paused member
runs, and goes on through ``POST /teams/{id}/runs/{run_id}/continue``, streamed or not, each
member's call confirmed or rejected, until it is stored COMPLETED."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runtime.api.harness import Served, broadcast_document, parse_frames, serve_on
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_on(backend, yaml.safe_dump(broadcast_document(fake_openai.base_url)), tmp_path) as running:
        yield running


async def stored(app: Served, run_id: str) -> JSON:
    """The team run as the session's history lists it, with its member runs as the team's run route gives them."""
    runs: list[JSON] = (await app.client.get("/sessions/s1/runs")).json()
    [listed] = [r for r in runs if r["run_id"] == run_id]
    one: JSON = (await app.client.get(f"/teams/crew/runs/{run_id}", params={"session_id": "s1"})).json()
    return {**listed, "member_responses": one.get("member_responses")}


def decided(run: JSON, **answers: bool) -> str:
    """The run's requirements, each member's (by member id) confirmed or rejected as Agno's client leaves them."""
    return json.dumps(
        [
            {
                **r,
                "confirmation": answers[r["member_agent_id"]],
                "tool_execution": {**r["tool_execution"], "confirmed": answers[r["member_agent_id"]]},
            }
            for r in run["requirements"]
        ]
    )


async def go_on(app: Served, run_id: str, requirements: str, *, stream: bool) -> Any:
    data = {"requirements": requirements, "session_id": "s1", "stream": str(stream).lower()}
    return await app.client.post(f"/teams/crew/runs/{run_id}/continue", data=data)


async def test_a_streamed_broadcast_pauses_with_both_members_and_goes_on_streamed_once_both_are_confirmed(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(ADD), Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "true", "session_id": "s1"}

    paused = parse_frames((await app.client.post("/teams/crew/runs", data=form)).text)

    assert paused[-1].event == "TeamRunPaused"
    run_id = paused[-1].data["run_id"]
    assert sorted(r["member_agent_id"] for r in paused[-1].data["requirements"]) == ["assistant", "checker"]
    assert len(fake_openai.requests) == 2  # the members only: the leader waits for them
    before = await stored(app, run_id)
    assert before["status"] == "PAUSED"
    assert [m["status"] for m in before["member_responses"]] == ["PAUSED", "PAUSED"]

    fake_openai.script(Reply.say("5"), Reply.say("five"), Reply.say("Both say 5."))
    going_on = await go_on(app, run_id, decided(paused[-1].data, assistant=True, checker=True), stream=True)

    frames = parse_frames(going_on.text)
    assert frames[0].event == "TeamRunContinued" and frames[-1].event == "TeamRunCompleted"
    assert frames[-1].data["content"] == "Both say 5."
    leader_read = fake_openai.bodies[-1]["messages"][-1]["content"]
    assert leader_read == "Member results after human-in-the-loop resolution:\n[Assistant]: 5\n[Checker]: five"
    after = await stored(app, run_id)
    assert (after["status"], after["content"]) == ("COMPLETED", "Both say 5.")
    assert [(m["status"], m["content"]) for m in after["member_responses"]] == [
        ("COMPLETED", "5"),
        ("COMPLETED", "five"),
    ]
    again = await go_on(app, run_id, decided(paused[-1].data, assistant=True, checker=True), stream=False)
    assert again.status_code == 409


async def test_a_broadcast_goes_on_unstreamed_with_one_members_call_rejected_and_never_made(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.call(ADD), Reply.call(ADD))
    form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
    paused: JSON = (await app.client.post("/teams/crew/runs", data=form)).json()
    assert paused["status"] == "PAUSED" and len(paused["requirements"]) == 2

    fake_openai.script(Reply.say("5"), Reply.say("I was stopped."), Reply.say("One added."))
    response = await go_on(app, paused["run_id"], decided(paused, assistant=True, checker=False), stream=False)

    assert response.status_code == 200
    output = response.json()
    assert (output["status"], output["content"]) == ("COMPLETED", "One added.")
    checker_read = fake_openai.bodies[-2]["messages"][-1]
    assert (checker_read["role"], checker_read["content"]) == ("tool", "Function call was rejected by the user")
    after = await stored(app, paused["run_id"])
    assert after["status"] == "COMPLETED"
    checker_run = after["member_responses"][1]
    [rejected] = checker_run["tools"]
    assert (rejected["confirmed"], rejected.get("result")) == (False, None)
    [confirmed] = after["member_responses"][0]["tools"]
    assert (confirmed["confirmed"], confirmed["result"]) == (True, "5")
