"""The agent run loop with a scripted model and the in-memory database."""

from __future__ import annotations

import copy
from typing import Any

from agentos_runtime.errors import ModelRateLimitError
from agentos_runtime.runs import Agent, RunEvent, RunRequest, turns
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools.calculator import build_calculator
from agno.run.agent import RunOutput

from tests.runtime.engine.fakes import FakeChatModel, Script, call, make_agent, say

CALCULATOR = build_calculator()


async def events_of(agent: Agent, request: RunRequest) -> list[RunEvent]:
    return [event async for event in agent.run(request)]


def names(events: list[RunEvent]) -> list[str]:
    return [event.event for event in events]


async def stored_runs(database: InMemoryDatabase, session_id: str) -> list[dict[str, Any]]:
    row = await database.sessions.get_session(session_id)
    assert row is not None
    return row.runs or []


async def test_a_tool_call_run_emits_agnos_captured_event_order() -> None:
    model = FakeChatModel(call("calculator", '{"expression": "2 + 3"}'), say("The ", "answer ", "is ", "5"))
    agent = make_agent(model, tools=[CALCULATOR], instructions=["Use the calculator."])

    events = await events_of(agent, RunRequest(message="What is 2 + 3?", session_id="s1", run_id="r1"))

    assert names(events) == [
        "RunStarted",
        "ModelRequestStarted",
        "ModelRequestCompleted",
        "ToolCallStarted",
        "ToolCallCompleted",
        "ModelRequestStarted",
        "RunContent",
        "RunContent",
        "RunContent",
        "RunContent",
        "ModelRequestCompleted",
        "RunContentCompleted",
        "RunCompleted",
    ]
    for event in events:
        data = event.to_dict()
        assert (data["agent_id"], data["agent_name"], data["run_id"], data["session_id"]) == (
            "a",
            "Agent A",
            "r1",
            "s1",
        )
        assert isinstance(data["created_at"], int)
    assert events[0].to_dict()["model"] == "fake-model" and events[0].to_dict()["model_provider"] == "OpenAI"
    assert [e.to_dict()["content"] for e in events if e.event == "RunContent"] == ["The ", "answer ", "is ", "5"]
    tool = events[4].to_dict()["tool"]
    assert (tool["tool_name"], tool["tool_args"], tool["result"], tool["tool_call_error"]) == (
        "calculator",
        {"expression": "2 + 3"},
        "5",
        False,
    )
    assert set(tool["metrics"]) == {"start_time", "end_time", "duration"}
    assert events[4].to_dict()["content"].startswith("calculator(expression=2 + 3) completed in ")
    assert events[3].to_dict()["tool"]["result"] is None
    completed = events[-1].to_dict()
    assert completed["content"] == "The answer is 5"
    assert (completed["metrics"]["input_tokens"], completed["metrics"]["total_tokens"]) == (22, 32)
    assert completed["metrics"]["details"]["model"] == [
        {"input_tokens": 22, "output_tokens": 10, "total_tokens": 32, "id": "fake-model", "provider": "OpenAI Chat"}
    ]
    assert completed["metrics"]["duration"] > 0 and completed["metrics"]["time_to_first_token"] > 0


async def test_the_model_is_sent_the_system_message_and_the_tool_result() -> None:
    model = FakeChatModel(call("calculator", '{"expression": "6 * 7"}', call_id="call_9"), say("42"))
    agent = make_agent(model, tools=[CALCULATOR], description="You compute.", instructions=["Be exact."])

    await events_of(agent, RunRequest(message="6 times 7?", session_id="s1"))

    assert model.prompts[0] == [
        {"role": "system", "content": "You compute.\nBe exact."},
        {"role": "user", "content": "6 times 7?"},
    ]
    assert model.prompts[1][2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "6 * 7"}'},
                }
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "call_9"},
    ]
    assert model.offered_tools[0] == [CALCULATOR.schema()]


async def test_history_replays_the_last_completed_runs_of_the_session() -> None:
    database = InMemoryDatabase(id="db")
    model = FakeChatModel(
        say("one"),
        say("two"),
        Script(error=ModelRateLimitError("rate limited")),
        say("three"),
        say("four"),
    )
    agent = make_agent(model, database=database, add_history_to_context=True, num_history_runs=2)

    for question in ("q1", "q2", "q3", "q4", "q5"):
        await events_of(agent, RunRequest(message=question, session_id="s1"))

    assert model.prompts[4] == [
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "q4"},
        {"role": "assistant", "content": "three"},
        {"role": "user", "content": "q5"},
    ]


async def test_history_is_off_unless_asked_and_a_request_can_turn_it_on() -> None:
    model = FakeChatModel(say("one"), say("two"), say("three"))
    agent = make_agent(model)

    await events_of(agent, RunRequest(message="q1", session_id="s1"))
    await events_of(agent, RunRequest(message="q2", session_id="s1"))
    await events_of(agent, RunRequest(message="q3", session_id="s1", add_history_to_context=True, num_history_runs=1))

    assert model.prompts[1] == [{"role": "user", "content": "q2"}]
    assert model.prompts[2] == [
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "q3"},
    ]


