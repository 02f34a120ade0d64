"""Eval runs on Redis, in Agno's layout: one JSON record per run at ``{prefix}:evals:{run_id}``,
listed through index SETs on ``agent_id``, ``team_id``, ``workflow_id``, ``model_id`` and
``eval_type`` (or a scan), then filtered, ordered and paged as ``eval_records`` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from agentos_runtime.storage import eval_records
from agentos_runtime.storage.damage import left_out, readable
from agentos_runtime.storage.ports import EvalQuery, EvalRow, Page
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.client import RedisBackend, Writes, encode, reindex
from agentos_runtime.storage.redis.guarded import Snapshot, WriteBatch

EVALS = "evals"
EVAL_INDEX_FIELDS = ("agent_id", "team_id", "workflow_id", "model_id", "eval_type")


class RedisEvalStore:
    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend

    async def create_eval(self, row: EvalRow) -> EvalRow:
        return await self._write(eval_records.stamp_eval(row, now=self._backend.now()))

    async def get_eval(self, run_id: str) -> EvalRow | None:
        with self._backend.errors():
            stored = await self._backend.load_one(self._backend.client, EVALS, run_id)
        return None if stored is None else eval_records.eval_from_columns(stored)

    async def list_evals(self, query: EvalQuery) -> Page[EvalRow]:
        backend = self._backend
        indexed = next(
            (name for name in ("agent_id", "team_id", "workflow_id", "model_id") if getattr(query, name)), None
        )
        with backend.errors():
            if indexed is not None:
                ids = await backend.index_members(
                    keys.index_key(backend.prefix, EVALS, indexed, getattr(query, indexed))
                )
            else:
                ids = await backend.scan_ids(EVALS)
            stored, damaged = await backend.load_readable(EVALS, ids)
        for each in damaged:
            left_out(backend.db_id, each)
        return eval_records.list_evals(readable(backend.db_id, eval_records.eval_from_columns, stored), query)

    async def rename_eval(self, run_id: str, name: str) -> EvalRow | None:
        key = self._backend.key(EVALS, run_id)
        now = self._backend.now()

        async def attempt(snapshot: Snapshot) -> tuple[EvalRow | None, Writes | None]:
            stored = await self._backend.load_one(snapshot, EVALS, run_id)
            if stored is None:
                return None, None
            renamed = replace(eval_records.eval_from_columns(stored), name=name, updated_at=now)
            text = encode(eval_records.eval_columns(renamed))

            def writes(batch: WriteBatch) -> None:
                batch.set(key, text)

            return renamed, writes

        with self._backend.errors():
            return await self._backend.transact(attempt)

    async def delete_evals(self, run_ids: Sequence[str], *, user_id: str | None = None) -> int:
        unique = list(dict.fromkeys(run_ids))
        if not unique:
            return 0
        backend = self._backend

        async def attempt(snapshot: Snapshot) -> tuple[int, Writes | None]:
            loaded, damaged = await backend.load_readable(EVALS, unique, client=snapshot)
            doomed = [record for record in loaded if user_id is None or record.get("user_id") == user_id]
            # One that cannot be read is deleted too, unless a user's: its owner is unknown.
            unread = [error.record_id for error in damaged] if user_id is None else []
            if not doomed and not unread:
                return 0, None

            def writes(batch: WriteBatch) -> None:
                for run_id in unread:
                    batch.delete(backend.key(EVALS, run_id))
                for record in doomed:
                    batch.delete(backend.key(EVALS, record["run_id"]))
                    changes = keys.index_changes(backend.prefix, EVALS, record, None, EVAL_INDEX_FIELDS)
                    reindex(batch, changes, record["run_id"])

            return len(doomed) + len(unread), writes

        with backend.errors():
            return await backend.transact(attempt)

    async def _write(self, row: EvalRow) -> EvalRow:
        backend = self._backend
        key = backend.key(EVALS, row.run_id)
        record = eval_records.eval_columns(row)
        text = encode(record)

        async def attempt(snapshot: Snapshot) -> tuple[EvalRow, Writes]:
            stored = await backend.load_one(snapshot, EVALS, row.run_id)
            changes = keys.index_changes(backend.prefix, EVALS, stored, record, EVAL_INDEX_FIELDS)

            def writes(batch: WriteBatch) -> None:
                batch.set(key, text)
                reindex(batch, changes, row.run_id)

            return eval_records.eval_from_columns(record), writes

        with backend.errors():
            return await backend.transact(attempt)
