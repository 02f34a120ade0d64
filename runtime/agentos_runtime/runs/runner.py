"""What agents, teams and workflows share at a run's entry: ``run`` streams, ``complete`` drains.

The kinds differ in the steps of one run (``Runner.new_run``: the kind's ``RunSteps``, with its
record, events and loop); registering the run under its owner and driving it through the
lifecycle (``runs.lifecycle``) is the same for all three, and so is starting one in the
background (``start_background``, ``runs.background``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from agentos_runtime.errors import Conflict
from agentos_runtime.runs import background
from agentos_runtime.runs.event_logs import LogOwner
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.lifecycle import RUN_CONFLICT_TYPE, RunSteps, RunWatch, complete, execute
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.registry import RunHandle, RunOwner, RunRegistry
from agentos_runtime.runs.requests import RunRequest
from agentos_runtime.storage.ports import SessionStore
from agentos_runtime.storage.records import events_held

if TYPE_CHECKING:
    from agentos_runtime.runs.pausing import PausedRun

JSON = dict[str, Any]


class StoredRecord(Protocol):
    """What a run's record tells of the run it is: its id, the message that started it, its metadata."""

    run_id: str
    input_content: str
    metadata: JSON | None


RecordT = TypeVar("RecordT", bound=StoredRecord)


