"""One lifecycle for every run, agent, team or workflow: open, stream, end, save.

A run opens (reads its session: only the runs it replays, never every run of a session that
keeps growing; a session another component owns refuses the run, which is then not stored),
yields its first event, streams what its loop yields, and ends one way:

* COMPLETED: the loop finished; the kind's completed event (``RunCompleted``,
  ``TeamRunCompleted``, ``WorkflowCompleted``);
* ERROR: a model failure, a failed step or any other exception; the kind's error event;
* CANCELLED: through the ``RunRegistry``; the kind's cancelled event, with the text of an
  interrupted model request kept as the partial answer;
* PAUSED: the loop raised ``Paused`` (a tool call waits for a confirmation: an agent's, a team
  leader's or member's, a workflow step's agent's); the kind's paused event (``RunPaused``,
  ``TeamRunPaused``, ``WorkflowPaused``).

The ended run is stored once, with ``SessionStore.save_run``, shielded from the caller's
cancel, before its terminal event is yielded. A save that fails, whatever the reason (a store
writes nothing then), replaces the terminal event with the kind's error event saying so, so a
streamed run always ends with a completed, error or cancelled event and never after a partial
write. A caller that goes away (a disconnect, a shutdown cancelling its task) gets no event:
the run is recorded CANCELLED and saved by a detached task that ``RunRegistry.shutdown`` awaits,
settled as a final save is (owed and tried again while the database is away, below). One that
goes away while the final save is in flight changes nothing of that save: it runs in a
task of its own, which settles it as it would have for a caller still waiting (owed and tried
again, or the lease released, below; a stored run handed on to memory extraction).

A run started in the background (``runs.background``) is also stored as it starts, ``RUNNING``
(``announce``), so whoever polls it finds it at once, on any replica sharing the database; its
final save replaces that record. A start that cannot be stored refuses the run as an unreadable
session does. A paused run going on (``takes_up="PAUSED"``) is stored ``RUNNING`` as it starts
too, with ``SessionStore.replace_run``: only while it is still stored ``PAUSED``, so of two
requests taking it up at once, on one replica or two, one goes on and the other is refused with
``Conflict`` before anything of it runs. A final save that fails for a run stored as it started
is tried again later (``save_retry_delays``), so it does not stay ``RUNNING``. A run stored as it
starts holds a lease (``runs.leases``) renewed while it goes on, so if its replica dies,
readers show it ended. The lease is renewed until the final save lands or the replica gives up
on it: a run whose save is still owed is shown ``RUNNING``, not ended, and a renewal that lands
(the database answers again) has the owed save tried at once rather than after its pause. A
renewal finding the start record no longer stored ``RUNNING`` ends the retries: the run is read
back (``read_back``), and one stored as the failed save would have stored it (the write landed,
its answer was lost) is handed on to memory extraction as a run saved at once is.

What differs between the kinds (their record, their events, the loop between the first and
the last event) is the kind's ``RunSteps``. Each streamed event passes through
``Lifecycle.drive`` untouched: nothing else here runs per event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from agentos_runtime.errors import AgentOSError, Conflict, ModelProviderError, StorageUnavailable, UnreadableRecord
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.leases import LEASE_FIELD, UNENDED_STATUSES, with_lease
from agentos_runtime.runs.messages import new_message
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.pausing import agent_paused_content, requirements
from agentos_runtime.runs.record import RunRecord
from agentos_runtime.runs.registry import RunCancelled, RunHandle, RunOwner, RunRegistry
from agentos_runtime.storable import clean_text
from agentos_runtime.storage.ports import SessionRow, SessionStore
from agentos_runtime.storage.records import stored_as

log = logging.getLogger(__name__)
# Where every ended run is logged (``observability.run_log``): a run refused before it was stored too.
runs_log = logging.getLogger("agentos_runtime.runs")

JSON = dict[str, Any]
Status = Literal["COMPLETED", "ERROR", "CANCELLED", "PAUSED"]
ReadBack = Literal["saved", "gone", "changed"]

STORAGE_ERROR_TYPE = "storage_unavailable"
# The ``error_type`` of a run refused because its stored session cannot be read (``UnreadableRecord``).
UNREADABLE_ERROR_TYPE = "unreadable_record"
SESSION_CONFLICT_TYPE = "session_conflict"
RUN_CONFLICT_TYPE = "run_conflict"
CANCELLED_BY_CALLER = "Operation cancelled by user"


class Paused(Exception):
    """Raised by a run's loop: the run waits for a person's decision (calls held for a
    confirmation, ``runs.pausing``); it ends ``PAUSED`` and is stored to go on later."""


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``error`` for ERROR, ``reason`` for CANCELLED."""

    status: Status
    error: Exception | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Ending:
    """The events that end a run: ``before`` are kept and yielded before the save, ``last`` after it;
    ``forwarded`` (nested runs' events, never kept in this run's record) are yielded first."""

    last: RunEvent
    before: Sequence[RunEvent] = ()
    forwarded: Sequence[RunEvent] = ()


