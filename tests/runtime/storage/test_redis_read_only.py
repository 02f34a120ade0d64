"""Redis that answers but takes no writes (a primary turned replica, as after a failover) is not
ready: ``ping`` writes a key of the runtime's own and says what the refusal means; once the server
is a primary again it is ready again. On a Redis server of the test's own, so no other test's
server changes role."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.redis import keys
from agentos_runtime.storage.redis.database import RedisDatabase, open_redis

from tests.runtime.api.harness import agent_config, serve_on
from tests.support.ports import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
async def server_url(tmp_path: Path) -> AsyncIterator[str]:
    """A Redis primary of this test's own, without persistence."""
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(500):  # until it accepts connections (a few milliseconds)
            try:
                await client.ping()
                break
            except redis.ConnectionError:
                await asyncio.sleep(0.01)
        await client.aclose()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def become_replica(url: str, *, of_port: int | None) -> None:
    """``REPLICAOF`` a primary that is not there (``of_port``), or ``NO ONE`` to be a primary again."""
    client = redis.Redis.from_url(url)
    try:
        if of_port is None:
            await client.execute_command("REPLICAOF", "NO", "ONE")
        else:
            await client.execute_command("REPLICAOF", "127.0.0.1", str(of_port))
    finally:
        await client.aclose()


async def test_a_primary_turned_replica_is_not_ready_saying_why_and_ready_again_once_primary(server_url: str) -> None:
    database = await open_redis(DatabaseConfig(id="cache", type="redis"), url=server_url)
    try:
        await database.ping()
        await become_replica(server_url, of_port=free_port())
        with pytest.raises(StorageUnavailable) as pinging:
            await database.ping()
        await become_replica(server_url, of_port=None)
        await database.ping()
    finally:
        await database.close()

    assert pinging.value.detail == (
        "database 'cache' refused the operation (READONLY): the server is a read-only replica "
        "(as after a failover): point the URL at the primary"
    )


async def test_the_readiness_key_expires_and_no_table_lists_it(server_url: str) -> None:
    database: RedisDatabase = await open_redis(DatabaseConfig(id="cache", type="redis"), url=server_url)
    try:
        await database.ping()
        client = database._backend.client
        ttl = await client.pttl(keys.ready_key(database._backend.prefix))
        sessions = await database._backend.scan_ids(keys.SESSIONS)
    finally:
        await database.close()

    assert 0 < ttl <= 60_000
    assert sessions == []


async def test_the_runtime_on_a_demoted_redis_answers_not_ready_with_the_reason_and_ready_once_it_is_primary(
    server_url: str, tmp_path: Path
) -> None:
    config = agent_config("http://127.0.0.1:9/v1")
    async with serve_on("redis", config, tmp_path, urls={"REDIS_URL": server_url}) as served:
        before = await served.client.get("/ready")
        await become_replica(server_url, of_port=free_port())
        demoted = await served.client.get("/ready")
        alive = await served.client.get("/health")
        await become_replica(server_url, of_port=None)
        after = await served.client.get("/ready")

    # (the models' start-up build may still make a first answer 503 with ``models: starting``)
    for ready in (before, after):
        assert ready.json()["databases"] == {"main-db": "ok"} and "reasons" not in ready.json()
    assert demoted.status_code == 503
    assert demoted.json()["databases"] == {"main-db": "unavailable"}
    assert "(READONLY): the server is a read-only replica" in demoted.json()["reasons"]["main-db"]
    assert server_url not in demoted.text and "127.0.0.1" not in demoted.text
    assert alive.status_code == 200
