"""When reconciles run: one at a time per resource, bursts merged, failures retried with backoff.

Many things ask for a reconcile: events of the resource, of its children and of referenced
Secrets, writes the watches never confirmed, and the resync. Asking is cheap and idempotent:
requests made before a reconcile of that resource starts are merged into it, so a burst of
watch events costs one follow-up reconcile, not one per event. A fixed pool of workers keeps
a resync of many resources from flooding the API server; each resource asked for costs an
entry in its queue, not a task of its own.

A reconcile that fails is retried with backoff, never abandoned: an API failure (an error
status, or no answer at all while the API server restarts), and as a last resort any other
exception, which is logged with its traceback. A server that throttles (429) or says when to
come back is not asked again sooner than it said. Refusals (403) the reconcile still waits out
(``reconcile.RefusedForNowError``) are logged at info: nothing may be wrong yet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

from agentos_operator.kube.client import ApiConflictError, ApiError
from agentos_operator.metrics import Metrics
from agentos_operator.reconcile import Context, Outcome, RefusedForNowError, reconcile_key
from agentos_operator.settings import OperatorSettings

Key = tuple[str, str]
# How one resource is reconciled: ``reconcile_key``, or a stand-in in tests.
ReconcileKey = Callable[[str, str, Context], Awaitable[Outcome]]


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
    """Runs reconciles for the operator: a fixed pool of workers takes the resources asked for in turn.

    A resource is queued at most once: requests made while it waits are merged into its next
    reconcile. One asked for again while its reconcile runs is queued once more when that ends,
    so it is never reconciled twice at a time and never misses a change made during a reconcile.
    The pool (``max_concurrent_reconciles`` workers, started at the first request) bounds the
    reconciles at once, and a cold start or a resync of thousands costs one queue entry each, not
    a task each. Create it inside the operator's event loop.
    """

    def __init__(self, ctx: Context, *, metrics: Metrics, reconcile: ReconcileKey = reconcile_key) -> None:
        self._ctx = ctx
        self._metrics = metrics
        self._reconcile = reconcile
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._asked: set[Key] = set()  # asked for, not started yet: in the queue unless running
        self._running: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False

    def request(self, key: Key, *, delay: float = 0.0) -> None:
        """Ask for a reconcile of ``key``, now or after ``delay`` seconds; never blocks. Ignored once closed."""
        if self._closed:
            return
        if delay > 0:
            loop = asyncio.get_running_loop()
            timer = self._timers.get(key)
            if timer is not None and timer.when() <= loop.time() + delay:
                return  # an earlier retry is already planned
            if timer is not None:
                timer.cancel()
            self._timers[key] = loop.call_later(delay, self._fire, key)
            return
        if key in self._asked:
            return
        self._asked.add(key)
        if key not in self._running:  # a running one is queued again when it ends
            self._queue.put_nowait(key)
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"reconciler {n}")
                for n in range(self._ctx.settings.max_concurrent_reconciles)
            ]

    def retry_delay(self, key: Key, outcome: Outcome | None, *, retry_after: float | None = None) -> float | None:
        """How long until ``key`` is retried after ``outcome`` (None: it failed); see ``retry_delay``."""
        failures = self._failures.get(key, 1)
        return retry_delay(self._ctx.settings, failures=failures, outcome=outcome, retry_after=retry_after)

    def request_all(self, keys: Iterable[Key]) -> None:
        """Ask for a reconcile of each of ``keys``: a resync."""
        for key in list(keys):
            self.request(key)

    async def close(self) -> None:
        """Stop: cancel planned retries and running reconciles, drop queued ones; later requests are ignored."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._asked.clear()

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.request(key)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._asked.discard(key)
            self._running.add(key)
            try:
                await self._run(key)
            except Exception:  # a bug after a reconcile must not take this worker from the pool for good
                self._ctx.logger.exception("reconcile of %s/%s could not be concluded, will retry", *key)
                self.request(key, delay=self._ctx.settings.error_retry_max_seconds)
            finally:
                self._running.discard(key)
                if key in self._asked and not self._closed:
                    self._queue.put_nowait(key)

    async def _run(self, key: Key) -> None:
        retry_after = None
        try:
            outcome: Outcome | None = await self._reconcile_once(key)
        except RefusedForNowError as error:  # perhaps an RBAC change under way, or an API server just started
            outcome = None
            self._ctx.logger.info("reconcile of %s/%s %s; will retry", *key, error)
        except ApiError as error:
            outcome, retry_after = None, error.retry_after
            if error.namespace_terminating:  # the namespace's deletion takes the resource with it
                self._ctx.logger.info("reconcile of %s/%s waits for its namespace to be deleted", *key)
            elif isinstance(error, ApiConflictError):
                # A write guarded by the version it read, refused as the object changed meanwhile
                # (a Deployment's controller writing its status during a rollout): read again on
                # the retry, nothing wrong. One lasting past the grace is reported in the status.
                self._ctx.logger.info("reconcile of %s/%s met a change made meanwhile, will retry: %s", *key, error)
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

    async def _reconcile_once(self, key: Key) -> Outcome:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outcome = await self._reconcile(*key, self._ctx)
        except Exception:
            self._failures[key] = self._failures.get(key, 0) + 1
            self._metrics.observe_reconcile("error", loop.time() - started)
            raise
        self._metrics.observe_reconcile(outcome.verdict, loop.time() - started)
        if outcome.verdict in ("blocked", "waiting"):
            self._failures[key] = self._failures.get(key, 0) + 1
        else:
            self._failures.pop(key, None)
        # A resource another operator instance serves is not counted here: that instance counts it.
        self._metrics.set_ready(key, None if outcome.verdict in ("gone", "elsewhere") else outcome.ready)
        return outcome

    def _forget_if_gone(self, key: Key, outcome: Outcome) -> None:
        # A deleted resource keeps no state here (a retry planned before it went would only find
        # it gone again) nor in the context (what was told of it, refusals timed).
        if outcome.verdict == "gone":
            self._ctx.forget(key)
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()