class Record(Protocol):
    """What the lifecycle needs of a run's record."""

    saved: bool
    events: list[JSON]

    @property
    def run_id(self) -> str: ...

    @property
    def session_state(self) -> JSON | None: ...

    @property
    def status(self) -> str:
        """``RUNNING`` until the run ends, then how it ended."""
        ...

    def add(self, event: RunEvent) -> RunEvent: ...

    def to_dict(self, *, stored: bool = False) -> JSON: ...


class RunSteps(Protocol):
    """What differs between an agent's, a team's and a workflow's run."""

    expected: ClassVar[tuple[type[Exception], ...]]
    """Failures that are the run's outcome, not a bug (not logged with a traceback)."""

    @property
    def record(self) -> Record: ...

    @property
    def handle(self) -> RunHandle: ...

    @property
    def label(self) -> str:
        """Who runs, for log lines: ``agent a``, ``team t``, ``workflow w``."""
        ...

    async def open(self) -> SessionRow | None:
        """Read the session and prepare the run; the row a new session is written with.

        ``None`` stores nothing. Raises ``StorageUnavailable`` when the session cannot be read.
        """
        ...

    def started(self) -> RunEvent: ...

    def body(self) -> AsyncGenerator[RunEvent, None]:
        """The events between the first and the last; raises to end the run otherwise than COMPLETED."""
        ...

    def end(self, outcome: Outcome) -> Ending:
        """Finish the record with ``outcome``; the events that end the run."""
        ...

    def unsaved(self, detail: str, *, error_type: str, error_id: str | None) -> RunEvent:
        """Finish the record as ERROR (it was not stored); the error event saying why."""
        ...

    def saved(self, outcome: Outcome) -> None:
        """Called once the ended run is stored."""
        ...


def refusal_type(error: AgentOSError, *, conflict_type: str) -> str:
    """The ``error_type`` of a run refused as it opened: the database away, the session damaged, or a conflict's."""
    if isinstance(error, StorageUnavailable):
        return STORAGE_ERROR_TYPE
    if isinstance(error, UnreadableRecord):
        return UNREADABLE_ERROR_TYPE
    return conflict_type


def describe_failure(error: Exception | None) -> tuple[str, str, str | None]:
    """Message, ``error_type`` and ``error_id`` of a failed run, safe to encode as UTF-8."""
    if isinstance(error, ModelProviderError):
        return error.detail, error.error_type, error.error_id
    if error is None:
        return "the run failed", "RuntimeError", None
    return clean_text(f"{type(error).__name__}: {error}"), type(error).__name__, None


def _save_failure(error: Exception) -> str:
    """Why a save failed, for the client: the message of a refused value, else only the error's type."""
    if isinstance(error, ValueError | TypeError):
        return clean_text(f"{type(error).__name__}: {error}")
    return type(error).__name__


class Answering(Protocol):
    """An agent's or a team's run: a record of the answer, and the text of the request in flight."""

    @property
    def record(self) -> RunRecord: ...

    @property
    def turn_text(self) -> list[str]: ...


