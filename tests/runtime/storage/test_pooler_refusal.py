"""PostgreSQL behind a connection pooler that refuses startup options (PgBouncer without
``ignore_startup_parameters``, the pooled endpoints of hosted PostgreSQL): the server-side
timeouts the runtime sends when connecting are refused, the error says which setting turns them
off, and with ``server_timeouts: false`` every store works through the pooler."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from agentos_runtime.config import DatabaseConfig
from agentos_runtime.errors import StorageUnavailable
from agentos_runtime.storage.factory import open_database
from agentos_runtime.storage.ports import MemoryQuery, MemoryRow, SessionRow
from agentos_runtime.storage.sql.postgres_executor import PoolSettings, connection_options

from tests.runtime.storage.tcp_proxy import TcpProxy
from tests.runtime.storage.test_store_failures import at_port
from tests.support.databases import drop_postgres_schema, postgres_url, unique_name

# The protocol's codes for asking for an encrypted connection first (SSL, GSSAPI): refused here.
_ENCRYPTION_REQUESTS = {80877103, 80877104}


def _fatal(message: str) -> bytes:
    """A protocol ErrorResponse: FATAL, SQLSTATE 08P01 (protocol violation), as PgBouncer sends."""
    fields = b"SFATAL\0VFATAL\0C08P01\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


class RefusingPooler(TcpProxy):
    """Forwards to PostgreSQL a connection whose startup message has no ``options``; answers one
    that has them as PgBouncer 1.18 does, and counts the refusals."""

    refused = 0

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        while True:
            length, code = struct.unpack("!II", await client_reader.readexactly(8))
            if code not in _ENCRYPTION_REQUESTS:
                break
            client_writer.write(b"N")
        body = await client_reader.readexactly(length - 8)
        parameters = body.split(b"\0")
        if b"options" in parameters[0::2]:
            self.refused += 1
            client_writer.write(_fatal("unsupported startup parameter: options"))
            await client_writer.drain()
            client_writer.close()
            return
        server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        server_writer.write(struct.pack("!II", length, code) + body)
        self._forward(client_reader, client_writer, server_reader, server_writer)


@pytest.fixture
async def pooler() -> AsyncIterator[RefusingPooler]:
    target = urlsplit(postgres_url())
    proxy = RefusingPooler(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = unique_name("pooled")
    yield name
    await drop_postgres_schema(name)


def config(schema: str, **fields: object) -> DatabaseConfig:
    return DatabaseConfig.model_validate({"id": "pooled", "type": "postgres", "db_schema": schema, **fields})


def new_session(session_id: str) -> SessionRow:
    return SessionRow(session_id=session_id, session_type="agent", created_at=1_000, agent_id="assistant")


async def test_a_pooler_refusing_the_server_timeouts_fails_the_opening_saying_which_setting_turns_them_off(
    pooler: RefusingPooler, schema: str, tmp_path: Path
) -> None:
    with pytest.raises(StorageUnavailable) as opening:
        await open_database(
            config(schema), environ={"DATABASE_URL": at_port(postgres_url(), pooler.port)}, data_dir=tmp_path
        )

    assert pooler.refused >= 1
    assert opening.value.detail.startswith("database 'pooled' is unavailable: ")
    assert "unsupported startup parameter: options" in opening.value.detail
    assert str(pooler.port) not in opening.value.detail
    assert opening.value.detail.endswith(
        ": a connection pooler refused the server-side timeouts sent when connecting: set server_timeouts: false "
        "(serverTimeouts in an AgentOSConfig) on this database, or let the pooler ignore them"
    )


async def test_without_server_timeouts_every_store_works_through_the_pooler(
    pooler: RefusingPooler, schema: str, tmp_path: Path
) -> None:
    database = await open_database(
        config(schema, server_timeouts=False),
        environ={"DATABASE_URL": at_port(postgres_url(), pooler.port)},
        data_dir=tmp_path,
    )
    try:
        await database.sessions.save_run(new_session("s1"), {"run_id": "r1"}, session_state=None)
        await database.memories.upsert_memory(MemoryRow(memory_id="m1", memory="likes tea", user_id="ana"))
        stored = await database.sessions.get_session("s1")
        memories = await database.memories.list_memories(MemoryQuery())
    finally:
        await database.close()

    assert pooler.refused == 0
    assert stored is not None and [run["run_id"] for run in stored.runs or []] == ["r1"]
    assert [row.memory_id for row in memories.items] == ["m1"]


def test_the_server_timeouts_are_sent_unless_turned_off_and_the_urls_own_options_still_are() -> None:
    url = "postgresql://u@db:5432/app?options=-c%20search_path%3Dagents"

    sent = connection_options(PoolSettings(timeout=2.5), url)["options"]
    kept = connection_options(PoolSettings(timeout=2.5, server_timeouts=False), url)

    assert sent == (
        "-c statement_timeout=2500 -c lock_timeout=2250 -c idle_in_transaction_session_timeout=2500 "
        "-c search_path=agents"
    )
    assert "options" not in kept and kept["connect_timeout"] == 3
