"""Timestamps as Agno's API writes them.

Rows and run dicts keep epoch seconds; the session and run *schemas* of ``/sessions``
carry ISO-8601 UTC strings ending in ``Z`` (what pydantic makes of an aware UTC datetime).
"""

from __future__ import annotations

from datetime import UTC, datetime

from agentos_runtime.epochs import utc_datetime


def iso_utc(epoch: object) -> str | None:
    """``1795489505`` as ``"2026-11-24T03:05:05Z"``; ``None`` stays ``None``, as does a stored
    value that is no time, and a time no date holds is the nearest one (``epochs.utc_datetime``)."""
    moment = utc_datetime(epoch)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    return datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
