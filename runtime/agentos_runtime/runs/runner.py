"""What agents, teams and workflows share at a run's entry: ``run`` streams, ``complete`` drains.

The kinds differ in the steps of one run (``Runner.new_run``: the kind's ``RunSteps``, with its
record, events and loop); registering the run under its owner and driving it through the
lifecycle (``runs.lifecycle``) is the same for all three.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.lifecycle import Lifecycle, RunSteps, complete, execute
from agentos_runtime.runs.registry import RunHandle, RunOwner, RunRegistry
from agentos_runtime.storage.ports import SessionStore

if TYPE_CHECKING:
    from agentos_runtime.runs.loop import RunRequest

JSON = dict[str, Any]


class Runner:
    """A declared agent, team or workflow as its runs start: subclasses give ``kind`` and ``new_run``."""

    kind: ClassVar[Literal["agent", "team", "workflow"]]
    id: str
    sessions: SessionStore | None
    registry: RunRegistry

    def run(self, request: RunRequest) -> AsyncIterator[RunEvent]:
        """The run's events, ending with the kind's completed, error or cancelled event."""
        return self._execute(request, stream=True, sink=None)

    async def complete(self, request: RunRequest) -> JSON:
        """Run without streaming; the kind's run output dict (``status`` ERROR when the run failed).

        Raises ``StorageUnavailable`` when the session could not be read or the run saved.
        """
        sink: list[Lifecycle] = []
        return await complete(self._execute(request, stream=False, sink=sink), sink)

    def new_run(self, request: RunRequest, stream: bool, handle: RunHandle) -> RunSteps:
        """One run's steps as the lifecycle drives them (``stream``: the model streams its answer)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how its runs go")

    def _execute(
        self, request: RunRequest, *, stream: bool, sink: list[Lifecycle] | None
    ) -> AsyncGenerator[RunEvent, None]:
        owner = RunOwner(self.kind, self.id, request.session_id, request.user_id)
        return execute(
            partial(self.new_run, request, stream),
            run_id=request.run_id,
            owner=owner,
            sessions=self.sessions,
            registry=self.registry,
            sink=sink,
        )
