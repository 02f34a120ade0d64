"""What the knowledge stores of both SQL databases do the same way, written once.

``SqlKnowledgeStore`` holds a base's tables (the database's contents table, the base's chunk
table), the statements that read and change contents rows, and the shared steps of preparing,
searching and closing. Each database's store (``sqlite_vec``, ``pgvector``) gives what its
dialect says differently: how a parameter is written (``param``, ``json_param``), how a base's
chunks are deleted (on SQLite with their vectors), how the tables are made, how chunks are
written and searched, and which of its driver's errors mean what (``_call``).

The contents table is the database's, shared by its bases; each base's chunks name their
content (``content_id``). When it is dropped (under the runtime, or while it was down) the
chunks of what it held are orphans: no call can list or delete them, and no search may find
them. Three things see to it, whatever fails:

* ``prepare`` makes the table again and deletes those chunks, from the chunk table of every
  open base of the database (of that contents table: two database configs may share one
  connection, each with its own), in one transaction (PostgreSQL's DDL is transactional, and
  SQLite's within ``BEGIN IMMEDIATE``). A failure or a crash between the two undoes both: the
  table is still missing, so the next call that needs it starts the repair again, which does
  both or neither.
* The bases not open here (closed, removed from this config and added back later, declared by
  another runtime sharing the database) are told in the same transaction. ``agno_schema_versions``
  holds a row per chunk table of the contents table (``cleanup_record``: ``<contents>/<chunks>``,
  no table's name, since a declared name has no ``/``), whose ``version`` is ``orphans owed`` or
  ``orphans deleted``. Making the table again marks every row of it owed, then the open bases'
  deleted; a base's ``prepare`` deletes its orphans when its row is owed and marks it deleted,
  in one transaction, so a failure leaves it owed and its next ``prepare`` deletes them (a base
  serves no call before a ``prepare`` succeeded). Agno reads the row of each of its own tables
  by name and never these, nor do its vector databases write any there.
* Every search names the contents table (``_contents_guard``), so while the table is missing a
  search fails, starting its repair, as any other call does, instead of finding the chunks of
  contents gone.

Only a table stamped as made (``agno_schema_versions``) and then found missing was dropped, and
only a base whose row was there to be marked owes a cleanup: chunks beside a contents table
never made (Agno's vector database used alone) are kept, and so are those of a chunk table with
no row (made before the runtime kept them, or by Agno alone) until a ``prepare`` here writes it.
Once written, the next making of the table deletes the chunks no content names, as it does from
an open base's, those Agno's vector database wrote without contents among them.

Why rows marked owed rather than a generation of the contents table (a marker its stamp changes
each time it is made, compared with the one each chunk table was cleaned against): the stamp's
``version`` is what Agno's migrations read and compare, its ``updated_at`` Agno rewrites when it
migrates a table (which drops nothing), and telling two makings apart needs a value never used
before (a clock or a random one); marking the rows needs none, and a row is written only by
``prepare``, in the transactions above. What it leaves: a base open in another runtime, none of
whose calls found the table missing before this one made it again, deletes its orphans at its
next ``prepare`` only (its next start, or its next repair); a runtime of an earlier release, and
Agno making the table itself, mark no row.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from agentos_runtime.errors import Conflict
from agentos_runtime.knowledge.records import Content, SearchHit
from agentos_runtime.knowledge.stores.checking import UnstorableData
from agentos_runtime.knowledge.stores.rows import CONTENT_COLUMNS, content_from_row, content_params, owned_or_shared
from agentos_runtime.storable import clean_text
from agentos_runtime.storage.sql.executing import Executor, Rows, Step
from agentos_runtime.storage.sql.repair import SchemaRepair
from agentos_runtime.storage.sql.statements import Statement, quote

T = TypeVar("T")
# The database's executor: each dialect's store holds its own type, with what that type adds.
E = TypeVar("E", bound=Executor)

# The ``version`` of a chunk table's row in ``agno_schema_versions`` (``cleanup_record``).
ORPHANS_OWED = "orphans owed"
"""The contents table was made again since the chunk table was last cleaned: its chunks of
contents gone are deleted at the base's next ``prepare``."""
ORPHANS_DELETED = "orphans deleted"
"""The chunk table holds no chunk of a content the contents table lost by being made again."""


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
    bases: Callable[[], Sequence[SqlKnowledgeStore[Any]]] | None = None
    """The open stores on the database's connection, this one among them: ``prepare`` deletes the
    chunks of each whose contents table is this one's when it makes that table again, dropped.
    ``None``: this store alone."""


