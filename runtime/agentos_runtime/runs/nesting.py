"""Running an agent or a team inside another run: a team's member, a workflow's step.

The nested run is a copy of the declared agent or team persisting into a ``NestedRunStore``,
so it runs the ordinary loop but its ``RunOutput`` comes back to the outer run instead of
being written. Its events are forwarded (stamped with the outer run's ids) only when the
outer run streams them; otherwise it runs without streaming the model.

Cancelling the outer run reaches the nested one: while the outer run waits on a nested run it
is marked interruptible, so the registry's cancel interrupts the shared task, the nested run
records itself cancelled with its partial answer (handed to the outer run through
``run_nested``'s ``unfinished``) and the outer run ends with its own cancelled event. Runs fanned out
with ``run_concurrently`` each get a task; the outer run waits on their merged events and
cancels the tasks when it stops waiting.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.loop import Agent, RunRequest
from agentos_runtime.runs.nested_store import NestedRunStore
from agentos_runtime.runs.registry import RunHandle
from agentos_runtime.runs.team_events import stamped
from agentos_runtime.storage.ports import SessionStore

JSON = dict[str, Any]


class Runnable(Protocol):
    """What runs: an ``Agent`` or a ``Team``."""

    id: str
    name: str

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]: ...

    async def complete(self, request: RunRequest) -> JSON: ...


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
    store = NestedRunStore(history=job.history)
    runnable = persisting_into(job.executor, store)
    try:
        if job.forward is None:
            if parent is not None:
                parent.check()
                parent.interruptible = True
            try:
                await runnable.complete(job.request)
            finally:
                if parent is not None:
                    parent.interruptible = False
        else:
            async with aclosing(runnable.run(job.request)) as events:  # type: ignore[type-var]
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
                    yield stamped(event, job.forward)
    except BaseException:
        left = store.output(job.request.run_id)
        if unfinished is not None and left is not None:
            left.update(job.output_fields)
            unfinished(left)
        raise
    output = store.output(job.request.run_id)
    if output is None:
        raise RuntimeError(f"nested run {job.request.run_id} of '{job.executor.id}' ended without an output")
    output.update(job.output_fields)
    yield NestedOutput(output, index)


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
