"""Declarative agents, teams and workflows: what Agno otherwise needs Python code for."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from agentos_runtime import patterns
from agentos_runtime.config.base import ID_MAX_LENGTH, ID_PATTERN, Schema

TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class ComponentFields(Schema):
    """Fields every agent and team has."""

    id: str = Field(
        pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="Unique id, used in API paths (`/agents/{id}`)."
    )
    name: str | None = Field(default=None, description="Display name; defaults to `id`.")
    description: str | None = Field(default=None, description="What it is for; shown in the UI.")
    model: str | None = Field(
        default=None,
        description="Id of a model in `models`; defaults to the first model declared.",
    )
    instructions: list[str] | None = Field(
        default=None, description="Instructions added to the system message, one per line."
    )
    system_message: str | None = Field(
        default=None, description="A complete system message; replaces the one built from `instructions`."
    )
    db: str | None = Field(
        default=None,
        description="Id of the database storing its sessions; defaults to the runtime's default database.",
    )
    memory_db: str | None = Field(
        default=None, description="Id of the database storing user memories; defaults to `db`."
    )
    markdown: bool = Field(default=False, description="Ask the model to format answers as Markdown.")
    add_datetime_to_context: bool = Field(
        default=False,
        description="Tell the model the current date and time, in `timezone_identifier` (Agno's `The current time is ...` line).",
    )
    timezone_identifier: str | None = Field(
        default=None,
        description="IANA time zone (e.g. `Europe/Paris`) of the time `add_datetime_to_context` tells, written with its UTC offset; without it, the runtime's local time without offset, as Agno writes it.",
    )
    datetime_format: str | None = Field(
        default=None,
        max_length=200,
        description="strftime format of the time `add_datetime_to_context` tells (e.g. `%A %d %B %Y, %H:%M`), as Agno's `datetime_format`; without it, Python's default form.",
    )
    add_name_to_context: bool = Field(
        default=False, description="With `name`: tell the model its name (Agno's `Your name is: ...` line)."
    )
    expected_output: str | None = Field(
        default=None,
        description="What the answer should look like, added to the system message in Agno's `<expected_output>` block; not with `system_message`.",
    )
    additional_context: str | None = Field(
        default=None,
        description="Text appended to the system message as Agno appends it (a team's in an `<additional_context>` block); not with `system_message`.",
    )
    add_history_to_context: bool = Field(default=False, description="Send earlier runs of the session to the model.")
    num_history_runs: int = Field(
        default=3, ge=1, le=100, description="How many earlier runs to send when history is on."
    )
    session_state: dict[str, Any] | None = Field(
        default=None, description="Initial session state, merged with what the session stored."
    )
    add_session_state_to_context: bool = Field(
        default=False,
        description="Add the run's session state to the system message (Agno's `<session_state>` block); not with `system_message`.",
    )
    enable_user_memories: bool = Field(
        default=False, description="Extract durable facts about the user after each run."
    )
    enable_agentic_memory: bool = Field(
        default=False, description="Give the model a tool to update the user's memories."
    )
    add_memories_to_context: bool | None = Field(
        default=None, description="Send the user's memories to the model; defaults to on when memories are enabled."
    )
    knowledge: str | None = Field(
        default=None, description="Id of a knowledge base in `knowledge_bases` the model may search."
    )
    search_knowledge: bool = Field(
        default=True,
        description="With `knowledge`: give the model Agno's `search_knowledge_base` tool to search it when it needs to.",
    )
    add_knowledge_to_context: bool = Field(
        default=False,
        description="With `knowledge`: search it with the user's message before the model answers and add the best chunks to the message.",
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form metadata shown by the API.")
    tools: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Tool names the model may call (a team's leader, beside delegating to its members): built-ins (`current_time`, `calculator`, `http_get`), tools installed through the `agentos.tools` entry-point group, or `mcp:<server id>` for the tools of a declared MCP server. In an AgentOSConfig, any other name is taken for an entry point only when `image` names the runtime image that installs it; without `image` the runtime image holds the built-ins only and the operator refuses it, as the runtime would at its start.",
    )
    tool_config: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="Settings per tool name, as the runtime reads them: tool names and setting names in snake_case, in an AgentOSConfig too (where a camelCase setting the runtime defines, such as `allowedHosts`, is refused naming its snake_case spelling; an entry point's settings are passed as written), e.g. `http_get: {allowed_hosts: [api.example.com]}` or `mcp:github: {include_tools: [search_issues]}`. A tool with `requires_confirmation: true` (for `mcp:<id>`, `true` or a list of the server's tool names) is called only once a person confirms the call: the run pauses (`RunPaused`; `TeamRunPaused` for a team's leader or member, a broadcast team's members and a nested team's included; `WorkflowPaused` for a workflow step's agent or team) and goes on through `POST /agents|teams|workflows/{id}/runs/{run_id}/continue`; a step inside a workflow's parallel group answers the call unmade.",
    )

    @field_validator("datetime_format")
    @classmethod
    def _usable_format(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                datetime.now().strftime(text)
            except ValueError as error:
                raise ValueError(f"not a strftime format: {error}: use directives such as %Y-%m-%d %H:%M") from None
        return text

    @field_validator("timezone_identifier")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{name}': use an IANA name such as Europe/Paris") from None
        return name


class AgentConfig(ComponentFields):
    """A declarative agent: a model, instructions, tools and storage."""

    role: str | None = Field(default=None, description="The agent's role when it is a team member.")
    tool_call_limit: int | None = Field(
        default=None, ge=1, le=100, description="Most tool calls the model may make in one run (100 when unset)."
    )


class TeamConfig(ComponentFields):
    """A team of agents (or teams) led by a model."""

    mode: Literal["coordinate", "route", "broadcast"] = Field(
        default="coordinate",
        description="`coordinate`: the leader delegates and synthesises; `route`: the leader picks one member whose answer is returned; `broadcast`: every member answers, the leader synthesises.",
    )
    members: list[str] = Field(min_length=1, max_length=32, description="Ids of member agents or teams.")
    stream_member_events: bool = Field(
        default=True,
        description="Include the members' own events in a streamed team run (as Agno's default); `false` streams "
        "only the team's events and runs members without streaming their model.",
    )


class StepCondition(Schema):
    """A test on the previous step's output."""

    contains: str | None = Field(default=None, description="True when the output contains this text.")
    not_contains: str | None = Field(default=None, description="True when the output does not contain this text.")
    matches: str | None = Field(
        default=None,
        description="True when this regular expression (RE2 syntax: no backreferences or lookaround) matches the output.",
    )

    @field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            patterns.compiled(pattern)  # PatternError, a ValueError, says why not
        return pattern

    @model_validator(mode="after")
    def _one_test(self) -> StepCondition:
        given = [n for n in ("contains", "not_contains", "matches") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of contains, not_contains, matches")
        return self


class LeafStep(Schema):
    """A step run by one agent or team."""

    name: str = Field(min_length=1, description="Step name, shown in workflow events.")
    agent: str | None = Field(default=None, description="Id of the agent running the step.")
    team: str | None = Field(default=None, description="Id of the team running the step.")

    @model_validator(mode="after")
    def _one_executor(self) -> LeafStep:
        if (self.agent is None) == (self.team is None):
            raise ValueError("set exactly one of agent, team")
        return self


class WorkflowStep(Schema):
    """A workflow step: an agent, a team, a parallel group, or steps guarded by a condition."""

    name: str = Field(min_length=1, description="Step name, shown in workflow events.")
    agent: str | None = Field(default=None, description="Id of the agent running the step.")
    team: str | None = Field(default=None, description="Id of the team running the step.")
    parallel: list[LeafStep] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Steps run at the same time on the same input; their outputs are joined.",
    )
    condition: StepCondition | None = Field(
        default=None, description="Run `steps` when this holds for the previous output, else `else_steps`."
    )
    steps: list[LeafStep] | None = Field(
        default=None, max_length=16, description="Steps run in order when `condition` holds."
    )
    else_steps: list[LeafStep] | None = Field(
        default=None, max_length=16, description="Steps run in order when `condition` does not hold."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> WorkflowStep:
        kinds = [k for k in ("agent", "team", "parallel", "condition") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("set exactly one of agent, team, parallel, condition")
        if (self.steps is not None or self.else_steps is not None) and self.condition is None:
            raise ValueError("steps and else_steps need a condition")
        if self.condition is not None and not self.steps:
            raise ValueError("a condition step needs steps")
        return self

    def leaves(self) -> list[LeafStep]:
        """Every agent or team step this step may run."""
        if self.agent is not None or self.team is not None:
            return [LeafStep(name=self.name, agent=self.agent, team=self.team)]
        return [*(self.parallel or []), *(self.steps or []), *(self.else_steps or [])]


class WorkflowConfig(Schema):
    """An ordered list of steps; each step's output is the next step's input."""

    id: str = Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="Unique id.")
    name: str | None = Field(default=None, description="Display name; defaults to `id`.")
    description: str | None = Field(default=None, description="What it is for; shown in the UI.")
    db: str | None = Field(default=None, description="Id of the database storing its sessions.")
    steps: list[WorkflowStep] = Field(min_length=1, max_length=32, description="Steps, in order.")
