"""The leader's loop of one team run: ask the leader model, run the members it delegates to, repeat.

Each leader request is framed by ``TeamModelRequestStarted/Completed`` and its text arrives as
``TeamRunContent``. A delegation is a ``TeamToolCallStarted``/``TeamToolCallCompleted`` pair
around the member's run (whose own events come in between when the team forwards them); the
member's ``RunOutput`` joins the team run's ``member_responses`` and its answer is the tool
result the leader reads. The modes differ only in what follows:

* ``coordinate``: the leader is asked again until it answers without delegating;
* ``route``: the members' answers are the team's answer and end the run (a member that pauses:
  what its delegation answered, that it waits for a person, is streamed as the team's content;
  once it went on, the leader is asked again, as in ``coordinate`` mode and as Agno does);
* ``broadcast``: the runtime first puts the user's message to every member at once (one
  ``delegate_task_to_members`` call), then the leader writes the answer (with no tool to
  delegate).

The leader may also have tools of its own for the run (``LeaderRun.tools``: those of the
team's ``tools``, and the ``update_user_memory`` tool of agentic memory), run like an agent's
tools between requests. A call of one that ``requires_confirmation`` is held as an agent's is
(``runs.pausing``): the other calls of the answer run, then the loop raises ``Paused``; a team
run that cannot pause (without a database, or nested in a run that cannot) answers it unmade. A
member agent delegated to (``delegate_task_to_member``) may pause too when the team run may:
the leader reads that it waits for a person (Agno's words), and the team run pauses with the
member's requirements once the answer's calls are done. In a broadcast, every member agent
may pause the same way: the leader is asked only once no member waits, and the team run pauses
with the requirements of each paused member. ``lead_on`` takes a paused team run up again: the
leader's decided calls, then each paused member's run going on (its events forwarded as a
delegation's are); once none waits, the answers of those that went on (Agno's
``continued_result``) become the result of each delegation that waited (a broadcast's one call
too: only the members that went on are listed, as Agno does); then the leader's requests, in
every mode. A member team pauses as a
member agent does, on its leader's calls or its own members' (at any depth): the team run
pauses with it, and going on hands it the decisions on its runs, so it goes on the same way
inside.

The loop is bounded (``MAX_LEADER_REQUESTS``), and so is the work one team run starts: at
most ``MAX_MEMBER_RUNS`` member runs, counted over the nested teams it delegates to as well
(their requests carry the outermost run's ``MemberRuns``), so a leader answering with thousands
of delegations, or teams of teams multiplying them, cannot hold the server; a delegation past
it is an error result the leader reads. Waits on the model are interruptible on the team run's
handle, so a cancel through the registry ends them at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

from agentos_runtime.llm.ports import ChatModel, Completion, ToolCall
from agentos_runtime.runs.events import RunEvent
from agentos_runtime.runs.lifecycle import Paused
from agentos_runtime.runs.messages import chat_messages, new_message, to_chat
from agentos_runtime.runs.nesting import Executor, NestedJob, NestedOutput, run_concurrently, run_nested
from agentos_runtime.runs.pausing import (
    Decision,
    PausedRun,
    decided_within,
    held_calls,
    member_id_of,
    member_waiting,
    paused_members,
)
from agentos_runtime.runs.record import call_summary, stored_list, tool_execution
from agentos_runtime.runs.registry import RunHandle
from agentos_runtime.runs.requests import MemberRuns, RunRequest
from agentos_runtime.runs.team_events import TeamEventFactory
from agentos_runtime.runs.team_members import (
    broadcast_answer,
    check_delegation,
    continued_answer,
    continued_result,
    member_answer,
    routed_content,
    waits_for_person,
)
from agentos_runtime.runs.team_prompt import DELEGATE_TO_MEMBER, DELEGATE_TO_MEMBERS, delegate_to_member_schema
from agentos_runtime.runs.team_record import TeamRecord
from agentos_runtime.runs.turns import (
    MAX_TOOL_CALLS,
    arguments_or_empty,
    hold,
    limit_message,
    model_request,
    record_tool_message,
    resolve_held,
    unfinished,
)
from agentos_runtime.tools.executing import execute_tool_call, parse_arguments
from agentos_runtime.tools.tool import Tool

JSON = dict[str, Any]

# Most leader requests in one team run; the last one is made without tools, so the leader
# has to answer with what its members said (tool calls in that answer fail the run).
MAX_LEADER_REQUESTS = 16
# Most member runs one team run starts, those of the teams nested in it included.
MAX_MEMBER_RUNS = 64


@dataclass
class LeaderRun:
    """What the loop works on: the team run's record, events, handle and chat."""

    record: TeamRecord
    events: TeamEventFactory
    handle: RunHandle
    request: RunRequest
    chat: list[JSON]
    stream: bool
    member_history: Mapping[str, Sequence[JSON]] = field(default_factory=dict)
    """Each member's earlier runs in this session, for members that replay history."""
    turn_text: list[str] = field(default_factory=list)
    routed: list[str] = field(default_factory=list)
    """In route mode: the answers of the members the leader handed the request to."""
    tools: Mapping[str, Tool] = field(default_factory=dict)
    own_calls: int = 0
    """The leader's calls of its own tools so far, bounded as an agent's are (``MAX_TOOL_CALLS``)."""
    """The leader's own tools for this run, by name, beside delegation."""
    unended: list[RunEvent] = field(default_factory=list)
    """The cancelled events of forwarded member runs cut short, sent as the team run ends."""
    may_pause: bool = False
    """Whether a call needing a confirmation pauses the run (else it is answered, not made)."""


