"""The steps of a workflow run: one agent or team, a parallel group, a condition.

Steps run in order and each step's output is the next step's input (the first step gets the
message). A leaf step runs its agent or team nested (``runs.nesting``) and emits
``StepStarted``/``StepCompleted`` around its events. A parallel group runs its steps at once
on the same input (``ParallelExecution*``) and joins their outputs, in declaration order, into
one text. A condition tests the previous output (``contains``/``not_contains``/``matches``)
and runs ``steps`` when it holds, else ``else_steps``, in order (``ConditionExecution*``); a
condition that runs nothing passes its input on unchanged.

A step whose agent or team ended in ERROR fails the workflow (``StepFailed``); one that was
cancelled on its own cancels the workflow (``RunCancelled``).

A top-level step's agent or team may pause on a call needing a confirmation (a team's: its
leader's or a member agent's) when the workflow run may (``StepsRun.may_pause``): its run is
kept, the step's ``StepRequirement`` (``runs.pausing``) is the record's ``paused_step``, and
``Paused`` ends the workflow run ``PAUSED``. ``go_on`` takes it up again: the step's agent or
team goes on with the decisions, its answer is the step's output, and the steps after it run.
Steps inside a parallel group or a condition never pause (their held calls are answered unmade).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from agentos_runtime import patterns
from agentos_runtime.config.components import StepCondition
from agentos_runtime.runs.events import RUN_ERROR, RunEvent
from agentos_runtime.runs.lifecycle import Paused
from agentos_runtime.runs.loop import RunRequest
from agentos_runtime.runs.nesting import Executor, NestedJob, NestedOutput, run_concurrently, run_nested
from agentos_runtime.runs.pausing import PausedRun, step_requirement
from agentos_runtime.runs.registry import RunCancelled, RunHandle
from agentos_runtime.runs.team_events import TEAM_RUN_ERROR
from agentos_runtime.runs.workflow_events import StepIndex, WorkflowEventFactory, workflow_fields
from agentos_runtime.runs.workflow_record import WorkflowRecord, step_output

JSON = dict[str, Any]


class StepFailed(Exception):
    """The agent or team running a step ended in error."""

    def __init__(self, *, step_name: str, step_index: StepIndex, step_id: str, error: str, output: JSON) -> None:
        super().__init__(error)
        self.step_name = step_name
        self.step_index = step_index
        self.step_id = step_id
        self.error = error
        self.output = output


@dataclass(frozen=True)
class LeafPlan:
    name: str
    executor: Executor
    kind: Literal["agent", "team"]


@dataclass(frozen=True)
class ParallelPlan:
    name: str
    leaves: Sequence[LeafPlan]


@dataclass(frozen=True)
class ConditionPlan:
    name: str
    condition: StepCondition
    steps: Sequence[LeafPlan]
    else_steps: Sequence[LeafPlan] = ()


StepPlan = LeafPlan | ParallelPlan | ConditionPlan


def condition_holds(condition: StepCondition, text: str) -> bool:
    """Whether ``condition`` holds for ``text`` (case-sensitive; ``matches`` searches anywhere)."""
    if condition.contains is not None:
        return condition.contains in text
    if condition.not_contains is not None:
        return condition.not_contains not in text
    return patterns.search(condition.matches or "", text)


def join_outputs(outputs: Sequence[JSON]) -> str:
    """The output of a parallel group: each step's name as a heading over its output."""
    return "\n\n".join(f"### {output['step_name']}\n{output.get('content') or ''}".rstrip() for output in outputs)


@dataclass
class StepsRun:
    """What the steps work on: the workflow run's record, events, handle and request."""

    record: WorkflowRecord
    events: WorkflowEventFactory
    handle: RunHandle
    request: RunRequest
    stream: bool
    unended: list[RunEvent] = field(default_factory=list)
    """The cancelled events of forwarded step runs cut short, sent as the workflow run ends."""
    may_pause: bool = False
    """Whether a top-level step's agent may pause (the workflow run with it)."""


async def run_steps(
    run: StepsRun, plans: Sequence[StepPlan], *, start: int = 0, text: str | None = None
) -> AsyncGenerator[RunEvent, None]:
    """Run every step from ``start`` in order (the first on ``text``, the message by default);
    each output is kept in ``record.step_results`` and feeds the next."""
    text = run.request.message if text is None else text
    for index, plan in enumerate(plans[start:], start=start):
        run.handle.check()
        outputs: list[JSON] = []
        if isinstance(plan, LeafPlan):
            steps = _run_leaf(run, plan, text, index, outputs, may_pause=run.may_pause)
        elif isinstance(plan, ParallelPlan):
            steps = _run_parallel(run, plan, text, index, outputs)
        else:
            steps = _run_condition(run, plan, text, index, outputs)
        try:
            async with aclosing(steps) as running:
                async for event in running:
                    yield event
        finally:
            run.record.step_results.extend(outputs)
        text = outputs[-1].get("content") or ""
        run.record.content = text


