"""The lifecycle every run shares, checked on an agent's, a team's and a workflow's run alike.

A run completes, fails or is cancelled, and its stream always ends with exactly one terminal
event of its kind, whatever fails and wherever: the model, the session read, the save. What
was stored is what the stream said: a run that could not be saved leaves nothing behind.
Models are scripted (``FakeChatModel``); a gate holds one mid-answer, nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from agentos_runtime.errors import Conflict, ModelProviderError, StorageUnavailable
from agentos_runtime.llm.ports import Completion, Message, ToolSchema
from agentos_runtime.runs import RunEvent, RunRegistry, RunRequest
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import JSON, SessionRow

from tests.runtime.engine.fakes import FakeChatModel, Script, held, say
from tests.runtime.lifecycle.kinds import DEADLINE, Consumer, Kind, assert_ends_once, names


class FailingSessions:
    """The in-memory session store, failing with ``read`` when a session is read, ``save`` when a run is saved."""

    def __init__(self, inner: Any, *, read: Exception | None = None, save: Exception | None = None) -> None:
        self.inner, self.read, self.save = inner, read, save

    async def get_session(self, session_id: str, **kwargs: Any) -> SessionRow | None:
        if self.read is not None:
            raise self.read
        return await self.inner.get_session(session_id, **kwargs)  # type: ignore[no-any-return]

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        if self.save is not None:
            raise self.save
        return await self.inner.save_run(new, run, session_state=session_state)  # type: ignore[no-any-return]


class BrokenModel(FakeChatModel):
    """A model adapter with a bug: every request raises ``RuntimeError``."""

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None) -> Completion:
        raise RuntimeError("the adapter lost its way")

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None
    ) -> AsyncIterator[str | Completion]:
        raise RuntimeError("the adapter lost its way")
        yield ""  # an async generator, as the port's stream is


async def stored_run(database: InMemoryDatabase, session_id: str = "s1") -> JSON:
    row = await database.sessions.get_session(session_id)
    assert row is not None and row.runs, "the run was not stored"
    return row.runs[-1]


def text_of(event: JSON) -> str:
    """What an error event says: ``content`` for agents and teams, ``error`` for workflows."""
    text = event.get("content") or event.get("error")
    assert isinstance(text, str)
    return text


async def run_to_end(kind: Kind, model: FakeChatModel, sessions: Any, run_id: str = "r1") -> list[RunEvent]:
    runnable = kind.build(model, sessions, RunRegistry())
    return [event async for event in runnable.run(RunRequest(message="hi", session_id="s1", run_id=run_id))]


async def test_a_run_that_completes_ends_with_its_completed_event_and_is_stored_completed(kind: Kind) -> None:
    database = InMemoryDatabase(id="db")
    events = await run_to_end(kind, FakeChatModel(say("Hel", "lo")), database.sessions)

    completed = assert_ends_once(events, kind, kind.completed)
    assert completed["content"] == "Hello"
    stored = await stored_run(database)
    assert (stored["run_id"], stored["status"]) == ("r1", "COMPLETED")
    assert kind.answer_of(stored)["content"] == "Hello"
    assert stored["events"][-1]["event"] == kind.completed, "the stored run ends as the stream did"


async def test_a_run_that_completes_without_streaming_returns_its_completed_output(kind: Kind) -> None:
    database = InMemoryDatabase(id="db")
    runnable = kind.build(FakeChatModel(say("Hello")), database.sessions, RunRegistry())

    output = await runnable.complete(RunRequest(message="hi", session_id="s1"))

    assert (output["status"], output["content"]) == ("COMPLETED", "Hello")
    assert (await stored_run(database))["status"] == "COMPLETED"


async def test_a_model_error_ends_with_the_error_event_and_is_stored_as_error(kind: Kind) -> None:
    database = InMemoryDatabase(id="db")
    failing = FakeChatModel(Script(error=ModelProviderError("the endpoint answered 500")))
    events = await run_to_end(kind, failing, database.sessions)

    error = assert_ends_once(events, kind, kind.error)
    assert "the endpoint answered 500" in text_of(error)
    assert error["error_type"] == "model_provider_error"
    stored = await stored_run(database)
    assert stored["status"] == "ERROR" and stored["events"][-1]["event"] == kind.error


async def test_a_cancel_mid_stream_ends_cancelled_and_stores_the_partial_answer(kind: Kind) -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    consumer = Consumer(kind.build(FakeChatModel(held("Hel", "lo")), database.sessions, registry))
    running = asyncio.create_task(consumer.consume(RunRequest(message="hi", session_id="s1", run_id="r1")))
    await consumer.wait_until_streaming()

    assert registry.cancel("r1") is True
    events = await asyncio.wait_for(running, DEADLINE)

    assert_ends_once(events, kind, kind.cancelled)
    assert not registry.is_running("r1")
    stored = await stored_run(database)
    assert stored["status"] == "CANCELLED"
    answer = kind.answer_of(stored)
    assert (answer["status"], answer["content"]) == ("CANCELLED", "Hel")
    assert (answer["messages"][-1]["role"], answer["messages"][-1]["content"]) == ("assistant", "Hel")


async def test_a_client_that_goes_away_mid_stream_leaves_the_run_stored_cancelled_with_its_partial_answer(
    kind: Kind,
) -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    runnable = kind.build(FakeChatModel(held("Hel", "lo")), database.sessions, registry)
    stream = runnable.run(RunRequest(message="hi", session_id="s1", run_id="r1"))
    async for event in stream:
        if event.event in ("RunContent", "TeamRunContent"):
            break
    await stream.aclose()  # type: ignore[attr-defined]

    assert await registry.shutdown(timeout=DEADLINE), "the detached save did not finish"
    stored = await stored_run(database)
    assert (stored["run_id"], stored["status"]) == ("r1", "CANCELLED")
    answer = kind.answer_of(stored)
    assert (answer["content"], answer["messages"][-1]["content"]) == ("Hel", "Hel")


@pytest.mark.parametrize(
    "failure",
    [
        StorageUnavailable("the session database cannot be reached"),
        TypeError("Object of type bytes is not JSON serializable"),
    ],
    ids=["database-down", "value-refused"],
)
async def test_a_failed_save_ends_the_stream_with_the_error_event_and_stores_nothing(
    kind: Kind, failure: Exception
) -> None:
    database = InMemoryDatabase(id="db")
    sessions = FailingSessions(database.sessions, save=failure)
    events = await run_to_end(kind, FakeChatModel(say("Hello")), sessions)

    error = assert_ends_once(events, kind, kind.error)
    assert text_of(error).startswith("the run could not be saved")
    down = isinstance(failure, StorageUnavailable)
    assert error["error_type"] == ("storage_unavailable" if down else "TypeError")
    assert kind.completed not in names(events), "a run is never announced completed before it is stored"
    assert await database.sessions.get_session("s1") is None


async def test_a_session_another_user_took_while_the_run_went_ends_it_with_a_session_conflict(kind: Kind) -> None:
    database = InMemoryDatabase(id="db")
    taken = Conflict("session 's1' belongs to another user: send another session_id, or none for a new session")
    sessions = FailingSessions(database.sessions, save=taken)

    events = await run_to_end(kind, FakeChatModel(say("Hello")), sessions)

    error = assert_ends_once(events, kind, kind.error)
    assert text_of(error) == f"the run could not be saved: {taken.detail}"
    assert error["error_type"] == "session_conflict"
    assert kind.completed not in names(events)


async def test_a_session_that_cannot_be_read_ends_the_run_before_the_model_is_asked(kind: Kind) -> None:
    model = FakeChatModel(say("never"))
    down = StorageUnavailable("the session database cannot be reached")
    sessions = FailingSessions(InMemoryDatabase(id="db").sessions, read=down)

    events = await run_to_end(kind, model, sessions)

    assert names(events) == [kind.error]
    assert events[0].to_dict()["error_type"] == "storage_unavailable"
    assert model.prompts == []
    with pytest.raises(StorageUnavailable):
        await kind.build(model, sessions, RunRegistry()).complete(RunRequest(message="hi", session_id="s1"))


async def test_complete_raises_when_the_database_is_down_at_save(kind: Kind) -> None:
    database = InMemoryDatabase(id="db")
    sessions = FailingSessions(database.sessions, save=StorageUnavailable("the session database cannot be reached"))
    runnable = kind.build(FakeChatModel(say("Hello")), sessions, RunRegistry())

    with pytest.raises(StorageUnavailable):
        await runnable.complete(RunRequest(message="hi", session_id="s1"))
    assert await database.sessions.get_session("s1") is None


async def test_complete_answers_an_error_output_when_the_store_refuses_the_run(kind: Kind) -> None:
    database = InMemoryDatabase(id="db")
    sessions = FailingSessions(database.sessions, save=TypeError("Object of type bytes is not JSON serializable"))
    runnable = kind.build(FakeChatModel(say("Hello")), sessions, RunRegistry())

    output = await runnable.complete(RunRequest(message="hi", session_id="s1"))

    assert output["status"] == "ERROR"
    told = [event["event"] for event in output["events"]]
    assert told[-1] == kind.error and kind.completed not in told, "the answer says the run ended as it did"
    assert await database.sessions.get_session("s1") is None


@pytest.mark.parametrize("point", ["session-read", "model", "save"])
async def test_an_exception_at_any_point_ends_the_stream_with_the_error_event(kind: Kind, point: str) -> None:
    database = InMemoryDatabase(id="db")
    bug = RuntimeError(f"a bug at {point}")
    sessions = FailingSessions(
        database.sessions, read=bug if point == "session-read" else None, save=bug if point == "save" else None
    )
    model = BrokenModel() if point == "model" else FakeChatModel(say("Hello"))

    events = await run_to_end(kind, model, sessions)

    error = assert_ends_once(events, kind, kind.error)
    assert "RuntimeError" in text_of(error)
    stored = await database.sessions.get_session("s1")
    if point == "model":
        assert stored is not None and stored.runs and stored.runs[-1]["status"] == "ERROR"
    else:
        assert stored is None, "nothing is stored of a run that could not be read or saved"


async def test_a_cancel_sent_before_the_run_starts_ends_it_cancelled_before_the_model_is_asked(kind: Kind) -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    model = FakeChatModel(say("Hello"))
    runnable = kind.build(model, database.sessions, registry)
    registry.cancel("early")

    events = [e async for e in runnable.run(RunRequest(message="hi", session_id="s1", run_id="early"))]

    assert_ends_once(events, kind, kind.cancelled)
    assert model.prompts == []
    assert (await stored_run(database))["status"] == "CANCELLED"
