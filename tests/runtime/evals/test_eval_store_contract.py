"""The eval-run store contract, run identically on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.errors import BadRequest
from agentos_runtime.storage.ports import Database, EvalQuery, EvalRow

from tests.support.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as database:
        yield database


def eval_row(run_id: str, created_at: int | None, **fields: Any) -> EvalRow:
    values: dict[str, Any] = {
        "eval_type": "accuracy",
        "eval_data": {"avg_score": 8.0},
        "agent_id": "helper",
        "model_id": "gpt-x",
        "updated_at": created_at,
    }
    values.update(fields)
    return EvalRow(run_id=run_id, created_at=created_at, **values)


async def ids(db: Database, **query: Any) -> list[str]:
    return [row.run_id for row in (await db.evals.list_evals(EvalQuery(**query))).items]


async def test_created_eval_reads_back_with_every_column(db: Database) -> None:
    row = EvalRow(
        run_id="e1",
        eval_type="performance",
        eval_data={"result": {"avg_run_time": 0.5}, "runs": [{"runtime": 0.5, "memory": 1.25}]},
        eval_input={"num_iterations": 1, "warmup_runs": 0},
        name="latency",
        agent_id="helper",
        team_id=None,
        workflow_id=None,
        model_id="gpt-x",
        model_provider="OpenAI",
        evaluated_component_name="Helper",
        user_id="ana",
        created_at=1_700_000_000,
        updated_at=1_700_000_001,
    )

    assert await db.evals.create_eval(row) == row
    assert await db.evals.get_eval("e1") == row
    assert await db.evals.get_eval("missing") is None


async def test_missing_times_are_stamped_on_create(db: Database) -> None:
    created = await db.evals.create_eval(eval_row("e1", None, updated_at=None))

    assert created.created_at is not None and created.created_at > 1_700_000_000
    assert created.updated_at == created.created_at


async def test_listing_filters_by_component_model_and_eval_type(db: Database) -> None:
    await db.evals.create_eval(eval_row("agent-acc", 1))
    await db.evals.create_eval(eval_row("agent-perf", 2, eval_type="performance", model_id="gpt-y"))
    await db.evals.create_eval(eval_row("team-acc", 3, agent_id=None, team_id="crew"))

    assert await ids(db, agent_id="helper") == ["agent-perf", "agent-acc"]
    assert await ids(db, team_id="crew") == ["team-acc"]
    assert await ids(db, model_id="gpt-y") == ["agent-perf"]
    assert await ids(db, component="team") == ["team-acc"]
    assert await ids(db, component="workflow") == []
    assert await ids(db, eval_types=["accuracy"]) == ["team-acc", "agent-acc"]
    assert await ids(db, eval_types=["accuracy", "performance"], agent_id="helper") == ["agent-perf", "agent-acc"]


async def test_listing_pages_and_counts_every_match(db: Database) -> None:
    for index in range(5):
        await db.evals.create_eval(eval_row(f"e{index}", 10 + index))

    page = await db.evals.list_evals(EvalQuery(limit=2, page=2, sort_order="asc"))

    assert [row.run_id for row in page.items] == ["e2", "e3"] and page.total == 5
    assert await ids(db, sort_by="not-a-column", limit=1) == ["e4"]
    with pytest.raises(BadRequest):
        await db.evals.list_evals(EvalQuery(page=0))


async def test_renaming_sets_the_name_and_updated_at(db: Database) -> None:
    await db.evals.create_eval(eval_row("e1", 100, name="old"))

    renamed = await db.evals.rename_eval("e1", "new name")

    assert renamed is not None and renamed.name == "new name"
    assert renamed.updated_at is not None and renamed.updated_at > 100
    assert await db.evals.get_eval("e1") == renamed
    assert await db.evals.rename_eval("missing", "x") is None


async def test_deleting_removes_the_runs_and_counts_them(db: Database) -> None:
    for run_id in ("e1", "e2", "e3"):
        await db.evals.create_eval(eval_row(run_id, 1))

    assert await db.evals.delete_evals(["e1", "e3", "missing"]) == 2
    assert await ids(db) == ["e2"]
    assert await ids(db, agent_id="helper") == ["e2"]
    assert await db.evals.delete_evals([]) == 0


async def test_deleting_for_a_user_removes_only_that_users_runs_in_one_call(db: Database) -> None:
    await db.evals.create_eval(eval_row("mine", 1, user_id="ana"))
    await db.evals.create_eval(eval_row("theirs", 2, user_id="bob"))
    await db.evals.create_eval(eval_row("shared", 3))

    assert await db.evals.delete_evals(["mine", "theirs", "shared", "missing"], user_id="ana") == 1
    assert sorted(await ids(db)) == ["shared", "theirs"]
