"""The pure rules of a team: what its leader is told, how a delegation is checked, what a
member's run becomes for the leader, and which earlier runs a member replays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from agentos_runtime.config import AgentConfig, TeamConfig
from agentos_runtime.runs import Agent
from agentos_runtime.runs.team_members import check_delegation, member_answer, member_history
from agentos_runtime.runs.team_prompt import MemberCard, build_leader_message
from agno.agent import Agent as AgnoAgent
from agno.models.openai import OpenAIChat
from agno.session import TeamSession
from agno.team import Team as AgnoTeam
from agno.team._messages import get_system_message as get_team_system_message

from tests.runtime.engine.fakes import FakeChatModel, agnos_clock_frozen_at

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CARDS = [MemberCard("weather", "Weather", "agent", role="Knows the weather"), MemberCard("crew", "Crew", "team")]


def test_the_leader_is_told_its_members_and_its_mode_after_its_own_instructions() -> None:
    config = TeamConfig(
        id="t", members=["weather"], description="A helpful team.", instructions=["Be brief."], markdown=True
    )
    message = build_leader_message(config, CARDS, now=NOW)

    assert message.startswith("A helpful team.\n\nBe brief.\n\n<team>")
    assert '<member id="weather" name="Weather">\n  Role: Knows the weather\n</member>' in message
    assert '<member id="crew" name="Crew" type="team">' in message
    assert "`delegate_task_to_member`" in message
    assert message.endswith(
        "<additional_information>\n- Use markdown to format your answers.\n</additional_information>"
    )


@pytest.mark.parametrize(
    ("mode", "tool"), [("route", "delegate_task_to_member"), ("broadcast", "delegate_task_to_members")]
)
def test_each_mode_tells_the_leader_how_it_works(mode: str, tool: str) -> None:
    message = build_leader_message(TeamConfig(id="t", members=["weather"], mode=mode), CARDS, now=NOW)  # type: ignore[arg-type]
    guidance = message.split("<how_to_work>")[1]
    assert f"`{tool}`" in guidance
    assert ("ends the run" in guidance) is (mode == "route")


def test_a_system_message_replaces_everything_the_leader_would_be_told() -> None:
    config = TeamConfig(id="t", members=["weather"], system_message="Only this.", add_datetime_to_context=True)
    assert build_leader_message(config, CARDS, now=NOW) == "Only this."


def test_the_current_time_is_added_when_asked() -> None:
    config = TeamConfig(id="t", members=["weather"], add_datetime_to_context=True, timezone_identifier="Europe/Paris")
    assert "The current time is 2026-01-02 04:04:05+01:00." in build_leader_message(config, CARDS, now=NOW)


def test_the_leader_is_told_its_name_time_expected_output_and_additional_context_as_agnos_leader_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = {
        "name": "Crew",
        "add_name_to_context": True,
        "markdown": True,
        "add_datetime_to_context": True,
        "timezone_identifier": "America/New_York",
        "expected_output": " A table. ",
        "additional_context": " Prices in EUR.\n",
    }
    model = OpenAIChat(id="gpt-test", api_key="unused")
    agno = AgnoTeam(model=model, members=[AgnoAgent(name="Weather", model=model)], **fields)
    with agnos_clock_frozen_at(NOW, monkeypatch):
        expected = get_team_system_message(agno, TeamSession(session_id="s"))

    ours = build_leader_message(TeamConfig(id="t", members=["weather"], **fields), CARDS, now=NOW)

    assert expected is not None and isinstance(expected.content, str)
    tail = "<additional_information>"
    assert ours[ours.index(tail) :] == expected.content[expected.content.index(tail) :]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"member_id": "weather", "task": "Forecast"}, None),
        (
            {"member_id": "chef", "task": "Cook"},
            "Error: no member with id 'chef' in this team. Choose one of: weather, poet.",
        ),
        ({"task": "Cook"}, "Error: no member with id 'None' in this team. Choose one of: weather, poet."),
        ({"member_id": "weather", "task": "  "}, "Error: the task must be a non-empty text."),
        ({"member_id": "weather"}, "Error: the task must be a non-empty text."),
    ],
)
def test_a_delegation_must_name_a_member_and_a_task(arguments: dict[str, str], problem: str | None) -> None:
    assert check_delegation(arguments, ["weather", "poet"]) == problem


@pytest.mark.parametrize(
    ("output", "answer"),
    [
        ({"status": "COMPLETED", "content": "  Sunny \n"}, ("Sunny", False)),
        ({"status": "COMPLETED", "content": None}, ("No answer from the member.", False)),
        ({"status": "COMPLETED", "content": {"temp": 21}}, ('{"temp": 21}', False)),
        ({"status": "ERROR", "content": "rate limited"}, ("The member failed: rate limited", True)),
        ({"status": "CANCELLED", "content": "Hel"}, ("The member's run was cancelled before it answered.", True)),
    ],
)
def test_a_members_run_becomes_the_leaders_tool_result(output: dict[str, object], answer: tuple[str, bool]) -> None:
    assert member_answer(output) == answer


def test_only_members_that_replay_history_get_their_own_earlier_runs_as_top_level_runs() -> None:
    model = FakeChatModel()
    remembers = Agent(AgentConfig(id="weather", add_history_to_context=True), model=model)
    forgets = Agent(AgentConfig(id="poet"), model=model)
    runs = [
        {"run_id": "t1", "team_id": "crew", "member_responses": [
            {"run_id": "m1", "agent_id": "weather", "parent_run_id": "t1"},
            {"run_id": "m2", "agent_id": "poet", "parent_run_id": "t1"},
        ]},
        {"run_id": "t2", "team_id": "crew", "member_responses": [
            {"run_id": "m3", "agent_id": "weather", "parent_run_id": "t2"}
        ]},
    ]  # fmt: skip

    assert member_history(runs, [remembers, forgets]) == {
        "weather": [{"run_id": "m1", "agent_id": "weather"}, {"run_id": "m3", "agent_id": "weather"}]
    }
