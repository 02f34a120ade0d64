"""kopf's retried API requests are WARNINGs; the attempt that gives up stays an ERROR."""

from __future__ import annotations

import logging

import pytest
from agentos_operator.running import RetriedRequests


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    "message",
    [
        "Request attempt #1/9 failed; will retry: GET https://10.0.0.1/api -> ClientConnectorError()",
        "Request attempt #2/9 failed; TCP closed; will re-authenticate: GET https://10.0.0.1/api",
    ],
)
def test_an_attempt_kopf_retries_is_a_warning(message: str) -> None:
    retried = record(logging.ERROR, message)

    assert RetriedRequests().filter(retried) is True
    assert (retried.levelno, retried.levelname) == (logging.WARNING, "WARNING")


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (logging.ERROR, "Request attempt #9/9 failed; escalating: GET https://10.0.0.1/api -> ClientConnectorError()"),
        (logging.ERROR, "Handler 'reconcile' failed; will retry: boom"),
        (logging.DEBUG, "Request attempt #2/9: GET https://10.0.0.1/api"),
    ],
)
def test_everything_else_keeps_its_level(level: int, message: str) -> None:
    kept = record(level, message)

    assert RetriedRequests().filter(kept) is True
    assert kept.levelno == level
