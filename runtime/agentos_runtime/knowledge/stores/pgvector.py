"""Knowledge on PostgreSQL with pgvector, in Agno's tables.

Contents are rows of the database's ``agno_knowledge`` table (Agno's ``PostgresDb`` layout);
each base's chunks are a table with the columns and indexes of Agno's ``PgVector``, in the
database's schema (``pgvector_tables``). A base Agno filled is therefore searchable here and
the reverse.

What both databases' stores do alike (the contents rows, deleting a content's chunks, closing)
is ``storing.SqlKnowledgeStore``'s; this module has PostgreSQL's part. Statements go through
the run path's ``PostgresExecutor`` (a psycopg pool per database, shared by its bases): its
errors are ``StorageUnavailable`` with the URL redacted; data the database refuses is
``UnstorableData``. ``prepare`` runs under the advisory lock of the schema that
creating the runtime's own tables takes, so replicas starting together, or repairs of a dropped
schema, create each thing once.

Search orders by pgvector's cosine distance with the HNSW index (filters applied during its
iterative scan, results in exact order, with pgvector 0.8 or later; older ones filter after
the scan); when the index yields fewer chunks than asked, the matching chunks are ranked
exactly instead, so a filtered search returns every match up to ``limit``. The HNSW scan's
settings (``hnsw.ef_search``, ``hnsw.iterative_scan``, sequential scans off) are the search's own
transaction's, never left on the connection: on a server reached directly they and the search go
out together (the executor's pipeline), one round trip; behind a pooler four (``BEGIN``, the
settings, the search, ``COMMIT``). Ranking exactly after the index costs one more.

Time: every read (a search, a listing, a content, the counts) is bounded by the database's
``timeout_seconds`` on the client (``read_timeout``; ``storage.sql.deadline``): a server that
does not answer within it and the grace has the read's connection cut, and the read raises
``StorageUnavailable`` saying the database did not answer, so a run's search or a request
fails instead of waiting for ever. Writes (a content's chunks, deletions) and ``prepare``
(the extension, tables and an HNSW index, which may take long on a large base) are not bounded:
they wait for the server; the connections carry no server-side timeout either. The start and
the requests wait for ``prepare`` no longer than a read, though: it goes on without them
(``KnowledgeBase.prepare``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import psycopg

from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.knowledge.ports import SortField
from agentos_runtime.knowledge.records import Chunk, Content, SearchHit
from agentos_runtime.knowledge.stores.checking import (
    IncompatibleStore,
    UnstorableData,
    check_chunks,
    encode_json,
)
from agentos_runtime.knowledge.stores.pgvector_tables import (
    HNSW_MAX_DIMENSIONS,
    Embedding,
    contents_stamp,
    creation_steps,
)
from agentos_runtime.knowledge.stores.rows import (
    HIT_COLUMNS,
    chunk_params,
    content_from_row,
    content_params,
    hit_from_row,
    order_by,
    page_bounds,
)
from agentos_runtime.knowledge.stores.storing import Creation, SqlKnowledgeStore, StoreSettings
from agentos_runtime.storable import clean_text
from agentos_runtime.storage.sql.executing import Rows, Step
from agentos_runtime.storage.sql.postgres_executor import PostgresExecutor
from agentos_runtime.storage.sql.schema import creation_lock_key
from agentos_runtime.storage.sql.statements import Statement, quote
from agentos_runtime.storage.urls import redact

T = TypeVar("T")

# Candidates the HNSW scan keeps (pgvector's default is 40; it returns at most this many).
MIN_EF_SEARCH = 40
MAX_EF_SEARCH = 1000
# Chunks written per statement (8 parameters each, within PostgreSQL's 65,535).
INSERT_BATCH = 500
_MESSAGE_MAX_LENGTH = 300


# What a server without pgvector (or a user who may not create it) answers CREATE EXTENSION with.
_EXTENSION_REFUSALS = (psycopg.errors.InsufficientPrivilege, psycopg.errors.FeatureNotSupported)


class PgVectorStore(SqlKnowledgeStore[PostgresExecutor]):
    """A knowledge base's ``KnowledgeStore`` on PostgreSQL with pgvector."""

    def __init__(
        self,
        executor: PostgresExecutor,
        settings: StoreSettings,
        *,
        conninfo: str,
        schema: str,
        hnsw: bool = False,
        read_timeout: float | None = None,
    ) -> None:
        super().__init__(executor, settings, schema=schema)
        # The database's ``timeout_seconds``: each read's bound (``None``: unbounded).
        self._read_timeout = read_timeout
        self._conninfo = conninfo
        self._schema = schema
        # The HNSW index, when configured (``vector_index: hnsw``) and the vectors fit in one.
        self._hnsw = hnsw and settings.dimensions <= HNSW_MAX_DIMENSIONS
        self._hit_columns = ", ".join(quote(column) for column in HIT_COLUMNS)
        # pgvector 0.8 filters during the HNSW scan (``hnsw.iterative_scan``); older ones cannot.
        self._iterative_scan = True
        # Whether ``prepare`` creates the extension: only then is a refused privilege the extension's.
        self._creating_extension = False

    @staticmethod
    def param(name: str) -> str:
        return f"%({name})s"

    @classmethod
    def json_param(cls, name: str) -> str:
        return f"%({name})s::jsonb"

    async def _fetch(self, steps: Sequence[Step], *, in_transaction: bool = False) -> list[Rows]:
        return await self._executor.fetch(steps, timeout_seconds=self._read_timeout, in_transaction=in_transaction)

    # -- preparing

    async def prepare(self) -> None:
        try:
            await super().prepare()
        finally:
            self._creating_extension = False

    def _preparing_reads(self) -> list[Step]:
        return [
            (
                Statement("SELECT pg_advisory_xact_lock(hashtext(%(key)s))"),
                # The lock of the runtime's own tables: a dropped schema is created by one of the two.
                {"key": creation_lock_key(self._schema)},
            ),
            (Statement("SELECT extversion FROM pg_extension WHERE extname = 'vector'"), {}),
            (
                Statement(
                    "SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = to_regclass(%(table)s) "
                    "AND a.attname = 'embedding' AND NOT a.attisdropped"
                ),
                {"table": self._chunks},
            ),
            (Statement("SELECT to_regclass(%(table)s) IS NULL"), {"table": self._contents}),
        ]

    def _creation(self, found: list[Rows]) -> Creation:
        """What ``prepare`` runs once the schema's lock is held; ``IncompatibleStore`` when the
        chunk table exists with other dimensions."""
        _, extension, embedding, contents_missing = found
        self._creating_extension = not extension
        if extension:
            self._iterative_scan = _version(str(extension[0][0])) >= (0, 8)
        if embedding and int(embedding[0][0]) != self._dimensions:
            existing = int(embedding[0][0])
            raise IncompatibleStore(
                f"knowledge base '{self._base_id}': table '{self._schema}.{self._chunks_name}' holds embeddings of "
                f"{existing} dimensions, the embedder is configured for {self._dimensions}: set embedder.dimensions "
                f"to {existing} (the model that filled it), or give the base another table to embed everything again"
            )
        tables = creation_steps(
            schema=self._schema,
            contents_table=self._contents_name,
            chunks_table=self._chunks_name,
            dimensions=self._dimensions,
            create_extension=not extension,
            hnsw=self._hnsw,
        )
        return Creation(bool(contents_missing[0][0]), tables, contents_stamp(self._schema, self._contents_name))

    def _chunk_tables_present(self) -> Step:
        return (Statement("SELECT to_regclass(%(chunks)s) IS NOT NULL"), {"chunks": self._chunks})

    async def _edit_merging(self, content: Content, metadata: dict[str, Any]) -> bool:
        params = {**content_params(content), **self._base, "patch": encode_json(metadata, field="metadata")}
        update = Statement(
            f"UPDATE {self._contents} SET {self._edited_columns}, metadata = {_merged('metadata')} "
            f"WHERE {self._one_content} RETURNING id"
        )
        # The chunks' meta_data (what searches filter on) take the new keys; their filters are
        # the content's metadata as it now is.
        chunks = Statement(
            f"UPDATE {self._chunks} SET meta_data = {_merged('meta_data')}, "
            f"filters = (SELECT metadata FROM {self._contents} WHERE {self._one_content}) "
            f"WHERE {self._content_chunks}"
        )
        rows = await self._call(self._executor.write([(update, params), (chunks, params)]))
        return bool(rows[0])

    def _chunk_deletion(self, where: str | None, params: Mapping[str, Any]) -> list[Step]:
        return [(Statement(f"DELETE FROM {self._chunks}" + ("" if where is None else f" WHERE {where}")), params)]

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
        where, params = self._scoped("linked_to = %(base)s", self._base, user_id)
        rows = await self._call(
            self._fetch(
                [
                    (
                        Statement(
                            f"SELECT {self._columns}, count(*) OVER () FROM {self._contents} "
                            f"WHERE {where} ORDER BY {ordering} LIMIT %(limit)s OFFSET %(offset)s"
                        ),
                        {**params, "limit": count, "offset": offset},
                    )
                ]
            )
        )
        page_rows = rows[0]
        if page_rows:
            return [content_from_row(row[:-1]) for row in page_rows], int(page_rows[0][-1])
        if offset == 0:
            return [], 0
        # Past the last page: the window count came with no row, ask for the total alone.
        total = await self._call(
            self._fetch([(Statement(f"SELECT count(*) FROM {self._contents} WHERE {where}"), params)])
        )
        return [], int(total[0][0][0])

    async def complete_content(self, content_id: str, chunks: Sequence[Chunk], *, updated_at: int) -> bool:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing
        check_chunks(chunks, dimensions=self._dimensions, table=self._chunks_name)
        embeddings = [Embedding(chunk.embedding) for chunk in chunks]
        key = {"id": content_id, "base": self._base_id}
        lock: Step = (
            Statement(f"SELECT metadata, user_id FROM {self._contents} WHERE {self._one_content} FOR UPDATE"),
            key,
        )

        def plan(found: list[Rows]) -> Sequence[Step]:
            if not found[0]:
                return []
            metadata, owner = found[0][0]
            filters = encode_json(metadata or None, field="metadata")
            prepared = [
                (chunk_params(chunk, stored_metadata=metadata), embedding)
                for chunk, embedding in zip(chunks, embeddings, strict=True)
            ]
            steps = self._chunk_deletion(self._content_chunks, key)
            for start in range(0, len(prepared), INSERT_BATCH):
                steps.append(self._insert_chunks(prepared[start : start + INSERT_BATCH], filters, owner, updated_at))
            steps.append(self._completion(key, updated_at))
            return steps

        rows = await self._call(self._executor.write_after([lock], plan))
        return bool(rows) and bool(rows[-1])

    def _insert_chunks(
        self, batch: Sequence[tuple[dict[str, Any], Embedding]], filters: str | None, owner: str | None, updated_at: int
    ) -> Step:
        """One ``INSERT`` of a batch of chunks, a row of parameters each (embeddings in binary),
        each of its content's user ``owner``."""
        rows: list[str] = []
        params: dict[str, Any] = {"filters": filters, "at": updated_at, "owner": owner}
        for n, (chunk, embedding) in enumerate(batch):
            rows.append(
                f"(%(id{n})s, %(name{n})s, %(meta{n})s::jsonb, %(filters)s::jsonb, %(content{n})s, "
                f"%(embedding{n})b::vector, %(usage{n})s::jsonb, to_timestamp(%(at)s), to_timestamp(%(at)s), "
                f"%(hash{n})s, %(content_id{n})s, %(owner)s)"
            )
            params.update(
                {
                    f"id{n}": chunk["id"],
                    f"name{n}": chunk["name"],
                    f"meta{n}": chunk["meta_data"],
                    f"content{n}": chunk["content"],
                    f"embedding{n}": embedding,
                    f"usage{n}": chunk["usage"],
                    f"hash{n}": chunk["content_hash"],
                    f"content_id{n}": chunk["content_id"],
                }
            )
        return (
            Statement(
                f"INSERT INTO {self._chunks} (id, name, meta_data, filters, content, embedding, usage, created_at, "
                f"updated_at, content_hash, content_id, user_id) VALUES {', '.join(rows)}"
            ),
            params,
        )

    async def touch_contents(self, content_ids: Sequence[str], *, updated_at: int) -> None:
        if not content_ids:
            return
        await self._call(
            self._executor.write(
                [
                    (
                        Statement(
                            f"UPDATE {self._contents} SET updated_at = %(updated_at)s WHERE linked_to = %(base)s "
                            "AND status = 'processing' AND id = ANY(%(ids)s::text[])"
                        ),
                        {
                            "updated_at": updated_at,
                            "base": self._base_id,
                            "ids": [clean_text(content_id) for content_id in content_ids],
                        },
                    )
                ]
            )
        )

    # -- search

    async def _search(
        self, embedding: Sequence[float], *, limit: int, filters: Mapping[str, Any] | None, user_id: str | None
    ) -> list[SearchHit]:
        where, params = self._scoped(self._contents_guard, {"query": Embedding(embedding), "limit": limit}, user_id)
        if filters:
            where += " AND meta_data @> %(filters)s::jsonb"
            params["filters"] = encode_json(dict(filters), field="filters")
        distance = "embedding <=> %(query)b::vector"
        if self._hnsw:
            ef_search = min(max(MIN_EF_SEARCH, 2 * limit), MAX_EF_SEARCH)
            # Settings of the search's own transaction (``set_config(..., true)``), ended with it:
            # none is left on the connection for the next statement, whoever sends it (behind a
            # pooler, another client on the same server connection). The planner underrates a
            # scan over vectors kept out of line (TOAST) and would skip the index: sequential
            # scans are off for this one search.
            settings = "set_config('hnsw.ef_search', %(ef_search)s, true), set_config('enable_seqscan', 'off', true)"
            if self._iterative_scan:
                settings += ", set_config('hnsw.iterative_scan', 'strict_order', true)"
            rows = await self._call(
                self._fetch(
                    [
                        (Statement(f"SELECT {settings}"), {"ef_search": str(ef_search)}),
                        (
                            Statement(
                                f"SELECT {self._hit_columns}, {distance} AS distance FROM {self._chunks} "
                                f"WHERE {where} ORDER BY {distance} LIMIT %(limit)s"
                            ),
                            params,
                        ),
                    ],
                    in_transaction=True,
                )
            )
            if len(rows[1]) >= limit:
                return [hit_from_row(row) for row in rows[1]]
        # Exact: every matching chunk ranked (the materialised set keeps the planner off the index).
        exact = await self._call(
            self._fetch(
                [
                    (
                        Statement(
                            f"WITH scored AS MATERIALIZED (SELECT {self._hit_columns}, {distance} AS distance "
                            f"FROM {self._chunks} WHERE {where}) "
                            "SELECT * FROM scored ORDER BY distance, id LIMIT %(limit)s"
                        ),
                        params,
                    )
                ]
            )
        )
        return [hit_from_row(row) for row in exact[0]]

    async def _call(self, work: Awaitable[T]) -> T:
        """``work``'s result; what the database refused turned into our errors, URL redacted."""
        try:
            return await work
        except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as error:
            raise UnstorableData(f"database '{self._db_id}' refused the data: {self._redacted(error)}") from error
        except StorageUnavailable as error:
            # The executor tells a refused privilege as the tables need it; while ``prepare``
            # creates the extension, the privilege refused is the one that creates it.
            cause = error.__cause__
            if self._creating_extension and isinstance(cause, _EXTENSION_REFUSALS):
                raise self._needs_extension(cause) from cause
            raise
        except ValueError as error:
            if not isinstance(error.__cause__, psycopg.Error):
                raise
            # The executor's word for a value past a limit of the server (SQLSTATE class 54),
            # such as a name over what Agno's btree index on it takes: the data's fault.
            raise UnstorableData(f"database '{self._db_id}' refused the data: {error}") from error
        except psycopg.Error as error:
            if self._creating_extension and isinstance(error, _EXTENSION_REFUSALS):
                raise self._needs_extension(error) from error
            raise IncompatibleStore(
                f"database '{self._db_id}' refused the operation: {self._redacted(error)}"
            ) from error

    def _needs_extension(self, error: BaseException) -> IncompatibleStore:
        return IncompatibleStore(
            f"database '{self._db_id}': {self._redacted(error)}; knowledge needs the pgvector extension: "
            "install it on the server and run CREATE EXTENSION vector as a superuser, or let the user create it"
        )

    def _redacted(self, error: BaseException) -> str:
        return redact(f"{type(error).__name__}: {error}", self._conninfo)[:_MESSAGE_MAX_LENGTH]


def _version(text: str) -> tuple[int, ...]:
    """``0.8.1`` as ``(0, 8, 1)``; parts that are not numbers count as 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


def _merged(column: str) -> str:
    """The JSONB ``column`` (an object; anything else taken for ``{}``) with the keys of the
    ``patch`` parameter set: jsonb's ``||`` replaces a key's value whole, as Agno merges."""
    kept = f"CASE WHEN jsonb_typeof({column}) = 'object' THEN {column} ELSE '{{}}'::jsonb END"
    return f"{kept} || %(patch)s::jsonb"
