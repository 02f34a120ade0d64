"""What the knowledge stores of both SQL databases do the same way, written once.

``SqlKnowledgeStore`` holds a base's tables (the database's contents table, the base's chunk
table), the statements that read and change contents rows, and the shared steps of preparing,
searching and closing. Each database's store (``sqlite_vec``, ``pgvector``) gives what its
dialect says differently: how a parameter is written (``param``, ``json_param``), how a base's
chunks are deleted (on SQLite with their vectors), how the tables are made, how chunks are
written and searched, and which of its driver's errors mean what (``_call``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agentos_runtime.errors import Conflict
from agentos_runtime.knowledge.records import Content, SearchHit
from agentos_runtime.knowledge.stores.checking import UnstorableData
from agentos_runtime.knowledge.stores.rows import CONTENT_COLUMNS, content_from_row, content_params
from agentos_runtime.storable import clean_text
from agentos_runtime.storage.sql.executing import Executor, Rows, Step
from agentos_runtime.storage.sql.repair import SchemaRepair
from agentos_runtime.storage.sql.statements import Statement

T = TypeVar("T")


@dataclass(frozen=True)
class StoreSettings:
    """What a knowledge base's store is opened with, on either database."""

    db_id: str
    base_id: str
    contents_table: str
    """The database's contents table (shared by its bases), its bare name."""
    chunks_table: str
    """The base's chunk table, its bare name."""
    dimensions: int
    """The embedder's: every chunk's and query's embedding has as many."""
    repair: SchemaRepair | None = None
    """What creates the database's knowledge tables again when a statement finds one missing."""
    on_close: Callable[[], Awaitable[None]] | None = None
    """Run once by ``close`` (releasing what the bases of the database share)."""
    on_contents_lost: Callable[[], Awaitable[None]] | None = None
    """Run when ``prepare`` made the contents table again after it was dropped; ``None``: the
    store deletes its own orphaned chunks."""


