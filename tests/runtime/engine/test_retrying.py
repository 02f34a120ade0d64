"""The retry rules of model requests: which answers are retried, and how long to wait."""

from __future__ import annotations

import email.utils

import pytest
from agentos_runtime.llm.retrying import MAX_RETRY_DELAY, retry_after, retry_delay, should_retry

NOW = 1_700_000_000.0


@pytest.mark.parametrize(("status", "retried"), [(408, True), (409, True), (429, True), (500, True), (503, True)])
def test_timeouts_conflicts_rate_limits_and_server_errors_are_retried(status: int, retried: bool) -> None:
    assert should_retry(status, {}, now=NOW) is retried


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert should_retry(status, {}, now=NOW) is False


def test_the_endpoints_own_verdict_wins_over_the_status() -> None:
    assert should_retry(400, {"x-should-retry": "true"}, now=NOW) is True
    assert should_retry(503, {"x-should-retry": "false"}, now=NOW) is False


def test_a_wait_longer_than_two_minutes_means_no_retry() -> None:
    assert should_retry(429, {"retry-after": "121"}, now=NOW) is False
    assert should_retry(429, {"retry-after": "120"}, now=NOW) is True


def test_retry_after_reads_milliseconds_first_then_seconds_then_a_date() -> None:
    date = email.utils.formatdate(NOW + 30, usegmt=True)

    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}, now=NOW) == 0.25
    assert retry_after({"retry-after": "1.5"}, now=NOW) == 1.5
    assert retry_after({"retry-after": date}, now=NOW) == pytest.approx(30, abs=1)
    assert retry_after({"retry-after": "soon"}, now=NOW) is None
    assert retry_after({}, now=NOW) is None


def test_the_delay_honours_the_endpoint_then_backs_off_exponentially_with_jitter() -> None:
    assert retry_delay(0, {"retry-after": "3"}, now=NOW, draw=0.9) == 3
    assert retry_delay(0, None, now=NOW, draw=0.0) == 0.5
    assert retry_delay(1, None, now=NOW, draw=0.0) == 1.0
    assert retry_delay(2, {"retry-after": "0"}, now=NOW, draw=0.0) == 2.0
    assert retry_delay(10, None, now=NOW, draw=0.0) == MAX_RETRY_DELAY
    assert retry_delay(1, None, now=NOW, draw=0.99) == pytest.approx(1.0 * (1 - 0.25 * 0.99))
