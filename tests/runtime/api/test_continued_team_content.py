"""A team run paused on its member's call needing a confirmation goes on as Agno's does: Agno's
own team, run on the same fake model answers, and this runtime over HTTP, continued with the call
confirmed, ask the leader again once the member has answered (in ``route`` mode as in the default
``coordinate`` mode: the member's answer is not the team's answer then; a nested team's leader
too; a ``broadcast`` team's one call to every member reads the answers of those that went on),
with the same result of the delegation the leader reads; and they give the same content (the
answer not streamed, the streamed run's last event and the team's own streamed text, the stored run), the same stored
delegation results and member runs, and stream the team's own events in the same order.

Agno's ``respond_directly`` is its ``route`` mode, the only form of it this runtime's config has."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from agno.db.in_memory import InMemoryDb
from agno.team.mode import TeamMode

from tests.runtime.api.harness import agent_config, parse_frames, serve_on
from tests.runtime.api.test_paused_content import (
    ADD,
    BROADCAST,
    CASES,
    CONFIRMED,
    Case,
    agno_agent,
    agno_team,
    own_text,
)
from tests.support.fake_openai import FakeOpenAI, FakeOpenAIServer, Reply, serve_fake_openai

JSON = dict[str, Any]
CONTINUED = "Member results after human-in-the-loop resolution:"
GOING_ON = {  # the replies once the member's call is confirmed: the member's, then each leader's
    "team-member": (Reply.say("five"), Reply.say("Crew five")),
    "routing-team-member": (Reply.say("five"), Reply.say("Crew five")),
    "nested-team-member": (Reply.say("five"), Reply.say("Inner five"), Reply.say("Crew five")),
    "broadcast-team-members": (Reply.say("five"), Reply.say("five"), Reply.say("Crew five")),
    "broadcast-team-one-member-waiting": (Reply.say("five"), Reply.say("Crew five")),
}


@dataclass(frozen=True)
class Continued:
    """What a client sees of a paused team run going on to its end, streamed or not, and what
    the leader read in its last request."""

    answered: Any
    last_event: tuple[str, Any]
    streamed_text: str
    team_events: tuple[str, ...]
    stored: tuple[Any, ...]
    leader_read: tuple[Any, ...]
    requests: int


def stored_view(run: JSON) -> tuple[Any, ...]:
    """A stored team run's status, content, delegation results and member runs."""
    return (
        run["status"],
        run["content"],
        tuple((tool["tool_name"], tool["result"]) for tool in run.get("tools") or ()),
        tuple((m.get("agent_id"), m["status"], m["content"]) for m in run.get("member_responses") or ()),
    )


def member_lines_sorted(result: Any) -> Any:
    """A continued delegation's result with its members' lines sorted (what follows Agno's first line)."""
    if not isinstance(result, str) or not result.startswith(CONTINUED):
        return result
    return "\n".join([CONTINUED, *sorted(result.splitlines()[1:])])


def in_any_order(view: tuple[Any, ...]) -> tuple[Any, ...]:
    """A stored view (``stored_view``) with its member runs, and the members' lines in each
    delegation's result, in a fixed order: Agno's broadcast runs its members at once, so they
    pause, are stored and go on in the order they happen to end."""
    status, content, tools, members = view
    return status, content, tuple((name, member_lines_sorted(result)) for name, result in tools), tuple(sorted(members))


def members_sorted(continued: Continued) -> Continued:
    """``continued`` with its members in a fixed order (``in_any_order``), what the leader read too."""
    read = tuple(member_lines_sorted(result) for result in continued.leader_read)
    return replace(continued, stored=in_any_order(continued.stored), leader_read=read)


def tool_results(body: JSON) -> tuple[Any, ...]:
    """The results of calls that a model request carries (what the model read)."""
    return tuple(m["content"] for m in body["messages"] if m["role"] == "tool")


def team_events(events: list[tuple[str, JSON]], runner_id: str) -> tuple[str, ...]:
    """The names of the team's own events (not its members'), but for its content events, whose
    text is compared whole (``own_text``): Agno streams an empty one first."""
    own = [name for name, data in events if data.get("team_id") == runner_id and "agent_id" not in data]
    return tuple(name for name in own if name != "TeamRunContent")