class SqlKnowledgeStore(ABC):
    """A knowledge base's ``KnowledgeStore`` on a SQL database, but for its dialect's part.

    ``contents`` and ``chunks`` are the tables as statements name them (quoted, qualified by
    the schema where there is one); the settings' ``contents_table`` and ``chunks_table`` their
    bare names.
    """

    def __init__(self, executor: Executor, settings: StoreSettings, *, contents: str, chunks: str) -> None:
        self._executor = executor
        self._db_id = settings.db_id
        self._base_id = settings.base_id
        self._contents_name = settings.contents_table
        self._chunks_name = settings.chunks_table
        self._contents = contents
        self._chunks = chunks
        self._dimensions = settings.dimensions
        self._on_close = settings.on_close
        self._on_contents_lost = settings.on_contents_lost
        self.repair = settings.repair
        """What creates the database's knowledge tables again when a statement finds one missing."""
        self._columns = ", ".join(f'"{column}"' for column in CONTENT_COLUMNS)
        self._base = {"base": settings.base_id}

    # -- the dialect's part

    @staticmethod
    @abstractmethod
    def param(name: str) -> str:
        """The placeholder of the parameter ``name`` in a statement."""

    @classmethod
    def json_param(cls, name: str) -> str:
        """The placeholder of a parameter sent as JSON text, read as the column's JSON type."""
        return cls.param(name)

    @abstractmethod
    def _chunk_deletion(self, where: str | None, params: Mapping[str, Any]) -> list[Step]:
        """The statements deleting the base's chunks ``where`` selects (every one for ``None``)."""

    @abstractmethod
    def _chunk_tables_present(self) -> Step:
        """A read whose one value says whether the tables ``delete_orphans`` deletes from exist."""

    @abstractmethod
    async def _call(self, work: Awaitable[T]) -> T:
        """``work``'s result, the driver's errors turned into ours."""

    @abstractmethod
    async def _search(
        self, embedding: Sequence[float], *, limit: int, filters: Mapping[str, Any] | None
    ) -> list[SearchHit]:
        """The nearest chunks to ``embedding`` (checked: ``limit`` >= 1, the base's dimensions)."""

    # -- preparing

    async def _prepared(self, *, contents_missing: bool, created: list[Rows]) -> None:
        """After ``prepare``'s creation, whose last statement stamps the contents table (a row
        when it was not stamped yet): a contents table missing though stamped was made and
        dropped, so the chunks of what it held are orphans."""
        if contents_missing and not created[-1]:
            if self._on_contents_lost is None:
                await self.delete_orphans()
            else:  # in every base of the database
                await self._on_contents_lost()

    async def delete_orphans(self) -> None:
        """Delete the chunks whose content's row is gone, as after the contents table was
        dropped and made again; nothing when a table is missing."""
        orphans = f"content_id IS NOT NULL AND content_id NOT IN (SELECT id FROM {self._contents})"
        await self._call(
            self._executor.write_after(
                [self._chunk_tables_present()],
                lambda found: self._chunk_deletion(orphans, {}) if found[0][0][0] else [],
            )
        )

    # -- contents

    async def add_content(self, content: Content) -> None:
        params = content_params(content)
        values = ", ".join(
            self.json_param(column) if column == "metadata" else self.param(column) for column in CONTENT_COLUMNS
        )
        insert = Statement(
            f"INSERT INTO {self._contents} ({self._columns}) VALUES ({values}) ON CONFLICT (id) DO NOTHING RETURNING id"
        )
        rows = await self._call(self._executor.write([(insert, params)]))
        if not rows[0]:
            raise Conflict(f"content '{params['id']}' already exists")

    async def get_content(self, content_id: str) -> Content | None:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing
        select = Statement(f"SELECT {self._columns} FROM {self._contents} WHERE {self._one_content}")
        rows = await self._call(self._executor.fetch([(select, {"id": content_id, **self._base})]))
        return content_from_row(rows[0][0]) if rows[0] else None

    async def update_content(self, content: Content) -> bool:
        return await self._set_content(
            content, ("name", "description", "metadata", "status", "status_message", "updated_at")
        )

    async def edit_content(self, content: Content) -> bool:
        return await self._set_content(content, ("name", "description", "metadata", "updated_at"))

    async def _set_content(self, content: Content, columns: Sequence[str]) -> bool:
        """Write ``columns`` of ``content`` to its row; whether the base has it."""
        values = (self.json_param(column) if column == "metadata" else self.param(column) for column in columns)
        sets = ", ".join(f"{column} = {value}" for column, value in zip(columns, values, strict=True))
        update = Statement(f"UPDATE {self._contents} SET {sets} WHERE {self._one_content} RETURNING id")
        rows = await self._call(self._executor.write([(update, {**content_params(content), **self._base})]))
        return bool(rows[0])

    async def restart_content(self, content_id: str, *, updated_at: int) -> bool:
        key = {"id": clean_text(content_id), **self._base}  # an id no database can hold matches nothing
        restart = Statement(
            f"UPDATE {self._contents} SET status = 'processing', status_message = NULL, "
            f"updated_at = {self.param('updated_at')} WHERE {self._one_content} RETURNING id"
        )
        rows = await self._call(self._executor.write([(restart, {**key, "updated_at": updated_at})]))
        return bool(rows[0])

    def _completion(self, key: Mapping[str, Any], updated_at: int) -> Step:
        """The statement marking the content ``key`` names completed (its id returned)."""
        return (
            Statement(
                f"UPDATE {self._contents} SET status = 'completed', status_message = NULL, "
                f"updated_at = {self.param('updated_at')} WHERE {self._one_content} RETURNING id"
            ),
            {**key, "updated_at": updated_at},
        )

    async def fail_content(self, content_id: str, message: str, *, updated_at: int) -> None:
        key = {"id": clean_text(content_id), **self._base}  # an id no database can hold matches nothing
        p = self.param
        fail = Statement(
            f"UPDATE {self._contents} SET status = 'failed', status_message = {p('message')}, "
            f"updated_at = {p('updated_at')} WHERE {self._one_content}"
        )
        steps: list[Step] = [(fail, {**key, "message": clean_text(message), "updated_at": updated_at})]
        await self._call(self._executor.write(steps + self._chunk_deletion(self._content_chunks, key)))

    async def stale_contents(self, *, updated_before: int) -> list[Content]:
        select = Statement(
            f"SELECT {self._columns} FROM {self._contents} WHERE linked_to = {self.param('base')} "
            f"AND status = 'processing' AND updated_at < {self.param('before')} ORDER BY updated_at, id"
        )
        rows = await self._call(self._executor.fetch([(select, {**self._base, "before": updated_before})]))
        return [content_from_row(row) for row in rows[0]]

    async def delete_content(self, content_id: str) -> bool:
        key = {"id": clean_text(content_id), **self._base}  # an id no database can hold matches nothing
        delete = Statement(f"DELETE FROM {self._contents} WHERE {self._one_content} RETURNING id")
        rows = await self._call(self._executor.write([(delete, key), *self._chunk_deletion(self._content_chunks, key)]))
        return bool(rows[0])

    async def delete_all(self) -> int:
        delete = Statement(f"DELETE FROM {self._contents} WHERE linked_to = {self.param('base')} RETURNING id")
        rows = await self._call(self._executor.write([(delete, self._base), *self._chunk_deletion(None, {})]))
        return len(rows[0])

    @property
    def _one_content(self) -> str:
        """The condition selecting the content ``id`` of the base."""
        return f"id = {self.param('id')} AND linked_to = {self.param('base')}"

    @property
    def _content_chunks(self) -> str:
        """The condition selecting the chunks of the content ``id``."""
        return f"content_id = {self.param('id')}"

    # -- search

    async def search(
        self, embedding: Sequence[float], *, limit: int, filters: Mapping[str, Any] | None = None
    ) -> list[SearchHit]:
        if limit < 1:
            return []
        if len(embedding) != self._dimensions:
            raise UnstorableData(
                f"the query embedding has {len(embedding)} dimensions; "
                f"table '{self._chunks_name}' holds {self._dimensions}"
            )
        return await self._search(embedding, limit=limit, filters=filters)

    async def counts(self) -> tuple[int, int]:
        count = Statement(
            f"SELECT (SELECT count(*) FROM {self._contents} WHERE linked_to = {self.param('base')}), "
            f"(SELECT count(*) FROM {self._chunks})"
        )
        rows = await self._call(self._executor.fetch([(count, self._base)]))
        contents, chunks = rows[0][0]
        return int(contents), int(chunks)

    async def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()
