"""User memories in team runs, through the API on every storage backend, the fake model scripted.

The team's leader is told the user's memories, extraction follows a completed team run (with
the leader's model, writing memories with the team's id), and agentic memory gives the leader
the ``update_user_memory`` tool. Extraction runs in the background: tests wait with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runtime.api.harness import Served, serve_on
from tests.runtime.memory.extraction import add_memory, tool_names, wait_for_memories, wait_for_requests
from tests.runtime.teams.configs import LEADER_MODEL, delegate, team_config
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

MEMORIES_BLOCK = "<memories_from_previous_interactions>\n- User's name is Ana\n</memories_from_previous_interactions>"


@pytest.fixture
def serve(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> Callable[..., Any]:
    def serving(**crew: Any) -> Any:
        return serve_on(backend, team_config(fake_openai.base_url, **crew), tmp_path)

    return serving


async def run_team(app: Served, message: str, *, team_id: str = "crew", user_id: str = "ana") -> dict[str, Any]:
    form = {"message": message, "stream": "false", "user_id": user_id}
    response = await app.client.post(f"/teams/{team_id}/runs", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "COMPLETED", body
    return body


async def test_a_memory_extracted_after_a_team_run_is_in_the_next_team_runs_leader_prompt(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer
) -> None:
    async with serve(enable_user_memories=True) as app:
        fake_openai.script(Reply.say("Hello Ana."), add_memory("User's name is Ana", ["name"]), Reply.say("Stored."))
        await run_team(app, "My name is Ana")
        await wait_for_requests(fake_openai, 3)

        (memory,) = await wait_for_memories(app, "ana", 1)
        assert (memory["memory"], memory["team_id"], memory["agent_id"]) == ("User's name is Ana", "crew", None)
        extraction = fake_openai.bodies[1]
        assert extraction["model"] == LEADER_MODEL
        assert extraction["messages"][1] == {"role": "user", "content": "My name is Ana"}
        assert tool_names(extraction) == ["add_memory", "update_memory", "delete_memory"]

        fake_openai.script(Reply.call(delegate("poet", "A poem for Ana")), Reply.say("Roses"), Reply.say("Done."))
        second = await run_team(app, "Write me a poem")

        leader_system = fake_openai.bodies[3]["messages"][0]
        assert leader_system["role"] == "system" and "<team_members>" in leader_system["content"]
        assert MEMORIES_BLOCK in leader_system["content"]
        assert second["messages"][0]["content"] == leader_system["content"]
        member_prompt = fake_openai.bodies[4]["messages"]
        assert all("<memories_from_previous_interactions>" not in (m.get("content") or "") for m in member_prompt)


async def test_another_users_team_run_gets_none_of_anas_memories(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer
) -> None:
    async with serve(add_memories_to_context=True) as app:
        await app.client.post("/memories", json={"memory": "User's name is Ana", "user_id": "ana"})
        fake_openai.script(Reply.say("Hi."), Reply.say("Hi."))

        await run_team(app, "hi", user_id="ana")
        await run_team(app, "hi", user_id="bob")

        ana_system, bob_system = (body["messages"][0]["content"] for body in fake_openai.bodies)
        assert MEMORIES_BLOCK in ana_system
        assert "User's name is Ana" not in bob_system and "have not talked with them before" in bob_system
        assert len(fake_openai.bodies) == 2, "add_memories_to_context alone extracts nothing"


async def test_agentic_memory_gives_the_leader_a_tool_that_updates_memories(
    serve: Callable[..., Any], fake_openai: FakeOpenAIServer
) -> None:
    async with serve(enable_agentic_memory=True) as app:
        task = {"task": "Remember that the user is vegetarian"}
        fake_openai.script(
            Reply.call(FakeToolCall("update_user_memory", json.dumps(task), id="call_leader")),
            add_memory("User is vegetarian", ["food"]),
            Reply.say("Added the memory."),
            Reply.say("I'll remember that."),
        )

        body = await run_team(app, "I'm vegetarian, remember that")

        assert body["content"] == "I'll remember that."
        first, manager, _, final = fake_openai.bodies
        assert tool_names(first) == ["delegate_task_to_member", "update_user_memory"]
        assert "<updating_user_memories>" in first["messages"][0]["content"]
        assert manager["messages"][1] == {"role": "user", "content": "Remember that the user is vegetarian"}
        assert final["messages"][-1] == {"role": "tool", "tool_call_id": "call_leader", "content": "Added the memory."}
        assert [(t["tool_name"], t["result"]) for t in body["tools"]] == [("update_user_memory", "Added the memory.")]
        (memory,) = await wait_for_memories(app, "ana", 1)
        assert (memory["memory"], memory["team_id"]) == ("User is vegetarian", "crew")
        assert len(fake_openai.bodies) == 4, "agentic memory does not also extract after the run"


async def test_a_broadcast_leader_with_agentic_memory_may_use_its_memory_tool_but_not_delegate(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    document = yaml.safe_load(team_config(fake_openai.base_url))
    panel = next(team for team in document["teams"] if team["id"] == "panel")
    panel["enable_agentic_memory"] = True
    async with serve_on(backend, yaml.safe_dump(document), tmp_path) as app:
        fake_openai.script(
            Reply.say("Sunny"),
            Reply.say("Sunny"),
            Reply.call(delegate("poet", "one more")),
            Reply.say("Merged."),
        )
        body = await run_team(app, "Weather poem", team_id="panel")

        leader = [b for b in fake_openai.bodies if b["model"] == LEADER_MODEL]
        assert [tool_names(b) for b in leader] == [["update_user_memory"], ["update_user_memory"]]
        delegated = [t for t in body["tools"] if t["tool_name"] == "delegate_task_to_member"]
        assert [(t["result"], t["tool_call_error"]) for t in delegated] == [
            ("Error: unknown tool 'delegate_task_to_member'.", True)
        ]
        assert body["content"] == "Merged."
