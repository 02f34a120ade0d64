"""Sessions on SQL: the session row in ``agno_sessions``, its runs as rows of ``agno_runs``.

Every write is one transaction. ``save_run`` locks the session row (``FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` serialises writers instead), creating it first when it is new, so two
runs saved at once on one session, even from two replicas, both end up stored. Runs Agno 2
left in the session row (its ``runs`` column, when present) are merged in on reads, as Agno 3
does, and cleared when the whole session is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentos_runtime.storage import querying, records
from agentos_runtime.storage.ports import (
    JSON,
    Page,
    RecentRuns,
    SessionChanges,
    SessionQuery,
    SessionRow,
    SessionType,
)
from agentos_runtime.storage.sql.connecting import SqlBackend


class SqlSessionStore:
    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend
        self._sessions = backend.tables.sessions
        self._runs = backend.tables.runs

    async def get_session(
        self,
        session_id: str,
        *,
        session_type: SessionType | None = None,
        user_id: str | None = None,
        recent_runs: RecentRuns | None = None,
    ) -> SessionRow | None:
        conditions = [self._sessions.c.session_id == session_id, *self._owner(user_id)]
        if session_type is not None:
            conditions.append(self._sessions.c.session_type == session_type)
        with self._backend.errors():
            async with self._backend.engine.connect() as connection:
                found = (await connection.execute(select(self._sessions).where(*conditions))).mappings().first()
                if found is None:
                    return None
                if recent_runs is not None and not found.get("runs"):
                    recent = await self._load_recent_runs(connection, session_id, recent_runs)
                    return records.session_from_columns(found, recent)
                runs = await self._load_runs(connection, [session_id])
        session = _session(found, runs.get(session_id, []))
        if recent_runs is not None:  # an Agno 2 session: its runs are merged in process
            return replace(session, runs=records.select_recent(session.runs or [], recent_runs))
        return session

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
        with self._backend.errors():
            async with self._backend.engine.connect() as connection:
                total = await connection.scalar(select(func.count()).select_from(self._sessions).where(*conditions))
                found = (await connection.execute(listing)).mappings().all()
                ids = [row["session_id"] for row in found]
                runs = await self._load_runs(connection, ids) if query.include_runs and ids else {}
        items = [
            _session(row, runs.get(row["session_id"], [])) if query.include_runs else _session(row, None)
            for row in found
        ]
        return Page(items=items, total=int(total or 0))

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
        with self._backend.errors():
            async with self._backend.writer().begin() as connection:
                await connection.execute(upsert)
                await connection.execute(
                    delete(self._runs).where(
                        self._runs.c.session_id == target.session_id, self._runs.c.run_id.not_in(run_ids)
                    )
                )
                await self._write_runs(connection, target, list(enumerate(runs)))
        return records.session_from_columns(records.copy_json(columns), records.copy_json(runs))

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        records.run_id_of(run)
        now = self._backend.now()
        with self._backend.errors():
            async with self._backend.writer().begin() as connection:
                stored = await self._lock_or_create(connection, new, state=session_state, now=now)
                if stored is None:
                    target = records.saved_session(None, new, state=session_state, now=now)
                    runs = records.merge_run(new.runs or [], run)
                    await self._write_runs(connection, target, list(enumerate(runs)))
                else:
                    target = records.saved_session(stored, new, state=session_state, now=now)
                    await connection.execute(
                        update(self._sessions)
                        .where(self._sessions.c.session_id == new.session_id)
                        .values(session_data=target.session_data, updated_at=now)
                    )
                    await self._write_runs(connection, target, [(None, run)])
        return records.session_from_columns(records.copy_json(records.session_columns(target)), None)

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        now = self._backend.now()
        conditions = [self._sessions.c.session_id == session_id, *self._owner(user_id)]
        with self._backend.errors():
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
        with self._backend.errors():
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

    async def _load_runs(self, connection: AsyncConnection, session_ids: list[str]) -> dict[str, list[JSON]]:
        """Each session's run dicts in run order."""
        runs = self._runs
        statement: Select[Any] = (
            select(runs.c.session_id, runs.c.run_data)
            .where(runs.c.session_id.in_(session_ids))
            .order_by(runs.c.session_id, runs.c.run_index, runs.c.created_at, runs.c.run_id)
        )
        grouped: dict[str, list[JSON]] = {session_id: [] for session_id in session_ids}
        for session_id, run_data in (await connection.execute(statement)).all():
            grouped[session_id].append(records.decode_json(run_data))
        return grouped

    async def _load_recent_runs(self, connection: AsyncConnection, session_id: str, window: RecentRuns) -> list[JSON]:
        """The runs ``window`` picks, oldest first, read newest first up to its limit."""
        if window.limit <= 0:
            return []
        runs = self._runs
        statement: Select[Any] = (
            select(runs.c.run_data)
            .where(
                runs.c.session_id == session_id,
                runs.c.parent_run_id.is_(None),
                or_(runs.c.status.is_(None), runs.c.status.not_in(sorted(window.skip_statuses))),
            )
            .order_by(runs.c.run_index.desc(), runs.c.created_at.desc(), runs.c.run_id.desc())
            .limit(window.limit)
        )
        found = [records.decode_json(run_data) for (run_data,) in (await connection.execute(statement)).all()]
        return found[::-1]

    async def _lock_or_create(
        self, connection: AsyncConnection, new: SessionRow, *, state: JSON | None, now: int
    ) -> SessionRow | None:
        """The stored session (without runs), locked; ``None`` when ``new`` was inserted instead."""
        locked = select(self._sessions).where(self._sessions.c.session_id == new.session_id).with_for_update()
        found = (await connection.execute(locked)).mappings().first()
        if found is None:
            creating = records.saved_session(None, new, state=state, now=now)
            insert = self._backend.dialect.insert(self._sessions).values(records.session_columns(creating))
            inserted = await connection.execute(
                insert.on_conflict_do_nothing(index_elements=["session_id"]).returning(self._sessions.c.session_id)
            )
            if inserted.first() is not None:
                return None
            # Another writer created it between our read and our insert: take its row, locked.
            found = (await connection.execute(locked)).mappings().one()
        return records.session_from_columns(found, None)

    async def _write_runs(
        self, connection: AsyncConnection, session: SessionRow, indexed_runs: list[tuple[int | None, JSON]]
    ) -> None:
        """Upsert run rows; a ``None`` index keeps a stored run's position, else takes the next one."""
        if not indexed_runs:
            return
        now = self._backend.now()
        runs = self._runs
        rows = []
        for index, run in indexed_runs:
            row = records.run_columns(run, session_id=session.session_id, user_id=session.user_id, run_index=0, now=now)
            row["run_index"] = index if index is not None else self._position(run["run_id"], session.session_id)
            rows.append(row)
        insert = self._backend.dialect.insert(runs)
        kept = {"run_id", "created_at"}
        changed = {column.name: insert.excluded[column.name] for column in runs.columns if column.name not in kept}
        statement = insert.on_conflict_do_update(index_elements=["run_id"], set_=changed)
        if len(rows) == 1:
            await connection.execute(statement.values(rows[0]))
        else:
            await connection.execute(statement, rows)

    def _position(self, run_id: str, session_id: str) -> ColumnElement[Any]:
        """The stored position of run ``run_id`` when it is a rewrite, else the session's next one."""
        runs = self._runs
        current = select(runs.c.run_index).where(runs.c.run_id == run_id).scalar_subquery()
        following = select(func.max(runs.c.run_index) + 1).where(runs.c.session_id == session_id).scalar_subquery()
        return func.coalesce(current, following, 0)


def _session(found: Mapping[Any, Any], runs: list[JSON] | None, *, like: SessionRow | None = None) -> SessionRow:
    """A session from its row and its runs-table runs, with runs Agno 2 left in the row merged in.

    ``like``: take the columns from this (already changed) session instead of the row.
    """
    merged = None if runs is None else records.merge_legacy_runs(runs, found.get("runs"))
    return replace(like, runs=merged) if like is not None else records.session_from_columns(found, merged)