@dataclass(frozen=True)
class Delegation:
    """Who the leader may delegate to and how their runs are shown."""

    mode: str
    members: Mapping[str, Executor]
    """Members by id, in declaration order."""
    forward_member_events: bool


async def lead(run: LeaderRun, model: ChatModel, delegation: Delegation) -> AsyncGenerator[RunEvent, None]:
    """Yield the team run's events up to its answer; raises ``ModelProviderError``, ``RunCancelled``
    or ``Paused``."""
    budget = run.request.member_runs or MemberRuns(MAX_MEMBER_RUNS)
    if delegation.mode == "broadcast":
        async with aclosing(_broadcast(run, delegation, budget)) as steps:
            async for event in steps:
                yield event
        if paused_members(run.record.member_responses):
            raise Paused()  # the leader answers once every member has
    async with aclosing(_lead_requests(run, model, delegation, budget)) as requests:
        async for event in requests:
            yield event


async def lead_on(
    run: LeaderRun, model: ChatModel, delegation: Delegation, paused: PausedRun
) -> AsyncGenerator[RunEvent, None]:
    """A paused team run going on: the leader's decided calls (made or answered), then its paused
    members' runs, then its requests (unless a member paused again)."""
    async with aclosing(resolve_held(run, paused.decisions, run.tools)) as decided:
        async for event in decided:
            yield event
    on_members = paused.member_decisions
    going_on = [str(m["run_id"]) for m in paused_members(run.record.member_responses) if decided_within(m, on_members)]
    # What is left of the allowance: the member runs made before the pause (nested ones too) count.
    budget = run.request.member_runs or MemberRuns(MAX_MEMBER_RUNS - member_runs_made(run.record.member_responses))
    answers: list[str] = []
    for member_run_id in going_on:
        async with aclosing(_member_on(run, delegation, member_run_id, on_members, answers, budget)) as steps:
            async for event in steps:
                yield event
    if paused_members(run.record.member_responses):
        raise Paused()
    if answers:  # in every mode, route too: the leader reads the answers and is asked again
        _answer_waiting_delegations(run, continued_result(answers))
    async with aclosing(_lead_requests(run, model, delegation, budget)) as requests:
        async for event in requests:
            yield event