async def go_on(run: StepsRun, plans: Sequence[StepPlan], paused: PausedRun) -> AsyncGenerator[RunEvent, None]:
    """A paused workflow run going on: the paused step's agent or team with the decisions of
    ``paused`` (its own, its members' for a team), then the steps after it."""
    record = run.record
    waiting = record.paused_step
    if waiting is None:
        raise ValueError("the paused run names no step waiting for decisions")
    index = waiting["step_index"]
    plan = plans[index] if isinstance(index, int) and 0 <= index < len(plans) else None
    if not isinstance(plan, LeafPlan) or plan.name != waiting.get("step_name"):
        raise ValueError(f"the paused step {waiting.get('step_name')!r} is no step of the workflow any more")
    step_id, run_id = str(waiting["step_id"]), str(waiting.get("executor_run_id"))
    executed = next((r for r in record.executor_runs if r.get("run_id") == run_id), None)
    if executed is None:
        raise ValueError(f"the paused run holds no run '{run_id}' of step {plan.name!r}")
    going_on = PausedRun(
        executed,
        paused.decisions,
        member_decisions=paused.member_decisions,
        session_id=run.request.session_id,
        user_id=record.user_id,
        session_state=record.session_state,
    )
    new = _job(run, plan, "", index, step_id, may_pause=True)
    job = replace(new, request=replace(new.request, run_id=run_id), paused=going_on)
    record.paused_step = None
    outputs: list[JSON] = []
    async with aclosing(_leaf_steps(run, plan, job, index, step_id, outputs, replacing=True)) as steps:
        try:
            async for event in steps:
                yield event
        finally:
            record.step_results.extend(outputs)
    text = outputs[-1].get("content") or ""
    record.content = text
    async with aclosing(run_steps(run, plans, start=index + 1, text=text)) as rest:
        async for event in rest:
            yield event


def _job(
    run: StepsRun, plan: LeafPlan, text: str, index: StepIndex, step_id: str, *, may_pause: bool = False
) -> NestedJob:
    record, request = run.record, run.request
    stamp = workflow_fields(
        workflow_id=record.workflow_id, run_id=record.run_id, step_id=step_id, step_name=plan.name, step_index=index
    )
    return NestedJob(
        executor=plan.executor,
        request=RunRequest(
            message=text,
            session_id=request.session_id,
            user_id=request.user_id,
            session_state=record.session_state,
            metadata=request.metadata,
            dependencies=request.dependencies,
        ),
        forward=stamp if run.stream else None,
        output_fields={"parent_run_id": record.run_id, "workflow_step_id": step_id},
        unended=run.unended,
        may_pause=may_pause,
    )


def leaf_view(plan: LeafPlan, step_id: str, executed: JSON) -> JSON:
    """The ``StepOutput`` of a step its executor's run gives."""
    status, content = executed.get("status"), executed.get("content")
    text = content if isinstance(content, str) else None
    return step_output(
        step_name=plan.name,
        step_id=step_id,
        step_type="Step",
        content=text,
        executor_type=plan.kind,
        executor_name=plan.executor.name,
        step_run_id=executed.get("run_id"),
        metrics=executed.get("metrics") or None,
        success=status == "COMPLETED",
        error=(failure_reason(executed) or "failed") if status == "ERROR" else None,
    )


_ERROR_EVENTS = frozenset({RUN_ERROR, TEAM_RUN_ERROR})


def failure_reason(executed: JSON) -> str | None:
    """Why an executor's run failed, as its own error event said it; never its content, which is
    the partial answer of a run cut short (a model stopped at the answer limit: a megabyte)."""
    for event in reversed(executed.get("events") or []):
        if isinstance(event, dict) and event.get("event") in _ERROR_EVENTS and isinstance(event.get("content"), str):
            reason: str = event["content"]
            return reason
    return None


def _leaf_output(run: StepsRun, plan: LeafPlan, step_id: str, executed: JSON) -> JSON:  # parallel groups
    """Keep the executor's run (and its metrics) on the record; the step's ``StepOutput``."""
    run.record.add_executor_run(plan.name, plan.kind, executed)
    return leaf_view(plan, step_id, executed)


def _check_completed(run: StepsRun, plan: LeafPlan, step_id: str, index: StepIndex, executed: JSON) -> None:
    """Raise ``RunCancelled`` or ``StepFailed`` unless the step's executor completed."""
    status = executed.get("status")
    if status == "CANCELLED":
        raise RunCancelled(run.record.run_id)
    if status != "COMPLETED":
        reason = failure_reason(executed) or f"the {plan.kind} ended in {status}"
        error = f"step '{plan.name}' failed: {reason}"
        raise StepFailed(step_name=plan.name, step_index=index, step_id=step_id, error=error, output=executed)


async def _run_leaf(
    run: StepsRun, plan: LeafPlan, text: str, index: StepIndex, into: list[JSON], *, may_pause: bool = False
) -> AsyncGenerator[RunEvent, None]:
    step_id = str(uuid.uuid4())
    yield run.record.add(run.events.step_started(plan.name, index, step_id))
    job = _job(run, plan, text, index, step_id, may_pause=may_pause)
    async with aclosing(_leaf_steps(run, plan, job, index, step_id, into)) as steps:
        async for event in steps:
            yield event


