"""Agno's own database classes and our stores share one database, in both directions.

Agno's ``SqliteDb``, ``PostgresDb`` and ``RedisDb`` are synchronous; the tests call them
directly. What Agno writes (a session with its runs, a memory) our stores read with the same
values, and what our stores write Agno reads back into its ``AgentSession``/``UserMemory``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SessionQuery, SessionRow
from agno.db.base import SessionType
from agno.db.schemas.memory import UserMemory
from agno.models.message import Message
from agno.run.agent import RunOutput
from agno.run.base import RunStatus
from agno.session.agent import AgentSession

from tests.support.databases import IsolatedStorage, agno_db, isolated_storage

KINDS = ["sqlite", "postgres", "redis"]
TEXT = "会话缓存: naïve café"


@pytest.fixture(params=KINDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IsolatedStorage]:
    async with isolated_storage(request.param, tmp_path) as isolated:
        yield isolated


def agno_run(index: int) -> RunOutput:
    return RunOutput(
        run_id=f"run-{index}",
        agent_id="assistant",
        session_id="s1",
        user_id="ana",
        content=f"answer {index} {TEXT}",
        status=RunStatus.completed,
        messages=[Message(role="user", content=f"question {index}"), Message(role="assistant", content="answer")],
        created_at=1_700_000_000 + index,
    )


async def test_a_session_and_memory_written_by_agno_are_read_by_our_store(storage: IsolatedStorage) -> None:
    runs = [agno_run(0), agno_run(1)]
    with agno_db(storage) as agno:
        agno.upsert_session(
            AgentSession(
                session_id="s1",
                agent_id="assistant",
                user_id="ana",
                session_data={"session_name": "Trip plans", "session_state": {"city": "Porto"}},
                agent_data={"name": "Assistant"},
                runs=runs,
                created_at=1_700_000_000,
            )
        )
        for index, run in enumerate(runs):
            agno.upsert_run(run, session_id="s1", user_id="ana", run_index=index)
        agno.upsert_user_memory(UserMemory(memory=TEXT, memory_id="m1", user_id="ana", topics=["travel", "会话"]))

    ours = await storage.open()
    stored = await ours.sessions.get_session("s1", session_type="agent", user_id="ana")
    listed = await ours.sessions.list_sessions(SessionQuery(user_id="ana", session_name="trip"))
    memory = await ours.memories.get_memory("m1", user_id="ana")

    assert stored is not None
    assert stored.runs == [run.to_dict() for run in runs]
    assert stored.session_data == {"session_name": "Trip plans", "session_state": {"city": "Porto"}}
    assert (stored.agent_id, stored.agent_data, stored.created_at) == (
        "assistant",
        {"name": "Assistant"},
        1_700_000_000,
    )
    assert [row.session_id for row in listed.items] == ["s1"]
    assert memory is not None and (memory.memory, memory.topics) == (TEXT, ["travel", "会话"])
    assert [row.memory_id for row in (await ours.memories.list_memories(MemoryQuery(topics=["会话"]))).items] == ["m1"]
    assert await ours.memories.list_topics(user_id="ana") == ["travel", "会话"]


async def test_a_session_and_memory_written_by_our_store_are_read_by_agno(storage: IsolatedStorage) -> None:
    ours = await storage.open()
    new = SessionRow(
        session_id="s1",
        session_type="agent",
        created_at=1_700_000_000,
        agent_id="assistant",
        user_id="ana",
        session_data={"session_name": "Trip plans"},
        agent_data={"name": "Assistant"},
    )
    await ours.sessions.save_run(new, agno_run(0).to_dict(), session_state={"city": "Porto"})
    await ours.sessions.save_run(new, agno_run(1).to_dict(), session_state=None)
    await ours.memories.upsert_memory(MemoryRow(memory_id="m1", memory=TEXT, user_id="ana", topics=["travel"]))

    with agno_db(storage) as agno:
        session = agno.get_session("s1", SessionType.AGENT, user_id="ana")
        listed = agno.get_sessions(SessionType.AGENT, user_id="ana")
        memories = agno.get_user_memories(user_id="ana")
        topics = agno.get_all_memory_topics(user_id="ana")

    assert isinstance(session, AgentSession)
    assert [(run.run_id, run.content, run.status) for run in session.runs] == [
        ("run-0", f"answer 0 {TEXT}", RunStatus.completed),
        ("run-1", f"answer 1 {TEXT}", RunStatus.completed),
    ]
    assert [message.content for message in session.runs[0].messages] == ["question 0", "answer"]
    assert session.session_data == {"session_name": "Trip plans", "session_state": {"city": "Porto"}}
    assert (session.user_id, session.agent_data) == ("ana", {"name": "Assistant"})
    assert [found.session_id for found in listed] == ["s1"]
    assert [(found.memory_id, found.memory, found.topics) for found in memories] == [("m1", TEXT, ["travel"])]
    assert topics == ["travel"]


async def test_a_run_agno_adds_to_our_session_comes_after_ours(storage: IsolatedStorage) -> None:
    ours = await storage.open()
    new = SessionRow(session_id="s1", session_type="agent", created_at=1_700_000_000, agent_id="assistant")
    await ours.sessions.save_run(new, agno_run(0).to_dict(), session_state=None)
    await ours.sessions.save_run(new, agno_run(1).to_dict(), session_state=None)

    with agno_db(storage) as agno:
        agno.upsert_run(agno_run(2), session_id="s1", run_index=2)

    stored = await ours.sessions.get_session("s1")
    assert stored is not None
    assert [run["run_id"] for run in stored.runs or []] == ["run-0", "run-1", "run-2"]


async def test_agno_sees_the_tables_we_create_as_current_and_does_not_migrate_them(storage: IsolatedStorage) -> None:
    await storage.open()

    with agno_db(storage) as agno:
        versions = [agno.get_latest_schema_version(table) for table in ("agno_sessions", "agno_memories")]

    assert versions == ["3.0.0", "3.0.0"]
