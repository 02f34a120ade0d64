"""A team and its run: read the session, let the leader delegate to its members, persist once at the end.

``Team.run(request)`` yields Agno's team events (``TeamRunStarted`` ... ``TeamRunCompleted``),
the body of a streamed ``POST /teams/{id}/runs``, with the members' own events in between when
the team has ``stream_member_events``; ``Team.complete(request)`` drains the same run (no
streaming) into the ``TeamRunOutput`` dict. Members are agents or teams (``runs.nesting``);
how the leader uses them is the mode's (``runs.team_turns``).

A team run is stored like an agent run: once, at its end, in a session of type ``team``
(``team_id``, ``team_data``), with ``save_run``; the members' runs are inside it
(``member_responses``), so the write is all or nothing. COMPLETED, ERROR (the leader's model
failed: ``TeamRunError``) and CANCELLED (``TeamRunCancelled``, or a client gone: saved by a
detached task) runs are all stored. A save that fails ends the stream with a
``TeamRunError``; ``complete`` raises ``StorageUnavailable`` (503).

User memories work as for an agent (``runs.memory.hooks``, written with the team's id): the
leader's system message gets the user's memories, agentic memory gives the leader the
``update_user_memory`` tool, and a completed, saved run is handed over for extraction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from agentos_runtime.config.components import TeamConfig
from agentos_runtime.errors import ModelProviderError, StorageUnavailable
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.loop import STORAGE_ERROR_TYPE, RunRequest
from agentos_runtime.runs.memory.hooks import user_memory_for
from agentos_runtime.runs.messages import chat_messages, history_messages, new_message
from agentos_runtime.runs.nesting import Executor
from agentos_runtime.runs.registry import RunCancelled, RunOwner, RunRegistry
from agentos_runtime.runs.sessions import merge_dicts, merge_session_state, stored_session_state
from agentos_runtime.runs.team_events import TeamEventFactory
from agentos_runtime.runs.team_members import member_card, member_history
from agentos_runtime.runs.team_prompt import build_leader_message
from agentos_runtime.runs.team_record import TeamRecord, new_team_session
from agentos_runtime.runs.team_turns import Delegation, LeaderRun, keep_partial_answer, lead
from agentos_runtime.storage.ports import JSON, MemoryStore, SessionRow, SessionStore
from agentos_runtime.tools.clock import utc_now

log = logging.getLogger(__name__)


@dataclass
class _TeamRun(LeaderRun):
    new_row: SessionRow | None = None
    storage_error: StorageUnavailable | None = None
    saving: bool = False


class Team:
    """A declared team, ready to run: its config, leader model, members and session store."""

    def __init__(
        self,
        config: TeamConfig,
        *,
        model: ChatModel,
        members: Sequence[Executor],
        sessions: SessionStore | None = None,
        memories: MemoryStore | None = None,
        registry: RunRegistry | None = None,
        db_id: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``sessions=None`` runs without history or persistence (nothing is stored)."""
        self.config = config
        self.id = config.id
        self.name = config.name or config.id
        self.description = config.description
        self.mode = config.mode
        self.model = model
        self.members = list(members)
        self.sessions = sessions
        self.memories = memories
        self.registry = registry if registry is not None else RunRegistry()
        self.db_id = db_id
        self._clock = clock
        self.memory = user_memory_for(config, model=model, store=memories, registry=self.registry, team=True)
        self._delegation = Delegation(
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
            sessions=store,
            memories=self.memories,
            registry=self.registry,
            db_id=self.db_id,
            clock=self._clock,
        )

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]:
        """The run's events, ending with ``TeamRunCompleted``, ``TeamRunError`` or ``TeamRunCancelled``."""
        return self._execute(request, stream=True, sink=None)

    async def complete(self, request: RunRequest) -> JSON:
        """Run without streaming; the ``TeamRunOutput`` dict (``status`` ERROR on a model failure).

        Raises ``StorageUnavailable`` when the session could not be read or the run saved.
        """
        sink: list[_TeamRun] = []
        async for _ in self._execute(request, stream=False, sink=sink):
            pass
        run = sink[0]
        if run.storage_error is not None:
            raise run.storage_error
        return run.record.to_dict()

    async def _execute(
        self, request: RunRequest, *, stream: bool, sink: list[_TeamRun] | None
    ) -> AsyncIterator[RunEvent]:
        events = TeamEventFactory(
            team_id=self.id,
            team_name=self.name,
            run_id=request.run_id,
            session_id=request.session_id,
            model=self.model.model,
            model_provider=self.model.provider,
        )
        metadata = merge_dicts(dict(self.config.metadata or {}), request.metadata or {}) or None
        record = TeamRecord(
            run_id=request.run_id,
            team_id=self.id,
            team_name=self.name,
            session_id=request.session_id,
            user_id=request.user_id,
            model=self.model.model,
            model_provider=self.model.provider,
            input_content=request.message,
            metadata=metadata,
        )
        handle = self.registry.start(request.run_id, RunOwner("team", self.id, request.session_id, request.user_id))
        run = _TeamRun(record=record, events=events, handle=handle, request=request, chat=[], stream=stream)
        if sink is not None:
            sink.append(run)
        try:
            async with aclosing(self._lifecycle(run)) as lifecycle:
                async for event in lifecycle:
                    yield event
        finally:
            self.registry.finish(handle)

    async def _lifecycle(self, run: _TeamRun) -> AsyncGenerator[RunEvent, None]:
        try:
            try:
                await self._open(run)
            except StorageUnavailable as error:
                run.storage_error = error
                run.record.finish("ERROR", reason=error.detail)
                yield run.events.run_error(error.detail, error_type=STORAGE_ERROR_TYPE, error_id=STORAGE_ERROR_TYPE)
                return
            yield run.record.add(run.events.run_started())
            async with aclosing(lead(run, self.model, self._delegation)) as turns:
                async for event in turns:
                    yield event
            yield run.record.add(run.events.content_completed())
            async for event in self._end(run, "COMPLETED"):
                yield event
        except ModelProviderError as error:
            async for event in self._end(run, "ERROR", error=error):
                yield event
        except (RunCancelled, asyncio.CancelledError) as error:
            if isinstance(error, asyncio.CancelledError) and not run.handle.take_back_cancel():
                self._save_detached(run, reason="Operation cancelled by user")
                raise
            async for event in self._end(run, "CANCELLED"):
                yield event
        except GeneratorExit:
            self._save_detached(run, reason="Operation cancelled by user")
            raise
        except Exception as error:  # the run boundary: a bug still ends the run, recorded as ERROR
            log.exception("run %s of team %s failed", run.record.run_id, self.id)
            async for event in self._end(run, "ERROR", error=error):
                yield event

    async def _open(self, run: _TeamRun) -> None:
        """Read the session, merge the state, and build the leader's first messages."""
        record, request, config = run.record, run.request, self.config
        row = None
        if self.sessions is not None:
            row = await self.sessions.get_session(request.session_id, user_id=request.user_id)
        record.session_state = merge_session_state(
            config.session_state, stored_session_state(row), request.session_state
        )
        run.new_row = new_team_session(request.session_id, self.id, self.name, self.model, record, config.metadata)
        cards = [member_card(member) for member in self.members]
        system = build_leader_message(config, cards, now=self._clock())
        if self.memory is not None:
            prepared = await self.memory.prepare(request.user_id)
            system = prepared.system_message(system) or system
            run.tools = {tool.name: tool for tool in prepared.tools}
        record.messages.append(new_message("system", system, created_at=record.created_at))
        own_runs = [r for r in (row.runs or []) if r.get("team_id") == self.id] if row is not None else []
        with_history = request.add_history_to_context
        if with_history is None:
            with_history = config.add_history_to_context
        if with_history:
            runs = request.num_history_runs or config.num_history_runs
            record.messages.extend(history_messages(own_runs, num_runs=runs))
        run.member_history = member_history(own_runs, self.members)
        record.messages.append(new_message("user", request.message, created_at=record.created_at))
        run.chat = chat_messages(record.messages)

    async def _end(self, run: _TeamRun, status: str, *, error: Exception | None = None) -> AsyncIterator[RunEvent]:
        """Finish the record, save it, and yield the terminal event."""
        record, events = run.record, run.events
        if status == "COMPLETED":
            record.finish("COMPLETED")
            last = events.run_completed(
                content=record.content,
                provider_data=record.provider_data,
                metadata=record.metadata,
                metrics=record.metrics_dict(),
                session_state=record.session_state,
            )
        elif status == "CANCELLED":
            keep_partial_answer(run)
            reason = f"Run {record.run_id} was cancelled"
            record.finish("CANCELLED", reason=reason)
            last = events.run_cancelled(reason, content=record.content)
        else:
            message, error_type, error_id = describe_failure(error)
            keep_partial_answer(run)
            record.finish("ERROR", reason=message)
            last = events.run_error(message, error_type=error_type, error_id=error_id)
        record.add(last)
        try:
            await self._save(run)
        except StorageUnavailable as failure:
            run.storage_error = failure
            detail = f"the run could not be saved: {failure.detail}"
            yield events.run_error(detail, error_type=STORAGE_ERROR_TYPE, error_id=STORAGE_ERROR_TYPE)
            return
        if status == "COMPLETED" and self.memory is not None:
            self.memory.remember(record)
        yield last

    async def _save(self, run: _TeamRun) -> None:
        """Store the run once; shielded, so a cancelled caller does not cut a write in half."""
        if self.sessions is None or run.new_row is None:
            run.record.saved = True
            return
        run.saving = True
        record = run.record
        save = asyncio.get_running_loop().create_task(
            self.sessions.save_run(run.new_row, record.to_dict(stored=True), session_state=record.session_state)
        )
        self.registry.track(save)
        await asyncio.shield(save)
        record.saved = True

    def _save_detached(self, run: _TeamRun, *, reason: str) -> None:
        """Record a run whose caller went away (disconnect, shutdown) as CANCELLED, in the background."""
        if run.saving or run.record.saved or run.new_row is None:
            return
        keep_partial_answer(run)
        run.record.finish("CANCELLED", reason=reason)
        run.record.add(run.events.run_cancelled(reason, content=run.record.content))
        try:
            task = asyncio.get_running_loop().create_task(self._save_quietly(run))
        except RuntimeError:
            log.warning("team run %s ended outside an event loop and was not saved", run.record.run_id)
            return
        self.registry.track(task)

    async def _save_quietly(self, run: _TeamRun) -> None:
        try:
            await self._save(run)
        except StorageUnavailable as error:
            log.warning("cancelled team run %s could not be saved: %s", run.record.run_id, error.detail)


def describe_failure(error: Exception | None) -> tuple[str, str, str | None]:
    """Message, ``error_type`` and ``error_id`` of a failed run."""
    if isinstance(error, ModelProviderError):
        return error.detail, error.error_type, error.error_id
    if error is None:
        return "the run failed", "RuntimeError", None
    return f"{type(error).__name__}: {error}", type(error).__name__, None
