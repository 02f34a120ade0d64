"""Eval runs on SQL: one row of ``agno_eval_runs`` per evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from agentos_runtime.storage import eval_records, querying
from agentos_runtime.storage.damage import readable
from agentos_runtime.storage.ports import EvalQuery, EvalRow, Page
from agentos_runtime.storage.records import copy_json
from agentos_runtime.storage.sql.connecting import SqlBackend


class SqlEvalStore:
    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend
        self._evals = backend.tables.evals

    async def create_eval(self, row: EvalRow) -> EvalRow:
        columns = eval_records.eval_columns(eval_records.stamp_eval(row, now=self._backend.now()))
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                await connection.execute(self._evals.insert().values(columns))
        return eval_records.eval_from_columns(copy_json(columns))

    async def get_eval(self, run_id: str) -> EvalRow | None:
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                found = (
                    (await connection.execute(select(self._evals).where(self._evals.c.run_id == run_id)))
                    .mappings()
                    .first()
                )
        return None if found is None else eval_records.eval_from_columns(found)

    async def list_evals(self, query: EvalQuery) -> Page[EvalRow]:
        offset = querying.page_offset(query.limit, query.page)
        conditions = self._conditions(query)
        listing = (
            select(self._evals)
            .where(*conditions)
            .order_by(*self._order(eval_records.eval_sort_field(query.sort_by), query.sort_order))
            .limit(query.limit)
            .offset(offset)
        )
        async with self._backend.operation():
            async with self._backend.engine.connect() as connection:
                total = await connection.scalar(select(func.count()).select_from(self._evals).where(*conditions))
                found = (await connection.execute(listing)).mappings().all()
        items = readable(self._backend.db_id, eval_records.eval_from_columns, found)
        return Page(items=items, total=int(total or 0))

    async def rename_eval(self, run_id: str, name: str) -> EvalRow | None:
        table = self._evals
        renaming = (
            update(table)
            .where(table.c.run_id == run_id)
            .values(name=name, updated_at=self._backend.now())
            .returning(*table.columns)
        )
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                found = (await connection.execute(renaming)).mappings().first()
        return None if found is None else eval_records.eval_from_columns(found)

    async def delete_evals(self, run_ids: Sequence[str], *, user_id: str | None = None) -> int:
        if not run_ids:
            return 0
        conditions: list[ColumnElement[bool]] = [self._evals.c.run_id.in_(list(run_ids))]
        if user_id is not None:
            conditions.append(self._evals.c.user_id == user_id)
        async with self._backend.operation():
            async with self._backend.writer().begin() as connection:
                deleted = await connection.execute(delete(self._evals).where(*conditions))
        return int(deleted.rowcount)

    def _conditions(self, query: EvalQuery) -> list[ColumnElement[bool]]:
        table = self._evals
        conditions: list[ColumnElement[bool]] = []
        for name in ("agent_id", "team_id", "workflow_id", "model_id", "user_id"):
            wanted = getattr(query, name)
            if wanted is not None:
                conditions.append(table.c[name] == wanted)
        if query.component is not None:
            conditions.append(table.c[eval_records.COMPONENT_COLUMNS[query.component]].is_not(None))
        if query.eval_types:
            conditions.append(table.c.eval_type.in_(list(query.eval_types)))
        return conditions

    def _order(self, field: str, order: str) -> list[ColumnElement[Any]]:
        table = self._evals
        value = func.coalesce(table.c.updated_at, table.c.created_at) if field == "updated_at" else table.c[field]
        if order == "asc":
            return [value.asc().nulls_last(), table.c.run_id.asc()]
        return [value.desc().nulls_last(), table.c.run_id.desc()]
