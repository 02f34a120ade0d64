"""Knowledge on the embedded SQLite database, with sqlite-vec for the vectors.

Contents and chunks live in their own file next to the database's (``agentos.db`` ->
``agentos.knowledge.db``): the vector extension needs a SQLite that can load it (the standard
library's module, or ``sqlean`` where the interpreter's cannot), and no other connection to
the main file (SQLAlchemy's, the run path's) should load it or see its virtual tables; one file
keeps a content's row and its chunks in one transaction. The file has the contents table
(Agno's SQLite ``agno_knowledge`` layout) and, per base, a chunk table (the columns of Agno's
``PgVector`` table, plus ``vector_id``, the stable row number linking a chunk to its vector)
and a sqlite-vec ``vec0`` table of its embeddings (cosine distance).

One connection on one thread per file (``sqlite_files``), shared by the bases of the database:
every call is one hop to the thread, writes one ``BEGIN IMMEDIATE`` transaction. WAL,
``synchronous=NORMAL``.

Search is sqlite-vec's exact nearest-neighbour scan. Filters are applied in SQL on the chunk
table and restrict the scan to the matching chunks' vectors (``rowid IN``), so a filtered
search returns the nearest matches up to ``limit`` however few chunks match, and reads fewer
vectors the more selective the filter.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from agentos_runtime.errors import Conflict
from agentos_runtime.knowledge.ports import SortField
from agentos_runtime.knowledge.records import Chunk, Content, SearchHit
from agentos_runtime.knowledge.stores.checking import (
    IncompatibleStore,
    UnstorableData,
    check_chunks,
    clean_json,
    clean_text,
    decode_json,
    encode_json,
)
from agentos_runtime.knowledge.stores.rows import (
    CONTENT_COLUMNS,
    HIT_COLUMNS,
    chunk_params,
    content_from_row,
    content_params,
    hit_from_row,
    order_by,
    page_bounds,
)
from agentos_runtime.knowledge.stores.sqlite_files import Connection, SqliteKnowledgeFile, transaction
from agentos_runtime.knowledge.stores.sqlite_filters import filter_clause

# sqlite-vec refuses a nearest-neighbour query for more rows than this.
MAX_K = 4096
# Agno's stamp on tables it did not have to migrate (see storage.sql.tables).
AGNO_SCHEMA_VERSION = "3.0.0"
_DIMENSIONS = re.compile(r"float\[(\d+)\]")


def float32_blob(embedding: Sequence[float]) -> bytes:
    """An embedding as sqlite-vec stores it: float32s (cheaper than JSON text)."""
    blob: bytes = importlib.import_module("sqlite_vec").serialize_float32(list(embedding))
    return blob


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteVecStore:
    """A knowledge base's ``KnowledgeStore`` in its database's knowledge file."""

    def __init__(
        self,
        file: SqliteKnowledgeFile,
        *,
        base_id: str,
        contents_table: str,
        chunks_table: str,
        dimensions: int,
        on_close: Callable[[], Any] | None = None,
    ) -> None:
        self._file = file
        self._base_id = base_id
        self._contents_name = contents_table
        self._chunks_name = chunks_table
        self._contents = _quote(contents_table)
        self._chunks = _quote(chunks_table)
        self._vectors = _quote(f"{chunks_table}__vectors")
        self._dimensions = dimensions
        self._on_close = on_close
        self._columns = ", ".join(_quote(column) for column in CONTENT_COLUMNS)

    async def prepare(self) -> None:
        await self._file.call(lambda connection: transaction(connection, self._create))

    def _create(self, connection: Connection) -> None:
        table = self._contents_name
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self._contents} (id VARCHAR NOT NULL PRIMARY KEY, name VARCHAR NOT NULL, "
            "description VARCHAR NOT NULL, metadata JSON, type VARCHAR, size BIGINT, linked_to VARCHAR, "
            "access_count BIGINT, status VARCHAR, status_message VARCHAR, created_at BIGINT, updated_at BIGINT, "
            "external_id VARCHAR, user_id VARCHAR)"
        )
        connection.execute(f"CREATE INDEX IF NOT EXISTS {_quote(f'idx_{table}_user_id')} ON {self._contents} (user_id)")
        connection.execute(
            f"CREATE INDEX IF NOT EXISTS {_quote(f'idx_{table}_user_id_linked_to')} "
            f"ON {self._contents} (user_id, linked_to)"
        )
        connection.execute(
            f"CREATE INDEX IF NOT EXISTS {_quote(f'idx_{table}_linked_to_status')} "
            f"ON {self._contents} (linked_to, status, updated_at)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS agno_schema_versions (table_name VARCHAR NOT NULL PRIMARY KEY, "
            "version VARCHAR NOT NULL, created_at VARCHAR NOT NULL, updated_at VARCHAR)"
        )
        stamped_at = str(int(time.time()))
        connection.execute(
            "INSERT INTO agno_schema_versions (table_name, version, created_at, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (table_name) DO NOTHING",
            (table, AGNO_SCHEMA_VERSION, stamped_at, stamped_at),
        )
        chunks = self._chunks_name
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self._chunks} (vector_id INTEGER PRIMARY KEY, id VARCHAR NOT NULL UNIQUE, "
            "name VARCHAR, meta_data JSON NOT NULL DEFAULT '{}', filters JSON DEFAULT '{}', content TEXT, usage JSON, "
            "created_at BIGINT, updated_at BIGINT, content_hash VARCHAR, content_id VARCHAR, user_id VARCHAR)"
        )
        for column in ("content_hash", "content_id", "user_id", "name"):
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS {_quote(f'idx_{chunks}_{column}')} ON {self._chunks} ({column})"
            )
        found = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{chunks}__vectors",)
        ).fetchone()
        if found is None:
            connection.execute(
                f"CREATE VIRTUAL TABLE {self._vectors} USING vec0("
                f"embedding float[{self._dimensions}] distance_metric=cosine)"
            )
            return
        match = _DIMENSIONS.search(found[0] or "")
        existing = int(match.group(1)) if match else None
        if existing != self._dimensions:
            raise IncompatibleStore(
                f"knowledge base '{self._base_id}': table '{chunks}' holds embeddings of {existing} dimensions, "
                f"the embedder is configured for {self._dimensions}: set embedder.dimensions to {existing}, "
                "or give the base another table (or delete its knowledge file) to embed everything again"
            )

    async def add_content(self, content: Content) -> None:
        params = content_params(content)

        def insert(connection: Connection) -> None:
            placeholders = ", ".join("?" for _ in CONTENT_COLUMNS)
            existing = connection.execute(f"SELECT 1 FROM {self._contents} WHERE id = ?", (params["id"],)).fetchone()
            if existing is not None:
                raise Conflict(f"content '{params['id']}' already exists")
            connection.execute(
                f"INSERT INTO {self._contents} ({self._columns}) VALUES ({placeholders})",
                [params[column] for column in CONTENT_COLUMNS],
            )

        await self._file.call(lambda connection: transaction(connection, insert))

    async def get_content(self, content_id: str) -> Content | None:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing

        def read(connection: Connection) -> Content | None:
            row = connection.execute(
                f"SELECT {self._columns} FROM {self._contents} WHERE id = ? AND linked_to = ?",
                (content_id, self._base_id),
            ).fetchone()
            return None if row is None else content_from_row(row)

        return await self._file.call(read)

    async def list_contents(
        self, *, page: int, limit: int, sort_by: SortField = "created_at", sort_order: Literal["asc", "desc"] = "desc"
    ) -> tuple[list[Content], int]:
        ordering = order_by(sort_by, sort_order)
        count, offset = page_bounds(page, limit)

        def read(connection: Connection) -> tuple[list[Content], int]:
            connection.execute("BEGIN")  # one snapshot for the page and the total
            try:
                rows = connection.execute(
                    f"SELECT {self._columns} FROM {self._contents} WHERE linked_to = ? "
                    f"ORDER BY {ordering} LIMIT ? OFFSET ?",
                    (self._base_id, count, offset),
                ).fetchall()
                total = connection.execute(
                    f"SELECT count(*) FROM {self._contents} WHERE linked_to = ?", (self._base_id,)
                ).fetchone()[0]
            finally:
                connection.execute("COMMIT")
            return [content_from_row(row) for row in rows], int(total)

        return await self._file.call(read)

    async def update_content(self, content: Content) -> bool:
        params = content_params(content)

        def update(connection: Connection) -> bool:
            cursor = connection.execute(
                f"UPDATE {self._contents} SET name = ?, description = ?, metadata = ?, status = ?, "
                "status_message = ?, updated_at = ? WHERE id = ? AND linked_to = ?",
                (
                    params["name"],
                    params["description"],
                    params["metadata"],
                    params["status"],
                    params["status_message"],
                    params["updated_at"],
                    params["id"],
                    self._base_id,
                ),
            )
            return bool(cursor.rowcount)

        return await self._file.call(lambda connection: transaction(connection, update))

    async def complete_content(self, content_id: str, chunks: Sequence[Chunk], *, updated_at: int) -> bool:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing
        check_chunks(chunks, dimensions=self._dimensions, table=self._chunks_name)
        rows = [(chunk_params(chunk), float32_blob(chunk.embedding)) for chunk in chunks]

        def complete(connection: Connection) -> bool:
            found = connection.execute(
                f"SELECT metadata FROM {self._contents} WHERE id = ? AND linked_to = ?", (content_id, self._base_id)
            ).fetchone()
            if found is None:
                return False
            filters = encode_json(decode_json(found[0]) or None, field="metadata")
            self._delete_chunks(connection, "content_id = ?", (content_id,))
            # The write lock is held: the next row numbers are this transaction's to take.
            first = connection.execute(f"SELECT coalesce(max(vector_id), 0) + 1 FROM {self._chunks}").fetchone()[0]
            connection.executemany(
                f"INSERT INTO {self._chunks} (vector_id, id, name, meta_data, filters, content, usage, created_at, "
                "updated_at, content_hash, content_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        first + position,
                        params["id"],
                        params["name"],
                        params["meta_data"],
                        filters,
                        params["content"],
                        params["usage"],
                        updated_at,
                        updated_at,
                        params["content_hash"],
                        params["content_id"],
                    )
                    for position, (params, _) in enumerate(rows)
                ],
            )
            connection.executemany(
                f"INSERT INTO {self._vectors} (rowid, embedding) VALUES (?, ?)",
                [(first + position, vector) for position, (_, vector) in enumerate(rows)],
            )
            connection.execute(
                f"UPDATE {self._contents} SET status = 'completed', status_message = NULL, updated_at = ? "
                "WHERE id = ? AND linked_to = ?",
                (updated_at, content_id, self._base_id),
            )
            return True

        return await self._file.call(lambda connection: transaction(connection, complete))

    async def fail_content(self, content_id: str, message: str, *, updated_at: int) -> None:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing

        def fail(connection: Connection) -> None:
            connection.execute(
                f"UPDATE {self._contents} SET status = 'failed', status_message = ?, updated_at = ? "
                "WHERE id = ? AND linked_to = ?",
                (clean_text(message), updated_at, content_id, self._base_id),
            )
            self._delete_chunks(connection, "content_id = ?", (content_id,))

        await self._file.call(lambda connection: transaction(connection, fail))

    async def touch_contents(self, content_ids: Sequence[str], *, updated_at: int) -> None:
        if not content_ids:
            return
        ids = [clean_text(content_id) for content_id in content_ids]

        def touch(connection: Connection) -> None:
            marks = ", ".join("?" for _ in ids)
            connection.execute(
                f"UPDATE {self._contents} SET updated_at = ? WHERE linked_to = ? AND status = 'processing' "
                f"AND id IN ({marks})",
                (updated_at, self._base_id, *ids),
            )

        await self._file.call(lambda connection: transaction(connection, touch))

    async def stale_contents(self, *, updated_before: int) -> list[Content]:
        def read(connection: Connection) -> list[Content]:
            rows = connection.execute(
                f"SELECT {self._columns} FROM {self._contents} WHERE linked_to = ? AND status = 'processing' "
                "AND updated_at < ? ORDER BY updated_at, id",
                (self._base_id, updated_before),
            ).fetchall()
            return [content_from_row(row) for row in rows]

        return await self._file.call(read)

    async def delete_content(self, content_id: str) -> bool:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing

        def delete(connection: Connection) -> bool:
            cursor = connection.execute(
                f"DELETE FROM {self._contents} WHERE id = ? AND linked_to = ?", (content_id, self._base_id)
            )
            self._delete_chunks(connection, "content_id = ?", (content_id,))
            return bool(cursor.rowcount)

        return await self._file.call(lambda connection: transaction(connection, delete))

    async def delete_all(self) -> int:
        def delete(connection: Connection) -> int:
            cursor = connection.execute(f"DELETE FROM {self._contents} WHERE linked_to = ?", (self._base_id,))
            connection.execute(f"DELETE FROM {self._vectors}")
            connection.execute(f"DELETE FROM {self._chunks}")
            return int(cursor.rowcount)

        return await self._file.call(lambda connection: transaction(connection, delete))

    def _delete_chunks(self, connection: Connection, where: str, params: Sequence[Any]) -> None:
        connection.execute(
            f"DELETE FROM {self._vectors} WHERE rowid IN (SELECT vector_id FROM {self._chunks} WHERE {where})",
            params,
        )
        connection.execute(f"DELETE FROM {self._chunks} WHERE {where}", params)

    async def search(
        self, embedding: Sequence[float], *, limit: int, filters: Mapping[str, Any] | None = None
    ) -> list[SearchHit]:
        if limit < 1:
            return []
        if len(embedding) != self._dimensions:
            raise UnstorableData(
                f"the query embedding has {len(embedding)} dimensions; table '{self._chunks_name}' holds {self._dimensions}"
            )
        query = float32_blob(embedding)
        where, params = filter_clause(clean_json(filters or {}), "c")
        hit_columns = ", ".join(f"c.{column}" for column in HIT_COLUMNS)

        def nearest(connection: Connection) -> list[SearchHit]:
            if limit > MAX_K:  # beyond sqlite-vec's ``k``: every (matching) chunk ranked
                return [
                    hit_from_row(row)
                    for row in connection.execute(
                        f"SELECT {hit_columns}, vec_distance_cosine(v.embedding, ?) AS distance "
                        f"FROM {self._chunks} c CROSS JOIN {self._vectors} v ON v.rowid = c.vector_id "
                        f"WHERE {where} ORDER BY distance, c.id LIMIT ?",
                        (query, *params, limit),
                    ).fetchall()
                ]
            # Filters restrict the scan to the matching chunks' vectors (``rowid IN``), so the
            # nearest ``limit`` matches are found however few chunks match.
            only = f"AND rowid IN (SELECT c.vector_id FROM {self._chunks} c WHERE {where})" if filters else ""
            rows = connection.execute(
                f"SELECT {hit_columns}, knn.distance FROM "
                f"(SELECT rowid, distance FROM {self._vectors} WHERE embedding MATCH ? AND k = ? {only}) AS knn "
                f"JOIN {self._chunks} c ON c.vector_id = knn.rowid ORDER BY knn.distance, c.id",
                (query, limit, *(params if filters else ())),
            ).fetchall()
            return [hit_from_row(row) for row in rows]

        return await self._file.call(nearest)

    async def counts(self) -> tuple[int, int]:
        def read(connection: Connection) -> tuple[int, int]:
            connection.execute("BEGIN")
            try:
                contents = connection.execute(
                    f"SELECT count(*) FROM {self._contents} WHERE linked_to = ?", (self._base_id,)
                ).fetchone()[0]
                chunks = connection.execute(f"SELECT count(*) FROM {self._chunks}").fetchone()[0]
            finally:
                connection.execute("COMMIT")
            return int(contents), int(chunks)

        return await self._file.call(read)

    async def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()
