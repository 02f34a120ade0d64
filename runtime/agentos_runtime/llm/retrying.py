"""When a failed model request is tried again, and after how long: the OpenAI SDK's rules, as data.

Retried: connection errors and timeouts, 408, 409, 429 and 5xx, unless the endpoint says
otherwise with ``x-should-retry`` or asks for a wait longer than two minutes. Never retried:
anything else (a 401 above all). The wait is what ``retry-after-ms`` / ``retry-after`` (seconds
or an HTTP date) ask, when between 0 and two minutes, else an exponential backoff from 0.5 s
doubling to at most 8 s, less a random 0-25 %. Pure functions: the caller passes the headers,
the clock and the random draw.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# Longest server-directed wait honoured; a longer one means "do not retry".
MAX_RETRY_AFTER_DELAY = 120.0
RETRIED_STATUSES = frozenset({408, 409, 429})


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds the endpoint asks to wait (``retry-after-ms``, then ``retry-after``); ``None`` if unsaid."""
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in ("inf", "+inf", "infinity", "+infinity"):
            return MAX_RETRY_AFTER_DELAY + 1  # an overflowing number is an excessive wait, not a bad one
        return delay / divisor
    date = headers.get("retry-after")
    if date is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(date)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - now)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def should_retry(status: int, headers: Mapping[str, str], *, now: float) -> bool:
    """Whether an error ``status`` answer is worth another attempt."""
    wait = retry_after(headers, now=now)
    if wait is not None and math.isfinite(wait) and wait > MAX_RETRY_AFTER_DELAY:
        return False
    verdict = headers.get("x-should-retry")
    if verdict in ("true", "false"):
        return verdict == "true"
    return status in RETRIED_STATUSES or status >= 500


def retry_delay(retries_done: int, headers: Mapping[str, str] | None, *, now: float, draw: float) -> float:
    """Seconds to wait before retry number ``retries_done + 1``; ``draw`` is uniform in [0, 1)."""
    wait = retry_after(headers, now=now) if headers is not None else None
    if wait is not None and math.isfinite(wait) and 0 < wait <= MAX_RETRY_AFTER_DELAY:
        return wait
    backoff = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_done, 1000), MAX_RETRY_DELAY)
    return max(backoff * (1 - 0.25 * draw), 0.0)
