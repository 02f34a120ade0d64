"""The three kinds of run the lifecycle drives, built the same way for the lifecycle tests.

Each kind runs one scripted model whose text is the run's answer: an agent answers itself, a
team's leader answers without delegating, a workflow's only step is an agent. ``answer_of``
finds, in the stored run, the run that holds that answer (the workflow's step run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agentos_runtime.config import AgentConfig, TeamConfig, WorkflowConfig
from agentos_runtime.runs import Agent, RunEvent, RunRegistry, RunRequest
from agentos_runtime.runs.teams import Team
from agentos_runtime.runs.workflow_steps import LeafPlan
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.ports import JSON

from tests.runtime.engine.fakes import FakeChatModel

# Seconds a test waits for a run to wind down before failing (instead of hanging).
DEADLINE = 5.0


class Runnable(Protocol):
    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]: ...

    async def complete(self, request: RunRequest) -> JSON: ...


def _agent(model: FakeChatModel, sessions: Any, registry: RunRegistry) -> Runnable:
    return Agent(AgentConfig(id="a", name="A"), model=model, sessions=sessions, registry=registry)


def _team(model: FakeChatModel, sessions: Any, registry: RunRegistry, **config: Any) -> Runnable:
    member = Agent(AgentConfig(id="m", name="M"), model=FakeChatModel(), registry=registry)
    return Team(
        TeamConfig(id="t", name="T", members=["m"], **config),
        model=model,
        members=[member],
        sessions=sessions,
        registry=registry,
    )


def _workflow(model: FakeChatModel, sessions: Any, registry: RunRegistry) -> Runnable:
    step = Agent(AgentConfig(id="a", name="A"), model=model, registry=registry)
    config = WorkflowConfig.model_validate({"id": "w", "name": "W", "steps": [{"name": "answer", "agent": "a"}]})
    return Workflow(config, steps=[LeafPlan("answer", step, "agent")], sessions=sessions, registry=registry)


def _itself(stored: JSON) -> JSON:
    return stored


def _step_run(stored: JSON) -> JSON:
    runs: Sequence[JSON] = stored.get("step_executor_runs") or []
    assert runs, "the workflow run holds no step run"
    return runs[-1]


@dataclass(frozen=True)
class Kind:
    name: str
    completed: str
    error: str
    cancelled: str
    build: Callable[[FakeChatModel, Any, RunRegistry], Runnable]
    answer_of: Callable[[JSON], JSON]

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.completed, self.error, self.cancelled})

    def __str__(self) -> str:
        return self.name


AGENT = Kind("agent", "RunCompleted", "RunError", "RunCancelled", _agent, _itself)
TEAM = Kind("team", "TeamRunCompleted", "TeamRunError", "TeamRunCancelled", _team, _itself)
WORKFLOW = Kind("workflow", "WorkflowCompleted", "WorkflowError", "WorkflowCancelled", _workflow, _step_run)
KINDS = (AGENT, TEAM, WORKFLOW)


def team_with(model: FakeChatModel, sessions: Any, registry: RunRegistry, **config: Any) -> Runnable:
    """A team ``t`` with one member, its leader on ``model`` and ``config`` on top."""
    return _team(model, sessions, registry, **config)


class Consumer:
    """Reads a run's stream, and lets a test wait until the answer started streaming."""

    def __init__(self, runnable: Runnable) -> None:
        self.runnable = runnable
        self.events: list[RunEvent] = []
        self.streaming = asyncio.Event()

    async def consume(self, request: RunRequest) -> list[RunEvent]:
        async for event in self.runnable.run(request):
            self.events.append(event)
            if event.event in ("RunContent", "TeamRunContent"):
                self.streaming.set()
        return self.events

    async def wait_until_streaming(self) -> None:
        await asyncio.wait_for(self.streaming.wait(), DEADLINE)


def names(events: Sequence[RunEvent]) -> list[str]:
    return [event.event for event in events]


def assert_ends_once(events: Sequence[RunEvent], kind: Kind, last: str) -> JSON:
    """The stream's last event is ``last`` and it is the only terminal event; its fields."""
    seen = names(events)
    assert seen and seen[-1] == last, f"the {kind} run ended with {seen[-1:]}, not {last}: {seen}"
    assert [name for name in seen if name in kind.terminal] == [last], f"more than one ending: {seen}"
    return events[-1].to_dict()
