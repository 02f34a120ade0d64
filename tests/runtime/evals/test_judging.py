"""Reading the judge's verdict, and the statistics of scores and measurements."""

from __future__ import annotations

import pytest
from agentos_runtime.evals.judging import Verdict, judge_instructions, read_verdict, score_summary
from agentos_runtime.evals.performance import summarise
from agentos_runtime.evals.specs import EvalFailed


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"accuracy_score": 8, "accuracy_reason": "Good."}', Verdict(8, "Good.")),
        ('```json\n{"accuracy_score": 10, "accuracy_reason": "Exact."}\n```', Verdict(10, "Exact.")),
        ('Here is my verdict: {"accuracy_score": 3.0, "accuracy_reason": "Off."} Thanks.', Verdict(3, "Off.")),
        ('{"accuracy_score": 1}', Verdict(1, "")),
    ],
)
def test_a_verdict_is_read_from_the_judges_json(answer: str, expected: Verdict) -> None:
    assert read_verdict(answer) == expected


@pytest.mark.parametrize(
    "answer",
    [
        None,
        "Pretty good",
        '{"accuracy_score": 11}',
        '{"accuracy_score": 0}',
        '{"accuracy_score": 7.5}',
        '{"accuracy_score": true}',
        '{"accuracy_score": "8"}',
        '{"accuracy_reason": "no score"}',
    ],
)
def test_an_answer_without_a_whole_score_from_1_to_10_fails_the_eval(answer: str | None) -> None:
    with pytest.raises(EvalFailed) as caught:
        read_verdict(answer)
    assert caught.value.status_code == 502


def test_the_judge_is_told_the_guidelines_context_and_answer_format() -> None:
    text = judge_instructions(guidelines="Ignore punctuation.", context="Capitals quiz.")
    assert "## Additional guidelines\nIgnore punctuation." in text
    assert "## Additional context\nCapitals quiz." in text
    assert text.rstrip().endswith('"accuracy_reason": "<your reasons>"}')
    assert "Additional" not in judge_instructions(guidelines=None, context=None)


def test_score_statistics_follow_agnos_accuracy_result() -> None:
    assert score_summary([6, 8, 10]) == {
        "avg_score": 8,
        "mean_score": 8,
        "min_score": 6,
        "max_score": 10,
        "std_dev_score": 2,
    }
    assert score_summary([]) == dict.fromkeys(("avg_score", "mean_score", "min_score", "max_score", "std_dev_score"))


def test_measurement_statistics_include_median_and_95th_percentile() -> None:
    found = summarise([1.0, 2.0, 3.0, 4.0], "run_time")
    assert (found["avg_run_time"], found["median_run_time"], found["min_run_time"], found["max_run_time"]) == (
        2.5,
        2.5,
        1,
        4,
    )
    assert found["p95_run_time"] == pytest.approx(3.85)
    assert summarise([0.5], "memory_usage")["p95_memory_usage"] == 0.5
    assert summarise([], "run_time")["avg_run_time"] == 0
