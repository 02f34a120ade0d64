"""An agent and its run: read the session, build the prompt, loop, persist once at the end.

``Agent.run(request)`` yields Agno's events (``RunStarted`` ... ``RunCompleted``), the body of a
streamed ``POST /agents/{id}/runs``; ``Agent.complete(request)`` drains the same loop (with a
non-streaming model request) into the ``RunOutput`` dict of ``stream=false``.

How a run opens, ends and is stored is ``runs.lifecycle``'s, shared with teams and workflows:
every run that starts is stored once, at its end: COMPLETED, ERROR (a ``ModelProviderError``
or any other exception: the last event is ``RunError``, the HTTP status stays 200) and
CANCELLED (``RunCancelled``; or a client that went away: saved by a detached task). A save
that fails ends the stream with a ``RunError`` saying so; ``complete`` raises
``StorageUnavailable`` (the API answers 503).

The agent's tools are a ``ToolSet``: an MCP server's part follows what the server lists. The
toolbox a run gets is taken when the run opens, rebuilt only when the tools changed since.

A run whose model calls a tool needing a confirmation ends ``PAUSED`` (``runs.pausing``) and is
stored with what it needs to go on; ``Agent.continue_run(paused)`` takes it up again: the
decided calls are made or answered, then the loop goes on, and the run is stored again under its
``run_id`` (COMPLETED, ERROR, CANCELLED, or PAUSED once more). A run of its own with a database
may pause, and so may a team's member when the team run may (the team run pauses with it and
takes it up when it goes on), and so may a workflow step's agent; a step inside a workflow's
parallel group and an agent without a database answer such a call unmade.

User memories (``enable_user_memories``, ``enable_agentic_memory``, ``add_memories_to_context``)
are ``runs.memory``'s: it adds to the system message and tools when the run opens, and is told
of each completed run once it is saved. A knowledge base (``knowledge``) is ``runs.knowledge``'s:
the ``search_knowledge_base`` tool, and references added to the user's message.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from agentos_runtime.config.components import AgentConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.knowledge.ports import KnowledgeSearch
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.events import EventFactory, RunEvent
from agentos_runtime.runs.knowledge import run_knowledge_for
from agentos_runtime.runs.lifecycle import (
    Ending,
    Outcome,
    answer_ending,
    answer_unsaved,
)
from agentos_runtime.runs.memory.hooks import user_memory_for
from agentos_runtime.runs.messages import HISTORY_SKIP_STATUSES, chat_messages, history_messages
from agentos_runtime.runs.opening import (
    first_messages,
    history_runs,
    run_metadata,
    run_placeholders,
    with_context_blocks,
)
from agentos_runtime.runs.pausing import PausedRun
from agentos_runtime.runs.prompt import build_system_message, resolve_placeholders
from agentos_runtime.runs.record import RunRecord
from agentos_runtime.runs.registry import RunHandle, RunRegistry
from agentos_runtime.runs.requests import RunRequest
from agentos_runtime.runs.runner import Runner
from agentos_runtime.runs.sessions import (
    check_session_component,
    merge_session_state,
    new_session_row,
    stored_session_state,
)
from agentos_runtime.runs.toolbox import TakenTools, agent_toolbox
from agentos_runtime.runs.turns import RunContext, Toolbox, resolve_held, run_turns
from agentos_runtime.storage.ports import MemoryStore, RecentRuns, SessionRow, SessionStore
from agentos_runtime.tools.clock import utc_now
from agentos_runtime.tools.tool import Tool
from agentos_runtime.tools.toolsets import ToolSet

JSON = dict[str, Any]


@dataclass(kw_only=True)
class _AgentRun(RunContext):
    """One agent run as the lifecycle drives it (``runs.lifecycle``)."""

    expected: ClassVar[tuple[type[Exception], ...]] = (ModelProviderError,)
    agent: Agent
    request: RunRequest
    toolbox: Toolbox

    @property
    def label(self) -> str:
        return f"agent {self.agent.id}"

    async def open(self) -> SessionRow:
        """Read the session (only the runs history replays), merge the state, build the first messages."""
        agent, request, record = self.agent, self.request, self.record
        replayed = history_runs(request, agent.config)
        row = None
        if agent.sessions is not None:
            # Only the runs history replays are read: a session's cost does not grow with it.
            window = RecentRuns(limit=replayed, skip_statuses=HISTORY_SKIP_STATUSES)
            row = await agent.sessions.get_session(request.session_id, user_id=request.user_id, recent_runs=window)
            check_session_component(row, kind="agent", component_id=agent.id)
        record.session_state = merge_session_state(
            agent.config.session_state, stored_session_state(row), request.session_state
        )
        new_row = new_session_row(
            session_id=request.session_id,
            agent_id=agent.id,
            agent_name=agent.name,
            user_id=request.user_id,
            model=agent.model,
            session_state=record.session_state,
            metadata=agent.config.metadata,
            created_at=record.created_at,
        )
        values = run_placeholders(request, session_state=record.session_state, metadata=record.metadata)
        # As Agno: the part built from the config is resolved, not what memories or knowledge add.
        system = build_system_message(agent.config, now=agent.clock(), values=values)
        if agent.memory is not None:
            prepared = await agent.memory.prepare(request.user_id)
            system, self.toolbox = prepared.system_message(system), prepared.toolbox(self.toolbox)
        message = resolve_placeholders(request.message, values)
        if agent.knowledge is not None:
            system = agent.knowledge.system_message(system)
            filters = request.knowledge_filters
            user_id = request.user_id
            self.toolbox = agent.knowledge.toolbox(self.toolbox, record.references, filters=filters, user_id=user_id)
            message = await agent.knowledge.user_message(
                request.message, record.references, label=self.label, shown=message, filters=filters, user_id=user_id
            )
        system, message = with_context_blocks(
            system, message, request, agent.config, session_state=record.session_state
        )
        history = history_messages(row.runs or [], num_runs=replayed) if replayed and row is not None else ()
        self.chat = first_messages(record, system, history, message)
        return new_row

    def started(self) -> RunEvent:
        return self.events.run_started()

    def body(self) -> AsyncGenerator[RunEvent, None]:
        return run_turns(self, self.agent.model, self.toolbox)

    def end(self, outcome: Outcome) -> Ending:
        return answer_ending(self, self.events, outcome)

    def unsaved(self, detail: str, *, error_type: str, error_id: str | None) -> RunEvent:
        return answer_unsaved(self, self.events, detail, error_type=error_type, error_id=error_id)

    def saved(self, outcome: Outcome) -> None:
        if outcome.status == "COMPLETED" and self.agent.memory is not None:
            self.agent.memory.remember(self.record)


@dataclass(kw_only=True)
class _ContinuedRun(_AgentRun):
    """A paused run going on: the decided calls, then the loop, from the messages it was stored with."""

    paused: PausedRun

    async def open(self) -> SessionRow:
        """Take up the run as it was read: whether it still waits is decided as it is stored
        ``RUNNING`` (``Lifecycle.takes_up``), so the session is not read again here."""
        agent, paused, record = self.agent, self.paused, self.record
        record.session_state = paused.session_state
        if agent.memory is not None:
            self.toolbox = (await agent.memory.prepare(paused.user_id)).toolbox(self.toolbox)
        if agent.knowledge is not None:
            filters = self.request.knowledge_filters
            self.toolbox = agent.knowledge.toolbox(
                self.toolbox, record.references, filters=filters, user_id=paused.user_id
            )
        self.chat = chat_messages(record.messages)
        self.calls = len(record.tools)
        return new_session_row(
            session_id=paused.session_id,
            agent_id=agent.id,
            agent_name=agent.name,
            user_id=paused.user_id,
            model=agent.model,
            session_state=record.session_state or {},
            metadata=agent.config.metadata,
            created_at=record.created_at,
        )

    def started(self) -> RunEvent:
        return self.events.run_continued()

    async def body(self) -> AsyncGenerator[RunEvent, None]:
        async with aclosing(resolve_held(self, self.paused.decisions, self.toolbox.tools)) as decided:
            async for event in decided:
                yield event
        async with aclosing(run_turns(self, self.agent.model, self.toolbox)) as turns:
            async for event in turns:
                yield event


class Agent(Runner[RunRecord]):
    """A declared agent, ready to run: its config, model, tools and session store.

    ``run`` yields the run's events, ending with ``RunCompleted``, ``RunError`` or
    ``RunCancelled``; ``complete`` returns the ``RunOutput`` dict (``status`` ERROR on a model
    failure).
    """

    kind = "agent"

    def __init__(
        self,
        config: AgentConfig,
        *,
        model: ChatModel,
        tools: Sequence[Tool] | ToolSet = (),
        sessions: SessionStore | None = None,
        memories: MemoryStore | None = None,
        registry: RunRegistry | None = None,
        db_id: str | None = None,
        knowledge: KnowledgeSearch | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``sessions=None`` runs without history or persistence (nothing is stored). A
        ``ToolSet`` is shared (a copy of the agent sees the same tools change). ``knowledge``
        is the base the config's ``knowledge`` names (``None``: the agent runs without one)."""
        self.config = config
        self.id = config.id
        self.name = config.name or config.id
        self.model = model
        self._taken_tools = TakenTools(tools, partial(agent_toolbox, limit=config.tool_call_limit))
        self.tools = self._taken_tools.toolset
        self.sessions = sessions
        self.memories = memories
        self.registry = registry if registry is not None else RunRegistry()
        self.db_id = db_id
        self._clock = clock
        self.memory = user_memory_for(config, model=model, store=memories, registry=self.registry)
        self.knowledge_base = knowledge
        self.knowledge = run_knowledge_for(config, knowledge)

    def clock(self) -> datetime:
        """Now, as the agent's system message tells it."""
        return self._clock()

    def toolbox(self) -> Toolbox:
        """The tools a run opening now gets: the same toolbox until the tools change."""
        return self._taken_tools.take()

    def _steps(
        self,
        request: RunRequest,
        record: RunRecord,
        handle: RunHandle,
        *,
        stream: bool,
        paused: PausedRun | None = None,
    ) -> _AgentRun:
        """One run's steps: a new run's, or (``paused``) those of a paused run going on."""
        make = _AgentRun if paused is None else partial(_ContinuedRun, paused=paused)
        return make(
            record=record,
            events=self._events(request.run_id, request.session_id),
            handle=handle,
            chat=[],
            stream=stream,
            may_pause=self.may_pause,
            agent=self,
            request=request,
            toolbox=self._taken_tools.take(),
        )

    def _error_event(self, run_id: str, session_id: str, detail: str, *, error_type: str, error_id: str) -> RunEvent:
        return self._events(run_id, session_id).run_error(detail, error_type=error_type, error_id=error_id)

    def _events(self, run_id: str, session_id: str) -> EventFactory:
        return EventFactory(
            agent_id=self.id,
            agent_name=self.name,
            run_id=run_id,
            session_id=session_id,
            model=self.model.model,
            model_provider=self.model.provider,
        )

    def _stored_record(self, run: JSON) -> RunRecord:
        return RunRecord.from_stored(run)

    def _new_record(self, request: RunRequest) -> RunRecord:
        return RunRecord(
            run_id=request.run_id,
            agent_id=self.id,
            agent_name=self.name,
            session_id=request.session_id,
            user_id=request.user_id,
            model=self.model.model,
            model_provider=self.model.provider,
            input_content=request.message,
            metadata=run_metadata(self.config.metadata, request.metadata),
        )
