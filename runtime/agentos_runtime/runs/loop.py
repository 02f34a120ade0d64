"""An agent and its run: read the session, build the prompt, loop, persist once at the end.

``Agent.run(request)`` yields Agno's events (``RunStarted`` ... ``RunCompleted``), the body of a
streamed ``POST /agents/{id}/runs``; ``Agent.complete(request)`` drains the same loop (with a
non-streaming model request) into the ``RunOutput`` dict of ``stream=false``.

Every run that starts is stored once, at its end, with ``SessionStore.save_run``: COMPLETED,
ERROR (a ``ModelProviderError``: the last event is ``RunError``, the HTTP status stays 200) and
CANCELLED (through the ``RunRegistry``: ``RunCancelled``; or a client that went away: saved by a
detached task). A save that fails with ``StorageUnavailable`` ends the stream with a
``RunError`` saying so; ``complete`` raises it (the API answers 503).

User memories (``enable_user_memories``, ``enable_agentic_memory``, ``add_memories_to_context``)
are ``runs.memory``'s: it adds to the system message and tools when the run opens, and is told
of each completed run once it is saved.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentos_runtime.config.components import AgentConfig
from agentos_runtime.errors import ModelProviderError, StorageUnavailable
from agentos_runtime.llm.ports import ChatModel
from agentos_runtime.runs.events import EventFactory, RunEvent
from agentos_runtime.runs.memory.hooks import user_memory_for
from agentos_runtime.runs.messages import HISTORY_SKIP_STATUSES, chat_messages, history_messages, new_message
from agentos_runtime.runs.prompt import build_system_message
from agentos_runtime.runs.record import RunRecord
from agentos_runtime.runs.registry import RunCancelled, RunOwner, RunRegistry
from agentos_runtime.runs.sessions import merge_dicts, merge_session_state, new_session_row, stored_session_state
from agentos_runtime.runs.turns import RunContext, Toolbox, record_partial_answer, run_turns
from agentos_runtime.storage.ports import MemoryStore, RecentRuns, SessionRow, SessionStore
from agentos_runtime.tools.clock import utc_now
from agentos_runtime.tools.tool import Tool

log = logging.getLogger(__name__)

JSON = dict[str, Any]
STORAGE_ERROR_TYPE = "storage_unavailable"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RunRequest:
    """One run of an agent: the form fields of ``POST /agents/{id}/runs`` that matter to the loop.

    ``None`` overrides fall back to the agent's config.
    """

    message: str
    session_id: str = field(default_factory=new_id)
    run_id: str = field(default_factory=new_id)
    user_id: str | None = None
    session_state: JSON | None = None
    metadata: JSON | None = None
    add_history_to_context: bool | None = None
    num_history_runs: int | None = None


@dataclass
class _Run(RunContext):
    new_row: SessionRow | None = None
    toolbox: Toolbox | None = None
    storage_error: StorageUnavailable | None = None
    saving: bool = False


class Agent:
    """A declared agent, ready to run: its config, model, tools and session store."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        model: ChatModel,
        tools: Sequence[Tool] = (),
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
        self.model = model
        self.tools = list(tools)
        self.sessions = sessions
        self.memories = memories
        self.registry = registry if registry is not None else RunRegistry()
        self.db_id = db_id
        self._clock = clock
        self._toolbox = Toolbox(
            tools={tool.name: tool for tool in tools},
            schemas=[tool.schema() for tool in tools] or None,
            limit=config.tool_call_limit,
        )
        self.memory = user_memory_for(config, model=model, store=memories, registry=self.registry)

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]:
        """The run's events, ending with ``RunCompleted``, ``RunError`` or ``RunCancelled``."""
        return self._execute(request, stream=True, sink=None)

    async def complete(self, request: RunRequest) -> JSON:
        """Run without streaming; the ``RunOutput`` dict (``status`` ERROR on a model failure).

        Raises ``StorageUnavailable`` when the session could not be read or the run saved.
        """
        sink: list[_Run] = []
        async for _ in self._execute(request, stream=False, sink=sink):
            pass
        run = sink[0]
        if run.storage_error is not None:
            raise run.storage_error
        return run.record.to_dict()

    async def _execute(self, request: RunRequest, *, stream: bool, sink: list[_Run] | None) -> AsyncIterator[RunEvent]:
        events = EventFactory(
            agent_id=self.id,
            agent_name=self.name,
            run_id=request.run_id,
            session_id=request.session_id,
            model=self.model.model,
            model_provider=self.model.provider,
        )
        record = self._new_record(request)
        handle = self.registry.start(request.run_id, RunOwner("agent", self.id, request.session_id, request.user_id))
        run = _Run(record=record, events=events, handle=handle, chat=[], stream=stream)
        if sink is not None:
            sink.append(run)
        try:
            async with aclosing(self._lifecycle(run, request)) as lifecycle:
                async for event in lifecycle:
                    yield event
        finally:
            self.registry.finish(run.handle)

    async def _lifecycle(self, run: _Run, request: RunRequest) -> AsyncGenerator[RunEvent, None]:
        try:
            try:
                await self._open(run, request)
            except StorageUnavailable as error:
                run.storage_error = error
                run.record.finish("ERROR", reason=error.detail)
                yield run.events.run_error(error.detail, error_type=STORAGE_ERROR_TYPE, error_id=STORAGE_ERROR_TYPE)
                return
            yield run.record.add(run.events.run_started())
            async with aclosing(run_turns(run, self.model, run.toolbox or self._toolbox)) as turns:
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
            log.exception("run %s of agent %s failed", run.record.run_id, self.id)
            async for event in self._end(run, "ERROR", error=error):
                yield event

    async def _open(self, run: _Run, request: RunRequest) -> None:
        """Read the session, merge the state, and build the messages sent first."""
        record = run.record
        with_history = request.add_history_to_context
        if with_history is None:
            with_history = self.config.add_history_to_context
        history_runs = (request.num_history_runs or self.config.num_history_runs) if with_history else 0
        row = None
        if self.sessions is not None:
            # Only the runs history replays are read: a session's cost does not grow with it.
            window = RecentRuns(limit=history_runs, skip_statuses=HISTORY_SKIP_STATUSES)
            row = await self.sessions.get_session(request.session_id, user_id=request.user_id, recent_runs=window)
        record.session_state = merge_session_state(
            self.config.session_state, stored_session_state(row), request.session_state
        )
        run.new_row = new_session_row(
            session_id=request.session_id,
            agent_id=self.id,
            agent_name=self.name,
            user_id=request.user_id,
            model=self.model,
            session_state=record.session_state,
            metadata=self.config.metadata,
            created_at=record.created_at,
        )
        system = build_system_message(self.config, now=self._clock())
        if self.memory is not None:
            prepared = await self.memory.prepare(request.user_id)
            system, run.toolbox = prepared.system_message(system), prepared.toolbox(self._toolbox)
        if system is not None:
            record.messages.append(new_message("system", system, created_at=record.created_at))
        if history_runs and row is not None:
            record.messages.extend(history_messages(row.runs or [], num_runs=history_runs))
        record.messages.append(new_message("user", request.message, created_at=record.created_at))
        run.chat = chat_messages(record.messages)

    async def _end(self, run: _Run, status: str, *, error: Exception | None = None) -> AsyncIterator[RunEvent]:
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
            record_partial_answer(run)
            reason = f"Run {record.run_id} was cancelled"
            record.finish("CANCELLED", reason=reason)
            last = events.run_cancelled(reason, content=record.content)
        else:
            message, error_type, error_id = _describe(error)
            record_partial_answer(run)
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

    async def _save(self, run: _Run) -> None:
        """Store the run once; shielded, so a cancelled caller does not cut a write in half."""
        if self.sessions is None or run.new_row is None:
            run.record.saved = True
            return
        run.saving = True
        save = asyncio.get_running_loop().create_task(
            self.sessions.save_run(run.new_row, run.record.to_dict(stored=True), session_state=run.record.session_state)
        )
        self.registry.track(save)
        await asyncio.shield(save)
        run.record.saved = True

    def _save_detached(self, run: _Run, *, reason: str) -> None:
        """Record a run whose caller went away (disconnect, shutdown) as CANCELLED, in the background."""
        if run.saving or run.record.saved or run.new_row is None:
            return
        record_partial_answer(run)
        run.record.finish("CANCELLED", reason=reason)
        run.record.add(run.events.run_cancelled(reason, content=run.record.content))
        try:
            task = asyncio.get_running_loop().create_task(self._save_quietly(run))
        except RuntimeError:
            log.warning("run %s ended outside an event loop and was not saved", run.record.run_id)
            return
        self.registry.track(task)

    async def _save_quietly(self, run: _Run) -> None:
        try:
            await self._save(run)
        except StorageUnavailable as error:
            log.warning("cancelled run %s could not be saved: %s", run.record.run_id, error.detail)

    def _new_record(self, request: RunRequest) -> RunRecord:
        metadata = merge_dicts(dict(self.config.metadata or {}), request.metadata or {}) or None
        return RunRecord(
            run_id=request.run_id,
            agent_id=self.id,
            agent_name=self.name,
            session_id=request.session_id,
            user_id=request.user_id,
            model=self.model.model,
            model_provider=self.model.provider,
            input_content=request.message,
            metadata=metadata,
        )


def _describe(error: Exception | None) -> tuple[str, str, str | None]:
    """Message, ``error_type`` and ``error_id`` of a failed run."""
    if isinstance(error, ModelProviderError):
        return error.detail, error.error_type, error.error_id
    if error is None:
        return "the run failed", "RuntimeError", None
    return f"{type(error).__name__}: {error}", type(error).__name__, None