async def _member_on(
    run: LeaderRun,
    delegation: Delegation,
    member_run_id: str,
    decided: Mapping[str, Mapping[str, Decision]],
    answers: list[str],
    budget: MemberRuns,
) -> AsyncGenerator[RunEvent, None]:
    """A paused member's run going on inside the team run with the decisions on its calls (a
    member team's: on its leader's, and on its own paused members' runs, ``decided`` by run id);
    its output replaces the paused one, and its answer joins ``answers`` unless it paused again."""
    record = run.record
    found = [i for i, m in enumerate(record.member_responses) if m.get("run_id") == member_run_id]
    if not found:
        raise ValueError(f"the paused run holds no member run '{member_run_id}'")
    index = found[0]
    output = record.member_responses[index]
    member = delegation.members.get(str(member_id_of(output)))
    if member is None:
        raise ValueError(f"member '{member_id_of(output)}' of the paused run is no longer a member of the team")
    going_on = PausedRun(
        output,
        decided.get(member_run_id, {}),
        session_id=run.request.session_id,
        user_id=record.user_id,
        session_state=record.session_state,
        member_decisions=decided,
    )
    new = _member_job(run, member, "", delegation, budget)  # the run goes on from its stored record
    job = replace(new, request=replace(new.request, run_id=member_run_id), paused=going_on, may_pause=True)

    def keep(ended: JSON) -> None:  # a member cut short keeps its partial answer
        record.member_responses[index] = ended

    async with aclosing(run_nested(job, parent=run.handle, unfinished=keep)) as items:
        async for item in items:
            if isinstance(item, NestedOutput):
                record.member_responses[index] = item.output
            else:
                yield item
    ended = record.member_responses[index]
    if ended.get("status") != "PAUSED":  # its delegation's result still says it waits
        answers.append(continued_answer(member.name, ended))


def _answer_waiting_delegations(run: LeaderRun, result: str) -> None:
    """Give each delegation whose result says a member waits for a person ``result`` (as Agno
    does once the paused members went on: one result, the same for each; a broadcast's call too,
    whose result then lists only the members that went on, not those that had answered)."""
    for tool in list(run.record.tools):
        delegating = tool.get("tool_name") in (DELEGATE_TO_MEMBER, DELEGATE_TO_MEMBERS)
        if delegating and waits_for_person(tool.get("result")):
            _answer_call(run, tool.get("tool_call_id"), result, error=False)


def _answer_call(run: LeaderRun, tool_call_id: Any, result: str, *, error: bool) -> None:
    """Give the leader's call ``tool_call_id`` a new result, and whether it is an error (in the
    record's tools and the tool message the leader reads)."""
    if tool_call_id is None:
        return
    record = run.record
    for tool in record.tools:
        if tool.get("tool_call_id") == tool_call_id:
            tool["result"], tool["tool_call_error"] = result, error
    for message in record.messages:
        if message.get("role") == "tool" and message.get("tool_call_id") == tool_call_id:
            message["content"], message["tool_call_error"] = result, error
    run.chat[:] = chat_messages(record.messages)


async def _lead_requests(
    run: LeaderRun, model: ChatModel, delegation: Delegation, budget: MemberRuns
) -> AsyncGenerator[RunEvent, None]:
    own = [tool.schema() for tool in run.tools.values()]
    schemas = own if delegation.mode == "broadcast" else [delegate_to_member_schema(), *own]
    for number in range(1, MAX_LEADER_REQUESTS + 1):
        tools = schemas if schemas and number < MAX_LEADER_REQUESTS else None
        completion: Completion | None = None
        async with aclosing(model_request(run, model, tools)) as answer:
            async for item in answer:
                if isinstance(item, Completion):
                    completion = item
                else:
                    yield item
        if completion is None or not completion.tool_calls:
            return
        if tools is None:
            _refuse_calls(run, completion)
            if number == MAX_LEADER_REQUESTS:
                raise unfinished(model.id, MAX_LEADER_REQUESTS)
            return
        for call in completion.tool_calls:
            async with aclosing(_delegate(run, call, delegation, budget)) as steps:
                async for event in steps:
                    yield event
        if held_calls(run.record.tools) or paused_members(run.record.member_responses):
            raise Paused()
        if run.routed:
            yield _routed_answer(run)
            return


