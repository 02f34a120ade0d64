"""``/agents`` and agent runs against the fake OpenAI server, on every storage backend.

Streams are read as a client reads them, frame by frame; every assertion is about values
the fake model said or the request carried.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.runtime.api.harness import Served, agent_config, parse_frames, read_frames, serve_on
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

DEADLINE = 10.0


@pytest.fixture
async def app(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = agent_config(fake_openai.base_url, add_history_to_context=True, instructions=["Be brief."])
    async with serve_on(backend, config, tmp_path, over_sockets=True) as running:
        yield running


async def test_agents_are_listed_with_model_tools_and_session_table(app: Served) -> None:
    listed = (await app.client.get("/agents")).json()
    one = await app.client.get("/agents/assistant")
    assert one.status_code == 200 and listed == [one.json()]
    agent = one.json()
    assert agent["id"] == "assistant" and agent["name"] == "Assistant" and agent["db_id"] == "main-db"
    assert agent["model"] == {"name": "OpenAIChat", "model": "fake-model", "provider": "OpenAI"}
    assert [t["name"] for t in agent["tools"]["tools"]] == ["calculator"]
    assert agent["tools"]["tools"][0]["parameters"]["required"] == ["expression"]
    assert agent["sessions"] == {"session_table": "agno_sessions", "add_history_to_context": True}
    assert agent["system_message"]["instructions"] == ["Be brief."]
    assert "knowledge" not in agent and "memory" not in agent


async def test_an_unknown_agent_is_404_on_every_agent_route(app: Served) -> None:
    responses = [
        await app.client.get("/agents/nope"),
        await app.client.post("/agents/nope/runs", data={"message": "hi"}),
        await app.client.post("/agents/nope/runs/r-1/cancel"),
        await app.client.get("/agents/nope/runs", params={"session_id": "s"}),
        await app.client.get("/agents/nope/runs/r-1", params={"session_id": "s"}),
    ]
    for response in responses:
        assert response.status_code == 404 and response.json() == {"detail": "Agent not found"}


async def test_a_streamed_run_sends_agnos_frames_from_run_started_to_run_completed(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("Hello from the fake model", chunks=4))
    async with app.client.stream("POST", "/agents/assistant/runs", data={"message": "hi"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        frames = [frame async for frame in read_frames(response)]
    names = [frame.event for frame in frames]
    assert names[0] == "RunStarted" and names[-1] == "RunCompleted"
    assert names.count("RunContent") == 4 and "RunContentCompleted" in names
    assert all(frame.data["event"] == frame.event for frame in frames)
    deltas = "".join(f.data["content"] for f in frames if f.event == "RunContent")
    assert deltas == "Hello from the fake model" == frames[-1].data["content"]
    started = frames[0].data
    assert started["agent_id"] == "assistant" and started["agent_name"] == "Assistant"
    assert started["model"] == "fake-model" and started["model_provider"] == "OpenAI"
    assert uuid.UUID(started["session_id"]).version == 4
    assert {f.data["run_id"] for f in frames} == {started["run_id"]}
    assert fake_openai.bodies[-1]["messages"][-1] == {"role": "user", "content": "hi"}


async def test_the_wire_format_is_event_line_data_line_blank_line(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("ok"))
    response = await app.client.post("/agents/assistant/runs", data={"message": "hi"})
    first = response.text.split("\n\n")[0]
    assert first.startswith("event: RunStarted\ndata: {")
    assert ", " not in first.split("data: ", 1)[1]  # compact separators, as AgentOS
    assert response.text.endswith("\n\n")


async def test_a_non_streamed_run_returns_the_run_output(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Four.", usage=(11, 5)))
    response = await app.client.post("/agents/assistant/runs", data={"message": "2+2?", "stream": "false"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    output = response.json()
    assert output["content"] == "Four." and output["status"] == "COMPLETED"
    assert output["agent_id"] == "assistant" and output["content_type"] == "str"
    assert output["metrics"]["input_tokens"] == 11 and output["metrics"]["output_tokens"] == 5
    assert [m["role"] for m in output["messages"]][-2:] == ["user", "assistant"]
    assert output["input"] == {"input_content": "2+2?"}
    assert not fake_openai.bodies[-1].get("stream")


async def test_multipart_forms_are_accepted_like_urlencoded_ones(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("multipart ok"))
    response = await app.client.post(
        "/agents/assistant/runs",
        files={"message": (None, "hello"), "stream": (None, "false"), "session_id": (None, "mp-1")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"] == "multipart ok" and response.json()["session_id"] == "mp-1"


async def test_a_run_is_stored_and_readable_through_sessions_and_agent_runs(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("stored answer"))
    form = {"message": "remember me", "stream": "false", "session_id": "sess-1", "user_id": "ana"}
    output = (await app.client.post("/agents/assistant/runs", data=form)).json()
    run_id = output["run_id"]

    session = (await app.client.get("/sessions/sess-1")).json()
    assert session["agent_id"] == "assistant" and session["user_id"] == "ana"
    assert session["session_name"] == "remember me"
    assert [m["content"] for m in session["chat_history"]] == ["remember me", "stored answer"]
    runs = (await app.client.get("/sessions/sess-1/runs")).json()
    assert [r["run_id"] for r in runs] == [run_id] and runs[0]["content"] == "stored answer"
    assert runs[0]["run_input"] == "remember me"

    listed = await app.client.get("/agents/assistant/runs", params={"session_id": "sess-1"})
    assert [r["run_id"] for r in listed.json()] == [run_id]
    one = await app.client.get(f"/agents/assistant/runs/{run_id}", params={"session_id": "sess-1"})
    assert one.status_code == 200 and one.json()["content"] == "stored answer"
    listed_sessions = (await app.client.get("/sessions", params={"user_id": "ana"})).json()["data"]
    assert [s["session_id"] for s in listed_sessions] == ["sess-1"]


async def test_agent_run_lookups_404_for_unknown_sessions_and_runs(app: Served) -> None:
    no_session = await app.client.get("/agents/assistant/runs", params={"session_id": "nope"})
    assert no_session.status_code == 404 and no_session.json() == {"detail": "Session not found"}
    no_run = await app.client.get("/agents/assistant/runs/r-9", params={"session_id": "nope"})
    assert no_run.status_code == 404 and no_run.json() == {"detail": "Run not found"}
    missing_param = await app.client.get("/agents/assistant/runs")
    assert missing_param.status_code == 422


async def test_a_second_run_sends_the_first_one_as_history(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Nice to meet you, Ana."), Reply.say("Your name is Ana."))
    form = {"stream": "false", "session_id": "hist-1"}
    await app.client.post("/agents/assistant/runs", data={**form, "message": "I am Ana."})
    second = await app.client.post("/agents/assistant/runs", data={**form, "message": "Who am I?"})
    assert second.json()["content"] == "Your name is Ana."
    sent = [(m["role"], m["content"]) for m in fake_openai.bodies[-1]["messages"] if m["role"] != "system"]
    assert sent == [("user", "I am Ana."), ("assistant", "Nice to meet you, Ana."), ("user", "Who am I?")]
    runs = (await app.client.get("/sessions/hist-1/runs")).json()
    assert len(runs) == 2


async def test_history_can_be_turned_off_per_run_with_a_form_flag(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("one"), Reply.say("two"))
    form = {"stream": "false", "session_id": "hist-2"}
    await app.client.post("/agents/assistant/runs", data={**form, "message": "first"})
    await app.client.post(
        "/agents/assistant/runs", data={**form, "message": "second", "add_history_to_context": "false"}
    )
    sent = [m["content"] for m in fake_openai.bodies[-1]["messages"] if m["role"] != "system"]
    assert sent == ["second"]


async def test_session_state_and_metadata_extras_reach_the_run(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("noted"))
    form = {
        "message": "hi",
        "stream": "false",
        "session_id": "state-1",
        "session_state": json.dumps({"cart": ["apple"]}),
        "metadata": json.dumps({"channel": "test"}),
    }
    output = (await app.client.post("/agents/assistant/runs", data=form)).json()
    assert output["session_state"] == {"cart": ["apple"]}
    assert output["metadata"] == {"channel": "test"}
    session = (await app.client.get("/sessions/state-1")).json()
    assert session["session_state"] == {"cart": ["apple"]}


async def test_a_tool_call_streams_tool_events_and_feeds_the_result_back(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.call(FakeToolCall("calculator", json.dumps({"expression": "17 * 23"}))),
        Reply.say("It is 391."),
    )
    response = await app.client.post("/agents/assistant/runs", data={"message": "17*23?"})
    frames = parse_frames(response.text)
    names = [f.event for f in frames]
    assert names.index("ToolCallStarted") < names.index("ToolCallCompleted") < names.index("RunCompleted")
    completed = next(f for f in frames if f.event == "ToolCallCompleted")
    assert completed.data["tool"]["tool_name"] == "calculator"
    assert completed.data["tool"]["tool_args"] == {"expression": "17 * 23"}
    assert completed.data["tool"]["result"] == "391"
    assert frames[-1].data["content"] == "It is 391."
    tool_message = next(m for m in fake_openai.bodies[-1]["messages"] if m["role"] == "tool")
    assert tool_message["content"] == "391"


async def test_a_model_failure_arrives_in_stream_as_run_error_with_status_200(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        Reply.fail(400, "This model's maximum context length is exceeded", code="context_length_exceeded")
    )
    response = await app.client.post("/agents/assistant/runs", data={"message": "hi", "session_id": "err-1"})
    assert response.status_code == 200
    frames = parse_frames(response.text)
    assert frames[-1].event == "RunError"
    assert "maximum context length" in frames[-1].data["content"]
    assert frames[-1].data["error_type"] == "model_provider_error"
    runs = (await app.client.get("/sessions/err-1/runs")).json()
    assert runs[0]["status"] == "ERROR"


async def test_a_model_failure_without_streaming_is_200_with_status_error(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.fail(401, "Incorrect API key provided", type="invalid_request_error"))
    response = await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    assert response.status_code == 200
    assert response.json()["status"] == "ERROR" and "rejected the API key (401)" in response.json()["content"]


async def test_a_missing_message_is_422_with_fastapis_detail_list(app: Served) -> None:
    response = await app.client.post("/agents/assistant/runs", data={"stream": "false"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "message"] and detail[0]["type"] == "missing"


async def test_bad_json_in_an_extra_field_is_400_naming_it(app: Served, fake_openai: FakeOpenAIServer) -> None:
    response = await app.client.post(
        "/agents/assistant/runs", data={"message": "hi", "session_state": "{oops", "stream": "false"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid session_state parameter")
    assert fake_openai.bodies == []


async def test_a_non_boolean_stream_flag_is_422(app: Served) -> None:
    response = await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "maybe"})
    assert response.status_code == 422


async def test_file_uploads_are_refused_with_400(app: Served) -> None:
    response = await app.client.post(
        "/agents/assistant/runs", data={"message": "hi"}, files={"files": ("a.png", b"\x89PNG", "image/png")}
    )
    assert response.status_code == 400 and "Unsupported file type" in response.json()["detail"]


async def test_an_oversized_run_body_is_413(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    async with serve_on(backend, agent_config(fake_openai.base_url), tmp_path, max_body_bytes=2048) as running:
        response = await running.client.post("/agents/assistant/runs", data={"message": "x" * 4096})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: at most 2 KiB here (AGENTOS_MAX_BODY_BYTES)"}
    assert fake_openai.bodies == []


async def test_cancel_stops_a_running_streamed_run_and_records_it_cancelled(
    app: Served, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("word " * 200, chunks=200, delay=0.05))
    frames = []
    async with app.client.stream(
        "POST", "/agents/assistant/runs", data={"message": "talk", "session_id": "cancel-1"}
    ) as response:
        async for frame in read_frames(response):
            frames.append(frame)
            if frame.event == "RunContent" and len(frames) == 4:
                cancel = await app.client.post(f"/agents/assistant/runs/{frame.data['run_id']}/cancel")
                assert cancel.status_code == 200 and cancel.json() == {}
    assert frames[-1].event == "RunCancelled"
    assert sum(f.event == "RunContent" for f in frames) < 50
    runs = (await app.client.get("/sessions/cancel-1/runs")).json()
    assert runs[0]["status"] == "CANCELLED"


async def test_cancelling_a_run_that_is_not_running_is_200(app: Served) -> None:
    response = await app.client.post("/agents/assistant/runs/not-running/cancel")
    assert response.status_code == 200 and response.json() == {}


async def test_concurrent_runs_on_one_session_are_all_stored(app: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.app.default = Reply.say("ok", delay=0.01)
    form = {"message": "go", "stream": "false", "session_id": "busy-1"}
    responses = await asyncio.wait_for(
        asyncio.gather(*(app.client.post("/agents/assistant/runs", data=form) for _ in range(5))), DEADLINE
    )
    assert all(r.status_code == 200 for r in responses)
    runs = (await app.client.get("/sessions/busy-1/runs")).json()
    assert sorted(r["run_id"] for r in runs) == sorted(r.json()["run_id"] for r in responses)
