"""``{name}`` placeholders in the prompt, resolved as Agno's ``resolve_in_context`` (on by default)
resolves them: from the run's session state, dependencies, metadata and user id, in the system
message built from the config (or ``system_message``) and in the user's message; never evaluated.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from agentos_runtime.config import AgentConfig, TeamConfig
from agentos_runtime.runs import Agent, RunRegistry, RunRequest
from agentos_runtime.runs.prompt import (
    MAX_RESOLVED_GROWTH,
    build_system_message,
    placeholder_values,
    resolve_placeholders,
)
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase
from agno.agent import Agent as AgnoAgent
from agno.agent._messages import format_message_with_state_variables, get_system_message
from agno.models.openai import OpenAIChat
from agno.run import RunContext
from agno.session import AgentSession

from tests.runtime.engine.fakes import FakeChatModel, call, make_agent, say

STATE = {"name": "Ana", "cart": ["tea", 2], "prefs": {"lang": "fr"}, "vip": True, "note": None, "echo": "{name}"}


def agnos(text: str, *, state: dict[str, Any], metadata: dict[str, Any], dependencies: dict[str, Any]) -> str:
    """What Agno's agent makes of ``text`` for a run of user u1 in session s1 (run r1)."""
    context = RunContext(
        run_id="r1",
        session_id="s1",
        user_id="u1",
        session_state={**state, "current_user_id": "u1", "current_session_id": "s1", "current_run_id": "r1"},
        metadata=metadata,
        dependencies=dependencies,
    )
    resolved = format_message_with_state_variables(None, text, run_context=context)  # type: ignore[arg-type]
    assert isinstance(resolved, str)
    return resolved


@pytest.mark.parametrize(
    "text",
    [
        "Hello {name}, your cart holds {cart}; prefs {prefs}; vip {vip}; note {note}.",
        "Echoed values are not resolved again: {echo}.",
        "Doubled braces keep one pair: {{name}}.",
        "Unknown names stay: {missing}, {}, { name }.",
        "Format syntax is text: {0.__class__} {name!r} {name:>10} %s %(name)s.",
        "Ids: {user_id} {current_user_id} {current_session_id} {current_run_id}.",
        "Metadata and dependencies: {ticket} {tone}; state wins over both: {shadowed}.",
        "No placeholder at all.",
    ],
)
def test_placeholders_resolve_as_agnos_do(text: str) -> None:
    state = {**STATE, "shadowed": "from state"}
    metadata = {"ticket": "T-1", "shadowed": "from metadata"}
    dependencies = {"tone": "dry", "shadowed": "from dependencies"}
    values = placeholder_values(
        session_state=state, dependencies=dependencies, metadata=metadata, user_id="u1", session_id="s1", run_id="r1"
    )

    assert resolve_placeholders(text, values) == agnos(text, state=state, metadata=metadata, dependencies=dependencies)


def test_the_expected_output_and_additional_context_are_sent_as_written_as_agno_sends_them() -> None:
    fields = {
        "description": "You help {name}.",
        "instructions": ["Greet {name}."],
        "expected_output": "A note to {name}.",
        "additional_context": "{name} is a customer.",
    }
    context = RunContext(run_id="r1", session_id="s1", session_state={"name": "Ana", "current_run_id": "r1"})
    agno = AgnoAgent(model=OpenAIChat(id="gpt-test", api_key="unused"), **fields)
    expected = get_system_message(agno, AgentSession(session_id="s1"), run_context=context)
    values = placeholder_values(session_state={"name": "Ana"}, session_id="s1", run_id="r1")

    ours = build_system_message(AgentConfig(id="a", **fields), now=datetime.now(UTC), values=values)

    assert expected is not None and ours == expected.content
    assert ours.endswith("<expected_output>\nA note to {name}.\n</expected_output>\n\n{name} is a customer.")


def test_dollar_signs_and_names_that_are_not_identifiers_are_left_sane_where_agnos_template_is_not() -> None:
    values = placeholder_values(session_state={"price": "5", "a-b": "AB", "0.__class__": "Z"}, user_id="u1")

    # Agno's string.Template gives "$ 5 u1 ${a-b} ${0.__class__}".
    assert resolve_placeholders("$$ $price $user_id {a-b} {0.__class__}", values) == "$$ $price $user_id AB Z"


