"""The bodies of the ``/eval-runs`` routes: Agno's ``EvalRunInput`` and ``EvalSchema`` views."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agentos_runtime.api.timestamps import iso_utc
from agentos_runtime.evals.specs import DEFAULT_THRESHOLD, EvalSpec, EvalType, ScoringStrategy
from agentos_runtime.storable import MAX_IDS_PER_REQUEST
from agentos_runtime.storage.ports import EvalRow

JSON = dict[str, Any]
EVAL_TYPES: tuple[EvalType, ...] = ("accuracy", "agent_as_judge", "performance", "reliability")
EVAL_NAME_MAX_LENGTH = 255
"""An eval run's name, given when it is created or renamed."""
MAX_EXPECTED_TOOL_CALLS = 1000
"""Tools a reliability eval names (each one's outcome is listed in the stored result)."""


class EvalRunInput(BaseModel):
    """``POST /eval-runs``: what to evaluate and how (Agno's fields; unknown ones are ignored)."""

    agent_id: str | None = Field(default=None, description="Agent to evaluate.")
    team_id: str | None = Field(default=None, description="Team to evaluate.")
    model_id: str | None = Field(default=None, description="A declared model to run the agent with instead of its own.")
    model_provider: str | None = Field(default=None, description="Provider of that model (informative).")
    eval_type: EvalType = Field(description="accuracy, agent_as_judge, performance or reliability.")
    input: str = Field(min_length=1, description="What the agent or team is asked.")
    expected_output: str | None = Field(default=None, description="The correct answer (accuracy).")
    additional_guidelines: str | None = Field(default=None, description="More guidance for the judge (accuracy).")
    additional_context: str | None = Field(default=None, description="More context for the judge (accuracy).")
    num_iterations: int = Field(default=1, ge=1, le=100, description="Runs evaluated (measured for performance).")
    warmup_runs: int = Field(default=0, ge=0, le=10, description="Unmeasured runs first (performance).")
    threshold: int | None = Field(
        default=DEFAULT_THRESHOLD, ge=1, le=10, description="Score the answer passes at (null: 7)."
    )
    name: str | None = Field(default=None, max_length=EVAL_NAME_MAX_LENGTH, description="Name of the eval run.")
    criteria: str | None = Field(default=None, description="What the judge holds the answer to (agent_as_judge).")
    scoring_strategy: ScoringStrategy | None = Field(
        default="binary", description="numeric (a score from 1 to 10, passing at threshold) or binary (null: binary)."
    )
    expected_tool_calls: list[str] | None = Field(
        default=None, max_length=MAX_EXPECTED_TOOL_CALLS, description="Tools the run must call (reliability)."
    )
    allow_additional_tool_calls: bool = Field(default=False, description="Other tool calls do not fail the eval.")
    expected_tool_call_arguments: dict[str, dict[str, Any] | list[dict[str, Any]]] | None = Field(
        default=None,
        max_length=MAX_EXPECTED_TOOL_CALLS,
        description="Per tool, the arguments one of its calls must have (a list: each matched by a call).",
    )

    def spec(self) -> EvalSpec:
        return EvalSpec(
            eval_type=self.eval_type,
            input=self.input,
            expected_output=self.expected_output,
            additional_guidelines=self.additional_guidelines,
            additional_context=self.additional_context,
            num_iterations=self.num_iterations,
            warmup_runs=self.warmup_runs,
            threshold=DEFAULT_THRESHOLD if self.threshold is None else self.threshold,
            name=self.name,
            criteria=self.criteria,
            scoring_strategy=self.scoring_strategy or "binary",
            expected_tool_calls=None if self.expected_tool_calls is None else tuple(self.expected_tool_calls),
            allow_additional_tool_calls=self.allow_additional_tool_calls,
            expected_tool_call_arguments=self.expected_tool_call_arguments,
        )


class UpdateEvalRunRequest(BaseModel):
    name: str = Field(min_length=1, max_length=EVAL_NAME_MAX_LENGTH, description="New name of the eval run.")


class DeleteEvalRunsRequest(BaseModel):
    eval_run_ids: list[str] = Field(
        min_length=1, max_length=MAX_IDS_PER_REQUEST, description="Ids of the eval runs to delete (at most 1000)."
    )


def eval_view(row: EvalRow) -> JSON:
    """One ``EvalSchema``."""
    return {
        "id": row.run_id,
        "agent_id": row.agent_id,
        "model_id": row.model_id,
        "model_provider": row.model_provider,
        "team_id": row.team_id,
        "workflow_id": row.workflow_id,
        "name": row.name,
        "evaluated_component_name": row.evaluated_component_name,
        "user_id": row.user_id,
        "eval_type": row.eval_type,
        "eval_data": row.eval_data,
        "eval_input": row.eval_input,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


def parse_eval_types(given: str | None) -> list[str] | None:
    """``accuracy,performance`` as a list, ``None`` for no filter (nothing given); ``ValueError``
    naming an unknown type, an empty item among them (``,``, ``accuracy,``) too: it names no
    type, and listing every eval run for it would answer what was not asked."""
    if not given:
        return None
    types = [item.strip() for item in given.split(",")]
    unknown = [item for item in types if item not in EVAL_TYPES]
    if unknown:
        raise ValueError(f"Invalid eval_type {unknown[0]!r}. Valid types: {', '.join(EVAL_TYPES)}")
    return types
