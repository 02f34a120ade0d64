"""A run that waits for a person: tool calls held for confirmation, and the decisions that end the wait.

A tool whose config sets ``requires_confirmation`` is not called when the model asks for it.
The other calls of the same model answer run as usual; the held ones are kept on the run as
Agno's ``ToolExecution`` dicts with ``requires_confirmation: true`` and ``confirmed: null``,
and the run ends ``PAUSED`` with ``RunPaused`` (its ``tools`` and ``requirements``), stored
with every message so far, so any replica can go on with it. Its content, unless the model wrote
something, is Agno's words (``agent_paused_content``, ``team_paused_content``).

A team run pauses the same way on its leader's own calls, and with each member (agent or team,
in every mode) whose run paused (``member_requirements``); ``POST /teams/{id}/runs/{run_id}/continue`` sends Agno's
``RunRequirement`` dicts back (``read_requirements``).
A workflow run pauses with a top-level step's agent (``step_requirement``: Agno's
``StepRequirement`` of the step); ``POST /workflows/{id}/runs/{run_id}/continue`` sends it back
with its ``executor_requirements`` decided (``read_step_requirements``).

``POST /agents/{id}/runs/{run_id}/continue`` sends the run's tools back (form ``tools``, the
JSON list of those dicts) with ``confirmed`` set on the held ones. ``read_decisions`` holds that
list to the paused run: every held call decided (``true`` or ``false``), no call named that the
run did not make, each at most once, and its ``tool_args``, when sent, those the model asked for: a person confirms the call
the model made, so a client cannot change what runs (Agno runs the arguments the client sends
back). A confirmed call runs with the model's own arguments; a rejected one gives the model
``confirmation_note`` or Agno's "Function call was rejected by the user" as its result.

Everything here is pure: the loop (``runs.turns``) and the continued run (``runs.continuing``)
do the running.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentos_runtime.errors import BadRequest, Conflict
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.runs.record import stored_list, tool_execution
from agentos_runtime.runs.requests import RunOptions
from agentos_runtime.storable import printable

JSON = dict[str, Any]

AGENT_PAUSED_CONTENT = "I have tools to execute, but I need confirmation."
"""A paused agent run's content when its model wrote nothing, as Agno words it for calls waiting
for a confirmation."""
TEAM_PAUSED = "Team run paused."
REJECTED_RESULT = "Function call was rejected by the user"
"""What the model reads for a rejected call without a ``confirmation_note``."""
REJECTED_NOTE = "Tool call was rejected"
"""The ``confirmation_note`` kept on a rejected call that came without one."""
# The longest confirmation_note kept: the model reads it as the call's result.
MAX_NOTE_CHARS = 10_000


def unconfirmable_result(tool_name: str) -> str:
    """The result of a call needing a confirmation in a run that cannot pause (inside a workflow's
    parallel group, or stored nowhere: no database): the call is not made."""
    return (
        f"Tool call {tool_name} needs a person's confirmation, which this run cannot ask for "
        "(it runs inside a workflow's parallel group, or without a database): not executed. "
        "Don't try to execute it again."
    )


@dataclass(frozen=True)
class PausedRun:
    """A stored ``PAUSED`` run and the decisions that let it go on."""

    run: JSON
    decisions: Mapping[str, Decision]
    """On the run's own held calls, by call id."""
    session_id: str
    user_id: str | None
    session_state: JSON | None = None
    """The session's state, read with the run."""
    member_decisions: Mapping[str, Mapping[str, Decision]] = field(default_factory=dict)
    """A team run's: on the held calls of its paused members' runs, by member run id (those of
    the runs nested in a paused member team too: run ids are unique, so one map goes down)."""
    options: RunOptions = field(default_factory=RunOptions)
    """What the continue sends again for the rest of the run (``RunOptions``)."""


def held_call(*, tool_call_id: str, tool_name: str, tool_args: JSON, created_at: int) -> JSON:
    """The ``ToolExecution`` of a call waiting for a confirmation."""
    held = tool_execution(tool_call_id=tool_call_id, tool_name=tool_name, tool_args=tool_args, created_at=created_at)
    held["requires_confirmation"] = True
    return held