def test_placeholders_past_the_growth_bound_are_left_as_written_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    big = "x" * (MAX_RESOLVED_GROWTH // 2 - 1)
    values = placeholder_values(session_state={"big": big, "small": "s"})

    with caplog.at_level(logging.WARNING, logger="agentos_runtime.runs.prompt"):
        resolved = resolve_placeholders("{big}{big}{big}{small}", values)

    assert resolved == big + big + "{big}" + "s"
    assert "left unresolved" in caplog.text


def test_a_run_without_user_id_names_no_user() -> None:
    values = placeholder_values(session_state={}, session_id="s1", run_id="r1")

    assert resolve_placeholders("{user_id} {current_user_id} {current_session_id}", values) == (
        "{user_id} {current_user_id} s1"
    )


async def test_an_agent_sends_its_instructions_and_the_users_message_resolved_and_stores_them_so() -> None:
    model = FakeChatModel(say("One."), say("Two."))
    agent = make_agent(
        model,
        description="You serve {name}.",
        instructions=["Plan: {plan}.", "Ticket {ticket}, tone {tone}, user {user_id}."],
        session_state={"plan": "free"},
        metadata={"ticket": "T-0"},
    )

    first = await agent.complete(
        RunRequest(
            message="I am {name}, on {plan}.",
            session_id="s1",
            user_id="u1",
            session_state={"name": "Ana"},
            metadata={"ticket": "T-1"},
            dependencies={"tone": "dry"},
        )
    )
    await agent.complete(RunRequest(message="Again, {name}.", session_id="s1"))

    system = "You serve Ana.\n- Plan: free.\n- Ticket T-1, tone dry, user u1."
    assert [(m["role"], m["content"]) for m in model.prompts[0]] == [
        ("system", system),
        ("user", "I am Ana, on free."),
    ]
    # The stored state (no run-scoped ids in it) still resolves the next run of the session.
    assert model.prompts[1][0]["content"] == "You serve Ana.\n- Plan: free.\n- Ticket T-0, tone {tone}, user {user_id}."
    assert model.prompts[1][1]["content"] == "Again, Ana."
    assert first["input"]["input_content"] == "I am {name}, on {plan}."
    assert [m["content"] for m in first["messages"]] == [system, "I am Ana, on free.", "One."]
    assert first["session_state"] == {"plan": "free", "name": "Ana"}


async def test_a_complete_system_message_is_resolved_too() -> None:
    model = FakeChatModel(say("Yes."))
    agent = make_agent(model, system_message="You are {persona}.", session_state={"persona": "terse"})

    await agent.complete(RunRequest(message="Hi"))

    assert model.prompts[0][0]["content"] == "You are terse."


async def test_a_team_leader_and_its_members_read_their_prompts_resolved() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    leader = FakeChatModel(
        call("delegate_task_to_member", '{"member_id": "poet", "task": "A haiku for {name}."}'), say("Done.")
    )
    poet = FakeChatModel(say("Haiku."))
    member = Agent(
        AgentConfig(id="poet", name="Poet", role="Writes for {name}", instructions=["Tone: {tone}."]),
        model=poet,
        registry=registry,
    )
    team = Team(
        TeamConfig(id="crew", name="Crew", members=["poet"], instructions=["Serve {name}."]),
        model=leader,
        members=[member],
        sessions=database.sessions,
        registry=registry,
    )

    await team.complete(
        RunRequest(message="For {name}, please.", session_state={"name": "Ana"}, dependencies={"tone": "dry"})
    )

    leader_system, leader_user = (m["content"] for m in leader.prompts[0][:2])
    assert leader_system.startswith("Serve Ana.")
    assert "Role: Writes for Ana" in leader_system
    assert leader_user == "For Ana, please."
    assert [m["content"] for m in poet.prompts[0]] == [
        "<your_role>\nWrites for Ana\n</your_role>\n\nTone: dry.",
        "A haiku for Ana.",
    ]
