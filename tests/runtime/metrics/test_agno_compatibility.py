"""Agno's own database classes and our metrics and eval stores share one database, both ways.

Agno's ``calculate_metrics`` over sessions our stores wrote gives the counts our refresh
gives; metric rows and eval runs Agno writes, our stores read; eval runs we write, Agno reads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.metrics import aggregating
from agentos_runtime.metrics.refreshing import refresh_metrics
from agentos_runtime.storage.ports import EvalRow, SessionRow
from agno.db.schemas.evals import EvalRunRecord, EvalType

from tests.support.databases import IsolatedStorage, agno_db, isolated_storage

COUNTS = ("agent_runs_count", "agent_sessions_count", "team_runs_count", "team_sessions_count", "users_count")


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    async with isolated_storage(request.param, tmp_path) as isolated:
        yield isolated


def run(run_id: str, agent: str = "assistant") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent_id": agent,
        "agent_name": agent.title(),
        "model": "gpt-x",
        "model_provider": "OpenAI",
        "status": "COMPLETED",
        "content": "ok",
        "metrics": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        "created_at": int(time.time()),
    }


async def test_agnos_calculation_over_our_sessions_counts_what_our_refresh_counts(storage: IsolatedStorage) -> None:
    ours = await storage.open()
    now = int(time.time())
    for session_id, user_id, runs in (("s1", "ana", 2), ("s2", "bob", 1), ("s3", None, 1)):
        row = SessionRow(
            session_id=session_id, session_type="agent", created_at=now, agent_id="assistant", user_id=user_id
        )
        for index in range(runs):
            await ours.sessions.save_run(row, run(f"{session_id}-{index}"), session_state=None)

    our_rows = await refresh_metrics(ours.metrics, now=time.time())
    with agno_db(storage) as agno:
        agno_rows = agno.calculate_metrics() or []

    ours_by_owner = {row.user_id: row for row in our_rows}
    agnos_by_owner = {row["user_id"]: row for row in agno_rows}
    assert set(ours_by_owner) == set(agnos_by_owner) == {"", "ana", "bob"}
    for owner, row in ours_by_owner.items():
        assert {name: getattr(row, name) for name in COUNTS} == {name: agnos_by_owner[owner][name] for name in COUNTS}
        assert row.model_metrics == agnos_by_owner[owner]["model_metrics"]
    (total,) = aggregating.totals_by_day(await ours.metrics.list_metrics())
    assert (total.agent_runs_count, total.agent_sessions_count, total.users_count) == (4, 3, 2)


async def test_metric_rows_agno_calculated_are_read_by_our_store(storage: IsolatedStorage) -> None:
    ours = await storage.open()
    row = SessionRow(
        session_id="s1", session_type="agent", created_at=int(time.time()), agent_id="assistant", user_id="ana"
    )
    await ours.sessions.save_run(row, run("r1"), session_state=None)
    with agno_db(storage) as agno:
        agno.calculate_metrics()

    (stored,) = await ours.metrics.list_metrics(user_id="ana")

    assert stored.date == datetime.now(tz=UTC).date() and stored.aggregation_period == "daily"
    assert (stored.agent_runs_count, stored.agent_sessions_count, stored.users_count, stored.completed) == (
        1,
        1,
        1,
        False,
    )
    assert stored.model_metrics == [{"model_id": "gpt-x", "model_provider": "OpenAI", "count": 1}]


async def test_eval_runs_are_shared_with_agno_both_ways(storage: IsolatedStorage) -> None:
    ours = await storage.open()
    mine = EvalRow(
        run_id="ours",
        eval_type="accuracy",
        eval_data={"avg_score": 8.0, "results": [{"score": 8}]},
        eval_input={"input": "q", "expected_output": "a"},
        name="mine",
        agent_id="assistant",
        model_id="gpt-x",
        model_provider="OpenAI",
        evaluated_component_name="Assistant",
        created_at=1_700_000_000,
        updated_at=1_700_000_000,
    )
    await ours.evals.create_eval(mine)
    with agno_db(storage) as agno:
        agno.create_eval_run(
            EvalRunRecord(
                run_id="agnos",
                eval_type=EvalType.PERFORMANCE,
                eval_data={"result": {"avg_run_time": 0.5}},
                eval_input={"num_iterations": 1},
                agent_id="assistant",
                model_id="gpt-x",
                name="theirs",
            )
        )
        read_by_agno = agno.get_eval_run("ours", deserialize=False)
        listed_by_agno, total = agno.get_eval_runs(deserialize=False)

    assert {key: read_by_agno[key] for key in asdict(mine) if key != "user_id"} == {
        key: value for key, value in asdict(mine).items() if key != "user_id"
    }
    assert total == 2 and {item["run_id"] for item in listed_by_agno} == {"ours", "agnos"}
    theirs = await ours.evals.get_eval("agnos")
    assert theirs is not None
    assert (theirs.eval_type, theirs.name, theirs.eval_data, theirs.eval_input) == (
        "performance",
        "theirs",
        {"result": {"avg_run_time": 0.5}},
        {"num_iterations": 1},
    )
    assert theirs.created_at is not None
