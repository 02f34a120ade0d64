"""Session listings and edits on SQL: ``GET /sessions``, whole-session writes, PATCH, delete.

Written with SQLAlchemy, which ``SqlSessionStore`` loads only when one of these is first
called: a runtime that only runs agents never needs it. Every write is one transaction,
locking the rows it rewrites (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises writers
instead). Runs Agno 2 left in the session row (its ``runs`` column) are merged in on reads, as
Agno 3 does, and cleared when the whole session is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentos_runtime.storage import querying, records
from agentos_runtime.storage.damage import readable
from agentos_runtime.storage.ports import JSON, Page, SessionChanges, SessionQuery, SessionRow
from agentos_runtime.storage.sql.connecting import SqlBackend


class SqlSessionEdits:
    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend
        self._sessions = backend.tables.sessions
        self._runs = backend.tables.runs

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]:
        offset = querying.page_offset(query.limit, query.page)
        conditions = self._list_conditions(query)
        listing = (
            select(self._sessions)
            .where(*conditions)
            .order_by(*self._order(querying.session_sort_field(query.sort_by), query.sort_order))
            .limit(query.limit)
            .offset(offset)
        )
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                total = await connection.scalar(select(func.count()).select_from(self._sessions).where(*conditions))
                found = (await connection.execute(listing)).mappings().all()
                ids = [row["session_id"] for row in found]
                runs = await self._load_runs(connection, ids) if query.include_runs and ids else {}
        items = readable(
            self._backend.db_id,
            lambda row: _session(row, runs.get(row["session_id"], []) if query.include_runs else None),
            found,
        )
        return Page(items=items, total=int(total or 0))

    async def create_session(self, row: SessionRow) -> SessionRow | None:
        target = records.stamp_session(replace(row, runs=None), now=self._backend.now())
        columns = records.session_columns(target)
        # One statement: of two creations of one id at once, the database lets one insert.
        insert = (
            self._backend.dialect.insert(self._sessions)
            .values(columns)
            .on_conflict_do_nothing(index_elements=["session_id"])
            .returning(self._sessions.c.session_id)
        )
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                created = (await connection.execute(insert)).first()
        return records.session_from_columns(records.copy_json(columns), []) if created is not None else None

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        target = records.stamp_session(row, now=self._backend.now())
        runs = list(target.runs or [])
        run_ids = [records.run_id_of(run) for run in runs]
        columns = records.session_columns(target)
        # The runs table now holds every run: empty Agno 2's copy so it cannot bring back removed runs.
        written = {**columns, "runs": None} if "runs" in self._sessions.c else columns
        insert = self._backend.dialect.insert(self._sessions).values(written)
        upsert = insert.on_conflict_do_update(
            index_elements=["session_id"], set_={name: value for name, value in written.items() if name != "session_id"}
        )
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                await connection.execute(upsert)
                await connection.execute(
                    delete(self._runs).where(
                        self._runs.c.session_id == target.session_id, self._runs.c.run_id.not_in(run_ids)
                    )
                )
                await self._write_runs(connection, target, runs)
        return records.session_from_columns(records.copy_json(columns), records.copy_json(runs))

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        now = self._backend.now()
        conditions = [self._sessions.c.session_id == session_id, *self._owner(user_id)]
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                locked = select(self._sessions).where(*conditions).with_for_update()
                found = (await connection.execute(locked)).mappings().first()
                if found is None:
                    return None
                target = records.apply_changes(_session(found, None), changes, now=now)
                await connection.execute(
                    update(self._sessions)
                    .where(self._sessions.c.session_id == session_id)
                    .values(
                        session_data=target.session_data,
                        metadata=target.metadata,
                        summary=target.summary,
                        updated_at=now,
                    )
                )
                runs = await self._load_runs(connection, [session_id])
        return _session(found, runs[session_id], like=target)

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        if not session_ids:
            return 0
        conditions = [self._sessions.c.session_id.in_(list(session_ids)), *self._owner(user_id)]
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                locked = select(self._sessions.c.session_id).where(*conditions).with_for_update()
                doomed = list((await connection.scalars(locked)).all())
                if not doomed:
                    return 0
                await connection.execute(delete(self._runs).where(self._runs.c.session_id.in_(doomed)))
                await connection.execute(delete(self._sessions).where(self._sessions.c.session_id.in_(doomed)))
        return len(doomed)

    def _owner(self, user_id: str | None) -> list[ColumnElement[bool]]:
        return [] if user_id is None else [self._sessions.c.user_id == user_id]

    def _list_conditions(self, query: SessionQuery) -> list[ColumnElement[bool]]:
        table = self._sessions
        conditions = self._owner(query.user_id)
        if query.session_type is not None:
            conditions.append(table.c.session_type == query.session_type)
        if query.component_id is not None:
            by_type = {"agent": table.c.agent_id, "team": table.c.team_id, "workflow": table.c.workflow_id}
            columns = [by_type[query.session_type]] if query.session_type else list(by_type.values())
            conditions.append(or_(*(column == query.component_id for column in columns)))
        if query.session_name is not None:
            name = table.c.session_data["session_name"].as_string()
            conditions.append(name.icontains(query.session_name, autoescape=True))
        return conditions

    def _order(self, field: str, order: str) -> list[ColumnElement[Any]]:
        table = self._sessions
        value = func.coalesce(table.c.updated_at, table.c.created_at) if field == "updated_at" else table.c[field]
        if order == "asc":
            return [value.asc().nulls_last(), table.c.session_id.asc()]
        return [value.desc().nulls_last(), table.c.session_id.desc()]

    async def _load_runs(self, connection: AsyncConnection, session_ids: list[str]) -> dict[str, list[Any]]:
        """Each session's stored runs in run order (``_session`` decodes them)."""
        runs = self._runs
        statement: Select[Any] = (
            select(runs.c.session_id, runs.c.run_data)
            .where(runs.c.session_id.in_(session_ids))
            .order_by(runs.c.session_id, runs.c.run_index, runs.c.created_at, runs.c.run_id)
        )
        grouped: dict[str, list[Any]] = {session_id: [] for session_id in session_ids}
        for session_id, run_data in (await connection.execute(statement)).all():
            grouped[session_id].append(run_data)
        return grouped

    async def _write_runs(self, connection: AsyncConnection, session: SessionRow, runs: list[JSON]) -> None:
        """Upsert the session's runs at their positions in ``runs``."""
        if not runs:
            return
        now = self._backend.now()
        rows = [
            records.run_columns(run, session_id=session.session_id, user_id=session.user_id, run_index=index, now=now)
            for index, run in enumerate(runs)
        ]
        insert = self._backend.dialect.insert(self._runs)
        kept = {"run_id", "created_at"}
        changed = {
            column.name: insert.excluded[column.name] for column in self._runs.columns if column.name not in kept
        }
        await connection.execute(insert.on_conflict_do_update(index_elements=["run_id"], set_=changed), rows)


def _session(found: Mapping[Any, Any], runs: list[Any] | None, *, like: SessionRow | None = None) -> SessionRow:
    """A session from its row and its runs-table runs (as stored), with runs Agno 2 left in the
    row merged in; ``DamagedRecord`` when they do not make one.

    ``like``: take the columns from this (already changed) session instead of the row.
    """
    session_id = found.get("session_id")
    decoded = None if runs is None else [records.stored_run(run, session_id=session_id) for run in runs]
    merged = None if decoded is None else records.merge_legacy_runs(decoded, found.get("runs"))
    return replace(like, runs=merged) if like is not None else records.session_from_columns(found, merged)
