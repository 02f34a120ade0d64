"""The lifecycle's last guards: what fails around a run's ending never takes the ending away.

Driven with ``ScriptedSteps``, a minimal kind of run whose hooks a test can make fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, ClassVar

import pytest
from agentos_runtime.runs import RunEvent, RunRegistry, RunRequest
from agentos_runtime.runs.lifecycle import Ending, Outcome, execute
from agentos_runtime.runs.memory.hooks import PreparedMemory
from agentos_runtime.runs.registry import RunHandle, RunOwner
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import JSON, SessionRow

from tests.runtime.engine.fakes import FakeChatModel, say
from tests.runtime.lifecycle.kinds import AGENT, DEADLINE, TEAM, names


class ScriptedRecord:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.saved = False
        self.session_state: JSON | None = None
        self.status = "RUNNING"
        self.events: list[str] = []

    def add(self, event: RunEvent) -> RunEvent:
        self.events.append(event.event)
        return event

    def to_dict(self, *, stored: bool = False) -> JSON:
        return {"run_id": self.run_id, "status": self.status, "events": list(self.events)}


class ScriptedSteps:
    """A run that streams one ``Step`` event; ``broken_end`` makes building its ending fail."""

    expected: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, handle: RunHandle, *, broken_end: bool = False) -> None:
        self.handle = handle
        self.record = ScriptedRecord(handle.run_id)
        self.label = "scripted run"
        self.broken_end = broken_end

    async def open(self) -> SessionRow:
        return SessionRow(session_id="s1", session_type="agent", created_at=1, agent_id="x", runs=[])

    def started(self) -> RunEvent:
        return RunEvent("Started", {})

    async def body(self) -> AsyncGenerator[RunEvent, None]:
        yield RunEvent("Step", {})

    def end(self, outcome: Outcome) -> Ending:
        if self.broken_end:
            raise KeyError("metrics")
        self.record.status = outcome.status
        return Ending(RunEvent(f"Ended{outcome.status.title()}", {}))

    def unsaved(self, detail: str, *, error_type: str, error_id: str | None) -> RunEvent:
        self.record.status = "ERROR"
        return RunEvent("Unsaved", {"content": detail, "error_type": error_type})

    def saved(self, outcome: Outcome) -> None:
        pass


async def test_a_bug_building_the_ending_still_ends_the_stream_with_an_error_and_stores_nothing() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()

    def steps_for(handle: RunHandle) -> ScriptedSteps:
        return ScriptedSteps(handle, broken_end=True)

    owner = RunOwner("agent", "x", "s1", None)
    stream = execute(steps_for, run_id="r1", owner=owner, sessions=database.sessions, registry=registry)
    events = [event async for event in stream]

    assert names(events) == ["Started", "Step", "Unsaved"]
    assert events[-1].to_dict()["content"] == "the run could not be ended"
    assert await database.sessions.get_session("s1") is None
    assert not registry.is_running("r1")


class ExplodingMemory:
    """User memories whose extraction fails as soon as it is handed a run."""

    def __init__(self) -> None:
        self.handed: list[str] = []

    async def prepare(self, user_id: str | None) -> PreparedMemory:
        return PreparedMemory()

    def remember(self, record: Any) -> None:
        self.handed.append(record.run_id)
        raise RuntimeError("the extractor is down")


async def test_a_failure_after_the_save_still_ends_agent_and_team_runs_completed() -> None:
    for kind in (AGENT, TEAM):
        database = InMemoryDatabase(id="db")
        runnable: Any = kind.build(FakeChatModel(say("Hello")), database.sessions, RunRegistry())
        memory = ExplodingMemory()
        runnable.memory = memory

        events = [e async for e in runnable.run(RunRequest(message="hi", session_id="s1", run_id="r1"))]

        assert names(events)[-1] == kind.completed, kind.name
        assert memory.handed == ["r1"], "the run was handed over once saved"
        row = await database.sessions.get_session("s1")
        assert row is not None and row.runs and row.runs[-1]["status"] == "COMPLETED"


class HeldSaves:
    """A session store whose saves wait until the test lets them go (``go``), once ``reached``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        self.reached.set()
        await self.go.wait()
        return await self.inner.save_run(new, run, session_state=session_state)


class RecordingMemory:
    """User memories that note each run they are handed (``handed``), and say when one was."""

    def __init__(self) -> None:
        self.handed: list[str] = []
        self.handed_one = asyncio.Event()

    async def prepare(self, user_id: str | None) -> PreparedMemory:
        return PreparedMemory()

    def remember(self, record: Any) -> None:
        self.handed.append(record.run_id)
        self.handed_one.set()


async def read_to_the_end(events: AsyncIterator[RunEvent]) -> None:
    """A caller reading a run's events until they end (or it is cancelled)."""
    async for _ in events:
        pass


async def test_a_run_whose_caller_goes_away_while_it_is_saved_is_still_handed_to_memory_once_saved() -> None:
    for kind in (AGENT, TEAM):
        database, registry = InMemoryDatabase(id="db"), RunRegistry()
        sessions = HeldSaves(database.sessions)
        runnable: Any = kind.build(FakeChatModel(say("Hello")), sessions, registry)
        memory = RecordingMemory()
        runnable.memory = memory

        events = runnable.run(RunRequest(message="hi", session_id="s1", run_id="r1"))
        caller = asyncio.get_running_loop().create_task(read_to_the_end(events))
        await asyncio.wait_for(sessions.reached.wait(), DEADLINE)
        caller.cancel()  # the client goes away while the run's final save is in flight
        await asyncio.wait([caller])
        sessions.go.set()
        await asyncio.wait_for(memory.handed_one.wait(), DEADLINE)

        assert memory.handed == ["r1"], kind.name
        row = await database.sessions.get_session("s1")
        assert row is not None and row.runs and row.runs[-1]["status"] == "COMPLETED"
        assert await registry.shutdown(timeout=DEADLINE)


async def test_a_run_whose_steps_cannot_be_built_leaves_its_run_id_free() -> None:
    registry = RunRegistry()

    def steps_for(handle: RunHandle) -> ScriptedSteps:
        raise TypeError("'int' object is not iterable")

    owner = RunOwner("agent", "x", "s1", None)
    with pytest.raises(TypeError):
        [event async for event in execute(steps_for, run_id="r1", owner=owner, sessions=None, registry=registry)]

    assert not registry.is_running("r1")
    assert await registry.shutdown(timeout=1.0)
