"""When a reconcile that failed against the API server is tried again.

The delay is a pure function of the settings, the failures in a row and what the server
asked (``Retry-After``); the reconciler is then run with a store that fails on demand.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import pytest
from agentos_operator.kube.client import UNAVAILABLE, ApiError, ApiUnavailableError
from agentos_operator.metrics import Metrics
from agentos_operator.queueing import Reconciler, retry_delay
from agentos_operator.reconcile import Context, Outcome
from agentos_operator.settings import OperatorSettings

from tests.operator.kopf.conftest import eventually

SETTINGS = OperatorSettings(error_retry_seconds=2, error_retry_max_seconds=60, secret_retry_seconds=30)
KEY = ("ns1", "demo")


def throttled(retry_after: float | None) -> ApiError:
    return ApiError(verb="patch", path="/x", status=429, reason="TooManyRequests", message="", retry_after=retry_after)


def test_a_failure_is_retried_after_a_delay_doubling_with_each_failure_in_a_row_up_to_the_cap() -> None:
    delays = [retry_delay(SETTINGS, failures=n, outcome=None) for n in (1, 2, 3, 6, 7, 50)]

    assert delays == [2, 4, 8, 60, 60, 60]


def test_a_failure_the_server_said_to_retry_later_waits_at_least_that_long() -> None:
    assert retry_delay(SETTINGS, failures=1, outcome=None, retry_after=7) == 7
    assert retry_delay(SETTINGS, failures=3, outcome=None, retry_after=7) == 8  # the backoff is longer already
    assert retry_delay(SETTINGS, failures=1, outcome=None, retry_after=0) == 2


def test_a_wait_asked_for_beyond_the_longest_retry_delay_is_capped() -> None:
    assert retry_delay(SETTINGS, failures=1, outcome=None, retry_after=3600) == 60


def test_only_failed_blocked_and_waiting_reconciles_are_retried() -> None:
    assert retry_delay(SETTINGS, failures=2, outcome=Outcome("blocked")) == 4
    assert retry_delay(SETTINGS, failures=2, outcome=Outcome("waiting")) == 60  # 30 s doubled, capped
    assert retry_delay(SETTINGS, failures=0, outcome=Outcome("converged")) is None
    assert retry_delay(SETTINGS, failures=0, outcome=Outcome("gone")) is None


class FlakyStore:
    """A store whose reads raise ``failures`` in turn, then find the resource gone; it notes when each read came."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.reads: list[float] = []

    async def get(self, *_: Any) -> None:
        self.reads.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)


def reconciler(store: FlakyStore, **settings: Any) -> Reconciler:
    context = Context(
        api=cast(Any, None),
        store=cast(Any, store),
        settings=OperatorSettings(**settings),
        logger=logging.getLogger("test.retry"),
    )
    return Reconciler(context, metrics=Metrics())


def test_the_reconcilers_delay_honours_the_servers_wait() -> None:
    queue = reconciler(FlakyStore(), error_retry_seconds=0.5, error_retry_max_seconds=10)

    assert queue.retry_delay(KEY, None) == 0.5
    assert queue.retry_delay(KEY, None, retry_after=3) == 3


async def test_a_reconcile_that_got_no_answer_is_retried_until_it_succeeds() -> None:
    lost = ApiUnavailableError(verb="get", path="/x", status=UNAVAILABLE, reason="Disconnected", message="")
    store = FlakyStore(lost, lost)
    queue = reconciler(store, error_retry_seconds=0.01, error_retry_max_seconds=0.05)

    queue.request(KEY)

    await eventually(lambda: len(store.reads) == 3, what="two retries")
    await queue.close()


async def test_a_throttled_reconcile_is_not_retried_before_the_servers_wait() -> None:
    store = FlakyStore(throttled(0.3))
    queue = reconciler(store, error_retry_seconds=0.01, error_retry_max_seconds=5)

    queue.request(KEY)

    await eventually(lambda: len(store.reads) == 2, what="the retry")
    await queue.close()
    assert store.reads[1] - store.reads[0] >= 0.3


async def test_a_reconcile_that_crashed_is_logged_with_its_traceback_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore(RuntimeError("a bug"))
    queue = reconciler(store, error_retry_seconds=0.01, error_retry_max_seconds=0.05)

    queue.request(KEY)

    await eventually(lambda: len(store.reads) == 2, what="the retry")
    await queue.close()
    crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert crashed and crashed[0].exc_info is not None
