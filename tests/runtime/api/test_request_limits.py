"""Bodies over the limit are refused with 413 ``{"detail": ...}``, declared or streamed, whatever
their form: a run form's field may be as large as the whole body limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from tests.runtime.api.harness import BASIC_CONFIG, agent_config, serve
from tests.support.fake_openai import FakeOpenAIServer, Reply

LIMIT = 1000


async def test_a_declared_oversized_body_is_413_and_nothing_is_written(tmp_path: Path) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        body = {"session_id": "big", "session_state": {"blob": "x" * (LIMIT * 2)}}
        response = await running.client.post("/sessions", json=body)
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body too large: at most 1000 bytes here (AGENTOS_MAX_BODY_BYTES)"}
        assert await running.database().sessions.get_session("big") is None


async def test_a_streamed_oversized_body_is_413(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"session_id": "big", "session_state": {"blob": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}}'

    async with serve(BASIC_CONFIG, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        response = await running.client.post(
            "/sessions", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body too large: at most 1000 bytes here (AGENTOS_MAX_BODY_BYTES)"}
        assert await running.database().sessions.get_session("big") is None


async def test_a_body_under_the_limit_is_accepted(tmp_path: Path) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path, max_body_bytes=LIMIT) as running:
        response = await running.client.post("/sessions", json={"session_id": "small"})
        assert response.status_code == 201


async def test_a_trailing_slash_on_a_post_is_tolerated(tmp_path: Path) -> None:
    async with serve(BASIC_CONFIG, data_dir=tmp_path) as running:
        response = await running.client.post("/sessions/", json={"session_id": "slashed"})
        assert response.status_code == 201


async def test_a_multipart_message_over_one_mib_is_run_and_one_over_the_limit_is_413(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    two_mib = "x" * (2 * 1024 * 1024)
    fake_openai.script(Reply.say("Long indeed."))
    async with serve(agent_config(fake_openai.base_url), data_dir=tmp_path, max_body_bytes=3 * 1024 * 1024) as running:
        accepted = await running.client.post(
            "/agents/assistant/runs", files={"message": (None, two_mib), "stream": (None, "false")}
        )
        refused = await running.client.post(
            "/agents/assistant/runs", files={"message": (None, two_mib * 2), "stream": (None, "false")}
        )

    assert accepted.status_code == 200 and accepted.json()["status"] == "COMPLETED"
    assert fake_openai.bodies[0]["messages"][-1]["content"] == two_mib
    assert refused.status_code == 413
    assert refused.json() == {"detail": "Request body too large: at most 3 MiB here (AGENTOS_MAX_BODY_BYTES)"}
    assert len(fake_openai.bodies) == 1
