"""Our server with its session store's reads and saves answered in memory: a measurement floor.

    .venv/bin/python -m benchmarks.runtime.without_storage serve --config FILE --port N

The ``agentos`` command, with one change made before it starts: the session stores (Redis and
SQL) answer ``get_session`` with "no such session" and ``save_run`` with the saved session,
without a round trip, an encoding or a write. For a run on a new session (the benchmark's fresh
scenarios) those are the answers the store gives, so the server does everything else a real
run does (the request, the model call, the run's record, the answer): the difference between
it and the same server on its storage is what the storage costs a run. Measurement only: runs
are not kept, and a reused session starts over each time.
"""

from __future__ import annotations

import sys
import time

from agentos_operator.cli import main
from agentos_runtime.storage import records
from agentos_runtime.storage.ports import JSON, SessionRow
from agentos_runtime.storage.redis.sessions import RedisSessionStore
from agentos_runtime.storage.sql.sessions import SqlSessionStore


async def no_session(_self: object, _session_id: str, **_filters: object) -> SessionRow | None:
    return None


async def saved_in_memory(_self: object, new: SessionRow, _run: JSON, *, session_state: JSON | None) -> SessionRow:
    return records.saved_session(None, new, state=session_state, now=int(time.time()))


def without_storage() -> None:
    """Answer the session stores' run-path calls in memory (see the module's docstring)."""
    for store in (RedisSessionStore, SqlSessionStore):
        store.get_session = no_session  # type: ignore[method-assign,assignment]
        store.save_run = saved_in_memory  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    without_storage()
    sys.exit(main())
