"""Prometheus metrics after real traffic, scraped over HTTP: labels and values, on every backend.

Runs go through the fake OpenAI server with scripted token counts, so every expected number is
known in advance. A database outage is made with a TCP proxy that the test stops.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.runtime.api.harness import agent_config
from tests.runtime.api.test_database_outage import through_proxy
from tests.runtime.observability.apps import observed_app, scrape, value
from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import SERVER_BACKENDS, postgres_url, redis_url
from tests.support.fake_openai import FakeOpenAIServer, FakeToolCall, Reply

RUNS = "/agents/{agent_id}/runs"
MODEL = {"model": "fake-model", "provider": "OpenAI"}


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_runs_requests_model_latency_and_tokens_are_counted(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(
        Reply.say("Hello there", chunks=3, usage=(11, 5)),
        Reply.say("Four.", usage=(7, 3)),
        Reply.fail(500, "the model is down"),
        Reply.call(FakeToolCall("calculator", json.dumps({"expression": "2 * 3"})), usage=(20, 4)),
        Reply.say("Six.", usage=(30, 2)),
    )
    async with observed_app(backend, agent_config(fake_openai.base_url), tmp_path) as app:
        streamed = await app.client.post("/agents/assistant/runs", data={"message": "hi"})
        assert streamed.status_code == 200 and "RunCompleted" in streamed.text
        for _ in range(3):
            answered = await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
            assert answered.status_code == 200
        assert (await app.client.get("/agents/assistant")).status_code == 200
        assert (await app.client.get("/no/such/route")).status_code == 404
        samples = await scrape(app.telemetry)

    def requests(method: str, route: str, status: str) -> float:
        return value(samples, "agentos_http_requests_total", method=method, route=route, status=status)

    assert requests("POST", RUNS, "200") == 4
    assert requests("GET", "/agents/{agent_id}", "200") == 1
    assert requests("GET", "<unmatched>", "404") == 1
    assert value(samples, "agentos_http_request_duration_seconds_count", method="POST", route=RUNS) == 4

    def runs(status: str) -> float:
        return value(samples, "agentos_runs_total", component="agent", id="assistant", status=status)

    assert (runs("completed"), runs("error")) == (3, 1)
    assert value(samples, "agentos_run_duration_seconds_count", component="agent", id="assistant") == 4
    # Completed model requests: one per answered run, two for the run that called a tool.
    assert value(samples, "agentos_model_request_duration_seconds_count", **MODEL) == 4
    assert value(samples, "agentos_model_time_to_first_token_seconds_count", **MODEL) == 1  # streamed only
    assert value(samples, "agentos_model_tokens_total", type="input", **MODEL) == 11 + 7 + 20 + 30
    assert value(samples, "agentos_model_tokens_total", type="output", **MODEL) == 5 + 3 + 4 + 2
    assert value(samples, "agentos_model_errors_total", reason="provider_error", **MODEL) == 1


async def test_a_model_endpoint_that_refuses_the_key_is_counted_by_reason(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.fail(401, "invalid api key"), Reply.fail(429, "slow down"))
    async with observed_app("sqlite", agent_config(fake_openai.base_url), tmp_path) as app:
        for _ in range(2):
            await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
        samples = await scrape(app.telemetry)

    assert value(samples, "agentos_model_errors_total", reason="authentication", **MODEL) == 1
    assert value(samples, "agentos_model_errors_total", reason="rate_limit", **MODEL) == 1
    assert value(samples, "agentos_runs_total", component="agent", id="assistant", status="error") == 2


async def test_auth_refusals_are_counted_under_their_route(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    config = agent_config(fake_openai.base_url)
    async with observed_app("sqlite", config, tmp_path, security_key="a-security-key") as app:
        assert (await app.client.get("/sessions")).status_code == 401
        samples = await scrape(app.telemetry)
    assert value(samples, "agentos_http_requests_total", method="GET", route="/sessions", status="401") == 1


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_storage_errors_are_counted_per_database_and_operation(
    backend: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    target = urlsplit(postgres_url() if backend == "postgres" else redis_url())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    variable, url = ("DATABASE_URL", postgres_url()) if backend == "postgres" else ("REDIS_URL", redis_url())
    urls = {variable: through_proxy(url, proxy.port, password=None)}
    try:
        async with observed_app(backend, agent_config(fake_openai.base_url), tmp_path, urls=urls) as app:
            assert (await app.client.get("/sessions")).status_code == 200
            await proxy.stop()
            assert (await app.client.get("/sessions")).status_code == 503
            run = await app.client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
            assert run.status_code == 503
            assert (await app.client.get("/ready")).status_code == 503
            assert (await app.client.get("/health")).status_code == 200  # liveness does not touch storage
            samples = await scrape(app.telemetry)
    finally:
        await proxy.stop()

    def errors(operation: str) -> float:
        return value(samples, "agentos_storage_errors_total", db_id="main-db", operation=operation)

    assert errors("sessions.list_sessions") == 1
    assert errors("sessions.get_session") == 1  # the run could not read its session
    assert errors("ping") == 1
    assert len(fake_openai.requests) == 0


async def test_with_metrics_off_nothing_is_kept(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    async with observed_app("sqlite", agent_config(fake_openai.base_url), tmp_path, metrics_port=0) as app:
        assert app.telemetry is None
        assert (await app.client.get("/health")).status_code == 200


async def test_methods_the_api_does_not_serve_share_one_series_whatever_a_client_names(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with observed_app("sqlite", agent_config(fake_openai.base_url), tmp_path) as app:
        for method in ("PROPFIND", "MKCOL", "PURGE", "X-MADE-UP-1", "X-MADE-UP-2"):
            assert (await app.client.request(method, "/agents")).status_code == 405
            assert (await app.client.request(method, "/no/such/route")).status_code == 404
        assert (await app.client.request("PUT", "/agents")).status_code == 405
        samples = await scrape(app.telemetry)

    methods = {dict(labels)["method"] for name, labels in samples if name == "agentos_http_requests_total"}
    assert methods == {"other", "PUT"}
    assert value(samples, "agentos_http_requests_total", method="other", route="/agents", status="405") == 5
    assert value(samples, "agentos_http_requests_total", method="other", route="<unmatched>", status="404") == 5
