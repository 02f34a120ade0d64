"""Fakes of the engine's ports: a chat model replaying scripted answers, stores that fail; and
Agno's clock frozen, to compare the prompts Agno builds with ours."""

from __future__ import annotations

import asyncio
import sys
import types
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import pytest
from agentos_runtime.config import AgentConfig, RuntimeConfig
from agentos_runtime.errors import ModelProviderError, StorageUnavailable
from agentos_runtime.llm.ports import Completion, Message, ToolCall, ToolSchema, Usage
from agentos_runtime.runs import Agent, RunEvent, RunRegistry, RunRequest
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import JSON, SessionRow
from agentos_runtime.tools import Tool

DEADLINE = 5.0


@dataclass
class Script:
    """One scripted model answer: text chunks and/or tool calls, or an error to raise.

    ``gate``: the stream waits on it after its first chunk (lets a test act mid-stream).
    """

    chunks: Sequence[str] = ()
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=11, output_tokens=5, total_tokens=16))
    error: ModelProviderError | None = None
    gate: asyncio.Event | None = None


def say(*chunks: str) -> Script:
    return Script(chunks=chunks)


def call(name: str, arguments: str, *, call_id: str = "call_1") -> Script:
    return Script(tool_calls=[ToolCall(id=call_id, name=name, arguments=arguments)])


def held(*chunks: str) -> Script:
    """Streams its first chunk, then waits on its gate."""
    return Script(chunks=chunks, gate=asyncio.Event())


class FakeChatModel:
    """A ``ChatModel`` replaying scripts in order and recording every prompt it was sent."""

    id = "fake"
    model = "fake-model"
    name = "OpenAIChat"
    provider = "OpenAI"
    provider_name = "OpenAI Chat"

    def __init__(self, *scripts: Script) -> None:
        self.scripts = deque(scripts)
        self.prompts: list[list[Message]] = []
        self.offered_tools: list[Sequence[ToolSchema] | None] = []
        self.streamed_to_end = 0
        self.closed = False
        self.prepared = False
        self.asked = asyncio.Event()
        """Set at every request the model receives."""

    def _next(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Script:
        self.prompts.append([dict(m) for m in messages])
        self.offered_tools.append(tools)
        self.asked.set()
        if not self.scripts:
            raise AssertionError("FakeChatModel: no scripted answer left")
        script = self.scripts.popleft()
        if script.error is not None:
            raise script.error
        return script

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        script = self._next(messages, tools)
        if script.gate is not None:
            await script.gate.wait()
        content = "".join(script.chunks) or None
        return Completion(content=content, tool_calls=list(script.tool_calls), usage=script.usage)

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None
    ) -> AsyncIterator[str | Completion]:
        script = self._next(messages, tools)
        for index, chunk in enumerate(script.chunks):
            yield chunk
            if index == 0 and script.gate is not None:
                await script.gate.wait()
        self.streamed_to_end += 1
        yield Completion(
            content="".join(script.chunks) or None,
            tool_calls=list(script.tool_calls),
            usage=script.usage,
            provider_data={"id": "chatcmpl-1"},
            time_to_first_token=0.01,
        )

    def prepare(self) -> None:
        self.prepared = True

    async def close(self) -> None:
        self.closed = True


class WatchedRun:
    """A run under test whose ``RunContent`` events are kept as they stream, so a test can wait
    until members or steps are mid-answer (every wait has a deadline)."""

    def __init__(self, run: Callable[[RunRequest], AsyncIterator[RunEvent]]) -> None:
        self._run = run
        self.contents: list[RunEvent] = []
        self.content_seen = asyncio.Event()

    async def consume(self, request: RunRequest) -> list[RunEvent]:
        events = []
        async for event in self._run(request):
            events.append(event)
            if event.event == "RunContent":
                self.contents.append(event)
                self.content_seen.set()
        return events

    async def wait_for_contents(self, count: int) -> None:
        async with asyncio.timeout(DEADLINE):
            while len(self.contents) < count:
                self.content_seen.clear()
                await self.content_seen.wait()


class UnavailableSessions:
    """A session store whose reads and/or writes fail as an unreachable database does."""

    def __init__(self, inner: Any, *, fail_reads: bool = False, fail_writes: bool = True) -> None:
        self.inner = inner
        self.fail_reads = fail_reads
        self.fail_writes = fail_writes

    async def get_session(self, session_id: str, **kwargs: Any) -> SessionRow | None:
        if self.fail_reads:
            raise StorageUnavailable("the session database cannot be reached")
        return await self.inner.get_session(session_id, **kwargs)  # type: ignore[no-any-return]

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        if self.fail_writes:
            raise StorageUnavailable("the session database cannot be reached")
        return await self.inner.save_run(new, run, session_state=session_state)  # type: ignore[no-any-return]


def make_agent(
    model: FakeChatModel,
    *,
    tools: Sequence[Tool] = (),
    database: InMemoryDatabase | None = None,
    registry: RunRegistry | None = None,
    sessions: Any = None,
    **config: Any,
) -> Agent:
    """An agent ``a`` on ``model``, storing into ``database`` (a fresh in-memory one by default)."""
    database = database if database is not None else InMemoryDatabase(id="db")
    return Agent(
        AgentConfig(id="a", name="Agent A", **config),
        model=model,
        tools=tools,
        sessions=sessions if sessions is not None else database.sessions,
        memories=database.memories,
        registry=registry,
        db_id=database.id,
    )


def runtime_config(**document: Any) -> RuntimeConfig:
    from agentos_runtime.config import parse_config

    return parse_config(document)


@contextmanager
def agnos_clock_frozen_at(now: datetime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within the block, the ``datetime`` Agno imports from its module as it builds a message
    reads ``now`` (in the zone asked for, or local time without one)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return now.astimezone(tz) if tz is not None else now.astimezone().replace(tzinfo=None)

    frozen = types.ModuleType("datetime")
    frozen.datetime = Frozen  # type: ignore[attr-defined]
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "datetime", frozen)
        yield
