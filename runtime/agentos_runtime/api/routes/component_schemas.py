"""Team and workflow views: Agno's ``TeamSummaryResponse``/``TeamResponse`` and
``WorkflowSummaryResponse``/``WorkflowResponse``, built from the config.

A team shows its leader's delegation tool (``delegate_task_to_member``, or
``delegate_task_to_members`` in broadcast mode), its sessions, memory and system-message
settings where they differ from Agno's defaults, like an agent shows its own; its members are
shown in full.
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.api.context import RuntimeContext
from agentos_runtime.api.routes.agent_schemas import (
    agent_detail,
    knowledge_detail,
    knowledge_tools,
    memory_view,
    model_detail,
    model_summary,
    sessions_view,
    system_message_view,
)
from agentos_runtime.config import LeafStep, TeamConfig, WorkflowConfig, WorkflowStep
from agentos_runtime.runs.team_prompt import delegate_to_member_schema, delegate_to_members_schema

JSON = dict[str, Any]


def team_summary(team: TeamConfig, context: RuntimeContext) -> JSON:
    model = context.models.get(team.model or next(iter(context.models), ""))
    view: JSON = {
        "id": team.id,
        "name": team.name or team.id,
        "description": team.description,
        "db_id": team.db or context.default_db_id,
        "mode": team.mode,
        "model": model_summary(model) if model is not None else None,
        "metadata": team.metadata,
        "sandboxed": False,
    }
    return {k: v for k, v in view.items() if v is not None}


def workflow_summary(workflow: WorkflowConfig, context: RuntimeContext) -> JSON:
    view: JSON = {
        "id": workflow.id,
        "name": workflow.name or workflow.id,
        "description": workflow.description,
        "db_id": workflow.db or context.default_db_id,
        "is_factory": False,
        "is_component": False,
        "sandboxed": False,
    }
    return {k: v for k, v in view.items() if v is not None}


def team_detail(team: TeamConfig, context: RuntimeContext) -> JSON:
    """``TeamResponse``: the summary, the leader's settings and each member in full."""
    members: list[JSON] = []
    for member_id in team.members:
        agent = context.agents.get(member_id)
        if agent is not None:
            members.append(
                agent_detail(agent, context.databases[agent.db_id or context.default_db_id], context.knowledge)
            )
            continue
        member_team = next((t for t in context.config.teams if t.id == member_id), None)
        if member_team is not None:
            members.append(team_detail(member_team, context))
    summary = team_summary(team, context)
    model = context.models.get(team.model or next(iter(context.models), ""))
    delegate = delegate_to_members_schema() if team.mode == "broadcast" else delegate_to_member_schema()
    database = context.databases.get(team.db or context.default_db_id)
    view: JSON = {
        **summary,
        "model": model_detail(model) if model is not None else None,
        "tools": {"tools": [dict(delegate["function"]), *knowledge_tools(team, context.knowledge)]},
        "knowledge": knowledge_detail(team, context.knowledge),
        "sessions": sessions_view(team, database),
        "memory": memory_view(team, database),
        "system_message": system_message_view(team, team=True),
        "members": members,
        "streaming": {"stream_member_events": True} if team.stream_member_events else None,
        "is_factory": False,
        "is_component": False,
    }
    return {k: v for k, v in view.items() if v is not None}


def workflow_detail(workflow: WorkflowConfig, context: RuntimeContext) -> JSON:
    """``WorkflowResponse``: the summary and its steps."""
    return {**workflow_summary(workflow, context), "steps": [_step_view(step) for step in workflow.steps]}


def _step_view(step: WorkflowStep | LeafStep) -> JSON:
    if step.agent is not None:
        return {"name": step.name, "type": "Step", "agent": step.agent}
    if step.team is not None:
        return {"name": step.name, "type": "Step", "team": step.team}
    assert isinstance(step, WorkflowStep)
    if step.parallel is not None:
        return {"name": step.name, "type": "Parallel", "steps": [_step_view(s) for s in step.parallel]}
    return {
        "name": step.name,
        "type": "Condition",
        "steps": [_step_view(s) for s in step.steps or []],
        "else_steps": [_step_view(s) for s in step.else_steps or []],
    }