class Runner(Generic[RecordT]):
    """A declared agent, team or workflow as its runs start.

    Subclasses give ``kind`` and what differs between the kinds: the run's record (``RecordT``:
    a new one, ``_new_record``, or a stored one taken up, ``_stored_record``), the run's steps
    around it (``_steps``) and the kind's error event (``_error_event``).
    """

    kind: ClassVar[Literal["agent", "team", "workflow"]]
    id: str
    sessions: SessionStore | None
    registry: RunRegistry

    @property
    def may_pause(self) -> bool:
        """Whether its runs may wait for a confirmation: stored by the component itself, to go on
        later, or, nested in another run (a team's member, a workflow's step), when that run may."""
        if isinstance(self.sessions, NestedRunStore):
            return self.sessions.may_pause
        return self.sessions is not None

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]:
        """The run's events, ending with the kind's completed, error or cancelled event."""
        return self._execute(request, stream=True, watch=None)

    async def complete(self, request: RunRequest) -> JSON:
        """Run without streaming; the kind's run output dict (``status`` ERROR when the run failed).

        Raises ``StorageUnavailable`` when the session could not be read or the run saved.
        """
        watch = RunWatch()
        return await complete(self._execute(request, stream=False, watch=watch), watch)

    async def start_background(self, request: RunRequest, *, stream: bool) -> background.Started:
        """Start the run in a task of its own; return once it is stored as started.

        ``stream``: its events are numbered and kept in a log (``runs.event_logs``) to follow.
        Raises ``Busy`` when too many runs go on in the background, and, without ``stream``,
        ``StorageUnavailable`` or ``Conflict`` when the run could not be stored (a streamed
        run's log tells that with its error event, as a streamed run does).
        """
        registry = self.registry
        background.check_room(registry)
        watch = RunWatch(background=True)
        events = self._execute(request, stream=stream, watch=watch)
        owner = LogOwner(self.kind, self.id, request.session_id)
        event_log = registry.event_logs.open(request.run_id, owner) if stream else None
        refusal = await background.start(
            events, watch=watch, registry=registry, logs=registry.event_logs, event_log=event_log
        )
        if refusal is not None and not stream:
            raise refusal
        return background.Started(request.run_id, request.session_id, event_log)

    def new_run(self, request: RunRequest, stream: bool, handle: RunHandle) -> RunSteps:
        """One run's steps as the lifecycle drives them (``stream``: the model streams its answer)."""
        return self._steps(request, self._new_record(request), handle, stream=stream)

    def continued_run(self, paused: PausedRun, stream: bool, handle: RunHandle) -> RunSteps:
        """The steps of a paused run going on (``runs.pausing``): its stored record taken up, and
        its stored message asked again, for the user who continues it."""
        record, options = self._stored_record(paused.run), paused.options
        request = RunRequest(
            message=record.input_content,
            session_id=paused.session_id,
            run_id=record.run_id,
            user_id=paused.user_id,
            metadata=options.metadata if options.metadata is not None else record.metadata,
            dependencies=options.dependencies,
            knowledge_filters=options.knowledge_filters,
            add_dependencies_to_context=options.add_dependencies_to_context,
            add_session_state_to_context=options.add_session_state_to_context,
        )
        return self._steps(request, record, handle, stream=stream, paused=paused)

    def conflict_event(self, paused: PausedRun, detail: str) -> RunEvent:
        """The kind's error event for a paused run another request took up first."""
        run_id, kind = str(paused.run["run_id"]), RUN_CONFLICT_TYPE
        return self._error_event(run_id, paused.session_id, detail, error_type=kind, error_id=kind)

    def _new_record(self, request: RunRequest) -> RecordT:
        """The record of a new run."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its runs are recorded")

    def _stored_record(self, run: JSON) -> RecordT:
        """The record of a stored ``PAUSED`` run, taken up again to go on."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its runs are recorded")

    def _steps(
        self, request: RunRequest, record: RecordT, handle: RunHandle, *, stream: bool, paused: PausedRun | None = None
    ) -> RunSteps:
        """One run's steps: a new run's, or (``paused``) those of a paused run going on."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its runs go")

    def _error_event(self, run_id: str, session_id: str, detail: str, *, error_type: str, error_id: str) -> RunEvent:
        """The kind's error event, for a run that does not go on."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its runs fail")

    async def continue_run(self, paused: PausedRun) -> AsyncIterator[RunEvent]:
        """The events of a paused run going on: the kind's continued event, the decided calls, the
        loop's, the last one. A run going on here already (another request continued it first)
        gets one error event."""
        try:
            async with aclosing(self._continue(paused, stream=True, watch=None)) as events:
                async for event in events:
                    yield event
        except Conflict as taken:  # only the registry's: the lifecycle answers the others in the stream
            yield self.conflict_event(paused, taken.detail)

    async def complete_continued(self, paused: PausedRun) -> JSON:
        """A paused run going on, without streaming; the kind's run output dict.

        Raises ``StorageUnavailable`` when it could not be read or saved, ``Conflict`` when it
        no longer waits (it went on elsewhere meanwhile).
        """
        watch = RunWatch()
        return await complete(self._continue(paused, stream=False, watch=watch), watch)

    def _continue(self, paused: PausedRun, *, stream: bool, watch: RunWatch | None) -> AsyncGenerator[RunEvent]:
        owner = RunOwner(self.kind, self.id, paused.session_id, paused.user_id)
        # The run's log of its streamed background start ended PAUSED: a resume now replays the
        # stored run, which the continue keeps up to date, not that pause.
        self.registry.event_logs.discard(str(paused.run["run_id"]))
        return execute(
            partial(self.continued_run, paused, stream),
            run_id=str(paused.run["run_id"]),
            owner=owner,
            sessions=self.sessions,
            registry=self.registry,
            watch=watch,
            # A nested run (a team's member) is taken up by its outer run's take-up, not its own.
            takes_up=None if isinstance(self.sessions, NestedRunStore) else "PAUSED",
            taken_events=events_held(paused.run),
        )

    def _execute(
        self,
        request: RunRequest,
        *,
        stream: bool,
        watch: RunWatch | None,
    ) -> AsyncGenerator[RunEvent, None]:
        owner = RunOwner(self.kind, self.id, request.session_id, request.user_id)
        return execute(
            partial(self.new_run, request, stream),
            run_id=request.run_id,
            owner=owner,
            sessions=self.sessions,
            registry=self.registry,
            watch=watch,
        )
