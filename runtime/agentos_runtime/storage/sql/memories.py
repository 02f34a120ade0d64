"""User memories on SQL: one row of ``agno_memories`` per memory, the text stored as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select

from agentos_runtime.storage import querying, records
from agentos_runtime.storage.damage import readable
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, Page, UserMemoryStats
from agentos_runtime.storage.sql.connecting import SqlBackend


class SqlMemoryStore:
    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend
        self._memories = backend.tables.memories

    async def get_memory(self, memory_id: str, *, user_id: str | None = None) -> MemoryRow | None:
        statement = select(self._memories).where(self._memories.c.memory_id == memory_id, *self._owner(user_id))
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                found = (await connection.execute(statement)).mappings().first()
        return None if found is None else records.memory_from_columns(found)

    async def list_memories(self, query: MemoryQuery) -> Page[MemoryRow]:
        offset = querying.page_offset(query.limit, query.page)
        conditions = self._list_conditions(query)
        listing = (
            select(self._memories)
            .where(*conditions)
            .order_by(*self._order(querying.memory_sort_field(query.sort_by), query.sort_order))
            .limit(query.limit)
            .offset(offset)
        )
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                total = await connection.scalar(select(func.count()).select_from(self._memories).where(*conditions))
                found = (await connection.execute(listing)).mappings().all()
        items = readable(self._backend.db_id, records.memory_from_columns, found)
        return Page(items=items, total=int(total or 0))

    async def upsert_memory(self, row: MemoryRow) -> MemoryRow:
        written = await self._write(row, existing_only=False)
        assert written is not None  # an upsert always writes
        return written

    async def update_memory(self, row: MemoryRow, *, user_id: str | None = None) -> MemoryRow | None:
        return await self._write(row, existing_only=True, user_id=user_id)

    async def _write(self, row: MemoryRow, *, existing_only: bool, user_id: str | None = None) -> MemoryRow | None:
        """Write ``row``; with ``existing_only``, only over a stored
        memory (of ``user_id``, when given), read under a row lock in the same transaction (else ``None``)."""
        table = self._memories
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                locked = select(table).where(table.c.memory_id == row.memory_id).with_for_update()
                found = (await connection.execute(locked)).mappings().first()
                stored = None if found is None else records.memory_from_columns(found)
                if existing_only and not records.owned_memory(stored, user_id):
                    return None
                target = records.stamp_memory(row, stored, now=self._backend.now())
                columns = records.memory_columns(target)
                insert = self._backend.dialect.insert(table).values(columns)
                changed = {name: value for name, value in columns.items() if name != "memory_id"}
                await connection.execute(insert.on_conflict_do_update(index_elements=["memory_id"], set_=changed))
        return records.memory_from_columns(records.copy_json(columns))

    async def delete_memories(self, memory_ids: Sequence[str], *, user_id: str | None = None) -> int:
        if not memory_ids:
            return 0
        statement = delete(self._memories).where(
            self._memories.c.memory_id.in_(list(memory_ids)), *self._owner(user_id)
        )
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                deleted = await connection.execute(statement)
        return int(deleted.rowcount)

    async def list_topics(self, *, user_id: str | None = None) -> list[str]:
        statement = select(self._memories.c.topics).where(self._memories.c.topics.is_not(None), *self._owner(user_id))
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                found = (await connection.scalars(statement)).all()
        topics = (records.decode_json(value) for value in found)
        return sorted({str(topic) for listed in topics if isinstance(listed, list) for topic in listed})

    async def user_memory_stats(self, *, limit: int = 20, page: int = 1) -> Page[UserMemoryStats]:
        offset = querying.page_offset(limit, page)
        table = self._memories
        latest = func.max(func.coalesce(table.c.updated_at, table.c.created_at))
        grouped = select(table.c.user_id, func.count(table.c.memory_id).label("total"), latest.label("latest")).where(
            table.c.user_id.is_not(None)
        )
        grouped = grouped.group_by(table.c.user_id)
        listing = grouped.order_by(latest.desc().nulls_last(), table.c.user_id.desc()).limit(limit).offset(offset)
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                total = await connection.scalar(select(func.count()).select_from(grouped.subquery()))
                found = (await connection.execute(listing)).all()
        stats = [
            UserMemoryStats(user_id=user_id, total_memories=int(count), last_memory_updated_at=_optional_int(updated))
            for user_id, count, updated in found
        ]
        return Page(items=stats, total=int(total or 0))

    def _owner(self, user_id: str | None) -> list[ColumnElement[bool]]:
        return [] if user_id is None else [self._memories.c.user_id == user_id]

    def _list_conditions(self, query: MemoryQuery) -> list[ColumnElement[bool]]:
        table = self._memories
        dialect = self._backend.dialect
        conditions = self._owner(query.user_id)
        if query.agent_id is not None:
            conditions.append(table.c.agent_id == query.agent_id)
        if query.team_id is not None:
            conditions.append(table.c.team_id == query.team_id)
        for topic in query.topics or ():
            conditions.append(dialect.has_topic(table.c.topics, topic))
        if query.search_content is not None:
            text = dialect.json_string(table.c.memory)
            conditions.append(text.icontains(query.search_content, autoescape=True))
        return conditions

    def _order(self, field: str, order: str) -> list[ColumnElement[Any]]:
        table = self._memories
        value = func.coalesce(table.c.updated_at, table.c.created_at) if field == "updated_at" else table.c[field]
        if order == "asc":
            return [value.asc().nulls_last(), table.c.memory_id.asc()]
        return [value.desc().nulls_last(), table.c.memory_id.desc()]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