def is_held(tool: Mapping[str, Any]) -> bool:
    """Whether a run's ``ToolExecution`` still waits for its confirmation."""
    return tool.get("requires_confirmation") is True and tool.get("confirmed") is None


def held_calls(tools: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The calls of a run still waiting for a confirmation, in the order the model made them."""
    return [tool for tool in tools if is_held(tool)]


def paused_members(member_responses: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The runs among a team run's ``member_responses`` that wait for decisions (``PAUSED``)."""
    return [m for m in member_responses if isinstance(m, dict) and m.get("status") == "PAUSED" and m.get("run_id")]


def check_waiting(run_id: str, waiting: Mapping[str | None, Sequence[Mapping[str, Any]]]) -> None:
    """Refuse with ``Conflict`` a stored ``PAUSED`` run that has nothing left to decide.

    ``waiting`` gives the tools of each run that waits, as ``read_requirements`` takes them
    (the run's own under ``None``, a paused member's under its run id). A member run must hold
    a call waiting for a confirmation, and so must at least one of them: otherwise the stored
    run no longer says what it waits on (it was changed in the database), and going on would
    ask its model again with no decision made.
    """
    for key, tools in waiting.items():
        if key is not None and not held_calls(tools):
            raise Conflict(
                f"run '{run_id}' waits on member run '{key}', which holds no call waiting for a confirmation: "
                "it cannot go on"
            )
    if not any(held_calls(tools) for tools in waiting.values()):
        raise Conflict(f"run '{run_id}' is stored PAUSED but holds no call waiting for a confirmation: it cannot go on")


def member_requirements(member_responses: Iterable[Any]) -> list[JSON]:
    """The requirements of a team run's paused members, each saying whose it is (Agno's
    ``member_agent_id``, ``member_agent_name``, ``member_run_id``), for the team run's own.

    A paused member team's requirements come up as Agno lifts them: those of its own members keep
    the marks naming the agent (or team) deeper down whose call it is; its leader's own get the
    member team's."""
    found: list[JSON] = []
    for member in paused_members(member_responses):
        mark = {
            "member_agent_id": member_id_of(member),
            "member_agent_name": member.get("agent_name") or member.get("team_name"),
            "member_run_id": member["run_id"],
        }
        for requirement in member.get("requirements") or ():
            if isinstance(requirement, dict):
                deeper = requirement.get("member_run_id") is not None
                found.append(dict(requirement) if deeper else {**requirement, **mark})
    return found


def agent_paused_content(_requirements: Sequence[Mapping[str, Any]]) -> str:
    """A paused agent run's content when its model wrote nothing (the same for any held call)."""
    return AGENT_PAUSED_CONTENT


def team_paused_content(requirements: Sequence[Mapping[str, Any]]) -> str:
    """A paused team run's content when its leader wrote nothing, in Agno's words: a line for each
    of its ``requirements`` still waiting for a confirmation, naming whose call it is (the member
    the requirement names, ``team`` for the leader's own) and the tool."""
    lines = []
    for requirement in requirements:
        tool = requirement.get("tool_execution")
        if requirement.get("confirmation") is None and isinstance(tool, dict) and is_held(tool):
            whose = requirement.get("member_agent_name") or "team"
            lines.append(f"- {whose}: {tool.get('tool_name') or 'unknown'} requires confirmation")
    if not lines:
        return TEAM_PAUSED
    return f"{TEAM_PAUSED} The following require input:\n" + "\n".join(lines)


def routed_paused_content(member_responses: Iterable[Any]) -> str | None:
    """A paused route-mode team run's content when its leader wrote nothing: what each paused
    member's delegation answered (``member_waiting``), run together as Agno shows a routed
    delegation's result as the team's content; ``None`` when no member waits (the leader's own
    call paused the run)."""
    waiting = [member_waiting(str(m.get("agent_name") or m.get("team_name"))) for m in paused_members(member_responses)]
    return "".join(waiting) if waiting else None


def member_id_of(output: Mapping[str, Any]) -> Any:
    """The id of the member whose run ``output`` is: its ``agent_id``, or a member team's ``team_id``."""
    return output.get("agent_id") or output.get("team_id")


def decided_within(output: Mapping[str, Any], decided_runs: Collection[str]) -> bool:
    """Whether ``decided_runs`` (run ids) name the paused run ``output`` or a paused run nested in it."""
    if output.get("run_id") in decided_runs:
        return True
    return any(
        decided_within(member, decided_runs) for member in paused_members(stored_list(output, "member_responses"))
    )


def member_waiting(member_name: str) -> str:
    """The result a delegation gives the leader while its member waits for a person (Agno's words)."""
    return f"Member '{member_name}' requires human input before continuing."


def step_requirement(
    *,
    step_id: str,
    step_name: str,
    step_index: int | tuple[int, int],
    executor_type: str,
    executor_run: Mapping[str, Any],
) -> JSON:
    """Agno's ``StepRequirement`` dict of a workflow step whose agent or team paused: its
    requirements, and whose run they are (``executor_*``); a step of a condition's branch has
    ``[condition index, position]`` for ``step_index``."""
    return {
        "step_id": step_id,
        "step_name": step_name,
        "step_index": step_index if isinstance(step_index, int) else list(step_index),
        "step_type": "Step",
        "requires_confirmation": False,
        "requires_user_input": False,
        "requires_route_selection": False,
        "requires_output_review": False,
        "requires_executor_input": True,
        "executor_requirements": stored_list(executor_run, "requirements"),
        "executor_id": executor_run.get("agent_id") or executor_run.get("team_id"),
        "executor_name": executor_run.get("agent_name") or executor_run.get("team_name"),
        "executor_run_id": executor_run.get("run_id"),
        "executor_type": executor_type,
        "executor_session_id": executor_run.get("session_id"),
    }


def paused_at(step: Mapping[str, Any]) -> tuple[Any, Any]:
    """The top-level step a paused workflow run waits in (its index and name: the condition's,
    for a step of a condition's branch), as Agno's ``paused_step_index`` / ``paused_step_name``."""
    container = step.get("condition")
    if isinstance(container, dict):
        return container.get("step_index"), container.get("step_name")
    return step.get("step_index"), step.get("step_name")


def read_step_requirements(
    sent: Any, waiting: Mapping[str, Any], runs: Mapping[str | None, Sequence[Mapping[str, Any]]]
) -> dict[str | None, dict[str, Decision]]:
    """The decisions ``sent`` (the decoded ``step_requirements`` form field of a workflow's
    continue: Agno's ``StepRequirement`` dicts) makes on the held calls of the paused step's
    agent or team, by run as ``read_requirements`` gives them (``runs``: the tools of each run
    that waits, the step's executor's under ``None``, a team's paused members' under their run
    ids); ``waiting`` is the paused step's own ``StepRequirement``.

    The entry for that step (same ``step_id``) carries ``executor_requirements``, read as a
    team's ``requirements`` are (``read_requirements``). Raises ``BadRequest`` naming the entry:
    not a list of objects, no entry for the step, one for a step that does not wait, or
    ``executor_requirements`` that do not decide every held call.
    """
    field = "step_requirements"
    if not isinstance(sent, list):
        raise BadRequest(f"Invalid {field} parameter: expected a JSON list of the paused run's step requirements")
    step_id = waiting.get("step_id")
    chosen: Any = None
    for index, entry in enumerate(sent):
        if not isinstance(entry, dict):
            raise BadRequest(f"Invalid {field} parameter: entry {index} is not a JSON object")
        if entry.get("step_id") != step_id:
            named = entry.get("step_id")
            shown = f"'{printable(named)[:200]}'" if isinstance(named, str) else repr(named)[:200]
            raise BadRequest(
                f"Invalid {field} parameter: entry {index} names step_id {shown}, which is not the step the run "
                f"waits on ('{step_id}', {waiting.get('step_name')!r})"
            )
        if chosen is not None:
            raise BadRequest(f"Invalid {field} parameter: step '{step_id}' is decided twice")
        chosen = entry
    if chosen is None:
        raise BadRequest(
            f"Invalid {field} parameter: step '{step_id}' ({waiting.get('step_name')!r}) waits for decisions: send "
            "its step requirement back with its executor_requirements confirmed or rejected"
        )
    executor = chosen.get("executor_requirements")
    return read_requirements(
        executor,
        runs,
        issued=waiting.get("executor_requirements"),
        where=f"Invalid {field} parameter: executor_requirements",
    )


def requirements(tools: Iterable[Mapping[str, Any]]) -> list[JSON]:
    """Agno's ``RunRequirement`` dicts for the held calls (the ``requirements`` of ``RunPaused``)."""
    now = datetime.now(UTC).isoformat()
    return [{"id": str(uuid.uuid4()), "created_at": now, "tool_execution": dict(tool)} for tool in held_calls(tools)]


@dataclass(frozen=True)
class Decision:
    """What a person decided about one held call."""

    tool_call_id: str
    confirmed: bool
    note: str | None = None


def read_decisions(sent: Any, tools: Sequence[Mapping[str, Any]], *, field: str = "tools") -> dict[str, Decision]:
    """The decisions ``sent`` (the decoded ``tools`` form field) makes on the held calls among the
    run's ``tools``, by call id.

    Agno's clients send back the run's whole ``tools`` list: entries for calls that already ran
    are taken as they are. Raises ``BadRequest`` naming the entry or the call: not a list of
    objects, an entry naming no call of the run or deciding one twice, ``confirmed`` not
    ``true``/``false``, ``tool_args`` other than the model's, a ``confirmation_note`` not text,
    or a held call left undecided. ``field`` is the form field named in those messages.
    """
    where = f"Invalid {field} parameter"
    if not isinstance(sent, list):
        raise BadRequest(f"{where}: expected a JSON list of the paused run's tool executions")
    for index, entry in enumerate(sent):
        if not isinstance(entry, dict):
            raise BadRequest(f"{where}: entry {index} is not a JSON object")
    return _decide(list(enumerate(sent)), tools, where)


def read_requirements(
    sent: Any,
    waiting: Mapping[str | None, Sequence[Mapping[str, Any]]],
    *,
    issued: object = None,
    where: str = "Invalid requirements parameter",
) -> dict[str | None, dict[str, Decision]]:
    """The decisions ``sent`` (the decoded ``requirements`` form field of a team's continue: Agno's
    ``RunRequirement`` dicts) makes, by whose calls they decide: ``None`` for the team leader's
    own, a member's ``member_run_id`` for that member's paused run.

    ``waiting`` gives the tools of each run that waits (the leader's own under ``None``);
    ``issued`` the requirements the paused run gave (its stored ``requirements``, as stored: what
    is not a list counts as none). A
    requirement decides the call in its ``tool_execution``: ``confirmed`` there, or the
    requirement's ``confirmation`` (Agno's ``RunRequirement.confirm()`` sets both), with its
    ``confirmation_note``. One without a ``member_run_id`` (``null`` or left out) decides the call
    of the run (the leader's or a member's) that waits on it (``whose_call``), as Agno binds a
    requirement to the one it issued. Raises ``BadRequest`` naming the entry: not a list
    of objects, an entry without a ``tool_execution`` object, naming a member run that does not
    wait or a call no run waits on, and everything ``read_decisions`` refuses; every run that
    waits must have all its calls decided.
    """
    if not isinstance(sent, list):
        raise BadRequest(f"{where}: expected a JSON list of the paused run's requirements")
    given = issued if isinstance(issued, list) else ()
    grouped: dict[str | None, list[tuple[int, JSON]]] = {}
    for index, entry in enumerate(sent):
        if not isinstance(entry, dict):
            raise BadRequest(f"{where}: entry {index} is not a JSON object")
        tool = entry.get("tool_execution")
        if not isinstance(tool, dict):
            raise BadRequest(f"{where}: entry {index} has no tool_execution object")
        member_run_id = entry.get("member_run_id")
        if member_run_id is None:
            member_run_id = whose_call(index, tool.get("tool_call_id"), entry.get("id"), waiting, given, where)
        if not isinstance(member_run_id, str | None) or member_run_id not in waiting:
            shown = (
                f"'{printable(member_run_id)[:200]}'" if isinstance(member_run_id, str) else repr(member_run_id)[:200]
            )
            raise BadRequest(
                f"{where}: entry {index} names member_run_id {shown}, which is no member run this run waits on"
            )
        decided_tool = dict(tool)
        if not isinstance(decided_tool.get("confirmed"), bool) and isinstance(entry.get("confirmation"), bool):
            decided_tool["confirmed"] = entry["confirmation"]
        if decided_tool.get("confirmation_note") is None and entry.get("confirmation_note") is not None:
            decided_tool["confirmation_note"] = entry["confirmation_note"]
        grouped.setdefault(member_run_id, []).append((index, decided_tool))
    return {
        key: _decide(grouped.get(key, []), tools, where, whose=None if key is None else f"member run '{key}'")
        for key, tools in waiting.items()
    }


def whose_call(
    index: int,
    call_id: Any,
    requirement_id: Any,
    waiting: Mapping[str | None, Sequence[Mapping[str, Any]]],
    issued: Sequence[Any],
    where: str,
) -> str | None:
    """Whose call entry ``index`` of a team's ``requirements``, sent without a ``member_run_id``,
    decides: that of the one run (the leader's, ``None``, or a member's) waiting on a call of
    ``call_id``, as Agno binds a sent requirement to the one it issued (by its call). Where several
    do (servers that number calls per answer give two runs' calls one id), the one whose issued
    requirement has the entry's ``id`` (``requirement_id``), as Agno matches by id first; still
    several, the leader's when it is one of them (the leader's requirements are issued without a
    ``member_run_id``, its members' with theirs). A call of the leader's that already ran (its
    delegation, say) is the leader's only when no run waits on a call of that id: a member's
    waiting call of the same id comes first. Raises ``BadRequest`` when none waits on the call
    (saying what the run waits on) or it stays unclear which member run's it is."""
    holders = [key for key, tools in waiting.items() if isinstance(call_id, str) and call_id in _held_ids(tools)]
    if len(holders) > 1 and isinstance(requirement_id, str):
        named = {
            r.get("member_run_id")
            for r in issued
            if isinstance(r, dict)
            and r.get("id") == requirement_id
            and _call_id_of(r) == call_id
            and isinstance(r.get("member_run_id"), str | None)
        }
        holders = [key for key in holders if key in named] or holders
    if len(holders) > 1 and None in holders:
        return None
    if len(holders) == 1:
        return holders[0]
    shown = _shown_call(call_id)
    if holders:
        runs = " and ".join(f"'{key}'" for key in holders)
        raise BadRequest(
            f"{where}: entry {index} has no member_run_id and names tool_call_id {shown}, which member runs "
            f"{runs} each wait on: send the requirement's member_run_id (or its id) as the paused run gave it"
        )
    if isinstance(call_id, str) and call_id in {str(tool.get("tool_call_id")) for tool in waiting.get(None, ())}:
        return None  # a call of the leader's that already ran, sent back with the rest
    raise BadRequest(
        f"{where}: entry {index} names tool_call_id {shown}, which is no tool call this run waits on "
        f"(it waits on: {waited_on(waiting)})"
    )


def waited_on(waiting: Mapping[str | None, Sequence[Mapping[str, Any]]]) -> str:
    """The calls the runs of ``waiting`` wait on, each with whose they are, for an error text."""
    calls = [
        f"{call_id}" + (" of the team's leader" if key is None else f" of member run '{key}'")
        for key, tools in waiting.items()
        for call_id in _held_ids(tools)
    ]
    return ", ".join(calls) or "no call"


def _shown_call(call_id: Any) -> str:
    """A sent ``tool_call_id`` as an error text shows it: text as it is (``''`` when empty, which
    would read as nothing), anything else as its literal, each cut to 200 characters."""
    if isinstance(call_id, str):
        return printable(call_id)[:200] or "''"
    return repr(call_id)[:200]


def _held_ids(tools: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(tool["tool_call_id"]) for tool in held_calls(tools)]


def _call_id_of(requirement: Mapping[str, Any]) -> Any:
    tool = requirement.get("tool_execution")
    return tool.get("tool_call_id") if isinstance(tool, dict) else None


def _decide(
    sent: Sequence[tuple[int, JSON]], tools: Sequence[Mapping[str, Any]], where: str, *, whose: str | None = None
) -> dict[str, Decision]:
    """The decisions of ``sent`` (entries by their index) on the held calls among ``tools``, those
    of one run: ``whose``, named in the messages (a team's member run, where two runs may hold
    calls of one id), else "this run"."""
    of = f" of {whose}" if whose is not None else ""
    held = {str(tool["tool_call_id"]): tool for tool in held_calls(tools)}
    known = {str(tool.get("tool_call_id")) for tool in tools}
    settled = {str(tool.get("tool_call_id")) for tool in tools if not is_held(tool)}
    decisions: dict[str, Decision] = {}
    for index, entry in sent:
        call_id = entry.get("tool_call_id")
        if not isinstance(call_id, str) or call_id not in known:
            shown = _shown_call(call_id)
            raise BadRequest(
                f"{where}: entry {index} names tool_call_id {shown}, which is no tool call "
                f"of {whose or 'this run'} (it waits on: {', '.join(held) or 'none of its calls'})"
            )
        if call_id not in held or (call_id in settled and not _deciding(entry)):
            continue  # a call that already ran, sent back with the rest of the run's tools
        if call_id in decisions:
            raise BadRequest(f"{where}: tool call {call_id}{of} is decided twice")
        decisions[call_id] = _decision(call_id, entry, held[call_id], where)
    undecided = [call_id for call_id in held if call_id not in decisions]
    if undecided:
        raise BadRequest(
            f"{where}: tool call {', '.join(undecided)}{of} waits for a decision: send it back with confirmed true or "
            "false"
        )
    return decisions


def _deciding(entry: Mapping[str, Any]) -> bool:
    """Whether an entry naming an id the model gave both a held call and an earlier one (some
    servers number calls per answer) decides the held call: it still says it waits
    (``requires_confirmation: true``), or, sent without that field, it says ``confirmed``."""
    if "requires_confirmation" in entry:
        return entry["requires_confirmation"] is True
    return isinstance(entry.get("confirmed"), bool)


def _decision(call_id: str, entry: Mapping[str, Any], held: Mapping[str, Any], where: str) -> Decision:
    confirmed = entry.get("confirmed")
    if not isinstance(confirmed, bool):
        raise BadRequest(f"{where}: tool call {call_id} needs confirmed true or false")
    if "tool_args" in entry and entry["tool_args"] is not None and entry["tool_args"] != held.get("tool_args"):
        raise BadRequest(
            f"{where}: the tool_args of tool call {call_id} differ from the model's: "
            "a confirmation runs the call as the model made it; send its tool_args unchanged (or none)"
        )
    note = entry.get("confirmation_note")
    if note is not None and not isinstance(note, str):
        raise BadRequest(f"{where}: the confirmation_note of tool call {call_id} must be text")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise BadRequest(
            f"{where}: the confirmation_note of tool call {call_id} is longer than {MAX_NOTE_CHARS} characters"
        )
    return Decision(call_id, confirmed, note or None)


def decided(held: Mapping[str, Any], decision: Decision) -> JSON:
    """The held call's ``ToolExecution`` once decided (before a confirmed one runs)."""
    tool = dict(held)
    tool["requires_confirmation"] = False
    tool["confirmed"] = decision.confirmed
    if not decision.confirmed:
        tool["confirmation_note"] = decision.note or REJECTED_NOTE
        tool["tool_call_error"] = True
    elif decision.note is not None:
        tool["confirmation_note"] = decision.note
    return tool


def rejected_result(decision: Decision) -> str:
    """What the model reads for a rejected call."""
    return decision.note or REJECTED_RESULT


def model_call(messages: Iterable[Mapping[str, Any]], tool_call_id: str) -> ToolCall | None:
    """The call the model made with this id, as its latest answer holds it (its arguments as it wrote them)."""
    for message in reversed(list(messages)):
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and call.get("id") == tool_call_id:
                function = call.get("function") or {}
                return ToolCall(
                    id=tool_call_id, name=str(function.get("name", "")), arguments=str(function.get("arguments", ""))
                )
    return None
