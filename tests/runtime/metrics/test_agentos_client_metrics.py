"""Agno's own ``AgentOSClient`` metrics calls against the runtime under uvicorn, on every backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from agno.client import AgentOSClient
from agno.os.routers.metrics.schemas import DayAggregatedMetrics, MetricsRefreshResponse, MetricsResponse

from tests.runtime.api.agno_client import client_for, serve_for_agno
from tests.runtime.api.harness import agent_config
from tests.support.fake_openai import FakeOpenAIServer, Reply

KEY = "metrics-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DEADLINE = 10.0


@pytest.fixture
async def client(backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[AgentOSClient]:
    config = agent_config(fake_openai.base_url)
    async with serve_for_agno(backend, config, tmp_path, security_key=KEY) as running:
        yield client_for(running)


async def test_metrics_parse_into_agnos_schemas_with_the_runs_made(
    client: AgentOSClient, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("a", usage=(4, 1)), Reply.say("b", usage=(6, 2)), Reply.say("c", usage=(5, 5)))
    await client.run_agent("assistant", "hi", session_id="s1", user_id="ana", headers=AUTH)
    await client.run_agent("assistant", "again", session_id="s1", user_id="ana", headers=AUTH)
    await client.run_agent("assistant", "hello", session_id="s2", user_id="bob", headers=AUTH)

    response = await client.get_metrics(headers=AUTH)

    assert isinstance(response, MetricsResponse) and response.updated_at is not None
    (day,) = response.metrics
    assert day.date == datetime.combine(datetime.now(tz=UTC).date(), datetime.min.time(), tzinfo=UTC)
    assert (day.agent_runs_count, day.agent_sessions_count, day.users_count) == (3, 2, 2)
    assert (
        day.token_metrics["input_tokens"],
        day.token_metrics["output_tokens"],
        day.token_metrics["total_tokens"],
    ) == (15, 8, 23)
    assert day.model_metrics == [{"model_id": "fake-model", "model_provider": "OpenAI", "count": 3}]
    tomorrow = datetime.now(tz=UTC).date() + timedelta(days=1)
    assert (await client.get_metrics(starting_date=tomorrow, headers=AUTH)).metrics == []


async def test_refreshes_parse_synchronous_and_background_answers(
    client: AgentOSClient, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Reply.say("a", usage=(4, 1)))
    await client.run_agent("assistant", "hi", user_id="ana", headers=AUTH)

    refreshed = await client.refresh_metrics(headers=AUTH)
    assert isinstance(refreshed, list) and all(isinstance(day, DayAggregatedMetrics) for day in refreshed)
    assert [day.agent_runs_count for day in refreshed] == [1]

    started = await client.refresh_metrics(background=True, headers=AUTH)
    assert isinstance(started, MetricsRefreshResponse) and started.status in ("started", "already_running")
    deadline = time.monotonic() + DEADLINE
    status = await client.get_metrics_refresh_status(headers=AUTH)
    while status.status == "running" and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        status = await client.get_metrics_refresh_status(headers=AUTH)
    assert status.status == "completed" and status.finished_at is not None and status.error is None
