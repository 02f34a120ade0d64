"""Running an agent or a team inside another run: a team's member, a workflow's step.

The nested run is a copy of the declared agent or team persisting into a ``NestedRunStore``,
so it runs the ordinary loop but its ``RunOutput`` comes back to the outer run instead of
being written. Its events are forwarded (stamped with the outer run's ids) only when the
outer run streams them; otherwise it runs without streaming the model.

Cancelling the outer run reaches the nested one: while the outer run waits on a nested run it
is marked interruptible, so the registry's cancel interrupts the shared task, the nested run
records itself cancelled with its partial answer (handed to the outer run through
``run_nested``'s ``unfinished``) and the outer run ends with its own cancelled event. A client
that was following the nested run's events is told it ended too: its cancelled event (and
those of the runs nested in it that were cut with it) is kept in the job's ``unended``, for the
outer run to send before its own last event. Runs fanned out
with ``run_concurrently`` each get a task; the outer run waits on their merged events and
cancels the tasks when it stops waiting.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence, Set
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentos_runtime.errors import Conflict, StorageUnavailable, UnreadableRecord
from agentos_runtime.runs.events import RUN_CANCELLED, RUN_COMPLETED, RUN_ERROR, RunEvent
from agentos_runtime.runs.lifecycle import SESSION_CONFLICT_TYPE, refusal_type
from agentos_runtime.runs.loop import Agent
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.pausing import PausedRun
from agentos_runtime.runs.record import stored_list
from agentos_runtime.runs.registry import RunHandle
from agentos_runtime.runs.requests import RunRequest
from agentos_runtime.runs.team_events import TEAM_RUN_CANCELLED, TEAM_RUN_COMPLETED, TEAM_RUN_ERROR, stamped
from agentos_runtime.storage.ports import SessionStore

JSON = dict[str, Any]
# The events that end an agent's or a team's run.
TERMINAL_EVENTS = frozenset(
    {RUN_COMPLETED, RUN_ERROR, RUN_CANCELLED, TEAM_RUN_COMPLETED, TEAM_RUN_ERROR, TEAM_RUN_CANCELLED}
)


class Runnable(Protocol):
    """What runs: an ``Agent`` or a ``Team``."""

    id: str
    name: str

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]: ...

    async def complete(self, request: RunRequest) -> JSON: ...

    def continue_run(self, paused: PausedRun) -> AsyncIterator[RunEvent]: ...

    async def complete_continued(self, paused: PausedRun) -> JSON: ...


class NestableTeam(Runnable, Protocol):
    def persisting_into(self, store: SessionStore) -> Runnable:
        """A copy of the team whose runs are saved into ``store``."""
        ...


Executor = Agent | NestableTeam


def persisting_into(executor: Executor, store: SessionStore) -> Runnable:
    """A copy of ``executor`` (agent or team) whose runs are saved into ``store``."""
    if isinstance(executor, Agent):
        return Agent(
            executor.config,
            model=executor.model,
            tools=executor.tools,
            sessions=store,
            memories=executor.memories,
            registry=executor.registry,
            db_id=executor.db_id,
            knowledge=executor.knowledge_base,
        )
    return executor.persisting_into(store)


@dataclass(frozen=True)
class NestedJob:
    """One nested run: who runs, on what, and how the outer run sees it."""

    executor: Executor
    request: RunRequest
    forward: JSON | None = None
    """Fields stamped on each forwarded event; ``None`` runs silently (model not streamed)."""
    output_fields: JSON = field(default_factory=dict)
    """Fields added to the nested run's output (``parent_run_id``, ``workflow_step_id``)."""
    history: Sequence[JSON] = ()
    """Earlier runs of the executor it may replay as history."""
    unended: list[RunEvent] | None = None
    """Where a forwarded run cut short (by a cancel, an error beside it) leaves the cancelled
    events its client never saw; the outer run sends them as it ends."""
    may_pause: bool = False
    """Whether a call needing a confirmation in the nested run (a member agent's or team's, a step's)
    pauses it, and the outer run with it."""
    paused: PausedRun | None = None
    """A paused nested run going on (its ``run_id`` is the request's) instead of a new one."""


@dataclass(frozen=True)
class NestedOutput:
    """The ``RunOutput`` (or ``TeamRunOutput``) dict a nested run ended with."""

    output: JSON
    index: int = 0
    """The job's position in ``run_concurrently``."""


