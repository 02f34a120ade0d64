"""Creating a database's tables again when a statement finds one missing, without a restart.

A table or schema of the runtime dropped under it (by hand, by a reset of the database, by a
failover to a server restored without them) fails every statement that needs it. Opening the
database creates what is missing (``schema.ensure_schema``; a knowledge base's ``prepare``);
this does the same while the runtime serves: the statement that found a table missing still
fails (``StorageUnavailable``, saying the tables are being created again), and the creation
runs once in the background, so the next request finds them (empty: what was dropped is gone).
A repair that fails (the user may not create tables) is logged, and the next statement that
finds a table missing tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agentos_runtime.errors import AgentOSError

logger = logging.getLogger("agentos_runtime.storage")


class SchemaRepair:
    """Runs ``create`` (what opening the database runs to create its ``tables``: ``"tables"``,
    ``"knowledge tables"``) once at a time, when told a table was found missing."""

    def __init__(self, create: Callable[[], Awaitable[None]], *, db_id: str, tables: str = "tables") -> None:
        self._create = create
        self._db_id = db_id
        self._tables = tables
        self._task: asyncio.Task[None] | None = None

    def found_missing(self) -> None:
        """A statement found a table or schema missing: create them again, unless already under way."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._repair(), name=f"agentos-repair-{self._db_id}")

    async def settled(self) -> None:
        """Return once the repair under way, if any, has ended (whichever way)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})

    async def _repair(self) -> None:
        failed = f"database '{self._db_id}': creating its missing {self._tables} again failed"
        try:
            await self._create()
        except AgentOSError as error:  # the database down or refusing: said in its message
            logger.warning("%s: %s", failed, error.detail)
            return
        except Exception:  # a fault of ours: in full, and the next call finding a table missing tries again
            logger.exception(failed)
            return
        logger.warning(
            "database '%s': %s of the runtime were missing and were created again, empty", self._db_id, self._tables
        )