def record_partial_answer(run: Answering) -> None:
    """Keep the text of an interrupted model request as an assistant message."""
    if run.turn_text:
        message = new_message("assistant", "".join(run.turn_text), created_at=int(time.time()))
        run.record.messages.append(message)
        run.turn_text.clear()


class AnswerEvents(Protocol):
    """The terminal events of an agent's or a team's run (``EventFactory``, ``TeamEventFactory``)."""

    def content_completed(self) -> RunEvent: ...

    def run_completed(
        self,
        *,
        content: str | None,
        provider_data: JSON | None,
        metadata: JSON | None,
        metrics: JSON,
        session_state: JSON | None,
        references: list[JSON] | None = None,
    ) -> RunEvent: ...

    def run_error(self, message: str, *, error_type: str, error_id: str | None) -> RunEvent: ...

    def run_cancelled(self, reason: str, *, content: str | None) -> RunEvent: ...

    def run_paused(self, *, content: str | None, tools: list[JSON], requirements: list[JSON]) -> RunEvent: ...


def answer_ending(
    run: Answering,
    events: AnswerEvents,
    outcome: Outcome,
    *,
    members_waiting: Sequence[JSON] = (),
    paused_content: Callable[[Sequence[JSON]], str] = agent_paused_content,
) -> Ending:
    """How an agent's or a team's run ends (``RunContentCompleted`` first when it completed or
    paused). A paused run's ``requirements`` are its own held calls' and ``members_waiting``
    (the requirements of a team's paused members); its content, when its model wrote nothing,
    is ``paused_content`` of those requirements (an agent's, or a team's: ``runs.pausing``)."""
    record = run.record
    if outcome.status == "PAUSED":
        record.requirements = [*requirements(record.tools), *members_waiting]
        record.finish("PAUSED", reason=paused_content(record.requirements))
        paused = events.run_paused(content=record.content, tools=list(record.tools), requirements=record.requirements)
        return Ending(paused, before=(events.content_completed(),))
    if outcome.status == "COMPLETED":
        record.finish("COMPLETED")
        last = events.run_completed(
            content=record.content,
            provider_data=record.provider_data,
            metadata=record.metadata,
            metrics=record.metrics_dict(),
            session_state=record.session_state,
            references=record.references,
        )
        return Ending(last, before=(events.content_completed(),))
    record_partial_answer(run)
    if outcome.status == "CANCELLED":
        reason = outcome.reason or CANCELLED_BY_CALLER
        record.finish("CANCELLED", reason=reason)
        return Ending(events.run_cancelled(reason, content=record.content))
    message, error_type, error_id = describe_failure(outcome.error)
    record.finish("ERROR", reason=message)
    return Ending(events.run_error(message, error_type=error_type, error_id=error_id))


def answer_unsaved(
    run: Answering, events: AnswerEvents, detail: str, *, error_type: str, error_id: str | None
) -> RunEvent:
    """An agent's or a team's run that was not stored: ERROR, and the ``RunError`` saying why."""
    run.record.finish("ERROR", reason=detail)
    return events.run_error(detail, error_type=error_type, error_id=error_id)


def read_back(session: SessionRow | None, attempted: JSON) -> ReadBack:
    """What the session read back holds of the run whose owed save stopped, its start record no
    longer stored ``RUNNING``: ``attempted`` is the run that save tried to store.

    ``saved``: the run stored is ``attempted``, as that save would have stored it (the same
    ``run_id``, ended, with the status it tried to store, no lease, nothing else changed): the
    save landed, only its answer was lost. ``gone``: no run of that ``run_id`` (its session
    deleted). ``changed``: stored otherwise since, as a request taking it up writes it (stored
    ``RUNNING`` under a lease of its own, or ended again with more events).
    """
    run_id = attempted.get("run_id")
    runs = session.runs if session is not None else None
    stored = next((run for run in runs or () if run.get("run_id") == run_id), None)
    if stored is None:
        return "gone"
    status = stored.get("status")
    if status in UNENDED_STATUSES or status != attempted.get("status") or LEASE_FIELD in stored:
        return "changed"
    return "saved" if stored_as(stored, attempted) else "changed"


