"""A continue refused as it takes up a paused run (another request took it up first) stores
nothing, whatever becomes of its caller after: told of the conflict and gone, or gone while the
take-up was being written. It once saved the run as CANCELLED over the other request's result."""

from __future__ import annotations

import asyncio
from typing import Any

from agentos_runtime.runs import RunRegistry
from agentos_runtime.runs.workflows import Workflow
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, call, say
from tests.runtime.workflows.test_workflow_pausing import ADD, Flow, stored


def another_replica(flow: Flow, registry: RunRegistry, sessions: Any = None) -> Workflow:
    """The same workflow on the same database, served by another replica (its own registry)."""
    workflow = flow.workflow
    return Workflow(
        workflow.config, steps=workflow.steps, sessions=sessions or flow.database.sessions, registry=registry
    )


async def settled(registry: RunRegistry) -> None:
    """Every save the registry keeps in the background has ended."""
    while registry._background:
        await asyncio.wait(set(registry._background))


async def test_a_refused_continue_whose_caller_leaves_after_the_conflict_keeps_the_other_requests_result() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1"), say("5")), FakeChatModel(say("Five.")))
    paused = await flow.pause()
    done = await flow.workflow.complete_continued(flow.going_on(paused, "c1", True))
    assert done["status"] == "COMPLETED"
    registry = RunRegistry()

    events = another_replica(flow, registry).continue_run(flow.going_on(paused, "c1", True))
    first = (await anext(events)).to_dict()
    await events.aclose()  # its client gone, after the conflict
    await settled(registry)

    assert (first["event"], first["error_type"]) == ("WorkflowError", "run_conflict")
    assert ((await stored(flow.database))["status"], (await stored(flow.database))["content"]) == ("COMPLETED", "Five.")


class HeldTakeUps:
    """Sessions whose take-ups (``replace_run``) wait until ``release`` is set."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self._sessions = database.sessions
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sessions, name)

    async def replace_run(
        self, session_id: str, run: dict[str, Any], *, status: str, events: int | None = None
    ) -> bool:
        self.waiting.set()
        await self.release.wait()
        return await self._sessions.replace_run(session_id, run, status=status, events=events)


async def test_a_continue_cancelled_while_its_refused_take_up_is_written_keeps_the_other_requests_result() -> None:
    flow = Flow(FakeChatModel(call("calculator", ADD, call_id="c1"), say("5")), FakeChatModel(say("Five.")))
    paused = await flow.pause()
    held = HeldTakeUps(flow.database)
    registry = RunRegistry()
    late = asyncio.create_task(
        another_replica(flow, registry, held).complete_continued(flow.going_on(paused, "c1", True))
    )
    await held.waiting.wait()

    done = await flow.workflow.complete_continued(flow.going_on(paused, "c1", True))  # the other request
    late.cancel()  # its client gone while its take-up is written
    held.release.set()
    await asyncio.wait({late})
    await settled(registry)

    assert done["status"] == "COMPLETED"
    assert ((await stored(flow.database))["status"], (await stored(flow.database))["content"]) == ("COMPLETED", "Five.")


async def test_a_continue_of_a_run_that_went_on_and_paused_again_since_it_was_read_is_refused() -> None:
    """Read while it waited on call c1; continued meanwhile by another request, it waits on c2."""
    adder = FakeChatModel(
        call("calculator", ADD, call_id="c1"), call("calculator", ADD, call_id="c2"), say("10"), say("again")
    )
    flow = Flow(adder, FakeChatModel(say("Ten.")))
    paused = await flow.pause()  # read by the late request
    again = await flow.workflow.complete_continued(flow.going_on(paused, "c1", True))  # the other request
    assert again["status"] == "PAUSED"

    events = [e.to_dict() async for e in flow.workflow.continue_run(flow.going_on(paused, "c1", True))]

    assert [(e["event"], e.get("error_type")) for e in events] == [("WorkflowError", "run_conflict")]
    waiting = await stored(flow.database)
    assert waiting["status"] == "PAUSED"
    [step] = waiting["step_requirements"]
    assert [r["tool_execution"]["tool_call_id"] for r in step["executor_requirements"]] == ["c2"]
    assert len(adder.prompts) == 2, "the decided call c1 ran once"
