"""Agno's own ``AgentOSClient`` and ``RemoteAgent`` against the runtime under uvicorn.

Each call goes through Agno's client code and is parsed into Agno's schemas; the assertions
check the parsed values (ids, names, the model, what the fake model said, run counts).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from agno.agent import RemoteAgent
from agno.db.base import SessionType
from agno.os.schema import AgentSessionDetailSchema, RunSchema
from agno.run.agent import RunCompletedEvent, RunContentEvent, RunOutput, RunStartedEvent
from agno.run.base import RunStatus

from tests.runtime.api.agno_client import client_for
from tests.runtime.api.harness import Served
from tests.runtime.conformance.conftest import SECURITY_KEY
from tests.support.fake_openai import FakeOpenAIServer, Reply

AUTH = {"Authorization": f"Bearer {SECURITY_KEY}"}


async def test_get_config_lists_the_os_agent_model_and_database(runtime: Served) -> None:
    client = client_for(runtime)
    config = await client.aget_config(headers=AUTH)
    assert config.os_id == "runs-os"
    assert config.databases == ["main-db"] and config.os_database == "main-db"
    assert [(a.id, a.name, a.db_id) for a in config.agents] == [("assistant", "Assistant", "main-db")]
    assert config.agents[0].model is not None and config.agents[0].model.id == "fake-model"
    assert [(m.id, m.provider) for m in config.available_models] == [("fake-model", "OpenAI")]
    assert config.session is not None and config.session.dbs is not None
    assert config.session.dbs[0].db_id == "main-db" and config.session.dbs[0].tables == ["agno_sessions"]
    synced = await asyncio.to_thread(client.get_config, AUTH)
    assert synced.os_id == "runs-os"


async def test_get_config_without_the_key_is_refused_with_401(runtime: Served) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client_for(runtime).aget_config()
    assert caught.value.response.status_code == 401
    assert caught.value.response.json() == {"detail": "Authorization header required"}


async def test_models_are_listed(runtime: Served) -> None:
    response = await runtime.client.get("/models", headers=AUTH)
    assert response.json() == [{"id": "fake-model", "provider": "OpenAI"}]


async def test_list_agents_and_get_agent_parse_into_agnos_schemas(runtime: Served) -> None:
    client = client_for(runtime)
    agents = await client.list_agents(headers=AUTH)
    assert [(a.id, a.name, a.description) for a in agents] == [("assistant", "Assistant", "Answers briefly.")]
    agent = await client.aget_agent("assistant", headers=AUTH)
    assert agent.id == "assistant" and agent.db_id == "main-db"
    assert agent.model is not None
    assert (agent.model.name, agent.model.model, agent.model.provider) == ("OpenAIChat", "fake-model", "OpenAI")
    assert agent.tools is not None and [t["name"] for t in agent.tools["tools"]] == ["calculator"]
    assert agent.sessions == {"session_table": "agno_sessions", "add_history_to_context": True}
    synced = await asyncio.to_thread(client.get_agent, "assistant", AUTH)
    assert synced.id == "assistant"


async def test_a_non_streamed_run_parses_into_a_run_output(runtime: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Forty-two.", usage=(9, 3)))
    output = await client_for(runtime).run_agent("assistant", "The answer?", session_id="c-1", headers=AUTH)
    assert isinstance(output, RunOutput)
    assert output.content == "Forty-two." and output.status == RunStatus.completed
    assert output.agent_id == "assistant" and output.session_id == "c-1"
    assert output.metrics is not None and output.metrics.total_tokens == 12
    assert output.messages is not None and output.messages[-1].content == "Forty-two."


async def test_a_streamed_run_parses_into_typed_events(runtime: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Streaming works fine", chunks=3))
    events = [
        event
        async for event in client_for(runtime).run_agent_stream(
            "assistant", "stream please", session_id="c-2", headers=AUTH
        )
    ]
    assert isinstance(events[0], RunStartedEvent) and isinstance(events[-1], RunCompletedEvent)
    assert events[0].model == "fake-model" and events[0].session_id == "c-2"
    deltas = [e.content for e in events if isinstance(e, RunContentEvent)]
    assert "".join(str(d) for d in deltas) == "Streaming works fine" and len(deltas) == 3
    assert events[-1].content == "Streaming works fine"
    assert len({e.run_id for e in events}) == 1


async def test_sessions_list_get_and_runs_through_the_client(runtime: Served, fake_openai: FakeOpenAIServer) -> None:
    client = client_for(runtime)
    fake_openai.script(Reply.say("First answer."), Reply.say("Second answer."))
    first = await client.run_agent("assistant", "First question", session_id="c-3", user_id="ana", headers=AUTH)
    second = await client.run_agent("assistant", "Second question", session_id="c-3", user_id="ana", headers=AUTH)

    page = await client.get_sessions(session_type=SessionType.AGENT, user_id="ana", headers=AUTH)
    assert [s.session_id for s in page.data] == ["c-3"] and page.meta.total_count == 1
    assert page.data[0].session_name == "First question" and page.data[0].agent_id == "assistant"

    session = await client.get_session("c-3", headers=AUTH)
    assert isinstance(session, AgentSessionDetailSchema)
    assert session.agent_id == "assistant" and session.user_id == "ana"
    assert session.chat_history is not None
    assert [m["content"] for m in session.chat_history] == [
        "First question",
        "First answer.",
        "Second question",
        "Second answer.",
    ]

    runs = await client.get_session_runs("c-3", headers=AUTH)
    assert [r.run_id for r in runs] == [first.run_id, second.run_id]
    assert all(isinstance(r, RunSchema) for r in runs)
    assert [r.content for r in runs] == ["First answer.", "Second answer."]
    one = await client.get_session_run("c-3", second.run_id, headers=AUTH)
    assert isinstance(one, RunSchema) and one.run_input == "Second question" and one.status == "COMPLETED"


async def test_create_rename_update_and_delete_sessions_through_the_client(runtime: Served) -> None:
    client = client_for(runtime)
    created = await client.create_session(
        session_id="made-1", session_name="Plans", agent_id="assistant", user_id="bo", headers=AUTH
    )
    assert isinstance(created, AgentSessionDetailSchema)
    assert (created.session_id, created.session_name, created.user_id) == ("made-1", "Plans", "bo")
    renamed = await client.rename_session("made-1", "Better plans", headers=AUTH)
    assert renamed.session_name == "Better plans"
    updated = await client.update_session("made-1", session_state={"step": 2}, headers=AUTH)
    assert updated.session_state == {"step": 2} and updated.session_name == "Better plans"
    await client.create_session(session_id="made-2", agent_id="assistant", headers=AUTH)
    await client.create_session(session_id="made-3", agent_id="assistant", headers=AUTH)
    assert (await client.get_sessions(headers=AUTH)).meta.total_count == 3

    await client.delete_session("made-1", headers=AUTH)
    await client.delete_sessions(["made-2"], [SessionType.AGENT], headers=AUTH)
    remaining = await client.get_sessions(headers=AUTH)
    assert [s.session_id for s in remaining.data] == ["made-3"]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await client.get_session("made-1", headers=AUTH)
    assert caught.value.response.status_code == 404


async def test_cancel_through_the_client_is_accepted(runtime: Served) -> None:
    await client_for(runtime).cancel_agent_run("assistant", "no-such-run", headers=AUTH)


async def test_remote_agent_arun_returns_the_fake_models_answer(runtime: Served, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Reply.say("Remote hello."), Reply.say("Remote stream.", chunks=2))
    remote = RemoteAgent(str(runtime.client.base_url), "assistant", timeout=15.0)
    output = await remote.arun("hi", session_id="remote-1", auth_token=SECURITY_KEY)
    assert isinstance(output, RunOutput) and output.content == "Remote hello."
    events = [e async for e in remote.arun("again", session_id="remote-1", stream=True, auth_token=SECURITY_KEY)]
    assert isinstance(events[-1], RunCompletedEvent) and events[-1].content == "Remote stream."
    sent = [m["content"] for m in fake_openai.bodies[-1]["messages"] if m["role"] in ("user", "assistant")]
    assert sent == ["hi", "Remote hello.", "again"]