class Lifecycle:
    """One run driven from its opening to its save; ``refusal`` says why it was not stored."""

    def __init__(
        self,
        steps: RunSteps,
        *,
        sessions: SessionStore | None,
        registry: RunRegistry,
        announce: asyncio.Future[AgentOSError | None] | None = None,
        takes_up: str | None = None,
        taken_events: int | None = None,
    ) -> None:
        self.steps = steps
        self.sessions = sessions
        self.registry = registry
        self.announce = announce
        """Set once the run is stored as started: ``None``, or why it could not be (then it is refused)."""
        self.takes_up = takes_up
        self.taken_events = taken_events
        """How many events the run it takes up held when read: taken up only while it still holds
        as many (a run that went on and paused again since waits for other decisions)."""
        """The status the stored run must still have for this run to go on (a paused run: ``PAUSED``)."""
        self.refusal: AgentOSError | None = None
        """Why the run was not stored: its session could not be read or is another's, or the save failed."""
        self._new_row: SessionRow | None = None
        self._saving = False  # its final save started: that save settles the lease, not its caller
        self._attempted: tuple[JSON, JSON | None] | None = None  # the last save's run and session state
        self._announcing: asyncio.Task[Any] | None = None
        self._retrying: asyncio.Task[None] | None = None  # the owed save, tried again (``_save_retrying``)
        self._released = asyncio.Event()  # set once no save is owed: its lease is no longer renewed
        self._answered = asyncio.Event()  # set when a renewal landed: the database takes writes again
        self._unleased = False  # a renewal found the start record no longer stored RUNNING

    async def drive(self) -> AsyncGenerator[RunEvent, None]:
        """The run's events, the last one terminal unless the caller went away."""
        steps = self.steps
        try:
            try:
                self._new_row = await steps.open()
            except (StorageUnavailable, Conflict, UnreadableRecord) as error:
                self.refusal = error
                if self.announce is not None and not self.announce.done():
                    self.announce.set_result(error)
                kind = refusal_type(error, conflict_type=self._conflict_type)
                # Never stored, so never logged as saved runs are (``observability.run_log``): its
                # client was handed a run id and an error, and the log says so once too.
                runs_log.warning(
                    "run %s of %s ended error: %s: %s",
                    steps.record.run_id,
                    steps.label,
                    kind,
                    error.detail,
                    extra={"run_id": steps.record.run_id, "status": "error", "error_type": kind},
                )
                yield steps.unsaved(error.detail, error_type=kind, error_id=kind)
                return
            started = steps.record.add(steps.started())
            if self.announce is not None or self.takes_up is not None:
                refused = await self._store_start()
                if self.announce is not None and not self.announce.done():
                    self.announce.set_result(refused)
                if refused is not None:
                    self.refusal = refused
                    kind = self._conflict_type if isinstance(refused, Conflict) else STORAGE_ERROR_TYPE
                    yield steps.unsaved(refused.detail, error_type=kind, error_id=kind)
                    return
            yield started
            async with aclosing(steps.body()) as body:
                async for event in body:
                    yield event
            outcome = Outcome("COMPLETED")
        except Paused:
            outcome = Outcome("PAUSED")
        except (RunCancelled, asyncio.CancelledError) as error:
            if isinstance(error, asyncio.CancelledError) and not steps.handle.take_back_cancel():
                self._save_detached()
                raise
            outcome = Outcome("CANCELLED", reason=f"Run {steps.record.run_id} was cancelled")
        except GeneratorExit:
            self._save_detached()
            raise
        except Exception as error:  # the run boundary: a bug still ends the run, recorded as ERROR
            if not isinstance(error, steps.expected):
                log.exception("run %s of %s failed", steps.record.run_id, steps.label)
            outcome = Outcome("ERROR", error=error)
        async with aclosing(self._end(outcome)) as ending:
            async for event in ending:
                yield event

    @property
    def _conflict_type(self) -> str:
        """The ``error_type`` of a refusal for a ``Conflict``: the run's, when it takes one up, else the session's."""
        return RUN_CONFLICT_TYPE if self.takes_up is not None else SESSION_CONFLICT_TYPE

    async def _end(self, outcome: Outcome) -> AsyncGenerator[RunEvent, None]:
        """Finish the record, save it, and yield the terminal event (or why it was not saved)."""
        steps = self.steps
        try:
            ending = steps.end(outcome)
        except Exception:  # a bug in building the ending: the run cannot be stored as it is
            log.exception("run %s of %s could not be ended", steps.record.run_id, steps.label)
            self._released.set()
            yield steps.unsaved("the run could not be ended", error_type="RuntimeError", error_id=None)
            return
        try:
            for event in ending.forwarded:
                yield event
            for event in ending.before:
                yield steps.record.add(event)
        except GeneratorExit:
            self._save_detached()
            raise
        events = steps.record.events
        kept = len(events)
        steps.record.add(ending.last)
        failure = await self._save_or_failure(outcome)
        if failure is not None:
            # The run did not end as told before the save: its answer ends with why, not with that.
            del events[kept:]
            yield steps.record.add(failure)
            return
        yield ending.last

    async def _save_or_failure(self, outcome: Outcome) -> RunEvent | None:
        """Save the run that ended with ``outcome``; ``None`` once stored, else the error event
        that ends the run instead.

        The save runs in a task of its own (``_settled_save``): a caller cancelled meanwhile (a
        client going away, a shutdown) changes nothing of it nor of what follows from it (the
        lease, an owed save, ``RunSteps.saved``).
        """
        steps = self.steps
        self._saving = True
        settling = asyncio.get_running_loop().create_task(self._settled_save(outcome))
        self.registry.track(settling)
        failure = await asyncio.shield(settling)
        if failure is None:
            return None
        if isinstance(failure, StorageUnavailable):
            self.refusal = failure
            detail = f"the run could not be saved: {failure.detail}"
            return steps.unsaved(detail, error_type=STORAGE_ERROR_TYPE, error_id=STORAGE_ERROR_TYPE)
        if isinstance(failure, Conflict):  # the session became another user's since the run began
            self.refusal = failure
            detail = f"the run could not be saved: {failure.detail}"
            return steps.unsaved(detail, error_type=SESSION_CONFLICT_TYPE, error_id=SESSION_CONFLICT_TYPE)
        detail = f"the run could not be saved: {_save_failure(failure)}"
        return steps.unsaved(detail, error_type=type(failure).__name__, error_id=None)

    async def _settled_save(self, outcome: Outcome) -> Exception | None:
        """Store the run that ended with ``outcome``, and settle what follows from how that went;
        the failure, if any.

        A save refused while the database is away is owed (``_owe_save``: tried again, the lease
        kept meanwhile); otherwise the lease is released. A store refusing a value writes nothing:
        that failure is logged, and the run is not stored. A run stored is handed to what follows
        its save (``RunSteps.saved``: memory extraction), whose failure is only logged.
        """
        steps = self.steps
        try:
            await self._save()
        except _NeverStarted:
            log.info(
                "run %s of %s was never stored as started: its end is not stored", steps.record.run_id, steps.label
            )
            return None
        except StorageUnavailable as failure:
            self._owe_save(outcome)
            return failure
        except Conflict as failure:
            return failure
        except Exception as failure:
            log.exception("run %s of %s could not be saved", steps.record.run_id, steps.label)
            return failure
        finally:
            if not self._owing:
                self._released.set()
        self._after_save(outcome)
        return None

    def _after_save(self, outcome: Outcome) -> None:
        """Hand the run stored as it ended with ``outcome`` to what follows its save
        (``RunSteps.saved``: memory extraction), whose failure is only logged."""
        try:
            self.steps.saved(outcome)
        except Exception:  # what follows a save (memory extraction) never takes the run's end away
            log.exception("run %s of %s: the step after its save failed", self.steps.record.run_id, self.steps.label)

    @property
    def _owing(self) -> bool:
        """Whether a save of the run is owed: tried again later, its lease renewed meanwhile."""
        return self._retrying is not None and not self._retrying.done()

    def _owe_save(self, outcome: Outcome) -> None:
        """After a failed save of a run stored ``RUNNING`` as it started: try it again later."""
        if self._announcing is None or self._owing:
            return
        self._answered.clear()  # only a renewal landing from now on says the database is back
        self._retrying = asyncio.get_running_loop().create_task(self._save_retrying(outcome))
        self.registry.track(self._retrying)

    async def _store_start(self) -> AgentOSError | None:
        """Store the run as it starts (``RUNNING``, the session's state untouched), in place of the
        stored run when it ``takes_up`` one; why it could not be."""
        record = self.steps.record
        if self.sessions is None or self._new_row is None:
            return None
        stored = with_lease(record.to_dict(stored=True), now=self.registry.clock(), seconds=self.registry.lease_seconds)
        write: Coroutine[Any, Any, object]
        if self.takes_up is None:
            write = self.sessions.save_run(self._new_row, stored, session_state=None)
        else:
            write = _take_up(
                self.sessions, self._new_row.session_id, stored, status=self.takes_up, events=self.taken_events
            )
        save = asyncio.get_running_loop().create_task(write)
        self._announcing = save
        self.registry.track(save)
        try:
            await asyncio.shield(save)
        except (StorageUnavailable, Conflict) as error:
            return error
        except Exception as error:  # a store refusing a value writes nothing: the run is not started
            log.exception("run %s of %s could not be stored as started", record.run_id, self.steps.label)
            return AgentOSError(f"the run could not be saved: {_save_failure(error)}")
        self.registry.track(asyncio.get_running_loop().create_task(self._keep_lease(stored)))
        return None

    async def _keep_lease(self, stored: JSON) -> None:
        """Renew the lease of the run's start record (``stored``) every third of the registry's
        ``lease_seconds`` while the run goes on and then while its save is owed, until released;
        a renewal only replaces a record still ``RUNNING``. One that lands says the database takes
        writes again (``_answered``): an owed save is then tried at once."""
        sessions, row, registry = self.sessions, self._new_row, self.registry
        if sessions is None or row is None:
            return
        seconds = registry.lease_seconds
        failed_before = False
        while True:
            await registry.wait(seconds / 3, self._released)
            if self._released.is_set():
                return
            renewed = with_lease(stored, now=registry.clock(), seconds=seconds)
            try:
                still_running = await sessions.replace_run(row.session_id, renewed, status="RUNNING")
            except StorageUnavailable as error:
                log.warning(
                    "run %s of %s: its lease could not be renewed: %s", stored["run_id"], self.steps.label, error.detail
                )
                continue
            except Exception as error:
                # Renewed again at the next turn, as after a storage error: given up, the run would
                # be shown ended (its replica gone) while it still goes on. The traceback once.
                if failed_before:
                    log.warning(
                        "run %s of %s: its lease could not be renewed: %s",
                        stored["run_id"],
                        self.steps.label,
                        type(error).__name__,
                    )
                else:
                    log.exception("run %s of %s: its lease could not be renewed", stored["run_id"], self.steps.label)
                failed_before = True
                continue
            self._unleased = not still_running  # saved as it ended, or removed, meanwhile
            self._answered.set()  # an owed save is tried at once, or given up
            if self._unleased:
                return

    async def _save(self) -> None:
        """Store the run once; run in a task of its own (``_settled_save``, ``_save_quietly``), so a
        cancelled caller does not cut a write in half."""
        record = self.steps.record
        if self.sessions is None or self._new_row is None:
            record.saved = True
            return
        if self._announcing is not None:
            if not self._announcing.done():
                # The start's record must not land after the final one (a run cancelled while it was written).
                await asyncio.wait([self._announcing])
            if self._announcing.cancelled() or self._announcing.exception() is not None:
                # Never stored as started (refused: another request took the paused run up first;
                # or its write failed): nothing of it is stored, it would replace another's run.
                raise _NeverStarted
        stored = record.to_dict(stored=True)
        self._attempted = (stored, record.session_state)
        await self.sessions.save_run(self._new_row, stored, session_state=record.session_state)
        record.saved = True

    def _save_detached(self) -> None:
        """Record a run whose caller went away (disconnect, shutdown) as CANCELLED, in the background;
        a run refused as it started (told so, then left) stays unsaved."""
        steps = self.steps
        if self._saving:  # the save in flight settles it: releases the lease, or owes the save
            return
        if steps.record.saved or self._new_row is None or self.refusal is not None:
            self._released.set()
            return
        outcome = Outcome("CANCELLED", reason=CANCELLED_BY_CALLER)
        try:
            ending = steps.end(outcome)
        except Exception:
            log.exception("run %s of %s could not be ended", steps.record.run_id, steps.label)
            self._released.set()
            return
        for event in (*ending.before, ending.last):
            steps.record.add(event)
        if isinstance(self.sessions, NestedRunStore):  # kept at once: the outer run collects it as it unwinds
            self.sessions.keep(steps.record.to_dict(stored=True))
            steps.record.saved = True
            self._released.set()
            return
        try:
            task = asyncio.get_running_loop().create_task(self._save_quietly(outcome))
        except RuntimeError:
            log.warning("run %s of %s ended outside an event loop and was not saved", steps.record.run_id, steps.label)
            self._released.set()
            return
        self._saving = True
        self.registry.track(task)

    async def _save_retrying(self, outcome: Outcome) -> None:
        """Store a run stored as it started whose final save failed, once the database takes it again.

        Its start is stored ``RUNNING``, its lease renewed meanwhile (``_keep_lease``): until this
        succeeds whoever polls it sees it so, not ended. The run is stored as that save would have
        stored it (how it ended, not the storage error its followers were told), tried after each
        of the registry's ``save_retry_delays``, at once when a renewal lands (the database is
        back) or when the registry stops, and no more once a renewal finds the start record gone
        (that save landed after all, or the run was removed: ``_read_back`` tells which). Stored,
        it is handed to what follows a save (``_after_save``), as a save that landed at once is.
        Then the lease is released: given up, the run is shown ended once its lease expires.
        """
        steps, sessions, row, registry = self.steps, self.sessions, self._new_row, self.registry
        try:
            if sessions is None or row is None or self._attempted is None:
                return
            # What the failed save held: the run as it ended, not as the failure then finished it.
            stored, session_state = self._attempted
            for delay in registry.save_retry_delays:
                await registry.pause(delay, until=self._answered)
                if self._unleased:
                    await self._read_back(sessions, row.session_id, stored, outcome)
                    return
                self._answered.clear()
                try:
                    await sessions.save_run(row, stored, session_state=session_state)
                except StorageUnavailable:
                    if registry.stopping.is_set():
                        break
                    continue
                except Exception:
                    log.exception("run %s of %s could not be saved", steps.record.run_id, steps.label)
                    return
                log.info("run %s of %s saved on a later attempt", steps.record.run_id, steps.label)
                self._after_save(outcome)
                return
            log.warning(
                "run %s of %s could not be saved: it stays stored as it started, shown ended once its lease expires",
                steps.record.run_id,
                steps.label,
            )
        finally:
            self._released.set()

    async def _read_back(self, sessions: SessionStore, session_id: str, attempted: JSON, outcome: Outcome) -> None:
        """The start record of a run whose save is owed is gone: read the run back and, when it is
        stored as the failed save would have stored it (``read_back``: that save landed, its answer
        lost), hand it to what follows a save (``_after_save``). Removed, stored otherwise since, or
        not readable (the database away again), nothing more is done: it is only logged."""
        run_id, label = self.steps.record.run_id, self.steps.label
        try:
            session = await sessions.get_session(session_id)
        except StorageUnavailable as error:
            log.warning(
                "run %s of %s is no longer stored as it started, and could not be read back: %s",
                run_id,
                label,
                error.detail,
            )
            return
        except Exception:
            log.exception("run %s of %s is no longer stored as it started, and could not be read back", run_id, label)
            return
        found = read_back(session, attempted)
        if found == "saved":
            log.info("run %s of %s saved after all: its failed save had landed", run_id, label)
            self._after_save(outcome)
            return
        why = "removed meanwhile" if found == "gone" else "stored otherwise since"
        log.info("run %s of %s is no longer stored as it started: %s", run_id, label, why)

    async def _save_quietly(self, outcome: Outcome) -> None:
        """The save of a run whose caller went away, settled as a final save is (``_settled_save``:
        refused while the database is away, it is owed and tried again, its lease kept meanwhile)."""
        steps = self.steps
        failure = await self._settled_save(outcome)
        if isinstance(failure, StorageUnavailable | Conflict):
            later = "; it is tried again" if self._owing else ""
            log.warning(
                "cancelled run %s of %s could not be saved: %s%s",
                steps.record.run_id,
                steps.label,
                failure.detail,
                later,
            )


