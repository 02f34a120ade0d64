"""Open a Redis ``Database``: the client built from the URL, answered once, schema stamped.

Redis has no tables to create; opening checks that the server answers (so a runtime fails at
start, as with SQL, rather than at its first request) and stamps Agno's schema versions, so
Agno's migration manager leaves records written here alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.damage import naming_damage
from agentos_runtime.storage.ports import EvalStore, MemoryStore, MetricsStore, SessionStore
from agentos_runtime.storage.redis import client, keys
from agentos_runtime.storage.redis.evals import RedisEvalStore
from agentos_runtime.storage.redis.memories import RedisMemoryStore
from agentos_runtime.storage.redis.metrics import RedisMetricsStore
from agentos_runtime.storage.redis.sessions import RedisSessionStore

# What Agno 3 stamps on the key spaces it creates (see agentos_runtime.storage.sql.tables).
AGNO_SCHEMA_VERSION = "3.0.0"
_READY_KEY_MILLISECONDS = 60_000
_STAMPED_TABLES = ("agno_sessions", "agno_runs", "agno_memories", "agno_metrics", "agno_eval_runs")


class RedisDatabase:
    """A ``Database`` on Redis, keys under ``config.key_prefix``."""

    def __init__(self, backend: client.RedisBackend) -> None:
        self.id = backend.db_id
        # A call meeting a record that cannot be read raises ``UnreadableRecord`` naming this database.
        self.sessions: SessionStore = naming_damage(RedisSessionStore(backend), backend.db_id)
        self.memories: MemoryStore = naming_damage(RedisMemoryStore(backend), backend.db_id)
        self.metrics: MetricsStore = naming_damage(RedisMetricsStore(backend), backend.db_id)
        self.evals: EvalStore = naming_damage(RedisEvalStore(backend), backend.db_id)
        self._backend = backend

    async def ping(self) -> None:
        """Answers when the server takes a write: a key of the runtime's own, kept a minute, is
        set, so a read-only replica, a full ``maxmemory`` or a failed snapshot
        (``stop-writes-on-bgsave-error``) is ``StorageUnavailable`` saying what to do."""
        with self._backend.errors():
            await self._backend.client.set(keys.ready_key(self._backend.prefix), "1", px=_READY_KEY_MILLISECONDS)

    async def stamp_schema(self) -> None:
        """Record Agno's schema version for our key spaces, keeping any version already there."""
        with self._backend.errors():
            for table in _STAMPED_TABLES:
                await self._backend.client.set(
                    keys.schema_version_key(self._backend.prefix, table), AGNO_SCHEMA_VERSION, nx=True
                )

    async def close(self) -> None:
        await self._backend.client.aclose()


async def open_redis(config: DatabaseConfig, *, url: str, clock: Callable[[], float] = time.time) -> RedisDatabase:
    """The Redis database at ``url``; raise ``StorageUnavailable`` when it does not answer."""
    try:
        redis = client.create_client(url)
    except ValueError as error:  # a query option the driver cannot read (?db=x, ?socket_timeout=x)
        variable = config.url_env_name or "its URL"
        raise StorageUnavailable(f"database '{config.id}': {variable} has an invalid option") from error
    backend = client.RedisBackend(db_id=config.id, client=redis, prefix=config.key_prefix, clock=clock, url=url)
    database = RedisDatabase(backend)
    try:
        with backend.errors():  # answers at all; a refused write is then the stamp's to say
            await backend.client.ping()
        await database.stamp_schema()
    except BaseException:
        await database.close()
        raise
    return database
