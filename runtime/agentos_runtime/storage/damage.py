"""Stored records that cannot be read (``records.DamagedRecord``), handled once for every backend.

A listing leaves such a record out and logs one warning line naming the database, the kind of
record and its id (``readable``), so one damaged row never hides every other one. A call that
reads it directly (a read, an edit, a run on that session) raises ``UnreadableRecord`` naming the
database: each backend's ``Database`` wraps its stores with ``naming_damage`` for that.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from agentos_runtime.errors import UnreadableRecord
from agentos_runtime.storage.records import DamagedRecord

S = TypeVar("S")
T = TypeVar("T")

logger = logging.getLogger("agentos_runtime.storage")


def unreadable(db_id: str, damaged: DamagedRecord) -> UnreadableRecord:
    return UnreadableRecord(db_id=db_id, kind=damaged.kind, record_id=damaged.record_id, reason=damaged.reason)


def left_out(db_id: str, damaged: DamagedRecord) -> None:
    """Log that a listing left ``damaged`` out: one line, its reason, never its content."""
    logger.warning(
        "database '%s': stored %s '%s' was left out of a listing: it cannot be read (%s): delete it or restore it",
        db_id,
        damaged.kind,
        damaged.record_id,
        damaged.reason,
    )


def readable(db_id: str, decode: Callable[[S], T], stored: Iterable[S]) -> list[T]:
    """``decode`` of each stored item, those that cannot be read left out (``left_out``)."""
    found: list[T] = []
    for item in stored:
        try:
            found.append(decode(item))
        except DamagedRecord as damaged:
            left_out(db_id, damaged)
    return found


class _NamingDamage:
    """Forwards to ``store``; a coroutine method's ``DamagedRecord`` becomes ``UnreadableRecord``."""

    def __init__(self, store: Any, db_id: str) -> None:
        self._store = store
        self._db_id = db_id

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not inspect.iscoroutinefunction(found):
            return found

        @functools.wraps(found)
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await found(*args, **kwargs)
            except DamagedRecord as damaged:
                raise unreadable(self._db_id, damaged) from None

        return call


def naming_damage(store: T, db_id: str) -> T:
    """``store``, its calls raising ``UnreadableRecord`` naming ``db_id`` for a damaged record."""
    return cast(T, _NamingDamage(store, db_id))
