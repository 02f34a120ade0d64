"""Redis that hangs (a partition, a stuck server) is reported unavailable after one timeout: a
command whose reply never came is not sent again on a new connection, which would double the
wait (and the server may have run it). A connection the server dropped is opened again for the
next command (redis-py finds it closed before sending: this holds with or without its retry)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from agentos_runtime.config.databases import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.redis import client
from agentos_runtime.storage.redis.database import RedisDatabase, open_redis

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.support.databases import redis_url, unique_name


class CountingProxy(TcpProxy):
    """A ``TcpProxy`` that counts the connections it accepted."""

    accepted = 0

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await super()._accept(client_reader, client_writer)


@pytest.fixture
async def proxy() -> AsyncIterator[CountingProxy]:
    target = urlsplit(redis_url())
    proxy = CountingProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    yield proxy
    proxy.thaw()
    await proxy.stop()


@pytest.fixture
async def database(proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RedisDatabase]:
    # Short, as the hang test waits for it, yet 2 s: each command before the hang goes through the
    # proxy in this event loop, and a pause of a loaded machine must not time it out.
    monkeypatch.setattr(client, "TIMEOUT_SECONDS", 2.0)
    parts = urlsplit(redis_url())
    url = urlunsplit((parts.scheme, f"127.0.0.1:{proxy.port}", parts.path, parts.query, parts.fragment))
    config = DatabaseConfig(id="cache", type="redis", key_prefix=unique_name("hang"))
    database = await open_redis(config, url=url)
    yield database
    await database.close()


async def test_a_command_without_a_reply_is_unavailable_after_one_timeout_not_sent_again(
    database: RedisDatabase, proxy: CountingProxy
) -> None:
    await database.sessions.get_session("s1")  # the pooled connection is open
    opened = proxy.accepted
    proxy.freeze()

    with pytest.raises(StorageUnavailable) as raised:
        await database.sessions.get_session("s1")

    assert proxy.accepted == opened  # no second connection to send it again
    assert raised.value.detail.startswith("database 'cache' is unavailable: TimeoutError")


async def test_a_connection_the_server_dropped_is_opened_again_and_the_command_answered(
    database: RedisDatabase, proxy: CountingProxy
) -> None:
    await database.sessions.get_session("s1")
    await proxy.stop()  # cuts the pooled connection
    await proxy.start()

    assert await database.sessions.get_session("s1") is None
