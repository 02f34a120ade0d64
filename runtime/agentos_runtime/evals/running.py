"""Running one evaluation and storing it as an eval run, in Agno's ``agno_eval_runs`` shape."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Literal

from agentos_runtime.errors import BadRequest
from agentos_runtime.evals.accuracy import evaluate_accuracy
from agentos_runtime.evals.agent_as_judge import evaluate_agent_as_judge
from agentos_runtime.evals.performance import evaluate_performance
from agentos_runtime.evals.reliability import evaluate_reliability
from agentos_runtime.evals.specs import MAX_REPEATED_TEXT, EvalSpec, Evaluated
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.loop import Agent
from agentos_runtime.storage.ports import EvalRow

TargetKind = Literal["agent", "team"]


def check_spec(spec: EvalSpec) -> None:
    """Raise ``BadRequest`` for an evaluation that cannot run (before any model is called)."""
    if spec.eval_type == "accuracy" and not spec.expected_output:
        raise BadRequest("expected_output is required for accuracy evaluation")
    if spec.eval_type == "accuracy":
        repeated = spec.num_iterations * (len(spec.input) + len(spec.expected_output or ""))
        if repeated > MAX_REPEATED_TEXT:
            raise BadRequest(
                f"each iteration's result stores input and expected_output again: num_iterations times their "
                f"length is {repeated:,} characters, over {MAX_REPEATED_TEXT:,}; lower num_iterations or shorten them"
            )
    if spec.eval_type == "agent_as_judge" and not spec.criteria:
        raise BadRequest("criteria is required for agent-as-judge evaluation")
    if spec.eval_type == "reliability" and spec.expected_tool_calls is None:
        raise BadRequest("expected_tool_calls is required for reliability evaluations")


async def evaluate(
    spec: EvalSpec,
    *,
    target: Evaluated,
    kind: TargetKind,
    judge: ChatModel,
    user_id: str | None = None,
) -> EvalRow:
    """Run the evaluation of ``target``; returns the eval run to store (``EvalStore.create_eval``).

    Nothing of the eval is stored here, so stopping it midway (cancelling it) leaves no eval run;
    the runs of the target it made are stored as every run is. The target runs as ``user_id``
    (its memories, its sessions). ``judge`` scores accuracy answers and holds agent-as-judge
    answers to their criteria. Raises ``BadRequest`` (see ``check_spec``), ``EvalFailed``,
    ``ModelProviderError`` or ``Conflict`` (another performance eval runs).
    """
    check_spec(spec)
    run_id = str(uuid.uuid4())
    if spec.eval_type == "accuracy":
        data, asked = await evaluate_accuracy(spec, target, judge, run_id=run_id, user_id=user_id)
    elif spec.eval_type == "agent_as_judge":
        data, asked = await evaluate_agent_as_judge(spec, target, judge, run_id=run_id, user_id=user_id)
    elif spec.eval_type == "reliability":
        data, asked = await evaluate_reliability(spec, target, run_id=run_id, user_id=user_id)
    else:
        data, asked = await evaluate_performance(spec, target, user_id=user_id)
    return EvalRow(
        run_id=run_id,
        eval_type=spec.eval_type,
        eval_data=data,
        eval_input=asked,
        name=spec.name,
        agent_id=target.id if kind == "agent" else None,
        team_id=target.id if kind == "team" else None,
        model_id=target.model.model,
        model_provider=target.model.provider,
        evaluated_component_name=target.name,
        user_id=user_id,
    )


def eval_model(
    own: ChatModel, models: Mapping[str, ChatModel], model_id: str, model_provider: str | None = None
) -> ChatModel:
    """The model an eval runs its target on, given ``model_id``: the target's ``own`` when that
    names it (its declared id, or the model name it sends, ``model_provider`` its provider or
    none, as ``/agents`` and ``/config`` show them), else the declared model it names
    (``find_model``). A model name two declared models share is the target's own when it runs
    one of them, never the other's."""
    provider_matches = not model_provider or model_provider.casefold() == own.provider.casefold()
    if models.get(model_id) is own or (own.model == model_id and provider_matches):
        return own
    return find_model(models, model_id)


def find_model(models: Mapping[str, ChatModel], model_id: str) -> ChatModel:
    """A declared model by its id, else by the model name it sends; ``BadRequest`` when unknown."""
    found = models.get(model_id) or next((model for model in models.values() if model.model == model_id), None)
    if found is None:
        raise BadRequest(f"unknown model '{model_id}': declare it in models or fix the id")
    return found


def agent_with_model(agent: Agent, model: ChatModel) -> Agent:
    """``agent`` as it is, or a copy running on ``model`` (same tools, stores and registry)."""
    if model is agent.model:
        return agent
    return Agent(
        agent.config,
        model=model,
        tools=agent.tools,
        sessions=agent.sessions,
        memories=agent.memories,
        registry=agent.registry,
        db_id=agent.db_id,
        knowledge=agent.knowledge_base,
    )
