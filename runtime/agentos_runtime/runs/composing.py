"""Teams and workflows from the config: each wired to its agents, member teams, model, tools, database
and knowledge base.

Built after the agents (``runs.building``): a team's members are built agents or teams (a
member team is built before the teams that contain it); a workflow's steps become plans naming
the built agent or team that runs each. Problems are reported with their field paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentos_runtime.config.components import LeafStep, TeamConfig, WorkflowStep
from agentos_runtime.config.document import RuntimeConfig
from agentos_runtime.config.problems import ConfigError, Path, Problem
from agentos_runtime.knowledge.ports import KnowledgeSearch
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.building import default_db_id, knowledge_of
from agentos_runtime.runs.loop import Agent
from agentos_runtime.runs.nesting import Executor
from agentos_runtime.runs.registry import RunRegistry
from agentos_runtime.runs.team_prompt import DELEGATE_TO_MEMBER, DELEGATE_TO_MEMBERS
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflow_steps import ConditionPlan, LeafPlan, ParallelPlan, StepPlan
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.ports import Database, MemoryStore
from agentos_runtime.tools.resolving import resolve_tools
from agentos_runtime.tools.toolsets import ToolSet

if TYPE_CHECKING:
    from agentos_runtime.tools.mcp.hub import McpHub


class _TeamBuilder:
    def __init__(
        self,
        config: RuntimeConfig,
        *,
        agents: Mapping[str, Agent],
        models: Mapping[str, ChatModel],
        databases: Mapping[str, Database],
        registry: RunRegistry,
        mcp: McpHub | None,
        knowledge: Mapping[str, KnowledgeSearch] | None,
    ) -> None:
        self.agents, self.models, self.databases, self.registry = agents, models, databases, registry
        self.mcp, self.knowledge = mcp, knowledge
        self.specs = {team.id: (index, team) for index, team in enumerate(config.teams)}
        self.fallback_db = default_db_id(config, databases)
        self.first_model = config.models[0].id if config.models else None
        self.built: dict[str, Team] = {}
        self.building: set[str] = set()
        self.problems: list[Problem] = []

    def build(self, team_id: str) -> Team | None:
        """The team ``team_id`` (its member teams first); ``None`` when a problem was found."""
        if team_id in self.built:
            return self.built[team_id]
        index, spec = self.specs[team_id]
        at: Path = ("teams", index)
        if team_id in self.building:
            self.problems.append(Problem((*at, "members"), f"team '{team_id}' contains itself through its members"))
            return None
        self.building.add(team_id)
        members = [self._member(member_id, (*at, "members", j)) for j, member_id in enumerate(spec.members)]
        self.building.discard(team_id)
        model, (opened, database) = self._model(spec, at), self._database(spec, at)
        tools = self._tools(spec, at)
        base, knowledge_problems = knowledge_of(spec, tools, self.knowledge, at) if tools is not None else (None, [])
        self.problems.extend(knowledge_problems)
        if model is None or not opened or tools is None or knowledge_problems or None in members:
            return None
        team = Team(
            spec,
            model=model,
            members=[member for member in members if member is not None],
            tools=tools,
            sessions=database.sessions if database is not None else None,
            memories=self._memories(spec, database),
            registry=self.registry,
            db_id=spec.db or self.fallback_db,
            knowledge=base,
        )
        self.built[team_id] = team
        return team

    def _member(self, member_id: str, at: Path) -> Executor | None:
        if member_id in self.agents:
            return self.agents[member_id]
        if member_id in self.specs:
            return self.build(member_id)
        self.problems.append(Problem(at, f"member '{member_id}' was not built: no such agent or team"))
        return None

    def _tools(self, spec: TeamConfig, at: Path) -> ToolSet | None:
        """The leader's own tools; ``None`` when a problem was found."""
        try:
            tools = resolve_tools(spec.tools, spec.tool_config, path=at, mcp=self.mcp)
        except ConfigError as error:
            self.problems.extend(error.problems)
            return None
        reserved = [name for name in (DELEGATE_TO_MEMBER, DELEGATE_TO_MEMBERS) if name in {t.name for t in tools.tools}]
        for name in reserved:
            self.problems.append(
                Problem((*at, "tools"), f"a tool named '{name}' would hide delegation: rename it (tool_name_prefix)")
            )
        return None if reserved else tools

    def _model(self, spec: TeamConfig, at: Path) -> ChatModel | None:
        model_id = spec.model or self.first_model
        model = self.models.get(model_id) if model_id is not None else None
        if model is None:
            self.problems.append(Problem((*at, "model"), f"no model '{model_id}' was built for this team"))
        return model

    def _memories(self, spec: TeamConfig, database: Database | None) -> MemoryStore | None:
        """The team's memory store: ``memory_db``'s when it names an open database, else ``db``'s."""
        memory_db = self.databases.get(spec.memory_db) if spec.memory_db is not None else database
        return memory_db.memories if memory_db is not None else None

    def _database(self, spec: TeamConfig, at: Path) -> tuple[bool, Database | None]:
        """Whether the team's database is usable, and the database (``None`` when it has none)."""
        db_id = spec.db or self.fallback_db
        if db_id is None:
            return True, None
        database = self.databases.get(db_id)
        if database is None:
            self.problems.append(Problem((*at, "db"), f"database '{db_id}' is not open"))
            return False, None
        return True, database


