"""User memories on Redis: one JSON record per memory, listed by scan or by the user's index SET."""

from __future__ import annotations

from collections.abc import Sequence

from agentos_runtime.storage import querying, records
from agentos_runtime.storage.damage import left_out, readable
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, Page, UserMemoryStats
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.client import RedisBackend, Writes, encode, reindex
from agentos_runtime.storage.redis.guarded import Snapshot, WriteBatch


class RedisMemoryStore:
    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend

    async def get_memory(self, memory_id: str, *, user_id: str | None = None) -> MemoryRow | None:
        with self._backend.errors():
            stored = await self._backend.load_one(self._backend.client, keys.MEMORIES, memory_id)
        if stored is None or (user_id is not None and stored.get("user_id") != user_id):
            return None
        return records.memory_from_columns(stored)

    async def list_memories(self, query: MemoryQuery) -> Page[MemoryRow]:
        return querying.list_memories(await self._load(query.user_id), query)

    async def upsert_memory(self, row: MemoryRow) -> MemoryRow:
        written = await self._write(row, existing_only=False)
        assert written is not None  # an upsert always writes
        return written

    async def update_memory(self, row: MemoryRow, *, user_id: str | None = None) -> MemoryRow | None:
        return await self._write(row, existing_only=True, user_id=user_id)

    async def _write(self, row: MemoryRow, *, existing_only: bool, user_id: str | None = None) -> MemoryRow | None:
        """Write ``row``; with ``existing_only``, only over a stored
        memory (of ``user_id``, when given), checked in the compare-and-set that writes it (else ``None``)."""
        key = self._backend.key(keys.MEMORIES, row.memory_id)
        now = self._backend.now()

        async def attempt(snapshot: Snapshot) -> tuple[MemoryRow | None, Writes | None]:
            stored = await self._backend.load_one(snapshot, keys.MEMORIES, row.memory_id)
            previous = None if stored is None else records.memory_from_columns(stored)
            if existing_only and not records.owned_memory(previous, user_id):
                return None, None
            record = records.memory_columns(records.stamp_memory(row, previous, now=now))
            text = encode(record)
            changes = keys.index_changes(self._backend.prefix, keys.MEMORIES, stored, record, keys.MEMORY_INDEX_FIELDS)

            def writes(batch: WriteBatch) -> None:
                batch.set(key, text)
                reindex(batch, changes, row.memory_id)

            return records.memory_from_columns(records.copy_json(record)), writes

        with self._backend.errors():
            return await self._backend.transact(attempt)

    async def delete_memories(self, memory_ids: Sequence[str], *, user_id: str | None = None) -> int:
        unique = list(dict.fromkeys(memory_ids))
        if not unique:
            return 0

        async def attempt(snapshot: Snapshot) -> tuple[int, Writes | None]:
            stored, damaged = await self._backend.load_readable(keys.MEMORIES, unique, client=snapshot)
            doomed = [record for record in stored if user_id is None or record.get("user_id") == user_id]
            # One that cannot be read is deleted too, unless a user's: its owner is unknown.
            unread = [error.record_id for error in damaged] if user_id is None else []
            if not doomed and not unread:
                return 0, None

            def writes(batch: WriteBatch) -> None:
                for memory_id in unread:
                    batch.delete(self._backend.key(keys.MEMORIES, memory_id))
                for record in doomed:
                    batch.delete(self._backend.key(keys.MEMORIES, record["memory_id"]))
                    changes = keys.index_changes(
                        self._backend.prefix, keys.MEMORIES, record, None, keys.MEMORY_INDEX_FIELDS
                    )
                    reindex(batch, changes, record["memory_id"])

            return len(doomed) + len(unread), writes

        with self._backend.errors():
            return await self._backend.transact(attempt)

    async def list_topics(self, *, user_id: str | None = None) -> list[str]:
        return querying.list_topics(await self._load(user_id), user_id=user_id)

    async def user_memory_stats(self, *, limit: int = 20, page: int = 1) -> Page[UserMemoryStats]:
        return querying.user_memory_stats(await self._load(None), limit=limit, page=page)

    async def _load(self, user_id: str | None) -> list[MemoryRow]:
        """Every memory (of ``user_id`` when given: read through its index SET)."""
        backend = self._backend
        with backend.errors():
            if user_id is not None:
                ids = await backend.index_members(keys.index_key(backend.prefix, keys.MEMORIES, "user_id", user_id))
            else:
                ids = await backend.scan_ids(keys.MEMORIES)
            stored, damaged = await backend.load_readable(keys.MEMORIES, ids)
        for each in damaged:
            left_out(backend.db_id, each)
        return readable(backend.db_id, records.memory_from_columns, stored)
