"""Agno's context blocks: the session state in the system message (``add_session_state_to_context``,
in the config or the run form) and the run's dependencies in the user's message
(``add_dependencies_to_context``), with Agno's tags and text."""

from __future__ import annotations

import json

from agentos_runtime.config import AgentConfig, TeamConfig, WorkflowConfig
from agentos_runtime.runs import Agent, RunRegistry, RunRequest
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflow_steps import LeafPlan
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, call, make_agent, say


async def test_the_session_state_is_added_to_the_system_message_with_the_runs_ids_which_are_not_stored() -> None:
    model = FakeChatModel(say("One."))
    agent = make_agent(model, instructions=["Be brief."], add_session_state_to_context=True, session_state={"z": 1})

    output = await agent.complete(
        RunRequest(message="Hi", session_id="s1", run_id="r1", user_id="u1", session_state={"a": "{b}"})
    )

    state = {"z": 1, "a": "{b}", "current_user_id": "u1", "current_session_id": "s1", "current_run_id": "r1"}
    assert model.prompts[0][0]["content"] == f"Be brief.\n\n<session_state>\n{state}\n</session_state>"
    assert output["session_state"] == {"z": 1, "a": "{b}"}


async def test_the_request_turns_the_session_state_block_on_and_off_over_the_config() -> None:
    model = FakeChatModel(say("One."), say("Two."))
    agent = make_agent(model, add_session_state_to_context=True)

    await agent.complete(RunRequest(message="Hi", session_id="s1", add_session_state_to_context=False))
    await agent.complete(RunRequest(message="Hi", session_id="s2", run_id="r2", add_session_state_to_context=True))

    assert model.prompts[0][0]["role"] == "user"
    assert model.prompts[1][0]["content"] == (
        "<session_state>\n{'current_session_id': 's2', 'current_run_id': 'r2'}\n</session_state>"
    )


async def test_a_complete_system_message_gets_no_session_state_block() -> None:
    model = FakeChatModel(say("One."))
    agent = make_agent(model, system_message="You are terse.", add_session_state_to_context=True)

    await agent.complete(RunRequest(message="Hi", session_state={"a": 1}))

    assert model.prompts[0][0]["content"] == "You are terse."


async def test_dependencies_are_added_to_the_users_message_only_when_asked() -> None:
    model = FakeChatModel(say("One."), say("Two."))
    agent = make_agent(model)
    dependencies = {"customer": {"name": "Zoë", "tier": 2}}

    await agent.complete(RunRequest(message="Hi", dependencies=dependencies, add_dependencies_to_context=True))
    await agent.complete(RunRequest(message="Hi", dependencies=dependencies))

    block = json.dumps(dependencies, indent=2, ensure_ascii=False)
    assert model.prompts[0][-1]["content"] == f"Hi\n\n<additional context>\n{block}\n</additional context>"
    assert model.prompts[1][-1]["content"] == "Hi"


async def test_a_team_leader_gets_the_session_state_and_dependency_blocks_too() -> None:
    leader, registry = FakeChatModel(say("Done.")), RunRegistry()
    team = Team(
        TeamConfig(id="crew", name="Crew", members=["poet"], add_session_state_to_context=True),
        model=leader,
        members=[Agent(AgentConfig(id="poet", name="Poet"), model=FakeChatModel(), registry=registry)],
        sessions=InMemoryDatabase(id="db").sessions,
        registry=registry,
    )

    await team.complete(
        RunRequest(
            message="Hi",
            session_id="s1",
            run_id="r1",
            session_state={"a": 1},
            dependencies={"k": "v"},
            add_dependencies_to_context=True,
        )
    )

    system, user = (m["content"] for m in leader.prompts[0][:2])
    assert system.endswith(
        "\n\n<session_state>\n{'a': 1, 'current_session_id': 's1', 'current_run_id': 'r1'}\n</session_state>"
    )
    assert user == 'Hi\n\n<additional context>\n{\n  "k": "v"\n}\n</additional context>'


async def test_a_team_member_gets_the_blocks_the_team_run_asked_for() -> None:
    leader = FakeChatModel(
        call("delegate_task_to_member", json.dumps({"member_id": "poet", "task": "Write"})), say("Done.")
    )
    poet, registry = FakeChatModel(say("A poem.")), RunRegistry()
    team = Team(
        TeamConfig(id="crew", name="Crew", members=["poet"]),
        model=leader,
        members=[Agent(AgentConfig(id="poet", name="Poet", instructions=["Rhyme."]), model=poet, registry=registry)],
        sessions=InMemoryDatabase(id="db").sessions,
        registry=registry,
    )

    await team.complete(
        RunRequest(
            message="Hi",
            session_id="s1",
            dependencies={"k": "v"},
            add_dependencies_to_context=True,
            add_session_state_to_context=True,
        )
    )

    system, user = (m["content"] for m in poet.prompts[0][:2])
    assert system.startswith("Rhyme.\n\n<session_state>\n")
    assert user == 'Write\n\n<additional context>\n{\n  "k": "v"\n}\n</additional context>'


async def test_a_workflow_step_gets_the_blocks_the_workflow_run_asked_for() -> None:
    writer, registry = FakeChatModel(say("Done.")), RunRegistry()
    step = Agent(AgentConfig(id="writer", name="Writer", instructions=["Rhyme."]), model=writer, registry=registry)
    workflow = Workflow(
        WorkflowConfig.model_validate({"id": "w", "name": "W", "steps": [{"name": "s", "agent": "writer"}]}),
        steps=[LeafPlan("s", step, "agent")],
        sessions=InMemoryDatabase(id="db").sessions,
        registry=registry,
    )

    await workflow.complete(
        RunRequest(
            message="Hi",
            session_id="s1",
            dependencies={"k": "v"},
            add_dependencies_to_context=True,
            add_session_state_to_context=True,
        )
    )

    system, user = (m["content"] for m in writer.prompts[0][:2])
    assert system.startswith("Rhyme.\n\n<session_state>\n")
    assert user == 'Hi\n\n<additional context>\n{\n  "k": "v"\n}\n</additional context>'
