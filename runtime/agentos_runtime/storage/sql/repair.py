"""Creating a database's tables again when a statement finds one missing, without a restart.

A table or schema of the runtime dropped under it (by hand, by a reset of the database, by a
failover to a server restored without them) fails every statement that needs it. Opening the
database creates what is missing (``schema.ensure_schema``); this does the same while the
runtime serves: the statement that found a table missing still fails (``StorageUnavailable``,
saying the tables are being created again), and ``ensure_schema`` runs once in the background,
so the next request finds them (empty: what was dropped is gone). A repair that fails (the user
may not create tables) is logged, and the next statement that finds a table missing tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agentos_runtime.errors import StorageUnavailable

logger = logging.getLogger("agentos_runtime.storage")


class SchemaRepair:
    """Runs ``create`` (``ensure_schema``, answering whether the sessions table has Agno 2's
    ``runs`` column) once at a time, when told a table was found missing."""

    def __init__(self, create: Callable[[], Awaitable[bool]], *, db_id: str, legacy_runs: bool) -> None:
        self._create = create
        self._db_id = db_id
        self._legacy_runs = legacy_runs
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
        try:
            legacy_runs = await self._create()
        except StorageUnavailable as error:
            logger.warning("database '%s': creating its missing tables again failed: %s", self._db_id, error.detail)
            return
        logger.warning("database '%s': tables of the runtime were missing and were created again, empty", self._db_id)
        if legacy_runs != self._legacy_runs:
            logger.warning(
                "database '%s': the sessions table made again differs from the one the runtime opened "
                "(Agno 2's runs column): restart the runtime",
                self._db_id,
            )
