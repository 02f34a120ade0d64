"""A database that goes away while the runtime serves: 503 ``{"detail"}`` fast, never a 500 or a
hang, no password in any answer, liveness unaffected, and service back when it returns.

The database sits behind a TCP proxy that the test stops and starts again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from agentos_runtime.api.routes.health import PING_TIMEOUT_SECONDS

from tests.runtime.api.harness import Served, agent_config, models_built, parse_frames, serve_on
from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import postgres_url, redis_url
from tests.support.fake_openai import FakeOpenAIServer, Reply

# The databases' ``timeout_seconds`` in the tests of a database that stops answering.
TIMEOUT_SECONDS = 1.0
LOCK_TIMEOUT_SECONDS = 0.5

PASSWORD = "s3cret-pw"
# Far below any client timeout; the storage layer gives up on a dead server much sooner.
ANSWER_DEADLINE = 15.0


def through_proxy(url: str, port: int, *, password: str | None) -> str:
    parts = urlsplit(url)
    auth = f"{parts.username}:{password}@" if password else (f"{parts.username}@" if parts.username else "")
    return urlunsplit((parts.scheme, f"{auth}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


class Outage:
    def __init__(self, served: Served, proxy: TcpProxy) -> None:
        self.client = served.client
        self.proxy = proxy

    async def answer(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = await asyncio.wait_for(self.client.request(method, path, **kwargs), ANSWER_DEADLINE)  # type: ignore[arg-type]
        assert PASSWORD not in response.text
        return response


@pytest.fixture(params=["postgres", "redis"])
async def outage(
    request: pytest.FixtureRequest, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> AsyncIterator[Outage]:
    kind = request.param
    target = urlsplit(postgres_url() if kind == "postgres" else redis_url())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    if kind == "postgres":
        urls = {"DATABASE_URL": through_proxy(postgres_url(), proxy.port, password=PASSWORD)}
    else:
        urls = {"REDIS_URL": through_proxy(redis_url(), proxy.port, password=None)}
    try:
        databases = {"main-db": {"timeout_seconds": TIMEOUT_SECONDS}}
        async with serve_on(
            kind, agent_config(fake_openai.base_url), tmp_path, databases=databases, urls=urls, over_sockets=True
        ) as served:
            await models_built(served)
            yield Outage(served, proxy)
    finally:
        await proxy.stop()


async def test_reads_answer_503_while_the_database_is_down_and_200_once_it_is_back(outage: Outage) -> None:
    assert (await outage.answer("POST", "/sessions", json={"session_id": "kept"})).status_code == 201
    await outage.proxy.stop()
    started = time.monotonic()
    for method, path in (("GET", "/sessions"), ("GET", "/sessions/kept"), ("GET", "/sessions/kept/runs")):
        response = await outage.answer(method, path)
        assert response.status_code == 503, (path, response.text)
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert time.monotonic() - started < ANSWER_DEADLINE
    await outage.proxy.start()
    back = await outage.answer("GET", "/sessions/kept")
    assert back.status_code == 200 and back.json()["session_id"] == "kept"


async def test_writes_answer_503_and_do_not_half_apply(outage: Outage) -> None:
    await outage.proxy.stop()
    created = await outage.answer("POST", "/sessions", json={"session_id": "lost"})
    renamed = await outage.answer("POST", "/sessions/lost/rename", json={"session_name": "x"})
    deleted = await outage.answer("DELETE", "/sessions/lost")
    assert [r.status_code for r in (created, renamed, deleted)] == [503, 503, 503]
    await outage.proxy.start()
    assert (await outage.answer("GET", "/sessions/lost")).status_code == 404


async def test_readiness_fails_while_liveness_holds(outage: Outage) -> None:
    assert (await outage.answer("GET", "/ready")).status_code == 200
    await outage.proxy.stop()
    ready = await outage.answer("GET", "/ready")
    assert ready.status_code == 503 and ready.json()["databases"] == {"main-db": "unavailable"}
    assert (await outage.answer("GET", "/health")).status_code == 200
    await outage.proxy.start()
    assert (await outage.answer("GET", "/ready")).status_code == 200


async def test_readiness_answers_within_its_deadline_while_the_database_hangs(outage: Outage) -> None:
    assert (await outage.answer("GET", "/ready")).status_code == 200
    outage.proxy.freeze()
    try:
        started = time.monotonic()
        ready = await outage.answer("GET", "/ready")
        elapsed = time.monotonic() - started
        assert ready.status_code == 503 and ready.json()["databases"] == {"main-db": "unavailable"}
        assert elapsed < PING_TIMEOUT_SECONDS + 3.0, elapsed  # the ping's deadline, room for a loaded machine
        assert ready.json()["reasons"] == {
            "main-db": f"database 'main-db' did not answer within {PING_TIMEOUT_SECONDS:g} s"
        }
        assert (await outage.answer("GET", "/health")).status_code == 200
    finally:
        outage.proxy.thaw()
    deadline = time.monotonic() + ANSWER_DEADLINE
    while (await outage.answer("GET", "/ready")).status_code != 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)  # the held requests drain, then the next ping answers


async def test_runs_report_the_outage_a_non_streamed_run_is_503_a_streamed_one_ends_in_run_error(
    outage: Outage, fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.app.default = Reply.say("unused")
    await outage.proxy.stop()
    plain = await outage.answer("POST", "/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    assert plain.status_code == 503 and isinstance(plain.json()["detail"], str)
    with caplog.at_level(logging.INFO, logger="agentos_runtime.runs"):
        streamed = await outage.answer("POST", "/agents/assistant/runs", data={"message": "hi"})
    assert streamed.status_code == 200
    last = parse_frames(streamed.text)[-1]
    assert last.event == "RunError" and last.data["error_type"] == "storage_unavailable"
    # Its client was handed a run id: the run log says how that run ended, once (it said nothing).
    run_id = last.data["run_id"]
    [line] = [r.getMessage() for r in caplog.records if r.name == "agentos_runtime.runs" and run_id in r.getMessage()]
    assert line.startswith(f"run {run_id} of agent assistant ended error: storage_unavailable: ")


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_a_database_down_at_start_up_is_opened_once_it_answers(
    kind: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    target = urlsplit(postgres_url() if kind == "postgres" else redis_url())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    await proxy.stop()  # the port is known, and nothing listens on it: the database is "down"
    if kind == "postgres":
        urls = {"DATABASE_URL": through_proxy(postgres_url(), proxy.port, password=PASSWORD)}
    else:
        urls = {"REDIS_URL": through_proxy(redis_url(), proxy.port, password=None)}
    try:
        async with serve_on(kind, agent_config(fake_openai.base_url), tmp_path, urls=urls, over_sockets=True) as served:
            outage = Outage(served, proxy)
            assert (await outage.answer("GET", "/health")).status_code == 200
            assert (await outage.answer("GET", "/ready")).status_code == 503
            refused = await outage.answer("GET", "/sessions")
            assert refused.status_code == 503 and refused.json()["detail"]
            await proxy.start()
            deadline = time.monotonic() + ANSWER_DEADLINE
            while (created := await outage.answer("POST", "/sessions", json={"session_id": "late"})).status_code == 503:
                assert time.monotonic() < deadline, created.text
                await asyncio.sleep(0.2)  # retries of the opener are spaced by one second
            assert created.status_code == 201
            await models_built(served)
            assert (await outage.answer("GET", "/ready")).status_code == 200
            assert (await outage.answer("GET", "/sessions/late")).status_code == 200
    finally:
        await proxy.stop()


@pytest.mark.parametrize(("kind", "env"), [("redis", "REDIS_URL"), ("postgres", "DATABASE_URL")])
async def test_a_url_with_an_invalid_port_starts_not_ready_saying_why_without_the_url(
    kind: str, env: str, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    scheme = "redis" if kind == "redis" else "postgresql"
    urls = {env: f"{scheme}://agent:{PASSWORD}@db.internal:99999/0"}
    async with serve_on(kind, agent_config(fake_openai.base_url), tmp_path, urls=urls) as served:
        ready = await served.client.get("/ready")
        listed = await served.client.get("/sessions")
        assert (await served.client.get("/health")).status_code == 200

    reason = f"database 'main-db': {env} has an invalid port (expected 1 to 65535)"
    assert ready.status_code == 503 and ready.json()["reasons"] == {"main-db": reason}
    assert listed.status_code == 503 and listed.json() == {"detail": reason}
    for answer in (ready.text, listed.text):
        assert PASSWORD not in answer and "db.internal" not in answer and "agent" not in answer


async def test_storage_errors_name_the_database_never_its_host_port_or_user(outage: Outage) -> None:
    await outage.proxy.stop()
    answers = [
        await outage.answer("GET", "/sessions"),
        await outage.answer("POST", "/sessions", json={"session_id": "x"}),
        await outage.answer("GET", "/ready"),
    ]

    details = [answers[0].json()["detail"], answers[1].json()["detail"], *answers[2].json()["reasons"].values()]
    for detail in details:
        assert "main-db" in detail, detail
        for secret in ("127.0.0.1", str(outage.proxy.port), "postgres"):
            assert secret not in detail, detail


def named_not_located(detail: str, proxy: TcpProxy) -> None:
    assert "main-db" in detail, detail
    for located in ("127.0.0.1", str(proxy.port), "postgres@", "Traceback"):
        assert located not in detail, detail


async def test_a_database_that_stops_answering_answers_503_naming_it_and_runs_end_in_run_error(
    outage: Outage, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.app.default = Reply.say("hello")
    first = await outage.answer("POST", "/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    session_id = first.json()["session_id"]
    outage.proxy.freeze()

    listed = await outage.answer("GET", "/sessions")
    plain = await outage.answer(
        "POST", "/agents/assistant/runs", data={"message": "again", "stream": "false", "session_id": session_id}
    )
    streamed = await outage.answer(
        "POST", "/agents/assistant/runs", data={"message": "again", "session_id": session_id}
    )

    assert listed.status_code == 503 and plain.status_code == 503, (listed.text, plain.text)
    named_not_located(listed.json()["detail"], outage.proxy)
    named_not_located(plain.json()["detail"], outage.proxy)
    last = parse_frames(streamed.text)[-1]
    assert last.event == "RunError" and last.data["error_type"] == "storage_unavailable", streamed.text
    named_not_located(last.data["content"], outage.proxy)


async def test_a_database_that_stops_answering_during_a_streamed_run_ends_it_in_run_error(
    outage: Outage, fake_openai: FakeOpenAIServer
) -> None:
    # Chunks a while apart: the database freezes on the first, before the run is saved.
    fake_openai.app.default = Reply.say("one two three", chunks=3, delay=0.5)
    events: list[str] = []
    async with asyncio.timeout(ANSWER_DEADLINE):
        async with outage.client.stream("POST", "/agents/assistant/runs", data={"message": "hi"}) as response:
            text = ""
            async for chunk in response.aiter_text():
                text += chunk
                if not events and "event: RunContent\n" in text:
                    outage.proxy.freeze()
                    events.append("frozen")
    frames = parse_frames(text)

    names = [frame.event for frame in frames]
    assert "RunContentCompleted" in names and "RunCompleted" not in names, names
    assert names[-1] == "RunError" and frames[-1].data["error_type"] == "storage_unavailable", text
    named_not_located(frames[-1].data["content"], outage.proxy)


@pytest.fixture
async def locked_outage(fake_openai: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[tuple[Outage, str]]:
    """A runtime on PostgreSQL (no proxy: the proxy stays flowing) and its sessions table's name."""
    target = urlsplit(postgres_url())
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    urls = {"DATABASE_URL": through_proxy(postgres_url(), proxy.port, password=PASSWORD)}
    # Its lock wait ends before /ready's ping deadline, so that the ping says why: a lock.
    databases = {"main-db": {"timeout_seconds": LOCK_TIMEOUT_SECONDS}}
    try:
        async with serve_on(
            "postgres", agent_config(fake_openai.base_url), tmp_path, databases=databases, urls=urls, over_sockets=True
        ) as served:
            await models_built(served)
            schema = served.context.config.databases[0].db_schema
            yield Outage(served, proxy), f'"{schema}".agno_sessions'
    finally:
        await proxy.stop()


