"""Runs in flight, by id: so ``POST .../runs/{run_id}/cancel`` really stops one.

Each run registers a ``RunHandle`` holding the task that drives it. ``cancel(run_id)`` sets the
handle's flag, which the loop checks between events; when the run is waiting on the model or a
tool, the task is also cancelled so the wait ends now, and the loop (seeing its own flag) turns
that into a ``RunCancelled`` event and a CANCELLED run; a task is cancelled once, however many
of the runs it drives (an outer run and its nested one) are cancelled at once. Cancelling a run
that is not running records the intent, as AgentOS does: a run started later with that id is
cancelled at once.
A cancel sent to another replica (several behind one Service) is recorded in the run's session
store instead (``request_cancel``, by the route): while runs with a store go on, the registry
asks their stores every ``cancel_poll_seconds`` which of them were cancelled elsewhere
(``cancel_requested``: one read per store, whatever the number of runs, the stores at once, each
bounded by ``CANCEL_READ_SECONDS``) and cancels those here,
so such a cancel takes effect within about a second, and a run started later with that id (within
``CANCEL_INTENT_SECONDS``) is cancelled too.
``shutdown()`` cancels what is in flight and waits until it has been recorded. Runs started in
the background (``runs.background``) are counted here too: at most ``max_background`` at once.
A run may be
started with its ``RunOwner`` (component, session, user), which the API checks a cancel against
under user isolation: a stored run says whose it is, a run in flight only says it here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from agentos_runtime.errors import AgentOSError, Conflict
from agentos_runtime.runs.event_logs import EventLogs
from agentos_runtime.runs.leases import LEASE_SECONDS
from agentos_runtime.storage.ports import SessionStore

log = logging.getLogger(__name__)

# Cancel intents kept for runs not (yet) running; the oldest are forgotten first.
MAX_PENDING_CANCELS = 1024
# Runs going on in the background at once, unless the settings say otherwise (as Agno's default).
DEFAULT_MAX_BACKGROUND = 32
# The pauses before each new attempt to store a background run whose final save failed (its
# start is stored RUNNING: a poller would see it so for ever): about five minutes in all.
SAVE_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 60.0, 60.0, 60.0)
# How often the stores of runs going on are asked for cancels sent to other replicas.
CANCEL_POLL_SECONDS = 1.0
# How long a cancel sent for a run no replica runs yet waits for it to start (as AgentOS keeps an intent).
CANCEL_INTENT_SECONDS = 3600
# How long one store's read of cancels may take: the stores are read at once, so a slow or hung
# database delays the next round by this much at most, never the cancels another store holds.
CANCEL_READ_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class RunOwner:
    """Whose run it is: the component running it, its session and the user it runs for."""

    kind: Literal["agent", "team", "workflow"]
    component_id: str
    session_id: str
    user_id: str | None


class RunCancelled(Exception):
    """Raised inside a run loop whose run was cancelled through the registry."""


class RunHandle:
    """One run in flight."""

    __slots__ = (
        "cancel_requested",
        "finished",
        "interrupted",
        "interruptible",
        "owner",
        "run_id",
        "sessions",
        "task",
    )

    def __init__(
        self,
        run_id: str,
        task: asyncio.Task[Any] | None,
        finished: asyncio.Future[None],
        owner: RunOwner | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        self.run_id = run_id
        self.task = task
        self.finished = finished
        self.owner = owner
        self.sessions = sessions
        """The store a cancel sent to another replica is recorded in (``None``: this replica's only)."""
        self.cancel_requested = False
        self.interruptible = False
        """True while the run waits on the model or a tool: a cancel may then interrupt the task."""
        self.interrupted = False
        """True once the registry cancelled the task (so the loop can tell its own cancel apart)."""

    def check(self) -> None:
        """Raise ``RunCancelled`` if the run was cancelled."""
        if self.cancel_requested:
            raise RunCancelled(self.run_id)

    def take_back_cancel(self) -> bool:
        """Called on ``CancelledError`` in the run's task: whether it is only the registry's.

        The registry cancels the task to end a wait on the model or a tool; that cancellation is
        taken back here (so the run can save itself and emit ``RunCancelled``). Any other one (a
        client going away, a server shutting down, a timeout) is never swallowed: ``False``.
        """
        task = asyncio.current_task()
        if not self.interrupted or task is None or task is not self.task or task.cancelling() != 1:
            return False
        task.uncancel()
        return True


class RunRegistry:
    """The runs in flight of this process, and the time they go by.

    ``clock`` (Unix seconds) dates the leases of runs stored as they start (``runs.leases``);
    ``sleep`` is how the waits between their renewals and between attempts to save them pass;
    ``cancel_poll_seconds``: how often cancels sent to other replicas are read (``None``: never).
    """

    def __init__(
        self,
        *,
        max_background: int = DEFAULT_MAX_BACKGROUND,
        save_retry_delays: tuple[float, ...] = SAVE_RETRY_DELAYS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cancel_poll_seconds: float | None = None,
    ) -> None:
        self._active: dict[str, RunHandle] = {}
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()
        self.max_background = max_background
        self._background_runs: set[asyncio.Task[Any]] = set()
        self.event_logs = EventLogs()
        """The events of this process's streamed background runs, for clients that resume them."""
        self.save_retry_delays = save_retry_delays
        self.lease_seconds = LEASE_SECONDS
        """How long a run stored as it starts stays ``RUNNING`` to readers without a renewal (``runs.leases``)."""
        self.stopping = asyncio.Event()
        """Set by ``shutdown``: what waits between attempts (``pause``) stops waiting."""
        self.clock = clock
        self._sleep = sleep
        self.cancel_poll_seconds = cancel_poll_seconds
        """How often the stores of runs going on are asked for cancels sent to other replicas
        (``None``: never, for a registry alone in its process, as in tests of one replica)."""
        self._watched = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._unread_stores: set[int] = set()

    def start(self, run_id: str, owner: RunOwner | None = None, *, sessions: SessionStore | None = None) -> RunHandle:
        """Register a run driven by the current task; raises ``Conflict`` if the id is running.

        ``sessions``: where a cancel sent to another replica is recorded for it (watched while it runs).
        """
        if run_id in self._active:
            raise Conflict(f"run '{run_id}' is already running")
        loop = asyncio.get_running_loop()
        handle = RunHandle(run_id, asyncio.current_task(), loop.create_future(), owner, sessions)
        if run_id in self._pending:
            del self._pending[run_id]
            handle.cancel_requested = True
        self._active[run_id] = handle
        if sessions is not None and self.cancel_poll_seconds is not None and not self.stopping.is_set():
            self._watched.set()
            if self._watcher is None or self._watcher.done():
                self._watcher = loop.create_task(self._watch_cancels())
        return handle

    async def _watch_cancels(self) -> None:
        """Until shutdown: while runs with a store go on, cancel those cancelled on another replica."""
        while not self.stopping.is_set() and self.cancel_poll_seconds is not None:
            await self.pause(self.cancel_poll_seconds)
            watched = self._watched_runs()
            if not watched:
                self._watched.clear()
                await self.pause(CANCEL_INTENT_SECONDS, until=self._watched)
                continue
            await asyncio.gather(*(self._cancel_requested_in(store, run_ids) for store, run_ids in watched))

    def _watched_runs(self) -> list[tuple[SessionStore, list[str]]]:
        """The runs in flight that have a store, grouped by store."""
        by_store: dict[int, tuple[SessionStore, list[str]]] = {}
        for run_id, handle in self._active.items():
            if handle.sessions is not None and not handle.cancel_requested:
                by_store.setdefault(id(handle.sessions), (handle.sessions, []))[1].append(run_id)
        return list(by_store.values())

    async def _cancel_requested_in(self, store: SessionStore, run_ids: list[str]) -> None:
        """Cancel the runs of ``store`` cancelled on another replica; an outage (or a read past
        ``CANCEL_READ_SECONDS``) is logged once until the store answers again."""
        try:
            cancelled = await asyncio.wait_for(store.cancel_requested(run_ids), CANCEL_READ_SECONDS)
        except Exception as error:  # an outage: runs go on, and the next poll asks again
            if id(store) not in self._unread_stores:
                reason = error.detail if isinstance(error, AgentOSError) else type(error).__name__
                if isinstance(error, TimeoutError):
                    reason = f"no answer within {CANCEL_READ_SECONDS:g} s"
                log.warning("cancels sent to other replicas cannot be read now (%s): asking again", reason)
            self._unread_stores.add(id(store))
            return
        if id(store) in self._unread_stores:
            log.info("cancels sent to other replicas are read again")
            self._unread_stores.discard(id(store))
        for run_id in cancelled:
            if run_id in self._active:
                log.info("run '%s' cancelled on another replica", run_id)
                self.cancel(run_id)

    def finish(self, handle: RunHandle) -> None:
        if self._active.get(handle.run_id) is handle:
            del self._active[handle.run_id]
        if not handle.finished.done():
            handle.finished.set_result(None)

    def is_running(self, run_id: str) -> bool:
        return run_id in self._active

    def running(self, run_id: str) -> RunHandle | None:
        """The handle of the run in flight with this id; ``None`` when none is running."""
        return self._active.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run; ``True`` if it was running, ``False`` if only the intent was recorded."""
        handle = self._active.get(run_id)
        if handle is None:
            self._pending[run_id] = None
            self._pending.move_to_end(run_id)
            while len(self._pending) > MAX_PENDING_CANCELS:
                self._pending.popitem(last=False)
            return False
        handle.cancel_requested = True
        task = handle.task
        # A nested run (a team's member, a workflow's step) shares its outer run's task: a task
        # being cancelled already (the other run's cancel, a client gone) is not cancelled twice,
        # or neither run could take that cancel back and the stream would end without its event.
        if handle.interruptible and not handle.interrupted and task is not None and not task.done():
            if task.cancelling() == 0:
                handle.interrupted = True
                task.cancel()
        return True

    def cancel_all(self) -> int:
        """Cancel every run in flight; how many there were."""
        running = list(self._active)
        for run_id in running:
            self.cancel(run_id)
        return len(running)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep a background task (a detached save) alive and awaited by ``shutdown``."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def pause(self, seconds: float, *, until: asyncio.Event | None = None) -> None:
        """Wait ``seconds``, or less once the registry is stopping or ``until`` is set."""
        await self.wait(seconds, self.stopping, *(() if until is None else (until,)))

    async def wait(self, seconds: float, *events: asyncio.Event) -> None:
        """Wait ``seconds`` (with the registry's ``sleep``), or less once one of ``events`` is set."""
        if any(event.is_set() for event in events):
            return
        loop = asyncio.get_running_loop()
        waits = {loop.create_task(_slept(self._sleep, seconds)), *(loop.create_task(event.wait()) for event in events)}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def has_background_room(self) -> bool:
        """Whether one more run may start in the background."""
        return len(self._background_runs) < self.max_background

    def track_background_run(self, task: asyncio.Task[Any]) -> None:
        """Keep a run going in the background alive, counted, and awaited by ``shutdown``."""
        self._background_runs.add(task)
        task.add_done_callback(self._background_runs.discard)
        self.track(task)

    async def settle_background_runs(self, *, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) for the runs going on in the background; whether they all ended."""
        runs = set(self._background_runs)
        if runs and timeout > 0:
            await asyncio.wait(runs, timeout=timeout)
        return not self._background_runs

    async def shutdown(self, *, timeout: float) -> bool:
        """Cancel every run in flight and wait (up to ``timeout`` s) until each is recorded.

        Returns ``True`` when everything finished in time.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        self.stopping.set()
        if self._watcher is not None:
            self._watcher.cancel()
        self.cancel_all()
        runs = [handle.finished for handle in self._active.values()]
        if runs:
            await asyncio.wait(runs, timeout=timeout)
        # Saves detached by runs that ended on a disconnect (started while the runs wound down).
        saves = set(self._background)
        remaining = deadline - asyncio.get_running_loop().time()
        if saves and remaining > 0:
            await asyncio.wait(saves, timeout=remaining)
        return not self._active and not self._background


async def _slept(sleep: Callable[[float], Awaitable[None]], seconds: float) -> None:
    await sleep(seconds)
