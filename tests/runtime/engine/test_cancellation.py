"""Cancelling runs: through the registry, by a client going away, and at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agentos_runtime.errors import Conflict
from agentos_runtime.runs import Agent, RunEvent, RunRegistry, RunRequest
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.tools import Tool

from tests.runtime.engine.fakes import FakeChatModel, Script, call, make_agent, say

# Seconds a test waits for a run to wind down before failing (instead of hanging).
DEADLINE = 5


def blocked_answer() -> Script:
    """Streams ``Hel``, then waits forever for the rest."""
    return Script(chunks=["Hel", "lo"], gate=asyncio.Event())


class Setup:
    def __init__(self, *scripts: Script, tools: list[Tool] | None = None) -> None:
        self.database = InMemoryDatabase(id="db")
        self.registry = RunRegistry()
        self.model = FakeChatModel(*scripts)
        self.agent: Agent = make_agent(self.model, database=self.database, registry=self.registry, tools=tools or [])
        self.first_content = asyncio.Event()

    async def consume(self, request: RunRequest) -> list[RunEvent]:
        events = []
        async for event in self.agent.run(request):
            events.append(event)
            if event.event == "RunContent":
                self.first_content.set()
        return events

    async def stored_run(self, session_id: str = "s1") -> dict[str, Any]:
        row = await self.database.sessions.get_session(session_id)
        assert row is not None and row.runs, "the run was not stored"
        return row.runs[-1]


async def test_cancel_while_the_model_is_streaming_stops_the_run_and_stores_it_cancelled() -> None:
    setup = Setup(blocked_answer())
    consumer = asyncio.create_task(setup.consume(RunRequest(message="hi", session_id="s1", run_id="r1")))
    await setup.first_content.wait()

    assert setup.registry.cancel("r1") is True
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert [e.event for e in events] == ["RunStarted", "ModelRequestStarted", "RunContent", "RunCancelled"]
    cancelled = events[-1].to_dict()
    assert (cancelled["reason"], cancelled["content"]) == ("Run r1 was cancelled", "Hel")
    assert setup.model.streamed_to_end == 0
    stored = await setup.stored_run()
    assert (stored["status"], stored["content"]) == ("CANCELLED", "Hel")
    assert stored["events"][-1]["event"] == "RunCancelled"
    assert (stored["messages"][-1]["role"], stored["messages"][-1]["content"]) == ("assistant", "Hel")
    assert not setup.registry.is_running("r1")


async def test_cancel_between_events_is_seen_at_the_next_event() -> None:
    setup = Setup(Script(chunks=["a", "b", "c", "d"]))
    events = []

    async for event in setup.agent.run(RunRequest(message="hi", session_id="s1", run_id="r1")):
        events.append(event)
        if event.event == "RunContent":
            assert setup.registry.cancel("r1") is True

    assert [e.event for e in events] == ["RunStarted", "ModelRequestStarted", "RunContent", "RunCancelled"]
    assert (await setup.stored_run())["status"] == "CANCELLED"


async def test_cancel_while_a_tool_runs_interrupts_the_tool() -> None:
    tool_started = asyncio.Event()

    async def wait_forever() -> str:
        tool_started.set()
        await asyncio.Event().wait()
        return "never"

    slow = Tool("slow", "Waits.", {"type": "object", "properties": {}}, wait_forever)
    setup = Setup(call("slow", "{}"), say("unused"), tools=[slow])
    consumer = asyncio.create_task(setup.consume(RunRequest(message="hi", session_id="s1", run_id="r1")))
    await tool_started.wait()

    setup.registry.cancel("r1")
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert [e.event for e in events][-2:] == ["ToolCallStarted", "RunCancelled"]
    assert (await setup.stored_run())["status"] == "CANCELLED"


async def test_cancelling_an_unknown_run_records_the_intent_for_when_it_starts() -> None:
    setup = Setup(say("never"))

    assert setup.registry.cancel("r-later") is False
    events = await setup.consume(RunRequest(message="hi", session_id="s1", run_id="r-later"))

    assert [e.event for e in events] == ["RunStarted", "RunCancelled"]
    assert setup.model.prompts == []
    assert (await setup.stored_run())["status"] == "CANCELLED"


async def test_a_non_streamed_run_cancelled_through_the_registry_returns_a_cancelled_output() -> None:
    setup = Setup(Script(chunks=["never"], gate=asyncio.Event()))
    running = asyncio.create_task(setup.agent.complete(RunRequest(message="hi", session_id="s1", run_id="r1")))
    await setup.model.asked.wait()

    setup.registry.cancel("r1")
    output = await asyncio.wait_for(running, DEADLINE)

    assert (output["status"], output["content"]) == ("CANCELLED", "Run r1 was cancelled")
    assert (await setup.stored_run())["status"] == "CANCELLED"


async def test_a_client_that_goes_away_mid_stream_leaves_a_cancelled_run() -> None:
    setup = Setup(Script(chunks=["Hel", "lo", "!"]))
    stream = setup.agent.run(RunRequest(message="hi", session_id="s1", run_id="r1"))
    async for event in stream:
        if event.event == "RunContent":
            break

    await stream.aclose()  # type: ignore[attr-defined]

    assert await setup.registry.shutdown(timeout=DEADLINE)
    stored = await setup.stored_run()
    assert (stored["status"], stored["content"]) == ("CANCELLED", "Hel")
    assert not setup.registry.is_running("r1")


async def test_a_cancelled_consumer_task_is_not_swallowed_and_the_run_is_still_stored() -> None:
    setup = Setup(blocked_answer())
    consumer = asyncio.create_task(setup.consume(RunRequest(message="hi", session_id="s1", run_id="r1")))
    await setup.first_content.wait()

    consumer.cancel()

    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert await setup.registry.shutdown(timeout=DEADLINE)
    assert (await setup.stored_run())["status"] == "CANCELLED"


async def test_shutdown_cancels_runs_in_flight_and_waits_until_they_are_stored() -> None:
    setup = Setup(blocked_answer(), blocked_answer())
    first = asyncio.create_task(setup.consume(RunRequest(message="hi", session_id="s1", run_id="r1")))
    second = asyncio.create_task(setup.consume(RunRequest(message="hi", session_id="s2", run_id="r2")))
    while len(setup.model.prompts) < 2:
        setup.model.asked.clear()
        await setup.model.asked.wait()

    assert await setup.registry.shutdown(timeout=DEADLINE) is True

    assert (await asyncio.wait_for(first, DEADLINE))[-1].event == "RunCancelled"
    assert (await asyncio.wait_for(second, DEADLINE))[-1].event == "RunCancelled"
    assert (await setup.stored_run("s1"))["status"] == "CANCELLED"
    assert (await setup.stored_run("s2"))["status"] == "CANCELLED"


async def test_a_run_id_cannot_run_twice_at_once() -> None:
    setup = Setup(blocked_answer())
    consumer = asyncio.create_task(setup.consume(RunRequest(message="hi", session_id="s1", run_id="r1")))
    await setup.first_content.wait()

    with pytest.raises(Conflict):
        await setup.consume(RunRequest(message="again", session_id="s1", run_id="r1"))

    setup.registry.cancel("r1")
    await asyncio.wait_for(consumer, DEADLINE)