async def _leaf_steps(
    run: StepsRun,
    plan: LeafPlan,
    job: NestedJob,
    index: StepIndex,
    step_id: str,
    into: list[JSON],
    *,
    replacing: bool = False,
) -> AsyncGenerator[RunEvent, None]:
    """The step's executor run (``replacing``: a paused one going on, whose kept run it replaces),
    then ``StepCompleted``; raises ``Paused`` when it paused."""
    keep = run.record.replace_executor_run if replacing else run.record.add_executor_run

    def keep_unfinished(output: JSON) -> None:  # a step cut short keeps its partial answer
        keep(plan.name, plan.kind, output)
        into.append(leaf_view(plan, step_id, output))

    async with aclosing(run_nested(job, parent=run.handle, unfinished=keep_unfinished)) as items:
        async for item in items:
            if isinstance(item, NestedOutput):
                keep(plan.name, plan.kind, item.output)
                if item.output.get("status") == "PAUSED" and isinstance(index, int):
                    run.record.paused_step = step_requirement(
                        step_id=step_id,
                        step_name=plan.name,
                        step_index=index,
                        executor_type=plan.kind,
                        executor_run=item.output,
                    )
                    raise Paused()
                into.append(leaf_view(plan, step_id, item.output))
                _check_completed(run, plan, step_id, index, item.output)
            else:
                yield item
    yield run.record.add(run.events.step_completed(plan.name, index, step_id, into[-1]))


async def _run_parallel(
    run: StepsRun, plan: ParallelPlan, text: str, index: int, into: list[JSON]
) -> AsyncGenerator[RunEvent, None]:
    group_id, events, record = str(uuid.uuid4()), run.events, run.record
    yield record.add(events.parallel_started(plan.name, index, group_id, len(plan.leaves)))
    ids = [str(uuid.uuid4()) for _ in plan.leaves]
    for position, leaf in enumerate(plan.leaves):
        yield record.add(events.step_started(leaf.name, (index, position), ids[position]))
    jobs = [_job(run, leaf, text, (index, p), ids[p]) for p, leaf in enumerate(plan.leaves)]
    executed: list[JSON | None] = [None] * len(jobs)

    def keep_unfinished(position: int, output: JSON) -> None:
        executed[position] = output

    try:
        async with aclosing(run_concurrently(jobs, parent=run.handle, unfinished=keep_unfinished)) as items:
            async for item in items:
                if isinstance(item, NestedOutput):
                    executed[item.index] = item.output
                    leaf, position = plan.leaves[item.index], item.index
                    if item.output.get("status") == "COMPLETED":
                        done = leaf_view(leaf, ids[position], item.output)
                        yield record.add(events.step_completed(leaf.name, (index, position), ids[position], done))
                else:
                    yield item
    except BaseException:  # a group cut short keeps what its steps answered so far
        into.append(_join_group(run, plan, group_id, ids, executed))
        raise
    group = _join_group(run, plan, group_id, ids, executed)
    into.append(group)
    yield record.add(events.parallel_completed(plan.name, index, group_id, group["steps"]))
    for p, (leaf, output) in enumerate(zip(plan.leaves, executed, strict=True)):
        if output is not None:
            _check_completed(run, leaf, ids[p], (index, p), output)


def _join_group(
    run: StepsRun, plan: ParallelPlan, group_id: str, ids: Sequence[str], executed: Sequence[JSON | None]
) -> JSON:
    """The ``StepOutput`` of a parallel group; its steps' runs are kept on the record."""
    leaves = zip(plan.leaves, executed, strict=True)
    outputs = [_leaf_output(run, leaf, ids[p], output) for p, (leaf, output) in enumerate(leaves) if output is not None]
    group = step_output(
        step_name=plan.name, step_id=group_id, step_type="Parallel", content=join_outputs(outputs), steps=outputs
    )
    group["executor_name"] = plan.name
    group["success"] = all(output["success"] for output in outputs)
    return group


async def _run_condition(
    run: StepsRun, plan: ConditionPlan, text: str, index: int, into: list[JSON]
) -> AsyncGenerator[RunEvent, None]:
    condition_id, events, record = str(uuid.uuid4()), run.events, run.record
    holds = condition_holds(plan.condition, text)
    yield record.add(events.condition_started(plan.name, index, condition_id, holds))
    branch = plan.steps if holds else plan.else_steps
    inner: list[JSON] = []
    current = text
    for position, leaf in enumerate(branch):
        run.handle.check()
        async with aclosing(_run_leaf(run, leaf, current, (index, position), inner)) as steps:
            async for event in steps:
                yield event
        current = inner[-1].get("content") or ""
    into.append(
        step_output(step_name=plan.name, step_id=condition_id, step_type="Condition", content=current, steps=inner)
    )
    yield record.add(events.condition_completed(plan.name, index, condition_id, holds, inner))
