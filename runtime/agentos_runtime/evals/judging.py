"""The accuracy judge, as pure functions: its instructions, what it is shown, reading its verdict.

The judge compares the agent's answer with the expected one (taken as correct) and gives a
whole score from 1 to 10 with its reasons, as a JSON object (``accuracy_score``,
``accuracy_reason``: Agno's field names). The instructions ask for JSON in words rather than
through a response format, so any OpenAI-compatible endpoint can judge.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentos_runtime.evals.specs import EvalFailed
from agentos_runtime.storable import clean_text

MIN_SCORE, MAX_SCORE = 1, 10
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")

_INSTRUCTIONS = """\
You judge how well an AI agent answered, by comparing its answer with an expected answer.
The expected answer is correct by definition, even where you would disagree with it.

You are given:
- agent_input: the question or task the agent received;
- expected_output: the correct answer;
- agent_output: the agent's answer.

Judge two things: accuracy (how closely agent_output matches expected_output) and
completeness (whether agent_output contains every key element of expected_output). Compare
agent_output with expected_output only; never judge expected_output itself. Explain the
similarities and differences you see, what is included or left out, and any inaccuracy,
then give a whole score:
1-2: wrong or irrelevant;
3-4: major inaccuracies or key information missing;
5-6: partly right, with significant problems;
7-8: mostly accurate and complete, with minor problems;
9-10: accurate and complete, matching the expected answer closely."""

_ANSWER_FORMAT = """\
Answer with one JSON object and nothing else:
{"accuracy_score": <whole number from 1 to 10>, "accuracy_reason": "<your reasons>"}"""


@dataclass(frozen=True)
class Verdict:
    score: int
    reason: str


def judge_instructions(*, guidelines: str | None, context: str | None) -> str:
    """The judge's system message."""
    parts = [_INSTRUCTIONS]
    if guidelines:
        parts.append(f"## Additional guidelines\n{guidelines}")
    if context:
        parts.append(f"## Additional context\n{context}")
    parts.append(_ANSWER_FORMAT)
    return "\n\n".join(parts)


def judge_input(*, agent_input: str, expected_output: str, agent_output: str) -> str:
    """What the judge is shown (Agno's tags)."""
    return (
        f"<agent_input>\n{agent_input}\n</agent_input>\n\n"
        f"<expected_output>\n{expected_output}\n</expected_output>\n\n"
        f"<agent_output>\n{agent_output}\n</agent_output>"
    )


def read_verdict(text: str | None) -> Verdict:
    """The judge's score and reasons; ``EvalFailed`` when the answer is not a valid verdict."""
    stripped = _FENCE.sub("", (text or "").strip())
    start, end = stripped.find("{"), stripped.rfind("}")
    try:
        found: Any = json.loads(stripped[start : end + 1]) if start >= 0 else None
    except (ValueError, RecursionError):
        found = None
    score = found.get("accuracy_score") if isinstance(found, dict) else None
    reason = found.get("accuracy_reason") if isinstance(found, dict) else None
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if not isinstance(score, int) or isinstance(score, bool) or not MIN_SCORE <= score <= MAX_SCORE:
        raise EvalFailed(f"the judge's answer is not a score from {MIN_SCORE} to {MAX_SCORE}: {(text or '')[:200]!r}")
    # JSON escapes decode here, after the answer's own text was cleaned: ``\\u0000`` or a lone
    # ``\\ud800`` in the reason would be stored as is (PostgreSQL refuses a NUL, no backend a
    # lone surrogate).
    return Verdict(score=score, reason=clean_text(reason) if isinstance(reason, str) else "")


def score_summary(scores: Sequence[int]) -> dict[str, float | None]:
    """Agno's ``AccuracyResult`` statistics of the scores (all ``None`` without scores)."""
    if not scores:
        return dict.fromkeys(("avg_score", "mean_score", "min_score", "max_score", "std_dev_score"))
    mean = statistics.mean(scores)
    return {
        "avg_score": mean,
        "mean_score": mean,
        "min_score": min(scores),
        "max_score": max(scores),
        "std_dev_score": statistics.stdev(scores) if len(scores) > 1 else 0,
    }
