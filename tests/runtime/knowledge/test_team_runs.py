"""A team whose leader has a knowledge base: ``search_knowledge_base`` beside delegation, or the
chunks found for the user's message added to the leader's message; the members see neither.

The leader and the members are on the local OpenAI-compatible server (told apart by the model
each request names), the knowledge base is the search port over a few handbook chunks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from agentos_runtime.errors import ModelConnectionError
from agentos_runtime.runs import RunRequest
from agentos_runtime.runs.knowledge import REFERENCES_INTRO
from agno.run.team import TeamRunOutput

from tests.runtime.knowledge.run_setup import (
    build_problem,
    fake_openai,
    fake_openai_server,
    impostor_plugin,
    run_once,
    stored_session,
)
from tests.runtime.knowledge.search_fakes import VACATION, HandbookBase, built, runtime_file, search_call
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

__all__ = ["fake_openai", "fake_openai_server", "impostor_plugin"]

JSON = dict[str, Any]


def team_file(base_url: str, **team: Any) -> JSON:
    return runtime_file(
        base_url,
        agents=[{"id": "hr", "name": "HR", "model": "fake", "role": "Answers questions about people"}],
        teams=[{"id": "office", "name": "Office", "model": "lead", "members": ["hr"], "knowledge": "handbook", **team}],
    )


def delegate(task: str, *, call_id: str = "call_d") -> FakeToolCall:
    return FakeToolCall("delegate_task_to_member", json.dumps({"member_id": "hr", "task": task}), id=call_id)


def bodies_of(server: FakeOpenAIServer, model: str) -> list[JSON]:
    return [body for body in server.bodies if body["model"] == model]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_the_leader_searches_its_knowledge_beside_delegating_and_answers_from_it(
    fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.call(search_call("vacation days")), Reply.say("You get 25 days.", chunks=2))
    request = RunRequest(message="How much vacation?", session_id="t1")
    events, output = await run_once(team_file(fake_openai.base_url), base, "office", request, stream=stream)

    assert base.queries == ["vacation days"]
    first, second = bodies_of(fake_openai, "leader-model")
    assert [tool["function"]["name"] for tool in first["tools"]] == ["delegate_task_to_member", "search_knowledge_base"]
    system = first["messages"][0]["content"]
    assert "<team_members>" in system and "<knowledge_base>" in system
    assert system.index("</team>") < system.index("<knowledge_base>")
    found = json.loads(second["messages"][-1]["content"])
    assert found[0]["content"] == VACATION and found[0]["name"] == "handbook.md"
    assert bodies_of(fake_openai, "member-model") == []
    assert output["status"] == "COMPLETED" and output["content"] == "You get 25 days."
    assert [(t["tool_name"], t["tool_call_error"]) for t in output["tools"]] == [("search_knowledge_base", False)]
    (reference,) = output["references"]
    assert reference["query"] == "vacation days" and reference["references"] == found
    if stream:
        names = [event["event"] for event in events]
        assert "TeamToolCallStarted" in names and names[-1] == "TeamRunCompleted"
        assert events[-1]["references"] == output["references"]
    parsed = TeamRunOutput.from_dict(dict(output))
    assert parsed.references is not None and [r.model_dump() for r in parsed.references] == output["references"]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
async def test_knowledge_in_the_leaders_context_does_not_reach_the_member(
    fake_openai: FakeOpenAIServer, stream: bool
) -> None:
    base = HandbookBase()
    fake_openai.script(
        Reply.call(delegate("Confirm the vacation rule: 25 days, carried over until March.")),
        Reply.say("Confirmed."),
        Reply.say("25 days, carried over until March (HR confirmed)."),
    )
    file = team_file(fake_openai.base_url, search_knowledge=False, add_knowledge_to_context=True)
    request = RunRequest(message="vacation days carry over?", session_id="t2")
    _, output = await run_once(file, base, "office", request, stream=stream)

    assert base.queries == ["vacation days carry over?"]
    leader_first = bodies_of(fake_openai, "leader-model")[0]
    assert [tool["function"]["name"] for tool in leader_first["tools"]] == ["delegate_task_to_member"]
    asked = leader_first["messages"][-1]["content"]
    assert asked.startswith(f"vacation days carry over?\n\n{REFERENCES_INTRO}\n<references>\n")
    assert VACATION in asked
    (member,) = bodies_of(fake_openai, "member-model")
    assert all(REFERENCES_INTRO not in (message["content"] or "") for message in member["messages"])
    assert output["references"][0]["query"] == "vacation days carry over?"
    assert output["references"][0]["references"][0]["content"] == VACATION
    assert "references" not in output["member_responses"][0]


async def test_a_failed_search_of_the_leader_is_an_error_result_and_the_team_run_completes(
    fake_openai: FakeOpenAIServer,
) -> None:
    base = HandbookBase(failure=ModelConnectionError("embedding model 'text-embedding-3-small': connection refused"))
    fake_openai.script(Reply.call(search_call("vacation")), Reply.say("The handbook cannot be searched right now."))
    _, output = await run_once(team_file(fake_openai.base_url), base, "office", RunRequest(message="Vacation?"))

    read = bodies_of(fake_openai, "leader-model")[1]["messages"][-1]["content"]
    assert read == (
        "Error: KnowledgeSearchError: knowledge base 'handbook' could not be searched: "
        "embedding model 'text-embedding-3-small': connection refused"
    )
    assert output["status"] == "COMPLETED"
    assert output["tools"][0]["tool_call_error"] is True and "references" not in output


async def test_the_leaders_search_keeps_to_the_team_runs_user(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    fake_openai.script(Reply.call(search_call("vacation days")), Reply.say("You get 25 days."))
    request = RunRequest(message="How much vacation?", session_id="t1", user_id="bob")
    await run_once(team_file(fake_openai.base_url), base, "office", request, stream=False)

    assert base.user_ids == ["bob"]


async def test_a_broadcast_leader_writes_the_answer_with_the_knowledge_search_as_its_only_tool(
    fake_openai: FakeOpenAIServer,
) -> None:
    base = HandbookBase()
    fake_openai.script(
        Reply.say("People ask HR."),
        Reply.call(search_call("laptop")),
        Reply.say("IT orders a replacement laptop."),
    )
    file = team_file(fake_openai.base_url, mode="broadcast")
    _, output = await run_once(file, base, "office", RunRequest(message="My laptop broke"))

    assert base.queries == ["laptop"]
    leader_first = bodies_of(fake_openai, "leader-model")[0]
    assert [tool["function"]["name"] for tool in leader_first["tools"]] == ["search_knowledge_base"]
    assert output["content"] == "IT orders a replacement laptop." and output["references"][0]["query"] == "laptop"


async def test_the_references_are_stored_with_the_team_run(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.call(search_call("vacation")), Reply.say("25 days."))
    row = await stored_session(team_file(fake_openai.base_url), HandbookBase(), "office", "Vacation?")

    assert row is not None and row.runs is not None
    (stored,) = row.runs
    assert stored["team_id"] == "office" and stored["references"][0]["references"][0]["content"] == VACATION


async def test_a_team_naming_a_base_that_was_not_opened_is_a_config_problem(fake_openai: FakeOpenAIServer) -> None:
    problem = await build_problem(team_file(fake_openai.base_url), {})
    assert problem == "teams[0].knowledge: knowledge base 'handbook' is not open"


@pytest.mark.usefixtures("impostor_plugin")
async def test_a_leaders_tool_named_like_the_knowledge_search_is_refused(fake_openai: FakeOpenAIServer) -> None:
    problem = await build_problem(team_file(fake_openai.base_url, tools=["search_knowledge_base"]), HandbookBase())
    assert problem == (
        "teams[0].tools: a tool named 'search_knowledge_base' would hide the knowledge search: "
        "rename it (tool_name_prefix) or set search_knowledge to false"
    )


async def test_a_nested_copy_of_the_team_keeps_its_knowledge(fake_openai: FakeOpenAIServer) -> None:
    base = HandbookBase()
    async with built(team_file(fake_openai.base_url), {"handbook": base}) as runtime:
        team = runtime.teams["office"]
        copy = team.persisting_into(runtime.database.sessions)

    assert copy.knowledge is not None and copy.knowledge.base is base
