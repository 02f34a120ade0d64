"""Sessions on Redis: the session record, one record per run, and the session's run order.

Writes WATCH the session key and its runs-by-session set, then write in MULTI/EXEC, so
``save_run`` from two replicas at once keeps both runs. Listings scan (or, for one user, read
the user's index SET), then filter, sort and page in process as ``querying`` decides.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

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
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.client import RedisBackend, Writes, encode, reindex

Record = dict[str, Any]
# Runs read per round trip when looking for a session's recent runs (most are picked): at
# least the window, at most what one MGET reads (a huge window takes more round trips).
_RECENT_BATCH = 8
_MAX_RECENT_BATCH = 500
T = TypeVar("T")
Attempt = Callable[[Pipeline], Awaitable[tuple[T, Writes | None]]]


class RedisSessionStore:
    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend

    async def get_session(
        self,
        session_id: str,
        *,
        session_type: SessionType | None = None,
        user_id: str | None = None,
        recent_runs: RecentRuns | None = None,
    ) -> SessionRow | None:
        backend = self._backend
        with backend.errors():
            # The session and its newest run ids in one round trip, the runs in a second one.
            reads = backend.client.pipeline(transaction=False)
            reads.get(backend.key(keys.SESSIONS, session_id))
            if recent_runs is not None and recent_runs.limit > 0:
                batch = _recent_batch(recent_runs.limit)
                reads.zrevrange(keys.runs_by_session_key(backend.prefix, session_id), 0, batch - 1)
            found = await reads.execute()
            stored = None if found[0] is None else dict(json.loads(found[0]))
            if stored is None or (session_type is not None and stored.get("session_type") != session_type):
                return None
            if user_id is not None and stored.get("user_id") != user_id:
                return None
            if recent_runs is not None and not stored.get("runs"):
                newest = [str(member) for member in found[1]] if len(found) > 1 else []
                return records.session_from_columns(stored, await self._recent_runs(session_id, recent_runs, newest))
            runs = (await self._runs_of(backend.client, [stored]))[session_id]
        if recent_runs is not None:  # an Agno 2 session: its runs are merged in process
            runs = records.select_recent(runs, recent_runs)
        return records.session_from_columns(stored, runs)

    async def list_sessions(self, query: SessionQuery) -> Page[SessionRow]:
        backend = self._backend
        with backend.errors():
            if query.user_id is not None:
                index = keys.index_key(backend.prefix, keys.SESSIONS, "user_id", query.user_id)
                ids = await backend.index_members(index)
            else:
                ids = await backend.scan_ids(keys.SESSIONS)
            stored = {record["session_id"]: record for record in await backend.load(keys.SESSIONS, ids)}
            page = querying.list_sessions((records.session_from_columns(r, None) for r in stored.values()), query)
            if not query.include_runs:
                return page
            runs = await self._runs_of(backend.client, [stored[row.session_id] for row in page.items])
        return Page(items=[replace(row, runs=runs[row.session_id]) for row in page.items], total=page.total)

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        target = records.stamp_session(row, now=self._backend.now())
        runs = list(target.runs or [])
        run_ids = [records.run_id_of(run) for run in runs]
        now = self._backend.now()

        async def attempt(pipe: Pipeline) -> tuple[SessionRow, Writes]:
            stored = await self._backend.load_one(pipe, keys.SESSIONS, row.session_id)
            old_runs = await self._run_records(pipe, row.session_id)
            session = records.session_columns(target)
            new_runs = [self._run_record(target, run, index, now) for index, run in enumerate(runs)]
            encoded = encode(session), [encode(record) for record in new_runs]

            def writes(tx: Pipeline) -> None:
                self._write_session(tx, stored, session, encoded[0])
                for run_id, old in old_runs.items():
                    if run_id not in run_ids:
                        self._delete_run(tx, old)
                for record, text in zip(new_runs, encoded[1], strict=True):
                    self._write_run(tx, old_runs.get(record["run_id"]), record, text)

            return records.session_from_columns(records.copy_json(session), records.copy_json(runs)), writes

        return await self._transact(row.session_id, attempt)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        run_id = records.run_id_of(run)
        now = self._backend.now()

        async def attempt(_watching: Pipeline) -> tuple[SessionRow, Writes]:
            stored, index, previous = await self._save_reads(new.session_id, run_id)
            current = records.session_from_columns(stored, None) if stored is not None else None
            target = records.saved_session(current, new, state=session_state, now=now)
            # The stored columns Agno 2 may have left (its ``runs``) are kept as they are.
            session = {**(stored or {}), **records.session_columns(target)}
            if stored is None:
                indexed = list(enumerate(records.merge_run(new.runs or [], run)))
            else:
                indexed = [(index, run)]
            new_runs = [self._run_record(target, item, position, now) for position, item in indexed]
            encoded = encode(session), [encode(record) for record in new_runs]

            def writes(tx: Pipeline) -> None:
                self._write_session(tx, stored, session, encoded[0])
                for record, text in zip(new_runs, encoded[1], strict=True):
                    self._write_run(tx, previous if record["run_id"] == run_id else None, record, text)

            return target, writes

        return await self._transact(new.session_id, attempt)

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        now = self._backend.now()

        async def attempt(pipe: Pipeline) -> tuple[SessionRow | None, Writes | None]:
            stored = await self._backend.load_one(pipe, keys.SESSIONS, session_id)
            if stored is None or (user_id is not None and stored.get("user_id") != user_id):
                return None, None
            runs = (await self._runs_of(pipe, [stored]))[session_id]
            target = records.apply_changes(records.session_from_columns(stored, runs), changes, now=now)
            session = {**stored, **records.session_columns(target)}
            encoded = encode(session)
            return target, lambda tx: self._write_session(tx, stored, session, encoded)

        return await self._transact(session_id, attempt)

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        deleted = 0
        for session_id in dict.fromkeys(session_ids):

            async def attempt(pipe: Pipeline, session_id: str = session_id) -> tuple[bool, Writes | None]:
                stored = await self._backend.load_one(pipe, keys.SESSIONS, session_id)
                if stored is None or (user_id is not None and stored.get("user_id") != user_id):
                    return False, None
                old_runs = await self._run_records(pipe, session_id)

                def writes(tx: Pipeline) -> None:
                    self._write_session(tx, stored, None, None)
                    for old in old_runs.values():
                        self._delete_run(tx, old)
                    tx.delete(keys.runs_by_session_key(self._backend.prefix, session_id))

                return True, writes

            deleted += await self._transact(session_id, attempt)
        return deleted

    async def _transact(self, session_id: str, attempt: Attempt[T]) -> T:
        watched = [
            self._backend.key(keys.SESSIONS, session_id),
            keys.runs_by_session_key(self._backend.prefix, session_id),
        ]
        with self._backend.errors():
            return await self._backend.transact(watched, attempt)

    async def _run_records(self, client: Redis | Pipeline, session_id: str) -> dict[str, Record]:
        """The session's run records by run id, in run order."""
        run_ids = await self._backend.ordered_members(
            client, keys.runs_by_session_key(self._backend.prefix, session_id)
        )
        loaded = await self._backend.load(keys.RUNS, run_ids, client=client)
        return {record["run_id"]: record for record in loaded}

    async def _save_reads(self, session_id: str, run_id: str) -> tuple[Record | None, int, Record | None]:
        """The stored session, where run ``run_id`` goes (its stored index, else one past the last)
        and its stored record when it is a rewrite: one round trip, never the session's runs.

        Read on a connection of their own once the caller's keys are watched: a write to them
        after the ``WATCH`` still fails the caller's transaction, which then reads again.
        """
        backend = self._backend
        order_key = keys.runs_by_session_key(backend.prefix, session_id)
        reads = backend.client.pipeline(transaction=False)
        reads.get(backend.key(keys.SESSIONS, session_id))
        reads.zscore(order_key, run_id)
        reads.zrange(order_key, -1, -1, withscores=True)
        reads.get(backend.key(keys.RUNS, run_id))
        session, score, last, previous = await reads.execute()
        if score is not None:
            index = int(score)
        else:
            index = int(last[0][1]) + 1 if last else 0
        stored = None if session is None else dict(json.loads(session))
        return stored, index, (dict(json.loads(previous)) if previous is not None and score is not None else None)

    async def _recent_runs(self, session_id: str, window: RecentRuns, newest: list[str]) -> list[JSON]:
        """The runs ``window`` picks, oldest first: from ``newest`` (the session's newest run ids,
        already read), then further back in batches while too few were picked."""
        if window.limit <= 0:
            return []
        order_key = keys.runs_by_session_key(self._backend.prefix, session_id)
        batch = _recent_batch(window.limit)
        picked: list[JSON] = []
        run_ids, start = newest, 0
        while run_ids:
            for record in await self._backend.load(keys.RUNS, run_ids):
                if records.is_recent_candidate(record["run_data"], window):
                    picked.append(record["run_data"])
                    if len(picked) == window.limit:
                        return picked[::-1]
            start += batch
            members = await self._backend.client.zrevrange(order_key, start, start + batch - 1)
            run_ids = [str(member) for member in members]
        return picked[::-1]

    async def _runs_of(self, client: Redis | Pipeline, stored: list[Record]) -> dict[str, list[JSON]]:
        """Each stored session's runs, in order (a legacy ``runs`` field merged in).

        On the plain client the run orders of all sessions come in one round trip and the runs
        in one more; a watching pipeline executes immediately, so it reads them one by one.
        """
        prefix = self._backend.prefix
        order_keys = [keys.runs_by_session_key(prefix, record["session_id"]) for record in stored]
        if isinstance(client, Pipeline):
            orders = [await self._backend.ordered_members(client, key) for key in order_keys]
        else:
            batch = client.pipeline(transaction=False)
            for key in order_keys:
                batch.zrange(key, 0, -1)
            orders = [[str(member) for member in order] for order in await batch.execute()]
        loaded = await self._backend.load(keys.RUNS, [run_id for order in orders for run_id in order], client=client)
        by_id = {record["run_id"]: record["run_data"] for record in loaded}
        return {
            record["session_id"]: records.merge_legacy_runs(
                [by_id[run_id] for run_id in order if run_id in by_id], record.get("runs")
            )
            for record, order in zip(stored, orders, strict=True)
        }

    def _run_record(self, session: SessionRow, run: JSON, index: int, now: int) -> Record:
        return records.run_columns(
            run, session_id=session.session_id, user_id=session.user_id, run_index=index, now=now
        )

    def _write_session(self, tx: Pipeline, old: Record | None, new: Record | None, text: str | None) -> None:
        prefix = self._backend.prefix
        session_id = str((new or old or {})["session_id"])
        key = self._backend.key(keys.SESSIONS, session_id)
        if new is None or text is None:
            tx.delete(key)
        else:
            tx.set(key, text)
        reindex(tx, keys.index_changes(prefix, keys.SESSIONS, old, new, keys.SESSION_INDEX_FIELDS), session_id)

    def _write_run(self, tx: Pipeline, old: Record | None, new: Record, text: str) -> None:
        prefix = self._backend.prefix
        tx.set(self._backend.key(keys.RUNS, new["run_id"]), text)
        tx.zadd(keys.runs_by_session_key(prefix, new["session_id"]), {new["run_id"]: float(new["run_index"])})
        reindex(tx, keys.index_changes(prefix, keys.RUNS, old, new, keys.RUN_INDEX_FIELDS), new["run_id"])

    def _delete_run(self, tx: Pipeline, old: Record) -> None:
        prefix = self._backend.prefix
        tx.delete(self._backend.key(keys.RUNS, old["run_id"]))
        tx.zrem(keys.runs_by_session_key(prefix, old["session_id"]), old["run_id"])
        reindex(tx, keys.index_changes(prefix, keys.RUNS, old, None, keys.RUN_INDEX_FIELDS), old["run_id"])


def _recent_batch(limit: int) -> int:
    return min(max(limit, _RECENT_BATCH), _MAX_RECENT_BATCH)
