"""Epoch seconds as dates, for any stored value: pure.

Rows and run dicts keep times as epoch seconds, and not all of them were written by this
runtime: another writer's or damaged data may hold a time no date can (past year 9999, before
year 1), ``NaN``, or no number at all. Such a time is read as the nearest date there is, or as
none, never as a failure of the read that meets it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

# The first and the last second a ``datetime`` can hold, in epoch seconds.
FIRST_EPOCH = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
LAST_EPOCH = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())


def utc_datetime(epoch: object) -> datetime | None:
    """``epoch`` as an aware UTC datetime, held between year 1 and year 9999; ``None`` for a
    value that is no number (``NaN``, a string, a boolean)."""
    seconds = epoch_seconds(epoch)
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def epoch_seconds(value: object) -> float | None:
    """``value`` as epoch seconds a date holds (the nearest such for one past them, however
    large: an integer past any float included); ``None`` for a value that is no number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return min(max(value, FIRST_EPOCH), LAST_EPOCH)
