"""The Redis client, its errors turned into ours, scans, and optimistic transactions.

A read-modify-write reads through a ``guarded.Snapshot`` and applies its writes with the
compare-and-set script; when another writer changed what it read first, it reads again and
retries, so concurrent writers (also on other replicas) never lose each other's writes. A
dropped connection is re-opened on the next command, so the store recovers by itself once
Redis is back.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage import records
from agentos_runtime.storage.redis import guarded, keys
from agentos_runtime.storage.redis.guarded import Snapshot, WriteBatch
from agentos_runtime.storage.urls import redact

T = TypeVar("T")
Writes = Callable[[WriteBatch], None]
Reader = Redis | Snapshot

# A Redis that does not answer within this many seconds is reported unavailable.
TIMEOUT_SECONDS = 3
# Optimistic attempts before a write gives up: each round lets at least one writer through,
# so this bounds the writers that may contend for one session at once.
MAX_ATTEMPTS = 100
# MGET batch size when loading many records.
_BATCH = 500


def create_client(url: str) -> Redis:
    # One immediate retry re-opens a connection the server dropped (a restart, an idle timeout).
    # A command timed out is not sent again: the server hangs (the retry would double the wait
    # before the caller hears of it) or is slow (it may have run the command).
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=TIMEOUT_SECONDS,
        socket_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


@dataclass(frozen=True)
class RedisBackend:
    """What every Redis store needs: the client, the key prefix, the clock, error context."""

    db_id: str
    client: Redis
    prefix: str
    clock: Callable[[], float]
    url: str | None = None

    def now(self) -> int:
        return int(self.clock())

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Connection trouble (refused, reset, timed out) is ``StorageUnavailable``, and so is a
        command the server refused (out of memory, a key of the wrong type): its message quotes
        the command and its keys, so only the server's error code is kept."""
        try:
            yield
        except AuthenticationError as error:
            message = redact(f"{type(error).__name__}: {error}", self.url)
            raise StorageUnavailable(
                f"database '{self.db_id}' is unavailable: {message}: check the user and password in its URL"
            ) from error
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            message = redact(f"{type(error).__name__}: {error}", self.url)
            raise StorageUnavailable(f"database '{self.db_id}' is unavailable: {message}") from error
        except ResponseError as error:
            raise StorageUnavailable(refusal_detail(self.db_id, error_code(error))) from error

    def key(self, table: str, record_id: str) -> str:
        return keys.record_key(self.prefix, table, record_id)

    async def scan_ids(self, table: str) -> list[str]:
        """Every record id of ``table`` (index SETs and helper keys left out)."""
        found = self.client.scan_iter(match=keys.record_pattern(self.prefix, table), count=_BATCH)
        return [
            keys.record_id(key, self.prefix, table)
            async for key in found
            if keys.is_record_key(key, self.prefix, table)
        ]

    async def load(self, table: str, record_ids: list[str], *, client: Reader | None = None) -> list[dict[str, Any]]:
        """The records with these ids that exist, in the same order (read through ``client``);
        ``DamagedRecord`` for the first one that is not a JSON object."""
        loaded, damaged = await self.load_readable(table, record_ids, client=client)
        if damaged:
            raise damaged[0]
        return loaded

    async def load_readable(
        self, table: str, record_ids: list[str], *, client: Reader | None = None
    ) -> tuple[list[dict[str, Any]], list[records.DamagedRecord]]:
        """The records with these ids that exist and can be read, in the same order, and what
        keeps the others from being read (read through ``client``)."""
        identified, damaged = await self.load_identified(table, record_ids, client=client)
        return [record for _, record in identified], damaged

    async def load_identified(
        self, table: str, record_ids: list[str], *, client: Reader | None = None
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[records.DamagedRecord]]:
        """As ``load_readable``, each record with its id."""
        reader = client if client is not None else self.client
        loaded: list[tuple[str, dict[str, Any]]] = []
        damaged: list[records.DamagedRecord] = []
        for start in range(0, len(record_ids), _BATCH):
            batch = record_ids[start : start + _BATCH]
            values = await reader.mget([self.key(table, record_id) for record_id in batch])
            for record_id, value in zip(batch, values, strict=True):
                if value is None:
                    continue
                try:
                    record = records.decode_record(keys.kind_of(table), record_id, value)
                    loaded.append((record_id, keys.identified(table, record_id, record)))
                except records.DamagedRecord as error:
                    damaged.append(error)
        return loaded, damaged

    async def index_members(self, index: str) -> list[str]:
        """The record ids an index SET lists, sorted."""
        return sorted(str(member) for member in await self.client.smembers(index))

    async def ordered_members(self, client: Reader, key: str) -> list[str]:
        """The members of a sorted set, lowest score first."""
        return [str(member) for member in cast(list[str], await client.zrange(key, 0, -1))]

    async def load_one(self, client: Reader, table: str, record_id: str) -> dict[str, Any] | None:
        value = await client.get(self.key(table, record_id))
        if value is None:
            return None
        return keys.identified(table, record_id, records.decode_record(keys.kind_of(table), record_id, value))

    @cached_property
    def scripts(self) -> guarded.Scripts:
        return guarded.Scripts.register(self.client)

    async def transact(
        self,
        attempt: Callable[[Snapshot], Awaitable[tuple[T, Writes | None]]],
        *,
        expected: Mapping[guarded.Command, Any] | None = None,
    ) -> T:
        """Run ``attempt`` (its reads through a snapshot) and apply its writes atomically.

        ``attempt`` returns its result and the writes to queue (``None``: nothing to write).
        Reads again when something read changed before the writes got through; raises
        ``StorageUnavailable`` when they never did. ``expected``: replies the first attempt
        assumes instead of reading them (checked by its write; later attempts read).
        """
        for round_number in range(MAX_ATTEMPTS):
            snapshot = Snapshot(self.scripts, expected or {})
            expected = None  # a refused attempt was told something wrong: the next ones read
            result, writes = await attempt(snapshot)
            if writes is None:
                return result
            batch = WriteBatch()
            writes(batch)
            if await guarded.apply(self.scripts, snapshot, batch):
                return result
            # Spread the retries of writers that collided (a few milliseconds at most).
            await asyncio.sleep(random.random() * 0.001 * min(round_number + 1, 10))
        raise StorageUnavailable(f"database '{self.db_id}': too many concurrent writers, the write was not applied")


