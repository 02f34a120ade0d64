"""Runs started in the background: answered at once, going on without their client.

``start`` runs one run's events in a task of its own, not the request's: a client that goes
away neither cancels nor holds it. The run is registered as every run is (so ``cancel`` stops
it and ``RunRegistry.shutdown`` ends it, recorded CANCELLED), counted among the registry's
background runs (``Busy`` beyond ``max_background``), and stored as ``RUNNING`` as it starts
(``RunWatch.started``), so it can be polled from any replica sharing the database until its
final record replaces that one. With a log (``stream=true``), each event is numbered and kept
there for the client that started the run and for those that resume it (``runs.event_logs``).

Nothing here is durable: a replica that dies leaves its background runs stored ``RUNNING``,
shown ended to readers once their lease expires (``runs.leases``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

from agentos_runtime.errors import AgentOSError, Busy
from agentos_runtime.runs.event_logs import EventLog, EventLogs
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.lifecycle import RunWatch
from agentos_runtime.runs.registry import RunRegistry

log = logging.getLogger(__name__)

# What a client told the limit is reached should wait before trying again.
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Started:
    """A run going on in the background: its ids, and its log when it streams."""

    run_id: str
    session_id: str
    log: EventLog | None


def check_room(registry: RunRegistry) -> None:
    """Raise ``Busy`` (503) when ``registry.max_background`` runs already go on in the background."""
    if not registry.has_background_room():
        raise Busy(
            f"{registry.max_background} runs are already going on in the background: try again later, "
            "or run without background",
            retry_after=RETRY_AFTER_SECONDS,
        )


async def start(
    events: AsyncGenerator[RunEvent, None],
    *,
    watch: RunWatch,
    registry: RunRegistry,
    logs: EventLogs,
    event_log: EventLog | None,
) -> AgentOSError | None:
    """Drive ``events`` (a run started with ``watch``, a background one) in a task of its own.

    Returns once the run is stored as started: ``None``, or why it was refused (not stored; with
    a log, the log holds the run's error event). The caller checked the room (``check_room``).
    """
    started = watch.started
    assert started is not None  # a watch of a run in the background
    task = asyncio.get_running_loop().create_task(_drive(events, watch, started, logs, event_log))
    registry.track_background_run(task)
    return await asyncio.shield(started)


async def _drive(
    events: AsyncGenerator[RunEvent, None],
    watch: RunWatch,
    announce: asyncio.Future[AgentOSError | None],
    logs: EventLogs,
    event_log: EventLog | None,
) -> None:
    """The run's task: its events into its log (when it has one), until the run ends."""
    try:
        async with aclosing(events) as running:
            async for event in running:
                if event_log is not None:
                    event_log.append(event)
    except Exception as error:  # the task's boundary: nobody awaits it (a run id already running)
        if not announce.done():
            announce.set_result(error if isinstance(error, AgentOSError) else AgentOSError(str(error)))
        else:
            log.exception("a run in the background failed outside its lifecycle")
    finally:
        if not announce.done():  # ended before it could be stored (cancelled at once)
            announce.set_result(watch.refusal or AgentOSError("the run ended before it started"))
        if event_log is not None:
            logs.close(event_log, watch.status)
