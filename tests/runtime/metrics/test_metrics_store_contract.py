"""The daily-metrics store contract, run identically on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.storage.ports import Database, MetricsDays, MetricsRow, RunUsage, SessionRow

from tests.support.databases import BACKENDS, fresh_database

DAY = 86_400
# 2026-03-01T00:00:00Z
MARCH_1 = 1_772_323_200


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as database:
        yield database


def run(run_id: str, *, model: str = "gpt-x", provider: str = "OpenAI", tokens: int = 10) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent_id": "helper",
        "model": model,
        "model_provider": provider,
        "status": "COMPLETED",
        "metrics": {"input_tokens": tokens - 2, "output_tokens": 2, "total_tokens": tokens},
        "messages": [{"role": "user", "content": "a long message the metrics never need"}],
    }


def session(session_id: str, created_at: int, runs: list[dict[str, Any]], **fields: Any) -> SessionRow:
    values: dict[str, Any] = {"session_type": "agent", "agent_id": "helper", "user_id": "ana"}
    values.update(fields)
    return SessionRow(session_id=session_id, created_at=created_at, runs=runs, **values)


def metrics_row(day: date, user_id: str = "ana", **fields: Any) -> MetricsRow:
    values: dict[str, Any] = {"id": f"{day}-{user_id}", "agent_runs_count": 1, "created_at": 100, "updated_at": 100}
    values.update(fields)
    return MetricsRow(date=day, user_id=user_id, **values)


async def test_session_activity_lists_sessions_created_in_the_range_with_each_runs_usage(db: Database) -> None:
    await db.sessions.upsert_session(session("before", MARCH_1 - 1, [run("r0")]))
    await db.sessions.upsert_session(
        session("first", MARCH_1, [run("r1", tokens=12), run("r2", model="gpt-y", provider="Other", tokens=7)])
    )
    await db.sessions.upsert_session(
        session("team", MARCH_1 + 60, [], session_type="team", team_id="crew", user_id=None)
    )
    await db.sessions.upsert_session(session("next-day", MARCH_1 + DAY, [run("r3")]))

    activity = await db.metrics.session_activity(start=MARCH_1, end=MARCH_1 + DAY)

    by_id = {item.session_id: item for item in activity}
    assert set(by_id) == {"first", "team"}
    first = by_id["first"]
    assert (first.session_type, first.user_id, first.created_at) == ("agent", "ana", MARCH_1)
    assert first.runs == [
        RunUsage("gpt-x", "OpenAI", {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}, run_id="r1"),
        RunUsage("gpt-y", "Other", {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}, run_id="r2"),
    ]
    assert (by_id["team"].session_type, by_id["team"].user_id, by_id["team"].runs) == ("team", None, [])


async def test_session_activity_carries_the_runs_a_teams_and_a_workflows_runs_hold(db: Database) -> None:
    analyst = run("r-analyst", tokens=3)
    inner = {**run("r-inner", tokens=4), "team_id": "inner", "member_responses": [analyst, "not a run"]}
    crew = {**run("r-crew", tokens=5), "team_id": "crew", "member_responses": [inner]}
    apart = {**run("r-apart", tokens=6), "parent_run_id": "r-crew"}
    flow = {"run_id": "r-flow", "workflow_id": "flow", "status": "COMPLETED", "step_executor_runs": [crew]}
    await db.sessions.upsert_session(session("team", MARCH_1, [crew, apart], session_type="team", team_id="crew"))
    await db.sessions.upsert_session(session("flow", MARCH_1, [flow], session_type="workflow", workflow_id="flow"))

    activity = {item.session_id: item for item in await db.metrics.session_activity(start=MARCH_1, end=MARCH_1 + DAY)}

    def used(run_id: str, tokens: int, **more: Any) -> RunUsage:
        counts = {"input_tokens": tokens - 2, "output_tokens": 2, "total_tokens": tokens}
        return RunUsage("gpt-x", "OpenAI", counts, run_id=run_id, **more)

    crew_used = used("r-crew", 5, members=(used("r-inner", 4, members=(used("r-analyst", 3),)),))
    assert activity["team"].runs == [crew_used, used("r-apart", 6, parent_run_id="r-crew")]
    assert activity["flow"].runs == [RunUsage(run_id="r-flow", steps=(crew_used,))]


async def test_session_activity_carries_the_session_metrics_agno_keeps_in_session_data(db: Database) -> None:
    stored = {"session_metrics": {"input_tokens": 30, "total_tokens": 40}, "session_state": {"big": "x" * 100}}
    await db.sessions.upsert_session(session("s1", MARCH_1, [run("r1")], session_data=stored))

    (activity,) = await db.metrics.session_activity(start=MARCH_1, end=MARCH_1 + DAY)

    assert activity.session_metrics == {"input_tokens": 30, "total_tokens": 40}


async def test_first_session_at_is_the_oldest_creation_time_or_none(db: Database) -> None:
    assert await db.metrics.first_session_at() is None
    await db.sessions.upsert_session(session("late", MARCH_1 + 500, []))
    await db.sessions.upsert_session(session("early", MARCH_1 + 5, []))

    assert await db.metrics.first_session_at() == MARCH_1 + 5


async def test_written_metrics_read_back_in_date_order_with_every_column(db: Database) -> None:
    second = metrics_row(
        date(2026, 3, 2),
        agent_runs_count=3,
        team_runs_count=1,
        workflow_runs_count=2,
        agent_sessions_count=2,
        team_sessions_count=1,
        workflow_sessions_count=1,
        users_count=1,
        token_metrics={"input_tokens": 5, "total_tokens": 9},
        model_metrics=[{"model_id": "gpt-x", "model_provider": "OpenAI", "count": 3}],
        completed=True,
    )
    first = metrics_row(date(2026, 3, 1))

    await db.metrics.write_metrics([second, first])

    listed = await db.metrics.list_metrics()
    assert [replace(row, id="") for row in listed] == [replace(first, id=""), replace(second, id="")]


async def test_rewriting_a_day_replaces_its_counts_but_keeps_id_and_created_at(db: Database) -> None:
    await db.metrics.write_metrics([metrics_row(date(2026, 3, 1), id="original", created_at=100)])
    (first,) = await db.metrics.list_metrics()

    await db.metrics.write_metrics(
        [metrics_row(date(2026, 3, 1), id="recomputed", created_at=999, updated_at=999, agent_runs_count=7)]
    )

    (stored,) = await db.metrics.list_metrics()
    assert (stored.id, stored.created_at, stored.updated_at, stored.agent_runs_count) == (first.id, 100, 999, 7)


async def test_each_owner_has_its_own_row_per_day(db: Database) -> None:
    day = date(2026, 3, 1)
    await db.metrics.write_metrics([metrics_row(day, "ana"), metrics_row(day, "bob"), metrics_row(day, "")])

    rows = await db.metrics.list_metrics()
    assert sorted(row.user_id for row in rows) == ["", "ana", "bob"]
    assert [row.user_id for row in await db.metrics.list_metrics(user_id="bob")] == ["bob"]


async def test_listing_keeps_the_inclusive_date_range(db: Database) -> None:
    days = [date(2026, 3, day) for day in (1, 2, 3, 4)]
    await db.metrics.write_metrics([metrics_row(day) for day in days])

    listed = await db.metrics.list_metrics(starting_date=date(2026, 3, 2), ending_date=date(2026, 3, 3))
    assert [row.date for row in listed] == days[1:3]
    assert [row.date for row in await db.metrics.list_metrics(starting_date=date(2026, 3, 4))] == days[3:]


async def test_metrics_days_give_the_latest_completed_and_the_earliest_pending_day_after_it(db: Database) -> None:
    assert await db.metrics.metrics_days() == MetricsDays(None, None)
    rows = [
        metrics_row(date(2026, 3, 1), completed=False),
        metrics_row(date(2026, 3, 2), completed=True),
        metrics_row(date(2026, 3, 4), completed=False),
        metrics_row(date(2026, 3, 5), completed=False),
    ]
    await db.metrics.write_metrics(rows)

    assert await db.metrics.metrics_days() == MetricsDays(date(2026, 3, 2), date(2026, 3, 4))
    await db.metrics.write_metrics([replace(rows[2], completed=True), replace(rows[3], completed=True)])
    assert await db.metrics.metrics_days() == MetricsDays(date(2026, 3, 5), None)
