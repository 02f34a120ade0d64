"""Graceful shutdown: a run in flight finishes within the grace period, or is recorded as
CANCELLED when it outlasts it; the database is closed either way."""

from __future__ import annotations

from pathlib import Path

import httpx
from agentos_runtime.config import DatabaseConfig
from agentos_runtime.storage.factory import open_database

from tests.runtime.api.harness import Frame, agent_config, build_app, read_frames, uvicorn_in_loop, with_databases
from tests.support.fake_openai import FakeOpenAIServer, Reply


async def stream_until_shutdown(app: object, graceful_seconds: float, session_id: str) -> list[Frame]:
    """Start a streamed run, ask the server to stop at the first content, read what arrives."""
    frames: list[Frame] = []
    async with uvicorn_in_loop(app, graceful_seconds=graceful_seconds) as listening:
        async with httpx.AsyncClient(base_url=listening.base_url, timeout=15.0) as client:
            form = {"message": "talk", "session_id": session_id}
            try:
                async with client.stream("POST", "/agents/assistant/runs", data=form) as response:
                    async for frame in read_frames(response):
                        frames.append(frame)
                        if frame.event == "RunContent":
                            listening.server.should_exit = True
            except httpx.RemoteProtocolError:
                pass  # the server closed the stream it could not finish in time
    return frames


async def stored_status(path: Path, session_id: str) -> str:
    database = await open_database(
        DatabaseConfig(id="main-db", type="sqlite", path=str(path)), environ={}, data_dir=path.parent
    )
    try:
        row = await database.sessions.get_session(session_id)
    finally:
        await database.close()
    assert row is not None and row.runs is not None and len(row.runs) == 1
    return str(row.runs[0]["status"])


def app_on_file(fake: FakeOpenAIServer, path: Path) -> object:
    config = with_databases(agent_config(fake.base_url), [{"id": "main-db", "type": "sqlite", "path": str(path)}])
    return build_app(config, data_dir=path.parent, open_database=open_database)


async def test_a_run_in_flight_finishes_within_the_grace_period(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    fake_openai.script(Reply.say("one two three four five six", chunks=6, delay=0.05))
    path = tmp_path / "runs.db"
    frames = await stream_until_shutdown(app_on_file(fake_openai, path), graceful_seconds=5.0, session_id="s-1")
    assert frames[-1].event == "RunCompleted" and frames[-1].data["content"] == "one two three four five six"
    assert await stored_status(path, "s-1") == "COMPLETED"


async def test_a_run_outlasting_the_grace_period_is_recorded_cancelled(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("word " * 100, chunks=100, delay=0.05))
    path = tmp_path / "runs.db"
    frames = await stream_until_shutdown(app_on_file(fake_openai, path), graceful_seconds=0.3, session_id="s-2")
    assert frames[0].event == "RunStarted" and "RunCompleted" not in {f.event for f in frames}
    assert await stored_status(path, "s-2") == "CANCELLED"
