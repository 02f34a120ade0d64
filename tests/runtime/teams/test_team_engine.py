"""The team engine with scripted models: cancellation reaching members, members running at the
same time, clients going away mid-member, member history and the leader's request bound (how a
team run ends and is saved is the lifecycle suite's, tests/runtime/lifecycle).

Models are ``FakeChatModel``s (one per agent), so a test can hold a member mid-answer (a gate)
and act while it waits; nothing sleeps, every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from agentos_runtime.config import AgentConfig, TeamConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.llm.ports import ToolCall
from agentos_runtime.runs import Agent, RunRegistry, RunRequest, team_turns
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase

from tests.runtime.engine.fakes import FakeChatModel, Script, WatchedRun, call, held, say

DEADLINE = 5.0


def delegate(member_id: str, task: str) -> Script:
    return call("delegate_task_to_member", json.dumps({"member_id": member_id, "task": task}))


class Crew(WatchedRun):
    """A team ``crew`` of agents ``weather`` and ``poet``, each on its own scripted model."""

    def __init__(
        self,
        leader: FakeChatModel,
        weather: FakeChatModel,
        poet: FakeChatModel | None = None,
        *,
        sessions: Any = None,
        member_history: bool = False,
        **team: Any,
    ) -> None:
        self.database = InMemoryDatabase(id="db")
        self.registry = RunRegistry()
        self.leader, self.weather, self.poet = leader, weather, poet or FakeChatModel()
        members = [
            Agent(
                AgentConfig(id="weather", name="Weather", add_history_to_context=member_history),
                model=weather,
                registry=self.registry,
            ),
            Agent(AgentConfig(id="poet", name="Poet"), model=self.poet, registry=self.registry),
        ]
        self.team = Team(
            TeamConfig(id="crew", name="Crew", members=["weather", "poet"], stream_member_events=True, **team),
            model=leader,
            members=members,
            sessions=sessions if sessions is not None else self.database.sessions,
            registry=self.registry,
        )
        super().__init__(self.team.run)

    async def stored_run(self, session_id: str = "s1") -> dict[str, Any]:
        row = await self.database.sessions.get_session(session_id)
        assert row is not None and row.runs, "the team run was not stored"
        return row.runs[-1]


async def test_cancelling_the_team_while_a_member_streams_stops_both_and_stores_the_run_cancelled() -> None:
    member_answer = held("Hel", "lo")
    crew = Crew(FakeChatModel(delegate("weather", "Forecast")), FakeChatModel(member_answer))
    consumer = asyncio.create_task(crew.consume(RunRequest(message="hi", session_id="s1", run_id="team-1")))
    await crew.wait_for_contents(1)
    member_run_id = crew.contents[0].to_dict()["run_id"]

    assert crew.registry.cancel("team-1") is True
    events = await asyncio.wait_for(consumer, DEADLINE)

    names = [event.event for event in events]
    assert names[-1] == "TeamRunCancelled" and "TeamRunCompleted" not in names and "RunCompleted" not in names
    told = events[-2].to_dict()  # a client following the member sees it end, before the team
    assert (told["event"], told["run_id"], told["agent_id"]) == ("RunCancelled", member_run_id, "weather")
    assert (told["parent_run_id"], told["content"]) == ("team-1", "Hel")
    assert crew.weather.streamed_to_end == 0 and len(crew.leader.prompts) == 1
    assert not crew.registry.is_running("team-1") and not crew.registry.is_running(member_run_id)
    stored = await crew.stored_run()
    assert stored["status"] == "CANCELLED" and stored["team_id"] == "crew"
    assert stored["events"][-1]["event"] == "TeamRunCancelled"
    member = stored["member_responses"][-1]
    assert (member["run_id"], member["status"], member["content"]) == (member_run_id, "CANCELLED", "Hel")
    assert member["parent_run_id"] == "team-1"


async def test_broadcast_members_answer_at_the_same_time_then_the_leader_synthesises() -> None:
    weather_answer, poet_answer = held("Rain", " later"), held("Grey", " skies")
    crew = Crew(
        FakeChatModel(say("Rain later under grey skies.")),
        FakeChatModel(weather_answer),
        FakeChatModel(poet_answer),
        mode="broadcast",
    )
    consumer = asyncio.create_task(crew.consume(RunRequest(message="Weather?", session_id="s1")))
    await crew.wait_for_contents(2)  # both are mid-answer: neither waited for the other

    assert {event.to_dict()["agent_id"] for event in crew.contents} == {"weather", "poet"}
    assert weather_answer.gate is not None and poet_answer.gate is not None
    weather_answer.gate.set()
    poet_answer.gate.set()
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert events[-1].event == "TeamRunCompleted"
    assert events[-1].to_dict()["content"] == "Rain later under grey skies."
    result = crew.leader.prompts[0][-1]["content"]
    assert "Rain later" in result and "Grey skies" in result
    stored = await crew.stored_run()
    assert [m["agent_id"] for m in stored["member_responses"]] == ["weather", "poet"]


async def test_cancelling_a_broadcast_cancels_every_member_and_stores_the_run_cancelled() -> None:
    crew = Crew(FakeChatModel(), FakeChatModel(held("a", "b")), FakeChatModel(held("c", "d")), mode="broadcast")
    consumer = asyncio.create_task(crew.consume(RunRequest(message="hi", session_id="s1", run_id="team-2")))
    await crew.wait_for_contents(2)
    member_ids = {event.to_dict()["run_id"] for event in crew.contents}

    crew.registry.cancel("team-2")
    events = await asyncio.wait_for(consumer, DEADLINE)

    assert events[-1].event == "TeamRunCancelled"
    told = {(e.to_dict()["agent_id"], e.to_dict()["content"]) for e in events if e.event == "RunCancelled"}
    assert told == {("weather", "a"), ("poet", "c")}, "a client following the members sees each one end"
    assert not any(crew.registry.is_running(run_id) for run_id in member_ids | {"team-2"})
    assert crew.leader.prompts == [], "the leader is not asked once the run is cancelled"
    stored = await crew.stored_run()
    assert stored["status"] == "CANCELLED"
    kept = [(run["agent_id"], run["status"], run["content"]) for run in stored["member_responses"]]
    assert kept == [("weather", "CANCELLED", "a"), ("poet", "CANCELLED", "c")], "each member keeps its partial answer"


async def test_a_client_that_goes_away_mid_member_leaves_the_team_run_stored_cancelled() -> None:
    crew = Crew(FakeChatModel(delegate("weather", "Forecast")), FakeChatModel(held("Hel", "lo")))
    stream = crew.team.run(RunRequest(message="hi", session_id="s1", run_id="team-3"))
    async for event in stream:
        if event.event == "RunContent":
            break
    await stream.aclose()  # type: ignore[attr-defined]

    deadline = time.monotonic() + DEADLINE
    while (row := await crew.database.sessions.get_session("s1")) is None or not row.runs:
        assert time.monotonic() < deadline, "the abandoned run was never stored"
        await asyncio.sleep(0.01)
    assert row.runs[-1]["status"] == "CANCELLED" and row.runs[-1]["run_id"] == "team-3"
    assert not crew.registry.is_running("team-3")


async def test_a_member_that_replays_history_sees_its_earlier_answers_in_the_team_session() -> None:
    crew = Crew(
        FakeChatModel(delegate("weather", "Paris?"), say("ok"), delegate("weather", "And yesterday?"), say("ok")),
        FakeChatModel(say("Sunny"), say("It rained")),
        member_history=True,
    )
    for message in ("first", "second"):
        output = await crew.team.complete(RunRequest(message=message, session_id="s1"))
        assert output["status"] == "COMPLETED"

    second = crew.weather.prompts[1]
    assert [(m["role"], m["content"]) for m in second] == [
        ("user", "Paris?"),
        ("assistant", "Sunny"),
        ("user", "And yesterday?"),
    ]


async def test_the_leaders_last_request_offers_no_tools_and_late_calls_are_refused_ending_the_run_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(team_turns, "MAX_LEADER_REQUESTS", 2)
    crew = Crew(
        FakeChatModel(delegate("weather", "One"), delegate("weather", "Two")),
        FakeChatModel(say("first answer")),
    )
    output = await crew.team.complete(RunRequest(message="hi", session_id="s1"))

    assert crew.leader.offered_tools[0] is not None and crew.leader.offered_tools[1] is None
    assert len(crew.weather.prompts) == 1, "the call made without tools is not run"
    assert output["messages"][-1]["role"] == "tool" and "limit" in output["messages"][-1]["content"]
    assert output["status"] == "ERROR"
    assert output["content"] == (
        "model 'fake' was still calling tools on the run's last model request (2 are allowed, "
        "the last one without tools): the run ends without an answer"
    )


async def test_route_puts_the_leaders_own_words_before_the_members_answer() -> None:
    handover = Script(chunks=["Asking Weather."], tool_calls=delegate("weather", "Forecast").tool_calls)
    crew = Crew(FakeChatModel(handover), FakeChatModel(say("Sunny")), mode="route")
    output = await crew.team.complete(RunRequest(message="Forecast?", session_id="s1"))

    assert output["content"] == "Asking Weather.\n\nSunny"
    assert len(crew.leader.prompts) == 1, "the member's answer ends a routed run"


@pytest.mark.parametrize(("answer", "content"), [("  Sunny\n", "  Sunny\n"), ("", "")], ids=["as-written", "nothing"])
async def test_route_gives_the_members_answer_as_it_wrote_it_never_the_placeholder(answer: str, content: str) -> None:
    # The leader's tool result ("No answer from the member.", stripped text) became the team's answer.
    crew = Crew(FakeChatModel(delegate("weather", "Forecast")), FakeChatModel(say(answer)), mode="route")
    output = await crew.team.complete(RunRequest(message="Forecast?", session_id="s1"))

    assert output["status"] == "COMPLETED" and output["content"] == content


async def test_a_broadcast_leader_calling_tools_anyway_gets_refusals_so_the_chat_stays_whole() -> None:
    crew = Crew(
        FakeChatModel(delegate("weather", "again")), FakeChatModel(say("w")), FakeChatModel(say("p")), mode="broadcast"
    )
    output = await crew.team.complete(RunRequest(message="hi", session_id="s1"))

    roles = [m["role"] for m in output["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert "limit" in output["messages"][-1]["content"] and len(crew.weather.prompts) == 1


def delegations(member_id: str, count: int) -> Script:
    """One leader answer delegating ``count`` tasks to ``member_id``."""
    calls = [
        ToolCall(
            id=f"call_{n}",
            name="delegate_task_to_member",
            arguments=json.dumps({"member_id": member_id, "task": f"task {n}"}),
        )
        for n in range(count)
    ]
    return Script(tool_calls=calls)


async def test_one_answer_delegating_past_the_member_run_limit_runs_only_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(team_turns, "MAX_MEMBER_RUNS", 3)
    crew = Crew(
        FakeChatModel(delegations("weather", 5), say("Done.")), FakeChatModel(*(say(f"answer {n}") for n in range(3)))
    )

    output = await crew.team.complete(RunRequest(message="hi", session_id="s1"))

    assert len(crew.weather.prompts) == 3
    results = [m["content"] for m in output["messages"] if m["role"] == "tool"]
    assert results[:3] == ["answer 0", "answer 1", "answer 2"]
    assert all(r.startswith("Error: not run: a team run starts at most 3 member runs") for r in results[3:])
    assert len(results) == 5 and output["status"] == "COMPLETED" and output["content"] == "Done."


async def test_teams_nested_in_a_team_share_its_member_run_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(team_turns, "MAX_MEMBER_RUNS", 3)
    crew = Crew(FakeChatModel(delegations("weather", 2), say("Crew done.")), FakeChatModel(say("a"), say("b")))
    board_leader = FakeChatModel(delegations("crew", 2), say("Board done."))
    board = Team(
        TeamConfig(id="board", name="Board", members=["crew"]),
        model=board_leader,
        members=[crew.team],
        sessions=crew.database.sessions,
        registry=crew.registry,
    )

    output = await board.complete(RunRequest(message="hi", session_id="s1"))

    # board -> crew (1), crew -> weather twice (3): the second delegation to crew is not run.
    assert len(crew.leader.prompts) == 2 and len(crew.weather.prompts) == 2
    results = [m["content"] for m in output["messages"] if m["role"] == "tool"]
    assert results[0] == "Crew done." and results[1].startswith("Error: not run: a team run starts at most 3")
    assert output["status"] == "COMPLETED"


async def test_a_run_of_its_own_gets_a_fresh_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(team_turns, "MAX_MEMBER_RUNS", 2)
    crew = Crew(
        FakeChatModel(delegations("weather", 2), say("One."), delegations("weather", 2), say("Two.")),
        FakeChatModel(*(say(f"answer {n}") for n in range(4))),
    )

    await crew.team.complete(RunRequest(message="hi", session_id="s1"))
    await crew.team.complete(RunRequest(message="again", session_id="s1"))

    assert len(crew.weather.prompts) == 4


class MemoriesDown:
    """A member's memory store whose database is away: its run is refused as it opens."""

    async def list_memories(self, query: object) -> object:
        raise StorageUnavailable("database 'mem' is unavailable: connection refused")


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
@pytest.mark.parametrize("mode", ["coordinate", "broadcast"])
async def test_a_member_refused_as_it_opens_is_a_failed_member_the_leader_reads(mode: str, stream: bool) -> None:
    # The team run ended in error ("nested run ... ended without an output"), and a broadcast
    # cancelled its healthy members.
    registry, database = RunRegistry(), InMemoryDatabase(id="db")
    refused = Agent(
        AgentConfig(id="weather", name="Weather", enable_user_memories=True),
        model=FakeChatModel(say("sunny")),
        memories=MemoriesDown(),  # type: ignore[arg-type]
        registry=registry,
    )
    poet = Agent(AgentConfig(id="poet", name="Poet"), model=FakeChatModel(say("a poem")), registry=registry)
    delegation = call("delegate_task_to_member", json.dumps({"member_id": "weather", "task": "Forecast"}))
    leader = FakeChatModel(delegation, say("Done.")) if mode == "coordinate" else FakeChatModel(say("Done."))
    team = Team(
        TeamConfig(id="crew", name="Crew", members=["weather", "poet"], mode=mode),
        model=leader,
        members=[refused, poet],
        sessions=database.sessions,
        registry=registry,
    )
    request = RunRequest(message="hi", session_id="s1")

    if stream:
        [event.to_dict() async for event in team.run(request)]
        row = await database.sessions.get_session("s1")
        assert row is not None and row.runs
        output = row.runs[-1]
    else:
        output = await team.complete(request)

    assert output["status"] == "COMPLETED", output.get("content")
    members = {m["agent_id"]: (m["status"], m["content"]) for m in output["member_responses"]}
    assert members["weather"] == ("ERROR", "database 'mem' is unavailable: connection refused")
    if mode == "broadcast":
        assert members["poet"] == ("COMPLETED", "a poem")
    told = [m["content"] for m in leader.prompts[-1] if m["role"] in ("tool", "user")]
    assert any("The member failed: database 'mem' is unavailable" in str(text) for text in told), told
