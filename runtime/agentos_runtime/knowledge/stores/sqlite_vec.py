"""Knowledge on the embedded SQLite database, with sqlite-vec for the vectors.

Contents and chunks live in their own file next to the database's (``agentos.db`` ->
``agentos.knowledge.db``): the vector extension needs a SQLite that can load it (the standard
library's module, or ``sqlean`` where the interpreter's cannot), and no other connection to
the main file (SQLAlchemy's, the run path's) should load it or see its virtual tables; one file
keeps a content's row and its chunks in one transaction. The file has the contents table
(Agno's SQLite ``agno_knowledge`` layout) and, per base, a chunk table (the columns of Agno's
``PgVector`` table, plus ``vector_id``, the stable row number linking a chunk to its vector)
and a sqlite-vec ``vec0`` table of its embeddings (cosine distance).

What both databases' stores do alike (the contents rows, deleting a content's chunks, closing)
is ``storing.SqlKnowledgeStore``'s; this module has SQLite's part. The file is run by the run
path's ``SqliteExecutor`` (``sqlite_files``), shared by the bases of the database: one connection on one thread, every call one hop to it, a read one snapshot, a
write one ``BEGIN IMMEDIATE`` transaction of statements (all applied, or none). WAL,
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
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.ports import SortField
from agentos_runtime.knowledge.records import Chunk, Content, SearchHit
from agentos_runtime.knowledge.stores.checking import (
    IncompatibleStore,
    UnstorableData,
    check_chunks,
    decode_json,
    encode_json,
)
from agentos_runtime.knowledge.stores.rows import (
    HIT_COLUMNS,
    chunk_params,
    content_from_row,
    content_params,
    hit_from_row,
    order_by,
    owned_or_shared,
    page_bounds,
)
from agentos_runtime.knowledge.stores.sqlite_files import driver_module
from agentos_runtime.knowledge.stores.sqlite_filters import filter_clause
from agentos_runtime.knowledge.stores.storing import Creation, SqlKnowledgeStore, StoreSettings
from agentos_runtime.storable import clean_json, clean_text
from agentos_runtime.storage.sql.executing import Rows, Step
from agentos_runtime.storage.sql.sqlite_executor import SqliteExecutor
from agentos_runtime.storage.sql.statements import Statement, quote

T = TypeVar("T")

# sqlite-vec refuses a nearest-neighbour query for more rows than this.
MAX_K = 4096
# Agno's stamp on tables it did not have to migrate (see storage.sql.tables).
AGNO_SCHEMA_VERSION = "3.0.0"
_DIMENSIONS = re.compile(r"float\[(\d+)\]")
# Chunks written per statement (9 parameters each, within SQLite's 32,766).
INSERT_BATCH = 500


def float32_blob(embedding: Sequence[float]) -> bytes:
    """An embedding as sqlite-vec stores it: float32s (cheaper than JSON text)."""
    blob: bytes = importlib.import_module("sqlite_vec").serialize_float32(list(embedding))
    return blob


class SqliteVecStore(SqlKnowledgeStore[SqliteExecutor]):
    """A knowledge base's ``KnowledgeStore`` in its database's knowledge file."""

    def __init__(self, executor: SqliteExecutor, settings: StoreSettings) -> None:
        super().__init__(executor, settings, schema=None)
        self._driver = driver_module()
        self._vectors = quote(f"{settings.chunks_table}__vectors")

    @staticmethod
    def param(name: str) -> str:
        return f":{name}"

    # -- preparing

    def _preparing_reads(self) -> list[Step]:
        return [
            (
                Statement(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                    "AND name IN (:vectors, :chunks, :contents)"
                ),
                {
                    "vectors": f"{self._chunks_name}__vectors",
                    "chunks": self._chunks_name,
                    "contents": self._contents_name,
                },
            )
        ]

    def _chunk_tables_present(self) -> Step:
        return (
            Statement("SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN (:chunks, :vectors)"),
            {"chunks": self._chunks_name, "vectors": f"{self._chunks_name}__vectors"},
        )

    def _creation(self, found: list[Rows]) -> Creation:
        """What is missing of the base's tables (idempotent); ``IncompatibleStore`` when its
        vector table exists with other dimensions. A chunk table or vector table dropped under
        the runtime is made again empty, and so is the other one of the pair: vectors without
        their chunks would hold the row numbers new chunks take, chunks without their vectors
        could never be found."""
        contents_missing = all(name != self._contents_name for name, _ in found[0])
        existing_tables = {str(name): sql for name, sql in found[0] if name != self._contents_name}
        has_vectors = f"{self._chunks_name}__vectors" in existing_tables
        has_chunks = self._chunks_name in existing_tables
        if has_vectors:
            match = _DIMENSIONS.search(existing_tables[f"{self._chunks_name}__vectors"] or "")
            existing = int(match.group(1)) if match else None
            if existing != self._dimensions:
                raise IncompatibleStore(
                    f"knowledge base '{self._base_id}': table '{self._chunks_name}' holds embeddings of {existing} "
                    f"dimensions, the embedder is configured for {self._dimensions}: set embedder.dimensions to "
                    f"{existing}, or give the base another table (or delete its knowledge file) to embed "
                    "everything again"
                )
        table, chunks = self._contents_name, self._chunks_name
        sql = [
            f"CREATE TABLE IF NOT EXISTS {self._contents} (id VARCHAR NOT NULL PRIMARY KEY, name VARCHAR NOT NULL, "
            "description VARCHAR NOT NULL, metadata JSON, type VARCHAR, size BIGINT, linked_to VARCHAR, "
            "access_count BIGINT, status VARCHAR, status_message VARCHAR, created_at BIGINT, updated_at BIGINT, "
            "external_id VARCHAR, user_id VARCHAR)",
            f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{table}_user_id')} ON {self._contents} (user_id)",
            f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{table}_user_id_linked_to')} "
            f"ON {self._contents} (user_id, linked_to)",
            f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{table}_linked_to_status')} "
            f"ON {self._contents} (linked_to, status, updated_at)",
            "CREATE TABLE IF NOT EXISTS agno_schema_versions (table_name VARCHAR NOT NULL PRIMARY KEY, "
            "version VARCHAR NOT NULL, created_at VARCHAR NOT NULL, updated_at VARCHAR)",
            f"CREATE TABLE IF NOT EXISTS {self._chunks} (vector_id INTEGER PRIMARY KEY, id VARCHAR NOT NULL UNIQUE, "
            "name VARCHAR, meta_data JSON NOT NULL DEFAULT '{}', filters JSON DEFAULT '{}', content TEXT, usage JSON, "
            "created_at BIGINT, updated_at BIGINT, content_hash VARCHAR, content_id VARCHAR, user_id VARCHAR)",
            *(
                f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{chunks}_{column}')} ON {self._chunks} ({column})"
                for column in ("content_hash", "content_id", "user_id", "name")
            ),
        ]
        if not has_vectors:
            sql.append(
                f"CREATE VIRTUAL TABLE {self._vectors} USING vec0("
                f"embedding float[{self._dimensions}] distance_metric=cosine)"
            )
            if has_chunks:
                sql.append(f"DELETE FROM {self._chunks}")
        elif not has_chunks:
            sql.append(f"DELETE FROM {self._vectors}")
        stamp: Step = (
            Statement(
                "INSERT INTO agno_schema_versions (table_name, version, created_at, updated_at) "
                "VALUES (:table, :version, :at, :at) ON CONFLICT (table_name) DO NOTHING"
            ),
            {"table": table, "version": AGNO_SCHEMA_VERSION, "at": str(int(time.time()))},
        )
        return Creation(contents_missing, [(Statement(statement), {}) for statement in sql], stamp)

    # -- contents

    async def list_contents(
        self,
        *,
        page: int,
        limit: int,
        sort_by: SortField = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        user_id: str | None = None,
    ) -> tuple[list[Content], int]:
        ordering = order_by(sort_by, sort_order)
        count, offset = page_bounds(page, limit)
        where, params = self._scoped("linked_to = :base", self._base, user_id)
        # One snapshot for the total (always a row, so the page is read after it) and the page.
        rows = await self._call(
            self._fetch(
                [
                    (Statement(f"SELECT count(*) FROM {self._contents} WHERE {where}"), params),
                    (
                        Statement(
                            f"SELECT {self._columns} FROM {self._contents} WHERE {where} "
                            f"ORDER BY {ordering} LIMIT :limit OFFSET :offset"
                        ),
                        {**params, "limit": count, "offset": offset},
                    ),
                ]
            )
        )
        return [content_from_row(row) for row in rows[1]], int(rows[0][0][0])

    async def complete_content(self, content_id: str, chunks: Sequence[Chunk], *, updated_at: int) -> bool:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing
        check_chunks(chunks, dimensions=self._dimensions, table=self._chunks_name)
        blobs = [float32_blob(chunk.embedding) for chunk in chunks]
        key = {"id": content_id, **self._base}
        reads: list[Step] = [
            (Statement(f"SELECT metadata, user_id FROM {self._contents} WHERE {self._one_content}"), key),
            # The write lock is held: the row numbers above the last are this transaction's to take.
            (Statement(f"SELECT coalesce(max(vector_id), 0) + 1 FROM {self._chunks}"), {}),
        ]

        def plan(found: list[Rows]) -> list[Step]:
            if not found[0]:
                return []
            metadata, owner = found[0][0]
            stored = decode_json(metadata)
            filters = encode_json(stored or None, field="metadata")
            rows = [
                (chunk_params(chunk, stored_metadata=stored), blob) for chunk, blob in zip(chunks, blobs, strict=True)
            ]
            first = int(found[1][0][0])
            steps = self._chunk_deletion(self._content_chunks, key)
            for start in range(0, len(rows), INSERT_BATCH):
                batch = rows[start : start + INSERT_BATCH]
                steps += self._chunk_insertion(batch, first + start, filters, owner, updated_at)
            steps.append(self._completion(key, updated_at))
            return steps

        written = await self._call(self._executor.write_after(reads, plan))
        return bool(written) and bool(written[-1])

    def _chunk_insertion(
        self,
        batch: Sequence[tuple[dict[str, Any], bytes]],
        first: int,
        filters: str | None,
        owner: str | None,
        updated_at: int,
    ) -> list[Step]:
        """The two ``INSERT`` statements of a batch of chunks: their rows (numbered from
        ``first``, each of its content's user ``owner``) and their vectors under the same numbers."""
        chunk_rows: list[str] = []
        vector_rows: list[str] = []
        params: dict[str, Any] = {"filters": filters, "at": updated_at, "owner": owner}
        vectors: dict[str, Any] = {}
        for n, (chunk, vector) in enumerate(batch):
            chunk_rows.append(
                f"(:row{n}, :id{n}, :name{n}, :meta{n}, :filters, :content{n}, :usage{n}, :at, :at, :hash{n}, "
                f":content_id{n}, :owner)"
            )
            vector_rows.append(f"(:row{n}, :vector{n})")
            params.update(
                {
                    f"row{n}": first + n,
                    f"id{n}": chunk["id"],
                    f"name{n}": chunk["name"],
                    f"meta{n}": chunk["meta_data"],
                    f"content{n}": chunk["content"],
                    f"usage{n}": chunk["usage"],
                    f"hash{n}": chunk["content_hash"],
                    f"content_id{n}": chunk["content_id"],
                }
            )
            vectors.update({f"row{n}": first + n, f"vector{n}": vector})
        return [
            (
                Statement(
                    f"INSERT INTO {self._chunks} (vector_id, id, name, meta_data, filters, content, usage, "
                    f"created_at, updated_at, content_hash, content_id, user_id) VALUES {', '.join(chunk_rows)}"
                ),
                params,
            ),
            (Statement(f"INSERT INTO {self._vectors} (rowid, embedding) VALUES {', '.join(vector_rows)}"), vectors),
        ]

    async def _edit_merging(self, content: Content, metadata: dict[str, Any]) -> bool:
        # Merged here, under the write lock the reads take: SQLite's JSON functions would write
        # back the values the edit leaves with 15 digits (a float) or as a float (an integer past
        # 64 bits), while a value decoded and encoded again here keeps every digit.
        key = {"id": clean_text(content.id), **self._base}
        reads: list[Step] = [
            (Statement(f"SELECT metadata FROM {self._contents} WHERE {self._one_content}"), key),
            (Statement(f"SELECT id, meta_data FROM {self._chunks} WHERE {self._content_chunks}"), key),
        ]

        def plan(found: list[Rows]) -> list[Step]:
            if not found[0]:
                return []
            merged = encode_json({**_object(decode_json(found[0][0][0])), **metadata}, field="metadata")
            params = {**content_params(content), **key, "metadata": merged}
            steps: list[Step] = [
                (
                    Statement(
                        f"UPDATE {self._contents} SET {self._edited_columns}, metadata = :metadata "
                        f"WHERE {self._one_content} RETURNING id"
                    ),
                    params,
                )
            ]
            chunk_update = Statement(f"UPDATE {self._chunks} SET meta_data = :meta, filters = :metadata WHERE id = :id")
            for chunk_id, meta_data in found[1]:
                edited = encode_json({**_object(decode_json(meta_data)), **metadata}, field="meta_data")
                steps.append((chunk_update, {"id": chunk_id, "meta": edited, "metadata": merged}))
            return steps

        written = await self._call(self._executor.write_after(reads, plan))
        return bool(written) and bool(written[0])

    def _chunk_deletion(self, where: str | None, params: Mapping[str, Any]) -> list[Step]:
        """The statements deleting the chunks ``where`` selects (every one for ``None``), and their vectors."""
        if where is None:
            return [(Statement(f"DELETE FROM {self._vectors}"), {}), (Statement(f"DELETE FROM {self._chunks}"), {})]
        return [
            (
                Statement(
                    f"DELETE FROM {self._vectors} WHERE rowid IN (SELECT vector_id FROM {self._chunks} WHERE {where})"
                ),
                params,
            ),
            (Statement(f"DELETE FROM {self._chunks} WHERE {where}"), params),
        ]

    async def touch_contents(self, content_ids: Sequence[str], *, updated_at: int) -> None:
        if not content_ids:
            return
        ids = {f"id{n}": clean_text(content_id) for n, content_id in enumerate(content_ids)}
        marks = ", ".join(f":{name}" for name in ids)
        touch = Statement(
            f"UPDATE {self._contents} SET updated_at = :updated_at WHERE linked_to = :base AND status = 'processing' "
            f"AND id IN ({marks})"
        )
        await self._call(self._executor.write([(touch, {**ids, **self._base, "updated_at": updated_at})]))

    # -- search

    async def _search(
        self, embedding: Sequence[float], *, limit: int, filters: Mapping[str, Any] | None, user_id: str | None
    ) -> list[SearchHit]:
        where, filter_params = filter_clause(clean_json(filters or {}), "c")
        params = {"query": float32_blob(embedding), "limit": limit, **filter_params}
        if user_id is not None:
            where = f"{where} AND {owned_or_shared('c.user_id', ':user')}"
            params["user"] = user_id
        hit_columns = ", ".join(f"c.{column}" for column in HIT_COLUMNS)
        if limit > MAX_K:  # beyond sqlite-vec's ``k``: every (matching) chunk ranked
            sql = (
                f"SELECT {hit_columns}, vec_distance_cosine(v.embedding, :query) AS distance "
                f"FROM {self._chunks} c CROSS JOIN {self._vectors} v ON v.rowid = c.vector_id "
                f"WHERE {where} AND {self._contents_guard} ORDER BY distance, c.id LIMIT :limit"
            )
        else:
            # Filters restrict the scan to the matching chunks' vectors (``rowid IN``), so the
            # nearest ``limit`` matches are found however few chunks match.
            scoped = filters or user_id is not None
            only = f"AND rowid IN (SELECT c.vector_id FROM {self._chunks} c WHERE {where})" if scoped else ""
            sql = (
                f"SELECT {hit_columns}, knn.distance FROM "
                f"(SELECT rowid, distance FROM {self._vectors} WHERE embedding MATCH :query AND k = :limit {only}) "
                f"AS knn JOIN {self._chunks} c ON c.vector_id = knn.rowid WHERE {self._contents_guard} "
                "ORDER BY knn.distance, c.id"
            )
        rows = await self._call(self._fetch([(Statement(sql), params)]))
        return [hit_from_row(row) for row in rows[0]]

    async def _call(self, work: Awaitable[T]) -> T:
        """``work``'s result; the data the database refused is ``UnstorableData``. The executor
        tells the file's faults, a missing table and the rest of ``OperationalError`` as
        ``StorageUnavailable`` (naming the file and the fix), for sqlean's errors too."""
        driver = self._driver
        try:
            return await work
        except (driver.IntegrityError, driver.DataError) as error:
            raise UnstorableData(f"database '{self._db_id}' refused the data: {error}") from error
        except driver.Error as error:  # what the executor passes on: a statement the driver refused
            raise StorageUnavailable(f"database '{self._db_id}' (knowledge) cannot be used: {error}") from error


def _object(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object; ``{}`` for anything else stored there."""
    return dict(value) if isinstance(value, dict) else {}