class _NeverStarted(Exception):
    """A run's final save given up: the record of its start was refused or failed to be written."""


async def _take_up(sessions: SessionStore, session_id: str, run: JSON, *, status: str, events: int | None) -> None:
    """Store ``run`` in place of its stored run while that has ``status`` (and ``events`` events,
    when given: the run as it was read); ``Conflict`` otherwise."""
    if not await sessions.replace_run(session_id, run, status=status, events=events):
        raise Conflict(f"run '{run['run_id']}' is no longer {status} as it was read: another request took it up first")


class RunWatch:
    """What the caller of ``execute`` learns of the run it started: its ``lifecycle`` once the run
    is registered (``complete`` reads its record and refusal) and, for a run in the background,
    ``started``: set once the run is stored as started, ``None`` or why it could not be."""

    def __init__(self, *, background: bool = False) -> None:
        self.lifecycle: Lifecycle | None = None
        self.started: asyncio.Future[AgentOSError | None] | None = (
            asyncio.get_running_loop().create_future() if background else None
        )

    @property
    def refusal(self) -> AgentOSError | None:
        """Why the run was not stored (``Lifecycle.refusal``); ``None`` before it was registered."""
        return self.lifecycle.refusal if self.lifecycle is not None else None

    @property
    def status(self) -> str:
        """The run's status, ``ERROR`` when it never got as far as registered."""
        return self.lifecycle.steps.record.status if self.lifecycle is not None else "ERROR"