async def test_a_sessions_table_another_client_holds_locked_answers_503_and_is_not_ready(
    locked_outage: tuple[Outage, str], fake_openai: FakeOpenAIServer
) -> None:
    outage, table = locked_outage
    fake_openai.app.default = Reply.say("hello")
    first = await outage.answer("POST", "/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    session_id = first.json()["session_id"]
    async with await psycopg.AsyncConnection.connect(postgres_url()) as other:
        await other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

        ready = await outage.answer("GET", "/ready")
        listed = await outage.answer("GET", "/sessions")
        plain = await outage.answer(
            "POST", "/agents/assistant/runs", data={"message": "again", "stream": "false", "session_id": session_id}
        )
        streamed = await outage.answer(
            "POST", "/agents/assistant/runs", data={"message": "again", "session_id": session_id}
        )
        await other.rollback()

    assert ready.status_code == 503 and "lock" in ready.json()["reasons"]["main-db"], ready.text
    for answer in (listed, plain):
        assert answer.status_code == 503 and "lock" in answer.json()["detail"], answer.text
        named_not_located(answer.json()["detail"], outage.proxy)
    last = parse_frames(streamed.text)[-1]
    assert last.event == "RunError" and "lock" in last.data["content"], streamed.text
    assert (await outage.answer("GET", "/ready")).status_code == 200
    runs = await outage.answer("GET", f"/sessions/{session_id}/runs")
    assert len(runs.json()) == 1  # the runs refused under the lock stored nothing
