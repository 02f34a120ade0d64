"""Graceful shutdown with team and workflow runs in flight: a run whose member (or step) outlasts
the grace period is recorded CANCELLED, as one run, and nothing is left running."""

from __future__ import annotations

from pathlib import Path

import httpx
from agentos_runtime.config import DatabaseConfig
from agentos_runtime.storage.factory import open_database

from tests.runtime.api.harness import Frame, build_app, read_frames, uvicorn_in_loop, with_databases
from tests.runtime.teams.configs import delegate, team_config
from tests.runtime.workflows.configs import workflow_config
from tests.support.fake_openai import FakeOpenAIServer, Reply


async def stream_until_shutdown(app: object, path: str, session_id: str) -> list[Frame]:
    """Start a streamed run, ask the server to stop at the first member content, read what arrives."""
    frames: list[Frame] = []
    async with uvicorn_in_loop(app, graceful_seconds=0.3) as listening:
        async with httpx.AsyncClient(base_url=listening.base_url, timeout=15.0) as client:
            try:
                async with client.stream("POST", path, data={"message": "go", "session_id": session_id}) as response:
                    async for frame in read_frames(response):
                        frames.append(frame)
                        if frame.event == "RunContent":
                            listening.server.should_exit = True
            except httpx.RemoteProtocolError:
                pass  # the server closed the stream it could not finish in time
    assert listening.server.should_exit
    return frames


async def stored_runs(path: Path, session_id: str) -> list[dict]:  # type: ignore[type-arg]
    database = await open_database(
        DatabaseConfig(id="main-db", type="sqlite", path=str(path)), environ={}, data_dir=path.parent
    )
    try:
        row = await database.sessions.get_session(session_id)
    finally:
        await database.close()
    assert row is not None and row.runs is not None
    return row.runs


def on_file(config: str, path: Path) -> object:
    text = with_databases(config, [{"id": "main-db", "type": "sqlite", "path": str(path)}])
    return build_app(text, data_dir=path.parent, open_database=open_database)


async def test_a_team_run_outlasting_the_grace_period_is_recorded_cancelled(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.call(delegate("weather", "Talk")), Reply.say("word " * 100, chunks=100, delay=0.05))
    path = tmp_path / "teams.db"
    frames = await stream_until_shutdown(on_file(team_config(fake_openai.base_url), path), "/teams/crew/runs", "t-1")

    assert frames[0].event == "TeamRunStarted" and "TeamRunCompleted" not in {f.event for f in frames}
    [run] = await stored_runs(path, "t-1")
    assert (run["team_id"], run["status"]) == ("crew", "CANCELLED")


async def test_a_workflow_run_outlasting_the_grace_period_is_recorded_cancelled(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.script(Reply.say("word " * 100, chunks=100, delay=0.05))
    path = tmp_path / "workflows.db"
    app = on_file(workflow_config(fake_openai.base_url), path)
    frames = await stream_until_shutdown(app, "/workflows/pipeline/runs", "w-1")

    assert frames[0].event == "WorkflowStarted" and "WorkflowCompleted" not in {f.event for f in frames}
    [run] = await stored_runs(path, "w-1")
    assert (run["workflow_id"], run["status"]) == ("pipeline", "CANCELLED")
    assert len(fake_openai.bodies) == 1, "the second step never started"