# What a refusal means for the runtime and what to do, by the server's error code; a code not
# here (WRONGTYPE: a key of another program under the prefix) is named alone.
_REFUSAL_FIXES = {
    "READONLY": "the server is a read-only replica (as after a failover): point the URL at the primary",
    "MASTERDOWN": "the replica lost its primary: point the URL at the primary",
    "OOM": "Redis reached its maxmemory: free memory or raise maxmemory",
    "MISCONF": "Redis stopped taking writes because it cannot save its snapshot to disk: fix its disk or persistence settings",
    "NOREPLICAS": "fewer replicas than min-replicas-to-write are connected to the primary: bring them back",
    "NOPERM": "the Redis user lacks a permission the runtime needs (@scripting, the keys under its prefix): grant it",
    "MOVED": "the server is a Redis Cluster node, and Redis Cluster is not supported: point the URL at a standalone Redis",
    "CROSSSLOT": "the server is a Redis Cluster node, and Redis Cluster is not supported: point the URL at a standalone Redis",
}


def refusal_detail(db_id: str, code: str) -> str:
    """What ``StorageUnavailable`` says of a command the server refused with ``code``."""
    fix = _REFUSAL_FIXES.get(code)
    return f"database '{db_id}' refused the operation ({code})" + (f": {fix}" if fix else "")


def error_code(error: ResponseError) -> str:
    """The server's error code of ``error``: redis-py keeps it apart (``status_code``) for the
    errors it has classes for (``OOM``, ``READONLY``, ``NOPERM``), cut from the message."""
    code = error.status_code
    if isinstance(code, str) and code.isupper() and code.isalpha():
        return code
    return server_error_code(str(error))


def server_error_code(message: str) -> str:
    """``WRONGTYPE``, ``OOM``, ... of a Redis error; ``ERR`` for one without a code of its own."""
    # A pipeline's error quotes the command, then the reply (as a tuple: "('WRONGTYPE ...',)").
    reply = message.rsplit("caused error: ", 1)[-1].lstrip("(\"'")
    first = reply.split(" ", 1)[0]
    return first if first.isupper() and first.isalpha() else "ERR"


def encode(record: dict[str, Any]) -> str:
    return records.encode_json(record)


def reindex(batch: WriteBatch, changes: tuple[set[str], set[str]], record_id: str) -> None:
    """Queue the index SET updates ``keys.index_changes`` computed for one record."""
    removals, additions = changes
    for index in sorted(removals):
        batch.srem(index, record_id)
    for index in sorted(additions):
        batch.sadd(index, record_id)