def member_runs_made(responses: Sequence[Any]) -> int:
    """Pure: the member runs a stored team run holds, those of its nested teams included."""
    made = 0
    for response in responses:
        if isinstance(response, Mapping):
            made += 1 + member_runs_made(stored_list(response, "member_responses"))
    return made


def _routed_answer(run: LeaderRun) -> RunEvent:
    """In route mode: the members' answers become the team's, as its content."""
    answer_text = ("\n\n" if run.record.text else "") + "\n\n".join(run.routed)
    run.record.mark_first_token()
    run.record.text.append(answer_text)
    return run.events.content(answer_text)


def _routed_waiting(run: LeaderRun, waiting: str) -> RunEvent:
    """In route mode: a member's run paused, and what its delegation answered (that the member
    waits for a person) is the team's content, added to what the leader wrote, as Agno shows it."""
    run.record.mark_first_token()
    run.record.text.append(waiting)
    return run.events.content(waiting)


def _refuse_calls(run: LeaderRun, completion: Completion) -> None:
    """Answer tool calls made where no tools were offered, so the chat stays well-formed."""
    for call in completion.tool_calls:
        record_tool_message(run, call, {}, f"Tool call limit reached: {call.name} was not run.", error=True)


def _member_job(
    run: LeaderRun,
    member: Executor,
    task: str,
    delegation: Delegation,
    budget: MemberRuns | None,
    *,
    may_pause: bool = False,
) -> NestedJob:
    request = run.request
    parent = {"parent_run_id": run.record.run_id}
    return NestedJob(
        executor=member,
        request=RunRequest(
            message=task,
            session_id=request.session_id,
            user_id=request.user_id,
            session_state=run.record.session_state,
            metadata=request.metadata,
            dependencies=request.dependencies,
            add_dependencies_to_context=request.add_dependencies_to_context,
            add_session_state_to_context=request.add_session_state_to_context,
            knowledge_filters=request.knowledge_filters,
            member_runs=budget,
        ),
        forward=parent if run.stream and delegation.forward_member_events else None,
        output_fields=parent,
        history=run.member_history.get(member.id, ()),
        unended=run.unended,
        may_pause=may_pause,
    )


async def _use_own_tool(run: LeaderRun, call: ToolCall) -> AsyncGenerator[RunEvent, None]:
    """Run one of the leader's own tools, or hold the call for a confirmation; its failures are
    results the leader reads."""
    run.handle.check()
    if run.tools[call.name].requires_confirmation:
        hold(run, call, may_pause=run.may_pause)
        return
    started_at, started = time.time(), time.perf_counter()
    arguments = arguments_or_empty(call)
    tool = tool_execution(tool_call_id=call.id, tool_name=call.name, tool_args=arguments, created_at=int(started_at))
    yield run.record.add(run.events.tool_call_started(tool))
    run.handle.interruptible = True
    try:
        outcome = await execute_tool_call(call, run.tools)
    finally:
        run.handle.interruptible = False
    result = (outcome.result, outcome.error, None)
    yield _tool_completed(run, call, outcome.arguments, result, started_at, started)