def build_teams(
    config: RuntimeConfig,
    *,
    agents: Mapping[str, Agent],
    models: Mapping[str, ChatModel],
    databases: Mapping[str, Database],
    registry: RunRegistry,
    mcp: McpHub | None = None,
    knowledge: Mapping[str, KnowledgeSearch] | None = None,
) -> dict[str, Team]:
    """Every declared team by id; raises ``ConfigError`` (with field paths) for a member, model,
    database or knowledge base that was not built, or the leader's tools (``mcp``: the connected
    MCP servers; ``knowledge``: the opened knowledge bases, ``None`` when not opened)."""
    builder = _TeamBuilder(
        config, agents=agents, models=models, databases=databases, registry=registry, mcp=mcp, knowledge=knowledge
    )
    for team in config.teams:
        builder.build(team.id)
    if builder.problems:
        raise ConfigError(sorted(set(builder.problems)))
    return {team.id: builder.built[team.id] for team in config.teams}


def _leaf(
    step: LeafStep, at: Path, agents: Mapping[str, Agent], teams: Mapping[str, Team], problems: list[Problem]
) -> LeafPlan | None:
    if step.agent is not None:
        agent = agents.get(step.agent)
        if agent is not None:
            return LeafPlan(step.name, agent, "agent")
        problems.append(Problem((*at, "agent"), f"agent '{step.agent}' was not built"))
        return None
    team = teams.get(step.team or "")
    if team is not None:
        return LeafPlan(step.name, team, "team")
    problems.append(Problem((*at, "team"), f"team '{step.team}' was not built"))
    return None


def plan_step(
    step: WorkflowStep, at: Path, agents: Mapping[str, Agent], teams: Mapping[str, Team], problems: list[Problem]
) -> StepPlan | None:
    """The plan of one workflow step; ``None`` (and a problem) when an agent or team is missing."""
    if step.agent is not None or step.team is not None:
        return _leaf(LeafStep(name=step.name, agent=step.agent, team=step.team), at, agents, teams, problems)

    def leaves(kind: str, items: list[LeafStep] | None) -> list[LeafPlan | None]:
        return [_leaf(item, (*at, kind, i), agents, teams, problems) for i, item in enumerate(items or [])]

    if step.parallel is not None:
        parallel = leaves("parallel", step.parallel)
        return None if None in parallel else ParallelPlan(step.name, [p for p in parallel if p is not None])
    assert step.condition is not None
    then, otherwise = leaves("steps", step.steps), leaves("else_steps", step.else_steps)
    if None in then or None in otherwise:
        return None
    return ConditionPlan(
        step.name, step.condition, [p for p in then if p is not None], [p for p in otherwise if p is not None]
    )


def build_workflows(
    config: RuntimeConfig,
    *,
    agents: Mapping[str, Agent],
    teams: Mapping[str, Team],
    databases: Mapping[str, Database],
    registry: RunRegistry,
) -> dict[str, Workflow]:
    """Every declared workflow by id; raises ``ConfigError`` for a step whose agent or team, or a
    database, was not built."""
    problems: list[Problem] = []
    workflows: dict[str, Workflow] = {}
    fallback_db = default_db_id(config, databases)
    for index, spec in enumerate(config.workflows):
        at: Path = ("workflows", index)
        plans = [plan_step(step, (*at, "steps", j), agents, teams, problems) for j, step in enumerate(spec.steps)]
        db_id = spec.db or fallback_db
        database = databases.get(db_id) if db_id is not None else None
        if db_id is not None and database is None:
            problems.append(Problem((*at, "db"), f"database '{db_id}' is not open"))
            continue
        if None in plans:
            continue
        workflows[spec.id] = Workflow(
            spec,
            steps=[plan for plan in plans if plan is not None],
            sessions=database.sessions if database is not None else None,
            registry=registry,
            db_id=db_id,
        )
    if problems:
        raise ConfigError(problems)
    return workflows
