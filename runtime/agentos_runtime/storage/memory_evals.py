"""In-process eval runs, for the in-memory ``Database``: rows held in a dict as JSON copies."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from agentos_runtime.storage import eval_records
from agentos_runtime.storage.ports import EvalQuery, EvalRow, Page
from agentos_runtime.storage.records import copy_json


def _copy(row: EvalRow) -> EvalRow:
    return eval_records.eval_from_columns(copy_json(eval_records.eval_columns(row)))


class InMemoryEvalStore:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._rows: dict[str, EvalRow] = {}
        self._clock = clock

    async def create_eval(self, row: EvalRow) -> EvalRow:
        stored = _copy(eval_records.stamp_eval(row, now=int(self._clock())))
        self._rows[row.run_id] = stored
        return _copy(stored)

    async def get_eval(self, run_id: str) -> EvalRow | None:
        row = self._rows.get(run_id)
        return None if row is None else _copy(row)

    async def list_evals(self, query: EvalQuery) -> Page[EvalRow]:
        page = eval_records.list_evals(self._rows.values(), query)
        return Page(items=[_copy(row) for row in page.items], total=page.total)

    async def rename_eval(self, run_id: str, name: str) -> EvalRow | None:
        row = self._rows.get(run_id)
        if row is None:
            return None
        renamed = replace(row, name=name, updated_at=int(self._clock()))
        self._rows[run_id] = renamed
        return _copy(renamed)

    async def delete_evals(self, run_ids: Sequence[str], *, user_id: str | None = None) -> int:
        doomed = {
            run_id
            for run_id in run_ids
            if run_id in self._rows and (user_id is None or self._rows[run_id].user_id == user_id)
        }
        for run_id in doomed:
            del self._rows[run_id]
        return len(doomed)
