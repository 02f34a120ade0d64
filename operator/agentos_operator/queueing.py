"""When reconciles run: one at a time per resource, bursts merged, failures retried with backoff.

Many things ask for a reconcile: events of the resource, of its children and of referenced
Secrets, writes the watches never confirmed, and the resync. Asking is cheap and idempotent:
requests made before a reconcile of that resource starts are merged into it, so a burst of
watch events costs one follow-up reconcile, not one per event. A concurrency limit keeps a
resync of many resources from flooding the API server.

A reconcile that fails is retried with backoff, never abandoned: an API failure (an error
status, or no answer at all while the API server restarts), and as a last resort any other
exception, which is logged with its traceback. A server that throttles (429) or says when to
come back is not asked again sooner than it said.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from agentos_operator.kube.client import ApiError
from agentos_operator.metrics import Metrics
from agentos_operator.reconcile import Context, Outcome, reconcile_key
from agentos_operator.settings import OperatorSettings

Key = tuple[str, str]


def retry_delay(
    settings: OperatorSettings, *, failures: int, outcome: Outcome | None, retry_after: float | None = None
) -> float | None:
    """Pure: how long until a reconcile is retried after ``outcome`` (None: it failed); None means never.

    ``failures``: how many reconciles of the resource failed in a row, this one included.
    Delays double with each: a missing Secret's from ``secret_retry_seconds`` (its creation
    is watched and wakes the resource anyway), a failure's from ``error_retry_seconds``; both
    up to ``error_retry_max_seconds``. A failure the API server said to retry after
    ``retry_after`` seconds waits at least that long, within the same cap: a server that asks
    for an hour still gets asked again within the cap, as the resync would anyway.
    """
    attempt = max(failures - 1, 0)
    if outcome is None or outcome.verdict == "blocked":
        return max(settings.retry_delay(attempt), min(retry_after or 0.0, settings.error_retry_max_seconds))
    if outcome.verdict == "waiting":
        return float(min(settings.secret_retry_seconds * 2 ** min(attempt, 30), settings.error_retry_max_seconds))
    return None


class Reconciler:
    """Runs reconciles for the operator; create it inside the operator's event loop."""

    def __init__(self, ctx: Context, *, metrics: Metrics) -> None:
        self._ctx = ctx
        self._metrics = metrics
        self._slots = asyncio.Semaphore(ctx.settings.max_concurrent_reconciles)
        self._locks: dict[Key, asyncio.Lock] = {}
        self._pending: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, key: Key, *, delay: float = 0.0) -> None:
        """Ask for a reconcile of ``key``, now or after ``delay`` seconds; never blocks."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            timer = self._timers.get(key)
            if timer is not None and timer.when() <= loop.time() + delay:
                return  # an earlier retry is already planned
            if timer is not None:
                timer.cancel()
            self._timers[key] = loop.call_later(delay, self._fire, key)
            return
        if key in self._pending:
            return
        self._pending.add(key)
        task = asyncio.create_task(self._run_requested(key), name=f"reconcile {key[0]}/{key[1]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def retry_delay(self, key: Key, outcome: Outcome | None, *, retry_after: float | None = None) -> float | None:
        """How long until ``key`` is retried after ``outcome`` (None: it failed); see ``retry_delay``."""
        failures = self._failures.get(key, 1)
        return retry_delay(self._ctx.settings, failures=failures, outcome=outcome, retry_after=retry_after)

    def request_all(self, keys: Iterable[Key]) -> None:
        """Ask for a reconcile of each of ``keys``: a resync."""
        for key in list(keys):
            self.request(key)

    async def close(self) -> None:
        """Stop: cancel planned retries and running reconciles."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _lock(self, key: Key) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.request(key)

    async def _run_requested(self, key: Key) -> None:
        async with self._lock(key):
            if key not in self._pending:
                return  # a reconcile that started after this request already covered it
            retry_after = None
            try:
                outcome: Outcome | None = await self._run_locked(key)
            except ApiError as error:
                outcome, retry_after = None, error.retry_after
                if error.namespace_terminating:  # the namespace's deletion takes the resource with it
                    self._ctx.logger.info("reconcile of %s/%s waits for its namespace to be deleted", *key)
                else:
                    self._ctx.logger.warning("reconcile of %s/%s failed, will retry: %s", *key, error)
            except Exception:  # a bug must not stop this resource's reconciles for good
                outcome = None
                self._ctx.logger.exception("reconcile of %s/%s crashed, will retry", *key)
        if outcome is not None:
            self._forget_if_gone(key, outcome)
        delay = self.retry_delay(key, outcome, retry_after=retry_after)
        if delay is not None:
            self.request(key, delay=delay)

    async def _run_locked(self, key: Key) -> Outcome:
        self._pending.discard(key)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self._slots:
            try:
                outcome = await reconcile_key(*key, self._ctx)
            except Exception:
                self._failures[key] = self._failures.get(key, 0) + 1
                self._metrics.observe_reconcile("error", loop.time() - started)
                raise
        self._metrics.observe_reconcile(outcome.verdict, loop.time() - started)
        if outcome.verdict in ("blocked", "waiting"):
            self._failures[key] = self._failures.get(key, 0) + 1
        else:
            self._failures.pop(key, None)
        self._metrics.set_ready(key, None if outcome.verdict == "gone" else outcome.ready)
        return outcome

    def _forget_if_gone(self, key: Key, outcome: Outcome) -> None:
        # A deleted resource's lock would otherwise stay forever; a late waiter on it only sees "gone" again.
        if outcome.verdict == "gone" and not self._lock(key).locked():
            self._locks.pop(key, None)
