"""Run events: Agno's fields and key order, and the AgentOS SSE frame."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from agentos_runtime.runs.events import EventFactory, RunEvent
from agentos_runtime.runs.record import tool_execution
from agno.metrics import RunMetrics, ToolCallMetrics
from agno.models.response import ToolExecution
from agno.run.agent import RunOutput
from agno.utils import events as agno_events

FACTORY = EventFactory(
    agent_id="a", agent_name="Agent A", run_id="r1", session_id="s1", model="gpt-test", model_provider="OpenAI"
)
AGNO_RUN = RunOutput(
    run_id="r1", agent_id="a", agent_name="Agent A", session_id="s1", model="gpt-test", model_provider="OpenAI"
)
TOKENS = {
    "input_tokens": 11,
    "output_tokens": 5,
    "total_tokens": 16,
    "reasoning_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
}
METRICS = {
    "input_tokens": 11,
    "output_tokens": 5,
    "total_tokens": 16,
    "duration": 0.5,
    "details": {
        "model": [
            {"input_tokens": 11, "output_tokens": 5, "total_tokens": 16, "id": "gpt-test", "provider": "OpenAI Chat"}
        ]
    },
}


def started_tool() -> ToolExecution:
    return ToolExecution(tool_call_id="call_1", tool_name="add", tool_args={"a": 2, "b": 3}, created_at=100)


def finished_tool() -> ToolExecution:
    tool = started_tool()
    tool.tool_call_error = False
    tool.result = "5"
    tool.metrics = ToolCallMetrics(start_time=1.0, end_time=1.5, duration=0.5)
    return tool


OUR_FINISHED_TOOL = tool_execution(
    tool_call_id="call_1",
    tool_name="add",
    tool_args={"a": 2, "b": 3},
    created_at=100,
    error=False,
    result="5",
    metrics={"start_time": 1.0, "end_time": 1.5, "duration": 0.5},
)

PAIRS: list[tuple[str, Callable[[], RunEvent], Callable[[], Any]]] = [
    ("RunStarted", FACTORY.run_started, lambda: agno_events.create_run_started_event(AGNO_RUN)),
    (
        "RunContent",
        lambda: FACTORY.content("Hel"),
        lambda: agno_events.create_run_output_content_event(AGNO_RUN, content="Hel"),
    ),
    (
        "ModelRequestStarted",
        FACTORY.model_request_started,
        lambda: agno_events.create_model_request_started_event(AGNO_RUN, model="gpt-test", model_provider="OpenAI"),
    ),
    (
        "ModelRequestCompleted",
        lambda: FACTORY.model_request_completed(TOKENS, 0.25),
        lambda: agno_events.create_model_request_completed_event(
            AGNO_RUN, model="gpt-test", model_provider="OpenAI", time_to_first_token=0.25, **TOKENS
        ),
    ),
    (
        "ToolCallStarted",
        lambda: FACTORY.tool_call_started(
            tool_execution(tool_call_id="call_1", tool_name="add", tool_args={"a": 2, "b": 3}, created_at=100)
        ),
        lambda: agno_events.create_tool_call_started_event(AGNO_RUN, started_tool()),
    ),
    (
        "ToolCallCompleted",
        lambda: FACTORY.tool_call_completed(OUR_FINISHED_TOOL, "add(a=2, b=3) completed in 0.5000s. "),
        lambda: agno_events.create_tool_call_completed_event(
            AGNO_RUN, finished_tool(), content="add(a=2, b=3) completed in 0.5000s. "
        ),
    ),
    (
        "RunContentCompleted",
        FACTORY.content_completed,
        lambda: agno_events.create_run_content_completed_event(AGNO_RUN),
    ),
    (
        "RunError",
        lambda: FACTORY.run_error("rate limited", error_type="model_provider_error", error_id="model_rate_limit_error"),
        lambda: agno_events.create_run_error_event(
            AGNO_RUN, error="rate limited", error_type="model_provider_error", error_id="model_rate_limit_error"
        ),
    ),
    (
        "RunCancelled",
        lambda: FACTORY.run_cancelled("Run r1 was cancelled", content=None),
        lambda: agno_events.create_run_cancelled_event(AGNO_RUN, reason="Run r1 was cancelled"),
    ),
]


def without_time(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "created_at"}


@pytest.mark.parametrize(("name", "ours", "agnos"), PAIRS, ids=[p[0] for p in PAIRS])
def test_event_fields_and_key_order_match_agno(
    name: str, ours: Callable[[], RunEvent], agnos: Callable[[], Any]
) -> None:
    event, expected = ours(), agnos().to_dict()

    assert event.event == name
    assert list(event.to_dict()) == list(expected)
    assert without_time(event.to_dict()) == without_time(expected)


def test_run_completed_matches_agno() -> None:
    run = RunOutput(
        run_id="r1",
        agent_id="a",
        agent_name="Agent A",
        session_id="s1",
        content="The answer is 5",
        model_provider_data={"id": "chatcmpl-1"},
        metrics=RunMetrics.from_dict(METRICS),
        session_state={"visits": 1},
        metadata={"team": "platform"},
    )
    expected = agno_events.create_run_completed_event(run).to_dict()

    ours = FACTORY.run_completed(
        content="The answer is 5",
        provider_data={"id": "chatcmpl-1"},
        metadata={"team": "platform"},
        metrics=METRICS,
        session_state={"visits": 1},
    ).to_dict()

    assert list(ours) == list(expected)
    assert without_time(ours) == without_time(expected)


def test_sse_frame_is_event_line_then_compact_json_data_line() -> None:
    event = FACTORY.content("héllo ☃")

    frame = event.to_sse()

    head, data, end = frame.split(b"\n", 2)
    assert head == b"event: RunContent"
    assert data.startswith(b"data: {")
    assert end == b"\n"
    payload = data[len(b"data: ") :]
    assert json.loads(payload) == event.to_dict()
    assert payload == json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
    assert "héllo ☃".encode() in payload
    assert b'"event":"RunContent"' in payload


def test_an_event_holding_a_lone_surrogate_is_sent_as_valid_utf8_with_it_escaped() -> None:
    event = FACTORY.content("half \ud800 a pair ☃")

    payload = event.to_sse().split(b"\n")[1][len(b"data: ") :]

    assert b"\\ud800" in payload
    assert json.loads(payload.decode("utf-8"))["content"] == "half \ud800 a pair ☃"


def test_top_level_none_fields_are_left_out_but_nested_tool_nulls_stay() -> None:
    completed = FACTORY.model_request_completed(TOKENS, None).to_dict()
    started = FACTORY.tool_call_started(
        tool_execution(tool_call_id="c", tool_name="add", tool_args={}, created_at=1)
    ).to_dict()

    assert "time_to_first_token" not in completed
    assert started["tool"]["result"] is None and started["tool"]["metrics"] is None
    assert b'"result":null' in FACTORY.tool_call_started(started["tool"]).to_sse()


def test_to_dict_is_a_copy() -> None:
    event = FACTORY.run_started()

    event.to_dict()["model"] = "changed"

    assert event.to_dict()["model"] == "gpt-test"
    assert b"changed" not in event.to_sse()
