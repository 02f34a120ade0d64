"""Opening a run reads only what it replays, and a run is stored with one ``save_run``.

A spy over the session store counts what each run reads and writes, after a dozen earlier
runs in the session: a run's cost must not grow with its session, for agents, teams and
workflows alike.
"""

from __future__ import annotations

from typing import Any

from agentos_runtime.config import AgentConfig, TeamConfig
from agentos_runtime.runs import Agent, RunRegistry, RunRequest
from agentos_runtime.runs.teams import Team
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import JSON, RecentRuns, SessionRow

from tests.runtime.engine.fakes import FakeChatModel, say
from tests.runtime.lifecycle.kinds import Kind, Runnable, team_with

EARLIER_RUNS = 12


class SpySessions:
    """The in-memory session store, recording what runs read and write; anything else fails the test."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.windows: list[RecentRuns | None] = []
        self.runs_read = 0
        self.saves = 0

    async def get_session(self, session_id: str, **kwargs: Any) -> SessionRow | None:
        self.windows.append(kwargs.get("recent_runs"))
        row: SessionRow | None = await self.inner.get_session(session_id, **kwargs)
        self.runs_read += len(row.runs or []) if row is not None else 0
        return row

    async def save_run(self, new: SessionRow, run: JSON, *, session_state: JSON | None) -> SessionRow:
        self.saves += 1
        saved: SessionRow = await self.inner.save_run(new, run, session_state=session_state)
        return saved

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a run called {name} on the session store")


async def session_with_earlier_runs(runnable: Runnable) -> None:
    for number in range(EARLIER_RUNS):
        output = await runnable.complete(RunRequest(message=f"question {number}", session_id="s1"))
        assert output["status"] == "COMPLETED"


def answers(count: int) -> FakeChatModel:
    return FakeChatModel(*(say(f"answer {number}") for number in range(count)))


async def test_a_run_without_history_reads_no_earlier_run_and_saves_once(kind: Kind) -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    model = answers(EARLIER_RUNS + 1)
    await session_with_earlier_runs(kind.build(model, database.sessions, registry))
    spy = SpySessions(database.sessions)

    output = await kind.build(model, spy, registry).complete(RunRequest(message="last", session_id="s1"))

    assert output["status"] == "COMPLETED"
    reads = [window for window in spy.windows if window is not None]
    assert reads and len(reads) == len(spy.windows), "every session read names the runs it wants"
    assert spy.runs_read == 0
    assert spy.saves == 1
    row = await database.sessions.get_session("s1")
    assert row is not None and len(row.runs or []) == EARLIER_RUNS + 1, "the earlier runs are all still there"


async def test_a_team_replaying_history_reads_only_the_runs_it_replays() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    leader = answers(EARLIER_RUNS + 1)
    await session_with_earlier_runs(team_with(leader, database.sessions, registry))
    spy = SpySessions(database.sessions)
    team = team_with(leader, spy, registry, add_history_to_context=True, num_history_runs=2)

    await team.complete(RunRequest(message="last", session_id="s1"))

    assert [window.limit if window else None for window in spy.windows] == [2]
    assert spy.runs_read == 2 and spy.saves == 1
    replayed = [m["content"] for m in leader.prompts[-1] if m["role"] == "user"]
    assert replayed == [f"question {EARLIER_RUNS - 2}", f"question {EARLIER_RUNS - 1}", "last"]


async def test_a_team_whose_member_replays_history_reads_as_many_runs_as_the_member_replays() -> None:
    database, registry = InMemoryDatabase(id="db"), RunRegistry()
    leader = answers(EARLIER_RUNS + 1)
    member = Agent(AgentConfig(id="m", add_history_to_context=True, num_history_runs=4), model=FakeChatModel())
    team = Team(
        TeamConfig(id="t", name="T", members=["m"]),
        model=leader,
        members=[member],
        sessions=database.sessions,
        registry=registry,
    )
    await session_with_earlier_runs(team)
    spy = SpySessions(database.sessions)

    await team.persisting_into(spy).complete(RunRequest(message="last", session_id="s1"))

    assert [window.limit if window else None for window in spy.windows] == [4]
    assert spy.runs_read == 4 and spy.saves == 1
