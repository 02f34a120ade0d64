"""Agent-as-judge evals: the target answers the input once, a judge holds the answer to criteria.

The judge scores the answer from 1 to 10, passing at ``threshold`` (``numeric``), or passes or
fails it (``binary``). The result is Agno's ``AgentAsJudgeResult`` (``results`` with ``input,
output, criteria, score, reason, passed``, then ``avg/min/max/std_dev_score`` and ``pass_rate``).
"""

from __future__ import annotations

import secrets
from typing import Any

from agentos_runtime.evals import judging
from agentos_runtime.evals.specs import EvalSpec, Evaluated, answer_of
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.requests import RunRequest

JSON = dict[str, Any]


async def evaluate_agent_as_judge(
    spec: EvalSpec, target: Evaluated, judge: ChatModel, *, run_id: str, user_id: str | None = None
) -> tuple[JSON, JSON]:
    """The result (``eval_data``) and what was asked (``eval_input``).

    Raises ``EvalFailed`` when the target's run fails or the judge gives no valid verdict, and
    ``ModelProviderError`` when the judge's model cannot be reached.
    """
    criteria = spec.criteria or ""
    request = RunRequest(message=spec.input, session_id=f"eval_{run_id}_1", user_id=user_id)
    answer = answer_of(await target.complete(request))
    instructions = judging.criteria_instructions(
        criteria=criteria, strategy=spec.scoring_strategy, guidelines=spec.additional_guidelines
    )
    shown = judging.criteria_input(agent_input=spec.input, agent_output=answer, fence=secrets.token_hex(8))
    completion = await judge.complete(
        [{"role": "system", "content": instructions}, {"role": "user", "content": shown}], None
    )
    verdict = judging.read_criteria_verdict(
        completion.content, strategy=spec.scoring_strategy, threshold=spec.threshold
    )
    result = {
        "input": spec.input,
        "output": answer,
        "criteria": criteria,
        "score": verdict.score,
        "reason": verdict.reason,
        "passed": verdict.passed,
    }
    data: JSON = {"run_id": run_id, "results": [result], **judging.criteria_summary([verdict])}
    asked: JSON = {
        "criteria": criteria,
        "scoring_strategy": spec.scoring_strategy,
        "threshold": spec.threshold if spec.scoring_strategy == "numeric" else None,
        "additional_guidelines": spec.additional_guidelines,
    }
    return data, asked
