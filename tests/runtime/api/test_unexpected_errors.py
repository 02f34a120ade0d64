"""A bug answers 500 ``{"detail": "Internal server error"}`` and the keep-alive connection survives.

Served by a real uvicorn on a real socket: two requests are written one after the other on one
TCP connection, as a keep-alive client does, and the second must be answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from agentos_runtime.config import DatabaseConfig
from agentos_runtime.storage.memory import InMemoryDatabase
from agentos_runtime.storage.ports import Database, Page, SessionQuery, SessionRow

from tests.runtime.api.harness import BASIC_CONFIG, build_app, uvicorn_in_loop

SECRET = "postgresql://admin:hunter2@db.internal:5432/app"


class BrokenListing(InMemoryDatabase):
    """A database whose session listing fails with an error no handler knows."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)

        async def list_sessions(query: SessionQuery) -> Page[SessionRow]:
            raise RuntimeError(f"unexpected failure near {SECRET}")

        self.sessions.list_sessions = list_sessions  # type: ignore[method-assign]


async def broken(config: DatabaseConfig, *, environ: Mapping[str, str], data_dir: Path) -> Database:
    return BrokenListing(id=config.id)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on an open connection: status, headers (lower-case) and body."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    headers = {name.lower(): value for name, value in headers.items()}
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split(" ")[1]), headers, body


async def test_an_unexpected_error_is_500_without_its_message_and_the_connection_stays_usable(
    tmp_path: Path,
) -> None:
    app = build_app(BASIC_CONFIG, data_dir=tmp_path, open_database=broken)
    async with uvicorn_in_loop(app) as listening:
        url = urlsplit(listening.base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            status, headers, body = await exchange(reader, writer, "/sessions")
            assert status == 500
            assert json.loads(body) == {"detail": "Internal server error"}
            assert headers.get("connection", "").lower() != "close"

            status, _, body = await exchange(reader, writer, "/health")
            assert status == 200 and json.loads(body)["status"] == "ok"
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize(
    ("content_type", "partial"),
    [
        ("application/x-www-form-urlencoded", b"message=h"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi'),
    ],
    ids=["urlencoded", "multipart"],
)
async def test_a_client_gone_before_its_body_arrived_is_no_error_and_is_counted_as_499(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content_type: str, partial: bytes
) -> None:
    app = build_app(BASIC_CONFIG, data_dir=tmp_path)
    requests = app.state.telemetry.requests
    async with uvicorn_in_loop(app) as listening:
        url = urlsplit(listening.base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        head = f"POST /agents/assistant/runs HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        writer.write(f"{head}Content-Length: 1000\r\n\r\n".encode() + partial)  # part of the body, then gone
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        route = "/agents/{agent_id}/runs"
        async with asyncio.timeout(5):
            while requests.value(("POST", route, "499")) == 0:
                await asyncio.sleep(0.01)

    assert requests.value(("POST", route, "500")) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
