"""A team nested in a team paused on its member's call, continued over HTTP after the config
changed (a redeploy between the pause and the continue) on every storage backend: a run waiting
in a member that left its team is refused with a 409 naming the member, the team and what to do,
before anything is written or asked of a model; put back, the member lets the same run go on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from agentos_runtime.storage.ports import SessionRow

from tests.runtime.api.harness import Served, agent_config, parse_frames, shared_storage
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

JSON = dict[str, Any]
ADD = FakeToolCall("calculator", '{"expression": "2 + 3"}', id="call_add")
TO_INNER = FakeToolCall("delegate_task_to_member", '{"member_id": "inner", "task": "add 2 and 3"}', id="d_inner")
TO_ASSISTANT = FakeToolCall("delegate_task_to_member", '{"member_id": "assistant", "task": "add 2 and 3"}', id="d_a")


def nested_teams(base_url: str) -> JSON:
    """Team Crew whose member is team Inner, whose member is agent Assistant, with a calculator
    needing a confirmation; agent Other belongs to no team."""
    document: JSON = yaml.safe_load(agent_config(base_url, tool_config={"calculator": {"requires_confirmation": True}}))
    document["agents"].append({"id": "other", "name": "Other"})
    document["teams"] = [
        {"id": "inner", "name": "Inner", "model": "fake", "members": ["assistant"]},
        {"id": "crew", "name": "Crew", "model": "fake", "members": ["inner"]},
    ]
    return document


def without(document: JSON, team_id: str, member_id: str) -> JSON:
    """The config with ``member_id`` replaced by agent Other among the members of ``team_id``."""
    changed = copy.deepcopy(document)
    [team] = [t for t in changed["teams"] if t["id"] == team_id]
    team["members"] = ["other" if m == member_id else m for m in team["members"]]
    return changed


async def stored_session(app: Served) -> SessionRow:
    row = await app.database().sessions.get_session("s1")
    assert row is not None
    return row


async def go_on(app: Served, paused: JSON, *, stream: bool) -> Any:
    requirements = [
        {**r, "confirmation": True, "tool_execution": {**r["tool_execution"], "confirmed": True}}
        for r in paused["requirements"]
    ]
    data = {"requirements": json.dumps(requirements), "session_id": "s1", "stream": str(stream).lower()}
    return await app.client.post(f"/teams/crew/runs/{paused['run_id']}/continue", data=data)


@pytest.mark.parametrize(
    ("team_id", "member_id", "stream"),
    [("inner", "assistant", True), ("crew", "inner", False)],
    ids=["agent-left-the-nested-team-streamed", "nested-team-left-the-team-unstreamed"],
)
async def test_a_paused_nested_team_run_whose_member_left_is_refused_untouched_and_goes_on_once_it_is_back(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path, team_id: str, member_id: str, stream: bool
) -> None:
    document = nested_teams(fake_openai.base_url)
    async with shared_storage(backend, tmp_path) as serving:
        async with serving(yaml.safe_dump(document)) as before:
            fake_openai.script(Reply.call(TO_INNER), Reply.call(TO_ASSISTANT), Reply.call(ADD))
            form = {"message": "add 2 and 3", "stream": "false", "session_id": "s1"}
            paused: JSON = (await before.client.post("/teams/crew/runs", data=form)).json()
            assert paused["status"] == "PAUSED" and paused["requirements"][0]["member_agent_id"] == "assistant"
            stored_at_pause = await stored_session(before)
        assert len(fake_openai.requests) == 3

        async with serving(yaml.safe_dump(without(document, team_id, member_id))) as after:
            response = await go_on(after, paused, stream=stream)

            assert response.status_code == 409
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {
                "detail": f"run '{paused['run_id']}' waits on a run of member '{member_id}', which is no longer a "
                f"member of team '{team_id}': it cannot go on; put '{member_id}' back among the members of team "
                f"'{team_id}' to continue it, or start a new run"
            }
            assert await stored_session(after) == stored_at_pause
            assert len(fake_openai.requests) == 3

        async with serving(yaml.safe_dump(document)) as restored:
            fake_openai.script(Reply.say("5"), Reply.say("Inner says 5."), Reply.say("Crew says 5."))
            going_on = await go_on(restored, paused, stream=stream)

            assert going_on.status_code == 200
            ended = parse_frames(going_on.text)[-1].data if stream else going_on.json()
            assert ended["content"] == "Crew says 5."
            [run] = (await stored_session(restored)).runs or []
            assert (run["run_id"], run["status"]) == (paused["run_id"], "COMPLETED")