async def agnos(
    name: str,
    case: Case,
    fake_openai: FakeOpenAIServer,
    *,
    going_on_replies: tuple[Reply, ...] | None = None,
    alike: bool = True,
) -> Continued:
    """Agno's team paused and going on, not streamed then streamed (``alike``: both stored the same)."""
    runner = case.agno(fake_openai.base_url)
    runner.db = InMemoryDb()
    runner.store_member_responses = True  # as AgentOS serves a team
    ended: list[Any] = []
    for session_id in ("answered", "streamed"):
        fake_openai.app.reset()  # no reply left over from the round before
        fake_openai.script(*(case.agno_script or case.script))
        paused = await runner.arun("add 2 and 3", session_id=session_id)
        for requirement in paused.active_requirements:
            requirement.confirm()
        fake_openai.script(*(going_on_replies or GOING_ON[name]))
        before = len(fake_openai.bodies)
        going_on = {"run_response": paused, "requirements": paused.requirements, "session_id": session_id}
        if session_id == "answered":
            ended.append(await runner.acontinue_run(**going_on))
        else:
            ended.append([e async for e in runner.acontinue_run(**going_on, stream=True, stream_events=True)])
    answered, events = ended
    stored = [runner.get_last_run_output(session_id=s).to_dict() for s in ("answered", "streamed")]
    assert not alike or in_any_order(stored_view(stored[0])) == in_any_order(stored_view(stored[1]))
    pairs = [(e.event, e.to_dict()) for e in events]
    return Continued(
        answered.content,
        (events[-1].event, events[-1].content),
        own_text(pairs, case.runner_id),
        team_events(pairs, case.runner_id),
        stored_view(stored[0]),
        tool_results(fake_openai.bodies[-1]),
        len(fake_openai.bodies) - before,
    )


async def ours(
    name: str,
    case: Case,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    *,
    going_on_replies: tuple[Reply, ...] | None = None,
) -> Continued:
    document: JSON = yaml.safe_load(agent_config(fake_openai.base_url))
    case.config(document)
    base = f"/{case.kind}/{case.runner_id}/runs"
    ended, stored = [], []
    async with serve_on("sqlite", yaml.safe_dump(document), tmp_path) as app:
        for stream in ("false", "true"):
            session_id = f"s-{stream}"
            fake_openai.app.reset()  # no reply left over from the round before
            fake_openai.script(*case.script)
            form = {"message": "add 2 and 3", "session_id": session_id, "stream": "false"}
            paused = (await app.client.post(base, data=form)).json()
            assert paused["status"] == "PAUSED", paused
            decided = [
                {**r, "confirmation": True, "tool_execution": {**r["tool_execution"], "confirmed": True}}
                for r in paused["requirements"]
            ]
            fake_openai.script(*(going_on_replies or GOING_ON[name]))
            before = len(fake_openai.bodies)
            data = {"requirements": json.dumps(decided), "session_id": session_id, "stream": stream}
            ended.append(await app.client.post(f"{base}/{paused['run_id']}/continue", data=data))
            got = await app.client.get(f"{base}/{paused['run_id']}", params={"session_id": session_id})
            stored.append(got.json())
    answered, frames = ended[0].json(), parse_frames(ended[1].text)
    assert stored_view(stored[0]) == stored_view(stored[1])
    pairs = [(f.event, f.data) for f in frames]
    return Continued(
        answered["content"],
        (frames[-1].event, frames[-1].data["content"]),
        own_text(pairs, case.runner_id),
        team_events(pairs, case.runner_id),
        stored_view(stored[0]),
        tool_results(fake_openai.bodies[-1]),
        len(fake_openai.bodies) - before,
    )