async def test_session_state_merges_default_stored_and_requested_and_is_stored() -> None:
    database = InMemoryDatabase(id="db")
    model = FakeChatModel(say("ok"), say("ok"))
    agent = make_agent(model, database=database, session_state={"plan": "free", "prefs": {"lang": "en"}})

    await events_of(agent, RunRequest(message="q1", session_id="s1", session_state={"prefs": {"units": "metric"}}))
    events = await events_of(agent, RunRequest(message="q2", session_id="s1", session_state={"plan": "pro"}))

    expected = {"plan": "pro", "prefs": {"lang": "en", "units": "metric"}}
    assert events[-1].to_dict()["session_state"] == expected
    row = await database.sessions.get_session("s1")
    assert row is not None and row.session_data is not None
    assert row.session_data["session_state"] == expected


async def test_tool_call_limit_refuses_further_calls_and_stops_offering_tools() -> None:
    two_calls = Script(
        tool_calls=[
            call("calculator", '{"expression": "1 + 1"}', call_id="c1").tool_calls[0],
            call("calculator", '{"expression": "2 + 2"}', call_id="c2").tool_calls[0],
        ]
    )
    model = FakeChatModel(two_calls, say("done"))
    agent = make_agent(model, tools=[CALCULATOR], tool_call_limit=1)

    events = await events_of(agent, RunRequest(message="add", session_id="s1"))

    assert names(events).count("ToolCallStarted") == 1
    assert model.offered_tools[1] is None
    tool_messages = [m for m in model.prompts[1] if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "content": "2", "tool_call_id": "c1"},
        {
            "role": "tool",
            "content": "Tool call limit reached. Tool call calculator not executed. Don't try to execute it again.",
            "tool_call_id": "c2",
        },
    ]
    assert events[-1].event == "RunCompleted"


async def test_without_a_tool_call_limit_one_answer_runs_at_most_the_highest_limit() -> None:
    flood = Script(
        tool_calls=[
            call("calculator", '{"expression": "1 + 1"}', call_id=f"c{n}").tool_calls[0]
            for n in range(turns.MAX_TOOL_CALLS + 5)
        ]
    )
    model = FakeChatModel(flood, say("done"))
    agent = make_agent(model, tools=[CALCULATOR])

    events = await events_of(agent, RunRequest(message="add", session_id="s1"))

    assert names(events).count("ToolCallStarted") == turns.MAX_TOOL_CALLS == 100
    refused = [m for m in model.prompts[1] if m["role"] == "tool" and m["content"].startswith("Tool call limit")]
    assert len(refused) == 5 and model.offered_tools[1] is None
    assert events[-1].event == "RunCompleted"


async def test_a_model_still_calling_tools_on_the_last_allowed_request_ends_the_run_with_an_error_saying_so() -> None:
    database = InMemoryDatabase(id="db")
    last = turns.MAX_MODEL_REQUESTS
    model = FakeChatModel(*(call("calculator", '{"expression": "1 + 1"}', call_id=f"c{n}") for n in range(1, last + 1)))
    agent = make_agent(model, tools=[CALCULATOR], database=database)

    events = await events_of(agent, RunRequest(message="add forever", session_id="s1"))

    assert len(model.prompts) == last == 32
    assert model.offered_tools[last - 2] is not None and model.offered_tools[last - 1] is None
    assert names(events).count("ToolCallStarted") == last - 1
    error = events[-1].to_dict()
    assert (events[-1].event, error["error_id"]) == ("RunError", "model_provider_error")
    assert error["content"] == (
        "model 'fake' was still calling tools on the run's last model request (32 are allowed, "
        "the last one without tools): the run ends without an answer"
    )
    [stored] = await stored_runs(database, "s1")
    assert stored["status"] == "ERROR"
    assert stored["messages"][-1]["role"] == "tool" and stored["messages"][-1]["tool_call_id"] == f"c{last}"
    assert stored["messages"][-1]["content"].startswith("Tool call limit reached")


async def test_a_tool_failure_is_a_result_the_model_reads_not_a_failed_run() -> None:
    model = FakeChatModel(call("calculator", '{"expression": "1 / 0"}'), say("Cannot divide by zero."))
    agent = make_agent(model, tools=[CALCULATOR])

    events = await events_of(agent, RunRequest(message="1/0?", session_id="s1"))

    tool = [e for e in events if e.event == "ToolCallCompleted"][0].to_dict()["tool"]
    assert (tool["tool_call_error"], tool["result"]) == (True, "Error: CalculationError: division by zero")
    assert events[-1].event == "RunCompleted"