async def _delegate(
    run: LeaderRun, call: ToolCall, delegation: Delegation, budget: MemberRuns
) -> AsyncGenerator[RunEvent, None]:
    """Run the member a ``delegate_task_to_member`` call names, or one of the leader's own tools;
    any other call is an error result."""
    if call.name in run.tools:
        if run.own_calls >= MAX_TOOL_CALLS:  # one answer of thousands of calls would run them all
            record_tool_message(run, call, {}, limit_message(call.name), error=True)
            return
        run.own_calls += 1
        async with aclosing(_use_own_tool(run, call)) as steps:
            async for event in steps:
                yield event
        return
    run.handle.check()
    record, events = run.record, run.events
    started_at, started = time.time(), time.perf_counter()
    delegating = call.name == DELEGATE_TO_MEMBER and delegation.mode != "broadcast"
    try:
        arguments = parse_arguments(call.arguments)
        problem = None if delegating else f"Error: unknown tool '{call.name}'."
    except ValueError as invalid:
        arguments, problem = {}, f"Error: the arguments of {call.name} are not a valid JSON object: {invalid}"
    problem = problem or check_delegation(arguments, list(delegation.members))
    if problem is None and not budget.take():
        problem = (
            f"Error: not run: a team run starts at most {MAX_MEMBER_RUNS} member runs, its nested teams' "
            "included. Answer with what the members said."
        )
    tool = tool_execution(tool_call_id=call.id, tool_name=call.name, tool_args=arguments, created_at=int(started_at))
    yield record.add(events.tool_call_started(tool))
    result, error, child_run_id = problem or "", problem is not None, None
    if problem is None:
        member = delegation.members[arguments["member_id"]]
        job = _member_job(run, member, arguments["task"], delegation, budget, may_pause=run.may_pause)
        kept = record.member_responses.append  # a member cut short keeps its partial answer
        waiting, answered = False, ""
        async with aclosing(run_nested(job, parent=run.handle, unfinished=kept)) as items:
            async for item in items:
                if isinstance(item, NestedOutput):
                    record.member_responses.append(item.output)
                    answered = routed_content(item.output)
                    waiting = item.output.get("status") == "PAUSED"
                    result, error = (member_waiting(member.name), False) if waiting else member_answer(item.output)
                    child_run_id = item.output.get("run_id")
                else:
                    yield item
        if delegation.mode == "route" and not error and not waiting:
            run.routed.append(answered)  # the member's answer as it wrote it, not the leader's tool result
        if delegation.mode == "route" and waiting:
            yield _routed_waiting(run, result)
    yield _tool_completed(run, call, arguments, (result, error, child_run_id), started_at, started)


def _tool_completed(
    run: LeaderRun, call: ToolCall, arguments: JSON, outcome: tuple[str, bool, Any], started_at: float, began: float
) -> RunEvent:
    result, error, child_run_id = outcome
    duration = time.perf_counter() - began
    timing = {"start_time": started_at, "end_time": started_at + duration, "duration": duration}
    done = tool_execution(
        tool_call_id=call.id,
        tool_name=call.name,
        tool_args=arguments,
        created_at=int(started_at),
        error=error,
        result=result,
        metrics=timing,
    )
    done["child_run_id"] = child_run_id
    run.record.tools.append(done)
    record_tool_message(run, call, arguments, result, error=error)
    return run.record.add(run.events.tool_call_completed(done, call_summary(call.name, arguments, duration)))


async def _broadcast(run: LeaderRun, delegation: Delegation, budget: MemberRuns) -> AsyncGenerator[RunEvent, None]:
    """Put the user's message to every member at once, as one ``delegate_task_to_members`` call
    (to as many as ``budget`` still allows, in member order)."""
    run.handle.check()
    task = run.request.message
    call = ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=DELEGATE_TO_MEMBERS, arguments=json.dumps({"task": task}))
    message = new_message("assistant", None, created_at=int(time.time()), tool_calls=[call.to_openai()])
    run.record.messages.append(message)
    run.chat.append(to_chat(message))
    started_at, started = time.time(), time.perf_counter()
    tool = tool_execution(
        tool_call_id=call.id, tool_name=call.name, tool_args={"task": task}, created_at=int(started_at)
    )
    yield run.record.add(run.events.tool_call_started(tool))
    members = list(delegation.members.values())
    outputs: list[JSON | None] = [None] * len(members)
    allowed = [member for member in members if budget.take()]
    jobs = [_member_job(run, member, task, delegation, budget, may_pause=run.may_pause) for member in allowed]

    def keep_unfinished(index: int, output: JSON) -> None:  # a member cut short keeps its partial answer
        outputs[index] = output

    try:
        async with aclosing(run_concurrently(jobs, parent=run.handle, unfinished=keep_unfinished)) as items:
            async for item in items:
                if isinstance(item, NestedOutput):
                    outputs[item.index] = item.output
                else:
                    yield item
    finally:  # in member order, whatever finished, even when the run stops here
        run.record.member_responses.extend(output for output in outputs if output is not None)
    result, failed = broadcast_answer(members, [output for output in outputs if output is not None])
    yield _tool_completed(run, call, {"task": task}, (result, failed, None), started_at, started)
