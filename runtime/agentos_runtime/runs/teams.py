"""A team and its run: read the session, let the leader delegate to its members, persist once at the end.

``Team.run(request)`` yields Agno's team events (``TeamRunStarted`` ... ``TeamRunCompleted``),
the body of a streamed ``POST /teams/{id}/runs``, with the members' own events in between when
the team has ``stream_member_events``; ``Team.complete(request)`` drains the same run (no
streaming) into the ``TeamRunOutput`` dict. Members are agents or teams (``runs.nesting``);
how the leader uses them is the mode's (``runs.team_turns``).

A team run goes through the lifecycle every run shares (``runs.lifecycle``): stored once, at
its end, in a session of type ``team`` (``team_id``, ``team_data``), with ``save_run``; the
members' runs are inside it (``member_responses``), so the write is all or nothing.
COMPLETED, ERROR (the leader's model failed, or anything else: ``TeamRunError``) and CANCELLED
(``TeamRunCancelled``, or a client gone: saved by a detached task) runs are all stored. A save
that fails ends the stream with a ``TeamRunError``; ``complete`` raises ``StorageUnavailable``
(503). Opening a run reads only the session's latest runs that the leader's history and the
members' histories replay, never every run of the session.

The leader may have tools of its own (``tools`` in the team's config: built-in, entry-point
and MCP tools, as an agent's), called beside delegation; like an agent's, they are taken when
a run opens, rebuilt only when an MCP server's listing changed.

User memories work as for an agent (``runs.memory.hooks``, written with the team's id): the
leader's system message gets the user's memories, agentic memory gives the leader the
``update_user_memory`` tool, and a completed, saved run is handed over for extraction.
A knowledge base (``knowledge``) works as for an agent (``runs.knowledge``): the leader gets
``search_knowledge_base`` beside delegation, or references in the user's message.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from agentos_runtime.config.components import TeamConfig
from agentos_runtime.errors import ModelProviderError
from agentos_runtime.knowledge.ports import KnowledgeSearch
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.knowledge import run_knowledge_for
from agentos_runtime.runs.lifecycle import (
    Ending,
    Outcome,
    answer_ending,
    answer_unsaved,
)
from agentos_runtime.runs.memory.hooks import user_memory_for
from agentos_runtime.runs.messages import HISTORY_SKIP_STATUSES, chat_messages, history_messages
from agentos_runtime.runs.nesting import Executor
from agentos_runtime.runs.opening import (
    first_messages,
    history_runs,
    run_metadata,
    run_placeholders,
    with_context_blocks,
)
from agentos_runtime.runs.pausing import (
    PausedRun,
    held_calls,
    member_id_of,
    member_requirements,
    paused_members,
    routed_paused_content,
    team_paused_content,
)
from agentos_runtime.runs.prompt import resolve_placeholders
from agentos_runtime.runs.record import stored_list
from agentos_runtime.runs.registry import RunHandle, RunRegistry
from agentos_runtime.runs.requests import RunRequest
from agentos_runtime.runs.runner import Runner
from agentos_runtime.runs.sessions import check_session_component, merge_session_state, stored_session_state
from agentos_runtime.runs.team_events import TeamEventFactory
from agentos_runtime.runs.team_members import member_card, member_history, member_history_runs
from agentos_runtime.runs.team_prompt import DELEGATE_TO_MEMBER, DELEGATE_TO_MEMBERS, build_leader_message
from agentos_runtime.runs.team_record import TeamRecord, new_team_session
from agentos_runtime.runs.team_turns import Delegation, LeaderRun, lead, lead_on
from agentos_runtime.runs.toolbox import TakenTools
from agentos_runtime.storage.ports import MemoryStore, RecentRuns, SessionRow, SessionStore
from agentos_runtime.tools.clock import utc_now
from agentos_runtime.tools.tool import Tool
from agentos_runtime.tools.toolsets import ToolSet

JSON = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class _TeamRun(LeaderRun):
    """One team run as the lifecycle drives it (``runs.lifecycle``)."""

    expected: ClassVar[tuple[type[Exception], ...]] = (ModelProviderError,)
    team: Team

    @property
    def label(self) -> str:
        return f"team {self.team.id}"

    async def open(self) -> SessionRow:
        """Read the session's latest runs (what the histories replay), merge the state, build
        the leader's first messages."""
        team, record, request, config = self.team, self.record, self.request, self.team.config
        replayed = history_runs(request, config)
        row = None
        if team.sessions is not None:
            # Only the runs the leader or a member replays are read: a session's cost does not grow with it.
            limit = max(replayed, member_history_runs(team.members))
            window = RecentRuns(limit=limit, skip_statuses=HISTORY_SKIP_STATUSES)
            row = await team.sessions.get_session(request.session_id, user_id=request.user_id, recent_runs=window)
            check_session_component(row, kind="team", component_id=team.id)
        record.session_state = merge_session_state(
            config.session_state, stored_session_state(row), request.session_state
        )
        new_row = new_team_session(request.session_id, team.id, team.name, team.model, record, config.metadata)
        cards = [member_card(member) for member in team.members]
        system = build_leader_message(config, cards, now=team.clock())
        if team.memory is not None:
            prepared = await team.memory.prepare(request.user_id)
            system = prepared.system_message(system) or system
            if prepared.tools:
                self.tools = {**self.tools, **{tool.name: tool for tool in prepared.tools}}
        values = run_placeholders(request, session_state=record.session_state, metadata=record.metadata)
        message = resolve_placeholders(request.message, values)
        if team.knowledge is not None:
            system = team.knowledge.system_message(system) or system
            filters = request.knowledge_filters
            user_id = request.user_id
            self.tools = team.knowledge.tools(self.tools, record.references, filters=filters, user_id=user_id)
            message = await team.knowledge.user_message(
                request.message, record.references, label=self.label, shown=message, filters=filters, user_id=user_id
            )
        # As Agno: a leader's whole system message is resolved, its members, memories and knowledge too.
        system = resolve_placeholders(system, values)
        blocked, message = with_context_blocks(system, message, request, config, session_state=record.session_state)
        system = blocked or system
        own_runs = [r for r in (row.runs or []) if r.get("team_id") == team.id] if row is not None else []
        history = history_messages(own_runs, num_runs=replayed) if replayed else ()
        self.member_history = member_history(own_runs, team.members)
        self.chat = first_messages(record, system, history, message)
        return new_row

    def started(self) -> RunEvent:
        return self.events.run_started()

    def body(self) -> AsyncGenerator[RunEvent, None]:
        return lead(self, self.team.model, self.team.delegation)

    def end(self, outcome: Outcome) -> Ending:
        waiting = member_requirements(self.record.member_responses)
        ending = answer_ending(self, self.events, outcome, members_waiting=waiting, paused_content=self._paused_content)
        if outcome.status == "COMPLETED":  # Agno's TeamRunCompleted carries the members' runs
            ending.last.stream_also({"member_responses": list(self.record.member_responses)})
        return replace(ending, forwarded=tuple(self.unended))

    def _paused_content(self, requirements: Sequence[JSON]) -> str:
        """The content of this run paused with ``requirements``, its leader having written nothing
        (in route mode, a paused member's delegation result is the team's content: ``lead``
        streams it as it pauses; here it is again when the member pauses again going on)."""
        routed = routed_paused_content(self.record.member_responses) if self.team.mode == "route" else None
        return routed if routed is not None else team_paused_content(requirements)

    def unsaved(self, detail: str, *, error_type: str, error_id: str | None) -> RunEvent:
        return answer_unsaved(self, self.events, detail, error_type=error_type, error_id=error_id)

    def saved(self, outcome: Outcome) -> None:
        if outcome.status == "COMPLETED" and self.team.memory is not None:
            self.team.memory.remember(self.record)


