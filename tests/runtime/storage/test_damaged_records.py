"""A stored record the runtime cannot read (damaged by hand, by another program, by a bug):
listings leave it out and log one warning naming the database, the kind of record and its id
(never its content, never a traceback); reading or editing it raises ``UnreadableRecord``,
saying which record of which database and what to do; deleting it works. One suite over every
server backend, each record damaged the way that backend lets it be (raw keys on Redis, rows
written around the runtime on SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from agentos_runtime.errors import UnreadableRecord
from agentos_runtime.storage.ports import (
    Database,
    EvalQuery,
    EvalRow,
    MemoryQuery,
    MemoryRow,
    MetricsDays,
    MetricsRow,
    SessionChanges,
    SessionQuery,
    SessionRow,
)

from tests.support.damage import Damage
from tests.support.databases import SERVER_BACKENDS, isolated_storage


@pytest.fixture(params=SERVER_BACKENDS)
async def stored(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Database, Damage]]:
    async with isolated_storage(request.param, tmp_path) as storage:
        database = await storage.open()
        yield database, Damage(storage.kind, storage.config, storage.data_dir)


def session(session_id: str) -> SessionRow:
    return SessionRow(session_id=session_id, session_type="agent", created_at=1_000, agent_id="assistant")


def check_unreadable(error: UnreadableRecord, database: Database, kind: str, record_id: str, damage: str) -> None:
    prefix = f"stored {kind} '{record_id}' in database '{database.id}' cannot be read ("
    assert error.detail.startswith(prefix), error.detail
    assert error.detail.endswith("): delete it or restore it"), error.detail
    assert damage not in error.detail and "Traceback" not in error.detail
    assert error.status_code == 500


def check_one_warning(
    caplog: pytest.LogCaptureFixture, database: Database, kind: str, record_id: str, damage: str
) -> None:
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    line = warnings[0].getMessage()
    assert f"'{database.id}'" in line and f"{kind} '{record_id}'" in line, line
    assert damage not in line and "\n" not in line and warnings[0].exc_info is None


async def test_a_damaged_session_is_left_out_of_listings_and_its_reads_say_which_and_what_to_do(
    stored: tuple[Database, Damage], caplog: pytest.LogCaptureFixture
) -> None:
    database, damage = stored
    await database.sessions.save_run(session("ok"), {"run_id": "r1", "agent_id": "assistant"}, session_state=None)
    text = await damage.session("wt")

    with caplog.at_level(logging.WARNING, logger="agentos_runtime"):
        for include_runs in (True, False):
            caplog.clear()
            listed = await database.sessions.list_sessions(SessionQuery(include_runs=include_runs))
            assert [row.session_id for row in listed.items] == ["ok"]
            check_one_warning(caplog, database, "session", "wt", text)

    with pytest.raises(UnreadableRecord) as read:
        await database.sessions.get_session("wt")
    check_unreadable(read.value, database, "session", "wt", text)
    with pytest.raises(UnreadableRecord) as updated:
        await database.sessions.update_session("wt", SessionChanges(session_name="n"))
    check_unreadable(updated.value, database, "session", "wt", text)

    assert await database.sessions.delete_sessions(["wt"]) == 1
    assert await database.sessions.get_session("wt") is None


async def test_creating_a_session_whose_id_a_damaged_one_holds_is_a_conflict_and_leaves_it(
    stored: tuple[Database, Damage],
) -> None:
    database, damage = stored
    await damage.session("zz-damaged")

    assert await database.sessions.create_session(session("zz-damaged")) is None  # already there: 409

    with pytest.raises(UnreadableRecord):
        await database.sessions.get_session("zz-damaged")


async def test_a_users_delete_naming_a_damaged_session_deletes_the_users_others_and_leaves_it(
    stored: tuple[Database, Damage],
) -> None:
    """Whose a damaged session is cannot be read: a user's delete leaves it, and the rest of the
    delete is done, not half of it before a 500."""
    database, damage = stored
    for session_id in ("a1", "a2"):
        row = replace(session(session_id), user_id="ana")
        await database.sessions.save_run(
            row, {"run_id": f"r-{session_id}", "agent_id": "assistant"}, session_state=None
        )
    await damage.session("zz-damaged")

    assert await database.sessions.delete_sessions(["a1", "zz-damaged", "a2"], user_id="ana") == 2

    assert [await database.sessions.get_session(s) for s in ("a1", "a2")] == [None, None]
    assert await database.sessions.delete_sessions(["zz-damaged"]) == 1  # anyone's delete takes it


@pytest.mark.parametrize("damaged", ["session", "run"])
async def test_a_damaged_session_is_restored_by_writing_it_whole(stored: tuple[Database, Damage], damaged: str) -> None:
    database, damage = stored
    await database.sessions.save_run(session("wt"), {"run_id": "r1", "agent_id": "assistant"}, session_state=None)
    if damaged == "session":
        if damage.kind != "redis":  # the damaged row takes the place of the stored one
            await damage.sql("DELETE FROM {schema}.agno_sessions")
        await damage.session("wt")
    else:
        await damage.run("r1")

    restored = await database.sessions.upsert_session(
        SessionRow(
            session_id="wt", session_type="agent", created_at=5, runs=[{"run_id": "r2", "agent_id": "assistant"}]
        )
    )

    assert await database.sessions.get_session("wt") == restored


async def test_a_session_with_a_damaged_run_is_left_out_and_its_reads_say_which(
    stored: tuple[Database, Damage], caplog: pytest.LogCaptureFixture
) -> None:
    database, damage = stored
    await database.sessions.save_run(session("ok"), {"run_id": "r1", "agent_id": "assistant"}, session_state=None)
    await database.sessions.save_run(session("wr"), {"run_id": "r2", "agent_id": "assistant"}, session_state=None)
    text = await damage.run("r2")

    with caplog.at_level(logging.WARNING, logger="agentos_runtime"):
        listed = await database.sessions.list_sessions(SessionQuery(include_runs=True))
    assert [row.session_id for row in listed.items] == ["ok"]
    check_one_warning(caplog, database, "session", "wr", text)

    with pytest.raises(UnreadableRecord) as read:
        await database.sessions.get_session("wr")
    check_unreadable(read.value, database, "session", "wr", text)
    assert await database.sessions.delete_sessions(["wr"]) == 1


async def test_a_damaged_memory_is_left_out_of_listings_and_its_read_says_which(
    stored: tuple[Database, Damage], caplog: pytest.LogCaptureFixture
) -> None:
    database, damage = stored
    await database.memories.upsert_memory(MemoryRow(memory_id="good", memory="m", user_id="u", topics=["a"]))
    text = await damage.memory("badmem")
    if text is None:
        pytest.skip("this backend's column types keep every memory row readable")

    with caplog.at_level(logging.WARNING, logger="agentos_runtime"):
        listed = await database.memories.list_memories(MemoryQuery())
        assert [row.memory_id for row in listed.items] == ["good"]
        check_one_warning(caplog, database, "memory", "badmem", text)
        caplog.clear()
        assert "a" in await database.memories.list_topics()

    with pytest.raises(UnreadableRecord) as read:
        await database.memories.get_memory("badmem")
    check_unreadable(read.value, database, "memory", "badmem", text)
    assert await database.memories.delete_memories(["badmem"]) == 1


async def test_a_damaged_eval_run_is_left_out_of_listings_and_its_read_says_which(
    stored: tuple[Database, Damage], caplog: pytest.LogCaptureFixture
) -> None:
    database, damage = stored
    await database.evals.create_eval(EvalRow(run_id="good", eval_type="accuracy", eval_data={}, eval_input={}))
    text = await damage.eval("badev")
    if text is None:
        pytest.skip("this backend's column types keep every eval row readable")

    with caplog.at_level(logging.WARNING, logger="agentos_runtime"):
        listed = await database.evals.list_evals(EvalQuery())
    assert [row.run_id for row in listed.items] == ["good"]
    check_one_warning(caplog, database, "eval run", "badev", text)

    with pytest.raises(UnreadableRecord) as read:
        await database.evals.get_eval("badev")
    check_unreadable(read.value, database, "eval run", "badev", text)
    assert await database.evals.delete_evals(["badev"]) == 1


@pytest.mark.parametrize("completed", [True, False], ids=["a-completed-day", "a-day-in-progress"])
async def test_a_damaged_metrics_row_is_left_out_and_the_days_are_judged_without_it(
    stored: tuple[Database, Damage], caplog: pytest.LogCaptureFixture, completed: bool
) -> None:
    database, damage = stored
    first = MetricsRow(id="first", date=date(2026, 1, 1), completed=True, created_at=5, agent_runs_count=2)
    second = MetricsRow(id="second", date=date(2026, 1, 2), created_at=6)
    await database.metrics.write_metrics([first, second])
    text = await damage.metrics_row("2026-01-03__daily", completed=completed)
    if text is None:
        pytest.skip("this backend's column types keep every metrics row readable")

    with caplog.at_level(logging.WARNING, logger="agentos_runtime"):
        listed = await database.metrics.list_metrics()
        assert [(row.date, row.agent_runs_count) for row in listed] == [(date(2026, 1, 1), 2), (date(2026, 1, 2), 0)]
        check_one_warning(caplog, database, "metrics row", "2026-01-03__daily", text)
        days = await database.metrics.metrics_days()
    assert days == MetricsDays(latest_completed=date(2026, 1, 1), earliest_incomplete=date(2026, 1, 2))

    # A refresh writes the day again (over the damaged row where it is stored under the day's id).
    await database.metrics.write_metrics([MetricsRow(id="third", date=date(2026, 1, 3), agent_runs_count=7)])
    listed = await database.metrics.list_metrics(starting_date=date(2026, 1, 2))
    assert [(row.date, row.agent_runs_count) for row in listed] == [(date(2026, 1, 2), 0), (date(2026, 1, 3), 7)]
