"""PostgreSQL tables checked, and created, in a thread while the runtime is still importing.

A cold start is mostly importing FastAPI and the API's models, on one core. Checking and
creating a PostgreSQL database's tables is mostly round trips and the database server's own
work. ``EarlySchemas.start`` runs ``check_postgres_schema`` for every PostgreSQL database in a
thread, so that work overlaps the imports; the open at start-up then takes its answer instead
of asking again, and makes no round trip of its own.

Each answer is taken once. A database the thread could not reach fails that first open with
the same ``StorageUnavailable``, as if the open had tried itself (so the runtime starts, not
ready, and retries on use, without waiting twice for a dead server); any other failure leaves
the open to do all the work and report what it meets. SQLite (in-process, on the same core)
and Redis (nothing to create) gain nothing from a thread and are opened as before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.urls import database_url

logger = logging.getLogger("agentos_runtime")

# Per database id: whether its sessions table has Agno 2's `runs` column, or why it failed.
Answer = bool | StorageUnavailable


class EarlySchemas:
    """The answers of a schema check started earlier; ``take`` waits for them."""

    def __init__(self, answers: Future[dict[str, Answer]]) -> None:
        self._answers = answers
        self._taken: set[str] = set()

    @classmethod
    def start(cls, databases: Sequence[DatabaseConfig], environ: Mapping[str, str]) -> EarlySchemas | None:
        """Start checking the PostgreSQL ones among ``databases``; ``None`` when there are none.

        The modules the check needs (psycopg among them) are imported here, by the caller, so
        the thread never imports while the caller does.
        """
        postgres = [config for config in databases if config.type == "postgres"]
        if not postgres:
            return None
        import agentos_runtime.storage.sql.database
        import agentos_runtime.storage.sql.postgres_executor  # noqa: F401 (psycopg, imported now)

        answers: Future[dict[str, Answer]] = Future()
        environment = dict(environ)

        def check() -> None:
            try:
                answers.set_result(asyncio.run(_check_all(postgres, environment)))
            except BaseException:  # no answers: each open checks its database itself
                logger.debug("early schema checks failed; the opens will check", exc_info=True)
                answers.set_result({})

        threading.Thread(target=check, name="agentos-early-schemas", daemon=True).start()
        return cls(answers)

    async def take(self, db_id: str) -> bool | None:
        """The answer for ``db_id`` the first time it is asked for, else ``None`` (check it yourself).

        Raises the ``StorageUnavailable`` the check met.
        """
        if db_id in self._taken:
            return None
        self._taken.add(db_id)
        answer = (await asyncio.wrap_future(self._answers)).get(db_id)
        if isinstance(answer, StorageUnavailable):
            raise StorageUnavailable(answer.detail)
        return answer


async def _check_all(databases: Sequence[DatabaseConfig], environ: Mapping[str, str]) -> dict[str, Answer]:
    answers = await asyncio.gather(*(_check(config, environ) for config in databases))
    return {config.id: answer for config, answer in zip(databases, answers, strict=True) if answer is not None}


async def _check(config: DatabaseConfig, environ: Mapping[str, str]) -> Answer | None:
    from agentos_runtime.storage.sql.database import check_postgres_schema

    try:
        return await check_postgres_schema(config, url=database_url(config, environ))
    except StorageUnavailable as error:
        return error
    except Exception:  # the open at start-up meets it again and reports it there
        logger.debug("early schema check of database %s failed; the open will check it", config.id, exc_info=True)
        return None