class Creation(NamedTuple):
    """What ``prepare`` runs once it has read what exists of the base's tables."""

    contents_missing: bool
    """Whether the contents table was missing (so ``tables`` makes it again, empty)."""
    tables: Sequence[Step]
    """Creating what is missing of the base's tables and indexes, ``agno_schema_versions`` among them."""
    stamp: Step
    """Stamping the contents table in ``agno_schema_versions`` as made, when it is not yet."""


class SqlKnowledgeStore(ABC, Generic[E]):
    """A knowledge base's ``KnowledgeStore`` on a SQL database, but for its dialect's part.

    ``contents``, ``chunks`` and ``versions`` (``agno_schema_versions``) are the tables as
    statements name them: quoted, qualified by ``schema`` where there is one; the settings'
    ``contents_table`` and ``chunks_table`` are their bare names.
    """

    def __init__(self, executor: E, settings: StoreSettings, *, schema: str | None) -> None:
        self._executor = executor
        self._db_id = settings.db_id
        self._base_id = settings.base_id
        self._contents_name = settings.contents_table
        self._chunks_name = settings.chunks_table
        self._contents = _qualified(schema, settings.contents_table)
        self._chunks = _qualified(schema, settings.chunks_table)
        self._versions = _qualified(schema, "agno_schema_versions")
        self._dimensions = settings.dimensions
        self._on_close = settings.on_close
        self._bases = settings.bases or (lambda: (self,))
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
    async def _edit_merging(self, content: Content, metadata: dict[str, Any]) -> bool:
        """``edit_content`` with ``metadata``: the row's name, description and updated_at
        written (``_edited_columns``), ``metadata`` merged into its metadata and every chunk's
        ``meta_data`` as Agno merges (a key it names replaced whole, the others kept, untouched),
        the chunks' ``filters`` set to the row's merged metadata, all in one transaction."""

    @abstractmethod
    def _chunk_tables_present(self) -> Step:
        """A read whose one value says whether the tables ``_chunk_deletion`` deletes from exist."""

    @abstractmethod
    def _preparing_reads(self) -> list[Step]:
        """What ``prepare`` reads first, in its transaction (the rows ``_creation`` is given)."""

    @abstractmethod
    def _creation(self, found: list[Rows]) -> Creation:
        """What ``prepare`` runs after its reads' rows ``found``; ``IncompatibleStore`` when the
        base's tables exist with other dimensions."""

    @abstractmethod
    async def _call(self, work: Awaitable[T]) -> T:
        """``work``'s result, the driver's errors turned into ours."""

    async def _fetch(self, steps: Sequence[Step]) -> list[Rows]:
        """The executor's read of ``steps``: every read of the store goes through it (a dialect
        may bound it in time)."""
        return await self._executor.fetch(steps)

    @abstractmethod
    async def _search(
        self, embedding: Sequence[float], *, limit: int, filters: Mapping[str, Any] | None, user_id: str | None
    ) -> list[SearchHit]:
        """The nearest chunks to ``embedding`` (checked: ``limit`` >= 1, the base's dimensions),
        only of ``user_id``'s contents and shared ones when given."""

    # -- preparing

    async def prepare(self) -> None:
        """Create what is missing of the base's tables, in one transaction, and delete the chunks
        of contents gone that this base, or every open base, owes (see the module's docstring)."""
        # Bases of another contents table (another schema, or another name, on one connection) lost nothing.
        bases = tuple(base for base in self._bases() if base._contents == self._contents)
        reads = self._preparing_reads()
        own = len(reads)
        reads += [base._chunk_tables_present() for base in bases]
        at = str(int(time.time()))

        def plan(found: list[Rows]) -> list[Step]:
            creation = self._creation(found[:own])
            present = [base for base, rows in zip(bases, found[own:], strict=True) if rows[0][0]]
            cleanup = orphans_cleanup(contents_missing=creation.contents_missing, own=self, present=present)
            return [*creation.tables, *self._cleanup_steps(cleanup, at), creation.stamp]

        await self._call(self._executor.write_after(reads, plan))

    def _cleanup_steps(self, cleanup: OrphansCleanup[SqlKnowledgeStore[Any]], at: str) -> list[Step]:
        """The statements of ``cleanup``, run after the tables are made, before the contents
        table's stamp (so "stamped" means stamped before this transaction): the orphans deleted
        from each of ``cleanup.deleted_from`` that owes it, then the records of the others owed
        when the contents table is made again, then the records of the bases cleaned."""
        p = self.param
        stamped = f"EXISTS (SELECT 1 FROM {self._versions} WHERE table_name = {p('contents_table')})"
        owed = f"EXISTS (SELECT 1 FROM {self._versions} WHERE table_name = {p('record')} AND version = {p('owed')})"
        orphans = f"content_id IS NOT NULL AND content_id NOT IN (SELECT id FROM {self._contents})"
        # The check of the records first: SQLite evaluates the terms in order for each chunk, and a
        # base that owes nothing (every start's prepare) then reads no contents row per chunk.
        where = f"({stamped} OR {owed}) AND {orphans}" if cleanup.made_again else f"{owed} AND {orphans}"
        steps: list[Step] = []
        for base in cleanup.deleted_from:
            params = {"contents_table": self._contents_name, "record": base._cleanup_record, "owed": ORPHANS_OWED}
            steps += base._chunk_deletion(where, params)
        if cleanup.made_again:
            owe = Statement(
                f"UPDATE {self._versions} SET version = {p('owed')}, updated_at = {p('at')} "
                f"WHERE table_name LIKE {p('records')} ESCAPE '\\' AND {stamped}"
            )
            records = cleanup_record(self._contents_name, "").replace("_", "\\_") + "%"
            steps.append(
                (owe, {"owed": ORPHANS_OWED, "at": at, "records": records, "contents_table": self._contents_name})
            )
        record = Statement(
            f"INSERT INTO {self._versions} AS recorded (table_name, version, created_at, updated_at) "
            f"VALUES ({p('record')}, {p('deleted')}, {p('at')}, {p('at')}) ON CONFLICT (table_name) "
            "DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at "
            "WHERE recorded.version <> excluded.version"
        )
        for base in cleanup.recorded:
            steps.append((record, {"record": base._cleanup_record, "deleted": ORPHANS_DELETED, "at": at}))
        return steps

    @property
    def _cleanup_record(self) -> str:
        """The name of the base's chunk table's row in ``agno_schema_versions``."""
        return cleanup_record(self._contents_name, self._chunks_name)

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

    async def get_content(self, content_id: str, *, user_id: str | None = None) -> Content | None:
        content_id = clean_text(content_id)  # an id no database can hold matches nothing
        where, params = self._scoped(self._one_content, {"id": content_id, **self._base}, user_id)
        select = Statement(f"SELECT {self._columns} FROM {self._contents} WHERE {where}")
        rows = await self._call(self._fetch([(select, params)]))
        return content_from_row(rows[0][0]) if rows[0] else None

    def _scoped(self, where: str, params: Mapping[str, Any], user_id: str | None) -> tuple[str, dict[str, Any]]:
        """``where`` and ``params`` keeping only ``user_id``'s rows and shared ones (all for ``None``)."""
        if user_id is None:
            return where, dict(params)
        return f"{where} AND {owned_or_shared('user_id', self.param('user'))}", {**params, "user": user_id}

    async def update_content(self, content: Content) -> bool:
        return await self._set_content(
            content, ("name", "description", "metadata", "status", "status_message", "updated_at")
        )

    async def edit_content(self, content: Content, *, metadata: Mapping[str, Any] | None = None) -> bool:
        if metadata is not None:
            return await self._edit_merging(content, dict(metadata))
        update = Statement(f"UPDATE {self._contents} SET {self._edited_columns} WHERE {self._one_content} RETURNING id")
        rows = await self._call(self._executor.write([(update, {**content_params(content), **self._base})]))
        return bool(rows[0])

    @property
    def _edited_columns(self) -> str:
        """The ``SET`` list of an edit's own columns, from ``content_params``."""
        return ", ".join(f"{column} = {self.param(column)}" for column in ("name", "description", "updated_at"))

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
        rows = await self._call(self._fetch([(select, {**self._base, "before": updated_before})]))
        return [content_from_row(row) for row in rows[0]]

    async def delete_content(self, content_id: str) -> bool:
        key = {"id": clean_text(content_id), **self._base}  # an id no database can hold matches nothing
        delete = Statement(f"DELETE FROM {self._contents} WHERE {self._one_content} RETURNING id")
        rows = await self._call(self._executor.write([(delete, key), *self._chunk_deletion(self._content_chunks, key)]))
        return bool(rows[0])

    async def delete_all(self, *, user_id: str | None = None) -> int:
        everything = f"linked_to = {self.param('base')}"
        if user_id is None:
            delete = Statement(f"DELETE FROM {self._contents} WHERE {everything} RETURNING id")
            rows = await self._call(self._executor.write([(delete, self._base), *self._chunk_deletion(None, {})]))
            return len(rows[0])
        # The user's own contents and their chunks (which carry their content's user), never shared ones.
        mine = {**self._base, "user": user_id}
        delete = Statement(
            f"DELETE FROM {self._contents} WHERE {everything} AND user_id = {self.param('user')} RETURNING id"
        )
        chunks = self._chunk_deletion(f"user_id = {self.param('user')}", {"user": user_id})
        rows = await self._call(self._executor.write([(delete, mine), *chunks]))
        return len(rows[0])

    @property
    def _one_content(self) -> str:
        """The condition selecting the content ``id`` of the base."""
        return f"id = {self.param('id')} AND linked_to = {self.param('base')}"

    @property
    def _contents_guard(self) -> str:
        """A condition always true that names the contents table: a search holding it fails
        while that table is missing (starting its repair), never finding chunks of contents gone."""
        return f"NOT EXISTS (SELECT 1 FROM {self._contents} WHERE 1 = 0)"

    @property
    def _content_chunks(self) -> str:
        """The condition selecting the chunks of the content ``id``."""
        return f"content_id = {self.param('id')}"

    # -- search

    async def search(
        self,
        embedding: Sequence[float],
        *,
        limit: int,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> list[SearchHit]:
        if limit < 1:
            return []
        if len(embedding) != self._dimensions:
            raise UnstorableData(
                f"the query embedding has {len(embedding)} dimensions; "
                f"table '{self._chunks_name}' holds {self._dimensions}"
            )
        return await self._search(embedding, limit=limit, filters=filters, user_id=user_id)

    async def counts(self) -> tuple[int, int]:
        count = Statement(
            f"SELECT (SELECT count(*) FROM {self._contents} WHERE linked_to = {self.param('base')}), "
            f"(SELECT count(*) FROM {self._chunks})"
        )
        rows = await self._call(self._fetch([(count, self._base)]))
        contents, chunks = rows[0][0]
        return int(contents), int(chunks)

    async def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()


def cleanup_record(contents_table: str, chunks_table: str) -> str:
    """The ``table_name`` of the row of ``agno_schema_versions`` saying whether the chunk table
    owes a cleanup of the contents table: ``<contents>/<chunks>``, no table's name (a declared
    name has no ``/``), and the rows of one contents table share a prefix."""
    return f"{contents_table}/{chunks_table}"


B = TypeVar("B")


@dataclass(frozen=True)
class OrphansCleanup(Generic[B]):
    """What a base's ``prepare`` does about the chunks whose content's row is gone."""

    made_again: bool
    """Whether the contents table was missing, so is made again: the orphans of each base in
    ``deleted_from`` go when the table was stamped as made (dropped, then), or when the base
    owes them; every other recorded base of the contents table is marked as owing them."""
    deleted_from: tuple[B, ...]
    """The bases whose orphans go, when the condition above holds (else when they owe them)."""
    recorded: tuple[B, ...]
    """The bases recorded as owing nothing (made empty, cleaned, or never recorded)."""


def orphans_cleanup(*, contents_missing: bool, own: B, present: Sequence[B]) -> OrphansCleanup[B]:
    """The cleanup of a ``prepare`` of the base ``own``: when the contents table is missing, of
    every open base of it whose chunk tables are ``present`` (an absent one is made empty), and
    ``own``; else of ``own`` alone (its tables exist once made)."""
    if not contents_missing:
        return OrphansCleanup(made_again=False, deleted_from=(own,), recorded=(own,))
    recorded = tuple(present) if own in present else (*present, own)
    return OrphansCleanup(made_again=True, deleted_from=tuple(present), recorded=recorded)


def _qualified(schema: str | None, table: str) -> str:
    """``table`` as a statement names it: quoted, in ``schema`` when there is one."""
    return quote(table) if schema is None else f"{quote(schema)}.{quote(table)}"
