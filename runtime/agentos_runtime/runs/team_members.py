"""A team's members as its leader sees and uses them, as pure functions.

The leader is shown a card per member (``MemberCard``); a delegation names a member by id and
is checked before it runs; a member's run comes back to the leader as a tool result (its
answer, or why there is none; once a member that waited for a person went on, Agno's
``continued_result``); members that replay history get their own earlier runs from the team
session (the team runs' ``member_responses``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentos_runtime.runs.loop import Agent
from agentos_runtime.runs.nesting import Executor
from agentos_runtime.runs.pausing import member_id_of, member_waiting
from agentos_runtime.runs.team_prompt import MemberCard

JSON = dict[str, Any]


def member_card(member: Executor) -> MemberCard:
    """What the leader is shown of ``member``."""
    if isinstance(member, Agent):
        return MemberCard(member.id, member.name, "agent", member.config.role, member.config.description)
    return MemberCard(member.id, member.name, "team", None, getattr(member, "description", None))


def member_history(runs: Sequence[JSON], members: Sequence[Executor]) -> dict[str, list[JSON]]:
    """Each history-replaying member's earlier runs in the session, as its own top-level runs."""
    wanted = {member.id for member in members if _replays_history(member)}
    found: dict[str, list[JSON]] = {}
    for run in runs:
        for output in run.get("member_responses") or []:
            owner = output.get("agent_id") or output.get("team_id")
            if owner in wanted:
                found.setdefault(owner, []).append({k: v for k, v in output.items() if k != "parent_run_id"})
    return found


def member_history_runs(members: Sequence[Executor]) -> int:
    """How many of the session's latest team runs the members that replay history need.

    A member replays its ``num_history_runs`` latest runs, found inside the team runs
    (``member_responses``); the team reads that many of its latest runs (0 when no member
    replays history), so a member left out of some of them replays fewer.
    """
    return max((_history_runs(member) for member in members if _replays_history(member)), default=0)


def _replays_history(member: Executor) -> bool:
    config = member.config if isinstance(member, Agent) else getattr(member, "config", None)
    return bool(getattr(config, "add_history_to_context", False))


def _history_runs(member: Executor) -> int:
    config = member.config if isinstance(member, Agent) else getattr(member, "config", None)
    runs = getattr(config, "num_history_runs", 0)
    return runs if isinstance(runs, int) else 0


def member_answer(output: JSON) -> tuple[str, bool]:
    """The tool result a member's run gives the leader, and whether it is an error."""
    status, content = output.get("status"), output.get("content")
    if content is None or isinstance(content, str):
        text = (content or "").strip()
    else:
        text = json.dumps(content, ensure_ascii=False)
    if status == "ERROR":
        return f"The member failed: {text}", True
    if status == "CANCELLED":
        return "The member's run was cancelled before it answered.", True
    return (text or "No answer from the member."), False


def routed_content(output: JSON) -> str:
    """In route mode, the team's answer a member's run gives: its content as it wrote it (empty
    when it wrote nothing: not the placeholder the leader's tool result reads)."""
    content = output.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    return json.dumps(content, ensure_ascii=False)


CONTINUED_RESULTS = "Member results after human-in-the-loop resolution:"
"""Agno's first line of what the leader reads once paused members went on and answered."""


def continued_answer(member_name: str, output: JSON) -> str:
    """One member's line in ``continued_result``: its name and its answer once its paused run went
    on, as it wrote it (not stripped, as Agno keeps it; Agno's ``Task completed`` when it wrote
    nothing at all). When it failed, why there is none, as for a delegation that fails
    (``member_answer``): deliberately not Agno 3.1.10's line, which is the paused run's content
    (or, streamed, ``Task completed (no final output)``), as if the member had done its task."""
    if output.get("status") in ("ERROR", "CANCELLED"):
        text, _ = member_answer(output)
    else:
        content = output.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        text = text if content is not None and text else "Task completed"
    return f"[{member_name}]: {text}"


def continued_result(answers: Sequence[str]) -> str:
    """The result each delegation whose member waited for a person gives the leader once the
    paused members went on (Agno's words): the answers (``continued_answer``) of those that went
    on in this continuation, all in each such delegation's result."""
    return "\n".join([CONTINUED_RESULTS, *answers])


def waits_for_person(result: Any) -> bool:
    """Whether a delegation's result says its member waits for a person (``member_waiting``)."""
    return isinstance(result, str) and "requires human input" in result.lower()


def broadcast_answer(members: Sequence[Executor], outputs: Sequence[JSON]) -> tuple[str, bool]:
    """The tool result a broadcast gives the leader, and whether it is an error (no member answered).

    One line per member, in member order: its answer (``member_answer``), that it waits for a
    person (``member_waiting``) while its run is ``PAUSED``, or "no answer" when it has no run
    among ``outputs`` (the team run's member budget was spent). A run is the member's when it
    carries the member's id (``pausing.member_id_of``).
    """
    by_owner = {member_id_of(output): output for output in outputs}
    lines: list[str] = []
    answered = False
    for member in members:
        output = by_owner.get(member.id)
        if output is None:
            text = "no answer"
        elif output.get("status") == "PAUSED":
            text, answered = member_waiting(member.name), True
        else:
            text, error = member_answer(output)
            answered = answered or not error
        lines.append(f"Member {member.name} ({member.id}): {text}")
    return "\n\n".join(lines), not answered


def check_delegation(arguments: JSON, member_ids: Sequence[str]) -> str | None:
    """Why a ``delegate_task_to_member`` call cannot run, or ``None``."""
    member_id, task = arguments.get("member_id"), arguments.get("task")
    if not isinstance(member_id, str) or member_id not in member_ids:
        known = ", ".join(member_ids)
        return f"Error: no member with id '{member_id}' in this team. Choose one of: {known}."
    if not isinstance(task, str) or not task.strip():
        return "Error: the task must be a non-empty text."
    return None
