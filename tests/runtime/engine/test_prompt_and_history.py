"""Pure prompt building: the system message, history selection, session state precedence."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from agentos_runtime.config import AgentConfig
from agentos_runtime.runs.messages import history_messages, new_message, to_chat
from agentos_runtime.runs.prompt import build_system_message
from agentos_runtime.runs.sessions import merge_session_state
from agno.agent import Agent as AgnoAgent
from agno.agent._messages import get_system_message
from agno.models.openai import OpenAIChat
from agno.session import AgentSession
from pydantic import ValidationError

from tests.runtime.engine.fakes import agnos_clock_frozen_at

NOW = datetime(2026, 5, 4, 9, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"description": "You help platform teams."},
        {"instructions": ["Answer in one sentence."]},
        {"instructions": ["Be brief.", "Cite sources."]},
        {"instructions": ["Be brief.", "Steps:\n1. read\n2. answer"]},
        {"description": "You help.", "role": "Analyst", "instructions": ["Be brief.", "Cite."], "markdown": True},
        {"markdown": True},
        {"expected_output": "  A haiku.\n"},
        {"instructions": ["Be brief."], "expected_output": "One line.", "additional_context": "Prices in EUR."},
        {"additional_context": "  Prices in EUR.  "},
        {"name": "Ada", "add_name_to_context": True, "markdown": True},
        {"add_name_to_context": True},
        {"description": "You help {user}.", "expected_output": "About {user}.", "additional_context": "{user}"},
    ],
)
def test_system_message_is_the_one_agno_builds(fields: dict[str, Any]) -> None:
    agno = AgnoAgent(model=OpenAIChat(id="gpt-test", api_key="unused"), **fields)
    expected = get_system_message(agno, AgentSession(session_id="s"))

    ours = build_system_message(AgentConfig(id="a", **fields), now=NOW)

    assert ours == (expected.content if expected is not None else None)


@pytest.mark.parametrize("form", [None, "%A %d %B %Y, %H:%M"])
@pytest.mark.parametrize("zone", [None, "Europe/Paris", "America/St_Johns", "UTC"])
def test_the_current_time_is_written_as_agno_writes_it_in_the_agents_time_zone(
    zone: str | None, form: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {
        "instructions": ["Be brief."],
        "add_datetime_to_context": True,
        "timezone_identifier": zone,
        "datetime_format": form,
    }
    agno = AgnoAgent(model=OpenAIChat(id="gpt-test", api_key="unused"), **fields)
    with agnos_clock_frozen_at(NOW, monkeypatch):
        expected = get_system_message(agno, AgentSession(session_id="s"))

    ours = build_system_message(AgentConfig(id="a", **fields), now=NOW)

    assert expected is not None and ours == expected.content
    if zone == "Europe/Paris":
        written = "Monday 04 May 2026, 11:15" if form else "2026-05-04 11:15:00+02:00"
        assert f"The current time is {written}." in ours


def test_an_unknown_time_zone_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        AgentConfig(id="a", add_datetime_to_context=True, timezone_identifier="Mars/Olympus_Mons")

    assert refused.value.errors()[0]["loc"] == ("timezone_identifier",)
    assert "unknown time zone 'Mars/Olympus_Mons'" in str(refused.value)


def test_a_datetime_format_strftime_cannot_use_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        AgentConfig(id="a", add_datetime_to_context=True, datetime_format="%Y\x00")

    assert refused.value.errors()[0]["loc"] == ("datetime_format",)


def test_system_message_replaces_everything_else() -> None:
    config = AgentConfig(id="a", system_message="You are terse.", instructions=["ignored"], markdown=True)

    assert build_system_message(config, now=NOW) == "You are terse."


def test_datetime_in_context_uses_the_given_clock() -> None:
    config = AgentConfig(
        id="a", instructions=["Be brief."], add_datetime_to_context=True, timezone_identifier="Asia/Tokyo"
    )

    assert build_system_message(config, now=NOW) == (
        "Be brief.\n\n<additional_information>\n- The current time is 2026-05-04 18:15:00+09:00.\n"
        "</additional_information>"
    )


def message(role: str, content: str | None, **fields: Any) -> dict[str, Any]:
    return new_message(role, content, created_at=1, **fields)


def run(run_id: str, status: str = "COMPLETED", **fields: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "status": status,
        "messages": [
            message("system", "sys"),
            message("user", f"question {run_id}"),
            message("assistant", f"answer {run_id}"),
        ],
        **fields,
    }


def test_history_takes_the_last_replayable_runs_and_marks_the_copies() -> None:
    runs = [run("r1"), run("r2"), run("r3", "ERROR"), run("r4", "CANCELLED"), run("r5"), run("r6", parent_run_id="p")]
    stored = copy.deepcopy(runs)

    history = history_messages(runs, num_runs=2)

    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "question r2"),
        ("assistant", "answer r2"),
        ("user", "question r5"),
        ("assistant", "answer r5"),
    ]
    assert all(m["from_history"] is True for m in history)
    assert runs == stored


def test_history_skips_messages_that_were_history_already_and_keeps_tool_turns() -> None:
    earlier = message("user", "very old", from_history=True)
    call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    turns = [
        earlier,
        message("user", "add"),
        message("assistant", None, tool_calls=[call]),
        message("tool", "3", tool_call_id="call_1", tool_name="add"),
        message("assistant", "3"),
    ]

    history = history_messages([{"run_id": "r", "status": "COMPLETED", "messages": turns}], num_runs=3)

    assert [to_chat(m) for m in history] == [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "3", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "3"},
    ]


def test_no_history_for_zero_runs() -> None:
    assert history_messages([run("r1")], num_runs=0) == []


def test_new_messages_have_agnos_stored_shape() -> None:
    stored = new_message(
        "tool", "5", created_at=7, tool_call_id="c", tool_name="add", tool_args={}, tool_call_error=False
    )

    assert list(stored) == [
        "id",
        "content",
        "from_history",
        "stop_after_tool_call",
        "role",
        "tool_call_id",
        "tool_name",
        "tool_call_error",
        "created_at",
    ]


def test_session_state_request_wins_over_stored_which_wins_over_default() -> None:
    default = {"plan": "free", "prefs": {"lang": "en", "units": "metric"}, "visits": 0}
    stored = {"visits": 3, "prefs": {"lang": "fr"}}
    requested = {"prefs": {"units": "imperial"}, "cart": ["book"]}
    originals = copy.deepcopy((default, stored, requested))

    state = merge_session_state(default, stored, requested)

    assert state == {
        "plan": "free",
        "prefs": {"lang": "fr", "units": "imperial"},
        "visits": 3,
        "cart": ["book"],
    }
    assert (default, stored, requested) == originals
    state["prefs"]["lang"] = "de"
    assert stored["prefs"]["lang"] == "fr"


def test_session_state_of_nothing_is_empty() -> None:
    assert merge_session_state(None, None, None) == {}
