"""Data compatibility end to end: sessions written by Agno are served and continued here, and
sessions written here are read by Agno, on SQLite, PostgreSQL and Redis.

Agno's own ``Agent`` (with ``OpenAIChat`` on the fake server) writes through ``SqliteDb``,
``PostgresDb`` or ``RedisDb``; the runtime opens the same file, schema or key prefix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agentos_runtime.storage.factory import open_database
from agno.agent import Agent as AgnoAgent
from agno.db.base import BaseDb, SessionType
from agno.db.postgres import PostgresDb
from agno.db.redis import RedisDb
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat
from agno.session import AgentSession
from agno.utils.http import aclose_default_clients

from tests.runtime.api.harness import Served, agent_config, serve, with_databases
from tests.support.databases import delete_redis_keys, drop_postgres_schema, postgres_url, redis_url, unique_name
from tests.support.fake_openai import FakeOpenAIServer, Reply


@dataclass
class SharedDatabase:
    """One database both Agno and the runtime open: Agno's handle and the runtime's config entry."""

    agno: BaseDb
    entry: dict[str, Any]
    environ: dict[str, str]


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def shared(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SharedDatabase]:
    """A SQLite file or a fresh PostgreSQL schema, opened by Agno; dropped afterwards."""
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        entry: dict[str, Any] = {"id": "main-db", "type": "sqlite", "path": str(path)}
        database = SharedDatabase(SqliteDb(db_file=str(path)), entry, {})
    elif request.param == "redis":
        prefix = unique_name("agno_compat")
        entry = {"id": "main-db", "type": "redis", "key_prefix": prefix}
        database = SharedDatabase(RedisDb(db_url=redis_url(), db_prefix=prefix), entry, {"REDIS_URL": redis_url()})
    else:
        schema = unique_name("agno_compat")
        url = postgres_url()
        agno_db = PostgresDb(db_url=url.replace("postgresql://", "postgresql+psycopg://", 1), db_schema=schema)
        database = SharedDatabase(
            agno_db, {"id": "main-db", "type": "postgres", "db_schema": schema}, {"DATABASE_URL": url}
        )
    try:
        yield database
    finally:
        await aclose_default_clients()
        if request.param == "redis":
            await delete_redis_keys(database.entry["key_prefix"])
        else:
            database.agno.db_engine.dispose()  # type: ignore[attr-defined]
        if request.param == "postgres":
            await drop_postgres_schema(database.entry["db_schema"])


def agno_agent(db: BaseDb, fake: FakeOpenAIServer) -> AgnoAgent:
    """Agno's agent with the same id as the runtime's, on the same fake model."""
    model = OpenAIChat(id="fake-model", base_url=fake.base_url, api_key="test-key")
    return AgnoAgent(id="assistant", name="Assistant", model=model, db=db, add_history_to_context=True)


@asynccontextmanager
async def runtime_on(shared: SharedDatabase, fake: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[Served]:
    config = with_databases(agent_config(fake.base_url, add_history_to_context=True), [shared.entry])
    async with serve(config, data_dir=tmp_path, open_database=open_database, environ=shared.environ) as running:
        yield running


async def test_a_session_agno_wrote_is_listed_and_continued_with_its_history(
    shared: SharedDatabase, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("Nice to meet you, Ana."))
    agno_run = await agno_agent(shared.agno, fake_openai).arun("My name is Ana.", session_id="agno-1", user_id="ana")
    assert agno_run.content == "Nice to meet you, Ana."

    fake_openai.script(Reply.say("You are Ana."))
    async with runtime_on(shared, fake_openai, tmp_path) as runtime:
        listed = (await runtime.client.get("/sessions")).json()
        assert [s["session_id"] for s in listed["data"]] == ["agno-1"]
        assert listed["data"][0]["session_name"] == "My name is Ana."
        assert listed["data"][0]["agent_id"] == "assistant" and listed["data"][0]["user_id"] == "ana"

        form = {"message": "What is my name?", "session_id": "agno-1", "user_id": "ana", "stream": "false"}
        output = (await runtime.client.post("/agents/assistant/runs", data=form)).json()
        assert output["content"] == "You are Ana."
        sent = [(m["role"], m["content"]) for m in fake_openai.bodies[-1]["messages"] if m["role"] != "system"]
        assert sent == [
            ("user", "My name is Ana."),
            ("assistant", "Nice to meet you, Ana."),
            ("user", "What is my name?"),
        ]
        runs = (await runtime.client.get("/sessions/agno-1/runs")).json()
        assert [r["run_id"] for r in runs][0] == agno_run.run_id and len(runs) == 2


async def test_a_session_the_runtime_wrote_is_read_by_agno(
    shared: SharedDatabase, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("Stored by the runtime."))
    async with runtime_on(shared, fake_openai, tmp_path) as runtime:
        form = {"message": "Keep this", "session_id": "ours-1", "user_id": "bo", "stream": "false"}
        form["session_state"] = json.dumps({"colour": "green"})
        output = (await runtime.client.post("/agents/assistant/runs", data=form)).json()

    session = shared.agno.get_session("ours-1", SessionType.AGENT)
    assert isinstance(session, AgentSession)
    assert session.agent_id == "assistant" and session.user_id == "bo"
    assert session.session_data is not None and session.session_data["session_state"] == {"colour": "green"}
    assert session.runs is not None and [r.run_id for r in session.runs] == [output["run_id"]]
    assert session.runs[0].content == "Stored by the runtime."
    assert [m.content for m in session.get_chat_history()] == ["Keep this", "Stored by the runtime."]

    fake_openai.script(Reply.say("Agno continues."))
    continued = await agno_agent(shared.agno, fake_openai).arun("And now?", session_id="ours-1", user_id="bo")
    assert continued.content == "Agno continues."
    sent = [m["content"] for m in fake_openai.bodies[-1]["messages"] if m["role"] in ("user", "assistant")]
    assert sent == ["Keep this", "Stored by the runtime.", "And now?"]
