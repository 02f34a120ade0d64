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
leader's or a member's, at any depth) when the workflow run may (``StepsRun.may_pause``): its run is
kept, the step's ``StepRequirement`` (``runs.pausing``) is the record's ``paused_step``, and
``Paused`` ends the workflow run ``PAUSED``. ``go_on`` takes it up again: the step's agent or
team goes on with the decisions, its answer is the step's output, and the steps after it run.
A step of a condition's branch pauses the same way (the condition's state travels on its
requirement, ``condition``, and the branch goes on from it); steps inside a parallel group never
pause (their held calls are answered unmade).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from agentos_runtime import patterns
from agentos_runtime.config.components import StepCondition
from agentos_runtime.runs.events import RUN_ERROR, RunEvent
from agentos_runtime.runs.lifecycle import Paused
from agentos_runtime.runs.nesting import Executor, NestedJob, NestedOutput, run_concurrently, run_nested
from agentos_runtime.runs.pausing import PausedRun, step_requirement
from agentos_runtime.runs.registry import RunCancelled, RunHandle
from agentos_runtime.runs.requests import RunRequest
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


def paused_leaf(plans: Sequence[StepPlan], waiting: Mapping[str, Any]) -> LeafPlan | None:
    """The step the paused run waits on (its ``StepRequirement``: a top-level step, or one of a
    condition's branch, ``condition``), when the workflow still has it where it was, with the same
    name and run by the same agent or team; ``None`` otherwise."""
    container = waiting.get("condition")
    at = container.get("step_index") if isinstance(container, dict) else waiting.get("step_index")
    if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at < len(plans):
        return None
    plan = plans[at]
    if isinstance(container, dict):
        if not isinstance(plan, ConditionPlan) or plan.name != container.get("step_name"):
            return None
        branch = plan.steps if container.get("holds") is True else plan.else_steps
        position = container.get("position")
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < len(branch):
            return None
        plan = branch[position]
    if not isinstance(plan, LeafPlan) or plan.name != waiting.get("step_name"):
        return None
    if plan.kind != waiting.get("executor_type") or plan.executor.id != waiting.get("executor_id"):
        return None
    return plan


async def go_on(run: StepsRun, plans: Sequence[StepPlan], paused: PausedRun) -> AsyncGenerator[RunEvent, None]:
    """A paused workflow run going on: the paused step's agent or team with the decisions of
    ``paused`` (its own, its members' for a team), the rest of its condition's branch when it is
    in one, then the steps after it."""
    record = run.record
    waiting = record.paused_step
    plan = paused_leaf(plans, waiting) if waiting is not None else None
    if waiting is None or plan is None:
        raise ValueError("the step the paused run waits on is no step of the workflow any more")
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
    container = waiting.get("condition")
    index: StepIndex = waiting["step_index"] if not isinstance(container, dict) else tuple(waiting["step_index"])
    new = _job(run, plan, "", index, step_id, may_pause=True)
    job = replace(new, request=replace(new.request, run_id=run_id), paused=going_on)
    record.paused_step = None
    outputs: list[JSON] = []
    if isinstance(container, dict):
        condition = plans[container["step_index"]]
        assert isinstance(condition, ConditionPlan)
        resumed = _Resumed(job, step_id, list(container.get("steps") or ()), container["position"])
        steps = _run_condition(run, condition, "", container["step_index"], outputs, resumed=resumed, state=container)
    else:
        steps = _leaf_steps(run, plan, job, index, step_id, outputs, replacing=True)
    async with aclosing(steps) as running:
        try:
            async for event in running:
                yield event
        finally:
            record.step_results.extend(outputs)
    text = outputs[-1].get("content") or ""
    record.content = text
    top = container["step_index"] if isinstance(container, dict) else waiting["step_index"]
    async with aclosing(run_steps(run, plans, start=top + 1, text=text)) as rest:
        async for event in rest:
            yield event


@dataclass(frozen=True)
class _Resumed:
    """A condition's branch taken up again: the paused step's run going on at ``position``, after
    the ``done`` outputs of the steps before it."""

    job: NestedJob
    step_id: str
    done: list[JSON]
    position: int


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
            # A previous step that answered nothing hands on the workflow's input, as Agno does
            # (an empty user message is refused by some OpenAI-compatible servers).
            message=text or request.message,
            session_id=request.session_id,
            user_id=request.user_id,
            session_state=record.session_state,
            metadata=request.metadata,
            dependencies=request.dependencies,
            add_dependencies_to_context=request.add_dependencies_to_context,
            add_session_state_to_context=request.add_session_state_to_context,
            knowledge_filters=request.knowledge_filters,
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
                if item.output.get("status") == "PAUSED":
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
    run: StepsRun,
    plan: ConditionPlan,
    text: str,
    index: int,
    into: list[JSON],
    *,
    resumed: _Resumed | None = None,
    state: Mapping[str, Any] | None = None,
) -> AsyncGenerator[RunEvent, None]:
    """Test the condition and run its branch (``resumed``: a paused branch going on, its
    ``state`` the condition's as the run paused in it). A step of the branch that pauses leaves the
    condition's state on the paused step's requirement (``condition``) and raises ``Paused``."""
    events, record = run.events, run.record
    if resumed is None or state is None:
        condition_id = str(uuid.uuid4())
        holds = condition_holds(plan.condition, text)
        yield record.add(events.condition_started(plan.name, index, condition_id, holds))
        inner: list[JSON] = []
        start = 0
    else:
        condition_id, holds = str(state["step_id"]), state.get("holds") is True
        inner, start = resumed.done, resumed.position
    branch = plan.steps if holds else plan.else_steps
    current = inner[-1].get("content") or "" if inner else text
    try:
        for position in range(start, len(branch)):
            leaf = branch[position]
            run.handle.check()
            if resumed is not None and position == resumed.position:
                steps = _leaf_steps(run, leaf, resumed.job, (index, position), resumed.step_id, inner, replacing=True)
            else:
                steps = _run_leaf(run, leaf, current, (index, position), inner, may_pause=run.may_pause)
            try:
                async with aclosing(steps) as running:
                    async for event in running:
                        yield event
            except Paused:
                waiting = record.paused_step
                if waiting is not None:
                    waiting["condition"] = {
                        "step_id": condition_id,
                        "step_name": plan.name,
                        "step_index": index,
                        "holds": holds,
                        "position": position,
                        "steps": list(inner),
                    }
                raise
            current = inner[-1].get("content") or ""
    except Paused:
        raise  # the paused step's requirement holds the branch so far
    except BaseException:  # a branch cut short (a step failed, the run was cancelled) keeps what it answered
        into.append(_condition_output(plan, condition_id, current, inner))
        raise
    into.append(_condition_output(plan, condition_id, current, inner))
    yield record.add(events.condition_completed(plan.name, index, condition_id, holds, inner))


def _condition_output(plan: ConditionPlan, condition_id: str, content: str, inner: list[JSON]) -> JSON:
    """The ``StepOutput`` of a condition, its branch's step outputs inside."""
    output = step_output(step_name=plan.name, step_id=condition_id, step_type="Condition", content=content, steps=inner)
    output["success"] = all(step.get("success") is not False for step in inner)
    return output