async def run_nested(
    job: NestedJob,
    *,
    parent: RunHandle | None,
    index: int = 0,
    unfinished: Callable[[JSON], None] | None = None,
) -> AsyncGenerator[RunEvent | NestedOutput, None]:
    """The forwarded events of ``job``, then its ``NestedOutput``.

    ``parent`` is the outer run's handle when the nested run shares its task: it is then
    interruptible while waiting on the nested run, and checked between its events (raising
    ``RunCancelled``). ``CancelledError`` propagates after the nested run recorded itself;
    ``unfinished`` is then handed its output (the nested run CANCELLED, with its partial
    answer), so the outer run can keep it.
    """
    store = NestedRunStore(history=job.history, may_pause=job.may_pause)
    runnable = persisting_into(job.executor, store)
    paused = job.paused
    ended: set[Any] = set()  # the runs whose last event was forwarded
    refusal: RunEvent | None = None  # the error event of a nested run refused before it was stored
    try:
        if job.forward is None:
            if parent is not None:
                parent.check()
                parent.interruptible = True
            try:
                await (runnable.complete(job.request) if paused is None else runnable.complete_continued(paused))
            except (StorageUnavailable, Conflict, UnreadableRecord) as error:
                # Refused at its opening (its memories' database down, its session unreadable):
                # a failed member or step, which the outer run reads, not the outer run's failure.
                if store.output(job.request.run_id) is not None:
                    raise
                name = RUN_ERROR if isinstance(job.executor, Agent) else TEAM_RUN_ERROR
                kind = refusal_type(error, conflict_type=SESSION_CONFLICT_TYPE)
                refusal = RunEvent(name, {"event": name, "content": error.detail, "error_type": kind})
            finally:
                if parent is not None:
                    parent.interruptible = False
        else:
            events_of = runnable.run(job.request) if paused is None else runnable.continue_run(paused)
            async with aclosing(events_of) as events:  # type: ignore[type-var]
                while True:
                    if parent is not None:
                        parent.check()
                        parent.interruptible = True
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    finally:
                        if parent is not None:
                            parent.interruptible = False
                    if event.event in TERMINAL_EVENTS:
                        ended.add(event.to_dict().get("run_id"))
                        own = event.to_dict().get("run_id") == job.request.run_id
                        if own and event.event in (RUN_ERROR, TEAM_RUN_ERROR):
                            refusal = event
                    yield stamped(event, job.forward)
    except BaseException:
        left = store.output(job.request.run_id)
        if left is not None:
            left.update(job.output_fields)
            if job.forward is not None and job.unended is not None:
                job.unended.extend(cancelled_events(left, job.forward, told=ended))
            if unfinished is not None:
                unfinished(left)
        raise
    output = store.output(job.request.run_id)
    if output is None and refusal is not None:
        output = refused_output(job, refusal)
    if output is None:
        raise RuntimeError(f"nested run {job.request.run_id} of '{job.executor.id}' ended without an output")
    output.update(job.output_fields)
    yield NestedOutput(output, index)


def refused_output(job: NestedJob, refusal: RunEvent) -> JSON:
    """Pure: the ERROR output of ``job``'s run, refused before it was stored (``refusal``: its error event)."""
    event = refusal.to_dict()
    request, executor = job.request, job.executor
    output: JSON = {
        "run_id": request.run_id,
        "session_id": request.session_id,
        "user_id": request.user_id,
        "status": "ERROR",
        "content": event.get("content"),
        "content_type": "str",
        "created_at": int(time.time()),
        "events": [event],
    }
    if isinstance(executor, Agent):
        output |= {"agent_id": executor.id, "agent_name": executor.name}
    else:
        output |= {"team_id": executor.id, "team_name": executor.name}
    return output


def cancelled_events(output: JSON, forward: JSON, *, told: Set[Any] = frozenset()) -> list[RunEvent]:
    """Pure: the cancelled events of ``output`` and of the runs nested in it, innermost first,
    for each one CANCELLED whose last event was not ``told`` (its run id), stamped with ``forward``.

    A run cut short by its outer run's cancel (or a failure beside it) records itself
    CANCELLED but cannot send its event any more; its client, which saw it start, is told so.
    """
    if output.get("status") != "CANCELLED" or output.get("run_id") in told:
        return []
    events: list[RunEvent] = []
    for nested in [*stored_list(output, "member_responses"), *stored_list(output, "step_executor_runs")]:
        events += cancelled_events(nested, {"parent_run_id": nested.get("parent_run_id")}, told=told)
    run_id = output.get("run_id")
    reason = f"Run {run_id} was cancelled"
    common: JSON = {"created_at": int(time.time()), "run_id": run_id, "session_id": output.get("session_id")}
    if output.get("team_id") is not None:
        name = TEAM_RUN_CANCELLED
        common |= {"team_id": output.get("team_id"), "team_name": output.get("team_name")}
    else:
        name = RUN_CANCELLED
        common |= {"agent_id": output.get("agent_id"), "agent_name": output.get("agent_name")}
    data = {"event": name, **common, "nested_depth": 0, "content": output.get("content") or reason, "reason": reason}
    events.append(RunEvent(name, data))
    return [stamped(event, forward) for event in events]


_DONE = object()


async def run_concurrently(
    jobs: Sequence[NestedJob],
    *,
    parent: RunHandle,
    unfinished: Callable[[int, JSON], None] | None = None,
) -> AsyncGenerator[RunEvent | NestedOutput]:
    """Every job at once, in its own task: their forwarded events as they come, and each output.

    ``parent`` (the outer run's handle) is interruptible while waiting and checked between
    items; leaving early (cancel, error, a client gone) cancels and awaits the tasks, each
    cut-short run handed to ``unfinished`` with its job's index (see ``run_nested``).
    """
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def drive(index: int, job: NestedJob) -> None:
        kept = functools.partial(unfinished, index) if unfinished is not None else None
        try:
            async with aclosing(run_nested(job, parent=None, index=index, unfinished=kept)) as items:
                async for item in items:
                    await queue.put(item)
        except BaseException as error:
            await queue.put(error)
            raise
        finally:
            await queue.put(_DONE)

    tasks = [asyncio.create_task(drive(index, job)) for index, job in enumerate(jobs)]
    try:
        remaining = len(tasks)
        while remaining:
            parent.check()
            parent.interruptible = True
            try:
                item = await queue.get()
            finally:
                parent.interruptible = False
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            elif isinstance(item, RunEvent | NestedOutput):
                yield item
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
