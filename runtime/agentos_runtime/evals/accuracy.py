"""Accuracy evals: the target answers the input, a judge model scores each answer from 1 to 10.

Each iteration runs the target in a session of its own (``eval_<run id>_<n>``, as Agno names
them) and asks the judge once; one whose run gives no answer is left out, as Agno leaves it (no
answer at all: no score, not passed). The result is Agno's ``AccuracyResult`` (``results`` with
``input, output, expected_output, score, reason``, then ``avg/mean/min/max/std_dev_score``),
plus the ``threshold`` and whether the average reached it (``passed``).
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.evals import judging
from agentos_runtime.evals.specs import EvalSpec, Evaluated, answer_of
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.requests import RunRequest

JSON = dict[str, Any]


async def evaluate_accuracy(
    spec: EvalSpec, target: Evaluated, judge: ChatModel, *, run_id: str, user_id: str | None = None
) -> tuple[JSON, JSON]:
    """The result (``eval_data``) and what was asked (``eval_input``).

    Raises ``EvalFailed`` when a run of the target fails or the judge gives no valid score, and
    ``ModelProviderError`` when the judge's model cannot be reached.
    """
    expected = spec.expected_output or ""
    instructions = judging.judge_instructions(guidelines=spec.additional_guidelines, context=spec.additional_context)
    results: list[JSON] = []
    for iteration in range(1, spec.num_iterations + 1):
        request = RunRequest(message=spec.input, session_id=f"eval_{run_id}_{iteration}", user_id=user_id)
        answer = answer_of(await target.complete(request))
        if not answer.strip():  # no answer to judge: the iteration is left out, as Agno leaves it
            continue
        shown = judging.judge_input(agent_input=spec.input, expected_output=expected, agent_output=answer)
        completion = await judge.complete(
            [{"role": "system", "content": instructions}, {"role": "user", "content": shown}], None
        )
        verdict = judging.read_verdict(completion.content)
        results.append(
            {
                "input": spec.input,
                "output": answer,
                "expected_output": expected,
                "score": verdict.score,
                "reason": verdict.reason,
            }
        )
    summary = judging.score_summary([result["score"] for result in results])
    average = summary["avg_score"]
    data: JSON = {
        "run_id": run_id,
        "results": results,
        **summary,
        "threshold": spec.threshold,
        "passed": average is not None and average >= spec.threshold,
    }
    asked: JSON = {
        "additional_guidelines": spec.additional_guidelines,
        "additional_context": spec.additional_context,
        "num_iterations": spec.num_iterations,
        "expected_output": expected,
        "input": spec.input,
    }
    return data, asked
