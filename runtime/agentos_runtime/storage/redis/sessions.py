"""Sessions on Redis: the session record, one record per run, and the session's run order.

Writes read through a snapshot and apply with the compare-and-set script (``guarded``), so
``save_run`` from two replicas at once keeps both runs. Listings scan (or, for one user, read
the user's index SET), then filter, sort and page in process as ``querying`` decides.

A session a read found missing is remembered (the newest ``_MISSING_KEPT``): the save of its
first run expects it still to be missing, and so writes without reading it again first (one
round trip instead of two; the write script checks the expectation, and reads when it was wrong).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from agentos_runtime.storage import querying, records
from agentos_runtime.storage.damage import left_out, readable
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
from agentos_runtime.storage.redis.client import Reader, RedisBackend, Writes, encode, reindex
from agentos_runtime.storage.redis.guarded import Command, Snapshot, WriteBatch, str_or_none

Record = dict[str, Any]
# Runs read per round trip when looking for a session's recent runs (most are picked): at
# least the window, at most what one MGET reads (a huge window takes more round trips).
_RECENT_BATCH = 8
_MAX_RECENT_BATCH = 500
# Session ids a read found missing, kept for the save of their first run.
_MISSING_KEPT = 1024
T = TypeVar("T")
Attempt = Callable[[Snapshot], Awaitable[tuple[T, Writes | None]]]


class RedisSessionStore:
    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self._missing: dict[str, None] = {}  # insertion-ordered: the oldest goes first

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
            if found[0] is None:
                self._remember_missing(session_id)
            stored = (
                None
                if found[0] is None
                else keys.identified(keys.SESSIONS, session_id, records.decode_record("session", session_id, found[0]))
            )
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
            loaded, damaged = await backend.load_readable(keys.SESSIONS, ids)
            for each in damaged:
                left_out(backend.db_id, each)
            rows = readable(backend.db_id, lambda record: records.session_from_columns(record, None), loaded)
            page = querying.list_sessions(rows, query)
            if not query.include_runs:
                return page
            stored = {str(record.get("session_id")): record for record in loaded}
            runs = await self._runs_by_session(backend.client, [stored[row.session_id] for row in page.items])
        items = []
        for row in page.items:
            found = runs[row.session_id]
            if isinstance(found, records.DamagedRecord):
                left_out(backend.db_id, found)
            else:
                items.append(replace(row, runs=found))
        return Page(items=items, total=page.total)

    async def create_session(self, row: SessionRow) -> SessionRow | None:
        target = records.stamp_session(replace(row, runs=None), now=self._backend.now())
        session = records.session_columns(target)
        text = encode(session)

        async def attempt(snapshot: Snapshot) -> tuple[SessionRow | None, Writes | None]:
            _, present = await self._readable_session(snapshot, row.session_id)
            if present:  # one stored, readable or not, is there already (a conflict, as on SQL)
                return None, None

            def writes(batch: WriteBatch) -> None:
                self._write_session(batch, None, session, text)

            return records.session_from_columns(records.copy_json(session), []), writes

        return await self._transact(attempt)

    async def upsert_session(self, row: SessionRow) -> SessionRow:
        target = records.stamp_session(row, now=self._backend.now())
        runs = list(target.runs or [])
        run_ids = [records.run_id_of(run) for run in runs]
        now = self._backend.now()

        async def attempt(snapshot: Snapshot) -> tuple[SessionRow, Writes]:
            # A session that cannot be read is replaced (restored), as are its runs.
            stored, _ = await self._readable_session(snapshot, row.session_id)
            damaged_runs: list[str] = []
            old_runs = await self._run_records(snapshot, row.session_id, damaged=damaged_runs)
            session = records.session_columns(target)
            new_runs = [self._run_record(target, run, index, now) for index, run in enumerate(runs)]
            encoded = encode(session), [encode(record) for record in new_runs]

            def writes(batch: WriteBatch) -> None:
                self._write_session(batch, stored, session, encoded[0])
                for run_id, old in old_runs.items():
                    if run_id not in run_ids:
                        self._delete_run(batch, old)
                for run_id in damaged_runs:
                    if run_id not in run_ids:
                        self._delete_damaged_run(batch, row.session_id, run_id)
                for record, text in zip(new_runs, encoded[1], strict=True):
                    self._write_run(batch, old_runs.get(record["run_id"]), record, text)

            return records.session_from_columns(records.copy_json(session), records.copy_json(runs)), writes

        return await self._transact(attempt)

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        run_id = records.run_id_of(run)
        now = self._backend.now()

        async def attempt(snapshot: Snapshot) -> tuple[SessionRow, Writes]:
            stored, index, previous = await self._save_reads(snapshot, new.session_id, run_id)
            current = records.session_from_columns(stored, None) if stored is not None else None
            if records.owned_by_another(current, new):
                raise records.another_users_session(new.session_id)
            target = records.saved_session(current, new, state=session_state, now=now)
            # The stored columns Agno 2 may have left (its ``runs``) are kept as they are.
            session = {**(stored or {}), **records.session_columns(target)}
            if stored is None:
                indexed = list(enumerate(records.merge_run(new.runs or [], run)))
            else:
                indexed = [(index, run)]
            new_runs = [self._run_record(target, item, position, now) for position, item in indexed]
            encoded = encode(session), [encode(record) for record in new_runs]

            def writes(batch: WriteBatch) -> None:
                self._write_session(batch, stored, session, encoded[0])
                for record, text in zip(new_runs, encoded[1], strict=True):
                    self._write_run(batch, previous if record["run_id"] == run_id else None, record, text)

            return target, writes

        return await self._transact(attempt, expected=self._expected_if_missing(new.session_id, run_id))

    async def replace_run(self, session_id: str, run: JSON, *, status: str, events: int | None = None) -> bool:
        run_id = records.run_id_of(run)
        now = self._backend.now()

        async def attempt(snapshot: Snapshot) -> tuple[bool, Writes | None]:
            stored = await self._backend.load_one(snapshot, keys.RUNS, run_id)
            if stored is None or stored.get("session_id") != session_id or stored.get("status") != status:
                return False, None
            data = stored.get("run_data")
            if events is not None and not records.stored_with(
                data if isinstance(data, dict) else {}, status=status, events=events
            ):
                return False, None
            record = {
                **records.run_columns(
                    run, session_id=session_id, user_id=stored.get("user_id"), run_index=stored["run_index"], now=now
                ),
                "created_at": stored.get("created_at"),
            }
            text = encode(record)
            return True, lambda batch: self._write_run(batch, stored, record, text)

        return await self._transact(attempt)

    async def update_session(
        self, session_id: str, changes: SessionChanges, *, user_id: str | None = None
    ) -> SessionRow | None:
        now = self._backend.now()

        async def attempt(snapshot: Snapshot) -> tuple[SessionRow | None, Writes | None]:
            stored = await self._backend.load_one(snapshot, keys.SESSIONS, session_id)
            if stored is None or (user_id is not None and stored.get("user_id") != user_id):
                return None, None
            runs = (await self._runs_of(snapshot, [stored]))[session_id]
            target = records.apply_changes(records.session_from_columns(stored, runs), changes, now=now)
            session = {**stored, **records.session_columns(target)}
            encoded = encode(session)
            return target, lambda batch: self._write_session(batch, stored, session, encoded)

        return await self._transact(attempt)

    async def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> int:
        unique = list(dict.fromkeys(session_ids))
        if not unique:
            return 0

        async def attempt(snapshot: Snapshot) -> tuple[int, Writes | None]:
            # Every session read, then every deletion in one write: all of them or none.
            doomed: list[tuple[str, Record | None, dict[str, Record], list[str]]] = []
            for session_id in unique:
                stored, present = await self._readable_session(snapshot, session_id)
                # A session that cannot be read is deleted too, unless a user's: its owner is unknown.
                if not present or (user_id is not None and (stored is None or stored.get("user_id") != user_id)):
                    continue
                damaged_runs: list[str] = []
                old_runs = await self._run_records(snapshot, session_id, damaged=damaged_runs)
                doomed.append((session_id, stored, old_runs, damaged_runs))
            if not doomed:
                return 0, None

            def writes(batch: WriteBatch) -> None:
                for session_id, stored, old_runs, damaged_runs in doomed:
                    if stored is not None:
                        self._write_session(batch, stored, None, None)
                    else:
                        batch.delete(self._backend.key(keys.SESSIONS, session_id))
                    for old in old_runs.values():
                        self._delete_run(batch, old)
                    for run_id in damaged_runs:
                        self._delete_damaged_run(batch, session_id, run_id)
                    batch.delete(keys.runs_by_session_key(self._backend.prefix, session_id))

            return len(doomed), writes

        return await self._transact(attempt)

    async def request_cancel(self, run_id: str, *, seconds: int) -> None:
        backend = self._backend
        with backend.errors():
            await backend.client.set(keys.cancel_key(backend.prefix, run_id), "1", ex=seconds)

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        if not run_ids:
            return set()
        backend = self._backend
        with backend.errors():
            found = await backend.client.mget([keys.cancel_key(backend.prefix, run_id) for run_id in run_ids])
        return {run_id for run_id, value in zip(run_ids, found, strict=True) if value is not None}

    async def _transact(self, attempt: Attempt[T], *, expected: dict[Command, Any] | None = None) -> T:
        with self._backend.errors():
            return await self._backend.transact(attempt, expected=expected)

    def _expected_if_missing(self, session_id: str, run_id: str) -> dict[Command, Any] | None:
        """What a save's reads answer for a session a read found missing (nothing stored for it:
        no session, no run order, no run), once; ``None`` for any other session."""
        if session_id not in self._missing:
            return None
        del self._missing[session_id]
        commands = self._save_read_commands(session_id, run_id)
        return dict(zip(commands, (None, None, [], None), strict=True))

    def _remember_missing(self, session_id: str) -> None:
        self._missing.pop(session_id, None)
        self._missing[session_id] = None
        if len(self._missing) > _MISSING_KEPT:
            del self._missing[next(iter(self._missing))]

    async def _run_records(
        self, client: Reader, session_id: str, *, damaged: list[str] | None = None
    ) -> dict[str, Record]:
        """The session's run records by run id, in run order; the ids of those that cannot be
        read are added to ``damaged`` (``None``: such a run makes its session ``DamagedRecord``)."""
        run_ids = await self._backend.ordered_members(
            client, keys.runs_by_session_key(self._backend.prefix, session_id)
        )
        loaded, broken = await self._backend.load_readable(keys.RUNS, run_ids, client=client)
        found = {}
        for record in loaded:
            if isinstance(record.get("run_data"), dict) and isinstance(record.get("run_id"), str):
                found[record["run_id"]] = record
            else:
                broken.append(records.DamagedRecord("run", record.get("run_id"), "its run_data is not a JSON object"))
        if broken and damaged is None:
            raise _damaged_run(session_id)
        if damaged is not None:
            damaged.extend(error.record_id for error in broken)
        return found

    async def _readable_session(self, snapshot: Snapshot, session_id: str) -> tuple[Record | None, bool]:
        """The stored session (``None`` also when it cannot be read), and whether one is stored."""
        value = await snapshot.get(self._backend.key(keys.SESSIONS, session_id))
        if value is None:
            return None, False
        try:
            return keys.identified(keys.SESSIONS, session_id, records.decode_record("session", session_id, value)), True
        except records.DamagedRecord:
            return None, True

    def _delete_damaged_run(self, batch: WriteBatch, session_id: str, run_id: str) -> None:
        """Delete a run record that cannot be read (its index entries, unknown, are left: they
        name a key that no longer exists, which every reader skips)."""
        batch.delete(self._backend.key(keys.RUNS, run_id))
        batch.zrem(keys.runs_by_session_key(self._backend.prefix, session_id), run_id)

    async def _save_reads(
        self, snapshot: Snapshot, session_id: str, run_id: str
    ) -> tuple[Record | None, int, Record | None]:
        """The stored session, where run ``run_id`` goes (its stored index, else one past the last)
        and its stored record when it is a rewrite: one round trip, never the session's runs."""
        session, score, last, previous = await snapshot.read(self._save_read_commands(session_id, run_id))
        if score is not None:
            index = int(float(score))
        else:
            index = int(float(last[1])) + 1 if last else 0
        stored = (
            None
            if session is None
            else keys.identified(keys.SESSIONS, session_id, records.decode_record("session", session_id, session))
        )
        found = str_or_none(previous)
        if found is None or score is None:
            return stored, index, None
        try:
            return stored, index, keys.identified(keys.RUNS, run_id, records.decode_record("run", run_id, found))
        except records.DamagedRecord:
            raise _damaged_run(session_id) from None

    def _save_read_commands(self, session_id: str, run_id: str) -> list[Command]:
        """The stored session, the run's place in its run order, the last place, the stored run."""
        backend = self._backend
        order_key = keys.runs_by_session_key(backend.prefix, session_id)
        return [
            ("GET", backend.key(keys.SESSIONS, session_id), ()),
            ("ZSCORE", order_key, (run_id,)),
            ("ZRANGE", order_key, ("-1", "-1", "WITHSCORES")),
            ("GET", backend.key(keys.RUNS, run_id), ()),
        ]

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
            loaded, damaged = await self._backend.load_readable(keys.RUNS, run_ids)
            if damaged:
                raise _damaged_run(session_id)
            for record in loaded:
                run = records.stored_run(record.get("run_data"), session_id=session_id)
                if records.is_recent_candidate(run, window):
                    picked.append(run)
                    if len(picked) == window.limit:
                        return picked[::-1]
            start += batch
            members = await self._backend.client.zrevrange(order_key, start, start + batch - 1)
            run_ids = [str(member) for member in members]
        return picked[::-1]

    async def _runs_of(self, client: Reader, stored: list[Record]) -> dict[str, list[JSON]]:
        """Each stored session's runs, in order (a legacy ``runs`` field merged in); a session
        with a run that cannot be read is ``DamagedRecord``."""
        found = await self._runs_by_session(client, stored)
        runs: dict[str, list[JSON]] = {}
        for session_id, value in found.items():
            if isinstance(value, records.DamagedRecord):
                raise value
            runs[session_id] = value
        return runs

    async def _runs_by_session(
        self, client: Reader, stored: list[Record]
    ) -> dict[str, list[JSON] | records.DamagedRecord]:
        """Each stored session's runs, in order (a legacy ``runs`` field merged in), or why they
        cannot be read: the run orders of all sessions in one round trip, the runs in one more."""
        prefix = self._backend.prefix
        order_keys = [keys.runs_by_session_key(prefix, record["session_id"]) for record in stored]
        if isinstance(client, Snapshot):
            replies = await client.read([("ZRANGE", key, ("0", "-1")) for key in order_keys])
            orders = [[str(member) for member in order] for order in replies]
        else:
            batch = client.pipeline(transaction=False)
            for key in order_keys:
                batch.zrange(key, 0, -1)
            orders = [[str(member) for member in order] for order in await batch.execute()]
        all_ids = [run_id for order in orders for run_id in order]
        loaded, damaged = await self._backend.load_readable(keys.RUNS, all_ids, client=client)
        unreadable = {error.record_id for error in damaged}
        by_id = {}
        for record in loaded:
            if isinstance(record.get("run_data"), dict):
                by_id[str(record.get("run_id"))] = record["run_data"]
            else:
                unreadable.add(str(record.get("run_id")))
        found: dict[str, list[JSON] | records.DamagedRecord] = {}
        for record, order in zip(stored, orders, strict=True):
            session_id = str(record["session_id"])
            if unreadable.intersection(order):
                found[session_id] = _damaged_run(session_id)
            else:
                runs = [by_id[run_id] for run_id in order if run_id in by_id]
                found[session_id] = records.merge_legacy_runs(runs, record.get("runs"))
        return found

    def _run_record(self, session: SessionRow, run: JSON, index: int, now: int) -> Record:
        return records.run_columns(
            run, session_id=session.session_id, user_id=session.user_id, run_index=index, now=now
        )

    def _write_session(self, batch: WriteBatch, old: Record | None, new: Record | None, text: str | None) -> None:
        prefix = self._backend.prefix
        session_id = str((new or old or {})["session_id"])
        key = self._backend.key(keys.SESSIONS, session_id)
        if new is None or text is None:
            batch.delete(key)
        else:
            batch.set(key, text)
        reindex(batch, keys.index_changes(prefix, keys.SESSIONS, old, new, keys.SESSION_INDEX_FIELDS), session_id)

    def _write_run(self, batch: WriteBatch, old: Record | None, new: Record, text: str) -> None:
        prefix = self._backend.prefix
        batch.set(self._backend.key(keys.RUNS, new["run_id"]), text)
        batch.zadd(keys.runs_by_session_key(prefix, new["session_id"]), {new["run_id"]: float(new["run_index"])})
        reindex(batch, keys.index_changes(prefix, keys.RUNS, old, new, keys.RUN_INDEX_FIELDS), new["run_id"])

    def _delete_run(self, batch: WriteBatch, old: Record) -> None:
        prefix = self._backend.prefix
        batch.delete(self._backend.key(keys.RUNS, old["run_id"]))
        batch.zrem(keys.runs_by_session_key(prefix, old["session_id"]), old["run_id"])
        reindex(batch, keys.index_changes(prefix, keys.RUNS, old, None, keys.RUN_INDEX_FIELDS), old["run_id"])


def _damaged_run(session_id: str) -> records.DamagedRecord:
    return records.DamagedRecord("session", session_id, "one of its runs is not a JSON object")


def _recent_batch(limit: int) -> int:
    return min(max(limit, _RECENT_BATCH), _MAX_RECENT_BATCH)
