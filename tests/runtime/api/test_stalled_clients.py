"""A client that stops reading its stream: once it has read nothing for the stall limit, its run
ends as for a client that left (stored CANCELLED with its partial answer, the model not asked to
go on), and the response ends; a client that reads, however slowly, is waited for."""

from __future__ import annotations

import asyncio
from typing import Any

from agentos_runtime.api.sse import event_stream
from agentos_runtime.config import AgentConfig
from agentos_runtime.runs import Agent, RunRegistry, RunRequest
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, say

DEADLINE = 5.0
SCOPE: dict[str, Any] = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "POST"}


class Client:
    """The ASGI ``send`` of a client that reads ``reads`` frames, then nothing (its socket full)."""

    def __init__(self, reads: int) -> None:
        self.reads = reads
        self.frames: list[bytes] = []
        self.ended = False

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        if not message.get("more_body", False):
            self.ended = True
            return
        if len(self.frames) >= self.reads:
            await asyncio.get_running_loop().create_future()  # never drained
        self.frames.append(message["body"])


async def never_called() -> dict[str, Any]:
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable")


async def test_a_client_reading_nothing_past_the_stall_limit_has_its_run_stopped_and_stored_cancelled() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    model = FakeChatModel(say(*[f"w{i} " for i in range(50)]))
    agent = Agent(AgentConfig(id="a"), model=model, sessions=database.sessions, registry=registry)
    client = Client(reads=3)
    response = event_stream(agent.run(RunRequest(message="hi", session_id="s1", run_id="r1")), stalled_seconds=0.05)

    await asyncio.wait_for(response(SCOPE, never_called, client.send), DEADLINE)

    assert client.ended, "the response ends once the run is stopped"
    assert len(client.frames) == 3
    assert await registry.shutdown(timeout=DEADLINE), "the run's save did not finish"
    row = await database.sessions.get_session("s1")
    assert row is not None and row.runs[-1]["status"] == "CANCELLED"
    assert model.streamed_to_end == 0, "the model is not read to the end for a client that stopped reading"


async def test_a_client_that_reads_every_frame_gets_the_whole_run() -> None:
    database = InMemoryDatabase(id="db")
    agent = Agent(AgentConfig(id="a"), model=FakeChatModel(say("Hello", " there")), sessions=database.sessions)
    client = Client(reads=1000)
    response = event_stream(agent.run(RunRequest(message="hi", session_id="s1")), stalled_seconds=0.05)

    await asyncio.wait_for(response(SCOPE, never_called, client.send), DEADLINE)

    assert client.ended and b"event: RunCompleted" in client.frames[-1]