async def execute(
    steps_for: Callable[[RunHandle], RunSteps],
    *,
    run_id: str,
    owner: RunOwner,
    sessions: SessionStore | None,
    registry: RunRegistry,
    watch: RunWatch | None = None,
    takes_up: str | None = None,
    taken_events: int | None = None,
) -> AsyncGenerator[RunEvent, None]:
    """Register the run, drive it through its lifecycle, and forget it when its events end.

    ``watch`` learns of the run (``RunWatch``); ``takes_up``: the status its stored run must
    still have (``Lifecycle.takes_up``), and ``taken_events`` its number of events.
    """
    handle = registry.start(run_id, owner, sessions=sessions)
    announce = watch.started if watch is not None else None
    try:  # registered from here: whatever fails, even building its steps, lets the run id go
        steps = steps_for(handle)
        lifecycle = Lifecycle(
            steps,
            sessions=sessions,
            registry=registry,
            announce=announce,
            takes_up=takes_up,
            taken_events=taken_events,
        )
        if watch is not None:
            watch.lifecycle = lifecycle
        async with aclosing(lifecycle.drive()) as events:
            async for event in events:
                yield event
    finally:
        registry.finish(handle)


async def complete(events: AsyncGenerator[RunEvent, None], watch: RunWatch) -> JSON:
    """Drain a run started with ``watch``; its output dict.

    Raises ``StorageUnavailable`` when the session could not be read or the run saved, and
    ``Conflict`` when the session is another component's.
    """
    async with aclosing(events) as running:
        async for _ in running:
            pass
    lifecycle = watch.lifecycle
    assert lifecycle is not None  # registered as the run's events began
    if lifecycle.refusal is not None:
        raise lifecycle.refusal
    return lifecycle.steps.record.to_dict()