@dataclass(kw_only=True)
class _ContinuedTeamRun(_TeamRun):
    """A paused team run going on: the leader's decided calls, then its requests, from the
    messages it was stored with."""

    paused: PausedRun

    async def open(self) -> SessionRow:
        """Take up the run as it was read: whether it still waits is decided as it is stored
        ``RUNNING`` (``Lifecycle.takes_up``), so the session is not read again here."""
        team, paused, record = self.team, self.paused, self.record
        record.session_state = paused.session_state
        if team.memory is not None:
            prepared = await team.memory.prepare(paused.user_id)
            self.tools = {**self.tools, **{tool.name: tool for tool in prepared.tools}}
        if team.knowledge is not None:
            self.tools = team.knowledge.tools(self.tools, record.references, user_id=paused.user_id)
        self.chat = chat_messages(record.messages)
        return new_team_session(paused.session_id, team.id, team.name, team.model, record, team.config.metadata)

    def started(self) -> RunEvent:
        return self.events.run_continued()

    def body(self) -> AsyncGenerator[RunEvent, None]:
        return lead_on(self, self.team.model, self.team.delegation, self.paused)


class Team(Runner[TeamRecord]):
    """A declared team, ready to run: its config, leader model, members and session store.

    ``run`` yields the run's events, ending with ``TeamRunCompleted``, ``TeamRunError`` or
    ``TeamRunCancelled``; ``complete`` returns the ``TeamRunOutput`` dict (``status`` ERROR on a
    model failure).
    """

    kind = "team"

    def __init__(
        self,
        config: TeamConfig,
        *,
        model: ChatModel,
        members: Sequence[Executor],
        tools: Sequence[Tool] | ToolSet = (),
        sessions: SessionStore | None = None,
        memories: MemoryStore | None = None,
        registry: RunRegistry | None = None,
        db_id: str | None = None,
        knowledge: KnowledgeSearch | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``sessions=None`` runs without history or persistence (nothing is stored); ``tools``
        are the leader's own, and ``knowledge`` the base the leader may search."""
        self.config = config
        self.id = config.id
        self.name = config.name or config.id
        self.description = config.description
        self.mode = config.mode
        self.model = model
        self.members = list(members)
        self._own_tools = TakenTools(tools, partial(_beside_delegation, team_id=self.id))
        self.tools = self._own_tools.toolset
        self.sessions = sessions
        self.memories = memories
        self.registry = registry if registry is not None else RunRegistry()
        self.db_id = db_id
        self._clock = clock
        self.memory = user_memory_for(config, model=model, store=memories, registry=self.registry, team=True)
        self.knowledge_base = knowledge
        self.knowledge = run_knowledge_for(config, knowledge)
        self.delegation = Delegation(
            mode=config.mode,
            members={member.id: member for member in self.members},
            forward_member_events=config.stream_member_events,
        )

    def persisting_into(self, store: SessionStore) -> Team:
        """A copy of this team whose runs are saved into ``store`` (a run nested in another)."""
        return Team(
            self.config,
            model=self.model,
            members=self.members,
            tools=self.tools,
            sessions=store,
            memories=self.memories,
            registry=self.registry,
            db_id=self.db_id,
            knowledge=self.knowledge_base,
            clock=self._clock,
        )

    def clock(self) -> datetime:
        """Now, as the leader's system message tells it."""
        return self._clock()

    def own_tools(self) -> Mapping[str, Tool]:
        """The leader's own tools by name for a run opening now (the same mapping until they change)."""
        return self._own_tools.take()

    def _steps(
        self,
        request: RunRequest,
        record: TeamRecord,
        handle: RunHandle,
        *,
        stream: bool,
        paused: PausedRun | None = None,
    ) -> _TeamRun:
        """One run's steps: a new run's, or (``paused``) those of a paused run going on."""
        make = _TeamRun if paused is None else partial(_ContinuedTeamRun, paused=paused)
        return make(
            record=record,
            events=self._events(request.run_id, request.session_id),
            handle=handle,
            request=request,
            chat=[],
            stream=stream,
            tools=self._own_tools.take(),
            may_pause=self.may_pause,
            team=self,
        )

    def _error_event(self, run_id: str, session_id: str, detail: str, *, error_type: str, error_id: str) -> RunEvent:
        return self._events(run_id, session_id).run_error(detail, error_type=error_type, error_id=error_id)

    def _events(self, run_id: str, session_id: str) -> TeamEventFactory:
        return TeamEventFactory(
            team_id=self.id,
            team_name=self.name,
            run_id=run_id,
            session_id=session_id,
            model=self.model.model,
            model_provider=self.model.provider,
        )

    def _stored_record(self, run: JSON) -> TeamRecord:
        return TeamRecord.from_stored(run)

    def _new_record(self, request: RunRequest) -> TeamRecord:
        return TeamRecord(
            run_id=request.run_id,
            team_id=self.id,
            team_name=self.name,
            session_id=request.session_id,
            user_id=request.user_id,
            model=self.model.model,
            model_provider=self.model.provider,
            input_content=request.message,
            metadata=run_metadata(self.config.metadata, request.metadata),
        )


class MemberGone(Exception):
    """A paused team run waits on a run of a member that is no longer one of its team's, or that
    is one of another kind now (``ran_as`` and ``now``: ``agent`` or ``team``)."""

    def __init__(self, member_id: Any, team_id: str, *, ran_as: str | None = None, now: str | None = None) -> None:
        super().__init__(f"member '{member_id}' is no longer a member of team '{team_id}'")
        self.member_id = member_id
        self.team_id = team_id
        self.ran_as = ran_as
        self.now = now


def waiting_member_runs(team: Team, run: Mapping[str, Any]) -> dict[str, list[JSON]]:
    """The tools of each member run a ``PAUSED`` run of ``team`` waits on, by member run id, as
    ``runs.pausing.read_requirements`` takes them: a paused member agent's, and for a paused member
    team, its leader's (when they hold a call waiting for a confirmation, or nothing else waits in
    it) and, the same way, those of the runs it waits on.

    Raises ``MemberGone`` for a paused run of a member no longer in its team (at any depth), or of
    a member of another kind (an agent's run for a team, or the other way round).
    """
    waiting: dict[str, list[JSON]] = {}
    for member in paused_members(stored_list(run, "member_responses")):
        member_id = member_id_of(member)
        executor = team.delegation.members.get(str(member_id))
        is_team = member.get("team_id") is not None
        if executor is None:
            raise MemberGone(member_id, team.id)
        if isinstance(executor, Team) != is_team:
            now = "team" if isinstance(executor, Team) else "agent"
            raise MemberGone(member_id, team.id, ran_as="team" if is_team else "agent", now=now)
        tools = stored_list(member, "tools")
        inner = waiting_member_runs(executor, member) if isinstance(executor, Team) else {}
        if held_calls(tools) or not inner:
            waiting[str(member["run_id"])] = tools
        waiting.update(inner)
    return waiting


def _beside_delegation(tools: Sequence[Tool], team_id: str) -> dict[str, Tool]:
    """The leader's own tools by name, but for one named like delegation (an MCP server may add
    one after start-up: the config check refuses it before)."""
    own: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in (DELEGATE_TO_MEMBER, DELEGATE_TO_MEMBERS):
            log.warning("team %s: the tool %s is left out: it would hide delegation", team_id, tool.name)
            continue
        own[tool.name] = tool
    return own
