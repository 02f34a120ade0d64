"""Team run events built by the factory agents share: Agno's team names, fields and key order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.record import tool_execution
from agentos_runtime.runs.team_events import TeamEventFactory
from agno.metrics import ToolCallMetrics
from agno.models.response import ToolExecution
from agno.run.team import TeamRunEvent, TeamRunOutput
from agno.utils import events as agno_events

FACTORY = TeamEventFactory(
    team_id="t", team_name="Team T", run_id="r1", session_id="s1", model="gpt-test", model_provider="OpenAI"
)
AGNO_RUN = TeamRunOutput(
    run_id="r1", team_id="t", team_name="Team T", session_id="s1", model="gpt-test", model_provider="OpenAI"
)
CALL = {"tool_call_id": "call_1", "tool_name": "add", "tool_args": {"a": 2, "b": 3}, "created_at": 100}
SUMMARY = "add(a=2, b=3) completed in 0.5000s. "


def finished_tool() -> ToolExecution:
    tool = ToolExecution(**CALL)
    tool.tool_call_error, tool.result = False, "5"
    tool.metrics = ToolCallMetrics(start_time=1.0, end_time=1.5, duration=0.5)
    return tool


def our_finished_tool() -> dict[str, Any]:
    timing = {"start_time": 1.0, "end_time": 1.5, "duration": 0.5}
    return tool_execution(**CALL, error=False, result="5", metrics=timing)


PAIRS: list[tuple[str, Callable[[], RunEvent], Callable[[], Any]]] = [
    ("TeamRunStarted", FACTORY.run_started, lambda: agno_events.create_team_run_started_event(AGNO_RUN)),
    (
        "TeamModelRequestStarted",
        FACTORY.model_request_started,
        lambda: agno_events.create_team_model_request_started_event(
            AGNO_RUN, model="gpt-test", model_provider="OpenAI"
        ),
    ),
    (
        "TeamToolCallStarted",
        lambda: FACTORY.tool_call_started(tool_execution(**CALL)),
        lambda: agno_events.create_team_tool_call_started_event(AGNO_RUN, ToolExecution(**CALL)),
    ),
    (
        "TeamToolCallCompleted",
        lambda: FACTORY.tool_call_completed(our_finished_tool(), SUMMARY),
        lambda: agno_events.create_team_tool_call_completed_event(AGNO_RUN, finished_tool(), content=SUMMARY),
    ),
    (
        "TeamRunContentCompleted",
        FACTORY.content_completed,
        lambda: agno_events.create_team_run_content_completed_event(AGNO_RUN),
    ),
    (
        "TeamRunError",
        lambda: FACTORY.run_error("rate limited", error_type="model_provider_error", error_id="rate_limit"),
        lambda: agno_events.create_team_run_error_event(
            AGNO_RUN, error="rate limited", error_type="model_provider_error", error_id="rate_limit"
        ),
    ),
    (
        "TeamRunCancelled",
        lambda: FACTORY.run_cancelled("Run r1 was cancelled", content=None),
        lambda: agno_events.create_team_run_cancelled_event(AGNO_RUN, reason="Run r1 was cancelled"),
    ),
    ("TeamRunContinued", FACTORY.run_continued, lambda: agno_events.create_team_run_continued_event(AGNO_RUN)),
]


def without_time(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "created_at"}


@pytest.mark.parametrize(("name", "ours", "agnos"), PAIRS, ids=[p[0] for p in PAIRS])
def test_team_event_names_fields_and_key_order_match_agno(
    name: str, ours: Callable[[], RunEvent], agnos: Callable[[], Any]
) -> None:
    event, expected = ours(), agnos().to_dict()

    assert event.event == name == TeamRunEvent(name).value
    assert list(event.to_dict()) == list(expected)
    assert without_time(event.to_dict()) == without_time(expected)


def test_a_team_event_carries_the_team_s_ids_and_no_agent_s() -> None:
    fields = FACTORY.run_paused(content="waiting", tools=[], requirements=[]).to_dict()

    assert fields["event"] == TeamRunEvent.run_paused.value
    assert (fields["team_id"], fields["team_name"]) == ("t", "Team T")
    assert "agent_id" not in fields and "agent_name" not in fields