async def test_a_provider_failure_ends_with_run_error_and_is_stored_as_error() -> None:
    database = InMemoryDatabase(id="db")
    model = FakeChatModel(say("partial"), Script(error=ModelRateLimitError("model 'fake': rate limited (429)")))
    agent = make_agent(model, database=database)
    await events_of(agent, RunRequest(message="warm up", session_id="s1"))

    events = await events_of(agent, RunRequest(message="hi", session_id="s1", run_id="r2"))

    assert names(events) == ["RunStarted", "ModelRequestStarted", "RunError"]
    error = events[-1].to_dict()
    assert (error["content"], error["error_type"], error["error_id"]) == (
        "model 'fake': rate limited (429)",
        "model_provider_error",
        "model_rate_limit_error",
    )
    stored = (await stored_runs(database, "s1"))[-1]
    assert (stored["run_id"], stored["status"], stored["content"]) == (
        "r2",
        "ERROR",
        "model 'fake': rate limited (429)",
    )
    assert stored["events"][-1]["event"] == "RunError"


async def test_complete_returns_an_error_output_on_a_provider_failure() -> None:
    model = FakeChatModel(Script(error=ModelRateLimitError("model 'fake': rate limited (429)")))
    agent = make_agent(model)

    output = await agent.complete(RunRequest(message="hi", session_id="s1"))

    assert (output["status"], output["content"]) == ("ERROR", "model 'fake': rate limited (429)")


async def test_the_run_is_persisted_once_with_agnos_run_output_fields() -> None:
    database = InMemoryDatabase(id="db")
    model = FakeChatModel(say("first"), call("calculator", '{"expression": "2 * 4"}'), say("8"))
    agent = make_agent(
        model, database=database, tools=[CALCULATOR], instructions=["Be brief."], add_history_to_context=True
    )
    await events_of(agent, RunRequest(message="hello", session_id="s1", user_id="u1"))

    events = await events_of(
        agent, RunRequest(message="2*4?", session_id="s1", user_id="u1", run_id="r2", metadata={"ticket": "T-1"})
    )

    row = await database.sessions.get_session("s1")
    assert row is not None
    assert (row.session_type, row.agent_id, row.user_id) == ("agent", "a", "u1")
    assert row.agent_data == {
        "name": "Agent A",
        "agent_id": "a",
        "model": {"name": "OpenAIChat", "id": "fake-model", "provider": "OpenAI"},
    }
    assert [run["run_id"] for run in row.runs or []][1:] == ["r2"]
    stored = (row.runs or [])[1]
    assert list(stored) == [
        "run_id",
        "agent_id",
        "agent_name",
        "session_id",
        "user_id",
        "content",
        "content_type",
        "model_provider_data",
        "model",
        "model_provider",
        "metadata",
        "session_state",
        "created_at",
        "status",
        "metrics",
        "events",
        "messages",
        "tools",
        "input",
    ]
    assert (stored["content"], stored["status"], stored["input"]) == ("8", "COMPLETED", {"input_content": "2*4?"})
    assert stored["metadata"] == {"ticket": "T-1"}
    assert [m["role"] for m in stored["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert all(m["from_history"] is False for m in stored["messages"])
    assert [e["event"] for e in stored["events"]] == [n for n in names(events) if n != "RunContent"]
    assert [t["result"] for t in stored["tools"]] == ["8"]
    assert RunOutput.from_dict(copy.deepcopy(stored)).to_dict() == stored


async def test_complete_returns_the_output_with_history_copies_marked() -> None:
    model = FakeChatModel(say("first"), say("second"))
    agent = make_agent(model, add_history_to_context=True)
    await agent.complete(RunRequest(message="one", session_id="s1"))

    output = await agent.complete(RunRequest(message="two", session_id="s1"))

    assert output["content"] == "second"
    assert [(m["role"], m["content"], m["from_history"]) for m in output["messages"]] == [
        ("user", "one", True),
        ("assistant", "first", True),
        ("user", "two", False),
        ("assistant", "second", False),
    ]
    assert output["metrics"]["time_to_first_token"] > 0
    assert output["tools"] == []


async def test_an_agent_without_a_session_store_runs_and_stores_nothing() -> None:
    model = FakeChatModel(say("stateless"))
    agent = Agent(make_agent(model).config, model=model)

    output = await agent.complete(RunRequest(message="hi"))

    assert (output["status"], output["content"]) == ("COMPLETED", "stateless")


async def test_a_bug_in_a_model_adapter_is_recorded_as_an_error_run() -> None:
    class Broken(FakeChatModel):
        async def stream(self, messages: Any, tools: Any) -> Any:  # type: ignore[override]
            raise KeyError("choices")
            yield ""  # pragma: no cover

    database = InMemoryDatabase(id="db")
    agent = make_agent(Broken(), database=database)

    events = await events_of(agent, RunRequest(message="hi", session_id="s1"))

    assert events[-1].event == "RunError"
    assert events[-1].to_dict()["error_type"] == "KeyError"
    assert (await stored_runs(database, "s1"))[0]["status"] == "ERROR"
