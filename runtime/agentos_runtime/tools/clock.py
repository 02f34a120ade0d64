"""The ``current_time`` built-in: the current time as ISO 8601, in UTC or a named time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentos_runtime.tools.tool import Tool

Clock = Callable[[], datetime]

PARAMETERS = {
    "type": "object",
    "properties": {
        "timezone": {
            "type": "string",
            "description": "IANA time zone name, e.g. `Europe/Paris`; UTC when omitted.",
        }
    },
    "required": [],
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_current_time(*, clock: Clock = utc_now) -> Tool:
    """The ``current_time`` tool; ``clock`` returns an aware UTC ``datetime`` (tests pin it)."""

    async def current_time(timezone: str | None = None) -> str:
        now = clock()
        if not timezone:
            return now.isoformat()
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone '{timezone}': use an IANA name such as Europe/Paris") from error
        return now.astimezone(zone).isoformat()

    return Tool("current_time", "Get the current date and time (ISO 8601).", PARAMETERS, current_time)
