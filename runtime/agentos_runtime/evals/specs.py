"""What an evaluation is asked to do, what it evaluates, and how it fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agentos_runtime.errors import AgentOSError
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.requests import RunRequest

EvalType = Literal["accuracy", "agent_as_judge", "performance", "reliability"]
ScoringStrategy = Literal["numeric", "binary"]
DEFAULT_THRESHOLD = 7
MAX_REPEATED_TEXT = 16_000_000
"""Characters an accuracy eval's stored result repeats: each iteration's result holds the input
and the expected output again (Agno's shape), so 100 iterations of a 5 MiB request would make
a row of a gigabyte, over PostgreSQL's limit for one jsonb value and read whole by each list."""
ExpectedArguments = Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]
"""Per tool name, the arguments one of its calls must have (or a list: each matched by a call)."""


class EvalFailed(AgentOSError):
    """The evaluation could not produce a result (the target's run or the judge failed)."""

    status_code = 502


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation request (the fields of Agno's ``EvalRunInput`` the runtime acts on)."""

    eval_type: EvalType
    input: str
    expected_output: str | None = None
    additional_guidelines: str | None = None
    additional_context: str | None = None
    num_iterations: int = 1
    warmup_runs: int = 0
    threshold: int = DEFAULT_THRESHOLD
    name: str | None = None
    criteria: str | None = None
    scoring_strategy: ScoringStrategy = "binary"
    expected_tool_calls: tuple[str, ...] | None = None
    allow_additional_tool_calls: bool = False
    expected_tool_call_arguments: ExpectedArguments | None = None


class Evaluated(Protocol):
    """What an evaluation runs: an agent or a team (its model is the default judge)."""

    id: str
    name: str
    model: ChatModel

    async def complete(self, request: RunRequest) -> dict[str, Any]: ...


def finished(output: dict[str, Any], *, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """``output`` of a completed run (or one ending in a status of ``also``); ``EvalFailed``,
    saying how it ended, otherwise (a model that failed is told, never judged as an answer)."""
    if output.get("status") != "COMPLETED" and output.get("status") not in also:
        raise EvalFailed(f"the evaluated run ended {output.get('status')}: {output.get('content')}")
    return output


def answer_of(output: dict[str, Any]) -> str:
    """The answer of a completed run, ``""`` when it gave none (as Agno takes it); ``EvalFailed``
    when the run did not complete."""
    content = finished(output).get("content")
    return content if isinstance(content, str) else ""