@pytest.mark.parametrize("name", [name for name in GOING_ON if name in CASES])
async def test_a_team_run_going_on_after_its_member_answers_asks_the_leader_again_as_agnos_does(
    name: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case = CASES[name]

    expected = await agnos(name, case, fake_openai)
    got = await ours(name, case, fake_openai, tmp_path)

    assert members_sorted(got) == members_sorted(expected)
    assert got.answered == got.last_event[1] == got.stored[1] == "Crew five"
    members = {
        "nested-team-member": "[Inner]: Inner five",
        "broadcast-team-members": "[Assistant]: five\n[Checker]: five",
    }
    member = members.get(name, "[Assistant]: five")
    assert got.leader_read == (f"{CONTINUED}\n{member}",)  # ours in the members' order


def one_member_waiting(checkers_url: str) -> Case:
    """A broadcast team of Assistant, whose call needs a confirmation, and Checker, which answers
    at once on its own fake server (``checkers_url``): Agno runs broadcast members at once, so
    one script for both would give each the other's reply now and then."""

    def config(document: JSON) -> None:
        document["models"].append({**document["models"][0], "id": "checkers", "base_url": checkers_url})
        document["agents"][0].update(tool_config=CONFIRMED)
        document["agents"].append({"id": "checker", "name": "Checker", "model": "checkers"})
        document["teams"] = [{"id": "crew", "name": "Crew", "members": ["assistant", "checker"], "mode": "broadcast"}]

    def agnos_team(url: str) -> Any:
        members = [agno_agent(url, confirming=True), agno_agent(checkers_url, "checker", "Checker", confirming=False)]
        return agno_team(url, "crew", "Crew", members, mode=TeamMode.broadcast)

    return Case(
        "teams", "crew", config, agnos_team, (Reply.call(ADD),), agno_script=(Reply.call(BROADCAST), Reply.call(ADD))
    )


async def test_a_broadcast_going_on_gives_its_leader_only_the_answers_of_members_that_went_on_as_agnos_does(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    with serve_fake_openai(FakeOpenAI(default=Reply.say("3 items"))) as checkers:
        case = one_member_waiting(checkers.base_url)

        expected = await agnos("broadcast-team-one-member-waiting", case, fake_openai)
        got = await ours("broadcast-team-one-member-waiting", case, fake_openai, tmp_path)

    assert members_sorted(got) == members_sorted(expected)
    assert got.leader_read == (f"{CONTINUED}\n[Assistant]: five",)  # not Checker's "3 items"
    assert ("checker", "COMPLETED", "3 items") in got.stored[3]


SPACED = "\n  five, as asked \n\n"


@pytest.mark.parametrize(
    ("name", "answer"),
    [("team-member", SPACED), ("routing-team-member", SPACED), ("team-member", "  \n")],
    ids=["coordinate", "route", "only-whitespace"],
)
async def test_a_continued_members_answer_reaches_the_leader_as_it_wrote_it_spaces_and_all_as_agnos_does(
    name: str, answer: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case, replies = CASES[name], (Reply.say(answer), Reply.say("Crew five"))

    expected = await agnos(name, case, fake_openai, going_on_replies=replies)
    got = await ours(name, case, fake_openai, tmp_path, going_on_replies=replies)

    assert got == expected
    assert got.leader_read == (f"{CONTINUED}\n[Assistant]: {answer}",)  # not stripped, nor "Task completed"


AGNOS_FAILED_LINES = (
    "[Assistant]: I have tools to execute, but I need confirmation.",  # not streamed: the paused run's content
    "[Assistant]: Task completed (no final output)",  # streamed: its member's stream gave no output
)
"""Agno 3.1.10's lines for a member whose continued run failed, written out: neither says it failed."""


@pytest.mark.parametrize("name", ["team-member", "routing-team-member"])
async def test_a_member_failing_as_it_goes_on_gives_the_leader_its_failure_where_agno_says_it_did_its_task(
    name: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    case, replies = CASES[name], (Reply.fail(400, "the model refused"), Reply.say("Crew five"))

    expected = await agnos(name, case, fake_openai, going_on_replies=replies, alike=False)
    got = await ours(name, case, fake_openai, tmp_path, going_on_replies=replies)

    (_, agnos_answered_result), *_ = expected.stored[2]
    assert (agnos_answered_result, *expected.leader_read) == tuple(
        f"{CONTINUED}\n{line}" for line in AGNOS_FAILED_LINES
    )
    [(_, _, error)] = got.stored[3]  # the member's run, stored ERROR with why
    assert got.stored[3] == (("assistant", "ERROR", error),)
    assert error.startswith("model 'fake': the endpoint answered 400: ") and "the model refused" in error
    failed = f"{CONTINUED}\n[Assistant]: The member failed: {error}"
    assert got.stored[2] == (("delegate_task_to_member", failed),)
    assert got.leader_read == (failed,)  # streamed as not
    same = ("answered", "last_event", "streamed_text", "team_events", "requests")
    assert [getattr(got, f) for f in same] == [getattr(expected, f) for f in same]
