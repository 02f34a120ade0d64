"""A session's metrics worked out from its runs, as Agno sums them: pure."""

from __future__ import annotations

from typing import Any

from agentos_runtime.metrics.aggregating import runs_tokens
from agentos_runtime.metrics.session_tokens import session_metrics
from agentos_runtime.storage.metrics_records import NESTING_LIMIT, run_usage


def run_tokens(run: dict[str, Any]) -> dict[str, int]:
    return runs_tokens([run_usage(run)])


def run(input_tokens: int, output_tokens: int, **fields: Any) -> dict[str, Any]:
    total = input_tokens + output_tokens
    return {"metrics": {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total}, **fields}


def test_stored_session_metrics_are_shown_as_agno_stored_them() -> None:
    stored = {"total_tokens": 42, "details": {"model": []}}
    assert session_metrics(stored, [run(1, 1)]) is stored


def test_a_team_run_counts_its_members_and_their_members() -> None:
    nested_team = run(4, 4, member_responses=[run(8, 8)])
    team = run(1, 1, member_responses=[run(2, 2), nested_team])

    assert run_tokens(team)["total_tokens"] == 2 * (1 + 2 + 4 + 8)


def test_a_workflow_run_counts_its_steps_runs_with_their_members() -> None:
    workflow = {"metrics": {"steps": {}}, "step_executor_runs": [run(3, 0), run(1, 0, member_responses=[run(5, 0)])]}

    assert run_tokens(workflow)["input_tokens"] == 9


def test_runs_kept_apart_as_another_runs_members_are_not_counted_twice() -> None:
    member = run(2, 2, run_id="member-run", parent_run_id="team-run")
    team = run(1, 1, run_id="team-run", member_responses=[run(2, 2, run_id="member-run")])

    assert session_metrics(None, [team, member]) == {"input_tokens": 3, "output_tokens": 3, "total_tokens": 6}


def test_counts_that_cannot_be_trusted_are_not_counted_and_zeros_are_left_out() -> None:
    hostile = {"metrics": {"input_tokens": -5, "output_tokens": "7", "total_tokens": 1e300, "reasoning_tokens": True}}
    odd: list[Any] = [hostile, "not a run", {"metrics": [1, 2]}, run(1, 0)]

    assert session_metrics(None, odd) == {"input_tokens": 1, "total_tokens": 1}
    assert session_metrics(None, []) == {}
    assert session_metrics(None, None) is None


def test_nesting_past_the_bound_is_not_followed() -> None:
    deepest = run(1, 0)
    for _ in range(NESTING_LIMIT + 5):
        deepest = {"member_responses": [deepest]}

    assert run_tokens(deepest)["input_tokens"] == 0
    assert run_tokens(run(1, 0, member_responses=[run(1, 0)]))["input_tokens"] == 2


def detailed(model: str, input_tokens: int, **fields: Any) -> dict[str, Any]:
    """A run on ``model`` with its per-model details, as a run's metrics hold them."""
    entry = {"id": model, "provider": "OpenAI", "input_tokens": input_tokens, "total_tokens": input_tokens}
    metrics = {"input_tokens": input_tokens, "total_tokens": input_tokens, "details": {"model": [entry]}}
    return {"metrics": metrics, **fields}


def test_the_per_model_details_are_summed_per_model_over_runs_and_their_members() -> None:
    team = detailed("lead", 1, run_id="t1", member_responses=[detailed("helper", 2, run_id="m1")])
    later = detailed("lead", 4, run_id="t2")

    metrics = session_metrics(None, [team, later])

    assert metrics == {
        "input_tokens": 7,
        "total_tokens": 7,
        "details": {
            "model": [
                {"id": "lead", "provider": "OpenAI", "input_tokens": 5, "total_tokens": 5},
                {"id": "helper", "provider": "OpenAI", "input_tokens": 2, "total_tokens": 2},
            ]
        },
    }


def test_details_that_name_no_model_are_left_out() -> None:
    odd = [{"metrics": {"details": details}} for details in ("x", {"model": "x"}, {"model": [{"id": 5}, "x"]})]

    assert session_metrics(None, odd) == {}
